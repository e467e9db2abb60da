use tinyprop::prelude::*;

// F maps 4 features to 8: y = F(x) + x is undefined.
type Block = Residual<(Dense<f32, 4, 8>, Relu)>;

fn main() {
    let block = Block::default();
    let x = SMatrix::<f32, 4, 1>::zeros();
    let mut y = SMatrix::<f32, 8, 1>::zeros();
    Layer::forward(&block, &x, &mut y);
}
