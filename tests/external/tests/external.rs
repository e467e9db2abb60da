//! tinyprop's tests that need heavy dev-dependencies or long trainings, in one test binary of
//! their own package, built optimised (`cargo test --workspace` runs them; `cargo test -p
//! tinyprop-external-tests` only them).

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod io;
mod long_trainings;

/// The repository's root (this package is `tests/external`).
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
