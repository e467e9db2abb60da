//! The int8 layers and models as Rust source ([`RustSource`]): expressions built by `const`
//! constructors and struct literals only, so that a quantized model can be a `static` in a
//! microcontroller's flash (see [`crate::io::rust`] and [`write_static_int8`]).
//!
//! [`write_static_int8`]: crate::io::rust::write_static_int8

use core::fmt::{self, Debug, Write};

use crate::io::rust::RustSource;
use crate::quant::{
    Float64Rounding, Multiplier, Padding, QConv2d, QDense, QDepthwiseConv2d, QFlatten, QModel,
    QParams, QPool2d, QPoolKind, QRelu, Requantize, Rescale, SingleRounding,
};

/// Integers and nested arrays of them: their `Debug` form is a Rust expression.
fn ints<W: Write, T: Debug>(out: &mut W, value: &T) -> fmt::Result {
    write!(out, "{value:?}")
}

impl RustSource for Multiplier {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write!(
            out,
            "tinyprop::quant::Multiplier {{ multiplier: {}, shift: {} }}",
            self.multiplier, self.shift
        )
    }
}

impl RustSource for SingleRounding {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::quant::SingleRounding(")?;
        self.0.write_rust(out)?;
        out.write_char(')')
    }
}

impl RustSource for Float64Rounding {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write!(
            out,
            "tinyprop::quant::Float64Rounding {{ mantissa: {}, exponent: {} }}",
            self.mantissa, self.exponent
        )
    }
}

/// `tinyprop::quant::Requantize { multipliers: [...], zero_point, min, max }`.
impl<const O: usize, M: Rescale + RustSource> RustSource for Requantize<O, M> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::quant::Requantize { multipliers: [")?;
        for (i, m) in self.multipliers.iter().enumerate() {
            if i > 0 {
                out.write_str(", ")?;
            }
            m.write_rust(out)?;
        }
        write!(
            out,
            "], zero_point: {}, min: {}, max: {} }}",
            self.zero_point, self.min, self.max
        )
    }
}

/// `tinyprop::quant::QParams { scale, zero_point }`, the scale in Rust's shortest round-trip
/// form.
impl RustSource for QParams {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write!(
            out,
            "tinyprop::quant::QParams {{ scale: {:?}, zero_point: {} }}",
            self.scale, self.zero_point
        )
    }
}

/// The weight, bias, input zero point and requantization of a layer, as the arguments of its
/// constructor or the fields of its struct literal.
fn write_parts<W: Write, Wt: Debug, const O: usize, M: Rescale + RustSource>(
    out: &mut W,
    fields: bool,
    weight: &Wt,
    bias: &[i32; O],
    input_zero_point: i32,
    output: &Requantize<O, M>,
) -> fmt::Result {
    let name = |out: &mut W, field: &str| {
        if fields {
            write!(out, "{field}: ")
        } else {
            Ok(())
        }
    };
    name(out, "weight")?;
    ints(out, weight)?;
    out.write_str(", ")?;
    name(out, "bias")?;
    ints(out, bias)?;
    out.write_str(", ")?;
    name(out, "input_zero_point")?;
    write!(out, "{input_zero_point}, ")?;
    name(out, "output")?;
    output.write_rust(out)
}

/// `tinyprop::quant::QDense { weight, bias, input_zero_point, output }`.
impl<const I: usize, const O: usize, M: Rescale + RustSource> RustSource for QDense<I, O, M> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::quant::QDense { ")?;
        let (w, b, z, o) = (
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.output,
        );
        write_parts(out, true, w, b, z, o)?;
        out.write_str(" }")
    }
}

/// `tinyprop::quant::QConv2d::new(weight, bias, input_zero_point, output)`.
impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale + RustSource,
    > RustSource for QConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    fn write_rust<Wr: Write>(&self, out: &mut Wr) -> fmt::Result {
        out.write_str("tinyprop::quant::QConv2d::new(")?;
        let (w, b, z, o) = (
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.output,
        );
        write_parts(out, false, w, b, z, o)?;
        out.write_char(')')
    }
}

/// `tinyprop::quant::QDepthwiseConv2d::new(weight, bias, input_zero_point, output)`.
impl<
        const C: usize,
        const O: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
        M: Rescale + RustSource,
    > RustSource for QDepthwiseConv2d<C, O, K, H, W, NOUT, S, Pd, M>
{
    fn write_rust<Wr: Write>(&self, out: &mut Wr) -> fmt::Result {
        out.write_str("tinyprop::quant::QDepthwiseConv2d::new(")?;
        let (w, b, z, o) = (
            &self.weight,
            &self.bias,
            self.input_zero_point,
            &self.output,
        );
        write_parts(out, false, w, b, z, o)?;
        out.write_char(')')
    }
}

/// `tinyprop::quant::QPool2d::from_range(min, max)`.
impl<
        Kind: QPoolKind,
        const C: usize,
        const K: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        Pd: Padding,
    > RustSource for QPool2d<Kind, C, K, H, W, NOUT, S, Pd>
{
    fn write_rust<Wr: Write>(&self, out: &mut Wr) -> fmt::Result {
        write!(
            out,
            "tinyprop::quant::QPool2d::from_range({}, {})",
            self.min, self.max
        )
    }
}

impl RustSource for QFlatten {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::quant::QFlatten")
    }
}

/// `tinyprop::quant::QRelu { zero_point }`.
impl RustSource for QRelu {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        write!(
            out,
            "tinyprop::quant::QRelu {{ zero_point: {} }}",
            self.zero_point
        )
    }
}

/// `tinyprop::quant::QModel { input, output, layers }`.
impl<L: RustSource> RustSource for QModel<L> {
    fn write_rust<W: Write>(&self, out: &mut W) -> fmt::Result {
        out.write_str("tinyprop::quant::QModel { input: ")?;
        self.input.write_rust(out)?;
        out.write_str(", output: ")?;
        self.output.write_rust(out)?;
        out.write_str(", layers: ")?;
        self.layers.write_rust(out)?;
        out.write_str(" }")
    }
}
