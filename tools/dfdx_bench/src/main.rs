//! The four MLP training lines of tinyprop's `examples/bench.rs`, measured with dfdx 0.13 on
//! the CPU, so that the two can be compared on the same machine in the same run.
//!
//! Run with `cargo run --release` from this folder. Prints one line per configuration, in
//! tinyprop's format: `bench <name>: <samples_per_second> samples/s, <gflops> GFLOP/s`.
//!
//! Everything that shapes the figure follows `examples/bench.rs`:
//! - the networks: `Linear(I, H)`, ReLU, `Linear(H, O)`, `f32`, a bias in both layers;
//! - a step: forward (recording the tape), softmax cross-entropy averaged over the batch,
//!   backward, the optimizer's update, and (dfdx's part of it) zeroing the gradients;
//! - the optimizers: plain SGD with learning rate 0.01, and Adam with PyTorch's defaults
//!   (betas 0.9 and 0.999, eps 1e-8, no weight decay) and learning rate 0.01;
//! - the data: 64 batches built before timing, inputs uniform in `[0, 1)`, labelled by a
//!   fixed random linear teacher, one label in four replaced by a random class, cycled through;
//! - the timing: 3 warm-up steps, then 1.5 s in slices of 50 ms (16 steps between clock
//!   reads); the line gives the fastest slice, the median goes to stderr;
//! - the FLOP count: `6·W − 2·W₁` per training sample (`W`: the entries of both weight
//!   matrices, `W₁` those of the first), the products' multiply-adds only.
//!
//! On one thread, as tinyprop's bench: dfdx's CPU matrix products run on rayon's global pool,
//! which is built here with a single thread before anything else runs.
//!
//! stderr also gets, per line, the mean loss of the first and of the last slice: it must go
//! down, the check that the steps train.

use std::time::{Duration, Instant};

use dfdx::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use dfdx::prelude::*;

/// How long each configuration runs.
const WALL: Duration = Duration::from_millis(1500);
/// The run is timed in slices of this length.
const SLICE: Duration = Duration::from_millis(50);
/// Batches of training data, cycled through.
const BATCHES: usize = 64;

/// The network, as dfdx builds it.
type Mlp<const I: usize, const H: usize, const O: usize> = (Linear<I, H>, ReLU, Linear<H, O>);

/// FLOPs per sample of a training step of an `i`-`h`-`o` network.
fn train_flops(i: usize, h: usize, o: usize) -> usize {
    6 * (i * h + h * o) - 2 * (i * h)
}

/// tinyprop's `SplitMix64`, so the data is drawn the same way.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) as f32
    }
}

/// Samples per second of the fastest slice and of the median one, and the mean loss of the
/// first and of the last slice. `step` trains on `batch` samples and returns its loss.
fn time(batch: usize, mut step: impl FnMut() -> f32) -> ((f64, f64), (f32, f32)) {
    for _ in 0..3 {
        step(); // warm up
    }
    let start = Instant::now();
    let mut rates = Vec::new();
    let mut losses = Vec::new();
    while start.elapsed() < WALL {
        let slice = Instant::now();
        let mut samples = 0;
        let mut steps = 0;
        let mut loss = 0.0;
        loop {
            for _ in 0..16 {
                loss += step();
            }
            samples += 16 * batch;
            steps += 16;
            let elapsed = slice.elapsed();
            if elapsed >= SLICE {
                rates.push(samples as f64 / elapsed.as_secs_f64());
                losses.push(loss / steps as f32);
                break;
            }
        }
    }
    let first = losses.first().copied().unwrap_or(f32::NAN);
    let last = losses.last().copied().unwrap_or(f32::NAN);
    rates.sort_by(f64::total_cmp);
    let best = rates.last().copied().unwrap_or(0.0);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    ((best, median), (first, last))
}

/// [`BATCHES`] batches of `B` samples as dfdx tensors: inputs (`B × I`) uniform in `[0, 1)`,
/// and one-hot targets (`B × O`, dfdx's cross-entropy takes probabilities) of the class a
/// fixed random linear teacher gives, one in four replaced by a random class.
#[allow(clippy::type_complexity)]
fn data<const I: usize, const O: usize, const B: usize>(
    dev: &Cpu,
    rng: &mut SplitMix64,
) -> Vec<(Tensor<Rank2<B, I>, f32, Cpu>, Tensor<Rank2<B, O>, f32, Cpu>)> {
    // teacher[o][i], drawn column by column as tinyprop's (column-major) matrix is.
    let mut teacher = vec![[0.0f32; I]; O];
    for i in 0..I {
        for row in teacher.iter_mut() {
            row[i] = rng.unit() - 0.5;
        }
    }
    (0..BATCHES)
        .map(|_| {
            let x: Vec<f32> = (0..B * I).map(|_| rng.unit()).collect();
            let mut targets = vec![0.0f32; B * O];
            for j in 0..B {
                let label = if rng.next_u64() % 4 == 0 {
                    (rng.next_u64() % O as u64) as usize
                } else {
                    let sample = &x[j * I..(j + 1) * I];
                    let score = |row: &[f32; I]| -> f32 {
                        row.iter().zip(sample).map(|(w, v)| w * v).sum()
                    };
                    // The first of the largest, as tinyprop's argmax.
                    let mut best = 0;
                    for o in 1..O {
                        if score(&teacher[o]) > score(&teacher[best]) {
                            best = o;
                        }
                    }
                    best
                };
                targets[j * O + label] = 1.0;
            }
            (
                dev.tensor_from_vec(x, (Const::<B>, Const::<I>)),
                dev.tensor_from_vec(targets, (Const::<B>, Const::<O>)),
            )
        })
        .collect()
}

/// Whether the line `name` runs: every line without arguments, otherwise those whose names
/// contain one of them.
fn selected(name: &str) -> bool {
    let mut args = std::env::args().skip(1).peekable();
    args.peek().is_none() || args.any(|a| name.contains(a.as_str()))
}

/// Which optimizer a line trains with.
enum Opt {
    Sgd,
    Adam,
}

fn train_bench<const I: usize, const H: usize, const O: usize, const B: usize>(
    name: &str,
    opt: Opt,
) {
    if !selected(name) {
        return;
    }
    let dev = Cpu::seed_from_u64(1);
    let mut rng = SplitMix64(1);
    // dfdx's default initialization (PyTorch's for `nn.Linear`).
    let mut model = dev.build_module::<Mlp<I, H, O>, f32>();
    let batches = data::<I, O, B>(&dev, &mut rng);
    let mut grads = Some(model.alloc_grads());
    let mut next = batches.iter().cycle();
    let mut sgd = Sgd::new(
        &model,
        SgdConfig {
            lr: 0.01,
            momentum: None,
            weight_decay: None,
        },
    );
    let mut adam = Adam::new(
        &model,
        AdamConfig {
            lr: 0.01,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: None,
        },
    );
    let (rates, (first, last)) = time(B, || {
        let (Some((x, y)), Some(g)) = (next.next(), grads.take()) else {
            return f32::NAN;
        };
        let logits = model.forward_mut(x.clone().traced(g));
        let loss = cross_entropy_with_logits_loss(logits, y.clone());
        let value = loss.array();
        let mut g = loss.backward();
        let updated = match opt {
            Opt::Sgd => sgd.update(&mut model, &g),
            Opt::Adam => adam.update(&mut model, &g),
        };
        if let Err(e) = updated {
            panic!("dfdx's optimizer refused the update: {e:?}");
        }
        model.zero_grads(&mut g);
        grads = Some(g);
        value
    });
    let (best, median) = rates;
    let flops = train_flops(I, H, O) as f64;
    println!(
        "bench {name}: {best:.0} samples/s, {:.2} GFLOP/s",
        best * flops / 1e9
    );
    eprintln!(
        "  {name}: median slice {median:.0} samples/s, {:.2} GFLOP/s; \
         mean loss {first:.4} in the first slice, {last:.4} in the last",
        median * flops / 1e9
    );
}

fn main() {
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
    {
        eprintln!("could not size rayon's pool to one thread: {e}");
    }
    train_bench::<4, 16, 3, 1>("mlp-4-16-3-b1-sgd", Opt::Sgd);
    train_bench::<4, 16, 3, 16>("mlp-4-16-3-b16-adam", Opt::Adam);
    train_bench::<64, 32, 10, 32>("mlp-64-32-10-b32-adam", Opt::Adam);
    train_bench::<784, 128, 10, 32>("mlp-784-128-10-b32-sgd", Opt::Sgd);
}
