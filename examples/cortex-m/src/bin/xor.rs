//! Trains a 2-8-1 tanh network on XOR on the device, from a fixed seed, and exits with success
//! only if the final loss is below 0.01. Prints the memory tinyprop says training needs and the
//! stack high-water mark.
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop::memory;
use tinyprop::prelude::*;
use tinyprop_cortex_m::{exit, fail, icount, stack, start_counting, Meter};

type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
type Batch = SMatrix<f32, 2, 4>;
type Opt = Sgd<f32, <Net as Model<f32>>::Grads>;

const SEED: u64 = 7;
const LEARNING_RATE: f32 = 1.0;
const STEPS: u32 = 1000;
const REPORT_EVERY: u32 = 200;
const TARGET_LOSS: f32 = 0.01;

#[entry]
fn main() -> ! {
    start_counting();
    hprintln!(
        "xor: {} parameters, {} bytes of training memory (model, batch, workspace, optimizer)",
        memory::parameter_count::<f32, Net>(),
        memory::training_bytes::<f32, Batch, Net, Opt>()
    );

    // All four samples, one per column, in one batch.
    let x = Batch::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    let t = SMatrix::<f32, 1, 4>::from_column_slice(&[0., 1., 1., 0.]);

    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(SEED));
    let mut opt: Opt = match Sgd::new(LEARNING_RATE) {
        Ok(opt) => opt,
        Err(e) => fail(e),
    };
    let mut ws = Workspace::<f32, Batch, Net>::new();

    let mut loss = f32::INFINITY;
    let mut meter = Meter::default();
    for step in 0..STEPS {
        meter.resume();
        let result = train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws);
        meter.pause();
        loss = match result {
            Ok(loss) => loss,
            Err(e) => fail(e),
        };
        if step % REPORT_EVERY == 0 {
            hprintln!("step {:4}  loss {:.6}", step, loss);
        }
    }
    hprintln!("final loss {:.6} after {} steps", loss, STEPS);
    // One sample at a time, as firmware classifies a reading.
    let mut inference = Meter::default();
    for sample in x.column_iter() {
        let mut y = SMatrix::<f32, 1, 1>::zeros();
        let one = SMatrix::<f32, 2, 1>::new(sample[0], sample[1]);
        inference.resume();
        net.forward(&one, &mut y);
        inference.pause();
    }
    hprintln!(
        "instructions: {} per training step (batch of 4), {} per inference (one sample)",
        meter.total() / u64::from(STEPS),
        inference.total() / 4
    );
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );

    let ok = loss < TARGET_LOSS;
    if !ok {
        hprintln!("FAIL: loss is not below {:.2}", TARGET_LOSS);
    }
    exit(ok)
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
