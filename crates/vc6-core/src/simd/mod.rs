//! The run-time choice of SIMD code paths.
//!
//! Every SIMD kernel (in an `x86` module beside its scalar twin) is used only when the
//! CPU has the instructions, checked once at run time, so one build runs on every x86-64
//! (and elsewhere, on the scalar code). The scalar code is the reference: unit tests
//! compare each kernel with its twin, and [`force_scalar`] (or the environment variable
//! `VC6_SIMD=scalar`) turns every SIMD path off, for whole-decoder comparisons and for
//! measuring what SIMD buys.

use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

const UNKNOWN: u8 = 0;
const SCALAR: u8 = 1;
const AVX2: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// True when the AVX2 kernels may run: the CPU has AVX2 (and BMI1, BMI2, POPCNT, which
/// every AVX2 CPU has) and SIMD was not turned off.
#[inline]
pub fn avx2() -> bool {
    match STATE.load(Ordering::Relaxed) {
        UNKNOWN => detect() == AVX2,
        s => s == AVX2,
    }
}

#[cold]
fn detect() -> u8 {
    let off = std::env::var("VC6_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("scalar"));
    let s = if !off && has_avx2() { AVX2 } else { SCALAR };
    // A concurrent `force_scalar` wins over detection.
    match STATE.compare_exchange(UNKNOWN, s, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => s,
        Err(now) => now,
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("popcnt")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

/// Turns the SIMD paths off (`true`) or back to what the CPU supports (`false`), for the
/// whole process.
pub fn force_scalar(scalar: bool) {
    let s = if !scalar && has_avx2() { AVX2 } else { SCALAR };
    STATE.store(s, Ordering::Relaxed);
}

/// The SIMD level in use, for people: `"avx2"` or `"scalar"`.
pub fn level() -> &'static str {
    if avx2() {
        "avx2"
    } else {
        "scalar"
    }
}
