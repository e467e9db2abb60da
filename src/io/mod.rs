//! A model's life outside one program: PyTorch `state_dict` names and shapes ([`names`]), and
//! a model as Rust source for a `static` in flash ([`rust`]), safetensors files
//! ([`safetensors`]), and power-loss-safe checkpoints on flash ([`checkpoint`]); a model and its optimizer
//! together as one state dict ([`TrainingState`]), to resume training.

pub mod checkpoint;
mod json;
pub mod names;
pub mod rust;
pub mod safetensors;
mod state;

pub use names::{
    entry, part, Domain, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut,
};
pub use state::TrainingState;
