//! Wrong programs do not build: the programs of `tests/build_fail`, built in the test build's
//! own target directory with its profile, so that only tinyprop and the programs compile
//! (regenerate the expected errors with `TINYPROP_BLESS=1`).
//!
//! - `src/bin`: a batch of no samples, and a convolution or pooling layer whose sizes disagree
//!   (output width, input width, groups, a kernel larger than the padded input), are refused
//!   by `const` assertions, which fire when the generic code is instantiated, that is at
//!   `cargo build` (not at `cargo check`); the messages give the expected sizes. Their error
//!   lines, without line numbers, are compared with `expected.stderr`.
//! - `wiring`: wrong wiring that fails type checking (a width mismatch, an optimizer for
//!   another network, the network instead of its gradients as an optimizer's type); each
//!   program's diagnostics in full are compared with its `.stderr`, the checkout's path as
//!   `$WORKSPACE` and without line numbers. `chain_width_mismatch_method_call` records
//!   rustc's E0599 for `net.forward(…)` on a mis-wired tuple, which names no layer (rustc
//!   rejects the tuple's impl before any custom message can fire).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[test]
fn batches_of_no_samples_do_not_build() {
    let names = programs("src/bin");
    let mut args = vec!["build", "--keep-going", "--message-format=short", "--quiet"];
    for name in &names {
        args.extend(["--bin", name.as_str()]);
    }
    let output = cargo(&args);
    assert!(!output.status.success(), "every program must fail to build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = format!("{}/", root().display());
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
    compare(&fixture().join("expected.stderr"), &got, &stderr);
    // Every program failed, each with the batch-size message.
    for name in &names {
        assert!(
            stderr.contains(&format!("(bin \"{name}\")")),
            "{name} built:\n{stderr}"
        );
    }
    assert!(got.contains("the batch size B is 0"));
}

#[test]
fn wrong_wiring_does_not_compile() {
    let names = programs("wiring");
    assert_eq!(names.len(), 7);
    for name in &names {
        // Full type names (`--verbose`) and a fixed width, for the final crate only (so that
        // the dependencies already built are used as they are).
        let output = cargo(&[
            "rustc",
            "--quiet",
            "--color=never",
            "--bin",
            name,
            "--",
            "--verbose",
            "--diagnostic-width=140",
        ]);
        assert!(!output.status.success(), "{name} compiled");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let got = normalized(&stderr);
        assert!(got.starts_with("error["), "{name}:\n{stderr}");
        compare(
            &fixture().join(format!("wiring/{name}.stderr")),
            &got,
            &stderr,
        );
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/build_fail")
}

/// The names of the programs in `dir` of the fixture, sorted.
fn programs(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs cargo in the fixture, in the test build's own target directory (`CARGO_TARGET_TMPDIR`
/// is its `tmp`): the fixture's profile is the same, so the dependencies it built are used
/// again and only tinyprop and the programs are compiled.
fn cargo(args: &[&str]) -> Output {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(fixture())
        .env("CARGO_TARGET_DIR", tmp.parent().unwrap_or(tmp))
        .output()
        .expect("cargo runs")
}

/// Compares `got` with the file at `path` (writes it with `TINYPROP_BLESS=1`).
fn compare(path: &Path, got: &str, full: &str) {
    if std::env::var_os("TINYPROP_BLESS").is_some() {
        std::fs::write(path, got).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(got, expected, "{}; full output:\n{full}", path.display());
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

/// rustc's diagnostics with the checkout's path as `$WORKSPACE`, without line and column
/// numbers (in `-->` lines and the margin of quoted code) and without the indentation that
/// their width sets, lists of the types that implement a trait cut after 8 (as rustc does
/// without `--verbose`), and without cargo's closing line.
fn normalized(stderr: &str) -> String {
    let prefix = format!("{}/", root().display());
    let mut out = String::new();
    // In a list of types that implement a trait: how many so far.
    let mut listed: Option<usize> = None;
    for line in stderr.lines() {
        if let Some(n) = listed {
            let item = line.trim();
            let ends = item.is_empty()
                || ["=", "|", "-->", "note:", "help:", "error"]
                    .iter()
                    .any(|p| item.starts_with(p));
            if !ends {
                listed = Some(n + 1);
                if n < 8 {
                    out.push_str(item);
                    out.push('\n');
                }
                continue;
            }
            if n > 8 {
                out.push_str("and $N others\n");
            }
            listed = None;
        }
        if line.contains("the following other types implement trait") {
            listed = Some(0);
        }
        if line.starts_with("error: could not compile") {
            continue;
        }
        let line = line.replace(&prefix, "$WORKSPACE/");
        let trimmed = line.trim_start();
        let line = match trimmed
            .strip_prefix("--> ")
            .or(trimmed.strip_prefix("::: "))
        {
            Some(place) => {
                let file = without_line_numbers(place);
                format!("{} {}", &trimmed[..3], file.trim_end_matches(':'))
            }
            None => {
                let unnumbered = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
                if unnumbered.len() < trimmed.len() && unnumbered.trim_start().starts_with('|') {
                    unnumbered.trim_start().to_string()
                } else {
                    trimmed.to_string()
                }
            }
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if listed.is_some_and(|n| n > 8) {
        out.push_str("and $N others\n");
    }
    out
}
