//! Optimizers: how gradients change the weights.
//!
//! An optimizer is generic over the gradient type of the network it was built for, and keeps
//! its state (if any) as values of that type, so an optimizer built for one network does not
//! compile with another and its size is a compile-time constant.
//!
//! | optimizer | PyTorch | state (× the parameters) |
//! | --- | --- | --- |
//! | [`Sgd`] | `SGD` | 0; 1 with momentum |
//! | [`Adagrad`] | `Adagrad` | 1 |
//! | [`RmsProp`] | `RMSprop` | 1; +1 centered; +1 with momentum |
//! | [`Adam`] | `Adam` | 2; 3 with AMSGrad |
//! | [`AdamW`] | `AdamW` | 2; 3 with AMSGrad |
//!
//! A buffer that only an option needs exists only in the type built with that option (for
//! example `Adam<T, G>` holds two gradient-shaped buffers, `Adam<T, G, G>` built by
//! [`Adam::with_amsgrad`] three), so the memory a configuration needs is known at compile time:
//! every optimizer has an associated constant `STATE_BYTES` and a public state type.
//!
//! Hyperparameters come in a config struct per optimizer whose [`Default`] is PyTorch's
//! defaults; constructors check them and return [`Error::InvalidHyperparameter`] with a message
//! naming the problem. The update rules, and the order of their floating-point operations,
//! follow PyTorch's single-tensor (`foreach=False`) implementations; the tests compare five
//! steps of every configuration with PyTorch to a relative error of `1e-10` in `f64`.
//!
//! [`clip`] limits gradients between the backward pass and the step, and [`schedule`] changes
//! the learning rate over time.
//!
//! [`Error::InvalidHyperparameter`]: crate::Error::InvalidHyperparameter

mod adagrad;
mod adam;
pub mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adagrad::{Adagrad, AdagradConfig, AdagradState};
pub use adam::{Adam, AdamConfig, AdamState, AdamW, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_value, grad_norm, Norm};
pub use rmsprop::{RmsProp, RmsPropConfig, RmsPropState};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig, SgdOptions, SgdState, SgdVariant};

use crate::{Error, Model, Parameters, Scalar};

/// One update rule, applied to a model `M` with gradients `M::Grads`.
///
/// Every optimizer also has inherent `learning_rate`, `set_learning_rate` and `reset` methods
/// (and implements [`LearningRate`]), which can be called without naming `M`.
#[diagnostic::on_unimplemented(
    message = "optimizer `{Self}` was not built for the network `{M}`",
    label = "this optimizer's state has the shape of another network",
    note = "an optimizer's state mirrors the gradients of one network; build one per network"
)]
pub trait Optimizer<T: Scalar, M: Model<T>> {
    /// Updates `model` from `grads` (the gradients of the loss, as backward accumulated them).
    fn step(&mut self, model: &mut M, grads: &M::Grads);
    /// The current learning rate.
    fn learning_rate(&self) -> T;
    /// Sets the learning rate (for schedules); a negative or non-finite rate is refused.
    fn set_learning_rate(&mut self, lr: T) -> Result<(), Error>;
    /// Clears the optimizer's state, as if no step had been taken.
    fn reset(&mut self);
}

/// Reading and setting the learning rate of an optimizer, independently of the network it
/// updates: what a [`Schedule`] needs.
///
/// ```
/// use tinyprop::optim::{Adam, AdamConfig, LearningRate};
/// use tinyprop::Dense;
/// fn halve<O: LearningRate<f32>>(opt: &mut O) {
///     let lr = opt.learning_rate();
///     opt.set_learning_rate(lr / 2.0).unwrap();
/// }
/// let mut opt = Adam::<f32, Dense<f32, 2, 1>>::new(AdamConfig::default()).unwrap();
/// halve(&mut opt);
/// assert_eq!(opt.learning_rate(), 5e-4);
/// ```
pub trait LearningRate<T: Scalar> {
    /// The current learning rate.
    fn learning_rate(&self) -> T;
    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    fn set_learning_rate(&mut self, lr: T) -> Result<(), Error>;
}

/// Checks a learning rate: finite and not negative.
pub(crate) fn check_lr<T: Scalar>(lr: T) -> Result<T, Error> {
    if lr.is_finite() && lr >= T::zero() {
        Ok(lr)
    } else {
        Err(Error::InvalidHyperparameter("lr must be finite and >= 0"))
    }
}

/// Checks that `x` is finite and `>= 0`.
pub(crate) fn check_non_negative<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x.is_finite() && x >= T::zero() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// Checks that `x` is finite and `> 0`.
pub(crate) fn check_positive<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x.is_finite() && x > T::zero() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// Checks that `x` lies in `[0, 1)`.
pub(crate) fn check_unit<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x >= T::zero() && x < T::one() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// `self + weight · (end − self)`, computed as ATen's `lerp` does (from the nearer end).
#[inline]
pub(crate) fn lerp<T: Scalar>(start: T, end: T, weight: T) -> T {
    if weight.abs() < T::of_f64(0.5) {
        start + weight * (end - start)
    } else {
        end - (end - start) * (T::one() - weight)
    }
}

/// A step counter as a scalar.
#[inline]
pub(crate) fn count<T: Scalar>(step: u32) -> T {
    T::of_f64(f64::from(step))
}

/// The tensors of a buffer that may be absent (`()`), each as `Some`, then `None` forever.
fn optional_tensors<'a, T: Scalar, B: Parameters<T>>(
    buffer: &'a mut B,
) -> impl Iterator<Item = Option<&'a mut [T]>> + 'a {
    buffer
        .tensors_mut()
        .map(Some)
        .chain(core::iter::repeat_with(|| None))
}

/// The elements of a tensor that may be absent, each as `Some`, then `None` forever.
fn optional_elements<T>(tensor: Option<&mut [T]>) -> impl Iterator<Item = Option<&mut T>> {
    tensor
        .into_iter()
        .flatten()
        .map(Some)
        .chain(core::iter::repeat_with(|| None))
}

/// Calls `update(parameter, gradient, a, b, c)` for every element of `model`, with the
/// elements at the same place in the state buffers `a`, `b` and `c`. A buffer of the
/// gradients' type gives `Some` element; an absent buffer, `()`, gives `None`.
pub(crate) fn for_each_element<T, M, G, A, B, C, F>(
    model: &mut M,
    grads: &G,
    a: &mut A,
    b: &mut B,
    c: &mut C,
    mut update: F,
) where
    T: Scalar,
    M: Parameters<T>,
    G: Parameters<T>,
    A: Parameters<T>,
    B: Parameters<T>,
    C: Parameters<T>,
    F: FnMut(&mut T, T, Option<&mut T>, Option<&mut T>, Option<&mut T>),
{
    let buffers = optional_tensors(a)
        .zip(optional_tensors(b))
        .zip(optional_tensors(c));
    for ((p, g), ((ta, tb), tc)) in model.tensors_mut().zip(grads.tensors()).zip(buffers) {
        let elements = optional_elements(ta)
            .zip(optional_elements(tb))
            .zip(optional_elements(tc));
        for ((pi, &gi), ((ea, eb), ec)) in p.iter_mut().zip(g).zip(elements) {
            update(pi, gi, ea, eb, ec);
        }
    }
}

/// Implements [`LearningRate`] and [`Optimizer`] for an optimizer type whose inherent
/// `learning_rate`, `set_learning_rate`, `reset` and `update` methods do the work. The generic
/// parameters after `T` are given in brackets; the gradient type must be called `G`.
macro_rules! optimizer_impls {
    ([$($generics:tt)*] $ty:ty) => {
        impl<T: $crate::Scalar, $($generics)*> $crate::optim::LearningRate<T> for $ty {
            fn learning_rate(&self) -> T {
                Self::learning_rate(self)
            }
            fn set_learning_rate(&mut self, lr: T) -> Result<(), $crate::Error> {
                Self::set_learning_rate(self, lr)
            }
        }

        impl<T: $crate::Scalar, M: $crate::Model<T, Grads = G>, $($generics)*>
            $crate::optim::Optimizer<T, M> for $ty
        {
            fn step(&mut self, model: &mut M, grads: &G) {
                self.update(model, grads);
            }
            fn learning_rate(&self) -> T {
                Self::learning_rate(self)
            }
            fn set_learning_rate(&mut self, lr: T) -> Result<(), $crate::Error> {
                Self::set_learning_rate(self, lr)
            }
            fn reset(&mut self) {
                Self::reset(self);
            }
        }
    };
}
pub(crate) use optimizer_impls;
