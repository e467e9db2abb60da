use tinyprop::prelude::*;

type Small = (Dense<f32, 2, 4>, Relu, Dense<f32, 4, 1>);
type Large = (Dense<f32, 2, 16>, Relu, Dense<f32, 16, 1>);

fn main() {
    let x = SMatrix::<f32, 2, 1>::zeros();
    let t = SMatrix::<f32, 1, 1>::zeros();

    let mut small = Small::default();
    let mut ws_small = Workspace::<f32, _, Small>::new();
    let mut opt = Sgd::new(0.1).unwrap();
    let _ = train_step(&mut small, &mut opt, &Mse, &x, &t, &mut ws_small);

    // `opt` now mirrors Small's gradients; it cannot update Large.
    let mut large = Large::default();
    let mut ws_large = Workspace::<f32, _, Large>::new();
    let _ = train_step(&mut large, &mut opt, &Mse, &x, &t, &mut ws_large);
}
