//! Training does not need a big stack: the 784-128-10 network trains at batch 32 on a thread
//! with a 64 KiB stack, with the model, the input batch, the workspace (cache and gradients)
//! and the optimizer in `static` storage. The forward and backward passes, the loss and the
//! update work in place on those buffers and keep nothing of their size on the stack.
//!
//! (The model alone is 397 KiB and its gradients as much again: any copy of either, or of a
//! batch-sized temporary, would overflow this stack.)

use std::sync::Mutex;

use nalgebra::ArrayStorage;
use tinyprop::prelude::*;

type Net = (Dense<f32, 784, 128>, Relu, Dense<f32, 128, 10>);
type Batch = SMatrix<f32, 784, 32>;
type Grads = <Net as Model<f32>>::Grads;

/// A zero matrix, built at compile time.
const fn zeros<const R: usize, const C: usize>() -> SMatrix<f32, R, C> {
    SMatrix::from_array_storage(ArrayStorage([[0.0; R]; C]))
}

/// A zero dense layer, built at compile time.
const fn dense<const I: usize, const O: usize>() -> Dense<f32, I, O> {
    Dense {
        weight: zeros(),
        bias: zeros(),
    }
}

static NET: Mutex<Net> = Mutex::new((dense(), Relu, dense()));
static INPUT: Mutex<Batch> = Mutex::new(zeros());
static WORKSPACE: Mutex<Workspace<f32, Batch, Net>> = Mutex::new(Workspace {
    cache: ((zeros(), zeros(), zeros()), (zeros(), zeros())),
    grads: (dense(), (), dense()),
    dy: zeros(),
    saved: ((), (), ()),
});
static OPTIMIZER: Mutex<Option<Sgd<f32, Grads>>> = Mutex::new(None);

const STACK: usize = 64 * 1024;

#[test]
fn trains_784_128_10_on_a_64_kib_stack() {
    assert!(core::mem::size_of::<Net>() > 6 * STACK);
    assert!(core::mem::size_of::<Workspace<f32, Batch, Net>>() > 6 * STACK);

    let losses = std::thread::Builder::new()
        .name("small stack".into())
        .stack_size(STACK)
        .spawn(|| {
            let mut net = NET.lock().unwrap();
            let mut x = INPUT.lock().unwrap();
            let mut ws = WORKSPACE.lock().unwrap();
            let mut opt = OPTIMIZER.lock().unwrap();

            let mut rng = SplitMix64::new(11);
            net.init(Init::HeUniform, &mut rng);
            for v in x.iter_mut() {
                *v = tinyprop::rng::unit_f64(&mut rng) as f32;
            }
            let opt = opt.insert(Sgd::new(0.05).unwrap());
            let labels: [usize; 32] = core::array::from_fn(|j| j % 10);

            let mut losses = [0.0f32; 8];
            for loss in &mut losses {
                *loss = train_step(&mut *net, opt, &CrossEntropy, &*x, &labels, &mut ws).unwrap();
            }
            losses
        })
        .unwrap()
        .join()
        .expect("training overflowed a 64 KiB stack or failed");

    // The same batch over and over: the loss goes down.
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[7] < losses[0], "{losses:?}");
}
