// The digits CNN of `examples/digits_cnn.rs` (the host trains it), in the three forms the
// firmware `digits_cnn` and its build script use. Included by both with `include!`.

/// The network as `examples/digits_cnn.rs` trains it and saves it (the names of its tensors:
/// `0.weight`, `0.bias`, `3.weight`, `3.bias`, `7.weight`, `7.bias`).
pub type Net = (
    tinyprop::Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
    tinyprop::Relu,
    tinyprop::MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
    tinyprop::Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
    tinyprop::Relu,
    tinyprop::MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
    tinyprop::Flatten,
    tinyprop::Dense<f32, 128, 10>,
);

/// The convolutional part, each max pool moved before its ReLU: the two commute exactly
/// (`max(relu(a), relu(b)) = relu(max(a, b))`), and pooling first leaves a quarter of the
/// values to the ReLU and smaller buffers on the stack (the Cortex-M0 has 16 KiB of RAM).
pub type Features = (
    tinyprop::Conv2d<f32, 1, 16, 3, 8, 8, { 16 * 8 * 8 }, 1, 1>,
    tinyprop::MaxPool2d<16, 2, 8, 8, { 16 * 4 * 4 }>,
    tinyprop::Relu,
    tinyprop::Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>,
    tinyprop::MaxPool2d<32, 2, 4, 4, { 32 * 2 * 2 }>,
    tinyprop::Relu,
    tinyprop::Flatten,
);

/// The classifier on the 128 features.
pub type Head = tinyprop::Dense<f32, 128, 10>;
