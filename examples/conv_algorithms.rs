//! The two algorithms of a convolution's training passes, shape by shape: the direct loops
//! over the taps (`PB = 0`) against im2col through the cache's patch buffer (blocks of
//! `PB` output positions, [`tinyprop::layers::PATCH_BLOCK`] by default).
//!
//! Run with `cargo run --release --example conv_algorithms`. For each shape and algorithm,
//! one line: the microseconds per batch of 32 samples of the training forward pass
//! (`forward_train`: `fwd`), of the backward pass with the weight gradient only (`dW`), the
//! input gradient only (`dx`) and both (`bwd`), of a step (`fwd + bwd`), and the bytes of the
//! layer's training cache. Each figure is the
//! fastest of the slices of a run (see `examples/bench.rs`): other work on the machine can
//! only slow a slice down.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use tinyprop::heap::boxed;
use tinyprop::layers::{Conv, NoBias, OneD, TwoD};
use tinyprop::prelude::*;

/// The batch.
const B: usize = 32;
/// How long each pass is timed, in slices of [`SLICE`].
const WALL: Duration = Duration::from_millis(600);
const SLICE: Duration = Duration::from_millis(20);

/// Microseconds per call of `f`: the fastest slice.
fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut best = f64::INFINITY;
    while start.elapsed() < WALL {
        let slice = Instant::now();
        let mut n = 0u32;
        while slice.elapsed() < SLICE {
            f();
            n += 1;
        }
        best = best.min(slice.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    best
}

/// Times the training passes of `L` on a batch of [`B`] samples and prints one line.
fn measure<L, const NIN: usize, const NOUT: usize>(shape: &str, algorithm: &str)
where
    L: Layer<f32, SMatrix<f32, NIN, B>, Output = SMatrix<f32, NOUT, B>> + Default + Send,
    L::Cache: Send,
    L::Grads: Send,
{
    let mut rng = SplitMix64::new(1);
    let mut layer = boxed(L::default).unwrap();
    layer.init(Init::PyTorchDefault, &mut rng);
    let mut x = boxed(SMatrix::<f32, NIN, B>::zeros).unwrap();
    for v in x.iter_mut() {
        *v = (rng.next_u64() % 1000) as f32 / 500.0 - 1.0;
    }
    let mut cache = boxed(<L::Cache as Zeroed>::zeroed).unwrap();
    let mut dy = boxed(SMatrix::<f32, NOUT, B>::zeros).unwrap();
    let mut dx = boxed(SMatrix::<f32, NIN, B>::zeros).unwrap();
    let mut grads = boxed(<L::Grads as Zeroed>::zeroed).unwrap();
    let fwd = time(|| {
        black_box(layer.forward_train(&x, &mut cache));
    });
    let mut backward = |want_dx: bool, want_grads: bool| {
        time(|| {
            for (d, y) in dy.iter_mut().zip(L::output(&cache).iter()) {
                *d = *y * 1e-3;
            }
            let dx = want_dx.then_some(&mut *dx);
            let grads = want_grads.then_some(&mut *grads);
            layer.backward(&x, &mut cache, &mut dy, dx, grads);
        })
    };
    let weight_grad = backward(false, true);
    let input_grad = backward(true, false);
    let bwd = backward(true, true);
    println!(
        "{shape:<32} {algorithm:<10} fwd {fwd:>8.1}  dW {weight_grad:>8.1}  dx {input_grad:>8.1}  \
         bwd {bwd:>8.1}  step {:>8.1} µs  cache {:>7} B",
        fwd + bwd,
        core::mem::size_of::<L::Cache>()
    );
}

/// Both algorithms (and a few block sizes) of one shape: `$layer` is the layer with its block
/// size as the last parameter, named `PB`. A layer with fewer than
/// [`tinyprop::layers::IM2COL_MIN_OPG`] output channels per group trains with the direct
/// loops whatever its block size (its line says `direct <PB>`).
macro_rules! shape {
    ($name:expr, $nin:expr, $nout:expr, |$pb:ident| $layer:ty) => {{
        shape!(@one $name, $nin, $nout, 0, |$pb| $layer);
        shape!(@one $name, $nin, $nout, 16, |$pb| $layer);
        shape!(@one $name, $nin, $nout, 32, |$pb| $layer);
        shape!(@one $name, $nin, $nout, 64, |$pb| $layer);
    }};
    (@one $name:expr, $nin:expr, $nout:expr, $value:expr, |$pb:ident| $layer:ty) => {{
        const $pb: usize = $value;
        // What the layer runs: im2col, or the direct loops (with an unused buffer for a
        // layer with too few output channels per group).
        let algorithm = match (<$layer>::IM2COL, $pb) {
            (true, pb) => format!("im2col {pb}"),
            (false, 0) => "direct".to_string(),
            (false, pb) => format!("direct {pb}"),
        };
        measure::<$layer, { $nin }, { $nout }>($name, &algorithm);
    }};
}

fn main() {
    shape!(
        "digits conv1 1→16 3×3 p1 8×8",
        64,
        16 * 64,
        |PB| Conv<f32, TwoD, 1, 16, 3, 3, 8, 8, { 16 * 64 }, 1, 1, 1, 1, SVector<f32, 16>, PB>
    );
    shape!(
        "digits conv2 16→32 3×3 p1 4×4",
        16 * 16,
        32 * 16,
        |PB| Conv<f32, TwoD, 16, 32, 3, 3, 4, 4, { 32 * 16 }, 1, 1, 1, 16, SVector<f32, 32>, PB>
    );
    shape!(
        "28×28 conv1 1→16 3×3 p1 28×28",
        784,
        16 * 784,
        |PB| Conv<f32, TwoD, 1, 16, 3, 3, 28, 28, { 16 * 784 }, 1, 1, 1, 1, SVector<f32, 16>, PB>
    );
    shape!(
        "28×28 conv2 16→32 3×3 p1 14×14",
        16 * 196,
        32 * 196,
        |PB| Conv<f32, TwoD, 16, 32, 3, 3, 14, 14, { 32 * 196 }, 1, 1, 1, 16, SVector<f32, 32>, PB>
    );
    shape!(
        "depthwise 16 3×3 p1 14×14",
        16 * 196,
        16 * 196,
        |PB| Conv<f32, TwoD, 16, 16, 3, 3, 14, 14, { 16 * 196 }, 1, 1, 1, 1, SVector<f32, 16>, PB>
    );
    shape!(
        "conv1d 4→16 k5 L64",
        4 * 64,
        16 * 60,
        |PB| Conv<f32, OneD, 4, 16, 1, 5, 1, 64, { 16 * 60 }, 1, 0, 1, 4, SVector<f32, 16>, PB>
    );
    shape!(
        "conv1d 16→16 k3 p1 L32 no bias",
        16 * 32,
        16 * 32,
        |PB| Conv<f32, OneD, 16, 16, 1, 3, 1, 32, { 16 * 32 }, 1, 1, 1, 16, NoBias, PB>
    );
}
