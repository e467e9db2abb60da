//! The exact semantics of the three forms of gradient descent: batch GD's gradient is the mean
//! of the per-sample gradients, chunking does not change it, mini-batch with B = N is batch GD,
//! a masked partial batch is the mean over its samples, SGD is one step per sample; shuffling
//! and splitting; the stopping rules of `fit`; evaluation in inference mode.

use std::ops::ControlFlow;

use rand_core::RngCore;
use tinyprop::data::{sequence, shuffle, stratified_split, stratified_split_rows, DataSet};
use tinyprop::metrics::{evaluate, ConfusionMatrix};
use tinyprop::prelude::*;
use tinyprop::train::{Epoch, EpochLoss, Fit, History, Stop, Trainer};

type Net = (Dense<f64, 3, 5>, Tanh, Dense<f64, 5, 4>);
const N: usize = 13;

fn features(n: usize, seed: u64) -> Vec<[f64; 3]> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| std::array::from_fn(|_| 2.0 * tinyprop::rng::unit_f64(&mut rng) - 1.0))
        .collect()
}

fn labels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 4) as u8).collect()
}

fn rows(n: usize, seed: u64) -> Vec<[f64; 4]> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| std::array::from_fn(|_| tinyprop::rng::unit_f64(&mut rng)))
        .collect()
}

fn net(seed: u64) -> Net {
    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(seed));
    net
}

fn flat<P: Parameters<f64>>(p: &P) -> Vec<f64> {
    p.tensors().flatten().copied().collect()
}

fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// Loss and gradient of one sample, computed with batch size 1 and no tinyprop::train code.
fn sample_grad<Y, L>(net: &Net, x: &[f64; 3], loss: &L, target: &Y) -> (f64, Vec<f64>)
where
    L: Loss<f64, SMatrix<f64, 4, 1>, Y>,
{
    let mut net = net.clone();
    let x = SMatrix::<f64, 3, 1>::from_column_slice(x);
    let mut ws = Workspace::<f64, SMatrix<f64, 3, 1>, Net>::new();
    let y = net.forward_train(&x, &mut ws.cache);
    let l = loss.loss_and_grad(y, target, &mut ws.dy).unwrap();
    net.backward(&x, &mut ws.cache, &mut ws.dy, None, Some(&mut ws.grads));
    (l, flat(&ws.grads))
}

/// The mean over the samples of (loss, gradient), one sample at a time.
fn mean_of_samples<Y, L>(net: &Net, xs: &[[f64; 3]], loss: &L, targets: &[Y]) -> (f64, Vec<f64>)
where
    L: Loss<f64, SMatrix<f64, 4, 1>, Y>,
{
    let mut sum = vec![0.0; <Net as Parameters<f64>>::COUNT];
    let mut loss_sum = 0.0;
    for (x, t) in xs.iter().zip(targets) {
        let (l, g) = sample_grad(net, x, loss, t);
        loss_sum += l;
        for (s, gi) in sum.iter_mut().zip(g) {
            *s += gi;
        }
    }
    let n = xs.len() as f64;
    (loss_sum / n, sum.into_iter().map(|s| s / n).collect())
}

fn batch_gradient<const B: usize>(
    net: &Net,
    data: &DataSet<'_, f64, 3, u8>,
) -> (EpochLoss<f64>, Vec<f64>) {
    let mut trainer = Trainer::<f64, 3, B, Net>::new();
    let mut net = net.clone();
    let before = flat(&net);
    let epoch = trainer.gradient(&mut net, &CrossEntropy, data).unwrap();
    assert_eq!(flat(&net), before, "gradient() takes no step");
    (epoch, flat(&trainer.ws.grads))
}

#[test]
fn batch_gradient_is_the_mean_of_per_sample_gradients() {
    let (x, y) = (features(N, 1), labels(N));
    let data = DataSet::new(&x, &y).unwrap();
    let net = net(2);
    let one_hot: Vec<[usize; 1]> = y.iter().map(|&l| [usize::from(l)]).collect();
    let (want_loss, want) = mean_of_samples(&net, &x, &CrossEntropy, &one_hot);
    // Chunks of 4: 4 + 4 + 4 + a masked chunk of 1.
    let (epoch, got) = batch_gradient::<4>(&net, &data);
    assert_close("gradient", &got, &want, 1e-13);
    assert!((epoch.loss - want_loss).abs() < 1e-13);
    assert_eq!((epoch.samples, epoch.skipped, epoch.steps), (N, 0, 0));
}

#[test]
fn batch_gradient_of_target_rows_is_the_mean_of_per_sample_gradients() {
    // Mse with target rows: the masked columns must not count for a matrix target either.
    let (x, t) = (features(N, 3), rows(N, 4));
    let data = DataSet::new(&x, &t).unwrap();
    let net = net(5);
    let targets: Vec<SMatrix<f64, 4, 1>> =
        t.iter().map(|r| SMatrix::from_column_slice(r)).collect();
    for loss in [0, 1] {
        let (want_loss, want) = if loss == 0 {
            mean_of_samples(&net, &x, &Mse, &targets)
        } else {
            mean_of_samples(&net, &x, &BceWithLogits, &targets)
        };
        let mut trainer = Trainer::<f64, 3, 5, Net, SMatrix<f64, 4, 5>>::new();
        let mut m = net.clone();
        let epoch = if loss == 0 {
            trainer.gradient(&mut m, &Mse, &data).unwrap()
        } else {
            trainer.gradient(&mut m, &BceWithLogits, &data).unwrap()
        };
        assert_close("gradient", &flat(&trainer.ws.grads), &want, 1e-13);
        assert!((epoch.loss - want_loss).abs() < 1e-13);
    }
}

#[test]
fn chunked_accumulation_equals_unchunked() {
    let (x, y) = (features(N, 6), labels(N));
    let data = DataSet::new(&x, &y).unwrap();
    let net = net(7);
    let (whole, g_whole) = batch_gradient::<N>(&net, &data);
    for (name, (epoch, g)) in [
        ("chunks of 1", batch_gradient::<1>(&net, &data)),
        ("chunks of 4", batch_gradient::<4>(&net, &data)),
        ("chunks of 5", batch_gradient::<5>(&net, &data)),
        ("one masked chunk of 16", batch_gradient::<16>(&net, &data)),
    ] {
        assert_close(name, &g, &g_whole, 1e-13);
        assert!((epoch.loss - whole.loss).abs() < 1e-13, "{name}");
    }
}

#[test]
fn minibatch_with_b_equal_to_n_is_batch_gradient_descent() {
    let (x, y) = (features(N, 8), labels(N));
    let data = DataSet::new(&x, &y).unwrap();
    let start = net(9);
    let mut order = [0u8; N];
    sequence(&mut order).unwrap();
    shuffle(&mut order, &mut SplitMix64::new(1)); // order does not matter for B = N

    let mut batch_net = start.clone();
    let mut opt = Sgd::new(0.3).unwrap();
    let mut chunked = Trainer::<f64, 3, 4, Net>::new();
    let mut minibatch_net = start.clone();
    let mut opt2 = Sgd::new(0.3).unwrap();
    let mut whole = Trainer::<f64, 3, N, Net>::new();
    for _ in 0..3 {
        let a = chunked
            .batch_epoch(&mut batch_net, &mut opt, &CrossEntropy, &data)
            .unwrap();
        let b = whole
            .minibatch_epoch(&mut minibatch_net, &mut opt2, &CrossEntropy, &data, &order)
            .unwrap();
        assert_eq!((a.steps, b.steps), (1, 1));
        assert!((a.loss - b.loss).abs() < 1e-13);
    }
    assert_close("weights", &flat(&batch_net), &flat(&minibatch_net), 1e-13);
    assert_ne!(flat(&batch_net), flat(&start));

    // The same with Descent::Batch / Descent::MiniBatch through `epoch`.
    let (mut a, mut b) = (start.clone(), start.clone());
    let (mut oa, mut ob) = (Sgd::new(0.3).unwrap(), Sgd::new(0.3).unwrap());
    chunked
        .epoch(
            Descent::Batch,
            &mut a,
            &mut oa,
            &CrossEntropy,
            &data,
            &order,
        )
        .unwrap();
    whole
        .epoch(
            Descent::MiniBatch,
            &mut b,
            &mut ob,
            &CrossEntropy,
            &data,
            &order,
        )
        .unwrap();
    assert_close("epoch()", &flat(&a), &flat(&b), 1e-13);
}

#[test]
fn the_last_partial_batch_is_masked_to_the_mean_over_its_samples() {
    // 6 samples in batches of 4: a full batch, then a batch of 2 masked in a buffer of 4.
    let (x, y) = (features(6, 10), labels(6));
    let data = DataSet::new(&x, &y).unwrap();
    let order = [5u16, 1, 3, 0, 2, 4];
    let start = net(11);

    let mut net = start.clone();
    let mut opt = Sgd::new(0.5).unwrap();
    let mut trainer = Trainer::<f64, 3, 4, Net>::new();
    let epoch = trainer
        .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)
        .unwrap();
    assert_eq!((epoch.steps, epoch.samples), (2, 6));

    // By hand: train_step on the 4 samples, then on the 2 samples as a batch of 2.
    let mut want = start.clone();
    let mut opt = Sgd::new(0.5).unwrap();
    let batch = |idx: &[u16]| -> Vec<f64> { idx.iter().flat_map(|&i| x[i as usize]).collect() };
    let label = |i: u16| usize::from(y[i as usize]);
    let x4 = SMatrix::<f64, 3, 4>::from_column_slice(&batch(&order[..4]));
    let t4 = [label(5), label(1), label(3), label(0)];
    let l4 = train_step(
        &mut want,
        &mut opt,
        &CrossEntropy,
        &x4,
        &t4,
        &mut Workspace::new(),
    )
    .unwrap();
    let x2 = SMatrix::<f64, 3, 2>::from_column_slice(&batch(&order[4..]));
    let l2 = train_step(
        &mut want,
        &mut opt,
        &CrossEntropy,
        &x2,
        &[label(2), label(4)],
        &mut Workspace::new(),
    )
    .unwrap();
    assert_close("weights", &flat(&net), &flat(&want), 1e-14);
    assert!((epoch.loss - (4.0 * l4 + 2.0 * l2) / 6.0).abs() < 1e-14);
    // The unused columns of the buffer are zero after the masked batch.
    assert!(trainer.x.column(2).iter().all(|&v| v == 0.0));
    assert!(trainer.x.column(3).iter().all(|&v| v == 0.0));
}

#[test]
fn the_last_partial_batch_is_dropped_when_so_configured() {
    let (x, y) = (features(6, 10), labels(6));
    let data = DataSet::new(&x, &y).unwrap();
    let order = [5u16, 1, 3, 0, 2, 4];
    let start = net(11);
    let mut net = start.clone();
    let mut opt = Sgd::new(0.5).unwrap();
    let mut trainer = Trainer::<f64, 3, 4, Net>::new().with_drop_last(true);
    let epoch = trainer
        .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)
        .unwrap();
    assert_eq!((epoch.steps, epoch.samples), (1, 4));

    let mut want = start.clone();
    let mut opt = Sgd::new(0.5).unwrap();
    let x4: Vec<f64> = order[..4].iter().flat_map(|&i| x[i as usize]).collect();
    let t4: [usize; 4] = std::array::from_fn(|j| usize::from(y[order[j] as usize]));
    let l4 = train_step(
        &mut want,
        &mut opt,
        &CrossEntropy,
        &SMatrix::<f64, 3, 4>::from_column_slice(&x4),
        &t4,
        &mut Workspace::new(),
    )
    .unwrap();
    assert_eq!(flat(&net), flat(&want));
    assert_eq!(epoch.loss, l4);

    // Fewer samples than one batch: nothing to train on.
    let mut small = Trainer::<f64, 3, 8, Net>::new().with_drop_last(true);
    let mut opt = Sgd::new(0.5).unwrap();
    assert_eq!(
        small
            .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)
            .unwrap_err(),
        Error::EmptyDataSet
    );
}

#[test]
fn stochastic_gradient_descent_is_one_step_per_sample() {
    let (x, y) = (features(N, 12), labels(N));
    let data = DataSet::new(&x, &y).unwrap();
    let mut order = [0usize; N];
    sequence(&mut order).unwrap();
    shuffle(&mut order, &mut SplitMix64::new(2));
    let start = net(13);

    let mut net = start.clone();
    let mut opt = Sgd::new(0.1).unwrap();
    let mut trainer = Trainer::<f64, 3, 1, Net>::new();
    let epoch = trainer
        .minibatch_epoch(&mut net, &mut opt, &CrossEntropy, &data, &order)
        .unwrap();
    assert_eq!(epoch.steps, N);

    let mut want = start.clone();
    let mut opt = Sgd::new(0.1).unwrap();
    let mut ws = Workspace::new();
    let mut loss = 0.0;
    for &i in &order {
        let xi = SMatrix::<f64, 3, 1>::from_column_slice(&x[i]);
        loss += train_step(
            &mut want,
            &mut opt,
            &CrossEntropy,
            &xi,
            &[usize::from(y[i])],
            &mut ws,
        )
        .unwrap();
    }
    assert_close("weights", &flat(&net), &flat(&want), 1e-14);
    assert!((epoch.loss - loss / N as f64).abs() < 1e-14);
}

#[test]
fn shuffling_is_a_seeded_deterministic_permutation() {
    let mut a = [0u16; 100];
    sequence(&mut a).unwrap();
    let mut b = a;
    shuffle(&mut a, &mut SplitMix64::new(42));
    shuffle(&mut b, &mut SplitMix64::new(42));
    assert_eq!(a, b, "same seed, same permutation");
    let mut sorted = a;
    sorted.sort();
    assert!(sorted.iter().enumerate().all(|(i, &v)| v as usize == i));
    assert_ne!(a, sorted, "it moved something");
    let mut c = sorted;
    shuffle(&mut c, &mut SplitMix64::new(43));
    assert_ne!(a, c, "another seed, another permutation");

    // Known output: fixed forever, so a firmware run can be compared with a host run. The
    // expected permutations are literal values (checked against an independent implementation
    // of SplitMix64, Lemire's bounded draw and Fisher–Yates from the last element down), so a
    // change of the generator, of the draw or of the shuffle fails here.
    assert_eq!(
        SplitMix64::new(0).next_u64(),
        0xE220_A839_7B1D_CDAF,
        "SplitMix64's reference first output for seed 0"
    );
    let mut small = [0u8, 1, 2, 3, 4, 5, 6, 7];
    shuffle(&mut small, &mut SplitMix64::new(0));
    assert_eq!(small, [1, 2, 6, 5, 4, 0, 3, 7]);
    assert_eq!(
        a,
        [
            34, 12, 62, 38, 88, 83, 14, 94, 73, 29, 61, 64, 48, 77, 95, 35, 60, 97, 13, 0, 32, 6,
            50, 2, 25, 92, 22, 53, 19, 51, 59, 28, 39, 96, 21, 11, 40, 65, 90, 10, 86, 36, 23, 30,
            69, 1, 68, 66, 58, 89, 70, 26, 81, 63, 84, 37, 71, 98, 9, 91, 75, 79, 16, 4, 24, 42,
            52, 44, 72, 80, 49, 67, 85, 54, 93, 78, 47, 46, 5, 76, 55, 7, 41, 8, 17, 57, 87, 45,
            43, 18, 56, 31, 99, 20, 82, 3, 33, 27, 15, 74
        ],
        "0..100 shuffled with SplitMix64::new(42)"
    );

    // Every permutation of 3 is about equally likely (6000 draws, 1000 expected each).
    let mut rng = SplitMix64::new(7);
    let mut counts = std::collections::HashMap::new();
    for _ in 0..6000 {
        let mut p = [0u8, 1, 2];
        shuffle(&mut p, &mut rng);
        *counts.entry(p).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 6);
    assert!(
        counts.values().all(|&c| (850..1150).contains(&c)),
        "{counts:?}"
    );
    // Empty and single slices are fine.
    shuffle(&mut [0u8; 0], &mut rng);
    shuffle(&mut [5u8], &mut rng);
}

#[test]
fn stratified_split_is_stratified_disjoint_complete_and_deterministic() {
    // Iris-like: 3 classes of 50, interleaved.
    let labels: Vec<u8> = (0..150).map(|i| (i % 3) as u8).collect();
    let split = |seed| {
        let mut rows = vec![0u16; 150];
        let (train, val) =
            stratified_split(&labels, 0.3, &mut SplitMix64::new(seed), &mut rows).unwrap();
        (train.to_vec(), val.to_vec())
    };
    let (train, val) = split(1);
    assert_eq!((train.len(), val.len()), (105, 45));
    for class in 0..3u8 {
        let count = |rows: &[u16]| {
            rows.iter()
                .filter(|&&r| labels[r as usize] == class)
                .count()
        };
        assert_eq!((count(&train), count(&val)), (35, 15), "class {class}");
    }
    let mut all: Vec<u16> = train.iter().chain(&val).copied().collect();
    all.sort();
    assert_eq!(all, (0..150).collect::<Vec<u16>>(), "disjoint and complete");
    // Sorted by class, then position, in each part.
    let key = |&r: &u16| (labels[r as usize], r);
    assert!(train.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    assert!(val.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    assert_eq!(split(1), split(1), "same seed, same split");
    assert_ne!(split(1).1, split(2).1, "another seed, another split");

    // Splitting the training part again keeps it stratified and inside it.
    let mut rows = vec![0u16; 150];
    let mut rng = SplitMix64::new(3);
    let (rest, test) = stratified_split(&labels, 0.3, &mut rng, &mut rows).unwrap();
    let test = test.to_vec();
    let (tr, va) = stratified_split_rows(&labels, rest, 0.2, &mut rng).unwrap();
    assert_eq!((tr.len(), va.len()), (84, 21));
    assert!(tr.iter().chain(va.iter()).all(|r| !test.contains(r)));
    for class in 0..3u8 {
        assert_eq!(
            va.iter().filter(|&&r| labels[r as usize] == class).count(),
            7
        );
    }
    // Fractions 0 and 1.
    let mut rows = vec![0u8; 150];
    let (tr, va) = stratified_split(&labels, 0.0, &mut rng, &mut rows).unwrap();
    assert_eq!((tr.len(), va.len()), (150, 0));
    let (tr, va) = stratified_split(&labels, 1.0, &mut rng, &mut rows).unwrap();
    assert_eq!((tr.len(), va.len()), (0, 150));
}

/// A tiny separable problem for the stopping rules.
fn blobs() -> (Vec<[f64; 3]>, Vec<u8>) {
    let x = features(24, 20);
    let y = x.iter().map(|r| u8::from(r[0] + r[1] > 0.0) * 2).collect();
    (x, y)
}

#[test]
fn patience_fires_when_the_validation_loss_stops_improving() {
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let mut net = net(21);
    let before = flat(&net);
    // lr 0: the validation loss never changes, so epoch 1 is the best and patience 3 stops
    // training at epoch 4.
    let mut opt = Sgd::new(0.0).unwrap();
    let mut trainer = Trainer::<f64, 3, 8, Net>::new();
    let mut order = [0u8; 24];
    let mut rng = SplitMix64::new(1);
    let mut seen = Vec::new();
    let plan = Fit::new(&data, &mut order, &mut rng)
        .validation(&data)
        .max_epochs(100)
        .patience(3);
    let report = trainer
        .fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
            seen.push((e.epoch, e.improved));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(report.stop, Stop::NoImprovement);
    assert_eq!(report.epochs, 4);
    assert_eq!(seen, [(1, true), (2, false), (3, false), (4, false)]);
    assert_eq!(report.best.epoch, 1);
    assert!(!report.restored);
    assert_eq!(flat(&net), before);
}

#[test]
fn min_delta_decides_what_counts_as_an_improvement() {
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let run = |min_delta: f64| {
        let mut net = net(22);
        let mut opt = Sgd::new(0.01).unwrap(); // slow: small improvements every epoch
        let mut trainer = Trainer::<f64, 3, 8, Net>::new();
        let mut order = [0u8; 24];
        let mut rng = SplitMix64::new(1);
        let plan = Fit::new(&data, &mut order, &mut rng)
            .validation(&data)
            .max_epochs(30)
            .patience(2)
            .min_delta(min_delta);
        trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
                ControlFlow::Continue(())
            })
            .unwrap()
    };
    assert_eq!(run(0.0).stop, Stop::MaxEpochs);
    let strict = run(1.0);
    assert_eq!((strict.stop, strict.epochs), (Stop::NoImprovement, 3));
}

#[test]
fn keep_best_restores_the_weights_of_the_best_epoch() {
    // The validation set has the opposite labels: training makes its loss worse from the
    // first epoch on, so the best epoch is epoch 1.
    let (x, y) = blobs();
    let flipped: Vec<u8> = y.iter().map(|&l| 2 - l).collect();
    let train = DataSet::new(&x, &y).unwrap();
    let validation = DataSet::new(&x, &flipped).unwrap();
    let run = |epochs: usize, keep: bool| {
        let mut net = net(23);
        let mut best = Net::default();
        let mut opt = Sgd::new(0.5).unwrap();
        let mut trainer = Trainer::<f64, 3, 8, Net>::new();
        let mut order = [0u8; 24];
        let mut rng = SplitMix64::new(4);
        let mut plan = Fit::new(&train, &mut order, &mut rng)
            .validation(&validation)
            .max_epochs(epochs)
            .patience(3);
        if keep {
            plan = plan.keep_best(&mut best);
        }
        let report = trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        (report, net)
    };
    let (report, net) = run(100, true);
    assert_eq!(report.stop, Stop::NoImprovement);
    assert_eq!((report.best.epoch, report.epochs), (1, 4));
    assert!(report.restored);
    let (_, after_one_epoch) = run(1, false);
    assert_eq!(flat(&net), flat(&after_one_epoch), "the weights of epoch 1");
    let (_, last) = run(100, false);
    assert_ne!(
        flat(&last),
        flat(&net),
        "without keep_best: the last weights"
    );
    // The restored model scores the best epoch's validation loss.
    let m = evaluate(&net, &CrossEntropy, &validation, Default::default(), None).unwrap();
    assert_eq!(Some(m), report.best.validation);
}

#[test]
fn target_loss_max_epochs_and_the_callback_stop_training() {
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let fit = |max_epochs: usize, target: Option<f64>, stop_at: usize| {
        let mut net = net(24);
        let mut opt = Sgd::new(0.5).unwrap();
        let mut trainer = Trainer::<f64, 3, 4, Net>::new();
        let mut order = [0usize; 24];
        let mut rng = SplitMix64::new(5);
        let mut plan = Fit::new(&data, &mut order, &mut rng).max_epochs(max_epochs);
        if let Some(t) = target {
            plan = plan.target_loss(t);
        }
        let mut losses = Vec::new();
        let report = trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
                losses.push(e.train.loss);
                if e.epoch == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        (report, losses)
    };
    let (report, losses) = fit(7, None, 0);
    assert_eq!(
        (report.stop, report.epochs, losses.len()),
        (Stop::MaxEpochs, 7, 7)
    );
    let (report, losses) = fit(1000, None, 5);
    assert_eq!(
        (report.stop, report.epochs, losses.len()),
        (Stop::Callback, 5, 5)
    );
    let (report, losses) = fit(1000, Some(0.1), 0);
    assert_eq!(report.stop, Stop::TargetLoss);
    assert!(report.last.train.loss <= 0.1);
    assert!(losses[..losses.len() - 1].iter().all(|&l| l > 0.1));
    assert_eq!(report.epochs, losses.len());
}

#[test]
fn fit_is_deterministic_and_records_a_history() {
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let run = || {
        let mut net = net(25);
        let mut opt = Sgd::new(0.2).unwrap();
        let mut trainer = Trainer::<f64, 3, 5, Net>::new();
        let mut order = [7u16; 24]; // any content: fit refills it
        let mut rng = SplitMix64::new(6);
        let mut history = History::<f64, 4>::new();
        let plan = Fit::new(&data, &mut order, &mut rng)
            .validation(&data)
            .max_epochs(10);
        trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |e: &Epoch<f64>| {
                history.record(e);
                ControlFlow::Continue(())
            })
            .unwrap();
        (flat(&net), history.iter().copied().collect::<Vec<_>>())
    };
    let (a, ha) = run();
    let (b, hb) = run();
    assert_eq!(a, b);
    assert_eq!(ha, hb);
    // The last 4 of 10 epochs, oldest first.
    assert_eq!(
        ha.iter().map(|p| p.epoch).collect::<Vec<_>>(),
        [7, 8, 9, 10]
    );
    assert!(ha.iter().all(|p| p.validation_loss.is_some()));
    assert!(ha.iter().all(|p| p.validation_accuracy.is_some()));
}

#[test]
fn evaluation_runs_in_inference_mode() {
    // Dropout is the identity in inference mode: the model with dropout scores exactly like
    // the one without, every time.
    type WithDropout = (Dense<f64, 3, 5>, Tanh, Dropout<f64>, Dense<f64, 5, 4>);
    let plain = net(26);
    let with = (
        plain.0.clone(),
        Tanh,
        Dropout::new(0.5, SplitMix64::new(1)).unwrap(),
        plain.2.clone(),
    );
    let _: &WithDropout = &with;
    let (x, y) = (features(N, 27), labels(N));
    let data = DataSet::new(&x, &y).unwrap();
    let mut c1 = ConfusionMatrix::<4>::new();
    let mut c2 = ConfusionMatrix::<4>::new();
    let a = evaluate(
        &plain,
        &CrossEntropy,
        &data,
        Default::default(),
        Some(&mut c1),
    )
    .unwrap();
    let b = evaluate(
        &with,
        &CrossEntropy,
        &data,
        Default::default(),
        Some(&mut c2),
    )
    .unwrap();
    let b2 = evaluate(&with, &CrossEntropy, &data, Default::default(), None).unwrap();
    assert_eq!(a, b);
    assert_eq!(b, b2);
    assert_eq!(c1, c2);
    assert_eq!(c1.total(), N as u64);
    assert_eq!(c1.correct(), a.correct.unwrap() as u64);
    // The loss is the mean of the per-sample losses.
    let one_hot: Vec<[usize; 1]> = y.iter().map(|&l| [usize::from(l)]).collect();
    let (want, _) = mean_of_samples(&plain, &x, &CrossEntropy, &one_hot);
    assert!((a.loss - want).abs() < 1e-13);
    // Rows have no classes: no accuracy.
    let t = rows(N, 28);
    let regression = DataSet::new(&x, &t).unwrap();
    let m = evaluate(&plain, &Mse, &regression, Default::default(), None).unwrap();
    assert_eq!((m.correct, m.accuracy(), m.samples), (None, None, N));
    assert!(data.len() == regression.len());
}

/// Frozen layers do not move: not with weight decay (which moves weights whose gradient is
/// zero), not their running statistics; the layers around them train; the memory saved is
/// exactly the frozen parameters' gradients and optimizer state.
#[test]
fn frozen_layers_do_not_move() {
    type Head = (Dense<f32, 4, 8>, BatchNorm<f32, 8>, Relu);
    type Net = (Frozen<Head>, Dense<f32, 8, 3>);
    let mut net: Net = Default::default();
    net.0 .0 .0.init(Init::HeUniform, &mut SplitMix64::new(1));
    net.0 .0 .1.running_mean = SVector::from_element(0.25);
    net.1.init(Init::HeUniform, &mut SplitMix64::new(2));
    let frozen = net.0.clone();
    let last = net.1.clone();
    let mut opt = AdamW::new(AdamWConfig {
        lr: 0.01,
        weight_decay: 0.5,
        ..Default::default()
    })
    .unwrap();
    let mut ws = Workspace::<f32, SMatrix<f32, 4, 4>, Net>::new();
    let mut rng = SplitMix64::new(3);
    for _ in 0..20 {
        let x = SMatrix::<f32, 4, 4>::from_fn(|_, _| tinyprop::rng::unit_f32(&mut rng));
        train_step(
            &mut net,
            &mut opt,
            &CrossEntropy,
            &x,
            &[0, 1, 2, 1],
            &mut ws,
        )
        .unwrap();
    }
    assert_eq!(
        net.0, frozen,
        "weights, running statistics and batch count unchanged"
    );
    assert_ne!(net.1, last, "the last layer trained");

    // Memory: the gradients and Adam's two buffers exist for the last layer only.
    use std::mem::size_of;
    type Open = (Head, Dense<f32, 8, 3>);
    type Grads<M> = <M as Model<f32>>::Grads;
    // The dense layer's size is a multiple of its alignment: 64 bytes in builds with AVX.
    let line = core::mem::align_of::<Dense<f32, 4, 8>>();
    let head_params = ((4 * 8 + 8) * 4usize).next_multiple_of(line) + 2 * 8 * 4;
    assert_eq!(
        size_of::<Grads<Open>>() - size_of::<Grads<Net>>(),
        head_params
    );
    assert_eq!(
        Adam::<f32, Grads<Open>>::STATE_BYTES - Adam::<f32, Grads<Net>>::STATE_BYTES,
        2 * head_params
    );
    type X = SMatrix<f32, 4, 4>;
    type OptOf<M> = Adam<f32, Grads<M>>;
    // The workspace's copy of the buffers shrinks too: a frozen BatchNorm's statistics are
    // constants.
    let saved = (2 * 8 + 1) * 4;
    let shrink = tinyprop::memory::training_bytes::<f32, X, Open, OptOf<Open>>()
        - tinyprop::memory::training_bytes::<f32, X, Net, OptOf<Net>>();
    if line == 4 {
        assert_eq!(shrink, 3 * head_params + saved);
    } else {
        // The workspace is padded to a multiple of 64 bytes, which may hide part of `saved`.
        assert!(shrink.abs_diff(3 * head_params + saved) < line, "{shrink}");
    }
}

/// `Normalize` fitted like scikit-learn's `StandardScaler` and `MinMaxScaler`: the training
/// features come out with mean 0 and (population) variance 1, or in `[0, 1]`; a constant
/// feature is shifted, not divided by zero; the scaler is not trained, and is saved with the
/// model.
#[test]
fn feature_scaling_fits_like_scikit_learn() {
    let x: Vec<[f64; 3]> = (0..50)
        .map(|i| {
            let i = i as f64;
            [1000.0 + 37.0 * (i * 0.7).sin(), -0.001 * i, 5.0]
        })
        .collect();
    let y = vec![0u8; 50];
    let data = DataSet::new(&x, &y).unwrap();
    let s = Normalize::standardize(&data).unwrap();
    let scaled: Vec<[f64; 3]> = x.iter().map(|r| s.apply(r)).collect();
    for j in 0..2 {
        let mean = scaled.iter().map(|r| r[j]).sum::<f64>() / 50.0;
        let var = scaled.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / 50.0;
        assert!(
            mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
            "{j}: {mean} {var}"
        );
    }
    assert_eq!((s.offset[2], s.scale[2]), (5.0, 1.0), "constant feature");
    assert!(scaled.iter().all(|r| r[2] == 0.0));

    let m = Normalize::min_max(&data).unwrap();
    let scaled: Vec<[f64; 3]> = x.iter().map(|r| m.apply(r)).collect();
    for j in 0..2 {
        let lo = scaled.iter().map(|r| r[j]).fold(f64::INFINITY, f64::min);
        let hi = scaled
            .iter()
            .map(|r| r[j])
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            lo.abs() < 1e-15 && (hi - 1.0).abs() < 1e-12,
            "{j}: {lo} {hi}"
        );
    }
    // Fitted on part of the data (the training subset) without copying it.
    let rows = [0u8, 1, 2, 3];
    let part = data.subset(&rows).unwrap();
    let p = Normalize::standardize(&part).unwrap();
    assert!((p.offset[0] - x[..4].iter().map(|r| r[0]).sum::<f64>() / 4.0).abs() < 1e-9);

    // Bad data is refused.
    let mut bad = x.clone();
    bad[7][1] = f64::NAN;
    let bad = DataSet::new(&bad, &y).unwrap();
    assert_eq!(
        Normalize::standardize(&bad),
        Err(Error::NonFiniteSample { index: 7 })
    );

    // In a model: trained around, not trained itself, and saved as two buffers.
    type Net = (Normalize<f64, 3>, Dense<f64, 3, 2>);
    let mut net: Net = (s.clone(), Default::default());
    net.1.init(Init::HeUniform, &mut SplitMix64::new(1));
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut ws = Workspace::<f64, SMatrix<f64, 3, 2>, Net>::new();
    let batch = SMatrix::<f64, 3, 2>::from_fn(|i, j| x[j][i]);
    for _ in 0..5 {
        train_step(&mut net, &mut opt, &CrossEntropy, &batch, &[0, 1], &mut ws).unwrap();
    }
    assert_eq!(net.0, s);
    let mut names = Vec::new();
    use tinyprop::io::StateDict;
    net.for_each_tensor(|t, _| {
        names.push((t.name.to_string(), t.kind));
        Ok(())
    })
    .unwrap();
    use tinyprop::io::Kind;
    assert_eq!(
        names,
        [
            ("0.offset".to_string(), Kind::Buffer),
            ("0.scale".to_string(), Kind::Buffer),
            ("1.weight".to_string(), Kind::Parameter),
            ("1.bias".to_string(), Kind::Parameter)
        ]
    );
}

/// `fit`'s monitors: the validation accuracy (and best-weight restore by it), the training
/// loss despite a validation set, and a custom value; an accuracy monitor without class labels
/// is refused before training.
#[test]
fn fit_monitors_what_it_is_told() {
    use tinyprop::train::Monitor;
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let run = |monitor: Monitor<f64>, lr: f64| {
        let mut net = net(24);
        let mut best = Net::default();
        let mut opt = Sgd::new(lr).unwrap();
        let mut trainer = Trainer::<f64, 3, 8, Net>::new();
        let mut order = [0u8; 24];
        let mut rng = SplitMix64::new(1);
        let mut seen = Vec::new();
        let plan = Fit::new(&data, &mut order, &mut rng)
            .validation(&data)
            .max_epochs(40)
            .patience(3)
            .monitor(monitor)
            .keep_best(&mut best);
        let report = trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |e| {
                seen.push(*e);
                ControlFlow::Continue(())
            })
            .unwrap();
        (report, seen, net, best)
    };
    // Accuracy: an epoch improves when the accuracy rises, or stays the same with a lower
    // validation loss; the best epoch has the highest accuracy, and of those the lowest loss
    // reached while the accuracy was at the top.
    let (report, seen, net_after, best) = run(Monitor::ValidationAccuracy, 0.5);
    let accuracy = |e: &Epoch<f64>| e.validation.unwrap().accuracy().unwrap();
    let loss = |e: &Epoch<f64>| e.validation.unwrap().loss;
    let top = seen.iter().map(accuracy).fold(0.0, f64::max);
    assert_eq!(accuracy(&report.best), top);
    let mut best_so_far: Option<(f64, f64)> = None;
    let mut ties = 0;
    for e in &seen {
        let (a, l) = (accuracy(e), loss(e));
        let improved = match best_so_far {
            None => true,
            Some((ba, bl)) => {
                ties += usize::from(a == ba);
                a > ba || (a == ba && l < bl)
            }
        };
        assert_eq!(e.improved, improved, "epoch {}", e.epoch);
        if improved {
            best_so_far = Some((a, l));
        }
    }
    assert_eq!(best_so_far, Some((top, loss(&report.best))));
    assert!(ties > 0, "the case of equal accuracies is exercised");
    assert_eq!(net_after, best, "restored to the best epoch's weights");
    // A custom value, higher is better: the negated training loss behaves as TrainingLoss.
    let custom = Monitor::Custom {
        value: |e: &Epoch<f64>| Some(-e.train.loss),
        higher_is_better: true,
    };
    let (a, sa, ..) = run(custom, 0.05);
    let (b, sb, ..) = run(Monitor::TrainingLoss, 0.05);
    assert_eq!((a.best.epoch, a.epochs), (b.best.epoch, b.epochs));
    assert_eq!(
        sa.iter().map(|e| e.improved).collect::<Vec<_>>(),
        sb.iter().map(|e| e.improved).collect::<Vec<_>>()
    );
    // Accuracy needs class labels in a validation set.
    let rows = rows(24, 5);
    let regression = DataSet::new(&x, &rows).unwrap();
    let mut trainer = Trainer::<f64, 3, 8, Net, SMatrix<f64, 4, 8>>::new();
    let mut order = [0u8; 24];
    let mut rng = SplitMix64::new(1);
    let plan = Fit::new(&regression, &mut order, &mut rng)
        .validation(&regression)
        .monitor(Monitor::ValidationAccuracy);
    let mut n = net(25);
    let before = n.clone();
    let result = trainer.fit(&mut n, &mut Sgd::new(0.1).unwrap(), &Mse, plan, |_| {
        ControlFlow::Continue(())
    });
    assert!(matches!(result, Err(Error::InvalidHyperparameter(_))));
    assert_eq!(n, before);
}

/// Schedules, clipping and a step hook inside `fit`: the learning rate follows the schedule
/// per epoch or per step, every step's gradient is clipped before the hook sees it, and a
/// hook's error stops training without taking that step.
#[test]
fn fit_runs_schedules_clipping_and_step_hooks() {
    use tinyprop::optim::schedule::{Schedule, Step};
    use tinyprop::train::Every;
    let (x, y) = blobs();
    let data = DataSet::new(&x, &y).unwrap();
    let schedule = Step::new(0.4, 2, 0.5).unwrap();
    for every in [Every::Epoch, Every::Step] {
        let mut net = net(26);
        let mut opt = Sgd::new(1.0).unwrap();
        let mut trainer = Trainer::<f64, 3, 8, Net>::new();
        let mut order = [0u8; 24];
        let mut rng = SplitMix64::new(1);
        let mut norms = Vec::new();
        let mut hook = |g: &mut <Net as Model<f64>>::Grads| {
            norms.push(tinyprop::optim::grad_norm(g, Norm::L2)?);
            Ok(())
        };
        let plan = Fit::new(&data, &mut order, &mut rng)
            .max_epochs(5)
            .clip(Clip::Norm {
                max: 0.25,
                norm: Norm::L2,
            })
            .schedule(&schedule, every)
            .before_step(&mut hook);
        trainer
            .fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        // 3 steps per epoch (24 samples, batches of 8), 15 in all, every one clipped.
        assert_eq!(norms.len(), 15);
        assert!(norms.iter().all(|&n| n <= 0.25 + 1e-9), "{norms:?}");
        let last_t = match every {
            Every::Epoch => 4,
            Every::Step => 14,
        };
        assert_eq!(opt.learning_rate(), schedule.lr(last_t), "{every:?}");
    }

    // A hook that fails on the 4th step: training stops with its error after 3 steps.
    let mut net = net(27);
    let mut opt = Sgd::new(0.1).unwrap();
    let mut trainer = Trainer::<f64, 3, 8, Net>::new();
    let mut order = [0u8; 24];
    let mut rng = SplitMix64::new(1);
    let mut calls = 0;
    let mut snapshots = Vec::new();
    let mut hook = |_: &mut <Net as Model<f64>>::Grads| {
        calls += 1;
        if calls == 4 {
            return Err(Error::InvalidHyperparameter("stop"));
        }
        Ok(())
    };
    let plan = Fit::new(&data, &mut order, &mut rng)
        .max_epochs(5)
        .before_step(&mut hook);
    let result = trainer.fit(&mut net, &mut opt, &CrossEntropy, plan, |_| {
        snapshots.push(());
        ControlFlow::Continue(())
    });
    assert_eq!(result.unwrap_err(), Error::InvalidHyperparameter("stop"));
    assert_eq!(
        snapshots.len(),
        1,
        "one whole epoch, then the error in the second"
    );
}

/// A network of over a million parameters, its Adam state and its trainer (gradients and
/// caches) built on the heap with `tinyprop::heap`, then trained on this test's ordinary thread
/// (2 MiB of stack, less than the model alone): the loss falls and everything stays finite.
#[test]
fn a_million_parameters_train_on_the_heap() {
    use tinyprop::heap::{boxed, try_boxed};
    type Net = (
        Dense<f32, 784, 1024>,
        Relu,
        Dense<f32, 1024, 256>,
        Relu,
        Dense<f32, 256, 10>,
    );
    let params = tinyprop::memory::parameter_count::<f32, Net>();
    assert_eq!(params, 784 * 1024 + 1024 + 1024 * 256 + 256 + 256 * 10 + 10);
    assert!(params > 1_000_000 && std::mem::size_of::<Net>() > 4_000_000);

    let mut net = boxed(Net::default).unwrap();
    net.init(Init::HeUniform, &mut SplitMix64::new(3));
    let mut opt = try_boxed(|| {
        Adam::<f32, GradsOf<Net>>::new(AdamConfig {
            lr: 1e-3,
            ..Default::default()
        })
    })
    .unwrap();
    let mut trainer = boxed(Trainer::<f32, 784, 32, Net>::new).unwrap();

    let mut rng = SplitMix64::new(4);
    let features: Vec<[f32; 784]> = (0..64)
        .map(|_| std::array::from_fn(|_| tinyprop::rng::unit_f32(&mut rng)))
        .collect();
    let labels: Vec<u8> = (0..64).map(|i| (i % 10) as u8).collect();
    let data = DataSet::new(&features, &labels).unwrap();
    let order: Vec<u16> = (0..64).collect();
    let loss = |net: &Net| {
        evaluate(net, &CrossEntropy, &data, Default::default(), None)
            .unwrap()
            .loss
    };
    let before = loss(&net);
    for _ in 0..5 {
        trainer
            .epoch(
                Descent::MiniBatch,
                &mut net,
                &mut *opt,
                &CrossEntropy,
                &data,
                &order,
            )
            .unwrap();
    }
    let after = loss(&net);
    assert!(after < 0.5 * before, "loss {before} -> {after}");
    assert!(net.all_finite());
}
