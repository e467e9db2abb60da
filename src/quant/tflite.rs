//! TensorFlow Lite `.tflite` files read into int8 models ([`QModel`]), from a `&[u8]`, without
//! allocating. With the `tflite` feature (`tinyprop = { version = "…", features = ["tflite"] }`):
//! off by default, as its error messages take about 1.6 KB of flash in any firmware that
//! prints errors.
//!
//! A `.tflite` file is a [FlatBuffers] buffer of TFLite's schema (version 3). The reader here
//! checks every offset, length and index against the bytes it is given before it reads them
//! (it never recurses: the schema's tables are read at a fixed depth), and reads only what an
//! int8 network of tinyprop's layers needs:
//!
//! | operator            | layer                                      |
//! |---------------------|--------------------------------------------|
//! | `FULLY_CONNECTED`   | [`QDense`]                                 |
//! | `CONV_2D`           | [`QConv2d`]                                |
//! | `DEPTHWISE_CONV_2D` | [`QDepthwiseConv2d`]                       |
//! | `MAX_POOL_2D`       | [`QMaxPool2d`](crate::quant::QMaxPool2d)   |
//! | `AVERAGE_POOL_2D`   | [`QAvgPool2d`](crate::quant::QAvgPool2d)   |
//! | `RESHAPE`           | [`QFlatten`]                               |
//!
//! The type of the model says what the file must hold ([`FromTflite`]), and [`load`] checks
//! it strictly: one subgraph; one operator per layer, in the order of the layers, each reading
//! the tensor the one before wrote; the model's input the first operator's input and its output
//! the last one's; int8 activations with one scale and zero point; int8 weights with zero point
//! 0 and one scale or one per output channel (along TFLite's channel axis); an int32 bias or
//! none (zeros); every shape the layer's (a batch of 1); strides, padding, kernel size, depth
//! multiplier and fused activation the layer's, dilation 1. Anything else is an [`Error`]
//! naming what is wrong ([`TfliteError`], or [`Error::InvalidQuantization`] for a scale or a
//! zero point outside the int8 specification), and a failed [`load_into`] changes nothing.
//!
//! How a layer rescales its accumulators is chosen by its type ([`Rescale`]), not by the file:
//! LiteRT's reference `FULLY_CONNECTED` kernel is `QDense<I, O, Float64Rounding>`, its
//! convolutions are `QConv2d<…, Multiplier>`.
//!
//! ```standalone_crate
//! use tinyprop::quant::tflite;
//! use tinyprop::quant::{Float64Rounding, QDense};
//! // Keras' Dense(32, relu) then Dense(10), converted by TensorFlow to int8.
//! type Mlp = (QDense<64, 32, Float64Rounding>, QDense<32, 10, Float64Rounding>);
//! let bytes = include_bytes!("../../tests/data/tflite/mlp_64_32_10.tflite");
//! let model = tflite::load::<Mlp>(bytes)?;
//! let mut y = [0i8; 10];
//! model.forward(&[0i8; 64], &mut y);
//!
//! // Another type than the file's is an error, and leaves the destination as it was.
//! let mut other = tflite::load::<QDense<16, 8>>(include_bytes!(
//!     "../../tests/data/tflite/fc_16_8_relu.tflite"
//! ))?;
//! let before = other;
//! assert!(tflite::load_into(&mut other, bytes).is_err());
//! assert_eq!(other, before);
//! # Ok::<(), tinyprop::Error>(())
//! ```
//!
//! [FlatBuffers]: https://flatbuffers.dev/

use core::fmt;

use crate::quant::{
    conv_out_size, Activation, Padding, QConv2d, QDense, QDepthwiseConv2d, QFlatten, QModel,
    QParams, QPool2d, QPoolKind, Requantize, Rescale,
};
use crate::Error;

/// How a `.tflite` file does not fit the model it is loaded into (inside
/// [`Error::Tflite`]). `op` is an operator's position in the subgraph, `tensor` a tensor's
/// index in the subgraph, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfliteError {
    /// Not a valid FlatBuffer: an offset, a length or an index points outside the bytes, or a
    /// table's vtable is malformed.
    Malformed,
    /// The file identifier (bytes 4 to 8) is not `TFL3`.
    Identifier,
    /// The schema version is not 3.
    Version(u32),
    /// The file has this number of subgraphs instead of one.
    Subgraphs(usize),
    /// The subgraph has another number of operators than the model's layers.
    OperatorCount {
        /// The operators the model's layers read.
        expected: usize,
        /// The operators of the file.
        found: usize,
    },
    /// An operator that is not read here (a custom operator, or a builtin code other than
    /// those of the layers).
    UnsupportedOperator {
        /// The operator's position.
        op: usize,
        /// Its builtin code (TFLite's `BuiltinOperator`).
        code: i32,
    },
    /// An operator that is not the one the layer at its position reads.
    WrongOperator {
        /// The operator's position.
        op: usize,
        /// Its builtin code.
        code: i32,
    },
    /// An operator with another number of inputs or outputs than its kind has, or an input
    /// that is absent (`-1`) where one is needed.
    Operands {
        /// The operator's position.
        op: usize,
    },
    /// An operator whose input is not the output of the operator before it.
    NotChained {
        /// The operator's position.
        op: usize,
    },
    /// The subgraph's inputs are not the first operator's input, alone.
    ModelInput,
    /// The subgraph's outputs are not the last operator's output, alone.
    ModelOutput,
    /// A tensor of another type than the layer needs (int8 activations and weights, an int32
    /// bias).
    TensorType {
        /// The tensor.
        tensor: usize,
    },
    /// A tensor of another shape than the layer's.
    Shape {
        /// The tensor.
        tensor: usize,
    },
    /// An operator's options differ from the layer's (stride, padding, kernel size, depth
    /// multiplier, dilation, weight format), or are missing or of another type.
    Options {
        /// The operator's position.
        op: usize,
    },
    /// A fused activation function other than none, ReLU, ReLU6 and ReLU between −1 and 1.
    Activation {
        /// The operator's position.
        op: usize,
    },
    /// A tensor without the quantization it needs (no scale, or custom quantization details).
    NoQuantization {
        /// The tensor.
        tensor: usize,
    },
    /// A quantized tensor with another number of scales (or zero points) than it may have:
    /// one for an activation; one or one per output channel for a weight.
    ScaleCount {
        /// The tensor.
        tensor: usize,
    },
    /// A weight quantized per channel along another axis than the output channels'.
    QuantizedDimension {
        /// The tensor.
        tensor: usize,
    },
    /// A weight with a zero point other than 0.
    WeightZeroPoint {
        /// The tensor.
        tensor: usize,
    },
    /// An operator whose output is quantized otherwise than its input, where they must be the
    /// same (pooling, reshape).
    QuantizationChanged {
        /// The operator's position.
        op: usize,
    },
    /// A weight or bias tensor without data.
    NoData {
        /// The tensor.
        tensor: usize,
    },
    /// A tensor's data of another size than its shape and type need.
    DataSize {
        /// The tensor.
        tensor: usize,
    },
    /// A buffer whose data is stored outside the FlatBuffer (its `offset` and `size` fields)
    /// ends past the end of the bytes.
    BufferOutOfBounds {
        /// The buffer's index.
        buffer: usize,
    },
}

impl fmt::Display for TfliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TfliteError::Malformed => f.write_str("not a valid FlatBuffer"),
            TfliteError::Identifier => f.write_str("the file identifier is not TFL3"),
            TfliteError::Version(v) => write!(f, "schema version {v} instead of 3"),
            TfliteError::Subgraphs(n) => write!(f, "{n} subgraphs instead of one"),
            TfliteError::OperatorCount { expected, found } => write!(
                f,
                "{found} operators in the file but the model's layers read {expected}"
            ),
            TfliteError::UnsupportedOperator { op, code } => {
                write!(f, "operator {op} (builtin code {code}) is not supported")
            }
            TfliteError::WrongOperator { op, code } => write!(
                f,
                "operator {op} (builtin code {code}) is not the layer's at its position"
            ),
            TfliteError::Operands { op } => {
                write!(f, "operator {op} has a wrong number of inputs or outputs")
            }
            TfliteError::NotChained { op } => write!(
                f,
                "operator {op} does not read the output of the operator before it"
            ),
            TfliteError::ModelInput => {
                f.write_str("the model's input is not the first operator's input")
            }
            TfliteError::ModelOutput => {
                f.write_str("the model's output is not the last operator's output")
            }
            TfliteError::TensorType { tensor } => {
                write!(f, "tensor {tensor} has another type than the layer needs")
            }
            TfliteError::Shape { tensor } => {
                write!(f, "tensor {tensor} has another shape than the layer's")
            }
            TfliteError::Options { op } => {
                write!(f, "the options of operator {op} differ from the layer's")
            }
            TfliteError::Activation { op } => {
                write!(f, "operator {op} has an unsupported fused activation")
            }
            TfliteError::NoQuantization { tensor } => {
                write!(f, "tensor {tensor} lacks the quantization it needs")
            }
            TfliteError::ScaleCount { tensor } => {
                write!(
                    f,
                    "tensor {tensor} has a wrong number of scales or zero points"
                )
            }
            TfliteError::QuantizedDimension { tensor } => write!(
                f,
                "tensor {tensor} is quantized along another axis than its output channels"
            ),
            TfliteError::WeightZeroPoint { tensor } => {
                write!(f, "weight tensor {tensor} has a zero point other than 0")
            }
            TfliteError::QuantizationChanged { op } => write!(
                f,
                "operator {op} has another quantization for its output than for its input"
            ),
            TfliteError::NoData { tensor } => write!(f, "tensor {tensor} has no data"),
            TfliteError::DataSize { tensor } => {
                write!(f, "tensor {tensor} has data of another size than its shape")
            }
            TfliteError::BufferOutOfBounds { buffer } => {
                write!(f, "buffer {buffer} ends past the end of the file")
            }
        }
    }
}

impl From<TfliteError> for Error {
    fn from(e: TfliteError) -> Self {
        Error::Tflite(e)
    }
}

const MALFORMED: Error = Error::Tflite(TfliteError::Malformed);

// --- FlatBuffers ------------------------------------------------------------------------------

/// `N` bytes at `pos`, if inside `buf`.
fn bytes_at<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N], Error> {
    let end = pos.checked_add(N).ok_or(MALFORMED)?;
    let s = buf.get(pos..end).ok_or(MALFORMED)?;
    let mut out = [0u8; N];
    for (o, &b) in out.iter_mut().zip(s) {
        *o = b;
    }
    Ok(out)
}

fn u16_at(buf: &[u8], pos: usize) -> Result<u16, Error> {
    bytes_at(buf, pos).map(u16::from_le_bytes)
}

fn u32_at(buf: &[u8], pos: usize) -> Result<u32, Error> {
    bytes_at(buf, pos).map(u32::from_le_bytes)
}

fn to_usize(v: u64) -> Result<usize, Error> {
    usize::try_from(v).map_err(|_| MALFORMED)
}

/// The position `uoffset` bytes after `pos` (FlatBuffers' forward offsets), inside `buf`.
fn follow(buf: &[u8], pos: usize) -> Result<usize, Error> {
    let off = to_usize(u64::from(u32_at(buf, pos)?))?;
    let target = pos.checked_add(off).ok_or(MALFORMED)?;
    if target >= buf.len() {
        return Err(MALFORMED);
    }
    Ok(target)
}

/// A table: its position, and the position and length of its vtable, all checked.
#[derive(Clone, Copy)]
struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    object_len: usize,
}

impl<'a> Table<'a> {
    /// The table at `pos`.
    fn at(buf: &'a [u8], pos: usize) -> Result<Self, Error> {
        let soffset = i32::from_le_bytes(bytes_at(buf, pos)?);
        // vtable = pos − soffset (it may be before or after the table).
        let vtable = i64::try_from(pos)
            .map_err(|_| MALFORMED)?
            .checked_sub(i64::from(soffset))
            .ok_or(MALFORMED)?;
        let vtable = usize::try_from(vtable).map_err(|_| MALFORMED)?;
        let vtable_len = usize::from(u16_at(buf, vtable)?);
        let object_len = usize::from(u16_at(buf, vtable.checked_add(2).ok_or(MALFORMED)?)?);
        if vtable_len < 4 || vtable_len % 2 != 0 || object_len < 4 {
            return Err(MALFORMED);
        }
        let vt_end = vtable.checked_add(vtable_len).ok_or(MALFORMED)?;
        let obj_end = pos.checked_add(object_len).ok_or(MALFORMED)?;
        if vt_end > buf.len() || obj_end > buf.len() {
            return Err(MALFORMED);
        }
        Ok(Self {
            buf,
            pos,
            vtable,
            vtable_len,
            object_len,
        })
    }

    /// The table that the offset at `pos` points to.
    fn follow(buf: &'a [u8], pos: usize) -> Result<Self, Error> {
        Self::at(buf, follow(buf, pos)?)
    }

    /// The position of field `id` of `size` bytes, if present.
    fn field(&self, id: usize, size: usize) -> Result<Option<usize>, Error> {
        let entry = id
            .checked_mul(2)
            .and_then(|e| e.checked_add(4))
            .ok_or(MALFORMED)?;
        if entry.checked_add(2).ok_or(MALFORMED)? > self.vtable_len {
            return Ok(None);
        }
        let off = usize::from(u16_at(self.buf, self.vtable.wrapping_add(entry))?);
        if off == 0 {
            return Ok(None);
        }
        if off < 4 || off.checked_add(size).ok_or(MALFORMED)? > self.object_len {
            return Err(MALFORMED);
        }
        Ok(Some(self.pos.wrapping_add(off))) // below pos + object_len, checked in `at`
    }

    fn scalar<const N: usize>(&self, id: usize) -> Result<Option<[u8; N]>, Error> {
        match self.field(id, N)? {
            Some(p) => bytes_at(self.buf, p).map(Some),
            None => Ok(None),
        }
    }

    fn u8(&self, id: usize, default: u8) -> Result<u8, Error> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0]))
    }

    fn i8(&self, id: usize, default: i8) -> Result<i8, Error> {
        Ok(self.scalar::<1>(id)?.map_or(default, i8::from_le_bytes))
    }

    fn i32(&self, id: usize, default: i32) -> Result<i32, Error> {
        Ok(self.scalar(id)?.map_or(default, i32::from_le_bytes))
    }

    fn u32(&self, id: usize, default: u32) -> Result<u32, Error> {
        Ok(self.scalar(id)?.map_or(default, u32::from_le_bytes))
    }

    fn u64(&self, id: usize, default: u64) -> Result<u64, Error> {
        Ok(self.scalar(id)?.map_or(default, u64::from_le_bytes))
    }

    /// The table of field `id`, if present.
    fn table(&self, id: usize) -> Result<Option<Table<'a>>, Error> {
        match self.field(id, 4)? {
            Some(p) => Table::follow(self.buf, p).map(Some),
            None => Ok(None),
        }
    }

    /// The vector of field `id` whose elements are `size` bytes, if present.
    fn vector(&self, id: usize, size: usize) -> Result<Option<Vector<'a>>, Error> {
        match self.field(id, 4)? {
            Some(p) => Vector::at(self.buf, follow(self.buf, p)?, size).map(Some),
            None => Ok(None),
        }
    }

    /// The vector of field `id`, or an empty one.
    fn vector_or_empty(&self, id: usize, size: usize) -> Result<Vector<'a>, Error> {
        Ok(self.vector(id, size)?.unwrap_or(Vector::EMPTY))
    }
}

/// A vector: its elements' bytes, checked to be inside the buffer.
#[derive(Clone, Copy)]
struct Vector<'a> {
    buf: &'a [u8],
    /// The position of the first element.
    start: usize,
    len: usize,
    size: usize,
}

impl<'a> Vector<'a> {
    const EMPTY: Vector<'static> = Vector {
        buf: &[],
        start: 0,
        len: 0,
        size: 1,
    };

    fn at(buf: &'a [u8], pos: usize, size: usize) -> Result<Self, Error> {
        let len = to_usize(u64::from(u32_at(buf, pos)?))?;
        let start = pos.checked_add(4).ok_or(MALFORMED)?;
        let end = len
            .checked_mul(size)
            .and_then(|n| n.checked_add(start))
            .ok_or(MALFORMED)?;
        if end > buf.len() {
            return Err(MALFORMED);
        }
        Ok(Self {
            buf,
            start,
            len,
            size,
        })
    }

    /// The position of element `i`.
    fn pos(&self, i: usize) -> Result<usize, Error> {
        if i >= self.len {
            return Err(MALFORMED);
        }
        // Below the end checked in `at`.
        Ok(self.start.wrapping_add(i.wrapping_mul(self.size)))
    }

    fn bytes(&self) -> &'a [u8] {
        let end = self.start.wrapping_add(self.len.wrapping_mul(self.size));
        self.buf.get(self.start..end).unwrap_or(&[])
    }

    fn i32(&self, i: usize) -> Result<i32, Error> {
        bytes_at(self.buf, self.pos(i)?).map(i32::from_le_bytes)
    }

    fn i64(&self, i: usize) -> Result<i64, Error> {
        bytes_at(self.buf, self.pos(i)?).map(i64::from_le_bytes)
    }

    fn f32(&self, i: usize) -> Result<f32, Error> {
        bytes_at(self.buf, self.pos(i)?).map(f32::from_le_bytes)
    }

    fn table(&self, i: usize) -> Result<Table<'a>, Error> {
        Table::follow(self.buf, self.pos(i)?)
    }
}

// --- TFLite's schema ------------------------------------------------------------------------

/// `BuiltinOperator` codes.
mod op {
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const MAX_POOL_2D: i32 = 17;
    pub const RESHAPE: i32 = 22;
}

/// `BuiltinOptions` union types.
mod options {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const RESHAPE: u8 = 17;
}

/// `TensorType` codes.
const INT32: i8 = 2;
const INT8: i8 = 9;

/// The only subgraph of a `.tflite` file, as [`FromTflite::read`] receives it: its tables
/// are found and checked as they are read. Made by [`load`] and [`load_into`] only.
#[derive(Clone, Copy)]
pub struct Graph<'a> {
    file: &'a [u8],
    subgraph: Table<'a>,
    operator_codes: Vector<'a>,
    buffers: Vector<'a>,
    tensors: Vector<'a>,
    operators: Vector<'a>,
}

/// One operator of the subgraph.
#[derive(Clone, Copy)]
struct Operator<'a> {
    index: usize,
    code: i32,
    inputs: Vector<'a>,
    outputs: Vector<'a>,
    table: Table<'a>,
}

impl<'a> Graph<'a> {
    /// The subgraph of the `.tflite` file `file`.
    fn parse(file: &'a [u8]) -> Result<Self, Error> {
        if file.len() < 8 {
            return Err(MALFORMED);
        }
        if file.get(4..8) != Some(b"TFL3".as_slice()) {
            return Err(TfliteError::Identifier.into());
        }
        let model = Table::follow(file, 0)?;
        let version = model.u32(0, 0)?;
        if version != 3 {
            return Err(TfliteError::Version(version).into());
        }
        let operator_codes = model.vector_or_empty(1, 4)?;
        let subgraphs = model.vector_or_empty(2, 4)?;
        let buffers = model.vector_or_empty(4, 4)?;
        if subgraphs.len != 1 {
            return Err(TfliteError::Subgraphs(subgraphs.len).into());
        }
        let graph = subgraphs.table(0)?;
        Ok(Self {
            file,
            subgraph: graph,
            operator_codes,
            buffers,
            tensors: graph.vector_or_empty(0, 4)?,
            operators: graph.vector_or_empty(3, 4)?,
        })
    }

    /// The subgraph's inputs or outputs (field 1 or 2).
    fn io(&self, field: usize) -> Result<Vector<'a>, Error> {
        self.subgraph.vector_or_empty(field, 4)
    }

    /// Operator `index`, with its builtin code.
    fn operator(&self, index: usize) -> Result<Operator<'a>, Error> {
        let table = self.operators.table(index)?;
        let opcode = to_usize(u64::from(table.u32(0, 0)?))?;
        let code = self.operator_codes.table(opcode)?;
        // TFLite takes the larger of the two: codes above 127 are only in the second.
        let code = i32::from(code.i8(0, 0)?).max(code.i32(3, 0)?);
        Ok(Operator {
            index,
            code,
            inputs: table.vector_or_empty(1, 4)?,
            outputs: table.vector_or_empty(2, 4)?,
            table,
        })
    }

    /// Tensor `index` (an `i32` from an operator; negative is an absent tensor).
    fn tensor(&self, index: i32) -> Result<Tensor<'a>, Error> {
        let i = usize::try_from(index).map_err(|_| MALFORMED)?;
        let table = self.tensors.table(i)?;
        Ok(Tensor {
            index: i,
            shape: table.vector_or_empty(0, 4)?,
            kind: table.i8(1, 0)?,
            buffer: to_usize(u64::from(table.u32(2, 0)?))?,
            quantization: table.table(4)?,
        })
    }

    /// The data of buffer `index` (empty if it has none).
    fn buffer(&self, index: usize) -> Result<&'a [u8], Error> {
        let table = self.buffers.table(index)?;
        let data = table.vector_or_empty(0, 1)?.bytes();
        let offset = table.u64(1, 0)?;
        let size = table.u64(2, 0)?;
        // Offsets 0 and 1 mean "no data outside the FlatBuffer".
        if offset <= 1 {
            return Ok(data);
        }
        let out = TfliteError::BufferOutOfBounds { buffer: index };
        let start = usize::try_from(offset).map_err(|_| out)?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(start))
            .ok_or(out)?;
        Ok(self.file.get(start..end).ok_or(out)?)
    }
}

impl<'a> Operator<'a> {
    /// Checks the code, the number of outputs (1) and inputs (`min..=max`).
    fn expect(&self, code: i32, min: usize, max: usize) -> Result<(), Error> {
        if self.code != code {
            return Err(TfliteError::WrongOperator {
                op: self.index,
                code: self.code,
            }
            .into());
        }
        if self.outputs.len != 1 || self.inputs.len < min || self.inputs.len > max {
            return Err(TfliteError::Operands { op: self.index }.into());
        }
        Ok(())
    }

    /// The tensor index of input `i` (`-1` if absent).
    fn input(&self, i: usize) -> Result<i32, Error> {
        if i >= self.inputs.len {
            return Ok(-1);
        }
        self.inputs.i32(i)
    }

    fn output(&self) -> Result<i32, Error> {
        self.outputs.i32(0)
    }

    /// The builtin options table, checked to be of union type `kind`.
    fn options(&self, kind: u8) -> Result<Option<Table<'a>>, Error> {
        let found = self.table.u8(3, 0)?;
        let table = self.table.table(4)?;
        match table {
            None if found == 0 => Ok(None),
            Some(t) if found == kind => Ok(Some(t)),
            _ => Err(TfliteError::Options { op: self.index }.into()),
        }
    }

    fn activation(&self, code: i8) -> Result<Activation, Error> {
        match code {
            0 => Ok(Activation::None),
            1 => Ok(Activation::Relu),
            2 => Ok(Activation::ReluN1To1),
            3 => Ok(Activation::Relu6),
            _ => Err(TfliteError::Activation { op: self.index }.into()),
        }
    }

    fn options_error(&self) -> Error {
        TfliteError::Options { op: self.index }.into()
    }
}

/// One tensor of the subgraph.
#[derive(Clone, Copy)]
struct Tensor<'a> {
    index: usize,
    shape: Vector<'a>,
    kind: i8,
    buffer: usize,
    quantization: Option<Table<'a>>,
}

impl<'a> Tensor<'a> {
    fn check_type(&self, kind: i8) -> Result<(), Error> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(TfliteError::TensorType { tensor: self.index }.into())
        }
    }

    fn check_shape(&self, dims: &[usize]) -> Result<(), Error> {
        let err = TfliteError::Shape { tensor: self.index };
        if self.shape.len != dims.len() {
            return Err(err.into());
        }
        for (i, &d) in dims.iter().enumerate() {
            if usize::try_from(self.shape.i32(i)?).ok() != Some(d) {
                return Err(err.into());
            }
        }
        Ok(())
    }

    /// The number of elements (the product of the shape).
    fn elements(&self) -> Result<usize, Error> {
        let err = TfliteError::Shape { tensor: self.index };
        let mut n = 1usize;
        for i in 0..self.shape.len {
            let d = usize::try_from(self.shape.i32(i)?).map_err(|_| err)?;
            n = n.checked_mul(d).ok_or(err)?;
        }
        Ok(n)
    }

    /// The scales, zero points and quantized dimension; no custom details.
    fn quantization(&self) -> Result<(Vector<'a>, Vector<'a>, i32), Error> {
        let none = TfliteError::NoQuantization { tensor: self.index };
        let q = self.quantization.ok_or(none)?;
        if q.u8(4, 0)? != 0 {
            return Err(none.into());
        }
        let scales = q.vector_or_empty(2, 4)?;
        let zero_points = q.vector_or_empty(3, 8)?;
        if scales.len == 0 {
            return Err(none.into());
        }
        Ok((scales, zero_points, q.i32(6, 0)?))
    }

    /// The per-tensor quantization of an int8 activation.
    fn activation(&self) -> Result<QParams, Error> {
        self.check_type(INT8)?;
        let (scales, zero_points, _) = self.quantization()?;
        if scales.len != 1 || zero_points.len != 1 {
            return Err(TfliteError::ScaleCount { tensor: self.index }.into());
        }
        let zero_point = i32::try_from(zero_points.i64(0)?)
            .map_err(|_| Error::InvalidQuantization("zero point"))?;
        QParams::new(scales.f32(0)?, zero_point)
    }

    /// The `O` scales of an int8 weight quantized along `axis` (one for the whole tensor is
    /// repeated), and how many the file holds.
    fn weight_scales<const O: usize>(&self, axis: i32) -> Result<([f32; O], usize), Error> {
        self.check_type(INT8)?;
        let (scales, zero_points, dimension) = self.quantization()?;
        let n = scales.len;
        if (n != 1 && n != O) || zero_points.len != n {
            return Err(TfliteError::ScaleCount { tensor: self.index }.into());
        }
        if n > 1 && dimension != axis {
            return Err(TfliteError::QuantizedDimension { tensor: self.index }.into());
        }
        for i in 0..n {
            if zero_points.i64(i)? != 0 {
                return Err(TfliteError::WeightZeroPoint { tensor: self.index }.into());
            }
        }
        let mut out = [0f32; O];
        for (i, s) in out.iter_mut().enumerate() {
            *s = scales.f32(if n == 1 { 0 } else { i })?;
        }
        Ok((out, n))
    }

    /// The tensor's data: exactly `len` bytes.
    fn data(&self, graph: &Graph<'a>, len: usize) -> Result<&'a [u8], Error> {
        let data = graph.buffer(self.buffer)?;
        if data.is_empty() {
            return Err(TfliteError::NoData { tensor: self.index }.into());
        }
        if data.len() != len {
            return Err(TfliteError::DataSize { tensor: self.index }.into());
        }
        Ok(data)
    }
}

// --- Layers -----------------------------------------------------------------------------------

/// A layer (or a tuple of layers) that can be read from a `.tflite` file's operators: the
/// model types [`load`] accepts.
///
/// Implemented for [`QDense`], [`QConv2d`], [`QDepthwiseConv2d`], [`QPool2d`], [`QFlatten`]
/// and tuples of up to 12 of them (as [`QLayer`](crate::quant::QLayer)).
pub trait FromTflite: Sized {
    /// The number of operators the layer reads.
    const OPERATORS: usize;

    /// A layer of zeros (no activation), to be overwritten by [`FromTflite::read`].
    fn zeroed() -> Self;

    /// Checks operators `first..first + OPERATORS` of `graph` against the layer and, if
    /// `write`, writes their parameters into `self`. A tuple writes each layer once that layer
    /// has checked, so [`load_into`] first reads the whole model with `write = false`, then
    /// with `write = true` (which then cannot fail): a failed load changes nothing.
    ///
    /// # Errors
    ///
    /// The first way the operators do not fit the layer.
    fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error>;
}

/// Reads the fully connected or convolution operator's weight, bias and requantization; the
/// weight must have the `dims` given and be quantized per channel along `axis`; `write_weight`
/// receives its bytes.
#[allow(clippy::too_many_arguments)]
fn read_weighted<const O: usize, M: Rescale>(
    graph: &Graph<'_>,
    op: &Operator<'_>,
    activation: Activation,
    weight_dims: &[usize],
    axis: i32,
    input: &Tensor<'_>,
    bias: &mut [i32; O],
    requantize: &mut Requantize<O, M>,
    write: bool,
    write_weight: impl FnOnce(&[u8]),
) -> Result<(), Error> {
    let input_q = input.activation()?;
    let output = graph.tensor(op.output()?)?;
    let output_q = output.activation()?;
    let weight_index = op.input(1)?;
    if weight_index < 0 {
        return Err(TfliteError::Operands { op: op.index }.into());
    }
    let weight = graph.tensor(weight_index)?;
    weight.check_shape(weight_dims)?;
    let (scales, n) = weight.weight_scales::<O>(axis)?;
    let len = weight_dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d));
    let weight_data = weight.data(graph, len.ok_or(MALFORMED)?)?;
    let bias_index = op.input(2)?;
    let mut b = [0i32; O];
    if bias_index >= 0 {
        let t = graph.tensor(bias_index)?;
        t.check_type(INT32)?;
        t.check_shape(&[O])?;
        let data = t.data(graph, O.checked_mul(4).ok_or(MALFORMED)?)?;
        for (v, c) in b.iter_mut().zip(data.chunks_exact(4)) {
            let mut le = [0u8; 4];
            for (d, &s) in le.iter_mut().zip(c) {
                *d = s;
            }
            *v = i32::from_le_bytes(le);
        }
    }
    let scales = scales.get(..n).ok_or(MALFORMED)?;
    let rq = Requantize::new(
        input_q.scale,
        scales,
        output_q.scale,
        output_q.zero_point,
        activation,
    )?;
    if write {
        write_weight(weight_data);
        *bias = b;
        *requantize = rq;
    }
    Ok(())
}

/// Copies int8 bytes into `dst`.
#[allow(clippy::cast_possible_wrap)] // the bytes are two's-complement int8
fn copy_i8(dst: &mut [i8], src: &[u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as i8;
    }
}

fn zero_requantize<const O: usize, M: Rescale>() -> Requantize<O, M> {
    Requantize {
        multipliers: [M::default(); O],
        zero_point: 0,
        min: -128,
        max: 127,
    }
}

/// Reads the padding byte of a convolution or pooling's options.
fn check_padding<Pd: Padding>(op: &Operator<'_>, code: i8) -> Result<(), Error> {
    // TFLite's Padding: SAME = 0, VALID = 1.
    let same = match code {
        0 => true,
        1 => false,
        _ => return Err(op.options_error()),
    };
    if same == Pd::SAME {
        Ok(())
    } else {
        Err(op.options_error())
    }
}

/// `n` as a stride or size in the file's `i32`.
fn equals(file: i32, n: usize) -> bool {
    usize::try_from(file).ok() == Some(n)
}

/// Checks the input `[1, H, W, C]` and output `[1, OH, OW, O]` of a convolution or pooling
/// (`OH`, `OW` as TFLite computes them), and returns the input.
#[allow(clippy::too_many_arguments)]
fn check_maps<'a>(
    graph: &Graph<'a>,
    op: &Operator<'a>,
    (h, w, c): (usize, usize, usize),
    k: usize,
    s: usize,
    same: bool,
    o: usize,
) -> Result<Tensor<'a>, Error> {
    let input = graph.tensor(op.input(0)?)?;
    input.check_shape(&[1, h, w, c])?;
    let (oh, ow) = (conv_out_size(h, k, s, same), conv_out_size(w, k, s, same));
    graph.tensor(op.output()?)?.check_shape(&[1, oh, ow, o])?;
    Ok(input)
}

impl<const I: usize, const O: usize, M: Rescale> FromTflite for QDense<I, O, M> {
    const OPERATORS: usize = 1;

    fn zeroed() -> Self {
        QDense::new([[0; I]; O], [0; O], 0, zero_requantize())
    }

    fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error> {
        let op = graph.operator(first)?;
        op.expect(op::FULLY_CONNECTED, 2, 3)?;
        let activation = match op.options(options::FULLY_CONNECTED)? {
            None => Activation::None,
            Some(t) => {
                // weights_format DEFAULT, asymmetric_quantize_inputs false (a float kernel's).
                if t.i8(1, 0)? != 0 || t.u8(3, 0)? != 0 {
                    return Err(op.options_error());
                }
                op.activation(t.i8(0, 0)?)?
            }
        };
        let input = graph.tensor(op.input(0)?)?;
        input.check_shape(&[1, I])?;
        graph.tensor(op.output()?)?.check_shape(&[1, O])?;
        let Self {
            weight,
            bias,
            input_zero_point,
            output,
        } = self;
        read_weighted(
            graph,
            &op,
            activation,
            &[O, I],
            0,
            &input,
            bias,
            output,
            write,
            |data| copy_i8(weight.as_flattened_mut(), data),
        )?;
        if write {
            *input_zero_point = input.activation()?.zero_point;
        }
        Ok(())
    }
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
    > FromTflite for QConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    const OPERATORS: usize = 1;

    fn zeroed() -> Self {
        QConv2d::new([[[[0; C]; K]; K]; O], [0; O], 0, zero_requantize())
    }

    fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error> {
        let op = graph.operator(first)?;
        op.expect(op::CONV_2D, 2, 3)?;
        let t = op.options(options::CONV_2D)?.ok_or(op.options_error())?;
        // padding, stride_w, stride_h, fused_activation_function, dilation_w, dilation_h.
        check_padding::<Pd>(&op, t.i8(0, 0)?)?;
        if !equals(t.i32(1, 0)?, S)
            || !equals(t.i32(2, 0)?, S)
            || t.i32(4, 1)? != 1
            || t.i32(5, 1)? != 1
        {
            return Err(op.options_error());
        }
        let activation = op.activation(t.i8(3, 0)?)?;
        let input = check_maps(graph, &op, (H, W, C), K, S, Pd::SAME, O)?;
        let weight = &mut self.weight;
        read_weighted(
            graph,
            &op,
            activation,
            &[O, K, K, C],
            0,
            &input,
            &mut self.bias,
            &mut self.output,
            write,
            |data| {
                let flat = weight.as_flattened_mut().as_flattened_mut();
                copy_i8(flat.as_flattened_mut(), data);
            },
        )?;
        if write {
            self.input_zero_point = input.activation()?.zero_point;
        }
        Ok(())
    }
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
    > FromTflite for QDepthwiseConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    const OPERATORS: usize = 1;

    fn zeroed() -> Self {
        QDepthwiseConv2d::new([[[0; O]; K]; K], [0; O], 0, zero_requantize())
    }

    fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error> {
        let op = graph.operator(first)?;
        op.expect(op::DEPTHWISE_CONV_2D, 2, 3)?;
        let t = op
            .options(options::DEPTHWISE_CONV_2D)?
            .ok_or(op.options_error())?;
        // padding, stride_w, stride_h, depth_multiplier, fused_activation_function,
        // dilation_w, dilation_h.
        check_padding::<Pd>(&op, t.i8(0, 0)?)?;
        let multiplier = O.checked_div(C).filter(|m| m.checked_mul(C) == Some(O));
        let depth_multiplier = t.i32(3, 0)?;
        if !equals(t.i32(1, 0)?, S)
            || !equals(t.i32(2, 0)?, S)
            || multiplier.is_none_or(|m| !equals(depth_multiplier, m))
            || t.i32(5, 1)? != 1
            || t.i32(6, 1)? != 1
        {
            return Err(op.options_error());
        }
        let activation = op.activation(t.i8(4, 0)?)?;
        let input = check_maps(graph, &op, (H, W, C), K, S, Pd::SAME, O)?;
        let weight = &mut self.weight;
        read_weighted(
            graph,
            &op,
            activation,
            &[1, K, K, O],
            3,
            &input,
            &mut self.bias,
            &mut self.output,
            write,
            |data| copy_i8(weight.as_flattened_mut().as_flattened_mut(), data),
        )?;
        if write {
            self.input_zero_point = input.activation()?.zero_point;
        }
        Ok(())
    }
}

impl<
        Kind: QPoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
    > FromTflite for QPool2d<Kind, C, K, H, W, NOUT, S, Pd>
{
    const OPERATORS: usize = 1;

    fn zeroed() -> Self {
        QPool2d::new(Activation::None, 1.0, 0)
    }

    fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error> {
        let op = graph.operator(first)?;
        let code = if Kind::AVERAGE {
            op::AVERAGE_POOL_2D
        } else {
            op::MAX_POOL_2D
        };
        op.expect(code, 1, 1)?;
        let t = op.options(options::POOL_2D)?.ok_or(op.options_error())?;
        // padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function.
        check_padding::<Pd>(&op, t.i8(0, 0)?)?;
        if !equals(t.i32(1, 0)?, S)
            || !equals(t.i32(2, 0)?, S)
            || !equals(t.i32(3, 0)?, K)
            || !equals(t.i32(4, 0)?, K)
        {
            return Err(op.options_error());
        }
        let activation = op.activation(t.i8(5, 0)?)?;
        let input = check_maps(graph, &op, (H, W, C), K, S, Pd::SAME, C)?;
        let q = input.activation()?;
        if graph.tensor(op.output()?)?.activation()? != q {
            return Err(TfliteError::QuantizationChanged { op: op.index }.into());
        }
        if write {
            *self = QPool2d::new(activation, q.scale, q.zero_point);
        }
        Ok(())
    }
}

impl FromTflite for QFlatten {
    const OPERATORS: usize = 1;

    fn zeroed() -> Self {
        QFlatten
    }

    /// A `RESHAPE` to `[1, N]` of a tensor of `N` elements (its shape given by a second,
    /// int32 input or by the options; the output tensor's shape is what is checked), with the
    /// same quantization.
    fn read(&mut self, graph: &Graph<'_>, first: usize, _write: bool) -> Result<(), Error> {
        let op = graph.operator(first)?;
        op.expect(op::RESHAPE, 1, 2)?;
        // Its new_shape, if any, is the output tensor's shape, checked below.
        op.options(options::RESHAPE)?;
        let input = graph.tensor(op.input(0)?)?;
        let output = graph.tensor(op.output()?)?;
        let n = input.elements()?;
        output.check_shape(&[1, n])?;
        let first_dim = input.shape.i32(0).ok();
        if first_dim != Some(1) {
            return Err(TfliteError::Shape {
                tensor: input.index,
            }
            .into());
        }
        if input.activation()? != output.activation()? {
            return Err(TfliteError::QuantizationChanged { op: op.index }.into());
        }
        Ok(())
    }
}

macro_rules! tflite_chain {
    ($($L:ident $i:tt),+) => {
        impl<$($L: FromTflite),+> FromTflite for ($($L,)+) {
            const OPERATORS: usize = 0usize $(.saturating_add($L::OPERATORS))+;

            fn zeroed() -> Self {
                ($($L::zeroed(),)+)
            }

            fn read(&mut self, graph: &Graph<'_>, first: usize, write: bool) -> Result<(), Error> {
                let mut at = first;
                $(
                    self.$i.read(graph, at, write)?;
                    at = at.checked_add($L::OPERATORS).ok_or(MALFORMED)?;
                )+
                let _ = at;
                Ok(())
            }
        }
    };
}

tflite_chain!(A 0);
tflite_chain!(A 0, B 1);
tflite_chain!(A 0, B 1, C 2);
tflite_chain!(A 0, B 1, C 2, D 3);
tflite_chain!(A 0, B 1, C 2, D 3, E 4);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tflite_chain!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

// --- Models -----------------------------------------------------------------------------------

/// Checks the subgraph's structure: `n` operators chained by their first input and only
/// output, the subgraph's input and output the ends of the chain, every operator a supported
/// one. Returns the quantization of the model's input and output.
fn check_graph(graph: &Graph<'_>, n: usize) -> Result<(QParams, QParams), Error> {
    let found = graph.operators.len;
    if found != n {
        return Err(TfliteError::OperatorCount { expected: n, found }.into());
    }
    let mut previous: Option<i32> = None;
    let (mut first_input, mut last_output) = (-1, -1);
    for i in 0..n {
        let op = graph.operator(i)?;
        let supported = [
            op::FULLY_CONNECTED,
            op::CONV_2D,
            op::DEPTHWISE_CONV_2D,
            op::MAX_POOL_2D,
            op::AVERAGE_POOL_2D,
            op::RESHAPE,
        ];
        if !supported.contains(&op.code) {
            return Err(TfliteError::UnsupportedOperator {
                op: i,
                code: op.code,
            }
            .into());
        }
        if op.inputs.len == 0 || op.outputs.len != 1 {
            return Err(TfliteError::Operands { op: i }.into());
        }
        let input = op.input(0)?;
        if let Some(p) = previous {
            if p != input {
                return Err(TfliteError::NotChained { op: i }.into());
            }
        } else {
            first_input = input;
        }
        last_output = op.output()?;
        previous = Some(last_output);
    }
    let inputs = graph.io(1)?;
    if inputs.len != 1 || inputs.i32(0)? != first_input {
        return Err(TfliteError::ModelInput.into());
    }
    let outputs = graph.io(2)?;
    if outputs.len != 1 || outputs.i32(0)? != last_output {
        return Err(TfliteError::ModelOutput.into());
    }
    let input = graph.tensor(first_input)?.activation()?;
    let output = graph.tensor(last_output)?.activation()?;
    Ok((input, output))
}

/// Reads the `.tflite` file `bytes` into `model`, strictly (see the [module docs](self)). The
/// whole file is checked before anything is written: a load that fails changes nothing.
///
/// # Errors
///
/// [`Error::Tflite`] for a file that is not a valid TFLite FlatBuffer or does not fit the
/// model's layers; [`Error::InvalidQuantization`] for a scale or zero point outside the int8
/// specification.
pub fn load_into<L: FromTflite>(model: &mut QModel<L>, bytes: &[u8]) -> Result<(), Error> {
    let graph = Graph::parse(bytes)?;
    let (input, output) = check_graph(&graph, L::OPERATORS)?;
    model.layers.read(&graph, 0, false)?;
    // Checked: the same reads succeed again.
    model.layers.read(&graph, 0, true)?;
    model.input = input;
    model.output = output;
    Ok(())
}

/// The model of the `.tflite` file `bytes`, strictly of the type `L` (see the
/// [module docs](self)).
///
/// # Errors
///
/// As [`load_into`].
pub fn load<L: FromTflite>(bytes: &[u8]) -> Result<QModel<L>, Error> {
    let unit = QParams {
        scale: 1.0,
        zero_point: 0,
    };
    let mut model = QModel {
        input: unit,
        output: unit,
        layers: L::zeroed(),
    };
    load_into(&mut model, bytes)?;
    Ok(model)
}
