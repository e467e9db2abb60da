use tinyprop::prelude::*;

type Net = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 3>);

fn main() {
    // A trainer for batches of no samples.
    let _trainer = Trainer::<f32, 2, 0, Net>::new();
}
