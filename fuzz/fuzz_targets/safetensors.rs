//! Arbitrary bytes as a safetensors file: read without a model (every tensor, its values and
//! the metadata), and loaded into fixed models and an optimizer's state. Nothing may panic or
//! hang; a load that fails must change nothing; a load that succeeds must leave every value
//! finite (variances and second moments not negative), and save the same file back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyprop::io::safetensors::{self as st, Dtype, SafeTensors};
use tinyprop::io::StateDict;
use tinyprop::optim::{Adam, AdamConfig};
use tinyprop::prelude::*;

/// The model of the seed files in fuzz/corpus/safetensors (tests/external/tests/io.rs writes them).
type Target<T> = (Dense<T, 2, 2>, BatchNorm<T, 2>);

fn start<T: Scalar>() -> Target<T> {
    let mut m = Target::<T>::default();
    m.0.weight.fill(T::of_f64(0.25));
    m.1.running_var.fill(T::of_f64(2.0));
    m.1.num_batches_tracked = 5;
    m
}

/// Loads `bytes` into `model` and checks the contract.
fn load_into<T: Scalar, M: StateDict<T> + Clone + PartialEq + core::fmt::Debug>(
    model: &mut M,
    bytes: &[u8],
    dtype: Dtype,
) {
    let before = model.clone();
    match st::load(model, bytes) {
        Err(_) => assert_eq!(*model, before, "a failed load changed the model"),
        Ok(()) => {
            model
                .for_each_tensor(|info, values| {
                    if let tinyprop::io::Values::Float(v) = values {
                        assert!(v.iter().all(|x| x.is_finite()), "{}", info.name);
                        if info.domain == tinyprop::io::Domain::NonNegative {
                            assert!(v.iter().all(|&x| x >= T::zero()), "{}", info.name);
                        }
                    }
                    Ok(())
                })
                .unwrap();
            // What loaded saves, and loads back as it was.
            let mut out = [0u8; 4096];
            let len = st::save(model, dtype, &mut out).unwrap();
            let mut again = before;
            st::load(&mut again, &out[..len]).unwrap();
            assert_eq!(again, *model);
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(file) = SafeTensors::parse(bytes) {
        let mut n = 0;
        for t in file.tensors() {
            n += 1;
            let size = u64::try_from(t.data().len()).unwrap();
            assert_eq!(size, t.shape().elements() * t.dtype().size() as u64);
            assert_eq!(t.shape().iter().count(), t.shape().rank());
            if let Some(values) = t.floats() {
                assert_eq!(values.count() * t.dtype().size(), t.data().len());
            }
            let name: String = t.name().chars().collect();
            assert!(file.tensor(&name).is_some());
        }
        assert_eq!(n, file.len());
        for (k, v) in file.metadata() {
            let _ = (k.chars().count(), v.chars().count());
        }
    }
    load_into(&mut start::<f32>(), bytes, Dtype::F32);
    load_into(&mut start::<f64>(), bytes, Dtype::F64);
    let mut adam = Adam::<f64, Dense<f64, 2, 2>>::new(AdamConfig::default()).unwrap();
    load_into(&mut adam, bytes, Dtype::F64);
});
