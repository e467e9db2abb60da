use core::fmt::Debug;

use nalgebra::{SMatrix, SVector};
use rand_core::RngCore;

use crate::io::{entry, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{describe_leaf, no_buffers, no_tensors, nonempty_batch, split_index};
use crate::{kernels, Error, Init, Layer, Model, Parameters, Scalar, Zeroed};

/// A fully connected layer: `y = W x + b` for each sample (column) `x`, like `torch.nn.Linear`.
///
/// `weight` is `OUT × IN` (the same layout as PyTorch's `Linear.weight`), `bias` has `OUT`
/// elements. [`DenseNoBias`] is the form without a bias. The gradients of a dense layer are a
/// value of the same type.
///
/// **Layout.** The layer is its parameters, nothing more (`size_of` is 4 or 8 bytes per
/// parameter), except in builds for processors with AVX (`-C target-cpu=native` on most x86
/// processors of the last decade, `haswell`, `x86-64-v3`, …): there the layer starts on a
/// 64-byte boundary (a cache line) and its size is padded to a multiple of 64 bytes, as are
/// [`Conv`](crate::layers::conv::Conv) and [`Recurrent`](crate::layers::recurrent::Recurrent).
/// The vector loads and stores of misaligned weights cross cache lines (every 64-byte one, half
/// of the 32-byte ones), which cost the benchmark's one-sample lines 3 % to 17 % of their speed
/// on an AMD Zen 4. The figures of [`memory`](crate::memory) are `size_of`, padding included.
///
/// ```
/// use tinyprop::prelude::*;
/// let mut layer: Dense<f32, 2, 1> = Default::default();
/// layer.weight = SMatrix::from_row_slice(&[2.0, -1.0]);
/// layer.bias = SVector::from([0.5]);
/// let x = SMatrix::<f32, 2, 3>::from_column_slice(&[1., 0., 0., 1., 1., 1.]);
/// let mut y = SMatrix::<f32, 1, 3>::zeros();
/// layer.forward(&x, &mut y);
/// assert_eq!(y.as_slice(), &[2.5, -0.5, 1.5]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(target_feature = "avx", repr(C, align(64)))]
pub struct Dense<T: Scalar, const IN: usize, const OUT: usize, B = SVector<T, OUT>> {
    /// The `OUT × IN` weight matrix.
    pub weight: SMatrix<T, OUT, IN>,
    /// The bias: an `SVector<T, OUT>`, or [`NoBias`].
    pub bias: B,
}

/// A dense layer without bias: `y = W x`.
pub type DenseNoBias<T, const IN: usize, const OUT: usize> = Dense<T, IN, OUT, NoBias>;

/// The bias of a [`Dense`] layer: a vector, or nothing.
pub trait Bias<T: Scalar, const OUT: usize>: Parameters<T> + Zeroed + Clone + Debug {
    /// Adds the bias to every column of `y`.
    fn add_to<const B: usize>(&self, y: &mut SMatrix<T, OUT, B>);
    /// Adds the bias gradient of `dy` (the sum of its columns) to `self`.
    fn accumulate<const B: usize>(&mut self, dy: &SMatrix<T, OUT, B>);
    /// Initialises the bias.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, fan_in: usize, rng: &mut R);
}

/// The absent bias of [`DenseNoBias`]: zero-sized, no parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoBias;

impl<T: Scalar> Parameters<T> for NoBias {
    no_tensors!();
}

impl Zeroed for NoBias {
    fn zeroed() -> Self {
        NoBias
    }
    fn set_zero(&mut self) {}
}

impl<T: Scalar, const OUT: usize> Bias<T, OUT> for NoBias {
    fn add_to<const B: usize>(&self, _: &mut SMatrix<T, OUT, B>) {}
    fn accumulate<const B: usize>(&mut self, _: &SMatrix<T, OUT, B>) {}
    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: usize, _: &mut R) {}
}

/// A matrix is one tensor.
impl<T: Scalar, const R: usize, const C: usize> Parameters<T> for SMatrix<T, R, C> {
    const COUNT: usize = R * C;
    const TENSORS: usize = 1;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        (i == 0).then(|| self.as_slice())
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        (i == 0).then(|| self.as_mut_slice())
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        core::iter::once(self.as_mut_slice())
    }
}

impl<T: Scalar, const OUT: usize> Bias<T, OUT> for SVector<T, OUT> {
    fn add_to<const B: usize>(&self, y: &mut SMatrix<T, OUT, B>) {
        // Plain array loops: nalgebra's column views add element by element.
        let [b] = &self.data.0;
        for col in y.data.0.iter_mut() {
            let col: &mut [T; OUT] = kernels::opaque::<B, _>(col);
            kernels::each_pair(col, b, |v, &bi| *v += bi);
        }
    }
    fn accumulate<const B: usize>(&mut self, dy: &SMatrix<T, OUT, B>) {
        let [acc] = &mut self.data.0;
        if kernels::SCALAR_TILES {
            // Four sums kept in registers over the samples (same order of additions): without
            // vector registers, a load and a store per sample saved.
            let mut quads = acc.chunks_exact_mut(4);
            let mut i = 0;
            for quad in &mut quads {
                if let [a0, a1, a2, a3] = quad {
                    for col in dy.data.0.iter() {
                        if let Some(&[d0, d1, d2, d3]) =
                            col.get(i..).and_then(|c| c.first_chunk::<4>())
                        {
                            *a0 += d0;
                            *a1 += d1;
                            *a2 += d2;
                            *a3 += d3;
                        }
                    }
                }
                i = i.wrapping_add(4);
            }
            for a in quads.into_remainder() {
                *a = dy
                    .data
                    .0
                    .iter()
                    .fold(*a, |s, col| s + col.get(i).copied().unwrap_or(T::zero()));
                i = i.wrapping_add(1);
            }
        } else {
            for col in dy.data.0.iter() {
                let col: &[T; OUT] = kernels::opaque::<B, _>(col);
                for (a, &d) in acc.iter_mut().zip(col) {
                    *a += d;
                }
            }
        }
    }
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, fan_in: usize, rng: &mut R) {
        init.fill_bias(self.as_mut_slice(), fan_in, rng);
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> Dense<T, IN, OUT, B> {
    /// A layer initialised with `init`, drawing from `rng`.
    ///
    /// Builds the layer on the stack; for large layers in `static` storage, use
    /// [`Model::init`] on the stored value instead.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// let mut rng = SplitMix64::new(42);
    /// let layer: Dense<f32, 784, 10> = Dense::new(Init::PyTorchDefault, &mut rng);
    /// let bound = 1.0 / 784f32.sqrt(); // as torch.nn.Linear(784, 10)
    /// assert!(layer.weight.iter().chain(layer.bias.iter()).all(|w| w.abs() <= bound));
    /// ```
    pub fn new<R: RngCore + ?Sized>(init: Init, rng: &mut R) -> Self {
        let mut layer = Self::zeroed();
        Model::init(&mut layer, init, rng);
        layer
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> Zeroed
    for Dense<T, IN, OUT, B>
{
    fn zeroed() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: B::zeroed(),
        }
    }
    fn set_zero(&mut self) {
        self.weight.set_zero();
        self.bias.set_zero();
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> Default
    for Dense<T, IN, OUT, B>
{
    /// All weights and biases zero; call [`Model::init`] before training.
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> Parameters<T>
    for Dense<T, IN, OUT, B>
{
    const COUNT: usize = IN * OUT + B::COUNT;
    const TENSORS: usize = 1 + B::TENSORS;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        match split_index(i, 1) {
            Ok(_) => Some(self.weight.as_slice()),
            Err(i) => self.bias.tensor(i),
        }
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        match split_index(i, 1) {
            Ok(_) => Some(self.weight.as_mut_slice()),
            Err(i) => self.bias.tensor_mut(i),
        }
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        core::iter::once(self.weight.as_mut_slice()).chain(self.bias.tensors_mut())
    }
}

/// `weight` `[OUT, IN]` (stored column by column) and, with a bias, `bias` `[OUT]`, as
/// `torch.nn.Linear`.
impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> StateDict<T>
    for Dense<T, IN, OUT, B>
{
    const ENTRIES: usize = 1 + B::TENSORS;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        let weight = Values::Float(self.weight.as_slice());
        entry(
            prefix,
            "weight",
            Shape::matrix(OUT, IN),
            Kind::Parameter,
            Layout::ColumnMajor,
            weight,
            f,
        )?;
        match self.bias.tensor(0) {
            Some(b) => entry(
                prefix,
                "bias",
                Shape::vector(OUT),
                Kind::Parameter,
                Layout::RowMajor,
                Values::Float(b),
                f,
            ),
            None => Ok(()),
        }
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        let weight = ValuesMut::Float(self.weight.as_mut_slice());
        entry(
            prefix,
            "weight",
            Shape::matrix(OUT, IN),
            Kind::Parameter,
            Layout::ColumnMajor,
            weight,
            f,
        )?;
        match self.bias.tensor_mut(0) {
            Some(b) => entry(
                prefix,
                "bias",
                Shape::vector(OUT),
                Kind::Parameter,
                Layout::RowMajor,
                ValuesMut::Float(b),
                f,
            ),
            None => Ok(()),
        }
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize, B: Bias<T, OUT>> Model<T>
    for Dense<T, IN, OUT, B>
{
    type Grads = Self;
    no_buffers!();
    describe_leaf!("Linear", |_input| crate::io::Shape::vector(OUT));
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill_weights(self.weight.as_mut_slice(), IN, OUT, rng);
        self.bias.init(init, IN, rng);
    }
}

impl<T, const IN: usize, const OUT: usize, const BATCH: usize, B> Layer<T, SMatrix<T, IN, BATCH>>
    for Dense<T, IN, OUT, B>
where
    T: Scalar,
    B: Bias<T, OUT>,
{
    type Output = SMatrix<T, OUT, BATCH>;
    type Cache = SMatrix<T, OUT, BATCH>;

    fn forward(&self, x: &SMatrix<T, IN, BATCH>, y: &mut Self::Output) {
        nonempty_batch::<BATCH>();
        kernels::matmul(&self.weight.data.0, &x.data.0, &mut y.data.0);
        self.bias.add_to(y);
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, IN, BATCH>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward(x, cache);
        cache
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, IN, BATCH>,
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
        x: &SMatrix<T, IN, BATCH>,
        _cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut SMatrix<T, IN, BATCH>>,
        grads: Option<&mut Self>,
    ) {
        if let Some(grads) = grads {
            // dW += dy · xᵀ, summed over the samples in order; no transposed copy of anything.
            kernels::add_matmul_bt(&mut grads.weight.data.0, &dy.data.0, &x.data.0);
            grads.bias.accumulate(dy);
        }
        if let Some(dx) = dx {
            // dx = Wᵀ dy: dot products of the columns of W with those of dy.
            kernels::matmul_at(&self.weight.data.0, &dy.data.0, &mut dx.data.0);
        }
    }
}
