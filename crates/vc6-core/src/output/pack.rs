//! Packing decoded rows into interleaved 8 or 16-bit pixels (colour transform undone,
//! samples clamped), and single planes' rows for planar layouts and pictures. Each has an
//! AVX2 twin (`x86`), chosen at run time; these are the reference.

use super::{OutputRange, SampleType};
use crate::colour;
use crate::plan::Plan;

/// Packs rows of every plane into one interleaved row of samples (colour transform
/// undone, samples clamped). The scalar form converts each row into one contiguous row
/// per channel, then interleaves them with a fixed pattern, so both loops vectorise.
pub(crate) struct RowPacker {
    /// One byte row per plane (made on the first scalar 8-bit row).
    chan: Vec<Vec<u8>>,
    width: usize,
    /// `order[k]`: the plane that goes to sample `k` of a pixel.
    order: [usize; 4],
    /// `pos[p]`: the sample of a pixel that plane `p` goes to.
    pos: Vec<usize>,
    colour: bool,
    /// Each plane's output range; with the colour transform, planes 0-2 use plane 0's.
    max: Vec<OutputRange>,
    sample: SampleType,
}

impl RowPacker {
    /// 8-bit samples.
    pub(crate) fn new(plan: &Plan, offsets: &[usize], width: usize) -> Self {
        Self::with_sample(plan, offsets, width, SampleType::U8)
    }

    /// `offsets[p]`: the sample of a pixel plane `p` goes to (a permutation).
    pub(crate) fn with_sample(
        plan: &Plan,
        offsets: &[usize],
        width: usize,
        sample: SampleType,
    ) -> Self {
        let max = (0..offsets.len()).map(|p| plan.output_range(p)).collect();
        Self::from_parts(offsets, width, plan.header.colour_transform, max, sample)
    }

    /// From the pixel positions, the colour flag and each plane's output range (with
    /// the colour transform, plane 0's applies to planes 0-2).
    pub(crate) fn from_parts(
        offsets: &[usize],
        width: usize,
        colour: bool,
        mut max: Vec<OutputRange>,
        sample: SampleType,
    ) -> Self {
        if colour {
            let m = max[0];
            max[..3].fill(m);
        }
        let mut order = [0; 4];
        for (p, &o) in offsets.iter().enumerate() {
            if o < 4 {
                order[o] = p;
            }
        }
        RowPacker {
            chan: Vec::new(),
            width,
            order,
            pos: offsets.to_vec(),
            colour,
            max,
            sample,
        }
    }

    /// Packs `src` (one row per plane, each as long as the output row) into `dst`.
    pub(crate) fn pack(&mut self, src: &[&[i32]], dst: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if super::x86::pack(src, dst, &self.pos, self.colour, &self.max, self.sample) {
            return;
        }
        self.pack_scalar(src, dst);
    }

    /// [`RowPacker::pack`] in plain Rust: the reference of the SIMD twin.
    pub(crate) fn pack_scalar(&mut self, src: &[&[i32]], dst: &mut [u8]) {
        if self.sample == SampleType::U16 {
            return pack_u16_scalar(src, dst, &self.pos, self.colour, &self.max);
        }
        let stride = src.len();
        if self.chan.len() != stride {
            self.chan = vec![vec![0u8; self.width]; stride];
        }
        let chan = &mut self.chan;
        let mut first = 0;
        if self.colour {
            let max = self.max[0];
            let [r, g, b, ..] = &mut chan[..] else {
                unreachable!("colour needs three planes")
            };
            // A constant range lets the clamps become saturating packs.
            if max == OutputRange::U8 {
                colour_row_u8(src[0], src[1], src[2], r, g, b, OutputRange::U8);
            } else {
                colour_row_u8(src[0], src[1], src[2], r, g, b, max);
            }
            first = 3;
        }
        for p in first..stride {
            let max = self.max[p];
            if max == OutputRange::U8 {
                clamp_row_u8(src[p], &mut chan[p], OutputRange::U8);
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

/// [`RowPacker::pack`] for 16-bit little-endian samples, pixel by pixel: plane `p` to
/// sample `pos[p]` of each pixel, through `max[p]`.
fn pack_u16_scalar(
    src: &[&[i32]],
    dst: &mut [u8],
    pos: &[usize],
    colour: bool,
    max: &[OutputRange],
) {
    let n = src.len();
    for (i, px) in dst.chunks_exact_mut(2 * n).enumerate() {
        let mut v = [0i32; 3];
        let mut rest = 0;
        if colour {
            let (r, g, b) = colour::inverse(src[0][i], src[1][i], src[2][i]);
            v = [r, g, b];
            rest = 3;
        }
        for p in 0..n {
            let s = if p < rest { v[p] } else { src[p][i] };
            let at = 2 * pos[p];
            px[at..at + 2].copy_from_slice(&(max[p].apply(s) as u16).to_le_bytes());
        }
    }
}

/// One row of R, G and B bytes from Y, Co and Cg, each through `max`.
#[inline(always)]
pub(crate) fn colour_row_u8(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [u8],
    g: &mut [u8],
    b: &mut [u8],
    max: OutputRange,
) {
    let n = r.len();
    let (y, co, cg, g, b) = (&y[..n], &co[..n], &cg[..n], &mut g[..n], &mut b[..n]);
    for i in 0..n {
        let (rv, gv, bv) = colour::inverse(y[i], co[i], cg[i]);
        r[i] = max.apply(rv) as u8;
        g[i] = max.apply(gv) as u8;
        b[i] = max.apply(bv) as u8;
    }
}

/// One row of bytes, each sample through `max`.
#[inline(always)]
pub(crate) fn clamp_row_u8(src: &[i32], dst: &mut [u8], max: OutputRange) {
    for (c, &v) in dst.iter_mut().zip(src) {
        *c = max.apply(v) as u8;
    }
}

/// Rows of R, G and B from Y, Co and Cg (unclamped), as long as `r`.
pub(crate) fn colour_rows(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [i32],
    g: &mut [i32],
    b: &mut [i32],
) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::colour_rows(y, co, cg, r, g, b) {
        return;
    }
    colour_rows_scalar(y, co, cg, r, g, b);
}

/// [`colour_rows`] in plain Rust.
pub(crate) fn colour_rows_scalar(
    y: &[i32],
    co: &[i32],
    cg: &[i32],
    r: &mut [i32],
    g: &mut [i32],
    b: &mut [i32],
) {
    let n = r.len();
    let (y, co, cg, g, b) = (&y[..n], &co[..n], &cg[..n], &mut g[..n], &mut b[..n]);
    for i in 0..n {
        (r[i], g[i], b[i]) = colour::inverse(y[i], co[i], cg[i]);
    }
}

/// One plane's row into tight samples (`dst` as long as the row, 1 or 2 bytes a
/// sample, 16-bit little-endian), each through `max`.
pub(crate) fn pack_plane_row(src: &[i32], dst: &mut [u8], max: OutputRange, sample: SampleType) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::pack(&[src], dst, &[0], false, &[max], sample) {
        return;
    }
    match sample {
        SampleType::U8 => clamp_row_u8(src, dst, max),
        SampleType::U16 => pack_u16_scalar(&[src], dst, &[0], false, &[max]),
    }
}

/// One plane's row into 16-bit samples, each through `max`.
pub(crate) fn clamp_row_u16(src: &[i32], dst: &mut [u16], max: OutputRange) {
    #[cfg(target_arch = "x86_64")]
    if super::x86::clamp_row_u16(src, dst, max) {
        return;
    }
    clamp_row_u16_scalar(src, dst, max);
}

/// [`clamp_row_u16`] in plain Rust.
pub(crate) fn clamp_row_u16_scalar(src: &[i32], dst: &mut [u16], max: OutputRange) {
    for (c, &v) in dst.iter_mut().zip(src) {
        *c = max.apply(v) as u16;
    }
}
