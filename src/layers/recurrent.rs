//! Recurrent layers: [`Rnn`] (tanh or ReLU), [`Gru`] and [`Lstm`], with exact
//! backpropagation through time, and the sequence type they read and write ([`Seq`]).
//!
//! A batch of `B` sequences of `L` steps of width `N` is a [`Seq<T, N, L, B>`]: one
//! `SMatrix<T, N, B>` per step (one column per sample). A recurrent layer maps a
//! `Seq<T, IN, L, B>` to the `Seq<T, H, L, B>` of its hidden states at every step; the layer
//! type does not depend on `L` or `B`, its cache does (so the memory of backpropagation through
//! time is a constant fixed by the sequence length). [`Sequence`] reads a flat batch (a column
//! of `L·N` values, step-major, as a data set's rows) as a sequence, and [`LastStep`] keeps
//! the last step only, so `(Sequence<8, 8>, Gru<f32, 8, 32>, LastStep, Dense<f32, 32, 10>)` is
//! a classifier of 8×8 images read row by row.
//!
//! The equations, gate order, parameter layout and names are PyTorch's (`nn.RNN`, `nn.GRU`,
//! `nn.LSTM` with one layer, `batch_first` or not): with `x` the input of a step, `h` the
//! hidden state of the previous step and `σ` the logistic function,
//!
//! | layer | gates (in `weight_ih_l0`'s row order) | new state |
//! | --- | --- | --- |
//! | [`Rnn`] | `a = W_ih x + b_ih + W_hh h + b_hh` | `h' = tanh(a)` (or `relu(a)`) |
//! | [`Gru`] | `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`, `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))` | `h' = (1 - z) ⊙ n + z ⊙ h` |
//! | [`Lstm`] | `i = σ(…)`, `f = σ(…)`, `g = tanh(…)`, `o = σ(…)`, each `W_i· x + b_i· + W_h· h + b_h·` | `c' = f ⊙ c + i ⊙ g`, `h' = o ⊙ tanh(c')` |
//!
//! The initial hidden (and cell) state is zero for [`Layer::forward`]; training starts from
//! the state in the cache ([`RecurrentCache::h0`], [`RecurrentCache::c0`], zero unless set),
//! and backward leaves the gradients of the initial state in [`RecurrentCache::dh0`] and
//! [`RecurrentCache::dc0`]. [`RecurrentCache::carry`] makes the final state the next window's
//! initial state: truncated backpropagation through time on an endless stream, the gradient
//! stopping at the window boundary. Inference on a stream carries a [`State`] across calls
//! ([`Recurrent::forward_from`]).
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::layers::{LastStep, Seq, Sequence};
//! // 3 steps of 2 values per sample, 4 hidden units, a linear read-out of the last step.
//! type Net = (Sequence<2, 3>, Gru<f64, 2, 4>, LastStep, Dense<f64, 4, 1>);
//! let mut net = Net::default();
//! net.init(Init::PyTorchDefault, &mut SplitMix64::new(1));
//! let x = SMatrix::<f64, 6, 5>::from_fn(|r, c| ((r + c) as f64).sin());
//! let t = SMatrix::<f64, 1, 5>::from_element(0.5);
//! let mut opt = Adam::new(AdamConfig::default()).unwrap();
//! let mut ws = Workspace::<f64, _, Net>::new();
//! let first = train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws).unwrap();
//! let mut last = first;
//! for _ in 0..200 {
//!     last = train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws).unwrap();
//! }
//! assert!(last < first / 10.0);
//! ```

use core::fmt::Debug;
use core::marker::PhantomData;
use core::mem::size_of;

use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::io::{entry, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{no_buffers, no_tensors, nonempty_batch, LayerRow};
use crate::math::{sigmoid, tanh};
use crate::{Error, Init, Layer, Model, Parameters, Relu, Scalar, Tanh, Zeroed};

/// One matrix of `H × B` values, column by column (a sample a column): the storage of an
/// `SMatrix<T, H, B>`.
type Cols<T, const H: usize, const B: usize> = [[T; H]; B];

// ------------------------------------------------------------------------------- sequences

/// A batch of `B` sequences of `L` steps of width `N`: step `t` is `steps[t]`, an
/// `SMatrix<T, N, B>` with one column per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Seq<T: Scalar, const N: usize, const L: usize, const B: usize> {
    /// The steps, in time order.
    pub steps: [SMatrix<T, N, B>; L],
}

impl<T: Scalar, const N: usize, const L: usize, const B: usize> Seq<T, N, L, B> {
    /// The sequences whose column `b` is sample `b` read step-major: step `t` is rows
    /// `t·N .. (t+1)·N` of `x`. `NL` must be `N·L` (checked when the program is built).
    pub fn from_flat<const NL: usize>(x: &SMatrix<T, NL, B>) -> Self {
        let mut seq = Self::zeroed();
        seq.copy_from_flat(x);
        seq
    }

    /// [`Seq::from_flat`] into `self`.
    pub fn copy_from_flat<const NL: usize>(&mut self, x: &SMatrix<T, NL, B>) {
        flat_width::<N, L, NL>();
        for (b, col) in x.data.0.iter().enumerate() {
            for (step, chunk) in self.steps.iter_mut().zip(col.chunks_exact(N)) {
                if let Some(dst) = step.data.0.get_mut(b) {
                    for (d, &v) in dst.iter_mut().zip(chunk) {
                        *d = v;
                    }
                }
            }
        }
    }

    /// Writes the sequences into `x` step-major (the inverse of [`Seq::from_flat`]).
    pub fn write_flat<const NL: usize>(&self, x: &mut SMatrix<T, NL, B>) {
        flat_width::<N, L, NL>();
        for (b, col) in x.data.0.iter_mut().enumerate() {
            for (step, chunk) in self.steps.iter().zip(col.chunks_exact_mut(N)) {
                if let Some(src) = step.data.0.get(b) {
                    for (d, &v) in chunk.iter_mut().zip(src) {
                        *d = v;
                    }
                }
            }
        }
    }

    /// The last step (`None` for `L = 0`).
    pub fn last(&self) -> Option<&SMatrix<T, N, B>> {
        self.steps.last()
    }
}

/// Fails the build unless `NL = N·L`.
#[inline(always)]
#[allow(clippy::disallowed_macros)] // a build-time check, not a panic at run time
fn flat_width<const N: usize, const L: usize, const NL: usize>() {
    const {
        assert!(
            N > 0 && N.checked_mul(L).is_some() && NL == N * L,
            "a flat sequence of L steps of width N > 0 has N·L rows"
        )
    }
}

impl<T: Scalar, const N: usize, const L: usize, const B: usize> Zeroed for Seq<T, N, L, B> {
    fn zeroed() -> Self {
        Self {
            steps: [SMatrix::zeros(); L],
        }
    }
    fn set_zero(&mut self) {
        for s in self.steps.iter_mut() {
            s.fill(T::zero());
        }
    }
}

/// One tensor per step.
impl<T: Scalar, const N: usize, const L: usize, const B: usize> Parameters<T> for Seq<T, N, L, B> {
    const COUNT: usize = N * L * B;
    const TENSORS: usize = L;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        self.steps.get(i).map(|s| s.as_slice())
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        self.steps.get_mut(i).map(|s| s.as_mut_slice())
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        self.steps.iter_mut().map(|s| s.as_mut_slice())
    }
}

/// The number of steps of a sequence sample's [`Shape`] (`[L, N]`), 1 for other shapes.
fn steps_of(input: Shape) -> usize {
    match input.dims() {
        [l, _] => *l,
        _ => 1,
    }
}

/// Reads a flat batch `SMatrix<T, NL, B>` (each column `L` steps of `N` values, step-major)
/// as a [`Seq<T, N, L, B>`], like `x.view(batch, L, N)` in PyTorch. No parameters.
///
/// `NL` is inferred from the input and must be `N·L` (checked when the program is built).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequence<const N: usize, const L: usize>;

/// Keeps the last step of a sequence: `Seq<T, N, L, B>` to `SMatrix<T, N, B>` (PyTorch's
/// `output[:, -1]`). For a recurrent layer before it, that is the final hidden state. No
/// parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastStep;

macro_rules! no_parameters {
    ($ty:ty, [$($g:tt)*], $kind:expr, |$input:ident| $output:expr) => {
        impl<T: Scalar, $($g)*> Parameters<T> for $ty {
            no_tensors!();
        }
        impl<T: Scalar, $($g)*> StateDict<T> for $ty {
            crate::io::names::no_state_dict!();
        }
        impl<T: Scalar, $($g)*> Model<T> for $ty {
            type Grads = ();
            no_buffers!();
            fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
            fn describe(
                &self,
                name: &str,
                $input: Shape,
                row: &mut dyn FnMut(&LayerRow<'_>) -> core::fmt::Result,
            ) -> Result<Shape, core::fmt::Error> {
                let output = $output;
                row(&LayerRow::leaf::<T, Self>(name, $kind, output, true))?;
                Ok(output)
            }
        }
    };
}

no_parameters!(Sequence<N, L>, [const N: usize, const L: usize], "Unflatten", |_input| {
    Shape::matrix(L, N)
});
no_parameters!(LastStep, [], "LastStep", |input| match input.dims() {
    [_, n] => Shape::vector(*n),
    _ => input,
});

impl<T, const N: usize, const L: usize, const NL: usize, const B: usize> Layer<T, SMatrix<T, NL, B>>
    for Sequence<N, L>
where
    T: Scalar,
{
    type Output = Seq<T, N, L, B>;
    type Cache = Seq<T, N, L, B>;

    fn forward(&self, x: &SMatrix<T, NL, B>, y: &mut Self::Output) {
        y.copy_from_flat(x);
    }
    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, NL, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        cache.copy_from_flat(x);
        cache
    }
    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, NL, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        cache.copy_from_flat(x);
        cache
    }
    fn output(cache: &Self::Cache) -> &Self::Output {
        cache
    }
    fn backward(
        &self,
        _: &SMatrix<T, NL, B>,
        _: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut SMatrix<T, NL, B>>,
        _: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            dy.write_flat(dx);
        }
    }
}

impl<T, const N: usize, const L: usize, const B: usize> Layer<T, Seq<T, N, L, B>> for LastStep
where
    T: Scalar,
{
    type Output = SMatrix<T, N, B>;
    type Cache = SMatrix<T, N, B>;

    fn forward(&self, x: &Seq<T, N, L, B>, y: &mut Self::Output) {
        match x.last() {
            Some(last) => y.copy_from(last),
            None => y.fill(T::zero()),
        }
    }
    fn forward_train<'c>(
        &mut self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        Layer::<T, Seq<T, N, L, B>>::forward(self, x, cache);
        cache
    }
    fn forward_frozen<'c>(
        &self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        Layer::<T, Seq<T, N, L, B>>::forward(self, x, cache);
        cache
    }
    fn output(cache: &Self::Cache) -> &Self::Output {
        cache
    }
    fn backward(
        &self,
        _: &Seq<T, N, L, B>,
        _: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut Seq<T, N, L, B>>,
        _: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            dx.set_zero();
            if let Some(last) = dx.steps.last_mut() {
                last.copy_from(dy);
            }
        }
    }
}

/// Applies a layer to every step of a sequence, with the same weights: `Seq<T, N, L, B>` to
/// `Seq<T, O, L, B>` for a layer from `SMatrix<T, N, B>` to `SMatrix<T, O, B>` (PyTorch applies
/// `nn.Linear` to every step of a `[batch, L, N]` tensor the same way). Its tensors are those of
/// the layer, under the same names; its gradients are summed over the steps.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::layers::{EachStep, FlattenSteps};
/// // A prediction at every step: 4 steps of 1 value in, 4 values out per sample.
/// type Net = (Sequence<1, 4>, Gru<f32, 1, 8>, EachStep<Dense<f32, 8, 1>>, FlattenSteps<4>);
/// let net = Net::default();
/// let mut y = SMatrix::<f32, 4, 2>::zeros();
/// net.forward(&SMatrix::<f32, 4, 2>::zeros(), &mut y);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EachStep<M>(pub M);

/// What [`EachStep`] keeps: the layer's cache of every step, and the output.
#[derive(Debug, Clone, PartialEq)]
pub struct EachStepCache<C, T: Scalar, const O: usize, const L: usize, const B: usize> {
    /// The layer's cache, step by step.
    pub steps: [C; L],
    /// The output.
    pub y: Seq<T, O, L, B>,
}

impl<C: Zeroed, T: Scalar, const O: usize, const L: usize, const B: usize> Zeroed
    for EachStepCache<C, T, O, L, B>
{
    fn zeroed() -> Self {
        Self {
            steps: core::array::from_fn(|_| C::zeroed()),
            y: Seq::zeroed(),
        }
    }
    fn set_zero(&mut self) {
        for c in self.steps.iter_mut() {
            c.set_zero();
        }
        self.y.set_zero();
    }
}

impl<T: Scalar, M: Parameters<T>> Parameters<T> for EachStep<M> {
    crate::layer::tensors_of_field!(0: M);
}

impl<T: Scalar, M: StateDict<T>> StateDict<T> for EachStep<M> {
    const ENTRIES: usize = M::ENTRIES;
    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.0.visit(prefix, f)
    }
    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.0.visit_mut(prefix, f)
    }
}

impl<T: Scalar, M: Model<T>> Model<T> for EachStep<M> {
    type Grads = M::Grads;
    type Buffers = M::Buffers;
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.0.init(init, rng);
    }
    fn save_buffers(&self, saved: &mut Self::Buffers) {
        self.0.save_buffers(saved);
    }
    fn restore_buffers(&mut self, saved: &Self::Buffers) {
        self.0.restore_buffers(saved);
    }
    fn buffers_finite(&self) -> bool {
        self.0.buffers_finite()
    }
    /// The layer's rows, each output shaped `[L, …]`.
    fn describe(
        &self,
        name: &str,
        input: Shape,
        row: &mut dyn FnMut(&LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let (steps, step) = match input.dims() {
            [l, rest @ ..] => (
                *l,
                Shape::new([rest.first().copied().unwrap_or(1), 0, 0, 0], 1),
            ),
            [] => (1, input),
        };
        let per_step = |s: Shape| match s.dims() {
            [n] => Shape::matrix(steps, *n),
            _ => s,
        };
        let out = self.0.describe(name, step, &mut |r| {
            row(&LayerRow {
                output: per_step(r.output),
                ..*r
            })
        })?;
        Ok(per_step(out))
    }
}

impl<T, M, const N: usize, const O: usize, const L: usize, const B: usize> Layer<T, Seq<T, N, L, B>>
    for EachStep<M>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, N, B>, Output = SMatrix<T, O, B>>,
{
    type Output = Seq<T, O, L, B>;
    type Cache = EachStepCache<M::Cache, T, O, L, B>;
    const FORWARD_STACK_BYTES: usize = M::FORWARD_STACK_BYTES;

    fn forward(&self, x: &Seq<T, N, L, B>, y: &mut Self::Output) {
        for (xt, yt) in x.steps.iter().zip(y.steps.iter_mut()) {
            self.0.forward(xt, yt);
        }
    }
    fn forward_train<'c>(
        &mut self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        let steps = cache.steps.iter_mut().zip(cache.y.steps.iter_mut());
        for (xt, (c, yt)) in x.steps.iter().zip(steps) {
            yt.copy_from(self.0.forward_train(xt, c));
        }
        &cache.y
    }
    fn forward_frozen<'c>(
        &self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        let steps = cache.steps.iter_mut().zip(cache.y.steps.iter_mut());
        for (xt, (c, yt)) in x.steps.iter().zip(steps) {
            yt.copy_from(self.0.forward_frozen(xt, c));
        }
        &cache.y
    }
    fn output(cache: &Self::Cache) -> &Self::Output {
        &cache.y
    }
    fn backward(
        &self,
        x: &Seq<T, N, L, B>,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        mut dx: Option<&mut Seq<T, N, L, B>>,
        mut grads: Option<&mut M::Grads>,
    ) {
        let steps = cache.steps.iter_mut().zip(dy.steps.iter_mut());
        for (t, (xt, (c, dyt))) in x.steps.iter().zip(steps).enumerate() {
            let dxt = dx.as_deref_mut().and_then(|dx| dx.steps.get_mut(t));
            self.0.backward(xt, c, dyt, dxt, grads.as_deref_mut());
        }
    }
}

/// The inverse of [`Sequence`]: a `Seq<T, N, L, B>` as a flat batch `SMatrix<T, NL, B>`, each
/// column the `L` steps of a sample one after the other (so that a loss compares every
/// step's output with its target). `NL` must be `N·L` (checked when the program is built).
/// No parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlattenSteps<const NL: usize>;

no_parameters!(FlattenSteps<NL>, [const NL: usize], "Flatten", |_input| {
    Shape::vector(NL)
});

impl<T, const N: usize, const L: usize, const NL: usize, const B: usize> Layer<T, Seq<T, N, L, B>>
    for FlattenSteps<NL>
where
    T: Scalar,
{
    type Output = SMatrix<T, NL, B>;
    type Cache = SMatrix<T, NL, B>;

    fn forward(&self, x: &Seq<T, N, L, B>, y: &mut Self::Output) {
        x.write_flat(y);
    }
    fn forward_train<'c>(
        &mut self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        x.write_flat(cache);
        cache
    }
    fn forward_frozen<'c>(
        &self,
        x: &Seq<T, N, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        x.write_flat(cache);
        cache
    }
    fn output(cache: &Self::Cache) -> &Self::Output {
        cache
    }
    fn backward(
        &self,
        _: &Seq<T, N, L, B>,
        _: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut Seq<T, N, L, B>>,
        _: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            dx.copy_from_flat(dy);
        }
    }
}

// ------------------------------------------------------------------------------- the layers

/// A single-layer recurrent network of `G` gates of `H` units over inputs of width `IN`, with
/// the cell `K`: use the aliases [`Rnn`], [`RnnRelu`], [`Gru`] and [`Lstm`]. Also the type of
/// its gradients.
///
/// The weights are stored as PyTorch has them, row-major: `weight_ih[g][r][c]` is element
/// `[g·H + r, c]` of PyTorch's `weight_ih_l0` (`[G·H, IN]`), and so on for `weight_hh`
/// (`[G·H, H]`), `bias_ih` and `bias_hh` (`[G·H]`). `A` is the number of per-step values the
/// cell keeps besides its gates (the LSTM's cell state, the GRU's `W_hn h + b_hn`).
///
/// In builds with AVX the layer starts on a 64-byte boundary, its size padded to a multiple of
/// 64 bytes (see [`Dense`](crate::Dense)'s layout).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(target_feature = "avx", repr(C, align(64)))]
pub struct Recurrent<T, const IN: usize, const H: usize, const G: usize, const A: usize, K> {
    /// Input weights, gate by gate, each `H × IN` row-major.
    pub weight_ih: [[[T; IN]; H]; G],
    /// Hidden weights, gate by gate, each `H × H` row-major.
    pub weight_hh: [[[T; H]; H]; G],
    /// Input biases, gate by gate.
    pub bias_ih: [[T; H]; G],
    /// Hidden biases, gate by gate.
    pub bias_hh: [[T; H]; G],
    cell: PhantomData<K>,
}

/// The Elman network `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`, as `torch.nn.RNN`.
pub type Rnn<T, const IN: usize, const H: usize> = Recurrent<T, IN, H, 1, 0, RnnCell<Tanh>>;
/// The Elman network with ReLU, as `torch.nn.RNN(nonlinearity='relu')`.
pub type RnnRelu<T, const IN: usize, const H: usize> = Recurrent<T, IN, H, 1, 0, RnnCell<Relu>>;
/// The gated recurrent unit (gates r, z, n), as `torch.nn.GRU`.
pub type Gru<T, const IN: usize, const H: usize> = Recurrent<T, IN, H, 3, 1, GruCell>;
/// Long short-term memory (gates i, f, g, o), as `torch.nn.LSTM`.
pub type Lstm<T, const IN: usize, const H: usize> = Recurrent<T, IN, H, 4, 1, LstmCell>;

/// The cell of [`Rnn`] (`A` = [`Tanh`]) or [`RnnRelu`] (`A` = [`Relu`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RnnCell<A>(PhantomData<A>);
/// The cell of [`Gru`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GruCell;
/// The cell of [`Lstm`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LstmCell;

/// The state a recurrent layer carries from step to step: the hidden state `h` and, for
/// [`Lstm`], the cell state `c` (unused by the others).
#[derive(Debug, Clone, PartialEq)]
pub struct State<T: Scalar, const H: usize, const B: usize> {
    /// The hidden state.
    pub h: SMatrix<T, H, B>,
    /// The cell state ([`Lstm`] only).
    pub c: SMatrix<T, H, B>,
}

impl<T: Scalar, const H: usize, const B: usize> Zeroed for State<T, H, B> {
    fn zeroed() -> Self {
        Self {
            h: SMatrix::zeros(),
            c: SMatrix::zeros(),
        }
    }
    fn set_zero(&mut self) {
        self.h.fill(T::zero());
        self.c.fill(T::zero());
    }
}

mod sealed {
    pub trait Sealed {}
    impl<A> Sealed for super::RnnCell<A> {}
    impl Sealed for super::GruCell {}
    impl Sealed for super::LstmCell {}
    impl Sealed for crate::Tanh {}
    impl Sealed for crate::Relu {}
}

/// The nonlinearity of an [`Rnn`]: [`Tanh`] or [`Relu`].
pub trait RnnActivation: sealed::Sealed + Debug + Clone + Copy + Default + PartialEq {
    /// The activation of `a`.
    fn apply<T: Scalar>(a: T) -> T;
    /// Its derivative, from the output `y`.
    fn derivative<T: Scalar>(y: T) -> T;
}

impl RnnActivation for Tanh {
    fn apply<T: Scalar>(a: T) -> T {
        tanh(a)
    }
    fn derivative<T: Scalar>(y: T) -> T {
        T::one() - y * y
    }
}

impl RnnActivation for Relu {
    fn apply<T: Scalar>(a: T) -> T {
        // NaN stays NaN, as in PyTorch.
        if a <= T::zero() {
            T::zero()
        } else {
            a
        }
    }
    fn derivative<T: Scalar>(y: T) -> T {
        if y > T::zero() {
            T::one()
        } else {
            T::zero()
        }
    }
}

/// The step of a recurrent cell with `G` gates and `A` values kept per step. Sealed: the
/// library's cells are [`RnnCell`], [`GruCell`] and [`LstmCell`].
pub trait Cell<const G: usize, const A: usize>:
    sealed::Sealed + Debug + Clone + Copy + Default + PartialEq
{
    /// PyTorch's module name (`RNN`, `GRU`, `LSTM`).
    const KIND: &'static str;
    /// Whether the cell has a cell state (LSTM).
    const HAS_CELL: bool;
    /// For a gate whose hidden part is not simply added to its input part (the GRU's `n`):
    /// the index of the per-step value that holds it.
    fn separate_hidden(gate: usize) -> Option<usize>;
    /// One step forward. On entry `gates` holds the pre-activations (input and hidden parts
    /// summed, except a gate with [`Cell::separate_hidden`], whose hidden part is in `aux`);
    /// on exit what backward needs. Writes the new hidden state into `h`.
    fn forward_step<T: Scalar, const H: usize, const B: usize>(
        gates: &mut [Cols<T, H, B>; G],
        aux: &mut [Cols<T, H, B>; A],
        c_prev: &Cols<T, H, B>,
        h_prev: &Cols<T, H, B>,
        h: &mut Cols<T, H, B>,
    );
    /// One step backward, from the values [`Cell::forward_step`] left and `dh`, the gradient
    /// of the new hidden state. Leaves in `gates` the gradients of the pre-activations (input
    /// parts; the hidden part of a gate with [`Cell::separate_hidden`] in `aux`), in `dh_prev`
    /// the gradient of `h_prev` besides what flows through the hidden weights, and updates
    /// `dc` (the gradient of the new cell state on entry, of `c_prev` on exit).
    fn backward_step<T: Scalar, const H: usize, const B: usize>(
        gates: &mut [Cols<T, H, B>; G],
        aux: &mut [Cols<T, H, B>; A],
        c_prev: &Cols<T, H, B>,
        h_prev: &Cols<T, H, B>,
        dh: &Cols<T, H, B>,
        dc: &mut Cols<T, H, B>,
        dh_prev: &mut Cols<T, H, B>,
    );
}

/// The elements of an `H × B` matrix, in order.
fn flat<T, const H: usize, const B: usize>(m: &Cols<T, H, B>) -> core::slice::Iter<'_, T> {
    m.as_flattened().iter()
}

/// Applies `f` to every element of an `H × B` matrix.
#[inline(always)]
fn map<T: Scalar, const H: usize, const B: usize>(m: &mut Cols<T, H, B>, f: impl Fn(T) -> T) {
    for v in m.as_flattened_mut() {
        *v = f(*v);
    }
}

/// The elements of an `H × B` matrix, mutable.
fn flat_mut<T, const H: usize, const B: usize>(
    m: &mut Cols<T, H, B>,
) -> core::slice::IterMut<'_, T> {
    m.as_flattened_mut().iter_mut()
}

impl<Act: RnnActivation> Cell<1, 0> for RnnCell<Act> {
    const KIND: &'static str = "RNN";
    const HAS_CELL: bool = false;
    fn separate_hidden(_: usize) -> Option<usize> {
        None
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn forward_step<T: Scalar, const H: usize, const B: usize>(
        [a]: &mut [Cols<T, H, B>; 1],
        _: &mut [Cols<T, H, B>; 0],
        _: &Cols<T, H, B>,
        _: &Cols<T, H, B>,
        h: &mut Cols<T, H, B>,
    ) {
        // Keeps the activation's derivative in the gate.
        for (a, h) in flat_mut(a).zip(flat_mut(h)) {
            *h = Act::apply(*a);
            *a = Act::derivative(*h);
        }
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn backward_step<T: Scalar, const H: usize, const B: usize>(
        [a]: &mut [Cols<T, H, B>; 1],
        _: &mut [Cols<T, H, B>; 0],
        _: &Cols<T, H, B>,
        _: &Cols<T, H, B>,
        dh: &Cols<T, H, B>,
        _: &mut Cols<T, H, B>,
        dh_prev: &mut Cols<T, H, B>,
    ) {
        for (a, &d) in flat_mut(a).zip(flat(dh)) {
            *a *= d;
        }
        dh_prev.as_flattened_mut().fill(T::zero());
    }
}

impl Cell<3, 1> for GruCell {
    const KIND: &'static str = "GRU";
    const HAS_CELL: bool = false;
    fn separate_hidden(gate: usize) -> Option<usize> {
        (gate == 2).then_some(0)
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn forward_step<T: Scalar, const H: usize, const B: usize>(
        [r, z, n]: &mut [Cols<T, H, B>; 3],
        [hn]: &mut [Cols<T, H, B>; 1],
        _: &Cols<T, H, B>,
        h_prev: &Cols<T, H, B>,
        h: &mut Cols<T, H, B>,
    ) {
        // In passes of one function each, which vectorize.
        let one = T::one();
        map(r, sigmoid);
        map(z, sigmoid);
        for ((n, &r), &hn) in flat_mut(n).zip(flat(r)).zip(flat(hn)) {
            *n += r * hn;
        }
        map(n, tanh);
        let values = flat(z).zip(flat(n)).zip(flat(h_prev));
        for (((&z, &n), &hp), h) in values.zip(flat_mut(h)) {
            *h = (one - z) * n + z * hp;
        }
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn backward_step<T: Scalar, const H: usize, const B: usize>(
        [r, z, n]: &mut [Cols<T, H, B>; 3],
        [hn]: &mut [Cols<T, H, B>; 1],
        _: &Cols<T, H, B>,
        h_prev: &Cols<T, H, B>,
        dh: &Cols<T, H, B>,
        _: &mut Cols<T, H, B>,
        dh_prev: &mut Cols<T, H, B>,
    ) {
        // In passes over a few matrices each, which vectorize.
        let one = T::one();
        for ((dhp, &dh), &z) in flat_mut(dh_prev).zip(flat(dh)).zip(flat(z)) {
            *dhp = dh * z;
        }
        let values = flat_mut(z).zip(flat_mut(n));
        for ((z, n), (&dh, &hp)) in values.zip(flat(dh).zip(flat(h_prev))) {
            let (zv, nv) = (*z, *n);
            *n = dh * (one - zv) * (one - nv * nv);
            *z = dh * (hp - nv) * zv * (one - zv);
        }
        for ((r, hn), &dn) in flat_mut(r).zip(flat_mut(hn)).zip(flat(n)) {
            let rv = *r;
            *r = dn * *hn * rv * (one - rv);
            *hn = dn * rv;
        }
    }
}

impl Cell<4, 1> for LstmCell {
    const KIND: &'static str = "LSTM";
    const HAS_CELL: bool = true;
    fn separate_hidden(_: usize) -> Option<usize> {
        None
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn forward_step<T: Scalar, const H: usize, const B: usize>(
        [i, f, g, o]: &mut [Cols<T, H, B>; 4],
        [c]: &mut [Cols<T, H, B>; 1],
        c_prev: &Cols<T, H, B>,
        _: &Cols<T, H, B>,
        h: &mut Cols<T, H, B>,
    ) {
        // The activations in passes of one function each, which vectorize.
        map(i, sigmoid);
        map(f, sigmoid);
        map(g, tanh);
        map(o, sigmoid);
        for ((c, &f), &cp) in flat_mut(c).zip(flat(f)).zip(flat(c_prev)) {
            *c = f * cp;
        }
        for ((c, &i), &g) in flat_mut(c).zip(flat(i)).zip(flat(g)) {
            *c += i * g;
        }
        for ((h, &o), &c) in flat_mut(h).zip(flat(o)).zip(flat(c)) {
            *h = o * tanh(c);
        }
    }
    #[inline(never)] // its own function: the compiler knows the matrices apart and vectorizes
    fn backward_step<T: Scalar, const H: usize, const B: usize>(
        [i, f, g, o]: &mut [Cols<T, H, B>; 4],
        [c]: &mut [Cols<T, H, B>; 1],
        c_prev: &Cols<T, H, B>,
        _: &Cols<T, H, B>,
        dh: &Cols<T, H, B>,
        dc: &mut Cols<T, H, B>,
        dh_prev: &mut Cols<T, H, B>,
    ) {
        // In passes over a few matrices each, which vectorize; `tanh c` goes through
        // `dh_prev`, zero at the end.
        let one = T::one();
        for (t, &c) in flat_mut(dh_prev).zip(flat(c)) {
            *t = tanh(c);
        }
        let grads = flat(dh).zip(flat(dh_prev));
        for ((o, dc), (&dh, &tc)) in flat_mut(o).zip(flat_mut(dc)).zip(grads) {
            let ov = *o;
            *dc += dh * ov * (one - tc * tc);
            *o = dh * tc * ov * (one - ov);
        }
        for ((i, g), &dc) in flat_mut(i).zip(flat_mut(g)).zip(flat(dc)) {
            let (iv, gv) = (*i, *g);
            *i = dc * gv * iv * (one - iv);
            *g = dc * iv * (one - gv * gv);
        }
        for ((f, dc), &cp) in flat_mut(f).zip(flat_mut(dc)).zip(flat(c_prev)) {
            let fv = *f;
            *f = *dc * cp * fv * (one - fv);
            *dc *= fv;
        }
        dh_prev.as_flattened_mut().fill(T::zero());
    }
}

// ------------------------------------------------------------------------------- kernels

/// `out += W x` for each column: `w` is `H × N` row-major (the storage of the `N × H`
/// column-major `Wᵀ`), through the library's product kernel.
fn add_wx<T: Scalar, const N: usize, const H: usize, const B: usize>(
    w: &[[T; N]; H],
    x: &Cols<T, N, B>,
    out: &mut Cols<T, H, B>,
) {
    crate::kernels::add_matmul_at(w, x, out);
}

/// `out += Wᵀ d` for each column: `w` is `H × N` row-major (the storage of the `N × H`
/// column-major `Wᵀ`), through the library's product kernel.
fn add_wtd<T: Scalar, const N: usize, const H: usize, const B: usize>(
    w: &[[T; N]; H],
    d: &Cols<T, H, B>,
    out: &mut Cols<T, N, B>,
) {
    crate::kernels::add_matmul(w, d, out);
}

/// `dw += d xᵀ` (summed over the columns) and `db += Σ d`.
fn add_outer<T: Scalar, const N: usize, const H: usize, const B: usize>(
    dw: &mut [[T; N]; H],
    db: &mut [T; H],
    d: &Cols<T, H, B>,
    x: &Cols<T, N, B>,
) {
    // dWᵀ (N × H, column-major: our row-major W) += x dᵀ.
    crate::kernels::add_matmul_bt(dw, x, d);
    for dc in d.iter() {
        for (b, &dv) in db.iter_mut().zip(dc) {
            *b += dv;
        }
    }
}

/// Fills each column of `out` with `bias`.
fn set_bias<T: Scalar, const H: usize, const B: usize>(bias: &[T; H], out: &mut Cols<T, H, B>) {
    for col in out.iter_mut() {
        *col = *bias;
    }
}

// ------------------------------------------------------------------------------- the layer

impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    Recurrent<T, IN, H, G, A, K>
{
    /// A layer initialised with `init`, drawing from `rng`.
    pub fn new<R: RngCore + ?Sized>(init: Init, rng: &mut R) -> Self {
        let mut layer = Self::zeroed();
        Model::init(&mut layer, init, rng);
        layer
    }

    /// The layer with these weights (each in PyTorch's row-major order, gate by gate), in a
    /// `const` context: a trained model in a `static` ([`crate::io::rust`]).
    pub const fn from_weights(
        weight_ih: [[[T; IN]; H]; G],
        weight_hh: [[[T; H]; H]; G],
        bias_ih: [[T; H]; G],
        bias_hh: [[T; H]; G],
    ) -> Self {
        Self {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            cell: PhantomData,
        }
    }

    /// The pre-activations of one step into `gates` and `aux` (see [`Cell::forward_step`]),
    /// then the step.
    fn step<const B: usize>(
        &self,
        x: &Cols<T, IN, B>,
        h_prev: &Cols<T, H, B>,
        c_prev: &Cols<T, H, B>,
        gates: &mut [Cols<T, H, B>; G],
        aux: &mut [Cols<T, H, B>; A],
        h: &mut Cols<T, H, B>,
    ) {
        let weights = self.weight_ih.iter().zip(&self.weight_hh);
        let biases = self.bias_ih.iter().zip(&self.bias_hh);
        for (g, (((wi, wh), (bi, bh)), gate)) in
            weights.zip(biases).zip(gates.iter_mut()).enumerate()
        {
            match K::separate_hidden(g).and_then(|a| aux.get_mut(a)) {
                Some(hidden) => {
                    set_bias(bi, gate);
                    add_wx(wi, x, gate);
                    set_bias(bh, hidden);
                    add_wx(wh, h_prev, hidden);
                }
                None => {
                    // Both biases, then the products added to them.
                    let mut bias = *bi;
                    for (b, &bh) in bias.iter_mut().zip(bh) {
                        *b += bh;
                    }
                    set_bias(&bias, gate);
                    add_wx(wi, x, gate);
                    add_wx(wh, h_prev, gate);
                }
            }
        }
        K::forward_step(gates, aux, c_prev, h_prev, h);
    }

    /// Inference from the state `state` (updated to the final state): the hidden states of
    /// every step into `y`. With a [`State`] kept between calls, this runs a model over an
    /// endless stream one window (or one step, `L = 1`) at a time.
    pub fn forward_from<const L: usize, const B: usize>(
        &self,
        x: &Seq<T, IN, L, B>,
        state: &mut State<T, H, B>,
        y: &mut Seq<T, H, L, B>,
    ) {
        nonempty_batch::<B>();
        let mut gates = [[[T::zero(); H]; B]; G];
        let mut aux = [[[T::zero(); H]; B]; A];
        for (xt, yt) in x.steps.iter().zip(y.steps.iter_mut()) {
            let h = &mut yt.data.0;
            self.step(
                &xt.data.0,
                &state.h.data.0,
                &state.c.data.0,
                &mut gates,
                &mut aux,
                h,
            );
            state.h.data.0 = *h;
            if K::HAS_CELL {
                if let Some(c) = aux.first() {
                    state.c.data.0 = *c;
                }
            }
        }
    }
}

impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    Zeroed for Recurrent<T, IN, H, G, A, K>
{
    fn zeroed() -> Self {
        Self {
            weight_ih: [[[T::zero(); IN]; H]; G],
            weight_hh: [[[T::zero(); H]; H]; G],
            bias_ih: [[T::zero(); H]; G],
            bias_hh: [[T::zero(); H]; G],
            cell: PhantomData,
        }
    }
    fn set_zero(&mut self) {
        self.fill(T::zero());
    }
}

impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    Default for Recurrent<T, IN, H, G, A, K>
{
    /// All weights and biases zero; call [`Model::init`] before training.
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    Parameters<T> for Recurrent<T, IN, H, G, A, K>
{
    const COUNT: usize = G * H * (IN + H + 2);
    const TENSORS: usize = 4;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        match i {
            0 => Some(self.weight_ih.as_flattened().as_flattened()),
            1 => Some(self.weight_hh.as_flattened().as_flattened()),
            2 => Some(self.bias_ih.as_flattened()),
            3 => Some(self.bias_hh.as_flattened()),
            _ => None,
        }
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        match i {
            0 => Some(self.weight_ih.as_flattened_mut().as_flattened_mut()),
            1 => Some(self.weight_hh.as_flattened_mut().as_flattened_mut()),
            2 => Some(self.bias_ih.as_flattened_mut()),
            3 => Some(self.bias_hh.as_flattened_mut()),
            _ => None,
        }
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        [
            self.weight_ih.as_flattened_mut().as_flattened_mut(),
            self.weight_hh.as_flattened_mut().as_flattened_mut(),
            self.bias_ih.as_flattened_mut(),
            self.bias_hh.as_flattened_mut(),
        ]
        .into_iter()
    }
}

/// The names and shapes of the four tensors, in `state_dict` order.
const NAMES: [&str; 4] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];

fn shapes<const IN: usize, const H: usize, const G: usize>() -> [Shape; 4] {
    let rows = G.saturating_mul(H);
    [
        Shape::matrix(rows, IN),
        Shape::matrix(rows, H),
        Shape::vector(rows),
        Shape::vector(rows),
    ]
}

/// `weight_ih_l0` `[G·H, IN]`, `weight_hh_l0` `[G·H, H]`, `bias_ih_l0` and `bias_hh_l0`
/// `[G·H]`, as `torch.nn.RNN`, `GRU` and `LSTM` with one layer.
impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    StateDict<T> for Recurrent<T, IN, H, G, A, K>
{
    const ENTRIES: usize = 4;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        for (i, (name, shape)) in NAMES.iter().zip(shapes::<IN, H, G>()).enumerate() {
            if let Some(t) = self.tensor(i) {
                let (kind, layout) = (Kind::Parameter, Layout::RowMajor);
                entry(prefix, name, shape, kind, layout, Values::Float(t), f)?;
            }
        }
        Ok(())
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        for (i, (name, shape)) in NAMES.iter().zip(shapes::<IN, H, G>()).enumerate() {
            if let Some(t) = self.tensor_mut(i) {
                let (kind, layout) = (Kind::Parameter, Layout::RowMajor);
                entry(prefix, name, shape, kind, layout, ValuesMut::Float(t), f)?;
            }
        }
        Ok(())
    }
}

impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    Model<T> for Recurrent<T, IN, H, G, A, K>
{
    type Grads = Self;
    no_buffers!();

    /// Every tensor `U(-1/√H, 1/√H)` for [`Init::PyTorchDefault`] (PyTorch's initialisation
    /// of its recurrent layers); for the other schemes, the weights of each gate as a dense
    /// layer's (fan-in `IN` or `H`, fan-out `H`) and the biases as [`Init::fill_bias`] with
    /// fan-in `H`.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        let pytorch = matches!(init, Init::PyTorchDefault);
        let (fan_ih, fan_hh) = if pytorch { (H, H) } else { (IN, H) };
        for w in self.weight_ih.iter_mut() {
            init.fill_weights(w.as_flattened_mut(), fan_ih, H, rng);
        }
        for w in self.weight_hh.iter_mut() {
            init.fill_weights(w.as_flattened_mut(), fan_hh, H, rng);
        }
        init.fill_bias(self.bias_ih.as_flattened_mut(), H, rng);
        init.fill_bias(self.bias_hh.as_flattened_mut(), H, rng);
    }

    fn describe(
        &self,
        name: &str,
        input: Shape,
        row: &mut dyn FnMut(&LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let output = Shape::matrix(steps_of(input), H);
        row(&LayerRow::leaf::<T, Self>(name, K::KIND, output, true))?;
        Ok(output)
    }
}

/// What a recurrent layer keeps for backpropagation through time over `L` steps of a batch
/// of `B`: the initial state (set it before [`Layer::forward_train`]; zero unless set), every
/// step's gates and hidden state, and after backward the gradients of the initial state.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentCache<
    T: Scalar,
    const H: usize,
    const G: usize,
    const A: usize,
    const L: usize,
    const B: usize,
    K,
> {
    /// The initial hidden state.
    pub h0: SMatrix<T, H, B>,
    /// The initial cell state ([`Lstm`] only).
    pub c0: SMatrix<T, H, B>,
    /// After backward: the gradient of the loss with respect to [`RecurrentCache::h0`].
    pub dh0: SMatrix<T, H, B>,
    /// After backward: the gradient with respect to [`RecurrentCache::c0`] ([`Lstm`] only).
    pub dc0: SMatrix<T, H, B>,
    /// The gradient of the loss with respect to the final cell state `c_n`, which backward
    /// adds to what flows back from the outputs ([`Lstm`] only; zero unless set). The
    /// gradient with respect to the final hidden state is that of the last output step.
    pub dc_n: SMatrix<T, H, B>,
    /// The hidden state of every step (the output).
    pub y: Seq<T, H, L, B>,
    gates: [[Cols<T, H, B>; G]; L],
    aux: [[Cols<T, H, B>; A]; L],
    cell: PhantomData<K>,
}

impl<
        T: Scalar,
        const H: usize,
        const G: usize,
        const A: usize,
        const L: usize,
        const B: usize,
        K,
    > Zeroed for RecurrentCache<T, H, G, A, L, B, K>
{
    fn zeroed() -> Self {
        Self {
            h0: SMatrix::zeros(),
            c0: SMatrix::zeros(),
            dh0: SMatrix::zeros(),
            dc0: SMatrix::zeros(),
            dc_n: SMatrix::zeros(),
            y: Seq::zeroed(),
            gates: [[[[T::zero(); H]; B]; G]; L],
            aux: [[[[T::zero(); H]; B]; A]; L],
            cell: PhantomData,
        }
    }
    fn set_zero(&mut self) {
        self.h0.fill(T::zero());
        self.c0.fill(T::zero());
        self.dh0.fill(T::zero());
        self.dc0.fill(T::zero());
        self.dc_n.fill(T::zero());
        self.y.set_zero();
        for g in self.gates.iter_mut() {
            g.as_flattened_mut().as_flattened_mut().fill(T::zero());
        }
        for a in self.aux.iter_mut() {
            a.as_flattened_mut().as_flattened_mut().fill(T::zero());
        }
    }
}

impl<T, const H: usize, const G: usize, const A: usize, const L: usize, const B: usize, K>
    RecurrentCache<T, H, G, A, L, B, K>
where
    T: Scalar,
    K: Cell<G, A>,
{
    /// The final hidden state `h_n` of the last forward pass (the initial state for `L = 0`).
    pub fn h_n(&self) -> &SMatrix<T, H, B> {
        self.y.last().unwrap_or(&self.h0)
    }

    /// The final cell state `c_n` of the last forward pass into `c` ([`Lstm`]; the initial
    /// cell state for the others).
    pub fn c_n(&self, c: &mut SMatrix<T, H, B>) {
        c.copy_from(&self.c0);
        if K::HAS_CELL {
            if let Some(last) = self.aux.last().and_then(|a| a.first()) {
                c.data.0 = *last;
            }
        }
    }

    /// Makes the final state of the last forward pass the initial state of the next:
    /// truncated backpropagation through time, the hidden state carried over from window to
    /// window while the gradient stops at the window boundary. Call it after backward.
    pub fn carry(&mut self) {
        let mut c = SMatrix::zeros();
        self.c_n(&mut c);
        let h = *self.h_n();
        self.h0 = h;
        self.c0 = c;
    }

    /// Sets the initial state to zero (the start of a new stream).
    pub fn reset_state(&mut self) {
        self.h0.fill(T::zero());
        self.c0.fill(T::zero());
    }
}

impl<
        T,
        const IN: usize,
        const H: usize,
        const G: usize,
        const A: usize,
        K,
        const L: usize,
        const B: usize,
    > Layer<T, Seq<T, IN, L, B>> for Recurrent<T, IN, H, G, A, K>
where
    T: Scalar,
    K: Cell<G, A>,
{
    type Output = Seq<T, H, L, B>;
    type Cache = RecurrentCache<T, H, G, A, L, B, K>;
    /// The state and one step's gates.
    const FORWARD_STACK_BYTES: usize = size_of::<State<T, H, B>>()
        .saturating_add(size_of::<[Cols<T, H, B>; G]>())
        .saturating_add(size_of::<[Cols<T, H, B>; A]>());

    fn forward(&self, x: &Seq<T, IN, L, B>, y: &mut Self::Output) {
        let mut state = State::zeroed();
        self.forward_from(x, &mut state, y);
    }

    fn forward_train<'c>(
        &mut self,
        x: &Seq<T, IN, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward_frozen(x, cache)
    }

    fn forward_frozen<'c>(
        &self,
        x: &Seq<T, IN, L, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        nonempty_batch::<B>();
        let c = &mut *cache;
        for (t, xt) in x.steps.iter().enumerate() {
            let (Some((done, rest)), Some((aux_done, aux_rest))) = (
                c.y.steps.split_at_mut_checked(t),
                c.aux.split_at_mut_checked(t),
            ) else {
                continue;
            };
            let h_prev = done.last().map_or(&c.h0.data.0, |m| &m.data.0);
            let c_prev = aux_done
                .last()
                .and_then(|a| a.first())
                .unwrap_or(&c.c0.data.0);
            if let (Some(h), Some(aux), Some(gates)) =
                (rest.first_mut(), aux_rest.first_mut(), c.gates.get_mut(t))
            {
                self.step(&xt.data.0, h_prev, c_prev, gates, aux, &mut h.data.0);
            }
        }
        &cache.y
    }

    fn output(cache: &Self::Cache) -> &Self::Output {
        &cache.y
    }

    fn backward(
        &self,
        x: &Seq<T, IN, L, B>,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        mut dx: Option<&mut Seq<T, IN, L, B>>,
        mut grads: Option<&mut Self>,
    ) {
        let c = &mut *cache;
        // dh0 and dc0 carry the gradients of the state from step to step, back to the start.
        c.dh0.fill(T::zero());
        c.dc0.copy_from(&c.dc_n);
        for t in (0..L).rev() {
            let (Some((done, _)), Some((aux_done, aux_rest))) =
                (c.y.steps.split_at_checked(t), c.aux.split_at_mut_checked(t))
            else {
                continue;
            };
            let h_prev = done.last().map_or(&c.h0.data.0, |m| &m.data.0);
            let c_prev = aux_done
                .last()
                .and_then(|a| a.first())
                .unwrap_or(&c.c0.data.0);
            let (Some(aux), Some(gates), Some(dyt), Some(xt)) = (
                aux_rest.first_mut(),
                c.gates.get_mut(t),
                dy.steps.get_mut(t),
                x.steps.get(t),
            ) else {
                continue;
            };
            let dh = &mut dyt.data.0;
            for (d, &carry) in flat_mut(dh).zip(flat(&c.dh0.data.0)) {
                *d += carry;
            }
            K::backward_step(
                gates,
                aux,
                c_prev,
                h_prev,
                dh,
                &mut c.dc0.data.0,
                &mut c.dh0.data.0,
            );
            let xt = &xt.data.0;
            let mut dxt = dx.as_deref_mut().and_then(|dx| dx.steps.get_mut(t));
            if let Some(dxt) = dxt.as_deref_mut() {
                dxt.fill(T::zero());
            }
            for (g, gate) in gates.iter().enumerate() {
                let hidden = match K::separate_hidden(g).and_then(|a| aux.get(a)) {
                    Some(hidden) => hidden,
                    None => gate,
                };
                if let Some(grads) = grads.as_deref_mut() {
                    if let (Some(wi), Some(bi)) =
                        (grads.weight_ih.get_mut(g), grads.bias_ih.get_mut(g))
                    {
                        add_outer(wi, bi, gate, xt);
                    }
                    if let (Some(wh), Some(bh)) =
                        (grads.weight_hh.get_mut(g), grads.bias_hh.get_mut(g))
                    {
                        add_outer(wh, bh, hidden, h_prev);
                    }
                }
                if let (Some(dxt), Some(wi)) = (dxt.as_deref_mut(), self.weight_ih.get(g)) {
                    add_wtd(wi, gate, &mut dxt.data.0);
                }
                if let Some(wh) = self.weight_hh.get(g) {
                    add_wtd(wh, hidden, &mut c.dh0.data.0);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------- as Rust source

use crate::io::rust::RustSource;

/// `tinyprop::layers::Recurrent::from_weights(…)`, the numbers in shortest round-trip form.
impl<T: Scalar, const IN: usize, const H: usize, const G: usize, const A: usize, K: Cell<G, A>>
    RustSource for Recurrent<T, IN, H, G, A, K>
{
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        write!(
            out,
            "tinyprop::layers::Recurrent::from_weights({:?}, {:?}, {:?}, {:?})",
            self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )
    }
}

impl<const N: usize, const L: usize> RustSource for Sequence<N, L> {
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        out.write_str("tinyprop::layers::Sequence")
    }
}

impl RustSource for LastStep {
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        out.write_str("tinyprop::layers::LastStep")
    }
}

impl<const NL: usize> RustSource for FlattenSteps<NL> {
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        out.write_str("tinyprop::layers::FlattenSteps")
    }
}

impl<M: RustSource> RustSource for EachStep<M> {
    fn write_rust<W: core::fmt::Write>(&self, out: &mut W) -> core::fmt::Result {
        out.write_str("tinyprop::layers::EachStep(")?;
        self.0.write_rust(out)?;
        out.write_char(')')
    }
}
