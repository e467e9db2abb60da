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
///
/// ```
/// use tinyprop::{memory, prelude::*};
/// type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
/// assert_eq!(memory::parameter_count::<f32, Net>(), 4 * 16 + 16 + 16 * 3 + 3);
/// ```
pub const fn parameter_count<T: Scalar, M: Model<T>>() -> usize {
    <M as Parameters<T>>::COUNT
}

/// Bytes to run inference on one input `X`: the model, the input, the output and the
/// intermediates between layers that [`Layer::forward`] keeps on the stack.
///
/// ```
/// use tinyprop::{memory, prelude::*};
/// type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
/// // One sample of 4 features: the weights dominate.
/// let bytes = memory::inference_bytes::<f32, SMatrix<f32, 4, 1>, Net>();
/// assert!(bytes >= core::mem::size_of::<Net>() + 4 * 4 + 3 * 4);
/// ```
pub const fn inference_bytes<T: Scalar, X, M: Layer<T, X>>() -> usize {
    size_of::<M>()
        .saturating_add(size_of::<X>())
        .saturating_add(size_of::<M::Output>())
        .saturating_add(M::FORWARD_STACK_BYTES)
}

/// Bytes to train on batches `X` with optimizer `O`: the model, the input batch, the
/// [`Workspace`] (cache, gradients, output gradient, and the copy of the model's buffers that
/// makes a failed step change nothing: [`rollback_bytes`]) and the optimizer with its state
/// (and, for optimizers with state, the bounds of its magnitudes that its overflow check keeps:
/// one scalar per state buffer and a tag).
///
/// ```
/// use tinyprop::{memory, prelude::*};
/// type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
/// type Batch = SMatrix<f32, 4, 32>;
/// let sgd = memory::training_bytes::<f32, Batch, Net, Sgd<f32, <Net as Model<f32>>::Grads>>();
/// let adam = memory::training_bytes::<f32, Batch, Net, Adam<f32, <Net as Model<f32>>::Grads>>();
/// // Adam keeps two running averages of the gradients: two more copies of the parameters.
/// assert!(adam >= sgd + 2 * 4 * memory::parameter_count::<f32, Net>());
/// ```
pub const fn training_bytes<T: Scalar, X, M: Layer<T, X>, O>() -> usize {
    size_of::<M>()
        .saturating_add(size_of::<X>())
        .saturating_add(size_of::<Workspace<T, X, M>>())
        .saturating_add(size_of::<O>())
}

/// Bytes a training step sets aside so that a failed step changes nothing: a copy of the
/// model's buffers ([`Model::Buffers`]: running statistics, random generators' state), part of
/// the [`Workspace`] and so of [`training_bytes`]. Zero for models without buffers; the
/// parameters and the optimizer's state need no copy (the optimizer checks before it updates).
///
/// ```
/// use tinyprop::prelude::*;
/// type Plain = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
/// type Normalised = (Dense<f32, 4, 16>, BatchNorm<f32, 16>, Relu, Dense<f32, 16, 3>);
/// assert_eq!(tinyprop::memory::rollback_bytes::<f32, Plain>(), 0);
/// // Running mean and variance, and the batch count.
/// assert_eq!(tinyprop::memory::rollback_bytes::<f32, Normalised>(), (2 * 16 + 1) * 4);
/// ```
pub const fn rollback_bytes<T: Scalar, M: Model<T>>() -> usize {
    size_of::<M::Buffers>()
}
