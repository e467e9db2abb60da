use nalgebra::SMatrix;
use rand_core::RngCore;

use crate::layer::{describe_leaf, no_tensors, nonempty_batch};
use crate::rng::unit_f64;
use crate::{Error, Init, Layer, Model, Parameters, Scalar, SplitMix64, Zeroed};

/// Inverted dropout, like `torch.nn.Dropout(p)`: in training each element is zeroed with
/// probability `p` and the others are scaled by `1/(1 - p)`; in inference it is the identity.
///
/// The mask is drawn from the layer's own random number generator `R` (any
/// [`rand_core::RngCore`], [`SplitMix64`] by default), which the layer owns so that training
/// needs no extra argument; seed it from the caller's RNG for reproducible runs. The generator
/// must be `Clone`: a training step saves its state first and puts it back if the step fails,
/// so that a failed step draws nothing (seed a [`SplitMix64`] from a hardware generator rather
/// than handing the hardware generator itself to the layer).
///
/// ```
/// use tinyprop::prelude::*;
/// let mut dropout = Dropout::<f32>::new(0.5, SplitMix64::new(1)).unwrap();
/// let x = SMatrix::<f32, 8, 1>::from_element(1.0);
/// let mut cache = Zeroed::zeroed();
/// let y = dropout.forward_train(&x, &mut cache);
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0)); // dropped, or scaled by 1/(1-p)
/// let mut y = SMatrix::zeros();
/// dropout.forward(&x, &mut y); // inference: identity
/// assert_eq!(y, x);
/// assert!(Dropout::<f32>::new(1.5, SplitMix64::new(1)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout<T, R = SplitMix64> {
    p: T,
    rng: R,
}

impl<T: Scalar, R: RngCore> Dropout<T, R> {
    /// Dropout with probability `p` in `[0, 1]`, drawing masks from `rng`.
    pub fn new(p: T, rng: R) -> Result<Self, Error> {
        if p >= T::zero() && p <= T::one() {
            Ok(Self { p, rng })
        } else {
            Err(Error::InvalidHyperparameter(
                "dropout probability must be in [0, 1]",
            ))
        }
    }

    /// The probability of dropping an element.
    pub fn p(&self) -> T {
        self.p
    }

    /// The random generator the masks are drawn from.
    pub fn rng(&self) -> &R {
        &self.rng
    }
}

/// `const` constructors, for models built at compile time (see [`crate::io::rust`]).
macro_rules! dropout_const {
    ($t:ty) => {
        impl Dropout<$t, SplitMix64> {
            /// [`Dropout::new`] in a `const` context, drawing from `rng`.
            pub const fn const_new(p: $t, rng: SplitMix64) -> Result<Self, Error> {
                if p >= 0.0 && p <= 1.0 {
                    Ok(Self { p, rng })
                } else {
                    Err(Error::InvalidHyperparameter(
                        "dropout probability must be in [0, 1]",
                    ))
                }
            }
        }
    };
}
dropout_const!(f32);
dropout_const!(f64);

impl<T: Scalar, R: Default> Default for Dropout<T, R> {
    /// `p = 0.5` (PyTorch's default), with `R::default()`.
    fn default() -> Self {
        Self {
            p: T::of_f64(0.5),
            rng: R::default(),
        }
    }
}

impl<T: Scalar, R> Parameters<T> for Dropout<T, R> {
    no_tensors!();
}

impl<T: Scalar, R> crate::io::StateDict<T> for Dropout<T, R> {
    crate::io::names::no_state_dict!();
}

/// A saved copy of a [`Dropout`] layer's random generator: its [`Model::Buffers`].
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRng<R>(Option<R>);

impl<R> Zeroed for SavedRng<R> {
    fn zeroed() -> Self {
        Self(None)
    }
    fn set_zero(&mut self) {
        self.0 = None;
    }
}

impl<T: Scalar, R: Clone> Model<T> for Dropout<T, R> {
    type Grads = ();
    type Buffers = SavedRng<R>;
    describe_leaf!("Dropout", |input| input);
    fn init<Rng: RngCore + ?Sized>(&mut self, _: Init, _: &mut Rng) {}
    fn save_buffers(&self, saved: &mut SavedRng<R>) {
        saved.0 = Some(self.rng.clone());
    }
    fn restore_buffers(&mut self, saved: &SavedRng<R>) {
        if let Some(rng) = &saved.0 {
            self.rng = rng.clone();
        }
    }
}

impl<T: Scalar, R: RngCore + Clone, const N: usize, const B: usize> Layer<T, SMatrix<T, N, B>>
    for Dropout<T, R>
{
    type Output = SMatrix<T, N, B>;
    /// The mask (0 or `1/(1 - p)` per element) and the output.
    type Cache = (SMatrix<T, N, B>, SMatrix<T, N, B>);

    fn forward(&self, x: &SMatrix<T, N, B>, y: &mut SMatrix<T, N, B>) {
        nonempty_batch::<B>();
        y.copy_from(x);
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        nonempty_batch::<B>();
        let (mask, y) = cache;
        let p = self.p.as_f64();
        let scale = if p < 1.0 {
            T::one() / (T::one() - self.p)
        } else {
            T::zero()
        };
        for ((m, yv), &xv) in mask.iter_mut().zip(y.iter_mut()).zip(x.iter()) {
            *m = if unit_f64(&mut self.rng) < p {
                T::zero()
            } else {
                scale
            };
            *yv = xv * *m;
        }
        y
    }

    /// The identity (inference mode), with a mask of ones for backward.
    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, N, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c SMatrix<T, N, B> {
        let (mask, y) = cache;
        mask.fill(T::one());
        y.copy_from(x);
        y
    }

    fn output(cache: &Self::Cache) -> &SMatrix<T, N, B> {
        &cache.1
    }

    fn backward(
        &self,
        _x: &SMatrix<T, N, B>,
        cache: &mut Self::Cache,
        dy: &mut SMatrix<T, N, B>,
        dx: Option<&mut SMatrix<T, N, B>>,
        _grads: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            for ((d, &g), &m) in dx.iter_mut().zip(dy.iter()).zip(cache.0.iter()) {
                *d = g * m;
            }
        }
    }
}
