//! A GRU learns on the device from an endless sensor stream, by truncated backpropagation
//! through time.
//!
//! The stream is a synthetic sensor, `sin(0.3 t) + 0.5 sin(0.11 t)` plus uniform noise of
//! ±0.05. The network `(Gru<f32, 1, 8>, LastStep, Dense<f32, 8, 1>)` reads windows of 8
//! readings and predicts the next one (mean squared error, Adam, learning rate 0.01). After each
//! window's step the GRU's final hidden state becomes the next window's initial state
//! (`carry`): the state flows on through the stream while the gradient stops at the window
//! boundary, so memory is fixed by the window length. Exits with success only if, over the
//! last 200 of 1500 windows, the model's squared error is below half that of the naive
//! forecast "the next reading equals the last one".
#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop::layers::Seq;
use tinyprop::memory;
use tinyprop::nalgebra::ComplexField;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop_cortex_m::{exit, icount, ok, stack, start_counting, Meter};

/// Readings per window.
const W: usize = 8;
const WINDOWS: usize = 1500;
/// The windows the final figures average.
const LAST: usize = 200;
type Net = (Gru<f32, 1, 8>, LastStep, Dense<f32, 8, 1>);
type Window = Seq<f32, 1, W, 1>;
type Opt = Adam<f32, GradsOf<Net>>;

/// The sensor: one reading per call.
struct Sensor {
    t: u32,
    rng: SplitMix64,
}

impl Sensor {
    fn read(&mut self) -> f32 {
        self.t += 1;
        let t = self.t as f32;
        let noise = 0.05 * (2.0 * tinyprop::rng::unit_f32(&mut self.rng) - 1.0);
        ComplexField::sin(t * 0.3) + 0.5 * ComplexField::sin(t * 0.11) + noise
    }
}

#[entry]
fn main() -> ! {
    start_counting();
    hprintln!(
        "gru_stream: {} parameters, {} bytes of training memory (model, window, workspace, Adam)",
        memory::parameter_count::<f32, Net>(),
        memory::training_bytes::<f32, Window, Net, Opt>()
    );
    let mut net = Net::default();
    net.init(Init::PyTorchDefault, &mut SplitMix64::new(5));
    let mut opt: Opt = ok(Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    }));
    let mut ws = Workspace::<f32, Window, Net>::new();
    let mut sensor = Sensor {
        t: 0,
        rng: SplitMix64::new(6),
    };

    let mut x = Window::zeroed();
    let mut last = sensor.read();
    let (mut model, mut naive) = (0.0f32, 0.0f32);
    let (mut training, mut inference) = (Meter::default(), Meter::default());
    for k in 0..WINDOWS {
        for step in x.steps.iter_mut() {
            step[0] = last;
            last = sensor.read();
        }
        let target = SMatrix::<f32, 1, 1>::new(last);
        if k >= WINDOWS - LAST {
            let mut y = SMatrix::<f32, 1, 1>::zeros();
            inference.resume();
            net.forward(&x, &mut y);
            inference.pause();
        }
        training.resume();
        let result = train_step(&mut net, &mut opt, &Mse, &x, &target, &mut ws);
        // The next window starts where this one ended.
        ws.cache.0 .0.carry();
        training.pause();
        let loss = ok(result);
        if k % 300 == 0 {
            hprintln!("window {:4}  loss {:.5}", k, loss);
        }
        if k >= WINDOWS - LAST {
            model += loss;
            let error = x.steps[W - 1][0] - last;
            naive += error * error;
        }
    }
    let (model, naive) = (model / LAST as f32, naive / LAST as f32);
    hprintln!(
        "last {} windows: GRU squared error {:.5}, naive forecast {:.5}",
        LAST,
        model,
        naive
    );
    hprintln!(
        "instructions: {} per training step (a window of {}), {} per inference (one window)",
        training.total() / WINDOWS as u64,
        W,
        inference.total() / LAST as u64
    );
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );
    let success = model < 0.5 * naive;
    if !success {
        hprintln!("FAIL: the GRU's error is not below half the naive forecast's");
    }
    exit(success)
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
