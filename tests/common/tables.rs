//! Reads the golden files of tensors (`tests/data/norm_golden.txt`, `layer_golden.txt`):
//! `case <name> key=value ...`, then lines `<label> <rows> <cols> <row-major values>`, `end`.
#![allow(dead_code)]

use std::collections::HashMap;

use tinyprop::{SMatrix, SVector};

/// One tensor: rows, columns, row-major values.
pub type Tensor = (usize, usize, Vec<f64>);

/// The tensors of case `name` in `text`, by label.
pub fn case(text: &str, name: &str) -> HashMap<String, Tensor> {
    let mut found = None;
    let mut current: Option<HashMap<_, _>> = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        match words.next().unwrap() {
            "case" => {
                if words.next() == Some(name) {
                    current = Some(HashMap::new());
                }
            }
            "end" => {
                if let Some(c) = current.take() {
                    found = Some(c);
                }
            }
            label => {
                if let Some(c) = current.as_mut() {
                    let rows: usize = words.next().unwrap().parse().unwrap();
                    let cols: usize = words.next().unwrap().parse().unwrap();
                    let values: Vec<f64> = words.map(|w| w.parse().unwrap()).collect();
                    assert_eq!(values.len(), rows * cols, "{label}");
                    c.insert(label.to_string(), (rows, cols, values));
                }
            }
        }
    }
    found.unwrap_or_else(|| panic!("no case {name}"))
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
