//! The lowest echelon: samples coded against the median edge detector (LOCO-I), inside
//! each tile (docs/bitstream.md 6.5).

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
