//! The planes reconstructed at the output LoQ: cropped to the output rectangles, colour
//! transform undone, and packed into a layout or a picture.

use super::DecodeBuffers;
use crate::colour;
use crate::output::pack::RowPacker;
use crate::output::OutputLayout;
use crate::picture::{Picture, Plane};
use crate::plan::Plan;
use crate::pyramid::Level;
use crate::tableau::Rect;

/// Every plane reconstructed at the plan's LoQ.
pub(crate) struct Reconstruction<'p> {
    pub(crate) plan: &'p Plan,
    pub(crate) levels: Vec<Level>,
}

impl Reconstruction<'_> {
    pub(crate) fn rect(&self, p: usize) -> Rect {
        self.plan.output_rect(p)
    }

    /// Rows of plane `p`'s output rectangle.
    pub(crate) fn rows(&self, p: usize) -> impl Iterator<Item = &[i32]> + '_ {
        let (r, l) = (self.rect(p), &self.levels[p]);
        let w = l.width as usize;
        (r.y0 as usize..r.y1 as usize)
            .map(move |y| &l.data[y * w + r.x0 as usize..y * w + r.x1 as usize])
    }

    pub(crate) fn max(&self, p: usize) -> i32 {
        self.plan.output_max(p)
    }

    /// Writes every plane where `layout` says, one output row at a time (colour
    /// transform undone, samples clamped). The general twin of the GPU pack kernels.
    pub(crate) fn write_layout(&self, layout: &OutputLayout, out: &mut [u8]) {
        let planes = self.levels.len();
        let mut first = 0;
        if self.plan.header.colour_transform {
            let (w, _) = self.plan.output_size(0);
            let max = self.max(0);
            let mut rgb = [
                vec![0i32; w as usize],
                vec![0; w as usize],
                vec![0; w as usize],
            ];
            let src = self.rows(0).zip(self.rows(1)).zip(self.rows(2));
            for (y, ((yr, co), cg)) in src.enumerate() {
                for i in 0..w as usize {
                    let (r, g, b) = colour::inverse(yr[i], co[i], cg[i]);
                    rgb[0][i] = r;
                    rgb[1][i] = g;
                    rgb[2][i] = b;
                }
                for (p, row) in rgb.iter().enumerate() {
                    layout.write_row(p, y, row, max, out);
                }
            }
            first = 3;
        }
        for p in first..planes {
            let max = self.max(p);
            for (y, row) in self.rows(p).enumerate() {
                layout.write_row(p, y, row, max, out);
            }
        }
    }

    /// Writes the output rectangle interleaved (see [`decode_interleaved_u8`]): each row is
    /// converted into one contiguous byte row per channel, then interleaved with a fixed
    /// pattern, so both loops vectorise.
    pub(crate) fn write_interleaved(&self, offsets: &[usize], out: &mut [u8]) {
        let rw = self.rect(0).width() as usize;
        let mut packer = RowPacker::new(self.plan, offsets, rw);
        let mut rows: Vec<_> = (0..offsets.len()).map(|p| self.rows(p)).collect();
        for dst in out.chunks_exact_mut(rw * offsets.len()) {
            let src: Vec<&[i32]> = rows
                .iter_mut()
                .map(|r| r.next().expect("one row per output row"))
                .collect();
            packer.pack(&src, dst);
        }
    }

    /// The output rectangles as a picture, colour transform undone.
    pub(crate) fn to_picture(&self) -> Picture {
        let n = |p: usize| (self.rect(p).width() * self.rect(p).height()) as usize;
        let mut samples: Vec<Vec<u16>> = Vec::with_capacity(self.levels.len());
        let mut first = 0;
        if self.plan.header.colour_transform {
            let max = self.max(0);
            let rw = self.rect(0).width() as usize;
            let (mut rp, mut gp, mut bp) = (vec![0u16; n(0)], vec![0u16; n(0)], vec![0u16; n(0)]);
            let dst = rp
                .chunks_exact_mut(rw)
                .zip(gp.chunks_exact_mut(rw))
                .zip(bp.chunks_exact_mut(rw));
            let src = self.rows(0).zip(self.rows(1)).zip(self.rows(2));
            for (((rd, gd), bd), ((y, co), cg)) in dst.zip(src) {
                // Exact-length slices keep the loop free of bounds checks, so it vectorises.
                let (rd, gd, bd, co, cg) = (
                    &mut rd[..rw],
                    &mut gd[..rw],
                    &mut bd[..rw],
                    &co[..rw],
                    &cg[..rw],
                );
                for (i, &y) in y[..rw].iter().enumerate() {
                    let (r, g, b) = colour::inverse(y, co[i], cg[i]);
                    rd[i] = r.clamp(0, max) as u16;
                    gd[i] = g.clamp(0, max) as u16;
                    bd[i] = b.clamp(0, max) as u16;
                }
            }
            samples.extend([rp, gp, bp]);
            first = 3;
        }
        for p in first..self.levels.len() {
            let max = self.max(p);
            let mut out = Vec::with_capacity(n(p));
            for row in self.rows(p) {
                out.extend(row.iter().map(|&v| v.clamp(0, max) as u16));
            }
            samples.push(out);
        }
        let planes = samples
            .into_iter()
            .enumerate()
            .map(|(p, samples)| Plane {
                width: self.rect(p).width(),
                height: self.rect(p).height(),
                bit_depth: self.plan.header.planes[p].bit_depth,
                samples,
            })
            .collect();
        Picture { planes }
    }

    /// Hands the echelon buffers back for the next decode.
    pub(crate) fn recycle(self, buffers: &mut DecodeBuffers) {
        self.levels.into_iter().for_each(|l| buffers.give(l.data));
    }
}
