use rand_core::RngCore;

use crate::io::{Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::no_tensors;
use crate::{Error, Init, Layer, Model, Parameters, Scalar};

/// A layer that is not trained: `Frozen(layer)` runs `layer` in inference mode, in training
/// too, and has no gradients, so an optimizer keeps no state for it and cannot change it (not
/// with weight decay either).
///
/// * Its gradient type is `()`: the [`Workspace`](crate::Workspace) and every optimizer's
///   state shrink by the frozen layer's parameters (see [`crate::memory`]).
/// * Its training forward pass is the inference one ([`Layer::forward_frozen`]): a frozen
///   [`BatchNorm`](crate::BatchNorm) normalises with its running statistics and leaves them
///   unchanged, a frozen [`Dropout`](crate::Dropout) passes its input through.
/// * Backward skips the parameter gradients and computes the input gradient only when a layer
///   before it needs one (nothing at all for a frozen first layer).
/// * Its tensors keep their names ([`StateDict`]), as PyTorch's with `requires_grad=False`:
///   a model saved with frozen layers loads into the same model without them, and back.
/// * [`Model::init`] leaves it as it is: a frozen layer's weights are loaded, not drawn.
///
/// Fine-tuning the last layer of a network trained elsewhere:
///
/// ```
/// use tinyprop::prelude::*;
/// type Net = (Frozen<(Dense<f32, 4, 16>, Relu)>, Dense<f32, 16, 3>);
/// let mut net: Net = Default::default(); // (the frozen part would come from a file)
/// net.1.init(Init::HeUniform, &mut SplitMix64::new(1));
/// let mut opt = Adam::new(AdamConfig::default()).unwrap();
/// let mut ws = Workspace::<f32, SMatrix<f32, 4, 8>, Net>::new();
/// let x = SMatrix::<f32, 4, 8>::from_element(0.5);
/// let before = net.0.clone();
/// train_step(&mut net, &mut opt, &CrossEntropy, &x, &[0, 1, 2, 0, 1, 2, 0, 1], &mut ws).unwrap();
/// assert_eq!(net.0, before); // the frozen part did not move
/// // Adam keeps state for the 16·3 + 3 trainable parameters only.
/// assert_eq!(tinyprop::memory::parameter_count::<f32, Net>(), 16 * 3 + 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frozen<L>(pub L);

impl<T: Scalar, L> Parameters<T> for Frozen<L> {
    no_tensors!();
}

/// The frozen layer's tensors, under the same names.
impl<T: Scalar, L: StateDict<T>> StateDict<T> for Frozen<L> {
    const ENTRIES: usize = L::ENTRIES;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        self.0.visit(prefix, f)
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        self.0.visit_mut(prefix, f)
    }
}

impl<T: Scalar, L: Model<T>> Model<T> for Frozen<L> {
    type Grads = ();
    /// Nothing: a frozen layer's buffers do not change in training.
    type Buffers = ();

    fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
    fn save_buffers(&self, _: &mut ()) {}
    fn restore_buffers(&mut self, _: &()) {}
    fn buffers_finite(&self) -> bool {
        self.0.buffers_finite()
    }
    /// The frozen layer's rows, not trainable.
    fn describe(
        &self,
        name: &str,
        input: crate::io::Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<crate::io::Shape, core::fmt::Error> {
        let mut frozen = |r: &crate::layer::LayerRow<'_>| {
            row(&crate::layer::LayerRow {
                trainable: false,
                ..*r
            })
        };
        self.0.describe(name, input, &mut frozen)
    }
}

impl<T: Scalar, X, L: Layer<T, X>> Layer<T, X> for Frozen<L> {
    type Output = L::Output;
    type Cache = L::Cache;
    const FORWARD_STACK_BYTES: usize = L::FORWARD_STACK_BYTES;

    fn forward(&self, x: &X, y: &mut L::Output) {
        self.0.forward(x, y);
    }

    fn forward_train<'c>(&mut self, x: &X, cache: &'c mut L::Cache) -> &'c L::Output {
        self.0.forward_frozen(x, cache)
    }

    fn forward_frozen<'c>(&self, x: &X, cache: &'c mut L::Cache) -> &'c L::Output {
        self.0.forward_frozen(x, cache)
    }

    fn output(cache: &L::Cache) -> &L::Output {
        L::output(cache)
    }

    fn backward(
        &self,
        x: &X,
        cache: &mut L::Cache,
        dy: &mut L::Output,
        dx: Option<&mut X>,
        _grads: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            self.0.backward(x, cache, dy, Some(dx), None);
        }
    }
}
