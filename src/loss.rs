//! Losses: their value and their gradient with respect to the model's output.
//!
//! Every loss is the *mean* over the batch with PyTorch's default reduction, so learning rates
//! carry over from PyTorch code unchanged.

use nalgebra::SMatrix;

use crate::layer::nonempty_batch;
use crate::layers::sigmoid;
use crate::math::max_of;
use crate::{kernels, Error, Scalar};

/// A loss over model outputs `Y` and targets `Target`.
///
/// ```
/// use tinyprop::prelude::*;
/// let y = SMatrix::<f64, 2, 1>::new(1.0, 3.0);
/// let t = SMatrix::<f64, 2, 1>::new(0.0, 1.0);
/// let mut dy = SMatrix::zeros();
/// let l = Mse.loss_and_grad(&y, &t, &mut dy).unwrap();
/// assert_eq!(l, 2.5); // (1 + 4) / 2
/// assert_eq!(dy, SMatrix::<f64, 2, 1>::new(1.0, 2.0));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot compare output `{Y}` with target `{Target}`",
    note = "the target must have the output's shape (or, for cross-entropy, be one class index per sample)"
)]
pub trait Loss<T: Scalar, Y, Target: ?Sized> {
    /// The loss of output `y` against `target`.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// // Cross-entropy of logits against class labels, one per sample (column).
    /// let logits = SMatrix::<f32, 3, 2>::new(2.0, 0.0, 0.0, 1.0, 1.0, 1.0);
    /// let l: f32 = CrossEntropy.loss(&logits, &[0usize, 1]).unwrap();
    /// assert!(l > 0.0);
    /// assert!(CrossEntropy.loss(&logits, &[0usize, 3]).is_err()); // no class 3
    /// ```
    fn loss(&self, y: &Y, target: &Target) -> Result<T, Error>;
    /// The loss, with its gradient with respect to `y` written into `dy`.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// // For one logit and BCE, dL/dy = sigmoid(y) − t (over the batch of 1).
    /// let y = SMatrix::<f64, 1, 1>::new(0.0);
    /// let mut dy = SMatrix::zeros();
    /// BceWithLogits.loss_and_grad(&y, &SMatrix::<f64, 1, 1>::new(1.0), &mut dy).unwrap();
    /// assert_eq!(dy[0], -0.5);
    /// ```
    fn loss_and_grad(&self, y: &Y, target: &Target, dy: &mut Y) -> Result<T, Error>;
}

/// Mean squared error over all elements, like `torch.nn.MSELoss()`: `mean((y - t)²)`.
///
/// ```
/// use tinyprop::prelude::*;
/// let y = SMatrix::<f32, 1, 2>::new(1.0, 3.0);
/// let t = SMatrix::<f32, 1, 2>::new(1.0, 1.0);
/// assert_eq!(Mse.loss(&y, &t), Ok(2.0)); // (0 + 4) / 2
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mse;

impl<T: Scalar, const N: usize, const B: usize> Loss<T, SMatrix<T, N, B>, SMatrix<T, N, B>>
    for Mse
{
    fn loss(&self, y: &SMatrix<T, N, B>, t: &SMatrix<T, N, B>) -> Result<T, Error> {
        nonempty_batch::<B>();
        let sum = y
            .iter()
            .zip(t.iter())
            .fold(T::zero(), |acc, (&a, &b)| acc + (a - b) * (a - b));
        Ok(sum / count::<T>(N.saturating_mul(B)))
    }

    fn loss_and_grad(
        &self,
        y: &SMatrix<T, N, B>,
        t: &SMatrix<T, N, B>,
        dy: &mut SMatrix<T, N, B>,
    ) -> Result<T, Error> {
        nonempty_batch::<B>();
        let scale = T::of_f64(2.0) / count::<T>(N.saturating_mul(B));
        for ((d, &a), &b) in dy.iter_mut().zip(y.iter()).zip(t.iter()) {
            *d = scale * (a - b);
        }
        self.loss(y, t)
    }
}

/// Softmax cross-entropy over logits, like `torch.nn.CrossEntropyLoss()`, fused through
/// log-sum-exp so that it stays finite for logits of any size.
///
/// Targets are one class index per sample (`[usize; B]`) or a matrix of class probabilities
/// (one-hot or soft labels) with the output's shape. The model's last layer should output raw
/// logits (no [`crate::Softmax`]).
///
/// ```
/// use tinyprop::prelude::*;
/// let logits = SMatrix::<f32, 3, 2>::from_column_slice(&[1000., 0., -1000., 0., 0., 0.]);
/// let l: f32 = CrossEntropy.loss(&logits, &[0, 2]).unwrap();
/// assert!((l - 3f32.ln() / 2.0).abs() < 1e-6); // sample 0 is certain, sample 1 uniform
/// assert!(CrossEntropy.loss(&logits, &[0, 3]).is_err()); // class 3 does not exist
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrossEntropy;

/// `log Σ e^{x_i}` of one column, shifted by its maximum.
fn log_sum_exp<T: Scalar, const N: usize>(col: &[T; N]) -> T {
    let max = max_of(col);
    let sum = col
        .iter()
        .fold(T::zero(), |acc, &v| acc + (v - max).exp_flush());
    max + sum.ln()
}

/// The end of one column of [`CrossEntropy`]'s `loss_and_grad` with class labels: `d` holds
/// the column's exponentials shifted by its maximum `max`; it becomes the gradient
/// `(softmax - onehot) · inv_b`, and the column's loss `log Σ e^{x_i} - x_label` is returned.
fn softmax_column<T: Scalar, const N: usize>(
    d: &mut [T; N],
    logits: &[T; N],
    max: T,
    label: usize,
    inv_b: T,
) -> T {
    let total = d.iter().fold(T::zero(), |acc, &e| acc + e);
    let target = logits.get(label).copied().unwrap_or_else(T::zero);
    for (i, di) in d.iter_mut().enumerate() {
        let onehot = if i == label { T::one() } else { T::zero() };
        *di = (*di / total - onehot) * inv_b;
    }
    max + total.ln() - target
}

impl<T: Scalar, const N: usize, const B: usize> Loss<T, SMatrix<T, N, B>, [usize; B]>
    for CrossEntropy
{
    fn loss(&self, y: &SMatrix<T, N, B>, labels: &[usize; B]) -> Result<T, Error> {
        nonempty_batch::<B>();
        let mut sum = T::zero();
        for (col, &label) in y.data.0.iter().zip(labels) {
            let target = *col
                .get(label)
                .ok_or(Error::LabelOutOfRange { label, classes: N })?;
            sum += log_sum_exp(col) - target;
        }
        Ok(sum / count::<T>(B))
    }

    fn loss_and_grad(
        &self,
        y: &SMatrix<T, N, B>,
        labels: &[usize; B],
        dy: &mut SMatrix<T, N, B>,
    ) -> Result<T, Error> {
        nonempty_batch::<B>();
        // Every label is checked before anything is written.
        if let Some(&label) = labels.iter().find(|&&label| label >= N) {
            return Err(Error::LabelOutOfRange { label, classes: N });
        }
        // One exponential per logit: the same log-sum-exp as `loss` (so the same value), with
        // the shifted exponentials kept in `dy` for the softmax. In three passes, so that the
        // exponentials run in one flat loop that vectorizes: the logits shifted by their
        // column's maximum, their exponentials, then per column the log-sum-exp and the
        // gradient `(softmax - onehot) / B`. The last pass finds each maximum again (a few
        // compares) rather than keep `B` of them on the stack.
        let inv_b = T::one() / count::<T>(B);
        let mut sum = T::zero();
        if kernels::SCALAR_TILES {
            // Without vector registers nothing vectorizes: one pass per column, the same
            // arithmetic, but for the column's maximum, whose `e^0` is 1 without computing it.
            for ((d, logits), &label) in dy.data.0.iter_mut().zip(&y.data.0).zip(labels) {
                let max = max_of(logits);
                kernels::each_pair(d, logits, |di, &v| {
                    let x = v - max;
                    *di = if crate::math::is_zero(x) {
                        T::one()
                    } else {
                        x.exp_flush()
                    };
                });
                sum += softmax_column(d, logits, max, label, inv_b);
            }
            return Ok(sum / count::<T>(B));
        }
        for (d, logits) in dy.data.0.iter_mut().zip(&y.data.0) {
            let (d, logits): (&mut [T; N], &[T; N]) = kernels::opaque::<B, _>((d, logits));
            let max = max_of(logits);
            for (di, &v) in d.iter_mut().zip(logits) {
                *di = v - max;
            }
        }
        for di in dy.as_mut_slice() {
            *di = di.exp_flush();
        }
        for ((d, logits), &label) in dy.data.0.iter_mut().zip(&y.data.0).zip(labels) {
            let (d, logits): (&mut [T; N], &[T; N]) = kernels::opaque::<B, _>((d, logits));
            sum += softmax_column(d, logits, max_of(logits), label, inv_b);
        }
        Ok(sum / count::<T>(B))
    }
}

impl<T: Scalar, const N: usize, const B: usize> Loss<T, SMatrix<T, N, B>, SMatrix<T, N, B>>
    for CrossEntropy
{
    fn loss(&self, y: &SMatrix<T, N, B>, t: &SMatrix<T, N, B>) -> Result<T, Error> {
        nonempty_batch::<B>();
        let mut sum = T::zero();
        for (col, tc) in y.data.0.iter().zip(&t.data.0) {
            let lse = log_sum_exp(col);
            for (&v, &p) in col.iter().zip(tc) {
                sum -= p * (v - lse);
            }
        }
        Ok(sum / count::<T>(B))
    }

    fn loss_and_grad(
        &self,
        y: &SMatrix<T, N, B>,
        t: &SMatrix<T, N, B>,
        dy: &mut SMatrix<T, N, B>,
    ) -> Result<T, Error> {
        nonempty_batch::<B>();
        let inv_b = T::one() / count::<T>(B);
        for ((d, col), tc) in dy.data.0.iter_mut().zip(&y.data.0).zip(&t.data.0) {
            let lse = log_sum_exp(col);
            let mass = tc.iter().fold(T::zero(), |acc, &p| acc + p);
            for ((di, &v), &p) in d.iter_mut().zip(col).zip(tc) {
                // d/dv_i of -Σ_j p_j (v_j - lse) = softmax_i Σ_j p_j - p_i
                *di = ((v - lse).exp_flush() * mass - p) * inv_b;
            }
        }
        self.loss(y, t)
    }
}

/// Binary cross-entropy on logits, like `torch.nn.BCEWithLogitsLoss()`: the mean over all
/// elements of `max(x, 0) - x·t + ln(1 + e^{-|x|})`, finite for logits of any size.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f64, 1, 2>::new(0.0, 0.0);
/// let t = SMatrix::<f64, 1, 2>::new(0.0, 1.0);
/// let l = BceWithLogits.loss(&x, &t).unwrap();
/// assert!((l - 2f64.ln()).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BceWithLogits;

impl<T: Scalar, const N: usize, const B: usize> Loss<T, SMatrix<T, N, B>, SMatrix<T, N, B>>
    for BceWithLogits
{
    fn loss(&self, y: &SMatrix<T, N, B>, t: &SMatrix<T, N, B>) -> Result<T, Error> {
        nonempty_batch::<B>();
        let sum = y.iter().zip(t.iter()).fold(T::zero(), |acc, (&x, &p)| {
            acc + x.max(T::zero()) - x * p + (-x.abs()).exp().ln_1p()
        });
        Ok(sum / count::<T>(N.saturating_mul(B)))
    }

    fn loss_and_grad(
        &self,
        y: &SMatrix<T, N, B>,
        t: &SMatrix<T, N, B>,
        dy: &mut SMatrix<T, N, B>,
    ) -> Result<T, Error> {
        nonempty_batch::<B>();
        let inv = T::one() / count::<T>(N.saturating_mul(B));
        for ((d, &x), &p) in dy.iter_mut().zip(y.iter()).zip(t.iter()) {
            *d = (sigmoid(x) - p) * inv;
        }
        self.loss(y, t)
    }
}

/// Binary cross-entropy on one logit per sample with class labels 0 and 1 as targets, so that
/// a binary classifier trains on the labels of a [`DataSet`](crate::data::DataSet) directly:
/// the same as with a target row holding the label as `0.0` or `1.0`. A label above 1 gives
/// [`Error::LabelOutOfRange`].
///
/// ```
/// use tinyprop::prelude::*;
/// let logits = SMatrix::<f64, 1, 2>::new(2.0, -1.0);
/// let rows = SMatrix::<f64, 1, 2>::new(1.0, 0.0);
/// assert_eq!(BceWithLogits.loss(&logits, &[1, 0]), BceWithLogits.loss(&logits, &rows));
/// assert!(BceWithLogits.loss(&logits, &[1, 2]).is_err());
/// ```
impl<T: Scalar, const B: usize> Loss<T, SMatrix<T, 1, B>, [usize; B]> for BceWithLogits {
    fn loss(&self, y: &SMatrix<T, 1, B>, labels: &[usize; B]) -> Result<T, Error> {
        nonempty_batch::<B>();
        self.loss(y, &label_rows::<T, B>(labels)?)
    }

    fn loss_and_grad(
        &self,
        y: &SMatrix<T, 1, B>,
        labels: &[usize; B],
        dy: &mut SMatrix<T, 1, B>,
    ) -> Result<T, Error> {
        nonempty_batch::<B>();
        self.loss_and_grad(y, &label_rows::<T, B>(labels)?, dy)
    }
}

/// Labels 0 and 1 as a row of targets; [`Error::LabelOutOfRange`] for any other.
fn label_rows<T: Scalar, const B: usize>(labels: &[usize; B]) -> Result<SMatrix<T, 1, B>, Error> {
    let mut t = SMatrix::<T, 1, B>::zeros();
    for (v, &label) in t.iter_mut().zip(labels) {
        *v = match label {
            0 => T::zero(),
            1 => T::one(),
            _ => return Err(Error::LabelOutOfRange { label, classes: 2 }),
        };
    }
    Ok(t)
}

/// `n` as a scalar (batch and element counts are far below 2^24, exact in `f32`).
fn count<T: Scalar>(n: usize) -> T {
    T::of_f64(n as f64)
}
