//! Optimizers: how gradients change the weights.
//!
//! An optimizer is generic over the gradient type of the network it was built for, and keeps
//! its state (if any) as values of that type, so an optimizer built for one network does not
//! compile with another and its size is a compile-time constant.

mod sgd;

pub use sgd::Sgd;

use crate::{Model, Scalar};

/// One update rule, applied to a model `M` with gradients `M::Grads`.
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
    fn set_learning_rate(&mut self, lr: T) -> Result<(), crate::Error>;
    /// Clears the optimizer's state, as if no step had been taken.
    fn reset(&mut self);
}

/// Checks a learning rate: finite and not negative.
pub(crate) fn check_lr<T: Scalar>(lr: T) -> Result<T, crate::Error> {
    if lr.is_finite() && lr >= T::zero() {
        Ok(lr)
    } else {
        Err(crate::Error::InvalidHyperparameter(
            "lr must be finite and >= 0",
        ))
    }
}
