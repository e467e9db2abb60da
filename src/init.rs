//! Weight initialisation.
//!
//! Every scheme draws from a caller's [`rand_core::RngCore`], so the same seed gives bit-identical
//! weights on every machine, and firmware can pass its hardware RNG.
//!
//! Weights are drawn in their own precision: the scale, the uniform samples and the normal
//! samples of `f32` weights are computed in `f32` arithmetic ([`unit_f32`] and
//! [`standard_normal_f32`]), those of `f64` weights in `f64` ([`unit_f64`] and
//! [`standard_normal`]), so `f32` firmware needs no double-precision routines for it.
//!
//! [`unit_f32`]: crate::rng::unit_f32
//! [`standard_normal_f32`]: crate::rng::standard_normal_f32
//! [`unit_f64`]: crate::rng::unit_f64
//! [`standard_normal`]: crate::rng::standard_normal

use rand_core::RngCore;

use crate::{math, Scalar};

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
    ///
    /// ```
    /// use tinyprop::{Init, SplitMix64};
    /// // The weights of a layer of your own with 4 inputs and 3 outputs, He-uniform: |w| < sqrt(6 / 4).
    /// let mut w = [0.0f32; 12];
    /// Init::HeUniform.fill_weights(&mut w, 4, 3, &mut SplitMix64::new(1));
    /// assert!(w.iter().all(|v| v.abs() < 1.5f32.sqrt()) && w.iter().any(|&v| v != 0.0));
    /// ```
    pub fn fill_weights<T: Scalar, R: RngCore + ?Sized>(
        self,
        weights: &mut [T],
        fan_in: usize,
        fan_out: usize,
        rng: &mut R,
    ) {
        let fan_in = fan_in.max(1);
        let fan_sum = fan_in.saturating_add(fan_out);
        match self {
            Init::XavierUniform => fill_uniform(weights, sqrt_ratio(6.0, fan_sum), rng),
            Init::XavierNormal => fill_normal(weights, sqrt_ratio(2.0, fan_sum), rng),
            Init::HeUniform => fill_uniform(weights, sqrt_ratio(6.0, fan_in), rng),
            Init::HeNormal => fill_normal(weights, sqrt_ratio(2.0, fan_in), rng),
            Init::PyTorchDefault => fill_uniform(weights, inv_sqrt(fan_in), rng),
        }
    }

    /// Fills `bias` for a layer with `fan_in` inputs.
    ///
    /// ```
    /// use tinyprop::{Init, SplitMix64};
    /// let mut b = [1.0f64; 3];
    /// Init::XavierNormal.fill_bias(&mut b, 4, &mut SplitMix64::new(1));
    /// assert_eq!(b, [0.0; 3]); // Xavier and He: zero biases
    /// Init::PyTorchDefault.fill_bias(&mut b, 4, &mut SplitMix64::new(1));
    /// assert!(b.iter().all(|v| v.abs() <= 0.5)); // U(-1/sqrt(4), 1/sqrt(4))
    /// ```
    pub fn fill_bias<T: Scalar, R: RngCore + ?Sized>(
        self,
        bias: &mut [T],
        fan_in: usize,
        rng: &mut R,
    ) {
        match self {
            Init::PyTorchDefault => fill_uniform(bias, inv_sqrt(fan_in.max(1)), rng),
            _ => bias.fill(T::zero()),
        }
    }
}

/// `n` in `T` (exact for every count a layer has).
fn count<T: Scalar>(n: usize) -> T {
    T::from_usize(n).unwrap_or_else(T::one)
}

/// `sqrt(numerator / n)`, in `T` arithmetic (`numerator` is a small integer, exact in `T`).
fn sqrt_ratio<T: Scalar>(numerator: f32, n: usize) -> T {
    math::sqrt(T::from_subset(&numerator) / count::<T>(n))
}

/// `1 / sqrt(n)`, in `T` arithmetic.
fn inv_sqrt<T: Scalar>(n: usize) -> T {
    T::one() / math::sqrt(count::<T>(n))
}

/// Fills `values` with independent samples of `U(-bound, bound)`, drawn in `T` arithmetic:
/// `(2u − 1) · bound` for `u` uniform in `[0, 1)` ([`unit_f32`] or [`unit_f64`]).
///
/// [`unit_f32`]: crate::rng::unit_f32
/// [`unit_f64`]: crate::rng::unit_f64
///
/// ```
/// use tinyprop::{init::fill_uniform, SplitMix64};
/// let mut v = [0.0f32; 100];
/// fill_uniform(&mut v, 0.1, &mut SplitMix64::new(3));
/// assert!(v.iter().all(|x| x.abs() < 0.1));
/// ```
pub fn fill_uniform<T: Scalar, R: RngCore + ?Sized>(values: &mut [T], bound: T, rng: &mut R) {
    let two = T::one() + T::one();
    for v in values {
        *v = (two * T::draw_unit(rng) - T::one()) * bound;
    }
}

/// Fills `values` with independent samples of `N(0, std²)`, drawn in `T` arithmetic
/// ([`standard_normal_f32`] or [`standard_normal`]).
///
/// [`standard_normal_f32`]: crate::rng::standard_normal_f32
/// [`standard_normal`]: crate::rng::standard_normal
///
/// ```
/// use tinyprop::{init::fill_normal, SplitMix64};
/// let mut v = [0.0f64; 1000];
/// fill_normal(&mut v, 0.5, &mut SplitMix64::new(3));
/// let mean = v.iter().sum::<f64>() / 1000.0;
/// let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 1000.0;
/// assert!(mean.abs() < 0.05 && (var.sqrt() - 0.5).abs() < 0.05);
/// ```
pub fn fill_normal<T: Scalar, R: RngCore + ?Sized>(values: &mut [T], std: T, rng: &mut R) {
    for v in values {
        *v = T::draw_normal(rng) * std;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dense, Parameters, SplitMix64};

    const ALL: [Init; 5] = [
        Init::XavierUniform,
        Init::XavierNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::PyTorchDefault,
    ];

    /// The mean and the standard deviation, accumulated in `f64`.
    fn mean_std(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn f32_weights_have_the_documented_distributions() {
        let (fan_in, fan_out) = (200.0f64, 100.0f64);
        for init in ALL {
            let (scale, uniform) = match init {
                Init::XavierUniform => (libm::sqrt(6.0 / (fan_in + fan_out)), true),
                Init::XavierNormal => (libm::sqrt(2.0 / (fan_in + fan_out)), false),
                Init::HeUniform => (libm::sqrt(6.0 / fan_in), true),
                Init::HeNormal => (libm::sqrt(2.0 / fan_in), false),
                Init::PyTorchDefault => (1.0 / libm::sqrt(fan_in), true),
            };
            let layer: Dense<f32, 200, 100> = Dense::new(init, &mut SplitMix64::new(1));
            let w = layer.weight.as_slice();
            let (mean, std) = mean_std(w);
            // 20,000 samples: the standard error of the mean is std/141.
            assert!(mean.abs() < 4.0 * std / 141.0, "{init:?} mean {mean}");
            let expected_std = if uniform {
                scale / libm::sqrt(3.0)
            } else {
                scale
            };
            assert!(
                (std / expected_std - 1.0).abs() < 0.03,
                "{init:?} std {std} vs {expected_std}"
            );
            if uniform {
                let bound = scale as f32;
                assert!(w.iter().all(|v| v.abs() <= bound), "{init:?} out of bounds");
            } else {
                // About 2/3 of a normal sample lies within one standard deviation.
                let inside = w.iter().filter(|v| f64::from(v.abs()) < scale).count();
                let fraction = inside as f64 / w.len() as f64;
                assert!((fraction - 0.6827).abs() < 0.015, "{init:?} {fraction}");
            }
            assert_eq!(
                layer.bias.iter().all(|&b| b == 0.0),
                init != Init::PyTorchDefault,
                "{init:?} bias"
            );
        }
    }

    #[test]
    fn f32_uniform_weights_round_the_f64_ones() {
        // Uniform schemes take one 64-bit draw per weight in both precisions; f32 keeps its top
        // 24 bits, so each f32 weight is the f64 one of the same seed to within 2⁻²³ of the
        // bound (the bits it drops) and a rounding.
        for init in [Init::XavierUniform, Init::HeUniform, Init::PyTorchDefault] {
            let a: Dense<f32, 30, 20> = Dense::new(init, &mut SplitMix64::new(5));
            let b: Dense<f64, 30, 20> = Dense::new(init, &mut SplitMix64::new(5));
            let bound = b.tensors().flatten().fold(0.0f64, |m, y| m.max(y.abs()));
            let tolerance = 2.0 * f64::from(f32::EPSILON) * bound;
            for (x, y) in a.tensors().flatten().zip(b.tensors().flatten()) {
                assert!((f64::from(*x) - y).abs() <= tolerance, "{init:?} {x} {y}");
            }
        }
    }

    #[test]
    fn f32_normal_samples_are_standard() {
        let mut rng = SplitMix64::new(3);
        let samples: [f32; 20_000] =
            core::array::from_fn(|_| crate::rng::standard_normal_f32(&mut rng));
        let (mean, std) = mean_std(&samples);
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((std - 1.0).abs() < 0.02, "std {std}");
        assert!(samples.iter().all(|v| v.is_finite()));
    }
}
