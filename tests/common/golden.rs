//! A strict reader for the PyTorch golden files in `tests/data` (written by `tools/golden.py`).
//!
//! A file is a sequence of cases:
//!
//! ```text
//! case <name> <kind> key=value ...
//! <label> <numbers> ...
//! end
//! ```
//!
//! Comments (`#`) and blank lines are skipped. Every hyperparameter a test does not take is an
//! error ([`Case::finish`]), and so is a label the test does not expect, so a typo in a file
//! or a test cannot pass silently.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One case of a golden file.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub kind: String,
    params: BTreeMap<String, String>,
    /// `(label, values)` in file order; labels may repeat (one line per step).
    pub lines: Vec<(String, Vec<f64>)>,
}

/// Parses every case of `text`. Panics (failing the test) on malformed input.
pub fn parse(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let head = words.next().unwrap();
        let at = || format!("line {}: {raw:?}", number + 1);
        match head {
            "case" => {
                assert!(current.is_none(), "case inside a case at {}", at());
                let name = words
                    .next()
                    .unwrap_or_else(|| panic!("no name at {}", at()));
                let kind = words
                    .next()
                    .unwrap_or_else(|| panic!("no kind at {}", at()));
                let mut params = BTreeMap::new();
                for word in words {
                    let (k, v) = word
                        .split_once('=')
                        .unwrap_or_else(|| panic!("not key=value at {}", at()));
                    let old = params.insert(k.to_string(), v.to_string());
                    assert!(old.is_none(), "repeated key {k} at {}", at());
                }
                current = Some(Case {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    params,
                    lines: Vec::new(),
                });
            }
            "end" => {
                let case = current
                    .take()
                    .unwrap_or_else(|| panic!("end outside a case at {}", at()));
                cases.push(case);
            }
            label => {
                let case = current
                    .as_mut()
                    .unwrap_or_else(|| panic!("data outside a case at {}", at()));
                let values = words
                    .map(|w| {
                        w.parse::<f64>()
                            .unwrap_or_else(|e| panic!("{e} at {}", at()))
                    })
                    .collect();
                case.lines.push((label.to_string(), values));
            }
        }
    }
    assert!(current.is_none(), "unterminated case");
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
    cases
}

impl Case {
    /// Removes and returns hyperparameter `key` as text.
    pub fn take_str(&mut self, key: &str) -> String {
        self.params
            .remove(key)
            .unwrap_or_else(|| panic!("{}: no hyperparameter {key}", self.name))
    }

    /// Removes and returns hyperparameter `key` as a number (`inf` allowed).
    pub fn take(&mut self, key: &str) -> f64 {
        let text = self.take_str(key);
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {key}={text}: {e}", self.name))
    }

    /// Removes and returns hyperparameter `key` as a non-negative integer.
    pub fn take_u32(&mut self, key: &str) -> u32 {
        let text = self.take_str(key);
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {key}={text}: {e}", self.name))
    }

    /// Removes and returns boolean hyperparameter `key` (written 0 or 1).
    pub fn take_bool(&mut self, key: &str) -> bool {
        match self.take_str(key).as_str() {
            "0" => false,
            "1" => true,
            other => panic!("{}: {key}={other} is not 0 or 1", self.name),
        }
    }

    /// Removes and returns hyperparameter `key` written as `a,b`.
    pub fn take_pair(&mut self, key: &str) -> (f64, f64) {
        let text = self.take_str(key);
        let (a, b) = text
            .split_once(',')
            .unwrap_or_else(|| panic!("{}: {key}={text} is not a pair", self.name));
        (a.parse().unwrap(), b.parse().unwrap())
    }

    /// Panics if a hyperparameter was not taken, or a line's label is not in `labels`.
    pub fn finish(&self, labels: &[&str]) {
        assert!(
            self.params.is_empty(),
            "{}: hyperparameters the test does not use: {:?}",
            self.name,
            self.params
        );
        for (label, _) in &self.lines {
            assert!(
                labels.contains(&label.as_str()),
                "{}: unknown line {label}",
                self.name
            );
        }
    }

    /// The values of every line labelled `label`, in order.
    pub fn all(&self, label: &str) -> Vec<&[f64]> {
        self.lines
            .iter()
            .filter(|(l, _)| l == label)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The values of the only line labelled `label`.
    pub fn one(&self, label: &str) -> &[f64] {
        let all = self.all(label);
        assert_eq!(all.len(), 1, "{}: expected one {label} line", self.name);
        all[0]
    }
}

/// Tolerances of a comparison: `|actual − expected| <= rel · |expected| + abs`.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

/// `1e-10` relative in `f64`, `1e-12` absolute near zero.
pub const F64: Tolerance = Tolerance {
    rel: 1e-10,
    abs: 1e-12,
};
/// `1e-5` relative in `f32`, `1e-7` absolute near zero.
pub const F32: Tolerance = Tolerance {
    rel: 1e-5,
    abs: 1e-7,
};

/// Asserts that `actual` matches `expected` elementwise; returns the largest relative error
/// (against `max(|expected|, abs / rel)`).
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: Tolerance) -> f64 {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    let mut worst = 0.0f64;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs();
        assert!(
            err <= tol.rel * e.abs() + tol.abs,
            "{what}[{i}]: got {a:e}, PyTorch {e:e} (error {err:e})\n  actual   {actual:?}\n  expected {expected:?}"
        );
        worst = worst.max(err / e.abs().max(tol.abs / tol.rel));
    }
    worst
}
