//! The CPU reference decoder: full, LoQ, prefix and region decoding.

use crate::colour;
use crate::echelon::{med_reconstruct, predict_reconstruct, Level, Prediction};
use crate::entropy;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::output::{OutputLayout, SampleType};
use crate::parallel;
use crate::picture::{Picture, Plane};
use crate::plan::{Plan, PlanePlan, SectionPlan};
use crate::quant::{coeff_bound, CoeffMap};
use crate::syntax::context::context_map;
use crate::syntax::{
    decode_tile, LayerTables, TileLayers, TileSpec, KIND_DENSE, KIND_LEAF, KIND_NODE_HIGH,
    KIND_NODE_LOW, MAX_LAYERS,
};
use crate::tableau::Rect;
use crate::upsample::Upsampler;
use std::cell::RefCell;

/// A rectangle in the pixel grid of plane 0 at the requested LoQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

/// What to decode and with which resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Level of quality: 0 is full resolution, k is the picture halved k times.
    pub loq: u8,
    /// Only this part of the picture (in the LoQ's grid); `None` decodes everything.
    pub region: Option<Region>,
    /// Bounds on what an untrusted stream may make the decoder allocate.
    pub limits: Limits,
    /// Worker threads (0 = all cores, 1 = the calling thread only).
    pub threads: usize,
    /// Check section CRCs when the stream has them.
    pub verify_checksums: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            loq: 0,
            region: None,
            limits: Limits::default(),
            threads: 0,
            verify_checksums: true,
        }
    }
}

/// Echelon buffers kept between decodes, so that decoding a series of pictures neither
/// zeroes nor faults in fresh memory each time. Holds at most [`DecodeBuffers::KEEP`]
/// buffers (the largest pictures' echelons).
#[derive(Debug, Default)]
pub struct DecodeBuffers {
    free: Vec<Vec<i32>>,
}

impl DecodeBuffers {
    /// Most buffers kept.
    pub const KEEP: usize = 8;

    /// A buffer of `n` samples. Its contents are unspecified (a reused buffer keeps old
    /// samples): the decoder writes every sample it later reads.
    ///
    /// Only a buffer at most twice as big is reused: shortening a much bigger one (say, an
    /// echelon's for the echelon below, a quarter of its size) would make its next user,
    /// which wants it whole, zero it all again. A new buffer comes zeroed from the
    /// allocator (fresh pages for big ones) rather than being filled here.
    fn take(&mut self, n: usize) -> Vec<i32> {
        let fit = (0..self.free.len())
            .filter(|&i| (n..=n.saturating_mul(2)).contains(&self.free[i].capacity()))
            // Those long enough already first (nothing to fill), then the smallest.
            .min_by_key(|&i| (self.free[i].len() < n, self.free[i].capacity()));
        let Some(i) = fit else {
            return vec![0; n];
        };
        let mut v = self.free.swap_remove(i);
        if v.len() > n {
            v.truncate(n);
        } else {
            v.resize(n, 0);
        }
        v
    }

    fn give(&mut self, v: Vec<i32>) {
        self.free.push(v);
        if self.free.len() > Self::KEEP {
            let smallest = (0..self.free.len())
                .min_by_key(|&i| self.free[i].capacity())
                .unwrap_or(0);
            self.free.swap_remove(smallest);
        }
    }
}

/// Decodes `stream` (which may be a prefix holding the sections the LoQ needs).
pub fn decode(stream: &[u8], opts: &DecodeOptions) -> Result<Picture> {
    decode_with(stream, opts, &mut DecodeBuffers::default())
}

/// Like [`decode`], reusing echelon buffers from (and returning them to) `buffers`.
pub fn decode_with(
    stream: &[u8],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
) -> Result<Picture> {
    let plan = Plan::new(stream, opts)?;
    let rec = reconstruct(&plan, stream, opts.threads, buffers)?;
    let picture = rec.to_picture();
    rec.recycle(buffers);
    Ok(picture)
}

/// Decodes a stream of 8-bit (or shallower) planes of one size straight into interleaved
/// bytes: plane `p` goes to byte `offsets[p]` of each pixel of `offsets.len()` bytes, rows
/// without padding. Skips the intermediate [`Picture`]; returns the frame's width, height
/// and bytes.
pub fn decode_interleaved_u8(
    stream: &[u8],
    opts: &DecodeOptions,
    buffers: &mut DecodeBuffers,
    offsets: &[usize],
) -> Result<(u32, u32, Vec<u8>)> {
    let plan = Plan::new(stream, opts)?;
    let layout = OutputLayout::interleaved(&plan, SampleType::U8, offsets)?;
    // Allocated only after the plan has checked the picture against the limits.
    let mut out = vec![0u8; layout.len];
    decode_planned(&plan, stream, opts.threads, buffers, &layout, &mut out)?;
    let (w, h) = plan.output_size(0);
    Ok((w, h, out))
}

/// Runs a checked plan on the CPU and writes the result into `out` as `layout` says.
/// This is the CPU backend's decode.
pub fn decode_planned(
    plan: &Plan,
    stream: &[u8],
    threads: usize,
    buffers: &mut DecodeBuffers,
    layout: &OutputLayout,
    out: &mut [u8],
) -> Result<()> {
    layout.check(plan, out.len())?;
    plan.check_stream(stream)?;
    if let Some(offsets) = layout.tight_interleaved_u8(plan) {
        if fusable(plan) {
            return decode_fused(plan, stream, threads, buffers, &offsets, out);
        }
    }
    let rec = reconstruct(plan, stream, threads, buffers)?;
    if let Some(offsets) = layout.tight_interleaved_u8(plan) {
        rec.write_interleaved(&offsets, out);
    } else {
        rec.write_layout(layout, out);
    }
    rec.recycle(buffers);
    Ok(())
}

/// Every plane reconstructed at the plan's LoQ.
struct Reconstruction<'p> {
    plan: &'p Plan,
    levels: Vec<Level>,
}

impl Reconstruction<'_> {
    fn rect(&self, p: usize) -> Rect {
        self.plan.output_rect(p)
    }

    /// Rows of plane `p`'s output rectangle.
    fn rows(&self, p: usize) -> impl Iterator<Item = &[i32]> + '_ {
        let (r, l) = (self.rect(p), &self.levels[p]);
        let w = l.width as usize;
        (r.y0 as usize..r.y1 as usize)
            .map(move |y| &l.data[y * w + r.x0 as usize..y * w + r.x1 as usize])
    }

    fn max(&self, p: usize) -> i32 {
        self.plan.output_max(p)
    }

    /// Writes every plane where `layout` says, one output row at a time (colour
    /// transform undone, samples clamped). The general twin of the GPU pack kernels.
    fn write_layout(&self, layout: &OutputLayout, out: &mut [u8]) {
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
    fn write_interleaved(&self, offsets: &[usize], out: &mut [u8]) {
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
    fn to_picture(&self) -> Picture {
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
    fn recycle(self, buffers: &mut DecodeBuffers) {
        self.levels.into_iter().for_each(|l| buffers.give(l.data));
    }
}

/// Packs rows of every plane into one interleaved row of bytes (colour transform undone,
/// samples clamped): each row is converted into one contiguous byte row per channel, then
/// interleaved with a fixed pattern, so both loops vectorise.
struct RowPacker {
    /// One byte row per plane.
    chan: Vec<Vec<u8>>,
    /// `order[k]`: the plane that goes to byte `k` of a pixel.
    order: [usize; 4],
    colour: bool,
    max: Vec<i32>,
}

impl RowPacker {
    fn new(plan: &Plan, offsets: &[usize], width: usize) -> Self {
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
    fn pack(&mut self, src: &[&[i32]], dst: &mut [u8]) {
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

/// True when the plan's last section can be decoded band by band straight into packed
/// output ([`decode_fused`]): it holds every plane, all of one size, grid and kind.
fn fusable(plan: &Plan) -> bool {
    let Some(last) = plan.sections.last() else {
        return false;
    };
    let Some(first) = last.planes.first() else {
        return false;
    };
    let band_rows = (1u32 << plan.header.tile_log2) << u32::from(!first.base);
    let rect = plan.output_rect(0);
    // The bands decoded cover every output row.
    let covered = first.cover.y0 * band_rows <= rect.y0
        && (first.cover.y1 * band_rows).min(first.size.1) >= rect.y1;
    covered
        && last.planes.len() == plan.header.planes.len()
        && last.planes.iter().all(|pp| {
            pp.size == first.size
                && pp.base == first.base
                && pp.cover == first.cover
                && (pp.grid.width, pp.grid.height) == (first.grid.width, first.grid.height)
                && plan.output_rect(pp.plane) == plan.output_rect(0)
        })
}

/// Decodes like [`reconstruct`] then [`Reconstruction::write_interleaved`], but the last
/// section band by band, each band of every plane packed into `out` as soon as it is
/// reconstructed, while it is still in cache: the full-size `i32` planes are never
/// written out and read back. On an error, `out` may hold part of the picture.
fn decode_fused(
    plan: &Plan,
    stream: &[u8],
    threads: usize,
    buffers: &mut DecodeBuffers,
    offsets: &[usize],
    out: &mut [u8],
) -> Result<()> {
    let (last, earlier) = plan
        .sections
        .split_last()
        .expect("fusable plans have sections");
    let mut levels: Vec<Option<Level>> = vec![None; plan.header.planes.len()];
    for section in earlier {
        decode_section(plan, section, stream, &mut levels, threads, buffers)?;
    }
    let tables = SectionTables::new(last);
    let work = plane_work(last, &tables, &mut levels)?;
    let data = SectionData {
        stream,
        section: last,
        tile_log2: plan.header.tile_log2,
        upsampler: plan.header.upsampler,
        predicted_average: plan.header.predicted_average,
    };
    let first = &last.planes[0];
    let (w, h) = first.size;
    let side = 1u32 << plan.header.tile_log2;
    let band_rows = if first.base { side } else { 2 * side };
    let rect = plan.output_rect(0);
    let row_bytes = rect.width() as usize * offsets.len();
    // Each band's rows of the output, in order: the output starts at row `rect.y0`.
    let mut jobs = Vec::new();
    let mut rest = out;
    for ty in first.cover.y0..first.cover.y1 {
        let y0 = (ty * band_rows).max(rect.y0);
        let y1 = ((ty + 1) * band_rows).min(rect.y1).min(h);
        if y1 <= y0 {
            continue;
        }
        let (rows, tail) = rest.split_at_mut((y1 - y0) as usize * row_bytes);
        rest = tail;
        jobs.push((ty, y0, y1, rows));
    }
    debug_assert!(rest.is_empty(), "the bands cover every output row");
    let results = parallel::map(threads, jobs, |(ty, y0, y1, rows)| {
        FUSED.with(|bands| {
            let mut bands = bands.try_borrow_mut().ok();
            let mut fresh = Vec::new();
            let bands: &mut Vec<Vec<i32>> = bands.as_deref_mut().unwrap_or(&mut fresh);
            let top = ty * band_rows;
            let len = ((top + band_rows).min(h) - top) as usize * w as usize;
            bands.resize_with(work.len().max(bands.len()), Vec::new);
            let mut run = || -> Result<()> {
                for (wk, band) in work.iter().zip(bands.iter_mut()) {
                    if band.len() < len {
                        band.resize(len, 0);
                    }
                    data.decode_band(wk, ty, &mut band[..len])?;
                }
                let mut packer = RowPacker::new(plan, offsets, rect.width() as usize);
                let (x0, x1) = (rect.x0 as usize, rect.x1 as usize);
                for (y, dst) in (y0..y1).zip(rows.chunks_exact_mut(row_bytes)) {
                    let at = (y - top) as usize * w as usize;
                    let src: Vec<&[i32]> = bands[..work.len()]
                        .iter()
                        .map(|b| &b[at + x0..at + x1])
                        .collect();
                    packer.pack(&src, dst);
                }
                Ok(())
            };
            let result = run();
            // Keep a thread's bands for the next decode only while they are modest (a 4K
            // picture's are 6 MB); very wide pictures give theirs back.
            if bands.iter().map(Vec::capacity).sum::<usize>() > KEEP_FUSED_SAMPLES {
                *bands = Vec::new();
            }
            result
        })
    });
    results.into_iter().collect::<Result<()>>()?;
    for wk in work {
        if let Some(lower) = wk.lower {
            buffers.give(lower.data);
        }
    }
    Ok(())
}

/// Most samples of band buffers a thread keeps between decodes (32 MiB).
const KEEP_FUSED_SAMPLES: usize = 8 << 20;

thread_local! {
    /// The band buffers of [`decode_fused`], one per plane, kept per thread.
    static FUSED: RefCell<Vec<Vec<i32>>> = RefCell::default();
}

/// One row of R, G and B bytes from Y, Co and Cg, each clamped to `[0, max]`.
#[inline(always)]
fn colour_row_u8(
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
fn clamp_row_u8(src: &[i32], dst: &mut [u8], max: i32) {
    for (c, &v) in dst.iter_mut().zip(src) {
        *c = v.clamp(0, max) as u8;
    }
}

/// Reconstructs every plane of `plan` at its LoQ.
fn reconstruct<'p>(
    plan: &'p Plan,
    stream: &[u8],
    threads: usize,
    buffers: &mut DecodeBuffers,
) -> Result<Reconstruction<'p>> {
    let mut levels: Vec<Option<Level>> = vec![None; plan.header.planes.len()];
    for section in &plan.sections {
        decode_section(plan, section, stream, &mut levels, threads, buffers)?;
    }
    let levels = levels
        .into_iter()
        .map(|l| l.expect("every plane reached the requested LoQ"))
        .collect();
    Ok(Reconstruction { plan, levels })
}

fn decode_section(
    plan: &Plan,
    section: &SectionPlan,
    stream: &[u8],
    levels: &mut [Option<Level>],
    threads: usize,
    buffers: &mut DecodeBuffers,
) -> Result<()> {
    let tables = SectionTables::new(section);
    // Every plane of the section at once: the tile rows of all planes form one pool of
    // parallel work (three times as much as plane after plane for colour pictures).
    let side = 1u32 << plan.header.tile_log2;
    let work = plane_work(section, &tables, levels)?;
    let mut outs: Vec<Level> = section
        .planes
        .iter()
        .map(|pp| Level {
            width: pp.size.0,
            height: pp.size.1,
            data: buffers.take((pp.size.0 * pp.size.1) as usize),
        })
        .collect();
    let mut jobs: Vec<(usize, u32, &mut [i32])> = Vec::new();
    for (i, out) in outs.iter_mut().enumerate() {
        let wk = &work[i];
        let rows = if wk.lower.is_none() { side } else { 2 * side };
        let bands = out
            .data
            .chunks_mut((rows * wk.pp.size.0) as usize)
            .enumerate();
        let cover = wk.pp.cover;
        jobs.extend(
            bands
                .map(|(ty, b)| (i, ty as u32, b))
                .filter(|(_, ty, _)| (cover.y0..cover.y1).contains(ty)),
        );
    }
    let data = SectionData {
        stream,
        section,
        tile_log2: plan.header.tile_log2,
        upsampler: plan.header.upsampler,
        predicted_average: plan.header.predicted_average,
    };
    let results = parallel::map(threads, jobs, |(i, ty, band)| {
        data.decode_band(&work[i], ty, band)
    });
    results.into_iter().collect::<Result<()>>()?;
    for (wk, out) in work.into_iter().zip(outs) {
        if let Some(lower) = wk.lower {
            buffers.give(lower.data);
        }
        levels[wk.pp.plane] = Some(out);
    }
    Ok(())
}

/// The decode tables of a section: every table's entries in one array, and a table of
/// [`entropy::INVALID_SYMBOL`] entries that stands in for the tables the section does not define.
struct SectionTables {
    entries: Vec<u32>,
    log: u32,
    /// Offset of each of the section's tables in `entries`; the invalid table is last.
    offsets: Vec<usize>,
}

impl SectionTables {
    fn new(section: &SectionPlan) -> SectionTables {
        let size = 1usize << section.log;
        let mut entries = vec![0u32; size * (section.tables.len() + 1)];
        let mut offsets = Vec::with_capacity(section.tables.len() + 1);
        for (i, (t, chunk)) in section
            .tables
            .iter()
            .zip(entries.chunks_exact_mut(size))
            .enumerate()
        {
            entropy::decode::fill(&t.freq, chunk);
            offsets.push(i * size);
        }
        let invalid = section.tables.len() * size;
        entropy::decode::fill_invalid(section.log, &mut entries[invalid..]);
        offsets.push(invalid);
        SectionTables {
            entries,
            log: section.log,
            offsets,
        }
    }

    /// The entries of table `index` (`None`: the invalid table).
    fn table(&self, index: Option<usize>) -> &[u32] {
        let at = self.offsets[index.unwrap_or(self.offsets.len() - 1)];
        &self.entries[at..at + (1 << self.log)]
    }

    /// A plane's tables, layer by layer.
    fn layers(&self, pp: &PlanePlan) -> [LayerTables<'_>; MAX_LAYERS] {
        std::array::from_fn(|l| {
            let t = &pp.tables[l];
            LayerTables {
                dense: std::array::from_fn(|c| self.table(t[KIND_DENSE][c])),
                leaf: std::array::from_fn(|c| self.table(t[KIND_LEAF][c])),
                low: self.table(t[KIND_NODE_LOW][0]),
                high: self.table(t[KIND_NODE_HIGH][0]),
            }
        })
    }
}

/// Each plane's part of `section`, taking its echelon below from `levels`.
fn plane_work<'a>(
    section: &'a SectionPlan,
    tables: &'a SectionTables,
    levels: &mut [Option<Level>],
) -> Result<Vec<PlaneWork<'a>>> {
    section
        .planes
        .iter()
        .map(|pp| {
            let lower = match pp.base {
                true => None,
                false => Some(
                    levels[pp.plane]
                        .take()
                        .ok_or_else(|| Error::format("residual section before its base"))?,
                ),
            };
            let bound = coeff_bound(pp.range);
            Ok(PlaneWork {
                pp,
                lower,
                tables: tables.layers(pp),
                maps: pp.quant.map(|q| CoeffMap::new(q, bound)),
            })
        })
        .collect()
}

/// One plane's part of a section, with its decode tables.
struct PlaneWork<'a> {
    pp: &'a PlanePlan,
    /// The echelon below; `None` when this is the plane's lowest echelon.
    lower: Option<Level>,
    tables: [LayerTables<'a>; MAX_LAYERS],
    /// Each layer's dequantisation and clamping.
    maps: [CoeffMap; MAX_LAYERS],
}

/// What every tile of a section shares.
struct SectionData<'a> {
    stream: &'a [u8],
    section: &'a SectionPlan,
    tile_log2: u8,
    upsampler: Upsampler,
    predicted_average: bool,
}

impl SectionData<'_> {
    fn payload(&self, wk: &PlaneWork<'_>, tx: u32, ty: u32) -> &[u8] {
        &self.stream[self.section.payload(wk.pp.tile_index(tx, ty))]
    }

    /// Decodes the needed tiles of tile row `ty` into `band`, the rows of the echelon
    /// that tile row covers.
    fn decode_band(&self, wk: &PlaneWork<'_>, ty: u32, band: &mut [i32]) -> Result<()> {
        with_scratch(|scratch| self.decode_band_with(wk, ty, band, scratch))
    }

    /// [`SectionData::decode_band`] with this thread's scratch space.
    fn decode_band_with(
        &self,
        wk: &PlaneWork<'_>,
        ty: u32,
        band: &mut [i32],
        scratch: &mut BandScratch,
    ) -> Result<()> {
        let pp = wk.pp;
        let (w, h) = pp.size;
        let err = |e, tx| tile_error(e, self.section.loq, pp.plane, tx, ty);
        let BandScratch { tile, pred, ctx } = scratch;
        // One layer of MED residuals over samples for a lowest echelon, else the residual
        // layers over blocks.
        let layers = pp.layers();
        for tx in pp.cover.x0..pp.cover.x1 {
            let rect = pp.grid.tile_rect(tx, ty);
            let (tw, th) = (rect.width() as usize, rect.height() as usize);
            match &wk.lower {
                Some(lower) => context_map(
                    &lower.data,
                    lower.width as usize,
                    lower.height as usize,
                    rect,
                    &pp.thresholds,
                    ctx,
                ),
                None => {
                    ctx.clear();
                    ctx.resize(tw * th, 0);
                }
            }
            let spec = TileSpec {
                log: self.section.log,
                tile_log2: self.tile_log2,
                w: tw,
                h: th,
                ctx,
            };
            decode_tile(
                self.payload(wk, tx, ty),
                &spec,
                &wk.tables[..layers],
                &wk.maps[..layers],
                tile,
            )
            .map_err(|e| err(e, tx))?;
            let Some(lower) = &wk.lower else {
                let buf = tile.decoded_mut(0, tw * th);
                med_reconstruct(buf, tw, th, pp.range);
                for y in 0..th {
                    let dst = y * w as usize + rect.x0 as usize;
                    band[dst..dst + tw].copy_from_slice(&buf[y * tw..(y + 1) * tw]);
                }
                continue;
            };
            let residuals: Vec<&[i32]> = tile.bufs[..layers].iter().map(|b| &b[..]).collect();
            predict_reconstruct(
                pred,
                self.upsampler,
                lower,
                (w, h),
                rect,
                &residuals,
                self.predicted_average,
                pp.range,
                band,
                rect.y0,
            );
        }
        Ok(())
    }
}

fn tile_error(e: Error, loq: u8, p: usize, tx: u32, ty: u32) -> Error {
    match e {
        Error::Format(m) => {
            Error::format(format!("tile ({tx},{ty}) of plane {p} at LoQ {loq}: {m}"))
        }
        e => e,
    }
}

/// What a band job works in, kept per thread from band to band and decode to decode, so
/// that its buffers are allocated and zeroed once per thread rather than once per band.
#[derive(Default)]
struct BandScratch {
    tile: TileLayers,
    pred: Prediction,
    ctx: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<BandScratch> = RefCell::default();
}

/// Runs `f` with this thread's [`BandScratch`] (a fresh one if that is in use or gone).
fn with_scratch<R>(f: impl FnOnce(&mut BandScratch) -> R) -> R {
    let mut f = Some(f);
    let kept = SCRATCH.try_with(|s| {
        let mut s = s.try_borrow_mut().ok()?;
        f.take().map(|f| f(&mut s))
    });
    match (kept, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(&mut BandScratch::default()),
        (_, None) => unreachable!("the scratch closure ran but returned nothing"),
    }
}
