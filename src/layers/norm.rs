//! Normalisation layers: batch normalisation (over the batch) and layer normalisation (over
//! the features), with exact backward passes through the statistics.

use nalgebra::{SMatrix, SVector};
use rand_core::RngCore;

use crate::io::{entry, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{describe_leaf, no_buffers, nonempty_batch, tensors_of_field};
use crate::{math, Error, Init, Layer, Model, Parameters, Scalar, Zeroed};

/// The learnable scale (γ, initialised to 1) and shift (β, initialised to 0) of a normalisation
/// layer; also the type of its gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine<T: Scalar, const N: usize> {
    /// Scale γ.
    pub weight: SVector<T, N>,
    /// Shift β.
    pub bias: SVector<T, N>,
}

impl<T: Scalar, const N: usize> Affine<T, N> {
    /// γ = 1, β = 0 (PyTorch's initialisation).
    pub fn identity() -> Self {
        Self {
            weight: SVector::from_element(T::one()),
            bias: SVector::zeros(),
        }
    }
}

impl<T: Scalar, const N: usize> Zeroed for Affine<T, N> {
    fn zeroed() -> Self {
        Self {
            weight: SVector::zeros(),
            bias: SVector::zeros(),
        }
    }
    fn set_zero(&mut self) {
        self.weight.set_zero();
        self.bias.set_zero();
    }
}

impl<T: Scalar, const N: usize> Parameters<T> for Affine<T, N> {
    const COUNT: usize = 2 * N;
    const TENSORS: usize = 2;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        match i {
            0 => Some(self.weight.as_slice()),
            1 => Some(self.bias.as_slice()),
            _ => None,
        }
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        match i {
            0 => Some(self.weight.as_mut_slice()),
            1 => Some(self.bias.as_mut_slice()),
            _ => None,
        }
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        [self.weight.as_mut_slice(), self.bias.as_mut_slice()].into_iter()
    }
}

/// `weight` and `bias`, each `[N]`.
impl<T: Scalar, const N: usize> StateDict<T> for Affine<T, N> {
    const ENTRIES: usize = 2;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        let (w, b) = (self.weight.as_slice(), self.bias.as_slice());
        vector(prefix, "weight", Kind::Parameter, Values::Float(w), f)?;
        vector(prefix, "bias", Kind::Parameter, Values::Float(b), f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        let (w, b) = (self.weight.as_mut_slice(), self.bias.as_mut_slice());
        vector(prefix, "weight", Kind::Parameter, ValuesMut::Float(w), f)?;
        vector(prefix, "bias", Kind::Parameter, ValuesMut::Float(b), f)
    }
}

/// Visits a vector of `N` elements (or, for [`Values::Int`], a scalar counter).
pub(super) fn vector<V, F>(
    prefix: &mut Name,
    name: &str,
    kind: Kind,
    values: V,
    f: &mut F,
) -> Result<(), Error>
where
    V: ShapeOf,
    F: FnMut(TensorInfo<'_>, V) -> Result<(), Error>,
{
    let shape = values.shape();
    entry(prefix, name, shape, kind, Layout::RowMajor, values, f)
}

/// The shape of a vector's values: `[len]`, or `[]` for a counter.
pub(super) trait ShapeOf {
    fn shape(&self) -> Shape;
}

impl<T> ShapeOf for Values<'_, T> {
    fn shape(&self) -> Shape {
        match self {
            Values::Float(v) => Shape::vector(v.len()),
            Values::Count(_) => Shape::SCALAR,
        }
    }
}

impl<T> ShapeOf for ValuesMut<'_, T> {
    fn shape(&self) -> Shape {
        match self {
            ValuesMut::Float(v) => Shape::vector(v.len()),
            ValuesMut::Count(_) => Shape::SCALAR,
        }
    }
}

impl<T: Scalar, const N: usize> Model<T> for Affine<T, N> {
    type Grads = Self;
    no_buffers!();
    /// Resets γ to 1 and β to 0, whatever the scheme (as PyTorch's `reset_parameters`).
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {
        *self = Self::identity();
    }
}

/// Gradient of a normalisation `x̂ = (x - μ) · s` with `s = 1/sqrt(σ² + eps)` and
/// `y = γ x̂ + β`, over one group of `n` values (a feature across the batch, or a sample
/// across its features). `dxhat` holds `dy · γ` on entry and `dx` on exit.
pub(super) fn normalisation_backward<'a, T: Scalar>(
    xhat: impl Iterator<Item = &'a T> + Clone,
    dxhat: impl Iterator<Item = &'a mut T>,
    inv_std: T,
    n: usize,
    sum_dxhat: T,
    sum_dxhat_xhat: T,
) {
    // dx = s/n · (n·dx̂ - Σdx̂ - x̂·Σ(dx̂·x̂))
    let n_t = T::of_f64(n as f64);
    let scale = inv_std / n_t;
    for (d, &xh) in dxhat.zip(xhat) {
        *d = scale * (n_t * *d - sum_dxhat - xh * sum_dxhat_xhat);
    }
}

/// Batch normalisation over the batch dimension, like `torch.nn.BatchNorm1d(N)`.
///
/// In training ([`Layer::forward_train`]) each feature is normalised with the batch mean and
/// biased variance, and the running statistics are updated with `momentum` (default 0.1):
/// `running = (1 - momentum)·running + momentum·batch`, using the *unbiased* batch variance for
/// the running variance, as PyTorch does. In inference ([`Layer::forward`]) the running
/// statistics are used. `eps` (default 1e-5) is added to the variance.
///
/// Training needs at least two samples per batch (a batch of one has no variance); with a
/// batch of one, `forward_train` fails to compile. A batch whose statistics are not finite
/// leaves the running statistics unchanged, so one bad sample cannot poison them.
///
/// The running statistics are buffers, not parameters: they are part of `size_of` (and so of
/// the [`crate::memory`] figures) but are not trained.
///
/// ```
/// use tinyprop::prelude::*;
/// let mut bn = BatchNorm::<f64, 2>::default();
/// let x = SMatrix::<f64, 2, 4>::from_column_slice(&[1., 10., 2., 20., 3., 30., 4., 40.]);
/// let mut cache = Zeroed::zeroed();
/// let y = bn.forward_train(&x, &mut cache);
/// assert!(y.row(0).sum().abs() < 1e-12); // each feature has mean 0 over the batch
/// assert!((bn.running_mean[1] - 2.5).abs() < 1e-12); // 0.9·0 + 0.1·25
/// ```
///
/// Training on a batch of one is refused when the program is built (error E0080, "BatchNorm
/// needs at least two samples per training batch"); inference on one sample is fine:
///
/// ```compile_fail,E0080
/// use tinyprop::prelude::*;
/// let mut bn = BatchNorm::<f32, 4>::default();
/// let x = SMatrix::<f32, 4, 1>::zeros();
/// let mut cache = Zeroed::zeroed();
/// bn.forward_train(&x, &mut cache);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm<T: Scalar, const N: usize> {
    /// The learnable scale and shift.
    pub affine: Affine<T, N>,
    /// Running mean of each feature (starts at 0).
    pub running_mean: SVector<T, N>,
    /// Running (unbiased) variance of each feature (starts at 1).
    pub running_var: SVector<T, N>,
    /// The number of training batches seen (PyTorch's `num_batches_tracked`, an int64
    /// there), saturating.
    pub num_batches_tracked: u32,
    momentum: T,
    eps: T,
}

impl<T: Scalar, const N: usize> BatchNorm<T, N> {
    /// A layer with the given momentum (in `[0, 1]`) and eps (`> 0`).
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// // torch.nn.BatchNorm1d(16, eps=1e-3, momentum=0.01)
    /// let bn = BatchNorm::<f32, 16>::new(0.01, 1e-3).unwrap();
    /// assert_eq!(bn.running_var, SVector::<f32, 16>::from_element(1.0));
    /// assert!(BatchNorm::<f32, 16>::new(0.1, 0.0).is_err()); // eps must be > 0
    /// ```
    pub fn new(momentum: T, eps: T) -> Result<Self, Error> {
        if !(momentum >= T::zero() && momentum <= T::one()) {
            return Err(Error::InvalidHyperparameter("momentum must be in [0, 1]"));
        }
        if !(eps > T::zero() && eps.is_finite()) {
            return Err(Error::InvalidHyperparameter("eps must be finite and > 0"));
        }
        Ok(Self::with(momentum, eps))
    }

    /// A fresh layer (γ = 1, β = 0, running mean 0 and variance 1); the values are checked by
    /// the caller.
    fn with(momentum: T, eps: T) -> Self {
        Self {
            affine: Affine::identity(),
            running_mean: SVector::zeros(),
            running_var: SVector::from_element(T::one()),
            num_batches_tracked: 0,
            momentum,
            eps,
        }
    }

    /// The momentum of the running statistics.
    pub fn momentum(&self) -> T {
        self.momentum
    }

    /// The value added to the variance.
    pub fn eps(&self) -> T {
        self.eps
    }

    /// Resets the running statistics to mean 0 and variance 1, and the batch count to 0.
    pub fn reset_running_stats(&mut self) {
        self.running_mean.set_zero();
        self.running_var.fill(T::one());
        self.num_batches_tracked = 0;
    }
}

/// `const` constructors, for models built at compile time (see [`crate::io::rust`]).
macro_rules! norm_const {
    ($t:ty) => {
        impl<const N: usize> BatchNorm<$t, N> {
            /// Refuses a momentum outside `[0, 1]` or an eps that is not finite and `> 0` (the
            /// checks of both batch normalisations' `const` constructors).
            pub(crate) const fn check_hyperparameters(momentum: $t, eps: $t) -> Result<(), Error> {
                if !(momentum >= 0.0 && momentum <= 1.0) {
                    return Err(Error::InvalidHyperparameter("momentum must be in [0, 1]"));
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return Err(Error::InvalidHyperparameter("eps must be finite and > 0"));
                }
                Ok(())
            }

            /// A layer with the given parameters, running statistics and batch count, in a
            /// `const` context; refuses a momentum outside `[0, 1]` or an eps that is not
            /// finite and `> 0`, as [`BatchNorm::new`].
            pub const fn from_state(
                affine: Affine<$t, N>,
                running_mean: SVector<$t, N>,
                running_var: SVector<$t, N>,
                num_batches_tracked: u32,
                momentum: $t,
                eps: $t,
            ) -> Result<Self, Error> {
                if let Err(e) = Self::check_hyperparameters(momentum, eps) {
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

        impl<const N: usize> LayerNorm<$t, N> {
            /// A layer with the given parameters in a `const` context; refuses an eps that is
            /// not finite and `> 0`, as [`LayerNorm::new`].
            pub const fn from_state(affine: Affine<$t, N>, eps: $t) -> Result<Self, Error> {
                if !(eps > 0.0 && eps.is_finite()) {
                    return Err(Error::InvalidHyperparameter("eps must be finite and > 0"));
                }
                Ok(Self { affine, eps })
            }
        }
    };
}
norm_const!(f32);
norm_const!(f64);

impl<T: Scalar, const N: usize> Default for BatchNorm<T, N> {
    /// Momentum 0.1 and eps 1e-5, as `torch.nn.BatchNorm1d`.
    fn default() -> Self {
        Self::with(T::of_f64(0.1), T::of_f64(1e-5))
    }
}

impl<T: Scalar, const N: usize> Parameters<T> for BatchNorm<T, N> {
    tensors_of_field!(affine: Affine<T, N>);
}

/// `weight`, `bias`, `running_mean`, `running_var` (each `[N]`; the variance
/// [`Domain::NonNegative`](crate::io::Domain)) and `num_batches_tracked` (a scalar, int64 in
/// PyTorch), as `torch.nn.BatchNorm1d`.
impl<T: Scalar, const N: usize> StateDict<T> for BatchNorm<T, N> {
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

impl<T: Scalar, const N: usize> Model<T> for BatchNorm<T, N> {
    type Grads = Affine<T, N>;
    describe_leaf!("BatchNorm1d", |input| input);
    /// The running mean and variance and the batch count.
    type Buffers = (SVector<T, N>, SVector<T, N>, u32);
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

/// What batch normalisation keeps for backward: the normalised input, each feature's
/// `1/sqrt(σ² + eps)`, and the output.
#[derive(Debug, Clone, PartialEq)]
pub struct NormCache<T: Scalar, const N: usize, const B: usize, const G: usize> {
    /// The normalised input x̂.
    pub xhat: SMatrix<T, N, B>,
    /// `1/sqrt(σ² + eps)` of each normalisation group.
    pub inv_std: SVector<T, G>,
    /// The output.
    pub y: SMatrix<T, N, B>,
    /// Whether the statistics were constants ([`Layer::forward_frozen`] of batch
    /// normalisation: the running statistics), not computed from the input being normalised.
    pub constant_statistics: bool,
}

impl<T: Scalar, const N: usize, const B: usize, const G: usize> Zeroed for NormCache<T, N, B, G> {
    fn zeroed() -> Self {
        Self {
            xhat: SMatrix::zeros(),
            inv_std: SVector::zeros(),
            y: SMatrix::zeros(),
            constant_statistics: false,
        }
    }
    fn set_zero(&mut self) {
        self.xhat.set_zero();
        self.inv_std.set_zero();
        self.y.set_zero();
        self.constant_statistics = false;
    }
}

impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for BatchNorm<T, N> {
    type Output = SMatrix<T, N, B>;
    type Cache = NormCache<T, N, B, N>;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        nonempty_batch::<B>();
        for (((((mut yr, xr), &m), &v), &g), &b) in y
            .row_iter_mut()
            .zip(x.row_iter())
            .zip(self.running_mean.iter())
            .zip(self.running_var.iter())
            .zip(self.affine.weight.iter())
            .zip(self.affine.bias.iter())
        {
            let scale = g / math::sqrt(v + self.eps);
            for (yv, &xv) in yr.iter_mut().zip(xr.iter()) {
                *yv = (xv - m) * scale + b;
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        #[allow(clippy::disallowed_macros)] // a build-time check, not a panic at run time
        const {
            assert!(
                B > 1,
                "BatchNorm needs at least two samples per training batch"
            )
        };
        let b_t = T::of_f64(B as f64);
        let unbiased = b_t / T::of_f64(B.saturating_sub(1) as f64);
        let keep = T::one() - self.momentum;
        let stats = x.row_iter().map(|row| {
            let mean = row.sum() / b_t;
            let var = row
                .iter()
                .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
                / b_t;
            (mean, var)
        });
        for (((((((mut xh, mut yr), xr), is), (mean, var)), (rm, rv)), &g), &b) in cache
            .xhat
            .row_iter_mut()
            .zip(cache.y.row_iter_mut())
            .zip(x.row_iter())
            .zip(cache.inv_std.iter_mut())
            .zip(stats)
            .zip(
                self.running_mean
                    .iter_mut()
                    .zip(self.running_var.iter_mut()),
            )
            .zip(self.affine.weight.iter())
            .zip(self.affine.bias.iter())
        {
            *is = T::one() / math::sqrt(var + self.eps);
            for ((h, yv), &xv) in xh.iter_mut().zip(yr.iter_mut()).zip(xr.iter()) {
                *h = (xv - mean) * *is;
                *yv = g * *h + b;
            }
            if mean.is_finite() && var.is_finite() {
                *rm = keep * *rm + self.momentum * mean;
                *rv = keep * *rv + self.momentum * var * unbiased;
            }
        }
        self.num_batches_tracked = self.num_batches_tracked.saturating_add(1);
        cache.constant_statistics = false;
        &cache.y
    }

    /// Inference mode (the running statistics, left unchanged), with a cache for backward,
    /// which then differentiates `γ (x - μ_running) / sqrt(σ²_running + eps) + β`.
    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        nonempty_batch::<B>();
        for (((((((mut xh, mut yr), xr), is), &m), &v), &g), &b) in cache
            .xhat
            .row_iter_mut()
            .zip(cache.y.row_iter_mut())
            .zip(x.row_iter())
            .zip(cache.inv_std.iter_mut())
            .zip(self.running_mean.iter())
            .zip(self.running_var.iter())
            .zip(self.affine.weight.iter())
            .zip(self.affine.bias.iter())
        {
            *is = T::one() / math::sqrt(v + self.eps);
            for ((h, yv), &xv) in xh.iter_mut().zip(yr.iter_mut()).zip(xr.iter()) {
                *h = (xv - m) * *is;
                *yv = g * *h + b;
            }
        }
        cache.constant_statistics = true;
        &cache.y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, N, B> {
        &cache.y
    }

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        grads: Option<&mut Affine<T, N>>,
    ) {
        if let Some(grads) = grads {
            for (((dyr, xh), gw), gb) in dy
                .row_iter()
                .zip(cache.xhat.row_iter())
                .zip(grads.weight.iter_mut())
                .zip(grads.bias.iter_mut())
            {
                *gw += dyr.dot(&xh);
                *gb += dyr.sum();
            }
        }
        let Some(dx) = dx else { return };
        if cache.constant_statistics {
            // An affine map per feature: dx = dy · γ / sqrt(σ²_running + eps).
            for (((mut dxr, dyr), &is), &g) in dx
                .row_iter_mut()
                .zip(dy.row_iter())
                .zip(cache.inv_std.iter())
                .zip(self.affine.weight.iter())
            {
                for (d, &dyv) in dxr.iter_mut().zip(dyr.iter()) {
                    *d = dyv * g * is;
                }
            }
            return;
        }
        for ((((mut dxr, dyr), xh), &is), &g) in dx
            .row_iter_mut()
            .zip(dy.row_iter())
            .zip(cache.xhat.row_iter())
            .zip(cache.inv_std.iter())
            .zip(self.affine.weight.iter())
        {
            let mut sum = T::zero();
            let mut sum_xh = T::zero();
            for ((d, &dyv), &h) in dxr.iter_mut().zip(dyr.iter()).zip(xh.iter()) {
                *d = dyv * g;
                sum += *d;
                sum_xh += *d * h;
            }
            normalisation_backward(xh.iter(), dxr.iter_mut(), is, B, sum, sum_xh);
        }
    }
}

/// Layer normalisation over each sample's `N` features, like `torch.nn.LayerNorm(N)`: every
/// column is normalised with its own mean and biased variance (plus `eps`, default 1e-5), then
/// scaled and shifted per feature. Behaves the same in training and inference.
///
/// ```
/// use tinyprop::prelude::*;
/// let ln = LayerNorm::<f64, 4>::default();
/// let x = SMatrix::<f64, 4, 1>::new(1., 2., 3., 4.);
/// let mut y = SMatrix::zeros();
/// ln.forward(&x, &mut y);
/// assert!(y.sum().abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm<T: Scalar, const N: usize> {
    /// The learnable per-feature scale and shift.
    pub affine: Affine<T, N>,
    eps: T,
}

impl<T: Scalar, const N: usize> LayerNorm<T, N> {
    /// A layer with the given eps (`> 0`).
    pub fn new(eps: T) -> Result<Self, Error> {
        if !(eps > T::zero() && eps.is_finite()) {
            return Err(Error::InvalidHyperparameter("eps must be finite and > 0"));
        }
        Ok(Self {
            affine: Affine::identity(),
            eps,
        })
    }

    /// The value added to the variance.
    pub fn eps(&self) -> T {
        self.eps
    }

    /// Normalises the columns of `x` into `cache`.
    fn normalise<const B: usize>(&self, x: &SMatrix<T, N, B>, cache: &mut NormCache<T, N, B, B>) {
        let n_t = T::of_f64(N as f64);
        for (((mut xh, mut yc), xc), is) in cache
            .xhat
            .column_iter_mut()
            .zip(cache.y.column_iter_mut())
            .zip(x.column_iter())
            .zip(cache.inv_std.iter_mut())
        {
            let mean = xc.sum() / n_t;
            let var = xc
                .iter()
                .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
                / n_t;
            *is = T::one() / math::sqrt(var + self.eps);
            for ((((h, yv), &xv), &g), &b) in xh
                .iter_mut()
                .zip(yc.iter_mut())
                .zip(xc.iter())
                .zip(self.affine.weight.iter())
                .zip(self.affine.bias.iter())
            {
                *h = (xv - mean) * *is;
                *yv = g * *h + b;
            }
        }
    }
}

impl<T: Scalar, const N: usize> Default for LayerNorm<T, N> {
    /// eps 1e-5, γ = 1, β = 0, as `torch.nn.LayerNorm`.
    fn default() -> Self {
        Self {
            affine: Affine::identity(),
            eps: T::of_f64(1e-5),
        }
    }
}

impl<T: Scalar, const N: usize> Parameters<T> for LayerNorm<T, N> {
    tensors_of_field!(affine: Affine<T, N>);
}

/// `weight` and `bias`, each `[N]`, as `torch.nn.LayerNorm`.
impl<T: Scalar, const N: usize> StateDict<T> for LayerNorm<T, N> {
    const ENTRIES: usize = 2;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.affine.visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.affine.visit_mut(prefix, f)
    }
}

impl<T: Scalar, const N: usize> Model<T> for LayerNorm<T, N> {
    type Grads = Affine<T, N>;
    describe_leaf!("LayerNorm", |input| input);
    no_buffers!();
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.affine.init(init, rng);
    }
}

impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for LayerNorm<T, N> {
    type Output = SMatrix<T, N, B>;
    type Cache = NormCache<T, N, B, B>;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        nonempty_batch::<B>();
        let n_t = T::of_f64(N as f64);
        for (mut yc, xc) in y.column_iter_mut().zip(x.column_iter()) {
            let mean = xc.sum() / n_t;
            let var = xc
                .iter()
                .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
                / n_t;
            let is = T::one() / math::sqrt(var + self.eps);
            for (((yv, &xv), &g), &b) in yc
                .iter_mut()
                .zip(xc.iter())
                .zip(self.affine.weight.iter())
                .zip(self.affine.bias.iter())
            {
                *yv = g * (xv - mean) * is + b;
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        nonempty_batch::<B>();
        self.normalise(x, cache);
        &cache.y
    }

    /// The same as training: layer normalisation has no training mode.
    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        nonempty_batch::<B>();
        self.normalise(x, cache);
        &cache.y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, N, B> {
        &cache.y
    }

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        grads: Option<&mut Affine<T, N>>,
    ) {
        if let Some(grads) = grads {
            for (dyc, xh) in dy.column_iter().zip(cache.xhat.column_iter()) {
                grads.weight += dyc.component_mul(&xh);
                grads.bias += dyc;
            }
        }
        let Some(dx) = dx else { return };
        for (((mut dxc, dyc), xh), &is) in dx
            .column_iter_mut()
            .zip(dy.column_iter())
            .zip(cache.xhat.column_iter())
            .zip(cache.inv_std.iter())
        {
            let mut sum = T::zero();
            let mut sum_xh = T::zero();
            for (((d, &dyv), &h), &g) in dxc
                .iter_mut()
                .zip(dyc.iter())
                .zip(xh.iter())
                .zip(self.affine.weight.iter())
            {
                *d = dyv * g;
                sum += *d;
                sum_xh += *d * h;
            }
            normalisation_backward(xh.iter(), dxc.iter_mut(), is, N, sum, sum_xh);
        }
    }
}
