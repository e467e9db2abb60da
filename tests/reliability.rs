//! The reliability contract, through the public API only: a step that returns `Err` changes
//! nothing (parameters, buffers such as running statistics and random state, optimizer state,
//! step counters); a step that returns `Ok` leaves all of them finite; nothing panics or hangs.
//!
//! First one regression test per way the contract was once broken, then a randomized test
//! that drives every optimizer through a model with running statistics and random state on
//! data with NaN, infinities, values up to `f32::MAX`, labels out of range, learning rates up
//! to `f32::MAX` and hooks that fail, checking the contract after every step.
//! `TINYPROP_CONTRACT_STEPS` sets its number of steps (default 20 000).

use crate::common;
use std::ops::ControlFlow;

use rand_core::RngCore;
use tinyprop::data::{shuffle, stratified_split, DataSet, NonFinite};
use tinyprop::init::{fill_normal, fill_uniform};
use tinyprop::metrics::{evaluate, predict};
use tinyprop::optim::{
    Adagrad, AdagradConfig, AdamW, AdamWConfig, RmsPropConfig, SgdConfig, SgdOptions,
};
use tinyprop::prelude::*;
use tinyprop::train::{Fit, Trainer};

/// A model with every kind of state: parameters, running statistics, a random generator.
type Net = (
    Dense<f32, 4, 8>,
    BatchNorm<f32, 8>,
    Dropout<f32>,
    Relu,
    Dense<f32, 8, 3>,
);
type Grads = <Net as Model<f32>>::Grads;
const B: usize = 4;
type Batch = SMatrix<f32, 4, B>;

fn net(seed: u64) -> Net {
    let mut net: Net = (
        Dense::default(),
        BatchNorm::default(),
        Dropout::new(0.25, SplitMix64::new(seed ^ 0x5EED)).unwrap(),
        Relu,
        Dense::default(),
    );
    net.init(Init::HeUniform, &mut SplitMix64::new(seed));
    net
}

fn batch(seed: u64) -> Batch {
    let mut rng = SplitMix64::new(seed);
    SMatrix::from_fn(|_, _| 4.0 * tinyprop::rng::unit_f32(&mut rng) - 2.0)
}

/// Everything about a value, NaN payloads and signs of zero included (`Debug` prints every
/// float exactly): model parameters and buffers, or an optimizer's configuration and state.
fn snapshot<V: std::fmt::Debug>(v: &V) -> String {
    format!("{v:?}")
}

/// The model's inference output on a fixed probe, bit for bit.
fn probe(net: &Net) -> Vec<u32> {
    let mut y = SMatrix::<f32, 3, B>::zeros();
    net.forward(&batch(999), &mut y);
    y.iter().map(|v| v.to_bits()).collect()
}

/// Parameters, running statistics: all finite.
fn model_finite(net: &Net) -> bool {
    net.all_finite() && net.buffers_finite()
}

/// Finding 1: a failed step used to run the training forward pass first, moving batch
/// normalisation's running statistics and advancing dropout's random state.
#[test]
fn failed_steps_change_no_buffers() {
    let mut model = net(1);
    let mut ws = Workspace::<f32, Batch, Net>::new();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let x = batch(2);
    let before = (snapshot(&model), probe(&model), snapshot(&opt));
    let mut nan = x;
    nan[(1, 2)] = f32::NAN;
    for i in 0..200 {
        let result = match i % 4 {
            // A label out of range.
            0 => train_step(
                &mut model,
                &mut opt,
                &CrossEntropy,
                &x,
                &[0, 1, 7, 2],
                &mut ws,
            ),
            // A NaN input.
            1 => train_step(
                &mut model,
                &mut opt,
                &CrossEntropy,
                &nan,
                &[0, 1, 2, 0],
                &mut ws,
            ),
            // A hook that fails.
            2 => train_step_with(
                &mut model,
                &mut opt,
                &CrossEntropy,
                &x,
                &[0, 1, 2, 0],
                &mut ws,
                |_| Err(Error::InvalidHyperparameter("no")),
            ),
            // An update that would overflow.
            _ => {
                let mut huge = Sgd::new(f32::MAX).unwrap();
                train_step(
                    &mut model,
                    &mut huge,
                    &CrossEntropy,
                    &x,
                    &[0, 1, 2, 0],
                    &mut ws,
                )
            }
        };
        assert!(result.is_err(), "step {i}");
        assert_eq!(
            (snapshot(&model), probe(&model), snapshot(&opt)),
            before,
            "step {i}"
        );
    }
    // The same model trains normally afterwards, and then the buffers do move.
    train_step(
        &mut model,
        &mut opt,
        &CrossEntropy,
        &x,
        &[0, 1, 2, 0],
        &mut ws,
    )
    .unwrap();
    assert_ne!(snapshot(&model.1), snapshot(&net(1).1));
    assert_ne!(snapshot(&model.2), snapshot(&net(1).2));
}

/// Finding 1, for whole epochs: batch gradient descent runs a training forward pass per chunk
/// before its one step; an error must put the buffers back.
#[test]
fn failed_batch_epoch_changes_nothing() {
    let x: Vec<[f32; 4]> = (0..10).map(|i| [i as f32, 1.0, -(i as f32), 0.5]).collect();
    let y: Vec<u8> = (0..10).map(|i| (i % 3) as u8).collect();
    let data = DataSet::new(&x, &y).unwrap();
    let mut model = net(3);
    let mut trainer = Trainer::<f32, 4, B, Net>::new();
    let mut opt = Sgd::new(f32::MAX).unwrap();
    let before = snapshot(&model);
    assert_eq!(
        trainer.batch_epoch(&mut model, &mut opt, &CrossEntropy, &data),
        Err(Error::Overflow)
    );
    assert_eq!(snapshot(&model), before);
    // gradient() takes no step; on an error its buffers are put back too.
    let bad_y: Vec<[f32; 3]> = (0..10).map(|_| [f32::MAX, -f32::MAX, 0.0]).collect();
    let bad = DataSet::new(&x, &bad_y).unwrap();
    let mut trainer = Trainer::<f32, 4, B, Net, SMatrix<f32, 3, B>>::new();
    assert!(trainer.gradient(&mut model, &Mse, &bad).is_err());
    assert_eq!(snapshot(&model), before);
}

/// Finding 2: finite but huge inputs or learning rates used to overflow the optimizers'
/// state or the weights while every step returned `Ok`.
#[test]
fn ok_steps_leave_everything_finite() {
    type Small = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
    let cases: [(f32, f32); 6] = [
        (1e30, 1e-3),
        (1.0, 1e37),
        (1e30, 1e37),
        (3e38, 1.0),
        (1.0, f32::MAX),
        (1e10, 1e37),
    ];
    for kind in 0..OPTIMIZERS {
        for (scale, lr) in cases {
            let mut model = Small::default();
            model.init(Init::HeUniform, &mut SplitMix64::new(5));
            let mut opt = Optim::<<Small as Model<f32>>::Grads>::new(kind, lr);
            let mut ws = Workspace::<f32, SMatrix<f32, 2, 2>, Small>::new();
            let x = SMatrix::<f32, 2, 2>::new(scale, -scale, 1.0, 0.5);
            let t = SMatrix::<f32, 1, 2>::new(1.0, -1.0);
            for step in 0..30 {
                let (m0, o0) = (snapshot(&model), opt.snapshot());
                let result = opt.train_step(&mut model, &Mse, &x, &t, &mut ws);
                let name = format!("{} scale {scale} lr {lr} step {step}", opt.name());
                match result {
                    Ok(loss) => {
                        assert!(loss.is_finite(), "{name}");
                        assert!(model.all_finite(), "{name}: weights {model:?}");
                        assert!(opt.state_finite(), "{name}: state");
                    }
                    Err(_) => {
                        assert_eq!(snapshot(&model), m0, "{name}");
                        assert_eq!(opt.snapshot(), o0, "{name}");
                    }
                }
            }
        }
    }
}

/// Finding 2, end to end: `fit` used to return `Ok` with non-finite weights, and `evaluate`
/// `Ok(NaN)`.
#[test]
fn fit_and_evaluate_never_return_non_finite_numbers() {
    type Small = (Dense<f32, 2, 8>, Relu, Dense<f32, 8, 2>);
    let x: Vec<[f32; 2]> = (0..40)
        .map(|i| [1e30 * (i as f32 - 20.0), (i % 3) as f32])
        .collect();
    let y: Vec<u8> = (0..40).map(|i| u8::from(i >= 20)).collect();
    let data = DataSet::new(&x, &y).unwrap();
    for lr in [1e37f32, 1e20, 1.0] {
        let mut model = Small::default();
        model.init(Init::HeUniform, &mut SplitMix64::new(2));
        let mut opt = Sgd::new(lr).unwrap();
        let mut trainer = Trainer::<f32, 2, 8, Small>::new();
        let mut order = [0u8; 40];
        let mut rng = SplitMix64::new(3);
        let plan = Fit::new(&data, &mut order, &mut rng).max_epochs(20);
        let result = trainer.fit(&mut model, &mut opt, &CrossEntropy, plan, |_| {
            ControlFlow::Continue(())
        });
        if let Ok(report) = result {
            assert!(report.last.train.loss.is_finite(), "lr {lr}");
        }
        assert!(model.all_finite(), "lr {lr}: {model:?}");
        if let Ok(m) = evaluate(&model, &CrossEntropy, &data, NonFinite::Reject, None) {
            assert!(m.loss.is_finite(), "lr {lr}");
        }
    }
}

/// Finding 4: ReLU used to map NaN to 0, so a NaN input gave a confident prediction, and
/// `predict` returned class 0 for NaN outputs.
#[test]
fn nan_is_not_a_prediction() {
    let mut relu_out = SMatrix::<f32, 3, 1>::zeros();
    Relu.forward(
        &SMatrix::<f32, 3, 1>::new(f32::NAN, -1.0, 2.0),
        &mut relu_out,
    );
    assert!(relu_out[0].is_nan());
    assert_eq!((relu_out[1], relu_out[2]), (0.0, 2.0));

    type Small = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 3>);
    let mut model = Small::default();
    model.init(Init::HeUniform, &mut SplitMix64::new(4));
    assert!(predict(&model, &[0.5, 0.25]).is_ok());
    assert_eq!(
        predict(&model, &[f32::NAN, 0.25]),
        Err(Error::NonFiniteInput)
    );
    let mut y = SMatrix::<f32, 3, 1>::zeros();
    let nan_input = SMatrix::<f32, 2, 1>::new(f32::INFINITY, 0.0);
    assert_eq!(
        model.forward_checked(&nan_input, &mut y),
        Err(Error::NonFiniteInput)
    );
    // A NaN weight: the output is NaN, which is refused, not read as class 0.
    model.2.bias[1] = f32::NAN;
    assert_eq!(predict(&model, &[0.5, 0.25]), Err(Error::NonFiniteOutput));
    let x = [[0.5f32, 0.25]; 3];
    let data = DataSet::new(&x, &[0u8, 1, 2]).unwrap();
    assert_eq!(
        evaluate(&model, &CrossEntropy, &data, NonFinite::Reject, None),
        Err(Error::NonFiniteOutput)
    );
}

/// A random source that is stuck on one value, and counts its draws.
struct Stuck {
    value: u64,
    draws: u64,
}

impl RngCore for Stuck {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.draws += 1;
        assert!(self.draws < 1_000_000, "unbounded use of a stuck generator");
        self.value
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.next_u64() as u8;
        }
    }
}

/// Finding 5: a generator that always returns the same value used to hang shuffling and
/// normal initialisation.
#[test]
fn stuck_random_sources_do_not_hang() {
    for value in [0, u64::MAX, 1 << 63, 0x8000_0000] {
        let mut rng = Stuck { value, draws: 0 };
        let mut items: Vec<u32> = (0..1000).collect();
        shuffle(&mut items, &mut rng);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "still a permutation");
        let labels: Vec<u8> = (0..300).map(|i| (i % 3) as u8).collect();
        let mut rows = vec![0u16; 300];
        stratified_split(&labels, 0.3, &mut rng, &mut rows).unwrap();
        let mut w32 = [0f32; 500];
        let mut w64 = [0f64; 500];
        fill_normal(&mut w32, 1.0, &mut rng);
        fill_normal(&mut w64, 1.0, &mut rng);
        fill_uniform(&mut w32, 1.0, &mut rng);
        assert!(w32.iter().all(|v| v.is_finite()) && w64.iter().all(|v| v.is_finite()));
        for init in [
            Init::XavierNormal,
            Init::HeNormal,
            Init::XavierUniform,
            Init::PyTorchDefault,
        ] {
            let mut d = Dense::<f32, 16, 16>::default();
            d.init(init, &mut rng);
            assert!(d.all_finite());
        }
        let mut dropout = Dropout::<f32, Stuck>::new(0.5, Stuck { value, draws: 0 }).unwrap();
        let mut cache = Zeroed::zeroed();
        let out = dropout.forward_train(&SMatrix::<f32, 64, 4>::from_element(1.0), &mut cache);
        assert!(out.all_finite());
        // A few draws per element at most, whatever the source.
        assert!(rng.draws < 100_000, "{} draws", rng.draws);
    }
}

impl Clone for Stuck {
    fn clone(&self) -> Self {
        Stuck {
            value: self.value,
            draws: self.draws,
        }
    }
}

/// Finding 6: LeakyReLU's slope was an unchecked public field and a negative slope gave the
/// wrong gradient (it was read from the output's sign).
#[test]
fn leaky_relu_takes_any_finite_slope_like_pytorch() {
    for slope in [-0.5, 0.0, 0.01, 1.0, 2.5] {
        let layer = LeakyRelu::new(slope).unwrap();
        let x = common::pseudo_random::<5, 3>(11);
        let (input_error, _) = common::check_layer::<_, 5, 5, 3>(&layer, &x);
        assert!(input_error < 1e-6, "slope {slope}: {input_error}");
        // PyTorch: x for x > 0, slope · x otherwise; gradient 1 or slope, from the input.
        let mut y = SMatrix::<f64, 2, 1>::zeros();
        layer.forward(&SMatrix::<f64, 2, 1>::new(-2.0, 3.0), &mut y);
        assert_eq!(y, SMatrix::<f64, 2, 1>::new(-2.0 * slope, 3.0));
    }
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(LeakyRelu::new(bad).is_err());
    }
}

/// Finding 7: a NaN or an infinity already inside the model or the optimizer's state (a
/// corrupted file, a bad edit) used to go unnoticed: training returned `Ok` for ever.
#[test]
fn non_finite_models_and_states_are_refused() {
    type Small = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
    let x = SMatrix::<f32, 2, 2>::new(1.0, 0.5, -0.5, 1.0);
    let t = SMatrix::<f32, 1, 2>::new(1.0, 0.0);
    let fresh = || {
        let mut m = Small::default();
        m.init(Init::HeUniform, &mut SplitMix64::new(7));
        m
    };
    // An infinite weight whose unit ReLU silences: the loss stays finite.
    let mut model = fresh();
    model.0.weight[(0, 0)] = f32::NEG_INFINITY;
    model.0.bias[0] = 0.0;
    let mut ws = Workspace::<f32, SMatrix<f32, 2, 2>, Small>::new();
    let mut opt = Sgd::new(0.1).unwrap();
    let before = snapshot(&model);
    assert_eq!(
        train_step(&mut model, &mut opt, &Mse, &x, &t, &mut ws),
        Err(Error::NonFiniteModel)
    );
    assert_eq!(snapshot(&model), before);
    // A NaN in Adam's state.
    let mut model = fresh();
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    train_step(&mut model, &mut adam, &Mse, &x, &t, &mut ws).unwrap();
    adam.state_mut().exp_avg_sq.2.bias[0] = f32::NAN;
    let (m0, o0) = (snapshot(&model), snapshot(&adam));
    assert_eq!(
        train_step(&mut model, &mut adam, &Mse, &x, &t, &mut ws),
        Err(Error::NonFiniteOptimizerState)
    );
    assert_eq!((snapshot(&model), snapshot(&adam)), (m0, o0));
    // A negative second moment set by hand (its square root would be NaN).
    adam.state_mut().exp_avg_sq.2.bias[0] = -1e-30;
    let (m0, o0) = (snapshot(&model), snapshot(&adam));
    assert_eq!(
        train_step(&mut model, &mut adam, &Mse, &x, &t, &mut ws),
        Err(Error::NonFiniteOptimizerState)
    );
    assert_eq!((snapshot(&model), snapshot(&adam)), (m0, o0));
    // A NaN running variance.
    let mut model = net(8);
    model.1.running_var[3] = f32::NAN;
    let mut ws = Workspace::<f32, Batch, Net>::new();
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let before = snapshot(&model);
    assert_eq!(
        train_step(
            &mut model,
            &mut adam,
            &CrossEntropy,
            &batch(1),
            &[0, 1, 2, 0],
            &mut ws
        ),
        Err(Error::NonFiniteModel)
    );
    assert_eq!(snapshot(&model), before);
}

/// `Parameters` is a public trait: an implementation whose model and gradients disagree on a
/// tensor's length must not make the library panic.
#[test]
fn parameters_of_mismatched_lengths_do_not_panic() {
    #[derive(Debug, Clone, PartialEq)]
    struct Odd(Vec<f32>);
    impl Parameters<f32> for Odd {
        const COUNT: usize = 3;
        const TENSORS: usize = 1;
        fn tensor(&self, i: usize) -> Option<&[f32]> {
            (i == 0).then_some(&self.0[..])
        }
        fn tensor_mut(&mut self, i: usize) -> Option<&mut [f32]> {
            (i == 0).then_some(&mut self.0[..])
        }
        fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
            std::iter::once(&mut self.0[..])
        }
    }
    impl Zeroed for Odd {
        fn zeroed() -> Self {
            Odd(vec![0.0; 3])
        }
        fn set_zero(&mut self) {
            self.0.fill(0.0);
        }
    }
    impl tinyprop::io::StateDict<f32> for Odd {
        const ENTRIES: usize = 1;
        fn visit<F>(&self, prefix: &mut tinyprop::io::Name, f: &mut F) -> Result<(), Error>
        where
            F: FnMut(
                tinyprop::io::TensorInfo<'_>,
                tinyprop::io::Values<'_, f32>,
            ) -> Result<(), Error>,
        {
            let shape = tinyprop::io::Shape::vector(self.0.len());
            let (kind, layout) = (
                tinyprop::io::Kind::Parameter,
                tinyprop::io::Layout::RowMajor,
            );
            let values = tinyprop::io::Values::Float(&self.0[..]);
            tinyprop::io::entry(prefix, "odd", shape, kind, layout, values, f)
        }
        fn visit_mut<F>(&mut self, prefix: &mut tinyprop::io::Name, f: &mut F) -> Result<(), Error>
        where
            F: FnMut(
                tinyprop::io::TensorInfo<'_>,
                tinyprop::io::ValuesMut<'_, f32>,
            ) -> Result<(), Error>,
        {
            let shape = tinyprop::io::Shape::vector(self.0.len());
            let (kind, layout) = (
                tinyprop::io::Kind::Parameter,
                tinyprop::io::Layout::RowMajor,
            );
            let values = tinyprop::io::ValuesMut::Float(&mut self.0[..]);
            tinyprop::io::entry(prefix, "odd", shape, kind, layout, values, f)
        }
    }
    impl Model<f32> for Odd {
        type Grads = Odd;
        type Buffers = ();
        fn init<R: RngCore + ?Sized>(&mut self, _: Init, _: &mut R) {}
        fn save_buffers(&self, _: &mut ()) {}
        fn restore_buffers(&mut self, _: &()) {}
    }
    let mut model = Odd(vec![1.0; 5]);
    let grads = Odd(vec![0.5; 2]);
    model.copy_from(&grads);
    let mut sgd = Sgd::new(0.1).unwrap();
    Optimizer::<f32, Odd>::step(&mut sgd, &mut model, &grads).unwrap();
    let mut adam = Adam::<f32, Odd>::new(AdamConfig::default()).unwrap();
    Optimizer::<f32, Odd>::step(&mut adam, &mut model, &grads).unwrap();
    let mut g = grads.clone();
    clip_grad_norm(&mut g, 0.1, Norm::L2).unwrap();
    assert!(model.all_finite());
}

// --- The randomized contract test --------------------------------------------------------------

/// Every optimizer configuration, behind one interface for the randomized test.
enum Optim<G> {
    Sgd(Sgd<f32, G>),
    SgdDecay(Sgd<f32, G, SgdOptions<f32, ()>>),
    Momentum(Sgd<f32, G, SgdOptions<f32, G>>),
    Adagrad(Adagrad<f32, G>),
    RmsProp(RmsProp<f32, G>),
    Centered(RmsProp<f32, G, G, G>),
    Adam(Adam<f32, G>),
    AmsGrad(Adam<f32, G, G>),
    AdamW(AdamW<f32, G>),
}

const OPTIMIZERS: usize = 9;

/// Runs `$body` with `$o` bound to the optimizer inside `$self`.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            Optim::Sgd($o) => $body,
            Optim::SgdDecay($o) => $body,
            Optim::Momentum($o) => $body,
            Optim::Adagrad($o) => $body,
            Optim::RmsProp($o) => $body,
            Optim::Centered($o) => $body,
            Optim::Adam($o) => $body,
            Optim::AmsGrad($o) => $body,
            Optim::AdamW($o) => $body,
        }
    };
}

impl<G: Parameters<f32> + Zeroed + std::fmt::Debug> Optim<G> {
    fn new(kind: usize, lr: f32) -> Self {
        let sgd = SgdConfig {
            lr,
            weight_decay: 1e-2,
            ..Default::default()
        };
        match kind {
            0 => Optim::Sgd(Sgd::new(lr).unwrap()),
            1 => Optim::SgdDecay(Sgd::with_config(sgd).unwrap()),
            2 => Optim::Momentum(
                Sgd::with_momentum(SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    ..sgd
                })
                .unwrap(),
            ),
            3 => Optim::Adagrad(
                Adagrad::new(AdagradConfig {
                    lr,
                    lr_decay: 1e-3,
                    ..Default::default()
                })
                .unwrap(),
            ),
            4 => Optim::RmsProp(
                RmsProp::new(RmsPropConfig {
                    lr,
                    ..Default::default()
                })
                .unwrap(),
            ),
            5 => Optim::Centered(
                RmsProp::centered_with_momentum(RmsPropConfig {
                    lr,
                    momentum: 0.5,
                    ..Default::default()
                })
                .unwrap(),
            ),
            6 => Optim::Adam(
                Adam::new(AdamConfig {
                    lr,
                    weight_decay: 1e-3,
                    ..Default::default()
                })
                .unwrap(),
            ),
            7 => Optim::AmsGrad(
                Adam::with_amsgrad(AdamConfig {
                    lr,
                    ..Default::default()
                })
                .unwrap(),
            ),
            _ => Optim::AdamW(
                AdamW::new(AdamWConfig {
                    lr,
                    ..Default::default()
                })
                .unwrap(),
            ),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Optim::Sgd(_) => "SGD",
            Optim::SgdDecay(_) => "SGD with weight decay",
            Optim::Momentum(_) => "SGD with Nesterov momentum",
            Optim::Adagrad(_) => "Adagrad",
            Optim::RmsProp(_) => "RMSprop",
            Optim::Centered(_) => "centered RMSprop with momentum",
            Optim::Adam(_) => "Adam",
            Optim::AmsGrad(_) => "Adam with AMSGrad",
            Optim::AdamW(_) => "AdamW",
        }
    }

    /// Configuration and state, every bit.
    fn snapshot(&self) -> String {
        each!(self, o => snapshot(o))
    }

    /// Every number of the state is finite.
    fn state_finite(&self) -> bool {
        match self {
            Optim::Sgd(_) | Optim::SgdDecay(_) => true,
            Optim::Momentum(o) => o.state().momentum_buffer.all_finite(),
            Optim::Adagrad(o) => o.state().sum.all_finite(),
            Optim::RmsProp(o) => o.state().square_avg.all_finite(),
            Optim::Centered(o) => {
                let s = o.state();
                s.square_avg.all_finite()
                    && s.grad_avg.all_finite()
                    && s.momentum_buffer.all_finite()
            }
            Optim::Adam(o) => o.state().exp_avg.all_finite() && o.state().exp_avg_sq.all_finite(),
            Optim::AmsGrad(o) => {
                let s = o.state();
                s.exp_avg.all_finite() && s.exp_avg_sq.all_finite() && s.max_exp_avg_sq.all_finite()
            }
            Optim::AdamW(o) => o.state().exp_avg.all_finite() && o.state().exp_avg_sq.all_finite(),
        }
    }

    fn train_step<M, L, Tg, X>(
        &mut self,
        model: &mut M,
        loss: &L,
        x: &X,
        t: &Tg,
        ws: &mut Workspace<f32, X, M>,
    ) -> Result<f32, Error>
    where
        M: Layer<f32, X, Grads = G>,
        L: Loss<f32, M::Output, Tg>,
    {
        each!(self, o => train_step(model, o, loss, x, t, ws))
    }

    fn train_step_with<M, L, Tg, X>(
        &mut self,
        model: &mut M,
        loss: &L,
        x: &X,
        t: &Tg,
        ws: &mut Workspace<f32, X, M>,
        hook: impl FnOnce(&mut G) -> Result<(), Error>,
    ) -> Result<f32, Error>
    where
        M: Layer<f32, X, Grads = G>,
        L: Loss<f32, M::Output, Tg>,
    {
        each!(self, o => train_step_with(model, o, loss, x, t, ws, hook))
    }
}

/// A value from everything an input or a learning rate can be: ordinary numbers mostly, and
/// NaN, infinities, the largest finite values, huge and tiny ones.
fn wild(rng: &mut SplitMix64) -> f32 {
    let u = tinyprop::rng::unit_f32(rng);
    let sign = if rng.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
    match rng.next_u32() % 20 {
        0 => f32::NAN,
        1 => sign * f32::INFINITY,
        2 => sign * f32::MAX * u.max(0.5),
        3 => sign * 1e30 * u,
        4 => sign * 1e-30 * u,
        5 => sign * 1e15 * u,
        _ => sign * 3.0 * u,
    }
}

/// A learning rate from ordinary to `f32::MAX`.
fn wild_lr(rng: &mut SplitMix64) -> f32 {
    let u = tinyprop::rng::unit_f32(rng);
    match rng.next_u32() % 8 {
        0 => f32::MAX * u.max(0.5),
        1 => 1e37 * u,
        2 => 1e10 * u,
        _ => u * 0.1,
    }
}

/// How many random steps [`random_steps_keep_the_contract`] takes.
fn contract_steps() -> usize {
    std::env::var("TINYPROP_CONTRACT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn random_steps_keep_the_contract() {
    let steps = contract_steps();
    let mut rng = SplitMix64::new(2024);
    let (mut ok, mut err, mut taken) = (0usize, 0usize, 0usize);
    let mut ws = Box::new(Workspace::<f32, Batch, Net>::new());
    while taken < steps {
        // A fresh model and optimizer every 40 steps (or sooner: see below).
        let kind = (rng.next_u32() as usize) % OPTIMIZERS;
        let mut model = net(rng.next_u64());
        let mut opt = Optim::<Grads>::new(kind, wild_lr(&mut rng));
        for _ in 0..40 {
            taken += 1;
            // Mostly ordinary batches, some with wild values.
            let wild_batch = rng.next_u32() % 4 == 0;
            let x = Batch::from_fn(|_, _| {
                if wild_batch {
                    wild(&mut rng)
                } else {
                    4.0 * tinyprop::rng::unit_f32(&mut rng) - 2.0
                }
            });
            let labels: [usize; B] = std::array::from_fn(|_| {
                let l = (rng.next_u32() % 64) as usize;
                if l < 60 {
                    l % 3
                } else {
                    l
                }
            });
            let hook = rng.next_u32() % 8;
            let poison = (rng.next_u32() % 4) as usize;
            let (m0, o0) = (snapshot(&model), opt.snapshot());
            let result = opt.train_step_with(
                &mut model,
                &CrossEntropy,
                &x,
                &labels,
                &mut ws,
                |g| match hook {
                    0 => Err(Error::InvalidHyperparameter("the hook refuses")),
                    1 => clip_grad_norm(g, 1.0, Norm::L2).map(|_| ()),
                    2 => {
                        // A hook that breaks the gradients.
                        if let Some(t) = g.tensor_mut(poison) {
                            if let Some(v) = t.first_mut() {
                                *v = f32::NAN;
                            }
                        }
                        Ok(())
                    }
                    3 => clip_grad_value(g, 1e30),
                    _ => Ok(()),
                },
            );
            match result {
                Ok(loss) => {
                    ok += 1;
                    assert!(loss.is_finite());
                    assert!(model_finite(&model), "{}: {model:?}", opt.name());
                    assert!(opt.state_finite(), "{}", opt.name());
                }
                Err(e) => {
                    err += 1;
                    assert_eq!(snapshot(&model), m0, "{}: {e:?}", opt.name());
                    assert_eq!(opt.snapshot(), o0, "{}: {e:?}", opt.name());
                }
            }
            if taken >= steps {
                break;
            }
        }
    }
    eprintln!("{taken} random steps: {ok} Ok, {err} Err");
    // Both outcomes are exercised in quantity.
    assert!(ok > steps / 10 && err > steps / 10, "{ok} Ok, {err} Err");
}

/// The same contract for whole epochs and for `fit` on data sets with NaN samples (skipped),
/// labels out of range and wild values: `batch_epoch` changes nothing on an error;
/// `minibatch_epoch` and `fit` keep the steps before an error and leave everything finite.
#[test]
fn random_epochs_keep_the_contract() {
    let mut rng = SplitMix64::new(77);
    let trials = contract_steps() / 100;
    let (mut ok, mut err) = (0, 0);
    for trial in 0..trials {
        let n = 6 + (rng.next_u32() % 20) as usize;
        let wild_data = trial % 2 == 0;
        let x: Vec<[f32; 4]> = (0..n)
            .map(|_| {
                std::array::from_fn(|_| {
                    if wild_data && rng.next_u32() % 8 == 0 {
                        wild(&mut rng)
                    } else {
                        4.0 * tinyprop::rng::unit_f32(&mut rng) - 2.0
                    }
                })
            })
            .collect();
        let y: Vec<u8> = (0..n)
            .map(|_| {
                let l = (rng.next_u32() % 40) as u8;
                if l < 39 {
                    l % 3
                } else {
                    7
                }
            })
            .collect();
        let data = DataSet::new(&x, &y).unwrap();
        let mut model = net(rng.next_u64());
        let mut opt =
            Optim::<Grads>::new((rng.next_u32() as usize) % OPTIMIZERS, wild_lr(&mut rng));
        let policy = if rng.next_u32() % 2 == 0 {
            NonFinite::Skip
        } else {
            NonFinite::Reject
        };
        let mut trainer = Trainer::<f32, 4, B, Net>::new()
            .with_non_finite(policy)
            .with_drop_last(true);
        let (m0, o0) = (snapshot(&model), opt.snapshot());
        let mut order = vec![0u16; n];
        tinyprop::data::sequence(&mut order).unwrap();
        let result = match trial % 3 {
            0 => each!(&mut opt, o => trainer.batch_epoch(&mut model, o, &CrossEntropy, &data)),
            1 => {
                each!(&mut opt, o => trainer.minibatch_epoch(&mut model, o, &CrossEntropy, &data, &order))
            }
            _ => {
                let mut fit_rng = SplitMix64::new(trial as u64);
                let plan = Fit::new(&data, &mut order, &mut fit_rng).max_epochs(3);
                each!(&mut opt, o => trainer
                    .fit(&mut model, o, &CrossEntropy, plan, |_| ControlFlow::Continue(()))
                    .map(|r| r.last.train))
            }
        };
        match result {
            Ok(epoch) => {
                ok += 1;
                assert!(epoch.loss.is_finite());
            }
            Err(_) => {
                err += 1;
                if trial % 3 == 0 {
                    assert_eq!((snapshot(&model), opt.snapshot()), (m0, o0));
                }
            }
        }
        assert!(model_finite(&model), "trial {trial}");
        assert!(opt.state_finite(), "trial {trial}");
    }
    eprintln!("{trials} random epochs: {ok} Ok, {err} Err");
    assert!(ok > trials / 10 && err > trials / 10, "{ok} Ok, {err} Err");
}
