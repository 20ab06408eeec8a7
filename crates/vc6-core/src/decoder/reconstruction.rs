//! The planes reconstructed at the output LoQ: cropped to the output rectangles, colour
//! transform undone, and packed into a layout or a picture.

use super::DecodeBuffers;
use crate::output::pack::{clamp_row_u16, colour_rows, pack_plane_row, RowPacker};
use crate::output::{OutputLayout, OutputRange, SampleType};
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

    pub(crate) fn max(&self, p: usize) -> OutputRange {
        self.plan.output_range(p)
    }

    /// Writes every plane where `layout` says, one output row at a time (colour
    /// transform undone, samples clamped). The general twin of the GPU pack kernels:
    /// tight interleaved layouts go through [`RowPacker`], tight rows of one plane
    /// through [`pack_plane_row`], any other layout sample by sample.
    pub(crate) fn write_layout(&self, layout: &OutputLayout, out: &mut [u8]) {
        if let Some(offsets) = layout.tight_interleaved(self.plan) {
            return self.write_packed(&offsets, layout.sample, out);
        }
        let planes = self.levels.len();
        let mut first = 0;
        if self.plan.header.colour_transform {
            let w = self.plan.output_size(0).0 as usize;
            let max = self.max(0);
            let mut rgb = vec![0i32; 3 * w];
            let src = self.rows(0).zip(self.rows(1)).zip(self.rows(2));
            for (y, ((yr, co), cg)) in src.enumerate() {
                let (r, gb) = rgb.split_at_mut(w);
                let (g, b) = gb.split_at_mut(w);
                colour_rows(yr, co, cg, r, g, b);
                for (p, row) in rgb.chunks_exact(w).enumerate() {
                    write_plane_row(layout, p, y, row, max, out);
                }
            }
            first = 3;
        }
        for p in first..planes {
            let max = self.max(p);
            for (y, row) in self.rows(p).enumerate() {
                write_plane_row(layout, p, y, row, max, out);
            }
        }
    }

    /// Writes the output rectangle as tight interleaved pixels of `sample`s, plane `p`
    /// to sample `offsets[p]` of each.
    fn write_packed(&self, offsets: &[usize], sample: SampleType, out: &mut [u8]) {
        let rw = self.rect(0).width() as usize;
        let mut packer = RowPacker::with_sample(self.plan, offsets, rw, sample);
        let mut rows: Vec<_> = (0..offsets.len()).map(|p| self.rows(p)).collect();
        let mut src: Vec<&[i32]> = Vec::with_capacity(offsets.len());
        for dst in out.chunks_exact_mut(rw * offsets.len() * sample.bytes()) {
            src.clear();
            src.extend(
                rows.iter_mut()
                    .map(|r| r.next().expect("one row per output row")),
            );
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
            let mut rgb = vec![0i32; 3 * rw];
            let (mut rp, mut gp, mut bp) = (vec![0u16; n(0)], vec![0u16; n(0)], vec![0u16; n(0)]);
            let dst = rp
                .chunks_exact_mut(rw)
                .zip(gp.chunks_exact_mut(rw))
                .zip(bp.chunks_exact_mut(rw));
            let src = self.rows(0).zip(self.rows(1)).zip(self.rows(2));
            for (((rd, gd), bd), ((y, co), cg)) in dst.zip(src) {
                let (r, gb) = rgb.split_at_mut(rw);
                let (g, b) = gb.split_at_mut(rw);
                colour_rows(y, co, cg, r, g, b);
                clamp_row_u16(r, rd, max);
                clamp_row_u16(g, gd, max);
                clamp_row_u16(b, bd, max);
            }
            samples.extend([rp, gp, bp]);
            first = 3;
        }
        for p in first..self.levels.len() {
            let max = self.max(p);
            let mut out = vec![0u16; n(p)];
            let rw = self.rect(p).width() as usize;
            for (dst, row) in out.chunks_exact_mut(rw.max(1)).zip(self.rows(p)) {
                clamp_row_u16(row, dst, max);
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

/// Writes row `y` of plane `p` where `layout` says: tight rows packed at once, others
/// sample by sample.
fn write_plane_row(
    layout: &OutputLayout,
    p: usize,
    y: usize,
    row: &[i32],
    max: OutputRange,
    out: &mut [u8],
) {
    let l = layout.planes[p];
    let bytes = layout.sample.bytes();
    if l.pixel_stride == bytes {
        let start = l.offset + y * l.row_stride;
        pack_plane_row(
            row,
            &mut out[start..start + row.len() * bytes],
            max,
            layout.sample,
        );
    } else {
        layout.write_row(p, y, row, max, out);
    }
}
