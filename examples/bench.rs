//! Training and inference throughput of small networks, on one thread.
//!
//! Run with `cargo run --release --example bench` (and again with
//! `RUSTFLAGS="-C target-cpu=native"`). Prints one line per configuration:
//! `bench <name>: <samples_per_second> samples/s, <gflops> GFLOP/s`, counting 6 FLOPs per weight
//! per sample for a training step (forward, loss, backward, update) and 2 for inference
//! (weights are the entries of the weight matrices; biases are not counted), and
//! `bench peak: <gflops> GFLOP/s`, this core's f32 multiply-add throughput.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tinyprop::prelude::*;

/// How long each configuration runs.
const WALL: Duration = Duration::from_millis(1500);

type Mlp<const I: usize, const H: usize, const O: usize> =
    (Dense<f32, I, H>, Relu, Dense<f32, H, O>);

fn weights(i: usize, h: usize, o: usize) -> usize {
    i * h + h * o
}

fn report(name: &str, samples: usize, elapsed: Duration, flops_per_sample: usize) {
    let sps = samples as f64 / elapsed.as_secs_f64();
    println!(
        "bench {name}: {sps:.0} samples/s, {:.2} GFLOP/s",
        sps * flops_per_sample as f64 / 1e9
    );
}

/// Repeats `step` (which processes `batch` samples) for [`WALL`].
fn time(batch: usize, mut step: impl FnMut()) -> (usize, Duration) {
    for _ in 0..3 {
        step(); // warm up
    }
    let start = Instant::now();
    let mut samples = 0;
    loop {
        for _ in 0..16 {
            step();
        }
        samples += 16 * batch;
        let elapsed = start.elapsed();
        if elapsed >= WALL {
            return (samples, elapsed);
        }
    }
}

fn train_bench<const I: usize, const H: usize, const O: usize, const B: usize, Opt>(
    name: &str,
    mut opt: Opt,
) where
    Opt: Optimizer<f32, Mlp<I, H, O>>,
{
    let mut rng = SplitMix64::new(1);
    let mut net = Box::<Mlp<I, H, O>>::default();
    net.init(Init::HeUniform, &mut rng);
    let mut ws = Box::new(Workspace::<f32, SMatrix<f32, I, B>, Mlp<I, H, O>>::new());
    let mut x = Box::new(SMatrix::<f32, I, B>::zeros());
    for v in x.iter_mut() {
        *v = tinyprop::rng::unit_f64(&mut rng) as f32;
    }
    let labels: [usize; B] = core::array::from_fn(|j| j % O);
    let (samples, elapsed) = time(B, || {
        let loss = train_step(&mut *net, &mut opt, &CrossEntropy, &*x, &labels, &mut ws);
        black_box(loss.ok());
    });
    report(name, samples, elapsed, 6 * weights(I, H, O));
}

fn infer_bench<const I: usize, const H: usize, const O: usize>(name: &str) {
    let mut rng = SplitMix64::new(2);
    let mut net = Box::<Mlp<I, H, O>>::default();
    net.init(Init::HeUniform, &mut rng);
    let x = SMatrix::<f32, I, 1>::from_fn(|_, _| tinyprop::rng::unit_f64(&mut rng) as f32);
    let mut y = SMatrix::<f32, O, 1>::zeros();
    let (samples, elapsed) = time(1, || {
        net.forward(black_box(&x), &mut y);
        black_box(&y);
    });
    report(name, samples, elapsed, 2 * weights(I, H, O));
}

/// One multiply-add step of a dependency chain: a fused multiply-add where the build has FMA
/// (without it `mul_add` is a slow library call), otherwise a multiply and an add.
#[inline(always)]
fn madd(s: f32, a: f32, b: f32) -> f32 {
    #[cfg(target_feature = "fma")]
    {
        s.mul_add(a, b)
    }
    #[cfg(not(target_feature = "fma"))]
    {
        s * a + b
    }
}

/// f32 GFLOP/s of `N` independent multiply-add chains (`N / lanes` vector registers' worth),
/// run for `wall`. Each step is 2 FLOPs per lane.
#[inline(never)]
fn peak_with<const N: usize>(wall: Duration) -> f64 {
    let a = black_box(0.999_999_f32);
    let b = black_box(1e-7_f32);
    let mut acc: [f32; N] = core::array::from_fn(|i| 1.0 + i as f32 * 1e-3);
    let inner = 200_000;
    let start = Instant::now();
    let mut iters = 0usize;
    while start.elapsed() < wall {
        for _ in 0..inner {
            for s in acc.iter_mut() {
                *s = madd(*s, a, b);
            }
        }
        iters += inner;
        black_box(&mut acc);
    }
    let elapsed = start.elapsed().as_secs_f64();
    black_box(acc);
    (iters * N * 2) as f64 / elapsed / 1e9
}

/// f32 GFLOP/s of `N` independent multiply chains and `N` independent add chains, interleaved
/// (separate multiply and add units run at once), run for `wall`. 1 FLOP per lane per operation.
#[inline(never)]
fn peak_mul_add_with<const N: usize>(wall: Duration) -> f64 {
    // Multiplying by 1 and adding 0 keep the values normal; the optimizer cannot see them.
    let a = black_box(1.0_f32);
    let b = black_box(0.0_f32);
    let mut prod: [f32; N] = core::array::from_fn(|i| 1.0 + i as f32 * 1e-3);
    let mut sum: [f32; N] = core::array::from_fn(|i| 2.0 + i as f32 * 1e-3);
    let inner = 200_000;
    let start = Instant::now();
    let mut iters = 0usize;
    while start.elapsed() < wall {
        for _ in 0..inner {
            for (p, s) in prod.iter_mut().zip(sum.iter_mut()) {
                *p *= a;
                *s += b;
            }
        }
        iters += inner;
        black_box((&mut prod, &mut sum));
    }
    let elapsed = start.elapsed().as_secs_f64();
    black_box((prod, sum));
    (iters * N * 2) as f64 / elapsed / 1e9
}

/// Peak f32 throughput of one core: the best of two loops (dependent multiply-add chains, and
/// separate multiply and add chains) over several numbers of independent chains, from too few
/// to cover the latency to more than the registers hold. The best is reached well inside that
/// range, so more chains would not raise it; every figure goes to stderr so that this can be
/// checked.
fn peak() -> f64 {
    let wall = WALL / 5;
    let runs = [
        ("multiply-add", 16, peak_with::<16>(wall)),
        ("multiply-add", 32, peak_with::<32>(wall)),
        ("multiply-add", 40, peak_with::<40>(wall)),
        ("multiply-add", 48, peak_with::<48>(wall)),
        ("multiply-add", 56, peak_with::<56>(wall)),
        ("multiply-add", 64, peak_with::<64>(wall)),
        ("multiply-add", 80, peak_with::<80>(wall)),
        ("multiply-add", 96, peak_with::<96>(wall)),
        ("multiply-add", 128, peak_with::<128>(wall)),
        ("multiply-add", 192, peak_with::<192>(wall)),
        ("multiply, add", 8, peak_mul_add_with::<8>(wall)),
        ("multiply, add", 16, peak_mul_add_with::<16>(wall)),
        ("multiply, add", 24, peak_mul_add_with::<24>(wall)),
        ("multiply, add", 32, peak_mul_add_with::<32>(wall)),
        ("multiply, add", 48, peak_mul_add_with::<48>(wall)),
        ("multiply, add", 64, peak_mul_add_with::<64>(wall)),
        ("multiply, add", 96, peak_mul_add_with::<96>(wall)),
    ];
    for (kind, lanes, gflops) in runs {
        eprintln!("peak ({kind}, {lanes} chains of f32): {gflops:.2} GFLOP/s");
    }
    runs.iter().map(|&(_, _, g)| g).fold(0.0, f64::max)
}

/// Adam with PyTorch's defaults and learning rate 0.01.
fn adam<G: Zeroed>() -> Adam<f32, G> {
    Adam::new(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    })
    .unwrap()
}

fn main() {
    train_bench::<4, 16, 3, 1, _>("mlp-4-16-3-b1-sgd", Sgd::new(0.01).unwrap());
    train_bench::<4, 16, 3, 16, _>("mlp-4-16-3-b16-adam", adam());
    train_bench::<64, 32, 10, 32, _>("mlp-64-32-10-b32-adam", adam());
    train_bench::<784, 128, 10, 32, _>("mlp-784-128-10-b32-sgd", Sgd::new(0.01).unwrap());
    infer_bench::<784, 128, 10>("infer-784-128-10-b1");
    println!("bench peak: {:.2} GFLOP/s", peak());
}
