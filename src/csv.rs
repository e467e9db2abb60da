//! Reading a data set from a CSV file on a host (the `std` feature): features and a class or
//! target columns, into the rows and targets a [`DataSet`](crate::data::DataSet) borrows.
//!
//! The first line names the columns; fields are separated by commas and may be quoted with
//! `"` (a `""` inside a quoted field is a quote). Every feature must be a number; a class
//! column may hold numbers or names. Errors give the line and the column.
//!
//! ```
//! use tinyprop::csv::Table;
//! use tinyprop::data::DataSet;
//! let text = "length,width,species\n5.1,3.5,setosa\n7.0,3.2,versicolor\n6.3,3.3,virginica\n";
//! let table = Table::<f32, 2, u8>::classes_from_str(text, "species")?;
//! assert_eq!(table.features, [[5.1, 3.5], [7.0, 3.2], [6.3, 3.3]]);
//! assert_eq!(table.targets, [0, 1, 2]);
//! assert_eq!(table.class_names, ["setosa", "versicolor", "virginica"]);
//! let data = DataSet::new(&table.features, &table.targets)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::data::Unsigned;
use crate::Scalar;

/// What went wrong reading a CSV file: where, and why.
#[derive(Debug)]
pub struct CsvError {
    /// The line (from 1), or 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "CSV: {}", self.message)
        } else {
            write!(f, "CSV line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for CsvError {}

fn error(line: usize, message: impl Into<String>) -> CsvError {
    CsvError {
        line,
        message: message.into(),
    }
}

/// Features and targets read from CSV: `features` and `targets` are what
/// [`DataSet::new`](crate::data::DataSet::new) takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table<T, const IN: usize, Y> {
    /// The names of the feature columns, in order.
    pub feature_names: Vec<String>,
    /// One row of `IN` features per sample.
    pub features: Vec<[T; IN]>,
    /// One target per sample.
    pub targets: Vec<Y>,
    /// For classes: the name of each class, by index (sorted: numerically when every name is
    /// a number, else alphabetically). Empty for target rows.
    pub class_names: Vec<String>,
}

impl<T: Scalar, const IN: usize, L: Unsigned> Table<T, IN, L> {
    /// Reads the file at `path`: the column `class` holds the classes, every other column is a
    /// feature (there must be `IN` of them).
    pub fn classes(path: impl AsRef<Path>, class: &str) -> Result<Self, CsvError> {
        Self::classes_from_str(&read(path)?, class)
    }

    /// [`Table::classes`] of CSV text.
    pub fn classes_from_str(text: &str, class: &str) -> Result<Self, CsvError> {
        let (names, records) = parse(text)?;
        let class_col = column(&names, class)?;
        let feature_cols: Vec<usize> = (0..names.len()).filter(|&c| c != class_col).collect();
        let mut class_names: Vec<String> = Vec::new();
        for (_, fields) in &records {
            if let Some(name) = fields.get(class_col) {
                if !class_names.contains(name) {
                    class_names.push(name.clone());
                }
            }
        }
        let numeric: Option<Vec<f64>> = class_names.iter().map(|n| n.parse().ok()).collect();
        match numeric {
            Some(_) => class_names.sort_by(|a, b| {
                let (x, y) = (a.parse::<f64>(), b.parse::<f64>());
                x.unwrap_or(0.0).total_cmp(&y.unwrap_or(0.0))
            }),
            None => class_names.sort(),
        }
        let mut features = Vec::with_capacity(records.len());
        let mut targets = Vec::with_capacity(records.len());
        for (line, fields) in &records {
            features.push(row::<T, IN>(*line, fields, &feature_cols, &names)?);
            let name = fields.get(class_col).map(String::as_str).unwrap_or("");
            let index = class_names.iter().position(|n| n == name).unwrap_or(0);
            let label = L::from_usize(index)
                .ok_or_else(|| error(*line, "more classes than the label type can count"))?;
            targets.push(label);
        }
        Ok(Table {
            feature_names: names_of(&names, &feature_cols),
            features,
            targets,
            class_names,
        })
    }
}

impl<T: Scalar, const IN: usize, const OUT: usize> Table<T, IN, [T; OUT]> {
    /// Reads the file at `path`: the columns named in `targets` are the targets (a regression),
    /// every other column is a feature (there must be `IN` of them).
    pub fn rows(path: impl AsRef<Path>, targets: [&str; OUT]) -> Result<Self, CsvError> {
        Self::rows_from_str(&read(path)?, targets)
    }

    /// [`Table::rows`] of CSV text.
    ///
    /// ```
    /// use tinyprop::csv::Table;
    /// let t = Table::<f64, 1, [f64; 1]>::rows_from_str("x,y\n1,2\n3,4.5\n", ["y"])?;
    /// assert_eq!((t.features, t.targets), (vec![[1.0], [3.0]], vec![[2.0], [4.5]]));
    /// # Ok::<(), tinyprop::csv::CsvError>(())
    /// ```
    pub fn rows_from_str(text: &str, targets: [&str; OUT]) -> Result<Self, CsvError> {
        let (names, records) = parse(text)?;
        let mut target_cols = [0usize; OUT];
        for (slot, name) in target_cols.iter_mut().zip(targets) {
            *slot = column(&names, name)?;
        }
        let feature_cols: Vec<usize> = (0..names.len())
            .filter(|c| !target_cols.contains(c))
            .collect();
        let mut features = Vec::with_capacity(records.len());
        let mut rows = Vec::with_capacity(records.len());
        for (line, fields) in &records {
            features.push(row::<T, IN>(*line, fields, &feature_cols, &names)?);
            rows.push(row::<T, OUT>(*line, fields, &target_cols, &names)?);
        }
        Ok(Table {
            feature_names: names_of(&names, &feature_cols),
            features,
            targets: rows,
            class_names: Vec::new(),
        })
    }
}

fn read(path: impl AsRef<Path>) -> Result<String, CsvError> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|e| error(0, format!("{}: {e}", path.display())))
}

/// The names of the columns `cols`.
fn names_of(names: &[String], cols: &[usize]) -> Vec<String> {
    cols.iter().filter_map(|&c| names.get(c).cloned()).collect()
}

/// The index of the column `name`.
fn column(names: &[String], name: &str) -> Result<usize, CsvError> {
    names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| error(1, format!("no column named {name:?} (columns: {names:?})")))
}

/// The numbers of the columns `cols` of one record.
fn row<T: Scalar, const N: usize>(
    line: usize,
    fields: &[String],
    cols: &[usize],
    names: &[String],
) -> Result<[T; N], CsvError> {
    if cols.len() != N {
        return Err(error(
            line,
            format!("{} columns for {N} values: {:?}", cols.len(), names),
        ));
    }
    let mut out = [T::zero(); N];
    for (v, &c) in out.iter_mut().zip(cols) {
        let field = fields.get(c).map(String::as_str).unwrap_or("");
        let x: f64 = field.trim().parse().map_err(|_| {
            let name = names.get(c).map(String::as_str).unwrap_or("");
            error(line, format!("column {name:?}: {field:?} is not a number"))
        })?;
        *v = T::of_f64(x);
    }
    Ok(out)
}

/// The header's names and the records (with their line numbers), every record as long as the
/// header.
#[allow(clippy::type_complexity)]
fn parse(text: &str) -> Result<(Vec<String>, Vec<(usize, Vec<String>)>), CsvError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i.saturating_add(1), l));
    let (_, header) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| error(0, "no header line"))?;
    let names: Vec<String> = fields(1, header)?
        .into_iter()
        .map(|s| s.trim().to_string())
        .collect();
    let mut records = Vec::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let f = fields(line, text)?;
        if f.len() != names.len() {
            return Err(error(
                line,
                format!("{} fields, but the header has {}", f.len(), names.len()),
            ));
        }
        records.push((line, f));
    }
    if records.is_empty() {
        return Err(error(0, "no data lines"));
    }
    Ok((names, records))
}

/// The fields of one line.
fn fields(line: usize, text: &str) -> Result<Vec<String>, CsvError> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(error(line, "a quoted field does not end"));
    }
    out.push(field);
    Ok(out)
}
