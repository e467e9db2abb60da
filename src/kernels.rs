//! The matrix products of the dense and recurrent layers, register-blocked for the build
//! target.
//!
//! Matrices are nalgebra's column-major storage, an array of columns: `[[T; ROWS]; COLS]`.
//! Each kernel computes a small tile of its result in an array of accumulators that the
//! compiler keeps in vector registers, so that every value loaded from memory feeds several
//! multiply-adds; tiles at the edges use smaller blocks. Tile sizes follow the width of the
//! vector registers and the element size, never the matrix sizes. [`matmul`],
//! [`add_matmul_bt`] and [`matmul_at`] tile for the build target's width ([`VECTOR_BYTES`]);
//! the [`Kernels`] of [`Vectors`] compute the same products tiled for any of the widths (8,
//! 16, 32 and 64 bytes), so that the tests check every tiling on any host.
//!
//! [`matmul`], [`add_matmul_bt`] and [`matmul_at`] (for blocks of 4 columns) add the products
//! of each result element in the same order as the straightforward loop (`k = 0, 1, …`), so
//! they give bit-identical results to it. The columns of [`matmul_at`] left over are dot
//! products summed in several partial sums: they differ from the straightforward loop by
//! rounding only (without vector registers, they are summed in order too). [`add_matmul`]
//! and [`add_matmul_at`] are [`matmul`] and [`matmul_at`] adding to what the result holds
//! (the recurrent layers, whose weights are stored row-major, sum their gates' products so).
//!
//! No `unsafe`, no panics: every slice access goes through `get` / `first_chunk`, whose checks
//! the compiler hoists out of the loops.

use core::mem::size_of;

use crate::Scalar;

/// Bytes in one vector register as the compiler uses them on the build target (a scalar
/// register's worth where there is no vector unit).
///
/// AVX-512 counts as 32 bytes: LLVM vectorizes for 256-bit registers on every Intel AVX-512
/// processor and on `x86-64-v4` (their tuning prefers 256-bit vectors, which `cfg` cannot
/// see), so tiles sized for 64 bytes would take twice the registers intended. Where it does
/// use 512-bit registers (AMD Zen 4 and 5; `avx512f` without a target processor), a tile
/// sized for 32 bytes is half as many of them.
pub(crate) const VECTOR_BYTES: usize = if cfg!(target_feature = "avx") {
    32
} else if cfg!(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
)) {
    16
} else {
    8
};

/// Bytes of partial sums per column in the dot products of [`matmul_at`] (the one-sample input
/// gradient of a dense layer, the recurrent layers' one-sample forward pass): a vector
/// register's worth, which on AVX-512 targets is 64 bytes even where the tiles count 32 (see
/// [`VECTOR_BYTES`]). Summed in 32 bytes' worth of lanes, two columns' sums share a 512-bit
/// register, loaded in halves from two places and added up with two-source permutes: the
/// LSTM's one-sample training step ran 5 % slower than in the AVX2 build on the same processor.
pub(crate) const DOT_BYTES: usize = if cfg!(target_feature = "avx512f") {
    64
} else {
    VECTOR_BYTES
};

/// `c = a · b`: `a` is `M × K`, `b` is `K × N`, `c` is `M × N`.
///
/// The forward pass of a dense layer: `y = W x` with `W` `OUT × IN` and `x` one column per
/// sample.
#[inline]
pub(crate) fn matmul<T: Scalar, const K: usize, const M: usize, const N: usize>(
    a: &[[T; M]; K],
    b: &[[T; K]; N],
    c: &mut [[T; M]; N],
) {
    run(Matmul::<T, K, M, N, false> { a, b, c });
}

/// `c += a · b`: `a` is `M × K`, `b` is `K × N`, `c` is `M × N`; each element of `c` gets the
/// products added to it in order of `k`, as [`matmul`].
///
/// The input gradient of a layer whose weights are stored row-major (the recurrent layers):
/// `dx += Wᵀ dy`, with `a` the storage of `W`.
#[inline]
pub(crate) fn add_matmul<T: Scalar, const K: usize, const M: usize, const N: usize>(
    a: &[[T; M]; K],
    b: &[[T; K]; N],
    c: &mut [[T; M]; N],
) {
    run(Matmul::<T, K, M, N, true> { a, b, c });
}

/// `c += a · bᵀ`: `a` is `M × N`, `b` is `K × N`, `c` is `M × K`.
///
/// The weight gradient of a dense layer: `dW += dy · xᵀ`, summed over the samples in order.
#[inline]
pub(crate) fn add_matmul_bt<T: Scalar, const M: usize, const K: usize, const N: usize>(
    c: &mut [[T; M]; K],
    a: &[[T; M]; N],
    b: &[[T; K]; N],
) {
    run(AddMatmulBt { c, a, b });
}

/// `c = aᵀ · b`: `a` is `M × K`, `b` is `M × N`, `c` is `K × N`.
///
/// The input gradient of a dense layer: `dx = Wᵀ dy`. For blocks of 4 columns of `b`, blocks
/// of columns of `a` are transposed, [`AT_ROWS`] rows at a time, into a small buffer on the
/// stack (at most 4 KiB for vectors of up to 32 bytes), which then serves as the left operand
/// of register tiles like those of [`matmul`]; every element is summed over `M` in order. The
/// columns left over (all of them for a batch of 1, and on targets without vector registers,
/// where there is no such buffer) are dot products of columns, each summed in vector-wide
/// partial sums (in order without vector registers).
#[inline]
pub(crate) fn matmul_at<T: Scalar, const M: usize, const K: usize, const N: usize>(
    a: &[[T; M]; K],
    b: &[[T; M]; N],
    c: &mut [[T; K]; N],
) {
    run(MatmulAt::<T, M, K, N, false> { a, b, c });
}

/// `c += aᵀ · b`: `a` is `M × K`, `b` is `M × N`, `c` is `K × N`; [`matmul_at`]'s sums, added
/// to what `c` holds (for blocks of 4 columns, each product added in order of `m`).
///
/// The forward pass of a layer whose weights are stored row-major (the recurrent layers):
/// `y += W x`, with `a` the storage of `W`.
#[inline]
pub(crate) fn add_matmul_at<T: Scalar, const M: usize, const K: usize, const N: usize>(
    a: &[[T; M]; K],
    b: &[[T; M]; N],
    c: &mut [[T; K]; N],
) {
    run(MatmulAt::<T, M, K, N, true> { a, b, c });
}

/// One of the products with its operands, to run with the kernels the processor can run
/// ([`run`]). One type per product and `ADD` (whether it adds to `c`), so that the code
/// compiled for each, at run time's choice of tiles too, is specialized as a direct call's.
trait Product {
    /// Its multiply-adds.
    // Read only where the products pick their tiles at run time ([`DISPATCH`]).
    #[cfg_attr(
        not(all(
            feature = "std",
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse2",
            not(target_feature = "avx2"),
            not(debug_assertions)
        )),
        allow(dead_code)
    )]
    const MULTIPLY_ADDS: usize;
    /// Computes the product with the tiles of `V`.
    fn with<V: Kernels>(self);
}

/// `c = a · b` (`c += a · b` with `ADD`): [`matmul`], [`add_matmul`].
struct Matmul<'a, T, const K: usize, const M: usize, const N: usize, const ADD: bool> {
    a: &'a [[T; M]; K],
    b: &'a [[T; K]; N],
    c: &'a mut [[T; M]; N],
}

impl<T: Scalar, const K: usize, const M: usize, const N: usize, const ADD: bool> Product
    for Matmul<'_, T, K, M, N, ADD>
{
    const MULTIPLY_ADDS: usize = M * K * N;
    #[inline(always)]
    fn with<V: Kernels>(self) {
        V::matmul(self.a, self.b, self.c, ADD);
    }
}

/// `c += a · bᵀ`: [`add_matmul_bt`].
struct AddMatmulBt<'a, T, const M: usize, const K: usize, const N: usize> {
    c: &'a mut [[T; M]; K],
    a: &'a [[T; M]; N],
    b: &'a [[T; K]; N],
}

impl<T: Scalar, const M: usize, const K: usize, const N: usize> Product
    for AddMatmulBt<'_, T, M, K, N>
{
    const MULTIPLY_ADDS: usize = M * K * N;
    #[inline(always)]
    fn with<V: Kernels>(self) {
        V::add_matmul_bt(self.c, self.a, self.b);
    }
}

/// `c = aᵀ · b` (`c += aᵀ · b` with `ADD`): [`matmul_at`], [`add_matmul_at`].
struct MatmulAt<'a, T, const M: usize, const K: usize, const N: usize, const ADD: bool> {
    a: &'a [[T; M]; K],
    b: &'a [[T; M]; N],
    c: &'a mut [[T; K]; N],
}

impl<T: Scalar, const M: usize, const K: usize, const N: usize, const ADD: bool> Product
    for MatmulAt<'_, T, M, K, N, ADD>
{
    const MULTIPLY_ADDS: usize = M * K * N;
    #[inline(always)]
    fn with<V: Kernels>(self) {
        V::matmul_at(self.a, self.b, self.c, ADD);
    }
}

/// Whether the kernels pick their tiles when they run: with the `std` feature on x86
/// processors, in builds for a target without AVX2 (the default `x86_64` target has SSE2 only).
/// Where the running processor has AVX2 and FMA (pulp's `x86::V3`; every x86 processor since
/// 2013–2015), the products run tiles for 32-byte vectors in code that `pulp` compiles for
/// those features; elsewhere, the build target's tiles.
///
/// The results are bit-identical either way: every product is added in the same order (the
/// dot products of [`matmul_at`] in the build target's lanes, [`Vectors`]' `DOT`), and Rust
/// never fuses a multiply and an add on its own. Adam's usual update runs there too
/// ([`elementwise`]).
///
/// Only in optimized builds (without `debug_assertions`): the code compiled for AVX2 is a
/// second copy of every product, which would double the products' share of the compile time
/// of debug builds and tests for no difference in their results. The unit test
/// `tiles_chosen_at_run_time_give_the_same_bits` runs that code ([`on_avx2`]) in tests.
pub(crate) const DISPATCH: bool = cfg!(all(
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2"),
    not(debug_assertions)
));

/// Which tiles the matrix products run with on this processor, in words: see
/// [`crate::matrix_kernels`].
pub(crate) fn in_use() -> &'static str {
    #[cfg(all(
        feature = "std",
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2",
        not(target_feature = "avx2"),
        not(debug_assertions)
    ))]
    if pulp::x86::V3::is_available() {
        return "tiles for 32-byte vectors (AVX2, chosen at run time)";
    }
    match (VECTOR_BYTES, DISPATCH) {
        (8, _) => "tiles for scalar registers (the build target has no vector registers)",
        (16, true) => "tiles for 16-byte vectors (this processor has no AVX2)",
        (16, false)
            if cfg!(all(
                feature = "std",
                target_feature = "sse2",
                debug_assertions
            )) =>
        {
            "tiles for 16-byte vectors (SSE2; a build with debug assertions chooses no other)"
        }
        (16, false) => "tiles for 16-byte vectors (the build target's SSE2, NEON or simd128)",
        _ => "tiles for 32-byte vectors (the build target's AVX)",
    }
}

/// The fewest multiply-adds for which a product looks for AVX2 (see [`DISPATCH`]): below it,
/// the call into the code compiled for AVX2 costs more than it saves (measured on the
/// 4-16-3 network at batch 1, whose products are of 48 to 64).
// Read only where the products pick their tiles at run time ([`DISPATCH`]).
#[cfg_attr(
    not(all(
        feature = "std",
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2",
        not(target_feature = "avx2"),
        not(debug_assertions)
    )),
    allow(dead_code)
)]
const DISPATCH_FROM: usize = 256;

/// Computes `product` with the kernels for the running processor (see [`DISPATCH`]).
#[inline(always)]
fn run<P: Product>(product: P) {
    #[cfg(all(
        feature = "std",
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2",
        not(target_feature = "avx2"),
        not(debug_assertions)
    ))]
    let product = if P::MULTIPLY_ADDS >= DISPATCH_FROM {
        match on_avx2(product) {
            Ok(()) => return,
            Err(product) => product,
        }
    } else {
        product
    };
    product.with::<Vectors<VECTOR_BYTES, DOT_BYTES>>();
}

/// Computes `product` with tiles for 32-byte vectors in code compiled for AVX2 and FMA, if the
/// processor has them; otherwise gives it back.
#[cfg(all(
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2"),
    any(test, not(debug_assertions))
))]
#[inline(always)]
fn on_avx2<P: Product>(product: P) -> Result<(), P> {
    match pulp::x86::V3::try_new() {
        Some(simd) => {
            simd.vectorize(Avx2(product));
            Ok(())
        }
        None => Err(product),
    }
}

/// A product to run with AVX2 tiles, in the context `pulp` compiles for AVX2 and FMA: every
/// function from here down is `#[inline(always)]`, so that all of it is compiled there.
#[cfg(all(
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2"),
    any(test, not(debug_assertions))
))]
struct Avx2<P>(P);

#[cfg(all(
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2"),
    any(test, not(debug_assertions))
))]
impl<P: Product> pulp::NullaryFnOnce for Avx2<P> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        self.0.with::<Vectors<32, VECTOR_BYTES>>();
    }
}

/// Runs `f`, a pass over `n` numbers that computes each on its own (an optimizer's update), in
/// code compiled for AVX2 and FMA where the products pick their tiles at run time
/// ([`DISPATCH`], at least [`DISPATCH_FROM`] numbers) and the processor has them: the same
/// operations on 8 `f32` at a time instead of 4. With no sum to reorder, and no multiply and add
/// fused (Rust fuses none on its own), the results are the same bits. What `f` calls is compiled
/// there only where it is inlined (`#[inline(always)]`).
#[inline(always)]
pub(crate) fn elementwise<R>(n: usize, f: impl FnOnce() -> R) -> R {
    #[cfg(all(
        feature = "std",
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2",
        not(target_feature = "avx2"),
        any(test, not(debug_assertions))
    ))]
    {
        let wanted = DISPATCH && n >= DISPATCH_FROM;
        #[cfg(test)]
        let wanted = ELEMENTWISE_ON_AVX2.get().unwrap_or(wanted);
        if wanted {
            if let Some(simd) = pulp::x86::V3::try_new() {
                return simd.vectorize(f);
            }
        }
    }
    let _ = n;
    f()
}

#[cfg(all(
    test,
    feature = "std",
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2")
))]
std::thread_local! {
    /// In tests, [`elementwise`]'s choice on this thread: `Some(true)` the code compiled for
    /// AVX2 (where the processor has it), `Some(false)` the build target's, `None` as in
    /// programs.
    pub(crate) static ELEMENTWISE_ON_AVX2: core::cell::Cell<Option<bool>> =
        const { core::cell::Cell::new(None) };
}

/// Vector registers of `BYTES` bytes (8: none, a scalar register's worth), for which
/// [`Kernels`] sizes its tiles; the dot products of [`matmul_at`] are summed in the lanes of
/// `DOT` bytes ([`DOT_BYTES`]; where the tiles are chosen at run time, the build target's
/// width, so that the sums are the same). Where `DOT` is the wider (AVX-512 targets), the
/// products of [`matmul`] with one column use tiles of `DOT`-byte registers.
struct Vectors<const BYTES: usize, const DOT: usize = BYTES>;

/// The three products, with tiles sized for one width of vector registers: what [`matmul`],
/// [`add_matmul_bt`] and [`matmul_at`] compute, in the same order of additions.
trait Kernels {
    /// `c = a · b`, as [`matmul`], or with `add`, `c += a · b`, as [`add_matmul`].
    fn matmul<T: Scalar, const K: usize, const M: usize, const N: usize>(
        a: &[[T; M]; K],
        b: &[[T; K]; N],
        c: &mut [[T; M]; N],
        add: bool,
    );
    /// `c += a · bᵀ`, as [`add_matmul_bt`].
    fn add_matmul_bt<T: Scalar, const M: usize, const K: usize, const N: usize>(
        c: &mut [[T; M]; K],
        a: &[[T; M]; N],
        b: &[[T; K]; N],
    );
    /// `c = aᵀ · b`, as [`matmul_at`], or with `add`, `c += aᵀ · b`, as [`add_matmul_at`].
    fn matmul_at<T: Scalar, const M: usize, const K: usize, const N: usize>(
        a: &[[T; M]; K],
        b: &[[T; M]; N],
        c: &mut [[T; K]; N],
        add: bool,
    );
}

/// [`Kernels`] for vectors of `$bytes` bytes, which hold `$l32` elements of `f32` and `$l64`
/// of `f64` (for 8 bytes, no vector registers: tiles for a file of scalar registers).
///
/// For `f32` with 16-byte vectors (SSE2, NEON), whose broadcasts cost a shuffle each, tiles of
/// 4 vectors × 2 columns (fewer broadcasts per product) where the result has at least 4
/// vectors' worth of rows, instead of 2 vectors × 4 columns; with wider vectors, where a
/// broadcast is a load, the squarer tile. Without vector registers, [`matmul_at`] transposes
/// nothing (it would buy nothing) and sums its dot products in order.
macro_rules! kernels_for {
    ($($bytes:literal, $dot:literal => f32: $l32:literal, f64: $l64:literal;)*) => {$(
        impl Kernels for Vectors<$bytes, $dot> {
            #[inline(always)]
            fn matmul<T: Scalar, const K: usize, const M: usize, const N: usize>(
                a: &[[T; M]; K],
                b: &[[T; K]; N],
                c: &mut [[T; M]; N],
                add: bool,
            ) {
                // One column (one sample) where a register holds more than the tiles count
                // (`$dot` bytes on AVX-512 targets, see [`DOT_BYTES`]): tiles of registers of
                // that width, up to 8 of them, so 8 independent sums. Sized for 32 bytes, LLVM
                // merged pairs of the tile's vectors into 4 registers of 64 bytes, 4 sums: the
                // LSTM's one-sample training step ran 4 % slower. The same sums in the same
                // order, so the same bits. With several columns, such tiles were slower.
                if const { $dot > $bytes && N == 1 } {
                    if const { is_f32::<T>() } {
                        matmul_lanes::<
                            T, K, M, N, false, { $dot / 4 }, { $dot / 2 }, $dot, { 2 * $dot }
                        >(a, b, c, add);
                    } else {
                        matmul_lanes::<
                            T, K, M, N, false, { $dot / 8 }, { $dot / 4 }, { $dot / 2 }, $dot
                        >(a, b, c, add);
                    }
                    return;
                }
                if const { is_f32::<T>() } {
                    matmul_lanes::<
                        T, K, M, N, { $bytes == 16 }, $l32, { 2 * $l32 }, { 4 * $l32 }, { 8 * $l32 }
                    >(a, b, c, add);
                } else {
                    matmul_lanes::<
                        T, K, M, N, false, $l64, { 2 * $l64 }, { 4 * $l64 }, { 8 * $l64 }
                    >(a, b, c, add);
                }
            }

            #[inline(always)]
            fn add_matmul_bt<T: Scalar, const M: usize, const K: usize, const N: usize>(
                c: &mut [[T; M]; K],
                a: &[[T; M]; N],
                b: &[[T; K]; N],
            ) {
                if const { is_f32::<T>() } {
                    add_matmul_bt_lanes::<
                        T, M, K, N, { $bytes == 16 }, $l32, { 2 * $l32 }, { 4 * $l32 }
                    >(c, a, b);
                } else {
                    add_matmul_bt_lanes::<T, M, K, N, false, $l64, { 2 * $l64 }, { 4 * $l64 }>(
                        c, a, b,
                    );
                }
            }

            #[inline(always)]
            fn matmul_at<T: Scalar, const M: usize, const K: usize, const N: usize>(
                a: &[[T; M]; K],
                b: &[[T; M]; N],
                c: &mut [[T; K]; N],
                add: bool,
            ) {
                const SIMD: bool = $bytes >= 16;
                // Partial sums of the dot products: a vector of `$dot` bytes' worth, or one
                // (in order) without vector registers.
                const DOT32: usize = if $dot >= 16 { $dot / 4 } else { 1 };
                const DOT64: usize = if $dot >= 16 { $dot / 8 } else { 1 };
                if const { is_f32::<T>() } {
                    matmul_at_lanes::<T, M, K, N, SIMD, { 2 * $l32 }, $l32, DOT32>(a, b, c, add);
                } else {
                    matmul_at_lanes::<T, M, K, N, SIMD, { 2 * $l64 }, $l64, DOT64>(a, b, c, add);
                }
            }
        }
    )*};
}

kernels_for! {
    8, 8 => f32: 2, f64: 1;
    16, 16 => f32: 4, f64: 2;
    32, 32 => f32: 8, f64: 4;
    64, 64 => f32: 16, f64: 8;
    // The tiles that run in the code compiled for AVX2 at run time's choice ([`DISPATCH`]).
    32, 16 => f32: 8, f64: 4;
    // The tiles of AVX-512 targets ([`VECTOR_BYTES`], [`DOT_BYTES`]).
    32, 64 => f32: 8, f64: 4;
}

/// `true` when `T` is `f32` (the other [`Scalar`] is `f64`). Callers test it in a `const`
/// block, `if const { is_f32::<T>() }`, so that only the branch taken is compiled (a condition
/// computed at run time, even from constants, makes the compiler generate both).
#[inline(always)]
pub(crate) const fn is_f32<T>() -> bool {
    size_of::<T>() == 4
}

/// The `N` elements of `s` from `start`, if there are that many.
#[inline(always)]
pub(crate) fn block<T, const N: usize>(s: &[T], start: usize) -> Option<&[T; N]> {
    s.get(start..)?.first_chunk::<N>()
}

/// The `N` elements of `s` from `start`, mutable, if there are that many.
#[inline(always)]
pub(crate) fn block_mut<T, const N: usize>(s: &mut [T], start: usize) -> Option<&mut [T; N]> {
    s.get_mut(start..)?.first_chunk_mut::<N>()
}

/// Writes `src` into `dst`, all of it or (for a tile that overlaps the one before it) only the
/// elements from `skip`.
#[inline(always)]
fn store<T: Copy, const N: usize>(dst: &mut [T; N], src: &[T; N], skip: usize) {
    if skip == 0 {
        *dst = *src;
    } else {
        for (d, &v) in dst.iter_mut().zip(src).skip(skip) {
            *d = v;
        }
    }
}

/// Whether the convolution's tiles go through their columns as one call per column
/// ([`column_calls`]) rather than a loop (the products here always do). On targets with
/// vector gathers and scatters (AVX-512), LLVM's loop vectorizer takes a tile's loop over its
/// columns, once the loop over rows within it is unrolled, and vectorizes it *across* the
/// columns: one lane per column, the accumulators left in memory and, at every step, gathered
/// from it and scattered back, several times slower than the tile in registers. So do targets
/// without vector registers ([`SCALAR_TILES`]), where the compiler, optimizing for size, would
/// not unroll it.
pub(crate) const COLUMN_CALLS: bool = cfg!(target_feature = "avx512f") || SCALAR_TILES;

/// Whether loops over the columns of a matrix hide each column from the optimizer ([`opaque`]):
/// on AVX-512 targets. There LLVM, once it has unrolled the short loop over a column's rows,
/// vectorizes the loop over the columns *across* them, with gathers and scatters (see
/// [`COLUMN_CALLS`]): the bias additions and cross-entropy of `mlp-4-16-3-b16-adam` took four
/// times as long as in the AVX2 build, and [`add_matmul_bt`]'s loop over blocks of columns, the
/// weight gradient of one sample in `lstm-h32-l16-b1-sgd`, a third longer.
const OPAQUE_COLUMNS: bool = cfg!(target_feature = "avx512f");

/// `x`, one of `COLUMNS` columns that a loop goes through; where [`OPAQUE_COLUMNS`] and there
/// are several, passed through [`core::hint::black_box`], so that the optimizer does not see how
/// the columns follow each other and vectorizes within a column, not across them. Elsewhere, and
/// for a single column (no loop to vectorize across: hiding it would only send the column
/// through memory between the steps that read and write it), `x` as it is.
#[inline(always)]
pub(crate) fn opaque<const COLUMNS: usize, X>(x: X) -> X {
    if OPAQUE_COLUMNS && COLUMNS > 1 {
        core::hint::black_box(x)
    } else {
        x
    }
}

/// Whether the build target has no vector registers (the microcontrollers): there the tiles'
/// loops are written out ([`column_calls`], [`add_scaled`]) rather than left to the compiler,
/// which at `opt-level = "s"` or `"z"` does not unroll them and keeps the sums of a tile in
/// memory, loading and storing one for every multiply-add.
pub(crate) const SCALAR_TILES: bool = VECTOR_BYTES == 8;

/// Calls `f` on `x[j]` and `y[j]` for each column `j` in order, written out as one call per
/// column where there are 1, 2, 4 or 8 of them (a loop otherwise), so that the compiler sees
/// no loop over the columns of a tile. A loop there is vectorized across the columns on
/// AVX-512 targets (see [`COLUMN_CALLS`]), is not unrolled on targets without vector registers,
/// and kept the sums of a tile in memory in the code compiled for AVX2 at run time's choice
/// (the 784-128-10 training line ran at a fifth of the speed of the tiles written out);
/// elsewhere the written-out calls compile to what the unrolled loop did.
///
/// The choice is a `match` on `N` itself, so that only its arm is compiled for each `N`.
#[inline(always)]
pub(crate) fn column_calls<X, Y, const N: usize>(
    x: &mut [X; N],
    y: &[Y; N],
    mut f: impl FnMut(&mut X, &Y),
) {
    match N {
        1 => {
            if let ([x0], [y0]) = (x.as_mut_slice(), y.as_slice()) {
                f(x0, y0);
            }
        }
        2 => {
            if let ([x0, x1], [y0, y1]) = (x.as_mut_slice(), y.as_slice()) {
                f(x0, y0);
                f(x1, y1);
            }
        }
        4 => {
            if let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (x.as_mut_slice(), y.as_slice()) {
                f(x0, y0);
                f(x1, y1);
                f(x2, y2);
                f(x3, y3);
            }
        }
        8 => {
            if let ([x0, x1, x2, x3, x4, x5, x6, x7], [y0, y1, y2, y3, y4, y5, y6, y7]) =
                (x.as_mut_slice(), y.as_slice())
            {
                f(x0, y0);
                f(x1, y1);
                f(x2, y2);
                f(x3, y3);
                f(x4, y4);
                f(x5, y5);
                f(x6, y6);
                f(x7, y7);
            }
        }
        _ => {
            for (xj, yj) in x.iter_mut().zip(y) {
                f(xj, yj);
            }
        }
    }
}

/// Calls `f(o, a)` on the elements at the same place in `out` and `a`, in order. On targets
/// without vector registers ([`SCALAR_TILES`]) four elements per trip through the loop: the
/// compiler, optimizing for size, unrolls nothing, and an element-wise loop there spends more
/// instructions on its counting and addressing than on its arithmetic. Elsewhere a plain loop,
/// which the compiler vectorizes. Slices of different lengths: as far as the shorter.
#[inline(always)]
pub(crate) fn each_pair<O, A>(out: &mut [O], a: &[A], mut f: impl FnMut(&mut O, &A)) {
    each_quad(out, a, a, a, |o, a, _, _| f(o, a));
}

/// [`each_pair`] with three inputs: `f(o, a, b, c)`.
#[inline(always)]
pub(crate) fn each_quad<O, A, B, C>(
    out: &mut [O],
    a: &[A],
    b: &[B],
    c: &[C],
    mut f: impl FnMut(&mut O, &A, &B, &C),
) {
    let n = out.len();
    if SCALAR_TILES && a.len() == n && b.len() == n && c.len() == n {
        let (mut o4, mut a4) = (out.chunks_exact_mut(4), a.chunks_exact(4));
        let (mut b4, mut c4) = (b.chunks_exact(4), c.chunks_exact(4));
        for (((o, a), b), c) in (&mut o4).zip(&mut a4).zip(&mut b4).zip(&mut c4) {
            if let ([o0, o1, o2, o3], [a0, a1, a2, a3], [b0, b1, b2, b3], [c0, c1, c2, c3]) =
                (o, a, b, c)
            {
                f(o0, a0, b0, c0);
                f(o1, a1, b1, c1);
                f(o2, a2, b2, c2);
                f(o3, a3, b3, c3);
            }
        }
        // The last one to three written out too (the classes of a small classifier).
        match (
            o4.into_remainder(),
            a4.remainder(),
            b4.remainder(),
            c4.remainder(),
        ) {
            ([o0], [a0], [b0], [c0]) => f(o0, a0, b0, c0),
            ([o0, o1], [a0, a1], [b0, b1], [c0, c1]) => {
                f(o0, a0, b0, c0);
                f(o1, a1, b1, c1);
            }
            ([o0, o1, o2], [a0, a1, a2], [b0, b1, b2], [c0, c1, c2]) => {
                f(o0, a0, b0, c0);
                f(o1, a1, b1, c1);
                f(o2, a2, b2, c2);
            }
            _ => {}
        }
    } else {
        for (o, ((a, b), c)) in out.iter_mut().zip(a.iter().zip(b).zip(c)) {
            f(o, a, b, c);
        }
    }
}

/// Writes the tile `acc` into rows `r ..` of the columns of `c` (from row `r + skip`).
#[inline(always)]
fn store_tile<T: Copy, const MC: usize, const NR: usize, const MR: usize>(
    acc: &[[T; MR]; NR],
    c: &mut [[T; MC]; NR],
    r: usize,
    skip: usize,
) {
    column_calls(c, acc, |cj, sums| {
        if let Some(dst) = block_mut::<T, MR>(cj, r) {
            store(dst, sums, skip);
        }
    });
}

/// `sums += av · b`, element by element.
#[inline(always)]
fn add_scaled<T: Scalar, const N: usize>(sums: &mut [T; N], av: &[T; N], b: T) {
    // Written out for the tile heights of scalar targets (see [`SCALAR_TILES`]).
    add_scaled_by::<SCALAR_TILES, T, N>(sums, av, b);
}

/// `sums += av · b`, element by element; with `WRITTEN_OUT`, tiles of 2, 3, 4 and 8 elements
/// as straight-line code (no loop, no iterator), otherwise a loop.
#[inline(always)]
pub(crate) fn add_scaled_by<const WRITTEN_OUT: bool, T: Scalar, const N: usize>(
    sums: &mut [T; N],
    av: &[T; N],
    b: T,
) {
    if !WRITTEN_OUT {
        add_scaled_loop(sums, av, b);
        return;
    }
    match N {
        2 => {
            if let ([s0, s1], [v0, v1]) = (sums.as_mut_slice(), av.as_slice()) {
                *s0 += *v0 * b;
                *s1 += *v1 * b;
            }
        }
        3 => {
            if let ([s0, s1, s2], [v0, v1, v2]) = (sums.as_mut_slice(), av.as_slice()) {
                *s0 += *v0 * b;
                *s1 += *v1 * b;
                *s2 += *v2 * b;
            }
        }
        4 => {
            if let ([s0, s1, s2, s3], [v0, v1, v2, v3]) = (sums.as_mut_slice(), av.as_slice()) {
                *s0 += *v0 * b;
                *s1 += *v1 * b;
                *s2 += *v2 * b;
                *s3 += *v3 * b;
            }
        }
        8 => {
            if let ([s0, s1, s2, s3, s4, s5, s6, s7], [v0, v1, v2, v3, v4, v5, v6, v7]) =
                (sums.as_mut_slice(), av.as_slice())
            {
                *s0 += *v0 * b;
                *s1 += *v1 * b;
                *s2 += *v2 * b;
                *s3 += *v3 * b;
                *s4 += *v4 * b;
                *s5 += *v5 * b;
                *s6 += *v6 * b;
                *s7 += *v7 * b;
            }
        }
        _ => add_scaled_loop(sums, av, b),
    }
}

/// `sums += av · b`, element by element, in a loop.
#[inline(always)]
fn add_scaled_loop<T: Scalar>(sums: &mut [T], av: &[T], b: T) {
    for (s, &v) in sums.iter_mut().zip(av) {
        *s += v * b;
    }
}

/// One kind of tile, run at a given start (row or column) for each tile size.
trait Tiles {
    /// Runs the tile of `R` rows (or columns) from `start`, storing only from `skip` on.
    fn run<const R: usize>(&mut self, start: usize, skip: usize);
}

/// Covers `0 .. LEN` with tiles of `R1 ≥ R2 ≥ R3` and 1: tiles of `R1` while they fit; the
/// rest, if a tile of `R3`, `R2` or `R1` (the smallest that is enough) fits in `0 .. LEN`, by
/// one last tile that ends at `LEN` and overlaps the ones before (it computes the overlap
/// again but stores only past it); otherwise tiles of `R2` while they fit, and so on down to
/// single rows. With vector registers, `LEN` below `R3` is one tile of `LEN` rows.
///
/// The tiles are chosen when the code is compiled ([`Cover::of`], in `const` blocks), so
/// that only the sizes of tile used are compiled for each `LEN`.
#[inline(always)]
fn cover<Op: Tiles, const LEN: usize, const R1: usize, const R2: usize, const R3: usize>(
    op: &mut Op,
) {
    // Without vector registers, three rows (the classes of a small classifier) are one tile
    // of three, not two overlapping tiles of two.
    if const { SCALAR_TILES && LEN == 3 } {
        op.run::<3>(0, 0);
        return;
    }
    // With vector registers, fewer rows than the smallest tile are one tile of them all, not
    // single rows: those would go through the columns once per row, and on AVX-512 the
    // compiler vectorizes a single row's tile across its columns, with gathers and scatters.
    if const { !SCALAR_TILES && LEN > 1 && LEN < R3 } {
        op.run::<LEN>(0, 0);
        return;
    }
    let plan = const { Cover::of(LEN, R1, R2, R3) };
    if const { Cover::of(LEN, R1, R2, R3).r1_end > 0 } {
        full_tiles::<Op, R1>(0, plan.r1_end, op);
    }
    if const { Cover::of(LEN, R1, R2, R3).r2_end > Cover::of(LEN, R1, R2, R3).r1_end } {
        full_tiles::<Op, R2>(plan.r1_end, plan.r2_end, op);
    }
    if const { Cover::of(LEN, R1, R2, R3).r3_end > Cover::of(LEN, R1, R2, R3).r2_end } {
        full_tiles::<Op, R3>(plan.r2_end, plan.r3_end, op);
    }
    if const { Cover::of(LEN, R1, R2, R3).ones_end > Cover::of(LEN, R1, R2, R3).r3_end } {
        full_tiles::<Op, 1>(plan.r3_end, plan.ones_end, op);
    }
    // The last tile ends at `LEN` and stores the rows past the full tiles (`rest <= R <= LEN`).
    let rest = LEN.wrapping_sub(plan.ones_end);
    if const { Cover::of(LEN, R1, R2, R3).last == R3 } {
        op.run::<R3>(LEN.wrapping_sub(R3), R3.wrapping_sub(rest));
    } else if const { Cover::of(LEN, R1, R2, R3).last == R2 } {
        op.run::<R2>(LEN.wrapping_sub(R2), R2.wrapping_sub(rest));
    } else if const { Cover::of(LEN, R1, R2, R3).last == R1 } {
        op.run::<R1>(LEN.wrapping_sub(R1), R1.wrapping_sub(rest));
    }
}

/// How [`cover`] covers `0 .. len`: where its full tiles of `R1`, `R2`, `R3` and 1 end (each
/// kind starts where the one before ends, the first at 0), and the size of the last tile,
/// which ends at `len` (0 for none).
#[derive(Clone, Copy)]
struct Cover {
    r1_end: usize,
    r2_end: usize,
    r3_end: usize,
    ones_end: usize,
    last: usize,
}

impl Cover {
    /// The tiles of [`cover`] for `0 .. len` with sizes `r1 ≥ r2 ≥ r3`.
    const fn of(len: usize, r1: usize, r2: usize, r3: usize) -> Cover {
        let d1 = Self::full(len, 0, r1);
        let d2 = match Self::last(len, d1, r1, r2, r3) {
            Some(last) => return Self::ending(d1, d1, d1, last),
            None => Self::full(len, d1, r2),
        };
        let d3 = match Self::last(len, d2, r1, r2, r3) {
            Some(last) => return Self::ending(d1, d2, d2, last),
            None => Self::full(len, d2, r3),
        };
        match Self::last(len, d3, r1, r2, r3) {
            Some(last) => Self::ending(d1, d2, d3, last),
            None => Cover {
                r1_end: d1,
                r2_end: d2,
                r3_end: d3,
                ones_end: len,
                last: 0,
            },
        }
    }

    /// Full tiles of `R1`, `R2` and `R3` ending at `d1`, `d2` and `d3`, no single rows, then
    /// the last tile.
    const fn ending(d1: usize, d2: usize, d3: usize, last: usize) -> Cover {
        Cover {
            r1_end: d1,
            r2_end: d2,
            r3_end: d3,
            ones_end: d3,
            last,
        }
    }

    /// Where full tiles of `r` from `done` (at most `len`) end.
    const fn full(len: usize, done: usize, r: usize) -> usize {
        match len.wrapping_sub(done).checked_div(r) {
            Some(tiles) => done.wrapping_add(tiles.wrapping_mul(r)),
            None => done,
        }
    }

    /// The last tile once `0 .. done` is covered: 0 if nothing is left, else the smallest of
    /// `r3`, `r2`, `r1` that covers the rest and fits in `0 .. len`; `None` if none does.
    const fn last(len: usize, done: usize, r1: usize, r2: usize, r3: usize) -> Option<usize> {
        let rest = len.wrapping_sub(done);
        if rest == 0 {
            Some(0)
        } else if rest <= r3 && r3 <= len {
            Some(r3)
        } else if rest <= r2 && r2 <= len {
            Some(r2)
        } else if rest <= r1 && r1 <= len {
            Some(r1)
        } else {
            None
        }
    }
}

/// Tiles of `R` from `from` while they end by `to`.
#[inline(always)]
fn full_tiles<Op: Tiles, const R: usize>(from: usize, to: usize, op: &mut Op) {
    // (Offsets within one matrix's rows: far from overflowing; wrapping arithmetic compiles to
    // the plain instructions and cannot panic.)
    let mut done = from;
    while done.wrapping_add(R) <= to {
        op.run::<R>(done, 0);
        done = done.wrapping_add(R);
    }
}

// ---------------------------------------------------------------------------------------------
// C = A · B

/// Bytes of a panel of whole columns of `a` (contiguous, so that it maps onto the sets of the
/// level-1 cache evenly) that [`matmul`] keeps in that cache while it uses it for every column
/// of `b`: three quarters of the smallest level-1 data cache of current x86 cores (32 KiB), so
/// that the columns of `b` and `c` a tile reads fit beside it. Measured on the
/// `mlp-784-128-10-b32-sgd` line (panels of 48 columns of 128 rows): 7–9 % faster than panels of
/// 8 KiB in the default, AVX2 and AVX-512 builds (medians of 9 rounds on a Zen 4), whose tiles
/// load and store their sums once per panel; 32, 64 KiB and whole columns were slower.
const PANEL_BYTES: usize = 24 * 1024;

/// [`matmul`] with `L` elements per vector (`L2 = 2 L`, `L4 = 4 L`, `L8 = 8 L`).
///
/// Every choice that depends only on the sizes is made in a `const` block, here and below, so
/// that the code for the tiles not taken is not compiled.
#[inline(always)]
fn matmul_lanes<
    T: Scalar,
    const K: usize,
    const M: usize,
    const N: usize,
    const TALL: bool,
    const L: usize,
    const L2: usize,
    const L4: usize,
    const L8: usize,
>(
    a: &[[T; M]; K],
    b: &[[T; K]; N],
    c: &mut [[T; M]; N],
    add: bool,
) {
    // Blocks of 4 columns of `b` use tiles of 2 vectors × 4 columns (8 accumulators), or,
    // where `TALL` and there are at least 4 vectors' worth of rows, blocks of 2 columns tiles
    // of 4 vectors × 2 columns; the columns left over use tiles of up to 8 vectors × 1 column,
    // so that there are still 8 independent sums.
    let blocked = const {
        let nr = if TALL && M >= L4 { 2 } else { 4 };
        N - N % nr
    };
    let (Some((bn, b1)), Some((cn, c1))) =
        (b.split_at_checked(blocked), c.split_at_mut_checked(blocked))
    else {
        return;
    };
    if const { TALL && M >= L4 && N >= 2 } {
        matmul_pass::<T, K, M, 2, L4, L2, L>(a, bn, cn, add);
    } else if const { !(TALL && M >= L4) && N >= 4 } {
        matmul_pass::<T, K, M, 4, L2, L, L>(a, bn, cn, add);
    }
    if const { N % (if TALL && M >= L4 { 2 } else { 4 }) == 0 } {
        return;
    }
    if SCALAR_TILES {
        // Without vector registers, tiles of at most 4 "vectors" (8 rows of `f32`), which
        // `add_scaled` writes out: the sums of a tile of 8 stayed in memory, a load and a
        // store per multiply-add.
        matmul_pass::<T, K, M, 1, L4, L2, L>(a, b1, c1, add);
    } else {
        matmul_pass::<T, K, M, 1, L8, L2, L>(a, b1, c1, add);
    }
}

/// `c = a · b` for the columns of `b` and `c` given, taken `NR` at a time (their number is a
/// multiple of `NR`). `a` is split into panels of whole columns that fit [`PANEL_BYTES`]; each
/// panel serves every block of columns while it is in cache, and within a block rows are
/// covered by tiles of `R1`, `R2`, `R3` rows (see [`cover`]). With `add`, the products are
/// added to what `c` holds.
#[inline(always)]
fn matmul_pass<
    T: Scalar,
    const K: usize,
    const M: usize,
    const NR: usize,
    const R1: usize,
    const R2: usize,
    const R3: usize,
>(
    a: &[[T; M]; K],
    b: &[[T; K]],
    c: &mut [[T; M]],
    add: bool,
) {
    if b.is_empty() {
        return;
    }
    let kc = PANEL_BYTES
        .checked_div(M.saturating_mul(size_of::<T>()))
        .unwrap_or(0)
        .max(8);
    let mut k0: usize = 0;
    #[allow(clippy::disallowed_methods)] // `kc >= 8`: never a chunk size of 0
    let panels = a.chunks(kc);
    for panel in panels {
        for (bb, cb) in b.chunks_exact(NR).zip(c.chunks_exact_mut(NR)) {
            if let (Some(b), Some(c)) = (bb.first_chunk::<NR>(), cb.first_chunk_mut::<NR>()) {
                let mut op = MatmulTiles {
                    panel,
                    k0,
                    b,
                    c,
                    add,
                };
                cover::<_, M, R1, R2, R3>(&mut op);
            }
        }
        k0 = k0.wrapping_add(kc);
    }
}

/// The tiles of [`matmul_pass`] for one block of `NR` columns and one panel.
struct MatmulTiles<'a, T, const K: usize, const M: usize, const NR: usize> {
    panel: &'a [[T; M]],
    k0: usize,
    b: &'a [[T; K]; NR],
    c: &'a mut [[T; M]; NR],
    add: bool,
}

impl<T: Scalar, const K: usize, const M: usize, const NR: usize> Tiles
    for MatmulTiles<'_, T, K, M, NR>
{
    #[inline(always)]
    fn run<const R: usize>(&mut self, start: usize, skip: usize) {
        let (panel, k0, add) = (self.panel, self.k0, self.add);
        matmul_tile::<T, K, M, M, NR, R>(panel, k0, self.b, self.c, start, start, skip, add);
    }
}

/// Rows `rc .. rc + MR` of the `NR` columns of `c` (stored from row `rc + skip`): the sum over
/// the columns `k0 ..` of `a` in `panel` of rows `ra .. ra + MR` of column `k` times each
/// column's `b[k]`, added in order of `k` to zero (for `k0 = 0` without `add`) or to what `c`
/// holds (from the panels before, or with `add`). [`matmul`] takes `ra = rc`; [`matmul_at`] takes rows of `a` transposed into
/// a buffer (`ra = 0`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn matmul_tile<
    T: Scalar,
    const KB: usize,
    const PA: usize,
    const MC: usize,
    const NR: usize,
    const MR: usize,
>(
    panel: &[[T; PA]],
    k0: usize,
    b: &[[T; KB]; NR],
    c: &mut [[T; MC]; NR],
    ra: usize,
    rc: usize,
    skip: usize,
    add: bool,
) {
    let mut acc = [[T::zero(); MR]; NR];
    if k0 != 0 || add {
        column_calls(&mut acc, c, |sums, cj| {
            if let Some(src) = block::<T, MR>(cj, rc) {
                *sums = *src;
            }
        });
    }
    for (ak, k) in panel.iter().zip(k0..) {
        let Some(av) = block::<T, MR>(ak, ra) else {
            return;
        };
        // A copy of the rows of `a`, and no exit between the columns: otherwise the compiler
        // loads them again, piece by piece, for every column.
        if k >= KB {
            return;
        }
        let av = *av;
        column_calls(&mut acc, b, |sums, bj| {
            if let Some(&bkj) = bj.get(k) {
                add_scaled(sums, &av, bkj);
            }
        });
    }
    store_tile(&acc, c, rc, skip);
}

// ---------------------------------------------------------------------------------------------
// C += A · Bᵀ

/// [`add_matmul_bt`] with `L` elements per vector (`L2 = 2 L`, `L4 = 4 L`): tiles of 4
/// vectors × 2 columns where `TALL` and `M ≥ 4 L`, otherwise of 2 vectors × 4 columns.
#[inline(always)]
fn add_matmul_bt_lanes<
    T: Scalar,
    const M: usize,
    const K: usize,
    const N: usize,
    const TALL: bool,
    const L: usize,
    const L2: usize,
    const L4: usize,
>(
    c: &mut [[T; M]; K],
    a: &[[T; M]; N],
    b: &[[T; K]; N],
) {
    if const { TALL && M >= L4 } {
        add_matmul_bt_cols::<T, M, K, N, 2, L4, L2>(c, a, b);
    } else {
        add_matmul_bt_cols::<T, M, K, N, 4, L2, L>(c, a, b);
    }
}

/// Blocks of `KR` columns of `c`, then single columns; for each, rows in tiles of `R1`, `R2`,
/// then 1, so that `c` is read and written once, in order.
#[inline(always)]
fn add_matmul_bt_cols<
    T: Scalar,
    const M: usize,
    const K: usize,
    const N: usize,
    const KR: usize,
    const R1: usize,
    const R2: usize,
>(
    c: &mut [[T; M]; K],
    a: &[[T; M]; N],
    b: &[[T; K]; N],
) {
    let mut cs = c.chunks_exact_mut(KR);
    let mut k0: usize = 0;
    if const { K >= KR } {
        for cb in &mut cs {
            if let Some(cb) = cb.first_chunk_mut::<KR>() {
                // Not vectorized across the blocks (see [`OPAQUE_COLUMNS`]).
                let cb: &mut [[T; M]; KR] = opaque::<K, _>(cb);
                add_matmul_bt_rows::<T, M, K, N, KR, R1, R2>(cb, a, b, k0);
            }
            k0 = k0.wrapping_add(KR); // a column index of `c`: below K
        }
    }
    if const { K % KR != 0 } {
        for col in cs.into_remainder() {
            add_matmul_bt_rows::<T, M, K, N, 1, R1, R2>(core::array::from_mut(col), a, b, k0);
            k0 = k0.wrapping_add(1);
        }
    }
}

/// All rows of the `KR` columns `k0 ..` of `c`, in tiles of `R1` and `R2` rows (see
/// [`cover`]).
#[inline(always)]
fn add_matmul_bt_rows<
    T: Scalar,
    const M: usize,
    const K: usize,
    const N: usize,
    const KR: usize,
    const R1: usize,
    const R2: usize,
>(
    c: &mut [[T; M]; KR],
    a: &[[T; M]; N],
    b: &[[T; K]; N],
    k0: usize,
) {
    cover::<_, M, R1, R2, R2>(&mut BtTiles { c, a, b, k0 });
}

/// The tiles of [`add_matmul_bt_rows`].
struct BtTiles<'a, T, const M: usize, const K: usize, const N: usize, const KR: usize> {
    c: &'a mut [[T; M]; KR],
    a: &'a [[T; M]; N],
    b: &'a [[T; K]; N],
    k0: usize,
}

impl<T: Scalar, const M: usize, const K: usize, const N: usize, const KR: usize> Tiles
    for BtTiles<'_, T, M, K, N, KR>
{
    #[inline(always)]
    fn run<const R: usize>(&mut self, start: usize, skip: usize) {
        add_matmul_bt_tile::<T, M, K, N, KR, R>(self.c, self.a, self.b, self.k0, start, skip);
    }
}

/// Rows `r .. r + MR` of the `KR` columns `k0 ..` of `c += a · bᵀ` (stored from row
/// `r + skip`): for each column `j` of `a` and `b`, one block of `a`'s column times
/// `b[k0 ..][j]`, in order of `j`.
#[inline(always)]
fn add_matmul_bt_tile<
    T: Scalar,
    const M: usize,
    const K: usize,
    const N: usize,
    const KR: usize,
    const MR: usize,
>(
    c: &mut [[T; M]; KR],
    a: &[[T; M]; N],
    b: &[[T; K]; N],
    k0: usize,
    r: usize,
    skip: usize,
) {
    let mut acc = [[T::zero(); MR]; KR];
    column_calls(&mut acc, c, |sums, ck| {
        if let Some(src) = block::<T, MR>(ck, r) {
            *sums = *src;
        }
    });
    for (aj, bj) in a.iter().zip(b) {
        let (Some(av), Some(bv)) = (block::<T, MR>(aj, r), block::<T, KR>(bj, k0)) else {
            return;
        };
        let av = *av;
        column_calls(&mut acc, bv, |sums, &bkj| add_scaled(sums, &av, bkj));
    }
    store_tile(&acc, c, r, skip);
}

// ---------------------------------------------------------------------------------------------
// C = Aᵀ · B

/// Rows of `a` transposed at a time by [`matmul_at`].
const AT_ROWS: usize = 64;

/// [`matmul_at`] with tiles of `K1` and `K2` rows of `c` for blocks of columns (where `SIMD`:
/// with vector registers), and dot products in `DL` partial sums for the columns left over;
/// with `add`, the products are added to `c`.
#[inline(always)]
fn matmul_at_lanes<
    T: Scalar,
    const M: usize,
    const K: usize,
    const N: usize,
    const SIMD: bool,
    const K1: usize,
    const K2: usize,
    const DL: usize,
>(
    a: &[[T; M]; K],
    b: &[[T; M]; N],
    c: &mut [[T; K]; N],
    add: bool,
) {
    const NJ: usize = 4;
    // Without vector registers, transposing buys nothing: dot products in order, no buffer.
    let blocked = const {
        if SIMD {
            N - N % NJ
        } else {
            0
        }
    };
    let (Some((b4, b1)), Some((c4, c1))) =
        (b.split_at_checked(blocked), c.split_at_mut_checked(blocked))
    else {
        return;
    };
    if const { SIMD && N >= NJ } {
        matmul_at_cols::<T, M, K, K1, K2, NJ>(a, b4, c4, add);
    }
    if const { SIMD && N % NJ == 0 } {
        return;
    }
    if const { !SIMD && DL == 1 && M <= 4 } {
        // Short columns (a classifier's classes, in its input gradient): a column of `b` in
        // registers and each dot product whole, four columns of `a` per trip; the same sums
        // in the same order as `dots` (in order of `m`, from zero), without its tiles.
        for (bj, cj) in b1.iter().zip(c1) {
            let bv = *bj;
            each_pair(cj, a, |ck, ak| {
                let d = dot_in_order(ak, &bv);
                if add {
                    *ck += d;
                } else {
                    *ck = d;
                }
            });
        }
        return;
    }
    for (bj, cj) in b1.iter().zip(c1) {
        dots::<T, M, K, 8, DL>(a, bj, cj, add);
    }
}

/// `Σ a[m] · b[m]`, added in order of `m` to zero; written out for up to 4 elements.
#[inline(always)]
fn dot_in_order<T: Scalar>(a: &[T], b: &[T]) -> T {
    let z = T::zero();
    match (a, b) {
        ([a0], [b0]) => z + *a0 * *b0,
        ([a0, a1], [b0, b1]) => z + *a0 * *b0 + *a1 * *b1,
        ([a0, a1, a2], [b0, b1, b2]) => z + *a0 * *b0 + *a1 * *b1 + *a2 * *b2,
        ([a0, a1, a2, a3], [b0, b1, b2, b3]) => z + *a0 * *b0 + *a1 * *b1 + *a2 * *b2 + *a3 * *b3,
        _ => a.iter().zip(b).fold(z, |s, (&x, &y)| s + x * y),
    }
}

/// `c = aᵀ · b` (with `add`, `c += aᵀ · b`) for one column: dot products of `b` with `NK`
/// columns of `a` at a time, then single columns.
#[inline(always)]
fn dots<T: Scalar, const M: usize, const K: usize, const NK: usize, const L: usize>(
    a: &[[T; M]; K],
    b: &[T; M],
    c: &mut [T; K],
    add: bool,
) {
    let mut blocks = a.chunks_exact(NK);
    let mut out = c.chunks_exact_mut(NK);
    if const { K >= NK } {
        for (ab, cb) in (&mut blocks).zip(&mut out) {
            if let (Some(ab), Some(cb)) = (ab.first_chunk::<NK>(), cb.first_chunk_mut::<NK>()) {
                dots_tile::<T, M, NK, L>(ab, b, cb, add);
            }
        }
    }
    if const { K % NK != 0 } {
        for (ac, ck) in blocks.remainder().iter().zip(out.into_remainder()) {
            let (ac, ck) = (core::array::from_ref(ac), core::array::from_mut(ck));
            dots_tile::<T, M, 1, L>(ac, b, ck, add);
        }
    }
}

/// The dot products of `b` with the `NK` columns of `a`, each in `L` partial sums (lane `i`
/// adds the elements `i, i + L, …`), added pairwise at the end, then the elements left over;
/// written into `c` (with `add`, added to it).
#[inline(always)]
fn dots_tile<T: Scalar, const M: usize, const NK: usize, const L: usize>(
    a: &[[T; M]; NK],
    b: &[T; M],
    c: &mut [T; NK],
    add: bool,
) {
    let put = |ck: &mut T, &d: &T| {
        if add {
            *ck += d;
        } else {
            *ck = d;
        }
    };
    if const { L == 1 } {
        // One sum per column, in order (the lanes below, with one lane): the sums stay in
        // registers on targets without vector registers, and go straight into `c`.
        let mut acc = [T::zero(); NK];
        for (m, &bm) in b.iter().enumerate() {
            column_calls(&mut acc, a, |s, ak| {
                if let Some(&x) = ak.get(m) {
                    *s += x * bm;
                }
            });
        }
        column_calls(c, &acc, put);
        return;
    }
    // With a register's worth of 64 bytes per column (AVX-512), the columns too short for one
    // (whose sums are all left over) take half of it: the same sums (from zero, in order), in
    // the code of the half-width tile.
    if const { L * size_of::<T>() == 64 && M < L / 2 } {
        if const { is_f32::<T>() } {
            dots_tile::<T, M, NK, 8>(a, b, c, add);
        } else {
            dots_tile::<T, M, NK, 4>(a, b, c, add);
        }
        return;
    }
    let mut acc = [[T::zero(); L]; NK];
    let mut o: usize = 0;
    // `o` is an offset into a column of `M` elements: `o + L` cannot overflow.
    while o.wrapping_add(L) <= M {
        let Some(bv) = block::<T, L>(b, o) else {
            break;
        };
        column_calls(&mut acc, a, |sums, ak| {
            if let Some(av) = block::<T, L>(ak, o) {
                for ((s, &x), &y) in sums.iter_mut().zip(av).zip(bv) {
                    *s += x * y;
                }
            }
        });
        o = o.wrapping_add(L);
    }
    // 64 bytes of partial sums per column: the first step of their pairwise sum (lane `i` plus
    // lane `i + L/2`) column by column, then the rest as for 32 bytes. Left to the loop below,
    // the columns' sums are vectorized *across* the columns, with gathers (the LSTM's
    // one-sample product ran at 0.6 times the speed).
    if const { L * size_of::<T>() == 64 } {
        if const { is_f32::<T>() } {
            finish_dots(&fold_lanes::<T, NK, L, 8>(&acc), a, b, o, c, put);
        } else {
            finish_dots(&fold_lanes::<T, NK, L, 4>(&acc), a, b, o, c, put);
        }
    } else {
        finish_dots(&acc, a, b, o, c, put);
    }
}

/// The first step of [`horizontal_sum`] for each of the `NK` columns: lane `i` plus lane
/// `i + H`, where `H` is `L / 2`.
#[inline(always)]
fn fold_lanes<T: Scalar, const NK: usize, const L: usize, const H: usize>(
    acc: &[[T; L]; NK],
) -> [[T; H]; NK] {
    let mut half = [[T::zero(); H]; NK];
    column_calls(&mut half, acc, |h, s| {
        if let Some((lo, hi)) = s.split_first_chunk::<H>() {
            for ((x, &l), &u) in h.iter_mut().zip(lo).zip(hi) {
                *x = l + u;
            }
        }
    });
    half
}

/// [`dots_tile`]'s last step: each column's partial sums added pairwise, then the elements of
/// the column from `o` in order; written into `c` by `put`.
#[inline(always)]
fn finish_dots<T: Scalar, const M: usize, const NK: usize, const L: usize>(
    acc: &[[T; L]; NK],
    a: &[[T; M]; NK],
    b: &[T; M],
    o: usize,
    c: &mut [T; NK],
    put: impl Fn(&mut T, &T),
) {
    for ((ck, sums), ak) in c.iter_mut().zip(acc).zip(a) {
        let mut total = horizontal_sum(*sums);
        for (&x, &y) in ak.iter().zip(b).skip(o) {
            total += x * y;
        }
        put(ck, &total);
    }
}

/// The sum of the `L` lanes, added pairwise (lane `i` with lane `i + L/2`, and so on).
#[inline(always)]
pub(crate) fn horizontal_sum<T: Scalar, const L: usize>(mut v: [T; L]) -> T {
    let mut n = L;
    while n > 1 {
        let half = n / 2;
        // `half <= n`: the split is in range.
        let Some((low, high)) = v.split_at_mut_checked(n.wrapping_sub(half)) else {
            break;
        };
        for (x, &y) in low.iter_mut().zip(high.iter().take(half)) {
            *x += y;
        }
        n = n.wrapping_sub(half);
    }
    v.first().copied().unwrap_or_else(T::zero)
}

/// Blocks of `K1` columns of `a` (rows of `c`), then `K2`, then single columns (see
/// [`cover`]).
#[inline(always)]
fn matmul_at_cols<
    T: Scalar,
    const M: usize,
    const K: usize,
    const K1: usize,
    const K2: usize,
    const NJ: usize,
>(
    a: &[[T; M]; K],
    b: &[[T; M]],
    c: &mut [[T; K]],
    add: bool,
) {
    if b.is_empty() {
        return;
    }
    cover::<_, K, K1, K2, K2>(&mut AtTiles::<T, M, K, NJ> { a, b, c, add });
}

/// The blocks of [`matmul_at_cols`].
struct AtTiles<'a, T, const M: usize, const K: usize, const NJ: usize> {
    a: &'a [[T; M]; K],
    b: &'a [[T; M]],
    c: &'a mut [[T; K]],
    add: bool,
}

impl<T: Scalar, const M: usize, const K: usize, const NJ: usize> Tiles
    for AtTiles<'_, T, M, K, NJ>
{
    #[inline(always)]
    fn run<const R: usize>(&mut self, start: usize, skip: usize) {
        let Some(a) = block::<[T; M], R>(self.a, start) else {
            return;
        };
        matmul_at_block::<T, M, K, R, NJ>(a, self.b, self.c, start, skip, self.add);
    }
}

/// Rows `k0 .. k0 + KL` of `c = aᵀ · b` (stored from row `k0 + skip`), given the `KL` columns
/// of `a` from `k0`: for each chunk of [`AT_ROWS`] rows, transpose it, then run every block of
/// `NJ` columns of `b` and `c` over it. With `add`, the sums start from what `c` holds.
#[inline(always)]
fn matmul_at_block<T: Scalar, const M: usize, const K: usize, const KL: usize, const NJ: usize>(
    a: &[[T; M]; KL],
    b: &[[T; M]],
    c: &mut [[T; K]],
    k0: usize,
    skip: usize,
    add: bool,
) {
    let mut buf = [[T::zero(); KL]; AT_ROWS];
    let mut o0: usize = 0;
    while o0 < M {
        // `o0 < M`: no overflow below.
        let len = M.wrapping_sub(o0).min(AT_ROWS);
        for (kk, ak) in a.iter().enumerate() {
            let Some(src) = ak.get(o0..o0.wrapping_add(len)) else {
                return;
            };
            for (row, &v) in buf.iter_mut().zip(src) {
                if let Some(dst) = row.get_mut(kk) {
                    *dst = v;
                }
            }
        }
        let Some(rows) = buf.get(..len) else {
            return;
        };
        for (bb, cb) in b.chunks_exact(NJ).zip(c.chunks_exact_mut(NJ)) {
            if let (Some(bb), Some(cb)) = (bb.first_chunk::<NJ>(), cb.first_chunk_mut::<NJ>()) {
                matmul_tile::<T, M, KL, K, NJ, KL>(rows, o0, bb, cb, 0, k0, skip, add);
            }
        }
        o0 = o0.wrapping_add(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`column_calls`] visits the same pairs as a loop, in the same order.
    #[test]
    fn columns_in_order() {
        fn visits<const N: usize>() {
            let y: [usize; N] = core::array::from_fn(|j| 10 * j);
            let mut x = [0; N];
            let mut order = [usize::MAX; N];
            let mut n = 0;
            column_calls(&mut x, &y, |xj, &yj| {
                *xj = yj + 1;
                order[n] = yj;
                n += 1;
            });
            assert_eq!(n, N);
            assert_eq!(order, y);
            assert_eq!(x, core::array::from_fn(|j| 10 * j + 1));
        }
        visits::<0>();
        visits::<1>();
        visits::<2>();
        visits::<3>();
        visits::<4>();
        visits::<5>();
        visits::<8>();
        visits::<9>();
    }

    /// The tiles of [`cover`], chosen when the code is compiled, are those of the rule it
    /// states, applied when it runs (`reference`), and store every row once.
    #[test]
    fn cover_chooses_tiles_as_its_rule() {
        use std::vec::Vec;
        struct Record(Vec<(usize, usize, usize)>);
        impl Tiles for Record {
            fn run<const R: usize>(&mut self, start: usize, skip: usize) {
                self.0.push((start, R, skip));
            }
        }
        fn reference(len: usize, r: [usize; 3]) -> Vec<(usize, usize, usize)> {
            let mut tiles = Vec::new();
            if SCALAR_TILES && len == 3 || !SCALAR_TILES && len > 1 && len < r[2] {
                tiles.push((0, len, 0));
                return tiles;
            }
            let mut done = 0;
            for size in [r[0], r[1], r[2], 1] {
                while done + size <= len {
                    tiles.push((done, size, 0));
                    done += size;
                }
                let rest = len - done;
                if rest == 0 || size == 1 {
                    return tiles;
                }
                if let Some(&last) = [r[2], r[1], r[0]].iter().find(|&&t| rest <= t && t <= len) {
                    tiles.push((len - last, last, last - rest));
                    return tiles;
                }
            }
            tiles
        }
        fn check<const LEN: usize, const R1: usize, const R2: usize, const R3: usize>() {
            let mut got = Record(Vec::new());
            cover::<_, LEN, R1, R2, R3>(&mut got);
            assert_eq!(
                got.0,
                reference(LEN, [R1, R2, R3]),
                "{LEN} by {R1}, {R2}, {R3}"
            );
            let mut stored = [0; LEN];
            for &(start, size, skip) in &got.0 {
                for row in &mut stored[start + skip..start + size] {
                    *row += 1;
                }
            }
            assert_eq!(stored, [1; LEN], "{LEN} by {R1}, {R2}, {R3}");
        }
        macro_rules! lens {
            ($r1:literal $r2:literal $r3:literal: $($len:literal)*) => {
                $(check::<$len, $r1, $r2, $r3>();)*
            };
        }
        lens!(16 8 4: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 15 16 17 19 20 23 24 27 28 31 33 37 40 45);
        lens!(8 4 2: 0 1 2 3 4 5 6 7 8 9 10 11 13 14 15 17);
        lens!(8 4 4: 1 3 4 5 7 8 9 11 12 13);
        lens!(4 2 2: 1 2 3 4 5 6 7 9);
        lens!(2 1 1: 1 2 3 5);
    }

    #[test]
    fn pairwise_sum() {
        assert_eq!(horizontal_sum([1.0f32, 2.0, 3.0, 4.0, 5.0]), 15.0);
        assert_eq!(horizontal_sum([7.0f64]), 7.0);
        assert_eq!(horizontal_sum::<f64, 0>([]), 0.0);
    }

    fn fill<T: Scalar, const R: usize, const C: usize>(seed: u64) -> [[T; R]; C] {
        let mut s = seed;
        core::array::from_fn(|_| {
            core::array::from_fn(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                T::of_f64(((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0)
            })
        })
    }

    /// [`Kernels::matmul`] for vectors of `VB` bytes, compiled once for both values of `add`.
    #[inline(never)]
    fn matmul_v<
        const VB: usize,
        const DOT: usize,
        T: Scalar,
        const K: usize,
        const M: usize,
        const N: usize,
    >(
        a: &[[T; M]; K],
        b: &[[T; K]; N],
        c: &mut [[T; M]; N],
        add: bool,
    ) where
        Vectors<VB, DOT>: Kernels,
    {
        Vectors::<VB, DOT>::matmul(a, b, c, add);
    }

    /// [`Kernels::matmul_at`] for vectors of `VB` bytes, compiled once for both values of `add`.
    #[inline(never)]
    fn matmul_at_v<
        const VB: usize,
        const DOT: usize,
        T: Scalar,
        const M: usize,
        const K: usize,
        const N: usize,
    >(
        a: &[[T; M]; K],
        b: &[[T; M]; N],
        c: &mut [[T; K]; N],
        add: bool,
    ) where
        Vectors<VB, DOT>: Kernels,
    {
        Vectors::<VB, DOT>::matmul_at(a, b, c, add);
    }

    /// Every kernel tiled for vectors of `VB` bytes against the straightforward loops, in `T`:
    /// bit-identical where the kernel adds in the loop's order, within `tol` (relative to the
    /// sum of magnitudes) where not.
    ///
    /// Not inlined, nor are the kernels into it (each is compiled once per instance, with `add`
    /// a run-time flag): one function of every instance would take the optimizer minutes. The
    /// loops it compares with are [`verify`], compiled once per scalar type.
    #[inline(never)]
    fn check<
        const VB: usize,
        const DOT: usize,
        T: Scalar,
        const M: usize,
        const K: usize,
        const N: usize,
    >(
        tol: f64,
    ) where
        Vectors<VB, DOT>: Kernels,
    {
        let a: [[T; M]; K] = fill(1);
        let b: [[T; K]; N] = fill(2);
        let d: [[T; M]; N] = fill(3);
        // c = a · b; c1 += a · b, added in order to what c1 holds.
        let mut c = [[T::zero(); M]; N];
        matmul_v::<VB, DOT, T, K, M, N>(&a, &b, &mut c, false);
        let c10: [[T; M]; N] = fill(5);
        let mut c1 = c10;
        matmul_v::<VB, DOT, T, K, M, N>(&a, &b, &mut c1, true);
        // c2 (M × K) += d (M × N) · bᵀ (N × K) where b is K × N.
        let c20: [[T; M]; K] = fill(4);
        let mut c2 = c20;
        Vectors::<VB, DOT>::add_matmul_bt(&mut c2, &d, &b);
        // c3 (K × N) = aᵀ · d; c4 += aᵀ · d.
        let mut c3 = [[T::zero(); K]; N];
        matmul_at_v::<VB, DOT, T, M, K, N>(&a, &d, &mut c3, false);
        let c40: [[T; K]; N] = fill(6);
        let mut c4 = c40;
        matmul_at_v::<VB, DOT, T, M, K, N>(&a, &d, &mut c4, true);
        verify(
            VB,
            (M, K, N),
            tol,
            &Products {
                a: a.as_flattened(),
                b: b.as_flattened(),
                d: d.as_flattened(),
                c: c.as_flattened(),
                c10: c10.as_flattened(),
                c1: c1.as_flattened(),
                c20: c20.as_flattened(),
                c2: c2.as_flattened(),
                c3: c3.as_flattened(),
                c40: c40.as_flattened(),
                c4: c4.as_flattened(),
            },
        );
    }

    /// [`check`]'s operands and results, each array of columns flattened (column `j` of an
    /// array of `r`-element columns from `j · r`).
    struct Products<'a, T> {
        a: &'a [T],
        b: &'a [T],
        d: &'a [T],
        c: &'a [T],
        c10: &'a [T],
        c1: &'a [T],
        c20: &'a [T],
        c2: &'a [T],
        c3: &'a [T],
        c40: &'a [T],
        c4: &'a [T],
    }

    /// [`check`]'s products against the straightforward loops, for sizes `(m, k, n)` and
    /// vectors of `vb` bytes: `c = a · b` and `c1 = c10 + a · b` (`a` m × k, `b` k × n) summed in
    /// order, `c2 = c20 + d · bᵀ` (`d` m × n) summed in order over the columns, `c3 = aᵀ · d`
    /// in order for blocks of 4 columns (every column without vector registers), else within
    /// `tol`, and `c4 = c40 + aᵀ · d`, added in order for those blocks and as a whole dot
    /// product elsewhere.
    #[inline(never)]
    fn verify<T: Scalar>(vb: usize, (m, k, n): (usize, usize, usize), tol: f64, p: &Products<T>) {
        let name = std::format!("{vb} bytes: {m} {k} {n}");
        let (a, b, d) = (
            |kk, i| p.a[kk * m + i],
            |j, kk| p.b[j * k + kk],
            |j, i| p.d[j * m + i],
        );
        for j in 0..n {
            for i in 0..m {
                let (mut s, mut s1) = (T::zero(), p.c10[j * m + i]);
                for kk in 0..k {
                    s += a(kk, i) * b(j, kk);
                    s1 += a(kk, i) * b(j, kk);
                }
                assert_eq!(p.c[j * m + i], s, "{name}");
                assert_eq!(p.c1[j * m + i], s1, "{name}");
            }
        }
        for kk in 0..k {
            for i in 0..m {
                let mut s = p.c20[kk * m + i];
                for j in 0..n {
                    s += d(j, i) * b(j, kk);
                }
                assert_eq!(p.c2[kk * m + i], s, "{name}");
            }
        }
        let blocks = n - n % 4;
        let in_order = if vb >= 16 { blocks } else { n };
        for j in 0..n {
            for kk in 0..k {
                let (at, c3, c40, c4) = (
                    j * k + kk,
                    p.c3[j * k + kk],
                    p.c40[j * k + kk],
                    p.c4[j * k + kk],
                );
                let mut s = T::zero();
                let mut magnitude = 0.0;
                for i in 0..m {
                    s += a(kk, i) * d(j, i);
                    magnitude += (a(kk, i) * d(j, i)).as_f64().abs();
                }
                // Blocks of 4 columns add each product to c4 in order; the dot products
                // are added whole.
                if vb >= 16 && j < blocks {
                    let mut s4 = c40;
                    for i in 0..m {
                        s4 += a(kk, i) * d(j, i);
                    }
                    assert_eq!(c4, s4, "{name} at {at}");
                } else {
                    assert_eq!(c4, c40 + c3, "{name} at {at}");
                }
                if j < in_order {
                    assert_eq!(c3, s, "{name} at {at}");
                } else {
                    let err = (c3 - s).as_f64().abs();
                    assert!(err <= tol * magnitude, "{name}: {err}");
                }
            }
        }
    }

    /// The products run on AVX2 where the processor has it ([`on_avx2`], the code the layers
    /// run in optimized builds, see [`DISPATCH`]) give the same bits as the build target's
    /// tiles.
    #[inline(never)]
    fn same_as_build_target<T: Scalar, const M: usize, const K: usize, const N: usize>() {
        type Target = Vectors<VECTOR_BYTES, DOT_BYTES>;
        /// The product on AVX2 where there is one (see [`on_avx2`]), else as the layers call it.
        fn chosen<P: Product>(p: P) {
            #[cfg(all(
                feature = "std",
                any(target_arch = "x86", target_arch = "x86_64"),
                target_feature = "sse2",
                not(target_feature = "avx2")
            ))]
            let Err(p) = on_avx2(p) else {
                return;
            };
            run(p);
        }
        let a: [[T; M]; K] = fill(1);
        let b: [[T; K]; N] = fill(2);
        let d: [[T; M]; N] = fill(3);
        let (mut c, mut want) = ([[T::zero(); M]; N], [[T::zero(); M]; N]);
        chosen(Matmul::<T, K, M, N, false> {
            a: &a,
            b: &b,
            c: &mut c,
        });
        matmul_v::<VECTOR_BYTES, DOT_BYTES, T, K, M, N>(&a, &b, &mut want, false);
        assert_eq!(c, want);
        chosen(Matmul::<T, K, M, N, true> {
            a: &a,
            b: &b,
            c: &mut c,
        });
        matmul_v::<VECTOR_BYTES, DOT_BYTES, T, K, M, N>(&a, &b, &mut want, true);
        assert_eq!(c, want);
        let (mut c2, mut want2): ([[T; M]; K], [[T; M]; K]) = (fill(4), fill(4));
        chosen(AddMatmulBt {
            c: &mut c2,
            a: &d,
            b: &b,
        });
        Target::add_matmul_bt(&mut want2, &d, &b);
        assert_eq!(c2, want2);
        let (mut c3, mut want3) = ([[T::zero(); K]; N], [[T::zero(); K]; N]);
        chosen(MatmulAt::<T, M, K, N, false> {
            a: &a,
            b: &d,
            c: &mut c3,
        });
        matmul_at_v::<VECTOR_BYTES, DOT_BYTES, T, M, K, N>(&a, &d, &mut want3, false);
        assert_eq!(c3, want3);
        chosen(MatmulAt::<T, M, K, N, true> {
            a: &a,
            b: &d,
            c: &mut c3,
        });
        matmul_at_v::<VECTOR_BYTES, DOT_BYTES, T, M, K, N>(&a, &d, &mut want3, true);
        assert_eq!(c3, want3);
        // And as the layers call them.
        matmul(&a, &b, &mut c);
        matmul_v::<VECTOR_BYTES, DOT_BYTES, T, K, M, N>(&a, &b, &mut want, false);
        assert_eq!(c, want);
    }

    /// [`check`] for every width of vectors, in `f64` and `f32`.
    fn check_all<const M: usize, const K: usize, const N: usize>() {
        check::<8, 8, f64, M, K, N>(1e-15);
        check::<8, 8, f32, M, K, N>(1e-6);
        check::<16, 16, f64, M, K, N>(1e-15);
        check::<16, 16, f32, M, K, N>(1e-6);
        check::<32, 32, f64, M, K, N>(1e-15);
        check::<32, 32, f32, M, K, N>(1e-6);
        check::<64, 64, f64, M, K, N>(1e-15);
        check::<64, 64, f32, M, K, N>(1e-6);
        check::<32, 16, f64, M, K, N>(1e-15);
        check::<32, 16, f32, M, K, N>(1e-6);
        check::<32, 64, f64, M, K, N>(1e-15);
        check::<32, 64, f32, M, K, N>(1e-6);
    }

    #[test]
    fn kernels_match_loops() {
        check_all::<1, 1, 1>();
        check_all::<3, 5, 2>();
        check_all::<17, 7, 5>();
        check_all::<33, 3, 9>();
        check_all::<8, 16, 4>();
        check_all::<40, 9, 1>();
        check_all::<130, 21, 6>();
        check_all::<10, 128, 32>();
        check_all::<37, 19, 3>();
        check_all::<32, 64, 32>();
        check_all::<16, 5, 7>();
        check_all::<20, 11, 3>();
        // Several panels of `a` (`PANEL_BYTES`): 2 in `f32`, 3 in `f64`, the last one short.
        check_all::<12, 600, 3>();
    }

    /// The products as the layers call them against the build target's tiles, on sizes with
    /// enough multiply-adds to take the tiles chosen at run time (see [`DISPATCH_FROM`]):
    /// edge tiles of every kind, a single column, blocks of columns and leftover ones.
    #[test]
    fn tiles_chosen_at_run_time_give_the_same_bits() {
        same_as_build_target::<f64, 17, 7, 5>();
        same_as_build_target::<f32, 17, 7, 5>();
        same_as_build_target::<f32, 40, 9, 1>();
        same_as_build_target::<f64, 130, 21, 6>();
        same_as_build_target::<f32, 130, 21, 6>();
        same_as_build_target::<f32, 10, 128, 32>();
        same_as_build_target::<f32, 37, 19, 3>();
    }
}
