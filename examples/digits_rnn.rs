//! Handwritten digits (8 × 8 pixels, 1797 samples, 10 classes) read as sequences: each image is
//! 8 steps of one row of 8 pixels, fed to a GRU and to an LSTM of 32 units whose last hidden
//! state a dense layer reads out. The same stratified 30 % hold-out as `examples/digits.rs`;
//! mini-batches of 32 with Adam (lr 0.01 annealed to 0 along a cosine over 60 epochs), the
//! weights of the best validation loss kept. Ends each model with its confusion matrix and
//! `<GRU|LSTM> held-out accuracy: <fraction>`.
//!
//! Run with `cargo run --release --example digits_rnn`.

use std::time::Instant;

#[path = "shared/csv.rs"]
mod csv;
#[path = "shared/digits_rnn.rs"]
mod digits_rnn;

use digits_rnn::{train, GruDigits, LstmDigits};
use tinyprop::memory;
use tinyprop::prelude::*;

const SEED: u64 = 7;
const MAX_EPOCHS: usize = 60;

fn report(
    short: &str,
    name: &str,
    run: impl FnOnce() -> digits_rnn::Outcome,
    params: usize,
    bytes: usize,
) {
    println!(
        "\n{short} {name}: {params} parameters, {bytes} bytes to train with Adam on batches of 32"
    );
    let start = Instant::now();
    let out = run();
    println!(
        "   {} epochs in {:.2} s",
        out.epochs,
        start.elapsed().as_secs_f64()
    );
    println!("confusion matrix on the held-out set (rows: true digit, columns: predicted):");
    print!("{}", out.confusion);
    println!("held-out loss: {:.4}", out.loss);
    println!("{short} held-out accuracy: {:.4}", out.accuracy);
}

fn progress(e: &tinyprop::train::Epoch<f32>) {
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
}

fn main() {
    let (features, labels) = csv::digits();
    type Batch = SMatrix<f32, 64, 32>;
    type GruOpt = Adam<f32, <GruDigits as Model<f32>>::Grads>;
    type LstmOpt = Adam<f32, <LstmDigits as Model<f32>>::Grads>;
    report(
        "GRU",
        "(8 steps of 8 pixels, 32 units)",
        || train::<GruDigits>(SEED, MAX_EPOCHS, &features, &labels, progress),
        memory::parameter_count::<f32, GruDigits>(),
        memory::training_bytes::<f32, Batch, GruDigits, GruOpt>(),
    );
    report(
        "LSTM",
        "(8 steps of 8 pixels, 32 units)",
        || train::<LstmDigits>(SEED, MAX_EPOCHS, &features, &labels, progress),
        memory::parameter_count::<f32, LstmDigits>(),
        memory::training_bytes::<f32, Batch, LstmDigits, LstmOpt>(),
    );
}
