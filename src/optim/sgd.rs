use core::marker::PhantomData;

use super::{check_lr, Optimizer};
use crate::{Error, Model, Parameters, Scalar};

/// Plain stochastic gradient descent, like `torch.optim.SGD(params, lr)`: `w ← w - lr · g`.
///
/// `G` is the gradient type of the network it updates (inferred at the first use), so an
/// `Sgd` is tied to one network shape. Plain SGD keeps no state: its size is that of the
/// learning rate.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 1, 1>;
/// let mut net = Net::default();
/// let mut grads = Net::default();
/// grads.weight[(0, 0)] = 2.0;
/// let mut opt = Sgd::new(0.25).unwrap();
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads);
/// assert_eq!(net.weight[(0, 0)], -0.5);
/// assert!(Sgd::<f64, ()>::new(-1.0).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd<T, G> {
    lr: T,
    grads: PhantomData<fn() -> G>,
}

impl<T: Scalar, G> Sgd<T, G> {
    /// SGD with learning rate `lr`; refused unless `lr` is finite and `>= 0`.
    pub fn new(lr: T) -> Result<Self, Error> {
        Ok(Self {
            lr: check_lr(lr)?,
            grads: PhantomData,
        })
    }
}

impl<T: Scalar, M: Model<T, Grads = G>, G: Parameters<T>> Optimizer<T, M> for Sgd<T, G> {
    fn step(&mut self, model: &mut M, grads: &G) {
        for (w, g) in model.tensors_mut().zip(grads.tensors()) {
            for (wi, &gi) in w.iter_mut().zip(g) {
                *wi -= self.lr * gi;
            }
        }
    }

    fn learning_rate(&self) -> T {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: T) -> Result<(), Error> {
        self.lr = check_lr(lr)?;
        Ok(())
    }

    fn reset(&mut self) {}
}
