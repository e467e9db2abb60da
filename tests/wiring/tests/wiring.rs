//! Wrong wiring does not compile: each program of `tests/ui` (a width mismatch, an optimizer
//! for another network, the network instead of its gradients as an optimizer's type) fails type
//! checking with its committed `.stderr` (trybuild, `cargo check`; regenerate with
//! `TRYBUILD=overwrite`). `chain_width_mismatch_method_call` records rustc's E0599 for
//! `net.forward(…)` on a mis-wired tuple, which names no layer (rustc rejects the tuple's impl
//! before any custom message can fire). Programs refused only when built are
//! `tests/compile_fail.rs` of the library's package.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

#[test]
fn wrong_wiring_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
