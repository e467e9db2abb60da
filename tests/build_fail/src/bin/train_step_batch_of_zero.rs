use tinyprop::prelude::*;

type Net = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 3>);

fn main() {
    // One training step on a batch of no samples.
    let mut net = Net::default();
    let mut opt = Sgd::new(0.1).unwrap();
    let mut ws = Workspace::<f32, SMatrix<f32, 2, 0>, Net>::new();
    let x = SMatrix::<f32, 2, 0>::zeros();
    let _ = train_step(&mut net, &mut opt, &CrossEntropy, &x, &[0usize; 0], &mut ws);
}
