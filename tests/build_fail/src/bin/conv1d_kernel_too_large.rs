use tinyprop::prelude::*;
use tinyprop::Conv1d;

fn main() {
    // A kernel of 5 with dilation 2 spans 9 positions; the input has 6.
    let layer = Conv1d::<f32, 1, 1, 5, 6, 1, 1, 0, 2>::default();
    let mut y = SMatrix::<f32, 1, 1>::zeros();
    layer.forward(&SMatrix::<f32, 6, 1>::zeros(), &mut y);
}
