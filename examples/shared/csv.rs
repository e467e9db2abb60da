//! Reads the data sets in `data/` (CSV with a header line, features then an integer class),
//! for the host examples and tests.

/// Feature rows (each value divided by `scale`) and class labels.
pub type Samples<const N: usize> = (Vec<[f32; N]>, Vec<u8>);

/// Parses `csv`: a header line, then rows of `N` numbers and a class label.
pub fn parse<const N: usize>(csv: &str, scale: f32) -> Result<Samples<N>, String> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (number, line) in csv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("line {}: {what}", number + 1);
        let mut fields = line.split(',').map(str::trim);
        let mut row = [0.0f32; N];
        for x in row.iter_mut() {
            let field = fields.next().ok_or_else(|| bad("missing field"))?;
            *x = field.parse::<f32>().map_err(|e| bad(&e.to_string()))? / scale;
        }
        let label = fields.next().ok_or_else(|| bad("missing label"))?;
        labels.push(label.parse().map_err(|_| bad("bad label"))?);
        features.push(row);
    }
    Ok((features, labels))
}

/// The 1797 handwritten digits (8 × 8 pixels scaled to 0..1) and their classes.
#[allow(dead_code)]
pub fn digits() -> Samples<64> {
    parse(include_str!("../../data/digits.csv"), 16.0).unwrap_or_else(|e| panic!("digits.csv: {e}"))
}

/// The 150 iris flowers (4 measurements in cm) and their species.
#[allow(dead_code)]
pub fn iris() -> Samples<4> {
    parse(include_str!("../../data/iris.csv"), 1.0).unwrap_or_else(|e| panic!("iris.csv: {e}"))
}
