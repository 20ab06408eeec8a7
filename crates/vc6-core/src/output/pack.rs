//! Packing decoded rows into interleaved 8-bit pixels: colour transform undone, samples
//! clamped.

use crate::colour;
use crate::plan::Plan;

/// Packs rows of every plane into one interleaved row of bytes (colour transform undone,
/// samples clamped): each row is converted into one contiguous byte row per channel, then
/// interleaved with a fixed pattern, so both loops vectorise.
pub(crate) struct RowPacker {
    /// One byte row per plane.
    chan: Vec<Vec<u8>>,
    /// `order[k]`: the plane that goes to byte `k` of a pixel.
    order: [usize; 4],
    colour: bool,
    max: Vec<i32>,
}

impl RowPacker {
    pub(crate) fn new(plan: &Plan, offsets: &[usize], width: usize) -> Self {
        let mut order = [0; 4];
        for (p, &o) in offsets.iter().enumerate() {
            order[o] = p;
        }
        RowPacker {
            chan: vec![vec![0u8; width]; offsets.len()],
            order,
            colour: plan.header.colour_transform,
            max: (0..offsets.len()).map(|p| plan.output_max(p)).collect(),
        }
    }

    /// Packs `src` (one row per plane, each as long as the output row) into `dst`.
    pub(crate) fn pack(&mut self, src: &[&[i32]], dst: &mut [u8]) {
        let stride = self.chan.len();
        let chan = &mut self.chan;
        let mut first = 0;
        if self.colour {
            let max = self.max[0];
            let [r, g, b, ..] = &mut chan[..] else {
                unreachable!("colour needs three planes")
            };
            // A constant 255 lets the clamps become saturating packs.
            if max == 255 {
                colour_row_u8(src[0], src[1], src[2], r, g, b, 255);
            } else {
                colour_row_u8(src[0], src[1], src[2], r, g, b, max);
            }
            first = 3;
        }
        for p in first..stride {
            let max = self.max[p];
            if max == 255 {
                clamp_row_u8(src[p], &mut chan[p], 255);
            } else {
                clamp_row_u8(src[p], &mut chan[p], max);
            }
        }
        let order = self.order;
        let c = |k: usize| &chan[order[k]][..];
        match stride {
            1 => dst.copy_from_slice(c(0)),
            3 => {
                for (px, ((&a, &b), &d)) in
                    dst.chunks_exact_mut(3).zip(c(0).iter().zip(c(1)).zip(c(2)))
                {
                    px.copy_from_slice(&[a, b, d]);
                }
            }
            4 => {
                let src = c(0).iter().zip(c(1)).zip(c(2)).zip(c(3));
                for (px, (((&a, &b), &d), &e)) in dst.chunks_exact_mut(4).zip(src) {
                    px.copy_from_slice(&[a, b, d, e]);
                }
            }
            _ => {
                for (i, px) in dst.chunks_exact_mut(stride).enumerate() {
                    for (k, byte) in px.iter_mut().enumerate() {
                        *byte = chan[order[k]][i];
                    }
                }
            }
        }
    }
}

/// One row of R, G and B bytes from Y, Co and Cg, each clamped to `[0, max]`.
#[inline(always)]
pub(crate) fn colour_row_u8(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [u8],
    g: &mut [u8],
    b: &mut [u8],
    max: i32,
) {
    let n = r.len();
    let (y, co, cg, g, b) = (&y[..n], &co[..n], &cg[..n], &mut g[..n], &mut b[..n]);
    for i in 0..n {
        let (rv, gv, bv) = colour::inverse(y[i], co[i], cg[i]);
        r[i] = rv.clamp(0, max) as u8;
        g[i] = gv.clamp(0, max) as u8;
        b[i] = bv.clamp(0, max) as u8;
    }
}

/// One row of bytes, each sample clamped to `[0, max]`.
#[inline(always)]
pub(crate) fn clamp_row_u8(src: &[i32], dst: &mut [u8], max: i32) {
    for (c, &v) in dst.iter_mut().zip(src) {
        *c = v.clamp(0, max) as u8;
    }
}
