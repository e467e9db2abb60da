use nalgebra::{SMatrix, SVector};
use rand_core::RngCore;

use crate::data::Samples;
use crate::io::{entry, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{describe_leaf, no_buffers, no_tensors, nonempty_batch};
use crate::{math, Error, Init, Layer, Model, Parameters, Scalar};

/// Feature scaling that ships with the model: `y = (x − offset) · scale` per feature, with
/// `offset` and `scale` fitted on training data and then fixed (not trained), like Keras'
/// `Normalization` layer or scikit-learn's `StandardScaler` / `MinMaxScaler` in front of a
/// model. Put it first in the model, and firmware feeds raw sensor values.
///
/// * [`Normalize::standardize`]: `offset` the mean and `scale` 1 / the standard deviation of
///   each feature (the population one, as scikit-learn's `StandardScaler`), so the training
///   data has mean 0 and variance 1.
/// * [`Normalize::min_max`]: `offset` the minimum and `scale` 1 / (maximum − minimum), so the
///   training data lies in `[0, 1]` (scikit-learn's `MinMaxScaler`).
///
/// A feature that does not vary in the data (a zero standard deviation or range) gets
/// `scale` 1, as in scikit-learn, so it is shifted but never divided by zero. Both fitters read
/// the samples in place (a [`DataSet`](crate::data::DataSet) or a
/// [`Subset`](crate::data::Subset): fit on the training part only) and refuse a NaN or
/// infinite feature ([`Error::NonFiniteSample`]) and an empty data set.
///
/// It has no parameters and no gradients; its two vectors are buffers, saved and loaded with
/// the model under the names `offset` and `scale` (a PyTorch module with
/// `register_buffer("offset", …)`, `register_buffer("scale", …)` and
/// `forward(x) = (x - self.offset) * self.scale` has the same `state_dict`).
///
/// ```
/// use tinyprop::data::DataSet;
/// use tinyprop::prelude::*;
/// // Two sensor readings on very different scales.
/// let x = [[20.0f32, 1000.0], [22.0, 1010.0], [24.0, 1020.0]];
/// let data = DataSet::new(&x, &[0u8, 1, 1]).unwrap();
/// let scaler = Normalize::standardize(&data).unwrap();
/// type Net = (Normalize<f32, 2>, Dense<f32, 2, 2>);
/// let net: Net = (scaler, Default::default());
/// let mut y = SMatrix::<f32, 2, 1>::zeros();
/// net.0.forward(&SMatrix::from([[22.0, 1010.0]]), &mut y);
/// assert_eq!(y, SMatrix::<f32, 2, 1>::zeros()); // the mean maps to 0
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize<T: Scalar, const N: usize> {
    /// Subtracted from each feature.
    pub offset: SVector<T, N>,
    /// Then multiplied with each feature.
    pub scale: SVector<T, N>,
}

impl<T: Scalar, const N: usize> Default for Normalize<T, N> {
    /// The identity: offset 0, scale 1.
    fn default() -> Self {
        Self {
            offset: SVector::zeros(),
            scale: SVector::from_element(T::one()),
        }
    }
}

impl<T: Scalar, const N: usize> Normalize<T, N> {
    /// Mean 0 and variance 1 on `data`'s features (see the type's docs).
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// use tinyprop::prelude::*;
    /// let x = [[1.0f32, 5.0], [3.0, 5.0]];
    /// let s = Normalize::standardize(&DataSet::new(&x, &[0u8, 1]).unwrap()).unwrap();
    /// assert_eq!(s.offset, SVector::from([2.0, 5.0]));
    /// assert_eq!(s.scale, SVector::from([1.0, 1.0])); // std 1; the constant feature keeps scale 1
    /// assert_eq!(s.apply(&[3.0, 5.0]), [1.0, 0.0]);
    /// ```
    pub fn standardize<D: Samples<T, N> + ?Sized>(data: &D) -> Result<Self, Error> {
        // Welford's running mean and sum of squared deviations, one pass, per feature.
        let mut mean = SVector::<T, N>::zeros();
        let mut m2 = SVector::<T, N>::zeros();
        let mut n = T::zero();
        for_each_sample(data, |x| {
            n += T::one();
            for ((m, s), &v) in mean.iter_mut().zip(m2.iter_mut()).zip(x) {
                let delta = v - *m;
                *m += delta / n;
                *s += delta * (v - *m);
            }
        })?;
        let scale = m2.map(|s| {
            let std = math::sqrt(s / n);
            if std > T::zero() && std.is_finite() {
                T::one() / std
            } else {
                T::one()
            }
        });
        Self::checked(mean, scale)
    }

    /// The range `[0, 1]` on `data`'s features (see the type's docs).
    ///
    /// ```
    /// use tinyprop::data::DataSet;
    /// use tinyprop::prelude::*;
    /// let x = [[0.0f32, -4.0], [10.0, 4.0], [5.0, 0.0]];
    /// let s = Normalize::min_max(&DataSet::new(&x, &[0u8, 1, 1]).unwrap()).unwrap();
    /// assert_eq!(s.apply(&[10.0, -4.0]), [1.0, 0.0]);
    /// assert_eq!(s.apply(&[5.0, 0.0]), [0.5, 0.5]);
    /// ```
    pub fn min_max<D: Samples<T, N> + ?Sized>(data: &D) -> Result<Self, Error> {
        let mut low = SVector::<T, N>::from_element(T::max_value().unwrap_or_else(T::one));
        let mut high = -low;
        for_each_sample(data, |x| {
            for ((lo, hi), &v) in low.iter_mut().zip(high.iter_mut()).zip(x) {
                if v < *lo {
                    *lo = v;
                }
                if v > *hi {
                    *hi = v;
                }
            }
        })?;
        let scale = low.zip_map(&high, |lo, hi| {
            let range = hi - lo;
            if range > T::zero() && range.is_finite() {
                T::one() / range
            } else {
                T::one()
            }
        });
        Self::checked(low, scale)
    }

    /// `Ok` if every number is finite (a data set whose values overflow the arithmetic gives
    /// [`Error::Overflow`]).
    fn checked(offset: SVector<T, N>, scale: SVector<T, N>) -> Result<Self, Error> {
        if offset.all_finite() && scale.all_finite() {
            Ok(Self { offset, scale })
        } else {
            Err(Error::Overflow)
        }
    }

    /// `x` as the model sees it: scaled.
    pub fn apply(&self, x: &[T; N]) -> [T; N] {
        let mut y = *x;
        for ((v, &o), &s) in y.iter_mut().zip(self.offset.iter()).zip(self.scale.iter()) {
            *v = (*v - o) * s;
        }
        y
    }
}

/// Calls `f` with the features of every sample of `data`; refuses an empty data set and a
/// NaN or infinite feature.
fn for_each_sample<T: Scalar, const N: usize, D: Samples<T, N> + ?Sized>(
    data: &D,
    mut f: impl FnMut(&[T; N]),
) -> Result<(), Error> {
    if data.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    for i in 0..data.len() {
        let Some((x, _)) = data.get(i) else {
            continue;
        };
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteSample { index: i });
        }
        f(x);
    }
    Ok(())
}

impl<T: Scalar, const N: usize> Parameters<T> for Normalize<T, N> {
    no_tensors!();
}

/// `offset` and `scale`, buffers of `[N]`.
impl<T: Scalar, const N: usize> StateDict<T> for Normalize<T, N> {
    const ENTRIES: usize = 2;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        let (shape, kind, layout) = (Shape::vector(N), Kind::Buffer, Layout::RowMajor);
        let offset = Values::Float(self.offset.as_slice());
        entry(prefix, "offset", shape, kind, layout, offset, f)?;
        let scale = Values::Float(self.scale.as_slice());
        entry(prefix, "scale", shape, kind, layout, scale, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        let (shape, kind, layout) = (Shape::vector(N), Kind::Buffer, Layout::RowMajor);
        let offset = ValuesMut::Float(self.offset.as_mut_slice());
        entry(prefix, "offset", shape, kind, layout, offset, f)?;
        let scale = ValuesMut::Float(self.scale.as_mut_slice());
        entry(prefix, "scale", shape, kind, layout, scale, f)
    }
}

impl<T: Scalar, const N: usize> Model<T> for Normalize<T, N> {
    type Grads = ();
    // The buffers are fitted before training, not changed by it.
    no_buffers!();
    describe_leaf!("Normalize", |input| input);

    /// Nothing: the scaling is fitted on data, not drawn.
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}

    fn buffers_finite(&self) -> bool {
        self.offset.all_finite() && self.scale.all_finite()
    }
}

impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for Normalize<T, N> {
    type Output = SMatrix<T, N, B>;
    type Cache = SMatrix<T, N, B>;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        nonempty_batch::<B>();
        for (yc, xc) in y.data.0.iter_mut().zip(&x.data.0) {
            let scaled = xc.iter().zip(self.offset.iter()).zip(self.scale.iter());
            for (v, ((&xv, &o), &s)) in yc.iter_mut().zip(scaled) {
                *v = (xv - o) * s;
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward(x, cache);
        cache
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward(x, cache);
        cache
    }

    fn output(cache: &Self::Cache) -> &Self::Output {
        cache
    }

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        _cache: &mut Self::Cache,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        _grads: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            for (dc, gc) in dx.data.0.iter_mut().zip(&dy.data.0) {
                for ((d, &g), &s) in dc.iter_mut().zip(gc).zip(self.scale.iter()) {
                    *d = g * s;
                }
            }
        }
    }
}

impl<T: Scalar, const N: usize> crate::io::rust::RustSource for Normalize<T, N> {
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        out.write_str("tinyprop::Normalize { offset: ")?;
        crate::io::rust::write_matrix(out, &self.offset)?;
        out.write_str(", scale: ")?;
        crate::io::rust::write_matrix(out, &self.scale)?;
        out.write_str(" }")
    }
}
