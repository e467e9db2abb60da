//! The two design-note models (a residual block; Dense → BatchNorm → ReLU → Dense → BatchNorm →
//! Softmax) train on digits to a held-out accuracy of at least 0.95.

use crate::csv;
#[allow(clippy::module_inception)]
#[path = "../examples/shared/deep_models.rs"]
mod deep_models;

#[test]
fn residual_and_batch_norm_models_learn_digits() {
    let o = deep_models::run(7, |_, _, _| {});
    println!(
        "held-out accuracy: residual {} batch norm {} ({} samples)",
        o.residual_accuracy, o.batch_norm_accuracy, o.held_out
    );
    assert_eq!(o.held_out, 539);
    assert!(o.residual_accuracy >= 0.95, "{}", o.residual_accuracy);
    assert!(o.batch_norm_accuracy >= 0.95, "{}", o.batch_norm_accuracy);
}
