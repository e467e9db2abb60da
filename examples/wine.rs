//! The whole workflow on a data set tinyprop has no special code for: CSV → stratified split →
//! a scaler fitted on the training rows, inside the model → training with early stopping on
//! validation accuracy → summary → held-out accuracy → a safetensors file. Run with
//! `cargo run --release --example wine`.
use std::ops::ControlFlow;
use tinyprop::csv::Table;
use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::io::safetensors::{self, Dtype};
use tinyprop::prelude::*;
use tinyprop::summary::summary;

type Net = (
    Normalize<f32, 13>,
    Dense<f32, 13, 16>,
    Relu,
    Dense<f32, 16, 3>,
);
type Opt = Adam<f32, GradsOf<Net>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/data/wine.csv");
    let wine = Table::<f32, 13, u8>::classes(csv, "class")?; // 178 wines, 3 cultivars
    let data = DataSet::new(&wine.features, &wine.targets)?;
    let (mut rng, mut rows) = (SplitMix64::new(1), vec![0u16; data.len()]);
    let (rest, test) = stratified_split(&wine.targets, 0.3, &mut rng, &mut rows)?;
    let (train, val) = stratified_split_rows(&wine.targets, rest, 0.2, &mut rng)?;
    let (train, val, test) = (data.subset(train)?, data.subset(val)?, data.subset(test)?);

    let mut net: Net = Default::default();
    net.init(Init::HeUniform, &mut rng);
    net.0 = Normalize::standardize(&train)?; // mean 0, variance 1 on the training rows only
    let (mut best, mut order) = (Net::default(), vec![0u16; train.len()]);
    let mut opt = Opt::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    let plan = Fit::new(&train, &mut order, &mut rng)
        .validation(&val)
        .max_epochs(200)
        .monitor(Monitor::ValidationAccuracy)
        .patience(20)
        .keep_best(&mut best);
    let report =
        Trainer::<f32, 13, 8, Net>::new().fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
            ControlFlow::Continue(())
        })?;
    print!("{}", summary::<f32, 13, 8, Net, Opt>(&net));
    let held_out = evaluate(&net, &CrossEntropy, &test, Default::default(), None)?;
    let accuracy = held_out.accuracy().unwrap_or(0.0);
    println!("best epoch {} of {}", report.best.epoch, report.epochs);
    println!("held-out accuracy: {accuracy:.4}");
    let mut file = vec![0u8; safetensors::saved_len(&net, Dtype::F32)?];
    safetensors::save(&net, Dtype::F32, &mut file)?; // PyTorch's names: 0.offset, 1.weight, …
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/wine.safetensors");
    std::fs::write(path, &file)?;
    Ok(())
}
