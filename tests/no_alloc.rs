//! A counting global allocator proves that inference, training forward and backward passes,
//! losses and optimizer steps allocate nothing.

use crate::counting_alloc::allocations;

use tinyprop::prelude::*;

type Net = (
    Dense<f32, 64, 32>,
    Relu,
    Dense<f32, 32, 16>,
    Tanh,
    Dense<f32, 16, 10>,
);
type Batch = SMatrix<f32, 64, 8>;

#[test]
fn training_and_inference_allocate_nothing() {
    let mut rng = SplitMix64::new(3);
    let mut net = Net::default();
    net.init(Init::HeUniform, &mut rng);
    let x = Batch::from_fn(|i, j| ((i * 7 + j * 3) % 17) as f32 / 17.0);
    let labels = [0usize, 1, 2, 3, 4, 5, 6, 7];
    let targets = SMatrix::<f32, 10, 8>::from_fn(|i, j| if i == j { 1.0 } else { 0.0 });
    let mut ws = Workspace::<f32, Batch, Net>::new();
    let mut opt = Sgd::new(0.01).unwrap();
    let mut y = SMatrix::<f32, 10, 8>::zeros();

    let n = allocations(|| {
        net.forward(&x, &mut y);
        let out = net.forward_train(&x, &mut ws.cache);
        let _ = CrossEntropy.loss_and_grad(out, &labels, &mut ws.dy);
        let out = <Net as Layer<f32, Batch>>::output(&ws.cache);
        let _ = Mse.loss_and_grad(out, &targets, &mut ws.dy);
        let _ = BceWithLogits.loss_and_grad(out, &targets, &mut ws.dy);
        let mut dx = Batch::zeros();
        net.backward(
            &x,
            &mut ws.cache,
            &mut ws.dy,
            Some(&mut dx),
            Some(&mut ws.grads),
        );
        Optimizer::<f32, Net>::step(&mut opt, &mut net, &ws.grads).unwrap();
        for _ in 0..10 {
            train_step(&mut net, &mut opt, &CrossEntropy, &x, &labels, &mut ws).unwrap();
        }
        let mut bad = x;
        bad[(0, 0)] = f32::NAN;
        assert!(train_step(&mut net, &mut opt, &CrossEntropy, &bad, &labels, &mut ws).is_err());
    });
    assert_eq!(n, 0, "{n} allocations");

    // The counter does count: a Vec allocates.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);
}

type Deep = (
    Dense<f32, 16, 12>,
    BatchNorm<f32, 12>,
    Relu,
    Residual<(Dense<f32, 12, 12>, LayerNorm<f32, 12>, Tanh)>,
    Dropout<f32>,
    ResidualProjection<(Dense<f32, 12, 6>, Sigmoid), DenseNoBias<f32, 12, 6>>,
    Dense<f32, 6, 3>,
);
type DeepBatch = SMatrix<f32, 16, 4>;

#[test]
fn normalisation_dropout_and_residual_layers_allocate_nothing() {
    let mut net: Deep = Default::default();
    net.init(Init::HeUniform, &mut SplitMix64::new(5));
    let x = DeepBatch::from_fn(|i, j| ((i * 5 + j * 11) % 13) as f32 / 13.0 - 0.5);
    let labels = [0usize, 1, 2, 1];
    let mut ws = Workspace::<f32, DeepBatch, Deep>::new();
    let mut opt = Sgd::new(0.05).unwrap();
    let mut y = SMatrix::<f32, 3, 4>::zeros();
    let n = allocations(|| {
        for _ in 0..5 {
            train_step(&mut net, &mut opt, &CrossEntropy, &x, &labels, &mut ws).unwrap();
        }
        net.forward(&x, &mut y);
    });
    assert_eq!(n, 0, "{n} allocations");
    assert!(y.iter().all(|v| v.is_finite()));
}
