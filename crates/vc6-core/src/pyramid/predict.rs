//! Predicting the details of an echelon from the upsampled echelon below (docs/bitstream.md
//! 6.3), and the plain reconstruction from predictions and residuals (6.4): the reference
//! forms that the fused decoder path ([`super::fused`]) is tested against.

use super::level::Level;
use super::transform;
use super::upsample::{tap_pair, AnyTaps, Taps, Upsampler};
use crate::tableau::Rect;

/// Predicted detail coefficients `(H, V, D)` of a rectangle of blocks, one layer per
/// detail (row-major over the rectangle), with the scratch space that computes them.
#[derive(Debug, Default, Clone)]
pub struct Prediction {
    /// Predicted H, V and D layers (the first `width * height` entries are valid).
    pub layers: [Vec<i32>; 3],
    /// Predicted A (the average of each predicted block), when asked for: lossy streams
    /// without the predicted-average step.
    pub average: Vec<i32>,
    /// True when every prediction is zero (nearest upsampler); `layers` are then unused.
    pub zero: bool,
    pub(super) scratch: Vec<i32>,
    /// Two output rows for tiles at the echelon's right or bottom edge.
    pub(super) edge_rows: Vec<i32>,
}

impl Prediction {
    /// Predicts the details of the blocks in `blocks` (coordinates in the grid of
    /// `lower`) from the upsampled `lower` echelon. `upper` is the size of the echelon
    /// being predicted; details on padded edges are predicted as zero, matching
    /// [`super::forward_level`]. With `average`, [`Prediction::average`] gets each predicted
    /// block's A too (no edge rule applies to it).
    pub fn compute(
        &mut self,
        upsampler: Upsampler,
        lower: &Level,
        upper: (u32, u32),
        blocks: Rect,
        range: (i32, i32),
        average: bool,
    ) {
        self.zero = upsampler == Upsampler::Nearest;
        if self.zero {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if blocks.width() * blocks.height() > 0
            && super::x86_predict::compute(self, upsampler, lower, upper, blocks, range, average)
        {
            return;
        }
        self.compute_scalar(upsampler, lower, upper, blocks, range, average);
    }

    /// [`Prediction::compute`] in plain Rust: the reference of the SIMD twin.
    pub(crate) fn compute_scalar(
        &mut self,
        upsampler: Upsampler,
        lower: &Level,
        upper: (u32, u32),
        blocks: Rect,
        range: (i32, i32),
        average: bool,
    ) {
        let (lo, hi) = range;
        let bw = blocks.width() as usize;
        let bh = blocks.height() as usize;
        self.zero = upsampler == Upsampler::Nearest;
        if self.zero {
            return;
        }
        let n = bw * bh;
        // Every entry is overwritten below, so buffers only grow and are never cleared.
        for l in &mut self.layers {
            if l.len() < n {
                l.resize(n, 0);
            }
        }
        if average && self.average.len() < n {
            self.average.resize(n, 0);
        }
        let k = upsampler.taps();
        let rows = bh + 4;
        horizontal_pass(&mut self.scratch, AnyTaps(k), lower, blocks, range);
        let (ev, od) = self.scratch[..2 * rows * bw].split_at(rows * bw);
        // Vertical pass and the forward transform of each predicted 2x2 block.
        let (uw, uh) = (upper.0 as usize, upper.1 as usize);
        let [lh_, lv_, ld_] = &mut self.layers;
        for j in 0..bh {
            let e = |d: usize| &ev[(j + d) * bw..][..bw];
            let o = |d: usize| &od[(j + d) * bw..][..bw];
            let (e0, e1, e2, e3, e4) = (e(0), e(1), e(2), e(3), e(4));
            let (o0, o1, o2, o3, o4) = (o(0), o(1), o(2), o(3), o(4));
            let out = j * bw;
            let (ph, pv, pd) = (
                &mut lh_[out..][..bw],
                &mut lv_[out..][..bw],
                &mut ld_[out..][..bw],
            );
            for i in 0..bw {
                let (a, c) = tap_pair(k, [e0[i], e1[i], e2[i], e3[i], e4[i]], lo, hi);
                let (b, d) = tap_pair(k, [o0[i], o1[i], o2[i], o3[i], o4[i]], lo, hi);
                let t = transform::forward([a, b, c, d]);
                ph[i] = t[1];
                pv[i] = t[2];
                pd[i] = t[3];
            }
            if average {
                // A second pass keeps the loop above free of the branch.
                let pa = &mut self.average[out..][..bw];
                for i in 0..bw {
                    let (a, c) = tap_pair(k, [e0[i], e1[i], e2[i], e3[i], e4[i]], lo, hi);
                    let (b, d) = tap_pair(k, [o0[i], o1[i], o2[i], o3[i], o4[i]], lo, hi);
                    pa[i] = transform::forward([a, b, c, d])[0];
                }
            }
            if 2 * (blocks.y0 as usize + j) + 1 >= uh {
                pv.fill(0);
                pd.fill(0);
            }
            if 2 * blocks.x1 as usize > uw {
                ph[bw - 1] = 0;
                pd[bw - 1] = 0;
            }
        }
    }

    /// Predicted (H, V, D) of block `i` of the rectangle.
    pub fn get(&self, i: usize) -> [i32; 3] {
        if self.zero {
            [0; 3]
        } else {
            [self.layers[0][i], self.layers[1][i], self.layers[2][i]]
        }
    }
}

/// The horizontal pass of the prediction of `blocks` (docs/bitstream.md 6.3): for lower
/// rows `y0 - 2 .. y1 + 2` (clamped), the first and second child of every block column,
/// into `scratch` as two arrays of `(height + 4) x width` (first children, then second),
/// separate so the loops over them vectorise.
pub(super) fn horizontal_pass(
    scratch: &mut Vec<i32>,
    taps: impl Taps,
    lower: &Level,
    blocks: Rect,
    (lo, hi): (i32, i32),
) {
    let bw = blocks.width() as usize;
    let rows = blocks.height() as usize + 4;
    let (lw, lh) = (lower.width as usize, lower.height as usize);
    let need = 2 * rows * bw + bw + 4;
    if scratch.len() < need {
        scratch.resize(need, 0);
    }
    let (ev, rest) = scratch[..need].split_at_mut(rows * bw);
    let (od, seg) = rest.split_at_mut(rows * bw);
    let x0 = blocks.x0 as usize;
    let interior = x0 >= 2 && x0 + bw + 2 <= lw;
    for r in 0..rows {
        let ly = (blocks.y0 as isize + r as isize - 2).clamp(0, lh as isize - 1) as usize;
        let row = &lower.data[ly * lw..(ly + 1) * lw];
        // Samples x0 - 2 .. x0 + bw + 2: straight from the row inside the echelon, with
        // the edge samples repeated (in `seg`) at its sides.
        let src: &[i32] = if interior {
            &row[x0 - 2..x0 + bw + 2]
        } else {
            // `seg[i] = row[clamp(x0 + i - 2)]`: the samples inside the row, then the
            // first and last repeated on either side.
            let start = x0.saturating_sub(2);
            let end = (x0 + bw + 2).min(lw);
            let left = start + 2 - x0;
            let right = left + end - start;
            seg[left..right].copy_from_slice(&row[start..end]);
            seg[..left].fill(row[0]);
            seg[right..].fill(row[lw - 1]);
            seg
        };
        let (s0, s1, s2, s3, s4) = (
            &src[..bw],
            &src[1..][..bw],
            &src[2..][..bw],
            &src[3..][..bw],
            &src[4..][..bw],
        );
        let (e, o) = (&mut ev[r * bw..][..bw], &mut od[r * bw..][..bw]);
        for i in 0..bw {
            (e[i], o[i]) = taps.pair([s0[i], s1[i], s2[i], s3[i], s4[i]], lo, hi);
        }
    }
}

/// Reconstructs the samples of echelon `j` covered by `blocks` from the echelon below,
/// the predicted details and the decoded residuals, clamping to `range`.
///
/// `residuals` are the `H, V, D` layers and, for lossy streams, the average residual
/// `A` as a fourth: the block's A is then the sample below (with `predicted_average`,
/// or for the nearest upsampler) or the predicted block's average, plus that residual.
/// `band` holds rows `2 * band_y0 ..` of the upper echelon (width `upper.0`).
///
/// The plain reference form: the codec runs [`super::predict_reconstruct`], which a test holds
/// equal to [`Prediction::compute`] followed by this.
#[allow(clippy::too_many_arguments)]
pub fn reconstruct_blocks(
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    pred: &Prediction,
    residuals: &[&[i32]],
    predicted_average: bool,
    range: (i32, i32),
    band: &mut [i32],
    band_y0: u32,
    scratch: &mut Vec<i32>,
) {
    let (lo, hi) = range;
    let (uw, uh) = (upper.0 as usize, upper.1 as usize);
    let bw = blocks.width() as usize;
    let lw = lower.width as usize;
    let x0 = 2 * blocks.x0 as usize;
    let cols = (2 * blocks.x1 as usize).min(uw) - x0;
    if scratch.len() < 9 * bw {
        scratch.resize(9 * bw, 0);
    }
    let (tmp, rest) = scratch.split_at_mut(4 * bw);
    let (r0, rest) = rest.split_at_mut(2 * bw);
    let (r1, abuf) = rest.split_at_mut(2 * bw);
    let abuf = &mut abuf[..bw];
    for j in 0..blocks.height() as usize {
        let by = blocks.y0 as usize + j;
        // Every slice is cut to exactly `bw` so the loops below carry no bounds checks
        // and vectorise.
        let mut lrow = &lower.data[by * lw + blocks.x0 as usize..][..bw];
        let n = j * bw;
        if let Some(ra) = residuals.get(3) {
            let ra = &ra[n..][..bw];
            if predicted_average || pred.zero {
                for i in 0..bw {
                    abuf[i] = lrow[i] + ra[i];
                }
            } else {
                let pa = &pred.average[n..][..bw];
                for i in 0..bw {
                    abuf[i] = pa[i] + ra[i];
                }
            }
            lrow = abuf;
        }
        let (rh, rv, rd) = (
            &residuals[0][n..][..bw],
            &residuals[1][n..][..bw],
            &residuals[2][n..][..bw],
        );
        let (ta, rest) = tmp.split_at_mut(bw);
        let (tb, rest) = rest.split_at_mut(bw);
        let (tc, td) = rest.split_at_mut(bw);
        let td = &mut td[..bw];
        if pred.zero {
            for i in 0..bw {
                [ta[i], tb[i], tc[i], td[i]] = transform::inverse([lrow[i], rh[i], rv[i], rd[i]]);
            }
        } else {
            let (ph, pv, pd) = (
                &pred.layers[0][n..][..bw],
                &pred.layers[1][n..][..bw],
                &pred.layers[2][n..][..bw],
            );
            for i in 0..bw {
                [ta[i], tb[i], tc[i], td[i]] =
                    transform::inverse([lrow[i], ph[i] + rh[i], pv[i] + rv[i], pd[i] + rd[i]]);
            }
        }
        let y = 2 * by;
        let start = (y - 2 * band_y0 as usize) * uw + x0;
        // Full-width rows go straight into the echelon; an odd right edge goes through the
        // scratch rows and is cut.
        if cols == 2 * bw {
            interleave(&mut band[start..start + cols], ta, tb, lo, hi);
            if y + 1 < uh {
                interleave(&mut band[start + uw..start + uw + cols], tc, td, lo, hi);
            }
        } else {
            interleave(r0, ta, tb, lo, hi);
            band[start..start + cols].copy_from_slice(&r0[..cols]);
            if y + 1 < uh {
                interleave(r1, tc, td, lo, hi);
                band[start + uw..start + uw + cols].copy_from_slice(&r1[..cols]);
            }
        }
    }
}

/// `out = a0 b0 a1 b1 ...`, clamped to `[lo, hi]`.
#[inline(always)]
fn interleave(out: &mut [i32], a: &mut [i32], b: &mut [i32], lo: i32, hi: i32) {
    // Clamping the contiguous halves first lets both loops vectorise.
    for v in a.iter_mut() {
        *v = (*v).max(lo).min(hi);
    }
    for v in b.iter_mut() {
        *v = (*v).max(lo).min(hi);
    }
    for ((o, &a), &b) in out.chunks_exact_mut(2).zip(a.iter()).zip(b.iter()) {
        o[0] = a;
        o[1] = b;
    }
}
