//! Initialisation: reproducible from a seed, and drawn from the documented distributions.

use tinyprop::prelude::*;

type Layer = Dense<f64, 200, 100>;

fn weights(init: Init, seed: u64) -> Layer {
    Dense::new(init, &mut SplitMix64::new(seed))
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    for init in [
        Init::XavierUniform,
        Init::XavierNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::PyTorchDefault,
    ] {
        let a = weights(init, 42);
        let b = weights(init, 42);
        let bits = |l: &Layer| {
            l.tensors()
                .flatten()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b), "{init:?}");
        assert_ne!(bits(&a), bits(&weights(init, 43)), "{init:?}");
    }
    // f32 too, through a whole chain.
    let mut rng = SplitMix64::new(9);
    let mut a: (Dense<f32, 3, 5>, Relu, Dense<f32, 5, 2>) = Default::default();
    a.init(Init::HeUniform, &mut rng);
    let mut b: (Dense<f32, 3, 5>, Relu, Dense<f32, 5, 2>) = Default::default();
    b.init(Init::HeUniform, &mut SplitMix64::new(9));
    assert_eq!(a, b);
}

#[test]
fn distributions_have_the_documented_scale() {
    let (fan_in, fan_out) = (200.0f64, 100.0f64);
    let cases = [
        (Init::XavierUniform, (6.0 / (fan_in + fan_out)).sqrt(), true),
        (Init::HeUniform, (6.0 / fan_in).sqrt(), true),
        (Init::PyTorchDefault, 1.0 / fan_in.sqrt(), true),
        (Init::XavierNormal, (2.0 / (fan_in + fan_out)).sqrt(), false),
        (Init::HeNormal, (2.0 / fan_in).sqrt(), false),
    ];
    for (init, scale, uniform) in cases {
        let layer = weights(init, 1);
        let w = layer.weight.as_slice();
        let (mean, std) = mean_std(w);
        // 20,000 samples: the standard error of the mean is std/141.
        assert!(mean.abs() < 4.0 * std / 141.0, "{init:?} mean {mean}");
        let expected_std = if uniform { scale / 3f64.sqrt() } else { scale };
        assert!(
            (std / expected_std - 1.0).abs() < 0.03,
            "{init:?} std {std} vs {expected_std}"
        );
        if uniform {
            assert!(w.iter().all(|v| v.abs() <= scale), "{init:?} out of bounds");
        }
        let bias_zero = layer.bias.iter().all(|&b| b == 0.0);
        assert_eq!(bias_zero, init != Init::PyTorchDefault, "{init:?} bias");
    }
}
