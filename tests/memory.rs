//! The memory constants: parameter counts and byte budgets, checked at compile time and
//! against the sizes of the real buffers.

use core::mem::size_of;

use tinyprop::memory::{inference_bytes, parameter_count, rollback_bytes, training_bytes};
use tinyprop::prelude::*;

type Xor = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
type Mnist = (Dense<f32, 784, 128>, Relu, Dense<f32, 128, 10>);

// Usable in a const budget check: this fails the build if the model grows.
const _: () = assert!(parameter_count::<f32, Xor>() == 2 * 8 + 8 + 8 + 1);
const _: () = assert!(
    training_bytes::<f32, SMatrix<f32, 2, 4>, Xor, Sgd<f32, <Xor as Model<f32>>::Grads>>() < 1024
);

#[test]
fn parameter_counts() {
    assert_eq!(parameter_count::<f32, Xor>(), 33);
    assert_eq!(
        parameter_count::<f32, Mnist>(),
        784 * 128 + 128 + 128 * 10 + 10
    );
    assert_eq!(parameter_count::<f64, DenseNoBias<f64, 5, 3>>(), 15);
    assert_eq!(parameter_count::<f32, (Relu, Softmax)>(), 0);
}

#[test]
#[cfg_attr(
    target_feature = "avx",
    ignore = "the sizes of the dense layout: with AVX, layers are padded to cache lines"
)]
fn sizes_are_exactly_the_buffers() {
    // Parameters are stored densely: the model is its parameters, nothing more.
    assert_eq!(size_of::<Xor>(), 33 * 4);
    assert_eq!(size_of::<Mnist>(), parameter_count::<f32, Mnist>() * 4);
    // Gradients mirror the parameters.
    assert_eq!(size_of::<<Xor as Model<f32>>::Grads>(), size_of::<Xor>());
    // Plain SGD keeps no state: only its learning rate.
    assert_eq!(size_of::<Sgd<f32, <Mnist as Model<f32>>::Grads>>(), 4);

    // Training: model + input batch + workspace (cache, grads, output gradient) + optimizer.
    type X = SMatrix<f32, 2, 4>;
    type Opt = Sgd<f32, <Xor as Model<f32>>::Grads>;
    let cache = (8 * 4 + 8 * 4 + 4) * 4; // dense out, tanh out, dense out
    let scratch = (8 * 4 + 8 * 4) * 4; // gradient between the layers
    let workspace = cache + scratch + 33 * 4 + 4 * 4;
    assert_eq!(size_of::<Workspace<f32, X, Xor>>(), workspace);
    assert_eq!(
        training_bytes::<f32, X, Xor, Opt>(),
        33 * 4 + 8 * 4 + workspace + 4
    );

    // Inference on one sample: model, input, output, and the two 8-wide intermediates.
    assert_eq!(
        inference_bytes::<f32, SMatrix<f32, 2, 1>, Xor>(),
        33 * 4 + 2 * 4 + 4 + 2 * 8 * 4
    );
}

type Iris = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
type Digits = (Dense<f32, 64, 32>, Relu, Dense<f32, 32, 10>);
/// The digits GRU of `examples/digits_rnn.rs`: 8 rows of 8 pixels as a sequence.
type DigitsGru = (
    tinyprop::layers::Sequence<8, 8>,
    tinyprop::Gru<f32, 8, 32>,
    tinyprop::LastStep,
    Dense<f32, 32, 10>,
);

/// One row of the README's memory table for network `$net` with input width `$n` trained on
/// batches of `$b`: parameters, model bytes, inference bytes (batch 1), training bytes with
/// plain SGD.
macro_rules! figures {
    ($net:ty, $n:literal, $b:literal) => {
        [
            parameter_count::<f32, $net>(),
            size_of::<$net>(),
            inference_bytes::<f32, SMatrix<f32, $n, 1>, $net>(),
            training_bytes::<
                f32,
                SMatrix<f32, $n, $b>,
                $net,
                Sgd<f32, <$net as Model<f32>>::Grads>,
            >(),
        ]
    };
}

/// The README's memory table, row by row.
const README_TABLE: [[usize; 4]; 5] = [
    [33, 132, 208, 844],                  // XOR 2-8-1, batch 4
    [131, 524, 680, 5_788],               // iris 4-16-3, batch 16
    [2_410, 9_640, 10_192, 46_420],       // digits 64-32-10, batch 32
    [101_770, 407_080, 411_280, 982_612], // 784-128-10, batch 32
    [4_362, 17_448, 19_920, 287_316],     // digits GRU 8×8-32-10, batch 32
];

#[test]
#[cfg_attr(
    target_feature = "avx",
    ignore = "the sizes of the dense layout: with AVX, layers are padded to cache lines"
)]
fn readme_memory_table_figures() {
    let ours = [
        figures!(Xor, 2, 4),
        figures!(Iris, 4, 16),
        figures!(Digits, 64, 32),
        figures!(Mnist, 784, 32),
        figures!(DigitsGru, 64, 32),
    ];
    for (row, want) in ours.iter().zip(&README_TABLE) {
        println!("{row:?}");
        assert_eq!(row, want);
    }
    // The GRU's parameters: three gates of 32 units over 8 inputs and 32 hidden values, two
    // bias vectors each, then the dense layer.
    assert_eq!(
        README_TABLE[4][0],
        3 * 32 * (8 + 32) + 2 * 3 * 32 + 32 * 10 + 10
    );
    // The 784-128-10 inference figure, by its parts: the model, input, output and the two
    // 128-wide intermediates.
    assert_eq!(
        inference_bytes::<f32, SMatrix<f32, 784, 1>, Mnist>(),
        407_080 + 784 * 4 + 10 * 4 + 2 * 128 * 4
    );
}

/// README.md prints the figures [`README_TABLE`] holds.
#[test]
fn readme_prints_these_memory_figures() {
    let readme = include_str!("../README.md");
    let rows: Vec<[usize; 4]> = readme
        .lines()
        .skip_while(|l| *l != "| network | parameters | model | inference (batch 1) | training |")
        .skip(2) // the header and its rule
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            assert_eq!(cells.len(), 7, "{row}");
            // "982 612" is 982612.
            core::array::from_fn(|i| {
                let digits = cells[i + 2].replace(' ', "");
                digits.parse().unwrap_or_else(|e| panic!("{row}: {e}"))
            })
        })
        .collect();
    assert_eq!(rows, README_TABLE);
}

#[test]
#[cfg_attr(
    target_feature = "avx",
    ignore = "the sizes of the dense layout: with AVX, layers are padded to cache lines"
)]
fn normalisation_buffers_are_counted() {
    // BatchNorm: 2·N trainable scalars, plus running mean and variance (2·N more), its
    // momentum and eps, and the batch count — all part of the model's size, so of the memory
    // figures.
    assert_eq!(parameter_count::<f32, BatchNorm<f32, 10>>(), 20);
    assert_eq!(size_of::<BatchNorm<f32, 10>>(), (4 * 10 + 3) * 4);
    // A failed step puts back the running statistics and the count: their copy is counted.
    assert_eq!(
        rollback_bytes::<f32, BatchNorm<f32, 10>>(),
        (2 * 10 + 1) * 4
    );
    assert_eq!(rollback_bytes::<f32, Dense<f32, 10, 10>>(), 0);
    assert_eq!(
        size_of::<<BatchNorm<f32, 10> as Model<f32>>::Grads>(),
        20 * 4
    );
    // Its training cache: normalised input, per-feature 1/σ, output, and whether the
    // statistics were the running ones (a frozen layer's; a bool, padded).
    type Cache = <BatchNorm<f32, 10> as Layer<f32, SMatrix<f32, 10, 8>>>::Cache;
    assert_eq!(size_of::<Cache>(), (10 * 8 + 10 + 10 * 8 + 1) * 4);
    // The figures of a network with batch norm include the running statistics.
    type Net = (
        Dense<f32, 4, 10>,
        BatchNorm<f32, 10>,
        Relu,
        Dense<f32, 10, 3>,
    );
    assert_eq!(
        inference_bytes::<f32, SMatrix<f32, 4, 1>, Net>(),
        (4 * 10 + 10) * 4 + (4 * 10 + 3) * 4 + (10 * 3 + 3) * 4 // model
            + 4 * 4 + 3 * 4 // input and output
            + 3 * 10 * 4 // intermediates
    );
}

/// A model with one layer of each kind, as `io::rust` writes it into `tests/data/static_net.rs`
/// (regenerate with `TINYPROP_UPDATE=1`).
type StaticNet = (
    Dense<f32, 3, 4>,
    BatchNorm<f32, 4>,
    LeakyRelu<f32>,
    Frozen<Dense<f32, 4, 4>>,
    Residual<(Dense<f32, 4, 4>, Tanh)>,
    Dropout<f32>,
    LayerNorm<f32, 4>,
    DenseNoBias<f32, 4, 2>,
);

fn static_net() -> StaticNet {
    let mut net: StaticNet = (
        Default::default(),
        BatchNorm::new(0.2, 1e-3).unwrap(),
        LeakyRelu::new(-0.3).unwrap(),
        Default::default(),
        Default::default(),
        Dropout::new(0.25, SplitMix64::new(99)).unwrap(),
        LayerNorm::new(1e-4).unwrap(),
        Default::default(),
    );
    net.init(Init::HeNormal, &mut SplitMix64::new(5));
    net.3 .0.init(Init::XavierNormal, &mut SplitMix64::new(6));
    net.1.running_mean = SVector::from([0.5, -0.25, 1e-7, 3.0]);
    net.1.running_var = SVector::from([2.0, 0.125, 1e30, 1.0]);
    net.1.num_batches_tracked = 17;
    net.6.affine.weight = SVector::from([1.5, -2.0, 0.1, 1.0 / 3.0]);
    net
}

include!("data/static_net.rs");

/// A trained model can live in flash: the source `io::rust::write_static` writes builds the
/// model in a `static` with `const` constructors only, bit for bit.
#[test]
fn models_as_statics() {
    let net = static_net();
    let mut source = String::new();
    tinyprop::io::rust::write_static(&net, "STATIC_NET", "StaticNet", &mut source).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/static_net.rs");
    if std::env::var_os("TINYPROP_UPDATE").is_some() {
        std::fs::write(path, &source).unwrap();
    }
    assert_eq!(source, std::fs::read_to_string(path).unwrap());
    assert_eq!(STATIC_NET, net);
    let x = SMatrix::<f32, 3, 2>::new(0.5, -1.0, 2.0, 0.25, 1.0, -3.0);
    let (mut a, mut b) = (SMatrix::<f32, 2, 2>::zeros(), SMatrix::<f32, 2, 2>::zeros());
    STATIC_NET.forward(&x, &mut a);
    net.forward(&x, &mut b);
    assert_eq!(a, b);
    // A model that is not finite is refused.
    let mut bad = static_net();
    bad.0.bias[1] = f32::NAN;
    assert_eq!(
        tinyprop::io::rust::write_static(&bad, "X", "StaticNet", &mut String::new()),
        Err(Error::NonFiniteModel)
    );
}

/// A convolutional model in a `static` (`tests/data/static_cnn.rs`; regenerate with
/// `TINYPROP_UPDATE=1`): convolutions with and without a bias (one depthwise), BatchNorm2d with
/// running statistics, every kind of pooling and Flatten, bit for bit.
type StaticCnn = (
    tinyprop::Conv2d<f32, 2, 4, 3, 5, 5, { 4 * 5 * 5 }, 1, 1>,
    tinyprop::BatchNorm2d<f32, 4>,
    Relu,
    tinyprop::Conv2d<f32, 4, 4, 3, 5, 5, { 4 * 3 * 3 }, 2, 1, 1, 1, tinyprop::layers::NoBias>,
    tinyprop::AvgPool2d<4, 2, 3, 3, { 4 * 2 * 2 }, 1>,
    tinyprop::MaxPool2d<4, 2, 2, 2, 4>,
    tinyprop::GlobalAvgPool<4>,
    tinyprop::Flatten,
    Dense<f32, 4, 3>,
);

include!("data/static_cnn.rs");

#[test]
fn convolutional_models_as_statics() {
    let mut net = StaticCnn::default();
    net.init(Init::PyTorchDefault, &mut SplitMix64::new(43));
    net.1.running_mean = SVector::from([0.5, -0.25, 1e-7, 3.0]);
    net.1.running_var = SVector::from([2.0, 0.125, 1e30, 1.0]);
    net.1.num_batches_tracked = 5;
    let mut source = String::new();
    tinyprop::io::rust::write_static(&net, "STATIC_CNN", "StaticCnn", &mut source).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/static_cnn.rs");
    if std::env::var_os("TINYPROP_UPDATE").is_some() {
        std::fs::write(path, &source).unwrap();
    }
    assert_eq!(source, std::fs::read_to_string(path).unwrap());
    assert_eq!(STATIC_CNN, net);
    let x = SMatrix::<f32, 50, 2>::from_fn(|r, c| (r as f32 * 0.37 - c as f32).sin());
    let (mut a, mut b) = (SMatrix::<f32, 3, 2>::zeros(), SMatrix::<f32, 3, 2>::zeros());
    STATIC_CNN.forward(&x, &mut a);
    net.forward(&x, &mut b);
    assert_eq!(a, b);
    assert_ne!(a, SMatrix::<f32, 3, 2>::zeros());
}

/// An int8 model in a `static` (`tests/data/static_qnet.rs`; regenerate with
/// `TINYPROP_UPDATE=1`): every int8 layer (convolution with PyTorch's padding, ReLU, max
/// pooling, depthwise convolution, average pooling, flatten, dense) with each kind of
/// rescaling, and the input and output quantization, bit for bit.
type StaticQNet = tinyprop::quant::QModel<(
    tinyprop::quant::QConv2d<2, 3, 3, 5, 5, { 3 * 5 * 5 }, 1, tinyprop::quant::Explicit<1>>,
    tinyprop::quant::QRelu,
    tinyprop::quant::QMaxPool2d<3, 2, 5, 5, { 3 * 2 * 2 }, 2>,
    tinyprop::quant::QDepthwiseConv2d<
        3,
        6,
        3,
        2,
        2,
        { 6 * 2 * 2 },
        1,
        tinyprop::quant::Same,
        tinyprop::quant::SingleRounding,
    >,
    tinyprop::quant::QAvgPool2d<6, 2, 2, 2, 6, 2>,
    tinyprop::quant::QFlatten,
    tinyprop::quant::QDense<6, 4, tinyprop::quant::Float64Rounding>,
    tinyprop::quant::QDense<4, 2>,
)>;

include!("data/static_qnet.rs");

fn static_qnet() -> StaticQNet {
    use rand_core::RngCore;
    use tinyprop::quant::{Activation, QParams, QPool2d, Requantize};
    let mut rng = SplitMix64::new(21);
    let mut int8 = || (rng.next_u64() >> 56) as u8 as i8;
    let conv = tinyprop::quant::QConv2d::new(
        core::array::from_fn(|_| {
            core::array::from_fn(|_| core::array::from_fn(|_| core::array::from_fn(|_| int8())))
        }),
        [1000, -2000, 0],
        -3,
        Requantize::new(0.02, &[0.003, 0.004, 0.005], 0.05, -128, Activation::Relu).unwrap(),
    );
    let depthwise = tinyprop::quant::QDepthwiseConv2d::new(
        core::array::from_fn(|_| core::array::from_fn(|_| core::array::from_fn(|_| int8()))),
        [-7, 7, 300, -300, 0, 1],
        -128,
        Requantize::new(0.05, &[0.01], 0.1, 5, Activation::Relu6).unwrap(),
    );
    let mut dense = tinyprop::quant::QDense::new(
        core::array::from_fn(|_| core::array::from_fn(|_| int8())),
        [i32::MIN, i32::MAX, -1, 1],
        5,
        Requantize::<4, tinyprop::quant::Float64Rounding>::new(
            0.1,
            &[0.02, 0.03, 1e-9, 0.5],
            0.07,
            0,
            Activation::None,
        )
        .unwrap(),
    );
    // Fields from elsewhere, at the edges of their types.
    dense.output.multipliers[3].mantissa = -dense.output.multipliers[3].mantissa;
    let mut last = tinyprop::quant::QDense::new(
        core::array::from_fn(|_| core::array::from_fn(|_| int8())),
        [12, -34],
        0,
        Requantize::<2, tinyprop::quant::Multiplier>::new(
            0.07,
            &[0.01, 0.02],
            0.1,
            -1,
            Activation::ReluN1To1,
        )
        .unwrap(),
    );
    last.output.multipliers[1].multiplier = i32::MIN;
    tinyprop::quant::QModel {
        input: QParams::new(1.0 / 255.0, -3).unwrap(),
        output: QParams::new(0.1, -1).unwrap(),
        layers: (
            conv,
            tinyprop::quant::QRelu { zero_point: -100 },
            QPool2d::new(Activation::Relu, 0.05, -100),
            depthwise,
            QPool2d::new(Activation::None, 0.1, 5),
            tinyprop::quant::QFlatten,
            dense,
            last,
        ),
    }
}

#[test]
fn int8_models_as_statics() {
    let net = static_qnet();
    let mut source = String::new();
    tinyprop::io::rust::write_static_int8(&net, "STATIC_QNET", "StaticQNet", &mut source).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/static_qnet.rs");
    if std::env::var_os("TINYPROP_UPDATE").is_some() {
        std::fs::write(path, &source).unwrap();
    }
    assert_eq!(source, std::fs::read_to_string(path).unwrap());
    assert_eq!(STATIC_QNET, net);
    let x: [i8; 50] = core::array::from_fn(|i| (i as i32 * 37 % 256 - 128) as i8);
    let (mut a, mut b) = ([0i8; 2], [0i8; 2]);
    STATIC_QNET.forward(&x, &mut a);
    net.forward(&x, &mut b);
    assert_eq!(a, b);
    let real: [f32; 50] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 0.4 + 0.5);
    assert_eq!(STATIC_QNET.predict(&real), net.predict(&real));
    // A quantization that is not valid is refused.
    let mut bad = static_qnet();
    bad.input.scale = f32::NAN;
    assert_eq!(
        tinyprop::io::rust::write_static_int8(&bad, "X", "StaticQNet", &mut String::new()),
        Err(Error::InvalidQuantization("scale"))
    );
}

/// Builds with AVX start each `Dense`, `Conv` and `Recurrent` layer on a 64-byte boundary and pad
/// it to a multiple of 64 bytes; other builds (the default, microcontrollers) store the
/// parameters densely. The memory figures are the real sizes either way.
#[test]
fn layers_are_dense_or_on_cache_lines() {
    let line: usize = if cfg!(target_feature = "avx") { 64 } else { 4 };
    let padded = |bytes: usize| bytes.next_multiple_of(line);
    assert_eq!(core::mem::align_of::<Dense<f32, 2, 8>>(), line);
    assert_eq!(core::mem::align_of::<tinyprop::Gru<f32, 8, 32>>(), line);
    type Conv = tinyprop::Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>;
    assert_eq!(core::mem::align_of::<Conv>(), line);
    assert_eq!(size_of::<Conv>(), padded((16 * 9 + 16) * 4));
    // 24 + 9 parameters: 96 + 36 bytes, or 128 + 64.
    let xor = padded((2 * 8 + 8) * 4) + padded((8 + 1) * 4);
    assert_eq!(size_of::<Xor>(), xor);
    assert_eq!(size_of::<<Xor as Model<f32>>::Grads>(), xor);
    assert_eq!(
        size_of::<tinyprop::Gru<f32, 8, 32>>(),
        padded((3 * 32 * (8 + 32) + 2 * 3 * 32) * 4)
    );
    // An optimizer's state: its buffers and the step counter, padded as the layers are.
    type Adam = tinyprop::optim::Adam<f32, <Xor as Model<f32>>::Grads>;
    assert_eq!(Adam::STATE_BYTES, padded(2 * xor + 4));
    // The figures count the padding: the model is part of the inference bytes.
    assert!(inference_bytes::<f32, SMatrix<f32, 2, 1>, Xor>() >= xor + 2 * 4 + 4 + 2 * 8 * 4);
    // The first layer of 784-128-10 is a multiple of 64 bytes, the second is padded.
    let mnist = (784 * 128 + 128) * 4 + padded((128 * 10 + 10) * 4);
    assert_eq!(size_of::<Mnist>(), mnist);
}
