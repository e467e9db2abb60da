//! Tuples as sequential models: `(A, B, C)` feeds `A`'s output to `B` and `B`'s to `C`.
//!
//! The cache of a chain is `(caches, scratch)`: every layer's own cache, and one buffer per
//! boundary between two layers for the gradient flowing back across it. The first layer's input
//! gradient is never computed unless asked for, nor the second layer's where the first has no
//! parameters (as `Sequence`, `Flatten` or a frozen layer).

use core::mem::size_of;

use rand_core::RngCore;

use crate::io::names::DIGITS;
use crate::io::Shape;
use crate::io::{part, Name, StateDict, TensorInfo, Values, ValuesMut};
use crate::layer::{child_name, split_index, LayerRow};
use crate::{Error, Init, Layer, Model, Parameters, Scalar, Zeroed};

/// Tuple element `i`'s name (`i < 10`).
fn digit(i: usize) -> &'static str {
    DIGITS.get(i).copied().unwrap_or("")
}

/// `None`, once per token (for the gradients of a chain's middle layers).
macro_rules! none {
    ($x:tt) => {
        None
    };
}

/// Emits the backward calls of a chain from the last layer to the first.
macro_rules! chain_backward {
    (@rev [] [$($acc:tt)*] $args:tt $first:tt) => {
        chain_backward!(@emit $args $first $($acc)*)
    };
    (@rev [$head:tt $($rest:tt)*] [$($acc:tt)*] $args:tt $first:tt) => {
        chain_backward!(@rev [$($rest)*] [$head $($acc)*] $args $first)
    };
    (@emit ($me:ident, $dx:ident, $dout:expr, $need:ident) ($i:tt $c:ident $g:ident $inp:ident)) => {
        $me.$i.backward($inp, $c, $dout, $dx, $g);
    };
    // The second layer: its input gradient only if the first layer needs it (`$need`).
    (@emit ($me:ident, $dx:ident, $dout:expr, $need:ident) $first:tt ($i:tt $c:ident $g:ident $s:ident $inp:ident)) => {
        $me.$i.backward($inp, $c, $dout, if $need { Some(&mut *$s) } else { None }, $g);
        chain_backward!(@emit ($me, $dx, &mut *$s, $need) $first);
    };
    (@emit ($me:ident, $dx:ident, $dout:expr, $need:ident) $first:tt ($i:tt $c:ident $g:ident $s:ident $inp:ident) $($rest:tt)+) => {
        $me.$i.backward($inp, $c, $dout, Some(&mut *$s), $g);
        chain_backward!(@emit ($me, $dx, &mut *$s, $need) $first $($rest)+);
    };
}

macro_rules! chain {
    (
        first ($L0:ident $i0:tt $X1:ident $c0:ident $g0:ident $in0:ident);
        mid [$(($L:ident $i:tt $Xi:ident $Xo:ident $c:ident $g:ident $s:ident $inp:ident))*];
        last ($Ln:ident $n:tt $Xn:ident $cn:ident $gn:ident $sn:ident $inn:ident);
    ) => {
        impl<T: Scalar, $L0: Parameters<T>, $($L: Parameters<T>,)* $Ln: Parameters<T>> Parameters<T>
            for ($L0, $($L,)* $Ln)
        {
            const COUNT: usize = $L0::COUNT $(+ $L::COUNT)* + $Ln::COUNT;
            const TENSORS: usize = $L0::TENSORS $(+ $L::TENSORS)* + $Ln::TENSORS;
            fn tensor(&self, i: usize) -> Option<&[T]> {
                let i = match split_index(i, $L0::TENSORS) {
                    Ok(i) => return self.$i0.tensor(i),
                    Err(rest) => rest,
                };
                $(
                    let i = match split_index(i, $L::TENSORS) {
                        Ok(i) => return self.$i.tensor(i),
                        Err(rest) => rest,
                    };
                )*
                self.$n.tensor(i)
            }
            fn tensor_mut(&mut self, i: usize) -> Option<&mut [T]> {
                let i = match split_index(i, $L0::TENSORS) {
                    Ok(i) => return self.$i0.tensor_mut(i),
                    Err(rest) => rest,
                };
                $(
                    let i = match split_index(i, $L::TENSORS) {
                        Ok(i) => return self.$i.tensor_mut(i),
                        Err(rest) => rest,
                    };
                )*
                self.$n.tensor_mut(i)
            }
            fn tensors_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
                self.$i0
                    .tensors_mut()
                    $(.chain(self.$i.tensors_mut()))*
                    .chain(self.$n.tensors_mut())
            }
        }

        /// Element `i`'s tensors under `i.`, as in `nn.Sequential`.
        impl<T: Scalar, $L0: StateDict<T>, $($L: StateDict<T>,)* $Ln: StateDict<T>> StateDict<T>
            for ($L0, $($L,)* $Ln)
        {
            const ENTRIES: usize = $L0::ENTRIES $(+ $L::ENTRIES)* + $Ln::ENTRIES;

            fn visit<V>(&self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
            where
                V: FnMut(TensorInfo<'_>, Values<'_, T>) -> Result<(), Error>,
            {
                part(prefix, digit($i0), |p| self.$i0.visit(p, f))?;
                $(part(prefix, digit($i), |p| self.$i.visit(p, f))?;)*
                part(prefix, digit($n), |p| self.$n.visit(p, f))
            }

            fn visit_mut<V>(&mut self, prefix: &mut Name, f: &mut V) -> Result<(), Error>
            where
                V: FnMut(TensorInfo<'_>, ValuesMut<'_, T>) -> Result<(), Error>,
            {
                part(prefix, digit($i0), |p| self.$i0.visit_mut(p, f))?;
                $(part(prefix, digit($i), |p| self.$i.visit_mut(p, f))?;)*
                part(prefix, digit($n), |p| self.$n.visit_mut(p, f))
            }
        }

        impl<T: Scalar, $L0: Model<T>, $($L: Model<T>,)* $Ln: Model<T>> Model<T>
            for ($L0, $($L,)* $Ln)
        {
            type Grads = ($L0::Grads, $($L::Grads,)* $Ln::Grads);
            type Buffers = ($L0::Buffers, $($L::Buffers,)* $Ln::Buffers);
            fn init<R: RngCore + ?Sized>(&mut self, init: Init, rng: &mut R) {
                self.$i0.init(init, rng);
                $(self.$i.init(init, rng);)*
                self.$n.init(init, rng);
            }
            fn describe(
                &self,
                name: &str,
                input: Shape,
                row: &mut dyn FnMut(&LayerRow<'_>) -> core::fmt::Result,
            ) -> Result<Shape, core::fmt::Error> {
                let mut buf = Name::new();
                let s = self.$i0.describe(child_name(&mut buf, name, digit($i0))?, input, row)?;
                $(let s = self.$i.describe(child_name(&mut buf, name, digit($i))?, s, row)?;)*
                self.$n.describe(child_name(&mut buf, name, digit($n))?, s, row)
            }
            fn save_buffers(&self, saved: &mut Self::Buffers) {
                self.$i0.save_buffers(&mut saved.$i0);
                $(self.$i.save_buffers(&mut saved.$i);)*
                self.$n.save_buffers(&mut saved.$n);
            }
            fn restore_buffers(&mut self, saved: &Self::Buffers) {
                self.$i0.restore_buffers(&saved.$i0);
                $(self.$i.restore_buffers(&saved.$i);)*
                self.$n.restore_buffers(&saved.$n);
            }
            fn buffers_finite(&self) -> bool {
                self.$i0.buffers_finite()
                    $(&& self.$i.buffers_finite())*
                    && self.$n.buffers_finite()
            }
        }

        impl<T, X, Y, $X1, $($Xo,)* $L0, $($L,)* $Ln> Layer<T, X> for ($L0, $($L,)* $Ln)
        where
            T: Scalar,
            $X1: Zeroed,
            $($Xo: Zeroed,)*
            Y: Zeroed,
            $L0: Layer<T, X, Output = $X1>,
            $($L: Layer<T, $Xi, Output = $Xo>,)*
            $Ln: Layer<T, $Xn, Output = Y>,
        {
            type Output = Y;
            type Cache = (
                ($L0::Cache, $($L::Cache,)* $Ln::Cache),
                ($($Xi,)* $Xn,),
            );
            const FORWARD_STACK_BYTES: usize = size_of::<$X1>() $(+ size_of::<$Xo>())*
                + $L0::FORWARD_STACK_BYTES $(+ $L::FORWARD_STACK_BYTES)* + $Ln::FORWARD_STACK_BYTES;

            fn forward(&self, x: &X, y: &mut Y) {
                // Intermediates live on the stack, one per boundary (FORWARD_STACK_BYTES).
                let mut first = <$X1 as Zeroed>::zeroed();
                self.$i0.forward(x, &mut first);
                let h = &first;
                $(
                    let mut out = <$Xo as Zeroed>::zeroed();
                    self.$i.forward(h, &mut out);
                    let h = &out;
                )*
                self.$n.forward(h, y);
            }

            fn forward_train<'c>(&mut self, x: &X, cache: &'c mut Self::Cache) -> &'c Y {
                let ($c0, $($c,)* $cn) = &mut cache.0;
                let h = self.$i0.forward_train(x, $c0);
                $(let h = self.$i.forward_train(h, $c);)*
                self.$n.forward_train(h, $cn)
            }

            fn forward_frozen<'c>(&self, x: &X, cache: &'c mut Self::Cache) -> &'c Y {
                let ($c0, $($c,)* $cn) = &mut cache.0;
                let h = self.$i0.forward_frozen(x, $c0);
                $(let h = self.$i.forward_frozen(h, $c);)*
                self.$n.forward_frozen(h, $cn)
            }

            fn output(cache: &Self::Cache) -> &Y {
                $Ln::output(&cache.0.$n)
            }

            fn backward(
                &self,
                x: &X,
                cache: &mut Self::Cache,
                dy: &mut Y,
                dx: Option<&mut X>,
                grads: Option<&mut Self::Grads>,
            ) {
                let ($c0, $($c,)* $cn) = &mut cache.0;
                let ($($s,)* $sn,) = &mut cache.1;
                // Each layer's gradients, or none for any (a frozen chain).
                let ($g0, $($g,)* $gn) = match grads {
                    Some(($g0, $($g,)* $gn)) => (Some($g0), $(Some($g),)* Some($gn)),
                    None => (None, $(none!($g),)* None),
                };
                let $in0 = x;
                let h = $L0::output(&*$c0);
                $(
                    let $inp = h;
                    let h = $L::output(&*$c);
                )*
                let $inn = h;
                // A first layer without parameters needs the gradient of its output only to
                // compute the input gradient asked for.
                let need = dx.is_some() || <$L0 as Parameters<T>>::COUNT != 0;
                chain_backward!(
                    @rev [$(($i $c $g $s $inp))* ($n $cn $gn $sn $inn)] []
                    (self, dx, dy, need) ($i0 $c0 $g0 $in0)
                );
            }
        }
    };
}

chain! {
    first (A 0 X1 c0 g0 i0);
    mid [];
    last (B 1 X1 c1 g1 s1 i1);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1)];
    last (C 2 X2 c2 g2 s2 i2);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2)];
    last (D 3 X3 c3 g3 s3 i3);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)];
    last (E 4 X4 c4 g4 s4 i4);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)
         (E 4 X4 X5 c4 g4 s4 i4)];
    last (F 5 X5 c5 g5 s5 i5);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)
         (E 4 X4 X5 c4 g4 s4 i4) (F 5 X5 X6 c5 g5 s5 i5)];
    last (G 6 X6 c6 g6 s6 i6);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)
         (E 4 X4 X5 c4 g4 s4 i4) (F 5 X5 X6 c5 g5 s5 i5) (G 6 X6 X7 c6 g6 s6 i6)];
    last (H 7 X7 c7 g7 s7 i7);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)
         (E 4 X4 X5 c4 g4 s4 i4) (F 5 X5 X6 c5 g5 s5 i5) (G 6 X6 X7 c6 g6 s6 i6)
         (H 7 X7 X8 c7 g7 s7 i7)];
    last (I 8 X8 c8 g8 s8 i8);
}
chain! {
    first (A 0 X1 c0 g0 i0);
    mid [(B 1 X1 X2 c1 g1 s1 i1) (C 2 X2 X3 c2 g2 s2 i2) (D 3 X3 X4 c3 g3 s3 i3)
         (E 4 X4 X5 c4 g4 s4 i4) (F 5 X5 X6 c5 g5 s5 i5) (G 6 X6 X7 c6 g6 s6 i6)
         (H 7 X7 X8 c7 g7 s7 i7) (I 8 X8 X9 c8 g8 s8 i8)];
    last (J 9 X9 c9 g9 s9 i9);
}
