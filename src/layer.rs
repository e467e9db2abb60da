use rand_core::RngCore;

use crate::{Init, Scalar, Zeroed};

/// The trainable tensors of a model, its gradients or an optimizer's state, visited in a fixed
/// order.
///
/// A model and its gradient type visit tensors of the same lengths in the same order, which is
/// what lets an optimizer walk both together.
///
/// ```
/// use tinyprop::prelude::*;
/// let net: (Dense<f32, 3, 2>, Relu, Dense<f32, 2, 1>) = Default::default();
/// let lengths: Vec<usize> = net.tensors().map(|t| t.len()).collect();
/// assert_eq!(lengths, [6, 2, 2, 1]); // weight, bias, weight, bias
/// assert_eq!(<(Dense<f32, 3, 2>, Relu, Dense<f32, 2, 1>) as Parameters<f32>>::COUNT, 11);
/// ```
pub trait Parameters<T: Scalar> {
    /// The number of scalars over all tensors.
    const COUNT: usize;
    /// The tensors, in a fixed order.
    fn tensors(&self) -> impl Iterator<Item = &[T]>;
    /// The same tensors, mutable, in the same order.
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]>;
    /// Sets every element of every tensor to `value`.
    fn fill(&mut self, value: T) {
        for t in self.tensors_mut() {
            t.fill(value);
        }
    }
    /// `true` when no element is NaN or infinite.
    fn all_finite(&self) -> bool {
        // `v · 0` is `±0` for every finite `v` and NaN for an infinite or NaN one, so the sum of
        // these is `0` exactly when all are finite. Summed in independent lanes without an
        // early exit, this runs at vector speed (a test per element with an early exit does
        // not vectorize).
        const LANES: usize = 16;
        let zero = T::zero();
        let mut lanes = [zero; LANES];
        let mut rest = zero;
        for t in self.tensors() {
            let mut chunks = t.chunks_exact(LANES);
            for chunk in &mut chunks {
                for (a, &v) in lanes.iter_mut().zip(chunk) {
                    *a += v * zero;
                }
            }
            for &v in chunks.remainder() {
                rest += v * zero;
            }
        }
        lanes.iter().fold(rest, |a, &v| a + v) == zero
    }
    /// Copies every element from `other`, a value of the same type.
    fn copy_from(&mut self, other: &Self) {
        for (dst, src) in self.tensors_mut().zip(other.tensors()) {
            dst.copy_from_slice(src);
        }
    }
}

/// A model: parameters, a gradient type that mirrors them, and initialisation.
///
/// Independent of the input type, so of the batch size: the same model and gradients serve
/// batches of any size.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tinyprop model over `{T}`",
    label = "not a model over `{T}`"
)]
pub trait Model<T: Scalar>: Parameters<T> {
    /// Gradients: one tensor per trainable tensor of the model, same lengths, same order.
    type Grads: Parameters<T> + Zeroed;

    /// Re-initialises every trainable tensor in place with `init`, drawing from `rng`.
    /// Layers without parameters do nothing.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R);
}

/// A layer (or a chain of layers) that maps an input `X` to [`Layer::Output`].
///
/// `X` is usually a batch `SMatrix<T, WIDTH, BATCH>`. Layers write into caller-owned buffers:
/// [`Layer::forward`] for inference, [`Layer::forward_train`] into a [`Layer::Cache`] that keeps
/// what [`Layer::backward`] needs.
///
/// Backward *accumulates* into the gradients (as PyTorch does), so gradients of several batches
/// can be summed before one optimizer step; zero them before a fresh step.
#[diagnostic::on_unimplemented(
    message = "layer `{Self}` cannot take input `{X}`",
    label = "this layer does not accept `{X}`",
    note = "the input's width (the first dimension of the matrix) must equal the layer's input width"
)]
pub trait Layer<T: Scalar, X>: Model<T> {
    /// The output of a forward pass.
    type Output: Zeroed;
    /// What the training forward pass keeps for backward: at least the output.
    type Cache: Zeroed;
    /// Bytes of temporaries that [`Layer::forward`] keeps on the stack (the outputs between
    /// the layers of a chain); 0 for a single layer.
    const FORWARD_STACK_BYTES: usize = 0;

    /// Inference: computes the output of `x` into `y`. Layers with a training mode (dropout,
    /// batch normalisation) run in inference mode here.
    fn forward(&self, x: &X, y: &mut Self::Output);

    /// Training forward pass: fills `cache` and returns the output kept in it.
    fn forward_train<'c>(&mut self, x: &X, cache: &'c mut Self::Cache) -> &'c Self::Output;

    /// The output kept in a cache filled by [`Layer::forward_train`].
    fn output(cache: &Self::Cache) -> &Self::Output;

    /// Backpropagation: given the input `x` and the cache of the matching
    /// [`Layer::forward_train`], and `dy`, the gradient of the loss with respect to the output,
    /// adds the parameter gradients to `grads` and writes the input gradient into `dx`
    /// (skipped when `dx` is `None`, as for the first layer). `dy` and the cache may be used as
    /// scratch and hold unspecified values afterwards.
    fn backward(
        &self,
        x: &X,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        dx: Option<&mut X>,
        grads: &mut Self::Grads,
    );
}

/// No tensors: the gradients of a layer without parameters.
impl<T: Scalar> Parameters<T> for () {
    const COUNT: usize = 0;
    fn tensors(&self) -> impl Iterator<Item = &[T]> {
        core::iter::empty()
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        core::iter::empty()
    }
}
