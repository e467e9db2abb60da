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
            Error::Overflow => f.write_str(
                "the step could overflow a weight, a buffer or the optimizer's state; it was not taken",
            ),
        }
    }
}

impl core::error::Error for Error {}
