use tinyprop::prelude::*;
use tinyprop::Conv2d;

fn main() {
    // 8×8, 3×3 kernel, stride 2, padding 1: 8 channels of 4×4 = 128 outputs, not 8·3·3 = 72.
    let layer = Conv2d::<f32, 1, 8, 3, 8, 8, 72, 2, 1>::default();
    let mut y = SMatrix::<f32, 72, 1>::zeros();
    layer.forward(&SMatrix::<f32, 64, 1>::zeros(), &mut y);
}
