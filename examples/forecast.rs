//! One-step-ahead forecasting of a real time series with a GRU trained by truncated
//! backpropagation through time: the yearly mean sunspot numbers 1700–2008 (`data/sunspots.csv`,
//! public domain, see `data/README.md`).
//!
//! The GRU reads the series one year at a time and predicts the next year at every step
//! (`(Gru, EachStep<Dense>, FlattenSteps)`). Training walks through 1700–1968 in windows of
//! `W` years, one Adam step per window, the hidden state carried from window to window while
//! the gradient stops at the window's start (truncated BPTT; the state restarts from zero at
//! each pass). The last 40 years (1969–2008) are held out: the model runs through the whole
//! series one step at a time, carrying its state, and its forecasts of the held-out years are
//! compared (RMSE, in sunspots) with the naive forecast "same as last year". Writes
//! `target/forecast.csv` and `target/forecast.png` (the held-out years: actual, GRU, naive).
//!
//! Run with `cargo run --release --example forecast`.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use tinyprop::layers::{EachStep, FlattenSteps, State};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;

/// Years per training window (truncated BPTT).
const W: usize = 12;
/// Hidden units.
const H: usize = 24;
/// Held-out years at the end.
const HELD_OUT: usize = 40;
const PASSES: usize = 400;
const SEED: u64 = 3;

type Net = (Gru<f32, 1, H>, EachStep<Dense<f32, H, 1>>, FlattenSteps<W>);

fn read_series() -> Result<(Vec<u32>, Vec<f32>), Box<dyn Error>> {
    let text = include_str!("../data/sunspots.csv");
    let (mut years, mut values) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let (y, v) = line.split_once(',').ok_or("bad line")?;
        years.push(y.parse()?);
        values.push(v.parse()?);
    }
    Ok((years, values))
}

fn rmse(a: &[f32], b: &[f32]) -> f32 {
    let s: f32 = a.iter().zip(b).map(|(a, b)| (a - b).powi(2)).sum();
    (s / a.len() as f32).sqrt()
}

fn main() -> Result<(), Box<dyn Error>> {
    let (years, raw) = read_series()?;
    let split = raw.len() - HELD_OUT;
    // Standardised with the mean and deviation of the training years only.
    let train_part = &raw[..split];
    let mean = train_part.iter().sum::<f32>() / split as f32;
    let std = (train_part.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / split as f32).sqrt();
    let series: Vec<f32> = raw.iter().map(|v| (v - mean) / std).collect();
    println!(
        "sunspots {}-{}: {} years, training {}-{}, held out {}-{}",
        years[0],
        years[years.len() - 1],
        raw.len(),
        years[0],
        years[split - 1],
        years[split],
        years[years.len() - 1]
    );

    let mut net = Net::default();
    net.init(Init::PyTorchDefault, &mut SplitMix64::new(SEED));
    let mut opt = Adam::new(AdamConfig {
        lr: 0.005,
        ..Default::default()
    })?;
    let mut ws = Box::new(Workspace::<f32, Seq<f32, 1, W, 1>, Net>::new());
    let mut x = Seq::<f32, 1, W, 1>::zeroed();
    let mut target = SMatrix::<f32, W, 1>::zeros();
    // Inputs are years 0..split-1; each input's target is the next year.
    let windows = (split - 1) / W;
    for pass in 0..PASSES {
        ws.cache.0 .0.reset_state();
        let mut total = 0.0;
        for k in 0..windows {
            for t in 0..W {
                x.steps[t][0] = series[k * W + t];
                target[t] = series[k * W + t + 1];
            }
            total += train_step(&mut net, &mut opt, &Mse, &x, &target, &mut ws)?;
            ws.cache.0 .0.carry();
        }
        if pass % 50 == 0 || pass == PASSES - 1 {
            println!("pass {pass:3}: training mse {:.4}", total / windows as f32);
        }
    }

    // Forecast: one step at a time through the whole series, the state carried.
    let mut state = State::<f32, H, 1>::zeroed();
    let mut h = Seq::<f32, H, 1, 1>::zeroed();
    let mut y = SMatrix::<f32, 1, 1>::zeros();
    let mut forecasts = Vec::new(); // forecasts[i]: the prediction for year i + 1
    for &v in &series[..series.len() - 1] {
        let step = Seq::<f32, 1, 1, 1> {
            steps: [SMatrix::from_element(v)],
        };
        net.0.forward_from(&step, &mut state, &mut h);
        net.1 .0.forward(&h.steps[0], &mut y);
        forecasts.push(y[0] * std + mean);
    }
    let actual = &raw[split..];
    let model: Vec<f32> = forecasts[split - 1..].to_vec();
    let naive: Vec<f32> = raw[split - 1..raw.len() - 1].to_vec();
    let in_sample = rmse(&forecasts[..split - 1], &raw[1..split]);
    let naive_in_sample = rmse(&raw[..split - 1], &raw[1..split]);
    let (model_rmse, naive_rmse) = (rmse(&model, actual), rmse(&naive, actual));
    println!("training years: GRU RMSE {in_sample:.2}, naive RMSE {naive_in_sample:.2}");
    println!(
        "held-out {}-{}: GRU RMSE {model_rmse:.2}, naive (same as last year) RMSE {naive_rmse:.2}",
        years[split],
        years[years.len() - 1]
    );

    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&dir)?;
    let csv_path = dir.join("forecast.csv");
    let mut csv = std::fs::File::create(&csv_path)?;
    writeln!(csv, "year,actual,gru,naive")?;
    for i in 0..HELD_OUT {
        writeln!(
            csv,
            "{},{},{},{}",
            years[split + i],
            actual[i],
            model[i],
            naive[i]
        )?;
    }
    let png_path = dir.join("forecast.png");
    plot::write_png(
        &png_path,
        &format!("sunspots, held out: GRU RMSE {model_rmse:.1}, naive RMSE {naive_rmse:.1}"),
        years[split],
        &[("actual", actual), ("GRU", &model), ("naive", &naive)],
    )?;
    println!("wrote {} and {}", csv_path.display(), png_path.display());
    if model_rmse >= naive_rmse {
        return Err("the GRU does not beat the naive forecast".into());
    }
    Ok(())
}

/// A line chart as a PNG, drawn pixel by pixel with an 8 × 8 bitmap font (no system fonts).
mod plot {
    use std::error::Error;
    use std::path::Path;

    const W: usize = 960;
    const H: usize = 480;
    const LEFT: i64 = 70;
    const RIGHT: i64 = 30;
    const TOP: i64 = 80;
    const BOTTOM: i64 = 60;
    const COLORS: [[u8; 3]; 3] = [[30, 30, 30], [214, 39, 40], [31, 119, 180]];
    const GRID: [u8; 3] = [225, 225, 225];
    const INK: [u8; 3] = [30, 30, 30];

    struct Canvas(Vec<u8>);

    impl Canvas {
        fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
            if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
                let i = 3 * (y as usize * W + x as usize);
                self.0[i..i + 3].copy_from_slice(&c);
            }
        }
        fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
            let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
            let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
            let (mut x, mut y, mut err) = (x0, y0, dx + dy);
            loop {
                for a in 0..thick {
                    for b in 0..thick {
                        self.set(x + a - thick / 2, y + b - thick / 2, c);
                    }
                }
                if x == x1 && y == y1 {
                    break;
                }
                let e2 = 2 * err;
                if e2 >= dy {
                    err += dy;
                    x += sx;
                }
                if e2 <= dx {
                    err += dx;
                    y += sy;
                }
            }
        }
        fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
            for (k, ch) in s.chars().enumerate() {
                let glyph = font8x8::legacy::BASIC_LEGACY
                    .get(ch as usize)
                    .copied()
                    .unwrap_or([0; 8]);
                for (row, bits) in glyph.iter().enumerate() {
                    for col in 0..8 {
                        if bits >> col & 1 == 1 {
                            for a in 0..scale {
                                for b in 0..scale {
                                    let px = x + (k as i64 * 8 + col) * scale + a;
                                    self.set(px, y + row as i64 * scale + b, c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The series (one value per year from `first_year`), linear axes.
    pub fn write_png(
        path: &Path,
        title: &str,
        first_year: u32,
        series: &[(&str, &[f32])],
    ) -> Result<(), Box<dyn Error>> {
        let mut canvas = Canvas(vec![255; W * H * 3]);
        let n = series
            .iter()
            .map(|(_, s)| s.len())
            .max()
            .unwrap_or(2)
            .max(2);
        let hi = series
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .fold(0.0f32, f32::max);
        let top = (hi / 50.0).ceil() * 50.0;
        let (x0, x1) = (LEFT, W as i64 - RIGHT);
        let (y0, y1) = (H as i64 - BOTTOM, TOP);
        let px = |i: usize| x0 + (x1 - x0) * i as i64 / (n as i64 - 1);
        let py = |v: f32| y0 + ((y1 - y0) as f32 * v.max(0.0) / top).round() as i64;
        let mut v = 0.0;
        while v <= top {
            let y = py(v);
            canvas.line((x0, y), (x1, y), GRID, 1);
            let label = format!("{v:.0}");
            canvas.text(x0 - 10 - 8 * label.len() as i64, y - 4, &label, 1, INK);
            v += 50.0;
        }
        for i in (0..n).step_by(5) {
            let x = px(i);
            canvas.line((x, y0), (x, y1), GRID, 1);
            let label = (first_year + i as u32).to_string();
            canvas.text(x - 16, y0 + 10, &label, 1, INK);
        }
        canvas.line((x0, y0), (x1, y0), INK, 2);
        canvas.line((x0, y0), (x0, y1), INK, 2);
        for ((_, s), color) in series.iter().zip(COLORS) {
            let points: Vec<(i64, i64)> =
                s.iter().enumerate().map(|(i, &v)| (px(i), py(v))).collect();
            for pair in points.windows(2) {
                canvas.line(pair[0], pair[1], color, 3);
            }
        }
        canvas.text((W as i64 - 16 * title.len() as i64) / 2, 14, title, 2, INK);
        let (mut lx, ly) = (LEFT, TOP - 26);
        for ((name, _), color) in series.iter().zip(COLORS) {
            canvas.line((lx, ly + 4), (lx + 30, ly + 4), color, 3);
            canvas.text(lx + 38, ly, name, 1, INK);
            lx += 38 + 8 * name.len() as i64 + 30;
        }
        let label = "year; yearly mean sunspot number (forecast one year ahead)";
        canvas.text(
            (W as i64 - 8 * label.len() as i64) / 2,
            H as i64 - 24,
            label,
            1,
            INK,
        );

        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut encoder = png::Encoder::new(file, W as u32, H as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&canvas.0)?;
        Ok(())
    }
}
