//! Training and inference throughput of small networks, on one thread.
//!
//! Run with `cargo run --release --example bench` (and again with
//! `RUSTFLAGS="-C target-cpu=native"`). Prints one line per configuration:
//! `bench <name>: <samples_per_second> samples/s, <gflops> GFLOP/s`, and
//! `bench peak: <gflops> GFLOP/s`, this core's f32 throughput.
//!
//! FLOPs count only the arithmetic the matrix products perform (a multiply and an add per
//! weight and sample in each product): for a training step, the forward product, the weight
//! gradient and the input gradient of every layer but the first (backward never computes the
//! first layer's: nothing needs it), so `6·W − 2·W₁` per sample; for inference `2·W` (`W`: the
//! entries of all weight matrices, `W₁` those of the first). Biases, activations, the loss and
//! the optimizer's update are not counted: their time is in the figure, their arithmetic is
//! not, so the GFLOP/s are a lower bound on what the core computes.
//!
//! The peak is measured twice, before and after the configurations, and the higher is
//! printed; a configuration whose GFLOP/s pass it is reported on stderr (it would mean the
//! peak loop is not what the build can do). Where the matrix products pick AVX2 tiles when
//! the program runs (`tinyprop::matrix_kernels`, printed on stderr first), the peak loops
//! also run compiled for AVX2 and FMA as those tiles are, and the peak is the best of all.
//!
//! For the convolutions (`conv-*`), the same rule: 2 FLOPs per multiply-add that runs, see
//! [`cnn_train_flops`]. Their training passes run im2col (products over a patch matrix that
//! holds zeros where a tap falls on the padding), which multiplies those zeros too: every tap
//! of every output counts, padding included ([`conv_macs`]).
//!
//! Each configuration trains on 64 batches of synthetic data, cycled through (see [`data`]),
//! for 1.5 s, timed in slices of 50 ms. The line gives the fastest slice; the median slice goes
//! to stderr, with the peak's details. On a quiet machine the two are close; on a shared one,
//! the fastest is the closest to what the code costs.
//!
//! `infer-int8-*` is the same inference in int8 ([`tinyprop::quant`]), timed the same way; it
//! counts integer operations (GOP/s), which are not compared with the `f32` peak.
//!
//! Arguments select lines: `cargo run --release --example bench -- gru lstm` runs only the
//! lines whose names contain one of them, without the peak.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand_core::RngCore;
use tinyprop::heap::boxed;
use tinyprop::prelude::*;
use tinyprop::{Conv2d, Flatten, MaxPool2d};

/// How long each configuration runs.
const WALL: Duration = Duration::from_millis(1500);
/// The run is timed in slices of this length.
const SLICE: Duration = Duration::from_millis(50);
/// Batches of training data, cycled through.
const BATCHES: usize = 64;

type Mlp<const I: usize, const H: usize, const O: usize> =
    (Dense<f32, I, H>, Relu, Dense<f32, H, O>);

/// FLOPs per sample of a training step of an `i`-`h`-`o` network (see the module docs).
fn train_flops(i: usize, h: usize, o: usize) -> usize {
    6 * (i * h + h * o) - 2 * (i * h)
}

/// FLOPs per sample of inference.
fn infer_flops(i: usize, h: usize, o: usize) -> usize {
    2 * (i * h + h * o)
}

/// Whether the line `name` runs: every line without arguments, otherwise those whose names
/// contain one of them.
fn selected(name: &str) -> bool {
    let mut args = std::env::args().skip(1).peekable();
    args.peek().is_none() || args.any(|a| name.contains(a.as_str()))
}

/// The best GFLOP/s of every configuration so far, to compare with the peak.
static LINES: std::sync::Mutex<Vec<(String, f64)>> = std::sync::Mutex::new(Vec::new());

fn report(name: &str, (best, median): (f64, f64), flops_per_sample: usize) {
    let gflops = best * flops_per_sample as f64 / 1e9;
    println!("bench {name}: {best:.0} samples/s, {gflops:.2} GFLOP/s");
    if let Ok(mut lines) = LINES.lock() {
        lines.push((name.to_string(), gflops));
    }
    eprintln!(
        "  {name}: median slice {median:.0} samples/s, {:.2} GFLOP/s",
        median * flops_per_sample as f64 / 1e9
    );
}

/// Repeats `step` (which processes `batch` samples) for [`WALL`], and returns the samples per
/// second of the fastest [`SLICE`] of the run and of the median one. Other work on the machine
/// can only slow a slice down, so the fastest is the closest to what the code itself costs;
/// the median shows how far a busy machine moves it.
fn time(batch: usize, mut step: impl FnMut()) -> (f64, f64) {
    for _ in 0..3 {
        step(); // warm up
    }
    let start = Instant::now();
    let mut rates = Vec::new();
    while start.elapsed() < WALL {
        let slice = Instant::now();
        let mut samples = 0;
        loop {
            for _ in 0..16 {
                step();
            }
            samples += 16 * batch;
            let elapsed = slice.elapsed();
            if elapsed >= SLICE {
                rates.push(samples as f64 / elapsed.as_secs_f64());
                break;
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    let best = rates.last().copied().unwrap_or(0.0);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    (best, median)
}

/// [`BATCHES`] batches of `B` samples: inputs uniform in `[0, 1)`, each labelled by a fixed
/// random linear teacher (the class of its largest output), one label in four replaced by a
/// random class. The network keeps learning from it at a realistic loss; a single batch seen
/// over and over would instead be memorized, and its vanishing gradients are not what
/// training costs.
fn data<const I: usize, const O: usize, const B: usize>(
    rng: &mut SplitMix64,
) -> Vec<(SMatrix<f32, I, B>, [usize; B])> {
    let teacher = SMatrix::<f32, O, I>::from_fn(|_, _| unit(rng) - 0.5);
    (0..BATCHES)
        .map(|_| {
            let x = SMatrix::<f32, I, B>::from_fn(|_, _| unit(rng));
            let labels = core::array::from_fn(|j| {
                if rng.next_u64() % 4 == 0 {
                    (rng.next_u64() % O as u64) as usize
                } else {
                    (teacher * x.column(j)).argmax().0
                }
            });
            (x, labels)
        })
        .collect()
}

fn unit(rng: &mut SplitMix64) -> f32 {
    tinyprop::rng::unit_f64(rng) as f32
}

fn train_bench<const I: usize, const H: usize, const O: usize, const B: usize, Opt>(
    name: &str,
    mut opt: Opt,
) where
    Opt: Optimizer<f32, Mlp<I, H, O>>,
{
    if !selected(name) {
        return;
    }
    let mut rng = SplitMix64::new(1);
    let mut net = boxed(<Mlp<I, H, O>>::default).unwrap();
    net.init(Init::HeUniform, &mut rng);
    let mut ws = boxed(Workspace::<f32, SMatrix<f32, I, B>, Mlp<I, H, O>>::new).unwrap();
    let batches = data::<I, O, B>(&mut rng);
    let mut next = batches.iter().cycle();
    let rates = time(B, || {
        if let Some((x, labels)) = next.next() {
            let loss = train_step(&mut *net, &mut opt, &CrossEntropy, x, labels, &mut ws);
            black_box(loss.ok());
        }
    });
    report(name, rates, train_flops(I, H, O));
}

fn infer_bench<const I: usize, const H: usize, const O: usize>(name: &str) {
    if !selected(name) {
        return;
    }
    let mut rng = SplitMix64::new(2);
    let mut net = boxed(<Mlp<I, H, O>>::default).unwrap();
    net.init(Init::HeUniform, &mut rng);
    let x = SMatrix::<f32, I, 1>::from_fn(|_, _| unit(&mut rng));
    let mut y = SMatrix::<f32, O, 1>::zeros();
    let rates = time(1, || {
        net.forward(black_box(&x), &mut y);
        black_box(&y);
    });
    report(name, rates, infer_flops(I, H, O));
}

/// int8 inference of an `I`-`H`-`O` network as [`infer_bench`] times the `f32` one:
/// `(QDense<I, H>` with a fused ReLU, `QDense<H, O>)` (TFLite's fully connected layers), random
/// int8 weights with one scale per output channel (so one [`Multiplier`] each), random int8
/// inputs. Its operations are integer multiply-adds, not FLOPs: the line gives GOP/s (2 per
/// weight and sample, as the FLOPs of [`infer_flops`]), not compared with the `f32` peak.
///
/// [`Multiplier`]: tinyprop::quant::Multiplier
fn infer_int8_bench<const I: usize, const H: usize, const O: usize>(name: &str) {
    use tinyprop::quant::{Activation, Multiplier, QDense, QLayer, Requantize};
    if !selected(name) {
        return;
    }
    let mut rng = SplitMix64::new(2);
    let mut int8 = || (rng.next_u64() >> 56) as u8 as i8;
    let w1: [[i8; I]; H] = core::array::from_fn(|_| core::array::from_fn(|_| int8()));
    let w2: [[i8; H]; O] = core::array::from_fn(|_| core::array::from_fn(|_| int8()));
    let x: [i8; I] = core::array::from_fn(|_| int8());
    let mut rng = SplitMix64::new(3);
    // Per-channel weight scales around 1/128; inputs of scale 1/64.
    let mut scales =
        |n: usize| -> Vec<f32> { (0..n).map(|_| (0.5 + unit(&mut rng)) / 128.0).collect() };
    let rq1 =
        Requantize::<H, Multiplier>::new(1.0 / 64.0, &scales(H), 0.25, -128, Activation::Relu)
            .unwrap();
    let rq2 = Requantize::<O, Multiplier>::new(0.25, &scales(O), 0.5, 3, Activation::None).unwrap();
    let first = QDense::new(w1, core::array::from_fn(|c| c as i32 * 37 - 2000), -5, rq1);
    let second = QDense::new(w2, core::array::from_fn(|c| 100 - c as i32 * 17), -128, rq2);
    let net = (first, second);
    let mut y = [0i8; O];
    let rates = time(1, || {
        net.forward(black_box(&x), &mut y);
        black_box(&y);
    });
    let (best, median) = rates;
    let ops = infer_flops(I, H, O) as f64;
    println!(
        "bench {name}: {best:.0} samples/s, {:.2} GOP/s",
        best * ops / 1e9
    );
    eprintln!(
        "  {name}: median slice {median:.0} samples/s, {:.2} GOP/s",
        median * ops / 1e9
    );
}

/// A recurrent network on sequences read from flat rows of `I` values, trained like
/// [`train_bench`]; `weights` is the number of weight uses per sample (a recurrent weight once
/// per step), `first` those of the first layer's input weights, whose input gradient backward
/// never computes (so `6·weights − 2·first` FLOPs per sample). With `carry`, the state is carried from batch to batch (a stream step:
/// truncated BPTT).
fn rnn_bench<Net, const I: usize, const O: usize, const B: usize, Opt>(
    name: &str,
    mut opt: Opt,
    weights: usize,
    first: usize,
    carry: impl Fn(&mut Workspace<f32, SMatrix<f32, I, B>, Net>),
) where
    Net: Layer<f32, SMatrix<f32, I, B>, Output = SMatrix<f32, O, B>> + Default + Send,
    Workspace<f32, SMatrix<f32, I, B>, Net>: Send,
    Opt: Optimizer<f32, Net>,
{
    if !selected(name) {
        return;
    }
    let mut rng = SplitMix64::new(3);
    let mut net = boxed(<Net>::default).unwrap();
    net.init(Init::PyTorchDefault, &mut rng);
    let mut ws = boxed(Workspace::<f32, SMatrix<f32, I, B>, Net>::new).unwrap();
    let batches = data::<I, O, B>(&mut rng);
    let mut next = batches.iter().cycle();
    let rates = time(B, || {
        if let Some((x, labels)) = next.next() {
            let loss = train_step(&mut *net, &mut opt, &CrossEntropy, x, labels, &mut ws);
            carry(&mut ws);
            black_box(loss.ok());
        }
    });
    report(name, rates, 6 * weights - 2 * first);
}

/// The digits GRU (`examples/digits_rnn.rs`): 8 steps of 8 pixels, 32 units, 10 classes.
type GruDigits = (
    Sequence<8, 8>,
    Gru<f32, 8, 32>,
    LastStep,
    Dense<f32, 32, 10>,
);
/// A sensor stream: windows of 16 steps of 4 values, an LSTM of 32 units, 3 classes.
type LstmStream = (
    Sequence<4, 16>,
    Lstm<f32, 4, 32>,
    LastStep,
    Dense<f32, 32, 3>,
);

/// The digits CNN of `examples/digits_cnn.rs`.
type DigitsCnn = (
    Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
    Relu,
    MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
    Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
    Relu,
    MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
    Flatten,
    Dense<f32, 128, 10>,
);

/// 1→16→32 channels of 3×3 (padding 1), two 2×2 max pools and a dense layer of 10 on 28×28.
type Cnn28 = (
    Conv2d<f32, 1, 16, 3, 28, 28, { 16 * 28 * 28 }, 1, 1>,
    Relu,
    MaxPool2d<16, 2, 28, 28, { 16 * 14 * 14 }>,
    Conv2d<f32, 16, 32, 3, 14, 14, { 32 * 14 * 14 }, 1, 1>,
    Relu,
    MaxPool2d<32, 2, 14, 14, { 32 * 7 * 7 }>,
    Flatten,
    Dense<f32, 1568, 10>,
);

/// The multiply-adds of a stride-1 convolution with `c·o` channel pairs (per group), a
/// `k × k` kernel and padding `p` on an `n × n` map, as im2col computes them: every tap of
/// every output, those on the zero padding included (the patch matrix holds the zeros, and
/// the products multiply them).
fn conv_macs(channel_pairs: usize, k: usize, n: usize, p: usize) -> usize {
    let out = n + 2 * p + 1 - k;
    channel_pairs * k * k * out * out
}

/// FLOPs of one training sample: 2 per multiply-add of each pass that runs (forward, weight
/// gradient, and the input gradient of every layer but the first), for the convolutions and
/// the dense layer (the update, pooling and activations are not counted, as for the MLPs).
fn cnn_train_flops(first_conv_macs: usize, second_conv_macs: usize, dense_weights: usize) -> usize {
    2 * 2 * first_conv_macs + 3 * 2 * second_conv_macs + 6 * dense_weights
}

fn cnn_bench<Net, const I: usize, const B: usize, Opt>(name: &str, mut opt: Opt, flops: usize)
where
    Net: Layer<f32, SMatrix<f32, I, B>, Output = SMatrix<f32, 10, B>> + Default + Send,
    Workspace<f32, SMatrix<f32, I, B>, Net>: Send,
    Opt: Optimizer<f32, Net>,
{
    if !selected(name) {
        return;
    }
    let mut rng = SplitMix64::new(1);
    let mut net = boxed(<Net>::default).unwrap();
    net.init(Init::PyTorchDefault, &mut rng);
    let mut ws = boxed(Workspace::<f32, SMatrix<f32, I, B>, Net>::new).unwrap();
    let batches = data::<I, 10, B>(&mut rng);
    let mut next = batches.iter().cycle();
    let rates = time(B, || {
        if let Some((x, labels)) = next.next() {
            let loss = train_step(&mut *net, &mut opt, &CrossEntropy, x, labels, &mut ws);
            black_box(loss.ok());
        }
    });
    report(name, rates, flops);
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
/// run for `wall`: the fastest of its chunks of 100 000 steps. Each step is 2 FLOPs per lane.
#[inline(never)]
fn peak_with<const N: usize>(wall: Duration) -> f64 {
    chains::<N>(wall, madd)
}

/// [`peak_with`] with the multiply-add step `madd`; inlined, so that it is compiled for the
/// features of the code it is called from.
#[inline(always)]
fn chains<const N: usize>(wall: Duration, madd: impl Fn(f32, f32, f32) -> f32) -> f64 {
    let a = black_box(0.999_999_f32);
    let b = black_box(1e-7_f32);
    let mut acc: [f32; N] = core::array::from_fn(|i| 1.0 + i as f32 * 1e-3);
    let inner = 100_000;
    let start = Instant::now();
    let mut best: f64 = 0.0;
    while start.elapsed() < wall {
        let chunk = Instant::now();
        for _ in 0..inner {
            for s in acc.iter_mut() {
                *s = madd(*s, a, b);
            }
        }
        black_box(&mut acc);
        best = best.max((inner * N * 2) as f64 / chunk.elapsed().as_secs_f64() / 1e9);
    }
    black_box(acc);
    best
}

/// f32 GFLOP/s of `N` independent multiply chains and `N` independent add chains, interleaved
/// (separate multiply and add units run at once), run for `wall`: the fastest chunk. 1 FLOP per
/// lane per operation.
#[inline(never)]
fn peak_mul_add_with<const N: usize>(wall: Duration) -> f64 {
    mul_add_chains::<N>(wall)
}

/// [`peak_mul_add_with`], inlined (see [`chains`]).
#[inline(always)]
fn mul_add_chains<const N: usize>(wall: Duration) -> f64 {
    // Multiplying by 1 and adding 0 keep the values normal; the optimizer cannot see them.
    let a = black_box(1.0_f32);
    let b = black_box(0.0_f32);
    let mut prod: [f32; N] = core::array::from_fn(|i| 1.0 + i as f32 * 1e-3);
    let mut sum: [f32; N] = core::array::from_fn(|i| 2.0 + i as f32 * 1e-3);
    let inner = 100_000;
    let start = Instant::now();
    let mut best: f64 = 0.0;
    while start.elapsed() < wall {
        let chunk = Instant::now();
        for _ in 0..inner {
            for (p, s) in prod.iter_mut().zip(sum.iter_mut()) {
                *p *= a;
                *s += b;
            }
        }
        black_box((&mut prod, &mut sum));
        best = best.max((inner * N * 2) as f64 / chunk.elapsed().as_secs_f64() / 1e9);
    }
    black_box((prod, sum));
    best
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
    best_of(&runs).max(avx2_peak(wall))
}

/// Prints each peak run (kind, chains, GFLOP/s) on stderr and returns the best GFLOP/s.
fn best_of(runs: &[(&str, usize, f64)]) -> f64 {
    for (kind, lanes, gflops) in runs {
        eprintln!("peak ({kind}, {lanes} chains of f32): {gflops:.2} GFLOP/s");
    }
    runs.iter().map(|&(_, _, g)| g).fold(0.0, f64::max)
}

/// Where the matrix products choose AVX2 tiles at run time (`tinyprop::matrix_kernels`), the
/// same two loops compiled for AVX2 and FMA as those tiles are ([`Peak`]), the multiply-adds
/// fused: their best, so that the peak is what the code that runs can reach. 0 elsewhere.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
))]
fn avx2_peak(wall: Duration) -> f64 {
    let Some(simd) = pulp::x86::V3::try_new() else {
        return 0.0;
    };
    if !tinyprop::matrix_kernels().contains("AVX2") {
        return 0.0;
    }
    let runs = [
        avx2_chains::<32>(simd, wall, true),
        avx2_chains::<64>(simd, wall, true),
        avx2_chains::<80>(simd, wall, true),
        avx2_chains::<96>(simd, wall, true),
        avx2_chains::<128>(simd, wall, true),
        avx2_chains::<16>(simd, wall, false),
        avx2_chains::<32>(simd, wall, false),
        avx2_chains::<48>(simd, wall, false),
        avx2_chains::<64>(simd, wall, false),
    ];
    best_of(&runs)
}

/// One run of [`Peak`] on AVX2: its kind, its number of chains and its GFLOP/s.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
))]
fn avx2_chains<const N: usize>(
    simd: pulp::x86::V3,
    wall: Duration,
    fused: bool,
) -> (&'static str, usize, f64) {
    let kind = if fused {
        "AVX2 multiply-add"
    } else {
        "AVX2 multiply, add"
    };
    (kind, N, simd.vectorize(Peak::<N> { wall, fused }))
}

/// [`chains`] (with `fused`, on fused multiply-adds) or [`mul_add_chains`] of `N` chains, as a
/// call that `pulp` makes in its context compiled for AVX2 and FMA: `#[inline(always)]`, as
/// the products' is, so that the loops are compiled and vectorized there.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
))]
struct Peak<const N: usize> {
    wall: Duration,
    fused: bool,
}

#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
))]
impl<const N: usize> pulp::NullaryFnOnce for Peak<N> {
    type Output = f64;

    #[inline(always)]
    fn call(self) -> f64 {
        if self.fused {
            chains::<N>(self.wall, f32::mul_add)
        } else {
            mul_add_chains::<N>(self.wall)
        }
    }
}

/// No run-time choice of tiles in this build: see the other `avx2_peak`.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
)))]
fn avx2_peak(_: Duration) -> f64 {
    0.0
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
    eprintln!("matrix products: {}", tinyprop::matrix_kernels());
    let all = std::env::args().len() == 1;
    let before = if all { peak() } else { 0.0 };
    train_bench::<4, 16, 3, 1, _>("mlp-4-16-3-b1-sgd", Sgd::new(0.01).unwrap());
    train_bench::<4, 16, 3, 16, _>("mlp-4-16-3-b16-adam", adam());
    train_bench::<64, 32, 10, 32, _>("mlp-64-32-10-b32-adam", adam());
    train_bench::<784, 128, 10, 32, _>("mlp-784-128-10-b32-sgd", Sgd::new(0.01).unwrap());
    infer_bench::<784, 128, 10>("infer-784-128-10-b1");
    infer_int8_bench::<784, 128, 10>("infer-int8-784-128-10-b1");
    rnn_bench::<GruDigits, 64, 10, 32, _>(
        "gru-8x8-h32-b32-adam",
        adam(),
        8 * 3 * 32 * (8 + 32) + 32 * 10,
        8 * 3 * 32 * 8,
        |_| {},
    );
    rnn_bench::<LstmStream, 64, 3, 1, _>(
        "lstm-h32-l16-b1-sgd",
        Sgd::new(0.01).unwrap(),
        16 * 4 * 32 * (4 + 32) + 32 * 3,
        16 * 4 * 32 * 4,
        |ws| ws.cache.0 .1.carry(),
    );
    // The 28×28 network's workspace for 32 samples is about 10 MB: built on the heap
    // (`tinyprop::heap::boxed`), as every model and workspace here.
    let digits = cnn_train_flops(
        conv_macs(16, 3, 8, 1),
        conv_macs(16 * 32, 3, 4, 1),
        128 * 10,
    );
    cnn_bench::<DigitsCnn, 64, 32, _>("conv-digits-b32-adam", adam(), digits);
    let mnist = cnn_train_flops(
        conv_macs(16, 3, 28, 1),
        conv_macs(16 * 32, 3, 14, 1),
        1568 * 10,
    );
    cnn_bench::<Cnn28, 784, 32, _>("conv-28x28-b32-sgd", Sgd::new(0.01).unwrap(), mnist);
    if !all {
        return;
    }
    let peak = before.max(peak());
    println!("bench peak: {peak:.2} GFLOP/s");
    for (name, gflops) in LINES.lock().map(|l| l.clone()).unwrap_or_default() {
        eprintln!("  {name}: {:.0} % of peak", 100.0 * gflops / peak);
        if gflops > peak {
            eprintln!("  WARNING: {name} passes the measured peak: the peak loop is not this build's best");
        }
    }
}
