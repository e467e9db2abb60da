use tinyprop::prelude::*;

// The hidden layer outputs 16 values; the output layer expects 8. Called as a method, rustc
// rejects the whole tuple before it looks at the layers (E0599): the named message comes with
// `Layer::forward(&net, …)` (chain_width_mismatch_forward.rs), `Workspace::new` or
// `train_step`. This file records what the method form says today.
type Net = (Dense<f32, 4, 16>, Tanh, Dense<f32, 8, 3>);

fn main() {
    let net = Net::default();
    let x = SMatrix::<f32, 4, 1>::zeros();
    let mut y = SMatrix::<f32, 3, 1>::zeros();
    net.forward(&x, &mut y);
}
