use core::mem::size_of;

use super::{
    check_lr, check_non_negative, check_positive, check_unit, for_each_element, lerp, lerp_bound,
    magnitudes, optimizer_impls, squares_magnitude, state_magnitude, with_bounds, within,
    StateBounds,
};
use crate::io::{part, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::{math, Error, Parameters, Scalar, Zeroed};

/// RMSprop (Hinton, 2012), like `torch.optim.RMSprop`: steps divided by a running root mean
/// square of the gradients.
///
/// `g ← g + wd · w`, `v ← α · v + (1 − α) · g²`; plain: `a = √v + eps`; centered:
/// `ḡ ← α · ḡ + (1 − α) · g`, `a = √(v − ḡ²) + eps`. Without momentum `w ← w − lr · g / a`;
/// with momentum `b ← μ · b + g / a`, `w ← w − lr · b`. (Centered, `v − ḡ²` is clamped at 0:
/// it is never negative in exact arithmetic, but rounding can make it so, where PyTorch would
/// give NaN.)
///
/// The options that need a buffer are chosen by the constructor and are part of the type:
/// `C` is `G` when centered (the running mean `ḡ`), `Mo` is `G` with momentum (`b`), and
/// `()` otherwise. The state is 1, 2 or 3 buffers of the gradient type `G`.
///
/// | constructor | type | state |
/// | --- | --- | --- |
/// | [`RmsProp::new`] | `RmsProp<T, G>` | `v` |
/// | [`RmsProp::centered`] | `RmsProp<T, G, G>` | `v`, `ḡ` |
/// | [`RmsProp::with_momentum`] | `RmsProp<T, G, (), G>` | `v`, `b` |
/// | [`RmsProp::centered_with_momentum`] | `RmsProp<T, G, G, G>` | `v`, `ḡ`, `b` |
///
/// ```
/// use tinyprop::optim::{RmsProp, RmsPropConfig};
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 1, 1>;
/// let config = RmsPropConfig { lr: 0.01, momentum: 0.9, ..Default::default() };
/// let mut opt = RmsProp::centered_with_momentum(config).unwrap();
/// let (mut net, mut grads) = (Net::default(), Net::default());
/// grads.weight[(0, 0)] = 1.0;
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// assert!(net.weight[(0, 0)] < 0.0);
/// assert_eq!(RmsProp::<f64, Net, Net, Net>::STATE_BYTES, 3 * core::mem::size_of::<Net>());
/// // Plain RMSprop keeps one buffer.
/// assert_eq!(RmsProp::<f64, Net>::STATE_BYTES, core::mem::size_of::<Net>());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp<T, G, C = (), Mo = ()> {
    config: RmsPropConfig<T>,
    state: RmsPropState<G, C, Mo>,
    /// Bounds of `v`, the mean gradient and the momentum buffer.
    bounds: StateBounds<T, 3>,
}

/// The hyperparameters of [`RmsProp`], with PyTorch's defaults. Whether it is centered is
/// chosen by the constructor.
///
/// ```
/// use tinyprop::optim::RmsPropConfig;
/// let c = RmsPropConfig::<f64>::default();
/// assert_eq!((c.lr, c.alpha, c.eps, c.weight_decay, c.momentum), (1e-2, 0.99, 1e-8, 0.0, 0.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig<T> {
    /// Learning rate, finite and `>= 0` (default `1e-2`).
    pub lr: T,
    /// Smoothing constant `α` of the running averages, in `[0, 1)` (default 0.99).
    pub alpha: T,
    /// Added to the denominator, finite and `> 0` (default `1e-8`).
    pub eps: T,
    /// L2 penalty added to the gradient, finite and `>= 0` (default 0).
    pub weight_decay: T,
    /// Momentum factor `μ` (default 0): must be `> 0` for the constructors with momentum and
    /// 0 for the others.
    pub momentum: T,
}

impl<T: Scalar> Default for RmsPropConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of_f64(1e-2),
            alpha: T::of_f64(0.99),
            eps: T::of_f64(1e-8),
            weight_decay: T::zero(),
            momentum: T::zero(),
        }
    }
}

/// The state of an [`RmsProp`]: `C` and `Mo` are `()` or the gradient type `G`.
#[derive(Debug, Clone, PartialEq)]
pub struct RmsPropState<G, C, Mo> {
    /// Running mean of the squared gradients (PyTorch's `square_avg`).
    pub square_avg: G,
    /// Running mean of the gradients when centered (PyTorch's `grad_avg`), or `()`.
    pub grad_avg: C,
    /// The momentum buffer (PyTorch's `momentum_buffer`), or `()`.
    pub momentum_buffer: Mo,
}

/// PyTorch's state keys: `square_avg.…` ([`Domain::NonNegative`](crate::io::Domain)), and
/// `grad_avg.…` when centered and `momentum_buffer.…` with momentum, each under the model's
/// parameter names (`square_avg.0.weight`). (PyTorch also keeps a `step`, which the update
/// does not use; it is not kept here.)
///
/// ```
/// use tinyprop::io::StateDict;
/// use tinyprop::optim::{RmsProp, RmsPropConfig};
/// use tinyprop::Dense;
/// type D = Dense<f32, 2, 1>;
/// let config = RmsPropConfig { momentum: 0.9, ..Default::default() };
/// let opt = RmsProp::<f32, D, D, D>::centered_with_momentum(config).unwrap();
/// let mut names = Vec::new();
/// opt.for_each_tensor(|t, _| Ok(names.push(t.name.to_string()))).unwrap();
/// assert_eq!(names, ["square_avg.weight", "square_avg.bias", "momentum_buffer.weight",
///                    "momentum_buffer.bias", "grad_avg.weight", "grad_avg.bias"]);
/// ```
impl<T: Scalar, G: StateDict<T>, C: StateDict<T>, Mo: StateDict<T>> StateDict<T>
    for RmsPropState<G, C, Mo>
{
    const ENTRIES: usize = G::ENTRIES + C::ENTRIES + Mo::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        {
            let mut non_negative =
                |info: TensorInfo<'_>, v: Values<'_, T>| f(info.non_negative(), v);
            part(prefix, "square_avg", |p| {
                self.square_avg.visit(p, &mut non_negative)
            })?;
        }
        part(prefix, "momentum_buffer", |p| {
            self.momentum_buffer.visit(p, f)
        })?;
        part(prefix, "grad_avg", |p| self.grad_avg.visit(p, f))
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        {
            let mut non_negative =
                |info: TensorInfo<'_>, v: ValuesMut<'_, T>| f(info.non_negative(), v);
            part(prefix, "square_avg", |p| {
                self.square_avg.visit_mut(p, &mut non_negative)
            })?;
        }
        part(prefix, "momentum_buffer", |p| {
            self.momentum_buffer.visit_mut(p, f)
        })?;
        part(prefix, "grad_avg", |p| self.grad_avg.visit_mut(p, f))
    }
}

/// The state ([`RmsPropState`]'s names); a load through `visit_mut` goes through
/// [`RmsProp::state_mut`], so the next step measures the state it loaded.
impl<T, G, C, Mo> StateDict<T> for RmsProp<T, G, C, Mo>
where
    T: Scalar,
    G: Parameters<T> + Zeroed + StateDict<T>,
    C: Parameters<T> + Zeroed + StateDict<T>,
    Mo: Parameters<T> + Zeroed + StateDict<T>,
{
    const ENTRIES: usize = <RmsPropState<G, C, Mo> as StateDict<T>>::ENTRIES;

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

fn check<T: Scalar>(config: &RmsPropConfig<T>, momentum: bool) -> Result<(), Error> {
    check_lr(config.lr)?;
    check_unit(config.alpha, "alpha must be in [0, 1)")?;
    check_positive(config.eps, "eps must be finite and > 0")?;
    check_non_negative(config.weight_decay, "weight_decay must be finite and >= 0")?;
    check_non_negative(config.momentum, "momentum must be finite and >= 0")?;
    if momentum && config.momentum == T::zero() {
        return Err(Error::InvalidHyperparameter(
            "RmsProp with momentum needs momentum > 0",
        ));
    }
    if !momentum && config.momentum != T::zero() {
        return Err(Error::InvalidHyperparameter(
            "momentum > 0 needs a momentum buffer: build with RmsProp::with_momentum",
        ));
    }
    Ok(())
}

impl<T: Scalar, G> RmsProp<T, G> {
    /// RMSprop without centering or momentum; refuses invalid hyperparameters (and
    /// `momentum != 0`).
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 2>);
    /// // torch.optim.RMSprop(params, lr=0.01, alpha=0.9)
    /// let config = RmsPropConfig { lr: 0.01, alpha: 0.9, ..Default::default() };
    /// let opt = RmsProp::<f32, <Net as Model<f32>>::Grads>::new(config).unwrap();
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// // Momentum needs a buffer of its own: build with `RmsProp::with_momentum`.
    /// let momentum = RmsPropConfig { momentum: 0.9, ..config };
    /// assert!(RmsProp::<f32, <Net as Model<f32>>::Grads>::new(momentum).is_err());
    /// ```
    pub fn new(config: RmsPropConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config, false)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G> RmsProp<T, G, G> {
    /// Centered RMSprop (PyTorch's `centered=True`): one more buffer, the running mean of the
    /// gradients. Refuses invalid hyperparameters (and `momentum != 0`).
    pub fn centered(config: RmsPropConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config, false)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G> RmsProp<T, G, (), G> {
    /// RMSprop with momentum (`config.momentum > 0`): one more buffer. Refuses invalid
    /// hyperparameters.
    pub fn with_momentum(config: RmsPropConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config, true)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G> RmsProp<T, G, G, G> {
    /// Centered RMSprop with momentum (`config.momentum > 0`): two more buffers. Refuses
    /// invalid hyperparameters.
    pub fn centered_with_momentum(config: RmsPropConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config, true)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G: Zeroed, C: Zeroed, Mo: Zeroed> RmsProp<T, G, C, Mo> {
    fn build(config: RmsPropConfig<T>) -> Self {
        Self {
            config,
            state: RmsPropState {
                square_avg: G::zeroed(),
                grad_avg: C::zeroed(),
                momentum_buffer: Mo::zeroed(),
            },
            bounds: StateBounds::known([T::zero(); 3]),
        }
    }
}

impl<T, G, C, Mo> RmsProp<T, G, C, Mo>
where
    T: Scalar,
    G: Parameters<T> + Zeroed,
    C: Parameters<T> + Zeroed,
    Mo: Parameters<T> + Zeroed,
{
    /// Bytes of optimizer state: 1, 2 or 3 buffers of type `G`.
    pub const STATE_BYTES: usize = size_of::<RmsPropState<G, C, Mo>>();

    /// The current learning rate.
    pub fn learning_rate(&self) -> T {
        self.config.lr
    }

    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    pub fn set_learning_rate(&mut self, lr: T) -> Result<(), Error> {
        self.config.lr = check_lr(lr)?;
        Ok(())
    }

    /// Zeroes the state, as if no step had been taken.
    pub fn reset(&mut self) {
        self.state.square_avg.set_zero();
        self.state.grad_avg.set_zero();
        self.state.momentum_buffer.set_zero();
        self.bounds = StateBounds::known([T::zero(); 3]);
    }

    /// The hyperparameters.
    pub fn config(&self) -> RmsPropConfig<T> {
        self.config
    }

    /// The state.
    pub fn state(&self) -> &RmsPropState<G, C, Mo> {
        &self.state
    }

    /// The state, mutable (to restore a saved state).
    pub fn state_mut(&mut self) -> &mut RmsPropState<G, C, Mo> {
        self.bounds = StateBounds::UNKNOWN;
        &mut self.state
    }

    fn update<P: Parameters<T>>(&mut self, model: &mut P, grads: &G) -> Result<(), Error> {
        let c = self.config;
        let one_minus_alpha = T::one() - c.alpha;
        // The update below on the largest magnitudes (see `within`); the denominator is at
        // least eps. Without a buffer (`()`) its magnitude is 0 and its bound is not used.
        let (w_max, g_max) = magnitudes(model, grads)?;
        let g_bound = g_max + c.weight_decay * w_max;
        let state = &self.state;
        let measure = || {
            Ok([
                squares_magnitude(&state.square_avg)?,
                state_magnitude(&state.grad_avg)?,
                state_magnitude(&state.momentum_buffer)?,
            ])
        };
        let bounds = with_bounds(self.bounds, measure, |[v_max, mean_max, b_max]| {
            let v_bound = v_max * c.alpha + one_minus_alpha * g_bound * g_bound;
            let mean_bound = lerp_bound(mean_max, g_bound);
            let centered_bound = v_bound + mean_bound * mean_bound;
            let (b_bound, w_bound) = if Mo::COUNT > 0 {
                let b_bound = b_max * c.momentum + g_bound / c.eps;
                (b_bound, w_max + c.lr * b_bound)
            } else {
                (T::zero(), w_max + c.lr * g_bound / c.eps)
            };
            within([v_bound, mean_bound, centered_bound, b_bound, w_bound])?;
            Ok([v_bound, mean_bound, b_bound])
        })?;
        self.bounds = StateBounds::known(bounds);
        let RmsPropState {
            square_avg,
            grad_avg,
            momentum_buffer,
        } = &mut self.state;
        for_each_element(
            model,
            grads,
            square_avg,
            grad_avg,
            momentum_buffer,
            |w, g, v, mean, b| {
                let Some(v) = v else { return };
                let mut g = g;
                if c.weight_decay != T::zero() {
                    g += c.weight_decay * *w;
                }
                *v = *v * c.alpha + one_minus_alpha * g * g;
                let avg = match mean {
                    Some(mean) => {
                        *mean = lerp(*mean, g, one_minus_alpha);
                        // v ≥ ḡ² in exact arithmetic; rounding must not make it a NaN.
                        math::sqrt((*v + -*mean * *mean).max(T::zero()))
                    }
                    // `v >= 0` (see `squares_magnitude`).
                    None => math::sqrt(*v),
                } + c.eps;
                match b {
                    Some(b) => {
                        *b = *b * c.momentum + g / avg;
                        *w += -c.lr * *b;
                    }
                    None => *w += -c.lr * g / avg,
                }
            },
        );
        Ok(())
    }
}

optimizer_impls!(
    [G: Parameters<T> + Zeroed, C: Parameters<T> + Zeroed, Mo: Parameters<T> + Zeroed]
    RmsProp<T, G, C, Mo>
);
