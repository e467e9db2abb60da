//! Bad input gives a clear `Err`, never a panic, and leaves the weights and the optimizer
//! exactly as they were: an empty data set, features and labels of different lengths, a label
//! out of range, an index buffer of the wrong length (or with an index out of range, or of a
//! type too small), a NaN or infinite sample (or skipped, as configured), bad stopping rules.

use std::ops::ControlFlow;

use tinyprop::data::{stratified_split, DataSet, NonFinite, Samples};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;
use tinyprop::train::{EpochLoss, Fit, Trainer};

type Net = (Dense<f32, 2, 6>, Relu, Dense<f32, 6, 3>);
type Opt = Adam<f32, <Net as Model<f32>>::Grads>;

fn net() -> Net {
    let mut net = Net::default();
    net.init(Init::HeUniform, &mut SplitMix64::new(1));
    net
}

fn adam() -> Opt {
    Adam::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    })
    .unwrap()
}

fn features(n: usize) -> Vec<[f32; 2]> {
    (0..n)
        .map(|i| [(i % 5) as f32 / 5.0, (i % 7) as f32 / 7.0])
        .collect()
}

fn labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 3) as u8).collect()
}

/// The outcome of every way to train and evaluate on `data` with index buffer `order`, each
/// checked to change nothing when it fails.
fn all_entry_points<D>(data: &D, order: &mut [u16], policy: NonFinite) -> Vec<Result<(), Error>>
where
    D: Samples<f32, 2>,
    D::Target: tinyprop::data::Target<f32, 3, Batch<4> = [usize; 4], Batch<1> = [usize; 1]>,
{
    let mut results = Vec::new();
    let mut check = |name: &str, run: &mut dyn FnMut(&mut Net, &mut Opt) -> Result<(), Error>| {
        let (mut net, mut opt) = (net(), adam());
        let (net0, opt0) = (net.clone(), opt.clone());
        let result = run(&mut net, &mut opt);
        if result.is_err() {
            assert_eq!(net, net0, "{name}: weights changed by a failed call");
            assert_eq!(opt, opt0, "{name}: optimizer changed by a failed call");
        }
        results.push(result);
    };
    let mut trainer = Trainer::<f32, 2, 4, Net>::new().with_non_finite(policy);
    check("gradient", &mut |net, _| {
        trainer.gradient(net, &CrossEntropy, data).map(drop)
    });
    check("batch_epoch", &mut |net, opt| {
        trainer.batch_epoch(net, opt, &CrossEntropy, data).map(drop)
    });
    let order_copy = order.to_vec();
    check("minibatch_epoch", &mut |net, opt| {
        trainer
            .minibatch_epoch(net, opt, &CrossEntropy, data, &order_copy)
            .map(drop)
    });
    let mut rng = SplitMix64::new(2);
    check("fit", &mut |net, opt| {
        let plan = Fit::new(data, &mut *order, &mut rng).max_epochs(2);
        trainer
            .fit(net, opt, &CrossEntropy, plan, |_| ControlFlow::Continue(()))
            .map(drop)
    });
    check("fit with validation", &mut |net, opt| {
        let mut good_order = vec![0u16; data.len()];
        let plan = Fit::new(data, &mut good_order, &mut rng)
            .validation(data)
            .max_epochs(2);
        trainer
            .fit(net, opt, &CrossEntropy, plan, |_| ControlFlow::Continue(()))
            .map(drop)
    });
    let mut confusion = ConfusionMatrix::<3>::new();
    check("evaluate", &mut |net, _| {
        let result = evaluate(&*net, &CrossEntropy, data, policy, Some(&mut confusion));
        if result.is_err() {
            assert_eq!(confusion.total(), 0, "evaluate: confusion changed");
        }
        result.map(drop)
    });
    results
}

/// Samples of your own: here an empty collection.
struct Nothing;

impl Samples<f32, 2> for Nothing {
    type Target = u8;
    fn len(&self) -> usize {
        0
    }
    fn get(&self, _: usize) -> Option<(&[f32; 2], &u8)> {
        None
    }
}

#[test]
fn an_empty_data_set() {
    let none: [[f32; 2]; 0] = [];
    assert_eq!(
        DataSet::new(&none, &[] as &[u8]).unwrap_err(),
        Error::EmptyDataSet
    );
    let (x, y) = (features(6), labels(6));
    let data = DataSet::new(&x, &y).unwrap();
    assert_eq!(data.subset::<u16>(&[]).unwrap_err(), Error::EmptyDataSet);
    let results = all_entry_points(&Nothing, &mut [], NonFinite::Reject);
    assert!(
        results.iter().all(|r| *r == Err(Error::EmptyDataSet)),
        "{results:?}"
    );
    let mut rows: [u8; 0] = [];
    assert_eq!(
        stratified_split(&[] as &[u8], 0.3, &mut SplitMix64::new(1), &mut rows).unwrap_err(),
        Error::EmptyDataSet
    );
    println!("{}", Error::EmptyDataSet);
}

#[test]
fn features_and_labels_of_different_lengths() {
    let (x, y) = (features(5), labels(4));
    let e = DataSet::new(&x, &y).unwrap_err();
    assert_eq!(
        e,
        Error::LengthMismatch {
            features: 5,
            targets: 4
        }
    );
    assert_eq!(
        e.to_string(),
        "5 feature rows but 4 targets: the lengths must match"
    );
}

#[test]
fn a_class_label_out_of_range() {
    // The bad label is the last sample: nothing may train on the samples before it.
    let x = features(10);
    let mut y = labels(10);
    y[9] = 3;
    let data = DataSet::new(&x, &y).unwrap();
    let mut order = [0u16; 10];
    let results = all_entry_points(&data, &mut order, NonFinite::Skip);
    let want = Err(Error::LabelOutOfRange {
        label: 3,
        classes: 3,
    });
    assert!(results.iter().all(|r| *r == want), "{results:?}");
}

#[test]
fn an_index_buffer_of_the_wrong_length() {
    let (x, y) = (features(10), labels(10));
    let data = DataSet::new(&x, &y).unwrap();
    for len in [0, 9, 11] {
        let mut order = vec![0u16; len];
        let results = all_entry_points(&data, &mut order, NonFinite::Reject);
        let want = Err(Error::IndexBufferLength {
            expected: 10,
            found: len,
        });
        // gradient, batch_epoch and evaluate take no index buffer; fit with validation gets a
        // good one.
        assert_eq!(results[2], want, "minibatch_epoch, {len}");
        assert_eq!(results[3], want, "fit, {len}");
        assert!(results[0].is_ok() && results[1].is_ok() && results[4].is_ok());
    }
    let mut rows = [0u8; 9];
    assert_eq!(
        stratified_split(&y, 0.3, &mut SplitMix64::new(1), &mut rows).unwrap_err(),
        Error::IndexBufferLength {
            expected: 10,
            found: 9
        }
    );
}

#[test]
fn an_index_out_of_range() {
    let (x, y) = (features(10), labels(10));
    let data = DataSet::new(&x, &y).unwrap();
    // An order with a position past the end, at the end of the buffer.
    let order = [0u16, 1, 2, 3, 4, 5, 6, 7, 8, 10];
    let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    let (mut net, mut opt) = (net(), adam());
    let (net0, opt0) = (net.clone(), opt.clone());
    assert_eq!(
        trainer
            .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)
            .unwrap_err(),
        Error::IndexOutOfRange { index: 10, len: 10 }
    );
    assert_eq!((net, opt), (net0.clone(), opt0));
    assert_eq!(
        data.subset(&[3u8, 10]).unwrap_err(),
        Error::IndexOutOfRange { index: 10, len: 10 }
    );
    // An index type too small for the data set: 300 samples need more than u8.
    let (x, y) = (features(300), labels(300));
    let big = DataSet::new(&x, &y).unwrap();
    let mut order = [0u8; 300];
    let (mut net, mut opt) = (net0.clone(), adam());
    let mut rng = SplitMix64::new(1);
    let plan = Fit::new(&big, &mut order, &mut rng);
    let e = trainer
        .fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert_eq!(
        e,
        Error::IndexOutOfRange {
            index: 299,
            len: 256
        }
    );
    assert_eq!(net, net0);
    let mut rows = [0u8; 300];
    assert!(stratified_split(&y, 0.3, &mut SplitMix64::new(1), &mut rows).is_err());
}

#[test]
fn a_nan_or_infinite_sample_is_rejected() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = features(10);
        x[8][1] = bad;
        let y = labels(10);
        let data = DataSet::new(&x, &y).unwrap();
        let mut order = [0u16; 10];
        let results = all_entry_points(&data, &mut order, NonFinite::Reject);
        let want = Err(Error::NonFiniteSample { index: 8 });
        assert!(results.iter().all(|r| *r == want), "{bad}: {results:?}");
    }
    // In a target row too.
    let x = features(6);
    let mut t: Vec<[f32; 3]> = vec![[0.0, 1.0, 0.0]; 6];
    t[5][2] = f32::NAN;
    let data = DataSet::new(&x, &t).unwrap();
    let mut trainer = Trainer::<f32, 2, 4, Net, SMatrix<f32, 3, 4>>::new();
    let (mut net, mut opt) = (net(), adam());
    let (net0, opt0) = (net.clone(), opt.clone());
    assert_eq!(
        trainer
            .batch_epoch(&mut net, &mut opt, &Mse, &data)
            .unwrap_err(),
        Error::NonFiniteSample { index: 5 }
    );
    assert_eq!((net, opt), (net0, opt0));
    assert_eq!(
        Error::NonFiniteSample { index: 5 }.to_string(),
        "sample 5 has a NaN or infinite value"
    );
}

#[test]
fn a_nan_sample_is_skipped_when_so_configured() {
    let (mut x, y) = (features(12), labels(12));
    x[3][0] = f32::NAN;
    x[10][1] = f32::INFINITY;
    let data = DataSet::new(&x, &y).unwrap();
    let mut order = [0u16; 12];
    let results = all_entry_points(&data, &mut order, NonFinite::Skip);
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    // Skipping is exactly training on the data set without those samples.
    let keep: Vec<usize> = (0..12).filter(|&i| i != 3 && i != 10).collect();
    let clean_x: Vec<[f32; 2]> = keep.iter().map(|&i| x[i]).collect();
    let clean_y: Vec<u8> = keep.iter().map(|&i| y[i]).collect();
    let clean = DataSet::new(&clean_x, &clean_y).unwrap();
    let mut skipping = Trainer::<f32, 2, 4, Net>::new().with_non_finite(NonFinite::Skip);
    let mut plain = Trainer::<f32, 2, 4, Net>::new();
    let (mut a, mut b) = (net(), net());
    let (mut oa, mut ob) = (adam(), adam());
    let ea: EpochLoss<f32> = skipping
        .batch_epoch(&mut a, &mut oa, &CrossEntropy, &data)
        .unwrap();
    let eb = plain
        .batch_epoch(&mut b, &mut ob, &CrossEntropy, &clean)
        .unwrap();
    assert_eq!((ea.samples, ea.skipped), (10, 2));
    assert_eq!(ea.loss, eb.loss);
    assert_eq!(a, b);
    let order: Vec<u16> = (0..12).collect();
    let e = skipping
        .minibatch_epoch(&mut a, &mut oa, &CrossEntropy, &data, &order)
        .unwrap();
    assert_eq!((e.samples, e.skipped, e.steps), (10, 2, 3));
    let m = evaluate(&a, &CrossEntropy, &data, NonFinite::Skip, None).unwrap();
    assert_eq!((m.samples, m.skipped), (10, 2));

    // Nothing left after skipping: an empty data set.
    let all_nan = vec![[f32::NAN, 0.0]; 3];
    let data = DataSet::new(&all_nan, &y[..3]).unwrap();
    let mut order = [0u16; 3];
    let results = all_entry_points(&data, &mut order, NonFinite::Skip);
    assert!(
        results.iter().all(|r| *r == Err(Error::EmptyDataSet)),
        "{results:?}"
    );
}

#[test]
fn invalid_stopping_rules_and_split_fractions() {
    let (x, y) = (features(10), labels(10));
    let data = DataSet::new(&x, &y).unwrap();
    let mut trainer = Trainer::<f32, 2, 4, Net>::new();
    type Plan<'a> = Fit<'a, f32, DataSet<'a, f32, 2, u8>, u16, SplitMix64, Net>;
    type Configure = for<'a> fn(Plan<'a>) -> Plan<'a>;
    let cases: [(&str, Configure); 5] = [
        ("max_epochs must be >= 1", |p| p.max_epochs(0)),
        ("patience must be >= 1", |p| p.patience(0)),
        ("min_delta must be finite and >= 0", |p| p.min_delta(-1.0)),
        ("min_delta must be finite and >= 0", |p| {
            p.min_delta(f32::NAN)
        }),
        ("target_loss must be finite", |p| p.target_loss(f32::NAN)),
    ];
    for (message, configure) in cases {
        let (mut net, mut opt) = (net(), adam());
        let (net0, opt0) = (net.clone(), opt.clone());
        let mut order = [0u16; 10];
        let mut rng = SplitMix64::new(1);
        let plan = configure(Fit::new(&data, &mut order, &mut rng));
        let e = trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert_eq!(e, Error::InvalidHyperparameter(message));
        assert_eq!((net, opt), (net0, opt0));
    }
    let mut rows = [0u8; 10];
    for fraction in [-0.1, 1.5, f32::NAN] {
        assert!(matches!(
            stratified_split(&y, fraction, &mut SplitMix64::new(1), &mut rows),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
}
