//! Weight initialisation.
//!
//! Every scheme draws from a caller's [`rand_core::RngCore`], so the same seed gives bit-identical
//! weights on every machine, and firmware can pass its hardware RNG.

use rand_core::RngCore;

use crate::rng::{standard_normal, unit_f64};
use crate::Scalar;

/// How to draw a dense layer's initial weights (`fan_in` inputs, `fan_out` outputs).
///
/// Xavier and He set biases to zero; [`Init::PyTorchDefault`] draws them as `torch.nn.Linear` does.
///
/// ```
/// use tinyprop::prelude::*;
/// let mut a: Dense<f32, 4, 3> = Default::default();
/// let mut b: Dense<f32, 4, 3> = Default::default();
/// a.init(Init::HeNormal, &mut SplitMix64::new(1));
/// b.init(Init::HeNormal, &mut SplitMix64::new(1));
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Glorot & Bengio (2010): `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`. For tanh and sigmoid.
    XavierUniform,
    /// Glorot & Bengio (2010): `N(0, 2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He et al. (2015): `U(-a, a)`, `a = sqrt(6 / fan_in)`. For ReLU.
    HeUniform,
    /// He et al. (2015): `N(0, 2 / fan_in)`.
    HeNormal,
    /// `torch.nn.Linear`'s default: weights and biases `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    PyTorchDefault,
}

impl Init {
    /// Fills `weights` for a layer with `fan_in` inputs and `fan_out` outputs.
    pub fn fill_weights<T: Scalar, R: RngCore + ?Sized>(
        self,
        weights: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) {
        let fan_in = fan_in.max(1) as f64;
        let fan_sum = (fan_in + fan_out as f64).max(1.0);
        match self {
            Init::XavierUniform => fill_uniform(weights, libm::sqrt(6.0 / fan_sum), rng),
            Init::XavierNormal => fill_normal(weights, libm::sqrt(2.0 / fan_sum), rng),
            Init::HeUniform => fill_uniform(weights, libm::sqrt(6.0 / fan_in), rng),
            Init::HeNormal => fill_normal(weights, libm::sqrt(2.0 / fan_in), rng),
            Init::PyTorchDefault => fill_uniform(weights, 1.0 / libm::sqrt(fan_in), rng),
        }
    }

    /// Fills `bias` for a layer with `fan_in` inputs.
    pub fn fill_bias<T: Scalar, R: RngCore + ?Sized>(
        self,
        bias: &mut [T],
        fan_in: usize,
        rng: &mut R,
    ) {
        match self {
            Init::PyTorchDefault => fill_uniform(bias, 1.0 / libm::sqrt(fan_in.max(1) as f64), rng),
            _ => bias.fill(T::zero()),
        }
    }
}

/// Fills `values` with independent samples of `U(-bound, bound)`.
pub fn fill_uniform<T: Scalar, R: RngCore + ?Sized>(values: &mut [T], bound: f64, rng: &mut R) {
    for v in values {
        *v = T::of_f64((2.0 * unit_f64(rng) - 1.0) * bound);
    }
}

/// Fills `values` with independent samples of `N(0, std²)`.
pub fn fill_normal<T: Scalar, R: RngCore + ?Sized>(values: &mut [T], std: f64, rng: &mut R) {
    for v in values {
        *v = T::of_f64(standard_normal(rng) * std);
    }
}
