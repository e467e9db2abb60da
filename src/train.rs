//! One training step: forward, loss, backward, update.

use crate::{Error, Layer, Loss, Optimizer, Parameters, Scalar, Zeroed};

/// The buffers of a training step for model `M` on inputs `X`: the training cache (every
/// layer's output and the gradient scratch between layers), the parameter gradients and the
/// gradient of the loss with respect to the output.
///
/// Its size is a compile-time constant (`core::mem::size_of::<Workspace<..>>()`); it can live
/// in a `static` or wherever the caller likes, and is reused by every step.
pub struct Workspace<T: Scalar, X, M: Layer<T, X>> {
    /// What the training forward pass keeps for backward.
    pub cache: M::Cache,
    /// The gradients of the last step (zeroed at the start of each [`train_step`]).
    pub grads: M::Grads,
    /// The gradient of the loss with respect to the model's output.
    pub dy: M::Output,
}

impl<T: Scalar, X, M: Layer<T, X>> Workspace<T, X, M> {
    /// Zero-filled buffers.
    pub fn new() -> Self {
        Self {
            cache: Zeroed::zeroed(),
            grads: Zeroed::zeroed(),
            dy: Zeroed::zeroed(),
        }
    }
}

impl<T: Scalar, X, M: Layer<T, X>> Default for Workspace<T, X, M> {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of gradient descent on the batch `x` with targets `target`: forward pass, loss,
/// backward pass, optimizer update. Returns the batch's loss (before the update).
///
/// If the loss or any gradient is NaN or infinite, returns [`Error::NonFiniteLoss`] or
/// [`Error::NonFiniteGradient`] and leaves every weight of `model` and the optimizer's state
/// bit-identical to before. A bad label gives [`Error::LabelOutOfRange`], also before any change.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f64, 2, 4>, Relu, Dense<f64, 4, 1>);
/// let mut net = Net::default();
/// net.init(Init::HeUniform, &mut SplitMix64::new(3));
/// let mut opt = Sgd::new(0.1).unwrap();
/// let mut ws = Workspace::<f64, _, Net>::new();
/// let x = SMatrix::<f64, 2, 1>::new(f64::NAN, 1.0);
/// let t = SMatrix::<f64, 1, 1>::new(0.5);
/// let before = net.clone();
/// assert!(train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws).is_err());
/// assert_eq!(net, before);
/// ```
pub fn train_step<T, X, M, L, Target, O>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    x: &X,
    target: &Target,
    ws: &mut Workspace<T, X, M>,
) -> Result<T, Error>
where
    T: Scalar,
    M: Layer<T, X>,
    L: Loss<T, M::Output, Target>,
    Target: ?Sized,
    O: Optimizer<T, M>,
{
    ws.grads.set_zero();
    let y = model.forward_train(x, &mut ws.cache);
    let value = loss.loss_and_grad(y, target, &mut ws.dy)?;
    if !value.is_finite() {
        return Err(Error::NonFiniteLoss);
    }
    model.backward(x, &mut ws.cache, &mut ws.dy, None, &mut ws.grads);
    if !ws.grads.all_finite() {
        return Err(Error::NonFiniteGradient);
    }
    optimizer.step(model, &ws.grads);
    Ok(value)
}
