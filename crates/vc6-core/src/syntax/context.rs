//! Context modelling (docs/bitstream.md 7.3): the value tables of a residual layer are
//! chosen per coefficient by the *activity* of the echelon below around the coefficient's
//! block, which every decoder has before it starts the tile. So contexts cost no serial
//! dependency inside a tile: every lane knows its table before it decodes.

use crate::error::{Error, Result};
use crate::tableau::Rect;

/// Most contexts a plane may have in a section.
pub const MAX_CONTEXTS: usize = 8;

/// The activity of block `(bx, by)` of a residual grid: the largest minus the smallest
/// sample of the echelon below (`lower`, `w x h`, row-major) in the 3x3 window around
/// `(bx, by)`, coordinates clamped to the echelon.
pub fn activity(lower: &[i32], w: usize, h: usize, bx: usize, by: usize) -> u32 {
    let (x0, x1) = (bx.saturating_sub(1), (bx + 1).min(w - 1));
    let (y0, y1) = (by.saturating_sub(1), (by + 1).min(h - 1));
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    for y in y0..=y1 {
        for &v in &lower[y * w + x0..=y * w + x1] {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    hi.abs_diff(lo)
}

/// The context of an activity: how many thresholds it exceeds.
#[inline(always)]
pub fn context_of(act: u32, thresholds: &[u32]) -> u8 {
    thresholds.iter().filter(|&&t| act > t).count() as u8
}

/// The context of every block of `blocks` (row-major over the rectangle) into `out`,
/// from the echelon below (`lower`, `w x h`). With no thresholds every context is 0.
pub fn context_map(
    lower: &[i32],
    w: usize,
    h: usize,
    blocks: Rect,
    thresholds: &[u32],
    out: &mut Vec<u8>,
) {
    #[cfg(target_arch = "x86_64")]
    if (1..8).contains(&thresholds.len()) {
        // Every entry is written: only a longer map needs new (zeroed) ones.
        let n = (blocks.width() * blocks.height()) as usize;
        out.truncate(n);
        out.resize(n, 0);
        if super::context_x86::context_map(lower, w, h, blocks, thresholds, out) {
            return;
        }
    }
    context_map_scalar(lower, w, h, blocks, thresholds, out);
}

/// [`context_map`] in plain Rust: the reference of the SIMD twin.
pub(crate) fn context_map_scalar(
    lower: &[i32],
    w: usize,
    h: usize,
    blocks: Rect,
    thresholds: &[u32],
    out: &mut Vec<u8>,
) {
    let n = (blocks.width() * blocks.height()) as usize;
    out.clear();
    if thresholds.is_empty() {
        out.resize(n, 0);
        return;
    }
    for by in blocks.y0..blocks.y1 {
        for bx in blocks.x0..blocks.x1 {
            let a = activity(lower, w, h, bx as usize, by as usize);
            out.push(context_of(a, thresholds));
        }
    }
}

/// Checks thresholds read from a stream: at most `MAX_CONTEXTS - 1`, strictly
/// increasing.
pub fn check_thresholds(t: &[u32]) -> Result<()> {
    if t.len() >= MAX_CONTEXTS {
        return Err(Error::format(format!(
            "{} contexts, at most {MAX_CONTEXTS}",
            t.len() + 1
        )));
    }
    if t.windows(2).any(|p| p[0] >= p[1]) {
        return Err(Error::format(format!(
            "context thresholds {t:?} are not strictly increasing"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_the_window_range() {
        // 3 x 3 echelon, centre sample 50.
        let l = [0, 1, 2, 3, 50, 5, 6, 7, 8];
        assert_eq!(activity(&l, 3, 3, 1, 1), 50);
        assert_eq!(activity(&l, 3, 3, 0, 0), 50);
        assert_eq!(activity(&l, 3, 1, 2, 0), 1);
        let t = [0, 10, 49];
        assert_eq!(context_of(0, &t), 0);
        assert_eq!(context_of(1, &t), 1);
        assert_eq!(context_of(50, &t), 3);
        let mut map = Vec::new();
        context_map(&l, 3, 3, Rect::full(3, 3), &t, &mut map);
        assert_eq!(map, vec![3, 3, 2, 3, 3, 2, 2, 2, 2]);
        context_map(
            &l,
            3,
            3,
            Rect {
                x0: 1,
                y0: 0,
                x1: 2,
                y1: 2,
            },
            &[],
            &mut map,
        );
        assert_eq!(map, vec![0; 2]);
    }

    #[test]
    fn thresholds_are_checked() {
        check_thresholds(&[24, 49, 74]).unwrap();
        check_thresholds(&[]).unwrap();
        assert!(check_thresholds(&[3, 3]).is_err());
        assert!(check_thresholds(&[1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    }
}
