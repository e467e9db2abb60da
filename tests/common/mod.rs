//! Helpers shared by the integration tests: inputs for, and a wrapper of, the library's
//! finite-difference gradient checks (`tinyprop::gradcheck`).
#![allow(dead_code)]

use tinyprop::prelude::*;

/// Deterministic values in [-1, 1].
pub fn pseudo_random<const R: usize, const C: usize>(seed: u64) -> SMatrix<f64, R, C> {
    let mut rng = SplitMix64::new(seed);
    SMatrix::from_fn(|_, _| 2.0 * tinyprop::rng::unit_f64(&mut rng) - 1.0)
}

/// Checks the input and parameter gradients of `model` on `x` against central differences of
/// `L(y) = Σ r ⊙ y` for a fixed random `r` (the library's [`tinyprop::gradcheck::check_layer`],
/// on a copy of `model`). Returns (input error, parameter error).
pub fn check_layer<M, const I: usize, const O: usize, const B: usize>(
    model: &M,
    x: &SMatrix<f64, I, B>,
) -> (f64, f64)
where
    M: Layer<f64, SMatrix<f64, I, B>, Output = SMatrix<f64, O, B>> + Clone,
{
    let errors = tinyprop::gradcheck::check_layer(&mut model.clone(), x);
    (errors.input, errors.parameters)
}
