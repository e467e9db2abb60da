//! Post-training quantization (`tinyprop::quant::quantize`): the formulae on hand-checked
//! cases, the int8 models close to their floating-point models on the calibration data, and
//! the digits MLP and CNN quantized with a held-out accuracy within one point of the
//! floating-point one.

use rand_core::RngCore;
use std::time::Instant;

use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::io::safetensors;
use tinyprop::metrics::evaluate;
use tinyprop::prelude::*;
use tinyprop::quant::{
    calibrate, quantize, quantize_bias, quantize_weight, weight_scale, Activation, Explicit,
    QConv2d, QDense, QFlatten, QLayer, QMaxPool2d, QModel, QRelu, Quantization, Quantize, Range,
    Requantize, Same,
};
use tinyprop::{Conv2d, Flatten, MaxPool2d};

use crate::csv;

fn range(min: f32, max: f32) -> Range {
    Range { min, max }
}

#[test]
fn activation_quantization_hand_checked() {
    // [−1, 2]: scale 3/255; −1/scale = −85 → zero point −128 + 85.
    let q = Quantization::from_range(range(-1.0, 2.0)).unwrap();
    assert_eq!((q.scale, q.zero_point), (3.0 / 255.0, -43));
    // Extended to include 0: [0, 5] and [−4, 0].
    let q = Quantization::from_range(range(1.0, 5.0)).unwrap();
    assert_eq!((q.scale, q.zero_point), (5.0 / 255.0, -128));
    let q = Quantization::from_range(range(-4.0, -1.0)).unwrap();
    assert_eq!((q.scale, q.zero_point), (4.0 / 255.0, 127));
    // [−10, 0.1]: from the max, 127 − 0.1·255/10.1 = 124.475 (the smaller error) → 124.
    let q = Quantization::from_range(range(-10.0, 0.1)).unwrap();
    assert_eq!(q.zero_point, 124);
    assert_eq!(q.scale, (0.1f32 as f64 + 10.0) / 255.0);
    // [−0.5, 0.5]: −0.5 from either end (127 − 127.5, the smaller error); halves round away
    // from zero.
    let q = Quantization::from_range(range(-0.5, 0.5)).unwrap();
    assert_eq!(q.zero_point, -1);
    // The float32 scale stored in the model.
    let p = Quantization::from_range(range(-1.0, 2.0))
        .unwrap()
        .params()
        .unwrap();
    assert_eq!((p.scale, p.zero_point), ((3.0f64 / 255.0) as f32, -43));
    // Nothing calibrated, zeros only, infinite ranges: errors.
    assert_eq!(
        Quantization::from_range(Range::EMPTY),
        Err(Error::EmptyDataSet)
    );
    assert!(Quantization::from_range(range(0.0, 0.0)).is_err());
    assert!(Quantization::from_range(range(0.0, f32::INFINITY)).is_err());
    let mut r = Range::EMPTY;
    r.include(&[1.0, f32::NAN]);
    assert!(Quantization::from_range(r).is_err());
}

#[test]
fn weight_and_bias_quantization_hand_checked() {
    // max|w| = 2.54: scale 0.02.
    let s = weight_scale([1.0f32, -2.54, 0.5].into_iter()).unwrap();
    assert_eq!(s, 2.54f32 as f64 / 127.0);
    assert_eq!(quantize_weight(1.0, s), 50);
    assert_eq!(quantize_weight(-2.54, s), -127);
    assert_eq!(quantize_weight(0.5, s), 25);
    assert_eq!(quantize_weight(0.375, 0.25), 2); // 1.5 → 2 (halves away from zero)
    assert_eq!(quantize_weight(-0.375, 0.25), -2);
    assert_eq!(quantize_weight(0.125, 0.25), 1); // 0.5 → 1
    assert_eq!(quantize_weight(0.124, 0.25), 0);
    assert_eq!(quantize_weight(100.0, 0.02), 127); // never −128
    assert_eq!(quantize_weight(-100.0, 0.02), -127);
    assert_eq!(weight_scale([0.0f32; 4].into_iter()).unwrap(), 1.0);
    assert_eq!(
        weight_scale([1.0, f32::INFINITY].into_iter()),
        Err(Error::NonFiniteModel)
    );
    // Bias: b / (s_in · s_w).
    assert_eq!(quantize_bias(0.5, 0.1, 0.02), 250);
    assert_eq!(quantize_bias(-0.5, 0.1, 0.02), -250);
    assert_eq!(quantize_bias(0.0, 0.1, 0.02), 0);
    assert_eq!(quantize_bias(1e10, 1e-4, 1e-4), i32::MAX);
}

#[test]
fn dense_layer_hand_checked() {
    // y = relu(W x + b), W = [[1, −2], [0.5, 0.25]], b = [0.1, −0.1].
    let mut net = (Dense::<f32, 2, 2>::default(), Relu);
    net.0.weight = SMatrix::from_row_slice(&[1.0, -2.0, 0.5, 0.25]);
    net.0.bias = SVector::from([0.1, -0.1]);
    let samples = [[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]];
    // Pre-activation outputs: [1.1, 0.4], [−1.9, 0.15], [−2.9, −0.35].
    let (input, (dense, ())) = calibrate(&net, &samples).unwrap();
    assert_eq!(input, range(-1.0, 1.0));
    assert_eq!(dense.min, -2.9);
    assert_eq!(dense.max, 1.1f32 + 0.0);
    let q = quantize(&net, &samples).unwrap();
    // Input: [−1, 1], scale 2/255, zero point 127 − 127.5 = −0.5 rounded away from zero.
    let s_in = 2.0f64 / 255.0;
    assert_eq!(q.input.scale, s_in as f32);
    assert_eq!(q.input.zero_point, -1);
    // Weights per row: scales 2/127 and 0.5/127.
    let (d, relu) = &q.layers;
    assert_eq!(d.weight, [[64, -127], [127, 64]]);
    let (s0, s1) = (2.0f64 / 127.0, 0.5f64 / 127.0);
    assert_eq!(
        d.bias,
        [
            (0.1f32 as f64 / (s_in * s0)).round() as i32,
            (-0.1f32 as f64 / (s_in * s1)).round() as i32
        ]
    );
    assert_eq!(d.input_zero_point, -1);
    // Output fused with the ReLU: [0, 1.1], zero point −128, clamped at −128.
    let s_out = 1.1f32 as f64 / 255.0;
    assert_eq!(q.output.scale, s_out as f32);
    assert_eq!(q.output.zero_point, -128);
    assert_eq!((d.output.min, d.output.max), (-128, 127));
    let want = Requantize::<2>::new(
        s_in as f32,
        &[s0 as f32, s1 as f32],
        s_out as f32,
        -128,
        Activation::Relu,
    )
    .unwrap();
    assert_eq!(d.output, want);
    assert_eq!(*relu, QRelu { zero_point: -128 });
}

#[test]
fn relu_not_after_a_layer_keeps_its_input_quantization() {
    // A ReLU first: its input's quantization, max(q, zero point).
    let mut net = (Relu, Dense::<f32, 2, 1>::default());
    net.1.weight = SMatrix::from_row_slice(&[1.0, -1.0]);
    let q = quantize(&net, &[[-1.0, 1.0], [1.0, 0.5]]).unwrap();
    assert_eq!(
        q.layers.0,
        QRelu {
            zero_point: q.input.zero_point
        }
    );
    let mut y = [0i8; 2];
    q.layers.0.forward(&[-128, 100], &mut y);
    assert_eq!(y, [-1, 100]);
}

#[test]
fn errors_instead_of_panics() {
    let mut net = (
        Dense::<f32, 2, 2>::default(),
        Relu,
        Dense::<f32, 2, 1>::default(),
    );
    net.0.weight = SMatrix::from_row_slice(&[1.0, 0.0, 0.0, 1.0]);
    net.2.weight = SMatrix::from_row_slice(&[1.0, 1.0]);
    assert_eq!(quantize(&net, &[]).err(), Some(Error::EmptyDataSet));
    assert_eq!(
        quantize(&net, &[[1.0, 2.0], [f32::NAN, 0.0]]).err(),
        Some(Error::NonFiniteSample { index: 1 })
    );
    assert_eq!(
        quantize(&net, &[[1.0, f32::INFINITY]]).err(),
        Some(Error::NonFiniteSample { index: 0 })
    );
    let mut bad = net.clone();
    bad.2.weight[1] = f32::NAN;
    assert!(quantize(&bad, &[[1.0, 2.0]]).is_err());
    let mut bad = net.clone();
    bad.0.bias[0] = f32::INFINITY;
    assert!(quantize(&bad, &[[1.0, 2.0]]).is_err());
    // A layer whose outputs are all 0 on the calibration data: no scale.
    assert!(matches!(
        quantize(&net, &[[-1.0, -2.0]]).err(),
        Some(Error::InvalidQuantization(_))
    ));
    assert!(quantize(&net, &[[1.0, 2.0]]).is_ok());
}

/// `Explicit<1>` padding of a 3×3 stride-1 convolution is TFLite's `'same'`: identical outputs.
#[test]
fn explicit_padding_one_is_same_for_3x3_stride_1() {
    let mut rng = SplitMix64::new(3);
    let mut weight = [[[[0i8; 2]; 3]; 3]; 4];
    for w in weight.iter_mut().flatten().flatten().flatten() {
        *w = (rng.next_u64() % 255) as i8;
    }
    let bias = [100, -2000, 0, 31];
    let rq =
        Requantize::<4>::new(0.05, &[0.01, 0.02, 0.005, 0.03], 0.2, 3, Activation::Relu).unwrap();
    let same = QConv2d::<2, 4, 3, 5, 5, 100, 1, Same>::new(weight, bias, -7, rq);
    let explicit = QConv2d::<2, 4, 3, 5, 5, 100, 1, Explicit<1>>::new(weight, bias, -7, rq);
    for _ in 0..20 {
        let mut x = [0i8; 50];
        for v in x.iter_mut() {
            *v = rng.next_u64() as i8;
        }
        let (mut a, mut b) = ([0i8; 100], [0i8; 100]);
        same.forward(&x, &mut a);
        explicit.forward(&x, &mut b);
        assert_eq!(a, b);
    }
    // Padding 2 on a 5×5 map with a 3×3 kernel, stride 2: 4×4 outputs; the corner output reads
    // only the input's corner pixel (the rest is padding).
    let ones = QConv2d::<1, 1, 3, 5, 5, 16, 2, Explicit<2>>::new(
        [[[[1]; 3]; 3]],
        [0],
        0,
        Requantize::new(1.0, &[1.0], 1.0, 0, Activation::None).unwrap(),
    );
    let mut y = [0i8; 16];
    ones.forward(&[1; 25], &mut y);
    assert_eq!(y[0], 1);
    assert_eq!(y[5], 9); // output (1, 1): rows and columns 0..=2 of the input
}

/// The largest difference between the int8 model's dequantized outputs and the floating-point
/// model's, in units of the output scale, over `samples`.
fn max_error_in_steps<Net, Q, const I: usize, const O: usize>(
    net: &Net,
    q: &QModel<Q>,
    samples: &[[f32; I]],
) -> f32
where
    Net: Layer<f32, SMatrix<f32, I, 1>, Output = SMatrix<f32, O, 1>>,
    Q: QLayer<[i8; I], Output = [i8; O]>,
{
    let mut worst = 0.0f32;
    for s in samples {
        let mut want = SMatrix::<f32, O, 1>::zeros();
        net.forward(&SMatrix::from([*s]), &mut want);
        let mut got = [0.0f32; O];
        q.forward_real(s, &mut got);
        for (a, b) in got.iter().zip(want.iter()) {
            worst = worst.max((a - b).abs() / q.output.scale);
        }
    }
    worst
}

/// A small CNN with 3 channels at the flatten (the permutation folded into the dense layer's
/// columns), stride 2 and padding 1, randomly initialised: its int8 model's outputs are within a
/// few output steps of the floating-point ones on the calibration data.
#[test]
fn small_cnn_outputs_close_to_float() {
    type Net = (
        Conv2d<f32, 1, 4, 3, 6, 6, { 4 * 6 * 6 }, 1, 1>,
        Relu,
        MaxPool2d<4, 2, 6, 6, { 4 * 3 * 3 }>,
        Conv2d<f32, 4, 3, 3, 3, 3, { 3 * 2 * 2 }, 2, 1>,
        Relu,
        Flatten,
        Dense<f32, 12, 5>,
    );
    type Int8 = (
        QConv2d<1, 4, 3, 6, 6, 144, 1, Explicit<1>>,
        QRelu,
        QMaxPool2d<4, 2, 6, 6, 36, 2>,
        QConv2d<4, 3, 3, 3, 3, 12, 2, Explicit<1>>,
        QRelu,
        QFlatten,
        QDense<12, 5>,
    );
    let _: std::marker::PhantomData<Int8> = std::marker::PhantomData::<<Net as Quantize>::Q>;
    let mut rng = SplitMix64::new(11);
    let mut net = Net::default();
    net.init(Init::PyTorchDefault, &mut rng);
    let samples: Vec<[f32; 36]> = (0..200)
        .map(|_| std::array::from_fn(|_| (rng.next_u64() % 1000) as f32 / 1000.0))
        .collect();
    let q = quantize(&net, &samples).unwrap();
    let worst = max_error_in_steps(&net, &q, &samples);
    println!("small CNN: largest output error {worst:.2} output steps");
    assert!(worst <= 3.0, "{worst}");
    // The dense layer's columns are the flatten's channels-first order permuted to channels
    // last: int8 column p·3 + c is floating-point column c·4 + p.
    let dense = &q.layers.6;
    let s = weight_scale(net.6.weight.row(0).iter().copied()).unwrap();
    for p in 0..4 {
        for c in 0..3 {
            assert_eq!(
                dense.weight[0][p * 3 + c],
                quantize_weight(net.6.weight[(0, c * 4 + p)], s)
            );
        }
    }
}

/// The splits of `examples/digits.rs`: rows for training, validation and the 30 % hold-out.
fn digits_splits(labels: &[u8]) -> (Vec<u16>, Vec<u16>, Vec<u16>) {
    let mut rng = SplitMix64::new(7);
    let mut rows = vec![0u16; labels.len()];
    let (rest, test) = stratified_split(labels, 0.3, &mut rng, &mut rows).unwrap();
    let (train, val) = stratified_split_rows(labels, rest, 0.2, &mut rng).unwrap();
    (train.to_vec(), val.to_vec(), test.to_vec())
}

/// The fraction of `rows` whose label the int8 model predicts.
fn int8_accuracy<Q: QLayer<[i8; 64], Output = [i8; 10]>>(
    q: &QModel<Q>,
    features: &[[f32; 64]],
    labels: &[u8],
    rows: &[u16],
) -> f32 {
    let right = rows
        .iter()
        .filter(|&&r| q.predict(&features[usize::from(r)]) == usize::from(labels[usize::from(r)]))
        .count();
    right as f32 / rows.len() as f32
}

/// The digits MLP of `examples/digits.rs` (part 2: the same splits, seed, Adam and early
/// stopping), quantized with its training images as calibration data: the held-out accuracy in
/// int8 is within one point of the floating-point one.
#[test]
fn digits_mlp_int8_accuracy_within_one_point() {
    let start = Instant::now();
    let (features, labels) = csv::digits();
    let run = crate::train_real_data::train_digits_mlp(7, &features, &labels);
    let (net, train_rows, test_rows) = (run.net, run.train_rows, &run.test_rows);
    let f32_accuracy = run.accuracy;

    let calibration: Vec<[f32; 64]> = train_rows
        .iter()
        .map(|&r| features[usize::from(r)])
        .collect();
    let q = quantize(&net, &calibration).unwrap();
    let int8_accuracy = int8_accuracy(&q, &features, &labels, test_rows);
    let worst = max_error_in_steps(&net, &q, &calibration);
    println!(
        "digits MLP held out ({} samples): f32 {f32_accuracy:.4}, int8 {int8_accuracy:.4}; \
         largest logit error on the calibration data {worst:.1} output steps of {:.4} ({:?})",
        test_rows.len(),
        q.output.scale,
        start.elapsed()
    );
    assert!(
        (f32_accuracy - int8_accuracy).abs() <= 0.01,
        "f32 {f32_accuracy}, int8 {int8_accuracy}"
    );
    assert!(worst <= 3.0, "{worst}");
}

/// The digits CNN of `examples/digits_cnn.rs`, its trained weights loaded, quantized with the
/// training images (the splits of `examples/digits.rs`) as calibration data: the held-out
/// accuracy in int8 is within one point of the floating-point one.
#[test]
fn digits_cnn_int8_accuracy_within_one_point() {
    type Net = (
        Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
        Relu,
        MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
        Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
        Relu,
        MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
        Flatten,
        Dense<f32, 128, 10>,
    );
    let start = Instant::now();
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cortex-m/data/digits_cnn.safetensors"
    ))
    .unwrap();
    let mut net = Box::<Net>::default();
    safetensors::load(&mut *net, &bytes).unwrap();
    let (features, labels) = csv::digits();
    let data = DataSet::new(&features, &labels).unwrap();
    let (train_rows, _, test_rows) = digits_splits(&labels);
    let test = data.subset(&test_rows).unwrap();
    let f32_accuracy = evaluate(&*net, &CrossEntropy, &test, Default::default(), None)
        .unwrap()
        .accuracy()
        .unwrap();
    let calibration: Vec<[f32; 64]> = train_rows
        .iter()
        .map(|&r| features[usize::from(r)])
        .collect();
    let q = Box::new(quantize(&*net, &calibration).unwrap());
    let int8_accuracy = int8_accuracy(&q, &features, &labels, &test_rows);
    let worst = max_error_in_steps(&*net, &q, &calibration);
    println!(
        "digits CNN held out ({} samples): f32 {f32_accuracy:.4}, int8 {int8_accuracy:.4}; \
         largest logit error on the calibration data {worst:.1} output steps of {:.4} ({:?})",
        test_rows.len(),
        q.output.scale,
        start.elapsed()
    );
    assert!(f32_accuracy >= 0.985, "{f32_accuracy}");
    assert!(
        (f32_accuracy - int8_accuracy).abs() <= 0.01,
        "f32 {f32_accuracy}, int8 {int8_accuracy}"
    );
    assert!(worst <= 3.0, "{worst}");
}

/// Calibration and quantization allocate nothing (the calibration samples are the caller's).
#[test]
fn quantize_allocates_nothing() {
    type Net = (Dense<f32, 8, 6>, Relu, Dense<f32, 6, 3>);
    let mut net = Net::default();
    net.init(Init::HeUniform, &mut SplitMix64::new(5));
    let samples: [[f32; 8]; 16] =
        std::array::from_fn(|i| std::array::from_fn(|j| ((i * 5 + j * 3) % 11) as f32 / 11.0));
    let mut y = [0.0f32; 3];
    let n = crate::counting_alloc::allocations(|| {
        let q = quantize(&net, &samples).unwrap();
        q.forward_real(&samples[0], &mut y);
    });
    assert_eq!(n, 0);
}

/// An average pooling, and a ReLU after a pooling (fused into the pooling's clamp) rather
/// than after a convolution: still close to the floating-point model.
#[test]
fn average_pooling_and_relu_after_pooling_close_to_float() {
    use tinyprop::quant::QAvgPool2d;
    use tinyprop::AvgPool2d;
    type Net = (
        Conv2d<f32, 1, 3, 3, 6, 6, { 3 * 4 * 4 }>,
        AvgPool2d<3, 2, 4, 4, { 3 * 2 * 2 }>,
        Relu,
        Flatten,
        Dense<f32, 12, 4>,
    );
    let second = |q: &<Net as Quantize>::Q| -> QAvgPool2d<3, 2, 4, 4, 12, 2> { q.1 };
    let mut rng = SplitMix64::new(12);
    let mut net = Net::default();
    net.init(Init::PyTorchDefault, &mut rng);
    let samples: Vec<[f32; 36]> = (0..100)
        .map(|_| std::array::from_fn(|_| (rng.next_u64() % 1000) as f32 / 500.0 - 1.0))
        .collect();
    let q = quantize(&net, &samples).unwrap();
    let _ = second(&q.layers);
    // The convolution is not followed by a ReLU: no clamp; the pooling clamps at the zero point.
    assert_eq!((q.layers.0.output.min, q.layers.0.output.max), (-128, 127));
    assert_eq!(q.layers.1.min, q.layers.0.output.zero_point);
    let worst = max_error_in_steps(&net, &q, &samples);
    println!("conv, average pooling, ReLU: largest output error {worst:.2} output steps");
    assert!(worst <= 3.0, "{worst}");
}
