use tinyprop::prelude::*;
use tinyprop::Conv2d;

fn main() {
    // The layer reads 3 channels of 8×8 = 192 values; the batch has 64.
    let layer = Conv2d::<f32, 3, 4, 3, 8, 8, { 4 * 6 * 6 }>::default();
    let mut y = SMatrix::<f32, 144, 1>::zeros();
    layer.forward(&SMatrix::<f32, 64, 1>::zeros(), &mut y);
}
