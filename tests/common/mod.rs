//! Finite-difference gradient checking, shared by the integration tests.
#![allow(dead_code)]

use tinyprop::prelude::*;

/// Deterministic values in [-1, 1].
pub fn pseudo_random<const R: usize, const C: usize>(seed: u64) -> SMatrix<f64, R, C> {
    let mut rng = SplitMix64::new(seed);
    SMatrix::from_fn(|_, _| 2.0 * tinyprop::rng::unit_f64(&mut rng) - 1.0)
}

/// Relative error of two gradient vectors: ‖a − n‖ / max(‖a‖ + ‖n‖, 1e-12).
pub fn relative_error(analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len());
    let diff: f64 = analytic
        .iter()
        .zip(numeric)
        .map(|(a, n)| (a - n).powi(2))
        .sum::<f64>()
        .sqrt();
    let na: f64 = analytic.iter().map(|a| a * a).sum::<f64>().sqrt();
    let nn: f64 = numeric.iter().map(|n| n * n).sum::<f64>().sqrt();
    diff / (na + nn).max(1e-12)
}

/// Step for the central difference at `x`: relative for large values.
pub fn step(x: f64) -> f64 {
    1e-6 * x.abs().max(1.0)
}

/// Checks the input and parameter gradients of `model` on `x` against central differences of
/// `L(y) = Σ r ⊙ y` for a fixed random `r`. Returns (input error, parameter error).
pub fn check_layer<M, const I: usize, const O: usize, const B: usize>(
    model: &M,
    x: &SMatrix<f64, I, B>,
) -> (f64, f64)
where
    M: Layer<f64, SMatrix<f64, I, B>, Output = SMatrix<f64, O, B>> + Clone,
{
    let r: SMatrix<f64, O, B> = pseudo_random(99);
    let objective = |m: &M, x: &SMatrix<f64, I, B>| -> f64 {
        let mut m = m.clone();
        let mut cache: M::Cache = Zeroed::zeroed();
        let y = m.forward_train(x, &mut cache);
        y.component_mul(&r).sum()
    };

    // Analytic gradients.
    let mut m = model.clone();
    let mut cache: M::Cache = Zeroed::zeroed();
    let mut grads: M::Grads = Zeroed::zeroed();
    let mut dx = SMatrix::<f64, I, B>::zeros();
    m.forward_train(x, &mut cache);
    let mut dy = r;
    m.backward(x, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));

    // Input gradient by central differences.
    let mut numeric_dx = Vec::new();
    for k in 0..I * B {
        let h = step(x.as_slice()[k]);
        let mut xp = *x;
        xp.as_mut_slice()[k] += h;
        let mut xm = *x;
        xm.as_mut_slice()[k] -= h;
        numeric_dx.push((objective(model, &xp) - objective(model, &xm)) / (2.0 * h));
    }
    let input_err = relative_error(dx.as_slice(), &numeric_dx);

    // Parameter gradients by central differences.
    let analytic: Vec<f64> = grads.tensors().flat_map(|t| t.iter().copied()).collect();
    assert_eq!(analytic.len(), <M as Parameters<f64>>::COUNT);
    let mut numeric = Vec::new();
    for k in 0..analytic.len() {
        let value = nth_param(model, k);
        let h = step(value);
        let mut mp = model.clone();
        set_nth_param(&mut mp, k, value + h);
        let mut mm = model.clone();
        set_nth_param(&mut mm, k, value - h);
        numeric.push((objective(&mp, x) - objective(&mm, x)) / (2.0 * h));
    }
    let param_err = if analytic.is_empty() {
        0.0
    } else {
        relative_error(&analytic, &numeric)
    };
    (input_err, param_err)
}

pub fn nth_param<P: Parameters<f64>>(p: &P, k: usize) -> f64 {
    p.tensors().flat_map(|t| t.iter().copied()).nth(k).unwrap()
}

pub fn set_nth_param<P: Parameters<f64>>(p: &mut P, k: usize, v: f64) {
    *p.tensors_mut().flat_map(|t| t.iter_mut()).nth(k).unwrap() = v;
}

/// Checks `loss_and_grad`'s gradient against central differences of `loss`.
pub fn check_loss<L, Tg, const N: usize, const B: usize>(
    loss: &L,
    y: &SMatrix<f64, N, B>,
    target: &Tg,
) -> f64
where
    L: Loss<f64, SMatrix<f64, N, B>, Tg>,
{
    let mut dy = SMatrix::<f64, N, B>::zeros();
    let value = loss.loss_and_grad(y, target, &mut dy).unwrap();
    assert_eq!(value, loss.loss(y, target).unwrap());
    let mut numeric = Vec::new();
    for k in 0..N * B {
        let h = step(y.as_slice()[k]);
        let mut yp = *y;
        yp.as_mut_slice()[k] += h;
        let mut ym = *y;
        ym.as_mut_slice()[k] -= h;
        numeric
            .push((loss.loss(&yp, target).unwrap() - loss.loss(&ym, target).unwrap()) / (2.0 * h));
    }
    relative_error(dy.as_slice(), &numeric)
}
