//! A strict reader for the golden files of tensors (`tests/data/norm_golden.txt`,
//! `layer_golden.txt`, written by `tools/golden.py`):
//!
//! ```text
//! case <name> key=value ...
//! <label> <rows> <cols> <rows*cols values, row-major>
//! end
//! ```
//!
//! Comments (`#`) and blank lines are skipped. Like `golden.rs`, the reader refuses what could
//! let a typo in a file or a test pass silently: malformed lines, a repeated case name, a
//! repeated label or key in a case, a label or case the test asks for that is not there, and
//! (in [`Case::finish`]) a hyperparameter the test did not take or a tensor it did not read.
//! A case dropped without `finish` fails the test too.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Index;

use tinyprop::{SMatrix, SVector};

/// One tensor: rows, columns, row-major values.
pub type Tensor = (usize, usize, Vec<f64>);

/// One case of a file.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    params: BTreeMap<String, String>,
    tensors: BTreeMap<String, Tensor>,
    /// The labels read so far (through `Index`, which takes `&self`).
    read: RefCell<BTreeSet<String>>,
    finished: bool,
}

/// Parses every case of `text`. Panics (failing the test) on malformed input.
pub fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut current: Option<Case> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("line {}: {raw:?}", number + 1);
        let mut words = line.split_whitespace();
        match words.next().unwrap() {
            "case" => {
                assert!(current.is_none(), "case inside a case at {}", at());
                let name = words
                    .next()
                    .unwrap_or_else(|| panic!("no name at {}", at()));
                assert!(
                    cases.iter().all(|c| c.name != name),
                    "duplicate case {name} at {}",
                    at()
                );
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
                    params,
                    tensors: BTreeMap::new(),
                    read: RefCell::new(BTreeSet::new()),
                    finished: false,
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
                let mut size = || -> usize {
                    let word = words
                        .next()
                        .unwrap_or_else(|| panic!("no rows or columns at {}", at()));
                    word.parse()
                        .unwrap_or_else(|e| panic!("{word}: {e} at {}", at()))
                };
                let (rows, cols) = (size(), size());
                let values: Vec<f64> = words
                    .map(|w| w.parse().unwrap_or_else(|e| panic!("{w}: {e} at {}", at())))
                    .collect();
                assert_eq!(
                    values.len(),
                    rows * cols,
                    "{rows} x {cols} values expected at {}",
                    at()
                );
                let old = case.tensors.insert(label.to_string(), (rows, cols, values));
                assert!(old.is_none(), "repeated label {label} at {}", at());
            }
        }
    }
    if let Some(case) = current {
        panic!("unterminated case {}", case.name);
    }
    cases
}

/// The names of the cases of `text`, in file order.
pub fn names(text: &str) -> Vec<String> {
    parse(text).into_iter().map(Case::into_name).collect()
}

/// Case `name` of `text`; every other case must be well formed too. Call [`Case::finish`]
/// when done with it.
pub fn case(text: &str, name: &str) -> Case {
    let mut found = None;
    for c in parse(text) {
        if c.name == name {
            found = Some(c);
        } else {
            c.into_name();
        }
    }
    found.unwrap_or_else(|| panic!("no case {name}"))
}

impl Case {
    /// Removes and returns hyperparameter `key` as a number.
    pub fn take(&mut self, key: &str) -> f64 {
        let text = self
            .params
            .remove(key)
            .unwrap_or_else(|| panic!("{}: no hyperparameter {key}", self.name));
        text.parse()
            .unwrap_or_else(|e| panic!("{}: {key}={text}: {e}", self.name))
    }

    /// Removes hyperparameter `key` and asserts that it is the integer `value`.
    pub fn take_usize(&mut self, key: &str, value: usize) {
        let text = self
            .params
            .remove(key)
            .unwrap_or_else(|| panic!("{}: no hyperparameter {key}", self.name));
        assert_eq!(text, value.to_string(), "{}: {key}", self.name);
    }

    /// Panics if a hyperparameter was not taken or a tensor was not read.
    pub fn finish(mut self) {
        self.finished = true;
        assert!(
            self.params.is_empty(),
            "{}: hyperparameters the test does not use: {:?}",
            self.name,
            self.params
        );
        let read = self.read.borrow();
        let unread: Vec<&String> = self.tensors.keys().filter(|l| !read.contains(*l)).collect();
        assert!(
            unread.is_empty(),
            "{}: tensors the test does not read: {unread:?}",
            self.name
        );
    }

    /// Drops the case without the checks of [`Case::finish`]; returns its name.
    fn into_name(mut self) -> String {
        self.finished = true;
        std::mem::take(&mut self.name)
    }
}

impl Index<&str> for Case {
    type Output = Tensor;

    /// The tensor labelled `label`; panics if there is none.
    fn index(&self, label: &str) -> &Tensor {
        let tensor = self
            .tensors
            .get(label)
            .unwrap_or_else(|| panic!("{}: no tensor {label}", self.name));
        self.read.borrow_mut().insert(label.to_string());
        tensor
    }
}

impl Index<&String> for Case {
    type Output = Tensor;

    fn index(&self, label: &String) -> &Tensor {
        &self[label.as_str()]
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("{}: case dropped without finish()", self.name);
        }
    }
}

/// A (batch × features) row-major tensor as a features × batch matrix (one column a sample).
pub fn batch<const N: usize, const B: usize>(t: &Tensor) -> SMatrix<f64, N, B> {
    assert_eq!((t.0, t.1), (B, N));
    SMatrix::from_column_slice(&t.2)
}

/// A 1 × N tensor as a vector.
pub fn vector<const N: usize>(t: &Tensor) -> SVector<f64, N> {
    assert_eq!((t.0, t.1), (1, N));
    SVector::from_column_slice(&t.2)
}

/// Asserts `got` equals `want` to 1e-10 relative (1e-12 absolute near zero).
pub fn assert_close(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-10 * w.abs().max(1e-2);
        assert!((g - w).abs() <= tol, "{name}[{i}]: {g} vs {w}");
    }
}
