//! Trains a 2-8-1 network on XOR with plain SGD and prints its progress and predictions.
//!
//! Run with `cargo run --release --example xor`.

use tinyprop::memory;
use tinyprop::prelude::*;

type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
type Batch = SMatrix<f32, 2, 4>;

fn main() -> Result<(), Error> {
    let x = Batch::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    let t = SMatrix::<f32, 1, 4>::from_row_slice(&[0., 1., 1., 0.]);

    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(7));
    let mut opt = Sgd::new(0.5)?;
    let mut ws = Workspace::<f32, Batch, Net>::new();

    println!(
        "network 2-8-1: {} parameters, {} bytes to train with batch 4",
        memory::parameter_count::<f32, Net>(),
        memory::training_bytes::<f32, Batch, Net, Sgd<f32, <Net as Model<f32>>::Grads>>()
    );
    let mut step = 0;
    let mut loss = f32::INFINITY;
    while loss >= 0.01 {
        loss = train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws)?;
        step += 1;
        if step % 50 == 0 || loss < 0.01 {
            println!("step {step:4}  loss {loss:.5}");
        }
    }

    let mut logits = SMatrix::<f32, 1, 4>::zeros();
    net.forward(&x, &mut logits);
    for (sample, logit) in x.column_iter().zip(logits.iter()) {
        let p = 1.0 / (1.0 + (-logit).exp());
        println!("{} xor {} -> {:.3}", sample[0], sample[1], p);
    }
    println!("final loss: {loss:.5} after {step} steps");
    Ok(())
}
