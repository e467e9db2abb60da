//! Nothing: this package holds only tests (`tests/external.rs`), kept apart from the library's
//! package so that its heavy dev-dependencies (the safetensors and half crates) are built only
//! by `cargo test --workspace`, not by every example.

#![no_std]
