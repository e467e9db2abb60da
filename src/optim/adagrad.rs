use core::mem::size_of;

use super::optimizer_impls;
use super::{
    check_lr, check_non_negative, check_positive, count, for_each_element, magnitudes,
    squares_magnitude, with_bounds, within, StateBounds,
};
use crate::io::{entry, part, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::{math, Error, Parameters, Scalar, Zeroed};

/// Adagrad (Duchi, Hazan and Singer, 2011), like `torch.optim.Adagrad`: every weight's step
/// shrinks with the sum of its squared gradients.
///
/// At step `t` (from 1): `g ← g + wd · w`, `s ← s + g²`,
/// `w ← w − lr / (1 + (t − 1) · lr_decay) · g / (√s + eps)`.
///
/// State: the sum `s` (one buffer of the gradient type `G`) and a step counter.
///
/// ```
/// use tinyprop::optim::{Adagrad, AdagradConfig};
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 1, 1>;
/// let mut opt = Adagrad::new(AdagradConfig { lr: 0.5, ..Default::default() }).unwrap();
/// let (mut net, mut grads) = (Net::default(), Net::default());
/// grads.weight[(0, 0)] = 4.0;
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// assert!((net.weight[(0, 0)] + 0.5).abs() < 1e-9); // -0.5 · 4 / √16
/// assert_eq!(opt.state().sum.weight[(0, 0)], 16.0);
/// // The sums and the step counter (padded to the layer's alignment).
/// let (size, align) = (core::mem::size_of::<Net>(), core::mem::align_of::<Net>());
/// assert_eq!(Adagrad::<f64, Net>::STATE_BYTES, (size + 8).next_multiple_of(align));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adagrad<T, G> {
    config: AdagradConfig<T>,
    state: AdagradState<G>,
    /// Bound of the sum of squares.
    bounds: StateBounds<T, 1>,
}

/// The hyperparameters of [`Adagrad`], with PyTorch's defaults.
///
/// ```
/// use tinyprop::optim::AdagradConfig;
/// let c = AdagradConfig::<f64>::default();
/// assert_eq!((c.lr, c.lr_decay, c.weight_decay, c.initial_accumulator_value, c.eps),
///            (1e-2, 0.0, 0.0, 0.0, 1e-10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdagradConfig<T> {
    /// Learning rate, finite and `>= 0` (default `1e-2`).
    pub lr: T,
    /// Learning-rate decay per step, finite and `>= 0` (default 0).
    pub lr_decay: T,
    /// L2 penalty added to the gradient, finite and `>= 0` (default 0).
    pub weight_decay: T,
    /// Initial value of the sum of squares, finite and `>= 0` (default 0).
    pub initial_accumulator_value: T,
    /// Added to the denominator, finite and `> 0` (default `1e-10`).
    pub eps: T,
}

impl<T: Scalar> Default for AdagradConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of_f64(1e-2),
            lr_decay: T::zero(),
            weight_decay: T::zero(),
            initial_accumulator_value: T::zero(),
            eps: T::of_f64(1e-10),
        }
    }
}

/// The state of an [`Adagrad`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdagradState<G> {
    /// The sum of squared gradients (PyTorch's `sum`), from `initial_accumulator_value`.
    pub sum: G,
    /// Steps taken (PyTorch's `step`); saturates at `u32::MAX`.
    pub step: u32,
}

/// PyTorch's state keys: `step` (a counter) and `sum.…` under the model's parameter names
/// (`sum.0.weight`), [`Domain::NonNegative`](crate::io::Domain).
///
/// ```
/// use tinyprop::io::StateDict;
/// use tinyprop::optim::{Adagrad, AdagradConfig};
/// use tinyprop::Dense;
/// let opt = Adagrad::<f32, Dense<f32, 2, 1>>::new(AdagradConfig::default()).unwrap();
/// let mut names = Vec::new();
/// opt.for_each_tensor(|t, _| Ok(names.push(t.name.to_string()))).unwrap();
/// assert_eq!(names, ["step", "sum.weight", "sum.bias"]);
/// ```
impl<T: Scalar, G: StateDict<T>> StateDict<T> for AdagradState<G> {
    const ENTRIES: usize = 1 + G::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        let step = Values::Count(self.step);
        entry(
            prefix,
            "step",
            Shape::SCALAR,
            Kind::Buffer,
            Layout::RowMajor,
            step,
            f,
        )?;
        let mut non_negative = |info: TensorInfo<'_>, v: Values<'_, T>| f(info.non_negative(), v);
        part(prefix, "sum", |p| self.sum.visit(p, &mut non_negative))
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        let step = ValuesMut::Count(&mut self.step);
        entry(
            prefix,
            "step",
            Shape::SCALAR,
            Kind::Buffer,
            Layout::RowMajor,
            step,
            f,
        )?;
        let mut non_negative =
            |info: TensorInfo<'_>, v: ValuesMut<'_, T>| f(info.non_negative(), v);
        part(prefix, "sum", |p| self.sum.visit_mut(p, &mut non_negative))
    }
}

/// The state ([`AdagradState`]'s names); a load through `visit_mut` goes through
/// [`Adagrad::state_mut`], so the next step measures the state it loaded.
impl<T: Scalar, G: Parameters<T> + Zeroed + StateDict<T>> StateDict<T> for Adagrad<T, G> {
    const ENTRIES: usize = <AdagradState<G> as StateDict<T>>::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.state().visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.state_mut().visit_mut(prefix, f)
    }
}

impl<T: Scalar, G> Adagrad<T, G> {
    /// Adagrad with `config`; refuses invalid hyperparameters.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 2>);
    /// let opt = Adagrad::<f32, <Net as Model<f32>>::Grads>::new(AdagradConfig { lr: 0.05, ..Default::default() });
    /// assert!(opt.is_ok());
    /// assert!(Adagrad::<f32, <Net as Model<f32>>::Grads>::new(AdagradConfig { eps: 0.0, ..Default::default() }).is_err());
    /// ```
    pub fn new(config: AdagradConfig<T>) -> Result<Self, Error>
    where
        G: Parameters<T> + Zeroed,
    {
        check_lr(config.lr)?;
        check_non_negative(config.lr_decay, "lr_decay must be finite and >= 0")?;
        check_non_negative(config.weight_decay, "weight_decay must be finite and >= 0")?;
        check_non_negative(
            config.initial_accumulator_value,
            "initial_accumulator_value must be finite and >= 0",
        )?;
        check_positive(config.eps, "eps must be finite and > 0")?;
        let mut opt = Self {
            config,
            state: AdagradState {
                sum: G::zeroed(),
                step: 0,
            },
            bounds: StateBounds::UNKNOWN,
        };
        opt.reset();
        Ok(opt)
    }
}

impl<T: Scalar, G: Parameters<T> + Zeroed> Adagrad<T, G> {
    /// Bytes of optimizer state: one buffer of type `G` and the step counter.
    pub const STATE_BYTES: usize = size_of::<AdagradState<G>>();

    /// The current learning rate.
    pub fn learning_rate(&self) -> T {
        self.config.lr
    }

    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    pub fn set_learning_rate(&mut self, lr: T) -> Result<(), Error> {
        self.config.lr = check_lr(lr)?;
        Ok(())
    }

    /// Restores the initial state: the sum back to `initial_accumulator_value`, step 0.
    pub fn reset(&mut self) {
        self.state.sum.fill(self.config.initial_accumulator_value);
        self.state.step = 0;
        self.bounds = StateBounds::UNKNOWN;
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdagradConfig<T> {
        self.config
    }

    /// The state.
    pub fn state(&self) -> &AdagradState<G> {
        &self.state
    }

    /// The state, mutable (to restore a saved state).
    pub fn state_mut(&mut self) -> &mut AdagradState<G> {
        self.bounds = StateBounds::UNKNOWN;
        &mut self.state
    }

    fn update<P: Parameters<T>>(&mut self, model: &mut P, grads: &G) -> Result<(), Error> {
        let c = self.config;
        let clr = c.lr / (T::one() + count::<T>(self.state.step) * c.lr_decay);
        // The update below on the largest magnitudes (see `within`); the denominator is at
        // least eps.
        let (w_max, g_max) = magnitudes(model, grads)?;
        let g_bound = g_max + c.weight_decay * w_max;
        let sum = &self.state.sum;
        let bounds = with_bounds(
            self.bounds,
            || Ok([squares_magnitude(sum)?]),
            |[s_max]| {
                let s_bound = s_max + g_bound * g_bound;
                within([s_bound, w_max + clr * g_bound / c.eps])?;
                Ok([s_bound])
            },
        )?;
        self.bounds = StateBounds::known(bounds);
        self.state.step = self.state.step.saturating_add(1);
        let sum = &mut self.state.sum;
        for_each_element(model, grads, sum, &mut (), &mut (), |w, g, s, _, _| {
            let Some(s) = s else { return };
            let mut g = g;
            if c.weight_decay != T::zero() {
                g += c.weight_decay * *w;
            }
            *s += g * g;
            // `s >= 0` (see `squares_magnitude`).
            let std = math::sqrt(*s) + c.eps;
            *w += -clr * g / std;
        });
        Ok(())
    }
}

optimizer_impls!([G: Parameters<T> + Zeroed] Adagrad<T, G>);
