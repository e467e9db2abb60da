//! A counting global allocator proves that the training loops, evaluation, shuffling and
//! splitting allocate nothing.

use crate::counting_alloc::allocations;

use std::ops::ControlFlow;

use tinyprop::data::{sequence, shuffle, stratified_split, stratified_split_rows, DataSet};
use tinyprop::metrics::{evaluate, predict, ConfusionMatrix};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, History, Trainer};

type Net = (Dense<f32, 4, 8>, Relu, Dense<f32, 8, 3>);

#[test]
fn training_loops_allocate_nothing() {
    // Data in arrays, as in flash: 60 samples.
    let mut features = [[0.0f32; 4]; 60];
    let mut labels = [0u8; 60];
    for (i, (x, y)) in features.iter_mut().zip(labels.iter_mut()).enumerate() {
        *y = (i % 3) as u8;
        *x = [i as f32 / 60.0, f32::from(*y), (i % 7) as f32, 1.0];
    }
    let mut rng = SplitMix64::new(1);
    let mut net = Net::default();
    net.init(Init::HeUniform, &mut rng);
    let mut best = Net::default();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut trainer = Trainer::<f32, 4, 8, Net>::new();
    let mut history = History::<f32, 16>::new();
    let mut confusion = ConfusionMatrix::<3>::new();
    let mut rows = [0u16; 60];
    let mut order = [0u16; 36];
    let mut epochs = 0;

    let n = allocations(|| {
        let data = DataSet::new(&features, &labels).unwrap();
        let (rest, test_rows) = stratified_split(&labels, 0.2, &mut rng, &mut rows).unwrap();
        let (train_rows, val_rows) = stratified_split_rows(&labels, rest, 0.25, &mut rng).unwrap();
        let train = data.subset(train_rows).unwrap();
        let validation = data.subset(val_rows).unwrap();
        let test = data.subset(test_rows).unwrap();
        let plan = Fit::new(&train, &mut order, &mut rng)
            .validation(&validation)
            .max_epochs(5)
            .patience(3)
            .keep_best(&mut best);
        let report = trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
                history.record(e);
                ControlFlow::Continue(())
            })
            .unwrap();
        epochs = report.epochs;
        sequence(&mut order).unwrap();
        shuffle(&mut order, &mut rng);
        trainer
            .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &train, &order)
            .unwrap();
        trainer
            .batch_epoch(&mut net, &mut opt, &CrossEntropy, &train)
            .unwrap();
        evaluate(
            &net,
            &CrossEntropy,
            &test,
            Default::default(),
            Some(&mut confusion),
        )
        .unwrap();
        predict(&net, &features[0]).unwrap();
        assert!(data.subset(&[99u16]).is_err());
    });
    assert_eq!(n, 0, "{n} allocations");
    assert_eq!(history.len(), epochs);
    assert_eq!(confusion.total(), 12);
}
