//! Batch normalisation of feature maps: [`BatchNorm2d`], per channel over the batch and the
//! positions of its map, like `torch.nn.BatchNorm2d` (and `BatchNorm1d` on `C × L` maps).

use nalgebra::{SMatrix, SVector};
use rand_core::RngCore;

use super::norm::{normalisation_backward, vector, Affine, BatchNorm, NormCache};
use crate::io::{Kind, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{describe_leaf, nonempty_batch, tensors_of_field};
use crate::layers::conv::Msg;
use crate::{math, Error, Init, Layer, Model, Parameters, Scalar};

/// Batch normalisation of `C` feature maps stored `C×H×W` (or `C×L`) in each column: each
/// channel is normalised with the mean and biased variance of all its positions in all the
/// samples of the batch, as `torch.nn.BatchNorm2d(C)` (`BatchNorm1d(C)` on 3-D inputs). The
/// running statistics, momentum (0.1), eps (1e-5), names and behaviour otherwise follow
/// [`BatchNorm`](crate::BatchNorm). The map size is the input width divided by `C` (checked
/// when the program is built).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::layers::BatchNorm2d;
/// let mut bn = BatchNorm2d::<f64, 2>::default();
/// // 2 channels of 2 positions, 2 samples.
/// let x = SMatrix::<f64, 4, 2>::from_column_slice(&[1., 2., 10., 20., 3., 4., 30., 40.]);
/// let mut cache = Zeroed::zeroed();
/// let y = bn.forward_train(&x, &mut cache);
/// assert!((y[(0, 0)] + y[(1, 0)] + y[(0, 1)] + y[(1, 1)]).abs() < 1e-12);
/// assert!((bn.running_mean[1] - 2.5).abs() < 1e-12); // 0.1 · 25
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm2d<T: Scalar, const C: usize> {
    /// The learnable scale and shift of each channel.
    pub affine: Affine<T, C>,
    /// Running mean of each channel (starts at 0).
    pub running_mean: SVector<T, C>,
    /// Running (unbiased) variance of each channel (starts at 1).
    pub running_var: SVector<T, C>,
    /// The number of training batches seen, saturating.
    pub num_batches_tracked: u32,
    momentum: T,
    eps: T,
}

impl<T: Scalar, const C: usize> BatchNorm2d<T, C> {
    /// The momentum of the running statistics.
    pub fn momentum(&self) -> T {
        self.momentum
    }

    /// The value added to the variance.
    pub fn eps(&self) -> T {
        self.eps
    }

    /// A layer with the given momentum (in `[0, 1]`) and eps (`> 0`).
    pub fn new(momentum: T, eps: T) -> Result<Self, Error> {
        if !(momentum >= T::zero() && momentum <= T::one()) {
            return Err(Error::InvalidHyperparameter("momentum must be in [0, 1]"));
        }
        if !(eps > T::zero() && eps.is_finite()) {
            return Err(Error::InvalidHyperparameter("eps must be finite and > 0"));
        }
        Ok(Self {
            affine: Affine::identity(),
            running_mean: SVector::zeros(),
            running_var: SVector::from_element(T::one()),
            num_batches_tracked: 0,
            momentum,
            eps,
        })
    }

    /// Resets the running statistics to mean 0 and variance 1, and the batch count to 0.
    pub fn reset_running_stats(&mut self) {
        self.running_mean.fill(T::zero());
        self.running_var.fill(T::one());
        self.num_batches_tracked = 0;
    }

    /// The positions of each map in an input of width `nin`.
    #[inline(always)]
    fn map<const NIN: usize>() -> usize {
        const {
            if C == 0 || NIN == 0 || NIN % C != 0 {
                Msg::new()
                    .s("BatchNorm2d: the input width must be a non-zero multiple of C=")
                    .n(C)
                    .s(" (got ")
                    .n(NIN)
                    .s(")")
                    .fail();
            }
        }
        NIN.checked_div(C).unwrap_or(1).max(1)
    }
}

/// `const` constructors, for models built at compile time (see [`crate::io::rust`]).
macro_rules! norm2d_const {
    ($t:ty) => {
        impl<const C: usize> BatchNorm2d<$t, C> {
            /// A layer with the given parameters, running statistics and batch count, in a
            /// `const` context; refuses a momentum outside `[0, 1]` or an eps that is not
            /// finite and `> 0`, as [`BatchNorm2d::new`].
            pub const fn from_state(
                affine: Affine<$t, C>,
                running_mean: SVector<$t, C>,
                running_var: SVector<$t, C>,
                num_batches_tracked: u32,
                momentum: $t,
                eps: $t,
            ) -> Result<Self, Error> {
                if let Err(e) = BatchNorm::<$t, C>::check_hyperparameters(momentum, eps) {
                    return Err(e);
                }
                Ok(Self {
                    affine,
                    running_mean,
                    running_var,
                    num_batches_tracked,
                    momentum,
                    eps,
                })
            }
        }
    };
}
norm2d_const!(f32);
norm2d_const!(f64);

impl<T: Scalar, const C: usize> Default for BatchNorm2d<T, C> {
    /// Momentum 0.1 and eps 1e-5, as `torch.nn.BatchNorm2d`.
    fn default() -> Self {
        Self {
            affine: Affine::identity(),
            running_mean: SVector::zeros(),
            running_var: SVector::from_element(T::one()),
            num_batches_tracked: 0,
            momentum: T::of_f64(0.1),
            eps: T::of_f64(1e-5),
        }
    }
}

impl<T: Scalar, const C: usize> Parameters<T> for BatchNorm2d<T, C> {
    tensors_of_field!(affine: Affine<T, C>);
}

/// `weight`, `bias`, `running_mean`, `running_var` (each `[C]`) and `num_batches_tracked`, as
/// `torch.nn.BatchNorm2d`.
impl<T: Scalar, const C: usize> StateDict<T> for BatchNorm2d<T, C> {
    const ENTRIES: usize = 5;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.affine.visit(prefix, f)?;
        let (m, v) = (self.running_mean.as_slice(), self.running_var.as_slice());
        vector(prefix, "running_mean", Kind::Buffer, Values::Float(m), f)?;
        let mut var = |info: TensorInfo<'_>, v: Values<'_, T>| f(info.non_negative(), v);
        vector(
            prefix,
            "running_var",
            Kind::Buffer,
            Values::Float(v),
            &mut var,
        )?;
        let n = Values::Count(self.num_batches_tracked);
        vector(prefix, "num_batches_tracked", Kind::Buffer, n, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.affine.visit_mut(prefix, f)?;
        let (m, v) = (
            self.running_mean.as_mut_slice(),
            self.running_var.as_mut_slice(),
        );
        vector(prefix, "running_mean", Kind::Buffer, ValuesMut::Float(m), f)?;
        let mut var = |info: TensorInfo<'_>, v: ValuesMut<'_, T>| f(info.non_negative(), v);
        vector(
            prefix,
            "running_var",
            Kind::Buffer,
            ValuesMut::Float(v),
            &mut var,
        )?;
        let n = ValuesMut::Count(&mut self.num_batches_tracked);
        vector(prefix, "num_batches_tracked", Kind::Buffer, n, f)
    }
}

impl<T: Scalar, const C: usize> Model<T> for BatchNorm2d<T, C> {
    type Grads = Affine<T, C>;
    describe_leaf!("BatchNorm2d", |input| input);
    /// The running mean and variance and the batch count.
    type Buffers = (SVector<T, C>, SVector<T, C>, u32);
    fn save_buffers(&self, saved: &mut Self::Buffers) {
        saved.0.copy_from(&self.running_mean);
        saved.1.copy_from(&self.running_var);
        saved.2 = self.num_batches_tracked;
    }
    fn restore_buffers(&mut self, saved: &Self::Buffers) {
        self.running_mean.copy_from(&saved.0);
        self.running_var.copy_from(&saved.1);
        self.num_batches_tracked = saved.2;
    }
    fn buffers_finite(&self) -> bool {
        self.running_mean.all_finite() && self.running_var.all_finite()
    }
    /// Resets γ to 1, β to 0 and the running statistics, whatever the scheme.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.affine.init(init, rng);
        self.reset_running_stats();
    }
}

/// The values of channel `c` (maps of `map` positions) in every column of `cols`.
#[inline(always)]
fn channel<'a, T: 'a, const N: usize>(
    cols: &'a [[T; N]],
    c: usize,
    map: usize,
) -> impl Iterator<Item = &'a T> + Clone {
    let start = c.saturating_mul(map);
    let end = start.saturating_add(map);
    cols.iter()
        .flat_map(move |col| col.get(start..end).unwrap_or(&[]))
}

/// [`channel`], mutable.
#[inline(always)]
fn channel_mut<'a, T: 'a, const N: usize>(
    cols: &'a mut [[T; N]],
    c: usize,
    map: usize,
) -> impl Iterator<Item = &'a mut T> {
    let start = c.saturating_mul(map);
    let end = start.saturating_add(map);
    cols.iter_mut()
        .flat_map(move |col| col.get_mut(start..end).unwrap_or(&mut []))
}

impl<T: Scalar, const C: usize, const NIN: usize, const B: usize> Layer<T, SMatrix<T, NIN, B>>
    for BatchNorm2d<T, C>
{
    type Output = SMatrix<T, NIN, B>;
    type Cache = NormCache<T, NIN, B, C>;

    fn forward(&self, x: &SMatrix<T, NIN, B>, y: &mut SMatrix<T, NIN, B>) {
        nonempty_batch::<B>();
        let map = Self::map::<NIN>();
        for (c, (((&m, &v), &g), &b)) in self
            .running_mean
            .iter()
            .zip(self.running_var.iter())
            .zip(self.affine.weight.iter())
            .zip(self.affine.bias.iter())
            .enumerate()
        {
            let scale = g / math::sqrt(v + self.eps);
            for (yv, &xv) in channel_mut(&mut y.data.0, c, map).zip(channel(&x.data.0, c, map)) {
                *yv = (xv - m) * scale + b;
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, NIN, B> {
        nonempty_batch::<B>();
        let map = Self::map::<NIN>();
        let n = B.saturating_mul(map);
        #[allow(clippy::disallowed_macros)] // a build-time check, not a panic at run time
        const {
            assert!(
                B > 1 || NIN > C,
                "BatchNorm2d needs at least two values per channel in a training batch"
            )
        };
        let n_t = T::of_f64(n as f64);
        let unbiased = n_t / T::of_f64(n.saturating_sub(1).max(1) as f64);
        let keep = T::one() - self.momentum;
        for c in 0..C {
            let values = channel(&x.data.0, c, map);
            let mean = values.clone().fold(T::zero(), |a, &v| a + v) / n_t;
            let var = values.fold(T::zero(), |a, &v| a + (v - mean) * (v - mean)) / n_t;
            let inv_std = T::one() / math::sqrt(var + self.eps);
            let (g, b) = (
                self.affine.weight.get(c).copied().unwrap_or(T::one()),
                self.affine.bias.get(c).copied().unwrap_or(T::zero()),
            );
            if let Some(is) = cache.inv_std.get_mut(c) {
                *is = inv_std;
            }
            let outs = channel_mut(&mut cache.xhat.data.0, c, map).zip(channel_mut(
                &mut cache.y.data.0,
                c,
                map,
            ));
            for ((h, yv), &xv) in outs.zip(channel(&x.data.0, c, map)) {
                *h = (xv - mean) * inv_std;
                *yv = g * *h + b;
            }
            if mean.is_finite() && var.is_finite() {
                if let (Some(rm), Some(rv)) =
                    (self.running_mean.get_mut(c), self.running_var.get_mut(c))
                {
                    *rm = keep * *rm + self.momentum * mean;
                    *rv = keep * *rv + self.momentum * var * unbiased;
                }
            }
        }
        self.num_batches_tracked = self.num_batches_tracked.saturating_add(1);
        cache.constant_statistics = false;
        &cache.y
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, NIN, B> {
        nonempty_batch::<B>();
        let map = Self::map::<NIN>();
        for c in 0..C {
            let (m, v) = (
                self.running_mean.get(c).copied().unwrap_or(T::zero()),
                self.running_var.get(c).copied().unwrap_or(T::one()),
            );
            let (g, b) = (
                self.affine.weight.get(c).copied().unwrap_or(T::one()),
                self.affine.bias.get(c).copied().unwrap_or(T::zero()),
            );
            let inv_std = T::one() / math::sqrt(v + self.eps);
            if let Some(is) = cache.inv_std.get_mut(c) {
                *is = inv_std;
            }
            let outs = channel_mut(&mut cache.xhat.data.0, c, map).zip(channel_mut(
                &mut cache.y.data.0,
                c,
                map,
            ));
            for ((h, yv), &xv) in outs.zip(channel(&x.data.0, c, map)) {
                *h = (xv - m) * inv_std;
                *yv = g * *h + b;
            }
        }
        cache.constant_statistics = true;
        &cache.y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, NIN, B> {
        &cache.y
    }

    fn backward(
        &self,
        _x: &SMatrix<T, NIN, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, NIN, B>,
        dx: Option<&mut SMatrix<T, NIN, B>>,
        grads: Option<&mut Affine<T, C>>,
    ) {
        let map = Self::map::<NIN>();
        if let Some(grads) = grads {
            for (c, (gw, gb)) in grads
                .weight
                .iter_mut()
                .zip(grads.bias.iter_mut())
                .enumerate()
            {
                let pairs = channel(&dy.data.0, c, map).zip(channel(&cache.xhat.data.0, c, map));
                for (&d, &h) in pairs {
                    *gw += d * h;
                    *gb += d;
                }
            }
        }
        let Some(dx) = dx else { return };
        let n = B.saturating_mul(map);
        for (c, (&is, &g)) in cache
            .inv_std
            .iter()
            .zip(self.affine.weight.iter())
            .enumerate()
        {
            let mut sum = T::zero();
            let mut sum_xh = T::zero();
            let terms = channel(&dy.data.0, c, map).zip(channel(&cache.xhat.data.0, c, map));
            for (d, (&dyv, &h)) in channel_mut(&mut dx.data.0, c, map).zip(terms) {
                *d = dyv * g;
                sum += *d;
                sum_xh += *d * h;
            }
            if cache.constant_statistics {
                for d in channel_mut(&mut dx.data.0, c, map) {
                    *d *= is;
                }
            } else {
                normalisation_backward(
                    channel(&cache.xhat.data.0, c, map),
                    channel_mut(&mut dx.data.0, c, map),
                    is,
                    n,
                    sum,
                    sum_xh,
                );
            }
        }
    }
}
