//! AVX2 twins of the packers in [`super::pack`], 8 pixels per step: the planes' samples
//! loaded as `i32`, the colour transform undone, clamped (and cut to 8 or 16 bits, as
//! the scalar `as u8` / `as u16` do), each shifted to its place in the pixel and OR-ed
//! together (a 32-bit pixel, or 64-bit for 16-bit samples of 3 or 4 planes), then the
//! pixels' unused bytes squeezed out by a byte shuffle and a lane permute.
#![allow(unsafe_code)]

use super::{OutputRange, SampleType};
use crate::simd::x86::{arrays, load, load8, store};
use core::arch::x86_64::*;

/// [`super::pack::RowPacker::pack`] with AVX2: plane `p` of `src` to sample `pos[p]` of
/// each pixel of `dst` (`pos` a permutation), through `max[p]`, after the colour
/// transform on planes 0-2 when `colour`. Returns false, doing nothing, unless
/// [`crate::simd::avx2`] and 1 to 4 planes.
pub(crate) fn pack(
    src: &[&[i32]],
    dst: &mut [u8],
    pos: &[usize],
    colour: bool,
    max: &[OutputRange],
    sample: SampleType,
) -> bool {
    let n = src.len();
    let seen = pos.iter().fold(0u32, |m, &q| m | 1 << q.min(31));
    if !(1..=4).contains(&n)
        || (colour && n < 3)
        || pos.len() != n
        || max.len() < n
        || seen != (1 << n) - 1
        || !crate::simd::avx2()
    {
        return false;
    }
    let w = dst.len() / (n * sample.bytes());
    if dst.len() != w * n * sample.bytes() || src.iter().any(|s| s.len() < w) {
        // Not whole pixels, or rows too short: the scalar code's business.
        return false;
    }
    let wide = sample == SampleType::U16;
    let f = match (n, wide, colour) {
        (1, false, _) => pack_n::<1, false, false>,
        (2, false, _) => pack_n::<2, false, false>,
        (3, false, false) => pack_n::<3, false, false>,
        (3, false, true) => pack_n::<3, false, true>,
        (4, false, false) => pack_n::<4, false, false>,
        (4, false, true) => pack_n::<4, false, true>,
        (1, true, _) => pack_n::<1, true, false>,
        (2, true, _) => pack_n::<2, true, false>,
        (3, true, false) => pack_n::<3, true, false>,
        (3, true, true) => pack_n::<3, true, true>,
        (4, true, false) => pack_n::<4, true, false>,
        _ => pack_n::<4, true, true>,
    };
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { f(src, dst, pos, max) };
    true
}

/// [`super::pack::clamp_row_u16`] with AVX2; false, doing nothing, unless
/// [`crate::simd::avx2`].
pub(crate) fn clamp_row_u16(src: &[i32], dst: &mut [u16], max: OutputRange) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    let n = dst.len().min(src.len());
    // SAFETY: the bytes of `dst[..n]`, which this borrow holds alone: `u8` has alignment 1
    // and takes any value, and x86 is little-endian, so little-endian samples written as
    // bytes are the `u16` values.
    let bytes = unsafe { core::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), 2 * n) };
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { pack_n::<1, true, false>(&[&src[..n]], bytes, &[0], &[max]) };
    true
}

/// [`super::pack::colour_rows`] with AVX2; false, doing nothing, unless
/// [`crate::simd::avx2`].
pub(crate) fn colour_rows(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [i32],
    g: &mut [i32],
    b: &mut [i32],
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { colour_rows_avx2(y, co, cg, r, g, b) };
    true
}

#[target_feature(enable = "avx2")]
fn colour_rows_avx2(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [i32],
    g: &mut [i32],
    b: &mut [i32],
) {
    let n = r.len();
    let (y, co, cg, g, b) = (&y[..n], &co[..n], &cg[..n], &mut g[..n], &mut b[..n]);
    let whole = n / 8 * 8;
    for i in (0..whole).step_by(8) {
        let [rv, gv, bv] = inverse([load(&y[i..]), load(&co[i..]), load(&cg[i..])]);
        store(&mut r[i..], rv);
        store(&mut g[i..], gv);
        store(&mut b[i..], bv);
    }
    for i in whole..n {
        (r[i], g[i], b[i]) = crate::colour::inverse(y[i], co[i], cg[i]);
    }
}

/// YCoCg-R to RGB (`colour::inverse`) on 8 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn inverse([y, co, cg]: [__m256i; 3]) -> [__m256i; 3] {
    let t = _mm256_sub_epi32(y, _mm256_srai_epi32::<1>(cg));
    let g = _mm256_add_epi32(cg, t);
    let b = _mm256_sub_epi32(t, _mm256_srai_epi32::<1>(co));
    let r = _mm256_add_epi32(b, co);
    [r, g, b]
}

/// A packer's per-plane constants.
struct Consts<const N: usize> {
    /// Where each plane goes in the pixel: a left shift in bits (of 32-bit pixels, or of
    /// 64-bit ones for 16-bit samples of 3 or 4 planes).
    shift: [__m256i; N],
    /// The output ranges' rounding and fraction bits (a shift count for `sra`).
    round: [__m256i; N],
    down: [__m128i; N],
    max: [__m256i; N],
    /// 0xFF or 0xFFFF: the cut of `as u8` or `as u16`.
    cut: __m256i,
    /// The plane of each sample of a pixel (the inverse of `pos`).
    order: [usize; N],
}

/// The packer for `N` planes, 16-bit samples when `WIDE`, the colour transform when `C`.
#[target_feature(enable = "avx2")]
fn pack_n<const N: usize, const WIDE: bool, const C: bool>(
    src: &[&[i32]],
    dst: &mut [u8],
    pos: &[usize],
    max: &[OutputRange],
) {
    let bits = if WIDE { 16 } else { 8 };
    let step = 8 * N * (bits / 8);
    let k = Consts::<N> {
        shift: core::array::from_fn(|p| {
            let s = (bits * pos[p]) as i32;
            match WIDE && N >= 3 {
                true => _mm256_set1_epi64x(i64::from(s % 64)),
                false => _mm256_set1_epi32(s % 32),
            }
        }),
        round: core::array::from_fn(|p| _mm256_set1_epi32(max[p].round())),
        down: core::array::from_fn(|p| _mm_cvtsi32_si128(max[p].shift as i32)),
        max: core::array::from_fn(|p| _mm256_set1_epi32(max[p].max)),
        cut: _mm256_set1_epi32((1 << bits) - 1),
        order: core::array::from_fn(|j| pos.iter().position(|&q| q == j).unwrap_or(0)),
    };
    // Bytes of 3 or 4 planes whose range is all of a byte: the saturating packs clamp.
    let sat = !WIDE && N >= 3 && max[..N].iter().all(|m| m.max == 255);
    let run = match sat {
        true => run::<N, WIDE, C, true>,
        false => run::<N, WIDE, C, false>,
    };
    let w = dst.len() / (N * (bits / 8));
    let full = w / 8;
    let mut rows: [&[[i32; 8]]; N] = [&[]; N];
    for (r, s) in rows.iter_mut().zip(src) {
        *r = arrays(&s[..8 * full]);
    }
    let (body, rest) = dst.split_at_mut(full * step);
    run(&rows, body, &k);
    if !rest.is_empty() {
        // The last pixels, fewer than 8, through stack copies.
        let mut t = [[0i32; 8]; N];
        for (t, s) in t.iter_mut().zip(src) {
            t[..w - 8 * full].copy_from_slice(&s[8 * full..w]);
        }
        for (r, t) in rows.iter_mut().zip(&t) {
            *r = core::slice::from_ref(t);
        }
        let mut buf = [0u8; 64];
        run(&rows, &mut buf[..step], &k);
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}

/// Packs step `v` of `out` from vector `v` of each plane's `rows` (`SAT`: see
/// [`pixels`]).
#[target_feature(enable = "avx2")]
#[inline]
fn run<const N: usize, const WIDE: bool, const C: bool, const SAT: bool>(
    rows: &[&[[i32; 8]]; N],
    out: &mut [u8],
    k: &Consts<N>,
) {
    let step = 8 * N * if WIDE { 2 } else { 1 };
    for (v, o) in out.chunks_exact_mut(step).enumerate() {
        let mut s = [_mm256_setzero_si256(); N];
        for (x, r) in s.iter_mut().zip(rows) {
            *x = load8(&r[v]);
        }
        let (a, b) = pixels::<N, WIDE, C, SAT>(s, k);
        store_px::<N, WIDE>(o, a, b);
    }
}

/// 8 pixels from each plane's 8 samples `s`: in the first vector, or for 16-bit samples
/// of 3 or 4 planes 4 pixels in each (see [`store_px`]). With `SAT` (bytes of 3 or 4
/// planes whose range is 0 to 255), saturating packs to 16 then 8 bits clamp, and one
/// byte shuffle interleaves.
#[target_feature(enable = "avx2")]
#[inline]
fn pixels<const N: usize, const WIDE: bool, const C: bool, const SAT: bool>(
    mut s: [__m256i; N],
    k: &Consts<N>,
) -> (__m256i, __m256i) {
    let zero = _mm256_setzero_si256();
    // The rounding before the fraction bits' shift: added to Y, it reaches R, G and B
    // alike (the inverse colour transform adds Y to each), one add for three.
    if C {
        let y = _mm256_add_epi32(s[0], k.round[0]);
        let [r, g, b] = inverse([y, s[1], s[2]]);
        s[0] = _mm256_sra_epi32(r, k.down[0]);
        s[1] = _mm256_sra_epi32(g, k.down[1]);
        s[2] = _mm256_sra_epi32(b, k.down[2]);
    }
    // A range known at compile time (the iterator form costs 1% of a lossy decode).
    #[allow(clippy::needless_range_loop)]
    for p in if C { 3 } else { 0 }..N {
        s[p] = _mm256_sra_epi32(_mm256_add_epi32(s[p], k.round[p]), k.down[p]);
    }
    if SAT && !WIDE && N >= 3 {
        let at = |j: usize| match j < N {
            true => s[k.order[j]],
            false => zero,
        };
        // Per 128-bit lane: 4 samples of each pixel position, position-major.
        let u = _mm256_packus_epi16(
            _mm256_packs_epi32(at(0), at(1)),
            _mm256_packs_epi32(at(2), at(3)),
        );
        if N == 4 {
            let px = bytes_of(&[0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15]);
            return (_mm256_shuffle_epi8(u, px), zero);
        }
        return (
            squeeze(u, bytes_of(&[0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])),
            zero,
        );
    }
    for (v, &m) in s.iter_mut().zip(&k.max) {
        *v = _mm256_and_si256(_mm256_min_epi32(_mm256_max_epi32(*v, zero), m), k.cut);
    }
    if WIDE && N >= 3 {
        // 64-bit pixels, 4 per vector.
        let (mut lo, mut hi) = (zero, zero);
        for (&v, &sh) in s.iter().zip(&k.shift) {
            let l = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(v));
            let h = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(v));
            lo = _mm256_or_si256(lo, _mm256_sllv_epi64(l, sh));
            hi = _mm256_or_si256(hi, _mm256_sllv_epi64(h, sh));
        }
        if N == 4 {
            return (lo, hi);
        }
        // 6 bytes of each 8, the 12 of each lane then together.
        let keep = bytes_of(&[0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
        return (squeeze(lo, keep), squeeze(hi, keep));
    }
    let mut px = zero;
    for (&v, &sh) in s.iter().zip(&k.shift) {
        px = _mm256_or_si256(px, _mm256_sllv_epi32(v, sh));
    }
    let px = match (N, WIDE) {
        (1, true) => {
            // Samples below 2^16: the unsigned saturation keeps them.
            let u = _mm256_packus_epi32(px, px);
            _mm256_permute4x64_epi64::<0b11_01_10_00>(u)
        }
        (3, false) => squeeze(px, bytes_of(&[0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14])),
        (2, false) => {
            let u = _mm256_shuffle_epi8(px, bytes_of(&[0, 1, 4, 5, 8, 9, 12, 13]));
            _mm256_permute4x64_epi64::<0b11_01_10_00>(u)
        }
        (1, false) => {
            let u = _mm256_shuffle_epi8(px, bytes_of(&[0, 4, 8, 12]));
            _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 2, 3, 5, 6, 7))
        }
        _ => px,
    };
    (px, zero)
}

/// A byte shuffle taking `keep` from each 16-byte lane to its start, zeros after.
#[target_feature(enable = "avx2")]
#[inline]
fn bytes_of(keep: &[i8]) -> __m256i {
    let mut t = [-1i8; 32];
    t[..keep.len()].copy_from_slice(keep);
    t[16..16 + keep.len()].copy_from_slice(keep);
    // SAFETY: `t` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
}

/// The 12 bytes of each lane that `keep` selects, together in the first 24.
#[target_feature(enable = "avx2")]
#[inline]
fn squeeze(v: __m256i, keep: __m256i) -> __m256i {
    let u = _mm256_shuffle_epi8(v, keep);
    _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7))
}

/// Stores a step's pixels (`8 N` samples) from [`pixels`] into `out`, exactly that long.
#[target_feature(enable = "avx2")]
#[inline]
fn store_px<const N: usize, const WIDE: bool>(out: &mut [u8], a: __m256i, b: __m256i) {
    match (N * if WIDE { 2 } else { 1 }, WIDE && N >= 3) {
        (1, _) => store_bytes::<8>(out, a),
        (2, _) => store_bytes::<16>(out, a),
        (3, false) => store_bytes::<24>(out, a),
        (4, false) => store_bytes::<32>(out, a),
        (6, _) => {
            let (x, y) = out.split_at_mut(24);
            store_bytes::<24>(x, a);
            store_bytes::<24>(y, b);
        }
        _ => {
            let (x, y) = out.split_at_mut(32);
            store_bytes::<32>(x, a);
            store_bytes::<32>(y, b);
        }
    }
}

/// Stores the first `B` (8, 16, 24 or 32) bytes of `v` into `out[..B]`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_bytes<const B: usize>(out: &mut [u8], v: __m256i) {
    let out: &mut [u8; B] = (&mut out[..B]).try_into().expect("B bytes");
    let p = out.as_mut_ptr();
    let lo = _mm256_castsi256_si128(v);
    // SAFETY: every store below writes inside the `B` bytes of `out`, unaligned.
    unsafe {
        match B {
            8 => _mm_storel_epi64(p.cast(), lo),
            16 => _mm_storeu_si128(p.cast(), lo),
            24 => {
                _mm_storeu_si128(p.cast(), lo);
                _mm_storel_epi64(p.add(16).cast(), _mm256_extracti128_si256::<1>(v));
            }
            _ => _mm256_storeu_si256(p.cast(), v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pack::{clamp_row_u16_scalar, colour_rows_scalar, RowPacker};
    use super::super::{OutputRange, SampleType};
    use crate::test_rng::Rng;

    /// A sample: mostly near `[0, max]`, some far outside, some extreme.
    fn draw_sample(rng: &mut Rng, max: i32) -> i32 {
        let m = i64::from(max);
        match rng.below(8) {
            0 => [i32::MIN / 4, i32::MAX / 4, -1, 0, max, max + 1][rng.below(6) as usize],
            1 => (rng.below(1 << 24) as i64 - (1 << 23)) as i32,
            _ => (rng.below(3 * m as u64 + 3) as i64 - m - 1) as i32,
        }
    }

    #[test]
    fn avx2_packers_match_scalar() {
        if !crate::simd::avx2() {
            eprintln!("note: no AVX2 here; the AVX2 packers are not tested");
            return;
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..6000 {
            let n = 1 + rng.below(4) as usize;
            let w = 1 + rng.below(100) as usize;
            let sample = [SampleType::U8, SampleType::U16][case % 2];
            let colour = n >= 3 && rng.below(2) == 0;
            // A random permutation of the pixel positions.
            let mut pos: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                pos.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let bits = 1 + rng.below(if case % 7 == 0 { 20 } else { 16 }) as u32;
            // Fraction bits in a third of the cases (one count for every plane, as in a
            // stream), the samples then drawn around the coded range.
            let shift = match rng.below(3) {
                0 => rng.below(9) as u32,
                _ => 0,
            };
            // Every fifth case bytes of the whole range (the saturating packers).
            let max: Vec<OutputRange> = (0..n)
                .map(|_| OutputRange {
                    max: match (case % 5, rng.below(4)) {
                        (0, _) => 255,
                        (_, 0) => (1 << (1 + rng.below(u64::from(bits)))) - 1,
                        _ => (1 << bits) - 1,
                    },
                    shift,
                })
                .collect();
            let rows: Vec<Vec<i32>> = (0..n)
                .map(|p| {
                    let coded = ((i64::from(max[p].max) + 1) << shift) - 1;
                    let coded = coded.min(i64::from(i32::MAX / 8)) as i32;
                    (0..w).map(|_| draw_sample(&mut rng, coded)).collect()
                })
                .collect();
            let src: Vec<&[i32]> = rows.iter().map(|r| &r[..]).collect();
            let mut packer = RowPacker::from_parts(&pos, w, colour, max.clone(), sample);
            let len = w * n * sample.bytes();
            let mut want = vec![0xA5u8; len];
            packer.pack_scalar(&src, &mut want);
            let mut got = vec![0x5Au8; len];
            let mut max = max;
            if colour {
                let m = max[0];
                max[..3].fill(m);
            }
            assert!(super::pack(&src, &mut got, &pos, colour, &max, sample));
            assert_eq!(
                got, want,
                "case {case}: {n} planes {w} wide {sample:?} {pos:?} colour {colour} max {max:?}"
            );
            let mut want16 = vec![7u16; w];
            clamp_row_u16_scalar(&rows[0], &mut want16, max[0]);
            let mut got16 = vec![9u16; w];
            assert!(super::clamp_row_u16(&rows[0], &mut got16, max[0]));
            assert_eq!(got16, want16, "case {case}: u16 row of {:?}", max[0]);
            if n >= 3 {
                let mut want = vec![vec![0; w]; 3];
                let mut got = vec![vec![1; w]; 3];
                let [wr, wg, wb] = &mut want[..] else {
                    unreachable!()
                };
                colour_rows_scalar(&rows[0], &rows[1], &rows[2], wr, wg, wb);
                let [r, g, b] = &mut got[..] else {
                    unreachable!()
                };
                assert!(super::colour_rows(&rows[0], &rows[1], &rows[2], r, g, b));
                assert_eq!(got, want, "case {case}: colour rows");
            }
        }
    }
}
