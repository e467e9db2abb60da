//! Pooling: [`MaxPool1d`], [`MaxPool2d`], [`AvgPool1d`], [`AvgPool2d`], [`GlobalAvgPool`],
//! and [`Flatten`], on feature maps stored `C×H×W` (`C×L`) in each column, as the
//! convolutions ([`crate::layers::conv`]) store them. Sizes are checked when the program is
//! built, as the convolutions' are.

use core::marker::PhantomData;

use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::io::Shape;
use crate::layer::{no_buffers, no_tensors, nonempty_batch};
use crate::layers::conv::{check_shapes, map_shape, Geom, Msg, OneD, Spatial, TwoD};
use crate::{Init, Layer, Model, Parameters, Scalar};

/// Maximum ([`Max`]) or average ([`Avg`]) pooling: the kind of a [`Pool`].
pub trait PoolKind: core::fmt::Debug + Clone + Copy + Default + PartialEq {
    /// `true` for the maximum.
    const MAX: bool;
    /// PyTorch's names, in one and two dimensions.
    const NAMES: [&'static str; 2];
}

/// Maximum pooling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Max;
/// Average pooling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Avg;

impl PoolKind for Max {
    const MAX: bool = true;
    const NAMES: [&'static str; 2] = ["MaxPool1d", "MaxPool2d"];
}
impl PoolKind for Avg {
    const MAX: bool = false;
    const NAMES: [&'static str; 2] = ["AvgPool1d", "AvgPool2d"];
}

/// Pooling over `KH × KW` windows of each of `C` maps of `H × W`, with stride `S` and
/// padding `P` (at most half the kernel, as in PyTorch), and the flat output width
/// `NOUT = C·OH·OW` stated and checked when the program is built. Use it through the aliases.
///
/// * Maximum: as `torch.nn.MaxPool2d`: padding never wins, a NaN in a window is the maximum,
///   and among equal maxima the first (in row-major order) gets the gradient.
/// * Average: as `torch.nn.AvgPool2d` with its default `count_include_pad=True`: every window
///   is divided by `KH·KW`, padding counting as zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pool<
    Kd: PoolKind,
    Dm: Spatial,
    const C: usize,
    const KH: usize,
    const KW: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    const P: usize,
> {
    kind: PhantomData<(Kd, Dm)>,
}

/// `torch.nn.MaxPool2d(K, stride=S, padding=P)` on `C` maps of `H × W`; `NOUT = C·OH·OW`.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::MaxPool2d;
/// let x = SMatrix::<f32, 16, 1>::from_fn(|i, _| i as f32); // one 4×4 map: 0, 1, …, 15
/// let mut y = SMatrix::<f32, 4, 1>::zeros();
/// MaxPool2d::<1, 2, 4, 4, 4>::default().forward(&x, &mut y);
/// assert_eq!(y.as_slice(), &[5.0, 7.0, 13.0, 15.0]);
/// ```
pub type MaxPool2d<
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize = K,
    const P: usize = 0,
> = Pool<Max, TwoD, C, K, K, H, W, NOUT, S, P>;

/// `torch.nn.AvgPool2d(K, stride=S, padding=P)` (`count_include_pad=True`) on `C` maps of
/// `H × W`; `NOUT = C·OH·OW`.
pub type AvgPool2d<
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize = K,
    const P: usize = 0,
> = Pool<Avg, TwoD, C, K, K, H, W, NOUT, S, P>;

/// `torch.nn.MaxPool1d(K, stride=S, padding=P)` on `C` maps of length `L`; `NOUT = C·OL`.
pub type MaxPool1d<
    const C: usize,
    const K: usize,
    const L: usize,
    const NOUT: usize,
    const S: usize = K,
    const P: usize = 0,
> = Pool<Max, OneD, C, 1, K, 1, L, NOUT, S, P>;

/// `torch.nn.AvgPool1d(K, stride=S, padding=P)` (`count_include_pad=True`) on `C` maps of
/// length `L`; `NOUT = C·OL`.
pub type AvgPool1d<
    const C: usize,
    const K: usize,
    const L: usize,
    const NOUT: usize,
    const S: usize = K,
    const P: usize = 0,
> = Pool<Avg, OneD, C, 1, K, 1, L, NOUT, S, P>;

macro_rules! pool_impl {
    ($({$($g:tt)*})? [$($item:tt)*]) => {
        impl<$($($g)*,)?
                Kd: PoolKind,
                Dm: Spatial,
                const C: usize,
                const KH: usize,
                const KW: usize,
                const H: usize,
                const W: usize,
                const NOUT: usize,
                const S: usize,
                const P: usize,
            > $($item)*
    };
}

pool_impl! {  [Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P> {
    /// The layer (it has no state), in a `const` context: `Default::default` is not `const`.
    ///
    /// ```
    /// use tinyprop::MaxPool1d;
    /// static POOL: MaxPool1d<1, 2, 4, 2> = MaxPool1d::new();
    /// # let _ = POOL;
    /// ```
    pub const fn new() -> Self {
        Self { kind: PhantomData }
    }

    const GEOM: Geom = Geom::new(Dm::TWO_D, KH, KW, H, W, S, P, 1);
    const NAME: &'static str = if Dm::TWO_D { Kd::NAMES[1] } else { Kd::NAMES[0] };

    #[inline(always)]
    fn check<const NIN: usize>() {
        const {
            check_shapes(Self::NAME, "C", Dm::TWO_D, C, C, KH, KW, H, W, NIN, NOUT, S, P, 1);
            if P.saturating_mul(2) > KW || (Dm::TWO_D && P.saturating_mul(2) > KH) {
                Msg::new()
                    .s(Self::NAME)
                    .s(": the padding P=")
                    .n(P)
                    .s(" must be at most half the kernel size")
                    .fail();
            }
        }
    }
}]}

pool_impl! { {T: Scalar} [ Parameters<T> for Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P> {
    no_tensors!();
}]}

pool_impl! { {T: Scalar} [ crate::io::StateDict<T> for Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P> {
    crate::io::names::no_state_dict!();
}]}

pool_impl! { {T: Scalar} [ Model<T> for Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P> {
    type Grads = ();
    no_buffers!();
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
    fn describe(
        &self,
        name: &str,
        _input: Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let output = map_shape(Dm::TWO_D, C, &Self::GEOM);
        row(&crate::layer::LayerRow::leaf::<T, Self>(name, Self::NAME, output, true))?;
        Ok(output)
    }
}]}

pool_impl! { {T: Scalar, const NIN: usize, const B: usize} [ Layer<T, SMatrix<T, NIN, B>>
    for Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P>
{
    type Output = SMatrix<T, NOUT, B>;
    type Cache = SMatrix<T, NOUT, B>;

    fn forward(&self, x: &SMatrix<T, NIN, B>, y: &mut Self::Output) {
        nonempty_batch::<B>();
        Self::check::<NIN>();
        let g = Self::GEOM;
        for (xs, ys) in x.data.0.iter().zip(y.data.0.iter_mut()) {
            if Kd::MAX {
                max_forward(&g, xs, ys);
            } else {
                avg_forward(&g, xs, ys);
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward(x, cache);
        cache
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, NIN, B>,
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
        x: &SMatrix<T, NIN, B>,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut SMatrix<T, NIN, B>>,
        _grads: Option<&mut ()>,
    ) {
        Self::check::<NIN>();
        let Some(dx) = dx else { return };
        let g = Self::GEOM;
        let samples = x.data.0.iter().zip(cache.data.0.iter());
        let grads = dx.data.0.iter_mut().zip(dy.data.0.iter_mut());
        for ((xs, ys), (dxs, dys)) in samples.zip(grads) {
            if Kd::MAX {
                max_backward(&g, xs, ys, dys, dxs);
            } else {
                avg_backward(&g, dys, dxs);
            }
        }
    }
}]}

/// The maps of one sample, input and output together.
#[inline(always)]
fn maps<'a, T>(g: &Geom, x: &'a [T]) -> core::slice::ChunksExact<'a, T> {
    x.chunks_exact(g.in_map().max(1))
}

fn max_forward<T: Scalar>(g: &Geom, x: &[T], y: &mut [T]) {
    y.fill(T::of_f64(f64::NEG_INFINITY));
    for (xmap, ymap) in maps(g, x).zip(y.chunks_exact_mut(g.out_map().max(1))) {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                g.rows(ky, kx, |ys, xs, n| {
                    if let (Some(yr), Some(xr)) =
                        (ymap.get_mut(ys..ys.saturating_add(n)), xmap.get(xs..))
                    {
                        for (yv, &xv) in yr.iter_mut().zip(xr.iter().step_by(g.sw.max(1))) {
                            // PyTorch's rule: a larger value or a NaN replaces the maximum.
                            #[allow(clippy::eq_op)] // `xv != xv`: NaN
                            if xv > *yv || xv != xv {
                                *yv = xv;
                            }
                        }
                    }
                });
            }
        }
    }
}

/// The gradient goes to the first element of each window (in row-major order) equal to the
/// window's maximum `y`; `dy` is zeroed as it is handed out, so a later tie gets nothing.
fn max_backward<T: Scalar>(g: &Geom, x: &[T], y: &[T], dy: &mut [T], dx: &mut [T]) {
    dx.fill(T::zero());
    let out_map = g.out_map().max(1);
    let outs = y
        .chunks_exact(out_map.max(1))
        .zip(dy.chunks_exact_mut(out_map.max(1)));
    let ins = maps(g, x).zip(dx.chunks_exact_mut(g.in_map().max(1)));
    for ((xmap, dxmap), (ymap, dymap)) in ins.zip(outs) {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                g.rows(ky, kx, |ys, xs, n| {
                    let end = ys.saturating_add(n);
                    if let (Some(yr), Some(dyr), Some(xr), Some(dxr)) = (
                        ymap.get(ys..end),
                        dymap.get_mut(ys..end),
                        xmap.get(xs..),
                        dxmap.get_mut(xs..),
                    ) {
                        let step = g.sw.max(1);
                        let inputs = xr
                            .iter()
                            .step_by(step.max(1))
                            .zip(dxr.iter_mut().step_by(step.max(1)));
                        for ((&yv, dv), (&xv, dxv)) in yr.iter().zip(dyr.iter_mut()).zip(inputs) {
                            #[allow(clippy::eq_op)] // `v != v`: NaN
                            if xv == yv || (xv != xv && yv != yv) {
                                *dxv += *dv;
                                *dv = T::zero();
                            }
                        }
                    }
                });
            }
        }
    }
}

fn avg_forward<T: Scalar>(g: &Geom, x: &[T], y: &mut [T]) {
    y.fill(T::zero());
    for (xmap, ymap) in maps(g, x).zip(y.chunks_exact_mut(g.out_map().max(1))) {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                g.rows(ky, kx, |ys, xs, n| {
                    if let (Some(yr), Some(xr)) =
                        (ymap.get_mut(ys..ys.saturating_add(n)), xmap.get(xs..))
                    {
                        for (yv, &xv) in yr.iter_mut().zip(xr.iter().step_by(g.sw.max(1))) {
                            *yv += xv;
                        }
                    }
                });
            }
        }
    }
    let scale = T::one() / T::of_f64(g.kh.saturating_mul(g.kw) as f64);
    for v in y.iter_mut() {
        *v *= scale;
    }
}

fn avg_backward<T: Scalar>(g: &Geom, dy: &[T], dx: &mut [T]) {
    dx.fill(T::zero());
    let scale = T::one() / T::of_f64(g.kh.saturating_mul(g.kw) as f64);
    let dxmaps = dx.chunks_exact_mut(g.in_map().max(1));
    for (dxmap, dymap) in dxmaps.zip(dy.chunks_exact(g.out_map().max(1))) {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                g.rows(ky, kx, |ys, xs, n| {
                    if let (Some(dyr), Some(dxr)) =
                        (dymap.get(ys..ys.saturating_add(n)), dxmap.get_mut(xs..))
                    {
                        for (&dv, dxv) in dyr.iter().zip(dxr.iter_mut().step_by(g.sw.max(1))) {
                            *dxv += dv * scale;
                        }
                    }
                });
            }
        }
    }
}

/// The mean of each of `C` maps: `torch.nn.AdaptiveAvgPool2d(1)` (or `1` in 1-D) followed by
/// `flatten`. The input width must be a multiple of `C` (checked when the program is built).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::GlobalAvgPool;
/// let x = SMatrix::<f32, 6, 1>::from_column_slice(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
/// let mut y = SMatrix::<f32, 2, 1>::zeros();
/// GlobalAvgPool::<2>.forward(&x, &mut y);
/// assert_eq!(y.as_slice(), &[2.0, 20.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalAvgPool<const C: usize>;

impl<T: Scalar, const C: usize> Parameters<T> for GlobalAvgPool<C> {
    no_tensors!();
}
impl<T: Scalar, const C: usize> crate::io::StateDict<T> for GlobalAvgPool<C> {
    crate::io::names::no_state_dict!();
}
impl<T: Scalar, const C: usize> Model<T> for GlobalAvgPool<C> {
    type Grads = ();
    no_buffers!();
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
    fn describe(
        &self,
        name: &str,
        _input: Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let output = Shape::vector(C);
        row(&crate::layer::LayerRow::leaf::<T, Self>(
            name,
            "AdaptiveAvgPool",
            output,
            true,
        ))?;
        Ok(output)
    }
}

impl<T: Scalar, const C: usize, const NIN: usize, const B: usize> Layer<T, SMatrix<T, NIN, B>>
    for GlobalAvgPool<C>
{
    type Output = SMatrix<T, C, B>;
    type Cache = SMatrix<T, C, B>;

    fn forward(&self, x: &SMatrix<T, NIN, B>, y: &mut Self::Output) {
        nonempty_batch::<B>();
        const {
            if C == 0 || NIN == 0 || NIN % C != 0 {
                Msg::new()
                    .s("GlobalAvgPool: the input width must be a non-zero multiple of C=")
                    .n(C)
                    .s(" (got ")
                    .n(NIN)
                    .s(")")
                    .fail();
            }
        }
        let map = NIN.checked_div(C).unwrap_or(1).max(1);
        let scale = T::one() / T::of_f64(map as f64);
        for (xs, ys) in x.data.0.iter().zip(y.data.0.iter_mut()) {
            for (yv, xm) in ys.iter_mut().zip(xs.chunks_exact(map.max(1))) {
                *yv = xm.iter().fold(T::zero(), |a, &v| a + v) * scale;
            }
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward(x, cache);
        cache
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, NIN, B>,
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
        _x: &SMatrix<T, NIN, B>,
        _cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut SMatrix<T, NIN, B>>,
        _grads: Option<&mut ()>,
    ) {
        let Some(dx) = dx else { return };
        let map = NIN.checked_div(C).unwrap_or(1).max(1);
        let scale = T::one() / T::of_f64(map as f64);
        for (dxs, dys) in dx.data.0.iter_mut().zip(dy.data.0.iter()) {
            for (&dv, dxm) in dys.iter().zip(dxs.chunks_exact_mut(map.max(1))) {
                dxm.fill(dv * scale);
            }
        }
    }
}

/// `torch.nn.Flatten`: the identity, since a feature map is already stored `C×H×W` in one
/// column per sample. It marks where a network goes from maps to vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flatten;

impl<T: Scalar> Parameters<T> for Flatten {
    no_tensors!();
}
impl<T: Scalar> crate::io::StateDict<T> for Flatten {
    crate::io::names::no_state_dict!();
}
impl<T: Scalar> Model<T> for Flatten {
    type Grads = ();
    no_buffers!();
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
    fn describe(
        &self,
        name: &str,
        input: Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let output = Shape::vector(input.elements());
        row(&crate::layer::LayerRow::leaf::<T, Self>(
            name, "Flatten", output, true,
        ))?;
        Ok(output)
    }
}

impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for Flatten {
    type Output = SMatrix<T, N, B>;
    type Cache = SMatrix<T, N, B>;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut Self::Output) {
        nonempty_batch::<B>();
        for (yv, &xv) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *yv = xv;
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        Layer::<T, SMatrix<T, N, B>>::forward(self, x, cache);
        cache
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        Layer::<T, SMatrix<T, N, B>>::forward(self, x, cache);
        cache
    }

    fn output(cache: &Self::Cache) -> &Self::Output {
        cache
    }

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        _cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut SMatrix<T, N, B>>,
        _grads: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            for (d, &v) in dx.as_mut_slice().iter_mut().zip(dy.as_slice()) {
                *d = v;
            }
        }
    }
}
