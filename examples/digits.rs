//! Handwritten digits (8 × 8 pixels, 1797 samples, 10 classes) with a 64-32-10 MLP.
//!
//! 1. The three forms of gradient descent, side by side: batch, stochastic (`B = 1`) and
//!    mini-batch (`B = 32`) gradient descent with plain SGD at one learning rate, from the same
//!    initial weights, for the same number of sample-gradients (one epoch = one gradient per
//!    training sample, for all three). Their training-loss curves go to
//!    `target/digits_gd_curves.csv` and `target/digits_gd_curves.png`.
//! 2. Training to high accuracy: mini-batches of 32 with Adam, early stopping on a validation
//!    set with the best weights kept, then the confusion matrix on a stratified 30 % hold-out,
//!    ending with `held-out accuracy: <fraction>`.
//!
//! Run with `cargo run --release --example digits`.

use std::error::Error;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

#[path = "shared/csv.rs"]
mod csv;

use tinyprop::data::Subset;
use tinyprop::data::{sequence, shuffle, stratified_split, stratified_split_rows, DataSet};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};

const SEED: u64 = 7;
/// Epochs of the gradient descent comparison, and its learning rate (plain SGD).
const COMPARE_EPOCHS: usize = 40;
const COMPARE_LR: f32 = 0.05;

type Net = (Dense<f32, 64, 32>, Relu, Dense<f32, 32, 10>);
type Train<'a> = Subset<'a, f32, 64, u8, u16>;

/// The training loss (in inference mode, over all of `train`) after each of `epochs` epochs
/// of `descent` with batches (or chunks) of `B`, starting from `net`; index 0 is the start.
fn loss_curve<const B: usize>(
    descent: Descent,
    net: &Net,
    train: &Train<'_>,
    rng: &mut SplitMix64,
) -> Result<Vec<f32>, Box<dyn Error>> {
    let mut net = net.clone();
    let mut opt = Sgd::new(COMPARE_LR)?;
    // Boxed: the buffers for B samples; B = 1 would fit anywhere, B = 32 is 20 KB.
    let mut trainer = Box::new(Trainer::<f32, 64, B, Net>::new());
    let mut order = vec![0u16; train.len()];
    sequence(&mut order)?;
    let train_loss = |net: &Net| evaluate(net, &CrossEntropy, train, Default::default(), None);
    let mut losses = vec![train_loss(&net)?.loss];
    for _ in 0..COMPARE_EPOCHS {
        shuffle(&mut order, rng);
        trainer.epoch(descent, &mut net, &mut opt, &CrossEntropy, train, &order)?;
        losses.push(train_loss(&net)?.loss);
    }
    Ok(losses)
}

fn out_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn main() -> Result<(), Box<dyn Error>> {
    let (features, labels) = csv::digits();
    let data = DataSet::new(&features, &labels)?;

    // Stratified splits: 30 % held out, then 20 % of the rest for validation.
    let mut rng = SplitMix64::new(SEED);
    let mut rows = vec![0u16; data.len()];
    let (rest, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows)?;
    let (train_rows, val_rows) = stratified_split_rows(&labels, rest, 0.2, &mut rng)?;
    let (train, validation, test) = (
        data.subset(train_rows)?,
        data.subset(val_rows)?,
        data.subset(test_rows)?,
    );
    println!(
        "digits: {} samples -> {} train, {} validation, {} held out",
        data.len(),
        train.len(),
        validation.len(),
        test.len()
    );

    let mut initial = Net::default();
    initial.init(Init::HeUniform, &mut rng);

    // 1. Batch, stochastic and mini-batch gradient descent for the same number of
    //    sample-gradients.
    println!(
        "\n1. batch vs stochastic vs mini-batch gradient descent: plain SGD, lr {COMPARE_LR}, \
         {COMPARE_EPOCHS} epochs of {} sample-gradients each",
        train.len()
    );
    let start = Instant::now();
    // A generator of its own, so that part 2 does not depend on part 1.
    let mut rng1 = SplitMix64::new(SEED + 1);
    let curves = [
        (
            "batch",
            loss_curve::<32>(Descent::Batch, &initial, &train, &mut rng1)?,
        ),
        (
            "stochastic",
            loss_curve::<1>(Descent::MiniBatch, &initial, &train, &mut rng1)?,
        ),
        (
            "mini-batch 32",
            loss_curve::<32>(Descent::MiniBatch, &initial, &train, &mut rng1)?,
        ),
    ];
    let steps = [1, train.len(), train.len().div_ceil(32)];
    for ((name, curve), steps) in curves.iter().zip(steps) {
        println!(
            "   {name:<14} {steps:>5} step{} per epoch  training loss {:.4} -> {:.4}",
            if steps == 1 { " " } else { "s" },
            curve.first().copied().unwrap_or(f32::NAN),
            curve.last().copied().unwrap_or(f32::NAN)
        );
    }
    println!("   ({:.2} s)", start.elapsed().as_secs_f64());
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let csv_path = dir.join("digits_gd_curves.csv");
    let mut csv = std::fs::File::create(&csv_path)?;
    writeln!(
        csv,
        "epoch,sample_gradients,batch_gd_loss,stochastic_gd_loss,minibatch32_gd_loss"
    )?;
    for epoch in 0..=COMPARE_EPOCHS {
        write!(csv, "{epoch},{}", epoch * train.len())?;
        for (_, curve) in &curves {
            write!(csv, ",{}", curve.get(epoch).copied().unwrap_or(f32::NAN))?;
        }
        writeln!(csv)?;
    }
    let png_path = dir.join("digits_gd_curves.png");
    plot::write_png(
        &png_path,
        &format!("digits 64-32-10, plain SGD lr {COMPARE_LR}"),
        &curves,
        &steps,
    )?;
    println!("   wrote {} and {}", csv_path.display(), png_path.display());

    // 2. Train to high accuracy.
    println!("\n2. mini-batches of 32, Adam lr 0.01, early stopping on the validation set");
    let mut net = initial.clone();
    let mut best = Net::default();
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    let mut trainer = Box::new(Trainer::<f32, 64, 32, Net>::new());
    let mut order = vec![0u16; train.len()];
    const MAX_EPOCHS: usize = 100;
    let start = Instant::now();
    let plan = Fit::new(&train, &mut order, &mut rng)
        .validation(&validation)
        .max_epochs(MAX_EPOCHS)
        .patience(10)
        .keep_best(&mut best);
    let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
        if let Some(v) = e.validation {
            let done = 30 * e.epoch / MAX_EPOCHS;
            println!(
                "   epoch {:3} [{}{}] train loss {:.4}  validation loss {:.4}  accuracy {:.3}{}",
                e.epoch,
                "#".repeat(done),
                ".".repeat(30 - done),
                e.train.loss,
                v.loss,
                v.accuracy().unwrap_or(0.0),
                if e.improved { " *" } else { "" }
            );
        }
        ControlFlow::Continue(())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "   stopped after {} epochs ({:?}), best validation loss {:.4} at epoch {} (restored: {})",
        report.epochs,
        report.stop,
        report.best.monitored(),
        report.best.epoch,
        report.restored
    );
    println!("   trained in {seconds:.2} s");

    let mut confusion = ConfusionMatrix::<10>::new();
    let held_out = evaluate(
        &net,
        &CrossEntropy,
        &test,
        Default::default(),
        Some(&mut confusion),
    )?;
    println!("\nconfusion matrix on the held-out set (rows: true digit, columns: predicted):");
    print!("{confusion}");
    println!("held-out loss: {:.4}", held_out.loss);
    println!(
        "held-out accuracy: {:.4}",
        held_out.accuracy().unwrap_or(0.0)
    );
    Ok(())
}

/// A line chart as a PNG, drawn pixel by pixel with an 8 × 8 bitmap font (no system fonts).
mod plot {
    use std::error::Error;
    use std::path::Path;

    const W: usize = 960;
    const H: usize = 600;
    const LEFT: usize = 100;
    const RIGHT: usize = 30;
    const TOP: usize = 80;
    const BOTTOM: usize = 70;
    const COLORS: [[u8; 3]; 3] = [[214, 39, 40], [31, 119, 180], [44, 160, 44]];
    const GRID: [u8; 3] = [225, 225, 225];
    const INK: [u8; 3] = [30, 30, 30];

    struct Canvas {
        pixels: Vec<u8>,
    }

    impl Canvas {
        fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
            if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
                let i = 3 * (y as usize * W + x as usize);
                self.pixels[i..i + 3].copy_from_slice(&c);
            }
        }

        fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
            for y in y0..=y1 {
                for x in x0..=x1 {
                    self.set(x, y, c);
                }
            }
        }

        /// A line `thick` pixels wide (Bresenham, with a square pen).
        fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
            let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
            let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
            let (mut x, mut y, mut err) = (x0, y0, dx + dy);
            let r = thick / 2;
            loop {
                self.rect(x - r, y - r, x - r + thick - 1, y - r + thick - 1, c);
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

        /// The 8 × 8 bitmap of `ch` (blank for characters the font lacks).
        fn glyph(ch: char) -> [u8; 8] {
            font8x8::legacy::BASIC_LEGACY
                .get(ch as usize)
                .copied()
                .unwrap_or([0; 8])
        }

        /// Text with its top-left corner at (x, y), each font pixel `scale` pixels wide.
        fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
            for (k, ch) in s.chars().enumerate() {
                let glyph = Self::glyph(ch);
                for (row, bits) in glyph.iter().enumerate() {
                    for col in 0..8 {
                        if bits >> col & 1 == 1 {
                            let px = x + (k as i64 * 8 + col) * scale;
                            let py = y + row as i64 * scale;
                            self.rect(px, py, px + scale - 1, py + scale - 1, c);
                        }
                    }
                }
            }
        }

        /// Text drawn bottom to top, for the y axis label.
        fn text_up(&mut self, x: i64, y: i64, s: &str, c: [u8; 3]) {
            for (k, ch) in s.chars().enumerate() {
                let glyph = Self::glyph(ch);
                for (row, bits) in glyph.iter().enumerate() {
                    for col in 0..8 {
                        if bits >> col & 1 == 1 {
                            self.set(x + row as i64, y - k as i64 * 8 - col, c);
                        }
                    }
                }
            }
        }
    }

    /// Writes the curves (loss per epoch, from epoch 0) with a log-scale y axis.
    pub fn write_png(
        path: &Path,
        title: &str,
        curves: &[(&str, Vec<f32>)],
        steps_per_epoch: &[usize],
    ) -> Result<(), Box<dyn Error>> {
        let mut canvas = Canvas {
            pixels: vec![255; W * H * 3],
        };
        let epochs = curves
            .iter()
            .map(|(_, c)| c.len())
            .max()
            .unwrap_or(1)
            .max(2)
            - 1;
        let values = curves
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .filter(|v| *v > 0.0);
        let (lo, hi) = values.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (log_lo, log_hi) = ((lo * 0.8).log10().floor(), (hi * 1.2).log10().ceil());
        let (x0, x1) = (LEFT as f64, (W - RIGHT) as f64);
        let (y0, y1) = ((H - BOTTOM) as f64, TOP as f64);
        let px = |epoch: f64| (x0 + (x1 - x0) * epoch / epochs as f64).round() as i64;
        let py = |loss: f32| {
            let t = (f64::from(loss.max(1e-6).log10()) - f64::from(log_lo))
                / f64::from(log_hi - log_lo);
            (y0 + (y1 - y0) * t).round() as i64
        };

        // Grid and y ticks at 1, 2, 5 times each power of ten.
        let mut decade = log_lo as i32;
        while decade < log_hi as i32 {
            for m in [1.0f32, 2.0, 5.0] {
                let v = m * 10f32.powi(decade);
                let y = py(v);
                canvas.line((x0 as i64, y), (x1 as i64, y), GRID, 1);
                let label = format!("{:.*}", (-decade).max(0) as usize, v);
                canvas.text(
                    LEFT as i64 - 10 - 8 * label.len() as i64,
                    y - 4,
                    &label,
                    1,
                    INK,
                );
            }
            decade += 1;
        }
        let top_label = format!(
            "{:.*}",
            (-(log_hi as i32)).max(0) as usize,
            10f32.powi(log_hi as i32)
        );
        canvas.text(
            LEFT as i64 - 10 - 8 * top_label.len() as i64,
            py(10f32.powi(log_hi as i32)) - 4,
            &top_label,
            1,
            INK,
        );
        // x ticks every 5 epochs.
        for epoch in (0..=epochs).step_by(5) {
            let x = px(epoch as f64);
            canvas.line((x, y0 as i64), (x, y1 as i64), GRID, 1);
            let label = epoch.to_string();
            canvas.text(x - 4 * label.len() as i64, y0 as i64 + 10, &label, 1, INK);
        }
        // Axes.
        canvas.line((x0 as i64, y0 as i64), (x1 as i64, y0 as i64), INK, 2);
        canvas.line((x0 as i64, y0 as i64), (x0 as i64, y1 as i64), INK, 2);

        for ((_, curve), color) in curves.iter().zip(COLORS) {
            let points: Vec<(i64, i64)> = curve
                .iter()
                .enumerate()
                .map(|(e, &v)| (px(e as f64), py(v)))
                .collect();
            for pair in points.windows(2) {
                canvas.line(pair[0], pair[1], color, 3);
            }
        }

        // Labels, title and legend.
        let xlabel = "epochs (1 epoch = 1 gradient per training sample, for all three)";
        canvas.text(
            (W as i64 - 8 * xlabel.len() as i64) / 2,
            H as i64 - 30,
            xlabel,
            1,
            INK,
        );
        canvas.text_up(
            12,
            (H as i64 + 8 * 26) / 2,
            "training loss (log scale)",
            INK,
        );
        canvas.text((W as i64 - 16 * title.len() as i64) / 2, 14, title, 2, INK);
        // The legend: one row between the title and the chart.
        let (mut lx, ly) = (LEFT as i64, TOP as i64 - 26);
        for (((name, _), color), steps) in curves.iter().zip(COLORS).zip(steps_per_epoch) {
            let plural = if *steps == 1 { "" } else { "s" };
            let label = format!("{name} GD, {steps} step{plural}/epoch");
            canvas.line((lx, ly + 4), (lx + 30, ly + 4), color, 3);
            canvas.text(lx + 38, ly, &label, 1, INK);
            lx += 38 + 8 * label.len() as i64 + 20;
        }

        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut encoder = png::Encoder::new(file, W as u32, H as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&canvas.pixels)?;
        Ok(())
    }
}
