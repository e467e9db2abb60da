//! tinyprop's tests that need heavy dev-dependencies, in one test binary of their own package
//! (`cargo test --workspace` runs them; `cargo test -p tinyprop-external-tests` only them).

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod io;

/// The repository's root (this package is `tests/external`).
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
