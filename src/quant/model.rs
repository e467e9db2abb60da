//! Whole int8 models: layers chained as tuples ([`QLayer`]), the quantization of the input and
//! output tensors ([`QParams`]) and a model that takes and gives real numbers ([`QModel`]).

use crate::quant::{Padding, QConv2d, QDense, QDepthwiseConv2d, QPool2d, QPoolKind, Rescale};
use crate::Error;

/// The quantization of one int8 tensor: `real = scale · (q − zero_point)`.
///
/// ```
/// use tinyprop::quant::QParams;
/// let p = QParams::new(0.5, -10)?;
/// assert_eq!(p.quantize(3.0), -4);
/// assert_eq!(p.quantize(1000.0), 127); // saturates
/// assert_eq!(p.dequantize(-4), 3.0);
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// The scale, a positive finite number.
    pub scale: f32,
    /// The zero point, in `[−128, 127]`.
    pub zero_point: i32,
}

impl QParams {
    /// The quantization of this scale and zero point.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantization`] for a scale that is not a positive finite number or a
    /// zero point outside `[−128, 127]`.
    pub fn new(scale: f32, zero_point: i32) -> Result<Self, Error> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidQuantization("scale"));
        }
        if !(-128..=127).contains(&zero_point) {
            return Err(Error::InvalidQuantization("zero point"));
        }
        Ok(Self { scale, zero_point })
    }

    /// `x` quantized as TFLite's `QUANTIZE` computes it: `round(x / scale) + zero_point`
    /// (float32 division, halves away from zero), limited to `[−128, 127]`; NaN gives the
    /// zero point.
    #[allow(clippy::cast_possible_truncation)] // clamped to the int8 range first
    pub fn quantize(&self, x: f32) -> i8 {
        let r = crate::quant::round_f32(x / self.scale);
        crate::quant::clamp_i8(r.saturating_add(self.zero_point)) as i8
    }

    /// The real number `q` stands for, as TFLite's `DEQUANTIZE` computes it:
    /// `scale · (q − zero_point)` in double precision, rounded to float32.
    #[allow(clippy::cast_possible_truncation)] // the rounding to float32 is the point
    pub fn dequantize(&self, q: i8) -> f32 {
        let d = i32::from(q).saturating_sub(self.zero_point);
        (f64::from(self.scale) * f64::from(d)) as f32
    }

    /// Quantizes every element of `x` into `q` (as many as the shorter holds).
    pub fn quantize_slice(&self, x: &[f32], q: &mut [i8]) {
        for (q, &x) in q.iter_mut().zip(x) {
            *q = self.quantize(x);
        }
    }

    /// Dequantizes every element of `q` into `x` (as many as the shorter holds).
    pub fn dequantize_slice(&self, q: &[i8], x: &mut [f32]) {
        for (x, &q) in x.iter_mut().zip(q) {
            *x = self.dequantize(q);
        }
    }
}

/// A flat int8 buffer between layers: `[i8; N]`.
pub trait QBuffer {
    /// A buffer of zeros.
    fn zeroed() -> Self;
    /// The elements.
    fn as_slice(&self) -> &[i8];
}

impl<const N: usize> QBuffer for [i8; N] {
    fn zeroed() -> Self {
        [0; N]
    }
    fn as_slice(&self) -> &[i8] {
        self
    }
}

/// An int8 inference layer taking the input `X` (an `[i8; N]`). Tuples of layers are layers
/// (the output of each is the input of the next; up to 12), so an int8 network is a type, as
/// a floating-point one is.
///
/// ```
/// use tinyprop::quant::{Activation, QDense, QLayer, Requantize};
/// let rq = Requantize::<2>::new(1.0, &[1.0], 1.0, 0, Activation::Relu)?;
/// let first = QDense::<2, 2>::new([[1, 0], [0, -1]], [0, 0], 0, rq);
/// let second = QDense::<2, 1>::new([[1, 1]], [0], 0, Requantize::new(1.0, &[1.0], 1.0, 0, Activation::None)?);
/// let net = (first, second);
/// let mut y = [0i8; 1];
/// net.forward(&[3, 5], &mut y); // relu(3) + relu(−5)
/// assert_eq!(y, [3]);
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub trait QLayer<X> {
    /// The output of a forward pass, an `[i8; N]`.
    type Output: QBuffer;
    /// Bytes of temporaries that [`QLayer::forward`] keeps on the stack (the outputs between
    /// the layers of a chain); 0 for a single layer.
    const STACK_BYTES: usize = 0;

    /// The int8 output `y` of the int8 input `x`.
    fn forward(&self, x: &X, y: &mut Self::Output);
}

impl<const I: usize, const O: usize, M: Rescale> QLayer<[i8; I]> for QDense<I, O, M> {
    type Output = [i8; O];
    fn forward(&self, x: &[i8; I], y: &mut [i8; O]) {
        QDense::forward(self, x, y);
    }
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
        const NIN: usize,
    > QLayer<[i8; NIN]> for QConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    type Output = [i8; NOUT];
    fn forward(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        QConv2d::forward(self, x, y);
    }
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale,
        const NIN: usize,
    > QLayer<[i8; NIN]> for QDepthwiseConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    type Output = [i8; NOUT];
    fn forward(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        QDepthwiseConv2d::forward(self, x, y);
    }
}

impl<
        Kind: QPoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        const NIN: usize,
    > QLayer<[i8; NIN]> for QPool2d<Kind, C, K, H, W, NOUT, S, Pd>
{
    type Output = [i8; NOUT];
    fn forward(&self, x: &[i8; NIN], y: &mut [i8; NOUT]) {
        QPool2d::forward(self, x, y);
    }
}

/// TFLite's `RESHAPE` of a feature map into a vector: the int8 values unchanged. The
/// feature maps here are already flat (`H × W × C`, channels last), so this layer only copies;
/// it marks where a network flattens, as [`Flatten`](crate::Flatten) does in floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QFlatten;

impl<const N: usize> QLayer<[i8; N]> for QFlatten {
    type Output = [i8; N];
    fn forward(&self, x: &[i8; N], y: &mut [i8; N]) {
        *y = *x;
    }
}

macro_rules! qchain {
    ($($L:ident $i:tt $In:ident $Out:ident),+ ; $Ln:ident $n:tt $Xn:ident) => {
        impl<X, $($Out,)+ Y, $($L,)+ $Ln> QLayer<X> for ($($L,)+ $Ln)
        where
            $($Out: QBuffer,)+
            Y: QBuffer,
            $($L: QLayer<$In, Output = $Out>,)+
            $Ln: QLayer<$Xn, Output = Y>,
        {
            type Output = Y;
            const STACK_BYTES: usize = 0 $(+ size_of::<$Out>() + $L::STACK_BYTES)+ + $Ln::STACK_BYTES;

            fn forward(&self, x: &X, y: &mut Y) {
                // The intermediates live on the stack, one per boundary (STACK_BYTES).
                let h = x;
                $(
                    let mut out = <$Out as QBuffer>::zeroed();
                    self.$i.forward(h, &mut out);
                    let h = &out;
                )+
                self.$n.forward(h, y);
            }
        }
    };
}

qchain!(A 0 X B1; B 1 B1);
qchain!(A 0 X B1, B 1 B1 B2; C 2 B2);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3; D 3 B3);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4; E 4 B4);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5; F 5 B5);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6; G 6 B6);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6, G 6 B6 B7; H 7 B7);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6, G 6 B6 B7, H 7 B7 B8; I 8 B8);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6, G 6 B6 B7, H 7 B7 B8, I 8 B8 B9; J 9 B9);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6, G 6 B6 B7, H 7 B7 B8, I 8 B8 B9, J 9 B9 B10; K 10 B10);
qchain!(A 0 X B1, B 1 B1 B2, C 2 B2 B3, D 3 B3 B4, E 4 B4 B5, F 5 B5 B6, G 6 B6 B7, H 7 B7 B8, I 8 B8 B9, J 9 B9 B10, K 10 B10 B11; L 11 B11);

/// An int8 network with the quantization of its input and output: it takes real numbers,
/// quantizes them ([`QParams::quantize`]), runs the int8 layers `L` (no floating point) and
/// gives int8 outputs, their real values ([`QParams::dequantize`]) or the index of the
/// largest (a classifier's prediction, decided on the int8 outputs: the largest int8 output
/// is the largest real one).
///
/// Built by post-training quantization of a floating-point model or read from a `.tflite`
/// file; the fields are public for parameters from elsewhere.
///
/// ```
/// use tinyprop::quant::{Activation, QDense, QModel, QParams, Requantize};
/// let layer = QDense::<2, 2>::new([[127, 0], [0, 127]], [0, 0], 0,
///     Requantize::new(0.1, &[0.01], 0.1, 0, Activation::None)?);
/// let model = QModel { input: QParams::new(0.1, 0)?, output: QParams::new(0.1, 0)?, layers: layer };
/// assert_eq!(model.predict(&[0.3, 0.5]), 1);
/// let mut y = [0.0f32; 2];
/// model.forward_real(&[0.3, 0.5], &mut y);
/// assert!((y[1] - 0.6).abs() < 1e-6); // 0.5 · 1.27, quantized to a tenth
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QModel<L> {
    /// The quantization of the input.
    pub input: QParams,
    /// The quantization of the output.
    pub output: QParams,
    /// The int8 layers.
    pub layers: L,
}

impl<L> QModel<L> {
    /// The int8 outputs `y` of the int8 inputs `x`: no floating point.
    pub fn forward<const I: usize>(&self, x: &[i8; I], y: &mut L::Output)
    where
        L: QLayer<[i8; I]>,
    {
        self.layers.forward(x, y);
    }

    /// The real outputs `y` of the real inputs `x`: quantized, run in int8, dequantized.
    pub fn forward_real<const I: usize, const O: usize>(&self, x: &[f32; I], y: &mut [f32; O])
    where
        L: QLayer<[i8; I], Output = [i8; O]>,
    {
        let mut q = [0i8; I];
        self.input.quantize_slice(x, &mut q);
        let mut out = [0i8; O];
        self.layers.forward(&q, &mut out);
        self.output.dequantize_slice(&out, y);
    }

    /// The class probabilities `p` of the real inputs `x`: the dequantized outputs
    /// ([`QModel::forward_real`]) through a float softmax ([`Softmax`](crate::Softmax)), as a
    /// TFLite model whose int8 part ends in `DEQUANTIZE` and a float `SOFTMAX` computes them.
    ///
    /// ```
    /// use tinyprop::quant::{Activation, QDense, QModel, QParams, Requantize};
    /// let layer = QDense::<1, 2>::new([[127], [-127]], [0, 0], 0,
    ///     Requantize::new(0.1, &[0.01], 0.1, 0, Activation::None)?);
    /// let model = QModel { input: QParams::new(0.1, 0)?, output: QParams::new(0.1, 0)?, layers: layer };
    /// let mut p = [0.0f32; 2];
    /// model.probabilities(&[1.0], &mut p); // logits ±1.3
    /// assert!((p[0] - 0.930_862).abs() < 1e-5 && (p[0] + p[1] - 1.0).abs() < 1e-6);
    /// # Ok::<(), tinyprop::Error>(())
    /// ```
    pub fn probabilities<const I: usize, const O: usize>(&self, x: &[f32; I], p: &mut [f32; O])
    where
        L: QLayer<[i8; I], Output = [i8; O]>,
    {
        let mut logits = [0.0f32; O];
        self.forward_real(x, &mut logits);
        let mut out = nalgebra::SVector::<f32, O>::zeros();
        crate::Layer::forward(&crate::Softmax, &nalgebra::SVector::from(logits), &mut out);
        *p = out.data.0[0];
    }

    /// The index of the largest output for the int8 inputs `x` (the first of equals).
    pub fn predict_q<const I: usize>(&self, x: &[i8; I]) -> usize
    where
        L: QLayer<[i8; I]>,
    {
        let mut y = <L::Output as QBuffer>::zeroed();
        self.layers.forward(x, &mut y);
        argmax(y.as_slice())
    }

    /// The index of the largest output for the real inputs `x` (the first of equals).
    pub fn predict<const I: usize>(&self, x: &[f32; I]) -> usize
    where
        L: QLayer<[i8; I]>,
    {
        let mut q = [0i8; I];
        self.input.quantize_slice(x, &mut q);
        self.predict_q(&q)
    }
}

/// The index of the first largest element (0 for an empty slice).
fn argmax(v: &[i8]) -> usize {
    let mut best = 0;
    let mut top = i8::MIN;
    for (i, &x) in v.iter().enumerate() {
        if i == 0 || x > top {
            best = i;
            top = x;
        }
    }
    best
}
