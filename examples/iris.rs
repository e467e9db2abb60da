//! Trains a 4-16-3 MLP on the Iris data set (150 flowers, 4 measurements, 3 species) with
//! mini-batch gradient descent (batches of 8, shuffled every epoch) and Adam, from a fixed
//! seed, on the raw measurements as they would sit in a microcontroller's flash.
//!
//! 30 % of each species is held out (a stratified split) and never seen in training. Prints
//! progress, the confusion matrix on the held-out set, and ends with
//! `held-out accuracy: <fraction>`.
//!
//! Run with `cargo run --release --example iris`.

use std::error::Error;
use std::ops::ControlFlow;
use std::time::Instant;

#[path = "shared/csv.rs"]
mod csv;

use tinyprop::data::{stratified_split, DataSet};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, History, Trainer};

const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];
const SEED: u64 = 4;
const EPOCHS: usize = 300;
const BATCH: usize = 8;

type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);

fn main() -> Result<(), Box<dyn Error>> {
    // sepal length, sepal width, petal length, petal width (cm), class 0..3.
    let (features, labels) = csv::iris();
    let data = DataSet::new(&features, &labels)?;

    // A stratified split: 30 % of each species held out.
    let mut rng = SplitMix64::new(SEED);
    let mut rows = vec![0u16; data.len()];
    let (train_rows, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows)?;
    let (train, test) = (data.subset(train_rows)?, data.subset(test_rows)?);
    println!(
        "iris: {} samples -> {} train, {} held out",
        data.len(),
        train.len(),
        test.len()
    );

    let mut net = Net::default();
    net.init(Init::HeUniform, &mut rng);
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    let mut trainer = Trainer::<f32, 4, BATCH, Net>::new();
    let mut order = vec![0u16; train.len()];
    let mut history = History::<f32, EPOCHS>::new();

    let start = Instant::now();
    let plan = Fit::new(&train, &mut order, &mut rng).max_epochs(EPOCHS);
    let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
        history.record(e);
        if e.epoch == 1 || e.epoch % 25 == 0 {
            let done = 40 * e.epoch / EPOCHS;
            println!(
                "epoch {:3} [{}{}] train loss {:.4}",
                e.epoch,
                "#".repeat(done),
                ".".repeat(40 - done),
                e.train.loss
            );
        }
        ControlFlow::Continue(())
    })?;
    let elapsed = start.elapsed();
    let lowest = history
        .iter()
        .min_by(|a, b| a.train_loss.total_cmp(&b.train_loss))
        .map_or(0, |p| p.epoch);
    println!(
        "{} epochs ({:?}) in {:.1} ms, {} steps each; lowest training loss at epoch {lowest}",
        report.epochs,
        report.stop,
        elapsed.as_secs_f64() * 1e3,
        report.last.train.steps
    );

    let mut confusion = ConfusionMatrix::<3>::new();
    let held_out = evaluate(
        &net,
        &CrossEntropy,
        &test,
        Default::default(),
        Some(&mut confusion),
    )?;
    println!("\nconfusion matrix on the held-out set (rows: true, columns: predicted):");
    print!("{confusion}");
    for (class, name) in SPECIES.iter().enumerate() {
        println!(
            "  {class} = {name:<10} recall {:.3}",
            confusion.recall(class).unwrap_or(0.0)
        );
    }
    println!("held-out loss: {:.4}", held_out.loss);
    println!(
        "held-out accuracy: {:.4}",
        held_out.accuracy().unwrap_or(0.0)
    );
    Ok(())
}
