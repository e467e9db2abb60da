use rand_core::RngCore;

use crate::io::{Shape, StateDict};
use crate::{Error, Init, Scalar, Zeroed};

/// The trainable tensors of a model, its gradients or an optimizer's state, visited in a fixed
/// order.
///
/// A model and its gradient type visit tensors of the same lengths in the same order, which is
/// what lets an optimizer walk both together. Tensors can be taken one at a time by index
/// ([`Parameters::tensor`]), which is how the library's loops walk several values of different
/// types together without stepping chained iterators.
///
/// ```
/// use tinyprop::prelude::*;
/// let net: (Dense<f32, 3, 2>, Relu, Dense<f32, 2, 1>) = Default::default();
/// let lengths: Vec<usize> = net.tensors().map(|t| t.len()).collect();
/// assert_eq!(lengths, [6, 2, 2, 1]); // weight, bias, weight, bias
/// assert_eq!(<(Dense<f32, 3, 2>, Relu, Dense<f32, 2, 1>) as Parameters<f32>>::COUNT, 11);
/// ```
pub trait Parameters<T: Scalar> {
    /// The number of scalars over all tensors.
    const COUNT: usize;
    /// The number of tensors.
    const TENSORS: usize;
    /// Tensor `i` of the fixed order; `None` for `i >= TENSORS`.
    fn tensor(&self, i: usize) -> Option<&[T]>;
    /// Tensor `i`, mutable; `None` for `i >= TENSORS`.
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]>;
    /// The tensors, in order.
    fn tensors(&self) -> impl Iterator<Item = &[T]> {
        (0..Self::TENSORS).map_while(move |i| self.tensor(i))
    }
    /// The same tensors, mutable, in the same order.
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]>;
    /// Sets every element of every tensor to `value`.
    fn fill(&mut self, value: T) {
        for i in 0..Self::TENSORS {
            if let Some(t) = self.tensor_mut(i) {
                t.fill(value);
            }
        }
    }
    /// `true` when no element is NaN or infinite.
    fn all_finite(&self) -> bool {
        // `v · 0` is `±0` for every finite `v` and NaN for an infinite or NaN one, so the sum of
        // these is `0` exactly when all are finite. Summed in independent lanes without an
        // early exit, this runs at vector speed (a test per element with an early exit does
        // not vectorize).
        let zero = T::zero();
        lane_sum(self, |v| v * zero) == zero
    }
    /// Copies every element from `other`, a value of the same type (element by element, so a
    /// tensor of another length is copied as far as both reach rather than panicking).
    fn copy_from(&mut self, other: &Self) {
        for i in 0..Self::TENSORS {
            if let (Some(dst), Some(src)) = (self.tensor_mut(i), other.tensor(i)) {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s;
                }
            }
        }
    }
}

/// The gradient type of a network: what an optimizer's state mirrors, so its type parameter.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::GradsOf;
/// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 3>);
/// // Relu has no parameters, so no gradients: `()` in its place.
/// let opt: Adam<f32, GradsOf<Net>> = Adam::new(AdamConfig::default())?;
/// // Two buffers the size of the gradients (`(4 * 8 + 8 + 8 * 3 + 3) * 4` bytes, padded in
/// // builds with AVX: see `Dense`'s layout) and the step counter.
/// let (size, align) = (core::mem::size_of::<GradsOf<Net>>(), core::mem::align_of::<GradsOf<Net>>());
/// assert_eq!(Adam::<f32, GradsOf<Net>>::STATE_BYTES, (2 * size + 4).next_multiple_of(align));
/// # Ok::<(), Error>(())
/// ```
pub type GradsOf<M, T = f32> = <M as Model<T>>::Grads;

/// A model: parameters, a gradient type that mirrors them, and initialisation.
///
/// Independent of the input type, so of the batch size: the same model and gradients serve
/// batches of any size.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 3, 4>, BatchNorm<f32, 4>, Relu, Dense<f32, 4, 2>);
/// let mut net = Net::default();
/// net.init(Init::HeNormal, &mut SplitMix64::new(0)); // every layer, in order
/// // The gradients mirror the trainable tensors (Relu has none), for any batch size.
/// type Grads = <Net as Model<f32>>::Grads;
/// assert_eq!(<Grads as Parameters<f32>>::COUNT, <Net as Parameters<f32>>::COUNT);
/// // The buffers: what training changes besides the weights (BatchNorm's running statistics).
/// let mut saved = <Net as Model<f32>>::Buffers::zeroed();
/// net.save_buffers(&mut saved);
/// net.1.running_mean[0] = 5.0;
/// net.restore_buffers(&saved);
/// assert_eq!(net.1.running_mean[0], 0.0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tinyprop model over `{T}`",
    label = "not a model over `{T}`"
)]
pub trait Model<T: Scalar>: Parameters<T> + StateDict<T> {
    /// Gradients: one tensor per trainable tensor of the model, same lengths, same order (and
    /// the same names, which an optimizer's saved state uses).
    type Grads: Parameters<T> + StateDict<T> + Zeroed;
    /// A copy of what training changes besides the parameters: running statistics, the state
    /// of a random generator. `()` for layers without any. A training step saves it before
    /// it starts and puts it back if the step fails, so that a failed step changes nothing.
    type Buffers: Zeroed;

    /// Re-initialises every trainable tensor in place with `init`, drawing from `rng`.
    /// Layers without parameters do nothing.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R);
    /// Copies the buffers into `saved`.
    fn save_buffers(&self, saved: &mut Self::Buffers);
    /// Puts back buffers copied by [`Model::save_buffers`].
    fn restore_buffers(&mut self, saved: &Self::Buffers);
    /// `true` when every number in the buffers is finite (always, without buffers).
    fn buffers_finite(&self) -> bool {
        true
    }

    /// The rows of a model summary ([`crate::summary`]): calls `row` for this layer (a chain:
    /// for each of its layers, named as in its `state_dict`), given the shape of one input
    /// sample, and returns the shape of one output sample. The default is one row named after
    /// the type, the output shaped like the input; the library's layers say more.
    fn describe(
        &self,
        name: &str,
        input: Shape,
        row: &mut dyn FnMut(&LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error>
    where
        Self: Sized,
    {
        let path = core::any::type_name::<Self>();
        let short = path.split('<').next().unwrap_or(path);
        let kind = short.rsplit("::").next().unwrap_or(short);
        row(&LayerRow::leaf::<T, Self>(name, kind, input, true))?;
        Ok(input)
    }
}

/// `parent.part` (or `part` for an empty parent) in `buf`, for the rows of a model's parts.
pub(crate) fn child_name<'b>(
    buf: &'b mut crate::io::Name,
    parent: &str,
    part: &str,
) -> Result<&'b str, core::fmt::Error> {
    buf.clear();
    if !parent.is_empty() {
        buf.push_str(parent).map_err(|_| core::fmt::Error)?;
        buf.push('.').map_err(|_| core::fmt::Error)?;
    }
    buf.push_str(part).map_err(|_| core::fmt::Error)?;
    Ok(buf.as_str())
}

/// One row of a model summary ([`Model::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRow<'a> {
    /// The layer's `state_dict` prefix (`0`, `1.0`, …; empty for a model of one layer).
    pub name: &'a str,
    /// What it is, in PyTorch's words (`Linear`, `ReLU`, `BatchNorm1d`, …).
    pub kind: &'a str,
    /// The shape of one output sample.
    pub output: Shape,
    /// Its parameters (scalars).
    pub parameters: usize,
    /// Its bytes (parameters and buffers).
    pub bytes: usize,
    /// Whether its parameters are trained (`false` inside [`Frozen`](crate::Frozen)).
    pub trainable: bool,
}

impl<'a> LayerRow<'a> {
    /// The row of a layer `M` with no parts: its parameter count and size from its type.
    pub fn leaf<T: Scalar, M: Parameters<T>>(
        name: &'a str,
        kind: &'a str,
        output: Shape,
        trainable: bool,
    ) -> Self {
        Self {
            name,
            kind,
            output,
            parameters: M::COUNT,
            bytes: core::mem::size_of::<M>(),
            trainable,
        }
    }
}

/// [`Model::describe`] for a layer with no parts: one row of `kind`, the output shaped by
/// `$output` (an expression of `input`).
macro_rules! describe_leaf {
    ($kind:expr, |$input:ident| $output:expr) => {
        fn describe(
            &self,
            name: &str,
            $input: $crate::io::Shape,
            row: &mut dyn FnMut(&$crate::layer::LayerRow<'_>) -> core::fmt::Result,
        ) -> Result<$crate::io::Shape, core::fmt::Error> {
            let output = $output;
            row(&$crate::layer::LayerRow::leaf::<T, Self>(
                name, $kind, output, true,
            ))?;
            Ok(output)
        }
    };
}
pub(crate) use describe_leaf;

/// `Buffers = ()` and its two methods, for a [`Model`] without buffers.
macro_rules! no_buffers {
    () => {
        type Buffers = ();
        fn save_buffers(&self, _: &mut ()) {}
        fn restore_buffers(&mut self, _: &()) {}
    };
}
pub(crate) use no_buffers;

/// A layer (or a chain of layers) that maps an input `X` to [`Layer::Output`].
///
/// `X` is usually a batch `SMatrix<T, WIDTH, BATCH>`. Layers write into caller-owned buffers:
/// [`Layer::forward`] for inference, [`Layer::forward_train`] into a [`Layer::Cache`] that keeps
/// what [`Layer::backward`] needs.
///
/// Backward *accumulates* into the gradients (as PyTorch does), so gradients of several batches
/// can be summed before one optimizer step; zero them before a fresh step.
///
/// ```
/// use tinyprop::prelude::*;
/// // y = W x + b on one sample, by hand through the trait (what train_step does for a network).
/// let mut layer = Dense::<f64, 2, 1>::default();
/// layer.weight = SMatrix::from([[1.0], [2.0]]);
/// let x = SMatrix::<f64, 2, 1>::new(3.0, 4.0);
/// let mut y = SMatrix::<f64, 1, 1>::zeros();
/// layer.forward(&x, &mut y); // inference, into a caller's buffer
/// assert_eq!(y[0], 11.0);
///
/// // Training: forward into a cache, then backward from dL/dy.
/// let mut cache = SMatrix::<f64, 1, 1>::zeros(); // a Dense layer's cache is its output
/// layer.forward_train(&x, &mut cache);
/// let mut dy = SMatrix::<f64, 1, 1>::new(1.0);
/// let mut dx = SMatrix::<f64, 2, 1>::zeros();
/// let mut grads: Dense<f64, 2, 1> = Zeroed::zeroed();
/// layer.backward(&x, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
/// assert_eq!(grads.weight, SMatrix::from([[3.0], [4.0]])); // dy · xᵀ, added to grads
/// assert_eq!(dx, SMatrix::<f64, 2, 1>::new(1.0, 2.0)); // Wᵀ dy
/// ```
#[diagnostic::on_unimplemented(
    message = "layer `{Self}` cannot take input `{X}`",
    label = "this layer does not accept `{X}`",
    note = "the input's width (the first dimension of the matrix) must equal the layer's input width"
)]
pub trait Layer<T: Scalar, X>: Model<T> {
    /// The output of a forward pass.
    type Output: Zeroed;
    /// What the training forward pass keeps for backward: at least the output.
    type Cache: Zeroed;
    /// Bytes of temporaries that [`Layer::forward`] keeps on the stack (the outputs between
    /// the layers of a chain); 0 for a single layer.
    const FORWARD_STACK_BYTES: usize = 0;

    /// Inference: computes the output of `x` into `y`. Layers with a training mode (dropout,
    /// batch normalisation) run in inference mode here.
    fn forward(&self, x: &X, y: &mut Self::Output);

    /// Training forward pass: fills `cache` and returns the output kept in it.
    fn forward_train<'c>(&mut self, x: &X, cache: &'c mut Self::Cache) -> &'c Self::Output;

    /// Inference mode with a cache for backward, changing nothing in the layer (no running
    /// statistics, no random draws): the training forward pass of a frozen layer
    /// ([`Frozen`](crate::Frozen)), whose backward then differentiates the inference function.
    fn forward_frozen<'c>(&self, x: &X, cache: &'c mut Self::Cache) -> &'c Self::Output;

    /// The output kept in a cache filled by [`Layer::forward_train`].
    fn output(cache: &Self::Cache) -> &Self::Output;

    /// Backpropagation: given the input `x` and the cache of the matching
    /// [`Layer::forward_train`] (or [`Layer::forward_frozen`]), and `dy`, the gradient of the
    /// loss with respect to the output, adds the parameter gradients to `grads` (skipped when
    /// `grads` is `None`, as for a frozen layer) and writes the input gradient into `dx`
    /// (skipped when `dx` is `None`, as for the first layer). `dy` and the cache may be used
    /// as scratch and hold unspecified values afterwards.
    fn backward(
        &self,
        x: &X,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut X>,
        grads: Option<&mut Self::Grads>,
    );

    /// Inference that refuses NaN and infinities: [`Error::NonFiniteInput`] (and `y` is not
    /// written) if `x` holds one, [`Error::NonFiniteOutput`] if the output does (`y` then
    /// holds that output). Layers propagate NaN as PyTorch does, so a NaN in the input or the
    /// weights shows in the output instead of passing as a confident prediction.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// let net = (Dense::<f32, 2, 3>::default(), Relu);
    /// let mut y = SMatrix::<f32, 3, 1>::zeros();
    /// assert!(net.forward_checked(&SMatrix::from([[1.0, 2.0]]), &mut y).is_ok());
    /// let nan = SMatrix::<f32, 2, 1>::new(f32::NAN, 0.0);
    /// assert_eq!(net.forward_checked(&nan, &mut y), Err(Error::NonFiniteInput));
    /// ```
    fn forward_checked(&self, x: &X, y: &mut Self::Output) -> Result<(), Error>
    where
        X: Parameters<T>,
        Self::Output: Parameters<T>,
    {
        if !x.all_finite() {
            return Err(Error::NonFiniteInput);
        }
        self.forward(x, y);
        if y.all_finite() {
            Ok(())
        } else {
            Err(Error::NonFiniteOutput)
        }
    }
}

/// The sum of the absolute values of every element of `p`: at least the magnitude of each
/// element (floating-point addition of non-negative numbers never decreases a sum), NaN or
/// infinite if an element is, and possibly infinite for finite elements near the largest
/// finite value. Summed in independent lanes, so it runs at vector speed.
pub(crate) fn abs_sum<T: Scalar, P: Parameters<T> + ?Sized>(p: &P) -> T {
    lane_sum(p, |v| v.abs())
}

/// The sum of `f(v)` over every element `v` of `p`, in 16 independent lanes (in the order of
/// the elements within each lane, then the lanes pairwise), so that it runs at vector speed.
#[inline(always)]
fn lane_sum<T: Scalar, P: Parameters<T> + ?Sized>(p: &P, f: impl Fn(T) -> T) -> T {
    // Without vector registers (microcontrollers), one sum: lanes kept in memory would cost a
    // load and a store per element.
    const LANES: usize = if crate::kernels::VECTOR_BYTES == 8 {
        1
    } else {
        16
    };
    let zero = T::zero();
    if LANES == 1 {
        // One sum in order, four elements per trip through the loop.
        let mut sum = zero;
        for t in (0..P::TENSORS).filter_map(|i| p.tensor(i)) {
            let mut chunks = t.chunks_exact(4);
            for chunk in &mut chunks {
                if let [a, b, c, d] = *chunk {
                    sum = sum + f(a) + f(b) + f(c) + f(d);
                }
            }
            for &v in chunks.remainder() {
                sum += f(v);
            }
        }
        return sum;
    }
    // With 512-bit registers, the lanes in two arrays of 8 (see [`add_lanes`]).
    const HIGH: usize = if cfg!(target_feature = "avx512f") {
        8
    } else {
        0
    };
    let (mut low, mut high) = (Aligned([zero; LANES - HIGH]), Aligned([zero; HIGH]));
    let mut rest = zero;
    // By index: over `(0..P::TENSORS).filter_map(..)`, the AVX-512 build kept a loop (each trip
    // looking its tensor up, then the call) where the AVX2 build made the calls one after the
    // other, and `mlp-4-16-3-b1-sgd` ran 3 % slower.
    for i in 0..P::TENSORS {
        if let Some(t) = p.tensor(i) {
            add_lanes(t, &mut low.0, &mut high.0, &mut rest, &f);
        }
    }
    // The lanes added pairwise (lane `i` and lane `i + 8` first): a chain of 4 dependent
    // additions, not 16.
    for (l, &h) in low.0.iter_mut().zip(&high.0) {
        *l += h;
    }
    rest + crate::kernels::horizontal_sum(low.0)
}

/// An array on a 64-byte boundary: [`lane_sum`]'s lanes pass through memory from one tensor to
/// the next as one vector (one 64-byte store, then one load); where the stack placed them across
/// two cache lines, that round trip cost the `mlp-4-16-3-b1-sgd` line a quarter of its speed in
/// AVX-512 builds, in one run out of two (the stack's start moves from run to run).
#[repr(C, align(64))]
struct Aligned<A>(A);

/// `f` of the elements of `t` added to the lanes `low` then `high`, element `i` of each block
/// of `L + H` to lane `i`, and those after the last block to `rest`, in order. A function of
/// its own, called once per tensor: inlined into the loop over a model's tensors, whose shapes
/// it then sees, the loop over the lanes was vectorized two elements at a time in AVX-512
/// builds. There the 16 lanes of `f32` are two arrays of 8 (`H = 8`), each passed through
/// memory as a 32-byte vector: as one 64-byte vector (`H = 0`, as elsewhere), whose halves are
/// then loaded from it in pieces, the `mlp-4-16-3-b1-sgd` line ran 3 % slower (and with the
/// split 2 % slower in the AVX2 build, 1 % in the default one).
#[inline(never)]
fn add_lanes<T: Scalar, const L: usize, const H: usize>(
    t: &[T],
    low: &mut [T; L],
    high: &mut [T; H],
    rest: &mut T,
    f: &impl Fn(T) -> T,
) {
    let mut chunks = t.chunks_exact(L.saturating_add(H));
    for chunk in &mut chunks {
        if let Some((a, b)) = chunk.split_first_chunk::<L>() {
            for (x, &v) in low.iter_mut().zip(a) {
                *x += f(v);
            }
            if let Some(b) = b.first_chunk::<H>() {
                for (x, &v) in high.iter_mut().zip(b) {
                    *x += f(v);
                }
            }
        }
    }
    for &v in chunks.remainder() {
        *rest += f(v);
    }
}

/// Fails the build (when the function that calls it is instantiated) for a batch of `B = 0`
/// samples, which has no loss, no gradient and no accuracy.
#[inline(always)]
#[allow(clippy::disallowed_macros)] // a build-time check, not a panic at run time
pub(crate) fn nonempty_batch<const B: usize>() {
    const {
        assert!(
            B > 0,
            "a batch must hold at least one sample: the batch size B is 0"
        )
    }
}

/// No tensors: the gradients of a layer without parameters.
impl<T: Scalar> Parameters<T> for () {
    no_tensors!();
}

impl<T: Scalar> crate::io::StateDict<T> for () {
    crate::io::names::no_state_dict!();
}

/// The items of [`Parameters`] for a type without tensors.
macro_rules! no_tensors {
    () => {
        const COUNT: usize = 0;
        const TENSORS: usize = 0;
        fn tensor(&self, _: usize) -> Option<&[T]> {
            None
        }
        fn tensor_mut(&mut self, _: usize) -> Option<&mut [T]> {
            None
        }
        fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
            core::iter::empty()
        }
    };
}
pub(crate) use no_tensors;

/// The items of [`Parameters`] for a type whose tensors are those of one field:
/// `tensors_of_field!(affine: Affine<T, N>)`.
macro_rules! tensors_of_field {
    ($field:tt : $P:ty) => {
        const COUNT: usize = <$P as Parameters<T>>::COUNT;
        const TENSORS: usize = <$P as Parameters<T>>::TENSORS;
        fn tensor(&self, i: usize) -> Option<&[T]> {
            self.$field.tensor(i)
        }
        fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
            self.$field.tensor_mut(i)
        }
        fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
            self.$field.tensors_mut()
        }
    };
}
pub(crate) use tensors_of_field;

/// Tensor `i` of a value whose tensors are those of `first` (`first_count` of them) then those
/// of `then`: the index into `then` is `i - first_count`.
#[inline(always)]
pub(crate) fn split_index(i: usize, first_count: usize) -> Result<usize, usize> {
    match i.checked_sub(first_count) {
        None => Ok(i),
        Some(rest) => Err(rest),
    }
}
