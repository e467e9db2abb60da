use tinyprop::prelude::*;

fn main() {
    // Inference on a batch of no samples.
    let layer = Dense::<f32, 2, 3>::default();
    let mut y = SMatrix::<f32, 3, 0>::zeros();
    layer.forward(&SMatrix::<f32, 2, 0>::zeros(), &mut y);
}
