//! Finite-difference gradient checks: is a layer's (or a loss's) backward pass the derivative
//! of its forward pass?
//!
//! [`check_layer`] compares the gradients [`Layer::backward`] computes, with respect to the
//! input and to every trainable parameter, with central differences `(f(v + h) − f(v − h)) / 2h`
//! of the scalar objective `L(y) = Σ r ⊙ y` for a fixed pseudo-random `r`; [`check_loss`] does
//! the same for a [`Loss`]. Both report the [`relative_error`] of the two gradient vectors,
//! `‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖)`: about 1e-9 for a correct backward pass in
//! `f64`, and far above [`TOLERANCE`] for a wrong one (a forgotten term, a transposed weight).
//!
//! The checks run in `f64` (in `f32` the differences are dominated by rounding), allocate
//! nothing, and work on any [`Layer`] through the indexed access of [`Parameters`]: the
//! library's own layers are tested with them, and so can yours (see
//! [`crate::guide::custom_layer`]).
//!
//! ```
//! use tinyprop::gradcheck::{check_layer, TOLERANCE};
//! use tinyprop::prelude::*;
//!
//! let mut net: (Dense<f64, 3, 4>, Tanh, Dense<f64, 4, 2>) = Default::default();
//! net.init(Init::XavierUniform, &mut SplitMix64::new(1));
//! let x = SMatrix::<f64, 3, 2>::new(0.5, -1.0, 2.0, 0.1, 0.3, -0.7);
//! let errors = check_layer(&mut net, &x);
//! assert!(errors.input < TOLERANCE && errors.parameters < TOLERANCE, "{errors:?}");
//! ```

use crate::{Error, Layer, Loss, Parameters, SplitMix64, Zeroed};

/// The relative error under which a gradient counts as correct in the library's own tests.
/// A correct backward pass usually lands near 1e-9; a wrong one near 1e-1.
pub const TOLERANCE: f64 = 1e-6;

/// The step of the central difference at `x`: `1e-6`, relative for `|x| > 1`.
///
/// ```
/// use tinyprop::gradcheck::step;
/// assert_eq!(step(0.5), 1e-6);
/// assert!((step(-200.0) - 2e-4).abs() < 1e-18); // relative for large values
/// ```
pub fn step(x: f64) -> f64 {
    1e-6 * libm::fabs(x).max(1.0)
}

/// The relative error of two gradient vectors, accumulated one pair of elements at a time
/// (so nothing needs to be stored): `‖a − n‖ / max(‖a‖ + ‖n‖, 1e-12)`.
///
/// ```
/// use tinyprop::gradcheck::RelativeError;
/// let mut e = RelativeError::new();
/// e.add(1.0, 1.0);
/// e.add(2.0, 2.0 + 3e-9);
/// assert!(e.value() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RelativeError {
    difference: f64,
    analytic: f64,
    numeric: f64,
}

impl RelativeError {
    /// Nothing accumulated yet (a value of 0).
    ///
    /// ```
    /// use tinyprop::gradcheck::RelativeError;
    /// assert_eq!(RelativeError::new().value(), 0.0);
    /// ```
    pub const fn new() -> Self {
        Self {
            difference: 0.0,
            analytic: 0.0,
            numeric: 0.0,
        }
    }

    /// Adds one element: the analytic derivative and its numeric estimate.
    ///
    /// ```
    /// use tinyprop::gradcheck::RelativeError;
    /// // Gradients of any shape, compared element by element as they are computed.
    /// let mut e = RelativeError::new();
    /// for (analytic, numeric) in [(0.5, 0.5), (-2.0, -2.0)] {
    ///     e.add(analytic, numeric);
    /// }
    /// assert_eq!(e.value(), 0.0);
    /// ```
    pub fn add(&mut self, analytic: f64, numeric: f64) {
        let d = analytic - numeric;
        self.difference += d * d;
        self.analytic += analytic * analytic;
        self.numeric += numeric * numeric;
    }

    /// The relative error of the elements added so far (NaN if one was NaN).
    ///
    /// ```
    /// use tinyprop::gradcheck::RelativeError;
    /// let mut e = RelativeError::new();
    /// e.add(1.0, 0.0); // a gradient the backward pass got wrong entirely
    /// assert_eq!(e.value(), 1.0);
    /// e.add(f64::NAN, 0.0);
    /// assert!(e.value().is_nan());
    /// ```
    pub fn value(&self) -> f64 {
        let norms = libm::sqrt(self.analytic) + libm::sqrt(self.numeric);
        libm::sqrt(self.difference) / norms.max(1e-12)
    }
}

/// The relative error of two gradient vectors of the same length (NaN if the lengths
/// differ): see [`RelativeError`].
///
/// ```
/// use tinyprop::gradcheck::relative_error;
/// assert_eq!(relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
/// assert!((relative_error(&[1.0, 0.0], &[0.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-15);
/// assert!(relative_error(&[1.0], &[1.0, 2.0]).is_nan());
/// ```
pub fn relative_error(analytic: &[f64], numeric: &[f64]) -> f64 {
    if analytic.len() != numeric.len() {
        return f64::NAN;
    }
    let mut e = RelativeError::new();
    for (&a, &n) in analytic.iter().zip(numeric) {
        e.add(a, n);
    }
    e.value()
}

/// The relative errors [`check_layer`] found.
///
/// ```
/// use tinyprop::gradcheck::{check_layer, LayerErrors, TOLERANCE};
/// use tinyprop::prelude::*;
/// let mut relu = Relu; // no parameters: their error is 0
/// let x = SMatrix::<f64, 2, 2>::new(0.5, -1.0, 2.0, -0.25); // away from the kink at 0
/// let LayerErrors { input, parameters } = check_layer(&mut relu, &x);
/// assert!(input < TOLERANCE && parameters == 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerErrors {
    /// Of the gradient with respect to the input.
    pub input: f64,
    /// Of the gradients of all trainable parameters together (0 for a layer without any).
    pub parameters: f64,
}

impl LayerErrors {
    /// `true` when both errors are at most `tolerance` (and not NaN).
    ///
    /// ```
    /// use tinyprop::gradcheck::{LayerErrors, TOLERANCE};
    /// assert!(LayerErrors { input: 1e-9, parameters: 0.0 }.within(TOLERANCE));
    /// assert!(!LayerErrors { input: 1e-9, parameters: f64::NAN }.within(TOLERANCE));
    /// ```
    pub fn within(&self, tolerance: f64) -> bool {
        self.input <= tolerance && self.parameters <= tolerance
    }
}

/// Checks the input and parameter gradients of `model` at input `x` against central
/// differences (see the [module docs](self)).
///
/// Every evaluation runs [`Layer::forward_train`] from the same state: the model's buffers
/// ([`Model::save_buffers`](crate::Model::save_buffers): running statistics, a dropout layer's
/// random generator) are put back before each, so dropout draws the same mask every time. Each
/// parameter is moved by `±h` in place and then set back to its exact value, so `model` is left
/// as it was. Takes `2 · (inputs + parameters) + 1` forward passes.
///
/// The parameter error is NaN when the gradients do not mirror the parameters (a different
/// count or different tensor lengths), which is a bug in the layer's [`Model::Grads`](crate::Model::Grads).
///
/// ```
/// use tinyprop::gradcheck::{check_layer, TOLERANCE};
/// use tinyprop::prelude::*;
/// // Dropout draws its mask from its generator; the check replays the same mask.
/// let mut layer = (Dense::<f64, 2, 3>::new(Init::HeNormal, &mut SplitMix64::new(3)),
///                  Dropout::<f64>::new(0.5, SplitMix64::new(4)).unwrap());
/// let before = layer.clone();
/// let errors = check_layer(&mut layer, &SMatrix::<f64, 2, 4>::from_fn(|i, j| (i + 2 * j) as f64 - 3.0));
/// assert!(errors.within(TOLERANCE), "{errors:?}");
/// assert_eq!(layer.0, before.0); // unchanged
/// ```
pub fn check_layer<M, X>(model: &mut M, x: &X) -> LayerErrors
where
    M: Layer<f64, X>,
    X: Parameters<f64> + Zeroed,
    M::Output: Parameters<f64> + Zeroed,
{
    let mut saved: M::Buffers = Zeroed::zeroed();
    model.save_buffers(&mut saved);
    let mut r: M::Output = Zeroed::zeroed();
    fill_pseudo_random(&mut r, 99);
    let mut cache: M::Cache = Zeroed::zeroed();

    // Analytic gradients: dL/dy = r.
    let mut grads: M::Grads = Zeroed::zeroed();
    let mut dx = X::zeroed();
    model.forward_train(x, &mut cache);
    let mut dy = M::Output::zeroed();
    dy.copy_from(&r);
    model.backward(x, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));

    // The input gradient, one element of a copy of `x` at a time.
    let mut xh = X::zeroed();
    xh.copy_from(x);
    let mut input = RelativeError::new();
    for i in 0..X::TENSORS {
        for j in 0..x.tensor(i).map_or(0, <[f64]>::len) {
            let Some(v) = element(&xh, i, j) else {
                continue;
            };
            let h = step(v);
            set_element(&mut xh, i, j, v + h);
            let plus = objective(model, &saved, &xh, &r, &mut cache);
            set_element(&mut xh, i, j, v - h);
            let minus = objective(model, &saved, &xh, &r, &mut cache);
            set_element(&mut xh, i, j, v);
            let analytic = element(&dx, i, j).unwrap_or(f64::NAN);
            input.add(analytic, (plus - minus) / (2.0 * h));
        }
    }

    // The parameter gradients, one parameter at a time, moved in place and set back.
    let mut parameters = RelativeError::new();
    if <M::Grads as Parameters<f64>>::COUNT != M::COUNT {
        parameters.add(f64::NAN, 0.0);
    }
    for i in 0..M::TENSORS {
        let len = model.tensor(i).map_or(0, <[f64]>::len);
        if grads.tensor(i).map_or(0, <[f64]>::len) != len {
            parameters.add(f64::NAN, 0.0);
        }
        for j in 0..len {
            let Some(v) = element(model, i, j) else {
                continue;
            };
            let h = step(v);
            set_element(model, i, j, v + h);
            let plus = objective(model, &saved, x, &r, &mut cache);
            set_element(model, i, j, v - h);
            let minus = objective(model, &saved, x, &r, &mut cache);
            set_element(model, i, j, v);
            let analytic = element(&grads, i, j).unwrap_or(f64::NAN);
            parameters.add(analytic, (plus - minus) / (2.0 * h));
        }
    }
    model.restore_buffers(&saved);
    LayerErrors {
        input: input.value(),
        parameters: parameters.value(),
    }
}

/// Checks [`Loss::loss_and_grad`]'s gradient with respect to the output `y` against central
/// differences of [`Loss::loss`]: the relative error, or the loss's error.
///
/// ```
/// use tinyprop::gradcheck::{check_loss, TOLERANCE};
/// use tinyprop::prelude::*;
/// let logits = SMatrix::<f64, 3, 2>::new(2.0, -1.0, 0.5, 0.0, 3.0, -2.0);
/// let error = check_loss(&CrossEntropy, &logits, &[2usize, 0]).unwrap();
/// assert!(error < TOLERANCE);
/// // A label out of range is the loss's error.
/// assert!(check_loss(&CrossEntropy, &logits, &[3usize, 0]).is_err());
/// ```
pub fn check_loss<L, Y, Target>(loss: &L, y: &Y, target: &Target) -> Result<f64, Error>
where
    L: Loss<f64, Y, Target>,
    Y: Parameters<f64> + Zeroed,
    Target: ?Sized,
{
    let mut dy = Y::zeroed();
    loss.loss_and_grad(y, target, &mut dy)?;
    let mut yh = Y::zeroed();
    yh.copy_from(y);
    let mut error = RelativeError::new();
    for i in 0..Y::TENSORS {
        for j in 0..y.tensor(i).map_or(0, <[f64]>::len) {
            let Some(v) = element(&yh, i, j) else {
                continue;
            };
            let h = step(v);
            set_element(&mut yh, i, j, v + h);
            let plus = loss.loss(&yh, target)?;
            set_element(&mut yh, i, j, v - h);
            let minus = loss.loss(&yh, target)?;
            set_element(&mut yh, i, j, v);
            let analytic = element(&dy, i, j).unwrap_or(f64::NAN);
            error.add(analytic, (plus - minus) / (2.0 * h));
        }
    }
    Ok(error.value())
}

/// `L(y) = Σ r ⊙ y` after a training forward pass from the saved buffers.
fn objective<M, X>(
    model: &mut M,
    saved: &M::Buffers,
    x: &X,
    r: &M::Output,
    cache: &mut M::Cache,
) -> f64
where
    M: Layer<f64, X>,
    M::Output: Parameters<f64>,
{
    model.restore_buffers(saved);
    cache.set_zero();
    let y = model.forward_train(x, cache);
    let mut sum = 0.0;
    for i in 0..<M::Output as Parameters<f64>>::TENSORS {
        if let (Some(a), Some(b)) = (y.tensor(i), r.tensor(i)) {
            for (&a, &b) in a.iter().zip(b) {
                sum += a * b;
            }
        }
    }
    sum
}

/// Element `j` of tensor `i`.
fn element<P: Parameters<f64> + ?Sized>(p: &P, i: usize, j: usize) -> Option<f64> {
    p.tensor(i).and_then(|t| t.get(j)).copied()
}

/// Sets element `j` of tensor `i` (nothing if there is none).
fn set_element<P: Parameters<f64> + ?Sized>(p: &mut P, i: usize, j: usize, v: f64) {
    if let Some(e) = p.tensor_mut(i).and_then(|t| t.get_mut(j)) {
        *e = v;
    }
}

/// Fills every element with a deterministic value in `[-1, 1)`.
fn fill_pseudo_random<P: Parameters<f64>>(p: &mut P, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for t in p.tensors_mut() {
        for v in t {
            *v = 2.0 * crate::rng::unit_f64(&mut rng) - 1.0;
        }
    }
}
