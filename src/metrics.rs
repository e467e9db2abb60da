//! Metrics: loss, accuracy and the confusion matrix, always evaluated in inference mode.
//!
//! [`evaluate`] runs [`Layer::forward`] (inference mode: a layer with a training mode, such as
//! dropout, behaves as at deployment) one sample at a time, so it needs no buffer beyond one
//! output column and works on data sets of any size.
//!
//! ```
//! use tinyprop::data::{DataSet, NonFinite};
//! use tinyprop::metrics::{evaluate, ConfusionMatrix};
//! use tinyprop::prelude::*;
//!
//! // A fixed 2-class "model": class 1 when x > 0.
//! let mut net = Dense::<f64, 1, 2>::default();
//! net.weight = SMatrix::from_column_slice(&[-1.0, 1.0]);
//! let x = [[-2.0], [-1.0], [1.0], [0.5]];
//! let labels = [0u8, 0, 1, 0];
//! let data = DataSet::new(&x, &labels).unwrap();
//! let mut confusion = ConfusionMatrix::<2>::new();
//! let m = evaluate(&net, &CrossEntropy, &data, NonFinite::Reject, Some(&mut confusion)).unwrap();
//! assert_eq!(m.accuracy(), Some(0.75));
//! assert_eq!(confusion.count(0, 1), 1); // one 0 taken for a 1
//! assert_eq!(confusion.correct(), 3);
//! ```

use core::fmt;

use nalgebra::{ArrayStorage, SMatrix};

use crate::data::{is_finite, scan, NonFinite, Samples, Target, TargetBatch};
use crate::{math, Error, Layer, Loss, Parameters, Scalar};

/// The loss and, for class labels, the accuracy of a model on a data set.
///
/// ```
/// use tinyprop::data::{DataSet, NonFinite};
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f32, 1, 2>::default();
/// net.bias = SVector::from([0.0, 1.0]); // always predicts class 1
/// let data = DataSet::new(&[[0.0f32], [1.0], [2.0]], &[1u8, 1, 0]).unwrap();
/// let m = evaluate(&net, &CrossEntropy, &data, NonFinite::Reject, None).unwrap();
/// assert_eq!((m.samples, m.correct, m.skipped), (3, Some(2), 0));
/// assert!(m.loss > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics<T> {
    /// The mean loss over the evaluated samples.
    pub loss: T,
    /// The number of evaluated samples.
    pub samples: usize,
    /// The number of samples whose largest output is their label's class; `None` for target
    /// rows, which have no class.
    pub correct: Option<usize>,
    /// The number of non-finite samples left out ([`NonFinite::Skip`]).
    pub skipped: usize,
}

impl<T: Scalar> Metrics<T> {
    /// The fraction of correctly classified samples, `None` for target rows.
    ///
    /// ```
    /// use tinyprop::metrics::Metrics;
    /// let m = Metrics { loss: 0.3f32, samples: 4, correct: Some(3), skipped: 0 };
    /// assert_eq!(m.accuracy(), Some(0.75));
    /// let rows = Metrics { loss: 0.3f32, samples: 4, correct: None, skipped: 0 };
    /// assert_eq!(rows.accuracy(), None); // a regressor has no accuracy
    /// ```
    pub fn accuracy(&self) -> Option<T> {
        self.correct
            .map(|c| T::of_f64(c as f64) / T::of_f64(self.samples.max(1) as f64))
    }
}

/// The index of the largest element (the first one on ties); 0 for an empty or all-NaN column.
///
/// ```
/// use tinyprop::{metrics::argmax, SMatrix};
/// assert_eq!(argmax(&SMatrix::<f32, 3, 1>::new(0.1, 2.0, -1.0)), 1);
/// ```
pub fn argmax<T: Scalar, const N: usize>(y: &SMatrix<T, N, 1>) -> usize {
    let mut best = 0;
    let mut max: Option<T> = None;
    for (i, &v) in y.iter().enumerate() {
        let is_number = v.partial_cmp(&v).is_some();
        if is_number && max.is_none_or(|m| v > m) {
            best = i;
            max = Some(v);
        }
    }
    best
}

/// The class a classifier gives one sample: the index of its largest output (for a model with
/// one output, a binary classifier on one logit: 1 when the logit is above 0, a probability
/// above 0.5), computed in inference mode. For firmware that classifies one reading at a time.
///
/// Refuses a NaN or infinite feature ([`Error::NonFiniteInput`]) and a NaN or infinite output
/// ([`Error::NonFiniteOutput`], from weights that are not finite, say), which has no class.
///
/// ```
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f32, 2, 3>::default();
/// net.bias = SVector::from([0.0, 5.0, 1.0]);
/// assert_eq!(tinyprop::metrics::predict(&net, &[0.3, 0.7]), Ok(1));
/// assert_eq!(tinyprop::metrics::predict(&net, &[f32::NAN, 0.7]), Err(Error::NonFiniteInput));
/// ```
pub fn predict<T, const IN: usize, const OUT: usize, M>(
    model: &M,
    features: &[T; IN],
) -> Result<usize, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
{
    predict_with_threshold(model, features, T::zero())
}

/// [`predict`] for a binary classifier with one output (one logit, as trained with
/// [`BceWithLogits`](crate::BceWithLogits)): class 1 when the probability `sigmoid(logit)` is
/// above `threshold` (in `(0, 1)`; [`predict`] takes 0.5), else class 0. For models with more
/// outputs the threshold plays no part.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::metrics::{predict, predict_binary};
/// let mut net = Dense::<f32, 1, 1>::default();
/// net.weight[(0, 0)] = 1.0; // logit = x
/// assert_eq!(predict(&net, &[0.5]), Ok(1)); // sigmoid(0.5) = 0.62 > 0.5
/// assert_eq!(predict_binary(&net, &[0.5], 0.7), Ok(0)); // but not > 0.7
/// assert!(predict_binary(&net, &[0.5], 1.0).is_err());
/// ```
pub fn predict_binary<T, const IN: usize, const OUT: usize, M>(
    model: &M,
    features: &[T; IN],
    threshold: T,
) -> Result<usize, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
{
    predict_with_threshold(model, features, logit_of(threshold)?)
}

/// [`predict`] with a decision threshold on the logit scale.
fn predict_with_threshold<T, const IN: usize, const OUT: usize, M>(
    model: &M,
    features: &[T; IN],
    logit_threshold: T,
) -> Result<usize, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
{
    let x = SMatrix::<T, IN, 1>::from_data(ArrayStorage([*features]));
    let mut y = SMatrix::<T, OUT, 1>::zeros();
    model.forward_checked(&x, &mut y)?;
    Ok(class_of(&y, logit_threshold))
}

/// The class of one output column: the largest output's index, or for a single output (one
/// logit) 1 when the logit is above `logit_threshold`, else 0.
fn class_of<T: Scalar, const OUT: usize>(y: &SMatrix<T, OUT, 1>, logit_threshold: T) -> usize {
    if OUT == 1 {
        usize::from(y.iter().any(|&v| v > logit_threshold))
    } else {
        argmax(y)
    }
}

/// The logit of a probability threshold in `(0, 1)`: `ln(p / (1 − p))`.
fn logit_of<T: Scalar>(p: T) -> Result<T, Error> {
    if p > T::zero() && p < T::one() {
        Ok((p / (T::one() - p)).ln())
    } else {
        Err(Error::InvalidHyperparameter("threshold must be in (0, 1)"))
    }
}

/// Evaluates `model` on every sample of `data` in inference mode: the mean `loss`, and for
/// class labels the accuracy, also counted into `confusion` when given (rows: true class,
/// columns: predicted class).
///
/// On an error nothing (not `confusion` either) has changed: an empty data set gives
/// [`Error::EmptyDataSet`], a label `>= OUT` [`Error::LabelOutOfRange`], a NaN or infinite
/// sample [`Error::NonFiniteSample`] under [`NonFinite::Reject`] (under [`NonFinite::Skip`] it
/// is left out and counted in [`Metrics::skipped`]), all checked before the model runs; a NaN
/// or infinite output of the model for a finite sample gives [`Error::NonFiniteOutput`], and a
/// loss that is not finite [`Error::NonFiniteLoss`]. After `Ok`, the loss is finite.
///
/// ```
/// use tinyprop::data::{DataSet, NonFinite};
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f32, 2, 2>::default();
/// net.weight = SMatrix::from([[1.0, 0.0], [0.0, 1.0]]); // class = the larger feature
/// let x = [[2.0f32, 1.0], [0.0, 3.0], [f32::NAN, 0.0], [1.0, 0.5]];
/// let data = DataSet::new(&x, &[0u8, 1, 0, 1]).unwrap();
/// // A NaN sample is an error, unless it is to be skipped.
/// assert!(evaluate(&net, &CrossEntropy, &data, NonFinite::Reject, None).is_err());
/// let mut confusion = ConfusionMatrix::<2>::new();
/// let m = evaluate(&net, &CrossEntropy, &data, NonFinite::Skip, Some(&mut confusion)).unwrap();
/// assert_eq!((m.correct, m.skipped), (Some(2), 1));
/// assert_eq!(confusion.count(1, 0), 1); // the last sample, class 1, predicted 0
/// ```
pub fn evaluate<T, const IN: usize, const OUT: usize, M, L, D>(
    model: &M,
    loss: &L,
    data: &D,
    non_finite: NonFinite,
    confusion: Option<&mut ConfusionMatrix<OUT>>,
) -> Result<Metrics<T>, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
    D: Samples<T, IN> + ?Sized,
    D::Target: Target<T, OUT>,
    L: Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
{
    evaluate_with(model, loss, data, non_finite, T::zero(), confusion)
}

/// [`evaluate`] for a binary classifier with one output (one logit, trained with
/// [`BceWithLogits`](crate::BceWithLogits) on labels 0 and 1): a sample is predicted as class
/// 1 when its probability `sigmoid(logit)` is above `threshold` (in `(0, 1)`; [`evaluate`]
/// takes 0.5). The accuracy and the 2 × 2 confusion matrix (and so precision, recall and F1 of
/// each class) follow the threshold; the loss does not depend on it.
///
/// ```
/// use tinyprop::data::{DataSet, NonFinite};
/// use tinyprop::metrics::{evaluate_binary, ConfusionMatrix};
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f64, 1, 1>::default();
/// net.weight[(0, 0)] = 1.0; // logit = x
/// let x = [[-2.0], [-0.2], [0.3], [2.0]];
/// let data = DataSet::new(&x, &[0u8, 1, 0, 1]).unwrap();
/// let mut confusion = ConfusionMatrix::<2>::new();
/// let m = evaluate_binary(&net, &BceWithLogits, &data, NonFinite::Reject, 0.5, Some(&mut confusion))
///     .unwrap();
/// assert_eq!(m.accuracy(), Some(0.5));
/// assert_eq!((confusion.count(1, 1), confusion.count(0, 1)), (1, 1));
/// assert_eq!(confusion.precision(1), Some(0.5));
/// ```
pub fn evaluate_binary<T, const IN: usize, M, L, D>(
    model: &M,
    loss: &L,
    data: &D,
    non_finite: NonFinite,
    threshold: T,
    confusion: Option<&mut ConfusionMatrix<2>>,
) -> Result<Metrics<T>, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, 1, 1>>,
    D: Samples<T, IN> + ?Sized,
    D::Target: Target<T, 1>,
    L: Loss<T, SMatrix<T, 1, 1>, <D::Target as Target<T, 1>>::Batch<1>>,
{
    let logit_threshold = logit_of(threshold)?;
    evaluate_with(model, loss, data, non_finite, logit_threshold, confusion)
}

/// [`evaluate`] with a decision threshold (on the logit scale, for one output) and a confusion
/// matrix of `C` classes.
fn evaluate_with<T, const IN: usize, const OUT: usize, const C: usize, M, L, D>(
    model: &M,
    loss: &L,
    data: &D,
    non_finite: NonFinite,
    logit_threshold: T,
    confusion: Option<&mut ConfusionMatrix<C>>,
) -> Result<Metrics<T>, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
    D: Samples<T, IN> + ?Sized,
    D::Target: Target<T, OUT>,
    L: Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
{
    if data.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    let usable = scan::<T, IN, OUT, D>(data, non_finite)?;
    let mut target = <<D::Target as Target<T, OUT>>::Batch<1> as TargetBatch>::empty();
    let mut sum = T::zero();
    let mut correct = 0usize;
    let mut classified = true;
    each_output(model, data, |y, t| {
        t.write::<1>(&mut target, 0);
        sum += loss.loss(y, &target)?;
        match t.class() {
            Some(class) if class_of(y, logit_threshold) == class => {
                correct = correct.saturating_add(1);
            }
            Some(_) => {}
            None => classified = false,
        }
        Ok(())
    })?;
    let mean = sum / T::of_f64(usable as f64);
    if !mean.is_finite() {
        return Err(Error::NonFiniteLoss);
    }
    // Counted only once every output is known to be finite.
    if let Some(c) = confusion {
        each_output(model, data, |y, t| {
            if let Some(class) = t.class() {
                c.record(class, class_of(y, logit_threshold));
            }
            Ok(())
        })?;
    }
    Ok(Metrics {
        loss: mean,
        samples: usable,
        correct: classified.then_some(correct),
        skipped: data.len().saturating_sub(usable),
    })
}

/// Calls `f` with the model's output (inference mode) and the target of every finite sample of
/// `data`, in order; stops with [`Error::NonFiniteOutput`] at an output that is not finite.
fn each_output<T, const IN: usize, const OUT: usize, M, D>(
    model: &M,
    data: &D,
    mut f: impl FnMut(&SMatrix<T, OUT, 1>, &D::Target) -> Result<(), Error>,
) -> Result<(), Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
    D: Samples<T, IN> + ?Sized,
    D::Target: Target<T, OUT>,
{
    let mut y = SMatrix::<T, OUT, 1>::zeros();
    for i in 0..data.len() {
        let Some((features, t)) = data.get(i) else {
            continue;
        };
        if !is_finite::<T, IN, OUT, _>(features, t) {
            continue;
        }
        let x = SMatrix::<T, IN, 1>::from_data(ArrayStorage([*features]));
        model.forward(&x, &mut y);
        if !y.all_finite() {
            return Err(Error::NonFiniteOutput);
        }
        f(&y, t)?;
    }
    Ok(())
}

/// Counts of (true class, predicted class) pairs for `C` classes.
///
/// ```
/// use tinyprop::metrics::ConfusionMatrix;
/// let mut m = ConfusionMatrix::<3>::new();
/// for (truth, predicted) in [(0, 0), (1, 1), (1, 2), (2, 2)] {
///     m.record(truth, predicted);
/// }
/// assert_eq!(m.total(), 4);
/// assert_eq!(m.accuracy(), 0.75);
/// assert_eq!(m.recall(1), Some(0.5));
/// assert_eq!(m.precision(2), Some(0.5));
/// print!("{m}");
/// // true\pred   0   1   2
/// //         0   1   0   0
/// //         1   0   1   1
/// //         2   0   0   1
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfusionMatrix<const C: usize> {
    counts: [[u32; C]; C],
}

impl<const C: usize> Default for ConfusionMatrix<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize> ConfusionMatrix<C> {
    /// All counts zero.
    ///
    /// ```
    /// use tinyprop::ConfusionMatrix;
    /// // `const`: a confusion matrix can be a `static` on a device.
    /// const EMPTY: ConfusionMatrix<10> = ConfusionMatrix::new();
    /// assert_eq!(EMPTY.total(), 0);
    /// ```
    pub const fn new() -> Self {
        Self {
            counts: [[0; C]; C],
        }
    }

    /// Counts one sample of class `truth` predicted as `predicted`; returns `false` (and
    /// counts nothing) when either is `>= C`. Counts saturate at `u32::MAX`.
    ///
    /// ```
    /// use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<3>::new();
    /// assert!(m.record(2, 0));
    /// assert!(!m.record(3, 0)); // no class 3: not counted
    /// assert_eq!(m.total(), 1);
    /// ```
    pub fn record(&mut self, truth: usize, predicted: usize) -> bool {
        match self
            .counts
            .get_mut(truth)
            .and_then(|row| row.get_mut(predicted))
        {
            Some(n) => {
                *n = n.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The number of samples of class `truth` predicted as `predicted` (0 out of range).
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.count(0, 1), 1);
    /// assert_eq!(m.count(1, 1), 2);
    /// assert_eq!(m.count(5, 0), 0);
    /// ```
    pub fn count(&self, truth: usize, predicted: usize) -> u32 {
        self.counts
            .get(truth)
            .and_then(|row| row.get(predicted))
            .copied()
            .unwrap_or(0)
    }

    /// The counts, one row per true class.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.counts(), &[[1, 1], [0, 2]]);
    /// ```
    pub fn counts(&self) -> &[[u32; C]; C] {
        &self.counts
    }

    /// Sets every count to zero.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// m.clear(); // reuse it for the next evaluation
    /// assert_eq!(m.total(), 0);
    /// ```
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// The number of samples counted.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.total(), 4);
    /// ```
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().map(|&n| u64::from(n)).sum()
    }

    /// The number of samples predicted as their true class (the diagonal).
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.correct(), 3);
    /// ```
    pub fn correct(&self) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .filter_map(|(i, row)| row.get(i))
            .map(|&n| u64::from(n))
            .sum()
    }

    /// The fraction of samples predicted as their true class (0 when nothing was counted).
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.accuracy(), 0.75);
    /// assert_eq!(tinyprop::ConfusionMatrix::<2>::new().accuracy(), 0.0);
    /// ```
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total()).unwrap_or(0.0)
    }

    /// Of the samples of class `class`, the fraction predicted as `class`; `None` when there
    /// are none.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.recall(0), Some(0.5)); // one of the two class-0 samples was found
    /// assert_eq!(m.recall(1), Some(1.0));
    /// ```
    pub fn recall(&self, class: usize) -> Option<f64> {
        let row = self.counts.get(class)?;
        let all = row.iter().map(|&n| u64::from(n)).sum();
        ratio(u64::from(self.count(class, class)), all)
    }

    /// Of the samples predicted as `class`, the fraction that are of `class`; `None` when
    /// there are none.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// assert_eq!(m.precision(1), Some(2.0 / 3.0)); // 3 predicted as 1, 2 of them right
    /// assert_eq!(m.precision(0), Some(1.0));
    /// ```
    pub fn precision(&self, class: usize) -> Option<f64> {
        if class >= C {
            return None;
        }
        let all = self
            .counts
            .iter()
            .filter_map(|row| row.get(class))
            .map(|&n| u64::from(n))
            .sum();
        ratio(u64::from(self.count(class, class)), all)
    }
}

impl<const C: usize> ConfusionMatrix<C> {
    /// The F1 score of `class`: the harmonic mean of its precision and recall; `None` when it
    /// was never predicted or never true (no precision or no recall), and 0 when both are 0.
    ///
    /// ```
    /// use tinyprop::metrics::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(1, 1), (1, 1), (1, 0), (0, 1), (0, 0)] {
    ///     m.record(truth, predicted);
    /// }
    /// // class 1: precision 2/3, recall 2/3
    /// assert!((m.f1(1).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    /// assert!((m.macro_f1().unwrap() - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
    /// ```
    pub fn f1(&self, class: usize) -> Option<f64> {
        let (p, r) = (self.precision(class)?, self.recall(class)?);
        Some(if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        })
    }

    /// The mean F1 score over the classes that have one ([`ConfusionMatrix::f1`]), as
    /// scikit-learn's `f1_score(average="macro")` where every class occurs; `None` when none
    /// has.
    ///
    /// ```
    /// # use tinyprop::ConfusionMatrix;
    /// let mut m = ConfusionMatrix::<2>::new();
    /// for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1)] {
    ///     m.record(truth, predicted);
    /// }
    /// let f1 = (m.f1(0).unwrap() + m.f1(1).unwrap()) / 2.0;
    /// assert_eq!(m.macro_f1(), Some(f1));
    /// assert_eq!(tinyprop::ConfusionMatrix::<2>::new().macro_f1(), None);
    /// ```
    pub fn macro_f1(&self) -> Option<f64> {
        let (sum, n) = (0..C)
            .filter_map(|c| self.f1(c))
            .fold((0.0, 0u32), |(s, n), f| (s + f, n.saturating_add(1)));
        (n > 0).then(|| sum / f64::from(n))
    }
}

fn ratio(part: u64, all: u64) -> Option<f64> {
    (all > 0).then(|| part as f64 / all as f64)
}

/// The number of decimal digits of `n`.
fn digits(mut n: u64) -> usize {
    let mut d: usize = 1;
    while n >= 10 {
        n /= 10;
        d = d.saturating_add(1);
    }
    d
}

/// A table with one row per true class and one column per predicted class.
impl<const C: usize> fmt::Display for ConfusionMatrix<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let largest = self.counts.iter().flatten().copied().max().unwrap_or(0);
        let width = digits(u64::from(largest))
            .max(digits(C.saturating_sub(1) as u64))
            .saturating_add(2);
        // At most 22 (u64 digits and two spaces); the bound also tells the compiler that the
        // width fits the formatter, which otherwise keeps a panic for widths over 65 535.
        let width = width.clamp(4, 24);
        const HEAD: &str = "true\\pred";
        f.write_str(HEAD)?;
        for p in 0..C {
            write!(f, "{p:>width$}")?;
        }
        writeln!(f)?;
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "{t:>w$}", w = HEAD.len())?;
            for n in row {
                write!(f, "{n:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// What a regressor's errors are on a data set of target rows, over every output of every
/// sample: the mean absolute error, the root mean squared error and the coefficient of
/// determination R² (1 − residual sum of squares / total sum of squares about the targets'
/// mean, as scikit-learn's `r2_score` of flattened outputs; `None` when the targets do not
/// vary).
///
/// ```
/// use tinyprop::data::DataSet;
/// use tinyprop::metrics::{regression, Regression};
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f64, 1, 1>::default();
/// net.weight[(0, 0)] = 2.0; // y = 2x, the targets exactly
/// let data = DataSet::new(&[[1.0], [2.0], [3.0]], &[[2.0], [4.0], [6.0]]).unwrap();
/// let r: Regression<f64> = regression(&net, &data).unwrap();
/// assert_eq!((r.mae, r.rmse, r.r2, r.samples), (0.0, 0.0, Some(1.0), 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regression<T> {
    /// Mean absolute error.
    pub mae: T,
    /// Root mean squared error.
    pub rmse: T,
    /// Coefficient of determination.
    pub r2: Option<T>,
    /// The number of samples.
    pub samples: usize,
}

/// MAE, RMSE and R² of `model` on `data` (target rows), in inference mode; the same errors as
/// [`evaluate`] for a data set with a NaN or infinite sample or output.
///
/// ```
/// use tinyprop::data::DataSet;
/// use tinyprop::metrics::regression;
/// use tinyprop::prelude::*;
/// let net = Dense::<f64, 1, 1>::default(); // predicts 0
/// let x = [[0.0], [0.0], [0.0], [0.0]];
/// let y = [[1.0], [-1.0], [3.0], [-3.0]];
/// let r = regression(&net, &DataSet::new(&x, &y).unwrap()).unwrap();
/// assert_eq!((r.mae, r.rmse, r.r2), (2.0, 5f64.sqrt(), Some(0.0)));
/// ```
pub fn regression<T, const IN: usize, const OUT: usize, M, D>(
    model: &M,
    data: &D,
) -> Result<Regression<T>, Error>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
    D: Samples<T, IN, Target = [T; OUT]> + ?Sized,
{
    if data.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    let usable = scan::<T, IN, OUT, D>(data, NonFinite::Reject)?;
    let n = T::of_f64(usable as f64) * T::of_f64(OUT as f64);
    let mut target_sum = T::zero();
    each_output(model, data, |_, t| {
        target_sum += t.iter().fold(T::zero(), |a, &v| a + v);
        Ok(())
    })?;
    let target_mean = target_sum / n;
    let (mut abs, mut sq, mut total) = (T::zero(), T::zero(), T::zero());
    each_output(model, data, |y, t| {
        for (&p, &v) in y.iter().zip(t) {
            abs += (p - v).abs();
            sq += (p - v) * (p - v);
            total += (v - target_mean) * (v - target_mean);
        }
        Ok(())
    })?;
    let r = Regression {
        mae: abs / n,
        rmse: math::sqrt(sq / n),
        r2: (total > T::zero()).then(|| T::one() - sq / total),
        samples: usable,
    };
    if r.mae.is_finite() && r.rmse.is_finite() && r.r2.is_none_or(|v| v.is_finite()) {
        Ok(r)
    } else {
        Err(Error::NonFiniteLoss)
    }
}
