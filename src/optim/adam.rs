use core::mem::size_of;

use super::{
    check_lr, check_non_negative, check_positive, check_unit, for_each_tensor, lerp, lerp_bound,
    magnitudes, optimizer_impls, squares_magnitude, state_magnitude, with_bounds, within,
    StateBounds,
};
use crate::io::{entry, part, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::{kernels, math, Error, Parameters, Scalar, Zeroed};

/// Adam (Kingma and Ba, 2015), like `torch.optim.Adam`: steps scaled by running estimates of
/// the mean and the uncentered variance of the gradients, with bias correction.
///
/// At step `t` (from 1): `g ← g + wd · w` (L2 penalty; or `w ← (1 − lr · wd) · w` with
/// `decoupled_weight_decay`, which is [`AdamW`]), `m ← β₁ · m + (1 − β₁) · g`,
/// `v ← β₂ · v + (1 − β₂) · g²`, and
/// `w ← w − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)`. With AMSGrad the denominator uses
/// `v̂ ← max(v̂, v)` instead of `v`. The last step is computed as
/// `w − (lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)) · m / (√v + eps · √(1 − β₂ᵗ))`, the same value up to
/// rounding with one division per element.
///
/// State: `m` and `v`, two buffers of the gradient type `G`, a step counter, and with AMSGrad
/// ([`Adam::with_amsgrad`], `A = G`) a third buffer `v̂`. Values of `m` and `v` that decay
/// below the normal range (a parameter whose gradient has stopped, such as a dead ReLU unit's)
/// are flushed to zero ([`Scalar::flush_subnormal`]): subnormal arithmetic is many times
/// slower on most processors, and the weights move by less than `lr · 1e-30` differently.
///
/// ```
/// use tinyprop::optim::{Adam, AdamConfig};
/// use tinyprop::prelude::*;
/// type Net = Dense<f64, 1, 1>;
/// let mut opt = Adam::new(AdamConfig { lr: 0.1, ..Default::default() }).unwrap();
/// let (mut net, mut grads) = (Net::default(), Net::default());
/// grads.weight[(0, 0)] = 3.0;
/// Optimizer::<f64, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// // The first step of Adam moves each weight by about lr, whatever the gradient's size.
/// assert!((net.weight[(0, 0)] + 0.1).abs() < 1e-8);
/// assert_eq!(opt.state().step, 1);
/// let (size, align) = (core::mem::size_of::<Net>(), core::mem::align_of::<Net>());
/// // m, v, the step (padded to the layer's alignment: a cache line in builds with AVX)
/// assert_eq!(Adam::<f64, Net>::STATE_BYTES, (2 * size + 8).next_multiple_of(align));
/// assert_eq!(Adam::<f64, Net, Net>::STATE_BYTES, (3 * size + 8).next_multiple_of(align)); // and v̂
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<T, G, A = ()> {
    config: AdamConfig<T>,
    state: AdamState<G, A>,
    /// Bounds of `m`, `v` and `v̂`.
    bounds: StateBounds<T, 3>,
}

/// The hyperparameters of [`Adam`], with PyTorch's defaults. AMSGrad is chosen by the
/// constructor.
///
/// ```
/// use tinyprop::optim::AdamConfig;
/// let c = AdamConfig::<f64>::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay), (1e-3, (0.9, 0.999), 1e-8, 0.0));
/// assert!(!c.decoupled_weight_decay);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig<T> {
    /// Learning rate, finite and `>= 0` (default `1e-3`).
    pub lr: T,
    /// `(β₁, β₂)`, the decay rates of the running averages, each in `[0, 1)` (default
    /// `(0.9, 0.999)`).
    pub betas: (T, T),
    /// Added to the denominator, finite and `> 0` (default `1e-8`).
    pub eps: T,
    /// Weight decay, finite and `>= 0` (default 0).
    pub weight_decay: T,
    /// Decay the weights directly (AdamW) instead of adding an L2 penalty to the gradient
    /// (default `false`).
    pub decoupled_weight_decay: bool,
}

impl<T: Scalar> Default for AdamConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of_f64(1e-3),
            betas: (T::of_f64(0.9), T::of_f64(0.999)),
            eps: T::of_f64(1e-8),
            weight_decay: T::zero(),
            decoupled_weight_decay: false,
        }
    }
}

/// The state of an [`Adam`] or [`AdamW`]: `A` is `()`, or the gradient type `G` with AMSGrad.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState<G, A> {
    /// Running mean of the gradients, `m` (PyTorch's `exp_avg`).
    pub exp_avg: G,
    /// Running mean of the squared gradients, `v` (PyTorch's `exp_avg_sq`).
    pub exp_avg_sq: G,
    /// Running maximum of `v` with AMSGrad (PyTorch's `max_exp_avg_sq`), or `()`.
    pub max_exp_avg_sq: A,
    /// Steps taken (PyTorch's `step`), for the bias correction; saturates at `u32::MAX`.
    pub step: u32,
}

/// PyTorch's state keys: `step` (a counter), `exp_avg.…`, `exp_avg_sq.…` and, with AMSGrad,
/// `max_exp_avg_sq.…`, each buffer under the model's parameter names (`exp_avg.0.weight`).
/// The second moments are [`Domain::NonNegative`](crate::io::Domain).
///
/// ```
/// use tinyprop::io::StateDict;
/// use tinyprop::optim::{Adam, AdamConfig};
/// use tinyprop::Dense;
/// let opt = Adam::<f32, Dense<f32, 2, 1>, Dense<f32, 2, 1>>::with_amsgrad(AdamConfig::default()).unwrap();
/// let mut names = Vec::new();
/// opt.for_each_tensor(|t, _| Ok(names.push(t.name.to_string()))).unwrap();
/// assert_eq!(names, ["step", "exp_avg.weight", "exp_avg.bias", "exp_avg_sq.weight",
///                    "exp_avg_sq.bias", "max_exp_avg_sq.weight", "max_exp_avg_sq.bias"]);
/// ```
impl<T: Scalar, G: StateDict<T>, A: StateDict<T>> StateDict<T> for AdamState<G, A> {
    const ENTRIES: usize = 1 + 2 * G::ENTRIES + A::ENTRIES;

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
        part(prefix, "exp_avg", |p| self.exp_avg.visit(p, f))?;
        let mut non_negative = |info: TensorInfo<'_>, v: Values<'_, T>| f(info.non_negative(), v);
        part(prefix, "exp_avg_sq", |p| {
            self.exp_avg_sq.visit(p, &mut non_negative)
        })?;
        part(prefix, "max_exp_avg_sq", |p| {
            self.max_exp_avg_sq.visit(p, &mut non_negative)
        })
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
        part(prefix, "exp_avg", |p| self.exp_avg.visit_mut(p, f))?;
        let mut non_negative =
            |info: TensorInfo<'_>, v: ValuesMut<'_, T>| f(info.non_negative(), v);
        part(prefix, "exp_avg_sq", |p| {
            self.exp_avg_sq.visit_mut(p, &mut non_negative)
        })?;
        part(prefix, "max_exp_avg_sq", |p| {
            self.max_exp_avg_sq.visit_mut(p, &mut non_negative)
        })
    }
}

/// The state ([`AdamState`]'s names); a load through `visit_mut` goes through
/// [`Adam::state_mut`], so the next step measures the state it loaded.
impl<
        T: Scalar,
        G: Parameters<T> + Zeroed + StateDict<T>,
        A: Parameters<T> + Zeroed + StateDict<T>,
    > StateDict<T> for Adam<T, G, A>
{
    const ENTRIES: usize = <AdamState<G, A> as StateDict<T>>::ENTRIES;

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

/// The state ([`AdamState`]'s names), as [`Adam`]'s.
impl<
        T: Scalar,
        G: Parameters<T> + Zeroed + StateDict<T>,
        A: Parameters<T> + Zeroed + StateDict<T>,
    > StateDict<T> for AdamW<T, G, A>
{
    const ENTRIES: usize = <AdamState<G, A> as StateDict<T>>::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.adam.visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.adam.visit_mut(prefix, f)
    }
}

fn check<T: Scalar>(config: &AdamConfig<T>) -> Result<(), Error> {
    check_lr(config.lr)?;
    check_unit(config.betas.0, "betas.0 must be in [0, 1)")?;
    check_unit(config.betas.1, "betas.1 must be in [0, 1)")?;
    check_positive(config.eps, "eps must be finite and > 0")?;
    check_non_negative(config.weight_decay, "weight_decay must be finite and >= 0")?;
    Ok(())
}

impl<T: Scalar, G> Adam<T, G> {
    /// Adam with `config`; refuses invalid hyperparameters.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 2>);
    /// // torch.optim.Adam(params, lr=3e-4, betas=(0.9, 0.99))
    /// let config = AdamConfig { lr: 3e-4, betas: (0.9, 0.99), ..Default::default() };
    /// let opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(config).unwrap();
    /// assert_eq!(opt.learning_rate(), 3e-4);
    /// let bad = AdamConfig { betas: (1.0, 0.999), ..Default::default() };
    /// assert!(Adam::<f32, <Net as Model<f32>>::Grads>::new(bad).is_err()); // beta1 must be < 1
    /// ```
    pub fn new(config: AdamConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G> Adam<T, G, G> {
    /// Adam with AMSGrad (PyTorch's `amsgrad=True`), which keeps a third buffer; refuses
    /// invalid hyperparameters.
    pub fn with_amsgrad(config: AdamConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        check(&config)?;
        Ok(Self::build(config))
    }
}

impl<T: Scalar, G: Zeroed, A: Zeroed> Adam<T, G, A> {
    fn build(config: AdamConfig<T>) -> Self {
        Self {
            config,
            state: AdamState {
                exp_avg: G::zeroed(),
                exp_avg_sq: G::zeroed(),
                max_exp_avg_sq: A::zeroed(),
                step: 0,
            },
            bounds: StateBounds::known([T::zero(); 3]),
        }
    }
}

impl<T: Scalar, G: Parameters<T> + Zeroed, A: Parameters<T> + Zeroed> Adam<T, G, A> {
    /// Bytes of optimizer state: 2 buffers of type `G` (3 with AMSGrad) and the step counter.
    pub const STATE_BYTES: usize = size_of::<AdamState<G, A>>();

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
        self.state.exp_avg.set_zero();
        self.state.exp_avg_sq.set_zero();
        self.state.max_exp_avg_sq.set_zero();
        self.state.step = 0;
        self.bounds = StateBounds::known([T::zero(); 3]);
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamConfig<T> {
        self.config
    }

    /// The state.
    pub fn state(&self) -> &AdamState<G, A> {
        &self.state
    }

    /// The state, mutable (to restore a saved state).
    pub fn state_mut(&mut self) -> &mut AdamState<G, A> {
        self.bounds = StateBounds::UNKNOWN;
        &mut self.state
    }

    fn update<P: Parameters<T>>(&mut self, model: &mut P, grads: &G) -> Result<(), Error> {
        let c = self.config;
        let (beta1, beta2) = c.betas;
        let (w_max, g_max) = magnitudes(model, grads)?;
        let t = self.state.step.saturating_add(1);
        let bias_correction1 = math::one_minus_powi(beta1, t);
        let bias_correction2 = math::one_minus_powi(beta2, t);
        // PyTorch's `w -= step_size · m / (√v / bias_correction2_sqrt + eps)`, with
        // `bias_correction2_sqrt` moved out of the denominator (as in the Adam paper's
        // efficient form): `w -= (step_size · bc2_sqrt) · m / (√v + eps · bc2_sqrt)`. The same
        // update up to rounding, with one division per element and nothing between the square
        // root and the division.
        let bias_correction2_sqrt = math::sqrt(bias_correction2);
        let step_size = c.lr / bias_correction1 * bias_correction2_sqrt;
        let eps = c.eps * bias_correction2_sqrt;
        let decay = T::one() - c.lr * c.weight_decay;
        let (one_minus_beta1, one_minus_beta2) = (T::one() - beta1, T::one() - beta2);
        // The update below on the largest magnitudes (see `within`): the decayed weight, the
        // gradient with the L2 penalty, m, v, and the step, whose denominator is at least eps.
        let decoupled = c.decoupled_weight_decay && c.weight_decay != T::zero();
        let w_decayed = if decoupled {
            w_max * decay.abs()
        } else {
            w_max
        };
        let g_bound = if decoupled {
            g_max
        } else {
            g_max + c.weight_decay * w_max
        };
        let state = &self.state;
        let measure = || {
            Ok([
                state_magnitude(&state.exp_avg)?,
                squares_magnitude(&state.exp_avg_sq)?,
                squares_magnitude(&state.max_exp_avg_sq)?,
            ])
        };
        let bounds = with_bounds(self.bounds, measure, |[m_max, v_max, v_hat_max]| {
            let m_bound = lerp_bound(m_max, g_bound);
            let v_bound = v_max * beta2 + one_minus_beta2 * g_bound * g_bound;
            let v_hat_bound = v_hat_max.max(v_bound);
            within([
                m_bound,
                v_bound,
                v_hat_bound,
                w_decayed + step_size * m_bound / eps,
            ])?;
            Ok([m_bound, v_bound, v_hat_bound])
        })?;
        self.bounds = StateBounds::known(bounds);
        self.state.step = self.state.step.saturating_add(1);
        let AdamState {
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
            ..
        } = &mut self.state;
        // One element, in PyTorch's order of operations but for the denominator (above);
        // `v_max` only with AMSGrad.
        let element = |w: &mut T, g: T, m: &mut T, v: &mut T, v_max: Option<&mut T>| {
            let mut g = g;
            if c.weight_decay != T::zero() {
                if c.decoupled_weight_decay {
                    *w *= decay;
                } else {
                    g += c.weight_decay * *w;
                }
            }
            // Flushed to zero below the normal range (see `Scalar::flush_subnormal`).
            *m = lerp(*m, g, one_minus_beta1).flush_subnormal();
            *v = (*v * beta2 + one_minus_beta2 * g * g).flush_subnormal();
            let second = match v_max {
                Some(v_max) => {
                    *v_max = v_max.max(*v);
                    *v_max
                }
                None => *v,
            };
            // `v >= 0` (see `squares_magnitude`).
            let denom = math::sqrt(second) + eps;
            *w += -step_size * *m / denom;
        };
        // No weight decay, no AMSGrad, and `lerp` from the start (`1 − β₁ < 0.5`, as with
        // the default β₁ = 0.9).
        let plain = c.weight_decay == T::zero() && one_minus_beta1.abs() < T::of_f64(0.5);
        let neg_step_size = -step_size;
        // Per tensor, so that each loop is branch-free and vectorizes.
        for_each_tensor(
            model,
            grads,
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
            |w, g, m, v, v_max| {
                let (Some(m), Some(v)) = (m, v) else { return };
                let n = w.len();
                let wgmv = w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
                match v_max {
                    // The usual case, `element` with its choices made once, outside the loop:
                    // the same arithmetic in the same order.
                    // With AVX2 where the products choose theirs at run time (the same bits).
                    None if plain => kernels::elementwise(n, || {
                        plain_update(
                            wgmv,
                            [one_minus_beta1, beta2, one_minus_beta2],
                            [neg_step_size, eps],
                        )
                    }),
                    Some(v_max) => {
                        for ((((w, &g), m), v), vm) in wgmv.zip(v_max.iter_mut()) {
                            element(w, g, m, v, Some(vm));
                        }
                    }
                    None => {
                        for (((w, &g), m), v) in wgmv {
                            element(w, g, m, v, None);
                        }
                    }
                }
            },
        );
        Ok(())
    }
}

/// Adam's update of the pairs `(w, g)` with their `(m, v)`, in the usual case (no weight
/// decay, no AMSGrad, `1 − β₁ < 0.5`): `element` of [`Adam::update`] with its choices made
/// once, outside the loop, the same arithmetic in the same order. The second argument is
/// `[1 − β₁, β₂, 1 − β₂]`, the third `[−step_size, eps]`. Inlined, so that where it runs in
/// code compiled for AVX2 ([`kernels::elementwise`]) all of it is.
#[inline(always)]
fn plain_update<'a, T: Scalar>(
    wgmv: impl Iterator<Item = (((&'a mut T, &'a T), &'a mut T), &'a mut T)>,
    [one_minus_beta1, beta2, one_minus_beta2]: [T; 3],
    [neg_step_size, eps]: [T; 2],
) {
    let min_positive = T::min_positive();
    for (((w, &g), m), v) in wgmv {
        *m = (*m + one_minus_beta1 * (g - *m)).flush_subnormal();
        // `v >= 0`: below the normal range is `v < min_positive` (the flush without its
        // absolute value).
        let vn = *v * beta2 + one_minus_beta2 * g * g;
        *v = if vn < min_positive { T::zero() } else { vn };
        // Without vector registers, √0 without calling the math library (a parameter that has
        // had no gradient yet, such as the weights of a unit that is never active).
        let root = if kernels::SCALAR_TILES && *v == T::zero() {
            *v
        } else {
            math::sqrt(*v)
        };
        *w += neg_step_size * *m / (root + eps);
    }
}

optimizer_impls!([G: Parameters<T> + Zeroed, A: Parameters<T> + Zeroed] Adam<T, G, A>);

/// AdamW (Loshchilov and Hutter, 2019), like `torch.optim.AdamW`: [`Adam`] with decoupled
/// weight decay, `w ← (1 − lr · wd) · w` before the Adam step, and a default weight decay of
/// `1e-2`.
///
/// Same state as [`Adam`]: two buffers of the gradient type `G` and a step counter, a third
/// with AMSGrad ([`AdamW::with_amsgrad`], `A = G`).
///
/// ```
/// use tinyprop::optim::{AdamW, AdamWConfig};
/// use tinyprop::prelude::*;
/// type Net = Dense<f32, 1, 1>;
/// let mut opt = AdamW::new(AdamWConfig { lr: 0.1, weight_decay: 0.5, ..Default::default() }).unwrap();
/// let mut net = Net::default();
/// net.weight[(0, 0)] = 1.0;
/// let grads = Net::default(); // no gradient: only the decay acts
/// Optimizer::<f32, Net>::step(&mut opt, &mut net, &grads).unwrap();
/// assert_eq!(net.weight[(0, 0)], 0.95);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW<T, G, A = ()> {
    adam: Adam<T, G, A>,
}

/// The hyperparameters of [`AdamW`], with PyTorch's defaults. AMSGrad is chosen by the
/// constructor.
///
/// ```
/// use tinyprop::optim::AdamWConfig;
/// let c = AdamWConfig::<f64>::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay), (1e-3, (0.9, 0.999), 1e-8, 1e-2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig<T> {
    /// Learning rate, finite and `>= 0` (default `1e-3`).
    pub lr: T,
    /// `(β₁, β₂)`, each in `[0, 1)` (default `(0.9, 0.999)`).
    pub betas: (T, T),
    /// Added to the denominator, finite and `> 0` (default `1e-8`).
    pub eps: T,
    /// Decoupled weight decay, finite and `>= 0` (default `1e-2`).
    pub weight_decay: T,
}

impl<T: Scalar> Default for AdamWConfig<T> {
    fn default() -> Self {
        Self {
            lr: T::of_f64(1e-3),
            betas: (T::of_f64(0.9), T::of_f64(0.999)),
            eps: T::of_f64(1e-8),
            weight_decay: T::of_f64(1e-2),
        }
    }
}

impl<T: Scalar> From<AdamWConfig<T>> for AdamConfig<T> {
    /// The [`Adam`] configuration with `decoupled_weight_decay` that [`AdamW`] runs.
    fn from(c: AdamWConfig<T>) -> Self {
        Self {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            decoupled_weight_decay: true,
        }
    }
}

impl<T: Scalar, G> AdamW<T, G> {
    /// AdamW with `config`; refuses invalid hyperparameters.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 2>);
    /// // torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
    /// let config = AdamWConfig { lr: 1e-3, weight_decay: 0.05, ..Default::default() };
    /// let opt = AdamW::<f32, <Net as Model<f32>>::Grads>::new(config).unwrap();
    /// assert_eq!(opt.learning_rate(), 1e-3);
    /// ```
    pub fn new(config: AdamWConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        Ok(Self {
            adam: Adam::new(config.into())?,
        })
    }
}

impl<T: Scalar, G> AdamW<T, G, G> {
    /// AdamW with AMSGrad, which keeps a third buffer; refuses invalid hyperparameters.
    pub fn with_amsgrad(config: AdamWConfig<T>) -> Result<Self, Error>
    where
        G: Zeroed,
    {
        Ok(Self {
            adam: Adam::with_amsgrad(config.into())?,
        })
    }
}

impl<T: Scalar, G: Parameters<T> + Zeroed, A: Parameters<T> + Zeroed> AdamW<T, G, A> {
    /// Bytes of optimizer state: 2 buffers of type `G` (3 with AMSGrad) and the step counter.
    pub const STATE_BYTES: usize = size_of::<AdamState<G, A>>();

    /// The current learning rate.
    pub fn learning_rate(&self) -> T {
        self.adam.learning_rate()
    }

    /// Sets the learning rate; a negative or non-finite rate is refused and nothing changes.
    pub fn set_learning_rate(&mut self, lr: T) -> Result<(), Error> {
        self.adam.set_learning_rate(lr)
    }

    /// Zeroes the state, as if no step had been taken.
    pub fn reset(&mut self) {
        self.adam.reset();
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamWConfig<T> {
        let c = self.adam.config();
        AdamWConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
        }
    }

    /// The state.
    pub fn state(&self) -> &AdamState<G, A> {
        self.adam.state()
    }

    /// The state, mutable (to restore a saved state).
    pub fn state_mut(&mut self) -> &mut AdamState<G, A> {
        self.adam.state_mut()
    }

    fn update<P: Parameters<T>>(&mut self, model: &mut P, grads: &G) -> Result<(), Error> {
        self.adam.update(model, grads)
    }
}

optimizer_impls!([G: Parameters<T> + Zeroed, A: Parameters<T> + Zeroed] AdamW<T, G, A>);

#[cfg(all(
    test,
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2")
))]
mod tests {
    use super::{Adam, AdamConfig, AdamState};
    use crate::kernels::ELEMENTWISE_ON_AVX2;
    use crate::layer::Parameters;
    use crate::layers::Dense;
    use crate::optim::Optimizer;
    use crate::Scalar;
    use std::vec::Vec;

    type Net<T> = Dense<T, 37, 9>;

    /// Every element of `p` from a simple generator, in `(-1, 1)`; one in 7 scaled by `tiny`
    /// (gradients whose squares fall below the normal range), one in 11 zero.
    fn fill<T: Scalar>(p: &mut Net<T>, seed: u64, tiny: f64) {
        let mut s = seed;
        for t in p.tensors_mut() {
            for (i, x) in t.iter_mut().enumerate() {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                *x = T::of_f64(match (i % 7, i % 11) {
                    (_, 0) => 0.0,
                    (0, _) => u * tiny,
                    _ => u,
                });
            }
        }
    }

    /// The bits of the model and of the state after 4 steps, with the update run in the code
    /// compiled for AVX2 (`on_avx2`) or in the build target's.
    fn steps<T: Scalar>(on_avx2: bool, tiny: f64) -> Vec<u64> {
        ELEMENTWISE_ON_AVX2.set(Some(on_avx2));
        let mut net = Net::<T>::default();
        fill(&mut net, 1, 1.0);
        let mut opt = Adam::<T, Net<T>>::new(AdamConfig::default()).unwrap();
        for s in 0..4 {
            let mut g = Net::<T>::default();
            fill(&mut g, 10 + s, tiny);
            Optimizer::<T, Net<T>>::step(&mut opt, &mut net, &g).unwrap();
        }
        ELEMENTWISE_ON_AVX2.set(None);
        let AdamState {
            exp_avg,
            exp_avg_sq,
            ..
        } = opt.state();
        [&net, exp_avg, exp_avg_sq]
            .iter()
            .flat_map(|p| p.tensors().flatten().map(|x| x.as_f64().to_bits()))
            .collect()
    }

    /// Adam's usual update gives the same bits in the code compiled for AVX2, which it runs in
    /// optimized builds for the default target where the processor has AVX2 (meaningful in
    /// such a build: `cargo test --release --lib same_bits`, which CI runs), as in the build
    /// target's; subnormal moments included. (On a processor without AVX2 both runs take the
    /// build target's code.)
    #[test]
    fn updates_in_code_for_avx2_give_the_same_bits() {
        assert_eq!(steps::<f32>(true, 1e-21), steps::<f32>(false, 1e-21));
        assert_eq!(steps::<f64>(true, 1e-160), steps::<f64>(false, 1e-160));
        // And different from a run with other gradients: the comparison sees the updates.
        assert_ne!(steps::<f32>(true, 1e-21), steps::<f32>(true, 1.0));
    }
}
