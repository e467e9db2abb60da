use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::layer::{describe_leaf, no_buffers, no_tensors, nonempty_batch};
use crate::{kernels, Error, Init, Layer, Model, Parameters, Scalar};

/// Implements `Parameters` and `Model` for a layer without trainable tensors.
macro_rules! no_parameters {
    ($name:ident $(<$T:ident>)?, $kind:expr) => {
        impl<T: Scalar> Parameters<T> for $name $(<$T>)? {
            no_tensors!();
        }
        impl<T: Scalar> crate::io::StateDict<T> for $name $(<$T>)? {
            crate::io::names::no_state_dict!();
        }
        impl<T: Scalar> Model<T> for $name $(<$T>)? {
            type Grads = ();
            no_buffers!();
            describe_leaf!($kind, |input| input);
            fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
        }
    };
}

/// `forward_train` and `output` for a layer whose training cache is just its output (the same
/// computation as inference).
macro_rules! output_is_the_cache {
    () => {
        fn forward_train<'c>(
            &mut self,
            x: &SMatrix<T, N, B>,
            cache: &'c mut SMatrix<T, N, B>,
        ) -> &'c SMatrix<T, N, B> {
            Layer::<T, SMatrix<T, N, B>>::forward(self, x, cache);
            cache
        }

        fn forward_frozen<'c>(
            &self,
            x: &SMatrix<T, N, B>,
            cache: &'c mut SMatrix<T, N, B>,
        ) -> &'c SMatrix<T, N, B> {
            Layer::<T, SMatrix<T, N, B>>::forward(self, x, cache);
            cache
        }

        fn output(cache: &SMatrix<T, N, B>) -> &SMatrix<T, N, B> {
            cache
        }
    };
}

/// Implements `Layer` for an element-wise activation `y = f(x)` whose derivative is written in
/// terms of the input and the output: `dx = dy · f'(x, y)`. The cache is the output.
macro_rules! elementwise {
    ($name:ident $(<$T:ident>)?, $kind:expr, |$me:ident, $x:ident| $f:expr, |$me2:ident, $x2:pat_param, $y:pat_param, $d:ident| $dx:expr) => {
        no_parameters!($name $(<$T>)?, $kind);

        impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>>
            for $name $(<$T>)?
        {
            type Output = SMatrix<T, N, B>;
            type Cache = SMatrix<T, N, B>;

            fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
                nonempty_batch::<B>();
                let $me = self;
                // Slices rather than nalgebra's element iterators, which do not vectorize.
                kernels::each_pair(y.as_mut_slice(), x.as_slice(), |out, &$x| *out = $f);
            }

            output_is_the_cache!();

            fn backward(
                &self,
                x: &SMatrix<T, N, B>,
                cache: &mut SMatrix<T, N, B>,
                dy: &mut SMatrix<T, N, B>,
                dx: Option<&mut SMatrix<T, N, B>>,
                _grads: Option<&mut ()>,
            ) {
                let $me2 = self;
                if let Some(dx) = dx {
                    let (d, x, y) = (dy.as_slice(), x.as_slice(), cache.as_slice());
                    kernels::each_quad(dx.as_mut_slice(), d, x, y, |g, &$d, &$x2, &$y| *g = $dx);
                }
            }
        }
    };
}

/// Rectified linear unit: `max(x, 0)`, like `torch.nn.ReLU`: NaN stays NaN (a NaN input gives
/// a NaN output, not a confident 0), and the gradient is 0 at 0.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f32, 4, 1>::new(-1.0, 0.0, 2.0, f32::NAN);
/// let mut y = SMatrix::zeros();
/// Relu.forward(&x, &mut y);
/// assert_eq!((y[0], y[1], y[2]), (0.0, 0.0, 2.0));
/// assert!(y[3].is_nan());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relu;
elementwise!(
    Relu,
    "ReLU",
    |_s, x| crate::math::relu(x),
    // `dy` where the output is positive, else 0, as PyTorch's `threshold_backward` selects it
    // (not a product with 0 or 1).
    |_s, _x, y, d| crate::math::relu_pass(y, d)
);

/// Leaky ReLU, like `torch.nn.LeakyReLU(negative_slope)`: `x` for `x > 0`, else
/// `negative_slope · x`; the gradient is 1 for `x > 0`, else `negative_slope` (any finite slope,
/// negative or above 1 included). Default slope 0.01, as in PyTorch.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f64, 2, 1>::new(-2.0, 3.0);
/// let mut y = SMatrix::zeros();
/// LeakyRelu::<f64>::default().forward(&x, &mut y);
/// assert_eq!(y, SMatrix::<f64, 2, 1>::new(-0.02, 3.0));
/// let mirror = LeakyRelu::new(-1.0).unwrap(); // |x|
/// mirror.forward(&x, &mut y);
/// assert_eq!(y, SMatrix::<f64, 2, 1>::new(2.0, 3.0));
/// assert!(LeakyRelu::new(f64::NAN).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRelu<T> {
    negative_slope: T,
}
impl<T: Scalar> LeakyRelu<T> {
    /// Leaky ReLU with `negative_slope`, which must be finite.
    pub fn new(negative_slope: T) -> Result<Self, Error> {
        if negative_slope.is_finite() {
            Ok(Self { negative_slope })
        } else {
            Err(Error::InvalidHyperparameter(
                "negative_slope must be finite",
            ))
        }
    }

    /// The slope for inputs `<= 0`.
    pub fn negative_slope(&self) -> T {
        self.negative_slope
    }
}
/// `const` constructors, for models built at compile time (see [`crate::io::rust`]).
macro_rules! leaky_const {
    ($t:ty) => {
        impl LeakyRelu<$t> {
            /// [`LeakyRelu::new`] in a `const` context.
            ///
            /// ```
            #[doc = concat!("static LAYER: tinyprop::LeakyRelu<", stringify!($t), "> = match tinyprop::LeakyRelu::<", stringify!($t), ">::const_new(0.2) {")]
            ///     Ok(layer) => layer,
            ///     Err(_) => panic!("the slope must be finite"),
            /// };
            /// assert_eq!(LAYER.negative_slope(), 0.2);
            /// ```
            pub const fn const_new(negative_slope: $t) -> Result<Self, Error> {
                if negative_slope.is_finite() {
                    Ok(Self { negative_slope })
                } else {
                    Err(Error::InvalidHyperparameter("negative_slope must be finite"))
                }
            }
        }
    };
}
leaky_const!(f32);
leaky_const!(f64);

impl<T: Scalar> Default for LeakyRelu<T> {
    fn default() -> Self {
        Self {
            negative_slope: T::of_f64(0.01),
        }
    }
}
elementwise!(
    LeakyRelu<T>,
    "LeakyReLU",
    |s, x| if x > T::zero() {
        x
    } else {
        x * s.negative_slope
    },
    |s, x, _y, d| if x > T::zero() {
        d
    } else {
        d * s.negative_slope
    }
);

/// The logistic function `1 / (1 + e^-x)`, computed without overflow for large `|x|`.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f32, 3, 1>::new(-1000.0, 0.0, 1000.0);
/// let mut y = SMatrix::zeros();
/// Sigmoid.forward(&x, &mut y);
/// assert_eq!(y, SMatrix::<f32, 3, 1>::new(0.0, 0.5, 1.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sigmoid;
elementwise!(Sigmoid, "Sigmoid", |_s, x| sigmoid(x), |_s, _x, y, d| d
    * (y * (T::one() - y)));

/// Hyperbolic tangent.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f32, 2, 1>::new(0.0, 50.0);
/// let mut y = SMatrix::zeros();
/// Tanh.forward(&x, &mut y);
/// assert_eq!(y, SMatrix::<f32, 2, 1>::new(0.0, 1.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tanh;
elementwise!(Tanh, "Tanh", |_s, x| x.tanh(), |_s, _x, y, d| d
    * (T::one() - y * y));

/// The identity: `y = x`. Useful as a placeholder in a chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity;
elementwise!(Identity, "Identity", |_s, x| x, |_s, _x, _y, d| d);

/// `1 / (1 + e^-x)` without overflow.
pub(crate) fn sigmoid<T: Scalar>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// Softmax over each sample (column): `y_i = e^{x_i} / Σ_j e^{x_j}`, shifted by the column's
/// maximum so that large inputs do not overflow.
///
/// For classification training, prefer feeding logits to [`crate::CrossEntropy`], which fuses
/// the softmax with the loss; use this layer when the probabilities themselves are needed.
///
/// ```
/// use tinyprop::prelude::*;
/// let x = SMatrix::<f64, 2, 1>::new(1000.0, 1000.0);
/// let mut y = SMatrix::zeros();
/// Softmax.forward(&x, &mut y);
/// assert_eq!(y, SMatrix::<f64, 2, 1>::new(0.5, 0.5));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Softmax;
no_parameters!(Softmax, "Softmax");

impl<T: Scalar, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>> for Softmax {
    type Output = SMatrix<T, N, B>;
    type Cache = SMatrix<T, N, B>;

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        nonempty_batch::<B>();
        for (out, inp) in y.data.0.iter_mut().zip(&x.data.0) {
            let max = crate::math::max_of(inp);
            let mut sum = T::zero();
            for (o, &v) in out.iter_mut().zip(inp) {
                *o = (v - max).exp_flush();
                sum += *o;
            }
            for o in out.iter_mut() {
                *o /= sum;
            }
        }
    }

    output_is_the_cache!();

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        cache: &mut SMatrix<T, N, B>,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        _grads: Option<&mut ()>,
    ) {
        // dx_i = y_i (dy_i - Σ_j dy_j y_j)
        if let Some(dx) = dx {
            for ((mut g, d), y) in dx
                .column_iter_mut()
                .zip(dy.column_iter())
                .zip(cache.column_iter())
            {
                let dot = d.dot(&y);
                for ((gi, &di), &yi) in g.iter_mut().zip(d.iter()).zip(y.iter()) {
                    *gi = yi * (di - dot);
                }
            }
        }
    }
}
