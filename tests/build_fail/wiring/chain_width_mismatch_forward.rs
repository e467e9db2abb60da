use tinyprop::prelude::*;

// The hidden layer outputs 16 values; the output layer expects 8.
type Net = (Dense<f32, 4, 16>, Tanh, Dense<f32, 8, 3>);

fn main() {
    let net = Net::default();
    let x = SMatrix::<f32, 4, 1>::zeros();
    let mut y = SMatrix::<f32, 3, 1>::zeros();
    Layer::forward(&net, &x, &mut y);
}
