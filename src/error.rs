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

impl Error {
    /// The error's number, one for each variant, for firmware that reports errors without
    /// their messages: [`Display`](fmt::Display) and its messages take about 3 KB of flash in
    /// a firmware that prints them, the number a few bytes. The numbers
    /// are stable (a variant keeps its number, new variants take new ones):
    ///
    /// | code | variant |
    /// | ---: | --- |
    /// | 1 | [`NonFiniteLoss`](Error::NonFiniteLoss) |
    /// | 2 | [`NonFiniteGradient`](Error::NonFiniteGradient) |
    /// | 3 | [`LabelOutOfRange`](Error::LabelOutOfRange) |
    /// | 4 | [`InvalidHyperparameter`](Error::InvalidHyperparameter) |
    /// | 5 | [`InvalidQuantization`](Error::InvalidQuantization) |
    /// | 6 | [`EmptyDataSet`](Error::EmptyDataSet) |
    /// | 7 | [`LengthMismatch`](Error::LengthMismatch) |
    /// | 8 | [`IndexBufferLength`](Error::IndexBufferLength) |
    /// | 9 | [`IndexOutOfRange`](Error::IndexOutOfRange) |
    /// | 10 | [`NonFiniteSample`](Error::NonFiniteSample) |
    /// | 11 | [`Flash`](Error::Flash) |
    /// | 12 | [`FlashVerify`](Error::FlashVerify) |
    /// | 13 | [`NoCheckpoint`](Error::NoCheckpoint) |
    /// | 14 | [`CheckpointTooLarge`](Error::CheckpointTooLarge) |
    /// | 15 | [`CheckpointRegion`](Error::CheckpointRegion) |
    /// | 16 | [`CheckpointLength`](Error::CheckpointLength) |
    /// | 17 | [`NonFiniteInput`](Error::NonFiniteInput) |
    /// | 18 | [`NonFiniteOutput`](Error::NonFiniteOutput) |
    /// | 19 | [`NonFiniteModel`](Error::NonFiniteModel) |
    /// | 20 | [`NonFiniteOptimizerState`](Error::NonFiniteOptimizerState) |
    /// | 21 | [`Overflow`](Error::Overflow) |
    /// | 22 | [`NameTooLong`](Error::NameTooLong) |
    /// | 23 | [`WriteFailed`](Error::WriteFailed) |
    /// | 24 | [`Truncated`](Error::Truncated) |
    /// | 25 | [`HeaderTooLarge`](Error::HeaderTooLarge) |
    /// | 26 | [`InvalidJson`](Error::InvalidJson) |
    /// | 27 | [`InvalidHeader`](Error::InvalidHeader) |
    /// | 28 | [`UnsupportedDtype`](Error::UnsupportedDtype) |
    /// | 29 | [`InvalidOffsets`](Error::InvalidOffsets) |
    /// | 30 | [`OffsetsOutOfBounds`](Error::OffsetsOutOfBounds) |
    /// | 31 | [`OverlappingTensors`](Error::OverlappingTensors) |
    /// | 32 | [`UncoveredData`](Error::UncoveredData) |
    /// | 33 | [`DuplicateTensor`](Error::DuplicateTensor) |
    /// | 34 | [`MissingTensor`](Error::MissingTensor) |
    /// | 35 | [`UnexpectedTensor`](Error::UnexpectedTensor) |
    /// | 36 | [`ShapeMismatch`](Error::ShapeMismatch) |
    /// | 37 | [`DtypeMismatch`](Error::DtypeMismatch) |
    /// | 38 | [`NonFiniteValue`](Error::NonFiniteValue) |
    /// | 39 | [`NegativeValue`](Error::NegativeValue) |
    /// | 40 | [`ValueOutOfRange`](Error::ValueOutOfRange) |
    /// | 41 | [`CountOutOfRange`](Error::CountOutOfRange) |
    /// | 42 | `Tflite` (with the `tflite` feature) |
    /// | 43 | [`BufferTooSmall`](Error::BufferTooSmall) |
    ///
    /// ```
    /// use tinyprop::Error;
    /// assert_eq!(Error::NonFiniteLoss.code(), 1);
    /// assert_eq!(Error::IndexOutOfRange { index: 7, len: 4 }.code(), 9);
    /// ```
    pub const fn code(&self) -> u8 {
        match self {
            Error::NonFiniteLoss => 1,
            Error::NonFiniteGradient => 2,
            Error::LabelOutOfRange { .. } => 3,
            Error::InvalidHyperparameter(_) => 4,
            Error::InvalidQuantization(_) => 5,
            Error::EmptyDataSet => 6,
            Error::LengthMismatch { .. } => 7,
            Error::IndexBufferLength { .. } => 8,
            Error::IndexOutOfRange { .. } => 9,
            Error::NonFiniteSample { .. } => 10,
            Error::Flash(_) => 11,
            Error::FlashVerify => 12,
            Error::NoCheckpoint => 13,
            Error::CheckpointTooLarge { .. } => 14,
            Error::CheckpointRegion => 15,
            Error::CheckpointLength { .. } => 16,
            Error::NonFiniteInput => 17,
            Error::NonFiniteOutput => 18,
            Error::NonFiniteModel => 19,
            Error::NonFiniteOptimizerState => 20,
            Error::Overflow => 21,
            Error::NameTooLong => 22,
            Error::WriteFailed => 23,
            Error::Truncated => 24,
            Error::HeaderTooLarge => 25,
            Error::InvalidJson { .. } => 26,
            Error::InvalidHeader => 27,
            Error::UnsupportedDtype => 28,
            Error::InvalidOffsets => 29,
            Error::OffsetsOutOfBounds => 30,
            Error::OverlappingTensors => 31,
            Error::UncoveredData => 32,
            Error::DuplicateTensor => 33,
            Error::MissingTensor { .. } => 34,
            Error::UnexpectedTensor => 35,
            Error::ShapeMismatch { .. } => 36,
            Error::DtypeMismatch { .. } => 37,
            Error::NonFiniteValue { .. } => 38,
            Error::NegativeValue { .. } => 39,
            Error::ValueOutOfRange { .. } => 40,
            Error::CountOutOfRange { .. } => 41,
            #[cfg(feature = "tflite")]
            Error::Tflite(_) => 42,
            Error::BufferTooSmall { .. } => 43,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::Error;
    use std::borrow::ToOwned;

    /// Every variant's number, in the order of the table in [`Error::code`]'s documentation
    /// (the variants' order): 1, 2, 3, …, each once.
    #[test]
    fn codes_are_the_documented_ones() {
        let all = [
            (Error::NonFiniteLoss, 1),
            (Error::NonFiniteGradient, 2),
            (
                Error::LabelOutOfRange {
                    label: 3,
                    classes: 3,
                },
                3,
            ),
            (Error::InvalidHyperparameter("lr"), 4),
            (Error::InvalidQuantization("scale"), 5),
            (Error::EmptyDataSet, 6),
            (
                Error::LengthMismatch {
                    features: 1,
                    targets: 2,
                },
                7,
            ),
            (
                Error::IndexBufferLength {
                    expected: 1,
                    found: 2,
                },
                8,
            ),
            (Error::IndexOutOfRange { index: 1, len: 1 }, 9),
            (Error::NonFiniteSample { index: 0 }, 10),
            (
                Error::Flash(embedded_storage::nor_flash::NorFlashErrorKind::Other),
                11,
            ),
            (Error::FlashVerify, 12),
            (Error::NoCheckpoint, 13),
            (
                Error::CheckpointTooLarge {
                    len: 2,
                    capacity: 1,
                },
                14,
            ),
            (Error::CheckpointRegion, 15),
            (
                Error::CheckpointLength {
                    declared: 2,
                    written: 1,
                },
                16,
            ),
            (Error::NonFiniteInput, 17),
            (Error::NonFiniteOutput, 18),
            (Error::NonFiniteModel, 19),
            (Error::NonFiniteOptimizerState, 20),
            (Error::Overflow, 21),
            (Error::NameTooLong, 22),
            (Error::WriteFailed, 23),
            (Error::Truncated, 24),
            (Error::HeaderTooLarge, 25),
            (Error::InvalidJson { offset: 0 }, 26),
            (Error::InvalidHeader, 27),
            (Error::UnsupportedDtype, 28),
            (Error::InvalidOffsets, 29),
            (Error::OffsetsOutOfBounds, 30),
            (Error::OverlappingTensors, 31),
            (Error::UncoveredData, 32),
            (Error::DuplicateTensor, 33),
            (Error::MissingTensor { index: 0 }, 34),
            (Error::UnexpectedTensor, 35),
            (Error::ShapeMismatch { index: 0 }, 36),
            (Error::DtypeMismatch { index: 0 }, 37),
            (Error::NonFiniteValue { index: 0 }, 38),
            (Error::NegativeValue { index: 0 }, 39),
            (Error::ValueOutOfRange { index: 0 }, 40),
            (Error::CountOutOfRange { index: 0 }, 41),
            #[cfg(feature = "tflite")]
            (
                Error::Tflite(crate::quant::tflite::TfliteError::Malformed),
                42,
            ),
            (Error::BufferTooSmall { needed: 2, len: 1 }, 43),
        ];
        for (e, code) in all {
            assert_eq!(e.code(), code, "{e:?}");
        }
        // The table of `Error::code`'s documentation, row by row: the same variants with the
        // same numbers, 1 to 43 with none twice (42, `Tflite`, only with its feature).
        let table: std::vec::Vec<(u8, &str)> = include_str!("error.rs")
            .lines()
            .filter_map(|line| {
                let row = line.trim().strip_prefix("/// | ")?;
                let (code, rest) = row.split_once(" | ")?;
                let name = rest.trim_start_matches("[`").trim_start_matches('`');
                let name = name.split('`').next()?;
                Some((code.parse().ok()?, name))
            })
            .collect();
        assert_eq!(
            table
                .iter()
                .map(|&(code, _)| code)
                .collect::<std::vec::Vec<_>>(),
            (1..=43).collect::<std::vec::Vec<u8>>()
        );
        let listed = all.iter().map(|(e, code)| {
            let debug = std::format!("{e:?}");
            let name = debug
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_owned();
            (*code, name)
        });
        let documented = table
            .iter()
            .filter(|&&(code, _)| cfg!(feature = "tflite") || code != 42)
            .map(|&(code, name)| (code, name.to_owned()));
        assert!(listed.eq(documented));
    }
}
