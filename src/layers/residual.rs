use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::io::{part, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{split_index, tensors_of_field};
use crate::{Error, Init, Layer, Model, Parameters, Scalar, Zeroed};

/// A residual block: `y = F(x) + x` (He et al., 2016).
///
/// It only compiles when `F` maps its input to an output of the same shape; for blocks that
/// change the width, use [`ResidualProjection`]. The skip connection passes the output gradient
/// straight to the input, which is what keeps gradients from vanishing in deep networks.
///
/// ```
/// use tinyprop::prelude::*;
/// type Block = Residual<(Dense<f32, 4, 4>, Relu, Dense<f32, 4, 4>, Relu)>;
/// let block = Block::default(); // all weights zero: F(x) = 0, so y = x
/// let x = SMatrix::<f32, 4, 2>::from_fn(|i, j| (i + j) as f32);
/// let mut y = SMatrix::zeros();
/// block.forward(&x, &mut y);
/// assert_eq!(y, x);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Residual<F>(pub F);

/// A residual block with a projection on the skip path: `y = F(x) + P(x)`, for blocks whose
/// output width differs from their input width (P is usually a [`crate::DenseNoBias`]).
///
/// ```
/// use tinyprop::prelude::*;
/// type Block = ResidualProjection<(Dense<f32, 4, 8>, Relu), DenseNoBias<f32, 4, 8>>;
/// let block = Block::default();
/// let x = SMatrix::<f32, 4, 1>::zeros();
/// let mut y = SMatrix::<f32, 8, 1>::zeros();
/// block.forward(&x, &mut y);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResidualProjection<F, P> {
    /// The residual function.
    pub f: F,
    /// The projection on the skip path.
    pub projection: P,
}

impl<T: Scalar, F: Parameters<T>> Parameters<T> for Residual<F> {
    tensors_of_field!(0: F);
}

/// The block's tensors under `block.`.
impl<T: Scalar, F: StateDict<T>> StateDict<T> for Residual<F> {
    const ENTRIES: usize = F::ENTRIES;

    fn visit<V>(&self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
    where
        V: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "block", |p| self.0.visit(p, f))
    }

    fn visit_mut<V>(&mut self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
    where
        V: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "block", |p| self.0.visit_mut(p, f))
    }
}

impl<T: Scalar, F: Model<T>> Model<T> for Residual<F> {
    type Grads = F::Grads;
    type Buffers = F::Buffers;
    fn save_buffers(&self, saved: &mut F::Buffers) {
        self.0.save_buffers(saved);
    }
    fn restore_buffers(&mut self, saved: &F::Buffers) {
        self.0.restore_buffers(saved);
    }
    fn buffers_finite(&self) -> bool {
        self.0.buffers_finite()
    }
    /// The block's rows (`block.…`).
    fn describe(
        &self,
        name: &str,
        input: crate::io::Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<crate::io::Shape, core::fmt::Error> {
        let mut buf = crate::io::Name::new();
        let block = crate::layer::child_name(&mut buf, name, "block")?;
        self.0.describe(block, input, row)
    }
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.0.init(init, rng);
    }
}

impl<T, F, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for Residual<F>
where
    T: Scalar,
    F: Layer<T, SMatrix<T, N, B>, Output = SMatrix<T, N, B>>,
{
    type Output = SMatrix<T, N, B>;
    /// F's cache, the block's output, and a copy of the output gradient for the skip path.
    type Cache = (F::Cache, SMatrix<T, N, B>, SMatrix<T, N, B>);
    const FORWARD_STACK_BYTES: usize = F::FORWARD_STACK_BYTES;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        self.0.forward(x, y);
        *y += x;
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        let (fc, y, _) = cache;
        y.copy_from(self.0.forward_train(x, fc));
        *y += x;
        y
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        let (fc, y, _) = cache;
        y.copy_from(self.0.forward_frozen(x, fc));
        *y += x;
        y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, N, B> {
        &cache.1
    }

    fn backward(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        grads: Option<&mut F::Grads>,
    ) {
        let (fc, _, skip) = cache;
        match dx {
            Some(dx) => {
                // F may use dy as scratch: keep the skip path's gradient first.
                skip.copy_from(dy);
                self.0.backward(x, fc, dy, Some(&mut *dx), grads);
                *dx += &*skip;
            }
            None => self.0.backward(x, fc, dy, None, grads),
        }
    }
}

impl<T: Scalar, F: Parameters<T>, P: Parameters<T>> Parameters<T> for ResidualProjection<F, P> {
    const COUNT: usize = F::COUNT + P::COUNT;
    const TENSORS: usize = F::TENSORS + P::TENSORS;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        match split_index(i, F::TENSORS) {
            Ok(i) => self.f.tensor(i),
            Err(i) => self.projection.tensor(i),
        }
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        match split_index(i, F::TENSORS) {
            Ok(i) => self.f.tensor_mut(i),
            Err(i) => self.projection.tensor_mut(i),
        }
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        self.f.tensors_mut().chain(self.projection.tensors_mut())
    }
}

/// The block's tensors under `block.`, then the projection's under `projection.`.
impl<T: Scalar, F: StateDict<T>, P: StateDict<T>> StateDict<T> for ResidualProjection<F, P> {
    const ENTRIES: usize = F::ENTRIES + P::ENTRIES;

    fn visit<V>(&self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
    where
        V: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "block", |p| self.f.visit(p, f))?;
        part(prefix, "projection", |p| self.projection.visit(p, f))
    }

    fn visit_mut<V>(&mut self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
    where
        V: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "block", |p| self.f.visit_mut(p, f))?;
        part(prefix, "projection", |p| self.projection.visit_mut(p, f))
    }
}

impl<T: Scalar, F: Model<T>, P: Model<T>> Model<T> for ResidualProjection<F, P> {
    type Grads = (F::Grads, P::Grads);
    type Buffers = (F::Buffers, P::Buffers);
    fn save_buffers(&self, saved: &mut Self::Buffers) {
        self.f.save_buffers(&mut saved.0);
        self.projection.save_buffers(&mut saved.1);
    }
    fn restore_buffers(&mut self, saved: &Self::Buffers) {
        self.f.restore_buffers(&saved.0);
        self.projection.restore_buffers(&saved.1);
    }
    fn buffers_finite(&self) -> bool {
        self.f.buffers_finite() && self.projection.buffers_finite()
    }
    /// The block's rows (`block.…`), then the projection's (`projection.…`).
    fn describe(
        &self,
        name: &str,
        input: crate::io::Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<crate::io::Shape, core::fmt::Error> {
        let mut buf = crate::io::Name::new();
        let output = self.f.describe(
            crate::layer::child_name(&mut buf, name, "block")?,
            input,
            row,
        )?;
        let projection = crate::layer::child_name(&mut buf, name, "projection")?;
        self.projection.describe(projection, input, row)?;
        Ok(output)
    }
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.f.init(init, rng);
        self.projection.init(init, rng);
    }
}

impl<T, F, P, const N: usize, const M: usize, const B: usize> Layer<T, SMatrix<T, N, B>>
    for ResidualProjection<F, P>
where
    T: Scalar,
    F: Layer<T, SMatrix<T, N, B>, Output = SMatrix<T, M, B>>,
    P: Layer<T, SMatrix<T, N, B>, Output = SMatrix<T, M, B>>,
{
    type Output = SMatrix<T, M, B>;
    /// The caches of F and P, the output, a copy of the output gradient, and the input
    /// gradient of the projection.
    type Cache = (
        F::Cache,
        P::Cache,
        SMatrix<T, M, B>,
        SMatrix<T, M, B>,
        SMatrix<T, N, B>,
    );
    const FORWARD_STACK_BYTES: usize =
        core::mem::size_of::<SMatrix<T, M, B>>() + F::FORWARD_STACK_BYTES + P::FORWARD_STACK_BYTES;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, M, B>) {
        let mut skip = SMatrix::<T, M, B>::zeroed();
        self.projection.forward(x, &mut skip);
        self.f.forward(x, y);
        *y += &skip;
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, M, B> {
        let (fc, pc, y, _, _) = cache;
        y.copy_from(self.f.forward_train(x, fc));
        *y += self.projection.forward_train(x, pc);
        y
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, M, B> {
        let (fc, pc, y, _, _) = cache;
        y.copy_from(self.f.forward_frozen(x, fc));
        *y += self.projection.forward_frozen(x, pc);
        y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, M, B> {
        &cache.2
    }

    fn backward(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, M, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        grads: Option<&mut Self::Grads>,
    ) {
        let (fc, pc, _, dy_copy, dx_projection) = cache;
        let (fg, pg) = match grads {
            Some((fg, pg)) => (Some(fg), Some(pg)),
            None => (None, None),
        };
        dy_copy.copy_from(dy);
        match dx {
            Some(dx) => {
                self.f.backward(x, fc, dy, Some(&mut *dx), fg);
                self.projection
                    .backward(x, pc, dy_copy, Some(&mut *dx_projection), pg);
                *dx += &*dx_projection;
            }
            None => {
                self.f.backward(x, fc, dy, None, fg);
                self.projection.backward(x, pc, dy_copy, None, pg);
            }
        }
    }
}
