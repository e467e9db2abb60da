//! int8 inference, bit for bit as TensorFlow Lite computes it.
//!
//! The layers here follow the [TFLite int8 quantization specification] and its reference
//! kernels:
//!
//! * activations are int8, asymmetric per tensor: `real = scale · (q − zero_point)`;
//! * weights are int8, symmetric (zero point 0), with one scale per output channel or one for
//!   the whole tensor;
//! * biases are int32 with the scale `input_scale · weight_scale[c]` and zero point 0;
//! * each int32 accumulator is brought back to int8 by a fixed-point multiplier and shift
//!   ([`Multiplier`], or another of TFLite kernels' ways: [`Rescale`]), to which the output
//!   zero point is added, and then clamped to the range of the fused activation
//!   ([`Activation`]).
//!
//! No floating point is used by the layers' `forward`: the real multipliers
//! `input_scale · weight_scale[c] / output_scale` become integer rescalings once, when a layer
//! is built ([`Requantize::new`]), computed in double precision as TFLite's interpreter
//! computes them: TFLite's fixed-point [`Multiplier`]s by default ([`quantize_multiplier`]),
//! or another of the forms TFLite kernels use ([`Rescale`]). The sums wrap around on overflow
//! as TFLite's do on two's-complement hardware; nothing here can panic.
//!
//! The layers: [`QDense`] (fully connected), [`QConv2d`], [`QDepthwiseConv2d`], and
//! [`QMaxPool2d`] and [`QAvgPool2d`].
//!
//! A trained floating-point model becomes its int8 model by post-training quantization:
//! [`quantize`] (see [`ptq`]).
//!
//! Feature maps are in TFLite's layout, `H × W × C` (channels last, unlike the `C × H × W` of
//! the floating-point layers), flattened row-major into one `[i8; N]` per sample; weights are
//! in TFLite's layouts too (see each layer). The tests
//! compare every layer with the LiteRT interpreter's reference kernels on models produced by
//! TensorFlow's converter: the outputs are identical.
//!
//! ```
//! use tinyprop::quant::{Activation, QDense, Requantize};
//! // y = relu(W·x + b) with int8 weights: 2 inputs, 1 output.
//! let layer = QDense::<2, 1> {
//!     weight: [[64, -127]],
//!     bias: [100],
//!     input_zero_point: -3,
//!     output: Requantize::new(0.02, &[0.004], 0.05, -128, Activation::Relu)?,
//! };
//! let mut y = [0i8; 1];
//! layer.forward(&[47, -53], &mut y);
//! // (64·50 − 127·(−50) + 100) · 0.02 · 0.004 / 0.05 = 15.44 → 15 above the zero point −128
//! assert_eq!(y, [-113]);
//! # Ok::<(), tinyprop::Error>(())
//! ```
//!
//! [TFLite int8 quantization specification]: https://ai.google.dev/edge/litert/models/quantization_spec

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::layers::conv::Msg;
use crate::Error;

mod model;
mod source;
#[cfg(feature = "tflite")]
pub mod tflite;
pub use model::{QBuffer, QFlatten, QLayer, QModel, QParams};
pub mod ptq;
pub use ptq::{
    calibrate, quantize, quantize_bias, quantize_weight, weight_scale, Boundary, Calibrate, QRelu,
    Quantization, Quantize, QuantizePoolKind, Range,
};

/// A real multiplier as TFLite represents it: `real ≈ multiplier · 2^(shift − 31)`, with
/// `multiplier` in `[2^30, 2^31)` (or 0, or negative for a negative real).
///
/// ```
/// use tinyprop::quant::Multiplier;
/// let m = Multiplier::from_real(0.75).unwrap();
/// assert_eq!(m, Multiplier { multiplier: 3 << 29, shift: 0 });
/// assert_eq!(m.apply(1000), 750);
/// assert_eq!(m.apply(-3), -2); // −2.25 rounds to −2
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Multiplier {
    /// The significand, a Q0.31 fixed-point number.
    pub multiplier: i32,
    /// The power of two: positive shifts left, negative shifts right.
    pub shift: i32,
}

impl Multiplier {
    /// TFLite's fixed-point form of `real` ([`quantize_multiplier`]); `None` for a NaN or an
    /// infinity.
    pub const fn from_real(real: f64) -> Option<Self> {
        quantize_multiplier(real)
    }

    /// The multiplier TFLite's interpreter derives for one output channel of a fully
    /// connected or convolution layer: `input_scale · weight_scale / output_scale`, computed in
    /// double precision from the float32 scales, then [`quantize_multiplier`].
    ///
    /// ```
    /// use tinyprop::quant::Multiplier;
    /// let m = Multiplier::from_scales(0.5, 0.25, 0.0625).unwrap(); // 2.0
    /// assert_eq!(m, Multiplier { multiplier: 1 << 30, shift: 2 });
    /// ```
    pub const fn from_scales(
        input_scale: f32,
        weight_scale: f32,
        output_scale: f32,
    ) -> Option<Self> {
        let real = input_scale as f64 * weight_scale as f64 / output_scale as f64;
        quantize_multiplier(real)
    }

    /// `x · real`, rounded as TFLite does ([`multiply_by_quantized_multiplier`]).
    #[inline]
    pub const fn apply(self, x: i32) -> i32 {
        multiply_by_quantized_multiplier(x, self.multiplier, self.shift)
    }
}

/// TFLite's `QuantizeMultiplier`: the fixed-point [`Multiplier`] of a real number.
///
/// `real = q · 2^shift` with `q` in `[0.5, 1)` (C's `frexp`), and `multiplier = round(q · 2^31)`,
/// rounding halves away from zero, so that `real ≈ multiplier · 2^(shift − 31)`. The edge cases
/// are TFLite's:
///
/// * `0.0` gives `multiplier = 0, shift = 0`;
/// * a `q` that rounds up to `2^31` becomes `2^30` with `shift + 1`;
/// * a real so small that `shift < −31` (about `|real| < 2^−32`) is flushed to
///   `multiplier = 0, shift = 0`, as are subnormal numbers;
/// * a negative real gives a negative multiplier (TFLite does not refuse it; scales are
///   positive, so it does not arise from a valid model).
///
/// NaN and infinities give `None` (TFLite's result is undefined for them).
///
/// ```
/// use tinyprop::quant::{quantize_multiplier, Multiplier};
/// assert_eq!(quantize_multiplier(0.5), Some(Multiplier { multiplier: 1 << 30, shift: 0 }));
/// assert_eq!(quantize_multiplier(1.0), Some(Multiplier { multiplier: 1 << 30, shift: 1 }));
/// assert_eq!(quantize_multiplier(1e-12), Some(Multiplier { multiplier: 0, shift: 0 }));
/// assert_eq!(quantize_multiplier(f64::NAN), None);
/// ```
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // ranges noted below
pub const fn quantize_multiplier(real: f64) -> Option<Multiplier> {
    const ZERO: Multiplier = Multiplier {
        multiplier: 0,
        shift: 0,
    };
    if !real.is_finite() {
        return None;
    }
    let bits = real.to_bits();
    let negative = bits >> 63 != 0;
    let biased = ((bits >> 52) & 0x7ff) as i32; // 11 bits
    if biased == 0 {
        // ±0, or a subnormal number: frexp's exponent would be below −1021, flushed to zero.
        return Some(ZERO);
    }
    // real = ±mantissa · 2^(biased − 1075), mantissa in [2^52, 2^53); frexp: q = mantissa / 2^53
    // and shift = biased − 1022.
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let mut shift = biased.wrapping_sub(1022);
    // round(q · 2^31) = round(mantissa / 2^22), halves away from zero (on the magnitude).
    let mut q_fixed = (mantissa.wrapping_add(1 << 21) >> 22) as i64; // at most 2^31
    if !negative && q_fixed == 1 << 31 {
        q_fixed >>= 1;
        shift = shift.wrapping_add(1);
    }
    if negative {
        q_fixed = q_fixed.wrapping_neg(); // −2^31 at the least: fits an i32, as in TFLite
    }
    if shift < -31 {
        return Some(ZERO);
    }
    Some(Multiplier {
        multiplier: q_fixed as i32, // in [−2^31, 2^31 − 1]
        shift,
    })
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of `2·a·b`, that is
/// `a·b / 2^31` rounded to the nearest integer, halves rounded up (towards +∞: 1.5 → 2 and
/// −1.5 → −1), saturated: `a = b = i32::MIN` (the only overflow) gives `i32::MAX`.
///
/// ```
/// use tinyprop::quant::saturating_rounding_doubling_high_mul as srdhm;
/// assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29); // 0.5 · 0.5 in Q0.31
/// assert_eq!(srdhm(3, 1 << 30), 2); //  1.5 →  2
/// assert_eq!(srdhm(-3, 1 << 30), -1); // −1.5 → −1
/// assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
/// ```
#[allow(clippy::cast_possible_truncation)] // |result| < 2^31 but for the saturated case
#[inline]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = (a as i64).wrapping_mul(b as i64); // |ab| ≤ 2^62
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncating towards zero, as C's.
    (ab.wrapping_add(nudge).wrapping_div(1 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to the nearest integer, halves
/// away from zero (−1.5 → −2, 1.5 → 2). `exponent ≤ 0` returns `x`; TFLite only uses
/// `0..=31`, and larger exponents give the same rounding of the exact quotient (0, or −1 for
/// `i32::MIN / 2^32`).
///
/// ```
/// use tinyprop::quant::rounding_divide_by_pot;
/// assert_eq!(rounding_divide_by_pot(5, 1), 3);
/// assert_eq!(rounding_divide_by_pot(-5, 1), -3);
/// assert_eq!(rounding_divide_by_pot(-5, 2), -1); // −1.25
/// ```
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ranges noted below
#[inline]
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    if exponent <= 31 {
        let mask = ((1i64 << exponent).wrapping_sub(1)) as i32; // exponent in 1..=31: fits
        let remainder = x & mask;
        let threshold = (mask >> 1).wrapping_add(if x < 0 { 1 } else { 0 }); // ≤ 2^30
                                                                             // |x >> exponent| ≤ 2^30: the sum does not wrap.
        return (x >> exponent).wrapping_add(if remainder > threshold { 1 } else { 0 });
    }
    // Beyond TFLite's range: |x / 2^exponent| ≤ 1/2, only i32::MIN / 2^32 is a half.
    if exponent == 32 && x == i32::MIN {
        -1
    } else {
        0
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier` (its default, "double rounding" form): `x` times
/// the real number `multiplier · 2^(shift − 31)`, computed as
/// `rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x · 2^max(shift, 0),
/// multiplier), max(−shift, 0))`.
///
/// The left shift wraps around as TFLite's `x * (1 << shift)` does on two's-complement
/// hardware (it does not occur for multipliers below 1, the usual case); a left shift of 32 or
/// more gives 0.
///
/// ```
/// use tinyprop::quant::{multiply_by_quantized_multiplier, Multiplier};
/// let m = Multiplier::from_real(0.1).unwrap();
/// assert_eq!(multiply_by_quantized_multiplier(125, m.multiplier, m.shift), 13); // 12.5 → 13
/// assert_eq!(multiply_by_quantized_multiplier(-125, m.multiplier, m.shift), -13);
/// ```
#[allow(clippy::cast_sign_loss)] // left is in 0..=31 where it is used
#[inline]
pub const fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 {
        (shift, 0)
    } else {
        (0, shift.saturating_neg())
    };
    let shifted = if left >= 32 { 0 } else { x << (left as u32) };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, multiplier),
        right,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplier` in its "single rounding" form (built with
/// `TFLITE_SINGLE_ROUNDING`; see [`Rescale`]): the
/// 64-bit product `x · multiplier` rounded once, `(x·multiplier + 2^(30 − shift)) >> (31 −
/// shift)` (halves up), saturated to `i32`.
///
/// TFLite's single-rounding builds cap the shift at 30 (`multiplier = 2^31 − 1`); a larger
/// shift is treated that way here. Shifts below −31 (not produced by [`quantize_multiplier`])
/// round the exact product as well.
///
/// ```
/// use tinyprop::quant::{multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_single_rounding as single, Multiplier};
/// let m = Multiplier::from_real(0.375).unwrap();
/// assert_eq!(single(-1, m.multiplier, m.shift), 0); // −0.375 → 0
/// assert_eq!(multiply_by_quantized_multiplier(-1, m.multiplier, m.shift), -1); // rounded twice
/// ```
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ranges noted below
#[inline]
pub const fn multiply_by_quantized_multiplier_single_rounding(
    x: i32,
    multiplier: i32,
    shift: i32,
) -> i32 {
    let (multiplier, shift) = if shift > 30 {
        (i32::MAX, 30)
    } else {
        (multiplier, shift)
    };
    let total = 31i32.wrapping_sub(shift); // ≥ 1
    let product = (x as i64).wrapping_mul(multiplier as i64); // |product| ≤ 2^62
    let result: i64 = if total <= 62 {
        // |product| + 2^61 < 2^63: no overflow.
        product.wrapping_add(1 << total.wrapping_sub(1)) >> total
    } else {
        // |product / 2^total| ≤ 1/2: the rounding of the exact quotient, halves up, is 0 or 1.
        let wide = product as i128;
        let total = if total > 100 { 100 } else { total };
        (wide.wrapping_add(1i128 << total.wrapping_sub(1)) >> total) as i64
    };
    if result > i32::MAX as i64 {
        i32::MAX
    } else if result < i32::MIN as i64 {
        i32::MIN
    } else {
        result as i32
    }
}

/// How a layer scales an int32 accumulator by a real number: one of the ways TFLite kernels
/// compute `acc · real`, each exact to the bit.
///
/// * [`Multiplier`]: TFLite's fixed-point multiplier rounded twice
///   ([`multiply_by_quantized_multiplier`]), the default build's arithmetic and the int8
///   specification's. LiteRT's reference `CONV_2D` and `DEPTHWISE_CONV_2D` kernels compute it;
///   so do TFLite Micro's reference kernels and LiteRT's optimized ones in their default build.
/// * [`SingleRounding`]: the fixed-point multiplier rounded once, as builds with
///   `TFLITE_SINGLE_ROUNDING` compute it.
/// * [`Float64Rounding`]: `round(acc · real)` in double precision, which LiteRT's *reference*
///   `FULLY_CONNECTED` kernel computes instead of the fixed-point form, emulated with integers
///   only.
///
/// On the test models, `Multiplier` differs from LiteRT's reference fully connected kernel on
/// about 0.1 % of the outputs, and `SingleRounding` on none (it can differ where `acc · real`
/// lies within about `|acc · real| · 2^−31` of a half-integer).
pub trait Rescale: Debug + Clone + Copy + PartialEq + Default {
    /// The rescaling by `real`; `None` for a NaN or an infinity.
    fn from_real(real: f64) -> Option<Self>;
    /// `acc · real`, rounded to an integer as this form does, saturated to `i32`.
    fn apply(self, acc: i32) -> i32;
}

impl Rescale for Multiplier {
    fn from_real(real: f64) -> Option<Self> {
        quantize_multiplier(real)
    }
    #[inline]
    fn apply(self, acc: i32) -> i32 {
        multiply_by_quantized_multiplier(acc, self.multiplier, self.shift)
    }
}

/// TFLite's fixed-point multiplier applied with one rounding
/// ([`multiply_by_quantized_multiplier_single_rounding`]); see [`Rescale`].
///
/// ```
/// use tinyprop::quant::{Multiplier, Rescale, SingleRounding};
/// let m = SingleRounding::from_real(0.375).unwrap();
/// assert_eq!(m.apply(-1), 0); // −0.375
/// assert_eq!(Multiplier::from_real(0.375).unwrap().apply(-1), -1); // two roundings
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SingleRounding(pub Multiplier);

impl Rescale for SingleRounding {
    fn from_real(real: f64) -> Option<Self> {
        quantize_multiplier(real).map(SingleRounding)
    }
    #[inline]
    fn apply(self, acc: i32) -> i32 {
        multiply_by_quantized_multiplier_single_rounding(acc, self.0.multiplier, self.0.shift)
    }
}

/// A real number kept exactly as its double-precision value, `mantissa · 2^exponent`, applied
/// as C computes `(int32_t)round((double)acc * real)`: the product rounded to double
/// precision (to nearest, ties to even), then to an integer (halves away from zero), here
/// with integer arithmetic only (saturated to `i32` where C's conversion is undefined). This
/// is LiteRT's reference `FULLY_CONNECTED` kernel; see [`Rescale`].
///
/// ```
/// use tinyprop::quant::{Float64Rounding, Rescale};
/// let real = 0.1;
/// let m = Float64Rounding::from_real(real).unwrap();
/// for acc in [-1_000_000, -25, -15, 0, 5, 15, 123_456] {
///     assert_eq!(m.apply(acc), (acc as f64 * real).round() as i32);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Float64Rounding {
    /// The significand with its sign, `|mantissa| < 2^53`.
    pub mantissa: i64,
    /// The power of two.
    pub exponent: i32,
}

impl Float64Rounding {
    /// The exact value of `real`; `None` for a NaN or an infinity.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // 11 and 53 bits
    pub const fn new(real: f64) -> Option<Self> {
        if !real.is_finite() {
            return None;
        }
        let bits = real.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = (bits & ((1 << 52) - 1)) as i64;
        let (magnitude, exponent) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), biased.wrapping_sub(1075))
        };
        let mantissa = if bits >> 63 != 0 {
            magnitude.wrapping_neg()
        } else {
            magnitude
        };
        Some(Self { mantissa, exponent })
    }
}

impl Rescale for Float64Rounding {
    fn from_real(real: f64) -> Option<Self> {
        Self::new(real)
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)] // ranges noted
    fn apply(self, acc: i32) -> i32 {
        let negative = (acc < 0) != (self.mantissa < 0);
        // The exact product, below 2^31 · 2^53.
        let exact =
            u128::from(acc.unsigned_abs()).wrapping_mul(u128::from(self.mantissa.unsigned_abs()));
        if exact == 0 {
            return 0;
        }
        // Rounded to the 53 significant bits of a double, to nearest, ties to even.
        let bits = 128u32.wrapping_sub(exact.leading_zeros());
        let product = if bits > 53 {
            let drop = bits.wrapping_sub(53); // 1..=31
            let kept = exact >> drop;
            let rest = exact & ((1u128 << drop).wrapping_sub(1));
            let half = 1u128 << drop.wrapping_sub(1);
            let up = rest > half || (rest == half && kept & 1 == 1);
            kept.wrapping_add(u128::from(up)) << drop // below 2^85
        } else {
            exact
        };
        // Rounded to an integer, halves away from zero (C's round).
        let magnitude = if self.exponent >= 0 {
            if self.exponent >= 40 {
                u128::MAX
            } else {
                product << self.exponent // below 2^125
            }
        } else {
            let r = self.exponent.unsigned_abs();
            if r >= 100 {
                0 // below 2^-15
            } else {
                product.wrapping_add(1u128 << r.wrapping_sub(1)) >> r
            }
        };
        if negative {
            if magnitude >= 1 << 31 {
                i32::MIN
            } else {
                (magnitude as i32).wrapping_neg()
            }
        } else if magnitude > i32::MAX as u128 {
            i32::MAX
        } else {
            magnitude as i32
        }
    }
}

/// A fused activation of a TFLite layer, applied as a clamp of the int8 output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// No activation: the int8 range `[−128, 127]`.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, −1), 1)` (TFLite's `RELU_N1_TO_1`).
    ReluN1To1,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

impl Activation {
    /// The int8 clamp `(min, max)` of the activation for an output of this scale and zero
    /// point, as TFLite computes it: a real bound `f` becomes
    /// `zero_point + round(f / scale)` (float32 division, halves away from zero), limited to
    /// `[−128, 127]`.
    ///
    /// ```
    /// use tinyprop::quant::Activation;
    /// assert_eq!(Activation::None.range(0.1, 3), (-128, 127));
    /// assert_eq!(Activation::Relu.range(0.1, 3), (3, 127));
    /// assert_eq!(Activation::Relu6.range(0.1, -128), (-128, -68));
    /// ```
    pub const fn range(self, output_scale: f32, output_zero_point: i32) -> (i32, i32) {
        let (s, z) = (output_scale, output_zero_point);
        match self {
            Activation::None => (-128, 127),
            Activation::Relu => (quantize_bound(0.0, s, z), 127),
            Activation::ReluN1To1 => (quantize_bound(-1.0, s, z), quantize_bound(1.0, s, z)),
            Activation::Relu6 => (quantize_bound(0.0, s, z), quantize_bound(6.0, s, z)),
        }
    }
}

/// TFLite's quantization of an activation bound `f`, limited to the int8 range.
const fn quantize_bound(f: f32, scale: f32, zero_point: i32) -> i32 {
    clamp_i8(zero_point.saturating_add(round_f32(f / scale)))
}

/// `v` limited to the int8 range.
pub(crate) const fn clamp_i8(v: i32) -> i32 {
    if v < -128 {
        -128
    } else if v > 127 {
        127
    } else {
        v
    }
}

/// C's `roundf` (halves away from zero) as an `i32`, saturated; NaN gives 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // saturating casts
pub(crate) const fn round_f32(v: f32) -> i32 {
    // Below 2^23 in magnitude `v − trunc(v)` is exact; above, `v` is an integer.
    let t = v as i32;
    let frac = v - t as f32;
    if v.abs() >= 8_388_608.0 {
        t
    } else if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// The requantization of a layer's `O` int32 accumulators to int8 outputs: one [`Multiplier`]
/// per output channel, the output zero point, and the clamp of the fused activation.
///
/// Built from the scales by [`Requantize::new`], as TFLite's interpreter prepares a fully
/// connected or convolution layer; the fields are public for parameters read from elsewhere.
/// Whatever their values, an output is `clamp(multiplier.apply(acc) + zero_point, min, max)`
/// limited to `[−128, 127]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requantize<const O: usize, M: Rescale = Multiplier> {
    /// The rescaling of each output channel ([`Multiplier`]s unless the layer says otherwise).
    pub multipliers: [M; O],
    /// The output's zero point.
    pub zero_point: i32,
    /// The lowest output (the fused activation's lower bound).
    pub min: i32,
    /// The highest output.
    pub max: i32,
}

impl<const O: usize, M: Rescale> Requantize<O, M> {
    /// The requantization of a layer whose input has the scale `input_scale`, whose weights have
    /// the scales `weight_scales` (one per output channel, or one for the whole tensor) and
    /// whose output has the scale `output_scale` and zero point `output_zero_point`, with a
    /// fused `activation`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantization`] for a scale that is not a positive finite number, a zero
    /// point outside `[−128, 127]`, or a number of weight scales other than 1 and `O`.
    ///
    /// ```
    /// use tinyprop::quant::{Activation, Requantize};
    /// let per_channel = Requantize::<2>::new(0.5, &[0.01, 0.02], 0.25, 0, Activation::None)?;
    /// let per_tensor = Requantize::<2>::new(0.5, &[0.01], 0.25, 0, Activation::Relu)?;
    /// assert_eq!(per_channel.multipliers[0], per_tensor.multipliers[1]);
    /// assert!(Requantize::<2>::new(0.5, &[0.01; 3], 0.25, 0, Activation::None).is_err());
    /// # Ok::<(), tinyprop::Error>(())
    /// ```
    pub fn new(
        input_scale: f32,
        weight_scales: &[f32],
        output_scale: f32,
        output_zero_point: i32,
        activation: Activation,
    ) -> Result<Self, Error> {
        let valid = |s: f32| s.is_finite() && s > 0.0;
        if !valid(input_scale) {
            return Err(Error::InvalidQuantization("input scale"));
        }
        if !valid(output_scale) {
            return Err(Error::InvalidQuantization("output scale"));
        }
        if !(-128..=127).contains(&output_zero_point) {
            return Err(Error::InvalidQuantization("output zero point"));
        }
        if weight_scales.len() != 1 && weight_scales.len() != O {
            return Err(Error::InvalidQuantization("number of weight scales"));
        }
        let mut multipliers = [M::default(); O];
        for (c, m) in multipliers.iter_mut().enumerate() {
            // One scale for the whole tensor is broadcast to every channel, as TFLite does.
            let scale = weight_scales
                .get(c)
                .or(weight_scales.first())
                .copied()
                .unwrap_or(0.0);
            if !valid(scale) {
                return Err(Error::InvalidQuantization("weight scale"));
            }
            // As TFLite's interpreter computes it, in double precision.
            let real = f64::from(input_scale) * f64::from(scale) / f64::from(output_scale);
            *m = M::from_real(real).ok_or(Error::InvalidQuantization("weight scale"))?;
        }
        let (min, max) = activation.range(output_scale, output_zero_point);
        Ok(Self {
            multipliers,
            zero_point: output_zero_point,
            min,
            max,
        })
    }

    /// The int8 output of the accumulator `acc` of a channel whose multiplier is `m`.
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // clamped to the int8 range first
    fn output(&self, m: M, acc: i32) -> i8 {
        let v = m.apply(acc).wrapping_add(self.zero_point);
        clamp_i8(v.max(self.min).min(self.max)) as i8
    }

    /// Writes the outputs of the accumulators `acc` (one per channel) into `y`.
    #[inline]
    fn write(&self, acc: &[i32; O], y: &mut [i8]) {
        for ((y, &a), &m) in y.iter_mut().zip(acc).zip(&self.multipliers) {
            *y = self.output(m, a);
        }
    }
}

/// A fully connected int8 layer, TFLite's `FULLY_CONNECTED`: `I` inputs, `O` outputs.
///
/// `y[o] = requantize(Σ_i weight[o][i] · (x[i] − input_zero_point) + bias[o])`; the weight
/// is TFLite's `[O, I]` tensor. TensorFlow's converter (2.21) quantizes a Keras `Dense`
/// layer's weights per output channel; a per-tensor scale is the same arithmetic with every
/// channel's multiplier equal (see [`Requantize::new`]). LiteRT's reference fully connected
/// kernel is `QDense<I, O, Float64Rounding>` (see [`Rescale`]).
///
/// See the [module docs](self) for an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QDense<const I: usize, const O: usize, M: Rescale = Multiplier> {
    /// `[O, I]`, int8, zero point 0.
    pub weight: [[i8; I]; O],
    /// int32, scale `input_scale · weight_scale[o]`.
    pub bias: [i32; O],
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The multipliers, output zero point and activation clamp.
    pub output: Requantize<O, M>,
}

impl<const I: usize, const O: usize, M: Rescale> QDense<I, O, M> {
    /// The layer of these parameters: the weight `[O, I]`, the bias, the input's zero point and
    /// the requantization.
    pub const fn new(
        weight: [[i8; I]; O],
        bias: [i32; O],
        input_zero_point: i32,
        output: Requantize<O, M>,
    ) -> Self {
        Self {
            weight,
            bias,
            input_zero_point,
            output,
        }
    }

    /// The int8 outputs `y` of the int8 inputs `x`.
    pub fn forward(&self, x: &[i8; I], y: &mut [i8; O]) {
        let offset = self.input_zero_point.wrapping_neg();
        let mut acc = self.bias;
        for (a, row) in acc.iter_mut().zip(&self.weight) {
            // Σ w·(x − z) as Σ w·x − z·Σ w: the same sum modulo 2³² (TFLite's wrapping), and a
            // loop the compiler vectorizes better (the int8 bench line: 1.4× as fast).
            let (dot, weights) = row.iter().zip(x).fold((0i32, 0i32), |(d, s), (&w, &v)| {
                let (w, v) = (i32::from(w), i32::from(v));
                (d.wrapping_add(w.wrapping_mul(v)), s.wrapping_add(w))
            });
            *a = a
                .wrapping_add(dot)
                .wrapping_add(weights.wrapping_mul(offset));
        }
        self.output.write(&acc, y);
    }
}

/// TFLite's padding of a convolution: [`Same`] or [`Valid`]; or [`Explicit`], PyTorch's.
pub trait Padding: Debug + Clone + Copy + Default + PartialEq {
    /// `true` for [`Same`].
    const SAME: bool;
    /// The padding on every side for [`Explicit`]; `None` for TFLite's [`Same`] and [`Valid`].
    const EXPLICIT: Option<usize> = None;
}

/// `padding='same'`: `ceil(H / S)` outputs per axis, the input padded with its zero point,
/// the odd unit of padding (if any) at the bottom and right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Same;
/// `padding='valid'`: no padding, `(H − K) / S + 1` outputs per axis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valid;

impl Padding for Same {
    const SAME: bool = true;
}
impl Padding for Valid {
    const SAME: bool = false;
}

/// PyTorch's `padding=P`: `P` rows and columns on every side, `(H + 2P − K) / S + 1` outputs
/// per axis. A convolution reads the padding as the input's zero point (it contributes 0), as
/// TFLite computes a `PAD` (with the zero point) followed by a `'valid'` convolution; a pooling
/// leaves the padding out of its windows (PyTorch's max pooling; an average over the window's
/// elements inside the input only).
///
/// ```
/// use tinyprop::quant::{Activation, Explicit, QConv2d, Requantize};
/// // 1 channel of 2×2, a 3×3 kernel of ones, padding 1: each output sums the 4 inputs.
/// let layer = QConv2d::<1, 1, 3, 2, 2, 4, 1, Explicit<1>>::new(
///     [[[[1]; 3]; 3]], [0], 0, Requantize::new(1.0, &[1.0], 1.0, 0, Activation::None)?);
/// let mut y = [0i8; 4];
/// layer.forward(&[1, 2, 3, 4], &mut y);
/// assert_eq!(y, [10; 4]);
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explicit<const P: usize>;

impl<const P: usize> Padding for Explicit<P> {
    const SAME: bool = false;
    const EXPLICIT: Option<usize> = Some(P);
}

/// The output size of one axis under the padding `Pd`.
const fn out_size<Pd: Padding>(n: usize, k: usize, s: usize) -> usize {
    match Pd::EXPLICIT {
        Some(p) => conv_out_size(n.saturating_add(p.saturating_mul(2)), k, s, false),
        None => conv_out_size(n, k, s, Pd::SAME),
    }
}

/// The padding before (top or left) of one axis under the padding `Pd`.
const fn pad_of<Pd: Padding>(n: usize, k: usize, s: usize, out: usize) -> usize {
    match Pd::EXPLICIT {
        Some(p) => p,
        None => pad_before(n, k, s, out),
    }
}

/// TFLite's output size of one axis of a convolution (`ComputeOutSize`, dilation 1): an input
/// of `n`, a kernel of `k`, a stride of `s`; 0 if the kernel does not fit.
///
/// ```
/// use tinyprop::quant::conv_out_size;
/// assert_eq!(conv_out_size(8, 3, 2, true), 4); // 'same'
/// assert_eq!(conv_out_size(9, 3, 2, false), 4); // 'valid'
/// ```
pub const fn conv_out_size(n: usize, k: usize, s: usize, same: bool) -> usize {
    let span = if same {
        n.saturating_add(s.saturating_sub(1))
    } else if n < k {
        return 0;
    } else {
        n.saturating_sub(k).saturating_add(s)
    };
    match span.checked_div(s) {
        Some(v) => v,
        None => 0,
    }
}

/// TFLite's padding before (top or left) of one axis: half the total padding
/// `max((out − 1)·s + k − n, 0)`, rounded down.
const fn pad_before(n: usize, k: usize, s: usize, out: usize) -> usize {
    let needed = out.saturating_sub(1).saturating_mul(s).saturating_add(k);
    needed.saturating_sub(n) >> 1
}

/// The build-time checks of a convolution's sizes.
#[allow(clippy::too_many_arguments)]
const fn check_conv<Pd: Padding>(
    what: &str,
    c: usize,
    o: usize,
    k: usize,
    h: usize,
    w: usize,
    nin: usize,
    nout: usize,
    s: usize,
) {
    let oh = out_size::<Pd>(h, k, s);
    let ow = out_size::<Pd>(w, k, s);
    if c == 0 || o == 0 || k == 0 || s == 0 || h == 0 || w == 0 {
        Msg::new()
            .s(what)
            .s(": channels, kernel size, stride and input size must be at least 1")
            .fail();
    }
    if oh == 0 || ow == 0 {
        let why = if Pd::EXPLICIT.is_some() {
            ": the kernel does not fit the padded input"
        } else {
            ": the kernel does not fit the input (padding 'valid')"
        };
        Msg::new().s(what).s(why).fail();
    }
    if nin != h.saturating_mul(w).saturating_mul(c) {
        Msg::new()
            .s(what)
            .s(": the input width must be H·W·C = ")
            .n(h.saturating_mul(w).saturating_mul(c))
            .s(" (got ")
            .n(nin)
            .s(")")
            .fail();
    }
    if nout != oh.saturating_mul(ow).saturating_mul(o) {
        Msg::new()
            .s(what)
            .s(": the output width NOUT must be OH·OW·O = ")
            .n(oh)
            .s("·")
            .n(ow)
            .s("·")
            .n(o)
            .s(" (got ")
            .n(nout)
            .s(")")
            .fail();
    }
}

/// Along one axis: the input index that kernel tap `k` of output `out` reads, if it is inside
/// the input (none in the padding).
#[inline]
fn taps(out: usize, n: usize, s: usize, pad: usize, k: usize) -> impl Iterator<Item = usize> {
    // The input index of output `out` and kernel tap `k`, if it is inside the input.
    (out.wrapping_mul(s).wrapping_add(k))
        .checked_sub(pad)
        .filter(|&i| i < n)
        .into_iter()
}

/// A 2-D int8 convolution, TFLite's `CONV_2D` (dilation 1, per-channel weights):
/// `C` input channels, `O` output channels, a `K × K` kernel, an `H × W` input, stride `S`
/// along both axes and [`Padding`] `Pd`; `NOUT = OH·OW·O` is the flat output width, checked
/// when the program is built (with `OH`, `OW` given by [`conv_out_size`]).
///
/// Input and output are `H × W × C` and `OH × OW × O` maps, channels last. The weight is
/// TFLite's `[O, K, K, C]` tensor. Padding reads as the input's zero point (contributes 0).
///
/// ```
/// use tinyprop::quant::{Activation, QConv2d, Requantize, Same};
/// // 1 channel of 4×4 → 2 channels, 3×3 'same', stride 2: 2·2·2 outputs.
/// let layer = QConv2d::<1, 2, 3, 4, 4, 8, 2, Same>::new(
///     [[[[1]; 3]; 3], [[[-1]; 3]; 3]], // weight [O, K, K, C]
///     [0, 0],                          // bias
///     0,                               // input zero point
///     Requantize::new(1.0, &[1.0], 1.0, 0, Activation::None)?,
/// );
/// let mut y = [0i8; 8];
/// layer.forward(&[1; 16], &mut y);
/// // 'same' with stride 2 pads only the bottom and right: 9 taps inside at (0, 0), 4 at (1, 1).
/// assert_eq!(y, [9, -9, 6, -6, 6, -6, 4, -4]); // (y, x, channel)
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QConv2d<
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize = 1,
    Pd: Padding = Same,
    M: Rescale = Multiplier,
> {
    /// `[O, K, K, C]`, int8, zero point 0.
    pub weight: [[[[i8; C]; K]; K]; O],
    /// int32, scale `input_scale · weight_scale[o]`.
    pub bias: [i32; O],
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The multipliers, output zero point and activation clamp.
    pub output: Requantize<O, M>,
    padding: PhantomData<Pd>,
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
    > QConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    const OH: usize = out_size::<Pd>(H, K, S);
    const OW: usize = out_size::<Pd>(W, K, S);

    /// The layer of these parameters: the weight `[O, K, K, C]`, the bias, the input's zero
    /// point and the requantization.
    pub const fn new(
        weight: [[[[i8; C]; K]; K]; O],
        bias: [i32; O],
        input_zero_point: i32,
        output: Requantize<O, M>,
    ) -> Self {
        Self {
            weight,
            bias,
            input_zero_point,
            output,
            padding: PhantomData,
        }
    }

    /// The int8 output map `y` of the int8 input map `x` (`NIN = H·W·C`, checked when the
    /// program is built).
    pub fn forward<const NIN: usize>(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        const {
            check_conv::<Pd>("QConv2d", C, O, K, H, W, NIN, NOUT, S);
        }
        let (oh, ow) = (Self::OH, Self::OW);
        let (pad_h, pad_w) = (pad_of::<Pd>(H, K, S, oh), pad_of::<Pd>(W, K, S, ow));
        let offset = self.input_zero_point.wrapping_neg();
        let row_len = W.wrapping_mul(C);
        let out_row = ow.wrapping_mul(O);
        for (oy, y_row) in y.chunks_exact_mut(out_row.max(1)).enumerate() {
            for (ox, y_px) in y_row.chunks_exact_mut(O.max(1)).enumerate() {
                let mut acc = self.bias;
                for ky in 0..K {
                    for iy in taps(oy, H, S, pad_h, ky) {
                        let row_start = iy.wrapping_mul(row_len);
                        for kx in 0..K {
                            for ix in taps(ox, W, S, pad_w, kx) {
                                let start = row_start.wrapping_add(ix.wrapping_mul(C));
                                let Some(px) = x.get(start..start.wrapping_add(C)) else {
                                    continue;
                                };
                                for (a, w) in acc.iter_mut().zip(&self.weight) {
                                    let Some(wk) = w.get(ky).and_then(|r| r.get(kx)) else {
                                        continue;
                                    };
                                    *a = wk.iter().zip(px).fold(*a, |s, (&w, &v)| {
                                        s.wrapping_add(
                                            i32::from(w)
                                                .wrapping_mul(i32::from(v).wrapping_add(offset)),
                                        )
                                    });
                                }
                            }
                        }
                    }
                }
                self.output.write(&acc, y_px);
            }
        }
    }
}

/// A depthwise 2-D int8 convolution, TFLite's `DEPTHWISE_CONV_2D` (dilation 1, per-channel
/// weights): `C` input channels, `O = C·M` output channels (depth multiplier `M`), output
/// channel `c·M + m` reading input channel `c`; otherwise as [`QConv2d`].
///
/// The weight is TFLite's `[1, K, K, O]` tensor without its first axis.
///
/// ```
/// use tinyprop::quant::{Activation, QDepthwiseConv2d, Requantize, Valid};
/// // 2 channels of 3×3, depth multiplier 1, a 3×3 'valid' kernel: one output per channel.
/// let layer = QDepthwiseConv2d::<2, 2, 3, 3, 3, 2, 1, Valid>::new(
///     [[[1, 2]; 3]; 3], // weight [K, K, O]
///     [0, 0],
///     0,
///     Requantize::new(1.0, &[1.0], 1.0, 0, Activation::Relu)?,
/// );
/// let mut y = [0i8; 2];
/// layer.forward(&[1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1], &mut y);
/// assert_eq!(y, [9, 0]); // 9·1·1, and relu(9·2·(−1))
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QDepthwiseConv2d<
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize = 1,
    Pd: Padding = Same,
    M: Rescale = Multiplier,
> {
    /// `[K, K, O]`, int8, zero point 0.
    pub weight: [[[i8; O]; K]; K],
    /// int32, scale `input_scale · weight_scale[o]`.
    pub bias: [i32; O],
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The multipliers, output zero point and activation clamp.
    pub output: Requantize<O, M>,
    padding: PhantomData<Pd>,
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
    > QDepthwiseConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    const OH: usize = out_size::<Pd>(H, K, S);
    const OW: usize = out_size::<Pd>(W, K, S);
    /// The depth multiplier.
    const M: usize = match O.checked_div(C) {
        Some(m) => m,
        None => 0,
    };

    /// The layer of these parameters: the weight `[K, K, O]`, the bias, the input's zero point
    /// and the requantization.
    pub const fn new(
        weight: [[[i8; O]; K]; K],
        bias: [i32; O],
        input_zero_point: i32,
        output: Requantize<O, M>,
    ) -> Self {
        Self {
            weight,
            bias,
            input_zero_point,
            output,
            padding: PhantomData,
        }
    }

    /// The int8 output map `y` of the int8 input map `x` (`NIN = H·W·C`, checked when the
    /// program is built).
    pub fn forward<const NIN: usize>(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        const {
            check_conv::<Pd>("QDepthwiseConv2d", C, O, K, H, W, NIN, NOUT, S);
            if C == 0 || O % C != 0 {
                Msg::new()
                    .s("QDepthwiseConv2d: the output channels O must be a multiple of C=")
                    .n(C)
                    .s(" (got O=")
                    .n(O)
                    .s(")")
                    .fail();
            }
        }
        let (oh, ow) = (Self::OH, Self::OW);
        let (pad_h, pad_w) = (pad_of::<Pd>(H, K, S, oh), pad_of::<Pd>(W, K, S, ow));
        let offset = self.input_zero_point.wrapping_neg();
        let m = Self::M.max(1);
        let row_len = W.wrapping_mul(C);
        let out_row = ow.wrapping_mul(O);
        for (oy, y_row) in y.chunks_exact_mut(out_row.max(1)).enumerate() {
            for (ox, y_px) in y_row.chunks_exact_mut(O.max(1)).enumerate() {
                let mut acc = self.bias;
                for (ky, w_row) in self.weight.iter().enumerate() {
                    for iy in taps(oy, H, S, pad_h, ky) {
                        let row_start = iy.wrapping_mul(row_len);
                        for (kx, w_tap) in w_row.iter().enumerate() {
                            for ix in taps(ox, W, S, pad_w, kx) {
                                let start = row_start.wrapping_add(ix.wrapping_mul(C));
                                let Some(px) = x.get(start..start.wrapping_add(C)) else {
                                    continue;
                                };
                                let groups = acc.chunks_exact_mut(m).zip(w_tap.chunks_exact(m));
                                for ((a, w), &v) in groups.zip(px) {
                                    let v = i32::from(v).wrapping_add(offset);
                                    for (a, &w) in a.iter_mut().zip(w) {
                                        *a = a.wrapping_add(i32::from(w).wrapping_mul(v));
                                    }
                                }
                            }
                        }
                    }
                }
                self.output.write(&acc, y_px);
            }
        }
    }
}

/// An int8 pooling: [`QMaxPool2d`] or [`QAvgPool2d`].
pub trait QPoolKind: Debug + Clone + Copy + Default + PartialEq {
    /// `true` for the average.
    const AVERAGE: bool;
}

/// The maximum of each window (TFLite's `MAX_POOL_2D`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QMax;
/// The average of each window (TFLite's `AVERAGE_POOL_2D`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QAvg;

impl QPoolKind for QMax {
    const AVERAGE: bool = false;
}
impl QPoolKind for QAvg {
    const AVERAGE: bool = true;
}

/// A 2-D int8 pooling as TFLite's reference kernels compute it: `C` channels of `H × W`
/// (channels last), a `K × K` window, stride `S`, [`Padding`] `Pd`, `NOUT = OH·OW·C` checked
/// when the program is built. Input and output share their scale and zero point (TFLite
/// requires it), so no rescaling: the window's maximum, or its average rounded to nearest
/// with halves away from zero (TFLite's `(sum ± count/2) / count`), over the window's elements
/// inside the input only (padding is not counted), then clamped to the fused activation's
/// range.
///
/// ```
/// use tinyprop::quant::{Activation, QAvgPool2d, QMaxPool2d, Valid};
/// // 1 channel of 2×2, a 2×2 window: one output.
/// let max = QMaxPool2d::<1, 2, 2, 2, 1, 2, Valid>::new(Activation::None, 0.1, 0);
/// let avg = QAvgPool2d::<1, 2, 2, 2, 1, 2, Valid>::new(Activation::None, 0.1, 0);
/// let mut y = [0i8; 1];
/// max.forward(&[1, -7, 4, 3], &mut y);
/// assert_eq!(y, [4]);
/// avg.forward(&[1, -7, 4, 3], &mut y);
/// assert_eq!(y, [0]); // 1/4 → 0
/// avg.forward(&[-1, -7, -4, 2], &mut y);
/// assert_eq!(y, [-3]); // −10/4 = −2.5 → −3
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QPool2d<
    Kind: QPoolKind,
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd: Padding = Valid,
> {
    /// The lowest output (the fused activation's lower bound).
    pub min: i32,
    /// The highest output.
    pub max: i32,
    kind: PhantomData<(Kind, Pd)>,
}

/// int8 max pooling, TFLite's `MAX_POOL_2D` (see [`QPool2d`]).
pub type QMaxPool2d<
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd = Valid,
> = QPool2d<QMax, C, K, H, W, NOUT, S, Pd>;

/// int8 average pooling, TFLite's `AVERAGE_POOL_2D` (see [`QPool2d`]).
pub type QAvgPool2d<
    const C: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    Pd = Valid,
> = QPool2d<QAvg, C, K, H, W, NOUT, S, Pd>;

impl<
        Kind: QPoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
    > QPool2d<Kind, C, K, H, W, NOUT, S, Pd>
{
    const OH: usize = out_size::<Pd>(H, K, S);
    const OW: usize = out_size::<Pd>(W, K, S);

    /// The pooling with a fused `activation`, for an input (and output) of this scale and zero
    /// point.
    pub const fn new(activation: Activation, scale: f32, zero_point: i32) -> Self {
        let (min, max) = activation.range(scale, zero_point);
        Self {
            min,
            max,
            kind: PhantomData,
        }
    }

    /// The pooling whose outputs are clamped to `[min, max]` (the fused activation's range,
    /// as [`QPool2d::new`] computes it from the scale): the `const` constructor a model written
    /// as Rust source uses ([`crate::io::rust`]).
    ///
    /// ```
    /// use tinyprop::quant::{Activation, QMaxPool2d, Valid};
    /// let relu = QMaxPool2d::<1, 2, 2, 2, 1, 2, Valid>::new(Activation::Relu, 0.1, -5);
    /// assert_eq!(relu, QMaxPool2d::from_range(-5, 127));
    /// ```
    pub const fn from_range(min: i32, max: i32) -> Self {
        Self {
            min,
            max,
            kind: PhantomData,
        }
    }

    /// The int8 output map `y` of the int8 input map `x` (`NIN = H·W·C`, checked when the
    /// program is built).
    #[allow(clippy::cast_possible_truncation)] // clamped to the int8 range first
    pub fn forward<const NIN: usize>(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        const {
            check_conv::<Pd>("QPool2d", C, C, K, H, W, NIN, NOUT, S);
        }
        let (oh, ow) = (Self::OH, Self::OW);
        let (pad_h, pad_w) = (pad_of::<Pd>(H, K, S, oh), pad_of::<Pd>(W, K, S, ow));
        let row_len = W.wrapping_mul(C);
        for (oy, y_row) in y.chunks_exact_mut(ow.wrapping_mul(C).max(1)).enumerate() {
            for (ox, y_px) in y_row.chunks_exact_mut(C.max(1)).enumerate() {
                for (ch, out) in y_px.iter_mut().enumerate() {
                    let (mut sum, mut count, mut max) = (0i32, 0i32, i32::from(i8::MIN));
                    for ky in 0..K {
                        for iy in taps(oy, H, S, pad_h, ky) {
                            let row_start = iy.wrapping_mul(row_len).wrapping_add(ch);
                            for kx in 0..K {
                                for ix in taps(ox, W, S, pad_w, kx) {
                                    let at = row_start.wrapping_add(ix.wrapping_mul(C));
                                    if let Some(&v) = x.get(at) {
                                        let v = i32::from(v);
                                        sum = sum.wrapping_add(v);
                                        count = count.wrapping_add(1);
                                        max = max.max(v);
                                    }
                                }
                            }
                        }
                    }
                    let v = if Kind::AVERAGE {
                        // C's division truncates towards zero, as Rust's.
                        let half = count >> 1;
                        let nudged = if sum > 0 {
                            sum.wrapping_add(half)
                        } else {
                            sum.wrapping_sub(half)
                        };
                        nudged.checked_div(count).unwrap_or(0)
                    } else {
                        max
                    };
                    *out = clamp_i8(v.max(self.min).min(self.max)) as i8;
                }
            }
        }
    }
}
