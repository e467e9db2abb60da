use core::fmt;

/// Everything that can go wrong at run time. Small and `Copy`, so firmware can store or log it.
///
/// A training step that returns an error leaves every weight exactly as it was.
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
        }
    }
}

impl core::error::Error for Error {}
