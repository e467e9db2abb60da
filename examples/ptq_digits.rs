//! Post-training quantization of the digits MLP (trained here as in part 2 of
//! `examples/digits.rs`) and of the digits CNN (the trained weights of
//! `examples/cortex-m/data/digits_cnn.safetensors`) to int8, calibrated on the training images
//! of the splits of `examples/digits.rs`: held-out accuracies in float32 and int8.
//!
//! It also writes, for `tools/ptq_compare.py` (which converts the same float weights with
//! TensorFlow's converter and compares), into `target/ptq/` (or the directory given as the
//! first argument):
//!
//! * `digits_mlp.safetensors`: the trained MLP's float weights (PyTorch's names);
//! * `calibration_rows.txt`: the rows of `data/digits.csv` used as calibration data;
//! * `digits_mlp_tinyprop.txt`, `digits_cnn_tinyprop.txt`: the quantization parameters, one
//!   block per fully connected or convolution layer (`op`, `weight_scales`, `weights` in
//!   TFLite's layout, `bias`, `output_scale`, `output_zero_point`, `end`), after the input's
//!   `input_scale` and `input_zero_point`;
//! * `digits_mlp_int8_outputs.txt`, `digits_cnn_int8_outputs.txt`: the int8 outputs of the
//!   int8 models for every image of `data/digits.csv`, one line each.
//!
//! Run with `cargo run --release --example ptq_digits`.

use std::error::Error;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;

#[path = "shared/csv.rs"]
mod csv;

use tinyprop::data::{stratified_split, stratified_split_rows, DataSet};
use tinyprop::io::safetensors::{self, Dtype};
use tinyprop::metrics::evaluate;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::quant::{calibrate, quantize, weight_scale, QLayer, QModel, Quantization, Range};
use tinyprop::train::{Fit, Trainer};
use tinyprop::{Conv2d, Flatten, MaxPool2d};

type Mlp = (Dense<f32, 64, 32>, Relu, Dense<f32, 32, 10>);
type Cnn = (
    Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
    Relu,
    MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
    Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
    Relu,
    MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
    Flatten,
    Dense<f32, 128, 10>,
);

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

fn floats(v: impl IntoIterator<Item = f32>) -> String {
    v.into_iter()
        .map(|x| format!("{x:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ints<T: std::fmt::Display>(v: impl IntoIterator<Item = T>) -> String {
    v.into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One layer's block: the weight scales (recomputed from the float weights of each output
/// channel, as the quantizer computes them), the int8 weights and int32 biases of the int8
/// layer, and the output quantization.
fn block(
    out: &mut String,
    op: &str,
    channels: &[Vec<f32>],
    weights: impl IntoIterator<Item = i8>,
    bias: &[i32],
    output: Range,
) -> Result<(), Box<dyn Error>> {
    let mut scales = Vec::new();
    for c in channels {
        scales.push(weight_scale(c.iter().copied())? as f32);
    }
    let q = Quantization::from_range(output)?.params()?;
    writeln!(out, "op {op}")?;
    writeln!(out, "weight_scales {}", floats(scales))?;
    writeln!(out, "weights {}", ints(weights))?;
    writeln!(out, "bias {}", ints(bias.iter().copied()))?;
    writeln!(out, "output_scale {:?}", q.scale)?;
    writeln!(out, "output_zero_point {}", q.zero_point)?;
    writeln!(out, "end")?;
    Ok(())
}

/// The int8 outputs of every image, one line each.
fn int8_outputs<Q: QLayer<[i8; 64], Output = [i8; 10]>>(
    q: &QModel<Q>,
    features: &[[f32; 64]],
) -> String {
    let mut out = String::new();
    for x in features {
        let mut input = [0i8; 64];
        q.input.quantize_slice(x, &mut input);
        let mut y = [0i8; 10];
        q.forward(&input, &mut y);
        out += &ints(y);
        out.push('\n');
    }
    out
}

fn header(out: &mut String, input: Range) -> Result<(), Box<dyn Error>> {
    let q = Quantization::from_range(input)?.params()?;
    writeln!(out, "input_scale {:?}", q.scale)?;
    writeln!(out, "input_zero_point {}", q.zero_point)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ptq"));
    std::fs::create_dir_all(&dir)?;
    let (features, labels) = csv::digits();
    let data = DataSet::new(&features, &labels)?;
    // The splits of examples/digits.rs.
    let mut rng = SplitMix64::new(7);
    let mut rows = vec![0u16; data.len()];
    let (rest, test_rows) = stratified_split(&labels, 0.3, &mut rng, &mut rows)?;
    let (train_rows, val_rows) = stratified_split_rows(&labels, rest, 0.2, &mut rng)?;
    let (train, validation, test) = (
        data.subset(train_rows)?,
        data.subset(val_rows)?,
        data.subset(test_rows)?,
    );
    let calibration: Vec<[f32; 64]> = train_rows
        .iter()
        .map(|&r| features[usize::from(r)])
        .collect();
    std::fs::write(
        dir.join("calibration_rows.txt"),
        ints(train_rows.iter().copied()) + "\n",
    )?;

    // The MLP: part 2 of examples/digits.rs.
    let mut mlp = Mlp::default();
    mlp.init(Init::HeUniform, &mut rng);
    let mut best = Mlp::default();
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..Default::default()
    })?;
    let mut trainer = Box::new(Trainer::<f32, 64, 32, Mlp>::new());
    let mut order = vec![0u16; train.len()];
    let plan = Fit::new(&train, &mut order, &mut rng)
        .validation(&validation)
        .max_epochs(100)
        .patience(10)
        .keep_best(&mut best);
    trainer.fit(&mut mlp, &mut opt, &CrossEntropy, plan, |_| {
        ControlFlow::Continue(())
    })?;
    let mut file = vec![0u8; safetensors::saved_len(&mlp, Dtype::F32)?];
    safetensors::save(&mlp, Dtype::F32, &mut file)?;
    std::fs::write(dir.join("digits_mlp.safetensors"), &file)?;
    let f32_acc = evaluate(&mlp, &CrossEntropy, &test, Default::default(), None)?
        .accuracy()
        .unwrap_or(f32::NAN);
    let q = quantize(&mlp, &calibration)?;
    let int8_acc = int8_accuracy(&q, &features, &labels, test_rows);
    println!("digits MLP 64-32-10: held-out accuracy f32 {f32_acc:.4}, int8 {int8_acc:.4}");
    let (input, (r0, (), r2)) = calibrate(&mlp, &calibration)?;
    let rows = |w: &dyn Fn(usize) -> Vec<f32>, n: usize| (0..n).map(w).collect::<Vec<_>>();
    let mut out = String::new();
    header(&mut out, input)?;
    let (d0, _, d2) = &q.layers;
    let w0 = rows(&|o| mlp.0.weight.row(o).iter().copied().collect(), 32);
    block(
        &mut out,
        "fully_connected",
        &w0,
        d0.weight.iter().flatten().copied(),
        &d0.bias,
        r0.relu(),
    )?;
    let w2 = rows(&|o| mlp.2.weight.row(o).iter().copied().collect(), 10);
    block(
        &mut out,
        "fully_connected",
        &w2,
        d2.weight.iter().flatten().copied(),
        &d2.bias,
        r2,
    )?;
    std::fs::write(dir.join("digits_mlp_tinyprop.txt"), out)?;
    std::fs::write(
        dir.join("digits_mlp_int8_outputs.txt"),
        int8_outputs(&q, &features),
    )?;

    // The CNN: its committed trained weights.
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/cortex-m/data/digits_cnn.safetensors"),
    )?;
    let mut cnn = Box::<Cnn>::default();
    safetensors::load(&mut *cnn, &bytes)?;
    let f32_acc = evaluate(&*cnn, &CrossEntropy, &test, Default::default(), None)?
        .accuracy()
        .unwrap_or(f32::NAN);
    let q = Box::new(quantize(&*cnn, &calibration)?);
    let int8_acc = int8_accuracy(&q, &features, &labels, test_rows);
    println!("digits CNN: held-out accuracy f32 {f32_acc:.4}, int8 {int8_acc:.4}");
    let (input, (c0, (), (), c3, (), (), (), d7)) = calibrate(&*cnn, &calibration)?;
    let mut out = String::new();
    header(&mut out, input)?;
    let (q0, _, _, q3, _, _, _, q7) = &q.layers;
    let conv_channels = |w: &[[[[f32; 3]; 3]; 16]]| {
        w.iter()
            .map(|o| o.iter().flatten().flatten().copied().collect())
            .collect::<Vec<Vec<f32>>>()
    };
    let w0: Vec<Vec<f32>> = cnn
        .0
        .weight
        .iter()
        .map(|o| o.iter().flatten().flatten().copied().collect())
        .collect();
    block(
        &mut out,
        "conv_2d",
        &w0,
        q0.weight.iter().flatten().flatten().flatten().copied(),
        &q0.bias,
        c0.relu(),
    )?;
    block(
        &mut out,
        "conv_2d",
        &conv_channels(&cnn.3.weight),
        q3.weight.iter().flatten().flatten().flatten().copied(),
        &q3.bias,
        c3.relu(),
    )?;
    let w7 = rows(&|o| cnn.7.weight.row(o).iter().copied().collect(), 10);
    block(
        &mut out,
        "fully_connected",
        &w7,
        q7.weight.iter().flatten().copied(),
        &q7.bias,
        d7,
    )?;
    std::fs::write(dir.join("digits_cnn_tinyprop.txt"), out)?;
    std::fs::write(
        dir.join("digits_cnn_int8_outputs.txt"),
        int8_outputs(&q, &features),
    )?;
    println!("wrote {}", dir.display());
    Ok(())
}
