//! [safetensors](https://github.com/huggingface/safetensors) files, read from a `&[u8]` and
//! written into a `&mut [u8]`, without allocating.
//!
//! A file is 8 bytes of header length `n` (little-endian), `n` bytes of JSON header, then the
//! data. The header maps each tensor's name to its `dtype`, `shape` and `data_offsets`
//! (`[begin, end)` in the data section), and may hold a `__metadata__` object of strings.
//! Elements are in PyTorch's row-major order, little-endian.
//!
//! * [`save`] writes a model (any [`StateDict`]: a network, or an optimizer's state) under
//!   its PyTorch `state_dict` names, as `F32`, `F64`, `F16` or `BF16`; counters such as
//!   `num_batches_tracked` as `I64` scalars. [`saved_len`] gives the file's exact length first.
//! * [`load`] reads one back, strictly, as PyTorch's `load_state_dict(strict=True)`: every
//!   tensor of the model present once, with its shape, no other tensor, every value finite
//!   (and not negative where the model holds none, such as a variance). `F16`, `BF16`, `F32`
//!   and `F64` files load into `f32` and `f64` models alike. It checks the whole file before
//!   it writes anything: a load that fails changes nothing.
//! * [`SafeTensors`] reads a file without a model: its tensors' names, dtypes, shapes and
//!   bytes.
//!
//! Tensors that a model keeps column by column ([`Layout::ColumnMajor`], as
//! [`Dense`](crate::Dense)'s weight) are transposed on the way in and out, so a file has
//! PyTorch's element order whatever the memory layout.
//!
//! ```
//! use tinyprop::io::safetensors::{self, Dtype};
//! use tinyprop::prelude::*;
//! type Net = (Dense<f32, 4, 8>, Relu, BatchNorm<f32, 8>, Dense<f32, 8, 3>);
//! let mut net = Net::default();
//! net.init(Init::XavierUniform, &mut SplitMix64::new(1));
//!
//! let mut file = [0u8; 2048];
//! let len = safetensors::saved_len(&net, Dtype::F32).unwrap();
//! assert_eq!(safetensors::save(&net, Dtype::F32, &mut file).unwrap(), len);
//!
//! let mut copy = Net::default();
//! safetensors::load(&mut copy, &file[..len]).unwrap();
//! assert_eq!(copy, net);
//! // A file that does not fit the model changes nothing.
//! let mut other = (Dense::<f32, 4, 8>::default(), Relu, Dense::<f32, 8, 3>::default());
//! assert!(safetensors::load(&mut other, &file[..len]).is_err());
//! assert_eq!(other, Default::default());
//! ```

pub use crate::io::json::JsonStr;
use crate::io::json::{self, Cursor};
use crate::io::{Domain, Layout, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::{Error, Scalar};

/// The largest header read or written, in bytes (the format's limit, as the reference
/// implementation's).
///
/// ```
/// use tinyprop::io::safetensors::{SafeTensors, MAX_HEADER_LEN};
/// use tinyprop::Error;
/// let mut file = (MAX_HEADER_LEN as u64 + 1).to_le_bytes().to_vec();
/// file.extend_from_slice(b"{}");
/// assert_eq!(SafeTensors::parse(&file).unwrap_err(), Error::HeaderTooLarge);
/// ```
pub const MAX_HEADER_LEN: usize = 100_000_000;

/// The bytes of the header length that starts a file.
const PREFIX: usize = 8;

/// The metadata [`save`] writes: `{"format":"pt"}`, which PyTorch loaders look for.
const METADATA: &[u8] = br#"{"format":"pt"}"#;

/// The key of the header's metadata.
const METADATA_KEY: &str = "__metadata__";

/// The element types of the safetensors format (all those of a byte or more).
///
/// Any of them can be read by [`SafeTensors`]; a model loads from `F16`, `BF16`, `F32` and
/// `F64` (floats) and `I64` (counters), and saves as one of the four float types.
///
/// ```
/// use tinyprop::io::safetensors::Dtype;
/// assert_eq!(Dtype::BF16.name(), "BF16");
/// assert_eq!(Dtype::F64.size(), 8);
/// assert_eq!(Dtype::from_name("F8_E4M3"), Some(Dtype::F8E4M3));
/// assert_eq!(Dtype::from_name("F4"), None); // less than a byte: not read here
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Boolean, one byte.
    Bool,
    /// Unsigned byte.
    U8,
    /// Signed byte.
    I8,
    /// 8-bit float, 5 exponent and 2 mantissa bits.
    F8E5M2,
    /// 8-bit float, 4 exponent and 3 mantissa bits.
    F8E4M3,
    /// 8-bit exponent-only scale (`F8_E8M0`).
    F8E8M0,
    /// 8-bit float, 4 exponent and 3 mantissa bits, no negative zero (`F8_E4M3FNUZ`).
    F8E4M3Fnuz,
    /// 8-bit float, 5 exponent and 2 mantissa bits, no negative zero (`F8_E5M2FNUZ`).
    F8E5M2Fnuz,
    /// 16-bit signed integer.
    I16,
    /// 16-bit unsigned integer.
    U16,
    /// IEEE half precision (`torch.float16`).
    F16,
    /// bfloat16 (`torch.bfloat16`).
    BF16,
    /// 32-bit signed integer.
    I32,
    /// 32-bit unsigned integer.
    U32,
    /// IEEE single precision (`torch.float32`).
    F32,
    /// Complex number of two `F32`.
    C64,
    /// IEEE double precision (`torch.float64`).
    F64,
    /// 64-bit signed integer (`torch.int64`).
    I64,
    /// 64-bit unsigned integer.
    U64,
}

impl Dtype {
    /// Every dtype, in the order above.
    pub const ALL: [Dtype; 19] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::F8E8M0,
        Dtype::F8E4M3Fnuz,
        Dtype::F8E5M2Fnuz,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The name in a header (`"F32"`, `"F8_E4M3"`, …).
    ///
    /// ```
    /// use tinyprop::io::safetensors::Dtype;
    /// assert_eq!(Dtype::F8E4M3.name(), "F8_E4M3");
    /// assert!(Dtype::ALL.iter().all(|d| Dtype::from_name(d.name()) == Some(*d)));
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E8M0 => "F8_E8M0",
            Dtype::F8E4M3Fnuz => "F8_E4M3FNUZ",
            Dtype::F8E5M2Fnuz => "F8_E5M2FNUZ",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    /// The bytes of one element.
    ///
    /// ```
    /// use tinyprop::io::safetensors::Dtype;
    /// assert_eq!([Dtype::BF16.size(), Dtype::F32.size(), Dtype::I64.size()], [2, 4, 8]);
    /// ```
    pub const fn size(self) -> usize {
        match self {
            Dtype::Bool
            | Dtype::U8
            | Dtype::I8
            | Dtype::F8E5M2
            | Dtype::F8E4M3
            | Dtype::F8E8M0
            | Dtype::F8E4M3Fnuz
            | Dtype::F8E5M2Fnuz => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// The dtype of a header name, if it is one of [`Dtype::ALL`].
    ///
    /// ```
    /// use tinyprop::io::safetensors::Dtype;
    /// assert_eq!(Dtype::from_name("BF16"), Some(Dtype::BF16));
    /// assert_eq!(Dtype::from_name("bf16"), None); // names are case-sensitive
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether a model's floats load from and save as this dtype (`F16`, `BF16`, `F32`,
    /// `F64`).
    ///
    /// ```
    /// use tinyprop::io::safetensors::Dtype;
    /// assert!(Dtype::F16.is_float() && Dtype::BF16.is_float());
    /// assert!(!Dtype::I64.is_float() && !Dtype::F8E4M3.is_float());
    /// ```
    pub const fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }

    fn from_json(name: JsonStr<'_>) -> Option<Self> {
        Self::ALL.into_iter().find(|d| name == d.name())
    }
}

/// A tensor's shape as a file gives it (any number of dimensions).
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
/// use tinyprop::prelude::*;
/// let net = Dense::<f64, 3, 2>::default();
/// let mut file = [0u8; 512];
/// let len = safetensors::save(&net, Dtype::F64, &mut file).unwrap();
/// let st = SafeTensors::parse(&file[..len]).unwrap();
/// let weight = st.tensor("weight").unwrap();
/// assert_eq!(weight.shape().iter().collect::<Vec<_>>(), [2, 3]);
/// assert_eq!((weight.shape().rank(), weight.shape().elements()), (2, 6));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Dims<'a> {
    /// The text between the brackets, already checked to be integers and commas.
    text: &'a [u8],
    rank: usize,
    elements: u64,
}

impl<'a> Dims<'a> {
    /// The dimensions, outermost first.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let dims: Vec<u64> = st.tensor("0.weight").unwrap().shape().iter().collect();
    /// assert_eq!(dims, [2, 3]); // [out, in], as PyTorch's nn.Linear
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a + use<'a> {
        let mut c = Cursor::new(self.text);
        core::iter::from_fn(move || {
            let n = json::unsigned(&mut c)?.ok()?;
            c.expect(b',');
            Some(n)
        })
    }

    /// The number of dimensions (0 for a scalar).
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert_eq!(st.tensor("0.weight").unwrap().shape().rank(), 2);
    /// ```
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of elements (1 for a scalar).
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert_eq!(st.tensor("0.weight").unwrap().shape().elements(), 6);
    /// assert_eq!(st.tensor("2.bias").unwrap().shape().elements(), 1);
    /// ```
    pub fn elements(&self) -> u64 {
        self.elements
    }

    /// Whether these are the dimensions `dims`.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let shape = st.tensor("2.weight").unwrap().shape();
    /// assert!(shape.is(&[1, 2]));
    /// assert!(!shape.is(&[2, 1]));
    /// ```
    pub fn is(&self, dims: &[usize]) -> bool {
        self.rank == dims.len()
            && self
                .iter()
                .zip(dims)
                .all(|(a, &b)| u64::try_from(b) == Ok(a))
    }
}

/// One tensor of a file: its name, dtype, shape and bytes.
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
/// use tinyprop::prelude::*;
/// let mut bn = BatchNorm::<f32, 2>::default();
/// bn.num_batches_tracked = 3;
/// let mut file = [0u8; 1024];
/// let len = safetensors::save(&bn, Dtype::F16, &mut file).unwrap();
/// let st = SafeTensors::parse(&file[..len]).unwrap();
/// let var = st.tensor("running_var").unwrap();
/// assert_eq!((var.dtype(), var.data().len()), (Dtype::F16, 4));
/// assert!(var.name() == "running_var");
/// let count = st.tensor("num_batches_tracked").unwrap();
/// assert_eq!((count.dtype(), count.shape().rank()), (Dtype::I64, 0));
/// assert_eq!(count.data(), &3i64.to_le_bytes());
/// assert!(count.floats().is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    name: JsonStr<'a>,
    dtype: Dtype,
    shape: Dims<'a>,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// The name (escapes decoded by [`JsonStr`]).
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let names: Vec<String> = st.tensors().map(|t| t.name().chars().collect()).collect();
    /// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    /// ```
    pub fn name(&self) -> JsonStr<'a> {
        self.name
    }

    /// The element type.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert!(st.tensors().all(|t| t.dtype() == Dtype::F32));
    /// ```
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert!(st.tensor("0.bias").unwrap().shape().is(&[2]));
    /// ```
    pub fn shape(&self) -> Dims<'a> {
        self.shape
    }

    /// The bytes of its elements (row-major, little-endian): `elements · dtype.size()`.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let bias = st.tensor("2.bias").unwrap();
    /// assert_eq!(bias.data(), &0.0f32.to_le_bytes()); // one little-endian f32
    /// ```
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The elements as `f64`, for a float dtype (`F16`, `BF16`, `F32`, `F64`; exact); else
    /// `None`.
    ///
    /// ```
    /// use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// use tinyprop::prelude::*;
    /// let mut net = Dense::<f32, 2, 1>::default();
    /// net.bias[0] = 0.5;
    /// let mut file = [0u8; 512];
    /// let len = safetensors::save(&net, Dtype::BF16, &mut file).unwrap();
    /// let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let bias: Vec<f64> = st.tensor("bias").unwrap().floats().unwrap().collect();
    /// assert_eq!(bias, [0.5]);
    /// ```
    pub fn floats(&self) -> Option<impl Iterator<Item = f64> + 'a + use<'a>> {
        let dtype = self.dtype;
        dtype
            .is_float()
            .then(|| self.data.chunks_exact(dtype.size()))
            .map(move |chunks| chunks.map(move |b| read_float(dtype, b)))
    }
}

/// A safetensors file, checked, read in place.
///
/// [`SafeTensors::parse`] checks everything the format requires: the header length, the
/// header as JSON and as a safetensors header, the dtypes, and that the tensors' data
/// offsets match their shapes and cover the data section exactly, without overlapping.
/// Looking tensors up then reads the header again (it is not copied anywhere): each lookup
/// takes time in proportion to the header's length.
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
/// use tinyprop::prelude::*;
/// let net = (Dense::<f32, 2, 3>::default(), Relu, Dense::<f32, 3, 1>::default());
/// let mut file = [0u8; 1024];
/// let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
/// let st = SafeTensors::parse(&file[..len]).unwrap();
/// let names: Vec<String> = st.tensors().map(|t| t.name().to_string()).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// assert_eq!(st.tensor("2.weight").unwrap().dtype(), Dtype::F32);
/// let meta: Vec<(String, String)> =
///     st.metadata().map(|(k, v)| (k.to_string(), v.to_string())).collect();
/// assert_eq!(meta, [("format".to_string(), "pt".to_string())]);
/// assert_eq!(SafeTensors::parse(&file[..len - 1]).unwrap_err(), Error::Truncated);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SafeTensors<'a> {
    header: &'a str,
    data: &'a [u8],
    len: usize,
}

/// A tensor's entry as the header gives it.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    name: JsonStr<'a>,
    dtype: Dtype,
    shape: Dims<'a>,
    begin: u64,
    end: u64,
}

impl Entry<'_> {
    fn is_empty(&self) -> bool {
        self.begin == self.end
    }

    /// Whether the data of `self` and `other` share a byte, or an empty one lies strictly
    /// inside the other (so that no order of the two can be contiguous).
    fn overlaps(&self, other: &Self) -> bool {
        let (a, b, c, d) = (self.begin, self.end, other.begin, other.end);
        match (self.is_empty(), other.is_empty()) {
            (true, true) => false,
            (true, false) => c < a && a < d,
            (false, true) => a < c && c < b,
            (false, false) => a.max(c) < b.min(d),
        }
    }
}

/// A member of the header: a tensor, or the metadata.
enum Member<'a> {
    Tensor(Entry<'a>),
    Metadata,
}

/// The header's members in order, read on demand. The header is known to be JSON text of an
/// object; an entry that is not a safetensors entry gives an error, and ends the iteration.
struct Members<'a> {
    c: Cursor<'a>,
    done: bool,
}

impl<'a> Members<'a> {
    fn new(header: &'a str) -> Self {
        let mut c = Cursor::new(header.as_bytes());
        c.eat(b'{');
        c.skip_whitespace();
        let done = c.eat(b'}');
        Self { c, done }
    }

    fn member(&mut self) -> Result<Member<'a>, Error> {
        let c = &mut self.c;
        c.skip_whitespace();
        let key = json::string(c).ok_or(Error::InvalidHeader)?;
        c.expect(b':').ok_or(Error::InvalidHeader)?;
        c.skip_whitespace();
        let member = if key == METADATA_KEY {
            metadata(c, |_, _| ())?;
            Member::Metadata
        } else {
            Member::Tensor(entry(c, key)?)
        };
        c.skip_whitespace();
        match c.next_byte() {
            Some(b',') => {}
            Some(b'}') => self.done = true,
            _ => return Err(Error::InvalidHeader),
        }
        Ok(member)
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<Member<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let member = self.member();
        if member.is_err() {
            self.done = true;
        }
        Some(member)
    }
}

/// The metadata object (strings to strings), each pair given to `f`.
fn metadata<'a>(
    c: &mut Cursor<'a>,
    mut f: impl FnMut(JsonStr<'a>, JsonStr<'a>),
) -> Result<(), Error> {
    c.expect(b'{').ok_or(Error::InvalidHeader)?;
    c.skip_whitespace();
    if c.eat(b'}') {
        return Ok(());
    }
    loop {
        c.skip_whitespace();
        let key = json::string(c).ok_or(Error::InvalidHeader)?;
        c.expect(b':').ok_or(Error::InvalidHeader)?;
        c.skip_whitespace();
        let value = json::string(c).ok_or(Error::InvalidHeader)?;
        f(key, value);
        c.skip_whitespace();
        match c.next_byte() {
            Some(b',') => {}
            Some(b'}') => return Ok(()),
            _ => return Err(Error::InvalidHeader),
        }
    }
}

/// A tensor's entry `{"dtype": …, "shape": […], "data_offsets": [b, e]}`, keys in any order,
/// each once.
fn entry<'a>(c: &mut Cursor<'a>, name: JsonStr<'a>) -> Result<Entry<'a>, Error> {
    c.expect(b'{').ok_or(Error::InvalidHeader)?;
    let (mut dtype, mut shape, mut offsets) = (None, None, None);
    loop {
        c.skip_whitespace();
        let key = json::string(c).ok_or(Error::InvalidHeader)?;
        c.expect(b':').ok_or(Error::InvalidHeader)?;
        c.skip_whitespace();
        if key == "dtype" && dtype.is_none() {
            let name = json::string(c).ok_or(Error::InvalidHeader)?;
            dtype = Some(Dtype::from_json(name).ok_or(Error::UnsupportedDtype)?);
        } else if key == "shape" && shape.is_none() {
            shape = Some(dims(c)?);
        } else if key == "data_offsets" && offsets.is_none() {
            let d = dims(c)?;
            let mut it = d.iter();
            match (d.rank, it.next(), it.next()) {
                (2, Some(b), Some(e)) => offsets = Some((b, e)),
                _ => return Err(Error::InvalidHeader),
            }
        } else {
            return Err(Error::InvalidHeader);
        }
        c.skip_whitespace();
        match c.next_byte() {
            Some(b',') => {}
            Some(b'}') => break,
            _ => return Err(Error::InvalidHeader),
        }
    }
    match (dtype, shape, offsets) {
        (Some(dtype), Some(shape), Some((begin, end))) => Ok(Entry {
            name,
            dtype,
            shape,
            begin,
            end,
        }),
        _ => Err(Error::InvalidHeader),
    }
}

/// An array of non-negative integers; the product of its elements saturates.
fn dims<'a>(c: &mut Cursor<'a>) -> Result<Dims<'a>, Error> {
    c.expect(b'[').ok_or(Error::InvalidHeader)?;
    let start = c.pos();
    let (mut rank, mut elements) = (0usize, 1u64);
    c.skip_whitespace();
    let end = if c.peek() == Some(b']') {
        c.pos()
    } else {
        loop {
            let n = json::unsigned(c)
                .ok_or(Error::InvalidHeader)?
                .map_err(|()| Error::InvalidHeader)?;
            rank = rank.saturating_add(1);
            elements = elements.saturating_mul(n);
            c.skip_whitespace();
            let at = c.pos();
            match c.peek() {
                Some(b',') => c.bump(),
                Some(b']') => break at,
                _ => return Err(Error::InvalidHeader),
            }
        }
    };
    c.bump(); // `]`
    let text = c_slice(c, start, end);
    Ok(Dims {
        text,
        rank,
        elements,
    })
}

/// The text of `c` from `start` to `end`.
fn c_slice<'a>(c: &Cursor<'a>, start: usize, end: usize) -> &'a [u8] {
    c.text().get(start..end).unwrap_or(&[])
}

impl<'a> SafeTensors<'a> {
    /// Reads and checks a whole file (see the [type's docs](Self)). Errors, in the order
    /// they are checked: [`Error::Truncated`] (fewer than 8 bytes), [`Error::HeaderTooLarge`],
    /// [`Error::InvalidJson`], [`Error::InvalidHeader`], [`Error::UnsupportedDtype`],
    /// [`Error::InvalidOffsets`], [`Error::Truncated`] (data shorter than the tensors) or
    /// [`Error::OffsetsOutOfBounds`], [`Error::DuplicateTensor`] or
    /// [`Error::OverlappingTensors`], [`Error::UncoveredData`].
    ///
    /// Without allocating, the pairs of tensors are compared by reading the header once per
    /// tensor: the time grows with the number of tensors times the header's length.
    ///
    /// ```
    /// use tinyprop::io::safetensors::SafeTensors;
    /// use tinyprop::Error;
    /// let header = br#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    /// let mut file = (header.len() as u64).to_le_bytes().to_vec();
    /// file.extend_from_slice(header);
    /// file.extend_from_slice(&[0; 8]);
    /// assert_eq!(SafeTensors::parse(&file).unwrap().len(), 1);
    /// file.push(0); // a byte no tensor covers
    /// assert_eq!(SafeTensors::parse(&file).unwrap_err(), Error::UncoveredData);
    /// assert_eq!(SafeTensors::parse(&file[..7]).unwrap_err(), Error::Truncated);
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let (prefix, rest) = bytes
            .split_first_chunk::<PREFIX>()
            .ok_or(Error::Truncated)?;
        let n = usize::try_from(u64::from_le_bytes(*prefix)).map_err(|_| Error::HeaderTooLarge)?;
        if n > MAX_HEADER_LEN {
            return Err(Error::HeaderTooLarge);
        }
        let (header, data) = rest.split_at_checked(n).ok_or(Error::HeaderTooLarge)?;
        let header = core::str::from_utf8(header).map_err(|e| Error::InvalidJson {
            offset: e.valid_up_to(),
        })?;
        json::validate(header).map_err(|offset| Error::InvalidJson { offset })?;
        // Each entry, and the sizes.
        let (mut len, mut total, mut metadata, mut past_end) = (0usize, 0u64, 0usize, false);
        let data_len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        for member in Members::new(header) {
            let e = match member? {
                Member::Metadata => {
                    metadata = metadata.saturating_add(1);
                    if metadata > 1 {
                        return Err(Error::InvalidHeader);
                    }
                    continue;
                }
                Member::Tensor(e) => e,
            };
            let size = u64::try_from(e.dtype.size()).unwrap_or(u64::MAX);
            let span = e.end.checked_sub(e.begin);
            if e.shape.elements.checked_mul(size).is_none()
                || span != Some(e.shape.elements.saturating_mul(size))
            {
                return Err(Error::InvalidOffsets);
            }
            len = len.saturating_add(1);
            total = total.saturating_add(span.unwrap_or(0));
            past_end |= e.end > data_len;
        }
        if past_end {
            return Err(if total > data_len {
                Error::Truncated
            } else {
                Error::OffsetsOutOfBounds
            });
        }
        let file = Self { header, data, len };
        // Every pair, by reading the header again after each tensor.
        for (i, a) in file.entries().enumerate() {
            for b in file.entries().skip(i.saturating_add(1)) {
                if a.name == b.name {
                    return Err(Error::DuplicateTensor);
                }
                if a.overlaps(&b) {
                    return Err(Error::OverlappingTensors);
                }
            }
        }
        // In bounds and disjoint: they cover the data exactly if their sizes add up to it.
        if total != data_len {
            return Err(Error::UncoveredData);
        }
        Ok(file)
    }

    /// The number of tensors.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert_eq!(st.len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file holds no tensor.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert!(!st.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The JSON header (with any padding).
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert!(st.header().starts_with('{'));
    /// assert!(st.header().contains(r#""0.weight":{"dtype":"F32","shape":[2,3]"#), "{}", st.header());
    /// ```
    pub fn header(&self) -> &'a str {
        self.header
    }

    /// The tensors, in the header's order.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// // Every tensor and its size: what a user checks before loading a file from elsewhere.
    /// let total: usize = st.tensors().map(|t| t.data().len()).sum();
    /// assert_eq!(total, 4 * (6 + 2 + 2 + 1));
    /// ```
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'a>> + 'a + use<'a> {
        let data = self.data;
        self.entries().map(move |e| view(data, e))
    }

    /// The tensor named `name`, if there is one.
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// assert!(st.tensor("0.weight").is_some());
    /// assert!(st.tensor("1.weight").is_none()); // ReLU has no tensors
    /// ```
    pub fn tensor(&self, name: &str) -> Option<TensorView<'a>> {
        self.tensors().find(|t| t.name == name)
    }

    /// The pairs of the `__metadata__` object (none if it is absent).
    ///
    /// ```
    /// # use tinyprop::io::safetensors::{self, Dtype, SafeTensors};
    /// # use tinyprop::prelude::*;
    /// # let net = (Dense::<f32, 3, 2>::default(), Relu, Dense::<f32, 2, 1>::default());
    /// # let mut file = [0u8; 1024];
    /// # let len = safetensors::save(&net, Dtype::F32, &mut file).unwrap();
    /// # let st = SafeTensors::parse(&file[..len]).unwrap();
    /// let pairs: Vec<(String, String)> =
    ///     st.metadata().map(|(k, v)| (k.chars().collect(), v.chars().collect())).collect();
    /// assert_eq!(pairs, [("format".to_string(), "pt".to_string())]);
    /// ```
    pub fn metadata(&self) -> impl Iterator<Item = (JsonStr<'a>, JsonStr<'a>)> + 'a + use<'a> {
        // Read into a small window at a time: the pairs after the `skip`-th.
        let header = self.header;
        let mut skip = 0usize;
        core::iter::from_fn(move || {
            let mut c = metadata_cursor(header)?;
            let mut found = None;
            let mut i = 0usize;
            let _ = metadata(&mut c, |k, v| {
                if i == skip {
                    found = Some((k, v));
                }
                i = i.saturating_add(1);
            });
            skip = skip.saturating_add(1);
            found
        })
    }

    /// The tensors' entries; the header was checked, so none fails.
    fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a + use<'a> {
        Members::new(self.header).filter_map(|m| match m {
            Ok(Member::Tensor(e)) => Some(e),
            _ => None,
        })
    }
}

/// A cursor at the value of the header's `__metadata__`, if it has one.
fn metadata_cursor(header: &str) -> Option<Cursor<'_>> {
    let mut members = Members::new(header);
    loop {
        if members.done {
            return None;
        }
        let before = members.c.clone();
        if let Ok(Member::Metadata) = members.member() {
            let mut c = before;
            c.skip_whitespace();
            json::string(&mut c)?;
            c.expect(b':')?;
            return Some(c);
        }
    }
}

/// The view of a checked entry.
fn view<'a>(data: &'a [u8], e: Entry<'a>) -> TensorView<'a> {
    let begin = usize::try_from(e.begin).unwrap_or(usize::MAX);
    let end = usize::try_from(e.end).unwrap_or(usize::MAX);
    TensorView {
        name: e.name,
        dtype: e.dtype,
        shape: e.shape,
        data: data.get(begin..end).unwrap_or(&[]),
    }
}

// --- Elements ------------------------------------------------------------------------------

/// One element of a float dtype, as `f64` (exactly); 0 for another dtype or a short slice.
fn read_float(dtype: Dtype, b: &[u8]) -> f64 {
    match dtype {
        Dtype::F64 => b.first_chunk().map_or(0.0, |b| f64::from_le_bytes(*b)),
        Dtype::F32 => b
            .first_chunk()
            .map_or(0.0, |b| f64::from(f32::from_le_bytes(*b))),
        Dtype::F16 => b
            .first_chunk()
            .map_or(0.0, |b| f16_to_f64(u16::from_le_bytes(*b))),
        Dtype::BF16 => b.first_chunk().map_or(0.0, |b| {
            f64::from(f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16))
        }),
        _ => 0.0,
    }
}

/// An IEEE half-precision value, exactly.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = (h >> 10) & 0x1F;
    let mantissa = f64::from(h & 0x3FF);
    // 2^-24, the smallest subnormal.
    const TINY: f64 = 1.0 / 16_777_216.0;
    sign * match exponent {
        0 => mantissa * TINY,
        0x1F if mantissa == 0.0 => f64::INFINITY,
        0x1F => f64::NAN,
        e => (1024.0 + mantissa) * f64::from(1u32 << e) * (TINY / 2.0),
    }
}

/// `x` (finite) rounded to nearest-even into a binary format of `exp_bits` exponent and
/// `man_bits` mantissa bits (half: 5, 10; bfloat16: 8, 7), as its bits; `None` if it rounds
/// beyond the largest finite value.
fn narrow(x: f64, exp_bits: u32, man_bits: u32) -> Option<u16> {
    const FRACTION: u64 = (1 << 52) - 1;
    let bits = x.to_bits();
    let sign = (bits >> 63).checked_shl(exp_bits.checked_add(man_bits)?)?;
    let biased = i64::try_from((bits >> 52) & 0x7FF).ok()?;
    if biased == 0 {
        // Zero, or an f64 subnormal: far below the smallest subnormal of either format.
        return u16::try_from(sign).ok();
    }
    let e = biased.checked_sub(1023)?;
    let bias = 1i64.checked_shl(exp_bits.checked_sub(1)?)?.checked_sub(1)?;
    let e_min = 1i64.checked_sub(bias)?;
    // The significand with its leading 1: 53 bits.
    let m = (1 << 52) | (bits & FRACTION);
    // Keep `man_bits` bits after the leading 1, fewer for a subnormal result.
    let below = u32::try_from(e_min.checked_sub(e)?.max(0)).ok()?;
    let drop = 52u32.checked_sub(man_bits)?.checked_add(below)?;
    if drop >= 54 {
        return u16::try_from(sign).ok(); // below half the smallest subnormal
    }
    let q = m.checked_shr(drop)?;
    let r = m & 1u64.checked_shl(drop)?.checked_sub(1)?;
    let half = 1u64.checked_shl(drop.checked_sub(1)?)?;
    let q = if r > half || (r == half && q & 1 == 1) {
        q.checked_add(1)?
    } else {
        q
    };
    let magnitude = if e < e_min {
        // Subnormal: exponent field 0, or 1 if it rounded up to the smallest normal value,
        // which the carry into bit `man_bits` gives.
        q
    } else {
        // Normal: the leading 1 of q is at bit `man_bits`, or one higher if rounding carried.
        let (q, e) = if q.checked_shr(man_bits.checked_add(1)?)? != 0 {
            (q >> 1, e.checked_add(1)?)
        } else {
            (q, e)
        };
        let field = u64::try_from(e.checked_add(bias)?).ok()?;
        if field >= 1u64.checked_shl(exp_bits)?.checked_sub(1)? {
            return None;
        }
        field.checked_shl(man_bits)? | (q & 1u64.checked_shl(man_bits)?.checked_sub(1)?)
    };
    u16::try_from(sign | magnitude).ok()
}

/// Where element `k` of a tensor in PyTorch's row-major order is in memory.
fn memory_index(layout: Layout, dims: &[usize], k: usize) -> Option<usize> {
    match layout {
        Layout::RowMajor => Some(k),
        Layout::ColumnMajor => {
            // The row-major multi-index of `k`, innermost dimension last …
            let mut index = [0usize; 4];
            let mut rest = k;
            for (&d, i) in dims.iter().zip(index.iter_mut()).rev() {
                *i = rest.checked_rem(d)?;
                rest = rest.checked_div(d)?;
            }
            // … and its offset with the first dimension innermost.
            let mut offset = 0usize;
            for (&d, &i) in dims.iter().zip(index.iter()).rev() {
                offset = offset.checked_mul(d)?.checked_add(i)?;
            }
            Some(offset)
        }
    }
}

// --- Loading -------------------------------------------------------------------------------

/// Loads `model` (a network, or an optimizer's state) from the safetensors file `bytes`,
/// strictly: the file must hold every tensor of the model once under its `state_dict` name
/// (see [`io::names`](crate::io::names)), with the model's shape, and nothing else.
///
/// Floats load from `F16`, `BF16`, `F32` or `F64`, into `f32` or `f64` (rounded to nearest
/// where the file is more precise); counters from `I64` scalars in `0..=u32::MAX`.
///
/// All or nothing: the file is checked first ([`SafeTensors::parse`]), then every tensor of
/// the model against it, and only then is the model written. Errors, after those of
/// [`SafeTensors::parse`]: [`Error::MissingTensor`], [`Error::ShapeMismatch`],
/// [`Error::DtypeMismatch`], [`Error::NonFiniteValue`], [`Error::ValueOutOfRange`],
/// [`Error::NegativeValue`], [`Error::CountOutOfRange`] (for the first tensor, in
/// `state_dict` order, that has one), then [`Error::UnexpectedTensor`]; and the errors of the
/// model's [`StateDict::visit`] ([`Error::NameTooLong`]). After an error the model is as it
/// was; after `Ok` every value in it is finite.
///
/// An optimizer loads through the optimizer itself (which then measures its state afresh at
/// the next step) or its `state_mut()`.
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype};
/// use tinyprop::optim::{Adam, AdamConfig};
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 2, 2>;
/// let mut opt = Adam::<f64, Net>::new(AdamConfig::default()).unwrap();
/// let (mut net, mut grads) = (Net::default(), Net::default());
/// grads.bias.fill(1.0);
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads).unwrap();
///
/// let mut file = [0u8; 1024];
/// let len = safetensors::save(&opt, Dtype::F64, &mut file).unwrap();
/// let mut restored = Adam::<f64, Net>::new(AdamConfig::default()).unwrap();
/// safetensors::load(&mut restored, &file[..len]).unwrap();
/// assert_eq!(restored.state(), opt.state());
/// assert_eq!(restored.state().step, 1);
/// ```
pub fn load<T: Scalar, M: StateDict<T> + ?Sized>(model: &mut M, bytes: &[u8]) -> Result<(), Error> {
    let file = SafeTensors::parse(bytes)?;
    let mut index = 0usize;
    model.visit(&mut Name::new(), &mut |info, values| {
        let i = index;
        index = index.saturating_add(1);
        let view = file
            .tensor(info.name)
            .ok_or(Error::MissingTensor { index: i })?;
        check(i, &info, &values, &view)
    })?;
    if index != file.len() {
        return Err(Error::UnexpectedTensor);
    }
    // Everything was checked: this pass cannot fail (and would report an error if it did).
    let mut index = 0usize;
    model.visit_mut(&mut Name::new(), &mut |info, values| {
        let i = index;
        index = index.saturating_add(1);
        let view = file
            .tensor(info.name)
            .ok_or(Error::MissingTensor { index: i })?;
        write(&info, values, &view);
        Ok(())
    })
}

/// Checks that `view` can be loaded into tensor `index` of a model, `info` and `values`.
fn check<T: Scalar>(
    index: usize,
    info: &TensorInfo<'_>,
    values: &Values<'_, T>,
    view: &TensorView<'_>,
) -> Result<(), Error> {
    let dims = info.shape.dims();
    if !view.shape.is(dims) {
        return Err(Error::ShapeMismatch { index });
    }
    match values {
        Values::Float(memory) => {
            let floats = view.floats().ok_or(Error::DtypeMismatch { index })?;
            if memory.len() != info.shape.elements() {
                return Err(Error::ShapeMismatch { index });
            }
            for v in floats {
                if !v.is_finite() {
                    return Err(Error::NonFiniteValue { index });
                }
                if !T::of_f64(v).is_finite() {
                    return Err(Error::ValueOutOfRange { index });
                }
                if info.domain == Domain::NonNegative && v < 0.0 {
                    return Err(Error::NegativeValue { index });
                }
            }
            Ok(())
        }
        Values::Count(_) => {
            if view.dtype != Dtype::I64 {
                return Err(Error::DtypeMismatch { index });
            }
            let bytes = view.data.first_chunk().filter(|_| view.data.len() == 8);
            let n = bytes.ok_or(Error::ShapeMismatch { index })?;
            u32::try_from(i64::from_le_bytes(*n))
                .map(|_| ())
                .map_err(|_| Error::CountOutOfRange { index })
        }
    }
}

/// Writes `view`, checked by [`check`], into `values`.
fn write<T: Scalar>(info: &TensorInfo<'_>, values: ValuesMut<'_, T>, view: &TensorView<'_>) {
    match values {
        ValuesMut::Float(memory) => {
            let dims = info.shape.dims();
            if let Some(floats) = view.floats() {
                for (k, v) in floats.enumerate() {
                    let at = memory_index(info.layout, dims, k);
                    if let Some(m) = at.and_then(|at| memory.get_mut(at)) {
                        *m = T::of_f64(v);
                    }
                }
            }
        }
        ValuesMut::Count(n) => {
            let value = view.data.first_chunk().map(|b| i64::from_le_bytes(*b));
            if let Some(v) = value.and_then(|v| u32::try_from(v).ok()) {
                *n = v;
            }
        }
    }
}

// --- Saving --------------------------------------------------------------------------------

/// The exact length in bytes of the file [`save`] writes for `model` with floats as `dtype`.
///
/// Errors: [`Error::UnsupportedDtype`] for a `dtype` other than `F16`, `BF16`, `F32` and
/// `F64`; [`Error::InvalidHeader`] if a tensor is named `__metadata__`;
/// [`Error::HeaderTooLarge`] if the header would pass [`MAX_HEADER_LEN`]; [`Error::Overflow`]
/// if the length does not fit a `usize`; and the errors of the model's [`StateDict::visit`].
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype};
/// use tinyprop::prelude::*;
/// let net = Dense::<f32, 3, 2>::default();
/// // 8 bytes of length, the header padded to 8 bytes, then 6 + 2 elements.
/// let len = safetensors::saved_len(&net, Dtype::F32).unwrap();
/// assert_eq!(len % 8, 0);
/// assert_eq!(safetensors::saved_len(&net, Dtype::F64).unwrap(), len + 8 * 4);
/// ```
pub fn saved_len<T: Scalar, M: StateDict<T> + ?Sized>(
    model: &M,
    dtype: Dtype,
) -> Result<usize, Error> {
    Ok(plan(model, dtype)?.len)
}

/// Writes `model` (a network, or an optimizer's state) as a safetensors file into the start
/// of `out`, floats as `dtype` (`F16`, `BF16`, `F32` or `F64`; rounded to nearest), counters
/// as `I64` scalars; returns the file's length ([`saved_len`]).
///
/// The header lists the tensors in `state_dict` order, with metadata `{"format":"pt"}`, and
/// is padded with spaces so that the data starts at a multiple of 8 bytes. The data holds
/// the 8-byte tensors first, then the 4-byte and the 2-byte ones, each in `state_dict` order,
/// so that every tensor starts at a multiple of its element size.
///
/// All or nothing: refuses, before writing a byte, a buffer shorter than the file
/// ([`Error::BufferTooSmall`]), a NaN or an infinity in the model
/// ([`Error::NonFiniteValue`]), a value that `dtype` cannot hold ([`Error::ValueOutOfRange`]),
/// a negative value where the model holds none ([`Error::NegativeValue`]), and the errors of
/// [`saved_len`]. So every file it writes, [`load`] reads back.
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype};
/// use tinyprop::prelude::*;
/// let mut net = Dense::<f64, 1, 1>::default();
/// net.weight[(0, 0)] = 1e300;
/// let mut file = [0u8; 256];
/// assert!(safetensors::save(&net, Dtype::F64, &mut file).is_ok());
/// assert_eq!(
///     safetensors::save(&net, Dtype::F32, &mut file),
///     Err(Error::ValueOutOfRange { index: 0 })
/// );
/// assert!(matches!(
///     safetensors::save(&net, Dtype::F64, &mut file[..100]),
///     Err(Error::BufferTooSmall { .. })
/// ));
/// ```
pub fn save<T: Scalar, M: StateDict<T> + ?Sized>(
    model: &M,
    dtype: Dtype,
    out: &mut [u8],
) -> Result<usize, Error> {
    let plan = plan(model, dtype)?;
    let len = out.len();
    let out = out.get_mut(..plan.len).ok_or(Error::BufferTooSmall {
        needed: plan.len,
        len,
    })?;
    let mut sink = Sink::new(Some(out));
    let header = u64::try_from(plan.header).map_err(|_| Error::Overflow)?;
    sink.put(&header.to_le_bytes());
    header_json(model, dtype, &plan.starts, &mut sink)?;
    for _ in plan.header_text..plan.header {
        sink.put(b" ");
    }
    for size in GROUPS {
        model.for_each_tensor(|info, values| {
            if element_size(&values, dtype) == size {
                put_values(&info, &values, dtype, &mut sink);
            }
            Ok(())
        })?;
    }
    Ok(sink.pos)
}

/// The element sizes, in the order of the data section.
const GROUPS: [usize; 4] = [8, 4, 2, 1];

/// What a model's file looks like: its length, its header's (padded, and as text) and where
/// each group of [`GROUPS`] starts in the data section.
struct Plan {
    len: usize,
    header: usize,
    header_text: usize,
    starts: [u64; 4],
}

/// The element size in the file of a tensor's values.
fn element_size<T>(values: &Values<'_, T>, dtype: Dtype) -> usize {
    match values {
        Values::Float(_) => dtype.size(),
        Values::Count(_) => Dtype::I64.size(),
    }
}

/// Checks `model` for saving as `dtype` and measures its file.
fn plan<T: Scalar, M: StateDict<T> + ?Sized>(model: &M, dtype: Dtype) -> Result<Plan, Error> {
    if !dtype.is_float() {
        return Err(Error::UnsupportedDtype);
    }
    let mut sizes = [0u64; 4];
    let mut index = 0usize;
    model.for_each_tensor(|info, values| {
        let i = index;
        index = index.saturating_add(1);
        if info.name == METADATA_KEY {
            return Err(Error::InvalidHeader);
        }
        let elements = info.shape.elements();
        let size = element_size(&values, dtype);
        match &values {
            Values::Float(memory) => {
                if memory.len() != elements {
                    return Err(Error::ShapeMismatch { index: i });
                }
                for &v in memory.iter() {
                    let v = v.as_f64();
                    if !v.is_finite() {
                        return Err(Error::NonFiniteValue { index: i });
                    }
                    if info.domain == Domain::NonNegative && v < 0.0 {
                        return Err(Error::NegativeValue { index: i });
                    }
                    if to_bytes(v, dtype).is_none() {
                        return Err(Error::ValueOutOfRange { index: i });
                    }
                }
            }
            Values::Count(_) if elements != 1 => return Err(Error::ShapeMismatch { index: i }),
            Values::Count(_) => {}
        }
        let bytes = u64::try_from(elements)
            .ok()
            .zip(u64::try_from(size).ok())
            .and_then(|(e, s)| e.checked_mul(s))
            .ok_or(Error::Overflow)?;
        let group = GROUPS.iter().position(|&g| g == size);
        if let Some(total) = group.and_then(|g| sizes.get_mut(g)) {
            *total = total.checked_add(bytes).ok_or(Error::Overflow)?;
        }
        Ok(())
    })?;
    let mut starts = [0u64; 4];
    let mut data = 0u64;
    for (start, size) in starts.iter_mut().zip(sizes) {
        *start = data;
        data = data.checked_add(size).ok_or(Error::Overflow)?;
    }
    let mut counter = Sink::new(None);
    header_json(model, dtype, &starts, &mut counter)?;
    let header_text = counter.pos;
    let header = header_text
        .checked_next_multiple_of(PREFIX)
        .ok_or(Error::Overflow)?;
    if header > MAX_HEADER_LEN {
        return Err(Error::HeaderTooLarge);
    }
    let len = usize::try_from(data)
        .ok()
        .and_then(|d| d.checked_add(header)?.checked_add(PREFIX))
        .ok_or(Error::Overflow)?;
    Ok(Plan {
        len,
        header,
        header_text,
        starts,
    })
}

/// Writes into a buffer, or only counts (without one).
struct Sink<'o> {
    out: Option<&'o mut [u8]>,
    pos: usize,
}

impl<'o> Sink<'o> {
    fn new(out: Option<&'o mut [u8]>) -> Self {
        Self { out, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self
            .out
            .as_deref_mut()
            .and_then(|o| o.get_mut(self.pos..end))
        {
            for (d, &s) in dst.iter_mut().zip(bytes) {
                *d = s;
            }
        }
        self.pos = end;
    }

    /// A number in decimal.
    fn put_number(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = n;
        loop {
            start = start.saturating_sub(1);
            if let Some(d) = digits.get_mut(start) {
                // `rest % 10` is a digit.
                *d = b'0'.saturating_add(u8::try_from(rest % 10).unwrap_or(0));
            }
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.put(digits.get(start..).unwrap_or(&[]));
    }
}

/// The header's JSON text (without padding): the metadata, then each tensor in `state_dict`
/// order, its data at the next place in its group (which starts at `starts`).
fn header_json<T: Scalar, M: StateDict<T> + ?Sized>(
    model: &M,
    dtype: Dtype,
    starts: &[u64; 4],
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    sink.put(b"{\"");
    sink.put(METADATA_KEY.as_bytes());
    sink.put(b"\":");
    sink.put(METADATA);
    let mut next = *starts;
    model.for_each_tensor(|info, values| {
        let size = element_size(&values, dtype);
        let file_dtype = match values {
            Values::Float(_) => dtype,
            Values::Count(_) => Dtype::I64,
        };
        let elements = u64::try_from(info.shape.elements()).map_err(|_| Error::Overflow)?;
        let bytes = elements
            .checked_mul(u64::try_from(size).map_err(|_| Error::Overflow)?)
            .ok_or(Error::Overflow)?;
        let group = GROUPS.iter().position(|&g| g == size);
        let begin = group.and_then(|g| next.get_mut(g)).ok_or(Error::Overflow)?;
        let end = begin.checked_add(bytes).ok_or(Error::Overflow)?;
        sink.put(b",\"");
        json::escape(info.name, |b| sink.put(b));
        sink.put(b"\":{\"dtype\":\"");
        sink.put(file_dtype.name().as_bytes());
        sink.put(b"\",\"shape\":[");
        for (i, &d) in info.shape.dims().iter().enumerate() {
            if i > 0 {
                sink.put(b",");
            }
            sink.put_number(u64::try_from(d).map_err(|_| Error::Overflow)?);
        }
        sink.put(b"],\"data_offsets\":[");
        sink.put_number(*begin);
        sink.put(b",");
        sink.put_number(end);
        sink.put(b"]}");
        *begin = end;
        Ok(())
    })?;
    sink.put(b"}");
    Ok(())
}

/// Writes a tensor's elements in row-major order (checked by [`plan`]).
fn put_values<T: Scalar>(
    info: &TensorInfo<'_>,
    values: &Values<'_, T>,
    dtype: Dtype,
    sink: &mut Sink<'_>,
) {
    match values {
        Values::Float(memory) => {
            let dims = info.shape.dims();
            for k in 0..memory.len() {
                let v = memory_index(info.layout, dims, k).and_then(|at| memory.get(at));
                let bytes = v.and_then(|v| to_bytes(v.as_f64(), dtype));
                let (bytes, len) = bytes.unwrap_or(([0; 8], dtype.size()));
                sink.put(bytes.get(..len).unwrap_or(&[]));
            }
        }
        Values::Count(n) => sink.put(&i64::from(*n).to_le_bytes()),
    }
}

/// `v` (finite) as `dtype`'s little-endian bytes (the first `len` of 8), rounded to
/// nearest-even; `None` if it overflows `dtype`.
fn to_bytes(v: f64, dtype: Dtype) -> Option<([u8; 8], usize)> {
    let mut out = [0u8; 8];
    let bytes: &[u8] = match dtype {
        Dtype::F64 => &v.to_le_bytes(),
        Dtype::F32 => {
            #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
            let x = v as f32;
            if !x.is_finite() {
                return None;
            }
            &x.to_le_bytes()
        }
        Dtype::F16 => &narrow(v, 5, 10)?.to_le_bytes(),
        Dtype::BF16 => &narrow(v, 8, 7)?.to_le_bytes(),
        _ => return None,
    };
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = b;
    }
    Some((out, bytes.len()))
}
