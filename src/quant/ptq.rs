//! Post-training quantization: a trained floating-point model becomes its int8 [`QModel`],
//! with the parameters TensorFlow's converter gives the same model and calibration data
//! (`tf.lite.TFLiteConverter` with `optimizations = [tf.lite.Optimize.DEFAULT]`, a
//! representative data set and int8 input and output).
//!
//! * **Calibration.** The floating-point model runs on every sample; the smallest and largest
//!   value of the input and of every layer's output are recorded ([`Range`]).
//! * **Activations** are asymmetric per tensor ([`Quantization::from_range`]): the range is
//!   extended to include 0, `scale = (max − min) / 255` and the zero point
//!   `round(−128 − min / scale)` (or `round(127 − max / scale)`, whichever adds the smaller
//!   rounding error), in `[−128, 127]`: the MLIR quantizer's nudging, in double precision.
//! * **Weights** are symmetric per output channel ([`weight_scale`], [`quantize_weight`]):
//!   `scale = max|w| / 127`, `q = round(w / scale)` in `[−127, 127]`.
//! * **Biases** are int32 ([`quantize_bias`]): `round(b / (input_scale · weight_scale[c]))`.
//! * A [`Relu`] right after a [`Dense`] or a [`Conv2d`](crate::Conv2d) is fused into it, as
//!   the converter fuses it: the layer's output range is the one after the ReLU (`[0, max]`)
//!   and its int8 output is clamped with [`Activation::Relu`]; the ReLU itself becomes a
//!   [`QRelu`] that changes nothing. A max pooling and a flatten keep their input's
//!   quantization (TFLite requires it of a pooling).
//!
//! The int8 layers take feature maps channels last (`H × W × C`) where the floating-point
//! ones take them channels first (`C × H × W`): the quantizer permutes the weights to match,
//! and folds the permutation of a [`Flatten`] into the columns of the [`Dense`] layer after it.
//! The input of the quantized model is therefore in the int8 layers' order: for an image of
//! one channel (or a vector) that is the same flat order as the floating-point model's; for
//! `C > 1` channels the caller passes pixel by pixel, `x[(y·W + x)·C + c]`, the
//! floating-point model's `x[c·H·W + y·W + x]`. The calibration samples are the
//! floating-point model's inputs (`C × H × W`).
//!
//! The mapping from floating-point to int8 layers is the trait [`Quantize`], so the int8
//! network of a network is a type (`<Net as Quantize>::Q`) whose memory is known when the
//! program is built; [`Calibrate`] records the ranges and builds the int8 layers; [`quantize`]
//! does both. Layers without an int8 form (no implementation) are refused when the program is
//! built.
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::quant::{quantize, Quantize};
//!
//! type Net = (Dense<f32, 2, 8>, Relu, Dense<f32, 8, 3>);
//! let mut net = Net::default();
//! net.init(Init::HeUniform, &mut SplitMix64::new(1));
//! let samples = [[0.0, 1.0], [1.0, -1.0], [0.5, 0.25], [-1.0, 0.0]];
//! let q: tinyprop::quant::QModel<<Net as Quantize>::Q> = quantize(&net, &samples)?;
//! // The int8 model's outputs are close to the floating-point model's.
//! let mut y = [0.0f32; 3];
//! q.forward_real(&samples[2], &mut y);
//! let mut want = SMatrix::<f32, 3, 1>::zeros();
//! net.forward(&SMatrix::from_column_slice(&samples[2]), &mut want);
//! for (a, b) in y.iter().zip(want.iter()) {
//!     assert!((a - b).abs() <= 4.0 * q.output.scale);
//! }
//! # Ok::<(), tinyprop::Error>(())
//! ```

use nalgebra::{SMatrix, SVector};

use crate::layers::{Avg, Conv, Max, Pool, TwoD};
use crate::quant::{
    Activation, Explicit, QAvg, QConv2d, QDense, QFlatten, QLayer, QMax, QModel, QParams, QPool2d,
    QPoolKind, Requantize, Valid,
};
use crate::{Dense, Error, Flatten, Layer, Relu, Zeroed};

/// The smallest and largest values seen in one tensor during calibration.
///
/// ```
/// use tinyprop::quant::Range;
/// let mut r = Range::EMPTY;
/// r.include(&[0.5, -2.0, 3.0]);
/// assert_eq!(r, Range { min: -2.0, max: 3.0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The smallest value.
    pub min: f32,
    /// The largest value.
    pub max: f32,
}

impl Range {
    /// Nothing seen yet (`min = +∞`, `max = −∞`).
    pub const EMPTY: Range = Range {
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };

    /// Widens the range to hold every value of `values` (a NaN widens it to infinity, so that
    /// its quantization fails).
    pub fn include(&mut self, values: &[f32]) {
        for &v in values {
            if v.is_nan() {
                self.min = f32::NEG_INFINITY;
                self.max = f32::INFINITY;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// The range of the same values after a ReLU: `[max(min, 0), max(max, 0)]`.
    ///
    /// ```
    /// use tinyprop::quant::Range;
    /// assert_eq!(Range { min: -2.0, max: 3.0 }.relu(), Range { min: 0.0, max: 3.0 });
    /// ```
    pub fn relu(self) -> Range {
        Range {
            min: self.min.max(0.0),
            max: self.max.max(0.0),
        }
    }
}

/// The asymmetric int8 quantization of an activation tensor as the converter computes it: the
/// scale in double precision (it is stored as a float32 in the model, [`Quantization::params`],
/// and the biases are quantized with the double) and the zero point.
///
/// ```
/// use tinyprop::quant::{Quantization, Range};
/// // [−1, 2]: scale 3/255, zero point round(−128 + 85) = −43.
/// let q = Quantization::from_range(Range { min: -1.0, max: 2.0 })?;
/// assert_eq!(q.scale, 3.0 / 255.0);
/// assert_eq!(q.zero_point, -43);
/// // A range that does not include 0 is extended to it: [0, 5].
/// let q = Quantization::from_range(Range { min: 1.0, max: 5.0 })?;
/// assert_eq!((q.scale, q.zero_point), (5.0 / 255.0, -128));
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantization {
    /// The scale, in double precision.
    pub scale: f64,
    /// The zero point, in `[−128, 127]`.
    pub zero_point: i32,
}

impl Quantization {
    /// The quantization of a calibrated range (TensorFlow's MLIR quantizer: the range is
    /// extended to include 0, `scale = (max − min) / 255`, and the zero point is the one of
    /// `(min, −128)` or `(max, 127)` with the smaller rounding error, rounded half away from
    /// zero and limited to `[−128, 127]`).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyDataSet`] for a range with nothing in it ([`Range::EMPTY`]),
    /// [`Error::InvalidQuantization`] for a range with an infinite end or a range of zeros only
    /// (a scale of 0).
    #[allow(clippy::cast_possible_truncation)] // rounded and limited to [−128, 127] first
    pub fn from_range(range: Range) -> Result<Self, Error> {
        if range.min > range.max {
            return Err(Error::EmptyDataSet);
        }
        if !(range.min.is_finite() && range.max.is_finite()) {
            return Err(Error::InvalidQuantization("calibrated range is not finite"));
        }
        let min = f64::from(range.min.min(0.0));
        let max = f64::from(range.max.max(0.0));
        let (qmin, qmax) = (-128.0f64, 127.0f64);
        let scale = (max - min) / (qmax - qmin);
        let valid = scale.is_finite() && scale > 0.0 && (scale as f32) > 0.0;
        if !valid {
            return Err(Error::InvalidQuantization(
                "calibrated range is empty (zeros only)",
            ));
        }
        let from_min = qmin - min / scale;
        let from_min_error = libm::fabs(qmin) + libm::fabs(min / scale);
        let from_max = qmax - max / scale;
        let from_max_error = libm::fabs(qmax) + libm::fabs(max / scale);
        let zero = if from_min_error < from_max_error {
            from_min
        } else {
            from_max
        };
        let zero_point = if zero < qmin {
            -128
        } else if zero > qmax {
            127
        } else {
            libm::round(zero) as i32
        };
        Ok(Self { scale, zero_point })
    }

    /// The scale as a float32, as it is stored in the model, with the zero point.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantization`] if the scale is not a positive finite float32.
    ///
    /// ```
    /// use tinyprop::quant::{Quantization, Range};
    /// let p = Quantization::from_range(Range { min: 0.0, max: 1.0 })?.params()?;
    /// assert_eq!((p.scale, p.zero_point), ((1.0f64 / 255.0) as f32, -128));
    /// # Ok::<(), tinyprop::Error>(())
    /// ```
    #[allow(clippy::cast_possible_truncation)] // the rounding to float32 is the point
    pub fn params(&self) -> Result<QParams, Error> {
        QParams::new(self.scale as f32, self.zero_point)
    }
}

/// The symmetric scale of one output channel's weights: `max|w| / 127` in double precision
/// (a channel of zeros gets the scale 1: its weights are 0 whatever the scale).
///
/// # Errors
///
/// [`Error::NonFiniteModel`] if a weight is NaN or infinite.
///
/// ```
/// use tinyprop::quant::weight_scale;
/// assert_eq!(weight_scale([0.5f32, -1.27, 0.0].into_iter())?, 1.27f32 as f64 / 127.0);
/// assert_eq!(weight_scale([0.0f32; 3].into_iter())?, 1.0);
/// assert!(weight_scale([f32::NAN].into_iter()).is_err());
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub fn weight_scale(weights: impl Iterator<Item = f32>) -> Result<f64, Error> {
    let mut m = 0.0f32;
    for w in weights {
        if !w.is_finite() {
            return Err(Error::NonFiniteModel);
        }
        m = m.max(w.abs());
    }
    if m == 0.0 {
        return Ok(1.0);
    }
    // (max − min) / (qmax − qmin) with min = −max, qmin = −127, qmax = 127, as the converter.
    Ok((f64::from(m) + f64::from(m)) / 254.0)
}

/// One weight quantized with its channel's scale: `round(w / scale)` (in double precision,
/// halves away from zero) limited to `[−127, 127]`.
///
/// ```
/// use tinyprop::quant::quantize_weight;
/// assert_eq!(quantize_weight(0.5, 0.01), 50);
/// assert_eq!(quantize_weight(-0.025, 0.01), -3); // −2.5 → −3
/// assert_eq!(quantize_weight(9.0, 0.01), 127);
/// ```
#[allow(clippy::cast_possible_truncation)] // limited to [−127, 127] first
pub fn quantize_weight(w: f32, scale: f64) -> i8 {
    let q = libm::round(f64::from(w) / scale);
    q.clamp(-127.0, 127.0) as i8
}

/// A bias quantized to int32 with the scale `input_scale · weight_scale` (double precision):
/// `round(b / scale)`, halves away from zero, limited to the int32 range.
///
/// ```
/// use tinyprop::quant::quantize_bias;
/// assert_eq!(quantize_bias(0.3, 0.1, 0.01), 300);
/// assert_eq!(quantize_bias(-1e9, 1e-3, 1e-3), -i32::MAX);
/// ```
#[allow(clippy::cast_possible_truncation)] // limited to the int32 range first
pub fn quantize_bias(b: f32, input_scale: f64, weight_scale: f64) -> i32 {
    let q = libm::round(f64::from(b) / (input_scale * weight_scale));
    let limit = f64::from(i32::MAX);
    if q.is_nan() {
        0
    } else {
        q.clamp(-limit, limit) as i32
    }
}

/// What the quantizer knows of the tensor between two layers: its quantization, and its
/// shape as the floating-point layers store it, `channels × pixels` (`C × H·W`; a vector is
/// `N × 1`). The int8 tensor holds the same values pixel by pixel (`H·W × C`).
///
/// ```
/// use tinyprop::quant::{quantize, Quantize};
/// use tinyprop::prelude::*;
/// use tinyprop::{Conv2d, Flatten};
/// // 2 channels of 1×2 at the flatten: the dense layer's int8 columns are the pixels'
/// // channels, (p0 c0, p0 c1, p1 c0, p1 c1), its float columns (c0 p0, c0 p1, c1 p0, c1 p1).
/// let mut net = (Conv2d::<f32, 1, 2, 1, 1, 2, 4>::default(), Flatten, Dense::<f32, 4, 1>::default());
/// net.0.weight = [[[[1.0]]], [[[-1.0]]]];
/// net.2.weight = SMatrix::from_row_slice(&[1.0, 2.0, 3.0, 4.0]);
/// let q = quantize(&net, &[[1.0, 0.5]])?;
/// assert_eq!(q.layers.2.weight, [[32, 95, 64, 127]]); // 1, 3, 2, 4 at the scale 4/127
/// # Ok::<(), tinyprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundary {
    /// The tensor's quantization.
    pub quant: Quantization,
    /// Its channels (`C`, or the length of a vector).
    pub channels: usize,
    /// Its pixels per channel (`H·W`, or 1 for a vector).
    pub pixels: usize,
}

impl Boundary {
    /// The floating-point index of the int8 tensor's element `j`: the int8 `j = p·C + c` is the
    /// floating-point `c·P + p`.
    fn source(&self, j: usize) -> usize {
        let c = self.channels.max(1);
        let (p, ch) = (j.checked_div(c).unwrap_or(0), j.checked_rem(c).unwrap_or(0));
        ch.saturating_mul(self.pixels).saturating_add(p)
    }
}

/// A floating-point layer with an int8 form: `Q`, the int8 layer TFLite would run for it.
/// Tuples of such layers map to tuples of their int8 layers, so `<Net as Quantize>::Q` is the
/// int8 network of a network.
///
/// | floating point | int8 |
/// |---|---|
/// | [`Dense<f32, I, O>`](Dense) | [`QDense<I, O>`](QDense) |
/// | [`Conv2d<f32, C, O, K, H, W, NOUT, S, P>`](crate::Conv2d) (no groups, no dilation) | [`QConv2d<C, O, K, H, W, NOUT, S, Explicit<P>>`](QConv2d) |
/// | [`MaxPool2d<C, K, H, W, NOUT, S>`](crate::MaxPool2d), [`AvgPool2d`](crate::AvgPool2d) (no padding) | [`QMaxPool2d<C, K, H, W, NOUT, S>`](crate::quant::QMaxPool2d), [`QAvgPool2d`](crate::quant::QAvgPool2d) |
/// | [`Relu`] | [`QRelu`] |
/// | [`Flatten`] | [`QFlatten`] |
///
/// ```
/// use tinyprop::quant::{QDense, QFlatten, QRelu, Quantize};
/// use tinyprop::{Dense, Flatten, Relu};
/// type Net = (Flatten, Dense<f32, 4, 3>, Relu, Dense<f32, 3, 2>);
/// use core::marker::PhantomData;
/// let _: PhantomData<(QFlatten, QDense<4, 3>, QRelu, QDense<3, 2>)> =
///     PhantomData::<<Net as Quantize>::Q>;
/// ```
pub trait Quantize {
    /// The int8 layer.
    type Q;
    /// `true` for a [`Relu`]: the layer before it fuses it.
    const RELU: bool = false;
}

/// Calibration and int8 construction of a [`Quantize`] layer taking the input `X` (one
/// sample, an `SMatrix<f32, N, 1>`); tuples of such layers are such layers.
///
/// [`quantize`] is the usual way to use it.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::quant::{Boundary, Calibrate, Quantization, Range};
/// let mut layer = Dense::<f32, 2, 1>::default();
/// layer.weight = SMatrix::from_row_slice(&[1.0, -2.0]);
/// let mut ranges = <Dense<f32, 2, 1> as Calibrate<SMatrix<f32, 2, 1>>>::EMPTY;
/// let mut y = SMatrix::<f32, 1, 1>::zeros();
/// layer.observe(&SMatrix::from_column_slice(&[1.0, 1.0]), &mut y, &mut ranges);
/// assert_eq!(ranges, Range { min: -1.0, max: -1.0 });
/// let input = Boundary {
///     quant: Quantization::from_range(Range { min: 0.0, max: 1.0 })?,
///     channels: 2,
///     pixels: 1,
/// };
/// let (q, out) = layer.build(&input, &ranges, false)?;
/// assert_eq!(q.weight, [[64, -127]]);
/// assert_eq!(out.quant.zero_point, 127); // the range [−1, 0]
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub trait Calibrate<X>: Quantize + Layer<f32, X> {
    /// The calibrated ranges: a [`Range`] for a layer whose output gets a quantization of its
    /// own, `()` for one that keeps its input's, a tuple for a tuple.
    type Ranges;
    /// Nothing calibrated yet.
    const EMPTY: Self::Ranges;

    /// The floating-point forward pass of one sample, widening the ranges of the outputs.
    fn observe(&self, x: &X, y: &mut Self::Output, ranges: &mut Self::Ranges);

    /// The int8 layer for an input described by `input`, with the calibrated `ranges`; the
    /// next layer is a [`Relu`] to fuse if `fuse_relu`. Returns the layer and the description
    /// of its output.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteModel`] for a NaN or infinite parameter, and the errors of
    /// [`Quantization::from_range`] and [`Requantize::new`].
    fn build(
        &self,
        input: &Boundary,
        ranges: &Self::Ranges,
        fuse_relu: bool,
    ) -> Result<(Self::Q, Boundary), Error>;
}

/// The quantization of a layer's output of calibrated range `range`, after a fused ReLU if
/// `fuse_relu`, and the activation to clamp it with.
fn output_quant(range: &Range, fuse_relu: bool) -> Result<(Quantization, Activation), Error> {
    if fuse_relu {
        Ok((Quantization::from_range(range.relu())?, Activation::Relu))
    } else {
        Ok((Quantization::from_range(*range)?, Activation::None))
    }
}

/// TFLite's `RELU` where input and output share their quantization: `max(q, zero_point)`.
/// After a layer that fused the ReLU (its output clamped at the zero point already) it
/// changes nothing.
///
/// ```
/// use tinyprop::quant::{QLayer, QRelu};
/// let mut y = [0i8; 3];
/// QRelu { zero_point: -5 }.forward(&[-128, -5, 7], &mut y);
/// assert_eq!(y, [-5, -5, 7]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QRelu {
    /// The zero point of the input (and output): the int8 value of 0.
    pub zero_point: i32,
}

impl Default for QRelu {
    /// The lowest zero point: `max(q, −128)` is the identity.
    fn default() -> Self {
        Self { zero_point: -128 }
    }
}

impl<const N: usize> QLayer<[i8; N]> for QRelu {
    type Output = [i8; N];
    #[allow(clippy::cast_possible_truncation)] // limited to the int8 range first
    fn forward(&self, x: &[i8; N], y: &mut [i8; N]) {
        let z = crate::quant::clamp_i8(self.zero_point);
        for (y, &x) in y.iter_mut().zip(x) {
            *y = i32::from(x).max(z) as i8;
        }
    }
}

impl<const I: usize, const O: usize> Quantize for Dense<f32, I, O> {
    type Q = QDense<I, O>;
}

/// One output channel's int32 bias (`None`: no bias, 0) and float32 weight scale, from its
/// float bias and the weight scale `scale` in double precision.
fn channel(bias: Option<f32>, input_scale: f64, scale: f64) -> Result<(i32, f32), Error> {
    let b = bias.unwrap_or(0.0);
    if !b.is_finite() {
        return Err(Error::NonFiniteModel);
    }
    Ok((quantize_bias(b, input_scale, scale), f32_scale(scale)?))
}

/// The requantization of a layer from its input, weight scales and output.
fn requantize<const O: usize>(
    input: QParams,
    scales: &[f32; O],
    output: QParams,
    activation: Activation,
) -> Result<Requantize<O>, Error> {
    Requantize::new(
        input.scale,
        scales,
        output.scale,
        output.zero_point,
        activation,
    )
}

impl<const I: usize, const O: usize> Calibrate<SMatrix<f32, I, 1>> for Dense<f32, I, O> {
    type Ranges = Range;
    const EMPTY: Range = Range::EMPTY;

    fn observe(&self, x: &SMatrix<f32, I, 1>, y: &mut SMatrix<f32, O, 1>, ranges: &mut Range) {
        self.forward(x, y);
        ranges.include(y.as_slice());
    }

    /// The columns are permuted from the input's channels-first order to the int8 layers'
    /// channels-last order (a no-op for a vector).
    fn build(
        &self,
        input: &Boundary,
        ranges: &Range,
        fuse_relu: bool,
    ) -> Result<(QDense<I, O>, Boundary), Error> {
        let (out, activation) = output_quant(ranges, fuse_relu)?;
        let in_params = input.quant.params()?;
        let out_params = out.params()?;
        let mut weight = [[0i8; I]; O];
        let mut bias = [0i32; O];
        let mut scales = [0f32; O];
        for (o, ((row, b), s)) in weight
            .iter_mut()
            .zip(bias.iter_mut())
            .zip(scales.iter_mut())
            .enumerate()
        {
            let w = self.weight.row(o);
            let scale = weight_scale(w.iter().copied())?;
            for (j, q) in row.iter_mut().enumerate() {
                let v = w.get(input.source(j)).copied().unwrap_or(0.0);
                *q = quantize_weight(v, scale);
            }
            (*b, *s) = channel(self.bias.get(o).copied(), input.quant.scale, scale)?;
        }
        let rq = requantize(in_params, &scales, out_params, activation)?;
        let layer = QDense::new(weight, bias, in_params.zero_point, rq);
        let boundary = Boundary {
            quant: out,
            channels: O,
            pixels: 1,
        };
        Ok((layer, boundary))
    }
}

/// A weight scale as the float32 stored in the model.
#[allow(clippy::cast_possible_truncation)] // the rounding to float32 is the point
fn f32_scale(scale: f64) -> Result<f32, Error> {
    let s = scale as f32;
    if s.is_finite() && s > 0.0 {
        Ok(s)
    } else {
        Err(Error::InvalidQuantization("weight scale"))
    }
}

/// The type of a 2-D convolution of one group, no dilation and a bias.
type Conv2dOf<
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
> = Conv<f32, TwoD, C, O, K, K, H, W, NOUT, S, P, 1, C, SVector<f32, O>, PB>;

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        const P: usize,
        const PB: usize,
    > Quantize for Conv2dOf<C, O, K, H, W, NOUT, S, P, PB>
{
    type Q = QConv2d<C, O, K, H, W, NOUT, S, Explicit<P>>;
}

impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        const P: usize,
        const PB: usize,
        const NIN: usize,
    > Calibrate<SMatrix<f32, NIN, 1>> for Conv2dOf<C, O, K, H, W, NOUT, S, P, PB>
{
    type Ranges = Range;
    const EMPTY: Range = Range::EMPTY;

    fn observe(&self, x: &SMatrix<f32, NIN, 1>, y: &mut SMatrix<f32, NOUT, 1>, r: &mut Range) {
        self.forward(x, y);
        r.include(y.as_slice());
    }

    /// The weight `[O, C, K, K]` becomes `[O, K, K, C]`; the input is taken channels last
    /// whatever `input` says (a convolution's int8 input is a map `H × W × C`).
    fn build(
        &self,
        input: &Boundary,
        ranges: &Range,
        fuse_relu: bool,
    ) -> Result<(Self::Q, Boundary), Error> {
        let (out, activation) = output_quant(ranges, fuse_relu)?;
        let in_params = input.quant.params()?;
        let out_params = out.params()?;
        let mut weight = [[[[0i8; C]; K]; K]; O];
        let mut bias = [0i32; O];
        let mut scales = [0f32; O];
        for (o, ((qo, b), s)) in weight
            .iter_mut()
            .zip(bias.iter_mut())
            .zip(scales.iter_mut())
            .enumerate()
        {
            let Some(wo) = self.weight.get(o) else {
                continue;
            };
            let scale = weight_scale(wo.iter().flatten().flatten().copied())?;
            for (c, wc) in wo.iter().enumerate() {
                for (ky, wr) in wc.iter().enumerate() {
                    for (kx, &v) in wr.iter().enumerate() {
                        let q = qo
                            .get_mut(ky)
                            .and_then(|r| r.get_mut(kx))
                            .and_then(|t| t.get_mut(c));
                        if let Some(q) = q {
                            *q = quantize_weight(v, scale);
                        }
                    }
                }
            }
            (*b, *s) = channel(self.bias.get(o).copied(), input.quant.scale, scale)?;
        }
        let rq = requantize(in_params, &scales, out_params, activation)?;
        let layer = QConv2d::new(weight, bias, in_params.zero_point, rq);
        let boundary = Boundary {
            quant: out,
            channels: O,
            pixels: NOUT.checked_div(O).unwrap_or(0),
        };
        Ok((layer, boundary))
    }
}

/// The int8 kind of a floating-point pooling kind.
///
/// ```
/// use tinyprop::layers::{Avg, Max};
/// use tinyprop::quant::{QAvg, QMax, QuantizePoolKind};
/// let _: core::marker::PhantomData<(QMax, QAvg)> = core::marker::PhantomData::<(
///     <Max as QuantizePoolKind>::Q,
///     <Avg as QuantizePoolKind>::Q,
/// )>;
/// ```
pub trait QuantizePoolKind {
    /// [`QMax`] or [`QAvg`].
    type Q: QPoolKind;
}
impl QuantizePoolKind for Max {
    type Q = QMax;
}
impl QuantizePoolKind for Avg {
    type Q = QAvg;
}

impl<
        Kd: crate::layers::PoolKind + QuantizePoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
    > Quantize for Pool<Kd, TwoD, C, K, K, H, W, NOUT, S, 0>
{
    type Q = QPool2d<Kd::Q, C, K, H, W, NOUT, S, Valid>;
}

impl<
        Kd: crate::layers::PoolKind + QuantizePoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        const NIN: usize,
    > Calibrate<SMatrix<f32, NIN, 1>> for Pool<Kd, TwoD, C, K, K, H, W, NOUT, S, 0>
{
    type Ranges = ();
    const EMPTY: () = ();

    fn observe(&self, x: &SMatrix<f32, NIN, 1>, y: &mut SMatrix<f32, NOUT, 1>, _: &mut ()) {
        self.forward(x, y);
    }

    /// The output keeps the input's quantization; a following ReLU is fused as a clamp.
    fn build(
        &self,
        input: &Boundary,
        _: &(),
        fuse_relu: bool,
    ) -> Result<(Self::Q, Boundary), Error> {
        let params = input.quant.params()?;
        let activation = if fuse_relu {
            Activation::Relu
        } else {
            Activation::None
        };
        let layer = QPool2d::new(activation, params.scale, params.zero_point);
        let boundary = Boundary {
            quant: input.quant,
            channels: C,
            pixels: NOUT.checked_div(C).unwrap_or(0),
        };
        Ok((layer, boundary))
    }
}

impl Quantize for Relu {
    type Q = QRelu;
    const RELU: bool = true;
}

impl<const N: usize> Calibrate<SMatrix<f32, N, 1>> for Relu {
    type Ranges = ();
    const EMPTY: () = ();

    fn observe(&self, x: &SMatrix<f32, N, 1>, y: &mut SMatrix<f32, N, 1>, _: &mut ()) {
        self.forward(x, y);
    }

    /// The output keeps the input's quantization.
    fn build(&self, input: &Boundary, _: &(), _: bool) -> Result<(QRelu, Boundary), Error> {
        Ok((
            QRelu {
                zero_point: input.quant.zero_point,
            },
            *input,
        ))
    }
}

impl Quantize for Flatten {
    type Q = QFlatten;
}

impl<const N: usize> Calibrate<SMatrix<f32, N, 1>> for Flatten {
    type Ranges = ();
    const EMPTY: () = ();

    fn observe(&self, x: &SMatrix<f32, N, 1>, y: &mut SMatrix<f32, N, 1>, _: &mut ()) {
        self.forward(x, y);
    }

    /// The output keeps the input's quantization and its channels-first description: the
    /// next [`Dense`] permutes its columns.
    fn build(&self, input: &Boundary, _: &(), _: bool) -> Result<(QFlatten, Boundary), Error> {
        Ok((QFlatten, *input))
    }
}

macro_rules! quantize_chain {
    ($($L:ident $i:tt $In:ident $Out:ident $Next:ident),+ ; $Ln:ident $n:tt $Xn:ident) => {
        impl<$($L: Quantize,)+ $Ln: Quantize> Quantize for ($($L,)+ $Ln) {
            type Q = ($($L::Q,)+ $Ln::Q);
        }

        impl<X, $($Out,)+ Y, $($L,)+ $Ln> Calibrate<X> for ($($L,)+ $Ln)
        where
            $($Out: Zeroed,)+
            Y: Zeroed,
            $($L: Calibrate<$In> + Layer<f32, $In, Output = $Out>,)+
            $Ln: Calibrate<$Xn> + Layer<f32, $Xn, Output = Y>,
            Self: Layer<f32, X, Output = Y>,
        {
            type Ranges = ($($L::Ranges,)+ $Ln::Ranges);
            const EMPTY: Self::Ranges = ($($L::EMPTY,)+ $Ln::EMPTY);

            fn observe(&self, x: &X, y: &mut Y, ranges: &mut Self::Ranges) {
                let h = x;
                $(
                    let mut out = <$Out as Zeroed>::zeroed();
                    self.$i.observe(h, &mut out, &mut ranges.$i);
                    let h = &out;
                )+
                self.$n.observe(h, y, &mut ranges.$n);
            }

            fn build(
                &self,
                input: &Boundary,
                ranges: &Self::Ranges,
                fuse_relu: bool,
            ) -> Result<(Self::Q, Boundary), Error> {
                let b = *input;
                $(
                    #[allow(non_snake_case)]
                    let ($L, b) = self.$i.build(&b, &ranges.$i, $Next::RELU)?;
                )+
                #[allow(non_snake_case)]
                let ($Ln, b) = self.$n.build(&b, &ranges.$n, fuse_relu)?;
                Ok((($($L,)+ $Ln), b))
            }
        }
    };
}

quantize_chain!(A 0 X B1 B; B 1 B1);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C; C 2 B2);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D; D 3 B3);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E; E 4 B4);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E, E 4 B4 B5 F; F 5 B5);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E, E 4 B4 B5 F, F 5 B5 B6 G; G 6 B6);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E, E 4 B4 B5 F, F 5 B5 B6 G, G 6 B6 B7 H; H 7 B7);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E, E 4 B4 B5 F, F 5 B5 B6 G, G 6 B6 B7 H, H 7 B7 B8 I; I 8 B8);
quantize_chain!(A 0 X B1 B, B 1 B1 B2 C, C 2 B2 B3 D, D 3 B3 B4 E, E 4 B4 B5 F, F 5 B5 B6 G, G 6 B6 B7 H, H 7 B7 B8 I, I 8 B8 B9 J; J 9 B9);

/// The calibrated ranges of a network on `samples`: the input's and every layer's (see
/// [`Calibrate::Ranges`]).
///
/// # Errors
///
/// [`Error::EmptyDataSet`] for no samples, [`Error::NonFiniteSample`] for a sample with a NaN
/// or an infinity.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::quant::{calibrate, Range};
/// let mut net = (Dense::<f32, 1, 1>::default(), Relu);
/// net.0.weight = SMatrix::from([[2.0]]);
/// let (input, (dense, ())) = calibrate(&net, &[[-1.0], [3.0]])?;
/// assert_eq!(input, Range { min: -1.0, max: 3.0 });
/// assert_eq!(dense, Range { min: -2.0, max: 6.0 }); // before the ReLU
/// assert!(calibrate(&net, &[[f32::NAN]]).is_err());
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub fn calibrate<Net, const I: usize>(
    net: &Net,
    samples: &[[f32; I]],
) -> Result<(Range, Net::Ranges), Error>
where
    Net: Calibrate<SMatrix<f32, I, 1>>,
{
    if samples.is_empty() {
        return Err(Error::EmptyDataSet);
    }
    let mut input = Range::EMPTY;
    let mut ranges = Net::EMPTY;
    let mut y = <Net::Output as Zeroed>::zeroed();
    for (index, sample) in samples.iter().enumerate() {
        if !sample.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFiniteSample { index });
        }
        input.include(sample);
        let x = SMatrix::<f32, I, 1>::from([*sample]);
        net.observe(&x, &mut y, &mut ranges);
    }
    Ok((input, ranges))
}

/// Post-training quantization: the int8 model of the trained floating-point `net`, its
/// activation ranges calibrated on `samples` (inputs of `net`, a few hundred representative
/// ones are usual), with the parameters TensorFlow's converter computes (see the
/// [module docs](self)).
///
/// The result's size is a constant of its type, `QModel<<Net as Quantize>::Q>`. Its input is
/// in the int8 layers' order, the same as `net`'s for vectors and one-channel images (see the
/// module docs for more channels).
///
/// # Errors
///
/// [`Error::EmptyDataSet`] for no samples, [`Error::NonFiniteSample`] for a sample with a NaN
/// or an infinity, [`Error::NonFiniteModel`] for a NaN or infinite parameter, and
/// [`Error::InvalidQuantization`] for a tensor whose calibrated range cannot be quantized (all
/// zeros, or infinite).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::quant::quantize;
/// let mut net = (Dense::<f32, 2, 2>::default(), Relu);
/// net.0.weight = SMatrix::from_row_slice(&[1.0, 0.0, 0.0, -1.0]);
/// let q = quantize(&net, &[[0.0, 1.0], [2.0, -1.0]])?;
/// assert_eq!(q.input.zero_point, -43); // the range [−1, 2]
/// assert_eq!(q.output.zero_point, -128); // after the ReLU: [0, 2]
/// let mut y = [0.0f32; 2];
/// q.forward_real(&[2.0, -1.0], &mut y);
/// assert!((y[0] - 2.0).abs() < 1e-6 && (y[1] - 1.0).abs() <= q.output.scale);
/// assert_eq!(quantize(&net, &[]), Err(Error::EmptyDataSet));
/// # Ok::<(), tinyprop::Error>(())
/// ```
pub fn quantize<Net, const I: usize>(
    net: &Net,
    samples: &[[f32; I]],
) -> Result<QModel<Net::Q>, Error>
where
    Net: Calibrate<SMatrix<f32, I, 1>>,
{
    let (input, ranges) = calibrate(net, samples)?;
    let quant = Quantization::from_range(input)?;
    let boundary = Boundary {
        quant,
        channels: 1,
        pixels: I,
    };
    let (layers, out) = net.build(&boundary, &ranges, false)?;
    Ok(QModel {
        input: quant.params()?,
        output: out.quant.params()?,
        layers,
    })
}
