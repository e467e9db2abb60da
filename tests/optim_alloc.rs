//! A counting global allocator proves that optimizer steps (every optimizer and option),
//! gradient clipping and learning-rate schedules allocate nothing.

use crate::counting_alloc::allocations;

use tinyprop::optim::clip::{clip_grad_norm, clip_grad_value, grad_norm, Norm};
use tinyprop::optim::schedule::{Constant, CosineAnnealing, Exponential, Schedule, Step, Warmup};
use tinyprop::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, RmsProp, RmsPropConfig, Sgd,
    SgdConfig,
};
use tinyprop::prelude::*;

type Net = (
    Dense<f32, 16, 32>,
    Relu,
    Dense<f32, 32, 8>,
    Tanh,
    Dense<f32, 8, 3>,
);
type Batch = SMatrix<f32, 16, 4>;

/// Ten training steps with `opt`, then a schedule change and a reset.
fn train<O: Optimizer<f32, Net>>(opt: &mut O, net: &mut Net, ws: &mut Workspace<f32, Batch, Net>) {
    let x = Batch::from_fn(|i, j| ((i * 5 + j * 3) % 11) as f32 / 11.0 - 0.5);
    let labels = [0usize, 1, 2, 1];
    let schedule = Warmup::new(0.1, 1.0, 3, CosineAnnealing::new(0.01, 10, 0.0).unwrap()).unwrap();
    for t in 0..10 {
        opt.set_learning_rate(schedule.lr(t)).unwrap();
        train_step(net, opt, &CrossEntropy, &x, &labels, ws).unwrap();
    }
    opt.reset();
}

#[test]
fn optimizers_clipping_and_schedules_allocate_nothing() {
    let mut net = Net::default();
    net.init(Init::HeUniform, &mut SplitMix64::new(3));
    let mut ws = Workspace::<f32, Batch, Net>::new();

    // Built outside the measured region (construction does not allocate either, but the
    // optimizers' state lives on the stack here and is large).
    let momentum = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 1e-4,
        nesterov: false,
    };
    let nesterov = SgdConfig {
        dampening: 0.0,
        nesterov: true,
        ..momentum
    };
    let rmsprop = RmsPropConfig {
        weight_decay: 1e-4,
        ..Default::default()
    };
    let rmsprop_momentum = RmsPropConfig {
        momentum: 0.9,
        ..rmsprop
    };
    let adam = AdamConfig {
        weight_decay: 1e-4,
        ..Default::default()
    };

    let n = allocations(|| {
        train(&mut Sgd::new(0.01).unwrap(), &mut net, &mut ws);
        train(
            &mut Sgd::with_config(SgdConfig {
                momentum: 0.0,
                ..momentum
            })
            .unwrap(),
            &mut net,
            &mut ws,
        );
        train(
            &mut Sgd::with_momentum(momentum).unwrap(),
            &mut net,
            &mut ws,
        );
        train(
            &mut Sgd::with_momentum(nesterov).unwrap(),
            &mut net,
            &mut ws,
        );
        let adagrad = AdagradConfig {
            lr_decay: 0.01,
            weight_decay: 1e-4,
            initial_accumulator_value: 0.1,
            ..Default::default()
        };
        train(&mut Adagrad::new(adagrad).unwrap(), &mut net, &mut ws);
        train(&mut RmsProp::new(rmsprop).unwrap(), &mut net, &mut ws);
        train(&mut RmsProp::centered(rmsprop).unwrap(), &mut net, &mut ws);
        train(
            &mut RmsProp::with_momentum(rmsprop_momentum).unwrap(),
            &mut net,
            &mut ws,
        );
        train(
            &mut RmsProp::centered_with_momentum(rmsprop_momentum).unwrap(),
            &mut net,
            &mut ws,
        );
        train(&mut Adam::new(adam).unwrap(), &mut net, &mut ws);
        train(&mut Adam::with_amsgrad(adam).unwrap(), &mut net, &mut ws);
        train(
            &mut AdamW::new(AdamWConfig::default()).unwrap(),
            &mut net,
            &mut ws,
        );
        train(
            &mut AdamW::with_amsgrad(AdamWConfig::default()).unwrap(),
            &mut net,
            &mut ws,
        );

        // Clipping, every norm.
        for norm in [Norm::L1, Norm::L2, Norm::Inf, Norm::P(3.0)] {
            let total = grad_norm(&ws.grads, norm).unwrap();
            assert!(total.is_finite());
            clip_grad_norm(&mut ws.grads, 0.1, norm).unwrap();
        }
        clip_grad_value(&mut ws.grads, 0.01).unwrap();
        let mut bad = ws.grads.clone();
        bad.0.weight[(0, 0)] = f32::NAN;
        assert!(clip_grad_norm(&mut bad, 1.0, Norm::L2).is_err());

        // Every schedule, applied to an optimizer.
        let mut opt = Adam::<f32, <Net as Model<f32>>::Grads>::new(adam).unwrap();
        for t in 0..30 {
            Constant::new(0.1).unwrap().apply(&mut opt, t).unwrap();
            Step::new(0.1, 5, 0.5).unwrap().apply(&mut opt, t).unwrap();
            Exponential::new(0.1, 0.9)
                .unwrap()
                .apply(&mut opt, t)
                .unwrap();
            CosineAnnealing::new(0.1, 20, 0.001)
                .unwrap()
                .apply(&mut opt, t)
                .unwrap();
            let warmup = Warmup::new(0.1, 1.0, 5, Step::new(0.1, 5, 0.5).unwrap()).unwrap();
            warmup.apply(&mut opt, t).unwrap();
        }
        // Refused values do not allocate either.
        assert!(Adam::<f32, ()>::new(AdamConfig { eps: 0.0, ..adam }).is_err());
    });
    assert_eq!(n, 0, "{n} allocations");
    assert!(net.all_finite());

    // The counter does count: a Vec allocates.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))) >= 1);
}
