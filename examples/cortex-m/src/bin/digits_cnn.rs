//! A convolutional network on the handwritten digits (8 × 8 pixels, 10 classes), its weights in
//! flash.
//!
//! The network of `examples/digits_cnn.rs` (conv 3×3 16 → max pool → ReLU → conv 3×3 32 → max
//! pool → ReLU → flatten → dense 10, 6 090 parameters) was trained on the host; the build script
//! writes its weights as `static`s (`tinyprop::io::rust`), so they stay in flash and nothing of
//! the model is copied to RAM. The held-out images (539, the same split as the host's) are in
//! flash as `u8` pixels.
//!
//! * Both cores: inference on every held-out image. The firmware exits with failure unless it
//!   classifies exactly as many correctly as the same network did on the host when the firmware
//!   was built (`HOST_CORRECT`).
//! * Cortex-M4F: the device also trains a classifier of its own. A new `Dense<f32, 128, 10>`
//!   head, randomly initialised, learns on the device's 1 008 training images (the host's
//!   training split), from the features of the convolutional layers in flash, computed once per
//!   image (Adam, batches of 32). Exits with failure unless its held-out accuracy is at least
//!   0.95.
//! * Cortex-M0 (16 KiB of RAM): inference only. Training the head needs the features of the
//!   training images in RAM (516 KB) or recomputing them every epoch in software floating
//!   point (14 million instructions an image).
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop::memory;
use tinyprop::prelude::*;
use tinyprop_cortex_m::{exit, icount, stack, start_counting, Meter};

include!("../digits_cnn/model.rs");
include!(concat!(env!("OUT_DIR"), "/digits_cnn.rs"));
include!(concat!(env!("OUT_DIR"), "/digits.rs"));

/// An image as the network's input: pixels 0 to 16 scaled to 0 to 1, as on the host.
fn input(pixels: &[u8; 64]) -> SMatrix<f32, 64, 1> {
    SMatrix::from_fn(|i, _| f32::from(pixels.get(i).copied().unwrap_or(0)) / 16.0)
}

/// The first index of the largest logit (as the build script).
fn argmax(logits: &SMatrix<f32, 10, 1>) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// The features of an image: the convolutional layers, from flash.
fn features(pixels: &[u8; 64]) -> SMatrix<f32, 128, 1> {
    let mut f = SMatrix::<f32, 128, 1>::zeros();
    FEATURES.forward(&input(pixels), &mut f);
    f
}

#[entry]
fn main() -> ! {
    start_counting();
    hprintln!(
        "digits_cnn: {} parameters in flash ({} bytes), {} held-out images; inference memory without the model: {} bytes",
        memory::parameter_count::<f32, Features>() + memory::parameter_count::<f32, Head>(),
        core::mem::size_of::<Features>() + core::mem::size_of::<Head>(),
        TEST_Y.len(),
        memory::inference_bytes::<f32, SMatrix<f32, 64, 1>, Features>()
            - core::mem::size_of::<Features>()
    );

    // Inference on every held-out image, with the host's network.
    let mut meter = Meter::default();
    let mut correct = 0;
    for (pixels, &label) in TEST_X.iter().zip(TEST_Y.iter()) {
        meter.resume();
        let mut logits = SMatrix::<f32, 10, 1>::zeros();
        HEAD.forward(&features(pixels), &mut logits);
        let predicted = argmax(&logits);
        meter.pause();
        correct += usize::from(predicted == usize::from(label));
    }
    let n = TEST_Y.len();
    hprintln!(
        "host's network: held-out accuracy {:.4} ({} of {}; on the host: {})",
        correct as f32 / n as f32,
        correct,
        n,
        HOST_CORRECT
    );
    hprintln!("instructions: {} per inference", meter.total() / n as u64);
    let success = correct == HOST_CORRECT;
    if !success {
        hprintln!("FAIL: the device and the host classify differently");
    }
    #[cfg(not(qemu_microbit))]
    let success = on_device::train_head() && success;

    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );
    exit(success)
}

/// Training on the Cortex-M4F.
#[cfg(not(qemu_microbit))]
mod on_device {
    use super::*;

    const TRAIN: usize = TRAIN_Y.len();
    const TEST: usize = TEST_Y.len();
    const BATCH: usize = 32;
    const EPOCHS: usize = 20;

    /// Trains a new head on the features of the training images; `true` if its held-out accuracy
    /// is at least 0.95.
    pub fn train_head() -> bool {
        use core::ops::ControlFlow;
        use tinyprop::metrics::evaluate;
        use tinyprop::optim::{Adam, AdamConfig};
        use tinyprop::train::{Fit, Trainer};
        use tinyprop_cortex_m::ok;
        type Opt = Adam<f32, GradsOf<Head>>;

        let mut meter = Meter::default();
        meter.resume();
        let mut train_features = [[0.0f32; 128]; TRAIN];
        for (f, pixels) in train_features.iter_mut().zip(TRAIN_X.iter()) {
            f.copy_from_slice(features(pixels).as_slice());
        }
        let mut test_features = [[0.0f32; 128]; TEST];
        for (f, pixels) in test_features.iter_mut().zip(TEST_X.iter()) {
            f.copy_from_slice(features(pixels).as_slice());
        }
        meter.pause();
        let feature_instructions = meter.total() / (TRAIN + TEST) as u64;
        let train = ok(DataSet::new(&train_features, &TRAIN_Y));
        let test = ok(DataSet::new(&test_features, &TEST_Y));

        let mut head = Head::default();
        let mut rng = SplitMix64::new(11);
        head.init(Init::PyTorchDefault, &mut rng);
        let before = ok(evaluate(
            &head,
            &CrossEntropy,
            &test,
            Default::default(),
            None,
        ));
        let mut opt: Opt = ok(Adam::new(AdamConfig {
            lr: 0.003,
            ..Default::default()
        }));
        hprintln!(
            "training a new head on the device: {} images, batches of {}, Adam; training memory {} bytes",
            TRAIN,
            BATCH,
            memory::training_bytes::<f32, SMatrix<f32, 128, BATCH>, Head, Opt>()
        );
        let mut order = [0u16; TRAIN];
        let plan = Fit::new(&train, &mut order, &mut rng).max_epochs(EPOCHS);
        let mut meter = Meter::default();
        meter.resume();
        let report = ok(Trainer::<f32, 128, BATCH, Head>::new().fit(
            &mut head,
            &mut opt,
            &CrossEntropy,
            plan,
            |e| {
                meter.pause();
                if e.epoch == 1 || e.epoch % 5 == 0 {
                    hprintln!("epoch {:3}  train loss {:.4}", e.epoch, e.train.loss);
                }
                meter.resume();
                ControlFlow::Continue(())
            },
        ));
        meter.pause();
        let after = ok(evaluate(
            &head,
            &CrossEntropy,
            &test,
            Default::default(),
            None,
        ));
        let accuracy = after.accuracy().unwrap_or(0.0);
        hprintln!(
            "new head: held-out accuracy {:.4} (untrained: {:.4}) after {} epochs",
            accuracy,
            before.accuracy().unwrap_or(0.0),
            report.epochs
        );
        let steps = report.epochs as u64 * report.last.train.steps as u64;
        hprintln!(
            "instructions: {} per training step of the head (a batch of {}), {} per epoch; {} per image for the features",
            meter.total() / steps.max(1),
            BATCH,
            meter.total() / report.epochs as u64,
            feature_instructions
        );
        let success = accuracy >= 0.95;
        if !success {
            hprintln!("FAIL: the head trained on the device is below 0.95 held out");
        }
        success
    }
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
