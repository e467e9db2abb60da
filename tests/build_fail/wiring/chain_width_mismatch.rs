use tinyprop::prelude::*;

// The first layer outputs 8 values; the second expects 4.
type Net = (Dense<f32, 2, 8>, Relu, Dense<f32, 4, 1>);

fn main() {
    let mut net = Net::default();
    let x = SMatrix::<f32, 2, 1>::zeros();
    let t = SMatrix::<f32, 1, 1>::zeros();
    let mut opt = Sgd::new(0.1).unwrap();
    let mut ws = Workspace::<f32, SMatrix<f32, 2, 1>, Net>::new();
    let _ = train_step(&mut net, &mut opt, &Mse, &x, &t, &mut ws);
}
