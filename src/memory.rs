//! The memory a model needs, as compile-time constants.
//!
//! All figures are `core::mem::size_of` of the real buffers, so they hold on every target.
//! Use them in a budget check that fails the build:
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::memory;
//!
//! type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
//! type Batch = SMatrix<f32, 2, 4>;
//! type Opt = Sgd<f32, <Net as Model<f32>>::Grads>;
//!
//! const _: () = assert!(memory::parameter_count::<f32, Net>() == 33);
//! const _: () = assert!(memory::inference_bytes::<f32, SMatrix<f32, 2, 1>, Net>() < 512);
//! const _: () = assert!(memory::training_bytes::<f32, Batch, Net, Opt>() < 2048);
//! ```

use core::mem::size_of;

use crate::{Layer, Model, Parameters, Scalar, Workspace};

/// The number of trainable scalars of `M`.
pub const fn parameter_count<T: Scalar, M: Model<T>>() -> usize {
    <M as Parameters<T>>::COUNT
}

/// Bytes to run inference on one input `X`: the model, the input, the output and the
/// intermediates between layers that [`Layer::forward`] keeps on the stack.
pub const fn inference_bytes<T: Scalar, X, M: Layer<T, X>>() -> usize {
    size_of::<M>()
        .saturating_add(size_of::<X>())
        .saturating_add(size_of::<M::Output>())
        .saturating_add(M::FORWARD_STACK_BYTES)
}

/// Bytes to train on batches `X` with optimizer `O`: the model, the input batch, the
/// [`Workspace`] (cache, gradients, output gradient) and the optimizer with its state.
pub const fn training_bytes<T: Scalar, X, M: Layer<T, X>, O>() -> usize {
    size_of::<M>()
        .saturating_add(size_of::<X>())
        .saturating_add(size_of::<Workspace<T, X, M>>())
        .saturating_add(size_of::<O>())
}
