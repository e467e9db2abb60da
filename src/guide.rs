//! Guides: worked examples longer than one item's docs, every line compiled and run as a test.
//!
//! * [`custom_layer`]: a layer with trainable parameters of your own, checked with
//!   [`crate::gradcheck`], trained in a network and saved to a safetensors file.

#[doc = include_str!("guide/custom_layer.md")]
pub mod custom_layer {}
