//! Elementary functions written for loops that vectorize.

use core::mem::size_of;

use crate::Scalar;

/// The largest element, ignoring NaN (which the exponentials computed from it propagate);
/// `-∞` for no elements.
#[inline]
pub(crate) fn max_of<T: Scalar>(v: &[T]) -> T {
    v.iter().fold(
        T::of_f64(f64::NEG_INFINITY),
        |m, &x| if x > m { x } else { m },
    )
}

/// Whether [`relu`], [`relu_pass`] and [`is_zero`] test `f32` in integer arithmetic: on targets
/// without vector registers ([`crate::kernels::SCALAR_TILES`]: microcontrollers). There a float
/// compare takes a compare and a move of the FPU's flags, or, without an FPU, a call; an
/// integer compare on the bits takes one instruction, and the loads, selects and stores stay in
/// integer registers, whose loads reach further (fewer address computations). Elsewhere the
/// float compare vectorizes.
const SIGNS_BY_BITS: bool = crate::kernels::SCALAR_TILES;

/// The bits of `-∞` as an `i32`: among the bit patterns read as `i32`, those at most this one
/// are exactly `-0.0` and the negative numbers down to `-∞` (NaN with the sign bit set lie
/// above it, up to `-1`; `+0.0` and the positive numbers and NaN above `0`).
#[allow(clippy::cast_possible_wrap)]
const NEG_INFINITY_I32: i32 = f32::NEG_INFINITY.to_bits() as i32;

/// ReLU: `0` where `x <= 0`, else `x` (NaN stays NaN, of either sign), the same bits as
/// `if x <= 0 { 0 } else { x }` on every input (unit test `relu_by_bits_is_the_float_compare`).
#[inline(always)]
pub(crate) fn relu<T: Scalar>(x: T) -> T {
    if const { SIGNS_BY_BITS && size_of::<T>() == 4 } {
        // For `f32` the conversions are exact and compile to nothing.
        #[allow(clippy::cast_possible_truncation)]
        let b = relu_bits((x.as_f64() as f32).to_bits());
        T::of_f64(f64::from(f32::from_bits(b)))
    } else if x <= T::zero() {
        T::zero()
    } else {
        x
    }
}

/// `x == 0` (either sign), on the bits of `f32` where [`SIGNS_BY_BITS`].
#[inline(always)]
pub(crate) fn is_zero<T: Scalar>(x: T) -> bool {
    if const { SIGNS_BY_BITS && size_of::<T>() == 4 } {
        #[allow(clippy::cast_possible_truncation)]
        zero_bits((x.as_f64() as f32).to_bits())
    } else {
        x == T::zero()
    }
}

/// [`is_zero`] on the bits of `f32`: all but the sign bit zero.
#[inline(always)]
fn zero_bits(b: u32) -> bool {
    b << 1 == 0
}

/// [`relu`] of the `f32` whose bits are `b`, in integer arithmetic: `x <= 0` is `-0.0` through
/// `-∞`, and `+0.0` gives itself, the same bits as the `0` it should give.
#[inline(always)]
#[allow(clippy::cast_possible_wrap)]
fn relu_bits(b: u32) -> u32 {
    if b as i32 <= NEG_INFINITY_I32 {
        0
    } else {
        b
    }
}

/// [`relu_pass`] on the bits of `f32`, for a `y` that [`relu`] returned: `+0.0`, a positive
/// number or NaN, never `-0.0` nor negative, so `y <= 0` is `y` being `+0.0`.
#[inline(always)]
fn relu_pass_bits(y: u32, d: u32) -> u32 {
    if y == 0 {
        0
    } else {
        d
    }
}

/// ReLU's backward from its output `y` (which [`relu`] returned): `0` where `y <= 0`, else `d`,
/// as PyTorch's `threshold_backward` selects it (not a product with 0 or 1); the same bits as
/// the float compare on every `y` that [`relu`] returns, NaN included (unit test
/// `relu_by_bits_is_the_float_compare`).
#[inline(always)]
pub(crate) fn relu_pass<T: Scalar>(y: T, d: T) -> T {
    if const { SIGNS_BY_BITS && size_of::<T>() == 4 } {
        #[allow(clippy::cast_possible_truncation)]
        let g = relu_pass_bits((y.as_f64() as f32).to_bits(), (d.as_f64() as f32).to_bits());
        T::of_f64(f64::from(f32::from_bits(g)))
    } else if y <= T::zero() {
        T::zero()
    } else {
        d
    }
}

/// `e^x` in `f32`, within 1 ulp (Cephes' `expf` polynomial; tested on every 97th `f32`),
/// computed without branches or library calls so that a loop over it vectorizes. Results below
/// `f32::MIN_POSITIVE` are flushed to zero (`x < ln(f32::MIN_POSITIVE) ≈ -87.34`), so that nothing downstream runs on
/// subnormal numbers; `+∞` and results above `f32::MAX` give `+∞`, NaN gives NaN.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    // ln 2 in two parts: `LN2_HI` has few mantissa bits, so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // ln(f32::MIN_POSITIVE) and ln(f32::MAX).
    const LO: f32 = -87.336_55;
    const HI: f32 = 88.722_83;
    // 1.5 · 2²³: adding it rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // `clamp` keeps NaN (where `min`/`max` would not).
    let xc = x.clamp(LO, HI);
    let t = xc * LOG2_E + ROUND;
    let n = t - ROUND;
    // The integer `n` (in -126 ..= 128) from the bits of `t`: a difference of two bit patterns
    // of the same exponent, reinterpreted, not converted.
    #[allow(clippy::cast_possible_wrap)]
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = xc - n * LN2_HI - n * LN2_LO;
    // The polynomial in Estrin's form (pairs of terms, then powers of r), not Horner's: the
    // chain of dependent operations is half as long, so that a loop keeps more of them in
    // flight.
    let r2 = r * r;
    let r4 = r2 * r2;
    let p01 = 0.5 + r * 1.666_666_5e-1;
    let p23 = 4.166_579_6e-2 + r * 8.333_452e-3;
    let p45 = 1.398_199_9e-3 + r * 1.987_569_1e-4;
    let p = p01 + r2 * p23 + r4 * p45;
    let y = p * r2 + r + 1.0;
    // 2ⁿ in two normal factors (n = 128 or -126 would not be one).
    // Both halves are in -63 ..= 64, so their biased exponents are in 64 ..= 191: positive.
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    #[allow(clippy::cast_sign_loss)]
    let scale1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    #[allow(clippy::cast_sign_loss)]
    let scale2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    let e = y * scale1 * scale2;
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        e
    }
}

/// `1 / (1 + e^-x)` in `f32` from [`exp_f32`], without branches or library calls (within a
/// few ulps where the result is normal; below `f32::MIN_POSITIVE` it is 0). NaN gives NaN.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `tanh x` in `f32`, without branches or library calls (Cephes' `tanhf`: an odd polynomial
/// for `|x| < 0.625`, `1 − 2 / (e^{2|x|} + 1)` with the sign of `x` above; within a few ulps).
/// `±∞` give `±1`, NaN gives NaN.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    const SIGN: u32 = 0x8000_0000;
    let a = f32::from_bits(x.to_bits() & !SIGN);
    let e = exp_f32(a + a);
    // In [0, 1] (or NaN).
    let large = 1.0 - 2.0 / (e + 1.0);
    let s = x * x;
    let p = (((-5.704_988_7e-3 * s + 2.063_909e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1) * s
        - 3.333_328e-1;
    // With the sign of `x` (+0 for -0).
    let small = p * s * x + x;
    let t = if a < 0.625 { small } else { large };
    // The sign of `x` into the sign bit (`small` has it already, but for -0).
    f32::from_bits(t.to_bits() | (x.to_bits() & SIGN))
}

/// The logistic function of a [`Scalar`]: [`sigmoid_f32`] for `f32`, the overflow-safe
/// formula with the math library's `exp` for `f64`.
#[inline(always)]
pub(crate) fn sigmoid<T: Scalar>(x: T) -> T {
    if size_of::<T>() == 4 {
        // For `f32` the conversions are exact and compile to nothing.
        #[allow(clippy::cast_possible_truncation)]
        T::of_f64(f64::from(sigmoid_f32(x.as_f64() as f32)))
    } else if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// `tanh` of a [`Scalar`]: [`tanh_f32`] for `f32`, the math library's for `f64`.
#[inline(always)]
pub(crate) fn tanh<T: Scalar>(x: T) -> T {
    if size_of::<T>() == 4 {
        // For `f32` the conversions are exact and compile to nothing.
        #[allow(clippy::cast_possible_truncation)]
        T::of_f64(f64::from(tanh_f32(x.as_f64() as f32)))
    } else {
        x.tanh()
    }
}

/// `1 − bᵗ` for an integer `t`, Adam's bias corrections: for `f64`, with the math library's
/// `pow` (PyTorch's `1 - beta ** step`, computed in Python's `float`); for `f32`, with
/// [`powi_f32`], which needs no `powf` (1.4 KB of flash, and libm's `sqrtf` with it, in
/// firmware).
#[inline]
pub(crate) fn one_minus_powi<T: Scalar>(b: T, t: u32) -> T {
    if const { size_of::<T>() == 4 } {
        // For `f32` the conversions are exact and compile to nothing.
        #[allow(clippy::cast_possible_truncation)]
        T::of_f64(f64::from(1.0 - powi_f32(b.as_f64() as f32, t)))
    } else {
        T::one() - b.powf(T::of_f64(f64::from(t)))
    }
}

/// `bᵗ` in `f32` for `0 ≤ b ≤ 1` (Adam's betas), correctly rounded but where the exact power
/// lies within about 2⁻⁵⁴ of the midpoint between two `f32`, or 0 where `bᵗ < 2⁻²⁶` (there
/// `1 − bᵗ` is 1 all the same, and the answer comes at once for the long runs where it
/// does): squaring and multiplying from the highest bit of `t` with 64-bit significands in
/// integer arithmetic (each product's upper half from three 32 × 32-bit products; at most 64
/// of them, each within 2⁻⁶⁰). The same operations on every target, with or without an FPU,
/// so every core computes the same bits, and a function of `b` and `t` alone, so a training
/// resumed at step `t` computes what one that never stopped does.
fn powi_f32(b: f32, t: u32) -> f32 {
    let bits = b.to_bits();
    if t == 0 || bits == 0x3f80_0000 {
        return 1.0;
    }
    let frac = bits & 0x007f_ffff;
    let field = bits >> 23;
    if bits == 0 || bits > 0x3f80_0000 {
        // 0ᵗ, or b outside [0, 1] (negative, above 1 or NaN), which Adam refuses.
        return if bits == 0 { 0.0 } else { f32::NAN };
    }
    // b = m · 2^e with the integer m in [2⁶³, 2⁶⁴): the significand (the subnormal one
    // normalized) at the top of 64 bits.
    let (m0, e0) = if field == 0 {
        let shift = frac.leading_zeros().wrapping_add(32);
        (
            u64::from(frac) << shift,
            (-149_i32).wrapping_sub_unsigned(shift),
        )
    } else {
        #[allow(clippy::cast_possible_wrap)] // `field` is at most 126
        (
            u64::from(frac | 0x0080_0000) << 40,
            (field as i32).wrapping_sub(190),
        )
    };
    // bᵗ = e^(t ln b) ≤ e^(−t (1 − b)) (as −ln b ≥ 1 − b): below 2⁻²⁶ = e^(−18.02…) once
    // t (1 − b) > 19, with room for the rounding of the product (1 − b is exact for b ≥ ½).
    #[allow(clippy::cast_precision_loss)] // rounding of large t is within the room
    if t as f32 * (1.0 - b) > 19.0 {
        return 0.0;
    }
    let (mut m, mut e) = (m0, e0);
    let mut bit = 31_u32.wrapping_sub(t.leading_zeros());
    while bit > 0 {
        bit = bit.wrapping_sub(1);
        (m, e) = mul_hi(m, e, m, e);
        if (t >> bit) & 1 == 1 {
            (m, e) = mul_hi(m, e, m0, e0);
        }
        // The power so far is below 2^(e + 64), and the rest can only make it smaller (b ≤ 1):
        // below 2⁻²⁶, 0 (and `e` stays far from overflowing).
        if e < -89 {
            return 0.0;
        }
    }
    // bᵗ = m · 2^e; its unbiased exponent is e + 63.
    let biased = e.wrapping_add(63 + 127);
    if biased < 1 {
        return 0.0;
    }
    // The upper 24 bits, rounded to nearest (ties to even) by the lower 40.
    let upper = m >> 40;
    let rest = m & ((1 << 40) - 1);
    let half = 1_u64 << 39;
    let rounded = upper.wrapping_add(u64::from(rest > half || (rest == half && upper & 1 == 1)));
    // Adding the significand with its leading bit to the exponent field minus one carries a
    // rounding up to 2²⁴ into the exponent.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // both in range
    let out = ((biased.wrapping_sub(1) as u32) << 23).wrapping_add(rounded as u32);
    f32::from_bits(out)
}

/// The product of `a · 2^ea` and `b · 2^eb` (`a`, `b` in [2⁶³, 2⁶⁴)) as `m · 2^e` with
/// `m` in [2⁶³, 2⁶⁴): the upper half of the 128-bit product without the low halves' product
/// and carries (an error below 3 units of the upper half's last place), shifted up one bit
/// if needed.
#[inline(always)]
fn mul_hi(a: u64, ea: i32, b: u64, eb: i32) -> (u64, i32) {
    #[allow(clippy::cast_possible_truncation)] // the halves
    let (a1, a0, b1, b0) = (a >> 32, u64::from(a as u32), b >> 32, u64::from(b as u32));
    let top = (a1.wrapping_mul(b1))
        .wrapping_add(a1.wrapping_mul(b0) >> 32)
        .wrapping_add(a0.wrapping_mul(b1) >> 32);
    let e = ea.wrapping_add(eb).wrapping_add(64);
    if top >> 63 == 0 {
        (top << 1, e.wrapping_sub(1))
    } else {
        (top, e)
    }
}

/// Whether [`sqrt`] computes `f32` square roots with [`sqrt_f32`]: on a hard-float ARM core
/// (`target_abi = "eabihf"`) without the standard library. There the FPU has a square-root
/// instruction that stable Rust cannot reach (`core` has no `sqrt`), and libm's `sqrtf` works
/// in integer arithmetic (about 77 instructions on a Cortex-M4F); [`sqrt_f32`] lets the FPU
/// divide (about 30).
const SQRT_BY_DIVISION: bool = cfg!(all(
    target_arch = "arm",
    target_abi = "eabihf",
    not(feature = "std")
));

/// `√x`, correctly rounded (IEEE 754's square root, bit for bit the same as
/// `ComplexField::sqrt`), the fastest way the target allows: [`sqrt_f32`] for `f32` where
/// [`SQRT_BY_DIVISION`], the platform's or libm's square root otherwise.
#[inline(always)]
pub(crate) fn sqrt<T: Scalar>(x: T) -> T {
    if const { SQRT_BY_DIVISION && size_of::<T>() == 4 } {
        // For `f32` the conversions are exact and compile to nothing.
        #[allow(clippy::cast_possible_truncation)]
        T::of_f64(f64::from(sqrt_f32(x.as_f64() as f32)))
    } else {
        // The one call of the platform's or libm's square root (clippy.toml refuses it
        // elsewhere in the library).
        #[allow(clippy::disallowed_methods)]
        x.sqrt()
    }
}

/// `√x` in `f32`, correctly rounded, from the FPU's division, multiplication and addition and a
/// few integer operations: three steps of Newton's iteration `y ← (x / 2) / y + y / 2` from an
/// estimate made of the bits of `x` (within 3.5 %), which leave `y` within one unit in the last
/// place of the exact root, then an exact test in integers that moves it to the correctly
/// rounded one. Subnormal `x` are scaled by 2²⁴ first; ±0, +∞ and NaN give themselves, negative
/// numbers NaN. Checked against the hardware's square root on every significand of two
/// consecutive binades (the computation is the same, scaled by a power of four, in every other
/// binade), on every subnormal and on every 257th bit pattern (unit test
/// `sqrt_f32_is_correctly_rounded`), and once on all 2³² bit patterns.
#[cfg_attr(
    not(all(target_arch = "arm", target_abi = "eabihf", not(feature = "std"))),
    allow(dead_code)
)]
#[inline(never)]
pub(crate) fn sqrt_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    // Positive and normal: a biased exponent of 1 to 254, the sign bit clear.
    if bits.wrapping_sub(0x0080_0000) < 0x7f00_0000 {
        return sqrt_normal(bits);
    }
    sqrt_special(x)
}

/// [`sqrt_f32`] of the numbers that are not positive and normal (out of line: rare, and
/// the normal case's code once in the binary).
#[inline(never)]
fn sqrt_special(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits == 0 || bits == 0x8000_0000 || bits == 0x7f80_0000 || x.is_nan() {
        return x;
    }
    if bits < 0x0080_0000 {
        // Subnormal: √(x · 2²⁴) · 2⁻¹², both scalings exact (x · 2²⁴ is normal).
        return sqrt_f32(x * 16_777_216.0) * (1.0 / 4096.0);
    }
    f32::NAN
}

/// [`sqrt_f32`] of the positive normal number with the bits `bits`.
#[inline(always)]
fn sqrt_normal(bits: u32) -> f32 {
    let x = f32::from_bits(bits);
    let half = 0.5 * x;
    // Half the exponent and the mantissa, shifted back to the bias: within 3.5 % of √x.
    let mut y = f32::from_bits((bits >> 1).wrapping_add(0x1fbd_1df5));
    // Newton's step as a division and a multiply-add (`0.5 · y` is exact): relative error
    // 3.5e-2, 6e-4, 2e-7, then within one unit in the last place.
    y = half / y + 0.5 * y;
    y = half / y + 0.5 * y;
    y = half / y + 0.5 * y;
    // x = M · 2²³ · 2^(2k) with the integer M in [2²³, 2²⁵): the significand, doubled when the
    // exponent would be odd. Then √x = √(M · 2²³) · 2^k, and y's significand is R · 2^k with
    // R near √(M · 2²³), in [2²³, 2²⁴). The correctly rounded R is the one with
    // (2R − 1)² < M · 2²⁵ < (2R + 1)², that is, with D = M · 2²⁵ − 4R²,
    // −4R + 1 < D < 4R + 1 (D is even, the bounds odd: never equal). D is small (|D| < 2²⁸
    // for R within two units of the root), so its low 32 bits, from the low 32 bits of
    // M · 2²⁵ and of 4R², are D.
    let e = bits >> 23;
    let significand = (bits & 0x007f_ffff) | 0x0080_0000;
    let m4_low = (significand << (!e & 1)) << 25;
    let y_bits = y.to_bits();
    // R from y's bits: its exponent field, (e + 1) / 2 + 62 for R = 2²³, taken off.
    let r = y_bits.wrapping_sub(((e >> 1).wrapping_add(e & 1).wrapping_add(62)) << 23);
    let two_r = r.wrapping_mul(2);
    #[allow(clippy::cast_possible_wrap)] // the point: D and 4R as signed numbers
    let (d, four_r) = (
        m4_low.wrapping_sub(two_r.wrapping_mul(two_r)) as i32,
        two_r.wrapping_mul(2) as i32,
    );
    if d > four_r {
        return f32::from_bits(y_bits.wrapping_add(1));
    }
    if d.wrapping_add(four_r) <= 0 {
        return f32::from_bits(y_bits.wrapping_sub(1));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::{exp_f32, relu_bits, relu_pass_bits, sqrt_f32};

    #[test]
    fn zero_is_found_by_its_bits_and_its_exponential_is_one() {
        // Cross-entropy on microcontrollers takes `e^0 = 1` for the column's maximum without
        // computing it: the same bits as the polynomial gives.
        for x in [0.0_f32, -0.0] {
            assert!(super::is_zero(x));
            assert_eq!(exp_f32(x).to_bits(), 1.0_f32.to_bits());
            assert_eq!(
                crate::Scalar::exp_flush(f64::from(x)).to_bits(),
                1.0_f64.to_bits()
            );
        }
        for x in [
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::NAN,
            1.0,
            f32::NEG_INFINITY,
        ] {
            assert!(!super::is_zero(x), "{x:e}");
        }
    }

    #[test]
    fn relu_by_bits_is_the_float_compare() {
        // Every sign and exponent, with significands at both ends and a stride through the
        // middle (NaN of both signs, infinities, zeros and subnormals among them).
        let patterns = (0..=u32::MAX)
            .step_by(65_537)
            .chain((0..512u32).flat_map(|top| {
                let high = top << 23;
                [0, 1, 2, 0x3f_ffff, 0x40_0000, 0x7f_fffe, 0x7f_ffff].map(|low| high | low)
            }));
        let d = 0.375_f32;
        for b in patterns {
            let x = f32::from_bits(b);
            let want = if x <= 0.0 { 0.0 } else { x };
            assert_eq!(relu_bits(b), want.to_bits(), "relu({x:e}) ({b:#x})");
            assert_eq!(super::zero_bits(b), x == 0.0, "{x:e} ({b:#x})");
            // The backward sees ReLU's outputs.
            let y = f32::from_bits(relu_bits(b));
            let want = if y <= 0.0 { 0.0 } else { d };
            let got = relu_pass_bits(y.to_bits(), d.to_bits());
            assert_eq!(got, want.to_bits(), "y {y:e} from {x:e} ({b:#x})");
        }
    }

    /// Distance in units in the last place between two finite positive `f32`.
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn within_one_ulp_of_the_rounded_exact_value() {
        // Every 97th float in the whole range where the result is normal.
        let lo = 87.336_5_f32.to_bits();
        let check = |x: f32| {
            let want = (f64::from(x)).exp() as f32;
            let got = exp_f32(x);
            assert!(ulps(got, want) <= 1, "x {x:e}: {got:e}, want {want:e}");
        };
        let mut b = 0_u32;
        while b < lo {
            check(f32::from_bits(b | 0x8000_0000));
            b += 97;
        }
        let hi = 88.722_8_f32.to_bits();
        let mut b = 0_u32;
        while b < hi {
            check(f32::from_bits(b));
            b += 97;
        }
    }

    #[test]
    fn edges() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        assert_eq!(exp_f32(-87.4), 0.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(88.8), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        let max = exp_f32(88.722_8);
        assert!(max.is_finite() && max > 3.4e38);
        let min = exp_f32(-87.336_5);
        assert!(min.is_normal());
    }

    /// Against the platform's square root (correctly rounded; so is `f64`'s rounded to `f32`):
    /// every significand of the binades [1, 2) and [2, 4) (every normal number is one of them
    /// times a power of four, and the computation scales with it exactly), every subnormal,
    /// every 257th bit pattern, and the special values.
    #[test]
    fn sqrt_f32_is_correctly_rounded() {
        let check = |b: u32| {
            let x = f32::from_bits(b);
            let (got, want) = (sqrt_f32(x), x.sqrt());
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "√{x:e} ({b:#x}): {got:e}, want {want:e}"
            );
            if x.is_finite() && x >= 0.0 {
                assert_eq!(got.to_bits(), (f64::from(x).sqrt() as f32).to_bits());
            }
        };
        let one = 1.0_f32.to_bits();
        (one..one + (2 << 23)).for_each(check);
        (0..0x0080_0000).for_each(check);
        (0..=u32::MAX).step_by(257).for_each(check);
        [
            0x8000_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            0xbf80_0000,
            0x8000_0001,
        ]
        .into_iter()
        .for_each(check);
        assert_eq!(sqrt_f32(-0.0).to_bits(), (-0.0_f32).to_bits());
        assert!(sqrt_f32(-1e-45).is_nan() && sqrt_f32(f32::NEG_INFINITY).is_nan());
    }

    /// Against `f64`'s `powf` rounded to `f32` (within 2⁻⁵² of the exact power, so rounded
    /// correctly but where the power is within that of a midpoint): Adam's usual betas and
    /// others (a subnormal one too), every step to 5 000 and some far beyond, and the edges
    /// (`t = 0`, `b = 0`, 1). Powers below 2⁻²⁶ may be 0; `1 − bᵗ` is the same bits always.
    #[test]
    fn powi_f32_is_correctly_rounded() {
        use super::{one_minus_powi, powi_f32};
        const NEGLIGIBLE: f32 = 1.490_116_1e-8; // 2⁻²⁶
        let betas = [
            0.9_f32, 0.99, 0.999, 0.9999, 0.95, 0.75, 0.5, 0.3, 1e-3, 1e-40, 0.0, 1.0,
        ];
        let far = [65_535, 100_000, 1 << 20, 12_345_677, 1 << 31, u32::MAX];
        for &b in &betas {
            for t in (0..=5000).chain(far) {
                let want = f64::from(b).powf(f64::from(t)) as f32;
                let got = powi_f32(b, t);
                if want >= NEGLIGIBLE {
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{b}^{t}: {got:e}, want {want:e}"
                    );
                } else {
                    assert!(
                        (0.0..NEGLIGIBLE).contains(&got),
                        "{b}^{t}: {got:e}, want {want:e}"
                    );
                }
                let one_minus: f32 = one_minus_powi(b, t);
                assert_eq!(one_minus.to_bits(), (1.0 - want).to_bits(), "1 - {b}^{t}");
            }
        }
        assert!(powi_f32(1.5, 2).is_nan() && powi_f32(-0.5, 2).is_nan());
    }

    /// The `f32` tanh and logistic function against `f64`, over every 241st `f32` from -50 to
    /// 50: within a few ulps (relative error, down to where the logistic function is subnormal).
    #[test]
    fn tanh_and_sigmoid_within_a_few_ulps() {
        use super::{sigmoid_f32, tanh_f32};
        let (mut worst_tanh, mut worst_sigmoid) = (0.0f64, 0.0f64);
        let mut check = |x: f32| {
            let t = f64::from(x).tanh();
            if t != 0.0 {
                let err = (f64::from(tanh_f32(x)) - t).abs() / t.abs();
                worst_tanh = worst_tanh.max(err);
            } else {
                assert_eq!(tanh_f32(x), 0.0);
            }
            let s = 1.0 / (1.0 + (-f64::from(x)).exp());
            let err = (f64::from(sigmoid_f32(x)) - s).abs() / s;
            worst_sigmoid = worst_sigmoid.max(err);
        };
        let hi = 50.0_f32.to_bits();
        let mut b = 0_u32;
        while b < hi {
            check(f32::from_bits(b));
            check(-f32::from_bits(b));
            b += 241;
        }
        assert!(
            worst_tanh < 4.0 * f64::from(f32::EPSILON),
            "tanh {worst_tanh:e}"
        );
        assert!(
            worst_sigmoid < 4.0 * f64::from(f32::EPSILON),
            "sigmoid {worst_sigmoid:e}"
        );
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_f32(f32::NEG_INFINITY), 0.0);
        assert!(sigmoid_f32(f32::NAN).is_nan());
        assert_eq!(sigmoid_f32(-100.0), 0.0);
    }
}
