//! The AVX2 twin of [`super::fused::predict_reconstruct`]: 8 blocks per vector, the same
//! integer steps as the scalar code (docs/bitstream.md 6.1-6.4) on 8 lanes.
//!
//! The horizontal pass runs over the tile's lower rows first. When the plane's samples fit
//! in `i16` (every range up to 15 bits, signed chroma included), each kernel is two
//! `madd_epi16` of sample pairs against tap pairs: the pass stores every horizontal child
//! packed with the one of the next row (`e_r | e_{r+1} << 16`), so that the vertical pass
//! is four `madd`s per child with no shuffles. Wider samples take `mullo_epi32`. Both wrap
//! modulo 2^32 exactly as the scalar `i32` arithmetic does, so even custom kernels whose
//! sums overflow give the same values. The nearest upsampler predicts nothing.
//!
//! The encoder's prediction ([`super::x86_predict`]) runs the same passes.
#![allow(unsafe_code)]

use super::level::Level;
use super::predict::Prediction;
use super::upsample::{Upsampler, KERNEL_ONE, KERNEL_SHIFT};
use crate::simd::x86::{arrays, arrays_mut, load8, store8};
use crate::tableau::Rect;
use core::arch::x86_64::*;

/// No prediction (nearest).
pub(super) const NONE: u8 = 0;
/// Samples within `i16`: packed pairs and `madd_epi16`.
pub(super) const NARROW: u8 = 1;
/// Wider samples: `i32` rows and `mullo_epi32`.
pub(super) const WIDE: u8 = 2;

/// [`super::predict_reconstruct`] with AVX2 (same arguments). Returns false, doing
/// nothing, unless [`crate::simd::avx2`].
#[allow(clippy::too_many_arguments)]
pub(super) fn predict_reconstruct(
    work: &mut Prediction,
    upsampler: Upsampler,
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    residuals: &[&[i32]],
    predicted_average: bool,
    range: (i32, i32),
    band: &mut [i32],
    band_y0: u32,
) -> bool {
    if !crate::simd::avx2() {
        return false;
    }
    let nearest = upsampler == Upsampler::Nearest;
    work.zero = nearest;
    // The average modes of the scalar code: 0 lossless, 1 the sample below plus rA,
    // 2 the predicted A plus rA.
    let a = match residuals.get(3) {
        None => 0,
        Some(_) if predicted_average || nearest => 1,
        Some(_) => 2,
    };
    let p = if nearest {
        NONE
    } else if range.0 >= i32::from(i16::MIN) && range.1 <= i32::from(i16::MAX) {
        NARROW
    } else {
        WIDE
    };
    let f = match (a, p) {
        (0, NONE) => kernel::<0, NONE>,
        (0, NARROW) => kernel::<0, NARROW>,
        (0, _) => kernel::<0, WIDE>,
        (1, NONE) => kernel::<1, NONE>,
        (1, NARROW) => kernel::<1, NARROW>,
        (1, _) => kernel::<1, WIDE>,
        (_, NARROW) => kernel::<2, NARROW>,
        _ => kernel::<2, WIDE>,
    };
    let args = Args {
        taps: upsampler.taps(),
        lower,
        upper,
        blocks,
        residuals,
        range,
        band_y0,
    };
    // SAFETY: `simd::avx2()` is true only on CPUs with AVX2.
    unsafe { f(work, &args, band) };
    true
}

/// What [`kernel`] reads.
struct Args<'a> {
    taps: [i32; 4],
    lower: &'a Level,
    upper: (u32, u32),
    blocks: Rect,
    residuals: &'a [&'a [i32]],
    range: (i32, i32),
    band_y0: u32,
}

/// The kernel's constants: tap pairs for `madd_epi16` (low half times the pair's first
/// sample) or single taps for `mullo_epi32`, and the range.
#[derive(Clone, Copy)]
pub(super) struct Consts {
    /// `(k3, k2)`, `(k1, k0)`: the first child; `(k0, k1)`, `(k2, k3)`: the second.
    k32: __m256i,
    k10: __m256i,
    k01: __m256i,
    k23: __m256i,
    k: [__m256i; 4],
    round: __m256i,
    lo: __m256i,
    hi: __m256i,
}

#[target_feature(enable = "avx2")]
pub(super) fn consts(k: [i32; 4], (lo, hi): (i32, i32)) -> Consts {
    // Taps are `i16` (custom taps are sent as such; the built-in ones fit).
    let pair = |a: i32, b: i32| _mm256_set1_epi32((a & 0xFFFF) | (b << 16));
    Consts {
        k32: pair(k[3], k[2]),
        k10: pair(k[1], k[0]),
        k01: pair(k[0], k[1]),
        k23: pair(k[2], k[3]),
        k: k.map(|t| _mm256_set1_epi32(t)),
        round: _mm256_set1_epi32(KERNEL_ONE >> 1),
        lo: _mm256_set1_epi32(lo),
        hi: _mm256_set1_epi32(hi),
    }
}

/// The prediction and reconstruction of `args.blocks` for average mode `A` and
/// prediction `P`, the scalar `predict_reconstruct_with` on 8 blocks at a time.
#[target_feature(enable = "avx2")]
fn kernel<const A: u8, const P: u8>(work: &mut Prediction, args: &Args<'_>, band: &mut [i32]) {
    let Args {
        taps,
        lower,
        upper,
        blocks,
        residuals,
        range,
        band_y0,
    } = *args;
    let (uw, uh) = (upper.0 as usize, upper.1 as usize);
    let bw = blocks.width() as usize;
    let bh = blocks.height() as usize;
    // Rows are padded to whole vectors; the padding lanes compute values never stored.
    let stride = bw.div_ceil(8) * 8;
    let rows = bh + 4;
    let k = consts(taps, range);
    // Rows of the horizontal pass (pairs of rows for `NARROW`).
    let nrows = if P == NARROW { rows - 1 } else { rows };
    let plane = if P == NONE { 0 } else { 2 * nrows * stride };
    let need = plane + stride + 8;
    if work.scratch.len() < need {
        work.scratch.resize(need, 0);
    }
    let (scratch, seg) = work.scratch[..need].split_at_mut(plane);
    if P != NONE {
        horizontal::<P>(scratch, seg, &k, lower, blocks, stride);
    }
    let pred: &[i32] = scratch;
    // Two output rows for rows at the echelon's edges or not a whole number of vectors,
    // and the inputs of the latter, padded.
    if work.edge_rows.len() < 9 * stride {
        work.edge_rows.resize(9 * stride, 0);
    }
    let (r0, rest) = work.edge_rows[..9 * stride].split_at_mut(2 * stride);
    let (r1, pad) = rest.split_at_mut(2 * stride);
    let lw = lower.width as usize;
    let x0 = 2 * blocks.x0 as usize;
    let cols = (2 * blocks.x1 as usize).min(uw) - x0;
    // On an odd right edge the last block column's H and D are predicted as zero: a lane
    // mask for the last vector.
    let right_edge = cols < 2 * bw;
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let hm_last = if right_edge {
        let at = _mm256_set1_epi32(((bw - 1) % 8) as i32);
        _mm256_xor_si256(_mm256_cmpeq_epi32(lane, at), _mm256_set1_epi32(-1))
    } else {
        _mm256_set1_epi32(-1)
    };
    for j in 0..bh {
        let by = blocks.y0 as usize + j;
        let y = 2 * by;
        let n = j * bw;
        let mut inputs = [
            &lower.data[by * lw + blocks.x0 as usize..][..bw],
            if A == 0 {
                &[][..]
            } else {
                &residuals[3][n..][..bw]
            },
            &residuals[0][n..][..bw],
            &residuals[1][n..][..bw],
            &residuals[2][n..][..bw],
        ];
        if bw < stride {
            for (q, (p, s)) in pad.chunks_exact_mut(stride).zip(&mut inputs).enumerate() {
                if q != 1 || A != 0 {
                    p[..bw].copy_from_slice(s);
                    *s = p;
                }
            }
        }
        let [base, ra, rh, rv, rd] = inputs.map(arrays);
        let ins = Inputs {
            base,
            ra,
            rh,
            rv,
            rd,
            pred,
            // The first row of block row `j` (rows start two above the tile).
            at: 16 * j,
            step: 16 * nrows,
            // On an odd bottom edge the last block row's V and D are predicted as zero.
            vm: _mm256_set1_epi32(if y + 1 >= uh { 0 } else { -1 }),
            hm_last,
        };
        let start = (y - 2 * band_y0 as usize) * uw + x0;
        // Whole rows go straight into the echelon, the others through `r0` and `r1`.
        let direct = !right_edge && y + 1 < uh && bw == stride;
        let (top, bot) = if direct {
            band[start..start + uw + cols].split_at_mut(uw)
        } else {
            (&mut r0[..], &mut r1[..])
        };
        // Only edge rows mask predictions: the others compile without the masks.
        if right_edge || y + 1 >= uh {
            block_row::<A, P, true>(&ins, &k, top, bot);
        } else {
            block_row::<A, P, false>(&ins, &k, top, bot);
        }
        if !direct {
            band[start..start + cols].copy_from_slice(&r0[..cols]);
            if y + 1 < uh {
                band[start + uw..start + uw + cols].copy_from_slice(&r1[..cols]);
            }
        }
    }
}

/// The horizontal pass over lower rows `y0 - 2 .. y1 + 2` (clamped) into `out`, vector
/// by vector (8 block columns), for each its rows one after the other, each the first
/// children then the second: the rows of a vector that the vertical pass reads lie
/// together. `NARROW` stores the children `e_r` of row `r` packed with the next row's
/// (`e_r & 0xFFFF | e_{r+1} << 16`, rows `0 .. rows - 1`), `WIDE` the children
/// themselves.
#[target_feature(enable = "avx2")]
pub(super) fn horizontal<const P: u8>(
    out: &mut [i32],
    seg: &mut [i32],
    k: &Consts,
    lower: &Level,
    blocks: Rect,
    stride: usize,
) {
    let bw = blocks.width() as usize;
    let rows = blocks.height() as usize + 4;
    let (lw, lh) = (lower.width as usize, lower.height as usize);
    let x0 = blocks.x0 as usize;
    let nv = stride / 8;
    let nrows = if P == NARROW { rows - 1 } else { rows };
    let low = _mm256_set1_epi32(0xFFFF);
    // Loads cover samples `x0 - 2 .. x0 - 2 + stride + 4`: past `x0 + bw + 2` they are
    // padding lanes, which may read the next row but must stay inside the echelon.
    let span = stride + 4;
    for r in 0..rows {
        let ly = (blocks.y0 as isize + r as isize - 2).clamp(0, lh as isize - 1) as usize;
        let row = &lower.data[ly * lw..(ly + 1) * lw];
        let at = ly * lw + x0;
        let src: &[i32] = if x0 >= 2 && x0 + bw + 2 <= lw && at - 2 + span <= lower.data.len() {
            &lower.data[at - 2..][..span]
        } else {
            // `seg[i] = row[clamp(x0 + i - 2)]`, as the scalar pass.
            let start = x0.saturating_sub(2);
            let end = (x0 + bw + 2).min(lw);
            let left = start + 2 - x0;
            let right = left + end - start;
            seg[left..right].copy_from_slice(&row[start..end]);
            seg[..left].fill(row[0]);
            seg[right..span].fill(row[lw - 1]);
            &seg[..span]
        };
        let s = [
            &arrays(&src[..stride])[..nv],
            &arrays(&src[1..][..stride])[..nv],
            &arrays(&src[2..][..stride])[..nv],
            &arrays(&src[3..][..stride])[..nv],
            &arrays(&src[4..][..stride])[..nv],
        ];
        for v in 0..nv {
            let s = [
                load8(&s[0][v]),
                load8(&s[1][v]),
                load8(&s[2][v]),
                load8(&s[3][v]),
                load8(&s[4][v]),
            ];
            let at = (v * nrows + r) * 16;
            if P == WIDE {
                let (e, o) = wide_pair(s, k);
                store16(at16(out, at), e, o);
                continue;
            }
            let p = [
                pair(s[0], s[1], low),
                pair(s[1], s[2], low),
                pair(s[2], s[3], low),
                pair(s[3], s[4], low),
            ];
            let (e, o) = narrow_pair(p, k);
            // Pair row `r - 1` gets its high halves, pair row `r` its low ones.
            if r > 0 {
                let prev = at16(out, at - 16);
                let (pe, po) = (load8(half(prev, 0)), load8(half(prev, 1)));
                let or_high =
                    |p: __m256i, x: __m256i| _mm256_or_si256(p, _mm256_slli_epi32::<16>(x));
                store16(prev, or_high(pe, e), or_high(po, o));
            }
            if r + 1 < rows {
                let (e, o) = (_mm256_and_si256(e, low), _mm256_and_si256(o, low));
                store16(at16(out, at), e, o);
            }
        }
    }
}

/// The 16 values of `s` from `at`.
#[inline(always)]
fn at16(s: &mut [i32], at: usize) -> &mut [i32; 16] {
    (&mut s[at..at + 16]).try_into().expect("16 values")
}

/// Half `h` (0 or 1) of 16 values.
#[inline(always)]
fn half(s: &[i32; 16], h: usize) -> &[i32; 8] {
    s[8 * h..8 * h + 8].try_into().expect("8 values")
}

/// Sample pairs `(a, b)` as the `i16` halves of each lane (`low` = 0xFFFF).
#[target_feature(enable = "avx2")]
#[inline]
fn pair(a: __m256i, b: __m256i, low: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi32::<16>(b))
}

/// `tap_pair` on 8 lanes from packed pairs `p[d] = (s_d, s_{d+1})` of `i16` samples.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn narrow_pair(p: [__m256i; 4], k: &Consts) -> (__m256i, __m256i) {
    let madd = _mm256_madd_epi16;
    let first = _mm256_add_epi32(madd(p[0], k.k32), madd(p[2], k.k10));
    let second = _mm256_add_epi32(madd(p[1], k.k01), madd(p[3], k.k23));
    (round(first, k), round(second, k))
}

/// `tap_pair` on 8 lanes with `mullo_epi32`: both children from `s = (s0 .. s4)`.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn wide_pair(s: [__m256i; 5], k: &Consts) -> (__m256i, __m256i) {
    let mul = _mm256_mullo_epi32;
    let add = _mm256_add_epi32;
    let shared = mul(k.k[1], s[2]);
    let first = add(
        add(mul(k.k[3], s[0]), mul(k.k[2], s[1])),
        add(shared, mul(k.k[0], s[3])),
    );
    let second = add(
        add(mul(k.k[0], s[1]), shared),
        add(mul(k.k[2], s[3]), mul(k.k[3], s[4])),
    );
    (round(first, k), round(second, k))
}

/// `((acc + 8192) >> 14)` clamped to the range.
#[target_feature(enable = "avx2")]
#[inline]
fn round(acc: __m256i, k: &Consts) -> __m256i {
    let v = _mm256_srai_epi32::<{ KERNEL_SHIFT as i32 }>(_mm256_add_epi32(acc, k.round));
    clamp(v, k)
}

#[target_feature(enable = "avx2")]
#[inline]
fn clamp(v: __m256i, k: &Consts) -> __m256i {
    _mm256_min_epi32(_mm256_max_epi32(v, k.lo), k.hi)
}

/// One block row's inputs in vectors, each as many as the row has.
struct Inputs<'a> {
    /// The samples below, rA (lossy only), rH, rV, rD.
    base: &'a [[i32; 8]],
    ra: &'a [[i32; 8]],
    rh: &'a [[i32; 8]],
    rv: &'a [[i32; 8]],
    rd: &'a [[i32; 8]],
    /// The horizontal pass's output (see [`horizontal`]), its first row of the block
    /// row in the first vector, and the distance from one vector's rows to the next's.
    pred: &'a [i32],
    at: usize,
    step: usize,
    vm: __m256i,
    /// The H and D mask of the last vector (all ones unless on an odd right edge).
    hm_last: __m256i,
}

/// Reconstructs one block row into `top` and `bot`, the two output rows (at least 16
/// samples per input vector each); `M`: the row has edge masks.
#[target_feature(enable = "avx2")]
#[inline]
fn block_row<const A: u8, const P: u8, const M: bool>(
    ins: &Inputs<'_>,
    k: &Consts,
    top: &mut [i32],
    bot: &mut [i32],
) {
    let n = ins.base.len();
    let (base, rh, rv, rd) = (ins.base, &ins.rh[..n], &ins.rv[..n], &ins.rd[..n]);
    let ra = if A == 0 { rh } else { &ins.ra[..n] };
    let top = &mut arrays_mut::<16>(top)[..n];
    let bot = &mut arrays_mut::<16>(bot)[..n];
    let ones = _mm256_set1_epi32(-1);
    for v in 0..n {
        let (hm, vm) = match M {
            true if v + 1 == n => (ins.hm_last, ins.vm),
            true => (ones, ins.vm),
            false => (ones, ones),
        };
        let (pa, ph, pv, pd) = if P == NONE {
            let z = _mm256_setzero_si256();
            (z, z, z, z)
        } else {
            // Rows `d` of the block row: first children at `16 d`, second at `16 d + 8`.
            let at = ins.at + v * ins.step;
            let (a, c, b, d) = if P == NARROW {
                let w: &[i32; 64] = ins.pred[at..at + 64].try_into().expect("4 rows");
                let (a, c) = narrow_pair(load_rows(w, 0), k);
                let (b, d) = narrow_pair(load_rows(w, 8), k);
                (a, c, b, d)
            } else {
                let w: &[i32; 80] = ins.pred[at..at + 80].try_into().expect("5 rows");
                let [e0, e1, e2, e3] = load_rows(w, 0);
                let [o0, o1, o2, o3] = load_rows(w, 8);
                let (a, c) = wide_pair([e0, e1, e2, e3, load8(sub8(w, 64))], k);
                let (b, d) = wide_pair([o0, o1, o2, o3, load8(sub8(w, 72))], k);
                (a, c, b, d)
            };
            predicted(a, b, c, d, hm, vm)
        };
        let r = [
            load8(&base[v]),
            load8(&ra[v]),
            load8(&rh[v]),
            load8(&rv[v]),
            load8(&rd[v]),
        ];
        let [t0, t1, b0, b1] = reconstruct::<A>(k, [pa, ph, pv, pd], r);
        store16(&mut top[v], t0, t1);
        store16(&mut bot[v], b0, b1);
    }
}

/// The forward transform of the predicted block `a b / c d`: A, and H, V, D masked (H
/// and D by `hm`, V and D by `vm`).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn predicted(
    a: __m256i,
    b: __m256i,
    c: __m256i,
    d: __m256i,
    hm: __m256i,
    vm: __m256i,
) -> (__m256i, __m256i, __m256i, __m256i) {
    let add = _mm256_add_epi32;
    let sub = _mm256_sub_epi32;
    let half = _mm256_srai_epi32::<1>;
    let and = _mm256_and_si256;
    let h1 = sub(a, b);
    let l1 = add(b, half(h1));
    let h2 = sub(c, d);
    let l2 = add(d, half(h2));
    let v = sub(l1, l2);
    let pa = add(l2, half(v));
    let dd = sub(h1, h2);
    let h = add(h2, half(dd));
    (pa, and(h, hm), and(v, vm), and(dd, and(hm, vm)))
}

/// Blocks from predictions `p` (A, H, V, D) and `r` (the sample below, rA, rH, rV, rD):
/// the inverse transform, clamped, as the top row's two vectors then the bottom row's.
#[target_feature(enable = "avx2")]
#[inline]
fn reconstruct<const A: u8>(k: &Consts, p: [__m256i; 4], r: [__m256i; 5]) -> [__m256i; 4] {
    let add = _mm256_add_epi32;
    let sub = _mm256_sub_epi32;
    let half = _mm256_srai_epi32::<1>;
    let [pa, ph, pv, pd] = p;
    let [base, ra, rh, rv, rd] = r;
    let avg = match A {
        0 => base,
        1 => add(base, ra),
        _ => add(pa, ra),
    };
    let (h, v, dd) = (add(ph, rh), add(pv, rv), add(pd, rd));
    let l2 = sub(avg, half(v));
    let l1 = add(v, l2);
    let h2 = sub(h, half(dd));
    let h1 = add(dd, h2);
    let b = sub(l1, half(h1));
    let a = add(h1, b);
    let d = sub(l2, half(h2));
    let c = add(h2, d);
    let (a, b, c, d) = (clamp(a, k), clamp(b, k), clamp(c, k), clamp(d, k));
    // Interleaved: a0 b0 a1 b1 ... and c0 d0 c1 d1 ...
    let (ab0, ab1) = (_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    let (cd0, cd1) = (_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
    [
        _mm256_permute2x128_si256::<0x20>(ab0, ab1),
        _mm256_permute2x128_si256::<0x31>(ab0, ab1),
        _mm256_permute2x128_si256::<0x20>(cd0, cd1),
        _mm256_permute2x128_si256::<0x31>(cd0, cd1),
    ]
}

/// Vectors `off`, `16 + off`, `32 + off`, `48 + off` of the rows `w`.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn load_rows<const L: usize>(w: &[i32; L], off: usize) -> [__m256i; 4] {
    [
        load8(sub8(w, off)),
        load8(sub8(w, 16 + off)),
        load8(sub8(w, 32 + off)),
        load8(sub8(w, 48 + off)),
    ]
}

/// The 8 values of `w` from `at`.
#[inline(always)]
pub(super) fn sub8<const L: usize>(w: &[i32; L], at: usize) -> &[i32; 8] {
    w[at..at + 8].try_into().expect("8 values")
}

/// Stores `lo` then `hi` into the 16 values of `out`.
#[target_feature(enable = "avx2")]
#[inline]
fn store16(out: &mut [i32; 16], lo: __m256i, hi: __m256i) {
    let (a, b) = out.split_at_mut(8);
    store8(a.try_into().expect("8 values"), lo);
    store8(b.try_into().expect("8 values"), hi);
}

#[cfg(test)]
mod tests {
    use super::super::fused::predict_reconstruct_scalar;
    use super::super::{test_support, Prediction};
    use crate::test_rng::Rng;

    #[test]
    fn avx2_prediction_matches_scalar() {
        if !crate::simd::avx2() {
            eprintln!("note: no AVX2 here; the AVX2 prediction is not tested");
            return;
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut simd, mut scalar) = (Prediction::default(), Prediction::default());
        for case in 0..4000 {
            let (w, h) = (1 + rng.below(100) as u32, 1 + rng.below(100) as u32);
            let bits = 1 + rng.below(16) as u32;
            let max = (1i32 << bits) - 1;
            let range = if rng.below(3) == 0 {
                (-max, max)
            } else {
                (0, max)
            };
            let up = test_support::upsampler(&mut rng, true);
            if test_support::overflows_in_debug(up, range) {
                continue;
            }
            let (lw, lh) = (w.div_ceil(2), h.div_ceil(2));
            let lower = test_support::level(&mut rng, lw, lh, range, case % 8 == 0);
            let (layers, predicted_average) = [(3, false), (4, true), (4, false)][case % 3];
            let bound = 4 * (range.1 - range.0);
            let (tw, th) = (1 + rng.below(40) as u32, 1 + rng.below(12) as u32);
            let mut want = vec![i32::MIN; (w * h) as usize];
            let mut got = want.clone();
            for (_, _, r) in test_support::tiles(lw, lh, tw, th) {
                let n = (r.width() * r.height()) as usize;
                let res: Vec<Vec<i32>> = (0..layers)
                    .map(|_| {
                        (0..n)
                            .map(|_| match rng.below(16) {
                                0 => bound,
                                1 => -bound,
                                2..=9 => rng.within(-bound, bound),
                                _ => rng.within(-3, 3),
                            })
                            .collect()
                    })
                    .collect();
                let res: Vec<&[i32]> = res.iter().map(|r| &r[..]).collect();
                // The band may start above the tile.
                let band_y0 = r.y0 - rng.below(u64::from(r.y0) + 1) as u32;
                let band = (2 * band_y0 * w) as usize..;
                let args = (up, &lower, (w, h), r, &res[..], predicted_average, range);
                predict_reconstruct_scalar(
                    &mut scalar,
                    args.0,
                    args.1,
                    args.2,
                    args.3,
                    args.4,
                    args.5,
                    args.6,
                    &mut want[band.clone()],
                    band_y0,
                );
                assert!(super::predict_reconstruct(
                    &mut simd,
                    args.0,
                    args.1,
                    args.2,
                    args.3,
                    args.4,
                    args.5,
                    args.6,
                    &mut got[band],
                    band_y0,
                ));
            }
            assert_eq!(
                got, want,
                "case {case}: {w}x{h} {up:?} {range:?} {layers} {predicted_average} tiles {tw}x{th}"
            );
        }
    }
}
