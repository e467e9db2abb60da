//! Fine-tunes on the device a network trained elsewhere, keeps what it learned in a power-safe
//! checkpoint on flash, and comes back from a reboot with it.
//!
//! 1. The weights of a 4-16-3 ReLU network trained in PyTorch on the "lab" flowers of the Iris
//!    data (`tools/finetune_iris.py train`) are a safetensors file in flash
//!    (`data/iris_base.safetensors`); `io::safetensors::load` reads them straight from there
//!    under PyTorch's names (`0.weight`, `0.bias`, `2.weight`, `2.bias`).
//! 2. The device's own flowers (the other rows) come from a sensor with another gain and offset
//!    per feature: the lab's network classifies them badly. The first layer is `Frozen`, so
//!    only the last layer trains (no gradients and no Adam state for the first), on 45 of the
//!    device's flowers; 30 others are held out.
//! 3. The model and Adam's state go into a checkpoint in a region of NOR flash (`RamFlash`
//!    here, with real NOR semantics; a board passes its own `NorFlash` driver).
//! 4. "Reboot": the model and the optimizer are dropped, fresh ones are loaded from the
//!    checkpoint, and the held-out flowers are classified again.
//!
//! Exits with success only if the reloaded model has the same weights and the same held-out
//! accuracy as before the reboot, and beats the network as it came from PyTorch. Prints the
//! fine-tuned weights as a safetensors file in hex (`safetensors: …` lines) and the held-out
//! logits (the bits of each `f32`, in hex), which `tools/finetune_iris.py check` loads into PyTorch and compares.
#![no_std]
#![no_main]

use core::mem::size_of;
use core::ops::ControlFlow;

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop::data::DataSet;
use tinyprop::io::checkpoint::{Checkpoint, RamFlash};
use tinyprop::io::safetensors::{self, Dtype};
use tinyprop::io::TrainingState;
use tinyprop::memory;
use tinyprop::metrics::evaluate;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};
use tinyprop_cortex_m::{exit, icount, ok, stack, start_counting, Meter};

mod iris {
    include!("../../../../data/iris.rs");
}
use iris::{IRIS_FEATURES, IRIS_LABELS};

/// The PyTorch network's state_dict (`tools/finetune_iris.py train`).
static BASE: &[u8] = include_bytes!("../../data/iris_base.safetensors");

type Net = (Frozen<Dense<f32, 4, 16>>, Relu, Dense<f32, 16, 3>);
type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
type Train = Trainer<f32, 4, BATCH, Net>;
/// 4 KiB of NOR flash written in words of 4 bytes and erased in sectors of 1 KiB: two slots.
type Flash = RamFlash<FLASH, 4, 1024>;

const FLASH: usize = 4096;
/// Room for the largest file written here (the model and Adam's state: 1 668 bytes).
const FILE: usize = 1792;
const SEED: u64 = 9;
const BATCH: usize = 9;
const EPOCHS: usize = 150;
/// The device's sensor: `x · GAIN + OFFSET` of the lab's (`tools/finetune_iris.py`).
const GAIN: [f32; 4] = [1.2, 0.8, 1.3, 1.5];
const OFFSET: [f32; 4] = [-1.0, 0.5, 0.8, 0.3];
const TRAIN: usize = 45;
const HELD_OUT: usize = 30;

/// The device's flowers (the odd rows, through its sensor): of these, row `i` trains if
/// `i % 5 < 3` and is held out otherwise. Computed at compile time, kept in flash.
const fn device<const N: usize>(train: bool) -> ([[f32; 4]; N], [u8; N]) {
    let mut x = [[0.0; 4]; N];
    let mut y = [0; N];
    let (mut row, mut n) = (1, 0);
    while row < IRIS_LABELS.len() {
        let i = row / 2;
        if (i % 5 < 3) == train {
            let mut j = 0;
            while j < 4 {
                x[n][j] = IRIS_FEATURES[row][j] * GAIN[j] + OFFSET[j];
                j += 1;
            }
            y[n] = IRIS_LABELS[row];
            n += 1;
        }
        row += 2;
    }
    (x, y)
}
const DEVICE_TRAIN: ([[f32; 4]; TRAIN], [u8; TRAIN]) = device(true);
const DEVICE_HELD_OUT: ([[f32; 4]; HELD_OUT], [u8; HELD_OUT]) = device(false);
static TRAIN_X: [[f32; 4]; TRAIN] = DEVICE_TRAIN.0;
static TRAIN_Y: [u8; TRAIN] = DEVICE_TRAIN.1;
static TEST_X: [[f32; 4]; HELD_OUT] = DEVICE_HELD_OUT.0;
static TEST_Y: [u8; HELD_OUT] = DEVICE_HELD_OUT.1;

#[entry]
fn main() -> ! {
    start_counting();
    let train = ok(DataSet::new(&TRAIN_X, &TRAIN_Y));
    let test = ok(DataSet::new(&TEST_X, &TEST_Y));
    let mut flash = Flash::new();
    let mut file = [0u8; FILE];

    hprintln!(
        "finetune: PyTorch's weights ({} bytes of safetensors in flash); {} of the device's flowers train, {} held out",
        BASE.len(),
        train.len(),
        test.len()
    );
    hprintln!(
        "memory (bytes): model {}, gradients {} (frozen layer: none), Adam {}, trainer {}; training {}",
        size_of::<Net>(),
        size_of::<<Net as Model<f32>>::Grads>(),
        size_of::<Opt>(),
        size_of::<Train>(),
        memory::training_bytes::<f32, SMatrix<f32, 4, BATCH>, Net, Opt>()
    );

    let (epoch_instructions, step_instructions, save_instructions);
    let (before, tuned, fingerprint_tuned) = {
        let mut net = Net::default();
        ok(safetensors::load(&mut net, BASE));
        let before = accuracy(&net, &test);
        hprintln!("PyTorch's network: held-out accuracy {:.4}", before);

        let mut opt: Opt = ok(Adam::new(AdamConfig {
            lr: 0.01,
            ..Default::default()
        }));
        let mut rng = SplitMix64::new(SEED);
        let mut order = [0u16; TRAIN];
        let plan = Fit::new(&train, &mut order, &mut rng).max_epochs(EPOCHS);
        let mut meter = Meter::default();
        meter.resume();
        let report = ok(
            Train::new().fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
                meter.pause();
                if e.epoch == 1 || e.epoch % 50 == 0 {
                    hprintln!("epoch {:3}  train loss {:.4}", e.epoch, e.train.loss);
                }
                meter.resume();
                ControlFlow::Continue(())
            }),
        );
        meter.pause();
        epoch_instructions = meter.total() / report.epochs as u64;
        step_instructions = meter.total() / (report.epochs as u64 * report.last.train.steps as u64);
        let tuned = accuracy(&net, &test);
        hprintln!(
            "fine-tuned the last layer for {} epochs: held-out accuracy {:.4}",
            report.epochs,
            tuned
        );

        // The model and Adam's state (its step counter included) into the flash.
        let state = TrainingState {
            model: &mut net,
            optimizer: &mut opt,
        };
        let start = icount::now();
        let len = ok(safetensors::save(&state, Dtype::F32, &mut file));
        let mut checkpoint = ok(Checkpoint::new(&mut flash, 0, FLASH as u32));
        let generation = ok(checkpoint.save(file.get(..len).unwrap_or(&[])));
        save_instructions = icount::now() - start;
        hprintln!(
            "checkpoint: {} bytes (model and Adam's state), generation {}",
            len,
            generation
        );
        (before, tuned, fingerprint(&net))
        // The model and the optimizer end here: the "reboot".
    };

    // After the reboot: only the flash is left.
    let mut net = Net::default();
    let mut opt: Opt = ok(Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    }));
    let load_instructions = {
        let start = icount::now();
        let mut checkpoint = ok(Checkpoint::new(&mut flash, 0, FLASH as u32));
        let stored = ok(checkpoint.load(&mut file));
        let mut state = TrainingState {
            model: &mut net,
            optimizer: &mut opt,
        };
        ok(safetensors::load(
            &mut state,
            file.get(..stored.len).unwrap_or(&[]),
        ));
        let instructions = icount::now() - start;
        hprintln!(
            "reboot: loaded checkpoint generation {} ({} bytes)",
            stored.generation,
            stored.len
        );
        instructions
    };
    hprintln!(
        "instructions: {} per fine-tuning epoch ({} per training step), {} to save the checkpoint (safetensors and flash), {} to load it",
        epoch_instructions,
        step_instructions,
        save_instructions,
        load_instructions
    );
    let after = accuracy(&net, &test);
    let same = fingerprint(&net) == fingerprint_tuned;
    hprintln!("after reboot: held-out accuracy {:.4}", after);
    hprintln!(
        "weights fingerprint: {:08x} ({})",
        fingerprint(&net),
        if same {
            "as before the reboot"
        } else {
            "CHANGED"
        }
    );

    // For PyTorch: the model alone, as a safetensors file, and its held-out logits.
    let len = ok(safetensors::save(&net, Dtype::F32, &mut file));
    for line in file.get(..len).unwrap_or(&[]).chunks(32) {
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_mut(2).zip(line) {
            for (digit, nibble) in pair.iter_mut().zip([byte >> 4, byte & 15]) {
                *digit = b"0123456789abcdef"[usize::from(nibble)];
            }
        }
        let text = core::str::from_utf8(hex.get(..2 * line.len()).unwrap_or(&[])).unwrap_or("");
        hprintln!("safetensors: {}", text);
    }
    let mut inference = Meter::default();
    for x in &TEST_X {
        let mut y = SMatrix::<f32, 3, 1>::zeros();
        let x = SVector::<f32, 4>::from(*x);
        inference.resume();
        net.forward(&x, &mut y);
        inference.pause();
        // The bits, in hex: exact, and without the code that prints floats in full.
        hprintln!(
            "logits: {:08x} {:08x} {:08x}",
            y[0].to_bits(),
            y[1].to_bits(),
            y[2].to_bits()
        );
    }
    hprintln!(
        "instructions: {} per inference (one sample)",
        inference.total() / HELD_OUT as u64
    );
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );

    let success = same && after == tuned && after > before;
    if !success {
        hprintln!("FAIL: the reloaded model must equal the fine-tuned one and beat PyTorch's");
    }
    exit(success)
}

/// Held-out accuracy.
fn accuracy(net: &Net, test: &DataSet<'_, f32, 4, u8>) -> f32 {
    ok(evaluate(net, &CrossEntropy, test, Default::default(), None))
        .accuracy()
        .unwrap_or(0.0)
}

/// FNV-1a over the bits of every tensor: equal fingerprints, bit-identical weights.
fn fingerprint(net: &Net) -> u32 {
    let mut hash = 0x811c_9dc5u32;
    let mut add = |w: &f32| {
        for byte in w.to_bits().to_le_bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    };
    net.0 .0.weight.iter().for_each(&mut add);
    net.0 .0.bias.iter().for_each(&mut add);
    net.tensors().flatten().for_each(&mut add);
    hash
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
