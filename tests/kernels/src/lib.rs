//! Nothing: this package holds only tests (`kernels.rs`), kept apart from the library's
//! package so that they build with their own optimisation level.

#![no_std]
