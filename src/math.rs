//! Elementary functions written for loops that vectorize.

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
}
