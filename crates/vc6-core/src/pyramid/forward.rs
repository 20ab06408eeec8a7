//! Building the pyramid (encoder): each echelon's 2x2 transform gives the echelon below
//! (its `A` layer) and three detail layers.

use super::level::Level;
use super::transform;

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
    #[cfg(target_arch = "x86_64")]
    let done = super::x86_predict::forward_level(&level.data, (w, h), &mut avg, &mut layers);
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    if !done {
        forward_scalar(&level.data, (w, h), &mut avg, &mut layers);
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

/// The transform of [`forward_level`] in plain Rust (the reference of the SIMD twin):
/// the `w x h` samples `s` into `avg` and `layers`, each `ceil(w / 2) x ceil(h / 2)`.
pub(crate) fn forward_scalar(
    s: &[i32],
    (w, h): (usize, usize),
    avg: &mut [i32],
    layers: &mut [Vec<i32>; 3],
) {
    let lw = w.div_ceil(2);
    let [lh_, lv_, ld_] = layers;
    for by in 0..h.div_ceil(2) {
        let y0 = 2 * by;
        let y1 = (y0 + 1).min(h - 1);
        let (r0, r1) = (&s[y0 * w..][..w], &s[y1 * w..][..w]);
        let o = by * lw;
        let (oa, oh, ov, od) = (
            &mut avg[o..o + lw],
            &mut lh_[o..o + lw],
            &mut lv_[o..o + lw],
            &mut ld_[o..o + lw],
        );
        for bx in 0..lw {
            let x0 = 2 * bx;
            let x1 = (x0 + 1).min(w - 1);
            let t = transform::forward([r0[x0], r0[x1], r1[x0], r1[x1]]);
            (oa[bx], oh[bx], ov[bx], od[bx]) = (t[0], t[1], t[2], t[3]);
        }
    }
}
