use tinyprop::prelude::*;

type Net = (Dense<f32, 4, 16>, Relu, Dense<f32, 16, 3>);

fn main() {
    // The natural guess: the network as the optimizer's type parameter. It is the network's
    // gradient type, `GradsOf<Net>`; the message says so.
    let _opt = Adam::<f32, Net>::new(AdamConfig::default());
}
