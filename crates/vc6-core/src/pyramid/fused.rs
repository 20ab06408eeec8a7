//! The decoder's prediction and reconstruction in one pass, block row by block row.

use super::level::Level;
use super::predict::{horizontal_pass, Prediction};
use super::transform;
use super::upsample::{AnyTaps, LinearTaps, Taps, Upsampler};
use crate::tableau::Rect;

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
/// the same samples as [`Prediction::compute`] followed by [`super::reconstruct_blocks`], but
/// block row by block row, each block's prediction going straight into its
/// reconstruction (no detail layers stored and read back). The decoder's path; `work`
/// is scratch space kept between tiles. Arguments are as for [`super::reconstruct_blocks`].
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
    #[cfg(target_arch = "x86_64")]
    if super::x86::predict_reconstruct(
        work,
        upsampler,
        lower,
        upper,
        blocks,
        residuals,
        predicted_average,
        range,
        band,
        band_y0,
    ) {
        return;
    }
    predict_reconstruct_scalar(
        work,
        upsampler,
        lower,
        upper,
        blocks,
        residuals,
        predicted_average,
        range,
        band,
        band_y0,
    );
}

/// [`predict_reconstruct`] in plain Rust: the reference of the SIMD twin.
#[allow(clippy::too_many_arguments)]
pub(crate) fn predict_reconstruct_scalar(
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
