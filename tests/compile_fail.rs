//! Wrong programs do not build.
//!
//! `tests/build_fail`: a batch of no samples, and a convolution or pooling layer whose sizes
//! disagree (output width, input width, groups, a kernel larger than the padded input), are
//! refused by `const` assertions, which fire when the generic code is instantiated, that is at
//! `cargo build` (not at `cargo check`); the messages give the expected sizes. Each program
//! there is built and its errors compared with `tests/build_fail/expected.stderr` (without line
//! numbers; regenerate with `TRYBUILD=overwrite`). Wrong wiring that fails type checking is
//! `tests/wiring` (trybuild).

use std::path::Path;
use std::process::Command;

#[test]
fn batches_of_no_samples_do_not_build() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/build_fail");
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--bins",
            "--keep-going",
            "--message-format=short",
            "--quiet",
        ])
        .current_dir(&fixture)
        // The test build's own target directory (`CARGO_TARGET_TMPDIR` is its `tmp`): the
        // fixture's profile is the same, so the dependencies it built are used again and only
        // tinyprop and the programs are compiled.
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    assert!(!output.status.success(), "every program must fail to build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = format!("{}/", root.display());
    // The errors and the notes that say where they come from, without the checkout's path,
    // in a stable order (cargo builds the programs in parallel).
    let mut lines: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("error[") || l.contains("instantiating"))
        .map(|l| without_line_numbers(&l.replace(&prefix, "")))
        .collect();
    lines.sort();
    lines.dedup();
    let got = lines.join("\n") + "\n";
    let expected_path = fixture.join("expected.stderr");
    if std::env::var("TRYBUILD").as_deref() == Ok("overwrite") {
        std::fs::write(&expected_path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert_eq!(got, expected, "full output:\n{stderr}");
    // Every program failed, each with the batch-size message.
    for bin in std::fs::read_dir(fixture.join("src/bin")).unwrap() {
        let name = bin.unwrap().path();
        let name = name.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            stderr.contains(&format!("(bin \"{name}\")")),
            "{name} built:\n{stderr}"
        );
    }
    assert!(got.contains("the batch size B is 0"));
}

/// The directory the tests were built in.
fn target_dir() -> &'static Path {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp)
}

/// `file.rs:12:5: message` as `file.rs: message`, so that editing a file does not change the
/// expected errors.
fn without_line_numbers(line: &str) -> String {
    match line.split_once(".rs:") {
        Some((file, rest)) => {
            let message = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':');
            format!("{file}.rs:{message}")
        }
        None => line.to_string(),
    }
}
