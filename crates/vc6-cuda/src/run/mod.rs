//! The device decode of a batch, pipelined over several streams ("lanes").
//!
//! A batch is split into chunks ([`vc6_core::gpu::chunks_within`]: within a share of the
//! batch's device memory, and for host output within [`STAGE_BYTES`] of output). Chunk
//! `i` runs on lane `i % lanes` ([`LANES`] unless `VC6_CUDA_LANES` says otherwise), each
//! lane a stream of its own with its own pinned host buffers ([`staging`]):
//!
//! 1. on the host, the chunk is laid out (`prepare`, `merge`: the CPU work) while the
//!    lanes queued before it run on the device;
//! 2. the lane waits for the chunk it ran before (if any) and hands its results out;
//! 3. the chunk's streams and tables are written into the lane's pinned upload buffer
//!    and go to the device in one asynchronous copy; the kernels are queued
//!    ([`launch`]); the tiles' error bytes (and, for host output, the packed frames) come
//!    back in asynchronous copies into the lane's pinned download buffer.
//!
//! So one lane's copies overlap the other lanes' kernels, and the host's layout work
//! overlaps both. Each chunk's device memory is three buffers from the backend's pool
//! (the upload, a zeroed work buffer, the packed output), each cut into segments.
//!
//! **Never run on a GPU** (only against the stand-in driver of `tests/fake_driver.rs`,
//! which can run the kernels on the CPU: the shared suite gives the CPU's bytes through
//! it). Whether the overlap pays, and how many lanes are best, is unmeasured.
#![allow(unsafe_code)]

mod launch;
pub(crate) mod staging;

pub(crate) use launch::Kernels;

use crate::driver::cu_err;
use crate::pool::DevicePool;
use crate::{clone_err, DeviceInfo};
use cudarc::driver::{result, CudaSlice, CudaStream, DevicePtr};
use launch::Addrs;
use staging::{Staging, StagingPool};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;
use vc6_core::gpu::{chunks_within, interleave, item_of, merge, prepare, FramePrep, HostTables};
use vc6_core::{Error, OutputLayout, Plan, Result};

/// Streams a batch runs on at once, by default: enough for one lane's uploads, another's
/// kernels and a third's downloads to overlap. Unmeasured: `VC6_CUDA_LANES` (1 to
/// [`MAX_LANES`]) changes it without a rebuild, for the first GPU session to compare.
pub(crate) const LANES: usize = 3;

/// The most lanes `VC6_CUDA_LANES` may ask for.
pub(crate) const MAX_LANES: usize = 8;

/// Output a chunk stages in pinned host memory, at most (host output); a larger frame
/// gets a chunk of its own.
pub(crate) const STAGE_BYTES: u64 = 128 << 20;

/// Bytes a chunk's host copies (streams into the upload buffer, frames out of the
/// download buffer) must reach before they run on every core: one core copies about
/// 10 GB/s, and a batch of 4K frames moves hundreds of megabytes through the host.
const PARALLEL_COPY: usize = 8 << 20;

/// Copies each `(destination, source)` pair (of equal lengths), frame by frame on every
/// core when there is much to copy.
fn copy_all(pairs: Vec<(&mut [u8], &[u8])>) {
    let total: usize = pairs.iter().map(|(_, s)| s.len()).sum();
    let threads = if total >= PARALLEL_COPY { 0 } else { 1 };
    vc6_core::parallel::map(threads, pairs, |(d, s)| d.copy_from_slice(s));
}

/// Alignment of the segments cut from one device buffer (the driver's own allocation
/// alignment, so every kernel sees its buffers as if allocated alone).
const ALIGN: usize = 256;

/// Device memory a batch may hold at once: `configured`, else a quarter of the device's
/// memory, between 256 MiB and 8 GiB (the OpenCL backend's default). The chunks in
/// flight on the lanes share it.
pub(crate) fn batch_budget(info: &DeviceInfo, configured: Option<u64>) -> u64 {
    configured
        .unwrap_or((info.global_mem / 4).clamp(256 << 20, 8 << 30))
        .max(1)
}

/// Where the packed frames of a batch go.
pub(crate) enum Dest<'o, 'b> {
    /// Copied back into host buffers, one per item, in item order.
    Host(&'o mut [&'b mut [u8]]),
    /// Kept on the device: one new buffer per frame, returned.
    Device,
    /// Into device memory the caller owns (a batch of one): its address and length.
    Pointer(u64, usize),
}

impl Dest<'_, '_> {
    /// The length item `i`'s output buffer gives its layout to check: a buffer of its
    /// own or a caller's at least as long as the layout are exactly long enough.
    fn len(&self, i: usize, layout: &OutputLayout) -> usize {
        match self {
            Dest::Host(outs) => outs[i].len(),
            Dest::Device => layout.len,
            Dest::Pointer(_, n) => (*n).min(layout.len),
        }
    }
}

/// A frame's device buffer after a batch: kept only for [`Dest::Device`].
type FrameOut = Option<CudaSlice<u8>>;

/// One result per item: `Some` device buffer holding the packed frame for
/// [`Dest::Device`], `None` for the other destinations.
pub(crate) type Packed = Result<FrameOut>;

/// What a batch runs with: the backend's kernels, device memory pool and kept stagings,
/// and its batch budget.
pub(crate) struct Runner<'r> {
    pub(crate) kernels: &'r Kernels,
    pub(crate) pool: &'r DevicePool,
    pub(crate) stagings: &'r StagingPool,
    pub(crate) budget: u64,
    /// Streams a batch runs on at once (1 to [`MAX_LANES`]).
    pub(crate) lanes: usize,
}

/// Decodes every item, chunk by chunk on up to `r.lanes` streams forked from `stream`,
/// into `dest`. Items whose output buffer is too small for their layout are not
/// decoded. Returns once every lane is done (the tiles' error bytes are read back), with
/// `stream` ordered after all of them. **Never run on a GPU** (only against the stand-in
/// driver of `tests/fake_driver.rs`).
pub(crate) fn decode_batch(
    stream: &Arc<CudaStream>,
    r: &Runner<'_>,
    items: &[(&Plan, &[u8], &OutputLayout)],
    dest: Dest<'_, '_>,
) -> Vec<Packed> {
    let mut early: Vec<Option<Error>> = Vec::with_capacity(items.len());
    let mut kept = Vec::new();
    for (i, &(plan, _, layout)) in items.iter().enumerate() {
        let e = layout.check(plan, dest.len(i, layout)).err();
        if e.is_none() {
            kept.push(items[i]);
        }
        early.push(e);
    }
    let host_out = matches!(dest, Dest::Host(_));
    let per_chunk = r.budget / r.lanes as u64;
    let ranges = chunks_within(&kept, per_chunk, host_out.then_some(STAGE_BYTES));
    // One destination per chunk: for host output, the chunk's own run of buffers.
    let mut host_outs: Vec<&mut [u8]>;
    let dests: Vec<Dest<'_, '_>> = match dest {
        Dest::Host(outs) => {
            host_outs = outs
                .iter_mut()
                .zip(&early)
                .filter(|(_, e)| e.is_none())
                .map(|(o, _)| &mut **o)
                .collect();
            let mut rest = &mut host_outs[..];
            ranges
                .iter()
                .map(|range| {
                    let (head, tail) = std::mem::take(&mut rest).split_at_mut(range.len());
                    rest = tail;
                    Dest::Host(head)
                })
                .collect()
        }
        Dest::Device => ranges.iter().map(|_| Dest::Device).collect(),
        Dest::Pointer(p, n) => ranges.iter().map(|_| Dest::Pointer(p, n)).collect(),
    };
    let results = match lanes(stream, ranges.len().min(r.lanes)) {
        Ok(lanes) => pipeline(&lanes, r, &kept, &ranges, dests),
        Err(e) => kept.iter().map(|_| Err(clone_err(&e))).collect(),
    };
    interleave(early, results)
}

/// `stream` and `n - 1` streams forked from it (which start after its work so far).
fn lanes(stream: &Arc<CudaStream>, n: usize) -> Result<Vec<Arc<CudaStream>>> {
    let mut lanes = vec![stream.clone()];
    for _ in 1..n {
        lanes.push(
            stream
                .fork()
                .map_err(|e| cu_err("creating a lane's stream (cuStreamCreate)", e))?,
        );
    }
    Ok(lanes)
}

/// Runs the chunks round-robin on `lanes` (see the module docs) and returns every kept
/// item's result in order; the first lane (the batch's stream) is then ordered after the
/// others.
fn pipeline<'a, 'o, 'b>(
    lanes: &[Arc<CudaStream>],
    r: &Runner<'_>,
    kept: &[(&'a Plan, &'a [u8], &'a OutputLayout)],
    ranges: &[Range<usize>],
    dests: Vec<Dest<'o, 'b>>,
) -> Vec<Packed> {
    let mut stagings = r.stagings.take(lanes.len());
    let mut results: Vec<Vec<Packed>> = ranges.iter().map(|_| Vec::new()).collect();
    let mut running: Vec<Option<(usize, InFlight<'a, 'o, 'b>)>> =
        lanes.iter().map(|_| None).collect();
    for (ci, (range, dest)) in ranges.iter().zip(dests).enumerate() {
        let li = ci % lanes.len();
        // The host's share of the chunk, while the device runs the lanes queued before.
        let (laid_out, host) = LaidOut::new(&kept[range.clone()]);
        if let Some((cj, f)) = running[li].take() {
            results[cj] = f.finish(&lanes[li], &mut stagings[li]);
        }
        match laid_out.submit(host, &lanes[li], r, &mut stagings[li], dest) {
            Ok(f) => running[li] = Some((ci, f)),
            Err(failed) => results[ci] = failed,
        }
    }
    for (li, slot) in running.iter_mut().enumerate() {
        if let Some((cj, f)) = slot.take() {
            results[cj] = f.finish(&lanes[li], &mut stagings[li]);
        }
    }
    r.stagings.give_back(stagings);
    let mut results: Vec<Packed> = results.into_iter().flatten().collect();
    // Work the caller queues after the batch (a caller's stream joined to `stream`, a
    // frame's consumer) comes after every lane, not only the first.
    for lane in &lanes[1..] {
        if let Err(e) = lanes[0].join(lane) {
            let e = cu_err("ordering the batch's first stream after its lanes", e);
            results = results.into_iter().map(|_| Err(clone_err(&e))).collect();
            break;
        }
    }
    results
}

/// A chunk laid out on the host: each item's frame or error.
struct LaidOut<'a> {
    items: usize,
    slots: Vec<Result<usize>>,
    frames: Vec<FramePrep<'a>>,
    started: Instant,
}

/// A chunk queued on a lane: what its results need once the lane is done, and the device
/// buffers that must live until then.
struct InFlight<'a, 'o, 'b> {
    laid: LaidOut<'a>,
    host: HostTables,
    dest: Dest<'o, 'b>,
    /// Each frame's buffer for [`Dest::Device`].
    frames_out: Vec<FrameOut>,
    /// Where each frame is in the download buffer, for [`Dest::Host`].
    frame_at: Vec<usize>,
    _buffers: Vec<CudaSlice<u8>>,
}

/// What [`LaidOut::enqueue`] leaves for the chunk's [`InFlight`]: each frame's device
/// buffer (device output), each frame's place in the download buffer (host output), and
/// the device buffers the queued work uses.
type Queued = (Vec<FrameOut>, Vec<usize>, Vec<CudaSlice<u8>>);

/// Offsets of consecutive segments of `lens` bytes, each aligned to [`ALIGN`] and at
/// least that long (so no two share an address), and the total length.
fn segments<const N: usize>(lens: [usize; N]) -> ([usize; N], usize) {
    let mut at = 0;
    let offsets = lens.map(|len| {
        let o = at;
        at += len.max(1).next_multiple_of(ALIGN);
        o
    });
    (offsets, at)
}

/// `buf`'s device address, for kernels and raw copies queued on `stream`.
fn address(buf: &CudaSlice<u8>, stream: &CudaStream) -> u64 {
    buf.device_ptr(stream).0
}

impl<'a> LaidOut<'a> {
    /// The chunk of `items` laid out, and its merged tables (or why they could not be
    /// merged).
    fn new(items: &[(&'a Plan, &'a [u8], &'a OutputLayout)]) -> (LaidOut<'a>, Result<HostTables>) {
        let started = Instant::now();
        let prepared = prepare(items);
        let (slots, mut frames) = (prepared.slots, prepared.frames);
        let host = merge(&mut frames);
        let laid = LaidOut {
            items: items.len(),
            slots,
            frames,
            started,
        };
        (laid, host)
    }

    /// Every item of the chunk failing with `e`.
    fn fail(&self, e: &Error) -> Vec<Packed> {
        (0..self.items).map(|_| Err(clone_err(e))).collect()
    }

    /// Queues the chunk, with its merged tables `host`, on `lane`: upload, kernels,
    /// downloads. On failure the lane is waited for (no copy may still use its staging)
    /// and every item gets the error.
    fn submit<'o, 'b>(
        self,
        host: Result<HostTables>,
        lane: &Arc<CudaStream>,
        r: &Runner<'_>,
        staging: &mut Staging,
        dest: Dest<'o, 'b>,
    ) -> std::result::Result<InFlight<'a, 'o, 'b>, Vec<Packed>> {
        let host = match host {
            Ok(host) => host,
            Err(e) => return Err(self.fail(&e)),
        };
        match self.enqueue(lane, r, staging, &host, &dest) {
            Ok((frames_out, frame_at, buffers)) => Ok(InFlight {
                laid: self,
                host,
                dest,
                frames_out,
                frame_at,
                _buffers: buffers,
            }),
            Err(e) => {
                let _ = lane.synchronize();
                Err(self.fail(&e))
            }
        }
    }

    /// The copies and launches of [`LaidOut::submit`].
    fn enqueue(
        &self,
        lane: &Arc<CudaStream>,
        r: &Runner<'_>,
        staging: &mut Staging,
        host: &HostTables,
        dest: &Dest<'_, '_>,
    ) -> Result<Queued> {
        let ctx = lane.context();
        ctx.bind_to_thread()
            .map_err(|e| cu_err("binding the context (cuCtxSetCurrent)", e))?;
        // The streams and tables: one pinned buffer, one copy, one device buffer.
        let tables = [
            &host.table_bytes,
            &host.plane_bytes,
            &host.job_bytes,
            &host.recon_bytes,
            &host.med_bytes,
        ];
        let (at, in_len) = segments([
            host.stream_len,
            tables[0].len(),
            tables[1].len(),
            tables[2].len(),
            tables[3].len(),
            tables[4].len(),
        ]);
        let up = staging.up(ctx, in_len);
        {
            let bytes = up.bytes();
            // The streams lie one after another from the segment's start (`merge`).
            let (mut rest, mut pairs) = (&mut bytes[at[0]..at[0] + host.stream_len], vec![]);
            for f in &self.frames {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(f.stream.len());
                pairs.push((head, f.stream));
                rest = tail;
            }
            copy_all(pairs);
            for (t, &o) in tables.iter().zip(&at[1..]) {
                bytes[o..][..t.len()].copy_from_slice(t);
            }
            // The padding after each segment is zero, not a previous batch's bytes, so
            // that the device sees the same bytes whatever ran before.
            let ends = at[1..].iter().copied().chain([in_len]);
            let lens = [host.stream_len]
                .into_iter()
                .chain(tables.iter().map(|t| t.len()));
            for ((o, len), end) in at.iter().zip(lens).zip(ends) {
                bytes[o + len..end].fill(0);
            }
        }
        let input = r.pool.alloc_uninit(lane, in_len)?;
        let input_at = address(&input, lane);
        // SAFETY: `input` holds `in_len` bytes and the staging at least as many; the
        // staging is not touched again until this lane is synchronized.
        unsafe { result::memcpy_htod_async(input_at, &up.bytes()[..in_len], lane.cu_stream()) }
            .map_err(|e| cu_err("uploading the streams and tables (cuMemcpyHtoDAsync)", e))?;
        // Coefficients, scratch, echelons and error bytes: one zeroed buffer.
        let codes = host.owner.len();
        let (wk, work_len) = segments([host.coeffs * 4, host.scratch, host.arena * 4, codes]);
        let work = r.pool.alloc(lane, work_len)?;
        let work_at = address(&work, lane);
        let a = Addrs {
            stream: input_at + at[0] as u64,
            tables: input_at + at[1] as u64,
            planes: input_at + at[2] as u64,
            jobs: input_at + at[3] as u64,
            recons: input_at + at[4] as u64,
            meds: input_at + at[5] as u64,
            coeffs: work_at + wk[0] as u64,
            scratch: work_at + wk[1] as u64,
            echelons: work_at + wk[2] as u64,
            err: work_at + wk[3] as u64,
        };
        for &w in &host.waves {
            launch::launch_wave(lane, r.kernels, &a, w)?;
        }
        // The packs, into one buffer of all the frames (host output), a buffer per
        // frame (device output) or the caller's memory.
        let lens: Vec<usize> = self.frames.iter().map(|f| f.layout.len).collect();
        let mut frame_at = Vec::new();
        let mut out_len = 0;
        for &len in &lens {
            frame_at.push(out_len);
            out_len += len.max(1).next_multiple_of(ALIGN);
        }
        let mut frames_out: Vec<FrameOut> = Vec::with_capacity(self.frames.len());
        let mut buffers = vec![input, work];
        let mut out_at = 0;
        if let Dest::Host(_) = dest {
            let out = r.pool.alloc(lane, out_len)?;
            out_at = address(&out, lane);
            buffers.push(out);
        }
        for (fi, f) in self.frames.iter().enumerate() {
            match dest {
                Dest::Host(_) => {
                    launch::pack(lane, r.kernels, f, &a, out_at + frame_at[fi] as u64)?
                }
                Dest::Pointer(ptr, _) => launch::pack(lane, r.kernels, f, &a, *ptr)?,
                Dest::Device => {
                    let buf = r.pool.alloc(lane, f.layout.len)?;
                    launch::pack(lane, r.kernels, f, &a, address(&buf, lane))?;
                    frames_out.push(Some(buf));
                }
            }
        }
        if !matches!(dest, Dest::Device) {
            frames_out.resize_with(self.frames.len(), || None);
        }
        // Back: the error bytes, then (host output) the packed frames.
        let codes_len = codes.next_multiple_of(ALIGN);
        let host_len = if matches!(dest, Dest::Host(_)) {
            out_len
        } else {
            0
        };
        let down = staging.down(ctx, codes_len + host_len).bytes();
        // SAFETY: the segments copied lie inside `work` and `out`, and the staging holds
        // `codes_len + host_len` bytes; it is read only after the lane is synchronized.
        unsafe {
            if codes > 0 {
                result::memcpy_dtoh_async(&mut down[..codes], a.err, lane.cu_stream())
                    .map_err(|e| cu_err("reading tile errors (cuMemcpyDtoHAsync)", e))?;
            }
            if host_len > 0 {
                result::memcpy_dtoh_async(
                    &mut down[codes_len..][..host_len],
                    out_at,
                    lane.cu_stream(),
                )
                .map_err(|e| cu_err("reading the frames (cuMemcpyDtoHAsync)", e))?;
            }
        }
        let frame_at = frame_at.into_iter().map(|o| codes_len + o).collect();
        Ok((frames_out, frame_at, buffers))
    }
}

impl InFlight<'_, '_, '_> {
    /// Waits for `lane`, reads the chunk's error bytes and (host output) frames out of the
    /// staging, and names the first failing tile of each frame. A frame that failed leaves
    /// its host buffer as it was.
    fn finish(mut self, lane: &Arc<CudaStream>, staging: &mut Staging) -> Vec<Packed> {
        if let Err(e) = lane.synchronize() {
            return self
                .laid
                .fail(&cu_err("finishing a lane (cuStreamSynchronize)", e));
        }
        let down = staging.down_bytes();
        let frames = &self.laid.frames;
        let mut tile_errors = self
            .host
            .tile_errors(frames, &down[..self.host.owner.len()]);
        if let Dest::Host(outs) = &mut self.dest {
            // Frame `fi` goes to item `item_of[fi]`, in increasing order.
            let item_of = item_of(&self.laid.slots);
            let mut outs = outs.iter_mut().enumerate();
            let mut pairs = Vec::with_capacity(frames.len());
            for (fi, f) in frames.iter().enumerate() {
                let target = outs
                    .find(|(i, _)| *i == item_of[fi])
                    .map(|(_, o)| &mut **o)
                    .expect("a host buffer per frame");
                if tile_errors[fi].is_none() {
                    let n = target.len().min(f.layout.len);
                    pairs.push((&mut target[..n], &down[self.frame_at[fi]..][..n]));
                }
            }
            copy_all(pairs);
        }
        if trace() {
            eprintln!(
                "vc6-cuda: chunk of {} frames, {} tiles: {:.2} ms from layout to results",
                frames.len(),
                self.host.owner.len(),
                self.laid.started.elapsed().as_secs_f64() * 1e3
            );
        }
        let mut frames_out = std::mem::take(&mut self.frames_out);
        std::mem::take(&mut self.laid.slots)
            .into_iter()
            .map(|slot| {
                let fi = slot?;
                match tile_errors[fi].take() {
                    Some(e) => Err(e),
                    None => Ok(frames_out[fi].take()),
                }
            })
            .collect()
    }
}

/// `VC6_CUDA_TRACE=1` prints the time of every chunk to stderr.
pub(crate) fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var("VC6_CUDA_TRACE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small and large copies (the large ones on every core) land where they should.
    #[test]
    fn copies_land_in_place_on_one_core_or_many() {
        for each in [100, PARALLEL_COPY / 2] {
            let src: Vec<Vec<u8>> = (0..3u8)
                .map(|k| (0..each).map(|i| (i as u8).wrapping_mul(k + 1)).collect())
                .collect();
            let mut dst = vec![0u8; 3 * each + 7];
            let mut rest = &mut dst[..3 * each];
            let mut pairs = Vec::new();
            for s in &src {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(s.len());
                pairs.push((head, &s[..]));
                rest = tail;
            }
            copy_all(pairs);
            assert_eq!(dst[..3 * each], src.concat()[..]);
            assert!(dst[3 * each..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn segments_are_aligned_distinct_and_cover_their_lengths() {
        let (at, len) = segments([0, 1, 256, 257]);
        assert_eq!(at, [0, 256, 512, 768]);
        assert_eq!(len, 768 + 512);
        let info = DeviceInfo {
            ordinal: 0,
            name: "x".into(),
            compute_capability: (9, 0),
            multiprocessors: 1,
            global_mem: 80 << 30,
            driver_version: 12040,
        };
        assert_eq!(batch_budget(&info, None), 8 << 30);
        assert_eq!(batch_budget(&info, Some(5 << 20)), 5 << 20);
        assert_eq!(batch_budget(&info, Some(0)), 1);
        let small = DeviceInfo {
            global_mem: 512 << 20,
            ..info
        };
        assert_eq!(batch_budget(&small, None), 256 << 20);
    }
}
