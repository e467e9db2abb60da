//! Models, optimizers and trainers of any size on the heap (the `std` feature).
//!
//! A value built with `Net::default()` or `Adam::new(…)` is built on the stack, and
//! `Box::new(Net::default())` still builds it there first: a 784-1024-256-10 network (1.07 M
//! parameters, 4.3 MB) overflows a thread's stack, and so do its gradients and Adam's state.
//! [`boxed`] and [`try_boxed`] build the value on a helper thread whose stack is sized from the
//! value's type and move it into a `Box` there; the caller's stack never holds it. Everything
//! tinyprop does with a boxed model afterwards works in place (the model, the optimizer and the
//! trainer are passed by reference), so training runs on an ordinary thread.
//!
//! ```
//! use tinyprop::heap::{boxed, try_boxed};
//! use tinyprop::prelude::*;
//! type Net = (Dense<f32, 784, 1024>, Relu, Dense<f32, 1024, 256>, Relu, Dense<f32, 256, 10>);
//! let mut net = boxed(Net::default)?;
//! net.init(Init::HeUniform, &mut SplitMix64::new(1));
//! let opt = try_boxed(|| Adam::<f32, GradsOf<Net>>::new(AdamConfig::default()))?;
//! let trainer = boxed(Trainer::<f32, 784, 32, Net>::new)?;
//! assert!(tinyprop::memory::parameter_count::<f32, Net>() > 1_000_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;
use core::mem::size_of;
use std::boxed::Box;
use std::io;
use std::thread;

/// A [`try_boxed`] that failed: the helper thread could not start, or `make` returned an error.
#[derive(Debug)]
pub enum HeapError<E> {
    /// The operating system refused the helper thread (or its stack).
    Thread(io::Error),
    /// `make` returned this error.
    Make(E),
}

impl<E: fmt::Display> fmt::Display for HeapError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Thread(e) => write!(f, "cannot start a thread to build the value: {e}"),
            Self::Make(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for HeapError<E> {}

/// The stack the helper thread gets for a value of type `V`: room for the value 32 times over
/// and 1 MiB for the rest. A tuple's `Default` builds each element, then the tuple, and
/// unoptimised builds copy each several times more (measured: 8 times the value's size is not
/// enough at `opt-level = 1`, 16 is). Only the pages the construction touches are ever backed
/// by memory; the rest is address space.
fn stack_for<V>() -> usize {
    size_of::<V>().saturating_mul(32).saturating_add(1 << 20)
}

/// `make()` in a `Box`, built without passing through the caller's stack.
///
/// ```
/// use tinyprop::prelude::*;
/// let net = tinyprop::heap::boxed(<(Dense<f32, 512, 512>, Relu)>::default)?;
/// assert_eq!(net.0.weight[(0, 0)], 0.0);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Errors: the operating system refused the helper thread. A panic in `make` is passed on to
/// the caller.
pub fn boxed<V: Send>(make: impl FnOnce() -> V + Send) -> Result<Box<V>, io::Error> {
    try_boxed(|| Ok::<V, core::convert::Infallible>(make())).map_err(|e| match e {
        HeapError::Thread(e) => e,
        HeapError::Make(never) => match never {},
    })
}

/// `make()`'s value in a `Box`, or its error, built without passing through the caller's
/// stack (for constructors that check their arguments, such as an optimizer's).
///
/// ```
/// use tinyprop::heap::{try_boxed, HeapError};
/// use tinyprop::prelude::*;
/// type G = GradsOf<Dense<f32, 256, 256>>;
/// let adam = try_boxed(|| Adam::<f32, G>::new(AdamConfig::default()));
/// assert!(adam.is_ok());
/// let bad = try_boxed(|| Adam::<f32, G>::new(AdamConfig { lr: -1.0, ..Default::default() }));
/// assert!(matches!(bad, Err(HeapError::Make(Error::InvalidHyperparameter(_)))));
/// ```
pub fn try_boxed<V: Send, E: Send>(
    make: impl FnOnce() -> Result<V, E> + Send,
) -> Result<Box<V>, HeapError<E>> {
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name("tinyprop-heap".into())
            .stack_size(stack_for::<V>())
            .spawn_scoped(scope, move || make().map(Box::new))
            .map_err(HeapError::Thread)?;
        match handle.join() {
            Ok(result) => result.map_err(HeapError::Make),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
