//! AVX2 twins of the encoder's pyramid kernels, chosen at run time like the decoder's in
//! [`super::x86`], each giving exactly its scalar twin's values:
//!
//! - [`compute`]: [`Prediction::compute`], 8 blocks per vector: the horizontal pass and
//!   the vertical pass of `x86`, each predicted block's forward transform stored as the
//!   H, V, D (and A) layers;
//! - [`forward_level`]: [`super::forward_level`], 8 blocks per vector;
//! - [`activity_row`]: one row of the activity of an echelon (docs/bitstream.md 7.3), as
//!   the encoder's contexts need it.
#![allow(unsafe_code)]

use super::level::Level;
use super::predict::Prediction;
use super::transform;
use super::upsample::Upsampler;
use super::x86::{
    consts, horizontal, load_rows, narrow_pair, predicted, sub8, wide_pair, NARROW, WIDE,
};
use crate::simd::x86::{arrays, load, load8, store, store8};
use crate::tableau::Rect;
use core::arch::x86_64::*;

/// [`Prediction::compute`] with AVX2 (same arguments), for a kernel other than nearest
/// and a rectangle not empty. Returns false, doing nothing, unless [`crate::simd::avx2`].
pub(super) fn compute(
    pred: &mut Prediction,
    upsampler: Upsampler,
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    range: (i32, i32),
    average: bool,
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    debug_assert!(upsampler != Upsampler::Nearest && blocks.width() * blocks.height() > 0);
    let narrow = range.0 >= i32::from(i16::MIN) && range.1 <= i32::from(i16::MAX);
    let f = match (narrow, average) {
        (true, false) => compute_kernel::<NARROW, false>,
        (true, true) => compute_kernel::<NARROW, true>,
        (false, false) => compute_kernel::<WIDE, false>,
        (false, true) => compute_kernel::<WIDE, true>,
    };
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { f(pred, upsampler.taps(), lower, upper, blocks, range) };
    true
}

/// The prediction of `blocks` for horizontal pass `P` (`NARROW` or `WIDE`, see
/// [`super::x86`]), with the predicted A when `AVG`.
#[target_feature(enable = "avx2")]
fn compute_kernel<const P: u8, const AVG: bool>(
    pred: &mut Prediction,
    taps: [i32; 4],
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    range: (i32, i32),
) {
    let (uw, uh) = (upper.0 as usize, upper.1 as usize);
    let bw = blocks.width() as usize;
    let bh = blocks.height() as usize;
    // Rows are padded to whole vectors; the padding lanes compute values never kept.
    let stride = bw.div_ceil(8) * 8;
    let nv = stride / 8;
    let rows = bh + 4;
    let k = consts(taps, range);
    // Rows of the horizontal pass (pairs of rows for `NARROW`).
    let nrows = if P == NARROW { rows - 1 } else { rows };
    let plane = 2 * nrows * stride;
    let need = plane + stride + 8;
    if pred.scratch.len() < need {
        pred.scratch.resize(need, 0);
    }
    let (scratch, seg) = pred.scratch[..need].split_at_mut(plane);
    horizontal::<P>(scratch, seg, &k, lower, blocks, stride);
    let hp: &[i32] = scratch;
    // Each row's last vector is stored whole, its padding lanes running into the next
    // row (which overwrites them) or, for the last row, past the rectangle.
    let len = (bh - 1) * bw + stride;
    for l in &mut pred.layers {
        if l.len() < len {
            l.resize(len, 0);
        }
    }
    if AVG && pred.average.len() < len {
        pred.average.resize(len, 0);
    }
    // On an odd right edge the last block column's H and D are predicted as zero: a lane
    // mask for the last vector.
    let hm_last = if 2 * blocks.x1 as usize > uw {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let at = _mm256_set1_epi32(((bw - 1) % 8) as i32);
        _mm256_xor_si256(_mm256_cmpeq_epi32(lane, at), _mm256_set1_epi32(-1))
    } else {
        _mm256_set1_epi32(-1)
    };
    let ones = _mm256_set1_epi32(-1);
    let [ph, pv, pd] = &mut pred.layers;
    let pa = &mut pred.average;
    for j in 0..bh {
        // On an odd bottom edge the last block row's V and D are predicted as zero.
        let bottom = 2 * (blocks.y0 as usize + j) + 1 >= uh;
        let vm = if bottom { _mm256_setzero_si256() } else { ones };
        for v in 0..nv {
            let hm = if v + 1 == nv { hm_last } else { ones };
            // Rows `d` of the block row: first children at `16 d`, second at `16 d + 8`.
            let at = 16 * j + v * 16 * nrows;
            let (a, c, b, d) = if P == NARROW {
                let w: &[i32; 64] = hp[at..at + 64].try_into().expect("4 rows");
                let (a, c) = narrow_pair(load_rows(w, 0), &k);
                let (b, d) = narrow_pair(load_rows(w, 8), &k);
                (a, c, b, d)
            } else {
                let w: &[i32; 80] = hp[at..at + 80].try_into().expect("5 rows");
                let [e0, e1, e2, e3] = load_rows(w, 0);
                let [o0, o1, o2, o3] = load_rows(w, 8);
                let (a, c) = wide_pair([e0, e1, e2, e3, load8(sub8(w, 64))], &k);
                let (b, d) = wide_pair([o0, o1, o2, o3, load8(sub8(w, 72))], &k);
                (a, c, b, d)
            };
            let (a, h, v_, d) = predicted(a, b, c, d, hm, vm);
            let o = j * bw + 8 * v;
            store8(at8(ph, o), h);
            store8(at8(pv, o), v_);
            store8(at8(pd, o), d);
            if AVG {
                store8(at8(pa, o), a);
            }
        }
    }
}

/// The 8 values of `s` from `at`.
#[inline(always)]
fn at8(s: &mut [i32], at: usize) -> &mut [i32; 8] {
    (&mut s[at..at + 8]).try_into().expect("8 values")
}

/// [`super::forward_level`] with AVX2: the 2x2 transform of the `w x h` samples `s`
/// into `avg` and the detail layers (each `ceil(w / 2) x ceil(h / 2)`). Returns false,
/// doing nothing, unless [`crate::simd::avx2`].
pub(super) fn forward_level(
    s: &[i32],
    (w, h): (usize, usize),
    avg: &mut [i32],
    layers: &mut [Vec<i32>; 3],
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { forward_avx2(s, (w, h), avg, layers) };
    true
}

#[target_feature(enable = "avx2")]
fn forward_avx2(s: &[i32], (w, h): (usize, usize), avg: &mut [i32], layers: &mut [Vec<i32>; 3]) {
    let (lw, lh) = (w.div_ceil(2), h.div_ceil(2));
    // Blocks with both columns inside the row, 8 at a time; the rest (and an odd last
    // column, whose block repeats it) one by one.
    let vectors = w / 16;
    let [lh_, lv_, ld_] = layers;
    // Even lanes to the low half, odd to the high half of each 128-bit half.
    let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for by in 0..lh {
        let y0 = 2 * by;
        let y1 = (y0 + 1).min(h - 1);
        let r0 = &s[y0 * w..][..w];
        let r1 = &s[y1 * w..][..w];
        let o = by * lw;
        let (oa, oh, ov, od) = (
            &mut avg[o..o + lw],
            &mut lh_[o..o + lw],
            &mut lv_[o..o + lw],
            &mut ld_[o..o + lw],
        );
        let (p0, p1) = (arrays::<16>(r0), arrays::<16>(r1));
        for v in 0..vectors {
            // Columns 16 v .. 16 v + 16 of each row: the blocks' left and right samples.
            let pairs = |p: &[i32; 16]| {
                let lo = _mm256_permutevar8x32_epi32(load8(sub8(p, 0)), split);
                let hi = _mm256_permutevar8x32_epi32(load8(sub8(p, 8)), split);
                (
                    _mm256_permute2x128_si256::<0x20>(lo, hi),
                    _mm256_permute2x128_si256::<0x31>(lo, hi),
                )
            };
            let (a, b) = pairs(&p0[v]);
            let (c, d) = pairs(&p1[v]);
            let [ta, th, tv, td] = forward8([a, b, c, d]);
            store8(at8(oa, 8 * v), ta);
            store8(at8(oh, 8 * v), th);
            store8(at8(ov, 8 * v), tv);
            store8(at8(od, 8 * v), td);
        }
        for bx in 8 * vectors..lw {
            let x0 = 2 * bx;
            let x1 = (x0 + 1).min(w - 1);
            let t = transform::forward([r0[x0], r0[x1], r1[x0], r1[x1]]);
            (oa[bx], oh[bx], ov[bx], od[bx]) = (t[0], t[1], t[2], t[3]);
        }
    }
}

/// [`transform::forward`] on 8 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn forward8([a, b, c, d]: [__m256i; 4]) -> [__m256i; 4] {
    let add = _mm256_add_epi32;
    let sub = _mm256_sub_epi32;
    let half = _mm256_srai_epi32::<1>;
    let h1 = sub(a, b);
    let l1 = add(b, half(h1));
    let h2 = sub(c, d);
    let l2 = add(d, half(h2));
    let v = sub(l1, l2);
    let dd = sub(h1, h2);
    [add(l2, half(v)), add(h2, half(dd)), v, dd]
}

/// The activity of every sample of row `y` of a `w x h` echelon `l` (the range of its
/// 3x3 window, edges clamped) into `out` (`w` long), with AVX2; `cols` is scratch space.
/// Returns false, doing nothing, unless [`crate::simd::avx2`].
pub(crate) fn activity_row(
    l: &[i32],
    (w, h): (usize, usize),
    y: usize,
    cols: &mut Vec<i32>,
    out: &mut [u32],
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { activity_avx2(l, (w, h), y, cols, out) };
    true
}

#[target_feature(enable = "avx2")]
fn activity_avx2(
    l: &[i32],
    (w, h): (usize, usize),
    y: usize,
    cols: &mut Vec<i32>,
    out: &mut [u32],
) {
    let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| &l[r * w..][..w]);
    let out = &mut out[..w];
    // The largest and smallest sample of each column of the window, at `1 + x`, with
    // the edge columns repeated at 0 and `w + 1`.
    let n = w + 2;
    if cols.len() < 2 * n {
        cols.resize(2 * n, 0);
    }
    let (hi, lo) = cols[..2 * n].split_at_mut(n);
    let vectors = w / 8;
    let [r0, r1, r2] = rows.map(arrays::<8>);
    for (v, ((r0, r1), r2)) in r0.iter().zip(r1).zip(r2).enumerate() {
        let (a, b, c) = (load8(r0), load8(r1), load8(r2));
        let mx = _mm256_max_epi32(_mm256_max_epi32(a, b), c);
        let mn = _mm256_min_epi32(_mm256_min_epi32(a, b), c);
        store8(at8(hi, 1 + 8 * v), mx);
        store8(at8(lo, 1 + 8 * v), mn);
    }
    for x in 8 * vectors..w {
        let c = [rows[0][x], rows[1][x], rows[2][x]];
        hi[1 + x] = c[0].max(c[1]).max(c[2]);
        lo[1 + x] = c[0].min(c[1]).min(c[2]);
    }
    (hi[0], hi[w + 1], lo[0], lo[w + 1]) = (hi[1], hi[w], lo[1], lo[w]);
    for v in 0..vectors {
        let x = 8 * v;
        let mx = _mm256_max_epi32(
            _mm256_max_epi32(load(&hi[x..]), load(&hi[x + 1..])),
            load(&hi[x + 2..]),
        );
        let mn = _mm256_min_epi32(
            _mm256_min_epi32(load(&lo[x..]), load(&lo[x + 1..])),
            load(&lo[x + 2..]),
        );
        // The largest minus the smallest: exact as `u32` (modulo 2^32).
        let act = _mm256_sub_epi32(mx, mn);
        store(&mut out[x..], act);
    }
    for x in 8 * vectors..w {
        let mx = hi[x].max(hi[x + 1]).max(hi[x + 2]);
        let mn = lo[x].min(lo[x + 1]).min(lo[x + 2]);
        out[x] = mx.abs_diff(mn);
    }
}

#[cfg(test)]
mod tests {
    use super::super::forward::forward_scalar;
    use super::super::{forward_level, test_support, Level, Prediction};
    use crate::test_rng::Rng;

    /// A random sample range of 1 to 16 bits (a third of them signed) or, rarely, wider.
    fn range(rng: &mut Rng) -> (i32, i32) {
        let wide = rng.below(8) == 0;
        let bits = 1 + rng.below(if wide { 20 } else { 16 }) as u32;
        let max = (1i32 << bits) - 1;
        match rng.below(3) {
            0 => (-max, max),
            _ => (0, max),
        }
    }

    #[test]
    fn avx2_prediction_matches_scalar() {
        if !crate::simd::avx2() {
            eprintln!("note: no AVX2 here; the AVX2 prediction is not tested");
            return;
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        // Reused from case to case, as the encoder may: stale entries must not matter.
        let (mut simd, mut scalar) = (Prediction::default(), Prediction::default());
        for case in 0..3000 {
            let (w, h) = (1 + rng.below(90) as u32, 1 + rng.below(90) as u32);
            let range = range(&mut rng);
            let up = test_support::upsampler(&mut rng, false);
            if test_support::overflows_in_debug(up, range) {
                continue;
            }
            let (lw, lh) = (w.div_ceil(2), h.div_ceil(2));
            let lower = test_support::level(&mut rng, lw, lh, range, case % 8 == 0);
            let average = case % 2 == 1;
            let (tw, th) = (1 + rng.below(40) as u32, 1 + rng.below(12) as u32);
            for (_, _, r) in test_support::tiles(lw, lh, tw, th) {
                let n = (r.width() * r.height()) as usize;
                scalar.compute_scalar(up, &lower, (w, h), r, range, average);
                assert!(super::compute(
                    &mut simd,
                    up,
                    &lower,
                    (w, h),
                    r,
                    range,
                    average
                ));
                assert!(!simd.zero);
                let what = format!("case {case}: {w}x{h} {up:?} {range:?} {r:?}");
                for l in 0..3 {
                    assert_eq!(simd.layers[l][..n], scalar.layers[l][..n], "{what} {l}");
                }
                if average {
                    assert_eq!(simd.average[..n], scalar.average[..n], "{what} A");
                }
            }
        }
    }

    #[test]
    fn avx2_forward_level_matches_scalar() {
        if !crate::simd::avx2() {
            eprintln!("note: no AVX2 here; the AVX2 transform is not tested");
            return;
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..2000 {
            let (w, h) = (1 + rng.below(70) as u32, 1 + rng.below(9) as u32);
            let range = range(&mut rng);
            let data: Vec<i32> = (0..w * h)
                .map(|_| match case % 8 {
                    0 => [range.0, range.1][rng.below(2) as usize],
                    _ => rng.within(range.0, range.1),
                })
                .collect();
            let (lw, lh) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            let mut avg = vec![0; lw * lh];
            let mut layers = [vec![0; lw * lh], vec![0; lw * lh], vec![0; lw * lh]];
            forward_scalar(&data, (w as usize, h as usize), &mut avg, &mut layers);
            let (lower, det) = forward_level(&Level {
                width: w,
                height: h,
                data,
            });
            assert_eq!((lower.width as usize, lower.height as usize), (lw, lh));
            assert_eq!(lower.data, avg, "case {case}: {w}x{h} {range:?}");
            assert_eq!(det.layers, layers, "case {case}: {w}x{h} {range:?}");
        }
    }
}
