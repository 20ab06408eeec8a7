//! The AVX2 twin of [`super::context::context_map`]: per block row, the minimum and maximum
//! of each column over the three rows of the window (8 columns per vector), then of three
//! neighbouring columns (unaligned loads at offsets 0, 1, 2), and the thresholds counted by
//! comparisons (each true lane is -1, subtracted from the count).
#![allow(unsafe_code)]

use crate::simd::x86::{arrays, arrays_mut, load8, store8};
use crate::tableau::Rect;
use core::arch::x86_64::*;

/// Block columns per strip: the window columns of a strip live in two stack arrays.
const STRIP: usize = 128;
/// Length of those arrays: a strip's `STRIP + 2` columns, plus room for the last vector's
/// loads at offsets 1 and 2 past it.
const COLS: usize = STRIP + 16;

/// [`super::context::context_map`] with AVX2, for `thresholds` not empty (`out` already
/// `blocks.width() * blocks.height()` long). Returns false, doing nothing, unless
/// [`crate::simd::avx2`].
pub(crate) fn context_map(
    lower: &[i32],
    w: usize,
    h: usize,
    blocks: Rect,
    thresholds: &[u32],
    out: &mut [u8],
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { context_map_avx2(lower, w, h, blocks, thresholds, out) };
    true
}

#[target_feature(enable = "avx2")]
fn context_map_avx2(
    lower: &[i32],
    w: usize,
    h: usize,
    blocks: Rect,
    thresholds: &[u32],
    out: &mut [u8],
) {
    let (x0, x1) = (blocks.x0 as usize, blocks.x1 as usize);
    let bw = x1 - x0;
    assert!(x1 <= w && blocks.y1 as usize <= h && lower.len() >= w * h);
    assert!(out.len() == bw * (blocks.y1 - blocks.y0) as usize);
    // Unsigned `act > t` as a signed comparison of both with the top bit flipped (an
    // activity is below 2^31 for samples of at most 30 bits, but the flip keeps it exact
    // for any `i32` samples).
    let flip = _mm256_set1_epi32(i32::MIN);
    // Seven comparisons always (no branches): missing thresholds are never exceeded.
    let mut t = [_mm256_set1_epi32(i32::MAX); 7];
    for (v, &th) in t.iter_mut().zip(thresholds) {
        *v = _mm256_set1_epi32((th ^ 0x8000_0000) as i32);
    }
    let mut vmin = [0i32; COLS];
    let mut vmax = [0i32; COLS];
    for (j, by) in (blocks.y0 as usize..blocks.y1 as usize).enumerate() {
        let row = |y: usize| &lower[y * w..][..w];
        let (ra, rb, rc) = (row(by.saturating_sub(1)), row(by), row((by + 1).min(h - 1)));
        let out_row = &mut out[j * bw..][..bw];
        let mut s0 = 0;
        while s0 < bw {
            let n = (bw - s0).min(STRIP);
            // Window columns `x0 + s0 - 1 .. x0 + s0 + n + 1` go to `vmin[0 .. n + 2]`,
            // clamped to the echelon: those inside it first, then the edges repeated.
            let c0 = (x0 + s0).saturating_sub(1);
            let c1 = (x0 + s0 + n + 1).min(w);
            let first = c0 + 1 - (x0 + s0);
            let len = c1 - c0;
            let (a, b, c) = (&ra[c0..c1], &rb[c0..c1], &rc[c0..c1]);
            let nv = len / 8;
            let (a8, b8, c8) = (&arrays(a)[..nv], &arrays(b)[..nv], &arrays(c)[..nv]);
            let mn8 = &mut arrays_mut(&mut vmin[first..][..8 * nv])[..nv];
            let mx8 = &mut arrays_mut(&mut vmax[first..][..8 * nv])[..nv];
            for k in 0..nv {
                let (va, vb, vc) = (load8(&a8[k]), load8(&b8[k]), load8(&c8[k]));
                store8(&mut mn8[k], _mm256_min_epi32(_mm256_min_epi32(va, vb), vc));
                store8(&mut mx8[k], _mm256_max_epi32(_mm256_max_epi32(va, vb), vc));
            }
            if len % 8 != 0 {
                if len >= 8 {
                    // The last 8 columns again (the same values where they overlap).
                    let k = len - 8;
                    let (va, vb, vc) = (load8(at(a, k)), load8(at(b, k)), load8(at(c, k)));
                    let (mn, mx) = (&mut vmin[first + k..], &mut vmax[first + k..]);
                    store8(at_mut(mn), _mm256_min_epi32(_mm256_min_epi32(va, vb), vc));
                    store8(at_mut(mx), _mm256_max_epi32(_mm256_max_epi32(va, vb), vc));
                } else {
                    for k in 0..len {
                        vmin[first + k] = a[k].min(b[k]).min(c[k]);
                        vmax[first + k] = a[k].max(b[k]).max(c[k]);
                    }
                }
            }
            if first == 1 {
                (vmin[0], vmax[0]) = (vmin[1], vmax[1]);
            }
            if first + len == n + 1 {
                (vmin[n + 1], vmax[n + 1]) = (vmin[n], vmax[n]);
            }
            // Columns `i, i + 1, i + 2` of the window arrays hold block `i`'s window.
            let nb = n.div_ceil(8);
            let (lo0, lo1, lo2) = (cols(&vmin, 0, nb), cols(&vmin, 1, nb), cols(&vmin, 2, nb));
            let (hi0, hi1, hi2) = (cols(&vmax, 0, nb), cols(&vmax, 1, nb), cols(&vmax, 2, nb));
            let dst = &mut out_row[s0..][..n];
            let (whole, rest) = dst.split_at_mut(n / 8 * 8);
            let whole = whole.chunks_exact_mut(8);
            let mut tail = [0u8; 8];
            for (i, d) in whole.chain([&mut tail[..]]).enumerate().take(nb) {
                let lo = _mm256_min_epi32(
                    _mm256_min_epi32(load8(&lo0[i]), load8(&lo1[i])),
                    load8(&lo2[i]),
                );
                let hi = _mm256_max_epi32(
                    _mm256_max_epi32(load8(&hi0[i]), load8(&hi1[i])),
                    load8(&hi2[i]),
                );
                let act = _mm256_xor_si256(_mm256_sub_epi32(hi, lo), flip);
                let mut ctx = _mm256_setzero_si256();
                for tk in t {
                    ctx = _mm256_sub_epi32(ctx, _mm256_cmpgt_epi32(act, tk));
                }
                // Eight counts (at most 7) to bytes.
                let half = _mm_packs_epi32(
                    _mm256_castsi256_si128(ctx),
                    _mm256_extracti128_si256::<1>(ctx),
                );
                store_bytes8(d.try_into().expect("8 bytes"), _mm_packus_epi16(half, half));
            }
            rest.copy_from_slice(&tail[..rest.len()]);
            s0 += n;
        }
    }
}

/// The 8 values of `s` from `k`.
#[inline(always)]
fn at(s: &[i32], k: usize) -> &[i32; 8] {
    s[k..k + 8].try_into().expect("8 values")
}

/// The first 8 values of `s`.
#[inline(always)]
fn at_mut(s: &mut [i32]) -> &mut [i32; 8] {
    (&mut s[..8]).try_into().expect("8 values")
}

/// `nb` vectors of `v` from column `d`.
#[inline(always)]
fn cols(v: &[i32], d: usize, nb: usize) -> &[[i32; 8]] {
    &arrays(&v[d..][..8 * nb])[..nb]
}

/// Stores the low 8 bytes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_bytes8(out: &mut [u8; 8], v: __m128i) {
    // SAFETY: `out` is 8 writable bytes; the store writes exactly 8, unaligned.
    unsafe { _mm_storel_epi64(out.as_mut_ptr().cast(), v) }
}

#[cfg(test)]
mod tests {
    use super::super::context::context_map_scalar;
    use crate::tableau::Rect;
    use crate::test_rng::Rng;

    #[test]
    fn avx2_context_map_matches_scalar() {
        if !crate::simd::avx2() {
            eprintln!("note: no AVX2 here; the AVX2 context map is not tested");
            return;
        }
        let mut rng = Rng(0x1234_5678_9abc_def0);
        for case in 0..3000 {
            let w = 1 + (rng.next() % 300) as usize;
            let h = 1 + (rng.next() % 12) as usize;
            // Sample ranges from 1 to 17 bits, signed or not, and extreme values.
            let bits = 1 + (rng.next() % 17) as u32;
            let max = (1i64 << bits) - 1;
            let signed = rng.next() & 1 == 0;
            let extreme = case % 10 == 0;
            let lower: Vec<i32> = (0..w * h)
                .map(|_| {
                    let r = rng.next();
                    if extreme {
                        [i32::MIN, i32::MAX, 0, -1, 1][(r % 5) as usize]
                    } else {
                        let v = (r % (max as u64 + 1)) as i64;
                        (if signed && r & (1 << 40) != 0 { -v } else { v }) as i32
                    }
                })
                .collect();
            let x0 = (rng.next() % w as u64) as u32;
            let x1 = x0 + 1 + (rng.next() % (w as u64 - x0 as u64)) as u32;
            let y0 = (rng.next() % h as u64) as u32;
            let y1 = y0 + 1 + (rng.next() % (h as u64 - y0 as u64)) as u32;
            let blocks = Rect { x0, y0, x1, y1 };
            let nt = 1 + (rng.next() % 7) as usize;
            let mut t: Vec<u32> = (0..nt)
                .map(|_| match rng.next() % 4 {
                    0 => rng.next() as u32,
                    _ => (rng.next() % (2 * max as u64 + 2)) as u32,
                })
                .collect();
            t.sort_unstable();
            t.dedup();
            let mut want = Vec::new();
            context_map_scalar(&lower, w, h, blocks, &t, &mut want);
            let mut got = vec![0xAA; want.len()];
            assert!(super::context_map(&lower, w, h, blocks, &t, &mut got));
            assert_eq!(got, want, "case {case}: {w}x{h} {blocks:?} {t:?}");
        }
    }
}
