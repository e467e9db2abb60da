//! What the firmware binaries share: the exit status through semihosting, the report of a
//! tinyprop error, a panic handler that exits with failure, and the stack high-water mark.
//!
//! Each binary also defines a `HardFault` handler that calls [`exit`] with failure (an exception
//! handler has to be defined in the binary so that the linker keeps it), so that a crash ends
//! QEMU with a non-zero status instead of hanging it.
#![no_std]

use core::panic::PanicInfo;

use cortex_m_semihosting::{debug, hprintln};

/// Ends the program: QEMU exits with status 0 if `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached if no debugger or emulator handled the request.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints a tinyprop error's number ([`tinyprop::Error::code`]) and ends with failure.
///
/// The number rather than the message: `Display`'s messages take about 3 KB of flash (and
/// `Debug`, escaping the message strings, would pull in core's Unicode tables). Printed as a
/// `u32`, whose formatting every binary has already (a `u8`'s is code of its own).
pub fn fail(e: tinyprop::Error) -> ! {
    hprintln!("FAIL: tinyprop error {} (Error::code)", u32::from(e.code()));
    exit(false)
}

/// The value, or [`fail`] with the error.
pub fn ok<T>(result: Result<T, tinyprop::Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => fail(e),
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    exit(false)
}

/// The stack: where it lies and how deep it has been.
///
/// cortex-m-rt's `paint-stack` feature fills the whole stack region with
/// [`STACK_PAINT_VALUE`](cortex_m_rt::STACK_PAINT_VALUE) at reset, before `main` runs; the stack
/// grows down from `_stack_start`, so the lowest word that no longer holds the paint is the
/// deepest the stack has reached.
pub mod stack {
    use core::ptr::{addr_of, read_volatile};

    use cortex_m_rt::STACK_PAINT_VALUE;

    extern "C" {
        // From cortex-m-rt's `link.x`: the top of the stack (its initial pointer) and its lowest
        // address (the end of `.bss` and `.uninit`).
        static _stack_start: u32;
        static _stack_end: u32;
    }

    /// The stack region, `(lowest address, top)`.
    pub fn region() -> (usize, usize) {
        // Only the addresses of the linker symbols are taken; nothing is read.
        (
            addr_of!(_stack_end) as usize,
            addr_of!(_stack_start) as usize,
        )
    }

    /// The size of the stack region in bytes.
    pub fn size() -> usize {
        let (bottom, top) = region();
        top - bottom
    }

    /// The most stack used since reset, in bytes (a multiple of 4).
    pub fn high_water() -> usize {
        let (bottom, top) = region();
        let mut addr = bottom;
        // SAFETY: every word of `bottom..top` is RAM of the stack region, 4-byte aligned
        // (cortex-m-rt's linker script asserts both ends are). Nothing else owns the part below
        // the stack pointer; the volatile reads keep the compiler from assuming its contents.
        while addr < top && unsafe { read_volatile(addr as *const u32) } == STACK_PAINT_VALUE {
            addr += 4;
        }
        top - addr
    }
}

/// Instructions executed, counted with SysTick under QEMU's `-icount shift=0,align=off`.
///
/// With `-icount shift=0` QEMU advances its virtual clock by exactly 1 ns per instruction, and
/// SysTick, clocked by the core clock, counts down once per clock period: 40 ns on the
/// `mps2-an386` (25 MHz), 62.5 ns on the `microbit` (16 MHz). So the ticks SysTick counted,
/// times the instructions per tick, are the instructions executed. The 24-bit counter wraps;
/// the SysTick exception counts the wraps. [`calibrate`] checks all of it on a loop of known
/// length before any figure is printed: without `-icount` (real time) it fails.
pub mod icount {
    use core::sync::atomic::{AtomicU32, Ordering};

    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m::peripheral::{SCB, SYST};

    /// SysTick counts from this down to 0, then reloads: 16 384 ticks, so that it wraps every
    /// 655 360 instructions on the Cortex-M4F and 1 024 000 on the Cortex-M0, and every
    /// measurement, the calibration's included, counts wraps.
    const RELOAD: u32 = 0x3fff;

    /// Instructions per SysTick tick, as a fraction: the clock period in ns at 1 ns per
    /// instruction.
    #[cfg(not(qemu_microbit))]
    const PER_TICK: (u64, u64) = (40, 1); // mps2-an386: 25 MHz
    #[cfg(qemu_microbit)]
    const PER_TICK: (u64, u64) = (125, 2); // microbit: 16 MHz

    static WRAPS: AtomicU32 = AtomicU32::new(0);

    /// Called from the binary's SysTick exception handler.
    pub fn on_wrap() {
        // One writer (this handler); thumbv6m has no atomic read-modify-write.
        WRAPS.store(
            WRAPS.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// Where [`now`] counts from.
    static BASE: AtomicU32 = AtomicU32::new(0);

    /// Starts SysTick from the core clock with its wrap exception.
    pub fn start(mut syst: SYST) {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        // The counter starts at 0 and loads RELOAD on its first tick; count from a reading
        // after that, with no wrap pending.
        while SYST::get_current() == 0 || SCB::is_pendst_pending() {}
        let start = SYST::get_current();
        WRAPS.store(0, Ordering::Relaxed);
        BASE.store(RELOAD - start, Ordering::Relaxed);
    }

    /// The last value [`now`] returned.
    static LAST: cortex_m::interrupt::Mutex<core::cell::Cell<u64>> =
        cortex_m::interrupt::Mutex::new(core::cell::Cell::new(0));

    /// Instructions since [`start`].
    pub fn now() -> u64 {
        let ticks = loop {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let mut current = SYST::get_current();
            let mut total_wraps = wraps;
            // The counter may have reloaded with its exception not yet taken: then the wrap
            // is pending, and the counter is read again, in its new period.
            if SCB::is_pendst_pending() {
                current = SYST::get_current();
                total_wraps = wraps.wrapping_add(1);
            }
            if WRAPS.load(Ordering::Relaxed) == wraps {
                break u64::from(total_wraps) * (u64::from(RELOAD) + 1)
                    + u64::from(RELOAD - current)
                    - u64::from(BASE.load(Ordering::Relaxed));
            }
        };
        let mut count = ticks * PER_TICK.0 / PER_TICK.1;
        // QEMU computes the counter from its virtual clock when it is read, but reloads it
        // (setting the pending bit) only when its timer event runs, at the end of a block of
        // instructions: in between, a read has wrapped with no wrap counted, and the count
        // would go back by one period. Time does not go back: add that period.
        cortex_m::interrupt::free(|cs| {
            let last = LAST.borrow(cs);
            if count < last.get() {
                count += (u64::from(RELOAD) + 1) * PER_TICK.0 / PER_TICK.1;
            }
            last.set(count);
        });
        count
    }

    /// `n` iterations of two instructions (`subs`, `bne`).
    #[inline(never)]
    fn spin(n: u32) {
        // SAFETY: a register countdown loop; no memory, no stack.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {0}, #1",
                "bne 2b",
                inout(reg) n => _,
                options(nomem, nostack)
            );
        }
    }

    /// Counts loops of 20 000 and 5 000 000 instructions (the second wraps SysTick several
    /// times) and returns the counts, or `Err` with them if one is off by more than two ticks
    /// and the few instructions of the calls and of the wrap exceptions.
    pub fn calibrate() -> Result<(u64, u64), (u64, u64)> {
        let count = |n: u32| {
            let start = now();
            spin(n);
            now() - start
        };
        let (short, long) = (count(10_000), count(2_500_000));
        let tolerance = 2 * PER_TICK.0 / PER_TICK.1 + 100;
        if short.abs_diff(20_000) <= tolerance && long.abs_diff(5_000_000) <= tolerance {
            Ok((short, long))
        } else {
            Err((short, long))
        }
    }
}

/// Starts the instruction counter and checks it ([`icount::calibrate`]); prints the check,
/// and exits with failure if the counts are off (QEMU run without `-icount shift=0`).
pub fn start_counting() {
    if let Some(peripherals) = cortex_m::Peripherals::take() {
        icount::start(peripherals.SYST);
    }
    // What a resume and a pause with nothing between them count, taken off every span.
    let mut empty = u64::MAX;
    for _ in 0..16 {
        let mut meter = Meter::default();
        meter.resume();
        meter.pause();
        empty = empty.min(meter.total());
    }
    METER_OVERHEAD.store(empty as u32, core::sync::atomic::Ordering::Relaxed);
    match icount::calibrate() {
        Ok((short, long)) => hprintln!(
            "instruction counter: loops of 20000 and 5000000 instructions counted as {} and {} ({} taken off each span)",
            short,
            long,
            empty
        ),
        Err((short, long)) => {
            hprintln!(
                "FAIL: loops of 20000 and 5000000 instructions counted as {} and {}: run QEMU with -icount shift=0,align=off",
                short,
                long
            );
            exit(false)
        }
    }
}

/// The instructions a [`Meter`] counts for an empty span (its own reads of the counter).
static METER_OVERHEAD: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Instructions spent in the parts of a run between [`Meter::resume`] and [`Meter::pause`],
/// less what the meter's own reads of the counter take.
#[derive(Default)]
pub struct Meter {
    total: u64,
    since: Option<u64>,
}

impl Meter {
    /// Starts (or restarts) counting.
    pub fn resume(&mut self) {
        self.since = Some(icount::now());
    }

    /// Stops counting; adds the instructions since [`Meter::resume`].
    pub fn pause(&mut self) {
        if let Some(since) = self.since.take() {
            let overhead = u64::from(METER_OVERHEAD.load(core::sync::atomic::Ordering::Relaxed));
            self.total += (icount::now() - since).saturating_sub(overhead);
        }
    }

    /// The instructions counted.
    pub fn total(&self) -> u64 {
        self.total
    }
}
