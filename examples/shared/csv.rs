//! The data sets in `data/` (CSV: a header line, features, then an integer `class`), read with
//! `tinyprop::csv`, for the host examples and tests.

use tinyprop::csv::Table;

/// Feature rows and class labels.
pub type Samples<const N: usize> = (Vec<[f32; N]>, Vec<u8>);

/// The rows of `csv` (features divided by `scale`) and their classes.
fn read<const N: usize>(csv: &str, scale: f32) -> Samples<N> {
    let table =
        Table::<f32, N, u8>::classes_from_str(csv, "class").unwrap_or_else(|e| panic!("{e}"));
    let features = table
        .features
        .into_iter()
        .map(|row| row.map(|v| v / scale))
        .collect();
    (features, table.targets)
}

/// The 1797 handwritten digits (8 × 8 pixels scaled to 0..1) and their classes.
#[allow(dead_code)]
pub fn digits() -> Samples<64> {
    read(include_str!("../../data/digits.csv"), 16.0)
}

/// The 150 iris flowers (4 measurements in cm) and their species.
#[allow(dead_code)]
pub fn iris() -> Samples<4> {
    read(include_str!("../../data/iris.csv"), 1.0)
}
