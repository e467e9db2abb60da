//! Transfer learning across two programs, through a safetensors file.
//!
//! 1. The first program trains a 64-32-10 network on half of the training digits, and only on
//!    the digits 0 to 6 (the data it had), and saves it as `target/finetune_base.safetensors`.
//! 2. A second program, with nothing but that file, loads it into the same network with the
//!    first layer `Frozen`, and fine-tunes only the last layer on the other half of the
//!    training digits (all ten classes). Freezing saves the first layer's gradients and Adam's
//!    state for it; the program prints how many bytes.
//!
//! Held-out accuracy (a stratified 30 % of all 1797 digits, never trained on) is printed before
//! and after fine-tuning, ending with `held-out accuracy after fine-tuning: <fraction>`.
//!
//! Run with `cargo run --release --example finetune`.

use std::error::Error;
use std::mem::size_of;
use std::ops::ControlFlow;
use std::path::PathBuf;

#[path = "shared/csv.rs"]
mod csv;

use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::io::safetensors::{self, Dtype};
use tinyprop::memory;
use tinyprop::metrics::evaluate;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};

const SEED: u64 = 11;
const EPOCHS: usize = 40;

/// The network the first program trains.
type Net = (Dense<f32, 64, 32>, Relu, Dense<f32, 32, 10>);
/// The same network in the second program, its first layer frozen.
type Tuned = (Frozen<Dense<f32, 64, 32>>, Relu, Dense<f32, 32, 10>);
type Grads<M> = <M as Model<f32>>::Grads;
type Batch = SMatrix<f32, 64, 32>;

/// Trains `$net` (of type `$ty`) for `EPOCHS` epochs of mini-batches of 32 on `$data` with
/// Adam: the optimizer's type, and so its state, follows the network's gradients.
macro_rules! train {
    ($ty:ty, $net:expr, $data:expr, $rng:expr) => {{
        let mut opt = Adam::<f32, Grads<$ty>>::new(AdamConfig {
            lr: 0.01,
            ..Default::default()
        })?;
        let mut trainer = Box::new(Trainer::<f32, 64, 32, $ty>::new());
        let mut order = vec![0u16; $data.len()];
        let plan = Fit::new($data, &mut order, $rng).max_epochs(EPOCHS);
        trainer.fit($net, &mut opt, &CrossEntropy, plan, |_| {
            ControlFlow::Continue(())
        })?;
    }};
}

fn main() -> Result<(), Box<dyn Error>> {
    let (features, labels) = csv::digits();
    let data = DataSet::new(&features, &labels)?;
    let mut rng = SplitMix64::new(SEED);
    let mut rows = vec![0u16; data.len()];
    let (rest, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows)?;
    let (old_rows, new_rows) = stratified_split_rows(&labels, rest, 0.5, &mut rng)?;
    let old_rows: Vec<u16> = old_rows
        .iter()
        .copied()
        .filter(|&r| labels[usize::from(r)] <= 6)
        .collect();
    let (old, new, test) = (
        data.subset(&old_rows)?,
        data.subset(new_rows)?,
        data.subset(test_rows)?,
    );
    println!(
        "digits: {} held out (all ten classes); the first program trains on {} (digits 0-6 only), the second fine-tunes on {} (all ten)",
        test.len(),
        old.len(),
        new.len()
    );

    // 1. The first program: train, save.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/finetune_base.safetensors");
    {
        let mut net = Net::default();
        net.init(Init::HeUniform, &mut rng);
        train!(Net, &mut net, &old, &mut rng);
        let metrics = evaluate(&net, &CrossEntropy, &test, Default::default(), None)?;
        println!(
            "first program: held-out accuracy {:.4} (it never saw a 7, an 8 or a 9)",
            metrics.accuracy().unwrap_or(0.0)
        );
        let mut file = vec![0u8; safetensors::saved_len(&net, Dtype::F32)?];
        safetensors::save(&net, Dtype::F32, &mut file)?;
        std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
        std::fs::write(&path, &file)?;
        println!("   saved {} ({} bytes)", path.display(), file.len());
    }

    // 2. The second program: only the file.
    let file = std::fs::read(&path)?;
    let mut net = Tuned::default();
    safetensors::load(&mut net, &file)?;
    let before = evaluate(&net, &CrossEntropy, &test, Default::default(), None)?
        .accuracy()
        .unwrap_or(0.0);
    println!("second program: loaded it with the first layer frozen; held-out accuracy before fine-tuning: {before:.4}");
    train!(Tuned, &mut net, &new, &mut rng);
    let after = evaluate(&net, &CrossEntropy, &test, Default::default(), None)?
        .accuracy()
        .unwrap_or(0.0);
    let saved_grads = size_of::<Grads<Net>>() - size_of::<Grads<Tuned>>();
    let saved_adam = size_of::<Adam<f32, Grads<Net>>>() - size_of::<Adam<f32, Grads<Tuned>>>();
    let saved_training = memory::training_bytes::<f32, Batch, Net, Adam<f32, Grads<Net>>>()
        - memory::training_bytes::<f32, Batch, Tuned, Adam<f32, Grads<Tuned>>>();
    println!(
        "   freezing the first layer saves {saved_grads} bytes of gradients and {saved_adam} bytes of Adam's state ({saved_training} bytes of training memory in all)"
    );
    println!("held-out accuracy after fine-tuning: {after:.4}");
    Ok(())
}
