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

#[cfg(test)]
mod tests {
    use super::exp_f32;

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
