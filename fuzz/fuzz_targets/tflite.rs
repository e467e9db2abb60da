//! Arbitrary bytes as a `.tflite` file, loaded into the types of the models of
//! tests/data/tflite (the seeds of fuzz/corpus/tflite, with the max pooling file made a
//! `RESHAPE` to `[1, 192]`) and a few others. Nothing may panic or hang; a load that fails
//! must change nothing; a model that loads must run.
#![no_main]

use core::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use tinyprop::quant::tflite::{self, FromTflite};
use tinyprop::quant::{
    Float64Rounding, Multiplier, QAvgPool2d, QConv2d, QDense, QDepthwiseConv2d, QFlatten, QLayer,
    QMaxPool2d, QModel, QParams, Same, Valid,
};

/// Loads `bytes` into a model of zeros of type `L` and checks the contract.
fn check<L, const NIN: usize, const NOUT: usize>(bytes: &[u8])
where
    L: FromTflite + QLayer<[i8; NIN], Output = [i8; NOUT]> + PartialEq + Debug,
{
    let unit = QParams::new(1.0, 0).unwrap();
    let blank = || QModel {
        input: unit,
        output: unit,
        layers: L::zeroed(),
    };
    let mut model = blank();
    match tflite::load_into(&mut model, bytes) {
        Err(_) => assert_eq!(model, blank(), "a failed load changed the model"),
        Ok(()) => {
            assert!(model.input.scale.is_finite() && model.input.scale > 0.0);
            let mut y = [0i8; NOUT];
            model.forward(&[0i8; NIN], &mut y);
            let _ = model.predict_q(&[1i8; NIN]);
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    check::<QDense<16, 8, Float64Rounding>, 16, 8>(bytes);
    check::<QDense<24, 12, Float64Rounding>, 24, 12>(bytes);
    check::<(QDense<64, 32, Float64Rounding>, QDense<32, 10, Float64Rounding>), 64, 10>(bytes);
    check::<QConv2d<2, 4, 3, 8, 8, 256, 1, Same, Multiplier>, 128, 256>(bytes);
    check::<QConv2d<3, 2, 3, 9, 9, 32, 2, Valid, Multiplier>, 243, 32>(bytes);
    check::<QDepthwiseConv2d<2, 4, 3, 6, 6, 144, 1, Same, Multiplier>, 72, 144>(bytes);
    check::<QMaxPool2d<3, 2, 8, 8, 48, 2, Valid>, 192, 48>(bytes);
    check::<QAvgPool2d<2, 3, 7, 7, 32, 2, Same>, 98, 32>(bytes);
    check::<QFlatten, 192, 192>(bytes);
    check::<(QMaxPool2d<3, 2, 8, 8, 48, 2, Valid>, QFlatten, QDense<48, 4>), 192, 4>(bytes);
});
