//! Why deep networks need residual connections, measured.
//!
//! Builds a 20-layer sigmoid MLP twice from the same seed — once plain, once with every hidden
//! block wrapped in a skip connection — prints the gradient norm that reaches the first layer
//! in each, trains both identically on a synthetic regression task and prints their losses.
//!
//! Run with `cargo run --release --example vanishing`.

#[path = "shared/vanishing.rs"]
mod vanishing;

fn main() {
    let o = vanishing::run(2024);
    println!(
        "20 dense layers of width {}, sigmoid, {} SGD steps of batch {} (lr {})",
        vanishing::WIDTH,
        vanishing::STEPS,
        vanishing::BATCH,
        vanishing::LR
    );
    println!(
        "first-layer gradient norm: plain={:.3e} residual={:.3e}",
        o.plain_gradient, o.residual_gradient
    );
    println!(
        "gradient ratio residual/plain: {:.3e}",
        o.residual_gradient / o.plain_gradient
    );
    println!(
        "final loss: plain={:.5} residual={:.5}",
        o.plain_loss, o.residual_loss
    );
}
