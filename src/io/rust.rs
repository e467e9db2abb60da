//! A model as Rust source: a `static` built by `const` constructors only, so that a trained
//! model lives in a microcontroller's flash and runs inference with no copy in RAM.
//!
//! [`write_static`] writes `pub static NAME: Type = …;` for any model (every layer implements
//! [`RustSource`]). The usual place to call it is a firmware's `build.rs`, which runs on the
//! host: it loads the weights (a safetensors file from PyTorch, say) into the model type and
//! writes the source into `OUT_DIR`, which the firmware includes:
//!
//! ```ignore
//! // build.rs (build-dependency: tinyprop with the `std` feature)
//! include!("src/model_type.rs"); // `type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);`
//! fn main() {
//!     let bytes = std::fs::read("model.safetensors").unwrap();
//!     let mut net = Net::default();
//!     tinyprop::io::safetensors::load(&mut net, &bytes).unwrap();
//!     let mut source = String::new();
//!     tinyprop::io::rust::write_static(&net, "NET", "Net", &mut source).unwrap();
//!     let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
//!     std::fs::write(out.join("net.rs"), source).unwrap();
//!     println!("cargo::rerun-if-changed=model.safetensors");
//! }
//!
//! // src/main.rs of the firmware
//! include!("model_type.rs");
//! include!(concat!(env!("OUT_DIR"), "/net.rs")); // pub static NET: Net = …;
//! // NET.forward(&x, &mut y) reads the weights from flash.
//! ```
//!
//! The numbers are written with Rust's shortest round-trip formatting, so the `static` holds
//! exactly the weights the model had.
//!
//! int8 models ([`crate::quant`]: the layers, their requantizations and a whole
//! [`QModel`](crate::quant::QModel)) implement [`RustSource`] too; [`write_static_int8`] writes
//! one as a `static`.
//!
//! ```
//! use tinyprop::prelude::*;
//! let mut net = (Dense::<f32, 2, 3>::default(), Relu);
//! net.init(Init::HeUniform, &mut SplitMix64::new(1));
//! let mut source = String::new();
//! tinyprop::io::rust::write_static(&net, "NET", "Net", &mut source).unwrap();
//! assert!(source.starts_with("pub static NET: Net = (tinyprop::Dense {"));
//! ```

use core::fmt::{self, Write};
use core::mem::size_of;

use nalgebra::SMatrix;

use crate::io::StateDict;
use crate::io::Values;
use crate::layers::{Affine, Bias, Conv, NoBias, Pool, PoolKind, Spatial};
use crate::{
    BatchNorm, BatchNorm2d, Dense, Dropout, Error, Flatten, Frozen, GlobalAvgPool, Identity,
    LayerNorm, LeakyRelu, Relu, Residual, ResidualProjection, Scalar, Sigmoid, Softmax, SplitMix64,
    Tanh,
};

/// A value that can be written as a Rust expression evaluable in a `static`.
///
/// ```
/// use tinyprop::io::rust::RustSource;
/// use tinyprop::prelude::*;
/// let mut source = String::new();
/// Relu.write_rust(&mut source).unwrap();
/// assert_eq!(source, "tinyprop::Relu");
/// ```
pub trait RustSource {
    /// Writes the expression.
    ///
    /// ```
    /// use tinyprop::io::rust::RustSource;
    /// use tinyprop::prelude::*;
    /// let mut source = String::new();
    /// let scaler = Normalize::<f32, 1> { offset: SVector::from([0.5]), scale: SVector::from([2.0]) };
    /// scaler.write_rust(&mut source).unwrap();
    /// assert!(source.starts_with("tinyprop::Normalize {"), "{source}");
    /// ```
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result;
}

/// Writes `pub static {name}: {ty} = {model};` and a newline. Refuses a model holding a NaN or
/// an infinity ([`Error::NonFiniteModel`]); [`Error::WriteFailed`] if `out` refuses (a
/// fixed-size buffer too small).
///
/// ```
/// use tinyprop::io::rust::write_static;
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f32, 1, 1>::default();
/// // A fixed-size buffer on a device without a heap: too small is an error, not a panic.
/// let mut small = heapless::String::<16>::new();
/// assert_eq!(write_static(&net, "NET", "Net", &mut small), Err(Error::WriteFailed));
/// net.bias[0] = f32::NAN;
/// let mut source = String::new();
/// assert_eq!(write_static(&net, "NET", "Net", &mut source), Err(Error::NonFiniteModel));
/// ```
pub fn write_static<T, M, W>(model: &M, name: &str, ty: &str, out: &mut W) -> Result<(), Error>
where
    T: Scalar,
    M: RustSource + StateDict<T>,
    W: Write,
{
    model.for_each_tensor(|_, values| match values {
        Values::Float(v) if !v.iter().all(|x| x.is_finite()) => Err(Error::NonFiniteModel),
        _ => Ok(()),
    })?;
    let write = |out: &mut W| -> fmt::Result {
        write!(out, "pub static {name}: {ty} = ")?;
        model.write_rust(out)?;
        out.write_str(";\n")
    };
    write(out).map_err(|_| Error::WriteFailed)
}

/// [`write_static`] for an int8 model ([`QModel`](crate::quant::QModel)): writes
/// `pub static {name}: {ty} = {model};` and a newline, the layers' integers as they are and the
/// scales of the input and output in Rust's shortest round-trip form. Refuses a model whose
/// input or output quantization is not valid ([`QParams::new`](crate::quant::QParams::new):
/// [`Error::InvalidQuantization`]); [`Error::WriteFailed`] if `out` refuses.
///
/// Every int8 layer implements [`RustSource`] with `const` constructors or struct literals, so
/// the `static` keeps the whole model, multipliers included, in flash.
///
/// ```
/// use tinyprop::io::rust::write_static_int8;
/// use tinyprop::quant::{Activation, QDense, QModel, QParams, Requantize};
/// let layer = QDense::<2, 1>::new([[64, -127]], [100], -3,
///     Requantize::new(0.02, &[0.004], 0.05, -128, Activation::Relu)?);
/// let model = QModel { input: QParams::new(0.02, -3)?, output: QParams::new(0.05, -128)?, layers: layer };
/// let mut source = String::new();
/// write_static_int8(&model, "NET", "QModel<QDense<2, 1>>", &mut source)?;
/// assert!(source.starts_with("pub static NET: QModel<QDense<2, 1>> = tinyprop::quant::QModel { \
///     input: tinyprop::quant::QParams { scale: 0.02, zero_point: -3 }, "));
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub fn write_static_int8<L, W>(
    model: &crate::quant::QModel<L>,
    name: &str,
    ty: &str,
    out: &mut W,
) -> Result<(), Error>
where
    L: RustSource,
    W: Write,
{
    for q in [&model.input, &model.output] {
        crate::quant::QParams::new(q.scale, q.zero_point)?;
    }
    let write = |out: &mut W| -> fmt::Result {
        write!(out, "pub static {name}: {ty} = ")?;
        model.write_rust(out)?;
        out.write_str(";\n")
    };
    write(out).map_err(|_| Error::WriteFailed)
}

/// `f32` or `f64`.
fn scalar_name<T: Scalar>() -> &'static str {
    if size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

/// `[a, b, …]`, each number as Rust prints it (shortest round trip).
fn write_list<T: Scalar, W: Write>(out: &mut W, values: &[T]) -> fmt::Result {
    out.write_char('[')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        write!(out, "{v:?}")?;
    }
    out.write_char(']')
}

/// A static matrix from its column-major storage.
pub(crate) fn write_matrix<T: Scalar, W: Write, const R: usize, const C: usize>(
    out: &mut W,
    m: &SMatrix<T, R, C>,
) -> fmt::Result {
    out.write_str("tinyprop::SMatrix::from_array_storage(tinyprop::nalgebra::ArrayStorage([")?;
    for (i, column) in m.data.0.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        write_list(out, column)?;
    }
    out.write_str("]))")
}

/// `match {constructor} { Ok(layer) => layer, Err(_) => panic!(…) }`: a `const` constructor
/// that checks its arguments (a failure is a build error).
fn write_checked<W: Write>(
    out: &mut W,
    constructor: impl FnOnce(&mut W) -> fmt::Result,
) -> fmt::Result {
    out.write_str("match ")?;
    constructor(out)?;
    out.write_str(" { Ok(layer) => layer, Err(_) => panic!(\"invalid layer\") }")
}

impl<T: Scalar, const IN: usize, const OUT: usize> RustSource for Dense<T, IN, OUT> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::Dense { weight: ")?;
        write_matrix(out, &self.weight)?;
        out.write_str(", bias: ")?;
        write_matrix(out, &self.bias)?;
        out.write_str(" }")
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize> RustSource for Dense<T, IN, OUT, NoBias> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::Dense { weight: ")?;
        write_matrix(out, &self.weight)?;
        out.write_str(", bias: tinyprop::layers::NoBias }")
    }
}

/// `tinyprop::layers::Affine { weight, bias }`.
fn write_affine<T: Scalar, W: Write, const N: usize>(
    out: &mut W,
    affine: &Affine<T, N>,
) -> fmt::Result {
    out.write_str("tinyprop::layers::Affine { weight: ")?;
    write_matrix(out, &affine.weight)?;
    out.write_str(", bias: ")?;
    write_matrix(out, &affine.bias)?;
    out.write_str(" }")
}

/// `tinyprop::{name}::<T, N>::from_state(affine, running_mean, running_var, n, momentum, eps)`:
/// the `const` constructor of both batch normalisations.
fn write_batch_norm<T: Scalar, W: Write, const N: usize>(
    out: &mut W,
    name: &str,
    affine: &Affine<T, N>,
    stats: (&SMatrix<T, N, 1>, &SMatrix<T, N, 1>),
    (n, m, e): (u32, T, T),
) -> fmt::Result {
    write_checked(out, |out| {
        write!(
            out,
            "tinyprop::{name}::<{}, {N}>::from_state(",
            scalar_name::<T>()
        )?;
        write_affine(out, affine)?;
        out.write_str(", ")?;
        write_matrix(out, stats.0)?;
        out.write_str(", ")?;
        write_matrix(out, stats.1)?;
        write!(out, ", {n}, {m:?}, {e:?})")
    })
}

impl<T: Scalar, const N: usize> RustSource for BatchNorm<T, N> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        let state = (self.num_batches_tracked, self.momentum(), self.eps());
        let stats = (&self.running_mean, &self.running_var);
        write_batch_norm(out, "BatchNorm", &self.affine, stats, state)
    }
}

impl<T: Scalar, const N: usize> RustSource for LayerNorm<T, N> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write_checked(out, |out| {
            write!(
                out,
                "tinyprop::LayerNorm::<{}, {N}>::from_state(",
                scalar_name::<T>()
            )?;
            write_affine(out, &self.affine)?;
            write!(out, ", {:?})", self.eps())
        })
    }
}

impl<T: Scalar> RustSource for LeakyRelu<T> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write_checked(out, |out| {
            let (t, slope) = (scalar_name::<T>(), self.negative_slope());
            write!(out, "tinyprop::LeakyRelu::<{t}>::const_new({slope:?})")
        })
    }
}

impl<T: Scalar> RustSource for Dropout<T, SplitMix64> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write_checked(out, |out| {
            let (t, p, state) = (scalar_name::<T>(), self.p(), self.rng().state());
            write!(
                out,
                "tinyprop::Dropout::<{t}>::const_new({p:?}, tinyprop::SplitMix64::new({state}))"
            )
        })
    }
}

impl<T: Scalar, const C: usize> RustSource for BatchNorm2d<T, C> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        let state = (self.num_batches_tracked, self.momentum(), self.eps());
        let stats = (&self.running_mean, &self.running_var);
        write_batch_norm(out, "BatchNorm2d", &self.affine, stats, state)
    }
}

/// A bias vector: a static matrix, from its column-major storage.
impl<T: Scalar, const R: usize, const C: usize> RustSource for SMatrix<T, R, C> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write_matrix(out, self)
    }
}

impl RustSource for NoBias {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::layers::NoBias")
    }
}

/// `tinyprop::layers::Conv::from_parts([[[[…]]]], bias)`: the weight nested as in PyTorch.
impl<
        T: Scalar,
        Dm: Spatial,
        const C: usize,
        const O: usize,
        const KH: usize,
        const KW: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        const CPG: usize,
        Bi: Bias<T, O> + RustSource,
        const PB: usize,
    > RustSource for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB>
{
    fn write_rust<W2: Write>(&self, out: &mut W2) -> fmt::Result {
        out.write_str("tinyprop::layers::Conv::from_parts([")?;
        for (o, per_out) in self.weight.iter().enumerate() {
            if o > 0 {
                out.write_str(", ")?;
            }
            out.write_char('[')?;
            for (i, per_in) in per_out.iter().enumerate() {
                if i > 0 {
                    out.write_str(", ")?;
                }
                out.write_char('[')?;
                for (r, row) in per_in.iter().enumerate() {
                    if r > 0 {
                        out.write_str(", ")?;
                    }
                    write_list(out, row)?;
                }
                out.write_char(']')?;
            }
            out.write_char(']')?;
        }
        out.write_str("], ")?;
        self.bias.write_rust(out)?;
        out.write_char(')')
    }
}

/// `tinyprop::layers::Pool::new()`.
impl<
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
    > RustSource for Pool<Kd, Dm, C, KH, KW, H, W, NOUT, S, P>
{
    fn write_rust<W2: Write>(&self, out: &mut W2) -> fmt::Result {
        out.write_str("tinyprop::layers::Pool::new()")
    }
}

impl<const C: usize> RustSource for GlobalAvgPool<C> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::GlobalAvgPool")
    }
}

/// Unit structs: their path.
macro_rules! unit_source {
    ($($name:ident)*) => {
        $(impl RustSource for $name {
            fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
                out.write_str(concat!("tinyprop::", stringify!($name)))
            }
        })*
    };
}
unit_source!(Relu Sigmoid Tanh Softmax Identity Flatten);

impl<L: RustSource> RustSource for Frozen<L> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::Frozen(")?;
        self.0.write_rust(out)?;
        out.write_char(')')
    }
}

impl<F: RustSource> RustSource for Residual<F> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::Residual(")?;
        self.0.write_rust(out)?;
        out.write_char(')')
    }
}

impl<F: RustSource, P: RustSource> RustSource for ResidualProjection<F, P> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::ResidualProjection { f: ")?;
        self.f.write_rust(out)?;
        out.write_str(", projection: ")?;
        self.projection.write_rust(out)?;
        out.write_str(" }")
    }
}

/// Tuples: `(a, b, …)`.
macro_rules! tuple_source {
    ($first:ident 0 $(, $name:ident $i:tt)*) => {
        impl<$first: RustSource $(, $name: RustSource)*> RustSource for ($first, $($name,)*) {
            fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
                out.write_char('(')?;
                self.0.write_rust(out)?;
                $(
                    out.write_str(", ")?;
                    self.$i.write_rust(out)?;
                )*
                out.write_char(')')
            }
        }
    };
}
tuple_source!(A 0, B 1);
tuple_source!(A 0, B 1, C 2);
tuple_source!(A 0, B 1, C 2, D 3);
tuple_source!(A 0, B 1, C 2, D 3, E 4);
tuple_source!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_source!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_source!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_source!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_source!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
