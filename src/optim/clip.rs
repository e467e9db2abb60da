//! Gradient clipping, like `torch.nn.utils.clip_grad_value_` and `clip_grad_norm_`.
//!
//! Clipping acts on the gradients between the backward pass and the optimizer step, so it
//! works with every optimizer. [`train_step`](crate::train_step) runs forward, loss, backward
//! and step in one call; to clip, run the same sequence by hand:
//!
//! ```
//! use tinyprop::optim::clip::{clip_grad_norm, Norm};
//! use tinyprop::optim::{Adam, AdamConfig};
//! use tinyprop::prelude::*;
//!
//! type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
//! let mut net = Net::default();
//! net.init(Init::XavierUniform, &mut SplitMix64::new(7));
//! let mut opt = Adam::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
//! let mut ws = Workspace::<f32, _, Net>::new();
//! let x = SMatrix::<f32, 2, 4>::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
//! let t = SMatrix::<f32, 1, 4>::from_column_slice(&[0., 1., 1., 0.]);
//!
//! for _ in 0..10 {
//!     ws.grads.set_zero();
//!     let y = net.forward_train(&x, &mut ws.cache);
//!     let loss = BceWithLogits.loss_and_grad(y, &t, &mut ws.dy).unwrap();
//!     assert!(loss.is_finite());
//!     net.backward(&x, &mut ws.cache, &mut ws.dy, None, Some(&mut ws.grads));
//!     // Refuses NaN or infinite gradients, leaving them as they were.
//!     let norm = clip_grad_norm(&mut ws.grads, 1.0, Norm::L2).unwrap();
//!     assert!(norm >= 0.0);
//!     opt.step(&mut net, &ws.grads).unwrap();
//! }
//! ```

use crate::{math, Error, Parameters, Scalar};

/// Which norm [`clip_grad_norm`] measures: of all gradient elements together, as if they were
/// one vector (PyTorch's `norm_type`).
///
/// ```
/// use tinyprop::prelude::*;
/// let mut grads = Dense::<f32, 2, 1>::default();
/// grads.weight = SMatrix::from([[3.0], [-4.0]]);
/// assert_eq!(tinyprop::optim::grad_norm(&grads, Norm::L2), Ok(5.0));
/// assert_eq!(tinyprop::optim::grad_norm(&grads, Norm::L1), Ok(7.0));
/// assert_eq!(tinyprop::optim::grad_norm(&grads, Norm::Inf), Ok(4.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Norm<T> {
    /// The sum of absolute values (`norm_type=1`).
    L1,
    /// The Euclidean norm (`norm_type=2`, the default in PyTorch).
    L2,
    /// The largest absolute value (`norm_type=inf`).
    Inf,
    /// `(Σ |g|ᵖ)^(1/p)` for a `p >= 1` (infinity is [`Norm::Inf`]).
    P(T),
}

/// Clamps every gradient element to `[-clip_value, clip_value]`, like
/// `torch.nn.utils.clip_grad_value_`. Refuses a negative or NaN `clip_value` and then changes
/// nothing. An infinite gradient element becomes `±clip_value`; a NaN stays NaN.
///
/// ```
/// use tinyprop::optim::clip::clip_grad_value;
/// use tinyprop::SMatrix;
/// let mut g = SMatrix::<f32, 3, 1>::new(0.5, -2.0, 3.0);
/// clip_grad_value(&mut g, 1.0).unwrap();
/// assert_eq!(g, SMatrix::<f32, 3, 1>::new(0.5, -1.0, 1.0));
/// assert!(clip_grad_value(&mut g, -1.0).is_err());
/// ```
pub fn clip_grad_value<T: Scalar, G: Parameters<T>>(
    grads: &mut G,
    clip_value: T,
) -> Result<(), Error> {
    let valid = clip_value >= T::zero(); // false for NaN
    if !valid {
        return Err(Error::InvalidHyperparameter("clip_value must be >= 0"));
    }
    for tensor in grads.tensors_mut() {
        for g in tensor {
            if *g > clip_value {
                *g = clip_value;
            } else if *g < -clip_value {
                *g = -clip_value;
            }
        }
    }
    Ok(())
}

/// The total `norm` of the gradients (all elements as one vector); refuses NaN or infinite
/// gradients with [`Error::NonFiniteGradient`], and an invalid [`Norm::P`].
///
/// Computed without overflow or underflow for any finite gradients.
///
/// ```
/// use tinyprop::optim::clip::{grad_norm, Norm};
/// use tinyprop::SMatrix;
/// let g = (SMatrix::<f64, 2, 1>::new(3.0, 0.0), SMatrix::<f64, 1, 1>::new(-4.0));
/// assert_eq!(grad_norm(&g, Norm::L2).unwrap(), 5.0);
/// assert_eq!(grad_norm(&g, Norm::L1).unwrap(), 7.0);
/// assert_eq!(grad_norm(&g, Norm::Inf).unwrap(), 4.0);
/// ```
pub fn grad_norm<T: Scalar, G: Parameters<T>>(grads: &G, norm: Norm<T>) -> Result<T, Error> {
    let norm = match norm {
        Norm::P(p) if p == T::one() => Norm::L1,
        Norm::P(p) if p == T::of_f64(2.0) => Norm::L2,
        Norm::P(p) if !p.is_finite() && p > T::zero() => Norm::Inf,
        Norm::P(p) if !(p.is_finite() && p > T::one()) => {
            return Err(Error::InvalidHyperparameter(
                "the p of Norm::P must be >= 1",
            ))
        }
        norm => norm,
    };
    let elements = || grads.tensors().flat_map(|t| t.iter().copied());
    // The largest absolute value: the infinity norm, and the scale against overflow and
    // underflow.
    let mut max = T::zero();
    for g in elements() {
        if !g.is_finite() {
            return Err(Error::NonFiniteGradient);
        }
        max = max.max(g.abs());
    }
    if max == T::zero() {
        return Ok(T::zero());
    }
    // Sums plainly (as PyTorch does), unless the sum overflows or the squares could underflow;
    // then sums the elements divided by the largest.
    let total = match norm {
        Norm::Inf => max,
        Norm::L1 => {
            let sum = elements().fold(T::zero(), |acc, g| acc + g.abs());
            if sum.is_finite() {
                sum
            } else {
                elements().fold(T::zero(), |acc, g| acc + (g / max).abs()) * max
            }
        }
        Norm::L2 => {
            let sum = elements().fold(T::zero(), |acc, g| acc + g * g);
            if sum.is_finite() && max * max >= T::of_f64(1e-30) {
                math::sqrt(sum)
            } else {
                let sum = elements().fold(T::zero(), |acc, g| {
                    let x = g / max;
                    acc + x * x
                });
                math::sqrt(sum) * max
            }
        }
        Norm::P(p) => {
            let sum = elements().fold(T::zero(), |acc, g| acc + (g / max).abs().powf(p));
            sum.powf(T::one() / p) * max
        }
    };
    Ok(total)
}

/// Scales the gradients so that their total `norm` is at most `max_norm`, like
/// `torch.nn.utils.clip_grad_norm_`: by `max_norm / (total + 1e-6)` when that is below 1.
/// Returns the total norm before clipping.
///
/// Refuses a negative or NaN `max_norm` and an invalid [`Norm::P`] (with
/// [`Error::InvalidHyperparameter`]) and NaN or infinite gradients (with
/// [`Error::NonFiniteGradient`]); the gradients are then unchanged.
///
/// ```
/// use tinyprop::optim::clip::{clip_grad_norm, Norm};
/// use tinyprop::SMatrix;
/// let mut g = SMatrix::<f64, 2, 1>::new(3.0, -4.0);
/// let total = clip_grad_norm(&mut g, 1.0, Norm::L2).unwrap();
/// assert_eq!(total, 5.0);
/// assert!((g.norm() - 1.0).abs() < 1e-6);
/// ```
pub fn clip_grad_norm<T: Scalar, G: Parameters<T>>(
    grads: &mut G,
    max_norm: T,
    norm: Norm<T>,
) -> Result<T, Error> {
    let valid = max_norm >= T::zero(); // false for NaN
    if !valid {
        return Err(Error::InvalidHyperparameter("max_norm must be >= 0"));
    }
    let total = grad_norm(grads, norm)?;
    let coefficient = max_norm / (total + T::of_f64(1e-6));
    if coefficient < T::one() {
        for tensor in grads.tensors_mut() {
            for g in tensor {
                *g *= coefficient;
            }
        }
    }
    Ok(total)
}

/// A clipping rule, for [`Fit::clip`](crate::train::Fit::clip): by value
/// ([`clip_grad_value`]) or by norm ([`clip_grad_norm`]).
///
/// ```
/// use tinyprop::prelude::*;
/// let mut grads = Dense::<f32, 2, 1>::default();
/// grads.weight = SMatrix::from([[3.0], [-4.0]]);
/// Clip::Value(1.0).apply(&mut grads).unwrap();
/// assert_eq!(grads.weight, SMatrix::from([[1.0], [-1.0]]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip<T> {
    /// Every gradient element into `[-v, v]`.
    Value(T),
    /// The whole gradient scaled down to a norm of at most `max`.
    Norm {
        /// The largest norm.
        max: T,
        /// Which norm.
        norm: Norm<T>,
    },
}

impl<T: Scalar> Clip<T> {
    /// Applies the rule to `grads`.
    ///
    /// ```
    /// use tinyprop::optim::clip::{Clip, Norm};
    /// use tinyprop::SMatrix;
    /// let mut g = SMatrix::<f64, 2, 1>::new(3.0, 4.0);
    /// Clip::Norm { max: 1.0, norm: Norm::L2 }.apply(&mut g).unwrap();
    /// assert!((g.norm() - 1.0).abs() < 1e-6);
    /// ```
    pub fn apply<G: Parameters<T>>(&self, grads: &mut G) -> Result<(), Error> {
        match *self {
            Clip::Value(v) => clip_grad_value(grads, v),
            Clip::Norm { max, norm } => clip_grad_norm(grads, max, norm).map(|_| ()),
        }
    }

    /// Checks the rule's numbers, as applying it would (on no gradients).
    pub(crate) fn check(&self) -> Result<(), Error> {
        self.apply(&mut ())
    }
}
