//! The frame of `xor` without tinyprop: the same runtime, handlers, semihosting prints (integers
//! and floats), instruction counter and stack measurement, and a trivial computation in place
//! of training. The flash
//! of `xor` minus that of `baseline` is what tinyprop and the training code cost.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;
use tinyprop_cortex_m::{exit, icount, stack, start_counting, Meter};

const STEPS: u32 = 1000;
const REPORT_EVERY: u32 = 200;

#[entry]
fn main() -> ! {
    start_counting();
    hprintln!("baseline: no network, {} bytes of training memory", 0usize);
    let mut value = black_box(1.0f32);
    let mut meter = Meter::default();
    for step in 0..STEPS {
        if step % REPORT_EVERY == 0 {
            hprintln!("step {:4}  value {:.6}", step, value);
        }
        meter.resume();
        value = black_box(value * 0.995);
        meter.pause();
    }
    hprintln!("final value {:.6} after {} steps", value, STEPS);
    hprintln!(
        "instructions: {} per step",
        meter.total() / u64::from(STEPS)
    );
    hprintln!(
        "stack high-water mark: {} of {} bytes",
        stack::high_water(),
        stack::size()
    );
    exit(true)
}

#[exception]
fn SysTick() {
    icount::on_wrap();
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("hard fault: {:?}", frame);
    exit(false)
}
