//! What both firmware binaries share: the exit status through semihosting, a panic handler that
//! exits with failure, and the stack high-water mark.
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
