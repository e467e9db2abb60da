//! Puts the memory layout of the target's board on the linker path as `memory.x` (cortex-m-rt's
//! `link.x` includes it) and links the binaries with `link.x`.
//!
//! For `digits_cnn` it also writes, into `OUT_DIR`:
//! * `digits_cnn.rs`: the digits CNN trained on the host (`data/digits_cnn.safetensors`) as two
//!   `static`s built by `const` constructors (`tinyprop::io::rust`), so its weights stay in flash;
//! * `digits.rs`: the digits' training and held-out images (`u8` pixels, 0 to 16) and labels,
//!   split as `examples/digits_cnn.rs` splits them, and `HOST_CORRECT`, how many held-out images
//!   the same network classifies correctly here on the host.
//!
//! For `digits_int8`, `digits_int8.rs`: the same network quantized to int8 (see
//! [`digits_int8`]).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use tinyprop::csv::Table;
use tinyprop::data::{stratified_split, stratified_split_rows};
use tinyprop::prelude::*;

include!("src/digits_cnn/model.rs");

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo::rustc-check-cfg=cfg(qemu_microbit)");
    if target.starts_with("thumbv6m-") {
        // The Cortex-M0 runs on QEMU's `microbit` (16 MHz); the M4F on `mps2-an386` (25 MHz).
        println!("cargo:rustc-cfg=qemu_microbit");
    }
    let layout = if target.starts_with("thumbv6m-") {
        "memory-m0.x"
    } else if target.starts_with("thumbv7em-") {
        "memory-m4.x"
    } else {
        panic!("no memory layout for target `{target}`: build for thumbv6m-none-eabi or thumbv7em-none-eabihf");
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    fs::copy(dir.join(layout), out.join("memory.x")).expect("copy the memory layout");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory-m0.x");
    println!("cargo:rerun-if-changed=memory-m4.x");
    println!("cargo:rerun-if-changed=build.rs");

    digits_cnn(&dir, &out);
}

/// The seed of the splits of `examples/digits.rs` and `examples/digits_cnn.rs`.
const SEED: u64 = 7;

fn digits_cnn(dir: &Path, out: &Path) {
    let weights = dir.join("data/digits_cnn.safetensors");
    let csv = dir.join("../../data/digits.csv");
    println!("cargo:rerun-if-changed={}", weights.display());
    println!("cargo:rerun-if-changed={}", csv.display());
    println!("cargo:rerun-if-changed=src/digits_cnn/model.rs");

    // The network, loaded under PyTorch's names, and written as statics.
    let bytes = fs::read(&weights).expect("read data/digits_cnn.safetensors");
    let mut net = Box::<Net>::default();
    tinyprop::io::safetensors::load(&mut *net, &bytes).expect("load the digits CNN");
    let features: Box<Features> = Box::new((
        net.0.clone(),
        net.2,
        net.1,
        net.3.clone(),
        net.5,
        net.4,
        net.6,
    ));
    let head: Head = net.7.clone();
    let mut source = String::new();
    tinyprop::io::rust::write_static(&*features, "FEATURES", "Features", &mut source)
        .expect("write the features");
    tinyprop::io::rust::write_static(&head, "HEAD", "Head", &mut source).expect("write the head");
    fs::write(out.join("digits_cnn.rs"), source).expect("write digits_cnn.rs");

    // The data, split as on the host.
    let text = fs::read_to_string(&csv).expect("read data/digits.csv");
    let table = Table::<f32, 64, u8>::classes_from_str(&text, "class").expect("parse digits.csv");
    let labels = &table.targets;
    let mut rng = SplitMix64::new(SEED);
    let mut rows = vec![0u16; labels.len()];
    let (rest, test_rows) =
        stratified_split(labels, 0.3, &mut rng, &mut rows).expect("split the digits");
    let (train_rows, _validation_rows) =
        stratified_split_rows(labels, rest, 0.2, &mut rng).expect("split the digits");
    let image = |row: u16| -> [f32; 64] { table.features[usize::from(row)].map(|p| p / 16.0) };

    // The held-out images the network classifies correctly, here; the reordered network
    // (pooling before ReLU) must agree with the network as trained.
    let (mut correct, mut correct_as_trained) = (0, 0);
    for &row in test_rows.iter() {
        let x = SMatrix::<f32, 64, 1>::from(image(row));
        let mut f = SMatrix::<f32, 128, 1>::zeros();
        features.forward(&x, &mut f);
        let mut logits = SMatrix::<f32, 10, 1>::zeros();
        head.forward(&f, &mut logits);
        let mut trained = SMatrix::<f32, 10, 1>::zeros();
        net.forward(&x, &mut trained);
        assert_eq!(logits, trained, "pooling before ReLU changes nothing");
        let label = usize::from(labels[usize::from(row)]);
        correct += usize::from(argmax(&logits) == label);
        correct_as_trained += usize::from(argmax(&trained) == label);
    }
    assert_eq!(correct, correct_as_trained);

    let mut source = String::new();
    for (name, rows) in [("TRAIN", &*train_rows), ("TEST", &*test_rows)] {
        let n = rows.len();
        write!(source, "pub static {name}_X: [[u8; 64]; {n}] = [").unwrap();
        for &row in rows.iter() {
            let pixels = table.features[usize::from(row)].map(|p| p as u8);
            write!(source, "{pixels:?},").unwrap();
        }
        writeln!(source, "];").unwrap();
        let y: Vec<u8> = rows.iter().map(|&r| labels[usize::from(r)]).collect();
        writeln!(source, "pub static {name}_Y: [u8; {n}] = {y:?};").unwrap();
    }
    writeln!(source, "pub const HOST_CORRECT: usize = {correct};").unwrap();
    fs::write(out.join("digits.rs"), source).expect("write digits.rs");

    let train: Vec<[f32; 64]> = train_rows.iter().map(|&r| image(r)).collect();
    let test: Vec<([u8; 64], [f32; 64], usize)> = test_rows
        .iter()
        .map(|&r| {
            let pixels = table.features[usize::from(r)].map(|p| p as u8);
            (pixels, image(r), usize::from(labels[usize::from(r)]))
        })
        .collect();
    digits_int8(out, &net, &train, &test);
}

/// The digits CNN in int8 for the firmware `digits_int8`: tinyprop's post-training
/// quantization of the network as trained (`quant::quantize`, calibrated on the training
/// images), written into `OUT_DIR/digits_int8.rs` as
/// * `MODEL`, the `QModel` as a `static` (`io::rust::write_static_int8`);
/// * `PIXEL`, the int8 input of each of the 17 pixel values 0 to 16 (the model's input
///   quantization of `pixel / 16`), so that the device quantizes an image without floating
///   point;
/// * `HOST_CORRECT_INT8`, how many held-out images the int8 model classifies correctly here.
fn digits_int8(out: &Path, net: &Net, train: &[[f32; 64]], test: &[([u8; 64], [f32; 64], usize)]) {
    use tinyprop::quant::{quantize, QModel, Quantize};
    let model: QModel<<Net as Quantize>::Q> =
        quantize(net, train).expect("quantize the digits CNN");
    let pixel: [i8; 17] = std::array::from_fn(|p| model.input.quantize(p as f32 / 16.0));
    let mut correct = 0;
    for (pixels, image, label) in test {
        let q = pixels.map(|p| pixel[usize::from(p)]);
        let predicted = model.predict_q(&q);
        // The table quantizes as the model does.
        assert_eq!(predicted, model.predict(image));
        correct += usize::from(predicted == *label);
    }
    let mut source = String::new();
    tinyprop::io::rust::write_static_int8(&model, "MODEL", "QNet", &mut source)
        .expect("write the int8 model");
    writeln!(source, "pub static PIXEL: [i8; 17] = {pixel:?};").unwrap();
    writeln!(source, "pub const HOST_CORRECT_INT8: usize = {correct};").unwrap();
    fs::write(out.join("digits_int8.rs"), source).expect("write digits_int8.rs");
}

/// The first index of the largest logit (as `tinyprop::metrics`, and the firmware).
fn argmax(logits: &SMatrix<f32, 10, 1>) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}
