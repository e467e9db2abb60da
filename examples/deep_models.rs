//! A residual network and a batch-normalised network trained on handwritten digits.
//!
//! Run with `cargo run --release --example deep_models`.

#[path = "shared/csv.rs"]
mod csv;
#[path = "shared/deep_models.rs"]
mod deep_models;

fn main() {
    println!(
        "digits, stratified 30 % hold-out; Adam lr 0.01, mini-batches of {}, {} epochs",
        deep_models::BATCH,
        deep_models::EPOCHS
    );
    let o = deep_models::run(7, |model, epoch, loss| {
        if epoch % 5 == 0 {
            println!("{model:>10}: epoch {epoch:3}  training loss {loss:.4}");
        }
    });
    println!(
        "residual (Dense-ReLU-[Dense-ReLU-Dense-ReLU]+skip-Dense) held-out accuracy: {:.4}",
        o.residual_accuracy
    );
    println!(
        "batch norm (Dense-BatchNorm-ReLU-Dense-BatchNorm-Softmax) held-out accuracy: {:.4}",
        o.batch_norm_accuracy
    );
    println!("({} held-out samples)", o.held_out);
}
