//! Handwritten digits (8 × 8 pixels, 1797 samples, 10 classes) with a small convolutional
//! network, on the same stratified 30 % hold-out as `examples/digits.rs` (whose MLP reaches
//! 0.9685):
//!
//! ```text
//! 1×8×8 → conv 3×3 (16, padding 1) → ReLU → max pool 2×2 → 16×4×4
//!       → conv 3×3 (32, padding 1) → ReLU → max pool 2×2 → 32×2×2 → flatten → dense 10
//! ```
//!
//! The training images are used with their copies shifted by one pixel in each of the eight
//! directions (9 072 images). Mini-batches of 32 with Adam and decoupled weight decay (AdamW) 0.05,
//! the learning rate annealed from 0.003 to 0 over 30 epochs (cosine), the weights of the best
//! epoch on the validation set kept; prints the parameter count, the training memory, the
//! confusion matrix and `held-out accuracy: <fraction>` (0.9889), and writes the trained weights
//! under PyTorch's names to `target/digits_cnn.safetensors` (the firmware `digits_cnn` in
//! `examples/cortex-m` is built from a copy of them).
//!
//! Run with `cargo run --release --example digits_cnn`.

use std::error::Error;
use std::ops::ControlFlow;
use std::time::Instant;

#[path = "shared/csv.rs"]
mod csv;

use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::io::safetensors::{self, Dtype};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::schedule::CosineAnnealing;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Every, Fit, Trainer};
use tinyprop::{Conv2d, Flatten, MaxPool2d};

const SEED: u64 = 7;
/// Adam's initial learning rate (annealed to 0 over the epochs) and its decoupled weight decay
/// (AdamW's).
const LR: f32 = 0.003;
const WEIGHT_DECAY: f32 = 0.05;
/// The shifts of the training images: none, and one pixel in each of the eight directions.
const SHIFTS: [(isize, isize); 9] = [
    (0, 0),
    (-1, 0),
    (1, 0),
    (0, -1),
    (0, 1),
    (-1, -1),
    (-1, 1),
    (1, -1),
    (1, 1),
];

/// The network; the flat output width of each map layer is stated and checked at build time.
type Net = (
    Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
    Relu,
    MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
    Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
    Relu,
    MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
    Flatten,
    Dense<f32, 128, 10>,
);
type Opt = Adam<f32, <Net as Model<f32>>::Grads>;

/// `image` (8 × 8, row-major) moved by `dy` rows and `dx` columns, zeros shifted in.
fn shifted(image: &[f32; 64], dy: isize, dx: isize) -> [f32; 64] {
    let mut out = [0.0; 64];
    for y in 0..8isize {
        for x in 0..8isize {
            let (sy, sx) = (y - dy, x - dx);
            if (0..8).contains(&sy) && (0..8).contains(&sx) {
                out[(y * 8 + x) as usize] = image[(sy * 8 + sx) as usize];
            }
        }
    }
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let (features, labels) = csv::digits();
    let data = DataSet::new(&features, &labels)?;

    // The splits of examples/digits.rs: 30 % held out, then 20 % of the rest for validation.
    let mut rng = SplitMix64::new(SEED);
    let mut rows = vec![0u16; data.len()];
    let (rest, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows)?;
    let (train_rows, val_rows) = stratified_split_rows(&labels, rest, 0.2, &mut rng)?;
    let (validation, test) = (data.subset(val_rows)?, data.subset(test_rows)?);
    // The training images and their copies shifted by one pixel in each direction.
    let (mut aug_features, mut aug_labels) = (Vec::new(), Vec::new());
    for &row in train_rows.iter() {
        let (image, label) = (&features[usize::from(row)], labels[usize::from(row)]);
        for (dy, dx) in SHIFTS {
            aug_features.push(shifted(image, dy, dx));
            aug_labels.push(label);
        }
    }
    let augmented = DataSet::new(&aug_features, &aug_labels)?;
    let mut all = vec![0u16; augmented.len()];
    tinyprop::data::sequence(&mut all)?;
    let train = augmented.subset(&all)?;
    println!(
        "digits: {} samples -> {} train (x9 with one-pixel shifts: {}), {} validation, {} held out",
        data.len(),
        train_rows.len(),
        train.len(),
        validation.len(),
        test.len()
    );
    println!(
        "parameters: {}; training memory (batch 32, Adam): {} bytes; inference memory (one sample): {} bytes",
        tinyprop::memory::parameter_count::<f32, Net>(),
        tinyprop::memory::training_bytes::<f32, SMatrix<f32, 64, 32>, Net, Opt>(),
        tinyprop::memory::inference_bytes::<f32, SMatrix<f32, 64, 1>, Net>(),
    );

    let mut net = Box::<Net>::default();
    net.init(Init::PyTorchDefault, &mut rng);
    let mut best = Box::<Net>::default();
    let mut opt = Box::new(Adam::new(AdamConfig {
        lr: LR,
        weight_decay: WEIGHT_DECAY,
        decoupled_weight_decay: true,
        ..Default::default()
    })?);
    let mut trainer = Box::new(Trainer::<f32, 64, 32, Net>::new());
    let mut order = vec![0u16; train.len()];
    const MAX_EPOCHS: usize = 30;
    // The learning rate falls from its start to 0 over the epochs (cosine annealing).
    let cosine = CosineAnnealing::new(opt.config().lr, MAX_EPOCHS as u32, 0.0)?;
    let start = Instant::now();
    let plan = Fit::new(&train, &mut order, &mut rng)
        .validation(&validation)
        .max_epochs(MAX_EPOCHS)
        .schedule(&cosine, Every::Epoch)
        .keep_best(&mut *best);
    let report = trainer.fit(&mut *net, &mut *opt, &CrossEntropy, plan, |e| {
        if let Some(v) = e.validation {
            println!(
                "   epoch {:3} train loss {:.4}  validation loss {:.4}  accuracy {:.3}{}",
                e.epoch,
                e.train.loss,
                v.loss,
                v.accuracy().unwrap_or(0.0),
                if e.improved { " *" } else { "" }
            );
        }
        ControlFlow::Continue(())
    })?;
    println!(
        "   stopped after {} epochs ({:?}), best validation loss {:.4} at epoch {} (restored: {})",
        report.epochs,
        report.stop,
        report.best.monitored(),
        report.best.epoch,
        report.restored
    );
    println!("   trained in {:.2} s", start.elapsed().as_secs_f64());

    let mut confusion = ConfusionMatrix::<10>::new();
    let held_out = evaluate(
        &*net,
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

    // The trained weights under PyTorch's names: the firmware `digits_cnn` is built from them.
    let mut file = vec![0u8; safetensors::saved_len(&*net, Dtype::F32)?];
    safetensors::save(&*net, Dtype::F32, &mut file)?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/digits_cnn.safetensors");
    std::fs::write(path, &file)?;
    println!(
        "weights: target/digits_cnn.safetensors ({} bytes)",
        file.len()
    );
    Ok(())
}
