//! Optimizers: how gradients change the weights.
//!
//! An optimizer is generic over the gradient type of the network it was built for, and keeps
//! its state (if any) as values of that type, so an optimizer built for one network does not
//! compile with another and its size is a compile-time constant.
//!
//! | optimizer | PyTorch | state (× the parameters) |
//! | --- | --- | --- |
//! | [`Sgd`] | `SGD` | 0; 1 with momentum |
//! | [`Adagrad`] | `Adagrad` | 1 |
//! | [`RmsProp`] | `RMSprop` | 1; +1 centered; +1 with momentum |
//! | [`Adam`] | `Adam` | 2; 3 with AMSGrad |
//! | [`AdamW`] | `AdamW` | 2; 3 with AMSGrad |
//!
//! A buffer that only an option needs exists only in the type built with that option (for
//! example `Adam<T, G>` holds two gradient-shaped buffers, `Adam<T, G, G>` built by
//! [`Adam::with_amsgrad`] three), so the memory a configuration needs is known at compile time:
//! every optimizer has an associated constant `STATE_BYTES` and a public state type.
//!
//! Hyperparameters come in a config struct per optimizer whose [`Default`] is PyTorch's
//! defaults; constructors check them and return [`Error::InvalidHyperparameter`] with a message
//! naming the problem. The update rules, and the order of their floating-point operations,
//! follow PyTorch's single-tensor (`foreach=False`) implementations; the tests compare five
//! steps of every configuration with PyTorch to a relative error of `1e-10` in `f64`.
//!
//! A step is all or nothing: [`Optimizer::step`] first checks that the gradients, the weights
//! and its own state are finite and that no number the update computes can overflow (from the
//! largest magnitudes of its inputs, see below), and only then updates; otherwise it returns an
//! error and changes nothing. An `Ok` step therefore leaves the weights and the state finite.
//! The check reads the weights, the gradients and the state once (a sum of absolute values per
//! tensor, at vector speed) and takes no memory. It is conservative: it refuses a step whose
//! worst case, with every element as large as the sum of all magnitudes, could overflow. For
//! `f32` that takes, for example, a learning rate times gradient sum above about 10³⁰, or with
//! Adam a step size times running mean above about 10²⁸ · eps; training never comes near.
//!
//! [`clip`] limits gradients between the backward pass and the step, and [`schedule`] changes
//! the learning rate over time.
//!
//! [`Error::InvalidHyperparameter`]: crate::Error::InvalidHyperparameter

mod adagrad;
mod adam;
pub mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adagrad::{Adagrad, AdagradConfig, AdagradState};
pub use adam::{Adam, AdamConfig, AdamState, AdamW, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_value, grad_norm, Norm};
pub use rmsprop::{RmsProp, RmsPropConfig, RmsPropState};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig, SgdOptions, SgdState, SgdVariant};

use crate::layer::abs_sum;
use crate::{Error, Model, Parameters, Scalar};

/// One update rule, applied to a model `M` with gradients `M::Grads`.
///
/// Every optimizer also has inherent `learning_rate`, `set_learning_rate` and `reset` methods
/// (and implements [`LearningRate`]), which can be called without naming `M`.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 1>);
/// // An optimizer's state mirrors the network's gradients, so its type names them.
/// type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
/// /// One plain gradient-descent step on any network, with any optimizer.
/// fn descend<M: Model<f32>, O: Optimizer<f32, M>>(opt: &mut O, net: &mut M, grads: &M::Grads) {
///     opt.step(net, grads).unwrap();
/// }
/// let mut net = Net::default();
/// net.init(Init::HeUniform, &mut SplitMix64::new(1));
/// let mut grads = <Net as Model<f32>>::Grads::zeroed();
/// grads.2.bias[0] = 1.0; // d loss / d (last bias)
/// let mut opt = Opt::new(AdamConfig { lr: 0.1, ..Default::default() }).unwrap();
/// descend(&mut opt, &mut net, &grads);
/// assert!((net.2.bias[0] + 0.1).abs() < 1e-6); // Adam's first step moves by lr
/// ```
#[diagnostic::on_unimplemented(
    message = "optimizer `{Self}` was not built for the network `{M}`",
    label = "this optimizer's state has the shape of another network",
    note = "an optimizer's state mirrors the gradients of one network; build one per network"
)]
pub trait Optimizer<T: Scalar, M: Model<T>> {
    /// Updates `model` from `grads` (the gradients of the loss, as backward accumulated them).
    ///
    /// All or nothing: returns [`Error::NonFiniteGradient`], [`Error::NonFiniteModel`] or
    /// [`Error::NonFiniteOptimizerState`] if the gradients, the model's parameters or the
    /// optimizer's state hold a NaN or an infinity, and [`Error::Overflow`] if the update
    /// could overflow (see the [module docs](self)); then neither the model nor the
    /// optimizer's state (step counter included) has changed. After `Ok`, both are finite.
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # type Net = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 1>);
    /// # let mut net = Net::default();
    /// # net.init(Init::HeUniform, &mut SplitMix64::new(1));
    /// let mut grads = <Net as Model<f32>>::Grads::zeroed();
    /// grads.0.weight.fill(0.5);
    /// let mut opt = Sgd::new(0.1).unwrap();
    /// let before = net.0.weight;
    /// Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads).unwrap();
    /// assert_eq!(net.0.weight, before.map(|w| w - 0.05));
    /// // A NaN gradient is refused and nothing changes.
    /// grads.0.weight[0] = f32::NAN;
    /// let kept = net.clone();
    /// assert_eq!(Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads), Err(Error::NonFiniteGradient));
    /// assert_eq!(net, kept);
    /// ```
    fn step(&mut self, model: &mut M, grads: &M::Grads) -> Result<(), Error>;
    /// The current learning rate.
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # type Net = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 1>);
    /// let opt = Sgd::<f32, <Net as Model<f32>>::Grads>::new(0.1).unwrap();
    /// assert_eq!(Optimizer::<f32, Net>::learning_rate(&opt), 0.1);
    /// assert_eq!(opt.learning_rate(), 0.1); // the inherent method: no need to name the network
    /// ```
    fn learning_rate(&self) -> T;
    /// Sets the learning rate (for schedules); a negative or non-finite rate is refused.
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # type Net = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 1>);
    /// let mut opt = Sgd::<f32, <Net as Model<f32>>::Grads>::new(0.1).unwrap();
    /// Optimizer::<f32, Net>::set_learning_rate(&mut opt, 0.01).unwrap();
    /// assert!(opt.set_learning_rate(-1.0).is_err());
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// ```
    fn set_learning_rate(&mut self, lr: T) -> Result<(), Error>;
    /// Clears the optimizer's state, as if no step had been taken.
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # type Net = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 1>);
    /// # let mut net = Net::default();
    /// # net.init(Init::HeUniform, &mut SplitMix64::new(1));
    /// let mut grads = <Net as Model<f32>>::Grads::zeroed();
    /// grads.2.bias[0] = 1.0;
    /// let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig::default()).unwrap();
    /// let fresh = opt.clone();
    /// opt.step(&mut net, &grads).unwrap();
    /// assert_ne!(opt, fresh);
    /// opt.reset(); // as before the first step, e.g. when training restarts
    /// assert_eq!(opt, fresh);
    /// ```
    fn reset(&mut self);
}

/// Reading and setting the learning rate of an optimizer, independently of the network it
/// updates: what a [`Schedule`] needs.
///
/// ```
/// use tinyprop::optim::{Adam, AdamConfig, LearningRate};
/// use tinyprop::Dense;
/// fn halve<O: LearningRate<f32>>(opt: &mut O) {
///     let lr = opt.learning_rate();
///     opt.set_learning_rate(lr / 2.0).unwrap();
/// }
/// let mut opt = Adam::<f32, Dense<f32, 2, 1>>::new(AdamConfig::default()).unwrap();
/// halve(&mut opt);
/// assert_eq!(opt.learning_rate(), 5e-4);
/// ```
pub trait LearningRate<T: Scalar> {
    /// The current learning rate.
    ///
    /// ```
    /// use tinyprop::optim::{LearningRate, RmsProp, RmsPropConfig};
    /// let opt = RmsProp::<f64, tinyprop::Dense<f64, 1, 1>>::new(RmsPropConfig { lr: 0.01, ..Default::default() }).unwrap();
    /// assert_eq!(LearningRate::learning_rate(&opt), 0.01);
    /// ```
    fn learning_rate(&self) -> T;
    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    ///
    /// ```
    /// use tinyprop::optim::{LearningRate, Sgd};
    /// let mut opt = Sgd::<f32, tinyprop::Dense<f32, 1, 1>>::new(0.1).unwrap();
    /// assert!(LearningRate::set_learning_rate(&mut opt, f32::NAN).is_err());
    /// assert_eq!(LearningRate::learning_rate(&opt), 0.1);
    /// ```
    fn set_learning_rate(&mut self, lr: T) -> Result<(), Error>;
}

/// Checks a learning rate: finite and not negative.
pub(crate) fn check_lr<T: Scalar>(lr: T) -> Result<T, Error> {
    if lr.is_finite() && lr >= T::zero() {
        Ok(lr)
    } else {
        Err(Error::InvalidHyperparameter("lr must be finite and >= 0"))
    }
}

/// Checks that `x` is finite and `>= 0`.
pub(crate) fn check_non_negative<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x.is_finite() && x >= T::zero() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// Checks that `x` is finite and `> 0`.
pub(crate) fn check_positive<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x.is_finite() && x > T::zero() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// Checks that `x` lies in `[0, 1)`.
pub(crate) fn check_unit<T: Scalar>(x: T, message: &'static str) -> Result<T, Error> {
    if x >= T::zero() && x < T::one() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter(message))
    }
}

/// `self + weight · (end − self)`, computed as ATen's `lerp` does (from the nearer end).
#[inline]
pub(crate) fn lerp<T: Scalar>(start: T, end: T, weight: T) -> T {
    if weight.abs() < T::of_f64(0.5) {
        start + weight * (end - start)
    } else {
        end - (end - start) * (T::one() - weight)
    }
}

/// An upper bound of the magnitude of every element of `p` (the sum of their absolute values),
/// or `error` if an element is NaN or infinite, or [`Error::Overflow`] if the sum overflows.
pub(crate) fn magnitude<T: Scalar, P: Parameters<T>>(p: &P, error: Error) -> Result<T, Error> {
    finite_or(abs_sum(p), p, error)
}

/// `sum` if it is finite; else `error` if an element of `p` is NaN or infinite, or
/// [`Error::Overflow`] if only the sum is.
fn finite_or<T: Scalar, P: Parameters<T>>(sum: T, p: &P, error: Error) -> Result<T, Error> {
    if sum.is_finite() {
        Ok(sum)
    } else if p.all_finite() {
        Err(Error::Overflow)
    } else {
        Err(error)
    }
}

/// Upper bounds of the magnitudes of a model's parameters and of its gradients (see
/// [`magnitude`]); [`Error::NonFiniteModel`] or
/// [`Error::NonFiniteGradient`] if an element is NaN or infinite.
pub(crate) fn magnitudes<T: Scalar, P: Parameters<T>, G: Parameters<T>>(
    model: &P,
    grads: &G,
) -> Result<(T, T), Error> {
    Ok((
        magnitude(model, Error::NonFiniteModel)?,
        magnitude(grads, Error::NonFiniteGradient)?,
    ))
}

/// The magnitude of an optimizer's state buffer (see [`magnitude`]).
pub(crate) fn state_magnitude<T: Scalar, P: Parameters<T>>(p: &P) -> Result<T, Error> {
    magnitude(p, Error::NonFiniteOptimizerState)
}

/// The magnitude of a running average of squares (see [`magnitude`]), which must not be
/// negative (its square root is taken): [`Error::NonFiniteOptimizerState`] if it is. Updates
/// keep it so (sums of non-negative terms), so only a state set by hand can fail here, which
/// is measured by this function before the next step.
pub(crate) fn squares_magnitude<T: Scalar, P: Parameters<T>>(p: &P) -> Result<T, Error> {
    let magnitude = state_magnitude(p)?;
    if p.tensors().flatten().any(|&x| x < T::zero()) {
        return Err(Error::NonFiniteOptimizerState);
    }
    Ok(magnitude)
}

/// Upper bounds of the magnitudes of the elements of an optimizer's `K` state buffers, kept
/// from one step to the next, so that a step need not read its state to check it: each step
/// computes the bounds of the state it leaves (from the bounds of its inputs). They only grow, so
/// when they become too loose for the check (after some tens of steps), or are unknown (the
/// state was changed through `state_mut`), the step measures the state instead, one pass over
/// it.
///
/// Not part of the optimizer's value: two optimizers with the same configuration and state are
/// equal whatever their bounds.
#[derive(Debug, Clone, Copy)]
pub struct StateBounds<T, const K: usize>(Option<[T; K]>);

impl<T, const K: usize> StateBounds<T, K> {
    /// No bounds known: the next step measures the state.
    pub(crate) const UNKNOWN: Self = Self(None);

    /// Bounds known to hold.
    pub(crate) fn known(bounds: [T; K]) -> Self {
        Self(Some(bounds))
    }
}

impl<T, const K: usize> PartialEq for StateBounds<T, K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// `check` of the cached `bounds`, or, if there are none or `check` refuses them, of the bounds
/// `measure` gives (exact ones, from a pass over the state).
pub(crate) fn with_bounds<T: Copy, const K: usize, R>(
    bounds: StateBounds<T, K>,
    measure: impl FnOnce() -> Result<[T; K], Error>,
    check: impl Fn([T; K]) -> Result<R, Error>,
) -> Result<R, Error> {
    if let Some(Ok(checked)) = bounds.0.map(&check) {
        return Ok(checked);
    }
    check(measure()?)
}

/// An upper bound of `|lerp(start, end, weight)|` for `weight` in `[0, 1]`, `|start| <= s` and
/// `|end| <= e`, as [`lerp`] computes it in either branch.
#[inline]
pub(crate) fn lerp_bound<T: Scalar>(s: T, e: T) -> T {
    s.max(e) + (e + s)
}

/// `Ok` when every bound is finite, else [`Error::Overflow`].
///
/// The bounds are the update's formulas evaluated on upper bounds of the magnitudes of its
/// inputs (and lower bounds of its denominators), in the same order of operations. Rounding
/// to nearest is monotonic, so each bound is at least the magnitude of what the update
/// computes for any element: if the bounds are finite, so is every result.
pub(crate) fn within<const N: usize, T: Scalar>(bounds: [T; N]) -> Result<(), Error> {
    if bounds.iter().all(|b| b.is_finite()) {
        Ok(())
    } else {
        Err(Error::Overflow)
    }
}

/// A step counter as a scalar.
#[inline]
pub(crate) fn count<T: Scalar>(step: u32) -> T {
    T::of_f64(f64::from(step))
}

/// The elements of a tensor that may be absent, each as `Some`, then `None` forever.
fn optional_elements<T>(tensor: Option<&mut [T]>) -> impl Iterator<Item = Option<&mut T>> {
    tensor
        .into_iter()
        .flatten()
        .map(Some)
        .chain(core::iter::repeat_with(|| None))
}

/// Calls `update(parameters, gradients, a, b, c)` for every tensor of `model`, with the
/// tensors at the same place in the state buffers `a`, `b` and `c`. A buffer of the
/// gradients' type gives `Some` tensor; an absent buffer, `()`, gives `None`. Optimizers whose
/// speed matters loop over the slices themselves, so the loop has no per-element branches.
pub(crate) fn for_each_tensor<T, M, G, A, B, C, F>(
    model: &mut M,
    grads: &G,
    a: &mut A,
    b: &mut B,
    c: &mut C,
    mut update: F,
) where
    T: Scalar,
    M: Parameters<T>,
    G: Parameters<T>,
    A: Parameters<T>,
    B: Parameters<T>,
    C: Parameters<T>,
    F: FnMut(&mut [T], &[T], Option<&mut [T]>, Option<&mut [T]>, Option<&mut [T]>),
{
    // By index, not by zipping the tensor iterators: each index picks its tensor directly.
    for i in 0..M::TENSORS {
        if let (Some(p), Some(g)) = (model.tensor_mut(i), grads.tensor(i)) {
            update(p, g, a.tensor_mut(i), b.tensor_mut(i), c.tensor_mut(i));
        }
    }
}

/// Calls `update(parameter, gradient, a, b, c)` for every element of `model`, with the
/// elements at the same place in the state buffers `a`, `b` and `c` (see [`for_each_tensor`]).
pub(crate) fn for_each_element<T, M, G, A, B, C, F>(
    model: &mut M,
    grads: &G,
    a: &mut A,
    b: &mut B,
    c: &mut C,
    mut update: F,
) where
    T: Scalar,
    M: Parameters<T>,
    G: Parameters<T>,
    A: Parameters<T>,
    B: Parameters<T>,
    C: Parameters<T>,
    F: FnMut(&mut T, T, Option<&mut T>, Option<&mut T>, Option<&mut T>),
{
    for_each_tensor(model, grads, a, b, c, |p, g, ta, tb, tc| {
        let elements = optional_elements(ta)
            .zip(optional_elements(tb))
            .zip(optional_elements(tc));
        for ((pi, &gi), ((ea, eb), ec)) in p.iter_mut().zip(g).zip(elements) {
            update(pi, gi, ea, eb, ec);
        }
    });
}

/// Implements [`LearningRate`] and [`Optimizer`] for an optimizer type whose inherent
/// `learning_rate`, `set_learning_rate`, `reset` and `update` methods do the work. The generic
/// parameters after `T` are given in brackets; the gradient type must be called `G`.
macro_rules! optimizer_impls {
    ([$($generics:tt)*] $ty:ty) => {
        impl<T: $crate::Scalar, $($generics)*> $crate::optim::LearningRate<T> for $ty {
            fn learning_rate(&self) -> T {
                Self::learning_rate(self)
            }
            fn set_learning_rate(&mut self, lr: T) -> Result<(), $crate::Error> {
                Self::set_learning_rate(self, lr)
            }
        }

        impl<T: $crate::Scalar, M: $crate::Model<T, Grads = G>, $($generics)*>
            $crate::optim::Optimizer<T, M> for $ty
        {
            fn step(&mut self, model: &mut M, grads: &G) -> Result<(), $crate::Error> {
                self.update(model, grads)
            }
            fn learning_rate(&self) -> T {
                Self::learning_rate(self)
            }
            fn set_learning_rate(&mut self, lr: T) -> Result<(), $crate::Error> {
                Self::set_learning_rate(self, lr)
            }
            fn reset(&mut self) {
                Self::reset(self);
            }
        }
    };
}
pub(crate) use optimizer_impls;
