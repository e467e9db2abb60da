use tinyprop::prelude::*;

fn main() {
    // The loss of no samples.
    let y = SMatrix::<f32, 3, 0>::zeros();
    let _ = Mse.loss(&y, &y);
}
