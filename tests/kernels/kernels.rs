//! The dense layer's register-blocked kernels against straightforward triple loops, on odd
//! sizes (1, 3, 5, 7, 17, 33 inputs and outputs, batches 1 to 9) and a few larger ones that
//! cross the kernels' blocking boundaries, in f32 and f64.
//!
//! The forward pass, the weight gradient and the bias gradient add their terms in the same
//! order as the loops, so they must be bit-identical; the input gradient may sum in partial
//! sums, so it must agree to within a few rounding errors of its terms.
//!
//! A package of its own (`tests/kernels`), built unoptimised: the 130 instances of the layer
//! were a quarter of the code of the library's integration tests, and at `opt-level = 0` they
//! build in a few seconds and run in a fraction of one.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use tinyprop::prelude::*;

/// Deterministic values in `[-1, 1)`.
struct Values(u64);

impl Values {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn check<T: Scalar, const IN: usize, const OUT: usize, const B: usize>() {
    let mut v = Values((IN * 10_000 + OUT * 100 + B) as u64);
    let mut layer = Dense::<T, IN, OUT>::default();
    for t in layer.tensors_mut() {
        t.iter_mut().for_each(|w| *w = T::of_f64(v.next()));
    }
    let x = SMatrix::<T, IN, B>::from_fn(|_, _| T::of_f64(v.next()));
    let dy0 = SMatrix::<T, OUT, B>::from_fn(|_, _| T::of_f64(v.next()));
    // Gradients start non-zero: backward accumulates.
    let mut grads = Dense::<T, IN, OUT>::default();
    for t in grads.tensors_mut() {
        t.iter_mut().for_each(|g| *g = T::of_f64(v.next()));
    }
    let grads0 = grads.clone();
    let mut y = SMatrix::<T, OUT, B>::zeros();
    layer.forward(&x, &mut y);
    let mut cache = y;
    let mut dy = dy0;
    let mut dx = SMatrix::<T, IN, B>::from_fn(|_, _| T::of_f64(v.next()));
    layer.backward(&x, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
    // Without dx (the first layer of a chain), the parameter gradients are the same.
    let mut again = grads0.clone();
    let mut dy = dy0;
    let mut cache = y;
    layer.backward(&x, &mut cache, &mut dy, None, Some(&mut again));
    assert_eq!(again, grads, "{IN}→{OUT} batch {B}: gradients without dx");
    // No bias: y = W x exactly as with the bias, without it.
    let no_bias = DenseNoBias::<T, IN, OUT> {
        weight: layer.weight,
        bias: Default::default(),
    };
    let mut y2 = SMatrix::<T, OUT, B>::zeros();
    no_bias.forward(&x, &mut y2);
    verify(
        (IN, OUT, B),
        &Dense1 {
            w: layer.weight.as_slice(),
            b: layer.bias.as_slice(),
            x: x.as_slice(),
            dy: dy0.as_slice(),
            y: y.as_slice(),
            y2: y2.as_slice(),
            dx: dx.as_slice(),
            dw0: grads0.weight.as_slice(),
            dw: grads.weight.as_slice(),
            db0: grads0.bias.as_slice(),
            db: grads.bias.as_slice(),
        },
    );
}

/// One [`check`]: the layer's parameters, input, output gradient and what forward and backward
/// gave, as nalgebra stores them (column by column).
struct Dense1<'a, T> {
    w: &'a [T],
    b: &'a [T],
    x: &'a [T],
    dy: &'a [T],
    y: &'a [T],
    y2: &'a [T],
    dx: &'a [T],
    dw0: &'a [T],
    dw: &'a [T],
    db0: &'a [T],
    db: &'a [T],
}

/// [`check`]'s results against the loops, for `IN`, `OUT` and `B` given at run time (compiled
/// once per scalar type rather than once per size).
fn verify<T: Scalar>((n_in, n_out, n_b): (usize, usize, usize), d: &Dense1<T>) {
    let name = format!("{} {n_in}→{n_out} batch {n_b}", core::any::type_name::<T>());
    let w = |o: usize, k: usize| d.w[k * n_out + o];
    let x = |k: usize, j: usize| d.x[j * n_in + k];
    let dy = |o: usize, j: usize| d.dy[j * n_out + o];
    // Forward: y = W x + b, summed over k in order, then the bias; without it, the same sum.
    for j in 0..n_b {
        for o in 0..n_out {
            let mut s = T::zero();
            for k in 0..n_in {
                s += w(o, k) * x(k, j);
            }
            assert_eq!(d.y2[j * n_out + o], s, "{name}: no bias y[{o}, {j}]");
            s += d.b[o];
            assert_eq!(d.y[j * n_out + o], s, "{name}: y[{o}, {j}]");
        }
    }
    // Backward: dW += dy xᵀ (over samples in order), db += Σ dy, dx = Wᵀ dy.
    for o in 0..n_out {
        for k in 0..n_in {
            let mut s = d.dw0[k * n_out + o];
            for j in 0..n_b {
                s += dy(o, j) * x(k, j);
            }
            assert_eq!(d.dw[k * n_out + o], s, "{name}: dW[{o}, {k}]");
        }
        let mut s = d.db0[o];
        for j in 0..n_b {
            s += dy(o, j);
        }
        assert_eq!(d.db[o], s, "{name}: db[{o}]");
    }
    for j in 0..n_b {
        for k in 0..n_in {
            let mut s = T::zero();
            let mut magnitude = T::zero();
            for o in 0..n_out {
                let term = w(o, k) * dy(o, j);
                s += term;
                magnitude += term.abs();
            }
            let tolerance = magnitude * T::default_epsilon() * T::of_f64(n_out as f64 + 1.0);
            let got = d.dx[j * n_in + k];
            let diff = (got - s).abs();
            assert!(
                diff <= tolerance,
                "{name}: dx[{k}, {j}] = {got} but the loop gives {s} (difference {diff})"
            );
        }
    }
}

/// Every pair of sizes with one batch size each (cycling through 1..=9), for one scalar type.
macro_rules! pairs {
    ($t:ty; $($i:literal $o:literal $b:literal),* $(,)?) => {
        $(check::<$t, $i, $o, $b>();)*
    };
}

/// All batches 1..=9 for one pair of sizes.
macro_rules! batches {
    ($t:ty, $i:literal, $o:literal) => {
        check::<$t, $i, $o, 1>();
        check::<$t, $i, $o, 2>();
        check::<$t, $i, $o, 3>();
        check::<$t, $i, $o, 4>();
        check::<$t, $i, $o, 5>();
        check::<$t, $i, $o, 6>();
        check::<$t, $i, $o, 7>();
        check::<$t, $i, $o, 8>();
        check::<$t, $i, $o, 9>();
    };
}

macro_rules! all_sizes {
    ($t:ty) => {
        pairs!($t;
            1 1 1, 1 3 2, 1 5 3, 1 7 4, 1 17 5, 1 33 6,
            3 1 7, 3 3 8, 3 5 9, 3 7 1, 3 17 2, 3 33 3,
            5 1 4, 5 3 5, 5 5 6, 5 7 7, 5 17 8, 5 33 9,
            7 1 1, 7 3 2, 7 5 3, 7 7 4, 7 17 5, 7 33 6,
            17 1 7, 17 3 8, 17 5 9, 17 7 1, 17 17 2, 17 33 3,
            33 1 4, 33 3 5, 33 5 6, 33 7 7, 33 17 8, 33 33 9,
        );
        batches!($t, 17, 33);
        batches!($t, 33, 7);
        batches!($t, 5, 17);
        // Larger: several panels of columns, full tiles, and the transposition in chunks of
        // 64 rows of the input gradient.
        pairs!($t; 64 40 32, 20 70 9, 300 17 8, 128 10 32, 9 130 4);
    };
}

#[test]
fn f32_kernels_match_loops() {
    all_sizes!(f32);
}

#[test]
fn f64_kernels_match_loops() {
    all_sizes!(f64);
}

/// The finiteness check of gradients reads many elements at once; it must still find a single
/// NaN or infinity anywhere, and accept every finite value.
#[test]
fn finite_check_finds_every_position() {
    fn check_len<const N: usize>() {
        let finite = [
            0.0,
            -0.0,
            1.0,
            -3.5,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
        ];
        let mut m = SMatrix::<f32, N, 1>::from_fn(|i, _| finite[i % finite.len()]);
        assert!(m.all_finite(), "{N}");
        for i in 0..N {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let keep = m[i];
                m[i] = bad;
                assert!(!m.all_finite(), "{N}: {bad} at {i}");
                m[i] = keep;
            }
        }
        let mut d =
            SMatrix::<f64, N, 1>::from_fn(|i, _| f64::MAX * if i % 2 == 0 { 1.0 } else { -1.0 });
        assert!(d.all_finite());
        d[N - 1] = f64::NAN;
        assert!(!d.all_finite());
    }
    check_len::<1>();
    check_len::<15>();
    check_len::<16>();
    check_len::<17>();
    check_len::<40>();
    check_len::<100>();
}
