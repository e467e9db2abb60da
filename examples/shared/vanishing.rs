//! The vanishing-gradient experiment shared by `examples/vanishing.rs` and its test: a
//! 20-layer sigmoid MLP with and without residual connections, same widths, same seed, same
//! data, same optimizer.

use tinyprop::prelude::*;

pub const IN: usize = 8;
pub const WIDTH: usize = 16;
pub const BATCH: usize = 32;
pub const STEPS: usize = 1000;
pub const LR: f32 = 0.003;

type Block = (Dense<f32, WIDTH, WIDTH>, Sigmoid);
type ResBlock = Residual<Block>;
type Nine<B> = (B, B, B, B, B, B, B, B, B);

/// 20 dense layers: input layer, 18 hidden blocks, output layer.
pub type Plain = (
    Dense<f32, IN, WIDTH>,
    Sigmoid,
    Nine<Block>,
    Nine<Block>,
    Dense<f32, WIDTH, 1>,
);
/// The same network with every hidden block wrapped in a skip connection.
pub type WithSkips = (
    Dense<f32, IN, WIDTH>,
    Sigmoid,
    Nine<ResBlock>,
    Nine<ResBlock>,
    Dense<f32, WIDTH, 1>,
);

pub type Batch = SMatrix<f32, IN, BATCH>;
pub type Target = SMatrix<f32, 1, BATCH>;

/// A synthetic regression task: y = sin(x₀ + x₁) · x₂ + 0.5 x₃, inputs uniform in [-1, 1].
pub fn batch(rng: &mut SplitMix64) -> (Batch, Target) {
    let x = Batch::from_fn(|_, _| (2.0 * tinyprop::rng::unit_f64(rng) - 1.0) as f32);
    let t = Target::from_fn(|_, j| (x[(0, j)] + x[(1, j)]).sin() * x[(2, j)] + 0.5 * x[(3, j)]);
    (x, t)
}

/// The Frobenius norm of the first layer's weight gradient on one batch, at initialisation.
fn first_layer_gradient_norm<M>(net: &mut M, x: &Batch, t: &Target) -> f32
where
    M: Layer<f32, Batch, Output = Target>,
{
    let mut ws = Workspace::<f32, Batch, M>::new();
    let y = net.forward_train(x, &mut ws.cache);
    Mse.loss_and_grad(y, t, &mut ws.dy).unwrap_or(f32::NAN);
    net.backward(x, &mut ws.cache, &mut ws.dy, None, Some(&mut ws.grads));
    let first = ws.grads.tensors().next().unwrap_or(&[]);
    first.iter().map(|g| g * g).sum::<f32>().sqrt()
}

/// Trains for [`STEPS`] steps; returns the mean loss over the last 50 steps.
fn train<M>(net: &mut M, seed: u64) -> f32
where
    M: Layer<f32, Batch, Output = Target>,
{
    let mut rng = SplitMix64::new(seed);
    let mut opt = Sgd::new(LR).unwrap_or_else(|_| unreachable!());
    let mut ws = Workspace::<f32, Batch, M>::new();
    let mut tail = 0.0;
    for step in 0..STEPS {
        let (x, t) = batch(&mut rng);
        let loss = train_step(net, &mut opt, &Mse, &x, &t, &mut ws).unwrap_or(f32::NAN);
        if step >= STEPS - 50 {
            tail += loss / 50.0;
        }
    }
    tail
}

/// The experiment's results.
pub struct Outcome {
    pub plain_gradient: f32,
    pub residual_gradient: f32,
    pub plain_loss: f32,
    pub residual_loss: f32,
}

/// Builds both networks from the same seed and measures them.
pub fn run(seed: u64) -> Outcome {
    let mut plain = Box::<Plain>::default();
    let mut residual = Box::<WithSkips>::default();
    plain.init(Init::XavierUniform, &mut SplitMix64::new(seed));
    residual.init(Init::XavierUniform, &mut SplitMix64::new(seed));
    // Same architecture, same initial weights: only the skip connections differ.
    assert!(plain.tensors().eq(residual.tensors()));

    let (x, t) = batch(&mut SplitMix64::new(seed + 1));
    let plain_gradient = first_layer_gradient_norm(&mut *plain, &x, &t);
    let residual_gradient = first_layer_gradient_norm(&mut *residual, &x, &t);
    let plain_loss = train(&mut *plain, seed + 2);
    let residual_loss = train(&mut *residual, seed + 2);
    Outcome {
        plain_gradient,
        residual_gradient,
        plain_loss,
        residual_loss,
    }
}
