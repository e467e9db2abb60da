//! safetensors files (`tinyprop::io::safetensors`): round trips of every layer kind and of
//! optimizer states in every precision; each way a file can be wrong, as its own error, with
//! nothing changed; the `safetensors` crate reading our files and we reading its files; models
//! trained and saved by PyTorch loading here with PyTorch's logits; models trained here
//! loading into PyTorch (`tools/torch_models.py` checked them; its verdict is committed).

// Tests may panic: an assertion, or a slice copy that panics on a mistake, is what a test wants.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::fmt::Write as _;
use std::path::PathBuf;

use rand_core::RngCore;
use tinyprop::io::safetensors::{self as st, Dtype, SafeTensors};
use tinyprop::io::StateDict;
use tinyprop::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, RmsProp, RmsPropConfig, SgdConfig,
};
use tinyprop::prelude::*;

// --- Helpers ---------------------------------------------------------------------------------

fn data_path(name: &str) -> PathBuf {
    crate::repo_root().join("tests/data").join(name)
}

/// Every tensor of `model`: name, shape, values as f64 in PyTorch's row-major order (counters
/// as one value).
fn tensors<T: Scalar, M: StateDict<T>>(model: &M) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let mut out = Vec::new();
    model
        .for_each_tensor(|info, values| {
            let dims = info.shape.dims().to_vec();
            let v = match values {
                tinyprop::io::Values::Float(v) => {
                    let v: Vec<f64> = v.iter().map(|x| x.as_f64()).collect();
                    match info.layout {
                        tinyprop::io::Layout::RowMajor => v,
                        tinyprop::io::Layout::ColumnMajor => {
                            let (r, c) = (dims[0], dims[1]);
                            (0..r * c).map(|k| v[k / c + (k % c) * r]).collect()
                        }
                    }
                }
                tinyprop::io::Values::Count(n) => vec![f64::from(n)],
            };
            out.push((info.name.to_string(), dims, v));
            Ok(())
        })
        .unwrap();
    out
}

fn save_vec<T: Scalar, M: StateDict<T>>(model: &M, dtype: Dtype) -> Vec<u8> {
    let len = st::saved_len(model, dtype).unwrap();
    // Bytes past the file must stay as they were.
    let mut out = vec![0xA5u8; len + 16];
    assert_eq!(st::save(model, dtype, &mut out).unwrap(), len);
    assert!(out[len..].iter().all(|&b| b == 0xA5));
    out.truncate(len);
    out
}

/// A file of `header` (padded with spaces to 8 bytes) and `data`.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

fn fill_random<T: Scalar, M: Parameters<T>>(model: &mut M, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for t in model.tensors_mut() {
        for v in t {
            *v = T::of_f64(2.0 * tinyprop::rng::unit_f64(&mut rng) - 1.0);
        }
    }
}

/// `|a − b| / max(|a|, |b|)`, 0 when both are 0.
fn rel(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

// --- Models ------------------------------------------------------------------------------------

/// Every layer kind, a nested tuple and both residual blocks.
type Every<T> = (
    Dense<T, 3, 5>,
    BatchNorm<T, 5>,
    Relu,
    (LayerNorm<T, 5>, Tanh, Dense<T, 5, 4>),
    Residual<(Dense<T, 4, 4>, Sigmoid, DenseNoBias<T, 4, 4>)>,
    ResidualProjection<(Dense<T, 4, 6>, LeakyRelu<T>, Dense<T, 6, 6>), DenseNoBias<T, 4, 6>>,
    Dropout<T>,
    Identity,
    Dense<T, 6, 2>,
    Softmax,
);

fn every<T: Scalar>(seed: u64) -> Every<T> {
    let mut m: Every<T> = Default::default();
    fill_random(&mut m, seed);
    let mut rng = SplitMix64::new(seed ^ 0xBEEF);
    for v in m.1.running_mean.iter_mut() {
        *v = T::of_f64(tinyprop::rng::unit_f64(&mut rng) - 0.5);
    }
    for v in m.1.running_var.iter_mut() {
        *v = T::of_f64(0.5 + tinyprop::rng::unit_f64(&mut rng));
    }
    m.1.num_batches_tracked = 123_456;
    m
}

type Mlp<T> = (Dense<T, 4, 8>, Tanh, Dense<T, 8, 3>);
type BnMlp<T> = (Dense<T, 4, 8>, BatchNorm<T, 8>, Relu, Dense<T, 8, 3>);
type ResidualMlp<T> = (
    Dense<T, 4, 8>,
    Relu,
    Residual<(Dense<T, 8, 8>, Tanh, Dense<T, 8, 8>)>,
    ResidualProjection<(Dense<T, 8, 6>, Relu, Dense<T, 6, 6>), DenseNoBias<T, 8, 6>>,
    Dense<T, 6, 3>,
);
const SAMPLES: usize = 6;
type Inputs<T> = SMatrix<T, 4, SAMPLES>;
type Logits<T> = SMatrix<T, 3, SAMPLES>;

// --- Round trips ---------------------------------------------------------------------------

#[test]
fn every_layer_round_trips_in_its_own_precision() {
    let m64 = every::<f64>(1);
    let bytes = save_vec(&m64, Dtype::F64);
    let mut back = Every::<f64>::default();
    st::load(&mut back, &bytes).unwrap();
    assert_eq!(back, m64);
    assert_eq!(back.1.num_batches_tracked, 123_456);

    let m32 = every::<f32>(2);
    let bytes = save_vec(&m32, Dtype::F32);
    let mut back = Every::<f32>::default();
    st::load(&mut back, &bytes).unwrap();
    assert_eq!(back, m32);
}

#[test]
fn every_layer_loads_across_precisions() {
    let m64 = every::<f64>(3);
    let want = tensors(&m64);
    // F64 file into an f32 model: each value rounded once.
    let mut m32 = Every::<f32>::default();
    st::load(&mut m32, &save_vec(&m64, Dtype::F64)).unwrap();
    for ((n, _, a), (_, _, b)) in tensors(&m32).iter().zip(&want) {
        let rounded: Vec<f64> = b.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(a, &rounded, "{n}");
    }
    // F32 file of an f64 model into an f64 model: the same rounding.
    let mut back = Every::<f64>::default();
    st::load(&mut back, &save_vec(&m64, Dtype::F32)).unwrap();
    assert_eq!(tensors(&back), tensors(&m32));
    // An f32 model into an f64 one through F32 and F64 files: exact.
    for dtype in [Dtype::F32, Dtype::F64] {
        let mut wide = Every::<f64>::default();
        st::load(&mut wide, &save_vec(&m32, dtype)).unwrap();
        assert_eq!(tensors(&wide), tensors(&m32), "{dtype:?}");
    }
    // F16 and BF16: each value rounded to nearest-even, as the `half` crate does.
    for dtype in [Dtype::F16, Dtype::BF16] {
        let mut m = Every::<f64>::default();
        st::load(&mut m, &save_vec(&m64, dtype)).unwrap();
        for ((n, _, a), (_, _, b)) in tensors(&m).iter().zip(&want) {
            let rounded: Vec<f64> = b
                .iter()
                .map(|&v| match dtype {
                    Dtype::F16 => half::f16::from_f64(v).to_f64(),
                    _ => half::bf16::from_f64(v).to_f64(),
                })
                .collect();
            if n.ends_with("num_batches_tracked") {
                assert_eq!(a, b);
            } else {
                assert_eq!(a, &rounded, "{n} {dtype:?}");
            }
        }
    }
}

#[test]
fn names_and_order_are_pytorch_state_dict_order() {
    let m = every::<f32>(4);
    let bytes = save_vec(&m, Dtype::F32);
    let file = SafeTensors::parse(&bytes).unwrap();
    let names: Vec<String> = file.tensors().map(|t| t.name().to_string()).collect();
    let want: Vec<String> = tensors(&m).into_iter().map(|t| t.0).collect();
    assert_eq!(names, want);
    assert_eq!(names.len(), <Every<f32> as StateDict<f32>>::ENTRIES);
    for n in [
        "0.weight",
        "1.running_var",
        "1.num_batches_tracked",
        "3.0.weight",
        "3.2.bias",
        "4.block.0.weight",
        "4.block.2.weight",
        "5.block.2.bias",
        "5.projection.weight",
        "8.bias",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
    assert!(!names.iter().any(|x| x == "4.block.2.bias")); // DenseNoBias
                                                           // The counter is an I64 scalar, the floats are F32, every tensor aligned to its size.
    let count = file.tensor("1.num_batches_tracked").unwrap();
    assert_eq!((count.dtype(), count.shape().rank()), (Dtype::I64, 0));
    assert_eq!(count.data(), &123_456i64.to_le_bytes());
    let data_start = bytes.len() - file.tensors().map(|t| t.data().len()).sum::<usize>();
    assert_eq!(data_start % 8, 0);
    for t in file.tensors() {
        let at = t.data().as_ptr() as usize - bytes.as_ptr() as usize - data_start;
        assert_eq!(at % t.dtype().size(), 0, "{}", t.name());
    }
    assert!(file.header().ends_with(' ') || (file.header().len() % 8 == 0));
    assert_eq!(file.header().len() % 8, 0);
}

#[test]
fn column_major_weights_are_written_and_read_row_major() {
    // weight = [[1, 2, 3], [4, 5, 6]] as PyTorch has it.
    let d = Dense::<f32, 3, 2> {
        weight: SMatrix::from_row_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ..Default::default()
    };
    let bytes = save_vec(&d, Dtype::F32);
    let parsed = SafeTensors::parse(&bytes).unwrap();
    let w: Vec<f64> = parsed.tensor("weight").unwrap().floats().unwrap().collect();
    assert_eq!(w, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    // A file written by hand in row-major order loads into the right places.
    let data: Vec<u8> = [6.0f32, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = r#"{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}"#;
    let mut d = Dense::<f32, 3, 2>::default();
    st::load(&mut d, &file(header, &data)).unwrap();
    assert_eq!(d.weight[(0, 0)], 6.0);
    assert_eq!(d.weight[(0, 2)], 4.0);
    assert_eq!(d.weight[(1, 0)], 3.0);
    assert_eq!(d.bias.as_slice(), &[0.5, 0.25]);
}

#[test]
fn saved_len_is_exact_and_save_writes_nothing_else() {
    fn check<T: Scalar, M: StateDict<T>>(m: &M) {
        for dtype in [Dtype::F16, Dtype::BF16, Dtype::F32, Dtype::F64] {
            let len = st::saved_len(m, dtype).unwrap();
            let bytes = save_vec(m, dtype); // asserts the length and the untouched tail
            assert_eq!(bytes.len(), len);
            let mut short = vec![7u8; len - 1];
            assert_eq!(
                st::save(m, dtype, &mut short),
                Err(Error::BufferTooSmall {
                    needed: len,
                    len: len - 1
                })
            );
            assert!(short.iter().all(|&b| b == 7));
        }
        for dtype in [Dtype::I64, Dtype::U8, Dtype::C64] {
            assert_eq!(st::saved_len(m, dtype), Err(Error::UnsupportedDtype));
        }
    }
    check(&every::<f32>(5));
    check(&every::<f64>(6));
    check::<f32, _>(&Relu); // no tensors: a header with metadata only
    check(&(
        Dense::<f32, 1, 1>::default(),
        BatchNorm::<f32, 1>::default(),
    ));
}

#[test]
fn save_refuses_what_load_would_refuse_and_writes_nothing() {
    let mut out = vec![0x5Au8; 4096];
    let mut m = every::<f64>(7);
    m.3 .2.bias[1] = f64::NAN;
    assert_eq!(
        st::save(&m, Dtype::F64, &mut out),
        Err(Error::NonFiniteValue { index: 10 })
    );
    let mut m = every::<f64>(7);
    m.0.weight[(4, 2)] = 1e39; // beyond f32, fine in f64
    assert_eq!(
        st::save(&m, Dtype::F32, &mut out),
        Err(Error::ValueOutOfRange { index: 0 })
    );
    assert!(st::save(&m, Dtype::F64, &mut out[..0]).is_err());
    m.0.weight[(4, 2)] = 70_000.0; // beyond f16, fine in bf16
    assert_eq!(
        st::save(&m, Dtype::F16, &mut out),
        Err(Error::ValueOutOfRange { index: 0 })
    );
    let mut m = every::<f64>(7);
    m.1.running_var[0] = -1.0;
    assert_eq!(
        st::save(&m, Dtype::F64, &mut out),
        Err(Error::NegativeValue { index: 5 })
    );
    assert!(out.iter().all(|&b| b == 0x5A));
}

#[test]
fn half_precision_rounding_matches_the_half_crate() {
    // Values across the whole range of both formats: subnormals, ties, near overflow.
    let mut rng = SplitMix64::new(11);
    let mut values: Vec<f64> = vec![
        0.0,
        -0.0,
        1.0,
        65504.0,
        65519.99,
        65520.0,
        5.96e-8,
        2.98e-8,
        2.9802322387695312e-8,
        1e-300,
        3.0e38,
        3.3895313892515355e38,
        3.4e38,
        1.0009765625,
        1.00048828125,
        1.00146484375,
        6.103515625e-5,
        6.1e-5,
    ];
    for _ in 0..20_000 {
        let exp = (rng.next_u64() % 100) as i32 - 60;
        let m = tinyprop::rng::unit_f64(&mut rng) * 2.0 - 1.0;
        values.push(m * 2f64.powi(exp));
        // Exact ties of f16 and bf16 mantissas.
        let bits = (rng.next_u64() & 0x3F_FFFF_F000_0000) | 0x3F00_0000_0000_0000;
        values.push(f64::from_bits(bits | (1 << 41)));
        values.push(f64::from_bits(bits | (1 << 44)));
    }
    for chunk in values.chunks(8) {
        let mut d = Dense::<f64, 8, 1>::default();
        d.weight.as_mut_slice()[..chunk.len()].copy_from_slice(chunk);
        for dtype in [Dtype::F16, Dtype::BF16] {
            let want: Option<Vec<u16>> = chunk.iter().map(|&v| nearest(v, dtype)).collect();
            let mut out = vec![0u8; 1024];
            match (st::save(&d, dtype, &mut out), want) {
                (Ok(len), Some(want)) => {
                    let f = SafeTensors::parse(&out[..len]).unwrap();
                    let got: Vec<u16> = f.tensor("weight").unwrap().data()[..2 * chunk.len()]
                        .chunks(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                        .collect();
                    assert_eq!(got, want, "{chunk:?} {dtype:?}");
                }
                (Err(Error::ValueOutOfRange { index: 0 }), None) => {}
                (got, want) => panic!("{chunk:?} {dtype:?}: {got:?} but expected {want:?}"),
            }
        }
    }
}

/// `v` rounded to nearest-even in `dtype` (F16 or BF16), as bits; `None` if it overflows.
/// The `half` crate's value is within one unit of it (its `bf16::from_f64` rounds twice, through
/// `f32`, and can be one unit off); the midpoint of two neighbours is exact in `f64`.
fn nearest(v: f64, dtype: Dtype) -> Option<u16> {
    let (approx, max, decode): (u16, u16, fn(u16) -> f64) = match dtype {
        Dtype::F16 => (half::f16::from_f64(v).to_bits(), 0x7BFF, |b| {
            half::f16::from_bits(b).to_f64()
        }),
        _ => (half::bf16::from_f64(v).to_bits(), 0x7F7F, |b| {
            half::bf16::from_bits(b).to_f64()
        }),
    };
    let sign = if v.is_sign_negative() { 0x8000 } else { 0 };
    let a = v.abs();
    let m = approx & 0x7FFF;
    for k in m.saturating_sub(1)..=m.saturating_add(1).min(max) {
        let lo = decode(k);
        let hi = if k == max {
            lo + (lo - decode(k - 1)) // the next value if there were one
        } else {
            decode(k + 1)
        };
        if lo <= a && a < hi {
            let mid = (lo + hi) / 2.0;
            let pick = if a < mid || (a == mid && k % 2 == 0) {
                k
            } else {
                k + 1
            };
            return (pick <= max).then_some(pick | sign);
        }
    }
    assert!(a > decode(max), "no neighbours of {v} in {dtype:?}");
    None // at least the largest value plus one unit: rounds to infinity
}

// --- Optimizer states ----------------------------------------------------------------------

type Small = (Dense<f64, 3, 4>, BatchNorm<f64, 4>, Relu, Dense<f64, 4, 2>);
type SmallGrads = <Small as Model<f64>>::Grads;

fn small() -> (Small, Inputs3, [usize; 5]) {
    let mut net = Small::default();
    net.init(Init::PyTorchDefault, &mut SplitMix64::new(21));
    let x = SMatrix::<f64, 3, 5>::from_fn(|i, j| ((i * 7 + j * 3) % 5) as f64 - 2.0);
    (net, x, [0, 1, 1, 0, 1])
}
type Inputs3 = SMatrix<f64, 3, 5>;

/// Trains with `opt` for `steps` steps.
fn train<O: Optimizer<f64, Small>>(net: &mut Small, opt: &mut O, steps: usize) {
    let (_, x, y) = small();
    let mut ws = Workspace::<f64, Inputs3, Small>::new();
    for _ in 0..steps {
        train_step(net, opt, &CrossEntropy, &x, &y, &mut ws).unwrap();
    }
}

/// Saving after 3 steps and loading into a fresh optimizer gives the same state and the same
/// next steps, in F64 and through F32.
fn optimizer_round_trip<O>(make: impl Fn() -> O)
where
    O: Optimizer<f64, Small> + StateDict<f64> + PartialEq + std::fmt::Debug,
{
    let (mut net, _, _) = small();
    let mut opt = make();
    train(&mut net, &mut opt, 3);
    let bytes = save_vec(&opt, Dtype::F64);
    let mut fresh = make();
    assert_ne!(fresh, opt);
    st::load(&mut fresh, &bytes).unwrap();
    assert_eq!(fresh, opt);
    let mut net2 = net.clone();
    train(&mut net, &mut opt, 2);
    train(&mut net2, &mut fresh, 2);
    assert_eq!(net, net2);
    assert_eq!(fresh, opt);
    // Through an F32 file, into an f64 optimizer: every value rounded to f32.
    let mut rounded = make();
    st::load(&mut rounded, &save_vec(&opt, Dtype::F32)).unwrap();
    for ((n, _, a), (_, _, b)) in tensors(&rounded).iter().zip(&tensors(&opt)) {
        let b: Vec<f64> = b.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(a, &b, "{n}");
    }
}

#[test]
fn optimizer_states_round_trip() {
    optimizer_round_trip(|| {
        let c = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        };
        Sgd::<f64, SmallGrads, _>::with_momentum(c).unwrap()
    });
    optimizer_round_trip(|| Adagrad::<f64, SmallGrads>::new(AdagradConfig::default()).unwrap());
    optimizer_round_trip(|| {
        let c = RmsPropConfig {
            momentum: 0.5,
            ..Default::default()
        };
        RmsProp::<f64, SmallGrads, SmallGrads, SmallGrads>::centered_with_momentum(c).unwrap()
    });
    optimizer_round_trip(|| Adam::<f64, SmallGrads>::new(AdamConfig::default()).unwrap());
    optimizer_round_trip(|| {
        Adam::<f64, SmallGrads, SmallGrads>::with_amsgrad(AdamConfig::default()).unwrap()
    });
    optimizer_round_trip(|| AdamW::<f64, SmallGrads>::new(AdamWConfig::default()).unwrap());
}

#[test]
fn optimizer_state_names_are_pytorch_state_keys() {
    let opt = Adam::<f64, SmallGrads, SmallGrads>::with_amsgrad(AdamConfig::default()).unwrap();
    let names: Vec<String> = tensors(&opt).into_iter().map(|t| t.0).collect();
    assert_eq!(names[0], "step");
    for n in [
        "exp_avg.0.weight",
        "exp_avg.1.bias",
        "exp_avg_sq.3.weight",
        "max_exp_avg_sq.3.bias",
    ] {
        assert!(names.contains(&n.to_string()), "{n}");
    }
    // The BatchNorm's buffers are not parameters: no state for them.
    assert!(!names.iter().any(|n| n.contains("running")));
    assert_eq!(names.len(), 1 + 3 * 6);
    let c = SgdConfig {
        momentum: 0.9,
        ..Default::default()
    };
    let sgd = Sgd::<f64, SmallGrads, _>::with_momentum(c).unwrap();
    let names: Vec<String> = tensors(&sgd).into_iter().map(|t| t.0).collect();
    assert_eq!(names.first().unwrap(), "momentum_buffer.0.weight");
    assert_eq!(names.last().unwrap(), "step");
}

#[test]
fn optimizer_state_refuses_negative_second_moments_and_non_finite_values() {
    let (mut net, _, _) = small();
    let mut opt = Adam::<f64, SmallGrads>::new(AdamConfig::default()).unwrap();
    train(&mut net, &mut opt, 2);
    let good = opt.clone();
    let names: Vec<String> = tensors(&opt).into_iter().map(|t| t.0).collect();
    let index = |n: &str| names.iter().position(|x| x == n).unwrap();

    // A second moment below zero.
    let mut bad = opt.clone();
    bad.state_mut().exp_avg_sq.0.bias[1] = -1e-9;
    let bytes = save_unchecked(&bad);
    assert_eq!(
        st::load(&mut opt, &bytes),
        Err(Error::NegativeValue {
            index: index("exp_avg_sq.0.bias")
        })
    );
    // The first moment may be negative.
    let mut fine = opt.clone();
    fine.state_mut().exp_avg.0.bias[1] = -1.0;
    st::load(&mut opt.clone(), &save_vec(&fine, Dtype::F64)).unwrap();
    // NaN and infinity.
    for v in [f64::NAN, f64::INFINITY] {
        let mut bad = good.clone();
        bad.state_mut().exp_avg.3.weight[(1, 2)] = v;
        assert_eq!(
            st::load(&mut opt, &save_unchecked(&bad)),
            Err(Error::NonFiniteValue {
                index: index("exp_avg.3.weight")
            })
        );
    }
    assert_eq!(opt, good);
}

/// A file of `m` written without save's checks (for files save refuses to write).
fn save_unchecked<M: StateDict<f64>>(m: &M) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    let mut first = true;
    for (name, dims, values) in tensors(m) {
        let (dtype, bytes): (&str, Vec<u8>) = if name.ends_with("step") {
            ("I64", (values[0] as i64).to_le_bytes().to_vec())
        } else {
            ("F64", values.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        let begin = data.len();
        data.extend_from_slice(&bytes);
        let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        if !first {
            header.push(',');
        }
        first = false;
        write!(
            header,
            r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{begin},{}]}}"#,
            dims.join(","),
            data.len()
        )
        .unwrap();
    }
    header.push('}');
    file(&header, &data)
}

#[test]
fn loading_an_optimizer_state_forgets_its_cached_bounds() {
    // An f32 Adam whose state is loaded with a first moment so large that the next step
    // would overflow: the step must measure the loaded state and refuse, not use the small
    // bounds cached by the steps before the load.
    type Net = Dense<f32, 2, 1>;
    let mut net = Net::default();
    let mut grads = Net::default();
    grads.bias[0] = 1.0;
    let config = AdamConfig {
        lr: 1.0,
        ..Default::default()
    };
    let mut opt = Adam::<f32, Net>::new(config).unwrap();
    Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads).unwrap();
    let mut huge = opt.clone();
    huge.state_mut().exp_avg.bias[0] = 3e38;
    let bytes = save_vec(&huge, Dtype::F32);
    st::load(&mut opt, &bytes).unwrap();
    let before = (net.clone(), opt.clone());
    assert_eq!(
        Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads),
        Err(Error::Overflow)
    );
    assert_eq!((net, opt), before);
}

// --- Each way a file can be wrong ------------------------------------------------------------

/// The model the corrupted files are loaded into.
type Target = (Dense<f32, 2, 2>, BatchNorm<f32, 2>);

/// A valid file for [`Target`] as header entries `(name, dtype, shape, bytes)`.
fn target_entries() -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    vec![
        (
            "0.weight".into(),
            "F32".into(),
            vec![2, 2],
            f(&[1.0, 2.0, 3.0, 4.0]),
        ),
        ("0.bias".into(), "F32".into(), vec![2], f(&[0.5, -0.5])),
        ("1.weight".into(), "F32".into(), vec![2], f(&[1.5, 2.5])),
        ("1.bias".into(), "F32".into(), vec![2], f(&[0.1, 0.2])),
        (
            "1.running_mean".into(),
            "F32".into(),
            vec![2],
            f(&[0.3, 0.4]),
        ),
        (
            "1.running_var".into(),
            "F32".into(),
            vec![2],
            f(&[0.7, 0.8]),
        ),
        (
            "1.num_batches_tracked".into(),
            "I64".into(),
            vec![],
            9i64.to_le_bytes().to_vec(),
        ),
    ]
}

/// The header and data of `entries`, contiguous in order.
fn build(entries: &[(String, String, Vec<usize>, Vec<u8>)]) -> (String, Vec<u8>) {
    let mut header = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut data = Vec::new();
    for (name, dtype, dims, bytes) in entries {
        let begin = data.len();
        data.extend_from_slice(bytes);
        let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        write!(
            header,
            r#","{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{begin},{}]}}"#,
            dims.join(","),
            data.len()
        )
        .unwrap();
    }
    header.push('}');
    (header, data)
}

fn target_file() -> Vec<u8> {
    let (h, d) = build(&target_entries());
    file(&h, &d)
}

fn sentinel() -> Target {
    let mut t = Target::default();
    fill_random(&mut t, 99);
    t.1.running_mean.fill(-7.0);
    t.1.running_var.fill(7.0);
    t.1.num_batches_tracked = 77;
    t
}

/// Loads `bytes` into a model of sentinel values and returns the error, checking that the
/// model did not change and that parsing without a model agrees on file-level errors.
fn load_error(bytes: &[u8]) -> Error {
    let mut m = sentinel();
    let err = st::load(&mut m, bytes).expect_err("the file must be refused");
    assert_eq!(m, sentinel(), "a failed load changed the model ({err:?})");
    err
}

#[test]
fn the_valid_target_file_loads() {
    let mut m = sentinel();
    st::load(&mut m, &target_file()).unwrap();
    assert_eq!(m.0.weight, SMatrix::<f32, 2, 2>::new(1.0, 2.0, 3.0, 4.0));
    assert_eq!(m.1.running_var.as_slice(), &[0.7, 0.8]);
    assert_eq!(m.1.num_batches_tracked, 9);
    // The safetensors crate agrees it is valid.
    safetensors::SafeTensors::deserialize(&target_file()).unwrap();
}

/// Entries with one change.
fn with(change: impl FnOnce(&mut Vec<(String, String, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let mut e = target_entries();
    change(&mut e);
    let (h, d) = build(&e);
    file(&h, &d)
}

/// The valid target file with `from` replaced by `to` in the header (its length kept right).
fn edit_header(from: &str, to: &str) -> Vec<u8> {
    let (h, d) = build(&target_entries());
    assert!(h.contains(from), "{from}");
    file(&h.replacen(from, to, 1), &d)
}

/// A file of each way to be wrong, with its error.
fn corrupt_files() -> Vec<(&'static str, Vec<u8>, Error)> {
    let good = target_file();
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut cases: Vec<(&str, Vec<u8>, Error)> = vec![
        ("empty", vec![], Error::Truncated),
        ("7 bytes", good[..7].to_vec(), Error::Truncated),
        (
            "cut in the data",
            good[..good.len() - 3].to_vec(),
            Error::Truncated,
        ),
        (
            "cut in the header",
            good[..20].to_vec(),
            Error::HeaderTooLarge,
        ),
        (
            "header length past the end",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
                b
            },
            Error::HeaderTooLarge,
        ),
        (
            "header length over 100 MB",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&100_000_001u64.to_le_bytes());
                b
            },
            Error::HeaderTooLarge,
        ),
        (
            "header length u64::MAX",
            {
                let mut b = good.clone();
                b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            Error::HeaderTooLarge,
        ),
        (
            "header not JSON",
            edit_header(r#""0.bias":"#, r#""0.bias" "#),
            Error::InvalidJson { offset: 0 }, // offset checked below
        ),
        (
            "header not UTF-8",
            {
                let mut b = good.clone();
                b[8 + 40] = 0xFF;
                b
            },
            Error::InvalidJson { offset: 40 },
        ),
        (
            "header a JSON array",
            file("[]", &[]),
            Error::InvalidJson { offset: 0 },
        ),
        (
            "a tensor entry without shape",
            edit_header(r#""shape":[2],"#, ""),
            Error::InvalidHeader,
        ),
        (
            "an unknown key",
            edit_header(r#""shape":[2],"#, r#""shape":[2],"stride":[1],"#),
            Error::InvalidHeader,
        ),
        (
            "a negative dimension",
            edit_header(r#""shape":[2],"#, r#""shape":[-2],"#),
            Error::InvalidHeader,
        ),
        (
            "a fractional offset",
            edit_header(r#"[16,24]"#, r#"[16.0,24]"#),
            Error::InvalidHeader,
        ),
        (
            "three offsets",
            edit_header(r#"[16,24]"#, r#"[16,20,24]"#),
            Error::InvalidHeader,
        ),
        (
            "metadata not strings",
            edit_header(r#"{"format":"pt"}"#, r#"{"format":1}"#),
            Error::InvalidHeader,
        ),
        (
            "an unknown dtype",
            edit_header(r#""dtype":"I64""#, r#""dtype":"Q64""#),
            Error::UnsupportedDtype,
        ),
        (
            "a sub-byte dtype",
            edit_header(r#""dtype":"I64""#, r#""dtype":"F4""#),
            Error::UnsupportedDtype,
        ),
        (
            "offsets reversed",
            edit_header(r#"[16,24]"#, r#"[24,16]"#),
            Error::InvalidOffsets,
        ),
        (
            "offsets not the shape's size",
            edit_header(r#""data_offsets":[16,24]"#, r#""data_offsets":[16,20]"#),
            Error::InvalidOffsets,
        ),
        (
            "offsets out of bounds",
            edit_header(r#"[16,24]"#, r#"[64,72]"#),
            Error::OffsetsOutOfBounds,
        ),
        (
            "offsets overlapping",
            edit_header(r#"[16,24]"#, r#"[8,16]"#).grow(8),
            Error::OverlappingTensors,
        ),
        (
            "a gap",
            with(|e| e[1].3.extend_from_slice(&[0; 8])).replace_in_header(
                r#""shape":[2],"data_offsets":[16,32]"#,
                r#""shape":[2],"data_offsets":[24,32]"#,
            ),
            Error::UncoveredData,
        ),
        (
            "a byte after the last tensor",
            {
                let mut b = good.clone();
                b.push(0);
                b
            },
            Error::UncoveredData,
        ),
        (
            "a name twice",
            with(|e| e[2].0 = "0.bias".into()),
            Error::DuplicateTensor,
        ),
        (
            "a name twice, once escaped",
            with(|e| e[2].0 = r"0\u002ebias".into()),
            Error::DuplicateTensor,
        ),
        (
            "a tensor missing",
            with(|e| {
                e.remove(3);
            }),
            Error::MissingTensor { index: 3 },
        ),
        (
            "a tensor renamed",
            with(|e| e[4].0 = "1.running_average".into()),
            Error::MissingTensor { index: 4 },
        ),
        (
            "a tensor too many",
            with(|e| e.push(("2.weight".into(), "F32".into(), vec![1], f32s(&[1.0])))),
            Error::UnexpectedTensor,
        ),
        (
            "a wrong shape",
            with(|e| e[0].2 = vec![4]),
            Error::ShapeMismatch { index: 0 },
        ),
        (
            "a transposed shape",
            with(|e| {
                e[0].2 = vec![1, 4];
            }),
            Error::ShapeMismatch { index: 0 },
        ),
        (
            "floats as integers",
            with(|e| e[1].1 = "I32".into()),
            Error::DtypeMismatch { index: 1 },
        ),
        (
            "a counter as a float",
            with(|e| {
                e[6].1 = "F64".into();
                e[6].3 = 9.0f64.to_le_bytes().to_vec();
            }),
            Error::DtypeMismatch { index: 6 },
        ),
        (
            "a NaN",
            with(|e| e[2].3 = f32s(&[1.0, f32::NAN])),
            Error::NonFiniteValue { index: 2 },
        ),
        (
            "an infinity",
            with(|e| e[0].3 = f32s(&[1.0, 2.0, f32::NEG_INFINITY, 4.0])),
            Error::NonFiniteValue { index: 0 },
        ),
        (
            "a negative variance",
            with(|e| e[5].3 = f32s(&[0.7, -0.8])),
            Error::NegativeValue { index: 5 },
        ),
        (
            "an F64 beyond f32",
            with(|e| {
                e[3].1 = "F64".into();
                e[3].3 = [0.1f64, 1e39]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
            }),
            Error::ValueOutOfRange { index: 3 },
        ),
        (
            "a negative count",
            with(|e| e[6].3 = (-1i64).to_le_bytes().to_vec()),
            Error::CountOutOfRange { index: 6 },
        ),
        (
            "a count beyond u32",
            with(|e| e[6].3 = (1i64 << 32).to_le_bytes().to_vec()),
            Error::CountOutOfRange { index: 6 },
        ),
    ];
    // The JSON error's offset: where the colon is missing.
    let bad_json = &cases[7].1;
    let n = u64::from_le_bytes(bad_json[..8].try_into().unwrap()) as usize;
    let h = std::str::from_utf8(&bad_json[8..8 + n]).unwrap();
    cases[7].2 = Error::InvalidJson {
        offset: h.find(r#""0.bias" "#).unwrap() + 9,
    };
    cases
}

#[test]
fn each_way_a_file_is_wrong_is_its_own_error_and_changes_nothing() {
    let cases = corrupt_files();
    for (what, bytes, want) in &cases {
        assert_eq!(load_error(bytes), *want, "{what}");
        // File-level errors are found without a model too; model-level ones are not.
        let parsed = SafeTensors::parse(bytes);
        match want {
            Error::MissingTensor { .. }
            | Error::UnexpectedTensor
            | Error::ShapeMismatch { .. }
            | Error::DtypeMismatch { .. }
            | Error::NonFiniteValue { .. }
            | Error::NegativeValue { .. }
            | Error::ValueOutOfRange { .. }
            | Error::CountOutOfRange { .. } => assert!(parsed.is_ok(), "{what}"),
            _ => assert_eq!(parsed.unwrap_err(), *want, "{what}"),
        }
        // The safetensors crate refuses the files that are wrong as files.
        if parsed.is_err() {
            assert!(
                safetensors::SafeTensors::deserialize(bytes).is_err()
                    || matches!(want, Error::InvalidHeader | Error::DuplicateTensor),
                "{what}: the safetensors crate accepts it"
            );
        }
    }
    // Every variant a file can trigger is here, and they are distinct.
    let mut kinds: Vec<std::mem::Discriminant<Error>> =
        cases.iter().map(|c| std::mem::discriminant(&c.2)).collect();
    kinds.sort_by_key(|d| format!("{d:?}"));
    kinds.dedup();
    assert_eq!(kinds.len(), 18);
}

/// The seed corpus of the fuzz target (fuzz/fuzz_targets/safetensors.rs): valid files for its
/// models and every corrupted file above. `TINYPROP_WRITE_FUZZ_SEEDS=1` writes them.
#[test]
fn fuzz_seeds_are_current() {
    let dir = crate::repo_root().join("fuzz/corpus/safetensors");
    let mut seeds: Vec<(String, Vec<u8>)> = corrupt_files()
        .into_iter()
        .map(|(what, bytes, _)| {
            let slug: String = what
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            (format!("bad-{slug}"), bytes)
        })
        .collect();
    seeds.push(("good-target-f32".into(), target_file()));
    let mut t64 = (
        Dense::<f64, 2, 2>::default(),
        BatchNorm::<f64, 2>::default(),
    );
    fill_random(&mut t64, 8);
    seeds.push(("good-target-f64".into(), save_vec(&t64, Dtype::F64)));
    seeds.push(("good-target-bf16".into(), save_vec(&t64, Dtype::BF16)));
    let mut net = Dense::<f64, 2, 2>::default();
    let mut opt = Adam::<f64, Dense<f64, 2, 2>>::new(AdamConfig::default()).unwrap();
    let mut grads = Dense::<f64, 2, 2>::default();
    grads.weight.fill(0.5);
    Optimizer::<f64, Dense<f64, 2, 2>>::step(&mut opt, &mut net, &grads).unwrap();
    seeds.push(("good-adam-state".into(), save_vec(&opt, Dtype::F64)));
    if std::env::var_os("TINYPROP_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        return;
    }
    for (name, bytes) in &seeds {
        let committed = std::fs::read(dir.join(name)).unwrap();
        assert!(committed == *bytes, "fuzz seed {name} is stale");
    }
}

/// Small edits of a file's bytes for the cases above.
trait Edit: Sized {
    /// The file, with `n` more zero bytes of data.
    fn grow(self, n: usize) -> Self;
    /// The file with `from` replaced by `to` in its header (of the same length).
    fn replace_in_header(self, from: &str, to: &str) -> Self;
}

impl Edit for Vec<u8> {
    fn grow(mut self, n: usize) -> Self {
        self.extend(std::iter::repeat_n(0, n));
        self
    }
    fn replace_in_header(self, from: &str, to: &str) -> Self {
        let n = u64::from_le_bytes(self[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&self[8..8 + n]).unwrap().trim_end();
        assert!(header.contains(from), "{from}");
        file(&header.replacen(from, to, 1), &self[8 + n..])
    }
}

#[test]
fn json_details_in_names_and_layout() {
    // Whitespace anywhere JSON allows it, keys in any order, escapes in names and in keys.
    let header = "{ \"w\\u0065ight\" : { \"shape\" : [ 1 , 1 ] , \"data_offsets\" : [ 0 , 4 ] ,\n\t\"dtype\" : \"F\\u00332\" } ,\r\n\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    let data = f32s(&[2.0, 3.0]);
    let mut d = Dense::<f32, 1, 1>::default();
    st::load(&mut d, &file(header, &data)).unwrap();
    assert_eq!((d.weight[(0, 0)], d.bias[0]), (2.0, 3.0));
    // Two metadata objects are refused; an empty one is fine.
    let meta = r#"{"__metadata__":{},"bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_eq!(
        SafeTensors::parse(&file(meta, &data[..4])).unwrap().len(),
        1
    );
    let two = r#"{"__metadata__":{},"__metadata__":{},"bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_eq!(
        SafeTensors::parse(&file(two, &data[..4])).unwrap_err(),
        Error::InvalidHeader
    );
    // Zero-sized tensors between others are fine; inside another they overlap.
    let zero = |at: usize| {
        format!(
            r#"{{"a":{{"dtype":"F32","shape":[2],"data_offsets":[0,8]}},"z":{{"dtype":"F32","shape":[0],"data_offsets":[{at},{at}]}}}}"#
        )
    };
    for (at, ok) in [(0, true), (4, false), (8, true), (9, false)] {
        let bytes = file(&zero(at), &data);
        let got = SafeTensors::parse(&bytes);
        let want = safetensors::SafeTensors::deserialize(&bytes).is_ok();
        assert_eq!(got.is_ok(), ok, "{at}: {got:?}");
        assert_eq!(want, ok, "{at}: the safetensors crate");
    }
    // Data in any order of the header.
    let swapped = r#"{"bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"weight":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}"#;
    st::load(&mut d, &file(swapped, &data)).unwrap();
    assert_eq!((d.weight[(0, 0)], d.bias[0]), (3.0, 2.0));
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// --- The safetensors crate -------------------------------------------------------------------

fn crate_dtype(d: Dtype) -> safetensors::Dtype {
    use safetensors::Dtype as C;
    match d {
        Dtype::Bool => C::BOOL,
        Dtype::U8 => C::U8,
        Dtype::I8 => C::I8,
        Dtype::F8E5M2 => C::F8_E5M2,
        Dtype::F8E4M3 => C::F8_E4M3,
        Dtype::F8E8M0 => C::F8_E8M0,
        Dtype::F8E4M3Fnuz => C::F8_E4M3FNUZ,
        Dtype::F8E5M2Fnuz => C::F8_E5M2FNUZ,
        Dtype::I16 => C::I16,
        Dtype::U16 => C::U16,
        Dtype::F16 => C::F16,
        Dtype::BF16 => C::BF16,
        Dtype::I32 => C::I32,
        Dtype::U32 => C::U32,
        Dtype::F32 => C::F32,
        Dtype::C64 => C::C64,
        Dtype::F64 => C::F64,
        Dtype::I64 => C::I64,
        Dtype::U64 => C::U64,
    }
}

#[test]
fn the_safetensors_crate_reads_every_file_we_write() {
    fn check<T: Scalar, M: StateDict<T>>(m: &M) {
        for dtype in [Dtype::F16, Dtype::BF16, Dtype::F32, Dtype::F64] {
            let bytes = save_vec(m, dtype);
            let theirs = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let ours = SafeTensors::parse(&bytes).unwrap();
            assert_eq!(theirs.len(), ours.len());
            for (name, dims, _) in tensors(m) {
                let t = theirs.tensor(&name).unwrap();
                let o = ours.tensor(&name).unwrap();
                assert_eq!(t.shape(), dims.as_slice(), "{name}");
                assert_eq!(t.dtype(), crate_dtype(o.dtype()), "{name}");
                assert_eq!(t.data(), o.data(), "{name}");
            }
            let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let meta = meta.metadata().clone().unwrap();
            assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
        }
    }
    check(&every::<f32>(30));
    check(&every::<f64>(31));
    let (mut net, _, _) = small();
    let mut opt = Adam::<f64, SmallGrads, SmallGrads>::with_amsgrad(AdamConfig::default()).unwrap();
    train(&mut net, &mut opt, 2);
    check(&opt);
    check::<f64, _>(&Relu);
}

#[test]
fn we_read_every_file_the_safetensors_crate_writes() {
    let mut rng = SplitMix64::new(40);
    let alphabet: Vec<char> = "abc.0_9\"\\/\n\t\u{1}é€😀 {}[]:,".chars().collect();
    for case in 0..300 {
        let n = (rng.next_u64() % 6) as usize;
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        while owned.len() < n {
            let len = 1 + (rng.next_u64() % 12) as usize;
            let name: String = (0..len)
                .map(|_| alphabet[(rng.next_u64() % alphabet.len() as u64) as usize])
                .collect();
            if owned.iter().any(|o| o.0 == name) {
                continue;
            }
            let dtype = Dtype::ALL[(rng.next_u64() % Dtype::ALL.len() as u64) as usize];
            let rank = (rng.next_u64() % 4) as usize;
            let dims: Vec<usize> = (0..rank).map(|_| (rng.next_u64() % 4) as usize).collect();
            let elements: usize = dims.iter().product();
            let bytes: Vec<u8> = (0..elements * dtype.size())
                .map(|_| rng.next_u64() as u8)
                .collect();
            owned.push((name, dtype, dims, bytes));
        }
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
            .iter()
            .map(|(name, dtype, dims, bytes)| {
                let v =
                    safetensors::tensor::TensorView::new(crate_dtype(*dtype), dims.clone(), bytes)
                        .unwrap();
                (name.clone(), v)
            })
            .collect();
        let mut meta = std::collections::HashMap::new();
        if case % 3 == 2 {
            meta.insert("k\"ey".to_string(), "välue\n".to_string());
            meta.insert("format".to_string(), "pt".to_string());
        }
        let bytes = safetensors::serialize(views, (case % 3 != 0).then(|| meta.clone())).unwrap();
        if owned.is_empty() && case % 3 == 1 {
            // The crate writes `{},"__metadata__":{}}` for an empty metadata map and no
            // tensors: not JSON. Both refuse it.
            assert!(safetensors::SafeTensors::deserialize(&bytes).is_err());
            assert!(matches!(
                SafeTensors::parse(&bytes),
                Err(Error::InvalidJson { offset: 2 })
            ));
            continue;
        }
        let ours = SafeTensors::parse(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(ours.len(), owned.len());
        for (name, dtype, dims, data) in &owned {
            let t = ours.tensor(name).unwrap();
            assert_eq!(t.name().to_string(), *name);
            assert_eq!(t.dtype(), *dtype);
            assert!(t.shape().is(dims), "{name:?}");
            assert_eq!(t.data(), data.as_slice());
        }
        let got: std::collections::HashMap<String, String> = ours
            .metadata()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, meta);
    }
}

#[test]
fn a_model_file_written_by_the_safetensors_crate_loads() {
    let m = every::<f64>(50);
    let owned: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = tensors(&m)
        .into_iter()
        .map(|(name, dims, v)| {
            if name.ends_with("num_batches_tracked") {
                let b = (v[0] as i64).to_le_bytes().to_vec();
                (name, dims, b, safetensors::Dtype::I64)
            } else {
                let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name, dims, b, safetensors::Dtype::F64)
            }
        })
        .collect();
    let views = owned.iter().map(|(n, d, b, t)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(*t, d.clone(), b).unwrap(),
        )
    });
    let bytes = safetensors::serialize(views, None).unwrap();
    let mut back = Every::<f64>::default();
    st::load(&mut back, &bytes).unwrap();
    assert_eq!(back, m);
}

// --- PyTorch -----------------------------------------------------------------------------------

/// The tables of a text file: `inputs R C` or `logits NAME DTYPE R C`, then R rows.
fn read_tables(text: &str) -> Vec<(String, Vec<Vec<f64>>)> {
    let mut tables: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0] == "inputs" || words[0] == "logits" {
            let key = if words[0] == "inputs" {
                "inputs".to_string()
            } else {
                words[1..words.len() - 2].join(" ")
            };
            tables.push((key, Vec::new()));
        } else {
            let row = words.iter().map(|w| w.parse().unwrap()).collect();
            tables.last_mut().unwrap().1.push(row);
        }
    }
    tables
}

fn table<'a>(tables: &'a [(String, Vec<Vec<f64>>)], key: &str) -> &'a [Vec<f64>] {
    &tables.iter().find(|t| t.0 == key).unwrap().1
}

fn inputs<T: Scalar>(rows: &[Vec<f64>]) -> Inputs<T> {
    assert_eq!(rows.len(), SAMPLES);
    SMatrix::from_fn(|i, j| T::of_f64(rows[j][i]))
}

/// The largest relative difference between `y` and the rows of `want`.
fn max_rel<T: Scalar>(y: &Logits<T>, want: &[Vec<f64>]) -> f64 {
    let mut worst: f64 = 0.0;
    for (j, row) in want.iter().enumerate() {
        for (i, &w) in row.iter().enumerate() {
            worst = worst.max(rel(y[(i, j)].as_f64(), w));
        }
    }
    worst
}

fn torch_logits<T: Scalar, M: Layer<T, Inputs<T>, Output = Logits<T>> + Default>(
    name: &str,
    file_dtype: &str,
    x: &Inputs<T>,
) -> (M, Logits<T>) {
    let bytes =
        std::fs::read(data_path(&format!("torch_{name}_{file_dtype}.safetensors"))).unwrap();
    let mut m = M::default();
    st::load(&mut m, &bytes).unwrap();
    let mut y = Logits::<T>::zeros();
    m.forward(x, &mut y);
    (m, y)
}

#[test]
fn pytorch_models_load_and_compute_pytorch_logits() {
    let text = std::fs::read_to_string(data_path("torch_models.txt")).unwrap();
    let tables = read_tables(&text);
    let x64 = inputs::<f64>(table(&tables, "inputs"));
    let x32 = inputs::<f32>(table(&tables, "inputs"));
    let mut report = Vec::new();
    macro_rules! check {
        ($name:literal, $M:ident) => {{
            let want64 = table(&tables, concat!($name, " f64"));
            let want32 = table(&tables, concat!($name, " f32"));
            // Same precision as PyTorch computed in.
            let (_, y) = torch_logits::<f64, $M<f64>>($name, "f64", &x64);
            let e64 = max_rel(&y, want64);
            let (_, y) = torch_logits::<f32, $M<f32>>($name, "f32", &x32);
            let e32 = max_rel(&y, want32);
            // Across precisions: f64 file into f32, f32 file into f64.
            let (_, y) = torch_logits::<f32, $M<f32>>($name, "f64", &x32);
            let e64_32 = max_rel(&y, want32);
            let (_, y) = torch_logits::<f64, $M<f64>>($name, "f32", &x64);
            let e32_64 = max_rel(&y, want32);
            report.push(format!(
                "{}: f64 {e64:.2e}, f32 {e32:.2e}, f64 file in f32 {e64_32:.2e}, f32 file in f64 {e32_64:.2e}",
                $name
            ));
            assert!(e64 < 1e-10, "{} f64: {e64}", $name);
            assert!(e32 < 1e-5, "{} f32: {e32}", $name);
            assert!(e64_32 < 1e-5, "{} f64 file in f32: {e64_32}", $name);
            assert!(e32_64 < 1e-5, "{} f32 file in f64: {e32_64}", $name);
        }};
    }
    check!("mlp", Mlp);
    check!("bn_mlp", BnMlp);
    check!("residual_mlp", ResidualMlp);
    // The BatchNorm's running statistics and count came along.
    let (m, _) = torch_logits::<f64, BnMlp<f64>>("bn_mlp", "f64", &x64);
    assert_eq!(m.1.num_batches_tracked, 25);
    assert!(m.1.running_var.iter().all(|&v| v > 0.0 && v != 1.0));
    println!("max relative error of the logits:\n{}", report.join("\n"));
}

/// Trains a model here (Adam, cross-entropy, 25 full-batch steps on the PyTorch inputs) and
/// returns its file and logits.
fn train_export<M>(seed: u64, x: &Inputs<f64>) -> (Vec<u8>, Logits<f64>)
where
    M: Layer<f64, Inputs<f64>, Output = Logits<f64>> + Default,
{
    let mut m = M::default();
    m.init(Init::PyTorchDefault, &mut SplitMix64::new(seed));
    let mut opt = Adam::<f64, M::Grads>::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    })
    .unwrap();
    let y = [0, 1, 2, 2, 1, 0];
    let mut ws = Workspace::<f64, Inputs<f64>, M>::new();
    for _ in 0..25 {
        train_step(&mut m, &mut opt, &CrossEntropy, x, &y, &mut ws).unwrap();
    }
    let mut logits = Logits::<f64>::zeros();
    m.forward(x, &mut logits);
    (save_vec(&m, Dtype::F64), logits)
}

#[test]
fn models_trained_here_load_into_pytorch() {
    let text = std::fs::read_to_string(data_path("torch_models.txt")).unwrap();
    let rows = table(&read_tables(&text), "inputs").to_vec();
    let x = inputs::<f64>(&rows);
    let exports = [
        ("mlp", train_export::<Mlp<f64>>(1, &x)),
        ("bn_mlp", train_export::<BnMlp<f64>>(2, &x)),
        ("residual_mlp", train_export::<ResidualMlp<f64>>(3, &x)),
    ];
    let mut text = String::from(
        "# Logits of the models tinyprop trained (tests/external/tests/io.rs), saved as tests/data/tinyprop_*.safetensors.\n",
    );
    writeln!(text, "inputs {SAMPLES} 4").unwrap();
    for r in &rows {
        let r: Vec<String> = r.iter().map(|v| format!("{v:?}")).collect();
        writeln!(text, "{}", r.join(" ")).unwrap();
    }
    for (name, (_, logits)) in &exports {
        writeln!(text, "logits {name} {SAMPLES} 3").unwrap();
        for j in 0..SAMPLES {
            let r: Vec<String> = (0..3).map(|i| format!("{:?}", logits[(i, j)])).collect();
            writeln!(text, "{}", r.join(" ")).unwrap();
        }
    }
    if std::env::var_os("TINYPROP_WRITE_EXPORT").is_some() {
        for (name, (bytes, _)) in &exports {
            std::fs::write(data_path(&format!("tinyprop_{name}.safetensors")), bytes).unwrap();
        }
        std::fs::write(data_path("tinyprop_export.txt"), &text).unwrap();
        return;
    }
    // The committed files are what this code writes, so PyTorch's verdict on them (run
    // `TINYPROP_WRITE_EXPORT=1 cargo test -p tinyprop-external-tests io::`, then `python tools/torch_models.py`
    // after a change) is a verdict on this code.
    for (name, (bytes, _)) in &exports {
        let committed = std::fs::read(data_path(&format!("tinyprop_{name}.safetensors"))).unwrap();
        assert!(committed == *bytes, "tinyprop_{name}.safetensors is stale");
    }
    let committed = std::fs::read_to_string(data_path("tinyprop_export.txt")).unwrap();
    assert_eq!(committed, text, "tinyprop_export.txt is stale");
    let check = std::fs::read_to_string(data_path("tinyprop_export_check.txt")).unwrap();
    let verdicts: Vec<&str> = check.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(verdicts.len(), 3);
    for (line, (name, _)) in verdicts.iter().zip(&exports) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], *name);
        let err: f64 = words[1].parse().unwrap();
        assert!(err < 1e-12 && words[2] == "ok", "{line}");
    }
}
