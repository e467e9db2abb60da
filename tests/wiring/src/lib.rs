//! Nothing: this package holds only a test (`tests/wiring.rs`, trybuild), kept apart so that
//! trybuild checks its programs with tinyprop as their only dependency.

#![no_std]
