//! End to end: XOR with a 2-8-1 network, and a failed step that changes nothing.

use tinyprop::prelude::*;

type Net = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);

fn xor() -> (SMatrix<f32, 2, 4>, SMatrix<f32, 1, 4>) {
    (
        SMatrix::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]),
        SMatrix::from_row_slice(&[0., 1., 1., 0.]),
    )
}

#[test]
fn xor_trains_to_low_loss() {
    let (x, t) = xor();
    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(7));
    let mut opt = Sgd::new(0.5).unwrap();
    let mut ws = Workspace::<f32, _, Net>::new();
    let mut steps = 0;
    let mut loss = f32::INFINITY;
    while loss >= 0.01 && steps < 5000 {
        loss = train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws).unwrap();
        steps += 1;
    }
    println!("xor: loss {loss} after {steps} steps");
    assert!(loss < 0.01, "loss {loss} after {steps} steps");

    // The trained network classifies all four points.
    let mut y = SMatrix::<f32, 1, 4>::zeros();
    net.forward(&x, &mut y);
    for (logit, target) in y.iter().zip(t.iter()) {
        assert_eq!(*logit > 0.0, *target > 0.5);
    }
}

#[test]
fn same_seed_same_training() {
    let (x, t) = xor();
    let run = || {
        let mut net = Net::default();
        net.init(Init::HeNormal, &mut SplitMix64::new(21));
        let mut opt = Sgd::new(0.3).unwrap();
        let mut ws = Workspace::<f32, _, Net>::new();
        for _ in 0..50 {
            train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws).unwrap();
        }
        net
    };
    let (a, b) = (run(), run());
    let bits = |n: &Net| {
        n.tensors()
            .flatten()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn non_finite_input_is_an_error_and_changes_nothing() {
    let (mut x, t) = xor();
    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(7));
    let mut opt = Sgd::new(0.5).unwrap();
    let mut ws = Workspace::<f32, _, Net>::new();
    let before: Vec<u32> = net.tensors().flatten().map(|v| v.to_bits()).collect();

    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        x[(1, 2)] = bad;
        let err = train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteLoss | Error::NonFiniteGradient),
            "{err:?}"
        );
        let after: Vec<u32> = net.tensors().flatten().map(|v| v.to_bits()).collect();
        assert_eq!(before, after, "weights changed after {bad}");
    }

    // A NaN target is refused the same way.
    let (x, mut t) = xor();
    t[(0, 3)] = f32::NAN;
    assert!(train_step(&mut net, &mut opt, &BceWithLogits, &x, &t, &mut ws).is_err());
    let after: Vec<u32> = net.tensors().flatten().map(|v| v.to_bits()).collect();
    assert_eq!(before, after);

    // A label out of range, too.
    type Classifier = (Dense<f32, 2, 3>, Relu, Dense<f32, 3, 2>);
    let mut clf = Classifier::default();
    clf.init(Init::HeUniform, &mut SplitMix64::new(1));
    let snapshot = clf.clone();
    let mut ws = Workspace::<f32, _, Classifier>::new();
    let mut opt = Sgd::new(0.1).unwrap();
    let err = train_step(
        &mut clf,
        &mut opt,
        &CrossEntropy,
        &xor().0,
        &[0usize, 1, 2, 1],
        &mut ws,
    );
    assert_eq!(
        err,
        Err(Error::LabelOutOfRange {
            label: 2,
            classes: 2
        })
    );
    assert_eq!(clf, snapshot);
}
