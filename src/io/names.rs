//! PyTorch's `state_dict` names, shapes and element order for every tensor of a model.
//!
//! A model visits its tensors in the order of PyTorch's `state_dict()`, each with its name, its
//! shape as PyTorch has it, whether it is a parameter or a buffer, and how its elements are
//! laid out in memory ([`Layout`]). File formats write PyTorch's
//! row-major order and convert where the memory layout differs, so a file saved from PyTorch
//! loads into the same model here, element for element.
//!
//! The names are those a PyTorch module written the obvious way would have:
//!
//! | tinyprop | PyTorch | tensors |
//! | --- | --- | --- |
//! | a tuple `(A, B, …)` | `nn.Sequential(a, b, …)` | `0.…`, `1.…`, … (nested tuples `1.0.…`) |
//! | [`Dense`](crate::Dense) | `nn.Linear(in, out)` | `weight` `[out, in]`, `bias` `[out]` |
//! | [`DenseNoBias`](crate::DenseNoBias) | `nn.Linear(in, out, bias=False)` | `weight` |
//! | [`BatchNorm`](crate::BatchNorm) | `nn.BatchNorm1d(n)` | `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked` (shape `[]`, int64 in files) |
//! | [`LayerNorm`](crate::LayerNorm) | `nn.LayerNorm(n)` | `weight`, `bias` |
//! | [`Residual`](crate::Residual) | a module with `self.block = f`, `forward(x) = self.block(x) + x` | `block.…` |
//! | [`ResidualProjection`](crate::ResidualProjection) | `self.block = f`, `self.projection = p`, `forward(x) = self.block(x) + self.projection(x)` | `block.…`, `projection.…` |
//! | [`Rnn`](crate::Rnn), [`RnnRelu`](crate::RnnRelu), [`Gru`](crate::Gru), [`Lstm`](crate::Lstm) | `nn.RNN`, `nn.GRU`, `nn.LSTM` (one layer) | `weight_ih_l0` `[G·H, in]`, `weight_hh_l0` `[G·H, H]`, `bias_ih_l0`, `bias_hh_l0` `[G·H]` (G = 1, 3, 4) |
//! | [`EachStep`](crate::EachStep)`(layer)` | the layer, applied to every step | the layer's |
//! | [`Sequence`](crate::Sequence), [`LastStep`](crate::LastStep), [`FlattenSteps`](crate::FlattenSteps) | reshapes and `x[:, -1]` | none |
//! | [`Conv2d`](crate::Conv2d), [`Conv1d`](crate::Conv1d) | `nn.Conv2d(c, o, k, groups=c/cpg)`, `nn.Conv1d` | `weight` `[o, cpg, kh, kw]` (`[o, cpg, k]`), `bias` `[o]` (none without a bias) |
//! | [`BatchNorm2d`](crate::BatchNorm2d) | `nn.BatchNorm2d(c)` | as `BatchNorm1d`, each `[c]` |
//! | activations, [`Dropout`](crate::Dropout), pooling, [`Flatten`](crate::Flatten) | the same modules | none |
//!
//! ```
//! use tinyprop::io::{Kind, StateDict};
//! use tinyprop::prelude::*;
//! type Net = (Dense<f32, 4, 8>, Relu, (Dense<f32, 8, 8>, BatchNorm<f32, 8>), Dense<f32, 8, 3>);
//! let net = Net::default();
//! let mut names = Vec::new();
//! net.for_each_tensor(|t, _| {
//!     names.push((t.name.to_string(), t.shape.dims().to_vec(), t.kind));
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(names[0], ("0.weight".to_string(), vec![8, 4], Kind::Parameter));
//! assert_eq!(names[4], ("2.1.weight".to_string(), vec![8], Kind::Parameter));
//! assert_eq!(names[6], ("2.1.running_mean".to_string(), vec![8], Kind::Buffer));
//! assert_eq!(names[8], ("2.1.num_batches_tracked".to_string(), vec![], Kind::Buffer));
//! assert_eq!(names.len(), <Net as StateDict<f32>>::ENTRIES);
//! ```

use crate::{Error, Scalar};

/// The longest name a tensor can have, in bytes (`2.0.1.running_mean` is 18).
pub const NAME_CAPACITY: usize = 96;

/// A tensor's name, built in a fixed-size buffer while visiting.
pub type Name = heapless::String<NAME_CAPACITY>;

/// Whether a tensor is trained (a parameter) or not (a buffer, such as a running statistic).
///
/// ```
/// use tinyprop::io::{Kind, StateDict};
/// use tinyprop::BatchNorm;
/// let mut kinds = Vec::new();
/// BatchNorm::<f32, 2>::default().for_each_tensor(|t, _| Ok(kinds.push(t.kind))).unwrap();
/// // weight and bias are trained; the running statistics and the count are buffers.
/// assert_eq!(kinds, [Kind::Parameter, Kind::Parameter, Kind::Buffer, Kind::Buffer, Kind::Buffer]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A trainable tensor: one of [`Parameters::tensors`](crate::Parameters::tensors).
    Parameter,
    /// A tensor that is saved with the model but not trained.
    Buffer,
}

/// How a tensor's elements are ordered in memory, compared with PyTorch's row-major order of
/// its [`Shape`].
///
/// ```
/// use tinyprop::io::{Layout, StateDict};
/// use tinyprop::prelude::*;
/// let mut dense = Dense::<f32, 3, 2>::default();
/// dense.weight[(1, 2)] = 7.0; // output 1, input 2
/// dense.for_each_tensor(|t, values| {
///     if let (Layout::ColumnMajor, tinyprop::io::Values::Float(v)) = (t.layout, values) {
///         let [rows, _] = [t.shape.dims()[0], t.shape.dims()[1]];
///         assert_eq!(v[1 + 2 * rows], 7.0); // element (r, c) at r + c · rows
///     }
///     Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same order (vectors, and tensors stored row-major).
    RowMajor,
    /// A matrix stored column by column (nalgebra's order, as [`Dense`](crate::Dense)'s
    /// weight): element `(r, c)` of a `[rows, cols]` tensor is at `r + c · rows`.
    ColumnMajor,
}

/// A tensor's shape as PyTorch has it: up to 4 dimensions; none for a scalar.
///
/// ```
/// use tinyprop::io::Shape;
/// let s = Shape::new([8, 3, 5, 5], 4); // a convolution's weight: [out, in, kh, kw]
/// assert_eq!(s.dims(), &[8, 3, 5, 5]);
/// assert_eq!(s.elements(), 600);
/// assert_eq!(Shape::SCALAR.elements(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    dims: [usize; 4],
    rank: usize,
}

impl Shape {
    /// A scalar (shape `[]`).
    pub const SCALAR: Shape = Shape {
        dims: [0; 4],
        rank: 0,
    };

    /// A vector of `n` elements.
    ///
    /// ```
    /// use tinyprop::io::Shape;
    /// assert_eq!(Shape::vector(4).dims(), &[4]);
    /// ```
    pub const fn vector(n: usize) -> Self {
        Self {
            dims: [n, 0, 0, 0],
            rank: 1,
        }
    }

    /// A `rows × cols` matrix.
    ///
    /// ```
    /// use tinyprop::io::Shape;
    /// assert_eq!(Shape::matrix(2, 3).dims(), &[2, 3]);
    /// assert_eq!(Shape::matrix(2, 3).elements(), 6);
    /// ```
    pub const fn matrix(rows: usize, cols: usize) -> Self {
        Self {
            dims: [rows, cols, 0, 0],
            rank: 2,
        }
    }

    /// A shape of up to four dimensions (those past `rank` are ignored).
    ///
    /// ```
    /// use tinyprop::io::Shape;
    /// assert_eq!(Shape::new([2, 3, 4, 0], 3).dims(), &[2, 3, 4]);
    /// assert_eq!(Shape::new([2, 3, 0, 0], 2), Shape::matrix(2, 3));
    /// ```
    pub const fn new(dims: [usize; 4], rank: usize) -> Self {
        Self {
            dims,
            rank: if rank > 4 { 4 } else { rank },
        }
    }

    /// The dimensions.
    ///
    /// ```
    /// use tinyprop::io::Shape;
    /// assert_eq!(Shape::SCALAR.dims(), &[] as &[usize]);
    /// assert_eq!(Shape::vector(3).dims(), &[3]);
    /// ```
    pub fn dims(&self) -> &[usize] {
        self.dims.get(..self.rank).unwrap_or(&[])
    }

    /// The number of elements (1 for a scalar), saturating.
    ///
    /// ```
    /// use tinyprop::io::Shape;
    /// assert_eq!(Shape::new([usize::MAX, 2, 0, 0], 2).elements(), usize::MAX); // saturates
    /// ```
    pub fn elements(&self) -> usize {
        self.dims().iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }
}

/// The values a tensor may hold besides being finite: loaders refuse others
/// ([`Error::NegativeValue`]), so that a loaded model or optimizer state computes no NaN.
///
/// ```
/// use tinyprop::io::{Domain, StateDict};
/// use tinyprop::BatchNorm;
/// let mut domains = Vec::new();
/// BatchNorm::<f32, 2>::default()
///     .for_each_tensor(|t, _| Ok(domains.push((t.name.to_string(), t.domain))))
///     .unwrap();
/// assert_eq!(domains[0], ("weight".to_string(), Domain::Real));
/// assert_eq!(domains[3], ("running_var".to_string(), Domain::NonNegative));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Any finite value.
    Real,
    /// Finite values `>= 0` (a variance, a sum of squares), as BatchNorm's `running_var` or
    /// Adam's `exp_avg_sq`.
    NonNegative,
}

/// What is known of one tensor while visiting: its name, shape, kind, memory layout and the
/// values it may hold.
///
/// ```
/// use tinyprop::io::{Kind, StateDict};
/// use tinyprop::prelude::*;
/// let net = (Dense::<f32, 2, 2>::default(), (Relu, LayerNorm::<f32, 2>::default()));
/// let mut infos = Vec::new();
/// net.for_each_tensor(|t, _| Ok(infos.push((t.name.to_string(), t.shape.elements(), t.kind)))).unwrap();
/// assert_eq!(infos[2], ("1.1.weight".to_string(), 2, Kind::Parameter));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    /// The `state_dict` name, such as `1.0.weight`.
    pub name: &'a str,
    /// The shape as PyTorch has it.
    pub shape: Shape,
    /// Parameter or buffer.
    pub kind: Kind,
    /// How the elements are ordered in memory.
    pub layout: Layout,
    /// The values it may hold ([`Domain::Real`] unless set with [`TensorInfo::non_negative`]).
    pub domain: Domain,
}

impl TensorInfo<'_> {
    /// The same tensor, whose values must not be negative.
    ///
    /// ```
    /// use tinyprop::io::{Domain, Kind, Layout, Shape, TensorInfo};
    /// let info = TensorInfo {
    ///     name: "running_var",
    ///     shape: Shape::vector(3),
    ///     kind: Kind::Buffer,
    ///     layout: Layout::RowMajor,
    ///     domain: Domain::Real,
    /// };
    /// assert_eq!(info.non_negative().domain, Domain::NonNegative);
    /// ```
    pub fn non_negative(self) -> Self {
        Self {
            domain: Domain::NonNegative,
            ..self
        }
    }
}

/// A tensor's values: floats in the model's scalar type, or a counter (an `int64` scalar in
/// PyTorch, such as `num_batches_tracked`; kept here in 32 bits, which saturate).
///
/// ```
/// use tinyprop::io::{StateDict, Values};
/// use tinyprop::BatchNorm;
/// let mut bn = BatchNorm::<f32, 2>::default();
/// bn.num_batches_tracked = 5;
/// let mut counts = Vec::new();
/// bn.for_each_tensor(|t, v| {
///     if let Values::Count(n) = v {
///         counts.push((t.name.to_string(), n));
///     }
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(counts, [("num_batches_tracked".to_string(), 5)]);
/// ```
#[derive(Debug, PartialEq)]
pub enum Values<'a, T> {
    /// Floating-point elements, in the tensor's [`Layout`].
    Float(&'a [T]),
    /// A scalar counter.
    Count(u32),
}

/// A tensor's values, mutable (see [`Values`]).
///
/// ```
/// use tinyprop::io::{Name, StateDict, ValuesMut};
/// use tinyprop::prelude::*;
/// // Set every bias of a network to 0.1 by name.
/// let mut net = (Dense::<f32, 2, 3>::default(), Relu, Dense::<f32, 3, 1>::default());
/// net.visit_mut(&mut Name::new(), &mut |t, v| {
///     if let (true, ValuesMut::Float(v)) = (t.name.ends_with("bias"), v) {
///         v.fill(0.1);
///     }
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(net.2.bias[0], 0.1);
/// ```
#[derive(Debug, PartialEq)]
pub enum ValuesMut<'a, T> {
    /// Floating-point elements, in the tensor's [`Layout`].
    Float(&'a mut [T]),
    /// A scalar counter.
    Count(&'a mut u32),
}

/// A model (or an optimizer's state) whose tensors have PyTorch `state_dict` names: see the
/// [module docs](self) for the names of each layer.
///
/// Implemented by every layer and by tuples of them. A layer written outside the library
/// implements it by visiting each of its tensors with [`entry`] (or its parts with a name
/// prefix, see [`part`]).
///
/// ```
/// use tinyprop::io::{StateDict, TrainingState};
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
/// // Models and optimizer states are state dicts; so both together, to resume training.
/// assert_eq!(<Net as StateDict<f32>>::ENTRIES, 4);
/// let mut names = Vec::new();
/// let opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig::default()).unwrap();
/// opt.for_each_tensor(|t, _| Ok(names.push(t.name.to_string()))).unwrap();
/// assert_eq!(names[0], "step"); // as torch.optim.Adam's state_dict, flattened
/// assert!(names.contains(&"exp_avg_sq.0.weight".to_string()), "{names:?}");
/// ```
pub trait StateDict<T: Scalar> {
    /// The number of tensors visited (parameters and buffers).
    const ENTRIES: usize;

    /// Calls `f` for every tensor, in `state_dict` order, with names under `prefix` (empty for
    /// the whole model); stops at the first error `f` returns. [`Error::NameTooLong`] if a
    /// name does not fit [`NAME_CAPACITY`].
    ///
    /// ```
    /// use tinyprop::io::{Name, StateDict};
    /// use tinyprop::prelude::*;
    /// // Under a prefix: the names a model has as part of a larger one.
    /// let mut prefix = Name::new();
    /// prefix.push_str("encoder.").unwrap();
    /// let mut names = Vec::new();
    /// Dense::<f32, 2, 2>::default().visit(&mut prefix, &mut |t, _| Ok(names.push(t.name.to_string()))).unwrap();
    /// assert_eq!(names, ["encoder.weight", "encoder.bias"]);
    /// assert_eq!(prefix, "encoder."); // restored
    /// ```
    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>;

    /// [`StateDict::visit`] with mutable values.
    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>;

    /// Calls `f` for every tensor with its full name.
    ///
    /// ```
    /// use tinyprop::io::{StateDict, Values};
    /// use tinyprop::prelude::*;
    /// let mut net = (Dense::<f32, 2, 2>::default(), Tanh, Dense::<f32, 2, 1>::default());
    /// net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// // The largest weight magnitude in the whole network.
    /// let mut largest = 0.0f32;
    /// net.for_each_tensor(|_, v| {
    ///     if let Values::Float(v) = v {
    ///         largest = v.iter().fold(largest, |m, x| m.max(x.abs()));
    ///     }
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert!(largest > 0.0);
    /// ```
    fn for_each_tensor<F>(&self, mut f: F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.visit(&mut Name::new(), &mut f)
    }
}

/// Shortens `prefix` back to `len` bytes (a length it had before, so a character boundary),
/// by popping characters: `heapless::String::truncate` asserts the boundary, a panic path the
/// firmware must not carry.
fn restore(prefix: &mut Name, len: usize) {
    while prefix.len() > len {
        if prefix.pop().is_none() {
            break;
        }
    }
}

/// Visits one tensor: `prefix` + `name` (of [`Domain::Real`]), restored afterwards.
///
/// ```
/// use tinyprop::io::{entry, Kind, Layout, Name, Shape, Values};
/// use tinyprop::Error;
/// // What a layer's `StateDict::visit` does for each tensor (see guide::custom_layer).
/// let gain = [1.0f32, 2.0];
/// let mut prefix = Name::new();
/// prefix.push_str("3.").unwrap();
/// let mut seen = Vec::new();
/// entry(&mut prefix, "gain", Shape::vector(2), Kind::Parameter, Layout::RowMajor, Values::Float(&gain[..]),
///     &mut |t, _| -> Result<(), Error> { Ok(seen.push(t.name.to_string())) })
///     .unwrap();
/// assert_eq!(seen, ["3.gain"]);
/// ```
pub fn entry<V, F>(
    prefix: &mut Name,
    name: &str,
    shape: Shape,
    kind: Kind,
    layout: Layout,
    values: V,
    f: &mut F,
) -> Result<(), Error>
where
    F: FnMut(TensorInfo<'_>, V) -> Result<(), Error>,
{
    let len = prefix.len();
    let result = match prefix.push_str(name) {
        Ok(()) => f(
            TensorInfo {
                name: prefix.as_str(),
                shape,
                kind,
                layout,
                domain: Domain::Real,
            },
            values,
        ),
        Err(_) => Err(Error::NameTooLong),
    };
    restore(prefix, len);
    result
}

/// Runs `visit` with `prefix` + `name` + `.` as the prefix (for a part of a model, such as a
/// tuple's element `0` or a residual block's `block`), restored afterwards.
///
/// ```
/// use tinyprop::io::{part, Name, StateDict, TensorInfo, Values};
/// use tinyprop::prelude::*;
/// // A layer of two parts names their tensors `first.…` and `second.…`.
/// let (first, second) = (Dense::<f32, 2, 2>::default(), Dense::<f32, 2, 2>::default());
/// let mut names = Vec::new();
/// let mut f = |t: TensorInfo<'_>, _: Values<'_, f32>| -> Result<(), Error> {
///     names.push(t.name.to_string());
///     Ok(())
/// };
/// let mut prefix = Name::new();
/// part(&mut prefix, "first", |p| first.visit(p, &mut f)).unwrap();
/// part(&mut prefix, "second", |p| second.visit(p, &mut f)).unwrap();
/// assert_eq!(names, ["first.weight", "first.bias", "second.weight", "second.bias"]);
/// ```
pub fn part(
    prefix: &mut Name,
    name: &str,
    visit: impl FnOnce(&mut Name) -> Result<(), Error>,
) -> Result<(), Error> {
    let len = prefix.len();
    let result = match prefix.push_str(name).and_then(|()| prefix.push('.')) {
        Ok(()) => visit(prefix),
        Err(_) => Err(Error::NameTooLong),
    };
    restore(prefix, len);
    result
}

/// `0` to `9` as tuple-element names.
pub(crate) const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// [`StateDict`] for a layer without tensors.
macro_rules! no_state_dict {
    () => {
        const ENTRIES: usize = 0;
        fn visit<F>(&self, _: &mut $crate::io::Name, _: &mut F) -> Result<(), $crate::Error>
        where
            F: FnMut(
                $crate::io::TensorInfo<'_>,
                $crate::io::Values<'_, T>,
            ) -> Result<(), $crate::Error>,
        {
            Ok(())
        }
        fn visit_mut<F>(&mut self, _: &mut $crate::io::Name, _: &mut F) -> Result<(), $crate::Error>
        where
            F: FnMut(
                $crate::io::TensorInfo<'_>,
                $crate::io::ValuesMut<'_, T>,
            ) -> Result<(), $crate::Error>,
        {
            Ok(())
        }
    };
}
pub(crate) use no_state_dict;
