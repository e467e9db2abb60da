//! A model's life outside one program: PyTorch `state_dict` names and shapes ([`names`]), and
//! a model as Rust source for a `static` in flash ([`rust`]).

pub mod checkpoint;
pub mod names;
pub mod rust;

pub use names::{entry, part, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
