//! The integration tests, in one test binary: the library and its dependencies are
//! instantiated, optimised and linked once for all of them instead of once per file, which
//! keeps a cold `cargo test` short. Each file of `tests/` is a module here; run one file's
//! tests with `cargo test --test tests conv::` (a module path filter), one test with its name.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

// Shared helpers (the counting allocator is the binary's global allocator).
mod common;
// The data sets' reader of the examples.
#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[path = "../examples/shared/csv.rs"]
mod csv;
#[path = "common/golden.rs"]
mod golden;
#[path = "common/tables.rs"]
mod tables;

mod checkpoint;
mod compile_fail;
mod conv;
mod deep_models;
mod gradcheck;
mod init;
mod int8;
mod layer_golden;
mod memory;
mod no_alloc;
mod norm_golden;
mod optim_alloc;
mod optim_api;
mod optim_convergence;
mod optim_golden;
mod ptq;
mod recurrent;
mod reliability;
mod small_stack;
mod tflite;
mod train_errors;
mod train_no_alloc;
mod train_real_data;
mod train_semantics;
mod vanishing;
mod xor;
