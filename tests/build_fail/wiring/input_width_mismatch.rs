use tinyprop::prelude::*;

fn main() {
    let layer = Dense::<f32, 3, 2>::default();
    // Four features, but the layer takes three.
    let x = SMatrix::<f32, 4, 1>::zeros();
    let mut y = SMatrix::<f32, 2, 1>::zeros();
    layer.forward(&x, &mut y);
}
