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
