//! The echelon pyramid: building it (encoder), predicting details from the echelon below,
//! and reconstructing an echelon tile by tile (decoder), plus the direct coding of the
//! lowest echelon with the MED predictor.
//!
//! Echelon `j + 1` is the average layer `A` of the 2x2 transform of echelon `j`
//! (see [`crate::transform`]). Echelon `j` is coded as the residuals of its detail
//! layers `H, V, D` against the details of the upsampled echelon `j + 1`.

use crate::tableau::Rect;
use crate::transform;
use crate::upsample::{tap4, upsample_span, Upsampler};

/// A plane of signed samples at one echelon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Width in samples.
    pub width: u32,
    /// Height in samples.
    pub height: u32,
    /// Samples, row-major.
    pub data: Vec<i32>,
}

/// Detail layers of a transformed echelon, each of the size of the echelon below.
#[derive(Debug, Clone)]
pub struct Details {
    /// Horizontal, vertical and diagonal layers.
    pub layers: [Vec<i32>; 3],
}

/// Transforms `level` into the echelon below and its detail layers. Odd edges are
/// padded by replicating the last column/row, which makes their details zero.
pub fn forward_level(level: &Level) -> (Level, Details) {
    let (w, h) = (level.width as usize, level.height as usize);
    let (lw, lh) = (w.div_ceil(2), h.div_ceil(2));
    let mut avg = vec![0; lw * lh];
    let mut layers = [vec![0; lw * lh], vec![0; lw * lh], vec![0; lw * lh]];
    let s = &level.data;
    for by in 0..lh {
        let y0 = 2 * by;
        let y1 = (y0 + 1).min(h - 1);
        for bx in 0..lw {
            let x0 = 2 * bx;
            let x1 = (x0 + 1).min(w - 1);
            let t = transform::forward([
                s[y0 * w + x0],
                s[y0 * w + x1],
                s[y1 * w + x0],
                s[y1 * w + x1],
            ]);
            let i = by * lw + bx;
            avg[i] = t[0];
            layers[0][i] = t[1];
            layers[1][i] = t[2];
            layers[2][i] = t[3];
        }
    }
    (
        Level {
            width: lw as u32,
            height: lh as u32,
            data: avg,
        },
        Details { layers },
    )
}

/// Predicts the detail coefficients `(H, V, D)` of the blocks in `blocks` (coordinates in
/// the grid of `lower`) from the upsampled `lower` echelon. `upper` is the size of the
/// echelon being predicted; details on padded edges are predicted as zero, matching
/// [`forward_level`]. Writes `blocks.width() * blocks.height()` triples to `out`.
#[allow(clippy::too_many_arguments)]
pub fn predict_details(
    upsampler: Upsampler,
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    range: (i32, i32),
    scratch: &mut Vec<i32>,
    out: &mut [[i32; 3]],
) {
    let (lo, hi) = range;
    let bw = blocks.width() as usize;
    let bh = blocks.height() as usize;
    if upsampler == Upsampler::Nearest {
        out[..bw * bh].fill([0; 3]);
        return;
    }
    let k = upsampler.taps();
    let m = [k[3], k[2], k[1], k[0]];
    let (lw, lh) = (lower.width as i64, lower.height as i64);
    // Horizontal pass over rows by0-2 .. by1+2 (clamped), output columns 2bx0 .. 2bx1.
    let rows = bh + 4;
    let hw = 2 * bw;
    scratch.clear();
    scratch.resize(rows * hw + bw + 4 + 2 * hw, 0);
    let (hbuf, rest) = scratch.split_at_mut(rows * hw);
    let (seg, rest) = rest.split_at_mut(bw + 4);
    let (top, bot) = rest.split_at_mut(hw);
    for r in 0..rows {
        let ly = (blocks.y0 as i64 + r as i64 - 2).clamp(0, lh - 1) as usize;
        let row = &lower.data[ly * lw as usize..(ly + 1) * lw as usize];
        for (i, s) in seg.iter_mut().enumerate() {
            *s = row[(blocks.x0 as i64 + i as i64 - 2).clamp(0, lw - 1) as usize];
        }
        upsample_span(k, seg, &mut hbuf[r * hw..(r + 1) * hw], lo, hi);
    }
    let (uw, uh) = upper;
    let pad_col = blocks.x1 as usize * 2 > uw as usize;
    for j in 0..bh {
        let r = |d: usize| &hbuf[(j + d) * hw..(j + d + 1) * hw];
        let (h0, h1, h2, h3, h4) = (r(0), r(1), r(2), r(3), r(4));
        for c in 0..hw {
            top[c] = tap4(m, [h0[c], h1[c], h2[c], h3[c]], lo, hi);
            bot[c] = tap4(k, [h1[c], h2[c], h3[c], h4[c]], lo, hi);
        }
        let row = &mut out[j * bw..(j + 1) * bw];
        for (i, o) in row.iter_mut().enumerate() {
            let t = transform::forward([top[2 * i], top[2 * i + 1], bot[2 * i], bot[2 * i + 1]]);
            *o = [t[1], t[2], t[3]];
        }
        if 2 * (blocks.y0 as usize + j) + 1 >= uh as usize {
            row.iter_mut().for_each(|p| (p[1], p[2]) = (0, 0));
        }
        if pad_col {
            let p = &mut row[bw - 1];
            (p[0], p[2]) = (0, 0);
        }
    }
}

/// Reconstructs the samples of echelon `j` covered by `blocks` from the echelon below,
/// the predicted details and the decoded residuals, clamping to `range`.
///
/// `band` holds rows `2 * band_y0 ..` of the upper echelon (width `upper.0`).
#[allow(clippy::too_many_arguments)]
pub fn reconstruct_blocks(
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    pred: &[[i32; 3]],
    residuals: &[&[i32]; 3],
    range: (i32, i32),
    band: &mut [i32],
    band_y0: u32,
) {
    let (lo, hi) = range;
    let (uw, uh) = (upper.0 as usize, upper.1 as usize);
    let bw = blocks.width() as usize;
    let lw = lower.width as usize;
    let x0 = 2 * blocks.x0 as usize;
    let cols = (2 * blocks.x1 as usize).min(uw) - x0;
    let mut rows = [vec![0; 2 * bw], vec![0; 2 * bw]];
    for j in 0..blocks.height() as usize {
        let by = blocks.y0 as usize + j;
        let lrow = &lower.data[by * lw + blocks.x0 as usize..by * lw + blocks.x1 as usize];
        let n = j * bw..(j + 1) * bw;
        let (p, rh, rv, rd) = (
            &pred[n.clone()],
            &residuals[0][n.clone()],
            &residuals[1][n.clone()],
            &residuals[2][n],
        );
        let [r0, r1] = &mut rows;
        for i in 0..bw {
            let [a, b, c, d] =
                transform::inverse([lrow[i], p[i][0] + rh[i], p[i][1] + rv[i], p[i][2] + rd[i]]);
            r0[2 * i] = a;
            r0[2 * i + 1] = b;
            r1[2 * i] = c;
            r1[2 * i + 1] = d;
        }
        // Clamping in a pass of its own lets it vectorise.
        clamp_all(r0, lo, hi);
        clamp_all(r1, lo, hi);
        let y = 2 * by;
        let start = (y - 2 * band_y0 as usize) * uw + x0;
        band[start..start + cols].copy_from_slice(&r0[..cols]);
        if y + 1 < uh {
            band[start + uw..start + uw + cols].copy_from_slice(&r1[..cols]);
        }
    }
}

#[inline(always)]
fn clamp_all(v: &mut [i32], lo: i32, hi: i32) {
    for x in v {
        *x = (*x).max(lo).min(hi);
    }
}

/// Median edge detector (LOCO-I) prediction of sample (x, y) of a tile, from its left
/// (`a`), upper (`b`) and upper-left (`c`) neighbours inside the same tile.
#[inline(always)]
fn med(tile: &[i32], w: usize, x: usize, y: usize, mid: i32) -> i32 {
    match (x, y) {
        (0, 0) => mid,
        (_, 0) => tile[x - 1],
        (0, _) => tile[(y - 1) * w],
        _ => {
            let a = tile[y * w + x - 1];
            let b = tile[(y - 1) * w + x];
            let c = tile[(y - 1) * w + x - 1];
            if c >= a.max(b) {
                a.min(b)
            } else if c <= a.min(b) {
                a.max(b)
            } else {
                a + b - c
            }
        }
    }
}

/// Residuals of the lowest echelon's tile samples (`w x h`) against MED prediction.
pub fn med_residuals(tile: &[i32], w: usize, h: usize, range: (i32, i32), out: &mut [i32]) {
    let mid = (range.0 + range.1 + 1) >> 1;
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = tile[y * w + x] - med(tile, w, x, y, mid);
        }
    }
}

/// Inverse of [`med_residuals`], in place: residuals in, samples out (clamped to `range`).
pub fn med_reconstruct(tile: &mut [i32], w: usize, h: usize, range: (i32, i32)) {
    let mid = (range.0 + range.1 + 1) >> 1;
    for y in 0..h {
        for x in 0..w {
            let p = med(tile, w, x, y, mid);
            tile[y * w + x] = (p + tile[y * w + x]).clamp(range.0, range.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(w: u32, h: u32, seed: u32) -> Level {
        let mut s = seed;
        Level {
            width: w,
            height: h,
            data: (0..w * h)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    ((i % w) * 3 + (i / w) * 2) as i32 % 200 + (s % 40) as i32
                })
                .collect(),
        }
    }

    #[test]
    fn one_level_reconstructs_exactly_for_every_upsampler() {
        for (w, h) in [(1, 1), (1, 7), (6, 1), (5, 3), (16, 16), (33, 17)] {
            let src = level(w, h, w * 31 + h);
            let (lower, det) = forward_level(&src);
            for up in [
                Upsampler::Nearest,
                Upsampler::Linear,
                Upsampler::Cubic,
                Upsampler::ModifiedCubic,
            ] {
                let blocks = Rect::full(lower.width, lower.height);
                let n = (lower.width * lower.height) as usize;
                let mut pred = vec![[0; 3]; n];
                predict_details(
                    up,
                    &lower,
                    (w, h),
                    blocks,
                    (0, 255),
                    &mut Vec::new(),
                    &mut pred,
                );
                let res: Vec<Vec<i32>> = (0..3)
                    .map(|l| (0..n).map(|i| det.layers[l][i] - pred[i][l]).collect())
                    .collect();
                let mut out = vec![-1; (w * h) as usize];
                reconstruct_blocks(
                    &lower,
                    (w, h),
                    blocks,
                    &pred,
                    &[&res[0], &res[1], &res[2]],
                    (0, 255),
                    &mut out,
                    0,
                );
                assert_eq!(out, src.data, "{w}x{h} {up}");
            }
        }
    }

    #[test]
    fn padded_details_are_zero() {
        let src = level(5, 3, 9);
        let (_, det) = forward_level(&src);
        // Column 2 of the block grid covers only column 4 of the source.
        for by in 0..2 {
            assert_eq!(det.layers[0][by * 3 + 2], 0);
            assert_eq!(det.layers[2][by * 3 + 2], 0);
        }
        for bx in 0..3 {
            assert_eq!(det.layers[1][3 + bx], 0);
        }
    }

    #[test]
    fn med_round_trip() {
        let src = level(7, 5, 3);
        let mut r = vec![0; 35];
        med_residuals(&src.data, 7, 5, (0, 255), &mut r);
        med_reconstruct(&mut r, 7, 5, (0, 255));
        assert_eq!(r, src.data);
    }
}
