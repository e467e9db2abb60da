//! The recurrent digit classifiers of `examples/digits_rnn.rs`, shared with `tests/recurrent.rs`
//! so that the test asserts what the example prints: each 8 × 8 digit read as a sequence of 8
//! rows of 8 pixels, a GRU or an LSTM of 32 units, its last hidden state read out by a dense
//! layer; the stratified splits of `examples/digits.rs` (30 % held out, 20 % of the rest for
//! validation), mini-batches of 32 with Adam, its learning rate annealed from 0.01 to 0 along
//! a cosine over the epochs, and the weights of the best validation loss kept.
#![allow(dead_code)]

use std::ops::ControlFlow;

use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::schedule::CosineAnnealing;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Epoch, Every, Fit, Trainer};

/// Adam's learning rate at the start, annealed to 0 over the epochs (cosine).
const LR: f32 = 0.01;

/// The GRU classifier.
pub type GruDigits = (
    Sequence<8, 8>,
    Gru<f32, 8, 32>,
    LastStep,
    Dense<f32, 32, 10>,
);
/// The LSTM classifier.
pub type LstmDigits = (
    Sequence<8, 8>,
    Lstm<f32, 8, 32>,
    LastStep,
    Dense<f32, 32, 10>,
);

/// What a training run reports.
pub struct Outcome {
    pub accuracy: f32,
    pub loss: f32,
    pub epochs: usize,
    pub confusion: ConfusionMatrix<10>,
}

/// Trains `Net` with `seed` (splits, initial weights, shuffling), calling `progress` after
/// every epoch; the held-out accuracy of the best weights (on validation loss).
pub fn train<Net>(
    seed: u64,
    max_epochs: usize,
    features: &[[f32; 64]],
    labels: &[u8],
    mut progress: impl FnMut(&Epoch<f32>),
) -> Outcome
where
    Net: Layer<f32, SMatrix<f32, 64, 32>, Output = SMatrix<f32, 10, 32>>
        + Layer<f32, SMatrix<f32, 64, 1>, Output = SMatrix<f32, 10, 1>>
        + Default
        + Clone,
{
    let data = DataSet::new(features, labels).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut rows = vec![0u16; data.len()];
    let (rest, test_rows) = stratified_split(labels, 0.3, &mut rng, &mut rows).unwrap();
    let (train_rows, val_rows) = stratified_split_rows(labels, rest, 0.2, &mut rng).unwrap();
    let (train, validation, test) = (
        data.subset(train_rows).unwrap(),
        data.subset(val_rows).unwrap(),
        data.subset(test_rows).unwrap(),
    );
    let mut net = Box::new(Net::default());
    net.init(Init::PyTorchDefault, &mut rng);
    let mut best = Box::new(Net::default());
    let mut opt = Box::new(
        Adam::new(AdamConfig {
            lr: LR,
            ..Default::default()
        })
        .unwrap(),
    );
    let mut trainer = Box::new(Trainer::<f32, 64, 32, Net>::new());
    let mut order = vec![0u16; train.len()];
    let epochs = u32::try_from(max_epochs).unwrap();
    let cosine = CosineAnnealing::new(LR, epochs, 0.0).unwrap();
    let plan = Fit::new(&train, &mut order, &mut rng)
        .validation(&validation)
        .max_epochs(max_epochs)
        .schedule(&cosine, Every::Epoch)
        .keep_best(&mut *best);
    let report = trainer
        .fit(&mut *net, &mut *opt, &CrossEntropy, plan, |e| {
            progress(e);
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut confusion = ConfusionMatrix::new();
    let m = evaluate(
        &*net,
        &CrossEntropy,
        &test,
        Default::default(),
        Some(&mut confusion),
    )
    .unwrap();
    assert_eq!(m.samples, 539);
    Outcome {
        accuracy: m.accuracy().unwrap_or(0.0),
        loss: m.loss,
        epochs: report.epochs,
        confusion,
    }
}
