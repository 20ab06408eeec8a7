//! The CPU reference decoder: full, LoQ, prefix and region decoding.
//!
//! - this module: the entry points and the section loop;
//! - [`section`]: one section's tiles, band by band (contexts, entropy decoding,
//!   prediction and reconstruction);
//! - `reconstruction`: the planes at the output LoQ, cropped, colour-converted and packed;
//! - `fused`: the last section decoded band by band straight into interleaved bytes.

mod fused;
mod reconstruction;
pub mod section;

use crate::error::Result;
use crate::options::DecodeOptions;
use crate::output::{OutputLayout, SampleType};
use crate::parallel;
use crate::picture::Picture;
use crate::plan::{Plan, SectionPlan};
use crate::pyramid::Level;
use fused::{decode_fused, fusable};
use reconstruction::Reconstruction;
use section::{plane_work, SectionData, SectionTables};

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
    if let Some(offsets) = layout.tight_interleaved_u8(plan).filter(|_| fusable(plan)) {
        return decode_fused(plan, stream, threads, buffers, &offsets, out);
    }
    let rec = reconstruct(plan, stream, threads, buffers)?;
    rec.write_layout(layout, out);
    rec.recycle(buffers);
    Ok(())
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
        let bands = out
            .data
            .chunks_mut((wk.pp.band_rows() * wk.pp.size.0) as usize)
            .enumerate();
        let cover = wk.pp.cover;
        jobs.extend(
            bands
                .map(|(ty, b)| (i, ty as u32, b))
                .filter(|(_, ty, _)| (cover.y0..cover.y1).contains(ty)),
        );
    }
    let data = SectionData::new(plan, section, stream);
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
