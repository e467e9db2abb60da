//! The two models the design notes are built around, trained on the digits data set:
//!
//! * a residual network: `Dense → ReLU → [Dense → ReLU → Dense → ReLU] + skip → Dense`;
//! * a batch-normalised network: `Dense → BatchNorm → ReLU → Dense → BatchNorm → Softmax`.
//!
//! Both train with mini-batches of 32 and Adam on a stratified 70 % of the data and are scored
//! on the other 30 %, in inference mode (batch norm uses its running statistics).

use tinyprop::data::{stratified_split, DataSet, NonFinite};
use tinyprop::metrics::{argmax, evaluate};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};

pub const EPOCHS: usize = 30;
pub const BATCH: usize = 32;

/// Dense-ReLU-Dense-ReLU with a skip connection, between an input and an output layer.
pub type ResidualNet = (
    Dense<f32, 64, 32>,
    Relu,
    Residual<(Dense<f32, 32, 32>, Relu, Dense<f32, 32, 32>, Relu)>,
    Dense<f32, 32, 10>,
);

/// Everything of the batch-normalised network but its final softmax.
pub type BatchNormBody = (
    Dense<f32, 64, 32>,
    BatchNorm<f32, 32>,
    Relu,
    Dense<f32, 32, 10>,
    BatchNorm<f32, 10>,
);
/// Dense → BatchNorm → ReLU → Dense → BatchNorm → Softmax: outputs class probabilities.
pub type BatchNormNet = (BatchNormBody, Softmax);

/// Held-out accuracy of both models, and the number of held-out samples.
pub struct Outcome {
    pub residual_accuracy: f32,
    pub batch_norm_accuracy: f32,
    pub held_out: usize,
}

/// Trains `net` on `train` for [`EPOCHS`] epochs of mini-batches; the last partial batch is
/// dropped (batch norm's statistics must not see padding). Returns the last epoch's loss.
fn train<M>(
    net: &mut M,
    train: &impl tinyprop::data::Samples<f32, 64, Target = u8>,
    rng: &mut SplitMix64,
    report: &mut impl FnMut(usize, f32),
) -> f32
where
    M: Layer<f32, SMatrix<f32, 64, BATCH>, Output = SMatrix<f32, 10, BATCH>>
        + Layer<f32, SMatrix<f32, 64, 1>, Output = SMatrix<f32, 10, 1>>,
{
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    })
    .unwrap();
    let mut trainer = Box::new(Trainer::<f32, 64, BATCH, M>::new().with_drop_last(true));
    let mut order = vec![0u16; train.len()];
    let plan = Fit::new(train, &mut order, rng).max_epochs(EPOCHS);
    let result = trainer
        .fit(net, &mut opt, &CrossEntropy, plan, |e| {
            report(e.epoch, e.train.loss);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    result.last.train.loss
}

/// Builds, trains and scores both models from `seed`; `report(model, epoch, loss)` sees the
/// progress.
pub fn run(seed: u64, mut report: impl FnMut(&str, usize, f32)) -> Outcome {
    let (features, labels) = super::csv::digits();
    let data = DataSet::new(&features, &labels).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut rows = vec![0u16; data.len()];
    let (train_rows, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows).unwrap();
    let (train_set, test) = (
        data.subset(train_rows).unwrap(),
        data.subset(test_rows).unwrap(),
    );

    let mut residual = ResidualNet::default();
    residual.init(Init::HeUniform, &mut rng);
    train(&mut residual, &train_set, &mut rng, &mut |e, l| {
        report("residual", e, l)
    });
    let residual_accuracy = evaluate(&residual, &CrossEntropy, &test, NonFinite::Reject, None)
        .unwrap()
        .accuracy()
        .unwrap_or(0.0);

    // The softmax has no parameters: train the body on logits with the fused cross-entropy
    // (numerically exact), then predict with the whole network.
    let mut net = BatchNormNet::default();
    net.init(Init::HeUniform, &mut rng);
    train(&mut net.0, &train_set, &mut rng, &mut |e, l| {
        report("batch norm", e, l)
    });
    let mut correct = 0;
    let mut probabilities = SMatrix::<f32, 10, 1>::zeros();
    for (x, &label) in test
        .rows()
        .iter()
        .map(|&r| (&features[r as usize], &labels[r as usize]))
    {
        net.forward(
            &SMatrix::<f32, 64, 1>::from_column_slice(x),
            &mut probabilities,
        );
        assert!((probabilities.sum() - 1.0).abs() < 1e-4);
        correct += usize::from(argmax(&probabilities) == usize::from(label));
    }
    Outcome {
        residual_accuracy,
        batch_norm_accuracy: correct as f32 / test.len() as f32,
        held_out: test.len(),
    }
}
