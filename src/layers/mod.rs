//! The layers: [`Dense`] (fully connected) and the activations.
//!
//! Every layer works for any batch size: its input is an `SMatrix<T, WIDTH, BATCH>` with one
//! column per sample.

mod activation;
pub mod conv;
mod dense;
mod dropout;
mod frozen;
mod norm;
mod norm2d;
pub mod pool;
mod recurrent;
mod residual;
mod scale;

pub(crate) use activation::sigmoid;
pub use activation::{Identity, LeakyRelu, Relu, Sigmoid, Softmax, Tanh};
pub use conv::{
    conv_out, Conv, Conv1d, Conv2d, ConvCache, OneD, Spatial, TwoD, IM2COL_MIN_OPG, PATCH_BLOCK,
};
pub use dense::{Bias, Dense, DenseNoBias, NoBias};
pub use dropout::{Dropout, SavedRng};
pub use frozen::Frozen;
pub use norm::{Affine, BatchNorm, LayerNorm, NormCache};
pub use norm2d::BatchNorm2d;
pub use pool::{
    Avg, AvgPool1d, AvgPool2d, Flatten, GlobalAvgPool, Max, MaxPool1d, MaxPool2d, Pool, PoolKind,
};
pub use recurrent::{
    Cell, EachStep, EachStepCache, FlattenSteps, Gru, GruCell, LastStep, Lstm, LstmCell, Recurrent,
    RecurrentCache, Rnn, RnnActivation, RnnCell, RnnRelu, Seq, Sequence, State,
};
pub use residual::{Residual, ResidualProjection};
pub use scale::Normalize;
