//! Data sets held in slices (in flash or RAM): batching, shuffling and splitting.
//!
//! A data set is a slice of feature rows `&[[T; IN]]` and a slice of the same length of
//! targets: class labels (`&[u8]`, `&[u16]`, `&[u32]` or `&[usize]`, for
//! [`CrossEntropy`](crate::CrossEntropy)) or target rows `&[[T; OUT]]` (for
//! [`Mse`](crate::Mse), [`BceWithLogits`](crate::BceWithLogits) or cross-entropy with
//! probability targets). Nothing is copied: a `const` array in flash serves as it is.
//!
//! Orders and subsets are index buffers the caller provides (`&mut [u16]` is enough for
//! 65 536 samples): [`sequence`] fills one with `0, 1, 2, …`, [`shuffle`] permutes one with
//! Fisher–Yates, [`stratified_split`] writes a train/validation split into one
//! ([`stratified_split_rows`] splits a part again), and
//! [`DataSet::subset`] views a data set through one.
//!
//! ```
//! use tinyprop::data::{shuffle, stratified_split, DataSet, Samples};
//! use tinyprop::SplitMix64;
//!
//! const FEATURES: [[f32; 2]; 6] = [[0., 0.], [0., 1.], [1., 0.], [1., 1.], [2., 2.], [3., 3.]];
//! const LABELS: [u8; 6] = [0, 0, 0, 1, 1, 1];
//! let data = DataSet::new(&FEATURES, &LABELS).unwrap();
//!
//! let mut rng = SplitMix64::new(1);
//! let mut rows = [0u16; 6];
//! let (train_rows, val_rows) = stratified_split(&LABELS, 1.0 / 3.0, &mut rng, &mut rows).unwrap();
//! assert_eq!((train_rows.len(), val_rows.len()), (4, 2)); // one of each class held out
//! let train = data.subset(train_rows).unwrap();
//! let validation = data.subset(val_rows).unwrap();
//!
//! let mut order = [0u16; 4];
//! tinyprop::data::sequence(&mut order).unwrap();
//! shuffle(&mut order, &mut rng);
//! let mut sorted = order;
//! sorted.sort();
//! assert_eq!(sorted, [0, 1, 2, 3]); // a permutation of the positions in `train`
//! assert!(train.get(usize::from(order[0])).is_some());
//! ```

use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::{Error, Scalar};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for usize {}
}

/// An unsigned integer type for class labels and index buffers: `u8`, `u16`, `u32` or `usize`.
///
/// Sealed: implemented for these four types only.
///
/// ```
/// use tinyprop::data::Unsigned;
/// assert_eq!(200u8.to_usize(), 200);
/// assert_eq!(u8::from_usize(300), None); // does not fit
/// assert_eq!(u16::from_usize(300), Some(300));
/// ```
pub trait Unsigned: Copy + Ord + sealed::Sealed {
    /// The value as a `usize` (`u32` values above `usize::MAX`, on 16-bit targets, saturate).
    ///
    /// ```
    /// use tinyprop::data::Unsigned;
    /// assert_eq!(7u16.to_usize(), 7usize);
    /// ```
    fn to_usize(self) -> usize;
    /// `n` as this type, or `None` when it does not fit.
    ///
    /// ```
    /// use tinyprop::data::Unsigned;
    /// // An index buffer of `u8` can count at most 256 samples.
    /// assert_eq!(u8::from_usize(255), Some(255));
    /// assert_eq!(u8::from_usize(256), None);
    /// ```
    fn from_usize(n: usize) -> Option<Self>;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            #[inline]
            fn to_usize(self) -> usize {
                usize::try_from(self).unwrap_or(usize::MAX)
            }
            #[inline]
            fn from_usize(n: usize) -> Option<Self> {
                <$t>::try_from(n).ok()
            }
        }
    )*};
}
unsigned!(u8, u16, u32, usize);

/// A target batch buffer: `[usize; B]` (class labels) or a matrix with one column per sample.
///
/// ```
/// use tinyprop::data::TargetBatch;
/// use tinyprop::SMatrix;
/// let labels = <[usize; 4]>::empty();
/// assert_eq!(labels, [0; 4]);
/// let rows = <SMatrix<f32, 2, 4>>::empty();
/// assert_eq!(rows, SMatrix::<f32, 2, 4>::zeros());
/// ```
pub trait TargetBatch: Sized {
    /// A buffer filled with zeros (class 0 for labels).
    ///
    /// ```
    /// use tinyprop::data::TargetBatch;
    /// assert_eq!(<[usize; 3]>::empty(), [0, 0, 0]);
    /// ```
    fn empty() -> Self;
    /// Sets the targets of the samples from `column` on to zero (class 0 for labels).
    ///
    /// ```
    /// use tinyprop::data::TargetBatch;
    /// // A partial batch of 2 samples in a buffer of 4: the unused columns are cleared.
    /// let mut labels = [3usize, 1, 2, 2];
    /// labels.clear_from(2);
    /// assert_eq!(labels, [3, 1, 0, 0]);
    /// ```
    fn clear_from(&mut self, column: usize);
}

impl<const B: usize> TargetBatch for [usize; B] {
    fn empty() -> Self {
        [0; B]
    }
    fn clear_from(&mut self, column: usize) {
        if let Some(tail) = self.get_mut(column..) {
            tail.fill(0);
        }
    }
}

impl<T: Scalar, const R: usize, const C: usize> TargetBatch for SMatrix<T, R, C> {
    fn empty() -> Self {
        SMatrix::zeros()
    }
    fn clear_from(&mut self, column: usize) {
        for mut col in self.column_iter_mut().skip(column) {
            col.fill(T::zero());
        }
    }
}

/// The target of one sample, for a model with `OUT` outputs: a class label (any [`Unsigned`]:
/// below `OUT`, or 0 or 1 for a model with one output) or a row of `OUT` values `[T; OUT]`.
///
/// It knows the batch form a [`Loss`](crate::Loss) takes for `B` samples
/// ([`Target::Batch`]: `[usize; B]` for labels, `SMatrix<T, OUT, B>` for rows) and writes
/// itself into one column of it.
///
/// ```
/// use tinyprop::data::Target;
/// use tinyprop::{Error, SMatrix};
/// // A class label for a model with 3 outputs, and a row target for a regressor with 2.
/// assert_eq!(<u8 as Target<f32, 3>>::check(&2), Ok(()));
/// assert_eq!(
///     <u8 as Target<f32, 3>>::check(&3),
///     Err(Error::LabelOutOfRange { label: 3, classes: 3 })
/// );
/// let mut batch = SMatrix::<f32, 2, 4>::zeros();
/// [1.5f32, -1.0].write::<4>(&mut batch, 1);
/// assert_eq!(batch.column(1).as_slice(), [1.5, -1.0]);
/// ```
pub trait Target<T: Scalar, const OUT: usize>: Copy {
    /// The targets of `B` samples in the form the loss takes.
    type Batch<const B: usize>: TargetBatch;

    /// Checks the target: a label must be below `OUT` ([`Error::LabelOutOfRange`]); a row
    /// must be finite (`Err(Error::NonFiniteSample { index: 0 })`; callers substitute the
    /// sample's position).
    ///
    /// ```
    /// use tinyprop::data::Target;
    /// // One output: a binary classifier, labels 0 and 1.
    /// assert!(<u8 as Target<f32, 1>>::check(&1).is_ok());
    /// assert!(<u8 as Target<f32, 1>>::check(&2).is_err());
    /// assert!(<[f32; 1] as Target<f32, 1>>::check(&[f32::NAN]).is_err());
    /// ```
    fn check(&self) -> Result<(), Error>;

    /// Writes the target into column `column` of `batch` (nothing when `column >= B`).
    ///
    /// ```
    /// use tinyprop::data::Target;
    /// let mut labels = [0usize; 4];
    /// <u16 as Target<f32, 10>>::write::<4>(&9, &mut labels, 2);
    /// assert_eq!(labels, [0, 0, 9, 0]);
    /// ```
    fn write<const B: usize>(&self, batch: &mut Self::Batch<B>, column: usize);

    /// The class, for accuracy and the confusion matrix: the label, or `None` for a row.
    ///
    /// ```
    /// use tinyprop::data::Target;
    /// assert_eq!(<u8 as Target<f32, 3>>::class(&2), Some(2));
    /// assert_eq!(<[f32; 3] as Target<f32, 3>>::class(&[0.0; 3]), None); // a row has no class
    /// ```
    fn class(&self) -> Option<usize>;
}

impl<T: Scalar, const OUT: usize, U: Unsigned> Target<T, OUT> for U {
    type Batch<const B: usize> = [usize; B];

    /// A label must be below `OUT`, or for a model with one output (a binary classifier on
    /// one logit, trained with [`BceWithLogits`](crate::BceWithLogits)) be 0 or 1.
    fn check(&self) -> Result<(), Error> {
        let label = self.to_usize();
        let classes = if OUT == 1 { 2 } else { OUT };
        if label < classes {
            Ok(())
        } else {
            Err(Error::LabelOutOfRange { label, classes })
        }
    }

    fn write<const B: usize>(&self, batch: &mut [usize; B], column: usize) {
        if let Some(slot) = batch.get_mut(column) {
            *slot = self.to_usize();
        }
    }

    fn class(&self) -> Option<usize> {
        Some(self.to_usize())
    }
}

impl<T: Scalar, const OUT: usize> Target<T, OUT> for [T; OUT] {
    type Batch<const B: usize> = SMatrix<T, OUT, B>;

    fn check(&self) -> Result<(), Error> {
        if self.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::NonFiniteSample { index: 0 })
        }
    }

    fn write<const B: usize>(&self, batch: &mut SMatrix<T, OUT, B>, column: usize) {
        if let Some(mut col) = batch.column_iter_mut().nth(column) {
            for (dst, &src) in col.iter_mut().zip(self.iter()) {
                *dst = src;
            }
        }
    }

    fn class(&self) -> Option<usize> {
        None
    }
}

/// Samples that can be read by position: a [`DataSet`], a [`Subset`] of one, or a type of
/// your own.
///
/// ```
/// use tinyprop::data::Samples;
/// use tinyprop::prelude::*;
///
/// /// The last 4 readings of a sensor, labelled by the firmware as it goes.
/// struct Recent {
///     readings: [[f32; 2]; 4],
///     labels: [u8; 4],
///     filled: usize,
/// }
///
/// impl Samples<f32, 2> for Recent {
///     type Target = u8;
///     fn len(&self) -> usize {
///         self.filled
///     }
///     fn get(&self, i: usize) -> Option<(&[f32; 2], &u8)> {
///         (i < self.filled).then(|| (&self.readings[i], &self.labels[i]))
///     }
/// }
///
/// let recent = Recent { readings: [[0.5, 1.0], [2.0, -1.0], [0.0; 2], [0.0; 2]], labels: [1, 0, 0, 0], filled: 2 };
/// let net = Dense::<f32, 2, 2>::default();
/// // Everything that takes a data set takes it: evaluation, training, scalers.
/// let metrics = evaluate(&net, &CrossEntropy, &recent, tinyprop::data::NonFinite::Reject, None).unwrap();
/// assert_eq!(metrics.samples, 2);
/// ```
pub trait Samples<T, const IN: usize> {
    /// The target of one sample: a label or a row `[T; OUT]` (see [`Target`]).
    type Target;

    /// The number of samples.
    ///
    /// ```
    /// use tinyprop::data::{DataSet, Samples};
    /// let data = DataSet::new(&[[1.0f32]; 5], &[0u8; 5]).unwrap();
    /// assert_eq!(Samples::len(&data), 5);
    /// ```
    fn len(&self) -> usize;

    /// `true` when there are no samples.
    ///
    /// ```
    /// use tinyprop::data::{DataSet, Samples};
    /// let data = DataSet::new(&[[1.0f32]], &[0u8]).unwrap();
    /// assert!(!Samples::is_empty(&data));
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `i`: its features and its target, or `None` when `i >= len()`.
    ///
    /// ```
    /// # use tinyprop::data::*;
    /// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
    /// assert_eq!(data.get(2), Some((&[2.0, 2.0], &1)));
    /// assert_eq!(data.get(3), None);
    /// ```
    fn get(&self, i: usize) -> Option<(&[T; IN], &Self::Target)>;
}

/// Features and targets in two slices of the same length, in flash or RAM.
///
/// ```
/// use tinyprop::data::{DataSet, Samples};
/// use tinyprop::Error;
/// let x = [[1.0f32, 2.0], [3.0, 4.0]];
/// let data = DataSet::new(&x, &[0u8, 1]).unwrap();
/// assert_eq!(data.len(), 2);
/// assert_eq!(data.get(1), Some((&[3.0, 4.0], &1)));
/// assert_eq!(
///     DataSet::new(&x, &[0u8]).unwrap_err(),
///     Error::LengthMismatch { features: 2, targets: 1 }
/// );
/// assert_eq!(DataSet::<f32, 2, u8>::new(&[], &[]).unwrap_err(), Error::EmptyDataSet);
/// ```
#[derive(Debug, PartialEq)]
pub struct DataSet<'a, T, const IN: usize, Y> {
    features: &'a [[T; IN]],
    targets: &'a [Y],
}

impl<T, const IN: usize, Y> Clone for DataSet<'_, T, IN, Y> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, const IN: usize, Y> Copy for DataSet<'_, T, IN, Y> {}

impl<'a, T, const IN: usize, Y> DataSet<'a, T, IN, Y> {
    /// A data set of `features[i]` with target `targets[i]`. Refuses slices of different
    /// lengths ([`Error::LengthMismatch`]) and empty ones ([`Error::EmptyDataSet`]).
    ///
    /// Labels are checked against the number of classes, and values for NaN, when training
    /// or evaluating starts (the number of classes is the model's output width).
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// // Features in flash (a `static`), labels of any unsigned type.
    /// static X: [[f32; 3]; 2] = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]];
    /// static Y: [u16; 2] = [0, 4];
    /// let data = DataSet::new(&X, &Y).unwrap();
    /// assert_eq!(data.targets(), &[0, 4]);
    /// ```
    pub fn new(features: &'a [[T; IN]], targets: &'a [Y]) -> Result<Self, Error> {
        if features.len() != targets.len() {
            return Err(Error::LengthMismatch {
                features: features.len(),
                targets: targets.len(),
            });
        }
        if features.is_empty() {
            return Err(Error::EmptyDataSet);
        }
        Ok(Self { features, targets })
    }

    /// The number of samples.
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// let data = DataSet::new(&[[0.0f32, 1.0]; 3], &[[0.5f32]; 3]).unwrap();
    /// assert_eq!(data.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// `false`: a data set has at least one sample.
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// let data = DataSet::new(&[[0.0f32]], &[0u8]).unwrap();
    /// assert!(!data.is_empty()); // `DataSet::new` refuses empty slices
    /// ```
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The feature rows.
    ///
    /// ```
    /// # use tinyprop::data::*;
    /// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
    /// assert_eq!(data.features()[2], [2.0, 2.0]);
    /// ```
    pub fn features(&self) -> &'a [[T; IN]] {
        self.features
    }

    /// The targets.
    ///
    /// ```
    /// # use tinyprop::data::*;
    /// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
    /// assert_eq!(data.targets(), &[0, 1, 1]);
    /// ```
    pub fn targets(&self) -> &'a [Y] {
        self.targets
    }

    /// The samples at positions `rows` (in that order; repetitions allowed), without copying.
    /// Refuses an empty `rows` ([`Error::EmptyDataSet`]) and a position out of range
    /// ([`Error::IndexOutOfRange`]).
    ///
    /// ```
    /// use tinyprop::data::{DataSet, Samples};
    /// let x = [[0.0f32], [1.0], [2.0]];
    /// let data = DataSet::new(&x, &[0u8, 1, 2]).unwrap();
    /// let odd = data.subset(&[2u16, 0]).unwrap();
    /// assert_eq!(odd.get(0), Some((&[2.0], &2)));
    /// assert!(data.subset(&[3u16]).is_err());
    /// ```
    pub fn subset<I: Unsigned>(&self, rows: &'a [I]) -> Result<Subset<'a, T, IN, Y, I>, Error> {
        if rows.is_empty() {
            return Err(Error::EmptyDataSet);
        }
        check_indices(rows, self.features.len())?;
        Ok(Subset { data: *self, rows })
    }
}

impl<T, const IN: usize, Y> Samples<T, IN> for DataSet<'_, T, IN, Y> {
    type Target = Y;

    fn len(&self) -> usize {
        self.features.len()
    }

    fn get(&self, i: usize) -> Option<(&[T; IN], &Y)> {
        self.features.get(i).zip(self.targets.get(i))
    }
}

/// Some samples of a [`DataSet`], selected by an index buffer: see [`DataSet::subset`].
///
/// ```
/// # use tinyprop::data::*;
/// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
/// use tinyprop::prelude::*;
/// // A train/validation split without copying: two index buffers into one data set.
/// let (train, validation) = (data.subset(&[0u8, 2]).unwrap(), data.subset(&[1u8]).unwrap());
/// let scaler = Normalize::<f32, 2>::standardize(&train).unwrap(); // fitted on the training part
/// assert_eq!((train.len(), validation.len()), (2, 1));
/// assert_eq!(scaler.offset, SVector::from([1.0, 1.5]));
/// ```
#[derive(Debug, PartialEq)]
pub struct Subset<'a, T, const IN: usize, Y, I> {
    data: DataSet<'a, T, IN, Y>,
    rows: &'a [I],
}

impl<T, const IN: usize, Y, I> Clone for Subset<'_, T, IN, Y, I> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, const IN: usize, Y, I> Copy for Subset<'_, T, IN, Y, I> {}

impl<'a, T, const IN: usize, Y, I> Subset<'a, T, IN, Y, I> {
    /// The number of samples.
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// let data = DataSet::new(&[[0.0f32]; 4], &[0u8; 4]).unwrap();
    /// assert_eq!(data.subset(&[0u8, 3]).unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// `false`: a subset has at least one sample.
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// let data = DataSet::new(&[[0.0f32]; 4], &[0u8; 4]).unwrap();
    /// assert!(!data.subset(&[1u8]).unwrap().is_empty());
    /// assert!(data.subset::<u8>(&[]).is_err()); // an empty subset is refused
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The positions in the underlying data set.
    ///
    /// ```
    /// # use tinyprop::data::*;
    /// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
    /// let s = data.subset(&[2u8, 2, 0]).unwrap(); // repetitions are allowed
    /// assert_eq!(s.rows(), &[2, 2, 0]);
    /// assert_eq!(s.get(1), Some((&[2.0, 2.0], &1)));
    /// ```
    pub fn rows(&self) -> &'a [I] {
        self.rows
    }

    /// The underlying data set.
    ///
    /// ```
    /// # use tinyprop::data::*;
    /// # let x = [[0.0f32, 1.0], [1.0, 0.0], [2.0, 2.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
    /// let s = data.subset(&[1u8]).unwrap();
    /// assert_eq!(s.data(), data);
    /// ```
    pub fn data(&self) -> DataSet<'a, T, IN, Y> {
        self.data
    }
}

impl<T, const IN: usize, Y, I: Unsigned> Samples<T, IN> for Subset<'_, T, IN, Y, I> {
    type Target = Y;

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn get(&self, i: usize) -> Option<(&[T; IN], &Y)> {
        self.rows
            .get(i)
            .and_then(|row| self.data.get(row.to_usize()))
    }
}

/// Checks that every index is below `len`.
pub(crate) fn check_indices<I: Unsigned>(indices: &[I], len: usize) -> Result<(), Error> {
    match indices.iter().find(|i| i.to_usize() >= len) {
        Some(i) => Err(Error::IndexOutOfRange {
            index: i.to_usize(),
            len,
        }),
        None => Ok(()),
    }
}

/// Fills `indices` with `0, 1, 2, …`. Refuses a buffer longer than the index type can count
/// (a `[u8; 300]`, say) with [`Error::IndexOutOfRange`], changing nothing.
///
/// ```
/// let mut order = [9u8; 4];
/// tinyprop::data::sequence(&mut order).unwrap();
/// assert_eq!(order, [0, 1, 2, 3]);
/// assert!(tinyprop::data::sequence(&mut [0u8; 257]).is_err());
/// ```
pub fn sequence<I: Unsigned>(indices: &mut [I]) -> Result<(), Error> {
    if let Some(last) = indices.len().checked_sub(1) {
        if I::from_usize(last).is_none() {
            return Err(Error::IndexOutOfRange {
                index: last,
                len: max_count::<I>(),
            });
        }
    }
    for (i, slot) in indices.iter_mut().enumerate() {
        if let Some(v) = I::from_usize(i) {
            *slot = v;
        }
    }
    Ok(())
}

/// How many distinct values `I` holds (saturating at `usize::MAX`).
fn max_count<I: Unsigned>() -> usize {
    // The largest n with from_usize(n - 1) = Some: try the four widths.
    for bits in [8u32, 16, 32] {
        let n = 1usize.checked_shl(bits).unwrap_or(usize::MAX);
        if I::from_usize(n).is_none() {
            return n;
        }
    }
    usize::MAX
}

/// Draws [`below`] takes at most: a generator that works rejects a draw with probability
/// below `n / 2⁶⁴`, so this bound is never reached by one; a stuck generator (one that returns
/// the same value for ever) must not hang the caller.
const MAX_DRAWS: u32 = 16;

/// A uniform integer in `0..n` (`n >= 1`), without bias (Lemire's multiply-and-reject), in at
/// most [`MAX_DRAWS`] draws from `rng`; after that (only with a generator that is stuck) the
/// last, slightly biased, value is taken.
fn below<R: RngCore + ?Sized>(rng: &mut R, n: u64) -> u64 {
    let wide = |x: u64| u128::from(x).wrapping_mul(u128::from(n));
    let mut m = wide(rng.next_u64());
    if low_bits(m) < n {
        let threshold = n.wrapping_neg().checked_rem(n).unwrap_or(0);
        let mut draws = 1;
        while low_bits(m) < threshold && draws < MAX_DRAWS {
            m = wide(rng.next_u64());
            draws = draws.saturating_add(1);
        }
    }
    high_bits(m)
}

/// The low 64 bits of `m`.
#[inline]
fn low_bits(m: u128) -> u64 {
    m.to_le_bytes()
        .first_chunk::<8>()
        .map_or(0, |b| u64::from_le_bytes(*b))
}

/// The high 64 bits of `m`.
#[inline]
fn high_bits(m: u128) -> u64 {
    low_bits(m >> 64)
}

/// Shuffles `items` in place with the Fisher–Yates algorithm, drawing from `rng`: every
/// permutation is equally likely, and the same seed gives the same permutation on every
/// target.
///
/// ```
/// use tinyprop::{data::shuffle, SplitMix64};
/// let mut a = [0u16, 1, 2, 3, 4, 5, 6, 7];
/// let mut b = a;
/// shuffle(&mut a, &mut SplitMix64::new(5));
/// shuffle(&mut b, &mut SplitMix64::new(5));
/// assert_eq!(a, b);
/// let mut sorted = a;
/// sorted.sort();
/// assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7]);
/// ```
pub fn shuffle<X, R: RngCore + ?Sized>(items: &mut [X], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = below(
            rng,
            u64::try_from(i).map_or(u64::MAX, |i| i.saturating_add(1)),
        );
        let j = usize::try_from(j).unwrap_or(i);
        if j < i {
            if let Some((last, head)) = items.get_mut(..=i).and_then(<[X]>::split_last_mut) {
                if let Some(other) = head.get_mut(j) {
                    core::mem::swap(last, other);
                }
            }
        }
    }
}

/// A deterministic stratified train/validation split of a whole data set: of each class `c`
/// with `n_c` samples, `round(n_c · validation_fraction)` go to validation, chosen uniformly
/// at random from `rng`; the same seed gives the same split on every target.
///
/// `rows` (one slot per label) receives the training positions then the validation
/// positions, each sorted by class then position; the two parts are returned, ready for
/// [`DataSet::subset`] — or for [`stratified_split_rows`] to split the training part again
/// into training and validation sets, holding the first validation part out as a test set.
///
/// Refuses an empty `labels` ([`Error::EmptyDataSet`]), a `rows` of another length
/// ([`Error::IndexBufferLength`]), a fraction outside `[0, 1]`
/// ([`Error::InvalidHyperparameter`]) and an index type too small for the positions
/// ([`Error::IndexOutOfRange`]), changing nothing.
///
/// ```
/// use tinyprop::{data::stratified_split, SplitMix64};
/// let labels = [0u8, 1, 0, 1, 0, 1, 0, 1, 2, 2];
/// let mut rows = [0usize; 10];
/// let (train, val) =
///     stratified_split(&labels, 0.5, &mut SplitMix64::new(3), &mut rows).unwrap();
/// assert_eq!((train.len(), val.len()), (5, 5)); // 2 + 2 + 1 of each part
/// assert_eq!(val.iter().filter(|&&i| labels[i] == 2).count(), 1);
/// ```
pub fn stratified_split<'r, L, I, R>(
    labels: &[L],
    validation_fraction: f32,
    rng: &mut R,
    rows: &'r mut [I],
) -> Result<(&'r mut [I], &'r mut [I]), Error>
where
    L: Unsigned,
    I: Unsigned,
    R: RngCore + ?Sized,
{
    if labels.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    if rows.len() != labels.len() {
        return Err(Error::IndexBufferLength {
            expected: labels.len(),
            found: rows.len(),
        });
    }
    check_fraction(validation_fraction)?;
    sequence(rows)?;
    stratified_split_rows(labels, rows, validation_fraction, rng)
}

/// [`stratified_split`] of the samples at the positions `rows` (into `labels`) rather than of
/// all: `rows` is rearranged in place into its training part then its validation part, each
/// sorted by class then position, and the two parts are returned.
///
/// Takes `O(n log n)` time for `n = rows.len()` and no memory beyond `rows`. Refuses an empty
/// `rows` ([`Error::EmptyDataSet`]), a position `>= labels.len()`
/// ([`Error::IndexOutOfRange`]) and a fraction outside `[0, 1]`
/// ([`Error::InvalidHyperparameter`]), changing nothing.
///
/// ```
/// use tinyprop::data::{stratified_split, stratified_split_rows};
/// use tinyprop::SplitMix64;
/// let labels = [0u8, 0, 0, 0, 0, 1, 1, 1, 1, 1];
/// let mut rng = SplitMix64::new(9);
/// let mut rows = [0u8; 10];
/// // 20 % held out for testing, then 25 % of the rest for validation.
/// let (rest, test) = stratified_split(&labels, 0.2, &mut rng, &mut rows).unwrap();
/// assert_eq!(test.len(), 2);
/// let (train, val) = stratified_split_rows(&labels, rest, 0.25, &mut rng).unwrap();
/// assert_eq!((train.len(), val.len()), (6, 2));
/// ```
pub fn stratified_split_rows<'r, L, I, R>(
    labels: &[L],
    rows: &'r mut [I],
    validation_fraction: f32,
    rng: &mut R,
) -> Result<(&'r mut [I], &'r mut [I]), Error>
where
    L: Unsigned,
    I: Unsigned,
    R: RngCore + ?Sized,
{
    if rows.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    check_indices(rows, labels.len())?;
    check_fraction(validation_fraction)?;
    let label = |i: I| labels.get(i.to_usize()).map_or(0, |l| l.to_usize());
    // Group by class, each class in ascending positions: the order the choice is made in.
    heap_sort_by_key(rows, |i| (label(i), i));
    // One pass over the classes' runs: selection sampling (Knuth's algorithm S) takes each
    // sample with probability need / left, which picks exactly `need` of a run uniformly;
    // the training samples are swapped to the front (a Lomuto partition, which only moves
    // samples already decided on, so each is read once in the sorted order).
    let n = rows.len();
    let mut front = 0;
    let mut p = 0;
    while p < n {
        let class = rows.get(p).map_or(0, |&i| label(i));
        let run = rows
            .get(p..)
            .map_or(0, |r| r.iter().take_while(|&&i| label(i) == class).count())
            .max(1);
        let run_u64 = u64::try_from(run).unwrap_or(u64::MAX);
        let mut need = round_to_count(run as f32 * validation_fraction).min(run_u64);
        let mut left = run_u64;
        for q in p..p.saturating_add(run) {
            let take = need > 0 && below(rng, left) < need;
            left = left.saturating_sub(1);
            if take {
                need = need.saturating_sub(1);
            } else {
                swap_at(rows, front, q);
                front = front.saturating_add(1);
            }
        }
        p = p.saturating_add(run);
    }
    // `front <= n`: the split is always in range.
    let Some((train, val)) = rows.split_at_mut_checked(front.min(n)) else {
        return Err(Error::IndexOutOfRange {
            index: front,
            len: n,
        });
    };
    heap_sort_by_key(train, |i| (label(i), i));
    heap_sort_by_key(val, |i| (label(i), i));
    Ok((train, val))
}

/// Sorts `items` by `key` in place. Heapsort: O(n log n), no recursion, no allocation, and a
/// few hundred bytes of code, where `sort_unstable` takes several kilobytes of a
/// microcontroller's flash. Not stable; the keys used here are unique.
fn heap_sort_by_key<I: Copy, K: Ord>(items: &mut [I], key: impl Fn(I) -> K) {
    let key_at = |items: &[I], i: usize| items.get(i).map(|&x| key(x));
    // Moves the item at `root` down the heap `items[..end]` until both children are smaller.
    // (Indices below `items.len()`, so `2 · root + 2` cannot overflow; saturating anyway.)
    let sift_down = |items: &mut [I], mut root: usize, end: usize| loop {
        let mut child = root.saturating_mul(2).saturating_add(1);
        if child >= end {
            break;
        }
        let right = child.saturating_add(1);
        if right < end && key_at(items, right) > key_at(items, child) {
            child = right;
        }
        if key_at(items, root) >= key_at(items, child) {
            break;
        }
        swap_at(items, root, child);
        root = child;
    };
    let n = items.len();
    for start in (0..n / 2).rev() {
        sift_down(items, start, n);
    }
    for end in (1..n).rev() {
        swap_at(items, 0, end);
        sift_down(items, 0, end);
    }
}

/// Swaps `items[a]` and `items[b]`; does nothing if either is out of range.
fn swap_at<X>(items: &mut [X], a: usize, b: usize) {
    let (low, high) = (a.min(b), a.max(b));
    if let Some((head, tail)) = items.split_at_mut_checked(high) {
        if let (Some(x), Some(y)) = (head.get_mut(low), tail.first_mut()) {
            core::mem::swap(x, y);
        }
    }
}

/// `x` rounded to the nearest integer (halves up) as a count: 0 for negative values and NaN,
/// saturating at `u64::MAX`.
fn round_to_count(x: f32) -> u64 {
    // `as` from a float saturates and maps NaN to 0: exactly what a count needs.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (x + 0.5) as u64;
    n
}

fn check_fraction(fraction: f32) -> Result<(), Error> {
    if (0.0..=1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter(
            "validation_fraction must be in [0, 1]",
        ))
    }
}

/// What training and evaluation do with a sample whose features or target row hold a NaN or
/// an infinity.
///
/// ```
/// use tinyprop::data::NonFinite;
/// assert_eq!(NonFinite::default(), NonFinite::Reject);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// Refuse the data set: return [`Error::NonFiniteSample`] with the first such sample's
    /// position before anything changes (the default).
    #[default]
    Reject,
    /// Leave such samples out, as if they were not in the data set; they are counted as
    /// skipped. A data set with no other sample gives [`Error::EmptyDataSet`].
    Skip,
}

/// `true` when the features and the target of a sample are finite (labels always are).
pub(crate) fn is_finite<T: Scalar, const IN: usize, const OUT: usize, Y: Target<T, OUT>>(
    x: &[T; IN],
    y: &Y,
) -> bool {
    x.iter().all(|v| v.is_finite()) && y.check().is_ok()
}

/// Checks every sample of `data` before anything changes: labels in range (always an error),
/// non-finite samples (an error or counted, by `policy`). Returns the number of usable
/// samples, which is at least 1.
pub(crate) fn scan<T, const IN: usize, const OUT: usize, D>(
    data: &D,
    policy: NonFinite,
) -> Result<usize, Error>
where
    T: Scalar,
    D: Samples<T, IN> + ?Sized,
    D::Target: Target<T, OUT>,
{
    let mut usable: usize = 0;
    for i in 0..data.len() {
        let (x, y) = data.get(i).ok_or(Error::IndexOutOfRange {
            index: i,
            len: data.len(),
        })?;
        match y.check() {
            Err(Error::NonFiniteSample { .. }) => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        if is_finite::<T, IN, OUT, _>(x, y) {
            usable = usable.saturating_add(1);
        } else if policy == NonFinite::Reject {
            return Err(Error::NonFiniteSample { index: i });
        }
    }
    if usable == 0 {
        return Err(Error::EmptyDataSet);
    }
    Ok(usable)
}

#[cfg(test)]
mod heap_sort_tests {
    use super::heap_sort_by_key;

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut state = 12345u64;
        for len in [0usize, 1, 2, 3, 7, 8, 64, 150, 1001] {
            let mut v: [u16; 1001] = core::array::from_fn(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 54) as u16 // many duplicates
            });
            let items = &mut v[..len];
            let mut expected = items.to_vec();
            expected.sort();
            heap_sort_by_key(items, |x| x);
            assert_eq!(items, &expected[..], "len {len}");
            heap_sort_by_key(items, core::cmp::Reverse);
            expected.reverse();
            assert_eq!(items, &expected[..], "len {len}, descending");
        }
    }
}
