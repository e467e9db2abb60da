use core::marker::PhantomData;
use core::mem::size_of;

use super::{
    check_lr, check_non_negative, for_each_element, magnitudes, optimizer_impls, state_magnitude,
    with_bounds, within, StateBounds,
};
use crate::io::{entry, part, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::{Error, Parameters, Scalar, Zeroed};

/// Stochastic gradient descent, like `torch.optim.SGD`.
///
/// `G` is the gradient type of the network it updates (inferred at the first use), so an
/// `Sgd` is tied to one network shape. The third parameter says what else it keeps, and so
/// its size:
///
/// | built with | type | keeps |
/// | --- | --- | --- |
/// | [`Sgd::new`]`(lr)` | `Sgd<T, G>` | the learning rate only: `w ← w − lr · g` |
/// | [`Sgd::with_config`] | `Sgd<T, G, SgdOptions<T, ()>>` | weight decay and a step counter |
/// | [`Sgd::with_momentum`] | `Sgd<T, G, SgdOptions<T, G>>` | also a momentum buffer of type `G` |
///
/// With [`SgdConfig`] (PyTorch's order of operations, `wd` weight decay, `μ` momentum, `τ`
/// dampening): `d = g + wd · w`; with momentum `b ← d` at the first step, then
/// `b ← μ · b + (1 − τ) · d`, and `d = b`, or `d = d + μ · b` with Nesterov; `w ← w − lr · d`.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 1, 1>;
/// let mut net = Net::default();
/// let mut grads = Net::default();
/// grads.weight[(0, 0)] = 2.0;
/// let mut opt = Sgd::new(0.25).unwrap();
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// assert_eq!(net.weight[(0, 0)], -0.5);
/// assert!(Sgd::<f64, ()>::new(-1.0).is_err());
/// ```
///
/// With momentum, and the size of its state:
///
/// ```
/// use tinyprop::optim::{Sgd, SgdConfig, SgdState};
/// use tinyprop::prelude::*;
/// type Net = Dense<f32, 4, 2>;
/// let config = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..Default::default() };
/// let mut opt = Sgd::with_momentum(config).unwrap();
/// let (mut net, mut grads) = (Net::default(), Net::default());
/// grads.bias.fill(1.0);
/// Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// assert_eq!(opt.state().momentum_buffer.bias[0], 1.0);
/// assert_eq!(net.bias[0], -0.19); // -0.1 · (1 + 0.9 · 1)
/// assert_eq!(opt.state().step, 1);
/// // One buffer the size of the parameters, and the step counter (the whole padded to the
/// // layer's alignment: a cache line in builds with AVX, see `Dense`).
/// type Opt = Sgd<f32, Net, tinyprop::optim::SgdOptions<f32, Net>>;
/// let (size, align) = (core::mem::size_of::<Net>(), core::mem::align_of::<Net>());
/// assert_eq!(Opt::STATE_BYTES, (size + 4).next_multiple_of(align));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd<T, G, O = ()> {
    lr: T,
    options: O,
    grads: PhantomData<fn() -> G>,
}

/// The hyperparameters of [`Sgd`], with PyTorch's defaults.
///
/// ```
/// use tinyprop::optim::SgdConfig;
/// let c = SgdConfig::<f32>::default();
/// assert_eq!((c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov), (1e-3, 0.0, 0.0, 0.0, false));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig<T> {
    /// Learning rate, finite and `>= 0` (default `1e-3`).
    pub lr: T,
    /// Momentum factor `μ`, finite and `>= 0` (default 0: no momentum). Only
    /// [`Sgd::with_momentum`] accepts a value above 0, and it requires one.
    pub momentum: T,
    /// Dampening `τ` of the momentum, in `[0, 1]` (default 0).
    pub dampening: T,
    /// L2 penalty added to the gradient, finite and `>= 0` (default 0).
    pub weight_decay: T,
    /// Nesterov momentum (default `false`); needs momentum `> 0` and dampening 0.
    pub nesterov: bool,
}

impl<T: Scalar> Default for SgdConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of_f64(1e-3),
            momentum: T::zero(),
            dampening: T::zero(),
            weight_decay: T::zero(),
            nesterov: false,
        }
    }
}

/// The hyperparameters beyond the learning rate and the state of an [`Sgd`] built with
/// [`Sgd::with_config`] (`B = ()`, no momentum) or [`Sgd::with_momentum`] (`B = G`).
#[derive(Debug, Clone, PartialEq)]
pub struct SgdOptions<T, B> {
    momentum: T,
    dampening: T,
    weight_decay: T,
    nesterov: bool,
    state: SgdState<B>,
    /// Bound of the momentum buffer.
    bounds: StateBounds<T, 1>,
}

/// The state of an [`Sgd`] with options: `B` is `()` without momentum and the gradient type
/// with momentum.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdState<B> {
    /// The momentum buffer (PyTorch's `momentum_buffer`), or `()`.
    pub momentum_buffer: B,
    /// Steps taken since construction or [`Sgd::reset`]; the first step with momentum sets the
    /// buffer to the gradient. Saturates at `u32::MAX`.
    pub step: u32,
}

/// PyTorch's state key `momentum_buffer.…` (with momentum) under the model's parameter
/// names (`momentum_buffer.0.weight`), and `step` (a counter: the first step with momentum
/// sets the buffer to the gradient, as PyTorch's absent buffer does).
///
/// ```
/// use tinyprop::io::StateDict;
/// use tinyprop::optim::{Sgd, SgdConfig};
/// use tinyprop::Dense;
/// let config = SgdConfig { momentum: 0.9, ..Default::default() };
/// let opt = Sgd::<f32, Dense<f32, 2, 1>, _>::with_momentum(config).unwrap();
/// let mut names = Vec::new();
/// opt.for_each_tensor(|t, _| Ok(names.push(t.name.to_string()))).unwrap();
/// assert_eq!(names, ["momentum_buffer.weight", "momentum_buffer.bias", "step"]);
/// // Plain SGD keeps nothing.
/// assert_eq!(<Sgd<f32, Dense<f32, 2, 1>> as StateDict<f32>>::ENTRIES, 0);
/// ```
impl<T: Scalar, B: StateDict<T>> StateDict<T> for SgdState<B> {
    const ENTRIES: usize = B::ENTRIES + 1;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "momentum_buffer", |p| {
            self.momentum_buffer.visit(p, f)
        })?;
        let step = Values::Count(self.step);
        entry(
            prefix,
            "step",
            Shape::SCALAR,
            Kind::Buffer,
            Layout::RowMajor,
            step,
            f,
        )
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "momentum_buffer", |p| {
            self.momentum_buffer.visit_mut(p, f)
        })?;
        let step = ValuesMut::Count(&mut self.step);
        entry(
            prefix,
            "step",
            Shape::SCALAR,
            Kind::Buffer,
            Layout::RowMajor,
            step,
            f,
        )
    }
}

/// The state of an [`Sgd`] with options ([`SgdState`]'s names); `visit_mut` forgets the
/// bounds of the state, so the next step measures the state it loaded.
impl<T: Scalar, B: StateDict<T>> StateDict<T> for SgdOptions<T, B> {
    const ENTRIES: usize = <SgdState<B> as StateDict<T>>::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.state.visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.bounds = StateBounds::UNKNOWN;
        self.state.visit_mut(prefix, f)
    }
}

/// The state of its variant: none for plain SGD, [`SgdState`]'s names with options.
impl<T: Scalar, G, O: StateDict<T>> StateDict<T> for Sgd<T, G, O> {
    const ENTRIES: usize = O::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.options.visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.options.visit_mut(prefix, f)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl<T, B> Sealed for super::SgdOptions<T, B> {}
}

/// What an [`Sgd`] keeps besides its learning rate: `()` for plain SGD, or [`SgdOptions`].
/// Sealed: implemented by these types only.
pub trait SgdVariant<T: Scalar, G>: sealed::Sealed {
    /// Bytes of optimizer state (buffers and counters) this variant keeps.
    const STATE_BYTES: usize;
    /// The hyperparameters, with learning rate `lr`.
    fn config(&self, lr: T) -> SgdConfig<T>;
    /// One update of `model` with learning rate `lr`.
    #[doc(hidden)]
    fn update<P: Parameters<T>>(&mut self, lr: T, model: &mut P, grads: &G) -> Result<(), Error>;
    /// Clears the state.
    #[doc(hidden)]
    fn reset(&mut self);
}

impl<T: Scalar, G: Parameters<T>> SgdVariant<T, G> for () {
    const STATE_BYTES: usize = 0;

    fn config(&self, lr: T) -> SgdConfig<T> {
        SgdConfig {
            lr,
            ..SgdConfig::default()
        }
    }

    fn update<P: Parameters<T>>(&mut self, lr: T, model: &mut P, grads: &G) -> Result<(), Error> {
        let (w_max, g_max) = magnitudes(model, grads)?;
        within([w_max + lr * g_max])?;
        for i in 0..P::TENSORS {
            if let (Some(w), Some(g)) = (model.tensor_mut(i), grads.tensor(i)) {
                for (wi, &gi) in w.iter_mut().zip(g) {
                    *wi -= lr * gi;
                }
            }
        }
        Ok(())
    }

    fn reset(&mut self) {}
}

impl<T: Scalar, G: Parameters<T>, B: Parameters<T> + Zeroed> SgdVariant<T, G> for SgdOptions<T, B> {
    const STATE_BYTES: usize = size_of::<SgdState<B>>();

    fn config(&self, lr: T) -> SgdConfig<T> {
        SgdConfig {
            lr,
            momentum: self.momentum,
            dampening: self.dampening,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }

    fn update<P: Parameters<T>>(&mut self, lr: T, model: &mut P, grads: &G) -> Result<(), Error> {
        let first = self.state.step == 0;
        let (momentum, weight_decay, nesterov) = (self.momentum, self.weight_decay, self.nesterov);
        let keep = T::one() - self.dampening;
        // The update below on the largest magnitudes (see `within`); without a buffer
        // (`B = ()`) its magnitude is 0 and `b_bound` is not used.
        let (w_max, g_max) = magnitudes(model, grads)?;
        let d_bound = g_max + weight_decay * w_max;
        let has_buffer = B::COUNT > 0;
        let buffer = &self.state.momentum_buffer;
        let measure = || Ok([state_magnitude(buffer)?]);
        let bounds = with_bounds(self.bounds, measure, |[b_max]| {
            let b_bound = d_bound.max(b_max * momentum + keep * d_bound);
            let step_bound = match (has_buffer, nesterov) {
                (false, _) => d_bound,
                (true, false) => b_bound,
                (true, true) => d_bound + momentum * b_bound,
            };
            within([b_bound, w_max + lr * step_bound])?;
            Ok([b_bound])
        })?;
        self.bounds = StateBounds::known(bounds);
        self.state.step = self.state.step.saturating_add(1);
        let buffer = &mut self.state.momentum_buffer;
        for_each_element(model, grads, buffer, &mut (), &mut (), |w, g, b, _, _| {
            let mut d = g;
            if weight_decay != T::zero() {
                d += weight_decay * *w;
            }
            if let Some(b) = b {
                *b = if first { d } else { *b * momentum + keep * d };
                d = if nesterov { d + momentum * *b } else { *b };
            }
            *w += -lr * d;
        });
        Ok(())
    }

    fn reset(&mut self) {
        self.state.momentum_buffer.set_zero();
        self.state.step = 0;
        self.bounds = StateBounds::known([T::zero()]);
    }
}

/// Checks everything in `config` but the momentum.
fn check_config<T: Scalar>(config: &SgdConfig<T>) -> Result<(), Error> {
    check_lr(config.lr)?;
    check_non_negative(config.momentum, "momentum must be finite and >= 0")?;
    if !(config.dampening >= T::zero() && config.dampening <= T::one()) {
        return Err(Error::InvalidHyperparameter("dampening must be in [0, 1]"));
    }
    check_non_negative(config.weight_decay, "weight_decay must be finite and >= 0")?;
    if config.nesterov && (config.momentum <= T::zero() || config.dampening != T::zero()) {
        return Err(Error::InvalidHyperparameter(
            "nesterov needs momentum > 0 and dampening = 0",
        ));
    }
    Ok(())
}

impl<T: Scalar, G> Sgd<T, G> {
    /// Plain SGD with learning rate `lr`, like `torch.optim.SGD(params, lr)`; refused unless
    /// `lr` is finite and `>= 0`. Keeps nothing but `lr`.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 2>);
    /// // The gradient type need not be named: it is inferred from the first step's model.
    /// let mut opt = Sgd::new(0.1).unwrap();
    /// let mut net = Net::default();
    /// let grads = <Net as Model<f32>>::Grads::zeroed();
    /// opt.step(&mut net, &grads).unwrap();
    /// assert_eq!(opt.learning_rate(), 0.1);
    /// assert!(Sgd::<f32, ()>::new(f32::INFINITY).is_err());
    /// ```
    pub fn new(lr: T) -> Result<Self, Error> {
        Ok(Self {
            lr: check_lr(lr)?,
            options: (),
            grads: PhantomData,
        })
    }
}

impl<T: Scalar, G> Sgd<T, G, SgdOptions<T, ()>> {
    /// SGD with weight decay (and a dampening that has no effect without momentum), without a
    /// momentum buffer: `config.momentum` must be 0. Refuses invalid hyperparameters.
    ///
    /// ```
    /// use tinyprop::optim::{Sgd, SgdConfig};
    /// use tinyprop::Error;
    /// let config = SgdConfig { lr: 0.1, weight_decay: 1e-4, ..Default::default() };
    /// assert!(Sgd::<f32, (), _>::with_config(config).is_ok());
    /// let config = SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() };
    /// assert!(matches!(Sgd::<f32, (), _>::with_config(config), Err(Error::InvalidHyperparameter(_))));
    /// ```
    pub fn with_config(config: SgdConfig<T>) -> Result<Self, Error> {
        check_config(&config)?;
        if config.momentum != T::zero() {
            return Err(Error::InvalidHyperparameter(
                "momentum > 0 needs a momentum buffer: build with Sgd::with_momentum",
            ));
        }
        Ok(Self::from_config(config, ()))
    }
}

impl<T: Scalar, G> Sgd<T, G, SgdOptions<T, G>> {
    /// SGD with momentum (a buffer of type `G`), optionally Nesterov, dampening and weight
    /// decay: `config.momentum` must be `> 0`. Refuses invalid hyperparameters.
    pub fn with_momentum(config: SgdConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check_config(&config)?;
        if config.momentum <= T::zero() {
            return Err(Error::InvalidHyperparameter(
                "Sgd::with_momentum needs momentum > 0",
            ));
        }
        Ok(Self::from_config(config, G::zeroed()))
    }
}

impl<T: Scalar, G, B> Sgd<T, G, SgdOptions<T, B>> {
    fn from_config(config: SgdConfig<T>, buffer: B) -> Self {
        Self {
            lr: config.lr,
            options: SgdOptions {
                momentum: config.momentum,
                dampening: config.dampening,
                weight_decay: config.weight_decay,
                nesterov: config.nesterov,
                state: SgdState {
                    momentum_buffer: buffer,
                    step: 0,
                },
                bounds: StateBounds::UNKNOWN,
            },
            grads: PhantomData,
        }
    }

    /// The state: momentum buffer (if any) and step counter.
    pub fn state(&self) -> &SgdState<B> {
        &self.options.state
    }

    /// The state, mutable (to restore a saved state).
    pub fn state_mut(&mut self) -> &mut SgdState<B> {
        self.options.bounds = StateBounds::UNKNOWN;
        &mut self.options.state
    }
}

impl<T: Scalar, G: Parameters<T>, O: SgdVariant<T, G>> Sgd<T, G, O> {
    /// Bytes of optimizer state: 0 for plain SGD, `size_of::<SgdState<B>>()` with options.
    pub const STATE_BYTES: usize = O::STATE_BYTES;

    /// The current learning rate.
    pub fn learning_rate(&self) -> T {
        self.lr
    }

    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    pub fn set_learning_rate(&mut self, lr: T) -> Result<(), Error> {
        self.lr = check_lr(lr)?;
        Ok(())
    }

    /// Clears the state (momentum buffer and step counter), as if no step had been taken.
    pub fn reset(&mut self) {
        self.options.reset();
    }

    /// The hyperparameters.
    pub fn config(&self) -> SgdConfig<T> {
        self.options.config(self.lr)
    }

    fn update<P: Parameters<T>>(&mut self, model: &mut P, grads: &G) -> Result<(), Error> {
        self.options.update(self.lr, model, grads)
    }
}

optimizer_impls!([G: Parameters<T>, O: SgdVariant<T, G>] Sgd<T, G, O>);
