//! Optimizers, gradient clipping and learning-rate schedules against PyTorch (golden files
//! written by `tools/golden.py` in float64): every case in `f64` to `1e-10` relative and in
//! `f32` to `1e-5` relative.

use crate::golden::{assert_close, parse, Case, Tolerance, F32, F64};
use tinyprop::optim::clip::{clip_grad_norm, clip_grad_value, Norm};
use tinyprop::optim::schedule::{Constant, CosineAnnealing, Exponential, Schedule, Step, Warmup};
use tinyprop::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, RmsProp, RmsPropConfig, Sgd,
    SgdConfig,
};
use tinyprop::prelude::*;

const OPTIM: &str = include_str!("data/optim_golden.txt");
const CLIP: &str = include_str!("data/clip_golden.txt");
const SCHEDULE: &str = include_str!("data/schedule_golden.txt");

/// Two parameter tensors of 3 and 2 elements (the files' `sizes 3 2`): a 3×1 and a 1×2 weight
/// matrix, whose storage order is their flat order.
type Net<T> = (DenseNoBias<T, 1, 3>, DenseNoBias<T, 2, 1>);

fn set<T: Scalar, P: Parameters<T>>(p: &mut P, values: &[f64]) {
    let mut n = 0;
    for (dst, &src) in p.tensors_mut().flat_map(|t| t.iter_mut()).zip(values) {
        *dst = T::of_f64(src);
        n += 1;
    }
    assert_eq!(n, values.len());
    assert_eq!(P::COUNT, values.len());
}

fn get<T: Scalar, P: Parameters<T>>(p: &P) -> Vec<f64> {
    p.tensors()
        .flat_map(|t| t.iter().map(|v| v.as_f64()))
        .collect()
}

fn check_sizes<T: Scalar>(case: &Case) {
    let sizes = case.one("sizes");
    let ours: Vec<f64> = Net::<T>::default()
        .tensors()
        .map(|t| t.len() as f64)
        .collect();
    assert_eq!(sizes, ours.as_slice(), "{}: tensor sizes", case.name);
}

/// Runs the case's five steps with `opt` from its `init`; returns the parameters after each.
fn run<T: Scalar, O: Optimizer<T, Net<T>>>(mut opt: O, case: &Case) -> Vec<Vec<f64>> {
    let mut net = Net::<T>::default();
    set(&mut net, case.one("init"));
    let mut grads = Net::<T>::default();
    let mut out = Vec::new();
    for g in case.all("grad") {
        set(&mut grads, g);
        opt.step(&mut net, &grads).unwrap();
        out.push(get(&net));
    }
    out
}

/// Builds the optimizer a case describes, taking every hyperparameter, and runs it.
fn run_case<T: Scalar>(mut case: Case) -> (Case, Vec<Vec<f64>>) {
    let t = T::of_f64;
    let steps = match case.kind.as_str() {
        "sgd" => {
            let config = SgdConfig {
                lr: t(case.take("lr")),
                momentum: t(case.take("momentum")),
                dampening: t(case.take("dampening")),
                weight_decay: t(case.take("weight_decay")),
                nesterov: case.take_bool("nesterov"),
            };
            if config.momentum != T::zero() {
                run(Sgd::with_momentum(config).unwrap(), &case)
            } else {
                let steps = run(Sgd::with_config(config).unwrap(), &case);
                if config
                    == (SgdConfig {
                        lr: config.lr,
                        ..Default::default()
                    })
                {
                    // Plain SGD, which keeps only the learning rate, gives the same steps.
                    assert_eq!(run(Sgd::new(config.lr).unwrap(), &case), steps);
                }
                steps
            }
        }
        "adagrad" => {
            let config = AdagradConfig {
                lr: t(case.take("lr")),
                lr_decay: t(case.take("lr_decay")),
                weight_decay: t(case.take("weight_decay")),
                initial_accumulator_value: t(case.take("initial_accumulator_value")),
                eps: t(case.take("eps")),
            };
            run(Adagrad::new(config).unwrap(), &case)
        }
        "rmsprop" => {
            let config = RmsPropConfig {
                lr: t(case.take("lr")),
                alpha: t(case.take("alpha")),
                eps: t(case.take("eps")),
                weight_decay: t(case.take("weight_decay")),
                momentum: t(case.take("momentum")),
            };
            let momentum = config.momentum != T::zero();
            match (case.take_bool("centered"), momentum) {
                (false, false) => run(RmsProp::new(config).unwrap(), &case),
                (true, false) => run(RmsProp::centered(config).unwrap(), &case),
                (false, true) => run(RmsProp::with_momentum(config).unwrap(), &case),
                (true, true) => run(RmsProp::centered_with_momentum(config).unwrap(), &case),
            }
        }
        "adam" => {
            let (b1, b2) = case.take_pair("betas");
            let config = AdamConfig {
                lr: t(case.take("lr")),
                betas: (t(b1), t(b2)),
                eps: t(case.take("eps")),
                weight_decay: t(case.take("weight_decay")),
                decoupled_weight_decay: case.take_bool("decoupled_weight_decay"),
            };
            if case.take_bool("amsgrad") {
                run(Adam::with_amsgrad(config).unwrap(), &case)
            } else {
                run(Adam::new(config).unwrap(), &case)
            }
        }
        "adamw" => {
            let (b1, b2) = case.take_pair("betas");
            let config = AdamWConfig {
                lr: t(case.take("lr")),
                betas: (t(b1), t(b2)),
                eps: t(case.take("eps")),
                weight_decay: t(case.take("weight_decay")),
            };
            if case.take_bool("amsgrad") {
                run(AdamW::with_amsgrad(config).unwrap(), &case)
            } else {
                run(AdamW::new(config).unwrap(), &case)
            }
        }
        other => panic!("{}: unknown optimizer {other}", case.name),
    };
    case.finish(&["sizes", "init", "grad", "param"]);
    check_sizes::<T>(&case);
    (case, steps)
}

fn check_optimizers<T: Scalar>(tol: Tolerance) -> usize {
    let cases = parse(OPTIM);
    let mut worst = 0.0f64;
    for case in &cases {
        let (case, steps) = run_case::<T>(case.clone());
        let expected = case.all("param");
        assert_eq!(expected.len(), 5, "{}: five steps", case.name);
        assert_eq!(steps.len(), expected.len());
        for (k, (got, want)) in steps.iter().zip(&expected).enumerate() {
            let what = format!("{} step {}", case.name, k + 1);
            worst = worst.max(assert_close(&what, got, want, tol));
        }
    }
    println!(
        "{} optimizer cases, largest relative error {worst:.1e}",
        cases.len()
    );
    cases.len()
}

#[test]
fn optimizers_match_pytorch_f64() {
    assert_eq!(check_optimizers::<f64>(F64), 22);
}

#[test]
fn optimizers_match_pytorch_f32() {
    assert_eq!(check_optimizers::<f32>(F32), 22);
}

fn check_clipping<T: Scalar>(tol: Tolerance) -> usize {
    let cases = parse(CLIP);
    let mut worst = 0.0f64;
    for case in &cases {
        let mut case = case.clone();
        match case.kind.as_str() {
            "value" => {
                let clip_value = T::of_f64(case.take("clip_value"));
                let mut grads = Net::<T>::default();
                set(&mut grads, case.one("grad"));
                clip_grad_value(&mut grads, clip_value).unwrap();
                let what = format!("{} clipped", case.name);
                worst = worst.max(assert_close(&what, &get(&grads), case.one("clipped"), tol));
                case.finish(&["sizes", "grad", "clipped"]);
            }
            "norm" => {
                let max_norm = T::of_f64(case.take("max_norm"));
                let p = case.take("norm_type");
                // The named norm where there is one, and always the general `Norm::P(p)`: each
                // against PyTorch's total and clipped gradients.
                let named = if p == 1.0 {
                    Some(Norm::L1)
                } else if p == 2.0 {
                    Some(Norm::L2)
                } else if p == f64::INFINITY {
                    Some(Norm::Inf)
                } else {
                    None
                };
                for norm in named.into_iter().chain([Norm::P(T::of_f64(p))]) {
                    let mut g = Net::<T>::default();
                    set(&mut g, case.one("grad"));
                    let total = clip_grad_norm(&mut g, max_norm, norm).unwrap();
                    let what = format!("{} {norm:?} total", case.name);
                    worst = worst.max(assert_close(
                        &what,
                        &[total.as_f64()],
                        case.one("total"),
                        tol,
                    ));
                    let what = format!("{} {norm:?} clipped", case.name);
                    worst = worst.max(assert_close(&what, &get(&g), case.one("clipped"), tol));
                }
                case.finish(&["sizes", "grad", "clipped", "total"]);
            }
            other => panic!("{}: unknown kind {other}", case.name),
        }
        check_sizes::<T>(&case);
    }
    println!(
        "{} clipping cases, largest relative error {worst:.1e}",
        cases.len()
    );
    cases.len()
}

#[test]
fn clipping_matches_pytorch() {
    assert_eq!(check_clipping::<f64>(F64), 13);
    assert_eq!(check_clipping::<f32>(F32), 13);
}

/// The clipping cases cover every kind of norm: L1, L2, infinity, and general p-norms (which
/// `grad_norm` computes as such, not rewritten into a named norm).
#[test]
fn clipping_cases_cover_every_norm() {
    let mut p: Vec<String> = parse(CLIP)
        .into_iter()
        .filter(|c| c.kind == "norm")
        .map(|mut c| {
            c.take("max_norm");
            c.take_str("norm_type")
        })
        .collect();
    p.sort();
    p.dedup();
    assert_eq!(p, ["1", "1.5", "2", "3", "inf"]);
}

/// The schedule a case describes, as a boxed trait object (tests only).
fn schedule<T: Scalar + 'static>(case: &mut Case) -> Box<dyn Fn(u32) -> T> {
    let t = T::of_f64;
    let lr = t(case.take("lr"));
    fn boxed<T: Scalar, S: Schedule<T> + 'static>(s: S) -> Box<dyn Fn(u32) -> T> {
        Box::new(move |step| s.lr(step))
    }
    let kind = case.kind.clone();
    let (warmup, then) = match kind.split_once('_') {
        Some(("warmup", then)) => (true, then),
        _ => (false, kind.as_str()),
    };
    macro_rules! maybe_warmup {
        ($s:expr) => {{
            let s = $s;
            if warmup {
                let start = t(case.take("warmup_start_factor"));
                let end = t(case.take("warmup_end_factor"));
                let iters = case.take_u32("warmup_iters");
                assert_eq!(
                    case.take_u32("milestone"),
                    iters,
                    "{}: milestone",
                    case.name
                );
                boxed(Warmup::new(start, end, iters, s).unwrap())
            } else {
                boxed(s)
            }
        }};
    }
    match then {
        "constant" => maybe_warmup!(Constant::new(lr).unwrap()),
        "step" => {
            let step_size = case.take_u32("step_size");
            maybe_warmup!(Step::new(lr, step_size, t(case.take("gamma"))).unwrap())
        }
        "exponential" => maybe_warmup!(Exponential::new(lr, t(case.take("gamma"))).unwrap()),
        "cosine" => {
            let t_max = case.take_u32("t_max");
            maybe_warmup!(CosineAnnealing::new(lr, t_max, t(case.take("eta_min"))).unwrap())
        }
        other => panic!("{}: unknown schedule {other}", case.name),
    }
}

fn check_schedules<T: Scalar + 'static>(tol: Tolerance) -> usize {
    let cases = parse(SCHEDULE);
    let mut worst = 0.0f64;
    for case in &cases {
        let mut case = case.clone();
        let lr = schedule::<T>(&mut case);
        case.finish(&["lrs"]);
        let expected = case.one("lrs");
        assert_eq!(expected.len(), 25, "{}: 25 rates", case.name);
        let got: Vec<f64> = (0..25).map(|t| lr(t).as_f64()).collect();
        worst = worst.max(assert_close(&case.name, &got, expected, tol));
    }
    println!(
        "{} schedules, largest relative error {worst:.1e}",
        cases.len()
    );
    cases.len()
}

#[test]
fn schedules_match_pytorch() {
    assert_eq!(check_schedules::<f64>(F64), 7);
    assert_eq!(check_schedules::<f32>(F32), 7);
}

#[test]
fn a_schedule_sets_the_learning_rate_of_any_optimizer() {
    let schedule = Warmup::new(0.25, 1.0, 4, Exponential::new(0.1, 0.9).unwrap()).unwrap();
    let mut sgd = Sgd::<f64, Net<f64>>::new(1.0).unwrap();
    let mut adam = Adam::<f64, Net<f64>>::new(AdamConfig::default()).unwrap();
    let mut rmsprop = RmsProp::<f64, Net<f64>>::new(RmsPropConfig::default()).unwrap();
    for t in [0, 3, 4, 10] {
        schedule.apply(&mut sgd, t).unwrap();
        schedule.apply(&mut adam, t).unwrap();
        schedule.apply(&mut rmsprop, t).unwrap();
        assert_eq!(sgd.learning_rate(), schedule.lr(t));
        assert_eq!(adam.learning_rate(), schedule.lr(t));
        assert_eq!(rmsprop.learning_rate(), schedule.lr(t));
    }
}
