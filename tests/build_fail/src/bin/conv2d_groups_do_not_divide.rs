use tinyprop::prelude::*;
use tinyprop::Conv2d;

fn main() {
    // 4 input channels in groups of 3 (CPG = 3).
    let layer = Conv2d::<f32, 4, 6, 1, 2, 2, 24, 1, 0, 1, 3>::default();
    let mut y = SMatrix::<f32, 24, 1>::zeros();
    layer.forward(&SMatrix::<f32, 16, 1>::zeros(), &mut y);
}
