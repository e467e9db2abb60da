use nalgebra::{RealField, SMatrix};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element type of every tensor: `f32` (firmware, speed) or `f64` (gradient checks).
///
/// Sealed: the library's numerics are written and tested for these two types only. (Its
/// supertrait `Draw` draws random samples in the type's own precision: see [`crate::rng`].)
pub trait Scalar: RealField + Copy + Default + sealed::Sealed + crate::rng::Draw {
    /// Converts an `f64` constant (rounding to `f32` where `Self` is `f32`).
    fn of_f64(x: f64) -> Self;
    /// Widens to `f64`.
    fn as_f64(self) -> f64;
    /// `e^self`, flushing results below [`Scalar::min_positive`] to zero. For `f32`, a
    /// polynomial within 1 ulp of the exact value, without branches or library calls, so
    /// that loops over it vectorize; for `f64`, the math library's `exp`.
    ///
    /// ```
    /// use tinyprop::Scalar;
    /// assert!((1.0_f32.exp_flush() - core::f32::consts::E).abs() <= f32::EPSILON * 4.0);
    /// assert_eq!((-100.0_f32).exp_flush(), 0.0); // e^-100 is subnormal in f32
    /// assert_eq!((-100.0_f64).exp_flush(), (-100.0_f64).exp());
    /// ```
    fn exp_flush(self) -> Self;
    /// The smallest positive normal value (`f32::MIN_POSITIVE`, `f64::MIN_POSITIVE`).
    fn min_positive() -> Self;
    /// `self`, or zero if `self` is subnormal: the flush-to-zero that keeps decaying state
    /// (such as an optimizer's running averages for a parameter whose gradient is zero) from
    /// running on the slow subnormal arithmetic of most processors. The two differ by less
    /// than [`Scalar::min_positive`].
    ///
    /// ```
    /// use tinyprop::Scalar;
    /// assert_eq!(1e-40_f32.flush_subnormal(), 0.0);
    /// assert_eq!((-2e-38_f32).flush_subnormal(), -2e-38);
    /// assert!(f32::NAN.flush_subnormal().is_nan());
    /// ```
    #[inline(always)]
    fn flush_subnormal(self) -> Self {
        // Branch-free: a compare and a select, which vectorize.
        if self.abs() < Self::min_positive() {
            Self::zero()
        } else {
            self
        }
    }
}

impl Scalar for f32 {
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // rounding to f32 is the point
    fn of_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn min_positive() -> Self {
        f32::MIN_POSITIVE
    }
    #[inline(always)]
    fn exp_flush(self) -> Self {
        crate::math::exp_f32(self)
    }
    #[inline(always)]
    fn flush_subnormal(self) -> Self {
        if crate::kernels::SCALAR_TILES {
            // Without vector registers, the same flush as a test of the exponent's bits (all
            // zero for zero and the subnormals): an integer test instead of a compare through
            // the FPU's flags, or, without an FPU, instead of a call to a software compare.
            if self.to_bits() & 0x7f80_0000 == 0 {
                0.0
            } else {
                self
            }
        } else if self.abs() < f32::MIN_POSITIVE {
            0.0
        } else {
            self
        }
    }
}

impl Scalar for f64 {
    #[inline]
    fn of_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn min_positive() -> Self {
        f64::MIN_POSITIVE
    }
    #[inline(always)]
    fn exp_flush(self) -> Self {
        nalgebra::ComplexField::exp(self).flush_subnormal()
    }
}

/// A fixed-size value that can be created filled with zeros and reset to zeros in place.
///
/// Implemented for matrices, `()` and tuples of such values; outputs, caches and gradients are
/// all `Zeroed`, so buffers can be built without knowing their structure.
///
/// ```
/// use tinyprop::{SMatrix, Zeroed};
/// let mut m: SMatrix<f32, 2, 3> = Zeroed::zeroed();
/// m[(1, 2)] = 4.0;
/// m.set_zero();
/// assert_eq!(m, SMatrix::<f32, 2, 3>::zeros());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no gradient buffers (`Zeroed` is not implemented for it)",
    label = "not a gradient type",
    note = "an optimizer's type parameter is the network's gradient type, not the network: write `Adam<f32, GradsOf<Net>>` (`GradsOf<Net>` is `<Net as Model<f32>>::Grads`), or let it be inferred: `let opt = Adam::new(config)?;`"
)]
pub trait Zeroed: Sized {
    /// A value with every element zero.
    fn zeroed() -> Self;
    /// Sets every element to zero in place.
    fn set_zero(&mut self);
}

impl<T: Scalar, const R: usize, const C: usize> Zeroed for SMatrix<T, R, C> {
    #[inline]
    fn zeroed() -> Self {
        SMatrix::zeros()
    }
    #[inline]
    fn set_zero(&mut self) {
        // A slice fill is a memset; nalgebra's element-wise `fill` is several times slower.
        self.as_mut_slice().fill(T::zero());
    }
}

/// A counter (such as batch normalisation's `num_batches_tracked`).
impl Zeroed for u32 {
    #[inline]
    fn zeroed() -> Self {
        0
    }
    #[inline]
    fn set_zero(&mut self) {
        *self = 0;
    }
}

impl Zeroed for () {
    #[inline]
    fn zeroed() -> Self {}
    #[inline]
    fn set_zero(&mut self) {}
}

macro_rules! zeroed_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Zeroed),+> Zeroed for ($($name,)+) {
            #[inline]
            fn zeroed() -> Self {
                ($($name::zeroed(),)+)
            }
            #[inline]
            fn set_zero(&mut self) {
                $(self.$idx.set_zero();)+
            }
        }
    };
}

zeroed_tuple!(A 0);
zeroed_tuple!(A 0, B 1);
zeroed_tuple!(A 0, B 1, C 2);
zeroed_tuple!(A 0, B 1, C 2, D 3);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
zeroed_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
