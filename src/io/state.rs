//! A model and its optimizer as one [`StateDict`], for checkpoints that resume training.

use crate::io::{part, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::{Error, Scalar};

/// A model and its optimizer's state as one state dict: the model's tensors under `model.`,
/// the optimizer's (step counters included) under `optimizer.`, as a PyTorch checkpoint
/// written as `{"model": model.state_dict(), "optimizer": optimizer.state_dict()}` has them.
///
/// Saved with [`safetensors::save`](crate::io::safetensors::save) (into a byte slice, or
/// through [`Checkpoint`](crate::io::checkpoint::Checkpoint) into flash), loaded with
/// [`safetensors::load`](crate::io::safetensors::load): all or nothing, so a file that does
/// not match changes neither the model nor the optimizer. Training resumed from it continues
/// bit for bit as if it had not stopped (the hyperparameters, which are not tensors, come from
/// the program, as in PyTorch).
///
/// Both fields may be references (`&mut`), so the model and the optimizer stay where they are.
///
/// ```
/// use tinyprop::io::safetensors::{self, Dtype};
/// use tinyprop::io::TrainingState;
/// use tinyprop::optim::{Adam, AdamConfig};
/// use tinyprop::prelude::*;
/// type Net = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
/// type Opt = Adam<f32, <Net as Model<f32>>::Grads>;
/// let mut net = Net::default();
/// net.init(Init::XavierUniform, &mut SplitMix64::new(7));
/// let mut adam = Opt::new(AdamConfig::default()).unwrap();
///
/// let state = TrainingState { model: &mut net, optimizer: &mut adam };
/// let mut file = [0u8; 2048];
/// let len = safetensors::save(&state, Dtype::F32, &mut file).unwrap();
/// assert_eq!(len, safetensors::saved_len(&state, Dtype::F32).unwrap());
///
/// let (mut net2, mut adam2) = (Net::default(), Opt::new(AdamConfig::default()).unwrap());
/// let mut state2 = TrainingState { model: &mut net2, optimizer: &mut adam2 };
/// safetensors::load(&mut state2, &file[..len]).unwrap();
/// assert_eq!(net2, net);
/// let names = safetensors::SafeTensors::parse(&file[..len]).unwrap();
/// assert!(names.tensor("model.0.weight").is_some());
/// assert!(names.tensor("optimizer.exp_avg.2.bias").is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrainingState<M, O> {
    /// The model (or a `&mut` to it).
    pub model: M,
    /// The optimizer (or a `&mut` to it).
    pub optimizer: O,
}

impl<T: Scalar, M: StateDict<T>, O: StateDict<T>> StateDict<T> for TrainingState<M, O> {
    const ENTRIES: usize = M::ENTRIES + O::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "model", |p| self.model.visit(p, f))?;
        part(prefix, "optimizer", |p| self.optimizer.visit(p, f))
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        part(prefix, "model", |p| self.model.visit_mut(p, f))?;
        part(prefix, "optimizer", |p| self.optimizer.visit_mut(p, f))
    }
}

/// A reference visits what it refers to.
impl<T: Scalar, S: StateDict<T> + ?Sized> StateDict<T> for &mut S {
    const ENTRIES: usize = S::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        (**self).visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        (**self).visit_mut(prefix, f)
    }
}
