//! Training: one step ([`train_step`]), and the three forms of gradient descent over a data
//! set held in slices ([`Trainer`]): batch, stochastic and mini-batch, with per-epoch
//! shuffling, stopping rules, a per-epoch callback and a loss history.
//!
//! # The three forms of gradient descent
//!
//! A [`Trainer<T, IN, B, M>`](Trainer) owns the buffers for `B` samples at a time (the input
//! batch, the targets, the training cache and the gradients); its size is a compile-time
//! constant, whatever the size of the data set.
//!
//! * **Mini-batch** ([`Trainer::minibatch_epoch`], [`Descent::MiniBatch`]): one optimizer step
//!   per `B` samples, in the order of an index buffer (shuffled each epoch by
//!   [`Trainer::fit`]). The last batch of an epoch may hold `k < B` samples: it is *masked*,
//!   not dropped. Its `k` samples fill the first `k` columns, the other columns are zero and
//!   their output gradients are zeroed, and the gradient is rescaled by `B / k`, so the step
//!   uses the mean gradient of exactly those `k` samples and every sample is seen once per
//!   epoch. [`Trainer::with_drop_last`] drops it instead (for batch-statistics layers).
//! * **Stochastic** gradient descent is mini-batch with `B = 1`: one step per sample.
//! * **Batch** ([`Trainer::batch_epoch`], [`Descent::Batch`]): the gradient of the whole data
//!   set, accumulated `B` samples at a time (the chunk size) and scaled by `1 / n`, then one
//!   step. [`Trainer::gradient`] computes that mean gradient without stepping.
//!
//! The losses of the library are means over the samples of a batch of per-sample losses;
//! masking relies on that (a custom [`Loss`] must have the same form to be used here).
//!
//! # Bad input
//!
//! Every function checks its whole input before changing anything: an empty data set
//! ([`Error::EmptyDataSet`]), an index buffer of the wrong length
//! ([`Error::IndexBufferLength`]) or with an index out of range ([`Error::IndexOutOfRange`]),
//! a label `>=` the number of classes ([`Error::LabelOutOfRange`]), and a NaN or infinite
//! sample ([`Error::NonFiniteSample`], or left out with [`NonFinite::Skip`]). On such an error
//! the model and the optimizer are untouched.
//!
//! Every optimizer step is all or nothing. A loss or gradient that turns NaN or infinite
//! during training (divergence) stops with [`Error::NonFiniteLoss`] or
//! [`Error::NonFiniteGradient`], an update that could overflow with [`Error::Overflow`], and a
//! model or optimizer state that already holds a NaN or an infinity with
//! [`Error::NonFiniteModel`] or [`Error::NonFiniteOptimizerState`]. The step that failed
//! changed nothing: not the parameters, not the buffers (batch normalisation's running
//! statistics and dropout's random state, saved before the step in the [`Workspace`] and put
//! back), not the optimizer's state or step counter. Steps before it in the same epoch (or
//! run) are kept, and after every step that returned `Ok` the model and the optimizer's state
//! are finite.
//!
//! # Example
//!
//! ```
//! use core::ops::ControlFlow;
//! use tinyprop::data::{shuffle, DataSet};
//! use tinyprop::prelude::*;
//! use tinyprop::train::{Fit, Trainer};
//!
//! // Two classes on a line: x < 0 and x > 0.
//! const X: [[f32; 1]; 8] = [[-2.0], [-1.5], [-1.0], [-0.5], [0.5], [1.0], [1.5], [2.0]];
//! const Y: [u8; 8] = [0, 0, 0, 0, 1, 1, 1, 1];
//! type Net = (Dense<f32, 1, 4>, Tanh, Dense<f32, 4, 2>);
//!
//! let data = DataSet::new(&X, &Y)?;
//! let mut rng = SplitMix64::new(1);
//! let mut net = Net::default();
//! net.init(Init::XavierUniform, &mut rng);
//! let mut opt = Sgd::new(0.5)?;
//! let mut trainer = Trainer::<f32, 1, 4, Net>::new(); // batches of 4 samples
//! let mut order = [0u8; 8]; // index buffer: one slot per sample
//!
//! // A loop written out: shuffle, one epoch of mini-batch steps, report.
//! tinyprop::data::sequence(&mut order)?;
//! for _ in 0..5 {
//!     shuffle(&mut order, &mut rng);
//!     let epoch = trainer.minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)?;
//!     assert_eq!(epoch.steps, 2);
//! }
//!
//! // Or the whole run with stopping rules and a callback.
//! let report = trainer.fit(
//!     &mut net,
//!     &mut opt,
//!     &CrossEntropy,
//!     Fit::new(&data, &mut order, &mut rng).max_epochs(200).target_loss(0.05),
//!     |e| {
//!         if e.epoch % 50 == 0 {
//!             println!("epoch {} loss {:.3}", e.epoch, e.train.loss);
//!         }
//!         ControlFlow::Continue(())
//!     },
//! )?;
//! assert!(report.last.train.loss <= 0.05);
//! # Ok::<(), tinyprop::Error>(())
//! ```

use core::ops::ControlFlow;

use nalgebra::{ArrayStorage, SMatrix};
use rand_core::RngCore;

use crate::data::{
    check_indices, is_finite, scan, sequence, shuffle, NonFinite, Samples, Target, TargetBatch,
    Unsigned,
};
use crate::layer::nonempty_batch;
use crate::metrics::{evaluate, Metrics};
use crate::optim::clip::Clip;
use crate::optim::Schedule;
use crate::{Error, Layer, Loss, Model, Optimizer, Parameters, Scalar, Zeroed};

/// The buffers of a training step for model `M` on inputs `X`: the training cache (every
/// layer's output and the gradient scratch between layers), the parameter gradients, the
/// gradient of the loss with respect to the output, and a copy of the model's buffers taken
/// before each step, which a failed step puts back.
///
/// Its size is a compile-time constant (`core::mem::size_of::<Workspace<..>>()`); it can live
/// in a `static` or wherever the caller likes, and is reused by every step. The copy of the
/// buffers ([`Model::Buffers`]) takes no space for models without running statistics or
/// random state, and for a [`BatchNorm`](crate::BatchNorm) of `N` features `2·N` scalars and
/// its batch count.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
/// // One workspace per (model, batch type); reused by every step, never reallocated.
/// let mut ws = Workspace::<f32, SMatrix<f32, 4, 8>, Net>::new();
/// assert_eq!(ws.grads.1, ()); // Relu has no gradients
/// // Its size is known at compile time: outputs of each layer, gradients, dy.
/// assert!(core::mem::size_of_val(&ws) >= 4 * (16 * 8 + 3 * 8 + 4 * 16 + 16 + 3 * 16 + 3));
/// ```
pub struct Workspace<T: Scalar, X, M: Layer<T, X>> {
    /// What the training forward pass keeps for backward.
    pub cache: M::Cache,
    /// The gradients of the last step (zeroed at the start of each [`train_step`]).
    pub grads: M::Grads,
    /// The gradient of the loss with respect to the model's output.
    pub dy: M::Output,
    /// The model's buffers as they were before the current step.
    pub saved: M::Buffers,
}

impl<T: Scalar, X, M: Layer<T, X>> Workspace<T, X, M> {
    /// Zero-filled buffers.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// type Net = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
    /// let mut ws = Workspace::<f32, SMatrix<f32, 2, 1>, Net>::new();
    /// let (mut net, mut opt) = (Net::default(), Sgd::new(0.1).unwrap());
    /// net.init(Init::HeUniform, &mut SplitMix64::new(0));
    /// let (x, t) = (SMatrix::from([[1.0, 2.0]]), SMatrix::from([[3.0]]));
    /// let loss = train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws).unwrap();
    /// assert!(loss > 0.0);
    /// assert!(ws.grads.2.bias[0] != 0.0); // the last step's gradients stay readable
    /// ```
    pub fn new() -> Self {
        Self {
            cache: Zeroed::zeroed(),
            grads: Zeroed::zeroed(),
            dy: Zeroed::zeroed(),
            saved: Zeroed::zeroed(),
        }
    }
}

// A step is all or nothing: `begin` refuses a model whose buffers are not finite and saves
// them; the step changes the parameters (and the optimizer's state) only in its last action,
// the optimizer's all-or-nothing update; `settle` puts the buffers back if the step failed.

/// Refuses a model whose buffers are not finite ([`Error::NonFiniteModel`]); saves them.
fn begin<T: Scalar, M: Model<T>>(model: &M, saved: &mut M::Buffers) -> Result<(), Error> {
    if !model.buffers_finite() {
        return Err(Error::NonFiniteModel);
    }
    model.save_buffers(saved);
    Ok(())
}

/// Puts the saved buffers back if `result` is an error; returns `result`.
fn settle<T: Scalar, M: Model<T>, R>(
    model: &mut M,
    saved: &M::Buffers,
    result: Result<R, Error>,
) -> Result<R, Error> {
    if result.is_err() {
        model.restore_buffers(saved);
    }
    result
}

/// Fails with [`Error::Overflow`] if the training forward passes made the buffers
/// non-finite (they were finite before: [`begin`]).
fn check_buffers<T: Scalar, M: Model<T>>(model: &M) -> Result<(), Error> {
    if model.buffers_finite() {
        Ok(())
    } else {
        Err(Error::Overflow)
    }
}

/// The hook, then the optimizer's step; if either fails, the learning rate the hook may have
/// set is put back (the optimizer's state is unchanged by a failed step).
fn hooked_step<T, M, O, H>(
    model: &mut M,
    optimizer: &mut O,
    grads: &mut M::Grads,
    before_step: &mut H,
) -> Result<(), Error>
where
    T: Scalar,
    M: Model<T>,
    O: Optimizer<T, M>,
    H: FnMut(&mut M::Grads, &mut O) -> Result<(), Error>,
{
    let lr = optimizer.learning_rate();
    let result = before_step(grads, optimizer).and_then(|()| optimizer.step(model, grads));
    if result.is_err() {
        // The rate was valid, so it is accepted again.
        let _ = optimizer.set_learning_rate(lr);
    }
    result
}

impl<T: Scalar, X, M: Layer<T, X>> Default for Workspace<T, X, M> {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of gradient descent on the batch `x` with targets `target`: forward pass, loss,
/// backward pass, optimizer update. Returns the batch's loss (before the update).
///
/// All or nothing: on any error the model (its parameters and its buffers, such as batch
/// normalisation's running statistics and dropout's random state) and the optimizer's state
/// are bit-identical to before. Errors: a bad label ([`Error::LabelOutOfRange`]), a NaN or
/// infinite loss or gradient ([`Error::NonFiniteLoss`], [`Error::NonFiniteGradient`]), a model
/// or optimizer state that already held a NaN or an infinity ([`Error::NonFiniteModel`],
/// [`Error::NonFiniteOptimizerState`]), and an update that could overflow
/// ([`Error::Overflow`]). After `Ok`, the model and the optimizer's state are finite.
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f64, 2, 4>, Relu, Dense<f64, 4, 1>);
/// let mut net = Net::default();
/// net.init(Init::HeUniform, &mut SplitMix64::new(3));
/// let mut opt = Sgd::new(0.1).unwrap();
/// let mut ws = Workspace::<f64, _, Net>::new();
/// let x = SMatrix::<f64, 2, 1>::new(f64::NAN, 1.0);
/// let t = SMatrix::<f64, 1, 1>::new(0.5);
/// let before = net.clone();
/// assert!(train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws).is_err());
/// assert_eq!(net, before);
/// ```
pub fn train_step<T, X, M, L, Target, O>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    x: &X,
    target: &Target,
    ws: &mut Workspace<T, X, M>,
) -> Result<T, Error>
where
    T: Scalar,
    M: Layer<T, X>,
    L: Loss<T, M::Output, Target>,
    Target: ?Sized,
    O: Optimizer<T, M>,
{
    // Without a hook, the optimizer's own check of the gradients is the only one needed.
    step::<T, X, M, L, Target, O, fn(&mut M::Grads) -> Result<(), Error>>(
        model, optimizer, loss, x, target, ws, None,
    )
}

/// [`train_step`] with a hook that sees (and may change) the gradients after they were
/// checked (finite) and before the optimizer uses them: the place for gradient clipping. If the
/// hook returns an error, the step stops there and nothing has changed, as for any other error;
/// gradients the hook made non-finite are refused by the optimizer
/// ([`Error::NonFiniteGradient`]).
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 2, 4>, Tanh, Dense<f32, 4, 1>);
/// let mut net = Net::default();
/// net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// let mut opt = Sgd::new(0.1).unwrap();
/// let mut ws = Workspace::<f32, _, Net>::new();
/// let x = SMatrix::<f32, 2, 1>::new(100.0, -100.0);
/// let t = SMatrix::<f32, 1, 1>::new(50.0);
/// let mut norm = 0.0;
/// train_step_with(&mut net, &mut opt, &Mse, &x, &t, &mut ws, |grads| {
///     norm = clip_grad_norm(grads, 1.0, Norm::L2)?; // like torch.nn.utils.clip_grad_norm_
///     Ok(())
/// })
/// .unwrap();
/// assert!(norm > 1.0); // the gradient was clipped to norm 1 before the step
/// ```
pub fn train_step_with<T, X, M, L, Target, O, H>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    x: &X,
    target: &Target,
    ws: &mut Workspace<T, X, M>,
    before_update: H,
) -> Result<T, Error>
where
    T: Scalar,
    M: Layer<T, X>,
    L: Loss<T, M::Output, Target>,
    Target: ?Sized,
    O: Optimizer<T, M>,
    H: FnOnce(&mut M::Grads) -> Result<(), Error>,
{
    step(model, optimizer, loss, x, target, ws, Some(before_update))
}

/// [`train_step_with`], the hook optional.
fn step<T, X, M, L, Target, O, H>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    x: &X,
    target: &Target,
    ws: &mut Workspace<T, X, M>,
    before_update: Option<H>,
) -> Result<T, Error>
where
    T: Scalar,
    M: Layer<T, X>,
    L: Loss<T, M::Output, Target>,
    Target: ?Sized,
    O: Optimizer<T, M>,
    H: FnOnce(&mut M::Grads) -> Result<(), Error>,
{
    begin(model, &mut ws.saved)?;
    let attempt = || {
        ws.grads.set_zero();
        let y = model.forward_train(x, &mut ws.cache);
        let value = loss.loss_and_grad(y, target, &mut ws.dy)?;
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        model.backward(x, &mut ws.cache, &mut ws.dy, None, Some(&mut ws.grads));
        if let Some(hook) = before_update {
            if !ws.grads.all_finite() {
                return Err(Error::NonFiniteGradient);
            }
            hook(&mut ws.grads)?;
        }
        check_buffers(model)?;
        optimizer.step(model, &ws.grads)?;
        Ok(value)
    };
    let result = attempt();
    settle(model, &ws.saved, result)
}

/// How the gradient of each optimizer step is formed (see the [module docs](self)).
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// // The same model and data, one step per epoch on the mean gradient of all 4 samples.
/// let plan = Fit::new(&data, &mut order, &mut rng).descent(Descent::Batch).max_epochs(3);
/// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
/// assert_eq!(report.last.train.steps, 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Descent {
    /// Batch gradient descent: one step per epoch, on the mean gradient over the whole data
    /// set, accumulated `B` samples at a time.
    Batch,
    /// Mini-batch gradient descent: one step per `B` samples, the last partial batch masked.
    /// With `B = 1`, stochastic gradient descent.
    #[default]
    MiniBatch,
}

/// What one pass over a data set did.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// let e: EpochLoss<f32> = trainer.minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &[0u8, 1, 2, 3]).unwrap();
/// assert_eq!((e.samples, e.skipped, e.steps), (4, 0, 1)); // one batch of 4
/// assert!(e.loss.is_finite());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLoss<T> {
    /// The mean loss over the samples used, each taken before the step its batch made (for
    /// [`Descent::Batch`], the exact loss of the weights the epoch started with).
    pub loss: T,
    /// The number of samples used (not counting those of a dropped last batch).
    pub samples: usize,
    /// The number of non-finite samples left out ([`NonFinite::Skip`]).
    pub skipped: usize,
    /// The number of optimizer steps taken.
    pub steps: usize,
}

/// The buffers for training model `M` on batches of `B` samples of width `IN`, and the methods
/// that run gradient descent over a data set.
///
/// `Y` is the target batch: `[usize; B]` for class labels of any integer type the data set
/// holds (the default), `SMatrix<T, OUT, B>` for target rows. It need not be spelled out:
/// `Trainer::<f32, IN, B, Net, _>::new()` takes it from the data set the trainer is first
/// used with (a regressor, say):
///
/// ```
/// use core::ops::ControlFlow;
/// use tinyprop::data::DataSet;
/// use tinyprop::prelude::*;
/// let x = [[0.0f32], [0.5], [1.0], [1.5]];
/// let y = [[1.0f32], [2.0], [3.0], [4.0]]; // y = 2x + 1
/// let data = DataSet::new(&x, &y)?;
/// type Net = Dense<f32, 1, 1>;
/// let mut net = Net::default();
/// let mut trainer = Trainer::<f32, 1, 4, Net, _>::new(); // `_`: target rows, from `data`
/// let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(1));
/// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(500);
/// let mut opt = Sgd::new(0.1)?;
/// trainer.fit(&mut net, &mut opt, &Mse, plan, |_| ControlFlow::Continue(()))?;
/// assert!((net.weight[(0, 0)] - 2.0).abs() < 1e-2);
/// # Ok::<(), Error>(())
/// ```
///
/// The size of a `Trainer` is a compile-time constant
/// (`core::mem::size_of`): the input batch, the target batch, the [`Workspace`] and `B`
/// positions. It can be a `static`, a local or a `Box`; for large batches keep it off small
/// stacks. Its methods put nothing else of a size proportional to `B` on the stack
/// (evaluation runs one sample at a time).
///
/// See the [module docs](self) for an example.
pub struct Trainer<T, const IN: usize, const B: usize, M, Y = [usize; B]>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, B>>,
{
    /// The training cache, the gradients and the output gradient.
    pub ws: Workspace<T, SMatrix<T, IN, B>, M>,
    /// The input batch: one sample per column, zero in the unused columns of a partial batch.
    pub x: SMatrix<T, IN, B>,
    /// The targets of the batch.
    pub target: Y,
    /// What to do with NaN or infinite samples (default [`NonFinite::Reject`]).
    pub non_finite: NonFinite,
    /// Mini-batch descent: drop the last batch of an epoch when it holds fewer than `B`
    /// samples, instead of masking it (default `false`). See [`Trainer::with_drop_last`].
    pub drop_last: bool,
    /// Positions (in the data set) of the samples in the batch.
    rows: [usize; B],
    /// The number of samples in the batch.
    filled: usize,
}

impl<T, const IN: usize, const B: usize, M, Y> Default for Trainer<T, IN, B, M, Y>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, B>>,
    Y: TargetBatch,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const IN: usize, const B: usize, M, Y> Trainer<T, IN, B, M, Y>
where
    T: Scalar,
    M: Layer<T, SMatrix<T, IN, B>>,
    Y: TargetBatch,
{
    /// Zeroed buffers; non-finite samples are rejected.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// use tinyprop::train::Trainer;
    /// type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 3>);
    /// // Batches of 16 samples of 4 features, class labels as targets (the default `Y`).
    /// let trainer = Trainer::<f32, 4, 16, Net>::new();
    /// assert_eq!(trainer.target, [0usize; 16]);
    /// assert!(!trainer.drop_last);
    /// ```
    pub fn new() -> Self {
        nonempty_batch::<B>();
        Self {
            ws: Workspace::new(),
            x: SMatrix::zeros(),
            target: Y::empty(),
            non_finite: NonFinite::Reject,
            drop_last: false,
            rows: [0; B],
            filled: 0,
        }
    }

    /// The same trainer with the policy `non_finite` for NaN or infinite samples.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[f32::NAN, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// use tinyprop::data::NonFinite;
    /// // The first sample holds a NaN: rejected by default, skipped on request.
    /// assert_eq!(trainer.batch_epoch(&mut net, &mut opt, &CrossEntropy, &data).unwrap_err(), Error::NonFiniteSample { index: 0 });
    /// let mut trainer = Trainer::<f32, 2, 4, Net>::new().with_non_finite(NonFinite::Skip);
    /// let e = trainer.batch_epoch(&mut net, &mut opt, &CrossEntropy, &data).unwrap();
    /// assert_eq!((e.samples, e.skipped), (3, 1));
    /// ```
    pub fn with_non_finite(mut self, non_finite: NonFinite) -> Self {
        self.non_finite = non_finite;
        self
    }

    /// The same trainer, dropping (`true`) or masking (`false`, the default) the last batch of
    /// a mini-batch epoch when it holds fewer than `B` samples, like PyTorch's
    /// `DataLoader(drop_last=True)`. Dropped samples take no part in that epoch (a shuffled
    /// order drops different ones each epoch); a data set with fewer than `B` usable samples
    /// then gives [`Error::EmptyDataSet`].
    ///
    /// Masking is exact for layers that treat samples independently. A layer that computes
    /// statistics over the batch ([`BatchNorm`](crate::BatchNorm) in training mode) would
    /// count the zero padding of a masked batch: drop the last batch with such a model.
    /// (Batch descent always masks: its chunks are not batches; with batch statistics, each
    /// chunk is normalised on its own.)
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// // Batches of 3 over 4 samples: the last batch (1 sample) is dropped.
    /// let mut trainer = Trainer::<f32, 2, 3, Net>::new().with_drop_last(true);
    /// let e = trainer.minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &[0u8, 1, 2, 3]).unwrap();
    /// assert_eq!((e.samples, e.steps), (3, 1));
    /// ```
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Copies the next up to `B` usable samples, at the positions `positions` yields, into
    /// the batch; zeroes the rest. Returns how many it copied.
    fn load<D, const OUT: usize>(
        &mut self,
        data: &D,
        positions: &mut impl Iterator<Item = usize>,
    ) -> usize
    where
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
    {
        let mut k = 0;
        // The columns as arrays (nalgebra's column views copy through strided iterators).
        let mut columns = self.x.data.0.iter_mut().zip(self.rows.iter_mut());
        while k < B {
            let Some(i) = positions.next() else { break };
            let Some((x, y)) = data.get(i) else { continue };
            if !is_finite::<T, IN, OUT, _>(x, y) {
                continue;
            }
            let Some((col, row)) = columns.next() else {
                break;
            };
            crate::kernels::each_pair(col, x, |dst, &src| *dst = src);
            y.write::<B>(&mut self.target, k);
            *row = i;
            k = k.saturating_add(1);
        }
        for (col, _) in columns {
            col.fill(T::zero());
        }
        self.target.clear_from(k);
        self.filled = k;
        k
    }

    /// Forward and backward pass over the loaded batch of `k` samples, adding to the gradients
    /// `1 / denominator` times the sum of the per-sample gradients. Returns the sum of the
    /// per-sample losses.
    fn accumulate<D, L, const OUT: usize>(
        &mut self,
        model: &mut M,
        loss: &L,
        data: &D,
        denominator: usize,
    ) -> Result<T, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
    {
        let k = self.filled;
        let y = model.forward_train(&self.x, &mut self.ws.cache);
        let mean = loss.loss_and_grad(y, &self.target, &mut self.ws.dy)?;
        let sum = if k == B {
            mean * count::<T>(B)
        } else {
            // The padded columns must not count: add the losses of the k real samples.
            let mut sum = T::zero();
            let mut single = <<D::Target as Target<T, OUT>>::Batch<1> as TargetBatch>::empty();
            for (col, &row) in y.data.0.iter().zip(self.rows.iter()).take(k) {
                if let Some((_, t)) = data.get(row) {
                    t.write::<1>(&mut single, 0);
                    let y1 = SMatrix::<T, OUT, 1>::from_data(ArrayStorage([*col]));
                    sum += loss.loss(&y1, &single)?;
                }
            }
            sum
        };
        if !sum.is_finite() {
            return Err(Error::NonFiniteLoss);
        }
        // The loss gradient is the mean over B columns; make it 1 / denominator of the sum of
        // the k real columns' gradients, and zero the padding.
        if k != B || denominator != B {
            let scale = count::<T>(B) / count::<T>(denominator.max(1));
            for (j, mut col) in self.ws.dy.column_iter_mut().enumerate() {
                if j < k {
                    col *= scale;
                } else {
                    col.fill(T::zero());
                }
            }
        }
        model.backward(
            &self.x,
            &mut self.ws.cache,
            &mut self.ws.dy,
            None,
            Some(&mut self.ws.grads),
        );
        Ok(sum)
    }

    /// The mean gradient of `loss` over every usable sample of `data`, written into
    /// `self.ws.grads`, accumulated `B` samples at a time in the data set's order (a last
    /// partial chunk is masked). Takes no step, but the training forward passes update the
    /// model's buffers (running statistics, random state) as training does. Returns the mean
    /// loss.
    ///
    /// Errors as described in the [module docs](self); on an error the model's buffers are
    /// as they were, and `self.ws.grads` holds a partial sum.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let before = net.clone();
    /// let e = trainer.gradient(&mut net, &CrossEntropy, &data).unwrap();
    /// assert_eq!(e.steps, 0);
    /// assert_eq!(net, before); // no step taken: the gradient is in trainer.ws.grads
    /// assert!(trainer.ws.grads.0.weight.iter().any(|g| *g != 0.0));
    /// ```
    pub fn gradient<D, L, const OUT: usize>(
        &mut self,
        model: &mut M,
        loss: &L,
        data: &D,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
    {
        begin(model, &mut self.ws.saved)?;
        let result = self.gradient_of::<D, L, OUT>(model, loss, data);
        settle(model, &self.ws.saved, result)
    }

    /// [`Trainer::gradient`] without saving and restoring the buffers.
    fn gradient_of<D, L, const OUT: usize>(
        &mut self,
        model: &mut M,
        loss: &L,
        data: &D,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
    {
        if data.is_empty() {
            return Err(Error::EmptyDataSet);
        }
        let usable = scan::<T, IN, OUT, D>(data, self.non_finite)?;
        self.ws.grads.set_zero();
        let mut positions = 0..data.len();
        let mut sum = T::zero();
        while self.load::<D, OUT>(data, &mut positions) > 0 {
            sum += self.accumulate::<D, L, OUT>(model, loss, data, usable)?;
        }
        if !self.ws.grads.all_finite() {
            return Err(Error::NonFiniteGradient);
        }
        Ok(EpochLoss {
            loss: sum / count::<T>(usable),
            samples: usable,
            skipped: data.len().saturating_sub(usable),
            steps: 0,
        })
    }

    /// One epoch of batch gradient descent: [`Trainer::gradient`], then one optimizer step.
    ///
    /// Errors as described in the [module docs](self); on any error nothing has changed.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let first = trainer.batch_epoch(&mut net, &mut opt, &CrossEntropy, &data).unwrap();
    /// for _ in 0..50 {
    ///     trainer.batch_epoch(&mut net, &mut opt, &CrossEntropy, &data).unwrap();
    /// }
    /// let last = trainer.batch_epoch(&mut net, &mut opt, &CrossEntropy, &data).unwrap();
    /// assert!(last.loss < first.loss);
    /// ```
    pub fn batch_epoch<D, L, O, const OUT: usize>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
    {
        self.batch_epoch_with::<D, L, O, OUT>(model, optimizer, loss, data, |_, _| Ok(()))
    }

    /// [`Trainer::batch_epoch`] with a hook that sees the gradient (and the optimizer, to set
    /// its learning rate) before the step: the place for clipping or a per-step schedule. An
    /// error from the hook is an error of the step: nothing changes (the learning rate is put
    /// back too).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// // Halve the learning rate before the step, and clip the gradient's norm to 1.
    /// let e = trainer.batch_epoch_with(&mut net, &mut opt, &CrossEntropy, &data, |grads, opt| {
    ///     opt.set_learning_rate(opt.learning_rate() / 2.0)?;
    ///     clip_grad_norm(grads, 1.0, Norm::L2)?;
    ///     Ok(())
    /// }).unwrap();
    /// assert_eq!(e.steps, 1);
    /// assert_eq!(opt.learning_rate(), 0.025);
    /// ```
    pub fn batch_epoch_with<D, L, O, const OUT: usize>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
        mut before_step: impl FnMut(&mut M::Grads, &mut O) -> Result<(), Error>,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
    {
        begin(model, &mut self.ws.saved)?;
        let result = self
            .gradient_of::<D, L, OUT>(model, loss, data)
            .and_then(|epoch| {
                check_buffers(model)?;
                hooked_step(model, optimizer, &mut self.ws.grads, &mut before_step)?;
                Ok(EpochLoss { steps: 1, ..epoch })
            });
        settle(model, &self.ws.saved, result)
    }

    /// One epoch of mini-batch gradient descent (stochastic for `B = 1`): the samples at the
    /// positions in `order`, `B` at a time, one optimizer step per batch; the last partial
    /// batch is masked (see the [module docs](self)). `order` must hold one index per sample
    /// of `data` (usually a permutation, shuffled each epoch with [`shuffle`]).
    ///
    /// Errors as described in the [module docs](self). Every step is all or nothing: after an
    /// error in the middle of the epoch the steps before it are kept (the model and the
    /// optimizer are as after the last successful step) and the failed one changed nothing.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// use tinyprop::data::{sequence, shuffle};
    /// // Stochastic gradient descent: batches of 1, in a new order every epoch.
    /// let mut trainer = Trainer::<f32, 2, 1, Net>::new();
    /// sequence(&mut order).unwrap();
    /// shuffle(&mut order, &mut rng);
    /// let e = trainer.minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order).unwrap();
    /// assert_eq!((e.samples, e.steps), (4, 4));
    /// ```
    pub fn minibatch_epoch<D, L, O, I, const OUT: usize>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
        order: &[I],
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
        I: Unsigned,
    {
        self.minibatch_epoch_with::<D, L, O, I, OUT>(model, optimizer, loss, data, order, |_, _| {
            Ok(())
        })
    }

    /// [`Trainer::minibatch_epoch`] with a hook called before every step (see
    /// [`Trainer::batch_epoch_with`]).
    ///
    /// ```
    /// use tinyprop::data::{sequence, DataSet};
    /// use tinyprop::prelude::*;
    /// use tinyprop::train::Trainer;
    /// let x = [[0.0f32, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
    /// let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// type Net = (Dense<f32, 2, 4>, Tanh, Dense<f32, 4, 2>);
    /// let mut net = Net::default();
    /// net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// let mut opt = Sgd::new(0.5).unwrap();
    /// let mut trainer = Trainer::<f32, 2, 2, Net>::new();
    /// let mut order = [0u8; 4];
    /// sequence(&mut order).unwrap();
    /// let mut norms = Vec::new();
    /// trainer.minibatch_epoch_with(&mut net, &mut opt, &CrossEntropy, &data, &order, |g, _| {
    ///     norms.push(clip_grad_norm(g, 0.1, Norm::L2)?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(norms.len(), 2); // two steps, each clipped
    /// # Ok::<(), Error>(())
    /// ```
    pub fn minibatch_epoch_with<D, L, O, I, const OUT: usize>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
        order: &[I],
        mut before_step: impl FnMut(&mut M::Grads, &mut O) -> Result<(), Error>,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
        I: Unsigned,
    {
        if data.is_empty() {
            return Err(Error::EmptyDataSet);
        }
        if order.len() != data.len() {
            return Err(Error::IndexBufferLength {
                expected: data.len(),
                found: order.len(),
            });
        }
        check_indices(order, data.len())?;
        let usable = scan::<T, IN, OUT, D>(data, self.non_finite)?;
        if self.drop_last && usable < B {
            return Err(Error::EmptyDataSet);
        }
        let mut positions = order.iter().map(|i| i.to_usize());
        let mut sum = T::zero();
        let mut samples: usize = 0;
        let mut steps: usize = 0;
        loop {
            let k = self.load::<D, OUT>(data, &mut positions);
            if k == 0 || (k < B && self.drop_last) {
                break;
            }
            begin(model, &mut self.ws.saved)?;
            self.ws.grads.set_zero();
            let result =
                self.accumulate::<D, L, OUT>(model, loss, data, k)
                    .and_then(|batch_loss| {
                        check_buffers(model)?;
                        hooked_step(model, optimizer, &mut self.ws.grads, &mut before_step)?;
                        Ok(batch_loss)
                    });
            sum += settle(model, &self.ws.saved, result)?;
            samples = samples.saturating_add(k);
            steps = steps.saturating_add(1);
        }
        Ok(EpochLoss {
            loss: sum / count::<T>(samples.max(1)),
            samples,
            skipped: data.len().saturating_sub(usable),
            steps,
        })
    }

    /// One epoch of `descent`: [`Trainer::batch_epoch`] (which ignores `order`) or
    /// [`Trainer::minibatch_epoch`].
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let e = trainer.epoch(Descent::Batch, &mut net, &mut opt, &CrossEntropy, &data, &[0u8, 1, 2, 3]).unwrap();
    /// assert_eq!(e.steps, 1);
    /// let e = trainer.epoch(Descent::MiniBatch, &mut net, &mut opt, &CrossEntropy, &data, &[3u8, 2, 1, 0]).unwrap();
    /// assert_eq!(e.steps, 1); // one batch of 4
    /// ```
    pub fn epoch<D, L, O, I, const OUT: usize>(
        &mut self,
        descent: Descent,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
        order: &[I],
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
        I: Unsigned,
    {
        self.epoch_with::<D, L, O, I, OUT>(descent, model, optimizer, loss, data, order, |_, _| {
            Ok(())
        })
    }

    /// [`Trainer::epoch`] with a hook before every step (see [`Trainer::batch_epoch_with`]).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let mut steps = 0;
    /// trainer.epoch_with(Descent::Batch, &mut net, &mut opt, &CrossEntropy, &data, &[0u8, 1, 2, 3], |_, _| {
    ///     steps += 1;
    ///     Ok(())
    /// }).unwrap();
    /// assert_eq!(steps, 1);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn epoch_with<D, L, O, I, const OUT: usize>(
        &mut self,
        descent: Descent,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        data: &D,
        order: &[I],
        before_step: impl FnMut(&mut M::Grads, &mut O) -> Result<(), Error>,
    ) -> Result<EpochLoss<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
        I: Unsigned,
    {
        match descent {
            Descent::Batch => {
                self.batch_epoch_with::<D, L, O, OUT>(model, optimizer, loss, data, before_step)
            }
            Descent::MiniBatch => self.minibatch_epoch_with::<D, L, O, I, OUT>(
                model,
                optimizer,
                loss,
                data,
                order,
                before_step,
            ),
        }
    }

    /// Trains `model` epoch after epoch as `plan` says, until a stopping rule fires, and
    /// returns what happened.
    ///
    /// Each epoch: shuffle the index buffer (mini-batch, unless turned off), set the learning
    /// rate from the schedule ([`Fit::schedule`] per epoch), run one epoch of the chosen
    /// [`Descent`] (before every step: clipping ([`Fit::clip`]), the step hook
    /// ([`Fit::before_step`]) and a per-step schedule), evaluate the validation set if there
    /// is one (in inference mode, one sample at a time), then call `callback` with the
    /// [`Epoch`]. Training stops when the callback returns [`ControlFlow::Break`], the
    /// training loss reaches the target loss, the monitored value ([`Fit::monitor`]; by
    /// default the validation loss, or the training loss without a validation set) has not
    /// improved for `patience` epochs, or after the maximum number of epochs, whichever comes
    /// first (checked in that order).
    ///
    /// With [`Fit::keep_best`], the model ends with the weights of the epoch with the best
    /// monitored value. The index buffer is refilled with `0..n` at the start, so the run
    /// depends only on the model, the data and the random generator's state.
    ///
    /// Errors: everything is checked before the first change (the module docs list the
    /// errors; also a `max_epochs` or `patience` of 0, a negative or non-finite `min_delta`
    /// or a non-finite target loss, an invalid clipping rule and [`Monitor::ValidationAccuracy`]
    /// without a validation set of class labels give [`Error::InvalidHyperparameter`]). An error during an
    /// epoch (a diverging loss, an update that would overflow) ends training with that error:
    /// what the steps before it did is kept (the model and the optimizer are as after the last
    /// successful step, and finite; the best weights are not put back), the index buffer holds
    /// that epoch's order and `rng` has advanced by the shuffles made; the failed step itself
    /// changed nothing.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let mut history = History::<f32, 500>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(500).target_loss(0.05);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |epoch| {
    ///     history.record(epoch);
    ///     ControlFlow::Continue(())
    /// }).unwrap();
    /// assert_eq!(report.stop, Stop::TargetLoss);
    /// assert!(report.last.train.loss <= 0.05 && history.len() == report.epochs);
    /// let metrics = evaluate(&net, &CrossEntropy, &data, tinyprop::data::NonFinite::Reject, None).unwrap();
    /// assert_eq!(metrics.accuracy(), Some(1.0));
    /// ```
    pub fn fit<D, L, O, I, R, F, const OUT: usize>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loss: &L,
        plan: Fit<'_, T, D, I, R, M>,
        mut callback: F,
    ) -> Result<Report<T>, Error>
    where
        M: Layer<T, SMatrix<T, IN, B>, Output = SMatrix<T, OUT, B>>
            + Layer<T, SMatrix<T, IN, 1>, Output = SMatrix<T, OUT, 1>>,
        D: Samples<T, IN> + ?Sized,
        D::Target: Target<T, OUT, Batch<B> = Y>,
        L: Loss<T, SMatrix<T, OUT, B>, Y>
            + Loss<T, SMatrix<T, OUT, 1>, <D::Target as Target<T, OUT>>::Batch<1>>,
        O: Optimizer<T, M>,
        I: Unsigned,
        R: RngCore + ?Sized,
        F: FnMut(&Epoch<T>) -> ControlFlow<()>,
    {
        let Fit {
            train,
            validation,
            order,
            rng,
            mut best,
            descent,
            max_epochs,
            target_loss,
            patience,
            min_delta,
            shuffle: shuffling,
            monitor,
            clip,
            schedule,
            mut before_step,
        } = plan;
        if max_epochs == 0 {
            return Err(Error::InvalidHyperparameter("max_epochs must be >= 1"));
        }
        if patience == Some(0) {
            return Err(Error::InvalidHyperparameter("patience must be >= 1"));
        }
        if !(min_delta.is_finite() && min_delta >= T::zero()) {
            return Err(Error::InvalidHyperparameter(
                "min_delta must be finite and >= 0",
            ));
        }
        if target_loss.is_some_and(|t| !t.is_finite()) {
            return Err(Error::InvalidHyperparameter("target_loss must be finite"));
        }
        if let Some(c) = clip {
            c.check()?;
        }
        if let Monitor::ValidationAccuracy = monitor {
            let classes = validation
                .and_then(|v| v.get(0))
                .and_then(|(_, t)| t.class());
            if classes.is_none() {
                return Err(Error::InvalidHyperparameter(
                    "Monitor::ValidationAccuracy needs a validation set of class labels",
                ));
            }
        }
        if train.is_empty() {
            return Err(Error::EmptyDataSet);
        }
        if order.len() != train.len() {
            return Err(Error::IndexBufferLength {
                expected: train.len(),
                found: order.len(),
            });
        }
        scan::<T, IN, OUT, D>(train, self.non_finite)?;
        if let Some(v) = validation {
            if v.is_empty() {
                return Err(Error::EmptyDataSet);
            }
            scan::<T, IN, OUT, D>(v, self.non_finite)?;
        }
        sequence(order)?;

        let mut best_epoch: Option<Epoch<T>> = None;
        let mut best_cost: Option<(T, T)> = None;
        let mut since_best = 0usize;
        let mut epoch = 0usize;
        let mut steps: u32 = 0;
        let (last, stop) = loop {
            epoch = epoch.saturating_add(1);
            if shuffling && descent == Descent::MiniBatch {
                shuffle(order, rng);
            }
            if let Some((s, Every::Epoch)) = schedule {
                let t = u32::try_from(epoch.saturating_sub(1)).unwrap_or(u32::MAX);
                optimizer.set_learning_rate(s.lr(t))?;
            }
            // Before every step: clipping, the caller's hook, a per-step learning rate.
            let step_hook = |grads: &mut M::Grads, optimizer: &mut O| -> Result<(), Error> {
                if let Some(c) = clip {
                    c.apply(grads)?;
                }
                if let Some(hook) = before_step.as_deref_mut() {
                    hook(grads)?;
                }
                if let Some((s, Every::Step)) = schedule {
                    optimizer.set_learning_rate(s.lr(steps))?;
                }
                steps = steps.saturating_add(1);
                Ok(())
            };
            let train_loss = self.epoch_with::<D, L, O, I, OUT>(
                descent, model, optimizer, loss, train, order, step_hook,
            )?;
            let metrics = match validation {
                Some(v) => Some(evaluate::<T, IN, OUT, M, L, D>(
                    model,
                    loss,
                    v,
                    self.non_finite,
                    None,
                )?),
                None => None,
            };
            let mut current = Epoch {
                epoch,
                train: train_loss,
                validation: metrics,
                improved: false,
            };
            let cost = monitor.cost(&current);
            current.improved = match (cost, best_cost) {
                (Some((c, tie)), Some((b, best_tie))) => {
                    c < b - min_delta || (c == b && tie < best_tie)
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            if current.improved {
                best_cost = cost;
                best_epoch = Some(current);
                since_best = 0;
                if let Some(b) = best.as_deref_mut() {
                    b.copy_from(model);
                }
            } else {
                since_best = since_best.saturating_add(1);
            }
            let stop = if callback(&current).is_break() {
                Some(Stop::Callback)
            } else if target_loss.is_some_and(|t| current.train.loss <= t) {
                Some(Stop::TargetLoss)
            } else if patience.is_some_and(|p| since_best >= p) {
                Some(Stop::NoImprovement)
            } else if epoch >= max_epochs {
                Some(Stop::MaxEpochs)
            } else {
                None
            };
            if let Some(stop) = stop {
                break (current, stop);
            }
        };
        let best_epoch = best_epoch.unwrap_or(last);
        let restored = match best.as_deref() {
            Some(b) => {
                if best_epoch.epoch != last.epoch {
                    model.copy_from(b);
                }
                true
            }
            None => false,
        };
        Ok(Report {
            epochs: epoch,
            stop,
            last,
            best: best_epoch,
            restored,
        })
    }
}

/// `n` as a scalar.
fn count<T: Scalar>(n: usize) -> T {
    T::of_f64(n as f64)
}

/// What [`Trainer::fit`] trains on and when it stops: the training set, its index buffer and
/// random generator, and options set with the builder methods.
///
/// Defaults: mini-batch descent, shuffling every epoch, at most 100 epochs, no target loss,
/// no patience, `min_delta` 0, no validation set, no copy of the best weights.
///
/// ```
/// # use tinyprop::prelude::*;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::train::{Descent, Fit};
/// # type Net = Dense<f32, 2, 3>;
/// # let x = [[0.0f32, 1.0]; 4];
/// # let data = DataSet::new(&x, &[0u8, 1, 2, 0]).unwrap();
/// # let val = data;
/// let mut order = [0u16; 4];
/// let mut rng = SplitMix64::new(0);
/// let mut best = Net::default(); // a second copy of the weights, for keep_best
/// let plan = Fit::new(&data, &mut order, &mut rng)
///     .validation(&val)
///     .descent(Descent::MiniBatch)
///     .max_epochs(500)
///     .patience(20)
///     .keep_best(&mut best);
/// ```
pub struct Fit<'a, T: Scalar, D: ?Sized, I, R: ?Sized, M: Model<T>> {
    train: &'a D,
    validation: Option<&'a D>,
    order: &'a mut [I],
    rng: &'a mut R,
    best: Option<&'a mut M>,
    descent: Descent,
    max_epochs: usize,
    target_loss: Option<T>,
    patience: Option<usize>,
    min_delta: T,
    shuffle: bool,
    monitor: Monitor<T>,
    clip: Option<Clip<T>>,
    schedule: Option<(&'a dyn Schedule<T>, Every)>,
    before_step: Option<BeforeStep<'a, T, M>>,
}

/// A hook [`Trainer::fit`] calls before every optimizer step, with the gradients.
pub type BeforeStep<'a, T, M> = &'a mut dyn FnMut(&mut <M as Model<T>>::Grads) -> Result<(), Error>;

/// What [`Trainer::fit`] watches for patience (early stopping) and keep-best.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// // Early stopping on the validation accuracy (here: the training set), keeping the best weights.
/// let mut best = Net::default();
/// let plan = Fit::new(&data, &mut order, &mut rng)
///     .validation(&data)
///     .monitor(Monitor::ValidationAccuracy)
///     .patience(30)
///     .max_epochs(1000)
///     .keep_best(&mut best);
/// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
/// assert_eq!(report.best.validation.unwrap().accuracy(), Some(1.0));
/// assert!(report.stop == Stop::NoImprovement || report.stop == Stop::MaxEpochs);
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Monitor<T> {
    /// The validation loss, or without a validation set the training loss (the default).
    Loss,
    /// The training loss, even with a validation set.
    TrainingLoss,
    /// The validation accuracy (class labels; higher is better). Of two epochs with the same
    /// accuracy, which small validation sets give often, the one with the lower validation
    /// loss is better: training goes on while the model grows surer of the same answers.
    ValidationAccuracy,
    /// Any value of the epoch, such as an F1 score computed in the callback's data: `value`
    /// returns it (`None`: no value this epoch, not an improvement), `higher_is_better` says
    /// which way is better.
    Custom {
        /// The value of an epoch.
        value: fn(&Epoch<T>) -> Option<T>,
        /// Whether a higher value is better.
        higher_is_better: bool,
    },
}

impl<T: Scalar> Monitor<T> {
    /// The monitored value of `epoch` as a cost (lower is better), and a second cost that
    /// breaks ties (the validation loss for [`Monitor::ValidationAccuracy`], else 0), or
    /// `None`.
    fn cost(&self, epoch: &Epoch<T>) -> Option<(T, T)> {
        match *self {
            Monitor::Loss => Some((epoch.monitored(), T::zero())),
            Monitor::TrainingLoss => Some((epoch.train.loss, T::zero())),
            Monitor::ValidationAccuracy => epoch
                .validation
                .and_then(|v| v.accuracy().map(|a| (-a, v.loss))),
            Monitor::Custom {
                value,
                higher_is_better,
            } => value(epoch).map(|v| (if higher_is_better { -v } else { v }, T::zero())),
        }
        .filter(|(c, t)| c.is_finite() && t.is_finite())
    }
}

/// When a learning-rate schedule given to [`Fit::schedule`] advances.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// use tinyprop::optim::schedule::Step;
/// // Halve the rate every 2 epochs; the schedule sets it at the start of each epoch.
/// let decay = Step::new(0.05, 2, 0.5).unwrap();
/// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(5).schedule(&decay, Every::Epoch);
/// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
/// assert_eq!(opt.learning_rate(), 0.0125); // epoch 5 (t = 4)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Once per epoch (`t` counts epochs from 0), as PyTorch's schedulers are usually stepped.
    Epoch,
    /// Before every optimizer step (`t` counts steps from 0 over the whole run).
    Step,
}

impl<'a, T: Scalar, D: ?Sized, I, R: ?Sized, M: Model<T>> Fit<'a, T, D, I, R, M> {
    /// Trains on `train`; `order` is the index buffer (one slot per training sample, of any
    /// [`Unsigned`] type that can count them: `[u16; N]` for up to 65 536 samples) and `rng`
    /// shuffles it every epoch. Its contents do not matter: it is filled with `0..n` first.
    /// With [`Descent::Batch`] it is only checked and filled, not used.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng); // 100 epochs of shuffled mini-batches
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!((report.epochs, report.stop), (100, Stop::MaxEpochs));
    /// ```
    pub fn new<const IN: usize>(train: &'a D, order: &'a mut [I], rng: &'a mut R) -> Self
    where
        D: Samples<T, IN>,
    {
        Self {
            train,
            validation: None,
            order,
            rng,
            best: None,
            descent: Descent::MiniBatch,
            max_epochs: 100,
            target_loss: None,
            patience: None,
            min_delta: T::zero(),
            shuffle: true,
            monitor: Monitor::Loss,
            clip: None,
            schedule: None,
            before_step: None,
        }
    }

    /// What patience and keep-best watch (default [`Monitor::Loss`]: the validation loss, or
    /// the training loss without a validation set).
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::train::{Fit, Monitor};
    /// # type Net = Dense<f32, 2, 3>;
    /// # let x = [[0.0f32, 1.0]; 4];
    /// # let data = DataSet::new(&x, &[0u8, 1, 2, 0]).unwrap();
    /// # let (mut order, mut rng, mut best) = ([0u8; 4], SplitMix64::new(0), Net::default());
    /// let plan = Fit::new(&data, &mut order, &mut rng)
    ///     .validation(&data)
    ///     .monitor(Monitor::ValidationAccuracy)
    ///     .patience(10)
    ///     .keep_best(&mut best);
    /// ```
    pub fn monitor(mut self, monitor: Monitor<T>) -> Self {
        self.monitor = monitor;
        self
    }

    /// Clips every step's gradients before the optimizer uses them (like calling
    /// `torch.nn.utils.clip_grad_norm_` or `clip_grad_value_` before `optimizer.step()`).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(20).clip(Clip::Norm { max: 1.0, norm: Norm::L2 });
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!(report.epochs, 20);
    /// ```
    pub fn clip(mut self, clip: Clip<T>) -> Self {
        self.clip = Some(clip);
        self
    }

    /// Sets the learning rate from `schedule` every epoch or every step.
    ///
    /// ```
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::train::{Every, Fit};
    /// use tinyprop::optim::schedule::CosineAnnealing;
    /// # type Net = Dense<f32, 2, 3>;
    /// # let x = [[0.0f32, 1.0]; 4];
    /// # let data = DataSet::new(&x, &[0u8, 1, 2, 0]).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(0));
    /// let cosine = CosineAnnealing::new(0.1, 50, 0.0).unwrap();
    /// let plan = Fit::<_, _, _, _, Net>::new(&data, &mut order, &mut rng)
    ///     .max_epochs(50)
    ///     .schedule(&cosine, Every::Epoch);
    /// ```
    pub fn schedule(mut self, schedule: &'a dyn Schedule<T>, every: Every) -> Self {
        self.schedule = Some((schedule, every));
        self
    }

    /// Calls `hook` with the gradients before every optimizer step (after clipping); an error
    /// from it stops training with that error (the step is not taken).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let mut steps = 0;
    /// let mut count = |_: &mut <Net as Model<f32>>::Grads| {
    ///     steps += 1;
    ///     Ok(())
    /// };
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(10).before_step(&mut count);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!(steps, 10); // one step per epoch: a single batch of 4
    /// ```
    pub fn before_step(mut self, hook: BeforeStep<'a, T, M>) -> Self {
        self.before_step = Some(hook);
        self
    }

    /// Evaluates `validation` after every epoch (in inference mode); its loss is what patience
    /// and keep-best monitor. It has the training set's type: typically both are subsets of
    /// one data set ([`DataSet::subset`](crate::data::DataSet::subset)).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(5).validation(&data);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// let v = report.last.validation.unwrap();
    /// assert_eq!(report.last.monitored(), v.loss); // the validation loss is what is watched
    /// ```
    pub fn validation(mut self, validation: &'a D) -> Self {
        self.validation = Some(validation);
        self
    }

    /// Batch or mini-batch gradient descent (stochastic is mini-batch with `B = 1`).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(5).descent(Descent::Batch);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!(report.last.train.steps, 1);
    /// ```
    pub fn descent(mut self, descent: Descent) -> Self {
        self.descent = descent;
        self
    }

    /// Stops after `epochs` epochs at most (at least 1).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(3);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!((report.epochs, report.stop), (3, Stop::MaxEpochs));
    /// ```
    pub fn max_epochs(mut self, epochs: usize) -> Self {
        self.max_epochs = epochs;
        self
    }

    /// Stops as soon as an epoch's training loss is `<= loss`.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(1000).target_loss(0.1);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!(report.stop, Stop::TargetLoss);
    /// assert!(report.epochs < 1000 && report.last.train.loss <= 0.1);
    /// ```
    pub fn target_loss(mut self, loss: T) -> Self {
        self.target_loss = Some(loss);
        self
    }

    /// Stops when the monitored value has not improved (by more than `min_delta`) for
    /// `epochs` epochs in a row (early stopping; at least 1).
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// // A learning rate of 0 never improves the loss: training stops after 5 more epochs.
    /// opt.set_learning_rate(0.0).unwrap();
    /// let plan = Fit::new(&data, &mut order, &mut rng).patience(5).shuffle(false);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!((report.epochs, report.stop), (6, Stop::NoImprovement));
    /// ```
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = Some(epochs);
        self
    }

    /// The smallest change of the monitored value that counts as an improvement (default 0).
    ///
    /// As Keras' `min_delta`: an epoch improves when it beats the best epoch so far by more
    /// than `min_delta`, and only an improvement moves the best value and resets the patience
    /// count. scikit-learn's `tol` (with `n_iter_no_change` as the patience) resets the count
    /// the same way, but moves its best value on any improvement, even one smaller than `tol`,
    /// so a slow steady improvement stops it sooner.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// // Improvements smaller than 1.0 do not count: patience runs out after epoch 1 + 3.
    /// let plan = Fit::new(&data, &mut order, &mut rng).patience(3).min_delta(1.0);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!((report.epochs, report.stop, report.best.epoch), (4, Stop::NoImprovement, 1));
    /// ```
    pub fn min_delta(mut self, delta: T) -> Self {
        self.min_delta = delta;
        self
    }

    /// Keeps the weights of the best epoch (the best monitored value) in `best`, and puts
    /// them back into the model when training stops. This needs a second copy of the model:
    /// `best` (any value of the model's type; it is overwritten), as much memory again as
    /// the parameters, which a microcontroller may not have to spare.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// let mut best = Net::default(); // overwritten
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(50).keep_best(&mut best);
    /// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert!(report.restored); // the model holds the best epoch's weights
    /// assert!(report.best.train.loss <= report.last.train.loss);
    /// ```
    pub fn keep_best(mut self, best: &'a mut M) -> Self {
        self.best = Some(best);
        self
    }

    /// Whether to shuffle the index buffer before each mini-batch epoch (default `true`);
    /// without shuffling every epoch visits the samples in their order in the data set.
    ///
    /// ```
    /// # use core::ops::ControlFlow;
    /// # use tinyprop::data::DataSet;
    /// # use tinyprop::prelude::*;
    /// # use tinyprop::train::*;
    /// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
    /// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    /// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
    /// # let mut net = Net::default();
    /// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
    /// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    /// // Without shuffling, two runs from the same weights are identical whatever the generator.
    /// let start = net.clone();
    /// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(3).shuffle(false);
    /// let a = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
    /// let mut again = start.clone();
    /// let mut other = SplitMix64::new(99);
    /// let plan = Fit::new(&data, &mut order, &mut other).max_epochs(3).shuffle(false);
    /// let b = trainer.fit(&mut again, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
    /// assert_eq!((a.last.train.loss, &net), (b.last.train.loss, &again));
    /// ```
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
}

/// One epoch of [`Trainer::fit`], as the callback sees it.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// // The callback sees every epoch, and may stop training.
/// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(100);
/// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |e: &Epoch<f32>| {
///     if e.epoch == 7 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
/// }).unwrap();
/// assert_eq!((report.epochs, report.stop), (7, Stop::Callback));
/// assert_eq!(report.last.epoch, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch<T> {
    /// The epoch's number, from 1.
    pub epoch: usize,
    /// The training loss and counts of the epoch.
    pub train: EpochLoss<T>,
    /// The validation metrics after the epoch, when there is a validation set.
    pub validation: Option<Metrics<T>>,
    /// Whether the monitored value improved on every earlier epoch (by more than `min_delta`).
    pub improved: bool,
}

impl<T: Scalar> Epoch<T> {
    /// The loss that patience and keep-best watch: the validation loss, or without a
    /// validation set the training loss.
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let e = epoch(3, 0.25);
    /// assert_eq!(e.monitored(), 0.25); // no validation set: the training loss
    /// ```
    pub fn monitored(&self) -> T {
        self.validation.map_or(self.train.loss, |v| v.loss)
    }
}

/// Why [`Trainer::fit`] stopped.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(2);
/// let report = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
/// match report.stop {
///     Stop::MaxEpochs => assert_eq!(report.epochs, 2),
///     other => panic!("stopped early: {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The callback returned [`ControlFlow::Break`].
    Callback,
    /// The training loss reached the target loss.
    TargetLoss,
    /// The monitored value did not improve for `patience` epochs.
    NoImprovement,
    /// The maximum number of epochs ran.
    MaxEpochs,
}

/// What [`Trainer::fit`] did.
///
/// ```
/// # use core::ops::ControlFlow;
/// # use tinyprop::data::DataSet;
/// # use tinyprop::prelude::*;
/// # use tinyprop::train::*;
/// # type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 2>);
/// # let x = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
/// # let data = DataSet::new(&x, &[0u8, 1, 1, 0]).unwrap();
/// # let mut net = Net::default();
/// # net.init(Init::XavierUniform, &mut SplitMix64::new(1));
/// # let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(AdamConfig { lr: 0.05, ..Default::default() }).unwrap();
/// # let (mut order, mut rng) = ([0u8; 4], SplitMix64::new(2));
/// # let mut trainer = Trainer::<f32, 2, 4, Net>::new();
/// let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(20);
/// let report: Report<f32> = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| ControlFlow::Continue(())).unwrap();
/// assert_eq!(report.last.epoch, report.epochs);
/// assert!(report.best.train.loss <= report.last.train.loss);
/// assert!(!report.restored); // no keep_best
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report<T> {
    /// The number of epochs run.
    pub epochs: usize,
    /// Why training stopped.
    pub stop: Stop,
    /// The last epoch.
    pub last: Epoch<T>,
    /// The epoch with the best monitored value.
    pub best: Epoch<T>,
    /// Whether the model holds the weights of [`Report::best`] (with [`Fit::keep_best`])
    /// rather than those of [`Report::last`].
    pub restored: bool,
}

/// One entry of a [`History`].
///
/// ```
/// # use tinyprop::train::{Epoch, EpochLoss, History};
/// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
/// let mut history = History::<f32, 8>::new();
/// history.record(&epoch(1, 0.5));
/// let p = history.last().unwrap();
/// assert_eq!((p.epoch, p.train_loss, p.validation_loss), (1, 0.5, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<T> {
    /// The epoch's number, from 1.
    pub epoch: usize,
    /// The training loss.
    pub train_loss: T,
    /// The validation loss, when there is a validation set.
    pub validation_loss: Option<T>,
    /// The validation accuracy, for class labels.
    pub validation_accuracy: Option<T>,
}

/// The losses of the last `N` epochs, in a fixed-size [`heapless::HistoryBuf`] (no
/// allocation; older entries are overwritten once `N` are stored).
///
/// ```
/// use core::ops::ControlFlow;
/// use tinyprop::train::{Epoch, EpochLoss, History};
/// let mut history = History::<f32, 2>::new();
/// let mut callback = |e: &Epoch<f32>| {
///     history.record(e);
///     ControlFlow::<()>::Continue(())
/// };
/// for (epoch, loss) in [(1, 0.9), (2, 0.5), (3, 0.4)] {
///     let train = EpochLoss { loss, samples: 10, skipped: 0, steps: 1 };
///     let _ = callback(&Epoch { epoch, train, validation: None, improved: true });
/// }
/// let losses: Vec<f32> = history.iter().map(|p| p.train_loss).collect();
/// assert_eq!(losses, [0.5, 0.4]); // the last two, oldest first
/// ```
pub struct History<T, const N: usize> {
    points: heapless::HistoryBuf<Point<T>, N>,
}

impl<T: Scalar, const N: usize> Default for History<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar, const N: usize> History<T, N> {
    /// An empty history (`N` must be at least 1).
    ///
    /// ```
    /// use tinyprop::train::History;
    /// // `new` is `const`: a history can be a constant or a `static`.
    /// const EMPTY: History<f32, 16> = History::new();
    /// assert!(EMPTY.is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            points: heapless::HistoryBuf::new(),
        }
    }

    /// Appends the losses of `epoch`, dropping the oldest entry when full.
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let mut history = History::<f32, 2>::new();
    /// for (n, loss) in [(1, 0.9), (2, 0.5), (3, 0.4)] {
    ///     history.record(&epoch(n, loss));
    /// }
    /// assert_eq!(history.len(), 2); // the oldest was dropped
    /// assert_eq!(history.last().unwrap().epoch, 3);
    /// ```
    pub fn record(&mut self, epoch: &Epoch<T>) {
        self.points.write(Point {
            epoch: epoch.epoch,
            train_loss: epoch.train.loss,
            validation_loss: epoch.validation.map(|v| v.loss),
            validation_accuracy: epoch.validation.and_then(|v| v.accuracy()),
        });
    }

    /// The stored entries, oldest first.
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let mut history = History::<f32, 4>::new();
    /// history.record(&epoch(1, 0.9));
    /// history.record(&epoch(2, 0.5));
    /// let epochs: Vec<usize> = history.iter().map(|p| p.epoch).collect();
    /// assert_eq!(epochs, [1, 2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Point<T>> {
        self.points.oldest_ordered()
    }

    /// The most recent entry.
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let mut history = History::<f32, 4>::new();
    /// assert!(history.last().is_none());
    /// history.record(&epoch(1, 0.9));
    /// assert_eq!(history.last().unwrap().train_loss, 0.9);
    /// ```
    pub fn last(&self) -> Option<&Point<T>> {
        self.points.recent()
    }

    /// The number of stored entries (at most `N`).
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let mut history = History::<f32, 3>::new();
    /// for n in 1..=5 {
    ///     history.record(&epoch(n, 1.0 / n as f32));
    /// }
    /// assert_eq!(history.len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// `true` before the first [`History::record`].
    ///
    /// ```
    /// # use tinyprop::train::{Epoch, EpochLoss, History};
    /// # let epoch = |epoch, loss| Epoch { epoch, train: EpochLoss { loss, samples: 4, skipped: 0, steps: 1 }, validation: None, improved: true };
    /// let mut history = History::<f32, 3>::new();
    /// assert!(history.is_empty());
    /// history.record(&epoch(1, 0.5));
    /// assert!(!history.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}
