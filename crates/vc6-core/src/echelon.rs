//! The echelon pyramid: building it (encoder), predicting details from the echelon below,
//! and reconstructing an echelon tile by tile (decoder), plus the direct coding of the
//! lowest echelon with the MED predictor.
//!
//! Echelon `j + 1` is the average layer `A` of the 2x2 transform of echelon `j`
//! (see [`crate::transform`]). Echelon `j` is coded as the residuals of its detail
//! layers `H, V, D` against the details of the upsampled echelon `j + 1`.

use crate::tableau::Rect;
use crate::transform;
use crate::upsample::{tap_pair, AnyTaps, LinearTaps, Taps, Upsampler};

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
    scratch: Vec<i32>,
    /// Two output rows for tiles at the echelon's right or bottom edge.
    edge_rows: Vec<i32>,
}

impl Prediction {
    /// Predicts the details of the blocks in `blocks` (coordinates in the grid of
    /// `lower`) from the upsampled `lower` echelon. `upper` is the size of the echelon
    /// being predicted; details on padded edges are predicted as zero, matching
    /// [`forward_level`]. With `average`, [`Prediction::average`] gets each predicted
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
fn horizontal_pass(
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
/// The plain reference form: the codec runs [`predict_reconstruct`], which a test holds
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

/// Where the A of each block comes from (docs/bitstream.md 6.4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Average {
    /// Lossless: the sample below.
    Lower,
    /// Lossy, predicted-average step (or nearest upsampler): the sample below plus `rA`.
    LowerPlusResidual,
    /// Lossy otherwise: the predicted block's own A plus `rA`.
    PredictedPlusResidual,
}

/// Predicts and reconstructs the samples of echelon `j` covered by `blocks` in one pass:
/// the same samples as [`Prediction::compute`] followed by [`reconstruct_blocks`], but
/// block row by block row, each block's prediction going straight into its
/// reconstruction (no detail layers stored and read back). The decoder's path; `work`
/// is scratch space kept between tiles. Arguments are as for [`reconstruct_blocks`].
#[allow(clippy::too_many_arguments)]
pub fn predict_reconstruct(
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
) {
    work.zero = upsampler == Upsampler::Nearest;
    let average = match residuals.get(3) {
        None => Average::Lower,
        // The nearest upsampler predicts no details, and the sample below is its A.
        Some(_) if predicted_average || work.zero => Average::LowerPlusResidual,
        Some(_) => Average::PredictedPlusResidual,
    };
    // One copy of the row loop per case, so that no loop tests the case per block: the
    // nearest upsampler's skip the taps, the linear one's use shifts for multiplies.
    let args = (work, lower, upper, blocks, residuals, range, band, band_y0);
    match upsampler {
        Upsampler::Nearest => with_average::<false, _>(average, AnyTaps([0; 4]), args),
        Upsampler::Linear => with_average::<true, _>(average, LinearTaps, args),
        _ => with_average::<true, _>(average, AnyTaps(upsampler.taps()), args),
    }
}

/// The arguments of [`predict_reconstruct_with`] after its taps.
type RowArgs<'a> = (
    &'a mut Prediction,
    &'a Level,
    (u32, u32),
    Rect,
    &'a [&'a [i32]],
    (i32, i32),
    &'a mut [i32],
    u32,
);

/// [`predict_reconstruct_with`] for `average`.
fn with_average<const PREDICT: bool, T: Taps>(average: Average, taps: T, args: RowArgs<'_>) {
    let f = match average {
        Average::Lower => predict_reconstruct_with::<0, PREDICT, T>,
        Average::LowerPlusResidual => predict_reconstruct_with::<1, PREDICT, T>,
        Average::PredictedPlusResidual => predict_reconstruct_with::<2, PREDICT, T>,
    };
    let (work, lower, upper, blocks, residuals, range, band, band_y0) = args;
    f(
        work, taps, lower, upper, blocks, residuals, range, band, band_y0,
    );
}

/// [`predict_reconstruct`] for `A` = [`Average`] number `A` (0, 1, 2 in declaration order)
/// and the kernel `taps`; `PREDICT` false for the nearest upsampler (every predicted detail
/// zero, no taps).
#[allow(clippy::too_many_arguments)]
fn predict_reconstruct_with<const A: u8, const PREDICT: bool, T: Taps>(
    work: &mut Prediction,
    taps: T,
    lower: &Level,
    upper: (u32, u32),
    blocks: Rect,
    residuals: &[&[i32]],
    range: (i32, i32),
    band: &mut [i32],
    band_y0: u32,
) {
    let (uw, uh) = (upper.0 as usize, upper.1 as usize);
    let bw = blocks.width() as usize;
    let rows = blocks.height() as usize + 4;
    if PREDICT {
        horizontal_pass(&mut work.scratch, taps, lower, blocks, range);
    } else if work.scratch.len() < 2 * rows * bw {
        // Unread without prediction; kept so the row slices below need no second form.
        work.scratch.resize(2 * rows * bw, 0);
    }
    let (ev, od) = work.scratch[..2 * rows * bw].split_at(rows * bw);
    if work.edge_rows.len() < 4 * bw {
        work.edge_rows.resize(4 * bw, 0);
    }
    let (r0, r1) = work.edge_rows[..4 * bw].split_at_mut(2 * bw);
    let lw = lower.width as usize;
    let x0 = 2 * blocks.x0 as usize;
    let cols = (2 * blocks.x1 as usize).min(uw) - x0;
    // On an odd right edge the last block column's H and D are predicted as zero.
    let right_edge = cols < 2 * bw;
    for j in 0..blocks.height() as usize {
        let by = blocks.y0 as usize + j;
        let y = 2 * by;
        let n = j * bw;
        let ev = |d: usize| &ev[(j + d) * bw..][..bw];
        let od = |d: usize| &od[(j + d) * bw..][..bw];
        let rows = BlockRow {
            e: [ev(0), ev(1), ev(2), ev(3), ev(4)],
            o: [od(0), od(1), od(2), od(3), od(4)],
            base: &lower.data[by * lw + blocks.x0 as usize..][..bw],
            ra: match A {
                0 => &[],
                _ => &residuals[3][n..][..bw],
            },
            r: [
                &residuals[0][n..][..bw],
                &residuals[1][n..][..bw],
                &residuals[2][n..][..bw],
            ],
            taps,
            // On an odd bottom edge the last block row's V and D are predicted as zero.
            vmask: if y + 1 >= uh { 0 } else { -1 },
            range,
        };
        let start = (y - 2 * band_y0 as usize) * uw + x0;
        if !right_edge && y + 1 < uh {
            // Straight into the echelon.
            let (top, bot) = band[start..start + uw + cols].split_at_mut(uw);
            rows.reconstruct::<A, PREDICT>(top, bot);
            continue;
        }
        rows.edge_row::<A, PREDICT>(r0, r1, right_edge);
        band[start..start + cols].copy_from_slice(&r0[..cols]);
        if y + 1 < uh {
            band[start + uw..start + uw + cols].copy_from_slice(&r1[..cols]);
        }
    }
}

/// The inputs of one row of blocks of [`predict_reconstruct_with`], each slice as long
/// as the row.
struct BlockRow<'a, T> {
    /// First (`e`) and second (`o`) horizontal children of lower rows `by - 2 .. by + 2`.
    e: [&'a [i32]; 5],
    o: [&'a [i32]; 5],
    /// The lower echelon's samples.
    base: &'a [i32],
    /// Residuals: average (lossy only) and H, V, D.
    ra: &'a [i32],
    r: [&'a [i32]; 3],
    taps: T,
    vmask: i32,
    range: (i32, i32),
}

impl<T: Taps> BlockRow<'_, T> {
    /// Block `i`, unclamped, with its H and D predictions masked by `hmask`.
    #[inline(always)]
    fn block<const A: u8, const PREDICT: bool>(&self, i: usize, hmask: i32) -> [i32; 4] {
        let ra = if A == 0 { 0 } else { self.ra[i] };
        let [e0, e1, e2, e3, e4] = self.e.map(|l| l[i]);
        let [o0, o1, o2, o3, o4] = self.o.map(|l| l[i]);
        let [rh, rv, rd] = self.r.map(|l| l[i]);
        predict_block::<A, PREDICT, T>(
            self.taps,
            [e0, e1, e2, e3, e4],
            [o0, o1, o2, o3, o4],
            self.base[i],
            ra,
            [rh, rv, rd],
            hmask,
            self.vmask,
            self.range,
        )
    }

    /// A block row at the echelon's right or bottom edge, into the scratch rows `r0` and
    /// `r1` (the caller keeps what lies inside the echelon). Kept out of line: it is rare.
    #[inline(never)]
    fn edge_row<const A: u8, const PREDICT: bool>(
        &self,
        r0: &mut [i32],
        r1: &mut [i32],
        right_edge: bool,
    ) {
        self.reconstruct::<A, PREDICT>(r0, r1);
        if right_edge {
            let (lo, hi) = self.range;
            let i = self.base.len() - 1;
            let s = self.block::<A, PREDICT>(i, 0).map(|v| v.max(lo).min(hi));
            r0[2 * i..2 * i + 2].copy_from_slice(&s[..2]);
            r1[2 * i..2 * i + 2].copy_from_slice(&s[2..]);
        }
    }

    /// Both output rows of the block row, clamped and interleaved, into the first
    /// `2 * width` samples of `top` and `bot`.
    #[inline(always)]
    fn reconstruct<const A: u8, const PREDICT: bool>(&self, top: &mut [i32], bot: &mut [i32]) {
        let (lo, hi) = self.range;
        let bw = self.base.len();
        // Every slice rebound as a local of exactly `bw` (`2 * bw` for the outputs), so
        // that the compiler sees every index is in bounds (`array::map` here hid the
        // lengths and kept bounds checks in the loop). The interleaved stores still cost
        // the vectorised loop a short scalar tail per row; storing the four samples apart
        // and interleaving them in a second pass has no tail but measured slower.
        let [e0, e1, e2, e3, e4] = self.e;
        let (e0, e1, e2, e3, e4) = (&e0[..bw], &e1[..bw], &e2[..bw], &e3[..bw], &e4[..bw]);
        let [o0, o1, o2, o3, o4] = self.o;
        let (o0, o1, o2, o3, o4) = (&o0[..bw], &o1[..bw], &o2[..bw], &o3[..bw], &o4[..bw]);
        let [rh, rv, rd] = self.r;
        let (rh, rv, rd) = (&rh[..bw], &rv[..bw], &rd[..bw]);
        let ra = if A == 0 { rh } else { &self.ra[..bw] };
        let base = &self.base[..bw];
        let (top, bot) = (&mut top[..2 * bw], &mut bot[..2 * bw]);
        for i in 0..bw {
            let s = predict_block::<A, PREDICT, T>(
                self.taps,
                [e0[i], e1[i], e2[i], e3[i], e4[i]],
                [o0[i], o1[i], o2[i], o3[i], o4[i]],
                base[i],
                ra[i],
                [rh[i], rv[i], rd[i]],
                -1,
                self.vmask,
                self.range,
            );
            top[2 * i] = s[0].max(lo).min(hi);
            top[2 * i + 1] = s[1].max(lo).min(hi);
            bot[2 * i] = s[2].max(lo).min(hi);
            bot[2 * i + 1] = s[3].max(lo).min(hi);
        }
    }
}

/// One block of [`predict_reconstruct_with`]: the vertical pass over the horizontal
/// children `e` (first) and `o` (second) of lower rows `by - 2 .. by + 2`, the forward
/// transform of the predicted block (none without `PREDICT`: every prediction zero), the
/// residuals `r` (H, V, D) and `ra` added (H and D predictions masked by `hmask`, V and D
/// by `vmask`: 0 on odd edges, else -1), and the inverse transform, unclamped.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn predict_block<const A: u8, const PREDICT: bool, T: Taps>(
    taps: T,
    e: [i32; 5],
    o: [i32; 5],
    base: i32,
    ra: i32,
    r: [i32; 3],
    hmask: i32,
    vmask: i32,
    (lo, hi): (i32, i32),
) -> [i32; 4] {
    let [pa, ph, pv, pd] = if PREDICT {
        let (a, c) = taps.pair(e, lo, hi);
        let (b, d) = taps.pair(o, lo, hi);
        transform::forward([a, b, c, d])
    } else {
        [0; 4]
    };
    let avg = match A {
        0 => base,
        1 => base + ra,
        _ => pa + ra,
    };
    transform::inverse([
        avg,
        (ph & hmask) + r[0],
        (pv & vmask) + r[1],
        (pd & hmask & vmask) + r[2],
    ])
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

/// Lossy coding of a lowest-echelon tile: MED prediction from the samples as the decoder
/// will have them, each residual quantised with `quant` (dead-zone `rounding` in 1/256 of
/// a step). `tile` holds the source samples and is replaced by the decoder's
/// reconstruction; `out` gets the quantised residuals.
pub fn med_quantize(
    tile: &mut [i32],
    w: usize,
    h: usize,
    range: (i32, i32),
    quant: crate::quant::Quant,
    rounding: u32,
    out: &mut [i32],
) {
    let mid = (range.0 + range.1 + 1) >> 1;
    let bound = crate::quant::coeff_bound(range);
    for y in 0..h {
        for x in 0..w {
            let p = med(tile, w, x, y, mid);
            let q = quant.quantize(tile[y * w + x] - p, rounding);
            out[y * w + x] = q;
            tile[y * w + x] = (p + quant.dequantize(q, bound)).clamp(range.0, range.1);
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
                let mut pred = Prediction::default();
                pred.compute(up, &lower, (w, h), blocks, (0, 255), false);
                let res: Vec<Vec<i32>> = (0..3)
                    .map(|l| (0..n).map(|i| det.layers[l][i] - pred.get(i)[l]).collect())
                    .collect();
                let mut out = vec![-1; (w * h) as usize];
                reconstruct_blocks(
                    &lower,
                    (w, h),
                    blocks,
                    &pred,
                    &[&res[0], &res[1], &res[2]],
                    false,
                    (0, 255),
                    &mut out,
                    0,
                    &mut Vec::new(),
                );
                assert_eq!(out, src.data, "{w}x{h} {up}");
            }
        }
    }

    #[test]
    fn fused_prediction_matches_predict_then_reconstruct() {
        let ups = [
            Upsampler::Nearest,
            Upsampler::Linear,
            Upsampler::Cubic,
            Upsampler::ModifiedCubic,
            Upsampler::Custom([-3000, 20000, -1000, -616]),
        ];
        for (w, h) in [(1, 1), (2, 3), (7, 5), (16, 16), (33, 17), (40, 9)] {
            let lower = level(u32::div_ceil(w, 2), u32::div_ceil(h, 2), w + 7 * h);
            let noise = level(lower.width, 4 * lower.height, w * h);
            let (lw, lh) = (lower.width, lower.height);
            let range = (-20, 230);
            for up in ups {
                for (layers, predicted_average) in [(3, false), (4, true), (4, false)] {
                    // Tiles of 3 x 2 blocks, each band two block rows of the echelon.
                    let (tw, th) = (3, 2);
                    let mut want = vec![0; (w * h) as usize];
                    let mut got = vec![0; (w * h) as usize];
                    let mut work = Prediction::default();
                    for ty in 0..lh.div_ceil(th) {
                        for tx in 0..lw.div_ceil(tw) {
                            let r = Rect {
                                x0: tx * tw,
                                y0: ty * th,
                                x1: ((tx + 1) * tw).min(lw),
                                y1: ((ty + 1) * th).min(lh),
                            };
                            let n = (r.width() * r.height()) as usize;
                            let res: Vec<Vec<i32>> = (0..layers)
                                .map(|l| {
                                    let at = (l * n + (tx + ty) as usize) % noise.data.len();
                                    let src = noise.data.iter().cycle().skip(at);
                                    src.take(n).map(|v| v % 60 - 30).collect()
                                })
                                .collect();
                            let res: Vec<&[i32]> = res.iter().map(|r| &r[..]).collect();
                            let band = (2 * r.y0 * w) as usize..;
                            let mut pred = Prediction::default();
                            let average = layers == 4 && !predicted_average;
                            pred.compute(up, &lower, (w, h), r, range, average);
                            reconstruct_blocks(
                                &lower,
                                (w, h),
                                r,
                                &pred,
                                &res,
                                predicted_average,
                                range,
                                &mut want[band.clone()],
                                r.y0,
                                &mut Vec::new(),
                            );
                            predict_reconstruct(
                                &mut work,
                                up,
                                &lower,
                                (w, h),
                                r,
                                &res,
                                predicted_average,
                                range,
                                &mut got[band],
                                r.y0,
                            );
                        }
                    }
                    assert_eq!(got, want, "{w}x{h} {up} {layers} {predicted_average}");
                }
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
