//! Convolutions: [`Conv1d`] and [`Conv2d`] (stride, zero padding, dilation, groups, optional
//! bias), like `torch.nn.Conv1d` and `torch.nn.Conv2d`.
//!
//! # Layout
//!
//! A batch stays an `SMatrix<T, N, B>` with one column per sample; a feature map is stored in
//! PyTorch's `C×H×W` order (`C×L` in 1-D) inside the column, so a [`Flatten`](crate::Flatten)
//! (the identity) followed by a [`Dense`](crate::Dense) matches PyTorch's `flatten` + `Linear`
//! weight for weight. The weight is `[out, in/groups, kh, kw]` in PyTorch's (row-major) order.
//!
//! # Shapes, checked when the program is built
//!
//! Stable Rust cannot compute an output size `(H + 2P − D(K−1) − 1)/S + 1` in a type, so the
//! flat output width `NOUT = O·OH·OW` of each layer is stated by the user (it is also the input
//! width of the next layer), and the layer checks it, and every other size, with a `const`
//! assertion whose message gives the expected value:
//!
//! ```text
//! error[E0080]: evaluation panicked: Conv2d output width NOUT must be 288 = O·OH·OW = 8·6·6
//!               for C=1, H=8, W=8, K=3x3, S=1, P=0, D=1 (got 200)
//! ```
//!
//! Such assertions fire when the generic code is instantiated, that is at `cargo build` (and
//! `cargo test`), **not at `cargo check`** (nor in rust-analyzer).
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::{Conv2d, Flatten, MaxPool2d};
//! // 1×8×8 → conv 3×3 padding 1 → 8×8×8 → max pool 2×2 → 8×4×4 → dense 10.
//! type Net = (
//!     Conv2d<f32, 1, 8, 3, 8, 8, { 8 * 8 * 8 }, 1, 1>, // C, O, K, H, W, NOUT, S, P
//!     Relu,
//!     MaxPool2d<8, 2, 8, 8, { 8 * 4 * 4 }>,             // C, K, H, W, NOUT
//!     Flatten,
//!     Dense<f32, 128, 10>,
//! );
//! let mut net = Net::default();
//! net.init(Init::PyTorchDefault, &mut SplitMix64::new(1));
//! let x = SMatrix::<f32, 64, 2>::from_element(0.5);
//! let mut y = SMatrix::<f32, 10, 2>::zeros();
//! net.forward(&x, &mut y);
//! assert!(y.iter().all(|v| v.is_finite()));
//! ```
//!
//! The sizes can be left to a helper: [`conv_out`] is a `const fn`, usable in the type:
//!
//! ```
//! use tinyprop::layers::conv_out;
//! use tinyprop::Conv2d;
//! const OH: usize = conv_out(28, 3, 2, 1, 1); // H, K, S, P, D
//! type Stem = Conv2d<f32, 1, 16, 3, 28, 28, { 16 * OH * OH }, 2, 1>;
//! assert_eq!(OH, 14);
//! ```

//!
//! # Algorithms
//!
//! Inference ([`Layer::forward`]) runs direct loops over the kernel taps: no buffer beyond the
//! input and the output, which is what a microcontroller needs.
//!
//! Training ([`Layer::forward_train`], [`Layer::forward_frozen`] and [`Layer::backward`]) runs
//! im2col: for each sample, the inputs that the taps read for a block of `PB` output positions
//! are copied into a patch matrix (zeros on the padding), and the forward pass, the weight
//! gradient and the input gradient are register-tiled matrix products with it. The patch
//! buffer is part of the layer's training cache ([`ConvCache`]), so the caller owns it, in the
//! [`Workspace`](crate::Workspace), and [`tinyprop::memory`](crate::memory) counts it:
//! `KH·KW·CPG·PB` scalars, whatever the batch. The forward product adds in the order of the
//! direct loops, so training and inference outputs are bit-identical.
//!
//! The algorithm is chosen when the program is built ([`Conv::IM2COL`]): im2col with a buffer
//! (`PB > 0`, the default [`PATCH_BLOCK`]) and at least [`IM2COL_MIN_OPG`] output channels
//! per group; otherwise the direct loops (a depthwise convolution has 1 output channel per
//! group: each patch value would feed a single product, and the copy does not pay). `PB = 0`
//! removes the buffer and trains with the direct loops, for the least memory (the buffer of a
//! layer that trains with the direct loops anyway is `KH·KW·CPG·PB` scalars, small for a
//! depthwise convolution, where `CPG = 1`). A `PB` above `OH·OW` only wastes memory.
//!
//! ```
//! use tinyprop::prelude::*;
//! use tinyprop::{memory, Conv2d};
//! use tinyprop::layers::PATCH_BLOCK;
//! type X = SMatrix<f32, { 16 * 4 * 4 }, 8>;
//! // 16→32 channels 3×3 on 4×4 maps: im2col, blocks of PATCH_BLOCK positions…
//! type Fast = Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1>;
//! // …or blocks of the 16 positions there are, or no buffer (the direct loops).
//! type Fitted = Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1, 1, 16, SVector<f32, 32>, 16>;
//! type Direct = Conv2d<f32, 16, 32, 3, 4, 4, { 32 * 4 * 4 }, 1, 1, 1, 16, SVector<f32, 32>, 0>;
//! assert!(Fast::IM2COL && Fitted::IM2COL && !Direct::IM2COL);
//! type Sgd32<M> = Sgd<f32, <M as Model<f32>>::Grads>;
//! let direct = memory::training_bytes::<f32, X, Direct, Sgd32<Direct>>();
//! let fast = memory::training_bytes::<f32, X, Fast, Sgd32<Fast>>();
//! let fitted = memory::training_bytes::<f32, X, Fitted, Sgd32<Fitted>>();
//! assert_eq!(fast - direct, 3 * 3 * 16 * PATCH_BLOCK * 4);
//! assert_eq!(fitted - direct, 3 * 3 * 16 * 16 * 4);
//! // Inference needs no buffer, whatever PB.
//! assert_eq!(
//!     memory::inference_bytes::<f32, X, Fast>(),
//!     memory::inference_bytes::<f32, X, Direct>()
//! );
//! ```

use core::fmt::Debug;
use core::marker::PhantomData;

use nalgebra::{SMatrix, SVector};
use rand_core::RngCore;

use crate::io::{entry, Kind, Layout, Name, Shape, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{no_buffers, nonempty_batch, split_index};
use crate::layers::Bias;
use crate::{Error, Init, Layer, Model, Parameters, Scalar, Zeroed};

/// One spatial dimension ([`OneD`]) or two ([`TwoD`]): the kind of a [`Conv`] or a
/// [`Pool`](crate::layers::Pool).
pub trait Spatial: Debug + Clone + Copy + Default + PartialEq {
    /// `true` for 2-D layers.
    const TWO_D: bool;
    /// PyTorch's name of the convolution.
    const CONV: &'static str;
}

/// One spatial dimension (`C×L` maps): [`Conv1d`], `MaxPool1d`, `AvgPool1d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OneD;
/// Two spatial dimensions (`C×H×W` maps): [`Conv2d`], `MaxPool2d`, `AvgPool2d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TwoD;

impl Spatial for OneD {
    const TWO_D: bool = false;
    const CONV: &'static str = "Conv1d";
}
impl Spatial for TwoD {
    const TWO_D: bool = true;
    const CONV: &'static str = "Conv2d";
}

/// The output length along one axis: `(n + 2p − d(k−1) − 1)/s + 1`, or 0 if the kernel does
/// not fit the padded input (or `s` or `d` is 0).
///
/// ```
/// assert_eq!(tinyprop::layers::conv_out(8, 3, 2, 1, 1), 4);
/// assert_eq!(tinyprop::layers::conv_out(8, 3, 1, 0, 2), 4);
/// assert_eq!(tinyprop::layers::conv_out(2, 3, 1, 0, 1), 0);
/// ```
pub const fn conv_out(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    if s == 0 || d == 0 || k == 0 {
        return 0;
    }
    let span = match d.checked_mul(k.saturating_sub(1)) {
        Some(v) => v.saturating_add(1),
        None => return 0,
    };
    let padded = n.saturating_add(p.saturating_mul(2));
    match padded.checked_sub(span) {
        Some(room) => match room.checked_div(s) {
            Some(q) => q.saturating_add(1),
            None => 0,
        },
        None => 0,
    }
}

/// The sizes of one convolution or pooling over one sample, at run time: the kernels take
/// these rather than const generics, so that one instance of the loops serves every shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geom {
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
}

impl Geom {
    /// The geometry of a layer of one or two dimensions (in 1-D, the height is 1 and the
    /// stride, padding and dilation apply along the width only).
    #[allow(clippy::too_many_arguments)]
    pub(crate) const fn new(
        two_d: bool,
        kh: usize,
        kw: usize,
        h: usize,
        w: usize,
        s: usize,
        p: usize,
        d: usize,
    ) -> Self {
        let (sh, ph, dh) = if two_d { (s, p, d) } else { (1, 0, 1) };
        Self {
            h,
            w,
            kh,
            kw,
            oh: conv_out(h, kh, sh, ph, dh),
            ow: conv_out(w, kw, s, p, d),
            sh,
            sw: s,
            ph,
            pw: p,
            dh,
            dw: d,
        }
    }

    pub(crate) const fn in_map(&self) -> usize {
        self.h.saturating_mul(self.w)
    }

    pub(crate) const fn out_map(&self) -> usize {
        self.oh.saturating_mul(self.ow)
    }

    /// For kernel tap `(ky, kx)`: calls `f(y_start, x_start, n)` for every output row that the
    /// tap reaches inside the (unpadded) input, where `n` outputs starting at `y_start` (in the
    /// output map) read the inputs `x_start, x_start + sw, …` (in the input map).
    #[inline(always)]
    pub(crate) fn rows(&self, ky: usize, kx: usize, f: impl FnMut(usize, usize, usize)) {
        self.rows_between(ky, kx, 0, usize::MAX, f);
    }

    /// [`Geom::rows`] for the output rows `first .. end` only.
    #[inline(always)]
    pub(crate) fn rows_between(
        &self,
        ky: usize,
        kx: usize,
        first: usize,
        end: usize,
        mut f: impl FnMut(usize, usize, usize),
    ) {
        let Some((oy0, iy0, ny)) = axis(ky, self.sh, self.ph, self.dh, self.h, self.oh) else {
            return;
        };
        let Some((ox0, ix0, nx)) = axis(kx, self.sw, self.pw, self.dw, self.w, self.ow) else {
            return;
        };
        let x_step = self.sh.saturating_mul(self.w);
        let start = oy0.max(first);
        let Some(ny) = oy0.saturating_add(ny).min(end).checked_sub(start) else {
            return;
        };
        let skip = start.wrapping_sub(oy0);
        let mut ys = start.saturating_mul(self.ow).saturating_add(ox0);
        let mut xs = iy0
            .saturating_add(skip.saturating_mul(self.sh))
            .saturating_mul(self.w)
            .saturating_add(ix0);
        for _ in 0..ny {
            f(ys, xs, nx);
            ys = ys.saturating_add(self.ow);
            xs = xs.saturating_add(x_step);
        }
    }
}

/// Along one axis of `n` inputs and `out` outputs, for the kernel tap `k`: the first output
/// whose input `o·s + k·d − p` lies in `[0, n)`, that input, and how many consecutive outputs
/// do. `None` if none does.
#[inline(always)]
fn axis(
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    n: usize,
    out: usize,
) -> Option<(usize, usize, usize)> {
    let s = s.max(1);
    let off = k.saturating_mul(d);
    let o0 = match p.checked_sub(off) {
        Some(gap) if gap > 0 => gap.div_ceil(s),
        _ => 0,
    };
    let i0 = o0.saturating_mul(s).saturating_add(off).checked_sub(p)?;
    let last_in = n.checked_sub(1)?.checked_sub(i0)?;
    let by_input = last_in.checked_div(s)?.saturating_add(1);
    let by_output = out.checked_sub(o0)?;
    let count = by_input.min(by_output);
    (count > 0).then_some((o0, i0, count))
}

/// A short message built at compile time (for the shape checks).
pub(crate) struct Msg {
    buf: [u8; 256],
    len: usize,
}

impl Msg {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends `s`.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // compile time only
    pub(crate) const fn s(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `v` in decimal.
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )] // compile time only
    pub(crate) const fn n(mut self, mut v: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut k = 0;
        loop {
            digits[k] = b'0' + (v % 10) as u8;
            k += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while k > 0 && self.len < self.buf.len() {
            k -= 1;
            self.buf[self.len] = digits[k];
            self.len += 1;
        }
        self
    }

    /// Fails the build with this message.
    #[allow(clippy::panic, clippy::disallowed_methods)] // a build-time check, not a run-time panic
    pub(crate) const fn fail(&self) {
        let (bytes, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(bytes) {
            Ok(s) => panic!("{}", s),
            Err(_) => panic!("a shape check failed"),
        }
    }
}

/// The sizes named in a shape check's message.
struct Dims {
    two_d: bool,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    s: usize,
    p: usize,
    d: usize,
}

impl Dims {
    const fn add(&self, m: Msg) -> Msg {
        let m = m.s(" for C=").n(self.c);
        let m = if self.two_d {
            m.s(", H=")
                .n(self.h)
                .s(", W=")
                .n(self.w)
                .s(", K=")
                .n(self.kh)
                .s("x")
                .n(self.kw)
        } else {
            m.s(", L=").n(self.w).s(", K=").n(self.kw)
        };
        m.s(", S=")
            .n(self.s)
            .s(", P=")
            .n(self.p)
            .s(", D=")
            .n(self.d)
    }
}

/// The sizes every convolution and pooling layer checks: `in` must be `c·h·w`, `nout` must be
/// `o·oh·ow`, the kernel must fit. `what` names the layer, `out_channels` its output channels
/// (`O`, or `C` for pooling).
#[allow(clippy::too_many_arguments)]
pub(crate) const fn check_shapes(
    what: &str,
    out_channels: &str,
    two_d: bool,
    c: usize,
    o: usize,
    kh: usize,
    kw: usize,
    h: usize,
    w: usize,
    nin: usize,
    nout: usize,
    s: usize,
    p: usize,
    d: usize,
) {
    let g = Geom::new(two_d, kh, kw, h, w, s, p, d);
    let dims = Dims {
        two_d,
        c,
        h,
        w,
        kh,
        kw,
        s,
        p,
        d,
    };
    if s == 0 || d == 0 || kh == 0 || kw == 0 || c == 0 || o == 0 {
        Msg::new()
            .s(what)
            .s(": stride, dilation, kernel size and channels must be at least 1")
            .fail();
    }
    if g.oh == 0 || g.ow == 0 {
        dims.add(
            Msg::new()
                .s(what)
                .s(": the kernel does not fit the padded input"),
        )
        .fail();
    }
    let want_in = c.saturating_mul(h).saturating_mul(w);
    if nin != want_in {
        let m = Msg::new().s(what).s(" input width must be ");
        let m = if two_d {
            m.n(want_in).s(" = C·H·W = ").n(c).s("·").n(h).s("·").n(w)
        } else {
            m.n(want_in).s(" = C·L = ").n(c).s("·").n(w)
        };
        m.s(" (got ").n(nin).s(")").fail();
    }
    let want_out = o.saturating_mul(g.oh).saturating_mul(g.ow);
    if nout != want_out {
        let m = Msg::new()
            .s(what)
            .s(" output width NOUT must be ")
            .n(want_out);
        let m = if two_d {
            m.s(" = ")
                .s(out_channels)
                .s("·OH·OW = ")
                .n(o)
                .s("·")
                .n(g.oh)
                .s("·")
                .n(g.ow)
        } else {
            m.s(" = ").s(out_channels).s("·OL = ").n(o).s("·").n(g.ow)
        };
        dims.add(m).s(" (got ").n(nout).s(")").fail();
    }
}

/// A convolution over one or two spatial dimensions; use it through [`Conv1d`] and [`Conv2d`]
/// (or directly, for a kernel that is not square: `KH × KW`).
///
/// * `C` input channels, `O` output channels, `CPG` input channels per group (`C` by default;
///   `C / CPG` groups, so `CPG = 1` with `O` a multiple of `C` is a depthwise convolution).
/// * An input map `H × W` (1-D: `H = KH = 1`), stride `S`, zero padding `P` and dilation `D`
///   (the same along both axes).
/// * `NOUT = O·OH·OW`, the flat output width, checked when the program is built.
/// * `Bi`: the bias, an `SVector<T, O>` or [`NoBias`](crate::layers::NoBias).
/// * `PB`: output positions per block of the im2col patch buffer of the training cache
///   ([`PATCH_BLOCK`] by default; `0`: no buffer, direct loops), see the
///   [module docs](self#algorithms).
///
/// `weight[o][i][ky][kx]` is PyTorch's `weight[o, i, ky, kx]`; the gradients are a value of the
/// same type. The cache ([`ConvCache`]) is the output and the patch buffer. In builds with AVX
/// the layer starts on a 64-byte boundary, its size padded to a multiple of 64 bytes (see
/// [`Dense`](crate::Dense)'s layout).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(target_feature = "avx", repr(C, align(64)))]
pub struct Conv<
    T: Scalar,
    Dm: Spatial,
    const C: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize,
    const P: usize,
    const D: usize,
    const CPG: usize,
    Bi,
    const PB: usize = PATCH_BLOCK,
> {
    /// `[O, CPG, KH, KW]`, row-major as in PyTorch.
    pub weight: [[[[T; KW]; KH]; CPG]; O],
    /// The bias: an `SVector<T, O>`, or [`NoBias`](crate::layers::NoBias).
    pub bias: Bi,
    spatial: PhantomData<Dm>,
}

/// `torch.nn.Conv2d(C, O, K, stride=S, padding=P, dilation=D, groups=C/CPG)` on `H × W` maps,
/// with the flat output width `NOUT = O·OH·OW` stated (see the [module docs](self)).
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::Conv2d;
/// // Depthwise 3×3 with stride 2 and padding 1 on 4 channels of 8×8: 4·4·4 outputs.
/// type Depthwise = Conv2d<f32, 4, 4, 3, 8, 8, 64, 2, 1, 1, 1>;
/// let layer = Depthwise::default();
/// assert_eq!(tinyprop::memory::parameter_count::<f32, Depthwise>(), 4 * 9 + 4);
/// let mut y = SMatrix::<f32, 64, 1>::zeros();
/// layer.forward(&SMatrix::<f32, 256, 1>::zeros(), &mut y);
/// ```
pub type Conv2d<
    T,
    const C: usize,
    const O: usize,
    const K: usize,
    const H: usize,
    const W: usize,
    const NOUT: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    const CPG: usize = C,
    Bi = SVector<T, O>,
    const PB: usize = PATCH_BLOCK,
> = Conv<T, TwoD, C, O, K, K, H, W, NOUT, S, P, D, CPG, Bi, PB>;

/// `torch.nn.Conv1d(C, O, K, stride=S, padding=P, dilation=D, groups=C/CPG)` on `C × L` maps,
/// with the flat output width `NOUT = O·OL` stated.
///
/// ```
/// use tinyprop::prelude::*;
/// use tinyprop::Conv1d;
/// type Wave = Conv1d<f64, 2, 3, 5, 16, { 3 * 12 }>; // C, O, K, L, NOUT
/// let mut y = SMatrix::<f64, 36, 4>::zeros();
/// Wave::default().forward(&SMatrix::<f64, 32, 4>::zeros(), &mut y);
/// ```
pub type Conv1d<
    T,
    const C: usize,
    const O: usize,
    const K: usize,
    const L: usize,
    const NOUT: usize,
    const S: usize = 1,
    const P: usize = 0,
    const D: usize = 1,
    const CPG: usize = C,
    Bi = SVector<T, O>,
    const PB: usize = PATCH_BLOCK,
> = Conv<T, OneD, C, O, 1, K, 1, L, NOUT, S, P, D, CPG, Bi, PB>;

macro_rules! conv_impl {
    ($($item:tt)*) => {
        impl<
                T: Scalar,
                Dm: Spatial,
                const C: usize,
                const O: usize,
                const KH: usize,
                const KW: usize,
                const H: usize,
                const W: usize,
                const NOUT: usize,
                const S: usize,
                const P: usize,
                const D: usize,
                const CPG: usize,
                Bi: Bias<T, O>,
                const PB: usize,
            > $($item)*
    };
}

conv_impl! { Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    /// The geometry of one sample.
    const GEOM: Geom = Geom::new(Dm::TWO_D, KH, KW, H, W, S, P, D);
    /// Whether the training passes run im2col through the cache's patch buffer (see
    /// [`PATCH_BLOCK`]): with a buffer (`PB > 0`) and at least [`IM2COL_MIN_OPG`] output
    /// channels per group; otherwise the direct loops.
    pub const IM2COL: bool = PB > 0 && Self::OPG >= IM2COL_MIN_OPG;
    /// Output channels per group.
    const OPG: usize = match C.checked_div(CPG) {
        Some(groups) => match O.checked_div(groups) {
            Some(opg) => opg,
            None => 1,
        },
        None => 1,
    };

    /// A layer with the given weight (`[O][CPG][KH][KW]`, PyTorch's order) and bias, in a
    /// `const` context: how [`crate::io::rust`] writes a trained convolution into a `static`
    /// that stays in flash.
    ///
    /// ```
    /// use tinyprop::prelude::*;
    /// use tinyprop::Conv1d;
    /// // A 1-D difference filter, no bias: y[i] = x[i + 1] − x[i].
    /// static DIFF: Conv1d<f32, 1, 1, 2, 4, 3, 1, 0, 1, 1, tinyprop::layers::NoBias> =
    ///     Conv1d::from_parts([[[[-1.0, 1.0]]]], tinyprop::layers::NoBias);
    /// let mut y = SMatrix::<f32, 3, 1>::zeros();
    /// DIFF.forward(&SMatrix::<f32, 4, 1>::from_column_slice(&[1.0, 4.0, 9.0, 16.0]), &mut y);
    /// assert_eq!(y.as_slice(), &[3.0, 5.0, 7.0]);
    /// ```
    pub const fn from_parts(weight: [[[[T; KW]; KH]; CPG]; O], bias: Bi) -> Self {
        Self {
            weight,
            bias,
            spatial: PhantomData,
        }
    }

    /// A layer initialised with `init` (PyTorch's default: [`Init::PyTorchDefault`]),
    /// drawing from `rng`.
    pub fn new<R: RngCore + ?Sized>(init: Init, rng: &mut R) -> Self {
        let mut layer = Self::zeroed();
        Model::init(&mut layer, init, rng);
        layer
    }

    /// The weight as one slice, in PyTorch's order.
    pub fn weight_slice(&self) -> &[T] {
        self.weight.as_flattened().as_flattened().as_flattened()
    }

    /// The weight as one mutable slice, in PyTorch's order.
    pub fn weight_slice_mut(&mut self) -> &mut [T] {
        self.weight
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
    }

    /// Fails the build for inconsistent sizes (see the [module docs](self)).
    #[inline(always)]
    #[allow(clippy::disallowed_macros)] // build-time checks
    fn check<const NIN: usize>() {
        const {
            check_shapes(Dm::CONV, "O", Dm::TWO_D, C, O, KH, KW, H, W, NIN, NOUT, S, P, D);
            if CPG == 0 || C % CPG != 0 {
                Msg::new()
                    .s(Dm::CONV)
                    .s(": the input channels per group CPG must divide C=")
                    .n(C)
                    .s(" (got CPG=")
                    .n(CPG)
                    .s(")")
                    .fail();
            } else if O % (C / CPG) != 0 {
                Msg::new()
                    .s(Dm::CONV)
                    .s(": the output channels O=")
                    .n(O)
                    .s(" must be a multiple of the groups C/CPG=")
                    .n(C / CPG)
                    .fail();
            }
        }
    }
}}

conv_impl! { Zeroed for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    fn zeroed() -> Self {
        Self {
            weight: [[[[T::zero(); KW]; KH]; CPG]; O],
            bias: Bi::zeroed(),
            spatial: PhantomData,
        }
    }
    fn set_zero(&mut self) {
        self.weight_slice_mut().fill(T::zero());
        self.bias.set_zero();
    }
}}

conv_impl! { Default for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    /// All weights and biases zero; call [`Model::init`] before training.
    fn default() -> Self {
        Self::zeroed()
    }
}}

conv_impl! { Parameters<T> for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    const COUNT: usize = O * CPG * KH * KW + Bi::COUNT;
    const TENSORS: usize = 1 + Bi::TENSORS;
    fn tensor(&self, i: usize) -> Option<&[T]> {
        match split_index(i, 1) {
            Ok(_) => Some(self.weight_slice()),
            Err(i) => self.bias.tensor(i),
        }
    }
    fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
        match split_index(i, 1) {
            Ok(_) => Some(self.weight_slice_mut()),
            Err(i) => self.bias.tensor_mut(i),
        }
    }
    fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        let Self { weight, bias, .. } = self;
        core::iter::once(weight.as_flattened_mut().as_flattened_mut().as_flattened_mut())
            .chain(bias.tensors_mut())
    }
}}

// `weight` `[O, CPG, KH, KW]` (`[O, CPG, K]` in 1-D) and, with a bias, `bias` `[O]`, as
// `torch.nn.Conv2d` (`Conv1d`).
conv_impl! { StateDict<T> for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    const ENTRIES: usize = 1 + Bi::TENSORS;

    fn visit<F>(&self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
    {
        let shape = Self::weight_shape();
        let weight = Values::Float(self.weight_slice());
        entry(prefix, "weight", shape, Kind::Parameter, Layout::RowMajor, weight, f)?;
        match self.bias.tensor(0) {
            Some(b) => entry(
                prefix,
                "bias",
                Shape::vector(O),
                Kind::Parameter,
                Layout::RowMajor,
                Values::Float(b),
                f,
            ),
            None => Ok(()),
        }
    }

    fn visit_mut<F>(&mut self, prefix: &mut Name, f: &mut F) -> Result<(), Error>
    where
        F: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
    {
        let shape = Self::weight_shape();
        let Self { weight, bias, .. } = self;
        let weight = ValuesMut::Float(weight.as_flattened_mut().as_flattened_mut().as_flattened_mut());
        entry(prefix, "weight", shape, Kind::Parameter, Layout::RowMajor, weight, f)?;
        match bias.tensor_mut(0) {
            Some(b) => entry(
                prefix,
                "bias",
                Shape::vector(O),
                Kind::Parameter,
                Layout::RowMajor,
                ValuesMut::Float(b),
                f,
            ),
            None => Ok(()),
        }
    }
}}

conv_impl! { Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    fn weight_shape() -> Shape {
        if Dm::TWO_D {
            Shape::new([O, CPG, KH, KW], 4)
        } else {
            Shape::new([O, CPG, KW, 0], 3)
        }
    }
}}

/// The shape of one output sample of a layer of `o` channels and geometry `g`.
pub(crate) fn map_shape(two_d: bool, o: usize, g: &Geom) -> Shape {
    if two_d {
        Shape::new([o, g.oh, g.ow, 0], 3)
    } else {
        Shape::matrix(o, g.ow)
    }
}

conv_impl! { Model<T> for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB> {
    type Grads = Self;
    no_buffers!();

    fn describe(
        &self,
        name: &str,
        _input: Shape,
        row: &mut dyn FnMut(&crate::layer::LayerRow<'_>) -> core::fmt::Result,
    ) -> Result<Shape, core::fmt::Error> {
        let output = map_shape(Dm::TWO_D, O, &Self::GEOM);
        row(&crate::layer::LayerRow::leaf::<T, Self>(name, Dm::CONV, output, true))?;
        Ok(output)
    }

    /// PyTorch's fans: `fan_in = CPG·KH·KW`, `fan_out = O·KH·KW`.
    fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
        let taps = KH.saturating_mul(KW);
        let fan_in = CPG.saturating_mul(taps);
        let fan_out = O.saturating_mul(taps);
        init.fill_weights(self.weight_slice_mut(), fan_in, fan_out, rng);
        self.bias.init(init, fan_in, rng);
    }
}}

impl<
        T: Scalar,
        Dm: Spatial,
        const C: usize,
        const O: usize,
        const KH: usize,
        const KW: usize,
        const H: usize,
        const W: usize,
        const NOUT: usize,
        const S: usize,
        const P: usize,
        const D: usize,
        const CPG: usize,
        Bi: Bias<T, O>,
        const PB: usize,
        const NIN: usize,
        const B: usize,
    > Layer<T, SMatrix<T, NIN, B>> for Conv<T, Dm, C, O, KH, KW, H, W, NOUT, S, P, D, CPG, Bi, PB>
{
    type Output = SMatrix<T, NOUT, B>;
    type Cache = ConvCache<T, NOUT, B, KH, KW, CPG, PB>;

    /// The direct loops over the taps: no scratch buffer (the patch buffer is in the training
    /// cache), the same sums in the same order as the training passes.
    fn forward(&self, x: &SMatrix<T, NIN, B>, y: &mut Self::Output) {
        nonempty_batch::<B>();
        Self::check::<NIN>();
        let g = Self::GEOM;
        let w = self.weight_slice();
        let bias = self.bias.tensor(0);
        for (xs, ys) in x.data.0.iter().zip(y.data.0.iter_mut()) {
            forward(&g, CPG, Self::OPG, w, bias, xs, ys);
        }
    }

    fn forward_train<'c>(
        &mut self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        self.forward_frozen(x, cache)
    }

    fn forward_frozen<'c>(
        &self,
        x: &SMatrix<T, NIN, B>,
        cache: &'c mut Self::Cache,
    ) -> &'c Self::Output {
        nonempty_batch::<B>();
        Self::check::<NIN>();
        let ConvCache { output, patches } = cache;
        let patches = patches
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut();
        if !Self::IM2COL || patches.is_empty() {
            self.forward(x, output);
        } else {
            let g = Self::GEOM;
            let w = self.weight_slice();
            let bias = self.bias.tensor(0);
            for (xs, ys) in x.data.0.iter().zip(output.data.0.iter_mut()) {
                let sample = Sample {
                    g: &g,
                    cpg: CPG,
                    opg: Self::OPG,
                    x: xs,
                    pb: PB,
                };
                sample.forward(w, bias, ys, patches);
            }
        }
        output
    }

    fn output(cache: &Self::Cache) -> &Self::Output {
        &cache.output
    }

    fn backward(
        &self,
        x: &SMatrix<T, NIN, B>,
        cache: &mut Self::Cache,
        dy: &mut Self::Output,
        mut dx: Option<&mut SMatrix<T, NIN, B>>,
        grads: Option<&mut Self>,
    ) {
        Self::check::<NIN>();
        let g = Self::GEOM;
        let patches = cache
            .patches
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut();
        let w = self.weight_slice();
        let mut gw = None;
        if let Some(grads) = grads {
            let Self { weight, bias, .. } = grads;
            if let Some(gb) = bias.tensor_mut(0) {
                let map = g.out_map().max(1);
                for dys in dy.data.0.iter() {
                    for (b, m) in gb.iter_mut().zip(dys.chunks_exact(map.max(1))) {
                        *b += m.iter().fold(T::zero(), |a, &v| a + v);
                    }
                }
            }
            gw = Some(
                weight
                    .as_flattened_mut()
                    .as_flattened_mut()
                    .as_flattened_mut(),
            );
        }
        if !Self::IM2COL || patches.is_empty() {
            if let Some(gw) = gw {
                for (xs, dys) in x.data.0.iter().zip(dy.data.0.iter()) {
                    weight_grad(&g, CPG, Self::OPG, gw, xs, dys);
                }
            }
            if let Some(dx) = dx {
                for (dxs, dys) in dx.data.0.iter_mut().zip(dy.data.0.iter()) {
                    input_grad(&g, CPG, Self::OPG, w, dys, dxs);
                }
            }
            return;
        }
        for (s, (xs, dys)) in x.data.0.iter().zip(dy.data.0.iter()).enumerate() {
            let sample = Sample {
                g: &g,
                cpg: CPG,
                opg: Self::OPG,
                x: xs,
                pb: PB,
            };
            let dxs = dx
                .as_deref_mut()
                .and_then(|dx| dx.data.0.get_mut(s))
                .map(|c| c.as_mut_slice());
            sample.backward(w, dys, gw.as_deref_mut(), dxs, patches);
        }
    }
}

/// The training cache of a [`Conv`]: its output, and the patch buffer of the im2col products:
/// `PB` output positions of each of the `KH·KW·CPG` rows of the patch matrix (none for
/// `PB = 0`, where training runs the direct loops). It is part of the
/// [`Workspace`](crate::Workspace), so [`crate::memory::training_bytes`] counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvCache<
    T: Scalar,
    const NOUT: usize,
    const B: usize,
    const KH: usize,
    const KW: usize,
    const CPG: usize,
    const PB: usize,
> {
    /// The output of the forward pass.
    pub output: SMatrix<T, NOUT, B>,
    /// Scratch of the im2col products: the rows of the patch matrix by tap, then input
    /// channel; holds unspecified values between calls.
    patches: [[[[T; PB]; CPG]; KW]; KH],
}

impl<
        T: Scalar,
        const NOUT: usize,
        const B: usize,
        const KH: usize,
        const KW: usize,
        const CPG: usize,
        const PB: usize,
    > Zeroed for ConvCache<T, NOUT, B, KH, KW, CPG, PB>
{
    fn zeroed() -> Self {
        Self {
            output: SMatrix::zeros(),
            patches: [[[[T::zero(); PB]; CPG]; KW]; KH],
        }
    }
    fn set_zero(&mut self) {
        self.output.set_zero();
        self.patches
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
            .fill(T::zero());
    }
}

/// `y[i] += w · x[i·s]` for the `y.len()` elements (contiguous for `s = 1`, which vectorizes).
#[inline(always)]
fn axpy<T: Scalar>(y: &mut [T], w: T, x: &[T], s: usize) {
    if s == 1 {
        for (yv, &xv) in y.iter_mut().zip(x) {
            *yv += w * xv;
        }
    } else {
        for (yv, &xv) in y.iter_mut().zip(x.iter().step_by(s.max(1))) {
            *yv += w * xv;
        }
    }
}

/// `x[i·s] += w · y[i]` for the `y.len()` elements.
#[inline(always)]
fn axpy_scatter<T: Scalar>(x: &mut [T], w: T, y: &[T], s: usize) {
    if s == 1 {
        for (xv, &yv) in x.iter_mut().zip(y) {
            *xv += w * yv;
        }
    } else {
        for (xv, &yv) in x.iter_mut().step_by(s.max(1)).zip(y) {
            *xv += w * yv;
        }
    }
}

/// `Σ y[i] · x[i·s]`.
#[inline(always)]
fn dot<T: Scalar>(y: &[T], x: &[T], s: usize) -> T {
    let mut acc = T::zero();
    if s == 1 {
        for (&yv, &xv) in y.iter().zip(x) {
            acc += yv * xv;
        }
    } else {
        for (&yv, &xv) in y.iter().zip(x.iter().step_by(s.max(1))) {
            acc += yv * xv;
        }
    }
    acc
}

/// The sizes of one sample's loops: (input map, output map, taps, weights per output
/// channel, input channels per group, output channels per group), none 0.
fn loop_sizes(g: &Geom, cpg: usize, opg: usize) -> (usize, usize, usize, usize, usize, usize) {
    let taps = g.kh.saturating_mul(g.kw).max(1);
    let cpg = cpg.max(1);
    (
        g.in_map().max(1),
        g.out_map().max(1),
        taps,
        cpg.saturating_mul(taps),
        cpg,
        opg.max(1),
    )
}

/// `(t, (ky, kx))` for each tap `t` of the kernel, in row-major order.
#[inline(always)]
fn kernel_taps(g: &Geom) -> impl Iterator<Item = (usize, (usize, usize))> {
    let kw = g.kw;
    (0..g.kh)
        .flat_map(move |ky| (0..kw).map(move |kx| (ky, kx)))
        .enumerate()
}

// The loops below visit, for each output channel and kernel tap, the rows of the output that
// the tap reaches (`Geom::rows`), and within a row every input channel of the group, so that
// the row bounds are computed once per tap rather than once per input channel.

/// One sample: `y = conv(x, w) + bias`.
fn forward<T: Scalar>(
    g: &Geom,
    cpg: usize,
    opg: usize,
    w: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    let (in_map, out_map, taps, per_out, cpg, opg) = loop_sizes(g, cpg, opg);
    y.fill(T::zero());
    let x_groups = x.chunks_exact(cpg.saturating_mul(in_map).max(1));
    let y_groups = y.chunks_exact_mut(opg.saturating_mul(out_map).max(1));
    let w_groups = w.chunks_exact(opg.saturating_mul(per_out).max(1));
    for ((xg, yg), wg) in x_groups.zip(y_groups).zip(w_groups) {
        for (ymap, wo) in yg
            .chunks_exact_mut(out_map.max(1))
            .zip(wg.chunks_exact(per_out.max(1)))
        {
            for (t, (ky, kx)) in kernel_taps(g) {
                g.rows(ky, kx, |ys, xs, n| {
                    let Some(yr) = ymap.get_mut(ys..ys.saturating_add(n)) else {
                        return;
                    };
                    let weights = wo.iter().skip(t).step_by(taps.max(1));
                    for (xmap, &wv) in xg.chunks_exact(in_map.max(1)).zip(weights) {
                        if let Some(xr) = xmap.get(xs..) {
                            axpy(yr, wv, xr, g.sw);
                        }
                    }
                });
            }
        }
    }
    if let Some(bias) = bias {
        for (ymap, &b) in y.chunks_exact_mut(out_map.max(1)).zip(bias) {
            for v in ymap {
                *v += b;
            }
        }
    }
}

/// One sample: adds `∂L/∂w` of `dy` and `x` to `gw`.
fn weight_grad<T: Scalar>(g: &Geom, cpg: usize, opg: usize, gw: &mut [T], x: &[T], dy: &[T]) {
    let (in_map, out_map, taps, per_out, cpg, opg) = loop_sizes(g, cpg, opg);
    let x_groups = x.chunks_exact(cpg.saturating_mul(in_map).max(1));
    let y_groups = dy.chunks_exact(opg.saturating_mul(out_map).max(1));
    let w_groups = gw.chunks_exact_mut(opg.saturating_mul(per_out).max(1));
    for ((xg, yg), wg) in x_groups.zip(y_groups).zip(w_groups) {
        for (dymap, wo) in yg
            .chunks_exact(out_map.max(1))
            .zip(wg.chunks_exact_mut(per_out.max(1)))
        {
            for (t, (ky, kx)) in kernel_taps(g) {
                g.rows(ky, kx, |ys, xs, n| {
                    let Some(yr) = dymap.get(ys..ys.saturating_add(n)) else {
                        return;
                    };
                    let grads = wo.iter_mut().skip(t).step_by(taps.max(1));
                    for (xmap, gv) in xg.chunks_exact(in_map.max(1)).zip(grads) {
                        if let Some(xr) = xmap.get(xs..) {
                            *gv += dot(yr, xr, g.sw);
                        }
                    }
                });
            }
        }
    }
}

/// One sample: `dx = convᵀ(dy, w)`.
fn input_grad<T: Scalar>(g: &Geom, cpg: usize, opg: usize, w: &[T], dy: &[T], dx: &mut [T]) {
    let (in_map, out_map, taps, per_out, cpg, opg) = loop_sizes(g, cpg, opg);
    dx.fill(T::zero());
    let x_groups = dx.chunks_exact_mut(cpg.saturating_mul(in_map).max(1));
    let y_groups = dy.chunks_exact(opg.saturating_mul(out_map).max(1));
    let w_groups = w.chunks_exact(opg.saturating_mul(per_out).max(1));
    for ((xg, yg), wg) in x_groups.zip(y_groups).zip(w_groups) {
        for (dymap, wo) in yg
            .chunks_exact(out_map.max(1))
            .zip(wg.chunks_exact(per_out.max(1)))
        {
            for (t, (ky, kx)) in kernel_taps(g) {
                g.rows(ky, kx, |ys, xs, n| {
                    let Some(yr) = dymap.get(ys..ys.saturating_add(n)) else {
                        return;
                    };
                    let weights = wo.iter().skip(t).step_by(taps.max(1));
                    for (xmap, &wv) in xg.chunks_exact_mut(in_map.max(1)).zip(weights) {
                        if let Some(xr) = xmap.get_mut(xs..) {
                            axpy_scatter(xr, wv, yr, g.sw);
                        }
                    }
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// im2col: the training passes through the patch buffer of the cache.
//
// For each sample and group, the output positions are taken in blocks of `PB`, and the patch
// matrix of a block (one row per kernel tap and input channel, one column per output
// position: the input that this tap of this channel reads for this output, zero on the
// padding) is copied into the patch buffer. Then:
//
// * forward: the outputs are the weights times the patch matrix, in register tiles of 4
//   output channels × 2 vectors of positions. The buffer holds the patch matrix by rows, tap
//   by tap (row `t·CPG + c`), so that each output is summed in the order of the direct loops
//   (taps, then channels, then the bias): the results are bit-identical to
//   [`Layer::forward`]'s.
// * backward: the buffer holds the patch matrix transposed, one position at a time with its
//   rows in the weights' order (`c·taps + t`). The weight gradient adds the output gradient
//   times it (tiles of 4 output channels × 2 vectors of weights); the input gradient, the
//   weights transposed times the output gradient (tiles of 4 positions × 2 vectors of patch
//   rows), is written into the buffer, then added into the input positions it was read from
//   (col2im).

/// Output positions per block of a [`Conv`]'s im2col patch buffer by default (the type
/// parameter `PB`): the buffer holds `KH·KW·CPG·PB` scalars. `PB = 0` trains with the direct
/// loops and no buffer.
pub const PATCH_BLOCK: usize = 32;

/// The fewest output channels per group for which a [`Conv`] with a patch buffer trains
/// with im2col ([`Conv::IM2COL`]): with fewer (a depthwise convolution has 1), each patch
/// value feeds too few products to pay for its copy, and the direct loops are faster.
pub const IM2COL_MIN_OPG: usize = 4;

use crate::kernels::{block, block_mut, column_calls, is_f32, COLUMN_CALLS};

/// Whether the tiles go through their columns as one call per column ([`column_calls`]): on
/// AVX-512 targets and targets without vector registers ([`COLUMN_CALLS`]), and in builds
/// with debug assertions (tests, debug builds, lightly optimized at most), where a loop over
/// the columns kept a tile's sums in memory (the digits CNN test ran 8 % longer). Elsewhere
/// optimized builds keep the loop.
const WRITTEN_OUT: bool = COLUMN_CALLS || cfg!(debug_assertions);

/// Elements of `f32` and `f64` in a vector register of the build target.
const LANES32: usize = crate::kernels::VECTOR_BYTES / 4;
const LANES64: usize = crate::kernels::VECTOR_BYTES / 8;

/// `sums += v · b`, element by element. In builds with debug assertions (tests, debug
/// builds, lightly optimized at most) written out for the tile heights of the default targets
/// (2, 4 and 8 elements; [`crate::kernels::add_scaled_by`]), so that they call no iterator
/// code per multiply-add: the loop made a convolution there more than twice as slow.
/// Optimized builds keep the loop.
#[inline(always)]
fn add_scaled<T: Scalar, const N: usize>(sums: &mut [T; N], v: &[T; N], b: T) {
    crate::kernels::add_scaled_by::<{ cfg!(debug_assertions) }, T, N>(sums, v, b);
}

/// Writes the columns of the tile `acc` to `dst` from `at`, `stride` apart.
///
/// Where [`WRITTEN_OUT`], the tiles go through their columns as one call per column
/// ([`column_calls`]): on AVX-512 targets LLVM vectorizes a loop over a tile's columns
/// *across* them, with the accumulators gathered from and scattered to memory, several times
/// slower.
#[inline(always)]
fn store_columns<T: Copy, const NR: usize, const MR: usize>(
    acc: &mut [[T; MR]; NR],
    dst: &mut [T],
    at: usize,
    stride: usize,
) {
    if WRITTEN_OUT {
        let offsets: [usize; NR] =
            core::array::from_fn(|jj| at.saturating_add(jj.saturating_mul(stride)));
        column_calls(acc, &offsets, |sums, &at| {
            if let Some(d) = block_mut::<T, MR>(dst, at) {
                *d = *sums;
            }
        });
    } else {
        let mut at = at;
        for sums in acc.iter() {
            if let Some(d) = block_mut::<T, MR>(dst, at) {
                *d = *sums;
            }
            at = at.saturating_add(stride);
        }
    }
}

/// One kind of register tile of a product: `NR` columns from `j`, `MR` rows from `i`.
trait Tile {
    fn run<const NR: usize, const MR: usize>(&mut self, j: usize, i: usize);
}

/// Covers `cols × rows` with tiles of 4 columns (then single ones) × `M2` rows (then `M1`,
/// then single ones).
#[inline(always)]
fn tiles<Op: Tile, const M2: usize, const M1: usize>(cols: usize, rows: usize, op: &mut Op) {
    // Offsets inside one block: far from overflowing.
    let mut j: usize = 0;
    while j.wrapping_add(4) <= cols {
        tile_rows::<Op, 4, M2, M1>(j, rows, op);
        j = j.wrapping_add(4);
    }
    while j < cols {
        tile_rows::<Op, 1, M2, M1>(j, rows, op);
        j = j.wrapping_add(1);
    }
}

#[inline(always)]
fn tile_rows<Op: Tile, const NR: usize, const M2: usize, const M1: usize>(
    j: usize,
    rows: usize,
    op: &mut Op,
) {
    let mut i: usize = 0;
    while i.wrapping_add(M2) <= rows {
        op.run::<NR, M2>(j, i);
        i = i.wrapping_add(M2);
    }
    while i.wrapping_add(M1) <= rows {
        op.run::<NR, M1>(j, i);
        i = i.wrapping_add(M1);
    }
    while i < rows {
        op.run::<NR, 1>(j, i);
        i = i.wrapping_add(1);
    }
}

/// [`tiles`] with tiles of two vector registers' worth of rows of `T` (then one).
#[inline(always)]
fn tiles_of<T, Op: Tile>(cols: usize, rows: usize, op: &mut Op) {
    if const { is_f32::<T>() } {
        tiles::<Op, { 2 * LANES32 }, LANES32>(cols, rows, op);
    } else {
        tiles::<Op, { 2 * LANES64 }, LANES64>(cols, rows, op);
    }
}

/// One sample of a convolution through the patch buffer.
struct Sample<'a, T> {
    g: &'a Geom,
    cpg: usize,
    opg: usize,
    x: &'a [T],
    pb: usize,
}

/// The sizes of one block of output positions of one group.
#[derive(Clone, Copy)]
struct Block {
    /// The first output position, and how many there are (at most `pb`).
    n0: usize,
    nb: usize,
    /// Positions per row of the patch buffer.
    pb: usize,
    taps: usize,
    cpg: usize,
    opg: usize,
    /// Weights per output channel, and rows of the patch matrix (`cpg · taps`).
    per_out: usize,
    in_map: usize,
    out_map: usize,
}

impl<T: Scalar> Sample<'_, T> {
    /// The blocks of output positions of every group: calls `f` with the block, the group's
    /// input maps, and its index.
    fn blocks(&self, mut f: impl FnMut(&Block, &[T], usize)) {
        let (in_map, out_map, taps, per_out, cpg, opg) = loop_sizes(self.g, self.cpg, self.opg);
        let pb = self.pb.max(1);
        for (gi, xg) in self
            .x
            .chunks_exact((cpg.saturating_mul(in_map)).max(1))
            .enumerate()
        {
            let mut n0: usize = 0;
            while n0 < out_map {
                let nb = out_map.wrapping_sub(n0).min(pb);
                let b = Block {
                    n0,
                    nb,
                    pb,
                    taps,
                    cpg,
                    opg,
                    per_out,
                    in_map,
                    out_map,
                };
                f(&b, xg, gi);
                n0 = n0.wrapping_add(nb);
            }
        }
    }

    /// `y = conv(x, w) + bias`, bit-identical to [`forward`].
    fn forward(&self, w: &[T], bias: Option<&[T]>, y: &mut [T], patches: &mut [T]) {
        let (_, out_map, _, per_out, _, opg) = loop_sizes(self.g, self.cpg, self.opg);
        let y_group = opg.saturating_mul(out_map);
        let w_group = opg.saturating_mul(per_out);
        self.blocks(|b, xg, gi| {
            let yg = y.get_mut(gi.saturating_mul(y_group)..);
            let wg = w.get(gi.saturating_mul(w_group)..);
            let (Some(yg), Some(wg)) = (yg, wg) else {
                return;
            };
            b.fill_rows(self.g, xg, patches);
            let mut op = Forward {
                b,
                w: wg,
                patches,
                y: yg,
            };
            tiles_of::<T, _>(b.opg, b.nb, &mut op);
        });
        if let Some(bias) = bias {
            for (ymap, &bv) in y.chunks_exact_mut(out_map.max(1)).zip(bias) {
                for v in ymap {
                    *v += bv;
                }
            }
        }
    }

    /// Adds `∂L/∂w` of `dy` to `gw` (if given) and writes `∂L/∂x` into `dx` (if given).
    fn backward(
        &self,
        w: &[T],
        dy: &[T],
        mut gw: Option<&mut [T]>,
        mut dx: Option<&mut [T]>,
        patches: &mut [T],
    ) {
        let (in_map, out_map, _, per_out, cpg, opg) = loop_sizes(self.g, self.cpg, self.opg);
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(T::zero());
        }
        let y_group = opg.saturating_mul(out_map);
        let w_group = opg.saturating_mul(per_out);
        let x_group = cpg.saturating_mul(in_map);
        self.blocks(|b, xg, gi| {
            let (Some(dyg), Some(wg)) = (
                dy.get(gi.saturating_mul(y_group)..),
                w.get(gi.saturating_mul(w_group)..),
            ) else {
                return;
            };
            if let Some(gwg) = gw
                .as_deref_mut()
                .and_then(|gw| gw.get_mut(gi.saturating_mul(w_group)..))
            {
                b.fill_columns(self.g, xg, patches);
                let mut op = WeightGrad {
                    b,
                    dy: dyg,
                    patches,
                    gw: gwg,
                };
                tiles_of::<T, _>(b.opg, b.per_out, &mut op);
            }
            if let Some(dxg) = dx
                .as_deref_mut()
                .and_then(|dx| dx.get_mut(gi.saturating_mul(x_group)..))
            {
                let mut op = InputGrad {
                    b,
                    w: wg,
                    dy: dyg,
                    patches,
                };
                tiles_of::<T, _>(b.nb, b.per_out, &mut op);
                b.col2im(self.g, patches, dxg);
            }
        });
    }
}

impl Block {
    /// The patch matrix of this block by rows (row `t·cpg + c`, `pb` apart), from the
    /// group's input maps `xg`.
    fn fill_rows<T: Scalar>(&self, g: &Geom, xg: &[T], patches: &mut [T]) {
        for row in patches.chunks_exact_mut(self.pb.max(1)).take(self.per_out) {
            if let Some(r) = row.get_mut(..self.nb) {
                r.fill(T::zero());
            }
        }
        let per_tap = patches.chunks_exact_mut(self.cpg.saturating_mul(self.pb).max(1));
        for ((_, (ky, kx)), tap_rows) in kernel_taps(g).zip(per_tap) {
            self.runs(g, ky, kx, |p0, xs, len| {
                let rows = tap_rows.chunks_exact_mut(self.pb.max(1));
                for (prow, xmap) in rows.zip(xg.chunks_exact(self.in_map.max(1))) {
                    let dst = prow.get_mut(p0..p0.saturating_add(len));
                    if let (Some(dst), Some(src)) = (dst, xmap.get(xs..)) {
                        for (d, &v) in dst.iter_mut().zip(src.iter().step_by(g.sw.max(1))) {
                            *d = v;
                        }
                    }
                }
            });
        }
    }

    /// The patch matrix of this block transposed: position `p` at `p·per_out`, its rows in
    /// the weights' order (`c·taps + t`).
    fn fill_columns<T: Scalar>(&self, g: &Geom, xg: &[T], patches: &mut [T]) {
        if let Some(used) = patches.get_mut(..self.nb.saturating_mul(self.per_out)) {
            used.fill(T::zero());
        }
        let step = self.per_out.max(1);
        for (t, (ky, kx)) in kernel_taps(g) {
            self.runs(g, ky, kx, |p0, xs, len| {
                let start = p0.saturating_mul(step).saturating_add(t);
                let Some(cols) = patches.get_mut(start..) else {
                    return;
                };
                let mut k: usize = 0;
                for xmap in xg.chunks_exact(self.in_map.max(1)).take(self.cpg) {
                    let src = xmap.get(xs..).unwrap_or(&[]).iter().step_by(g.sw.max(1));
                    let dst = cols
                        .get_mut(k..)
                        .unwrap_or(&mut [])
                        .iter_mut()
                        .step_by(step.max(1));
                    for (d, &v) in dst.zip(src).take(len) {
                        *d = v;
                    }
                    k = k.saturating_add(self.taps);
                }
            });
        }
    }

    /// Adds the transposed patch matrix's gradient in the buffer (laid out as by
    /// [`Block::fill_columns`]) into the input positions it was read from: col2im.
    fn col2im<T: Scalar>(&self, g: &Geom, patches: &[T], dxg: &mut [T]) {
        let step = self.per_out.max(1);
        for (t, (ky, kx)) in kernel_taps(g) {
            self.runs(g, ky, kx, |p0, xs, len| {
                let start = p0.saturating_mul(step).saturating_add(t);
                let Some(cols) = patches.get(start..) else {
                    return;
                };
                let mut k: usize = 0;
                for xmap in dxg.chunks_exact_mut(self.in_map.max(1)).take(self.cpg) {
                    let dst = xmap.get_mut(xs..).unwrap_or(&mut []);
                    let src = cols.get(k..).unwrap_or(&[]).iter().step_by(step.max(1));
                    for (d, &v) in dst.iter_mut().step_by(g.sw.max(1)).zip(src).take(len) {
                        *d += v;
                    }
                    k = k.saturating_add(self.taps);
                }
            });
        }
    }

    /// For tap `(ky, kx)`: calls `f(p, xs, n)` for each run of `n` outputs of this block that
    /// the tap reaches inside the input, starting at position `p` of the block and reading the
    /// inputs `xs, xs + sw, …` of a map.
    #[inline(always)]
    fn runs(&self, g: &Geom, ky: usize, kx: usize, mut f: impl FnMut(usize, usize, usize)) {
        let end = self.n0.saturating_add(self.nb);
        let ow = g.ow.max(1);
        let first_row = self.n0.checked_div(ow).unwrap_or(0);
        let end_row = end.div_ceil(ow);
        g.rows_between(ky, kx, first_row, end_row, |ys, xs, n| {
            let lo = ys.max(self.n0);
            let hi = ys.saturating_add(n).min(end);
            if lo >= hi {
                return;
            }
            let skip = lo.wrapping_sub(ys);
            let xs = xs.saturating_add(skip.saturating_mul(g.sw));
            f(lo.wrapping_sub(self.n0), xs, hi.wrapping_sub(lo));
        });
    }
}

/// The forward product of one block: outputs `y[j][n0 + i]` of the group (`[opg][out_map]`)
/// from the weights `w` (`[opg][cpg][taps]`) and the patch matrix by rows.
struct Forward<'a, T> {
    b: &'a Block,
    w: &'a [T],
    patches: &'a [T],
    y: &'a mut [T],
}

impl<T: Scalar> Tile for Forward<'_, T> {
    #[inline(always)]
    fn run<const NR: usize, const MR: usize>(&mut self, j: usize, i: usize) {
        let b = self.b;
        let Some(w) = self.w.get(j.saturating_mul(b.per_out)..) else {
            return;
        };
        let mut acc = [[T::zero(); MR]; NR];
        let mut rows = self.patches.chunks_exact(b.pb.max(1));
        // The rows by tap, then channel: the order of the direct loops' sums.
        for t in 0..b.taps {
            let mut widx = t;
            for _ in 0..b.cpg {
                let Some(av) = rows.next().and_then(|r| block::<T, MR>(r, i)) else {
                    return;
                };
                if WRITTEN_OUT {
                    let wv: [T; NR] = core::array::from_fn(|jj| {
                        let wo = widx.wrapping_add(jj.wrapping_mul(b.per_out));
                        w.get(wo).copied().unwrap_or_else(T::zero)
                    });
                    column_calls(&mut acc, &wv, |sums, &wv| add_scaled(sums, av, wv));
                } else {
                    let mut wo = widx;
                    for sums in acc.iter_mut() {
                        let wv = w.get(wo).copied().unwrap_or_else(T::zero);
                        add_scaled(sums, av, wv);
                        wo = wo.wrapping_add(b.per_out);
                    }
                }
                widx = widx.wrapping_add(b.taps);
            }
        }
        let at = j
            .saturating_mul(b.out_map)
            .saturating_add(b.n0)
            .saturating_add(i);
        store_columns(&mut acc, self.y, at, b.out_map);
    }
}

/// The weight gradient of one block: adds `Σ_p dy[j][n0 + p] · patch[p][k]` to the gradient
/// `gw[j][k]` of the group's weights (`[opg][per_out]`), from the transposed patch matrix.
struct WeightGrad<'a, T> {
    b: &'a Block,
    dy: &'a [T],
    patches: &'a [T],
    gw: &'a mut [T],
}

impl<T: Scalar> Tile for WeightGrad<'_, T> {
    #[inline(always)]
    fn run<const NR: usize, const MR: usize>(&mut self, j: usize, k: usize) {
        let b = self.b;
        let mut acc = [[T::zero(); MR]; NR];
        let at = j.saturating_mul(b.per_out).saturating_add(k);
        let offsets: [usize; NR] =
            core::array::from_fn(|jj| at.saturating_add(jj.saturating_mul(b.per_out)));
        let load = |sums: &mut [T; MR], &at: &usize| {
            if let Some(src) = block::<T, MR>(self.gw, at) {
                *sums = *src;
            }
        };
        if WRITTEN_OUT {
            column_calls(&mut acc, &offsets, load);
        } else {
            acc.iter_mut()
                .zip(&offsets)
                .for_each(|(sums, at)| load(sums, at));
        }
        let span = b.n0..b.n0.saturating_add(b.nb);
        let dy: [&[T]; NR] = core::array::from_fn(|jj| {
            let at = j.wrapping_add(jj).saturating_mul(b.out_map);
            self.dy
                .get(at..)
                .and_then(|m| m.get(span.clone()))
                .unwrap_or(&[])
        });
        let columns = self.patches.chunks_exact(b.per_out.max(1)).take(b.nb);
        for (p, col) in columns.enumerate() {
            let Some(av) = block::<T, MR>(col, k) else {
                return;
            };
            if WRITTEN_OUT {
                let dv: [T; NR] = core::array::from_fn(|jj| {
                    dy.get(jj)
                        .and_then(|d| d.get(p))
                        .copied()
                        .unwrap_or_else(T::zero)
                });
                column_calls(&mut acc, &dv, |sums, &dv| add_scaled(sums, av, dv));
            } else {
                for (sums, dyj) in acc.iter_mut().zip(&dy) {
                    let dv = dyj.get(p).copied().unwrap_or_else(T::zero);
                    add_scaled(sums, av, dv);
                }
            }
        }
        let at = j.saturating_mul(b.per_out).saturating_add(k);
        store_columns(&mut acc, self.gw, at, b.per_out);
    }
}

/// The input gradient of one block's transposed patch matrix: position `p`, row `k` is
/// `Σ_j w[j][k] · dy[j][n0 + p]`, written into the patch buffer.
struct InputGrad<'a, T> {
    b: &'a Block,
    w: &'a [T],
    dy: &'a [T],
    patches: &'a mut [T],
}

impl<T: Scalar> Tile for InputGrad<'_, T> {
    #[inline(always)]
    fn run<const NR: usize, const MR: usize>(&mut self, p: usize, k: usize) {
        let b = self.b;
        let mut acc = [[T::zero(); MR]; NR];
        let ws = self.w.chunks_exact(b.per_out.max(1));
        let dys = self.dy.chunks_exact(b.out_map.max(1));
        let at = b.n0.saturating_add(p);
        for (wj, dymap) in ws.zip(dys).take(b.opg) {
            let (Some(av), Some(dv)) = (block::<T, MR>(wj, k), block::<T, NR>(dymap, at)) else {
                return;
            };
            if WRITTEN_OUT {
                column_calls(&mut acc, dv, |sums, &d| add_scaled(sums, av, d));
            } else {
                for (sums, &d) in acc.iter_mut().zip(dv) {
                    add_scaled(sums, av, d);
                }
            }
        }
        let at = p.saturating_mul(b.per_out).saturating_add(k);
        store_columns(&mut acc, self.patches, at, b.per_out);
    }
}
