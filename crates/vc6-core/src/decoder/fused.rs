//! The last section decoded band by band straight into interleaved 8-bit output: each
//! band of every plane is packed while it is still in cache, so the full-size planes are
//! never written out and read back.

use super::section::{plane_work, SectionData, SectionTables};
use super::{decode_section, DecodeBuffers};
use crate::error::Result;
use crate::output::pack::RowPacker;
use crate::parallel;
use crate::plan::Plan;
use crate::pyramid::Level;
use std::cell::RefCell;

/// True when the plan's last section can be decoded band by band straight into packed
/// output ([`decode_fused`]): it holds every plane, all of one size, grid and kind.
pub(crate) fn fusable(plan: &Plan) -> bool {
    let Some(last) = plan.sections.last() else {
        return false;
    };
    let Some(first) = last.planes.first() else {
        return false;
    };
    let band_rows = first.band_rows();
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

/// Decodes like [`reconstruct`] then [`Reconstruction::write_layout`], but the last
/// section band by band, each band of every plane packed into `out` as soon as it is
/// reconstructed, while it is still in cache: the full-size `i32` planes are never
/// written out and read back. On an error, `out` may hold part of the picture.
pub(crate) fn decode_fused(
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
    let data = SectionData::new(plan, last, stream);
    let first = &last.planes[0];
    let (w, h) = first.size;
    let band_rows = first.band_rows();
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
pub(crate) const KEEP_FUSED_SAMPLES: usize = 8 << 20;

thread_local! {
    /// The band buffers of [`decode_fused`], one per plane, kept per thread.
    static FUSED: RefCell<Vec<Vec<i32>>> = RefCell::default();
}
