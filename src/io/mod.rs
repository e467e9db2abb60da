//! A model's life outside one program: PyTorch `state_dict` names and shapes ([`names`]).

pub mod checkpoint;
pub mod names;

pub use names::{entry, part, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
