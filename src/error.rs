use core::fmt;

/// Everything that can go wrong at run time. Small and `Copy`, so firmware can store or log it.
///
/// A training step that returns an error leaves the model (its parameters and buffers) and the
/// optimizer's state exactly as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The loss was NaN or infinite (for example because an input sample was).
    NonFiniteLoss,
    /// A gradient was NaN or infinite.
    NonFiniteGradient,
    /// A class-index target was not smaller than the number of classes.
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// The number of classes (the width of the model's output).
        classes: usize,
    },
    /// A hyperparameter was out of its valid range; the name says which.
    InvalidHyperparameter(&'static str),
    /// Quantization parameters outside what the TFLite int8 specification allows (a scale
    /// that is not a positive finite number, a zero point outside the int8 range, a weight
    /// scale count that is neither 1 nor the number of output channels); the name says which.
    InvalidQuantization(&'static str),
    /// A data set (or the part of it left after skipping non-finite samples) has no samples.
    EmptyDataSet,
    /// Features and targets (or labels) of different lengths.
    LengthMismatch {
        /// The number of feature rows.
        features: usize,
        /// The number of targets or labels.
        targets: usize,
    },
    /// An index buffer whose length is not the number of samples it must hold.
    IndexBufferLength {
        /// The length it must have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// An index not below the length of what it indexes (a data set, or the largest value the
    /// index type can hold).
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// The bound it must be below.
        len: usize,
    },
    /// A sample whose features or target are NaN or infinite.
    NonFiniteSample {
        /// The position of the sample in its data set.
        index: usize,
    },
    /// The flash driver returned an error, of this kind.
    Flash(embedded_storage::nor_flash::NorFlashErrorKind),
    /// The flash did not read back what was just written, or returned other bytes than a
    /// moment before (a failing or changing flash).
    FlashVerify,
    /// Neither slot of a [`Checkpoint`](crate::io::checkpoint::Checkpoint) holds a valid
    /// checkpoint.
    NoCheckpoint,
    /// A checkpoint's payload larger than where it must go: a slot (when saving) or the
    /// caller's buffer (when loading).
    CheckpointTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The bytes there are room for.
        capacity: usize,
    },
    /// A checkpoint region that is not made of whole erase sectors inside the flash, is too
    /// small for two slots, or a flash whose write or read size does not divide the
    /// [`CHUNK`](crate::io::checkpoint::CHUNK) and the erase size.
    CheckpointRegion,
    /// A checkpoint's writer wrote more or fewer bytes than the save declared.
    CheckpointLength {
        /// The length the save declared.
        declared: usize,
        /// The bytes written (or that would have been).
        written: usize,
    },
    /// An input given to [`Layer::forward_checked`](crate::Layer::forward_checked) holds a
    /// NaN or an infinity.
    NonFiniteInput,
    /// A model's output holds a NaN or an infinity (its input was finite: the weights or the
    /// arithmetic are not).
    NonFiniteOutput,
    /// A parameter or buffer of the model (a weight, a running statistic) was NaN or infinite
    /// before the step.
    NonFiniteModel,
    /// The optimizer's state (a running average, a momentum buffer) was NaN or infinite
    /// before the step, or invalid (a negative running average of squares, set by hand).
    NonFiniteOptimizerState,
    /// The step could make a weight, a buffer or the optimizer's state overflow to infinity
    /// (a learning rate, gradient or weight too large for the scalar type); it was not taken.
    Overflow,
    /// A tensor's `state_dict` name is longer than
    /// [`io::names::NAME_CAPACITY`](crate::io::names::NAME_CAPACITY) bytes.
    NameTooLong,
    /// Writing text failed (a fixed-size output buffer is too small).
    WriteFailed,

    // --- Files (safetensors): each way a file can be wrong is its own variant. A load that
    // --- returns one of these has changed nothing.
    /// The file ends too early: it is shorter than the 8 bytes of its header length, or its
    /// data section is shorter than the tensors its header describes (the sum of their sizes).
    Truncated,
    /// The header length is larger than the bytes that follow it, or than the format's limit
    /// of 100 MB.
    HeaderTooLarge,
    /// The header is not valid JSON text (RFC 8259, UTF-8, an object first; nesting at most
    /// 128 deep); `offset` is the byte of the header where reading stopped.
    InvalidJson {
        /// The position in the header (from its first byte) of the error.
        offset: usize,
    },
    /// The header is valid JSON but not a safetensors header: not an object of tensor entries
    /// `{"dtype": string, "shape": [int, …], "data_offsets": [begin, end]}` (each key once and
    /// no other) and an optional `__metadata__` object of strings, or an integer beyond 64
    /// bits. Also refused when saving a model with a tensor named `__metadata__`.
    InvalidHeader,
    /// A dtype that is not read or written here: a name outside the safetensors dtypes, a
    /// type of less than a byte (`F4`, `F6_…`), or, to save, a dtype other than `F16`, `BF16`,
    /// `F32` and `F64`.
    UnsupportedDtype,
    /// A tensor's `data_offsets` are reversed, or do not span its shape's elements times the
    /// size of its dtype.
    InvalidOffsets,
    /// A tensor's data ends past the end of the file, though the file holds as many bytes as
    /// the tensors need (an offset is wrong; compare [`Error::Truncated`]).
    OffsetsOutOfBounds,
    /// The data of two tensors overlap.
    OverlappingTensors,
    /// Bytes of the data section belong to no tensor (a gap, or bytes after the last one).
    UncoveredData,
    /// Two tensors of the file have the same name.
    DuplicateTensor,
    /// A tensor of the model is not in the file.
    MissingTensor {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// The file holds a tensor the model does not have.
    UnexpectedTensor,
    /// A tensor of the file has another shape than the model's.
    ShapeMismatch {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A tensor of the file has a dtype that cannot hold the model's tensor: an integer for
    /// floats, or anything but `I64` for a counter such as `num_batches_tracked`.
    DtypeMismatch {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A value to load or to save is NaN or infinite.
    NonFiniteValue {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A value to load is negative where the model's tensor holds none (a variance, a sum of
    /// squares: see [`Domain`](crate::io::Domain)).
    NegativeValue {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A finite value does not fit the precision it is converted to: an `F64` file's value
    /// beyond `f32`'s range loaded into an `f32` model, or a model's value beyond the range of
    /// the dtype it is saved as.
    ValueOutOfRange {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A counter (an `I64` scalar such as `num_batches_tracked` or an optimizer's `step`) is
    /// outside `0..=u32::MAX`.
    CountOutOfRange {
        /// The tensor's position in the model's `state_dict` order (from 0).
        index: usize,
    },
    /// A `.tflite` file that is not a valid TFLite FlatBuffer or does not fit the model it is
    /// loaded into ([`quant::tflite`](crate::quant::tflite), feature `tflite`); a load that
    /// returns it has changed nothing.
    #[cfg(feature = "tflite")]
    Tflite(crate::quant::tflite::TfliteError),
    /// The buffer to write a file into is shorter than the file.
    BufferTooSmall {
        /// The file's length in bytes.
        needed: usize,
        /// The buffer's length.
        len: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFiniteLoss => f.write_str("the loss is NaN or infinite"),
            Error::NonFiniteGradient => f.write_str("a gradient is NaN or infinite"),
            Error::LabelOutOfRange { label, classes } => {
                write!(
                    f,
                    "class label {label} is out of range for {classes} classes"
                )
            }
            Error::InvalidHyperparameter(name) => write!(f, "invalid hyperparameter: {name}"),
            Error::InvalidQuantization(name) => write!(f, "invalid quantization: {name}"),
            Error::EmptyDataSet => f.write_str("the data set has no (usable) samples"),
            Error::LengthMismatch { features, targets } => write!(
                f,
                "{features} feature rows but {targets} targets: the lengths must match"
            ),
            Error::IndexBufferLength { expected, found } => write!(
                f,
                "the index buffer holds {found} indices but must hold {expected}"
            ),
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} is out of range: it must be below {len}")
            }
            Error::NonFiniteSample { index } => {
                write!(f, "sample {index} has a NaN or infinite value")
            }
            Error::Flash(kind) => write!(f, "flash error: {kind}"),
            Error::FlashVerify => f.write_str("the flash did not read back what was written"),
            Error::NoCheckpoint => f.write_str("no valid checkpoint in the flash"),
            Error::CheckpointTooLarge { len, capacity } => write!(
                f,
                "a checkpoint of {len} bytes does not fit in {capacity} bytes"
            ),
            Error::CheckpointRegion => f.write_str(
                "the checkpoint region is not two slots of whole erase sectors inside the flash",
            ),
            Error::CheckpointLength { declared, written } => write!(
                f,
                "the checkpoint's payload was declared as {declared} bytes but {written} were written"
            ),
            Error::NonFiniteInput => f.write_str("the input has a NaN or infinite value"),
            Error::NonFiniteOutput => f.write_str("the model's output has a NaN or infinite value"),
            Error::NonFiniteModel => {
                f.write_str("a parameter or buffer of the model is NaN or infinite")
            }
            Error::NonFiniteOptimizerState => {
                f.write_str("the optimizer's state has a NaN or infinite value")
            }
            Error::NameTooLong => f.write_str("a tensor's name is too long"),
            Error::WriteFailed => f.write_str("writing the output failed"),
            Error::Truncated => f.write_str("the file ends before the data its header describes"),
            Error::HeaderTooLarge => f.write_str(
                "the header length is larger than the file or than the 100 MB limit",
            ),
            Error::InvalidJson { offset } => {
                write!(f, "the header is not valid JSON (at byte {offset})")
            }
            Error::InvalidHeader => f.write_str("the header is not a safetensors header"),
            Error::UnsupportedDtype => f.write_str("a dtype is not supported"),
            Error::InvalidOffsets => f.write_str(
                "a tensor's data offsets are reversed or do not match its shape and dtype",
            ),
            Error::OffsetsOutOfBounds => f.write_str("a tensor's data ends past the end of the file"),
            Error::OverlappingTensors => f.write_str("the data of two tensors overlap"),
            Error::UncoveredData => f.write_str("bytes of the data section belong to no tensor"),
            Error::DuplicateTensor => f.write_str("two tensors of the file have the same name"),
            Error::MissingTensor { index } => {
                write!(f, "tensor {index} of the model is missing from the file")
            }
            Error::UnexpectedTensor => f.write_str("the file holds a tensor the model does not have"),
            Error::ShapeMismatch { index } => {
                write!(f, "tensor {index} has another shape in the file than in the model")
            }
            Error::DtypeMismatch { index } => {
                write!(f, "tensor {index} has a dtype in the file that cannot hold its values")
            }
            Error::NonFiniteValue { index } => {
                write!(f, "tensor {index} has a NaN or infinite value")
            }
            Error::NegativeValue { index } => {
                write!(f, "tensor {index} has a negative value where none is valid")
            }
            Error::ValueOutOfRange { index } => write!(
                f,
                "tensor {index} has a value beyond the range of the precision it is converted to"
            ),
            Error::CountOutOfRange { index } => {
                write!(f, "counter {index} is outside 0..=u32::MAX")
            }
            #[cfg(feature = "tflite")]
            Error::Tflite(e) => write!(f, "invalid .tflite file: {e}"),
            Error::BufferTooSmall { needed, len } => {
                write!(f, "the buffer holds {len} bytes but the file needs {needed}")
            }
            Error::Overflow => f.write_str(
                "the step could overflow a weight, a buffer or the optimizer's state; it was not taken",
            ),
        }
    }
}

impl core::error::Error for Error {}
