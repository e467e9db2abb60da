//! `tinyprop::quant::tflite`: the `.tflite` files of `tests/data/tflite/` read into their types
//! give the parameters of the `.txt` files and LiteRT's outputs exactly; files that do not fit
//! (another type, patched bytes) give their own errors; truncated and corrupted files never
//! panic and a failed load changes nothing; nothing allocates.

use std::fmt::Debug;

use tinyprop::quant::tflite::{self, FromTflite, TfliteError};
use tinyprop::quant::{
    Float64Rounding, Multiplier, QAvgPool2d, QConv2d, QDense, QDepthwiseConv2d, QFlatten, QLayer,
    QMaxPool2d, QModel, QParams, Same, Valid,
};
use tinyprop::Error;

use crate::counting_alloc::allocations;
use crate::int8::{self, Model};

type Fc16 = QDense<16, 8, Float64Rounding>;
type Fc24 = QDense<24, 12, Float64Rounding>;
type Mlp = (
    QDense<64, 32, Float64Rounding>,
    QDense<32, 10, Float64Rounding>,
);
type Conv8 = QConv2d<2, 4, 3, 8, 8, 256, 1, Same, Multiplier>;
type Conv9 = QConv2d<3, 2, 3, 9, 9, 32, 2, Valid, Multiplier>;
type Dw6 = QDepthwiseConv2d<2, 4, 3, 6, 6, 144, 1, Same, Multiplier>;
type MaxPool = QMaxPool2d<3, 2, 8, 8, 48, 2, Valid>;
type AvgPool = QAvgPool2d<2, 3, 7, 7, 32, 2, Same>;

const FC16: &[u8] = include_bytes!("data/tflite/fc_16_8_relu.tflite");
const FC24: &[u8] = include_bytes!("data/tflite/fc_24_12_relu6_per_tensor.tflite");
const MLP: &[u8] = include_bytes!("data/tflite/mlp_64_32_10.tflite");
const CONV8: &[u8] = include_bytes!("data/tflite/conv_8x8x2_4_relu.tflite");
const CONV9: &[u8] = include_bytes!("data/tflite/conv_9x9x3_2_s2_valid.tflite");
const DW6: &[u8] = include_bytes!("data/tflite/dwconv_6x6x2_m2_relu6.tflite");
const MAXPOOL: &[u8] = include_bytes!("data/tflite/maxpool_8x8x3_2.tflite");
const AVGPOOL: &[u8] = include_bytes!("data/tflite/avgpool_7x7x2_3_s2_same.tflite");

fn tf(e: TfliteError) -> Result<(), Error> {
    Err(Error::Tflite(e))
}

/// A model of zeros, to load into.
fn blank<L: FromTflite>() -> QModel<L> {
    let unit = QParams::new(1.0, 0).unwrap();
    QModel {
        input: unit,
        output: unit,
        layers: L::zeroed(),
    }
}

/// `bytes` loaded into a model of zeros of type `L`; a failed load must leave it as it was.
fn try_load<L: FromTflite + PartialEq + Debug>(bytes: &[u8]) -> Result<(), Error> {
    let mut m = blank::<L>();
    let r = tflite::load_into(&mut m, bytes);
    if r.is_err() {
        assert_eq!(m, blank::<L>(), "a failed load changed the model");
    }
    r
}

/// Loads `bytes` as `L`, checks the layers equal `expected` (built from the `.txt` file) and
/// the outputs of all the vectors equal LiteRT's.
fn check_model<L, const NIN: usize, const NOUT: usize>(model: &Model, bytes: &[u8], expected: &L)
where
    L: FromTflite + QLayer<[i8; NIN], Output = [i8; NOUT]> + PartialEq + Debug,
{
    let loaded = tflite::load::<L>(bytes).unwrap();
    assert_eq!(&loaded.layers, expected, "{}", model.name);
    let input = QParams::new(model.input_scale, model.input_zero_point).unwrap();
    assert_eq!(loaded.input, input, "{}", model.name);
    let last = model.ops.last().unwrap();
    let output = QParams::new(last.output_scale, last.output_zero_point).unwrap();
    assert_eq!(loaded.output, output, "{}", model.name);
    let (differing, vectors) =
        int8::count_differing::<NIN, NOUT>(model, |x, y| loaded.forward(x, y));
    println!(
        "{}: loaded from the .tflite file, {} vectors, {} output elements: {differing} \
         differing from LiteRT ({vectors} vectors)",
        model.name,
        model.vectors,
        model.vectors * NOUT
    );
    assert_eq!(differing, 0, "{}", model.name);
}

#[test]
fn every_model_file_loads_with_the_text_files_parameters_and_litert_outputs() {
    let m = int8::load("fc_16_8_relu");
    let (op, s, z) = (&m.ops[0], m.input_scale, m.input_zero_point);
    check_model::<Fc16, 16, 8>(&m, FC16, &int8::dense(op, s, z));

    let m = int8::load("fc_24_12_relu6_per_tensor");
    let (op, s, z) = (&m.ops[0], m.input_scale, m.input_zero_point);
    check_model::<Fc24, 24, 12>(&m, FC24, &int8::dense(op, s, z));

    let m = int8::load("mlp_64_32_10");
    let l1 = int8::dense(&m.ops[0], m.input_scale, m.input_zero_point);
    let (s, z) = (m.ops[0].output_scale, m.ops[0].output_zero_point);
    let l2 = int8::dense(&m.ops[1], s, z);
    check_model::<Mlp, 64, 10>(&m, MLP, &(l1, l2));

    let m = int8::load("conv_8x8x2_4_relu");
    let (op, s, z) = (&m.ops[0], m.input_scale, m.input_zero_point);
    check_model::<Conv8, 128, 256>(&m, CONV8, &int8::conv(op, s, z));

    let m = int8::load("conv_9x9x3_2_s2_valid");
    let (op, s, z) = (&m.ops[0], m.input_scale, m.input_zero_point);
    check_model::<Conv9, 243, 32>(&m, CONV9, &int8::conv(op, s, z));

    let m = int8::load("dwconv_6x6x2_m2_relu6");
    let (op, s, z) = (&m.ops[0], m.input_scale, m.input_zero_point);
    check_model::<Dw6, 72, 144>(&m, DW6, &int8::depthwise(op, s, z));

    let m = int8::load("maxpool_8x8x3_2");
    check_model::<MaxPool, 192, 48>(&m, MAXPOOL, &int8::pool(&m));

    let m = int8::load("avgpool_7x7x2_3_s2_same");
    check_model::<AvgPool, 98, 32>(&m, AVGPOOL, &int8::pool(&m));

    // Every committed model is above.
    assert_eq!(int8::MODELS.len(), 8);
}

// --- Finding the bytes to patch: a FlatBuffer walker for the tests ------------------------

fn u16_at(b: &[u8], p: usize) -> usize {
    usize::from(u16::from_le_bytes(b[p..p + 2].try_into().unwrap()))
}
fn u32_at(b: &[u8], p: usize) -> usize {
    u32::from_le_bytes(b[p..p + 4].try_into().unwrap()) as usize
}
fn i32_at(b: &[u8], p: usize) -> i32 {
    i32::from_le_bytes(b[p..p + 4].try_into().unwrap())
}
/// Where the offset at `p` points.
fn deref(b: &[u8], p: usize) -> usize {
    p + u32_at(b, p)
}
/// The position of field `id` of the table at `t`.
fn field(b: &[u8], t: usize, id: usize) -> Option<usize> {
    let vt = (t as i64 - i64::from(i32_at(b, t))) as usize;
    let e = 4 + 2 * id;
    if e + 2 > u16_at(b, vt) {
        return None;
    }
    match u16_at(b, vt + e) {
        0 => None,
        o => Some(t + o),
    }
}
/// The table or vector of field `id` of the table at `t`.
fn child(b: &[u8], t: usize, id: usize) -> usize {
    deref(b, field(b, t, id).unwrap())
}
/// Element `i` of the vector at `v`: its position.
fn elem(v: usize, i: usize, size: usize) -> usize {
    v + 4 + i * size
}
fn root(b: &[u8]) -> usize {
    deref(b, 0)
}
fn subgraph(b: &[u8]) -> usize {
    deref(b, elem(child(b, root(b), 2), 0, 4))
}
fn operator(b: &[u8], i: usize) -> usize {
    deref(b, elem(child(b, subgraph(b), 3), i, 4))
}
/// Tensor index `i` of operator `op`'s inputs (field 1) or outputs (field 2).
fn operand(b: &[u8], op: usize, io: usize, i: usize) -> usize {
    i32_at(b, elem(child(b, operator(b, op), io), i, 4)) as usize
}
fn tensor(b: &[u8], i: usize) -> usize {
    deref(b, elem(child(b, subgraph(b), 0), i, 4))
}
fn quantization(b: &[u8], t: usize) -> usize {
    child(b, tensor(b, t), 4)
}
/// The buffer index of tensor `t`.
fn buffer_of(b: &[u8], t: usize) -> usize {
    u32_at(b, field(b, tensor(b, t), 2).unwrap())
}
fn put_i32(b: &mut [u8], p: usize, v: i32) {
    b[p..p + 4].copy_from_slice(&v.to_le_bytes());
}

/// `file` with `patch` applied, loaded as `L`.
fn patched<L: FromTflite + PartialEq + Debug>(
    file: &[u8],
    patch: impl FnOnce(&mut Vec<u8>),
) -> Result<(), Error> {
    let mut b = file.to_vec();
    patch(&mut b);
    try_load::<L>(&b)
}

/// Appends a Buffer table whose data is outside the FlatBuffer (`offset`, `size`) and points
/// buffer `index` to it.
fn external_buffer(b: &mut Vec<u8>, index: usize, offset: u64, size: u64) {
    while b.len() % 8 != 4 {
        b.push(0);
    }
    // The vtable: 3 fields (data absent, offset at 4, size at 12), an object of 20 bytes.
    let vtable = b.len();
    for v in [10u16, 20, 0, 4, 12] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0, 0]);
    let table = b.len();
    b.extend_from_slice(&((table - vtable) as i32).to_le_bytes());
    b.extend_from_slice(&offset.to_le_bytes());
    b.extend_from_slice(&size.to_le_bytes());
    let slot = elem(child(b, root(b), 4), index, 4);
    let off = (table - slot) as i32;
    put_i32(b, slot, off);
}

#[test]
fn files_that_do_not_fit_the_type_give_their_errors() {
    use TfliteError as E;
    let (x, y) = (operand(FC16, 0, 1, 0), operand(FC16, 0, 2, 0));
    assert_eq!(try_load::<Fc16>(FC16), Ok(()));
    assert_eq!(try_load::<QDense<16, 9>>(FC16), tf(E::Shape { tensor: y }));
    assert_eq!(try_load::<QDense<15, 8>>(FC16), tf(E::Shape { tensor: x }));
    assert_eq!(
        try_load::<(Fc16, QDense<8, 8>)>(FC16),
        tf(E::OperatorCount {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        try_load::<QDense<64, 32>>(MLP),
        tf(E::OperatorCount {
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        try_load::<(QDense<64, 32>, QDense<32, 11>)>(MLP),
        tf(E::Shape {
            tensor: operand(MLP, 1, 2, 0)
        })
    );
    assert_eq!(
        try_load::<Conv8>(FC16),
        tf(E::WrongOperator { op: 0, code: 9 })
    );
    assert_eq!(
        try_load::<QFlatten>(FC16),
        tf(E::WrongOperator { op: 0, code: 9 })
    );
    assert_eq!(
        try_load::<Fc16>(CONV8),
        tf(E::WrongOperator { op: 0, code: 3 })
    );
    assert_eq!(
        try_load::<AvgPool>(MAXPOOL),
        tf(E::WrongOperator { op: 0, code: 17 })
    );
    assert_eq!(
        try_load::<Dw6>(CONV8),
        tf(E::WrongOperator { op: 0, code: 3 })
    );
    // Options: stride, padding, kernel size, depth multiplier.
    assert_eq!(
        try_load::<QConv2d<2, 4, 3, 8, 8, 64, 2, Same>>(CONV8),
        tf(E::Options { op: 0 })
    );
    assert_eq!(
        try_load::<QConv2d<2, 4, 3, 8, 8, 144, 1, Valid>>(CONV8),
        tf(E::Options { op: 0 })
    );
    assert_eq!(
        try_load::<QMaxPool2d<3, 3, 8, 8, 48, 2, Valid>>(MAXPOOL),
        tf(E::Options { op: 0 })
    );
    assert_eq!(
        try_load::<QMaxPool2d<3, 2, 8, 8, 48, 2, Same>>(MAXPOOL),
        tf(E::Options { op: 0 })
    );
    assert_eq!(
        try_load::<QDepthwiseConv2d<2, 2, 3, 6, 6, 72, 1, Same>>(DW6),
        tf(E::Options { op: 0 })
    );
    // The weight's shape: another kernel size (same output size with 'same' padding).
    let w = operand(CONV8, 0, 1, 1);
    assert_eq!(
        try_load::<QConv2d<2, 4, 5, 8, 8, 256, 1, Same>>(CONV8),
        tf(E::Shape { tensor: w })
    );
    // Another input size.
    assert_eq!(
        try_load::<QConv2d<2, 4, 3, 9, 8, 288, 1, Same>>(CONV8),
        tf(E::Shape {
            tensor: operand(CONV8, 0, 1, 0)
        })
    );
}

#[test]
fn patched_files_give_their_errors() {
    use TfliteError as E;
    let (x, w, b, y) = (
        operand(FC16, 0, 1, 0),
        operand(FC16, 0, 1, 1),
        operand(FC16, 0, 1, 2),
        operand(FC16, 0, 2, 0),
    );
    let p = |f: fn(&mut Vec<u8>)| patched::<Fc16>(FC16, f);
    assert_eq!(p(|b| b[4..8].copy_from_slice(b"TFL2")), tf(E::Identifier));
    assert_eq!(p(|b| b.truncate(7)), tf(E::Malformed));
    assert_eq!(p(|b| put_i32(b, 0, 1 << 20)), tf(E::Malformed));
    assert_eq!(
        p(|b| {
            let at = field(b, root(b), 0).unwrap();
            put_i32(b, at, 4)
        }),
        tf(E::Version(4))
    );
    for n in [0, 2] {
        let r = patched::<Fc16>(FC16, |b| {
            let v = child(b, root(b), 2);
            put_i32(b, v, n)
        });
        assert_eq!(r, tf(E::Subgraphs(n as usize)));
    }
    // The operator: its code, its operands, its options.
    assert_eq!(
        p(|b| {
            let code = deref(b, elem(child(b, root(b), 1), 0, 4));
            let at = field(b, code, 3).unwrap();
            put_i32(b, at, 25) // SOFTMAX
        }),
        tf(E::UnsupportedOperator { op: 0, code: 25 })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, operator(b, 0), 2);
            put_i32(b, v, 0)
        }),
        tf(E::Operands { op: 0 })
    );
    assert_eq!(
        p(|b| {
            let at = field(b, operator(b, 0), 3).unwrap();
            b[at] = 1 // Conv2DOptions
        }),
        tf(E::Options { op: 0 })
    );
    assert_eq!(
        p(|b| {
            let opts = child(b, operator(b, 0), 4);
            let at = field(b, opts, 0).unwrap();
            b[at] = 4 // TANH
        }),
        tf(E::Activation { op: 0 })
    );
    // The subgraph's inputs and outputs.
    assert_eq!(
        p(|b| {
            let v = child(b, subgraph(b), 1);
            let y = operand(b, 0, 2, 0) as i32;
            put_i32(b, elem(v, 0, 4), y)
        }),
        tf(E::ModelInput)
    );
    assert_eq!(
        p(|b| {
            let v = child(b, subgraph(b), 2);
            let x = operand(b, 0, 1, 0) as i32;
            put_i32(b, elem(v, 0, 4), x)
        }),
        tf(E::ModelOutput)
    );
    // Tensors: types, quantization, data.
    assert_eq!(
        p(|b| {
            let at = field(b, tensor(b, operand(b, 0, 1, 0)), 1).unwrap();
            b[at] = 7 // INT16
        }),
        tf(E::TensorType { tensor: x })
    );
    assert_eq!(
        p(|b| {
            let at = field(b, tensor(b, operand(b, 0, 1, 1)), 1).unwrap();
            b[at] = 3 // UINT8
        }),
        tf(E::TensorType { tensor: w })
    );
    assert_eq!(
        p(|b| {
            let at = field(b, tensor(b, operand(b, 0, 1, 2)), 1).unwrap();
            b[at] = 9 // INT8
        }),
        tf(E::TensorType { tensor: b })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 0)), 2);
            put_i32(b, v, 0) // no scale
        }),
        tf(E::NoQuantization { tensor: x })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 2, 0)), 2);
            put_i32(b, v, 2) // two scales
        }),
        tf(E::ScaleCount { tensor: y })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 1)), 2);
            put_i32(b, v, 3) // 3 scales for 8 channels
        }),
        tf(E::ScaleCount { tensor: w })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 1)), 3);
            b[elem(v, 5, 8)] = 1 // a zero point of 1
        }),
        tf(E::WeightZeroPoint { tensor: w })
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 0)), 2);
            b[elem(v, 0, 4) + 3] |= 0x80 // a negative input scale
        }),
        Err(Error::InvalidQuantization("scale"))
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 0)), 3);
            b[elem(v, 0, 8) + 1] = 1 // a zero point of 256 + z
        }),
        Err(Error::InvalidQuantization("zero point"))
    );
    assert_eq!(
        p(|b| {
            let v = child(b, quantization(b, operand(b, 0, 1, 1)), 2);
            b[elem(v, 2, 4) + 3] |= 0x80 // a negative weight scale
        }),
        Err(Error::InvalidQuantization("weight scale"))
    );
    assert_eq!(
        p(|b| {
            let at = field(b, tensor(b, operand(b, 0, 1, 1)), 2).unwrap();
            put_i32(b, at, 0) // the empty buffer 0
        }),
        tf(E::NoData { tensor: w })
    );
    assert_eq!(
        p(|b| {
            let wb = buffer_of(b, operand(b, 0, 1, 1));
            let data = child(b, deref(b, elem(child(b, root(b), 4), wb, 4)), 0);
            put_i32(b, data, 127) // one byte short
        }),
        tf(E::DataSize { tensor: w })
    );
    assert_eq!(
        p(|b| {
            let bb = buffer_of(b, operand(b, 0, 1, 2));
            let data = child(b, deref(b, elem(child(b, root(b), 4), bb, 4)), 0);
            put_i32(b, data, 28) // 7 biases
        }),
        tf(E::DataSize { tensor: b })
    );
    // A weight stored outside the FlatBuffer: inside the file it loads as before, past its end
    // it is an error of its own.
    let wb = buffer_of(FC16, w);
    let data = child(
        FC16,
        deref(FC16, elem(child(FC16, root(FC16), 4), wb, 4)),
        0,
    ) + 4;
    let mut outside = FC16.to_vec();
    external_buffer(&mut outside, wb, data as u64, 128);
    assert_eq!(
        tflite::load::<Fc16>(&outside).unwrap(),
        tflite::load::<Fc16>(FC16).unwrap()
    );
    let mut outside = FC16.to_vec();
    external_buffer(&mut outside, wb, FC16.len() as u64 + 1000, 128);
    assert_eq!(
        try_load::<Fc16>(&outside),
        tf(E::BufferOutOfBounds { buffer: wb })
    );
    let mut outside = FC16.to_vec();
    external_buffer(&mut outside, wb, u64::MAX - 3, 128);
    assert_eq!(
        try_load::<Fc16>(&outside),
        tf(E::BufferOutOfBounds { buffer: wb })
    );

    // Two operators that do not chain.
    let r = patched::<Mlp>(MLP, |b| {
        let v = child(b, operator(b, 1), 1);
        let x = operand(b, 0, 1, 0) as i32;
        put_i32(b, elem(v, 0, 4), x)
    });
    assert_eq!(r, tf(E::NotChained { op: 1 }));
    // A per-channel depthwise weight quantized along another axis.
    let r = patched::<Dw6>(DW6, |b| {
        let at = field(b, quantization(b, operand(b, 0, 1, 1)), 6).unwrap();
        put_i32(b, at, 0)
    });
    assert_eq!(
        r,
        tf(E::QuantizedDimension {
            tensor: operand(DW6, 0, 1, 1)
        })
    );
    // A pooling whose output is quantized otherwise than its input.
    let r = patched::<MaxPool>(MAXPOOL, |b| {
        let v = child(b, quantization(b, operand(b, 0, 2, 0)), 2);
        b[elem(v, 0, 4)] ^= 1
    });
    assert_eq!(r, tf(E::QuantizationChanged { op: 0 }));
}

#[test]
fn every_error_has_its_own_message() {
    use TfliteError as E;
    let all = [
        E::Malformed,
        E::Identifier,
        E::Version(4),
        E::Subgraphs(2),
        E::OperatorCount {
            expected: 1,
            found: 2,
        },
        E::UnsupportedOperator { op: 0, code: 25 },
        E::WrongOperator { op: 0, code: 3 },
        E::Operands { op: 0 },
        E::NotChained { op: 1 },
        E::ModelInput,
        E::ModelOutput,
        E::TensorType { tensor: 1 },
        E::Shape { tensor: 1 },
        E::Options { op: 0 },
        E::Activation { op: 0 },
        E::NoQuantization { tensor: 1 },
        E::ScaleCount { tensor: 1 },
        E::QuantizedDimension { tensor: 1 },
        E::WeightZeroPoint { tensor: 1 },
        E::QuantizationChanged { op: 0 },
        E::NoData { tensor: 1 },
        E::DataSize { tensor: 1 },
        E::BufferOutOfBounds { buffer: 1 },
    ];
    let mut messages: Vec<String> = all.iter().map(|e| Error::Tflite(*e).to_string()).collect();
    assert!(messages
        .iter()
        .all(|m| m.starts_with("invalid .tflite file: ")));
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), all.len());
}

/// Every truncation and many single-byte changes of `file`, loaded as `L`: no panic, and a
/// failed load leaves the model as it was. Returns (loads, failed loads).
fn corrupt<L: FromTflite + PartialEq + Debug>(file: &[u8]) -> (usize, usize) {
    let (mut n, mut failed) = (0, 0);
    for len in 0..file.len() {
        assert!(try_load::<L>(&file[..len]).is_err(), "cut at {len}");
        n += 1;
        failed += 1;
    }
    let mut b = file.to_vec();
    for i in 0..file.len() {
        for v in [
            file[i] ^ 0xff,
            file[i] ^ 0x01,
            file[i] ^ 0x80,
            file[i].wrapping_add(4),
            0,
            0x7f,
        ] {
            if v == file[i] {
                continue;
            }
            b[i] = v;
            n += 1;
            failed += usize::from(try_load::<L>(&b).is_err());
        }
        b[i] = file[i];
    }
    (n, failed)
}

#[test]
fn truncated_and_corrupted_files_never_panic_nor_change_the_model() {
    let results = [
        ("fc_16_8_relu", corrupt::<Fc16>(FC16)),
        ("fc_24_12_relu6_per_tensor", corrupt::<Fc24>(FC24)),
        ("mlp_64_32_10", corrupt::<Mlp>(MLP)),
        ("conv_8x8x2_4_relu", corrupt::<Conv8>(CONV8)),
        ("conv_9x9x3_2_s2_valid", corrupt::<Conv9>(CONV9)),
        ("dwconv_6x6x2_m2_relu6", corrupt::<Dw6>(DW6)),
        ("maxpool_8x8x3_2", corrupt::<MaxPool>(MAXPOOL)),
        ("avgpool_7x7x2_3_s2_same", corrupt::<AvgPool>(AVGPOOL)),
    ];
    for (name, (n, failed)) in results {
        println!("{name}: {n} truncated or corrupted files loaded, {failed} refused");
    }
}

#[test]
fn loading_allocates_nothing() {
    let mut mlp = blank::<Mlp>();
    let mut conv = blank::<Conv8>();
    let n = allocations(|| {
        tflite::load_into(&mut mlp, MLP).unwrap();
        tflite::load_into(&mut conv, CONV8).unwrap();
        let _ = tflite::load::<Dw6>(DW6).unwrap();
        let _ = tflite::load::<AvgPool>(AVGPOOL).unwrap();
        assert!(tflite::load_into(&mut mlp, FC16).is_err());
        assert!(tflite::load_into(&mut conv, &CONV8[..700]).is_err());
    });
    assert_eq!(n, 0, "{n} allocations");
}

/// The max pooling file made a `RESHAPE` of its input `[1, 8, 8, 3]` to `[1, 192]`: the
/// operator's code, its options' type and its output's shape patched.
fn reshape_file(out: [i32; 2]) -> Vec<u8> {
    let mut b = MAXPOOL.to_vec();
    let code = deref(&b, elem(child(&b, root(&b), 1), 0, 4));
    let at = field(&b, code, 0).unwrap();
    b[at] = 22; // RESHAPE
    if let Some(at) = field(&b, code, 3) {
        put_i32(&mut b, at, 22);
    }
    let at = field(&b, operator(&b, 0), 3).unwrap();
    b[at] = 17; // ReshapeOptions
    let shape = child(&b, tensor(&b, operand(&b, 0, 2, 0)), 0);
    put_i32(&mut b, shape, 2);
    put_i32(&mut b, elem(shape, 0, 4), out[0]);
    put_i32(&mut b, elem(shape, 1, 4), out[1]);
    b
}

#[test]
fn a_reshape_to_a_vector_loads_as_a_flatten() {
    use TfliteError as E;
    let file = reshape_file([1, 192]);
    let model = tflite::load::<QFlatten>(&file).unwrap();
    let pool = tflite::load::<MaxPool>(MAXPOOL).unwrap();
    assert_eq!((model.input, model.output), (pool.input, pool.input));
    let x: [i8; 192] = core::array::from_fn(|i| (i as i8).wrapping_mul(37));
    let mut y = [0i8; 192];
    model.forward(&x, &mut y);
    assert_eq!(x, y);
    let out = operand(&file, 0, 2, 0);
    assert_eq!(
        try_load::<QFlatten>(&reshape_file([1, 191])),
        tf(E::Shape { tensor: out })
    );
    assert_eq!(
        try_load::<QFlatten>(&reshape_file([2, 96])),
        tf(E::Shape { tensor: out })
    );
    assert_eq!(
        try_load::<MaxPool>(&file),
        tf(E::WrongOperator { op: 0, code: 22 })
    );
    let mut other = file.clone();
    let at = field(&other, operator(&other, 0), 3).unwrap();
    other[at] = 5; // Pool2DOptions
    assert_eq!(try_load::<QFlatten>(&other), tf(E::Options { op: 0 }));
    let mut other = file.clone();
    let v = child(&other, quantization(&other, out), 2);
    other[elem(v, 0, 4)] ^= 1;
    assert_eq!(
        try_load::<QFlatten>(&other),
        tf(E::QuantizationChanged { op: 0 })
    );
    corrupt::<QFlatten>(&file);
}

/// The fuzz target's seeds are the test files, and the reshape of
/// [`a_reshape_to_a_vector_loads_as_a_flatten`].
#[test]
fn fuzz_seeds_are_the_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/tflite");
    let seed = |name: &str| std::fs::read(dir.join(format!("seed-{name}"))).unwrap();
    for name in int8::MODELS {
        let file = std::fs::read(int8::dir().join(format!("{name}.tflite"))).unwrap();
        assert_eq!(seed(name), file, "{name}");
    }
    assert_eq!(seed("reshape_8x8x3_to_192"), reshape_file([1, 192]));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        int8::MODELS.len() + 1
    );
}
