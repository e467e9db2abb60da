use tinyprop::prelude::*;
use tinyprop::MaxPool2d;

fn main() {
    // 2×2 pooling of 4 maps of 7×7: 4·3·3 = 36 outputs (PyTorch rounds down), not 4·4·4.
    let pool = MaxPool2d::<4, 2, 7, 7, 64>::default();
    let mut y = SMatrix::<f32, 64, 2>::zeros();
    pool.forward(&SMatrix::<f32, 196, 2>::zeros(), &mut y);
}
