//! A small seeded random number generator for tests, examples and firmware without a hardware RNG,
//! and the uniform and normal samples the library draws from any generator.
//!
//! Every random choice in tinyprop takes any [`rand_core::RngCore`]; [`SplitMix64`] is one that
//! needs 8 bytes of state and no dependencies. It is fast and well distributed, not
//! cryptographically secure.
//!
//! Samples come in two precisions, and weight initialisation ([`crate::init`]) draws in the
//! precision of the weights: `f64` weights from [`unit_f64`] and [`standard_normal`], `f32`
//! weights from [`unit_f32`] and [`standard_normal_f32`], which use `f32` arithmetic only. So
//! `f32` firmware needs no double-precision routines to initialise a network (a Cortex-M4F's FPU
//! is single precision; double precision there is emulated in software, and takes flash). Both
//! use only IEEE 754 basic operations, correctly rounded on every target with or without an
//! FPU, and `libm`'s software functions built from them, so the same seed gives bit-identical
//! samples on every target.

use rand_core::RngCore;

/// SplitMix64 (Steele, Lea and Flood, 2014): 8 bytes of state, one 64-bit output per step.
///
/// ```
/// use rand_core::RngCore;
/// use tinyprop::SplitMix64;
/// let mut a = SplitMix64::new(42);
/// let mut b = SplitMix64::new(42);
/// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same stream
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose stream is determined by `seed`.
    ///
    /// ```
    /// use tinyprop::SplitMix64;
    /// // `const`: a generator can be a `static` in firmware.
    /// static SEED: SplitMix64 = SplitMix64::new(0x5EED);
    /// assert_eq!(SEED.state(), 0x5EED);
    /// ```
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The state: `SplitMix64::new(g.state())` continues the stream of `g`.
    ///
    /// ```
    /// use rand_core::RngCore;
    /// use tinyprop::SplitMix64;
    /// let mut rng = SplitMix64::new(1);
    /// rng.next_u64();
    /// let saved = rng.state(); // e.g. written to flash with a checkpoint
    /// let mut resumed = SplitMix64::new(saved);
    /// assert_eq!(rng.next_u64(), resumed.next_u64());
    /// ```
    pub const fn state(&self) -> u64 {
        self.state
    }
}

impl RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let mut chunks = dest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            let bytes = self.next_u64().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(bytes) {
                *d = s;
            }
        }
        for chunk in core::iter::once(chunks.into_remainder()).filter(|c| !c.is_empty()) {
            let bytes = self.next_u64().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(bytes) {
                *d = s;
            }
        }
    }
}

/// A uniform sample from `[0, 1)` with 53 random bits.
///
/// ```
/// use tinyprop::{rng::unit_f64, SplitMix64};
/// let mut rng = SplitMix64::new(9);
/// let u = unit_f64(&mut rng);
/// assert!((0.0..1.0).contains(&u));
/// ```
pub fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal sample (Box–Muller), from two [`unit_f64`] samples.
///
/// ```
/// use tinyprop::{rng::standard_normal, SplitMix64};
/// let mut rng = SplitMix64::new(9);
/// let mean = (0..1000).map(|_| standard_normal(&mut rng)).sum::<f64>() / 1000.0;
/// assert!(mean.abs() < 0.1);
/// ```
pub fn standard_normal<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - unit_f64(rng);
    let u2 = unit_f64(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
}

/// A uniform sample from `[0, 1)` with 24 random bits (the top 24 bits of one `next_u32`),
/// in `f32` arithmetic: every value is a multiple of 2⁻²⁴, exact in `f32`.
///
/// ```
/// use tinyprop::{rng::unit_f32, SplitMix64};
/// let mut rng = SplitMix64::new(1);
/// let u = unit_f32(&mut rng);
/// assert!((0.0..1.0).contains(&u));
/// assert_eq!(u * 16_777_216.0, (u * 16_777_216.0).trunc());
/// ```
pub fn unit_f32<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// A standard normal sample in `f32` arithmetic only: Marsaglia's polar method, which takes
/// pairs of [`unit_f32`] samples until one falls inside the unit circle and needs a logarithm
/// and a square root but no cosine (`libm`'s `cosf` computes in `f64`).
///
/// A pair falls outside with probability 1 − π/4 ≈ 0.21, so 32 pairs all miss with
/// probability below 10⁻²¹; after 32 (a generator that is stuck, returning the same value for
/// ever) it returns 0 rather than loop for ever.
///
/// ```
/// use tinyprop::rng::standard_normal_f32;
/// struct Stuck;
/// impl rand_core::RngCore for Stuck {
///     fn next_u32(&mut self) -> u32 { 0 }
///     fn next_u64(&mut self) -> u64 { 0 }
///     fn fill_bytes(&mut self, dest: &mut [u8]) { dest.fill(0) }
/// }
/// assert_eq!(standard_normal_f32(&mut Stuck), 0.0); // (−1, −1) is never inside the circle
/// ```
pub fn standard_normal_f32<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    for _ in 0..32 {
        let u = 2.0 * unit_f32(rng) - 1.0;
        let v = 2.0 * unit_f32(rng) - 1.0;
        let s = u * u + v * v;
        // s > 0 keeps the logarithm finite; the accepted points are uniform in the unit disc.
        if s > 0.0 && s < 1.0 {
            return u * libm::sqrtf(-2.0 * libm::logf(s) / s);
        }
    }
    0.0
}

mod sealed {
    use rand_core::RngCore;

    /// Samples in a scalar type's own precision (a supertrait of [`Scalar`](crate::Scalar)).
    pub trait Draw: Sized {
        /// A uniform sample from `[0, 1)`.
        fn draw_unit<R: RngCore + ?Sized>(rng: &mut R) -> Self;
        /// A standard normal sample.
        fn draw_normal<R: RngCore + ?Sized>(rng: &mut R) -> Self;
    }

    impl Draw for f32 {
        #[inline]
        fn draw_unit<R: RngCore + ?Sized>(rng: &mut R) -> Self {
            super::unit_f32(rng)
        }
        #[inline]
        fn draw_normal<R: RngCore + ?Sized>(rng: &mut R) -> Self {
            super::standard_normal_f32(rng)
        }
    }

    impl Draw for f64 {
        #[inline]
        fn draw_unit<R: RngCore + ?Sized>(rng: &mut R) -> Self {
            super::unit_f64(rng)
        }
        #[inline]
        fn draw_normal<R: RngCore + ?Sized>(rng: &mut R) -> Self {
            super::standard_normal(rng)
        }
    }
}

pub(crate) use sealed::Draw;
