//! The vector loads and stores, and the array views of slices, that every AVX2 kernel
//! (the `x86` modules) shares: each `unsafe` here once, with its reason.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

/// The 32-bit element types a vector load or store may move.
pub(crate) trait Lane32: Copy {}
impl Lane32 for i32 {}
impl Lane32 for u32 {}

/// `s` as whole arrays of `N` values (a shorter rest is left out), so that loops index
/// vectors with one bounds check the compiler can drop.
#[inline(always)]
pub(crate) fn arrays<const N: usize>(s: &[i32]) -> &[[i32; N]] {
    // SAFETY: `[i32; N]` is `N` consecutive `i32` with their alignment, and `len / N`
    // arrays lie inside `s`; the result borrows `s`.
    unsafe { core::slice::from_raw_parts(s.as_ptr().cast(), s.len() / N) }
}

/// [`arrays`] for writing.
#[inline(always)]
pub(crate) fn arrays_mut<const N: usize>(s: &mut [i32]) -> &mut [[i32; N]] {
    // SAFETY: as in `arrays`; the result borrows `s` mutably, so it is the only access.
    unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len() / N) }
}

/// The 8 values of `s`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn load8(s: &[i32; 8]) -> __m256i {
    // SAFETY: `s` is 8 i32, 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// Stores `v` into the 8 values of `out`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn store8(out: &mut [i32; 8], v: __m256i) {
    // SAFETY: `out` is 8 i32, 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) }
}

/// The first 8 values of `s`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn load<T: Lane32>(s: &[T]) -> __m256i {
    let s = &s[..8];
    // SAFETY: `s` holds 8 four-byte values, 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// Stores `v` into the first 8 values of `out`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn store<T: Lane32>(out: &mut [T], v: __m256i) {
    let out = &mut out[..8];
    // SAFETY: `out` holds 8 four-byte values, 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) }
}
