//! Puts the memory layout of the target's board on the linker path as `memory.x` (cortex-m-rt's
//! `link.x` includes it) and links the binaries with `link.x`.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo::rustc-check-cfg=cfg(qemu_microbit)");
    if target.starts_with("thumbv6m-") {
        // The Cortex-M0 runs on QEMU's `microbit` (16 MHz); the M4F on `mps2-an386` (25 MHz).
        println!("cargo:rustc-cfg=qemu_microbit");
    }
    let layout = if target.starts_with("thumbv6m-") {
        "memory-m0.x"
    } else if target.starts_with("thumbv7em-") {
        "memory-m4.x"
    } else {
        panic!("no memory layout for target `{target}`: build for thumbv6m-none-eabi or thumbv7em-none-eabihf");
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    fs::copy(dir.join(layout), out.join("memory.x")).expect("copy the memory layout");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory-m0.x");
    println!("cargo:rerun-if-changed=memory-m4.x");
    println!("cargo:rerun-if-changed=build.rs");
}
