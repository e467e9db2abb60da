//! Trains a 4-16-3 ReLU network on the Iris data set on the device: mini-batch gradient descent
//! (batches of 8, shuffled every epoch) with Adam and the cross-entropy loss, from a fixed seed,
//! on a stratified 70 % of the flowers. Exits with success only if the accuracy on the other
//! 30 %, never seen in training, is at least 0.90.
//!
//! The data are the constants of `data/iris.rs` (150 × 4 `f32` measurements and `u8` labels,
//! 2.5 KB of flash); the split and the shuffled order are `u16` index buffers; everything else
//! is a fixed-size local. Prints the memory tinyprop says training needs, the training loss
//! every `REPORT_EVERY` epochs, the held-out confusion matrix and accuracy, a fingerprint of
//! the trained weights (equal on every core: the same seed gives bit-identical training) and the
//! stack high-water mark.
#![no_std]
#![no_main]

use core::mem::size_of;
use core::ops::ControlFlow;

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{hprint, hprintln};
use tinyprop::data::{stratified_split, DataSet};
use tinyprop::memory;
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};
use tinyprop_cortex_m::{exit, icount, ok, stack, start_counting, Meter};

mod iris {
    include!("../../../../data/iris.rs");
}
use iris::{IRIS_FEATURES, IRIS_LABELS};

type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
type Batch = SMatrix<f32, 4, BATCH>;
type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
/// The batch, its targets and the workspace (training cache and gradients).
type Train = Trainer<f32, 4, BATCH, Net>;

const SEED: u64 = 4;
const LEARNING_RATE: f32 = 0.01;
const BATCH: usize = 8;
/// 300, or `IRIS_EPOCHS` when the build sets it (`tools/firmware_profile.py` builds short runs
/// to measure what one epoch executes).
const EPOCHS: usize = match option_env!("IRIS_EPOCHS") {
    Some(n) => parse(n),
    None => 300,
};
const REPORT_EVERY: usize = 25;
const HELD_OUT: f32 = 0.3;
const SAMPLES: usize = IRIS_LABELS.len();
/// `round(50 · 0.7)` flowers of each of the 3 species.
const TRAIN: usize = 3 * 35;
const MIN_ACCURACY: f32 = 0.90;

#[entry]
fn main() -> ! {
    start_counting();
    let data = ok(DataSet::new(&IRIS_FEATURES, &IRIS_LABELS));

    // A stratified split: 30 % of each species held out.
    let mut rng = SplitMix64::new(SEED);
    let mut rows = [0u16; SAMPLES];
    let (train_rows, test_rows) = ok(stratified_split(
        &IRIS_LABELS,
        HELD_OUT,
        &mut rng,
        &mut rows,
    ));
    let test_rows: &[u16] = test_rows;
    let (train, test) = (ok(data.subset(train_rows)), ok(data.subset(test_rows)));

    let mut net = Net::default();
    net.init(Init::HeUniform, &mut rng);
    let mut opt: Opt = ok(Adam::new(AdamConfig {
        lr: LEARNING_RATE,
        ..Default::default()
    }));
    let mut trainer = Train::new();
    let mut order = [0u16; TRAIN];

    hprintln!(
        "iris: {} samples -> {} train, {} held out; {} parameters",
        data.len(),
        train.len(),
        test.len(),
        memory::parameter_count::<f32, Net>()
    );
    // What training keeps in RAM (here, all of it on the stack).
    let (model, adam, trainer_bytes) = (size_of::<Net>(), size_of::<Opt>(), size_of::<Train>());
    let buffers = size_of::<[u16; SAMPLES]>() + size_of::<[u16; TRAIN]>();
    hprintln!(
        "memory (bytes): model {}, Adam {}, trainer {}, index buffers {}: {} in all",
        model,
        adam,
        trainer_bytes,
        buffers,
        model + adam + trainer_bytes + buffers
    );
    hprintln!(
        "tinyprop::memory::training_bytes: {} (model, batch, workspace, optimizer)",
        memory::training_bytes::<f32, Batch, Net, Opt>()
    );

    let plan = Fit::new(&train, &mut order, &mut rng).max_epochs(EPOCHS);
    // Instructions of training alone: the printing in the callback is not counted.
    let mut meter = Meter::default();
    meter.resume();
    let report = ok(trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
        meter.pause();
        if e.epoch == 1 || e.epoch % REPORT_EVERY == 0 {
            hprintln!("epoch {:3}  train loss {:.4}", e.epoch, e.train.loss);
        }
        meter.resume();
        ControlFlow::Continue(())
    }));
    meter.pause();
    hprintln!(
        "{} epochs of {} steps",
        report.epochs,
        report.last.train.steps
    );

    let mut confusion = ConfusionMatrix::<3>::new();
    let held_out = ok(evaluate(
        &net,
        &CrossEntropy,
        &test,
        Default::default(),
        Some(&mut confusion),
    ));
    hprintln!("confusion matrix on the held-out set (rows: true, columns: predicted):");
    hprint!("{}", confusion);
    let accuracy = held_out.accuracy().unwrap_or(0.0);
    hprintln!("held-out loss: {:.4}", held_out.loss);
    hprintln!(
        "held-out accuracy: {:.4} ({} of {})",
        accuracy,
        held_out.correct.unwrap_or(0),
        held_out.samples
    );
    // One flower at a time, as firmware classifies a reading.
    let mut inference = Meter::default();
    for row in test_rows {
        let x = SVector::<f32, 4>::from(IRIS_FEATURES[usize::from(*row)]);
        let mut y = SVector::<f32, 3>::zeros();
        inference.resume();
        net.forward(&x, &mut y);
        inference.pause();
    }
    hprintln!(
        "instructions: {} per epoch ({} per training step), {} per inference (one sample)",
        meter.total() / report.epochs as u64,
        meter.total() / (report.epochs as u64 * report.last.train.steps as u64),
        inference.total() / test_rows.len() as u64
    );
    hprintln!("weights fingerprint: {:08x}", fingerprint(&net));
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );

    let success = accuracy >= MIN_ACCURACY;
    if !success {
        hprintln!("FAIL: held-out accuracy is below {:.2}", MIN_ACCURACY);
    }
    exit(success)
}

/// FNV-1a over the bits of every parameter: equal fingerprints, bit-identical weights.
fn fingerprint(net: &Net) -> u32 {
    let mut hash = 0x811c_9dc5u32;
    for bits in net.tensors().flatten().map(|w| w.to_bits()) {
        for byte in bits.to_le_bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The decimal number `s` (at build time; not a number fails the build).
const fn parse(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "IRIS_EPOCHS must be a number");
        n = n * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    n
}

#[exception]
fn SysTick() {
    icount::on_wrap();
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("hard fault: {:?}", frame);
    exit(false)
}
