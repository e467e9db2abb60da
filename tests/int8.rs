//! `tinyprop::quant`: TFLite's fixed-point arithmetic on known values and against exact
//! (128-bit) definitions, and the int8 layers against the LiteRT interpreter's reference
//! kernels on the models of `tests/data/tflite/` (written by `tools/tflite_int8.py`, whose
//! docstring describes the files): every output element of every input vector must be equal.

use std::path::{Path, PathBuf};

use tinyprop::quant::{
    conv_out_size, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_rounding as single, quantize_multiplier,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm, Activation,
    Float64Rounding, Multiplier, Padding, QAvgPool2d, QConv2d, QDense, QDepthwiseConv2d,
    QMaxPool2d, QPool2d, QPoolKind, Requantize, Rescale, Same, SingleRounding, Valid,
};
use tinyprop::{Error, SplitMix64};

// --- The fixed-point functions --------------------------------------------------------------

/// `a·b / 2^31` rounded to nearest, halves up, saturated: what gemmlowp's function computes.
fn srdhm_exact(a: i32, b: i32) -> i32 {
    let ab = i128::from(a) * i128::from(b);
    let r = (ab + (1 << 30)).div_euclid(1 << 31);
    r.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

/// `x / 2^e` rounded to nearest, halves away from zero.
fn rdbpot_exact(x: i32, e: i32) -> i32 {
    if e <= 0 {
        return x;
    }
    let half = 1i128 << (e - 1);
    let mag = (i128::from(x).abs() + half) >> e;
    (if x < 0 { -mag } else { mag }) as i32
}

/// A few values that reach the edges, then random ones.
fn samples(n: usize, seed: u64) -> Vec<i32> {
    let mut v = vec![
        0,
        1,
        -1,
        2,
        -2,
        3,
        -3,
        i32::MAX,
        i32::MIN,
        i32::MIN + 1,
        1 << 30,
        -(1 << 30),
        (1 << 30) + 1,
        1 << 16,
        -(1 << 16),
    ];
    let mut rng = SplitMix64::new(seed);
    while v.len() < n {
        let r = rand_i32(&mut rng);
        // Small magnitudes too, where rounding matters most.
        v.push(if v.len() % 2 == 0 {
            r
        } else {
            r >> (v.len() % 31)
        });
    }
    v
}

fn rand_i32(rng: &mut SplitMix64) -> i32 {
    (next_u64(rng) >> 32) as u32 as i32
}

fn next_u64(rng: &mut SplitMix64) -> u64 {
    use rand_core::RngCore;
    rng.next_u64()
}

#[test]
fn srdhm_known_values() {
    assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29); // 0.5 · 0.5 = 0.25
    assert_eq!(srdhm(-(1 << 30), 1 << 30), -(1 << 29));
    assert_eq!(srdhm(i32::MAX, i32::MAX), i32::MAX - 1); // (2^31 − 1)^2 / 2^31 = 2^31 − 2 + 2^-31
    assert_eq!(srdhm(i32::MIN, i32::MAX), -i32::MAX); // −(2^31 − 1)
    assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX); // the one overflow: saturated
                                                     // Halves round up, for negative products too: 1.5 → 2, −1.5 → −1, −2.5 → −2.
    assert_eq!(srdhm(3, 1 << 30), 2);
    assert_eq!(srdhm(-3, 1 << 30), -1);
    assert_eq!(srdhm(-5, 1 << 30), -2);
    assert_eq!(srdhm(5, 1 << 30), 3);
    // Just beyond a half rounds away from it.
    assert_eq!(srdhm(-3, (1 << 30) + 1), -2);
    assert_eq!(srdhm(1, 1), 0);
    assert_eq!(srdhm(-1, 1), 0);
}

#[test]
fn srdhm_matches_its_exact_definition() {
    let v = samples(400, 1);
    let mut n = 0;
    for &a in &v {
        for &b in &v {
            assert_eq!(srdhm(a, b), srdhm_exact(a, b), "srdhm({a}, {b})");
            n += 1;
        }
    }
    println!("saturating_rounding_doubling_high_mul: {n} pairs equal to the exact definition");
}

#[test]
fn rounding_divide_by_pot_known_values() {
    assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3
    assert_eq!(rounding_divide_by_pot(-5, 1), -3); // −2.5 → −3: away from zero
    assert_eq!(rounding_divide_by_pot(-3, 1), -2); // −1.5 → −2
    assert_eq!(rounding_divide_by_pot(-5, 2), -1); // −1.25 → −1
    assert_eq!(rounding_divide_by_pot(-6, 2), -2); // −1.5 → −2
    assert_eq!(rounding_divide_by_pot(-7, 2), -2); // −1.75 → −2
    assert_eq!(rounding_divide_by_pot(7, 0), 7);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1); // 0.99… → 1
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1); // exactly −1
    assert_eq!(rounding_divide_by_pot(i32::MIN, 32), -1); // −0.5 → −1
    assert_eq!(rounding_divide_by_pot(i32::MAX, 32), 0);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 40), 0);
    assert_eq!(rounding_divide_by_pot(i32::MIN, -3), i32::MIN);
}

#[test]
fn rounding_divide_by_pot_matches_its_exact_definition() {
    let v = samples(4000, 2);
    let mut n = 0;
    for &x in &v {
        for e in 0..=40 {
            assert_eq!(
                rounding_divide_by_pot(x, e),
                rdbpot_exact(x, e),
                "({x}, {e})"
            );
            n += 1;
        }
    }
    println!("rounding_divide_by_pot: {n} cases equal to the exact definition");
}

#[test]
fn quantize_multiplier_edge_cases() {
    let m = |multiplier, shift| Some(Multiplier { multiplier, shift });
    assert_eq!(quantize_multiplier(0.0), m(0, 0));
    assert_eq!(quantize_multiplier(-0.0), m(0, 0));
    assert_eq!(quantize_multiplier(0.5), m(1 << 30, 0));
    assert_eq!(quantize_multiplier(1.0), m(1 << 30, 1));
    assert_eq!(quantize_multiplier(0.25), m(1 << 30, -1));
    assert_eq!(quantize_multiplier(3.0), m(3 << 29, 2));
    assert_eq!(quantize_multiplier(-0.5), m(-(1 << 30), 0));
    // 0.1 = 0.8 · 2^−3; 0.8 · 2^31 = 1717986918.4 → 1717986918.
    assert_eq!(quantize_multiplier(0.1), m(1_717_986_918, -3));
    // A significand that rounds up to 2^31 becomes 2^30 with the next shift.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40)), m(1 << 30, 1));
    assert_eq!(quantize_multiplier(0.5 - 2f64.powi(-40)), m(1 << 30, 0));
    // Just below the rounding point it does not.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-31)), m(i32::MAX, 0));
    // Halves of the last unit round away from zero: (2^31 − 1.5)/2^31 → 2^31 − 1.
    assert_eq!(
        quantize_multiplier(1.0 - 1.5 * 2f64.powi(-31)),
        m(i32::MAX, 0)
    );
    assert_eq!(
        quantize_multiplier(1.0 - 2.5 * 2f64.powi(-31)),
        m(i32::MAX - 1, 0)
    );
    // A negative significand that rounds to −2^31 stays there (TFLite only halves +2^31).
    assert_eq!(quantize_multiplier(-(1.0 - 2f64.powi(-40))), m(i32::MIN, 0));
    // The smallest shift kept is −31; below, flushed to zero; subnormals too.
    assert_eq!(quantize_multiplier(2f64.powi(-32)), m(1 << 30, -31));
    assert_eq!(quantize_multiplier(2f64.powi(-33)), m(0, 0));
    assert_eq!(quantize_multiplier(f64::MIN_POSITIVE / 4.0), m(0, 0));
    // Large multipliers keep their shift (TFLite's default rounding does not cap it).
    assert_eq!(quantize_multiplier(2f64.powi(40)), m(1 << 30, 41));
    assert_eq!(quantize_multiplier(f64::NAN), None);
    assert_eq!(quantize_multiplier(f64::INFINITY), None);
    assert_eq!(quantize_multiplier(f64::NEG_INFINITY), None);
}

#[test]
fn quantize_multiplier_is_frexp_and_round() {
    let mut rng = SplitMix64::new(3);
    for _ in 0..100_000 {
        // Reals from 2^−40 to 2^20, the usual ones (1e−5 … 1) most often.
        let e = (next_u64(&mut rng) % 61) as i32 - 40;
        let f = 1.0 + (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64;
        let real = f * 2f64.powi(e);
        let m = quantize_multiplier(real).unwrap();
        if e + 1 < -31 {
            assert_eq!(m, Multiplier::default(), "{real}");
            continue;
        }
        // frexp: real = q · 2^(e+1), q = f/2; multiplier = round(q · 2^31).
        let q_fixed = (f / 2.0 * 2f64.powi(31)).round() as i64;
        let (q_fixed, shift) = if q_fixed == 1 << 31 {
            (q_fixed / 2, e + 2)
        } else {
            (q_fixed, e + 1)
        };
        assert_eq!(
            m,
            Multiplier {
                multiplier: q_fixed as i32,
                shift
            },
            "{real}"
        );
        assert!((1 << 30..=i32::MAX).contains(&m.multiplier));
    }
}

#[test]
fn multiply_by_quantized_multiplier_known_values() {
    let m = Multiplier::from_real(0.1).unwrap();
    assert_eq!(
        multiply_by_quantized_multiplier(125, m.multiplier, m.shift),
        13
    ); // 12.5
    assert_eq!(
        multiply_by_quantized_multiplier(-125, m.multiplier, m.shift),
        -13
    );
    assert_eq!(
        multiply_by_quantized_multiplier(-124, m.multiplier, m.shift),
        -12
    );
    assert_eq!(
        multiply_by_quantized_multiplier(0, m.multiplier, m.shift),
        0
    );
    // Two roundings, as TFLite's default build does: −0.375 · 3 = −1.125, but the high
    // multiply rounds −3 · 0.75 = −2.25 to −2 first, then −2 / 2 = −1 exactly.
    let m = Multiplier::from_real(0.375).unwrap(); // 0.75 · 2^−1
    assert_eq!((m.multiplier, m.shift), (3 << 29, -1));
    assert_eq!(m.apply(-3), -1);
    // −5 · 0.375 = −1.875: −3.75 → −4 (high multiply), −4 / 2 = −2.
    assert_eq!(m.apply(-5), -2);
    // −1 · 0.375: −0.75 → −1, then −0.5 → −1 (away from zero); the exact product rounds to 0.
    assert_eq!(m.apply(-1), -1);
    assert_eq!(m.apply(1), 1);
    // Multipliers above 1 shift left first.
    let m = Multiplier::from_real(3.0).unwrap();
    assert_eq!(m.apply(1000), 3000);
    assert_eq!(m.apply(-1000), -3000);
    // Saturation: i32::MIN times a multiplier of 1 (2^31 · 2^−31, held as i32::MIN·(−1)…).
    assert_eq!(
        multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0),
        i32::MAX
    );
    assert_eq!(
        multiply_by_quantized_multiplier(i32::MAX, i32::MAX, 0),
        i32::MAX - 1
    );
    // The left shift wraps as two's-complement multiplication does; 32 and more gives 0.
    assert_eq!(
        multiply_by_quantized_multiplier(1 << 29, 1 << 30, 2),
        -(1 << 30)
    ); // 2^31 wraps
    assert_eq!(multiply_by_quantized_multiplier(12345, 1 << 30, 40), 0);
    // A shift below −31 (not produced by quantize_multiplier) still rounds correctly.
    assert_eq!(multiply_by_quantized_multiplier(i32::MAX, i32::MAX, -40), 0);
}

#[test]
fn multiply_by_quantized_multiplier_matches_its_definition() {
    let xs = samples(3000, 4);
    let mut rng = SplitMix64::new(5);
    let mut n = 0;
    for _ in 0..200 {
        let real = 2f64.powi((next_u64(&mut rng) % 40) as i32 - 32)
            * (1.0 + (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64);
        let m = quantize_multiplier(real).unwrap();
        for &x in &xs {
            let left = m.shift.max(0);
            let shifted = (i64::from(x) << left) as i32; // wrapping, as in TFLite
            let want = rdbpot_exact(srdhm_exact(shifted, m.multiplier), (-m.shift).max(0));
            assert_eq!(m.apply(x), want, "{x} · {real}");
            n += 1;
        }
    }
    println!("multiply_by_quantized_multiplier: {n} cases equal to the exact definition");
}

/// `x · multiplier · 2^(shift − 31)` rounded once, halves up, saturated.
fn single_exact(x: i32, multiplier: i32, shift: i32) -> i32 {
    let total = 31 - shift;
    let p = i128::from(x) * i128::from(multiplier);
    let r = (p + (1i128 << (total - 1))).div_euclid(1i128 << total);
    r.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

#[test]
fn single_rounding_known_values_and_definition() {
    let m = Multiplier::from_real(0.375).unwrap();
    assert_eq!(single(-1, m.multiplier, m.shift), 0); // −0.375
    assert_eq!(single(-3, m.multiplier, m.shift), -1); // −1.125
    assert_eq!(single(-4, m.multiplier, m.shift), -1); // −1.5: halves up
    assert_eq!(single(4, m.multiplier, m.shift), 2); // 1.5
    assert_eq!(single(-5, m.multiplier, m.shift), -2); // −1.875
    assert_eq!(single(i32::MIN, i32::MIN, 0), i32::MAX); // 2^31 saturates
    assert_eq!(single(i32::MIN, i32::MIN, -31), 1); // exactly 1/2 → 1
    assert_eq!(single(i32::MIN, i32::MIN, -40), 0);
    // Shifts above 30 are capped as TFLite's single-rounding QuantizeMultiplier caps them.
    assert_eq!(single(1, 1 << 30, 40), single(1, i32::MAX, 30));
    let xs = samples(3000, 6);
    let mut rng = SplitMix64::new(7);
    let mut n = 0;
    for _ in 0..200 {
        let real = 2f64.powi((next_u64(&mut rng) % 60) as i32 - 40)
            * (1.0 + (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64);
        let m = quantize_multiplier(real).unwrap();
        for &x in &xs {
            assert_eq!(
                single(x, m.multiplier, m.shift),
                single_exact(x, m.multiplier, m.shift)
            );
            n += 1;
        }
    }
    println!("multiply_by_quantized_multiplier_single_rounding: {n} cases equal to the definition");
}

/// `Float64Rounding` is C's `(int32_t)round((double)acc * real)`, with integers only.
#[test]
fn float64_rounding_is_the_double_precision_product_rounded() {
    let mut rng = SplitMix64::new(9);
    let accs = samples(2000, 10);
    let mut n = 0;
    for i in 0..500 {
        let mut real = 2f64.powi((next_u64(&mut rng) % 70) as i32 - 50)
            * (1.0 + (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64);
        if i % 5 == 0 {
            real = -real;
        }
        if i % 7 == 0 {
            // Short mantissas: exact halves and ties of the double product occur.
            real = ((next_u64(&mut rng) % 64) as f64 + 0.5) * 2f64.powi(-(i % 9));
        }
        let m = Float64Rounding::new(real).unwrap();
        for &acc in &accs {
            let want = (f64::from(acc) * real).round();
            if want.abs() < 2e9 {
                assert_eq!(m.apply(acc), want as i32, "{acc} · {real}");
                n += 1;
            }
        }
    }
    // Ties of the double-precision product: 2^53 + 1 is not a double, it rounds to even.
    let m = Float64Rounding::new(2f64.powi(-30)).unwrap();
    assert_eq!(m.apply(3), 0);
    assert_eq!(Float64Rounding::new(0.5).unwrap().apply(-5), -3); // −2.5: away from zero
    assert_eq!(Float64Rounding::new(0.5).unwrap().apply(5), 3);
    assert_eq!(Float64Rounding::new(1e30).unwrap().apply(-2), i32::MIN); // saturated
    assert_eq!(Float64Rounding::new(1e30).unwrap().apply(2), i32::MAX);
    assert_eq!(
        Float64Rounding::new(f64::MIN_POSITIVE / 8.0)
            .unwrap()
            .apply(i32::MAX),
        0
    );
    assert_eq!(Float64Rounding::new(f64::NAN), None);
    println!("Float64Rounding: {n} products equal to the double-precision computation");
}

#[test]
fn activation_ranges_and_invalid_parameters() {
    assert_eq!(Activation::None.range(0.05, 10), (-128, 127));
    assert_eq!(Activation::Relu.range(0.05, 10), (10, 127));
    assert_eq!(Activation::Relu.range(0.05, -128), (-128, 127));
    assert_eq!(Activation::Relu6.range(0.05, -128), (-128, -8)); // 6 / 0.05 = 120
    assert_eq!(Activation::Relu6.range(0.01, 0), (0, 127)); // 600 clamps
    assert_eq!(Activation::ReluN1To1.range(0.4, 0), (-3, 3)); // ±2.5 → ±3, away from zero
    assert_eq!(Activation::ReluN1To1.range(0.4, 127), (124, 127));
    let ok = Requantize::<3>::new(0.5, &[0.25], 0.125, -3, Activation::Relu).unwrap();
    assert_eq!(ok.multipliers, [Multiplier::from_real(1.0).unwrap(); 3]);
    assert_eq!((ok.zero_point, ok.min, ok.max), (-3, -3, 127));
    let bad = |r: Result<Requantize<3>, Error>, what: &str| {
        assert_eq!(
            r,
            Err(Error::InvalidQuantization(match what {
                "i" => "input scale",
                "o" => "output scale",
                "z" => "output zero point",
                "n" => "number of weight scales",
                _ => "weight scale",
            }))
        );
    };
    let a = Activation::None;
    bad(Requantize::new(0.0, &[1.0], 1.0, 0, a), "i");
    bad(Requantize::new(f32::NAN, &[1.0], 1.0, 0, a), "i");
    bad(Requantize::new(1.0, &[1.0], -1.0, 0, a), "o");
    bad(Requantize::new(1.0, &[1.0], f32::INFINITY, 0, a), "o");
    bad(Requantize::new(1.0, &[1.0], 1.0, 128, a), "z");
    bad(Requantize::new(1.0, &[1.0], 1.0, -129, a), "z");
    bad(Requantize::new(1.0, &[1.0; 2], 1.0, 0, a), "n");
    bad(Requantize::new(1.0, &[], 1.0, 0, a), "n");
    bad(Requantize::new(1.0, &[1.0, 0.0, 1.0], 1.0, 0, a), "w");
    bad(Requantize::new(1.0, &[1.0, 1.0, -2.0], 1.0, 0, a), "w");
}

#[test]
fn out_of_range_fields_still_give_int8() {
    // Public fields set by hand to nonsense: the output is still clamped to int8, no panic.
    let mut layer = QDense::<2, 2>::new(
        [[127, 127], [-128, -128]],
        [i32::MAX, i32::MIN],
        -128,
        Requantize::new(1.0, &[1.0], 1.0, 0, Activation::None).unwrap(),
    );
    layer.output.min = 1000;
    layer.output.max = -1000;
    layer.output.zero_point = i32::MAX;
    let mut y = [0; 2];
    layer.forward(&[127, 127], &mut y);
    assert!(y.iter().all(|&v| v == -128 || v == 127));
}

// --- The models converted by TensorFlow, run by LiteRT ---------------------------------------

/// One operator of a model file.
#[derive(Debug, Default)]
pub(crate) struct Op {
    pub(crate) kind: String,
    pub(crate) activation: String,
    pub(crate) input_shape: Vec<usize>,
    pub(crate) output_shape: Vec<usize>,
    pub(crate) weight_shape: Vec<usize>,
    pub(crate) stride: Vec<usize>,
    pub(crate) padding: Vec<usize>,
    pub(crate) depth_multiplier: usize,
    pub(crate) filter: Vec<usize>,
    pub(crate) weight_scales: Vec<f32>,
    pub(crate) weight_zero_points: Vec<i32>,
    pub(crate) weights: Vec<i8>,
    pub(crate) bias: Vec<i32>,
    pub(crate) output_scale: f32,
    pub(crate) output_zero_point: i32,
}

/// A model file and its expected outputs.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) name: String,
    pub(crate) vectors: usize,
    pub(crate) seed: u64,
    pub(crate) input_scale: f32,
    pub(crate) input_zero_point: i32,
    pub(crate) ops: Vec<Op>,
    pub(crate) x0: Vec<i8>,
    pub(crate) y0: Vec<i8>,
    pub(crate) outputs: Vec<i8>,
}

pub(crate) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tflite")
}

fn nums<T: std::str::FromStr>(v: &[&str]) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    v.iter().map(|s| s.parse().unwrap()).collect()
}

pub(crate) fn load(name: &str) -> Model {
    let text = std::fs::read_to_string(dir().join(format!("{name}.txt"))).unwrap();
    let mut m = Model::default();
    let mut op: Option<Op> = None;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (key, v) = (words[0], &words[1..]);
        if let Some(o) = op.as_mut() {
            match key {
                "activation" => o.activation = v[0].to_string(),
                "input_shape" => o.input_shape = nums(v),
                "output_shape" => o.output_shape = nums(v),
                "weight_shape" => o.weight_shape = nums(v),
                "stride" => o.stride = nums(v),
                "padding" => o.padding = nums(v),
                "depth_multiplier" => o.depth_multiplier = v[0].parse().unwrap(),
                "filter" => o.filter = nums(v),
                "weight_scales" => o.weight_scales = nums(v),
                "weight_zero_points" => o.weight_zero_points = nums(v),
                "weights" => o.weights = nums(v),
                "bias" => o.bias = nums(v),
                "output_scale" => o.output_scale = v[0].parse().unwrap(),
                "output_zero_point" => o.output_zero_point = v[0].parse().unwrap(),
                "end" => m.ops.push(op.take().unwrap()),
                _ => panic!("{name}: unknown key {key} in an op"),
            }
            continue;
        }
        match key {
            "model" => m.name = v[0].to_string(),
            "vectors" => m.vectors = v[0].parse().unwrap(),
            "seed" => m.seed = v[0].parse().unwrap(),
            "input_scale" => m.input_scale = v[0].parse().unwrap(),
            "input_zero_point" => m.input_zero_point = v[0].parse().unwrap(),
            "op" => {
                op = Some(Op {
                    kind: v[0].to_string(),
                    ..Op::default()
                })
            }
            "x0" => m.x0 = nums(v),
            "y0" => m.y0 = nums(v),
            _ => panic!("{name}: unknown key {key}"),
        }
    }
    assert_eq!(m.name, name);
    assert!(op.is_none(), "{name}: an op without its end");
    let bytes = std::fs::read(dir().join(format!("{name}.out"))).unwrap();
    m.outputs = bytes.into_iter().map(|b| b as i8).collect();
    m
}

/// The model's input vectors: the top bytes of SplitMix64's outputs (as the script's).
pub(crate) fn inputs(seed: u64, n: usize, width: usize) -> Vec<i8> {
    let mut state = seed;
    (0..n * width)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 56) as u8 as i8
        })
        .collect()
}

fn activation(name: &str) -> Activation {
    match name {
        "none" => Activation::None,
        "relu" => Activation::Relu,
        "relu6" => Activation::Relu6,
        _ => panic!("activation {name}"),
    }
}

/// The requantization of `op`, whose input has this scale.
fn requantize<const O: usize, M: Rescale>(op: &Op, input_scale: f32) -> Requantize<O, M> {
    assert!(
        op.weight_zero_points.iter().all(|&z| z == 0),
        "symmetric weights"
    );
    Requantize::new(
        input_scale,
        &op.weight_scales,
        op.output_scale,
        op.output_zero_point,
        activation(&op.activation),
    )
    .unwrap()
}

fn fill<const N: usize>(dst: &mut [i8], src: &[i8]) {
    assert_eq!(dst.len(), src.len());
    dst.copy_from_slice(src);
}

fn bias<const O: usize>(op: &Op) -> [i32; O] {
    op.bias.as_slice().try_into().unwrap()
}

pub(crate) fn dense<const I: usize, const O: usize, M: Rescale>(
    op: &Op,
    scale: f32,
    zero_point: i32,
) -> QDense<I, O, M> {
    assert_eq!(op.kind, "fully_connected");
    assert_eq!(
        (op.input_shape.as_slice(), op.output_shape.as_slice()),
        (&[I][..], &[O][..])
    );
    assert_eq!(op.weight_shape, [O, I]);
    let mut w = [[0i8; I]; O];
    fill::<0>(w.as_flattened_mut(), &op.weights);
    QDense::new(w, bias(op), zero_point, requantize(op, scale))
}

/// Checks the sizes of a convolution against the file's.
fn check_geometry<Pd: Padding>(
    op: &Op,
    c: usize,
    o: usize,
    k: usize,
    h: usize,
    w: usize,
    s: usize,
) {
    assert_eq!(op.input_shape, [h, w, c]);
    let same = std::any::type_name::<Pd>().ends_with("Same");
    let (oh, ow) = (conv_out_size(h, k, s, same), conv_out_size(w, k, s, same));
    assert_eq!(op.output_shape, [oh, ow, o]);
    assert_eq!(op.stride, [s, s]);
    if !same {
        assert_eq!(op.padding, [0, 0]);
    }
}

pub(crate) fn conv<
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd: Padding,
    M: Rescale,
>(
    op: &Op,
    scale: f32,
    zero_point: i32,
) -> QConv2d<C, O, K, H, W, NOUT, S, Pd, M> {
    assert_eq!(op.kind, "conv_2d");
    check_geometry::<Pd>(op, C, O, K, H, W, S);
    assert_eq!(op.weight_shape, [O, K, K, C]);
    let mut wt = [[[[0i8; C]; K]; K]; O];
    fill::<0>(
        wt.as_flattened_mut().as_flattened_mut().as_flattened_mut(),
        &op.weights,
    );
    QConv2d::new(wt, bias(op), zero_point, requantize(op, scale))
}

pub(crate) fn depthwise<
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd: Padding,
    M: Rescale,
>(
    op: &Op,
    scale: f32,
    zero_point: i32,
) -> QDepthwiseConv2d<C, O, K, H, W, NOUT, S, Pd, M> {
    assert_eq!(op.kind, "depthwise_conv_2d");
    check_geometry::<Pd>(op, C, O, K, H, W, S);
    assert_eq!(op.weight_shape, [1, K, K, O]);
    assert_eq!(op.depth_multiplier, O / C);
    let mut wt = [[[0i8; O]; K]; K];
    fill::<0>(wt.as_flattened_mut().as_flattened_mut(), &op.weights);
    QDepthwiseConv2d::new(wt, bias(op), zero_point, requantize(op, scale))
}

/// Runs `run` on every input vector of `model`, counts the output elements that differ from
/// LiteRT's and prints the count; asserts there are none if `exact`.
pub(crate) fn compare<const NIN: usize, const NOUT: usize>(
    model: &Model,
    rescale: &str,
    exact: bool,
    run: impl FnMut(&[i8; NIN], &mut [i8; NOUT]),
) {
    let (differing, vectors_differing) = count_differing(model, run);
    println!(
        "{}: {} vectors, {} output elements compared with LiteRT's reference kernels \
         ({rescale}): {differing} differing ({vectors_differing} vectors)",
        model.name,
        model.vectors,
        model.vectors * NOUT
    );
    if exact {
        assert_eq!(differing, 0, "{} with {rescale}", model.name);
    }
}

/// The output elements, and vectors, of `model` that `run` computes otherwise than LiteRT.
pub(crate) fn count_differing<const NIN: usize, const NOUT: usize>(
    model: &Model,
    mut run: impl FnMut(&[i8; NIN], &mut [i8; NOUT]),
) -> (usize, usize) {
    let xs = inputs(model.seed, model.vectors, NIN);
    assert_eq!(&xs[..NIN], model.x0.as_slice(), "the input generator");
    assert_eq!(&model.outputs[..NOUT], model.y0.as_slice());
    assert_eq!(model.outputs.len(), model.vectors * NOUT);
    assert!(model.vectors >= 1000);
    let (mut differing, mut vectors_differing) = (0, 0);
    for (x, want) in xs.chunks_exact(NIN).zip(model.outputs.chunks_exact(NOUT)) {
        let mut y = [0i8; NOUT];
        run(x.try_into().unwrap(), &mut y);
        let d = y.iter().zip(want).filter(|(a, b)| a != b).count();
        differing += d;
        vectors_differing += usize::from(d > 0);
    }
    (differing, vectors_differing)
}

/// The models of `tests/data/tflite/`: each is checked by a test below.
pub(crate) const MODELS: [&str; 8] = [
    "fc_16_8_relu",
    "conv_8x8x2_4_relu",
    "dwconv_6x6x2_m2_relu6",
    "conv_9x9x3_2_s2_valid",
    "mlp_64_32_10",
    "maxpool_8x8x3_2",
    "avgpool_7x7x2_3_s2_same",
    "fc_24_12_relu6_per_tensor",
];

/// LiteRT's reference fully connected kernel computes `round(acc · real)` in double precision
/// (C's `round`: halves away from zero). Single rounding with TFLite's 31-bit multiplier is
/// the same on the test models' data; here, on many more accumulators, with the multipliers
/// of the test models' fully connected layers, how often they differ (and that they differ
/// only next to a half).
#[test]
fn single_rounding_against_litert_floating_point_fully_connected() {
    let mut reals = vec![];
    for name in ["fc_16_8_relu", "mlp_64_32_10"] {
        let m = load(name);
        let mut input_scale = m.input_scale;
        for op in &m.ops {
            for &w in &op.weight_scales {
                reals.push(f64::from(input_scale) * f64::from(w) / f64::from(op.output_scale));
            }
            input_scale = op.output_scale;
        }
    }
    let mut rng = SplitMix64::new(8);
    let (mut n, mut single_differs, mut double_differs) = (0u64, 0u64, 0u64);
    for &real in &reals {
        let m = quantize_multiplier(real).unwrap();
        // Accumulators whose outputs are within ±300 of the zero point, and a few large ones.
        let span = (300.0 / real) as i64;
        for i in 0..100_000 {
            let acc = if i % 100 == 0 {
                rand_i32(&mut rng)
            } else {
                ((next_u64(&mut rng) % (2 * span as u64 + 1)) as i64 - span) as i32
            };
            let float = (f64::from(acc) * real).round();
            let float = float.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
            assert_eq!(
                Float64Rounding::new(real).unwrap().apply(acc),
                float,
                "{acc}·{real}"
            );
            let s = single(acc, m.multiplier, m.shift);
            if s != float {
                single_differs += 1;
                let exact = f64::from(acc) * real;
                assert!(
                    (exact.abs().fract() - 0.5).abs() < 1e-6 * exact.abs().max(1.0),
                    "{acc}·{real}"
                );
            }
            double_differs += u64::from(m.apply(acc) != float);
            n += 1;
        }
    }
    println!(
        "LiteRT's floating-point fully connected rounding vs tinyprop's fixed point, {n} \
         accumulators over {} channels: {single_differs} differ with Single rounding, \
         {double_differs} with Double",
        reals.len()
    );
    assert!(
        single_differs * 10_000 <= n,
        "Single rounding differs on more than 0.01 %"
    );
}

#[test]
fn every_model_file_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|f| f.strip_suffix(".txt").map(str::to_string))
        .collect();
    found.sort();
    let mut known: Vec<String> = MODELS.iter().map(|s| s.to_string()).collect();
    known.sort();
    assert_eq!(found, known);
    for name in MODELS {
        assert!(
            dir().join(format!("{name}.tflite")).exists(),
            "{name}.tflite"
        );
    }
}

#[test]
fn litert_fully_connected_16_8_relu() {
    let m = load("fc_16_8_relu");
    assert_eq!(m.ops.len(), 1);
    let (op, scale, zp) = (&m.ops[0], m.input_scale, m.input_zero_point);
    let exact = dense::<16, 8, Float64Rounding>(op, scale, zp);
    compare(&m, "Float64Rounding", true, |x, y| exact.forward(x, y));
    let single = dense::<16, 8, SingleRounding>(op, scale, zp);
    compare(&m, "SingleRounding", true, |x, y| single.forward(x, y));
    let double = dense::<16, 8, Multiplier>(op, scale, zp);
    compare(&m, "Multiplier", false, |x, y| double.forward(x, y));
}

/// A fully connected layer whose weights have one scale (the converter's option): LiteRT's
/// per-tensor reference kernel, also in double precision.
#[test]
fn litert_fully_connected_24_12_relu6_per_tensor() {
    let m = load("fc_24_12_relu6_per_tensor");
    assert_eq!(m.ops.len(), 1);
    let (op, scale, zp) = (&m.ops[0], m.input_scale, m.input_zero_point);
    assert_eq!(
        (op.weight_scales.len(), op.activation.as_str()),
        (1, "relu6")
    );
    let exact = dense::<24, 12, Float64Rounding>(op, scale, zp);
    assert!(exact
        .output
        .multipliers
        .iter()
        .all(|&m| m == exact.output.multipliers[0]));
    compare(&m, "Float64Rounding", true, |x, y| exact.forward(x, y));
    let single = dense::<24, 12, SingleRounding>(op, scale, zp);
    compare(&m, "SingleRounding", false, |x, y| single.forward(x, y));
    let double = dense::<24, 12, Multiplier>(op, scale, zp);
    compare(&m, "Multiplier", false, |x, y| double.forward(x, y));
}

fn mlp<M: Rescale>(m: &Model) -> impl Fn(&[i8; 64], &mut [i8; 10]) {
    let l1 = dense::<64, 32, M>(&m.ops[0], m.input_scale, m.input_zero_point);
    let l2 = dense::<32, 10, M>(&m.ops[1], m.ops[0].output_scale, m.ops[0].output_zero_point);
    move |x, y| {
        let mut h = [0i8; 32];
        l1.forward(x, &mut h);
        l2.forward(&h, y);
    }
}

#[test]
fn litert_mlp_64_32_10() {
    let m = load("mlp_64_32_10");
    assert_eq!(m.ops.len(), 2);
    compare(&m, "Float64Rounding", true, mlp::<Float64Rounding>(&m));
    compare(&m, "SingleRounding", true, mlp::<SingleRounding>(&m));
    compare(&m, "Multiplier", false, mlp::<Multiplier>(&m));
}

#[test]
fn litert_conv_8x8x2_4_same_relu() {
    let m = load("conv_8x8x2_4_relu");
    assert_eq!(m.ops.len(), 1);
    assert_eq!(m.ops[0].padding, [1, 1]);
    let (op, scale, zp) = (&m.ops[0], m.input_scale, m.input_zero_point);
    let layer = conv::<2, 4, 3, 8, 8, 256, 1, Same, Multiplier>(op, scale, zp);
    compare::<128, 256>(&m, "Multiplier", true, |x, y| layer.forward(x, y));
    let single = conv::<2, 4, 3, 8, 8, 256, 1, Same, SingleRounding>(op, scale, zp);
    compare::<128, 256>(&m, "SingleRounding", false, |x, y| single.forward(x, y));
}

#[test]
fn litert_depthwise_6x6x2_m2_same_relu6() {
    let m = load("dwconv_6x6x2_m2_relu6");
    assert_eq!(m.ops.len(), 1);
    assert_eq!(m.ops[0].padding, [1, 1]);
    let (op, scale, zp) = (&m.ops[0], m.input_scale, m.input_zero_point);
    let layer = depthwise::<2, 4, 3, 6, 6, 144, 1, Same, Multiplier>(op, scale, zp);
    compare::<72, 144>(&m, "Multiplier", true, |x, y| layer.forward(x, y));
    let single = depthwise::<2, 4, 3, 6, 6, 144, 1, Same, SingleRounding>(op, scale, zp);
    compare::<72, 144>(&m, "SingleRounding", false, |x, y| single.forward(x, y));
}

#[test]
fn litert_conv_9x9x3_2_stride2_valid() {
    let m = load("conv_9x9x3_2_s2_valid");
    assert_eq!(m.ops.len(), 1);
    let (op, scale, zp) = (&m.ops[0], m.input_scale, m.input_zero_point);
    let layer = conv::<3, 2, 3, 9, 9, 32, 2, Valid, Multiplier>(op, scale, zp);
    compare::<243, 32>(&m, "Multiplier", true, |x, y| layer.forward(x, y));
    let single = conv::<3, 2, 3, 9, 9, 32, 2, Valid, SingleRounding>(op, scale, zp);
    compare::<243, 32>(&m, "SingleRounding", false, |x, y| single.forward(x, y));
}

pub(crate) fn pool<
    Kind: QPoolKind,
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd: Padding,
>(
    m: &Model,
) -> QPool2d<Kind, C, K, H, W, NOUT, S, Pd> {
    assert_eq!(m.ops.len(), 1);
    let op = &m.ops[0];
    check_geometry::<Pd>(op, C, C, K, H, W, S);
    assert_eq!(op.filter, [K, K]);
    assert_eq!(
        (op.output_scale, op.output_zero_point),
        (m.input_scale, m.input_zero_point)
    );
    QPool2d::new(
        activation(&op.activation),
        op.output_scale,
        op.output_zero_point,
    )
}

#[test]
fn litert_max_pool_8x8x3_2() {
    let m = load("maxpool_8x8x3_2");
    assert_eq!(m.ops[0].kind, "max_pool_2d");
    let layer: QMaxPool2d<3, 2, 8, 8, 48, 2, Valid> = pool(&m);
    compare::<192, 48>(&m, "max pool", true, |x, y| layer.forward(x, y));
}

#[test]
fn litert_average_pool_7x7x2_3_stride2_same() {
    let m = load("avgpool_7x7x2_3_s2_same");
    assert_eq!(m.ops[0].kind, "average_pool_2d");
    assert_eq!(m.ops[0].padding, [1, 1]);
    let layer: QAvgPool2d<2, 3, 7, 7, 32, 2, Same> = pool(&m);
    compare::<98, 32>(&m, "average pool", true, |x, y| layer.forward(x, y));
}
