//! The optimizers' contracts besides their arithmetic: state sizes, refused hyperparameters,
//! reset and clone, learning-rate changes, clipping and schedule edge cases.

use core::mem::size_of;

use tinyprop::optim::clip::{clip_grad_norm, clip_grad_value, grad_norm, Norm};
use tinyprop::optim::schedule::{Constant, CosineAnnealing, Exponential, Schedule, Step, Warmup};
use tinyprop::optim::{
    Adagrad, AdagradConfig, AdagradState, Adam, AdamConfig, AdamState, AdamW, AdamWConfig,
    LearningRate, RmsProp, RmsPropConfig, RmsPropState, Sgd, SgdConfig, SgdOptions, SgdState,
    StateBounds,
};
use tinyprop::prelude::*;

type Xor = (Dense<f32, 2, 8>, Tanh, Dense<f32, 8, 1>);
type G = <Xor as Model<f32>>::Grads;
type Wide = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);
type W = <Wide as Model<f32>>::Grads;

/// Bytes of the parameters (and so of one gradient-shaped buffer) of the XOR network.
const P: usize = 33 * 4;
/// The step counter.
const C: usize = size_of::<u32>();

// The state sizes are compile-time constants, usable in a budget check. These are the sizes of
// the dense layout; builds with AVX pad each layer to a cache line (see `Dense`'s layout and
// `tests/memory.rs`, `layers_are_dense_or_on_cache_lines`).
#[cfg(not(target_feature = "avx"))]
const _: () = assert!(size_of::<G>() == P);
const _: () = assert!(Sgd::<f32, G>::STATE_BYTES == 0);
#[cfg(not(target_feature = "avx"))]
const _: () = assert!(Adam::<f32, G>::STATE_BYTES == 2 * P + C);
#[cfg(not(target_feature = "avx"))]
const _: () = assert!(Adam::<f32, G, G>::STATE_BYTES == 3 * P + C);

#[test]
#[cfg_attr(
    target_feature = "avx",
    ignore = "the sizes of the dense layout: with AVX, layers are padded to cache lines"
)]
fn state_is_k_times_the_parameters() {
    // k = 0: plain SGD keeps only its learning rate (no counter either).
    assert_eq!(Sgd::<f32, G>::STATE_BYTES, 0);
    assert_eq!(size_of::<Sgd<f32, G>>(), size_of::<f32>());
    // k = 0: SGD with weight decay but no momentum: the step counter only.
    assert_eq!(Sgd::<f32, G, SgdOptions<f32, ()>>::STATE_BYTES, C);
    assert_eq!(size_of::<SgdState<()>>(), C);
    // k = 1: momentum, AdaGrad, RMSprop.
    assert_eq!(Sgd::<f32, G, SgdOptions<f32, G>>::STATE_BYTES, P + C);
    assert_eq!(size_of::<SgdState<G>>(), P + C);
    assert_eq!(Adagrad::<f32, G>::STATE_BYTES, P + C);
    assert_eq!(size_of::<AdagradState<G>>(), P + C);
    assert_eq!(RmsProp::<f32, G>::STATE_BYTES, P);
    assert_eq!(size_of::<RmsPropState<G, (), ()>>(), P);
    // k = 2: centered RMSprop, RMSprop with momentum, Adam, AdamW.
    assert_eq!(RmsProp::<f32, G, G>::STATE_BYTES, 2 * P);
    assert_eq!(RmsProp::<f32, G, (), G>::STATE_BYTES, 2 * P);
    assert_eq!(Adam::<f32, G>::STATE_BYTES, 2 * P + C);
    assert_eq!(AdamW::<f32, G>::STATE_BYTES, 2 * P + C);
    assert_eq!(size_of::<AdamState<G, ()>>(), 2 * P + C);
    // k = 3: centered RMSprop with momentum, Adam and AdamW with AMSGrad.
    assert_eq!(RmsProp::<f32, G, G, G>::STATE_BYTES, 3 * P);
    assert_eq!(Adam::<f32, G, G>::STATE_BYTES, 3 * P + C);
    assert_eq!(AdamW::<f32, G, G>::STATE_BYTES, 3 * P + C);

    // An optimizer is its hyperparameters plus its state plus, with state, the bounds of the
    // state's magnitudes that its overflow check keeps (one scalar per buffer and a tag),
    // nothing else.
    let b1 = size_of::<StateBounds<f32, 1>>();
    let b3 = size_of::<StateBounds<f32, 3>>();
    assert_eq!((b1, b3), (2 * 4, 4 * 4));
    // SGD: lr, momentum, dampening, weight decay, and nesterov (a bool, padded to 4 bytes).
    let sgd_hyper = 4 * size_of::<f32>() + 4;
    assert_eq!(
        size_of::<Sgd<f32, G, SgdOptions<f32, G>>>(),
        sgd_hyper + P + C + b1
    );
    assert_eq!(
        size_of::<Adagrad<f32, G>>(),
        size_of::<AdagradConfig<f32>>() + P + C + b1
    );
    assert_eq!(
        size_of::<RmsProp<f32, G, G, G>>(),
        size_of::<RmsPropConfig<f32>>() + 3 * P + b3
    );
    assert_eq!(
        size_of::<Adam<f32, G>>(),
        size_of::<AdamConfig<f32>>() + 2 * P + C + b3
    );
    assert_eq!(
        size_of::<AdamW<f32, G, G>>(),
        size_of::<AdamConfig<f32>>() + 3 * P + C + b3
    );

    // The same on a 4-16-3 network.
    let p = (4 * 16 + 16 + 16 * 3 + 3) * 4;
    assert_eq!(size_of::<W>(), p);
    assert_eq!(Sgd::<f32, W, SgdOptions<f32, W>>::STATE_BYTES, p + C);
    assert_eq!(Adagrad::<f32, W>::STATE_BYTES, p + C);
    assert_eq!(RmsProp::<f32, W, W>::STATE_BYTES, 2 * p);
    assert_eq!(Adam::<f32, W>::STATE_BYTES, 2 * p + C);
    assert_eq!(Adam::<f32, W, W>::STATE_BYTES, 3 * p + C);
}

/// Asserts that `result` is `InvalidHyperparameter` with a message mentioning `key`.
#[track_caller]
fn refused<O>(result: Result<O, Error>, key: &str) {
    match result {
        Err(Error::InvalidHyperparameter(message)) => {
            assert!(
                message.contains(key),
                "message {message:?} does not name {key}"
            )
        }
        Err(e) => panic!("expected InvalidHyperparameter({key}), got {e:?}"),
        Ok(_) => panic!("{key}: accepted"),
    }
}

const BAD: [f64; 4] = [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

#[test]
fn invalid_hyperparameters_are_refused() {
    type D = Dense<f64, 2, 1>;
    // SGD.
    for bad in BAD {
        refused(Sgd::<f64, D>::new(bad), "lr");
        let c = SgdConfig::<f64>::default();
        refused(
            Sgd::<f64, D, _>::with_config(SgdConfig { lr: bad, ..c }),
            "lr",
        );
        let m = SgdConfig { momentum: 0.9, ..c };
        refused(
            Sgd::<f64, D, _>::with_momentum(SgdConfig { lr: bad, ..m }),
            "lr",
        );
        refused(
            Sgd::<f64, D, _>::with_momentum(SgdConfig { momentum: bad, ..m }),
            "momentum",
        );
        refused(
            Sgd::<f64, D, _>::with_momentum(SgdConfig {
                dampening: bad,
                ..m
            }),
            "dampening",
        );
        refused(
            Sgd::<f64, D, _>::with_momentum(SgdConfig {
                weight_decay: bad,
                ..m
            }),
            "weight_decay",
        );
        refused(
            Sgd::<f64, D, _>::with_config(SgdConfig {
                weight_decay: bad,
                ..c
            }),
            "weight_decay",
        );
    }
    let c = SgdConfig::<f64>::default();
    refused(
        Sgd::<f64, D, _>::with_momentum(SgdConfig {
            dampening: 1.5,
            momentum: 0.9,
            ..c
        }),
        "dampening",
    );
    refused(
        Sgd::<f64, D, _>::with_config(SgdConfig {
            nesterov: true,
            ..c
        }),
        "nesterov",
    );
    let nesterov = SgdConfig {
        momentum: 0.9,
        nesterov: true,
        ..c
    };
    refused(
        Sgd::<f64, D, _>::with_momentum(SgdConfig {
            dampening: 0.1,
            ..nesterov
        }),
        "nesterov",
    );
    assert!(Sgd::<f64, D, _>::with_momentum(nesterov).is_ok());
    // The momentum buffer is chosen by the constructor, and must match the config.
    refused(
        Sgd::<f64, D, _>::with_config(SgdConfig { momentum: 0.9, ..c }),
        "momentum",
    );
    refused(Sgd::<f64, D, _>::with_momentum(c), "momentum");
    assert!(Sgd::<f64, D>::new(0.0).is_ok());

    // Adagrad.
    let c = AdagradConfig::<f64>::default();
    for bad in BAD {
        refused(Adagrad::<f64, D>::new(AdagradConfig { lr: bad, ..c }), "lr");
        refused(
            Adagrad::<f64, D>::new(AdagradConfig { lr_decay: bad, ..c }),
            "lr_decay",
        );
        refused(
            Adagrad::<f64, D>::new(AdagradConfig {
                weight_decay: bad,
                ..c
            }),
            "weight_decay",
        );
        refused(
            Adagrad::<f64, D>::new(AdagradConfig {
                initial_accumulator_value: bad,
                ..c
            }),
            "initial_accumulator_value",
        );
        refused(
            Adagrad::<f64, D>::new(AdagradConfig { eps: bad, ..c }),
            "eps",
        );
    }
    refused(
        Adagrad::<f64, D>::new(AdagradConfig { eps: 0.0, ..c }),
        "eps",
    );

    // RMSprop.
    let c = RmsPropConfig::<f64>::default();
    for bad in BAD {
        refused(RmsProp::<f64, D>::new(RmsPropConfig { lr: bad, ..c }), "lr");
        refused(
            RmsProp::<f64, D>::new(RmsPropConfig { alpha: bad, ..c }),
            "alpha",
        );
        refused(
            RmsProp::<f64, D, D>::centered(RmsPropConfig { eps: bad, ..c }),
            "eps",
        );
        refused(
            RmsProp::<f64, D>::new(RmsPropConfig {
                weight_decay: bad,
                ..c
            }),
            "weight_decay",
        );
        let m = RmsPropConfig { momentum: bad, ..c };
        refused(RmsProp::<f64, D, (), D>::with_momentum(m), "momentum");
    }
    refused(
        RmsProp::<f64, D>::new(RmsPropConfig { alpha: 1.0, ..c }),
        "alpha",
    );
    refused(
        RmsProp::<f64, D>::new(RmsPropConfig { eps: 0.0, ..c }),
        "eps",
    );
    let m = RmsPropConfig { momentum: 0.9, ..c };
    refused(RmsProp::<f64, D>::new(m), "momentum");
    refused(RmsProp::<f64, D, D>::centered(m), "momentum");
    refused(RmsProp::<f64, D, (), D>::with_momentum(c), "momentum");
    refused(
        RmsProp::<f64, D, D, D>::centered_with_momentum(c),
        "momentum",
    );
    assert!(RmsProp::<f64, D, D, D>::centered_with_momentum(m).is_ok());
    assert!(RmsProp::<f64, D>::new(RmsPropConfig { alpha: 0.0, ..c }).is_ok());

    // Adam and AdamW.
    let c = AdamConfig::<f64>::default();
    let w = AdamWConfig::<f64>::default();
    for bad in BAD.into_iter().chain([1.0, 1.5]) {
        refused(
            Adam::<f64, D>::new(AdamConfig {
                betas: (bad, 0.999),
                ..c
            }),
            "betas.0",
        );
        refused(
            Adam::<f64, D, D>::with_amsgrad(AdamConfig {
                betas: (0.9, bad),
                ..c
            }),
            "betas.1",
        );
        refused(
            AdamW::<f64, D>::new(AdamWConfig {
                betas: (bad, 0.999),
                ..w
            }),
            "betas.0",
        );
        refused(
            AdamW::<f64, D, D>::with_amsgrad(AdamWConfig {
                betas: (0.9, bad),
                ..w
            }),
            "betas.1",
        );
    }
    for bad in BAD {
        refused(Adam::<f64, D>::new(AdamConfig { lr: bad, ..c }), "lr");
        refused(Adam::<f64, D>::new(AdamConfig { eps: bad, ..c }), "eps");
        refused(
            Adam::<f64, D>::new(AdamConfig {
                weight_decay: bad,
                ..c
            }),
            "weight_decay",
        );
        refused(AdamW::<f64, D>::new(AdamWConfig { lr: bad, ..w }), "lr");
        refused(AdamW::<f64, D>::new(AdamWConfig { eps: bad, ..w }), "eps");
        refused(
            AdamW::<f64, D>::new(AdamWConfig {
                weight_decay: bad,
                ..w
            }),
            "weight_decay",
        );
    }
    refused(Adam::<f64, D>::new(AdamConfig { eps: 0.0, ..c }), "eps");
    assert!(Adam::<f64, D>::new(AdamConfig {
        betas: (0.0, 0.0),
        ..c
    })
    .is_ok());

    // The error says what is wrong.
    let e = Adam::<f64, D>::new(AdamConfig { eps: 0.0, ..c })
        .err()
        .unwrap();
    assert_eq!(
        e,
        Error::InvalidHyperparameter("eps must be finite and > 0")
    );
    assert_eq!(
        e.to_string(),
        "invalid hyperparameter: eps must be finite and > 0"
    );
}

#[test]
fn invalid_learning_rates_are_refused_and_change_nothing() {
    type D = Dense<f64, 2, 1>;
    let mut opt = Adam::<f64, D>::new(AdamConfig::default()).unwrap();
    for bad in BAD {
        refused(opt.set_learning_rate(bad), "lr");
        refused(LearningRate::set_learning_rate(&mut opt, bad), "lr");
        refused(Optimizer::<f64, D>::set_learning_rate(&mut opt, bad), "lr");
    }
    assert_eq!(opt.learning_rate(), 1e-3);
    opt.set_learning_rate(0.5).unwrap();
    assert_eq!(Optimizer::<f64, D>::learning_rate(&opt), 0.5);
    assert_eq!(opt.config().lr, 0.5);
}

type Net = (DenseNoBias<f64, 1, 3>, DenseNoBias<f64, 2, 1>);

fn grads(k: usize) -> Net {
    let mut g = Net::default();
    for (i, v) in g.tensors_mut().flat_map(|t| t.iter_mut()).enumerate() {
        *v = ((i * 7 + k * 3) % 5) as f64 - 2.0 + 0.1 * k as f64;
    }
    g
}

fn init() -> Net {
    let mut net = Net::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(1));
    net
}

/// Ten steps; then a reset optimizer repeats them exactly; a clone continues identically.
fn check_reset_and_clone<O>(name: &str, stateful: bool, mut opt: O)
where
    O: Optimizer<f64, Net> + Clone + PartialEq + core::fmt::Debug,
{
    let fresh = opt.clone();
    let run = |opt: &mut O| {
        let mut net = init();
        for k in 0..10 {
            opt.step(&mut net, &grads(k)).unwrap();
        }
        net
    };
    let first = run(&mut opt);
    assert_ne!(first, init(), "{name}: no change");
    assert_eq!(opt != fresh, stateful, "{name}: state change");
    let mut copy = opt.clone();
    let (mut a, mut b) = (first.clone(), first.clone());
    opt.step(&mut a, &grads(11)).unwrap();
    copy.step(&mut b, &grads(11)).unwrap();
    assert_eq!(a, b, "{name}: clone");
    opt.reset();
    assert_eq!(opt, fresh, "{name}: reset state");
    assert_eq!(run(&mut opt), first, "{name}: after reset");
}

#[test]
fn reset_restores_the_initial_state_and_clones_continue_identically() {
    check_reset_and_clone("sgd", false, Sgd::new(0.1).unwrap());
    let c = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.5,
        weight_decay: 0.1,
        nesterov: false,
    };
    check_reset_and_clone("sgd momentum", true, Sgd::with_momentum(c).unwrap());
    check_reset_and_clone(
        "sgd wd",
        true,
        Sgd::with_config(SgdConfig { momentum: 0.0, ..c }).unwrap(),
    );
    let a = AdagradConfig {
        lr_decay: 0.1,
        initial_accumulator_value: 0.5,
        ..Default::default()
    };
    check_reset_and_clone("adagrad", true, Adagrad::new(a).unwrap());
    let r = RmsPropConfig {
        momentum: 0.5,
        weight_decay: 0.1,
        ..Default::default()
    };
    check_reset_and_clone("rmsprop", true, RmsProp::centered_with_momentum(r).unwrap());
    check_reset_and_clone(
        "adam",
        true,
        Adam::with_amsgrad(AdamConfig::default()).unwrap(),
    );
    check_reset_and_clone("adamw", true, AdamW::new(AdamWConfig::default()).unwrap());
}

#[test]
fn state_is_exposed_and_can_be_restored() {
    let mut opt = Adam::<f64, Net>::new(AdamConfig::default()).unwrap();
    let mut net = init();
    for k in 0..3 {
        opt.step(&mut net, &grads(k)).unwrap();
    }
    let saved = opt.state().clone();
    assert_eq!(saved.step, 3);
    let mut restored = Adam::<f64, Net>::new(AdamConfig::default()).unwrap();
    *restored.state_mut() = saved;
    assert_eq!(restored, opt);

    let mut adagrad = Adagrad::<f64, Net>::new(AdagradConfig {
        initial_accumulator_value: 0.25,
        ..Default::default()
    })
    .unwrap();
    assert!(adagrad.state().sum.tensors().flatten().all(|&s| s == 0.25));
    adagrad.step(&mut net, &grads(0)).unwrap();
    assert_eq!(adagrad.state().step, 1);
    assert_eq!(
        adagrad.state_mut().sum.0.weight[(1, 0)],
        0.25 + grads(0).0.weight[(1, 0)].powi(2)
    );
}

#[test]
fn adam_state_never_holds_subnormal_numbers() {
    // A parameter whose gradient stops (a dead ReLU unit, say) decays its running averages
    // towards zero through the subnormal numbers, on which most processors are many times
    // slower. Adam flushes them to zero, in f32 and f64; the weights still move as in PyTorch
    // to within far less than an ulp.
    fn run<T: Scalar>() {
        let mut net = Dense::<T, 1, 1>::default();
        let mut g = Dense::<T, 1, 1>::default();
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        g.weight[(0, 0)] = T::of_f64(1e-3);
        g.bias[0] = T::of_f64(-2.0);
        opt.step(&mut net, &g).unwrap();
        let g = Dense::<T, 1, 1>::default();
        let mut zeroed = false;
        for _ in 0..20_000 {
            opt.step(&mut net, &g).unwrap();
            let state = opt.state();
            for v in state
                .exp_avg
                .tensors()
                .chain(state.exp_avg_sq.tensors())
                .flatten()
            {
                assert!(*v == T::zero() || v.abs() >= T::min_positive(), "{v:?}");
            }
            zeroed |= state.exp_avg.bias[0] == T::zero();
        }
        // m ← 0.9 m decays through the whole subnormal range within the 20 000 steps.
        assert!(zeroed);
    }
    run::<f32>();
    run::<f64>();
}

#[test]
fn centered_rmsprop_never_takes_the_root_of_a_negative() {
    // A constant gradient makes v − ḡ² = αᵗ (1 − αᵗ) g² vanish; rounding must not make it
    // negative (a NaN), in f32 or f64.
    let mut net = Dense::<f32, 1, 1>::default();
    let mut g = Dense::<f32, 1, 1>::default();
    g.weight[(0, 0)] = 0.1;
    g.bias[0] = 3.0e-3;
    let mut opt = RmsProp::centered(RmsPropConfig {
        alpha: 0.5,
        ..Default::default()
    })
    .unwrap();
    for _ in 0..2000 {
        opt.step(&mut net, &g).unwrap();
        assert!(net.all_finite(), "{net:?}");
    }
}

#[test]
fn clipping_refuses_bad_arguments_and_non_finite_gradients() {
    let mut g = (
        SMatrix::<f32, 2, 1>::new(3.0, -4.0),
        SMatrix::<f32, 1, 1>::new(0.0),
    );
    let before = g;
    refused(clip_grad_value(&mut g, -1.0), "clip_value");
    refused(clip_grad_value(&mut g, f32::NAN), "clip_value");
    refused(clip_grad_norm(&mut g, -1.0, Norm::L2), "max_norm");
    refused(clip_grad_norm(&mut g, f32::NAN, Norm::L2), "max_norm");
    refused(clip_grad_norm(&mut g, 1.0, Norm::P(0.5)), "p");
    refused(clip_grad_norm(&mut g, 1.0, Norm::P(f32::NAN)), "p");
    assert_eq!(g, before);
    // An infinite clip value or max norm clips nothing.
    clip_grad_value(&mut g, f32::INFINITY).unwrap();
    assert_eq!(clip_grad_norm(&mut g, f32::INFINITY, Norm::L2), Ok(5.0));
    assert_eq!(g, before);

    for bad in [f32::NAN, f32::INFINITY] {
        let mut g = (
            SMatrix::<f32, 2, 1>::new(3.0, bad),
            SMatrix::<f32, 1, 1>::new(1.0),
        );
        let before = g;
        assert_eq!(
            clip_grad_norm(&mut g, 1.0, Norm::L2),
            Err(Error::NonFiniteGradient)
        );
        assert_eq!(g.0[0], before.0[0]);
        assert_eq!(grad_norm(&g, Norm::Inf), Err(Error::NonFiniteGradient));
    }
}

#[test]
fn norms_are_exact_and_do_not_overflow() {
    let g = SMatrix::<f64, 4, 1>::new(1.0, -2.0, 0.5, 3.0);
    let direct = |p: f64| g.iter().map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p);
    for p in [1.0, 1.5, 2.0, 3.0, 7.0] {
        let n = grad_norm(&g, Norm::P(p)).unwrap();
        assert!(
            (n - direct(p)).abs() <= 1e-14 * direct(p),
            "p = {p}: {n} vs {}",
            direct(p)
        );
    }
    assert_eq!(grad_norm(&g, Norm::P(f64::INFINITY)), Ok(3.0));
    assert_eq!(grad_norm(&SMatrix::<f64, 2, 1>::zeros(), Norm::L2), Ok(0.0));
    // Squares of 1e30 overflow f32, and squares of 1e-30 underflow it; the norms do not.
    for scale in [1e30f32, 1e-30] {
        let big = SMatrix::<f32, 2, 1>::new(3.0 * scale, 4.0 * scale);
        let n = grad_norm(&big, Norm::L2).unwrap();
        assert!((n / scale - 5.0).abs() < 1e-5, "{n}");
        let n = grad_norm(&big, Norm::L1).unwrap();
        assert!((n / scale - 7.0).abs() < 1e-5, "{n}");
        let n = grad_norm(&big, Norm::P(3.0)).unwrap();
        assert!((n / scale - 91f32.cbrt()).abs() < 1e-5, "{n}");
        let mut clipped = big;
        let total = clip_grad_norm(&mut clipped, 1.0, Norm::L2).unwrap();
        assert_eq!(total, grad_norm(&big, Norm::L2).unwrap());
        if scale > 1.0 {
            // Scaled by 1 / (5e30 + 1e-6) to (0.6, 0.8), to 2 f32::EPSILON relative.
            for (got, want) in clipped.iter().zip([0.6f32, 0.8]) {
                assert!(
                    (got - want).abs() <= 2.0 * f32::EPSILON * want,
                    "{clipped:?}"
                );
            }
        } else {
            // The norm, 5e-30, is below max_norm: the coefficient 1 / (5e-30 + 1e-6) is
            // about 1e6, above 1, so nothing changes, to the bit.
            assert_eq!(clipped, big);
            assert_eq!(clipped.as_slice(), [3.0 * scale, 4.0 * scale]);
        }
    }
}

#[test]
fn schedules_refuse_bad_arguments_and_never_panic() {
    for bad in BAD {
        refused(Constant::new(bad), "lr");
        refused(Step::new(bad, 1, 0.5), "lr");
        refused(Step::new(0.1, 1, bad), "gamma");
        refused(Exponential::new(bad, 0.5), "lr");
        refused(Exponential::new(0.1, bad), "gamma");
        refused(CosineAnnealing::new(bad, 10, 0.0), "lr");
        refused(CosineAnnealing::new(0.1, 10, bad), "eta_min");
        let then = Constant::new(0.1).unwrap();
        refused(Warmup::new(bad, 1.0, 5, then), "start_factor");
        refused(Warmup::new(0.5, bad, 5, then), "end_factor");
    }
    refused(Step::new(0.1, 0, 0.5), "step_size");
    refused(CosineAnnealing::new(0.1, 0, 0.0), "t_max");
    refused(
        Warmup::new(0.0, 1.0, 5, Constant::new(0.1).unwrap()),
        "start_factor",
    );
    refused(
        Warmup::new(0.5, 1.5, 5, Constant::new(0.1).unwrap()),
        "end_factor",
    );

    // Any step index gives a valid rate.
    let cosine = CosineAnnealing::new(0.1f32, 7, 0.0).unwrap();
    let warmup = Warmup::new(0.1f32, 1.0, 3, Step::new(0.1, 2, 0.5).unwrap()).unwrap();
    let no_warmup = Warmup::new(0.1f32, 1.0, 0, Exponential::new(0.1, 0.5).unwrap()).unwrap();
    for t in [0, 1, 6, 7, 8, 13, 14, 15, 1000, u32::MAX - 1, u32::MAX] {
        for lr in [cosine.lr(t), warmup.lr(t), no_warmup.lr(t)] {
            assert!(lr.is_finite() && lr >= 0.0, "t = {t}: {lr}");
        }
        // Period 2 T_max, symmetric about T_max.
        assert_eq!(cosine.lr(t % 14), cosine.lr(t));
    }
    assert_eq!(no_warmup.lr(0), 0.1);
    assert!((cosine.lr(14 - 3) - cosine.lr(3)).abs() < 1e-7);
}

#[test]
fn clipping_then_stepping_trains_with_any_optimizer() {
    // The documented lower-level sequence: zero, forward, loss, backward, clip, step.
    let x = SMatrix::<f32, 2, 4>::from_column_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    let t = SMatrix::<f32, 1, 4>::from_column_slice(&[0., 1., 1., 0.]);
    let mut net = Xor::default();
    net.init(Init::XavierUniform, &mut SplitMix64::new(7));
    let mut opt = Adam::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    })
    .unwrap();
    let mut ws = Workspace::<f32, _, Xor>::new();
    let mut loss = f32::INFINITY;
    for _ in 0..300 {
        ws.grads.set_zero();
        let y = net.forward_train(&x, &mut ws.cache);
        loss = BceWithLogits.loss_and_grad(y, &t, &mut ws.dy).unwrap();
        net.backward(&x, &mut ws.cache, &mut ws.dy, None, Some(&mut ws.grads));
        let total = clip_grad_norm(&mut ws.grads, 0.5, Norm::L2).unwrap();
        assert!(
            grad_norm(&ws.grads, Norm::L2).unwrap() <= 0.5 + 1e-5,
            "{total}"
        );
        opt.step(&mut net, &ws.grads).unwrap();
    }
    assert!(loss < 0.01, "{loss}");
}
