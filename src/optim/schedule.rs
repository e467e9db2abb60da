//! Learning-rate schedules, like `torch.optim.lr_scheduler`.
//!
//! A [`Schedule`] is a pure function from a step (or epoch) index `t`, counted from 0, to a
//! learning rate; it stores its base rate and keeps no state, so any step can be computed
//! directly (after a restart, for example). The values equal those of PyTorch's schedulers
//! stepped `t` times (the tests compare 25 steps of each at a relative error of `1e-10`).
//!
//! ```
//! use tinyprop::optim::schedule::{CosineAnnealing, Schedule, Warmup};
//! use tinyprop::optim::{Adam, AdamConfig};
//! use tinyprop::prelude::*;
//!
//! type Net = Dense<f32, 2, 1>;
//! // Five steps of linear warmup from 0.1 · lr, then a cosine over 20 steps.
//! let schedule = Warmup::new(0.1, 1.0, 5, CosineAnnealing::new(0.01, 20, 0.0).unwrap()).unwrap();
//! let mut opt = Adam::<f32, Net>::new(AdamConfig::default()).unwrap();
//! for t in 0..25 {
//!     schedule.apply(&mut opt, t).unwrap();
//!     // ... train_step(&mut net, &mut opt, ...) ...
//! }
//! assert!((schedule.lr(0) - 0.001).abs() < 1e-9);
//! assert_eq!(schedule.lr(5), 0.01);
//! ```

use super::{check_lr, check_non_negative, count, LearningRate};
use crate::{Error, Scalar};

/// A learning rate for every step or epoch index `t` (from 0).
///
/// ```
/// use tinyprop::optim::schedule::Schedule;
/// /// A schedule of your own: the rate halves whenever `t` passes a power of two.
/// struct Halving(f32);
/// impl Schedule<f32> for Halving {
///     fn lr(&self, t: u32) -> f32 {
///         self.0 / (1u32 << (u32::BITS - t.leading_zeros()).min(20)) as f32
///     }
/// }
/// let s = Halving(0.8);
/// assert_eq!([s.lr(0), s.lr(1), s.lr(2), s.lr(4)], [0.8, 0.4, 0.2, 0.1]);
/// ```
pub trait Schedule<T: Scalar> {
    /// The learning rate at step `t`.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{Exponential, Schedule};
    /// let s = Exponential::new(0.1f64, 0.9).unwrap();
    /// assert!((s.lr(2) - 0.081).abs() < 1e-12);
    /// ```
    fn lr(&self, t: u32) -> T;

    /// Sets the learning rate of `optimizer` to [`Schedule::lr`]`(t)`.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{CosineAnnealing, Schedule};
    /// use tinyprop::prelude::*;
    /// let mut opt = Sgd::<f32, Dense<f32, 2, 1>>::new(0.1).unwrap();
    /// let cosine = CosineAnnealing::new(0.1, 10, 0.0).unwrap();
    /// for epoch in 0..10 {
    ///     cosine.apply(&mut opt, epoch).unwrap(); // before each epoch's training
    /// }
    /// assert!(opt.learning_rate() < 0.01);
    /// ```
    fn apply<O: LearningRate<T> + ?Sized>(&self, optimizer: &mut O, t: u32) -> Result<(), Error>
    where
        Self: Sized,
    {
        optimizer.set_learning_rate(self.lr(t))
    }
}

/// The same rate at every step (no scheduler in PyTorch).
///
/// ```
/// use tinyprop::optim::schedule::{Constant, Schedule};
/// assert_eq!(Constant::new(0.1).unwrap().lr(1000), 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constant<T> {
    lr: T,
}

impl<T: Scalar> Constant<T> {
    /// The rate `lr` (finite, `>= 0`).
    ///
    /// ```
    /// use tinyprop::optim::schedule::Constant;
    /// assert!(Constant::new(0.01f32).is_ok());
    /// assert!(Constant::new(-0.01f32).is_err()); // a negative rate is refused
    /// ```
    pub fn new(lr: T) -> Result<Self, Error> {
        Ok(Self { lr: check_lr(lr)? })
    }
}

impl<T: Scalar> Schedule<T> for Constant<T> {
    fn lr(&self, _: u32) -> T {
        self.lr
    }
}

/// `lr · γ^⌊t / step_size⌋`, like `torch.optim.lr_scheduler.StepLR`.
///
/// ```
/// use tinyprop::optim::schedule::{Schedule, Step};
/// let s = Step::new(0.1, 5, 0.5).unwrap();
/// assert_eq!([s.lr(0), s.lr(4), s.lr(5), s.lr(10)], [0.1, 0.1, 0.05, 0.025]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<T> {
    lr: T,
    step_size: u32,
    gamma: T,
}

impl<T: Scalar> Step<T> {
    /// Base rate `lr`, multiplied by `gamma` (finite, `>= 0`) every `step_size` (`>= 1`)
    /// steps.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{Schedule, Step};
    /// // PyTorch's StepLR(optimizer, step_size=30, gamma=0.1) on a base rate of 0.1.
    /// let s = Step::new(0.1f64, 30, 0.1).unwrap();
    /// assert_eq!(s.lr(29), 0.1);
    /// assert!((s.lr(30) - 0.01).abs() < 1e-15);
    /// assert!(Step::new(0.1f64, 0, 0.1).is_err()); // step_size must be at least 1
    /// ```
    pub fn new(lr: T, step_size: u32, gamma: T) -> Result<Self, Error> {
        if step_size == 0 {
            return Err(Error::InvalidHyperparameter("step_size must be >= 1"));
        }
        Ok(Self {
            lr: check_lr(lr)?,
            step_size,
            gamma: check_non_negative(gamma, "gamma must be finite and >= 0")?,
        })
    }
}

impl<T: Scalar> Schedule<T> for Step<T> {
    fn lr(&self, t: u32) -> T {
        let decays = t.checked_div(self.step_size).unwrap_or(0);
        self.lr * self.gamma.powf(count(decays))
    }
}

/// `lr · γ^t`, like `torch.optim.lr_scheduler.ExponentialLR`.
///
/// ```
/// use tinyprop::optim::schedule::{Exponential, Schedule};
/// let s = Exponential::new(1.0, 0.5).unwrap();
/// assert_eq!([s.lr(0), s.lr(1), s.lr(3)], [1.0, 0.5, 0.125]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponential<T> {
    lr: T,
    gamma: T,
}

impl<T: Scalar> Exponential<T> {
    /// Base rate `lr`, multiplied by `gamma` (finite, `>= 0`) at every step.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{Exponential, Schedule};
    /// let s = Exponential::new(0.1f32, 0.95).unwrap();
    /// assert!(s.lr(10) < 0.06);
    /// assert!(Exponential::new(0.1f32, f32::NAN).is_err());
    /// ```
    pub fn new(lr: T, gamma: T) -> Result<Self, Error> {
        Ok(Self {
            lr: check_lr(lr)?,
            gamma: check_non_negative(gamma, "gamma must be finite and >= 0")?,
        })
    }
}

impl<T: Scalar> Schedule<T> for Exponential<T> {
    fn lr(&self, t: u32) -> T {
        self.lr * self.gamma.powf(count(t))
    }
}

/// `η_min + (lr − η_min) · (1 + cos(π t / T_max)) / 2`, like
/// `torch.optim.lr_scheduler.CosineAnnealingLR`: from `lr` at `t = 0` down to `η_min` at
/// `t = T_max`, then (as PyTorch's) back up along the same cosine, with period `2 T_max`.
///
/// ```
/// use tinyprop::optim::schedule::{CosineAnnealing, Schedule};
/// let s = CosineAnnealing::<f64>::new(0.1, 20, 0.001).unwrap();
/// assert_eq!(s.lr(0), 0.1);
/// assert!((s.lr(10) - 0.0505).abs() < 1e-12);
/// assert_eq!(s.lr(20), 0.001);
/// assert!((s.lr(21) - s.lr(19)).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineAnnealing<T> {
    lr: T,
    t_max: u32,
    eta_min: T,
}

impl<T: Scalar> CosineAnnealing<T> {
    /// From `lr` to `eta_min` (finite, `>= 0`) over `t_max` (`>= 1`) steps.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{CosineAnnealing, Schedule};
    /// let s = CosineAnnealing::new(0.1f32, 100, 0.0).unwrap();
    /// assert_eq!(s.lr(100), 0.0);
    /// assert!(CosineAnnealing::new(0.1f32, 0, 0.0).is_err()); // t_max must be at least 1
    /// ```
    pub fn new(lr: T, t_max: u32, eta_min: T) -> Result<Self, Error> {
        if t_max == 0 {
            return Err(Error::InvalidHyperparameter("t_max must be >= 1"));
        }
        Ok(Self {
            lr: check_lr(lr)?,
            t_max,
            eta_min: check_non_negative(eta_min, "eta_min must be finite and >= 0")?,
        })
    }
}

impl<T: Scalar> Schedule<T> for CosineAnnealing<T> {
    fn lr(&self, t: u32) -> T {
        // Reduced to one period, 2 T_max, so that the angle stays exact for large t.
        let period = u64::from(self.t_max) * 2;
        let t = u64::from(t).checked_rem(period).unwrap_or(0);
        let angle = T::pi() * T::of_f64(t as f64) / count(self.t_max);
        let half = T::of_f64(0.5);
        self.eta_min + (self.lr - self.eta_min) * (T::one() + angle.cos()) * half
    }
}

/// Linear warmup, then another schedule restarted at its step 0, like
/// `SequentialLR([LinearLR(start_factor, end_factor, total_iters=iters), then],
/// milestones=[iters])`.
///
/// For `t < iters` the rate is `base · (start_factor + (end_factor − start_factor) · t / iters)`
/// where `base = then.lr(0)`; from `t = iters` on it is `then.lr(t − iters)`.
///
/// ```
/// use tinyprop::optim::schedule::{Constant, Schedule, Warmup};
/// let s = Warmup::new(0.25, 1.0, 4, Constant::new(0.1).unwrap()).unwrap();
/// assert_eq!(s.lr(0), 0.025);
/// assert_eq!(s.lr(2), 0.0625);
/// assert_eq!(s.lr(4), 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warmup<T, S> {
    start_factor: T,
    end_factor: T,
    iters: u32,
    then: S,
}

impl<T: Scalar, S: Schedule<T>> Warmup<T, S> {
    /// `iters` steps from `start_factor` (in `(0, 1]`) to `end_factor` (in `[0, 1]`) times
    /// `then.lr(0)`, then `then`. `iters = 0` means no warmup.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{CosineAnnealing, Schedule, Warmup};
    /// // 5 epochs of warmup from a tenth of the rate, then a cosine over 50 epochs.
    /// let cosine = CosineAnnealing::new(0.1f64, 50, 0.0).unwrap();
    /// let s = Warmup::new(0.1, 1.0, 5, cosine).unwrap();
    /// assert!((s.lr(0) - 0.01).abs() < 1e-15);
    /// assert_eq!(s.lr(5), 0.1);
    /// assert!(Warmup::new(0.0, 1.0, 5, cosine).is_err()); // start_factor must be > 0
    /// ```
    pub fn new(start_factor: T, end_factor: T, iters: u32, then: S) -> Result<Self, Error> {
        if !(start_factor > T::zero() && start_factor <= T::one()) {
            return Err(Error::InvalidHyperparameter(
                "start_factor must be in (0, 1]",
            ));
        }
        if !(end_factor >= T::zero() && end_factor <= T::one()) {
            return Err(Error::InvalidHyperparameter("end_factor must be in [0, 1]"));
        }
        Ok(Self {
            start_factor,
            end_factor,
            iters,
            then,
        })
    }

    /// The schedule that follows the warmup.
    ///
    /// ```
    /// use tinyprop::optim::schedule::{Constant, Warmup};
    /// let s = Warmup::new(0.5f32, 1.0, 3, Constant::new(0.2).unwrap()).unwrap();
    /// assert_eq!(s.then(), &Constant::new(0.2).unwrap());
    /// ```
    pub fn then(&self) -> &S {
        &self.then
    }
}

impl<T: Scalar, S: Schedule<T>> Schedule<T> for Warmup<T, S> {
    fn lr(&self, t: u32) -> T {
        match t.checked_sub(self.iters) {
            Some(after) => self.then.lr(after),
            None => {
                let progress = (self.end_factor - self.start_factor) * count(t) / count(self.iters);
                self.then.lr(0) * (self.start_factor + progress)
            }
        }
    }
}
