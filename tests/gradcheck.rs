//! Finite-difference gradient checks in f64 (the library's `tinyprop::gradcheck`): every
//! layer, every loss, and chains.

use crate::common::pseudo_random;
use tinyprop::gradcheck::{self, TOLERANCE as TOL};
use tinyprop::prelude::*;

/// The relative errors of the input and parameter gradients of `model` at `x` (checked on a
/// copy, which the check leaves as it was).
fn check_layer<M, X>(model: &M, x: &X) -> (f64, f64)
where
    M: Layer<f64, X> + Clone + PartialEq + std::fmt::Debug,
    X: Parameters<f64> + Zeroed,
    M::Output: Parameters<f64> + Zeroed,
{
    let mut checked = model.clone();
    let errors = gradcheck::check_layer(&mut checked, x);
    assert_eq!(&checked, model, "the check changed the model");
    (errors.input, errors.parameters)
}

/// The relative error of `loss`'s gradient at `y`, which also checks that `loss_and_grad`
/// returns the value `loss` does.
fn check_loss<L, const N: usize, const B: usize, Tg: ?Sized>(
    loss: &L,
    y: &SMatrix<f64, N, B>,
    target: &Tg,
) -> f64
where
    L: Loss<f64, SMatrix<f64, N, B>, Tg>,
{
    let mut dy = SMatrix::<f64, N, B>::zeros();
    let value = loss.loss_and_grad(y, target, &mut dy).unwrap();
    assert_eq!(value, loss.loss(y, target).unwrap());
    gradcheck::check_loss(loss, y, target).unwrap()
}

/// Inputs with negatives, values close to zero on both sides, and large values (a batch of 4).
fn inputs() -> SMatrix<f64, 3, 4> {
    SMatrix::from_column_slice(&[
        -2.0, 0.5, 1e-3, //
        -1e-3, 3.0, -0.7, //
        25.0, -30.0, 0.25, //
        1.5, -4.0, 7.0,
    ])
}

fn assert_layer<M>(name: &str, model: &M)
where
    M: Layer<f64, SMatrix<f64, 3, 4>, Output = SMatrix<f64, 3, 4>>
        + Clone
        + PartialEq
        + std::fmt::Debug,
{
    let (dx, dp) = check_layer(model, &inputs());
    println!("{name}: input {dx:.2e}, params {dp:.2e}");
    assert!(dx <= TOL, "{name}: input gradient relative error {dx:e}");
    assert!(
        dp <= TOL,
        "{name}: parameter gradient relative error {dp:e}"
    );
}

#[test]
fn activations() {
    assert_layer("relu", &Relu);
    assert_layer("leaky_relu", &LeakyRelu::new(0.1).unwrap());
    assert_layer("sigmoid", &Sigmoid);
    assert_layer("tanh", &Tanh);
    assert_layer("softmax", &Softmax);
    assert_layer("identity", &Identity);
}

#[test]
fn dense_with_and_without_bias() {
    let mut rng = SplitMix64::new(5);
    let dense: Dense<f64, 3, 3> = Dense::new(Init::PyTorchDefault, &mut rng);
    assert_layer("dense", &dense);
    let no_bias: DenseNoBias<f64, 3, 3> = Dense::new(Init::XavierNormal, &mut rng);
    assert_layer("dense_no_bias", &no_bias);
    // A wide, non-square layer too.
    let wide: Dense<f64, 3, 7> = Dense::new(Init::HeNormal, &mut rng);
    let (dx, dp) = check_layer(&wide, &inputs());
    assert!(dx <= TOL && dp <= TOL, "{dx:e} {dp:e}");
}

#[test]
fn three_layer_chain() {
    let mut rng = SplitMix64::new(11);
    let mut net: (
        Dense<f64, 3, 6>,
        Tanh,
        Dense<f64, 6, 5>,
        LeakyRelu<f64>,
        Dense<f64, 5, 2>,
    ) = Default::default();
    net.init(Init::XavierUniform, &mut rng);
    let (dx, dp) = check_layer(&net, &inputs());
    assert!(dx <= TOL && dp <= TOL, "{dx:e} {dp:e}");
}

type Flat = (
    Dense<f64, 3, 4>,
    Relu,
    Dense<f64, 4, 4>,
    Tanh,
    Dense<f64, 4, 3>,
    Sigmoid,
    Dense<f64, 3, 2>,
    Softmax,
);

#[test]
fn eight_element_chain_and_nesting() {
    type Block<const I: usize, const O: usize> = (Dense<f64, I, O>, Sigmoid);
    let mut rng = SplitMix64::new(12);
    let mut flat = Flat::default();
    flat.init(Init::HeUniform, &mut rng);
    let (dx, dp) = check_layer(&flat, &inputs());
    assert!(dx <= TOL && dp <= TOL, "flat: {dx:e} {dp:e}");

    let mut nested: (Block<3, 5>, (Block<5, 4>, Identity), Dense<f64, 4, 2>) = Default::default();
    nested.init(Init::XavierNormal, &mut rng);
    let (dx, dp) = check_layer(&nested, &inputs());
    assert!(dx <= TOL && dp <= TOL, "nested: {dx:e} {dp:e}");
}

#[test]
fn losses() {
    let y: SMatrix<f64, 3, 4> = inputs();
    let t: SMatrix<f64, 3, 4> = pseudo_random(3);
    let err = check_loss(&Mse, &y, &t);
    assert!(err <= TOL, "mse {err:e}");

    // Binary cross-entropy with targets in [0, 1], logits up to ±30.
    let p = t.map(|v| (v + 1.0) / 2.0);
    let err = check_loss(&BceWithLogits, &y, &p);
    assert!(err <= TOL, "bce {err:e}");

    // Cross-entropy with class indices and with soft targets.
    let err = check_loss(&CrossEntropy, &y, &[0usize, 2, 1, 1]);
    assert!(err <= TOL, "ce index {err:e}");
    let soft = SMatrix::<f64, 3, 4>::from_fn(|i, j| [0.2, 0.3, 0.5][(i + j) % 3]);
    let err = check_loss(&CrossEntropy, &y, &soft);
    assert!(err <= TOL, "ce soft {err:e}");

    // Logits of ±1000 stay finite and the gradient is still right.
    let big =
        SMatrix::<f64, 3, 2>::from_column_slice(&[1000.0, -1000.0, 0.0, -1000.0, 999.0, 1000.0]);
    let err = check_loss(&CrossEntropy, &big, &[1usize, 2]);
    assert!(err <= TOL, "ce big {err:e}");
    let l: f64 = CrossEntropy.loss(&big, &[1usize, 2]).unwrap();
    // sample 0: 1000 - (-1000) = 2000; sample 1: ln(1 + e^-1)
    let expected = (2000.0 + (1.0 + (-1.0f64).exp()).ln()) / 2.0;
    assert!((l - expected).abs() < 1e-12, "{l}");
    let err = check_loss(
        &BceWithLogits,
        &big,
        &SMatrix::<f64, 3, 2>::from_element(0.5),
    );
    assert!(err <= TOL, "bce big {err:e}");
}

#[test]
fn bad_label_is_an_error() {
    let y = SMatrix::<f64, 3, 2>::zeros();
    let mut dy = SMatrix::zeros();
    assert_eq!(
        CrossEntropy.loss_and_grad(&y, &[1usize, 3], &mut dy),
        Err(Error::LabelOutOfRange {
            label: 3,
            classes: 3
        })
    );
}

/// A BatchNorm/LayerNorm with non-trivial affine parameters.
fn scaled<M: Parameters<f64>>(mut m: M) -> M {
    for (k, v) in m.tensors_mut().flat_map(|t| t.iter_mut()).enumerate() {
        *v = [1.5, -0.5, 2.0, 0.1, 0.2, -0.3][k % 6];
    }
    m
}

#[test]
fn normalisation_layers() {
    // Batch statistics included: the full backward through mean and variance.
    assert_layer("batch_norm", &scaled(BatchNorm::<f64, 3>::default()));
    assert_layer("layer_norm", &scaled(LayerNorm::<f64, 3>::default()));
}

#[test]
fn dropout_with_a_fixed_mask() {
    // The objective re-runs the layer from a clone, so every evaluation draws the same mask.
    assert_layer(
        "dropout",
        &Dropout::<f64>::new(0.3, SplitMix64::new(8)).unwrap(),
    );
}

#[test]
fn residual_blocks() {
    let mut rng = SplitMix64::new(13);
    let mut block: Residual<(Dense<f64, 3, 5>, Relu, Dense<f64, 5, 3>, Tanh)> = Default::default();
    block.init(Init::HeNormal, &mut rng);
    assert_layer("residual", &block);

    let mut proj: ResidualProjection<(Dense<f64, 3, 6>, Sigmoid), DenseNoBias<f64, 3, 6>> =
        Default::default();
    proj.init(Init::XavierNormal, &mut rng);
    let (dx, dp) = check_layer(&proj, &inputs());
    assert!(dx <= TOL && dp <= TOL, "projection: {dx:e} {dp:e}");
}

type DeepChain = (
    Dense<f64, 3, 6>,
    BatchNorm<f64, 6>,
    Relu,
    Residual<(Dense<f64, 6, 6>, LayerNorm<f64, 6>, Tanh)>,
    Dropout<f64>,
    Dense<f64, 6, 2>,
);

#[test]
fn normalisation_and_residual_inside_a_chain() {
    let mut net: DeepChain = (
        Default::default(),
        scaled(BatchNorm::default()),
        Relu,
        Default::default(),
        Dropout::new(0.2, SplitMix64::new(4)).unwrap(),
        Default::default(),
    );
    net.0.init(Init::HeUniform, &mut SplitMix64::new(14));
    net.3
         .0
         .0
        .init(Init::XavierUniform, &mut SplitMix64::new(15));
    net.3 .0 .1 = scaled(LayerNorm::default());
    net.5.init(Init::XavierUniform, &mut SplitMix64::new(16));
    let (dx, dp) = check_layer(&net, &inputs());
    assert!(dx <= TOL && dp <= TOL, "chain: {dx:e} {dp:e}");
}

/// A frozen layer is differentiated in inference mode: its input gradient is that of the
/// function it computes (batch normalisation with its running statistics, dropout as the
/// identity), and it has no parameter gradients.
#[test]
fn frozen_layers() {
    let mut bn = scaled(BatchNorm::<f64, 3>::default());
    bn.running_mean = SVector::from([0.3, -1.0, 2.0]);
    bn.running_var = SVector::from([0.5, 4.0, 1.5]);
    assert_layer("frozen batch_norm", &Frozen(bn));
    assert_layer(
        "frozen dropout",
        &Frozen(Dropout::<f64>::new(0.5, SplitMix64::new(1)).unwrap()),
    );
    // In the middle of a chain: the layers around it are trained, the input gradient flows
    // through the frozen part.
    type Net = (
        Dense<f64, 3, 6>,
        Frozen<(Dense<f64, 6, 6>, BatchNorm<f64, 6>, Tanh)>,
        Dense<f64, 6, 3>,
    );
    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(21));
    net.1
         .0
         .0
        .init(Init::XavierUniform, &mut SplitMix64::new(22));
    net.1 .0 .1 = scaled(BatchNorm::default());
    net.1 .0 .1.running_mean = SVector::from_fn(|i, _| 0.1 * i as f64);
    let (dx, dp) = check_layer(&net, &inputs());
    assert!(
        dx <= TOL && dp <= TOL,
        "frozen inside a chain: {dx:e} {dp:e}"
    );
    assert_eq!(
        <(Dense<f64, 3, 6>, Frozen<Dense<f64, 6, 6>>) as Parameters<f64>>::COUNT,
        24
    );
}

#[test]
fn feature_scaling() {
    let scaler = Normalize::<f64, 3> {
        offset: SVector::from([0.5, -2.0, 10.0]),
        scale: SVector::from([2.0, 0.25, -1.5]),
    };
    assert_layer("normalize", &scaler);
}
