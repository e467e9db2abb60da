//! The digits CNN in int8, its weights in flash: inference with no floating point.
//!
//! The network of `digits_cnn` (conv 3×3 16 → ReLU → max pool → conv 3×3 32 → ReLU → max pool
//! → flatten → dense 10), quantized by tinyprop's post-training quantization
//! (`tinyprop::quant::quantize`, calibrated on the 1 008 training images) when the firmware is
//! built: int8 weights with one scale per output channel, int32 biases, a fixed-point multiplier
//! per output channel, TFLite's arithmetic. The build script writes the `QModel` as a `static`
//! (`tinyprop::io::rust`), so it stays in flash.
//!
//! An image's pixels (0 to 16) become the int8 input through a table of the 17 values the build
//! script computed with the model's input quantization, so the device runs no floating point at
//! all: the table, the int8 layers, the argmax of the int8 outputs. The firmware classifies
//! every held-out image (539, the split of `digits_cnn`) and exits with failure unless exactly
//! as many are correct as the same int8 model classified correctly on the host
//! (`HOST_CORRECT_INT8`). It prints integers only (the accuracy to four decimals computed in
//! integers), so not even the printing brings floating-point code.
#![no_std]
#![no_main]

use core::mem::size_of;

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop::quant::{QLayer, QModel, Quantize};
use tinyprop_cortex_m::{exit, icount, stack, start_counting, Meter};

include!("../digits_cnn/model.rs");

/// The int8 network of `Net`, with the quantization of its input and output.
type QNet = QModel<<Net as Quantize>::Q>;

include!(concat!(env!("OUT_DIR"), "/digits_int8.rs"));
include!(concat!(env!("OUT_DIR"), "/digits.rs"));

/// An image as the int8 model's input: each pixel through the table.
fn input(pixels: &[u8; 64]) -> [i8; 64] {
    pixels.map(|p| PIXEL.get(usize::from(p)).copied().unwrap_or(0))
}

/// `part / whole` to four decimals (rounded to nearest, halves up) with integers only.
struct Fraction(usize, usize);

impl core::fmt::Display for Fraction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let per = (self.0 * 10_000 + self.1 / 2)
            .checked_div(self.1)
            .unwrap_or(0);
        write!(f, "{}.{:04}", per / 10_000, per % 10_000)
    }
}

#[entry]
fn main() -> ! {
    start_counting();
    let f32_bytes = size_of::<Net>();
    let int8_bytes = size_of::<QNet>();
    hprintln!(
        "digits_int8: int8 model {} bytes in flash, the f32 network {} bytes ({} of it); {} held-out images; {} bytes of buffers between layers",
        int8_bytes,
        f32_bytes,
        Fraction(int8_bytes, f32_bytes),
        TEST_Y.len(),
        <<Net as Quantize>::Q as QLayer<[i8; 64]>>::STACK_BYTES
    );

    let mut meter = Meter::default();
    let mut correct = 0;
    for (pixels, &label) in TEST_X.iter().zip(TEST_Y.iter()) {
        meter.resume();
        let predicted = MODEL.predict_q(&input(pixels));
        meter.pause();
        correct += usize::from(predicted == usize::from(label));
    }
    let n = TEST_Y.len();
    hprintln!(
        "int8 network: held-out accuracy {} ({} of {}; on the host: {}; the f32 network: {})",
        Fraction(correct, n),
        correct,
        n,
        HOST_CORRECT_INT8,
        HOST_CORRECT
    );
    hprintln!("instructions: {} per inference", meter.total() / n as u64);
    let success = correct == HOST_CORRECT_INT8;
    if !success {
        hprintln!("FAIL: the device and the host classify differently");
    }
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );
    exit(success)
}

#[exception]
fn SysTick() {
    icount::on_wrap();
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("hard fault: {:?}", frame);
    exit(false)
}
