//! # tinyprop
//!
//! Training and inference of small neural networks for microcontrollers and CPUs, with every shape
//! a const generic. `#![no_std]`, no `alloc`, no `unsafe`.
//!
//! * A batch of `B` samples of width `N` is an [`SMatrix<T, N, B>`](nalgebra::SMatrix): one column
//!   per sample. Batch size is a const generic of the call, so stochastic gradient descent is
//!   `B = 1` and mini-batch gradient descent is `B = 32`.
//! * A model is a [`Layer`] or a tuple of layers. A width mismatch between two layers is a compile
//!   error, and so is an optimizer built for a different network.
//! * Outputs and gradients are written into caller-owned buffers ([`Workspace`]); the library keeps
//!   no buffers of its own and never allocates.
//! * The memory a model needs is a compile-time constant ([`memory`]).
//!
//! ```
//! use tinyprop::prelude::*;
//!
//! // 2 inputs, 8 hidden units with tanh, 1 output: XOR.
//! type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
//! let mut rng = SplitMix64::new(7);
//! let mut net = Net::default();
//! net.init(Init::XavierUniform, &mut rng);
//!
//! let x = SMatrix::<f32, 2, 4>::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
//! let t = SMatrix::<f32, 1, 4>::from_column_slice(&[0., 1., 1., 0.]);
//! let mut opt = Sgd::new(0.5).unwrap();
//! let mut ws = Workspace::<f32, _, Net>::new();
//! let mut loss = 1.0;
//! for _ in 0..2000 {
//!     loss = train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws).unwrap();
//! }
//! assert!(loss < 0.01);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// No panic path in library code: every lint that flags a way to panic is an error (the
// methods and macros that panic are listed in clippy.toml). Tests may panic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::panic_in_result_fn,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::disallowed_methods,
    clippy::disallowed_macros
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss,
        clippy::disallowed_methods,
        clippy::disallowed_macros
    )
)]

#[cfg(feature = "std")]
extern crate std;

mod chain;
#[cfg(feature = "std")]
pub mod csv;
pub mod data;
mod error;
pub mod gradcheck;
pub mod guide;
#[cfg(feature = "std")]
pub mod heap;
pub mod init;
pub mod io;
mod kernels;
mod layer;
pub mod layers;
pub mod loss;
mod math;
pub mod memory;
pub mod metrics;
pub mod optim;
pub mod quant;
pub mod rng;
mod scalar;
pub mod summary;
pub mod train;

/// Which register tiles the matrix products (dense and recurrent layers) run with, in words.
///
/// Chosen by the build target's vector width; with the `std` feature on an x86 target without
/// AVX2 (the default `x86_64` target), chosen when the program runs: tiles for AVX2 where the
/// processor has AVX2 and FMA. Either way the results are bit-identical (see the README's
/// speed section).
///
/// ```
/// println!("matrix products: {}", tinyprop::matrix_kernels());
/// assert!(tinyprop::matrix_kernels().starts_with("tiles for"));
/// ```
pub fn matrix_kernels() -> &'static str {
    kernels::in_use()
}

pub use data::DataSet;
pub use error::Error;
pub use init::Init;
pub use layer::{GradsOf, Layer, LayerRow, Model, Parameters};
pub use layers::{
    AvgPool1d, AvgPool2d, BatchNorm2d, Conv1d, Conv2d, Flatten, GlobalAvgPool, MaxPool1d, MaxPool2d,
};
pub use layers::{
    BatchNorm, Dense, DenseNoBias, Dropout, Frozen, Identity, LayerNorm, LeakyRelu, Normalize,
    Relu, Residual, ResidualProjection, Sigmoid, Softmax, Tanh,
};
pub use layers::{EachStep, FlattenSteps, Gru, LastStep, Lstm, Rnn, RnnRelu, Seq, Sequence};
pub use loss::{BceWithLogits, CrossEntropy, Loss, Mse};
pub use metrics::{evaluate, ConfusionMatrix};
pub use nalgebra;
pub use nalgebra::{SMatrix, SVector};
pub use optim::{
    clip_grad_norm, clip_grad_value, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig,
    LearningRate, Norm, Optimizer, RmsProp, RmsPropConfig, Schedule, Sgd, SgdConfig,
};
pub use rng::SplitMix64;
pub use scalar::{Scalar, Zeroed};
pub use train::{train_step, train_step_with, Descent, Every, Fit, Monitor, Trainer, Workspace};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Everything a typical program needs, in one `use`.
pub mod prelude {
    pub use crate::optim::clip::Clip;
    pub use crate::{
        clip_grad_norm, clip_grad_value, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW,
        AdamWConfig, LearningRate, Norm, RmsProp, RmsPropConfig, Schedule, SgdConfig,
    };
    pub use crate::{evaluate, ConfusionMatrix, DataSet, Descent, Every, Fit, Monitor, Trainer};
    pub use crate::{
        train_step, train_step_with, BatchNorm, BceWithLogits, CrossEntropy, Dense, DenseNoBias,
        Dropout, Error, Frozen, GradsOf, Identity, Init, Layer, LayerNorm, LeakyRelu, Loss, Model,
        Mse, Normalize, Optimizer, Parameters, Relu, Residual, ResidualProjection, SMatrix,
        SVector, Scalar, Sgd, Sigmoid, Softmax, SplitMix64, Tanh, Workspace, Zeroed,
    };
    pub use crate::{EachStep, FlattenSteps, Gru, LastStep, Lstm, Rnn, RnnRelu, Seq, Sequence};
}
