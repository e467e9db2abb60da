//! The residual experiment's claims, asserted: skip connections carry at least 100 times more
//! gradient to the first layer of a 20-layer sigmoid MLP, and the residual network trains to
//! the lower loss.

#[allow(clippy::module_inception)]
#[path = "../examples/shared/vanishing.rs"]
mod vanishing;

#[test]
fn residual_connections_prevent_vanishing_gradients() {
    let o = vanishing::run(2024);
    println!(
        "first-layer gradient norm: plain={:.3e} residual={:.3e}; loss plain={} residual={}",
        o.plain_gradient, o.residual_gradient, o.plain_loss, o.residual_loss
    );
    assert!(o.plain_gradient > 0.0 && o.plain_gradient.is_finite());
    assert!(
        o.residual_gradient / o.plain_gradient >= 100.0,
        "ratio {}",
        o.residual_gradient / o.plain_gradient
    );
    assert!(
        o.residual_loss < o.plain_loss,
        "{} vs {}",
        o.residual_loss,
        o.plain_loss
    );
}
