//! A model summary, like `torchinfo.summary` or Keras' `model.summary()`: one row per layer
//! with its `state_dict` name, what it is, the shape of its output for a batch, its parameter
//! count and bytes; then the totals and the memory of inference and of training with an
//! optimizer, from [`crate::memory`]. Printed with `Display`, without allocating.
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::summary::summary;
//! type Net = (Normalize<f32, 4>, Dense<f32, 4, 16>, Relu, Frozen<Dense<f32, 16, 3>>);
//! type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
//! let net = Net::default();
//! let text = summary::<f32, 4, 8, Net, Opt>(&net).to_string();
//! // The bytes of the dense layout (builds with AVX pad layers: see `Dense`'s layout).
//! if core::mem::align_of::<Dense<f32, 4, 16>>() == 4 {
//!     assert_eq!(
//!         text,
//!         "\
//! layer  kind       output   parameters  bytes
//! 0      Normalize  [8, 4]            0     32
//! 1      Linear     [8, 16]          80    320
//! 2      ReLU       [8, 16]           0      0
//! 3      Linear     [8, 3]    51 frozen    204
//! parameters: 131 (80 trained, 51 frozen); model: 556 bytes
//! inference (one sample): 728 bytes; training (batches of 8, with the optimizer): 4184 bytes
//! "
//!     );
//! } else {
//!     assert!(text.contains("3      Linear     [8, 3]    51 frozen    256")); // 204 padded
//! }
//! ```

use core::fmt;
use core::marker::PhantomData;

use nalgebra::SMatrix;

use crate::io::Shape;
use crate::layer::LayerRow;
use crate::{memory, Layer, Model, Scalar};

/// The summary of model `M` on batches of `B` samples of width `IN`, trained with optimizer
/// `O`: see the [module docs](self).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::summary::summary;
/// type Net = (Dense<f32, 2, 8>, Relu, Dense<f32, 8, 1>);
/// // `Display` without allocating: into a fixed-size string on a device, or a log line.
/// let mut text = heapless::String::<512>::new();
/// core::fmt::write(&mut text, format_args!("{}", summary::<f32, 2, 16, Net, Sgd<f32, <Net as Model<f32>>::Grads>>(&Net::default()))).unwrap();
/// assert!(text.contains("parameters: 33"), "{text}");
/// ```
pub struct Summary<'a, T, const IN: usize, const B: usize, M, O> {
    model: &'a M,
    types: PhantomData<fn() -> (T, O)>,
}

/// The summary of `model` (see the [module docs](self)).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::summary::summary;
/// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 3>);
/// type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
/// let net = Net::default();
/// println!("{}", summary::<f32, 4, 32, Net, Opt>(&net)); // batches of 32 samples of 4 features
/// ```
pub fn summary<T, const IN: usize, const B: usize, M, O>(model: &M) -> Summary<'_, T, IN, B, M, O>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, B>> + Layer<T, SMatrix<T, IN, 1>>,
{
    Summary {
        model,
        types: PhantomData,
    }
}

/// `[B, d0, d1, …]`.
struct Dims(usize, Shape);

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.0)?;
        for d in self.1.dims() {
            write!(f, ", {d}")?;
        }
        f.write_str("]")
    }
}

/// Counts the characters written to it.
struct Width(usize);

impl fmt::Write for Width {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(s.chars().count());
        Ok(())
    }
}

/// The number of characters `value` prints as.
fn width(value: impl fmt::Display) -> usize {
    let mut w = Width(0);
    let _ = fmt::write(&mut w, format_args!("{value}"));
    w.0
}

impl<T, const IN: usize, const B: usize, M, O> fmt::Display for Summary<'_, T, IN, B, M, O>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, B>> + Layer<T, SMatrix<T, IN, 1>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = Shape::vector(IN);
        let params = |r: &LayerRow<'_>| {
            if r.trainable || r.parameters == 0 {
                ParamCount(r.parameters, "")
            } else {
                ParamCount(r.parameters, " frozen")
            }
        };
        // First the widths of the columns, then the rows.
        let (mut wn, mut wk, mut wo, mut wp, mut wb) = (5, 4, 6, 10, 5);
        self.model.describe("", input, &mut |r| {
            wn = wn.max(width(r.name));
            wk = wk.max(width(r.kind));
            wo = wo.max(width(Dims(B, r.output)));
            wp = wp.max(width(params(r)));
            wb = wb.max(width(r.bytes));
            Ok(())
        })?;
        writeln!(
            f,
            "{:wn$}  {:wk$}  {:wo$}  {:>wp$}  {:>wb$}",
            "layer", "kind", "output", "parameters", "bytes"
        )?;
        self.model.describe("", input, &mut |r| {
            let out = Dims(B, r.output).to_fixed::<24>();
            writeln!(
                f,
                "{:wn$}  {:wk$}  {:wo$}  {:>wp$}  {:>wb$}",
                r.name,
                r.kind,
                out.as_str(),
                params(r).to_fixed::<24>().as_str(),
                r.bytes
            )
        })?;
        let (mut trained, mut frozen) = (0usize, 0usize);
        self.model.describe("", input, &mut |r| {
            let count = if r.trainable {
                &mut trained
            } else {
                &mut frozen
            };
            *count = count.saturating_add(r.parameters);
            Ok(())
        })?;
        writeln!(
            f,
            "parameters: {} ({trained} trained, {frozen} frozen); model: {} bytes",
            trained.saturating_add(frozen),
            core::mem::size_of::<M>()
        )?;
        writeln!(
            f,
            "inference (one sample): {} bytes; training (batches of {B}, with the optimizer): {} bytes",
            memory::inference_bytes::<T, SMatrix<T, IN, 1>, M>(),
            memory::training_bytes::<T, SMatrix<T, IN, B>, M, O>()
        )
    }
}

/// A parameter count, and ` frozen` for a frozen layer's.
struct ParamCount(usize, &'static str);

impl fmt::Display for ParamCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// Formatting into a fixed-size string first, so that width and alignment apply to the whole.
trait ToFixed: fmt::Display {
    fn to_fixed<const N: usize>(&self) -> heapless::String<N> {
        let mut s = heapless::String::new();
        let _ = fmt::write(&mut s, format_args!("{self}"));
        s
    }
}

impl<D: fmt::Display> ToFixed for D {}

/// The model's rows, for use in tests and tools: see [`Model::describe`].
///
/// ```
/// use tinyprop::io::Shape;
/// use tinyprop::prelude::*;
/// use tinyprop::summary::rows;
/// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 3>);
/// let mut names = Vec::new();
/// let output = rows::<f32, Net>(&Net::default(), Shape::vector(4), |r| {
///     names.push((r.name.to_string(), r.kind.to_string(), r.parameters))
/// })
/// .unwrap();
/// assert_eq!(output, Shape::vector(3));
/// assert_eq!(names[0], ("0".to_string(), "Linear".to_string(), 40));
/// assert_eq!(names[1].1, "ReLU");
/// ```
pub fn rows<T: Scalar, M: Model<T>>(
    model: &M,
    input: Shape,
    mut f: impl FnMut(&LayerRow<'_>),
) -> Result<Shape, fmt::Error> {
    model.describe("", input, &mut |r| {
        f(r);
        Ok(())
    })
}
