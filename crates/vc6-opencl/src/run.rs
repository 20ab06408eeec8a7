//! Enqueuing a decode: buffers, kernel launches, read-back. All the `unsafe` of the crate
//! is here: OpenCL calls that the driver checks against buffer sizes we computed, and
//! non-blocking transfers whose host memory outlives the `finish` that ends them.
#![allow(unsafe_code)]

use crate::{cl_err, clone_err, DeviceInfo};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, CL_NON_BLOCKING};
use std::ptr;
use std::sync::Arc;
use vc6_core::gpu::{
    chunks, interleave, item_of, merge, prepare, FramePrep, HostTables, Prepared, Wave,
};
use vc6_core::{DecodeJob, Error, OutputLayout, Plan, Result};

/// Most buffers a worker keeps for the next decode (their bytes are bounded too).
const POOL_KEEP: usize = 1024;
/// Work-group sizes: a tile's lanes on one group of 32 (decode_body.h's GROUP; MED runs one
/// tile per work item); blocks run 1D over every plane of a wave; packing is 2D over the
/// output.
const TILE_GROUP: usize = 32;
const BLOCK_GROUP: usize = 128;
const PACK_GROUP: [usize; 2] = [32, 4];

/// A buffer of at least `len` bytes from the pool.
struct Pooled {
    buf: Buffer<u8>,
    cap: usize,
}

struct Kernels {
    decode_tiles: Kernel,
    med_tiles: Kernel,
    reconstruct: Kernel,
    pack_plane: Kernel,
    pack_ycocg: Kernel,
}

/// One command queue with its own kernel objects (kernel arguments are per object, so
/// concurrent decodes each need their own) and a pool of device buffers.
pub(crate) struct Worker {
    queue: CommandQueue,
    k: Kernels,
    pool: Vec<Pooled>,
    /// Bytes held in `pool`, and the most it may hold.
    pool_bytes: usize,
    pool_budget: usize,
}

/// A decoded frame kept in device memory, packed as its [`OutputLayout`] says.
pub struct DeviceFrame {
    buffer: Buffer<u8>,
    /// Width of the frame (plane 0's output) in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Where each plane is in the buffer; `layout.planes[0].row_stride` is the row pitch.
    pub layout: OutputLayout,
    queue: Arc<CommandQueue>,
}

impl std::fmt::Debug for DeviceFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl DeviceFrame {
    /// The device buffer holding the packed frame (`layout.len` bytes).
    pub fn buffer(&self) -> &Buffer<u8> {
        &self.buffer
    }

    /// Bytes from one row of plane 0 to the next.
    pub fn row_stride(&self) -> usize {
        self.layout.planes[0].row_stride
    }

    /// Copies the frame back to host memory.
    pub fn to_host(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.layout.len];
        // SAFETY: `out` has exactly the buffer's length and the read is blocking.
        unsafe {
            self.queue
                .enqueue_read_buffer(&self.buffer, CL_BLOCKING, 0, &mut out, &[])
                .map_err(|e| cl_err("reading a device frame", e))?;
        }
        Ok(out)
    }
}

/// The device side of one frame: its packed output.
struct FrameBufs {
    out: Pooled,
}

/// A batch in flight: buffers shared by every frame, and the host memory that
/// non-blocking transfers read from or write to until the queue is finished.
struct Shared {
    stream: Pooled,
    tables: Pooled,
    planes: Pooled,
    jobs: Pooled,
    recons: Pooled,
    meds: Pooled,
    coeffs: Pooled,
    scratch: Pooled,
    echelons: Pooled,
    err: Pooled,
    host: HostTables,
    codes: Vec<u8>,
}

/// Sets a kernel's arguments in order and enqueues it over `global` work items in
/// groups of `local` (both of the same dimension). Straight to the driver: no device
/// query per launch.
macro_rules! launch {
    ($queue:expr, $kernel:expr, $name:expr, [$($arg:expr),* $(,)?], $global:expr, $local:expr) => {{
        let kernel: &Kernel = $kernel;
        let mut index = 0u32;
        $(
            kernel.set_arg(index, $arg).map_err(|e| cl_err($name, e))?;
            index += 1;
        )*
        let _ = index;
        let global: &[usize] = &$global;
        let local: &[usize] = &$local;
        $queue
            .enqueue_nd_range_kernel(
                kernel.get(),
                global.len() as u32,
                ptr::null(),
                global.as_ptr(),
                local.as_ptr(),
                &[],
            )
            .map_err(|e| cl_err($name, e))?;
    }};
}

impl Worker {
    pub(crate) fn new(context: &Context, program: &Program) -> Result<Worker> {
        #[allow(deprecated)] // clCreateCommandQueue: the OpenCL 1.2 call, on every driver.
        let queue = CommandQueue::create_default(context, 0)
            .map_err(|e| cl_err("command queue creation", e))?;
        let kernel = |name| Kernel::create(program, name).map_err(|e| cl_err(name, e));
        Ok(Worker {
            queue,
            k: Kernels {
                decode_tiles: kernel("decode_tiles")?,
                med_tiles: kernel("med_tiles")?,
                reconstruct: kernel("reconstruct")?,
                pack_plane: kernel("pack_plane")?,
                pack_ycocg: kernel("pack_ycocg")?,
            },
            pool: Vec::new(),
            pool_bytes: 0,
            pool_budget: 0,
        })
    }

    fn take(&mut self, context: &Context, info: &DeviceInfo, len: usize) -> Result<Pooled> {
        let len = len.max(16);
        let best = (0..self.pool.len())
            .filter(|&i| self.pool[i].cap >= len && self.pool[i].cap <= len.saturating_mul(2))
            .min_by_key(|&i| self.pool[i].cap);
        self.pool_budget = info.batch_budget as usize;
        if let Some(i) = best {
            self.pool_bytes -= self.pool[i].cap;
            return Ok(self.pool.swap_remove(i));
        }
        if info.max_alloc != 0 && len as u64 > info.max_alloc {
            return Err(Error::LimitsExceeded(format!(
                "a {len}-byte device buffer is over the device's {}-byte allocation limit",
                info.max_alloc
            )));
        }
        // SAFETY: no host pointer; the size is checked against the device limit above.
        let buf = unsafe { Buffer::<u8>::create(context, CL_MEM_READ_WRITE, len, ptr::null_mut()) }
            .map_err(|e| cl_err(&format!("allocating {len} bytes of device memory"), e))?;
        Ok(Pooled { buf, cap: len })
    }

    fn give(&mut self, p: Pooled) {
        self.pool_bytes += p.cap;
        self.pool.push(p);
        while self.pool.len() > POOL_KEEP || self.pool_bytes > self.pool_budget {
            let smallest = (0..self.pool.len())
                .min_by_key(|&i| self.pool[i].cap)
                .unwrap_or(0);
            self.pool_bytes -= self.pool.swap_remove(smallest).cap;
        }
    }

    fn give_shared(&mut self, s: Shared) {
        for p in [
            s.stream, s.tables, s.planes, s.jobs, s.recons, s.meds, s.coeffs, s.scratch,
            s.echelons, s.err,
        ] {
            self.give(p);
        }
    }

    fn give_frame(&mut self, f: FrameBufs, keep_out: bool) -> Option<Pooled> {
        if keep_out {
            return Some(f.out);
        }
        self.give(f.out);
        None
    }

    fn write(&self, dst: &mut Pooled, offset: usize, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: `dst` holds at least `offset + data.len()` bytes (sized from the same
        // data), and the non-blocking write's host memory (the caller's stream, or a
        // vector in the batch's `Shared`) lives until the queue is finished.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut dst.buf, CL_NON_BLOCKING, offset, data, &[])
                .map_err(|e| cl_err("uploading", e))?;
        }
        Ok(())
    }

    /// Prepares, uploads and enqueues a batch; returns per item the index of its frame
    /// (or why it was left out), the frames, their buffers and the shared buffers.
    #[allow(clippy::type_complexity)]
    fn enqueue_batch<'a>(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        items: &[(&'a Plan, &'a [u8], &'a OutputLayout)],
    ) -> Result<(
        Vec<Result<usize>>,
        Vec<FramePrep<'a>>,
        Vec<FrameBufs>,
        Shared,
    )> {
        // Host side: check and lay out each frame; a bad frame is left out of the batch.
        let Prepared { slots, mut frames } = prepare(items);
        let host = merge(&mut frames)?;
        let mut sh = Shared {
            stream: self.take(context, info, host.stream_len)?,
            tables: self.take(context, info, host.table_bytes.len())?,
            planes: self.take(context, info, host.plane_bytes.len())?,
            jobs: self.take(context, info, host.job_bytes.len())?,
            recons: self.take(context, info, host.recon_bytes.len())?,
            meds: self.take(context, info, host.med_bytes.len())?,
            coeffs: self.take(context, info, host.coeffs * 4)?,
            scratch: self.take(context, info, host.scratch)?,
            echelons: self.take(context, info, host.arena * 4)?,
            err: self.take(context, info, host.owner.len())?,
            codes: vec![0u8; host.owner.len()],
            host: HostTables::default(),
        };
        let mut bufs = Vec::with_capacity(frames.len());
        for f in &frames {
            bufs.push(FrameBufs {
                out: self.take(context, info, f.layout.len)?,
            });
        }
        for f in &frames {
            self.write(&mut sh.stream, f.stream_base, f.stream)?;
        }
        self.write(&mut sh.tables, 0, &host.table_bytes)?;
        self.write(&mut sh.planes, 0, &host.plane_bytes)?;
        self.write(&mut sh.jobs, 0, &host.job_bytes)?;
        self.write(&mut sh.recons, 0, &host.recon_bytes)?;
        self.write(&mut sh.meds, 0, &host.med_bytes)?;
        // The vectors must outlive the non-blocking writes: they move into `sh`.
        sh.host = host;
        for w in 0..sh.host.waves.len() {
            self.enqueue_wave(&sh, sh.host.waves[w])?;
        }
        for (f, b) in frames.iter().zip(&bufs) {
            self.pack(f, b, &sh)?;
        }
        if !sh.codes.is_empty() {
            // SAFETY: `codes` has one byte per merged tile, the buffer's size; it lives in
            // `sh` until the queue is finished.
            unsafe {
                self.queue
                    .enqueue_read_buffer(&sh.err.buf, CL_NON_BLOCKING, 0, &mut sh.codes, &[])
                    .map_err(|e| cl_err("reading tile errors", e))?;
            }
        }
        Ok((slots, frames, bufs, sh))
    }

    /// One wave over every frame: entropy decoding of its tiles (one work-group each),
    /// then MED for lowest echelons and upsample-and-add for the others.
    fn enqueue_wave(&self, sh: &Shared, w: Wave) -> Result<()> {
        let q = &self.queue;
        // SAFETY (all launches): every table and buffer was sized by `merge` for every
        // entry; decode_tiles runs exactly one group per tile of the wave, reads the
        // stream only inside its payload (checked against the plan) and tables only
        // inside the ones `Layout` wrote, and writes only its tile's coefficients, its
        // scratch (whose size it checks) and its error byte; the other kernels
        // bounds-check their global id against the counts, read lower echelons at
        // clamped positions, and write only inside their tile or echelon, whose arena
        // regions are disjoint.
        unsafe {
            if w.tiles.1 > 0 {
                launch!(
                    q,
                    &self.k.decode_tiles,
                    "decode_tiles",
                    [
                        &sh.stream.buf.get(),
                        &sh.tables.buf.get(),
                        &sh.planes.buf.get(),
                        &sh.jobs.buf.get(),
                        &w.tiles.0,
                        &sh.coeffs.buf.get(),
                        &sh.echelons.buf.get(),
                        &sh.scratch.buf.get(),
                        &sh.err.buf.get()
                    ],
                    [w.tiles.1 as usize * TILE_GROUP],
                    [TILE_GROUP]
                );
            }
            if w.meds.1 > 0 {
                launch!(
                    q,
                    &self.k.med_tiles,
                    "med_tiles",
                    [
                        &sh.planes.buf.get(),
                        &sh.jobs.buf.get(),
                        &sh.meds.buf.get(),
                        &w.meds.0,
                        &w.meds.1,
                        &sh.coeffs.buf.get(),
                        &sh.echelons.buf.get()
                    ],
                    [round_up(w.meds.1 as usize, TILE_GROUP)],
                    [TILE_GROUP]
                );
            }
            if w.blocks > 0 {
                launch!(
                    q,
                    &self.k.reconstruct,
                    "reconstruct",
                    [
                        &sh.coeffs.buf.get(),
                        &sh.echelons.buf.get(),
                        &sh.recons.buf.get(),
                        &w.recons.0,
                        &w.recons.1,
                        &w.blocks
                    ],
                    [round_up(w.blocks as usize, BLOCK_GROUP)],
                    [BLOCK_GROUP]
                );
            }
        }
        Ok(())
    }

    /// Crops, converts and packs a frame's planes into its output buffer.
    fn pack(&self, f: &FramePrep<'_>, b: &FrameBufs, sh: &Shared) -> Result<()> {
        let (plan, layout) = (f.plan, f.layout);
        let q = &self.queue;
        let out = b.out.buf.get();
        let ech = sh.echelons.buf.get();
        let bytes = layout.sample.bytes() as u32;
        let at = |p: usize| f.ech[p][f.current[p]];
        let u =
            |v: usize| u32::try_from(v).map_err(|_| Error::Unsupported("output over 4 GiB".into()));
        let mut first = 0;
        if plan.header.colour_transform {
            let r = plan.output_rect(0);
            let w = plan.header.planes[0].size_at(plan.loq).0;
            let l = &layout.planes;
            let src = [at(0), at(1), at(2), 0];
            let offsets = [u(l[0].offset)?, u(l[1].offset)?, u(l[2].offset)?, 0];
            let strides = [
                u(l[0].pixel_stride)?,
                u(l[1].pixel_stride)?,
                u(l[2].pixel_stride)?,
                0,
            ];
            let rows = [
                u(l[0].row_stride)?,
                u(l[1].row_stride)?,
                u(l[2].row_stride)?,
                0,
            ];
            // SAFETY: `layout.check` proved every written byte lies inside the output
            // buffer; the window lies inside the three equal-sized echelons.
            unsafe {
                launch!(
                    q,
                    &self.k.pack_ycocg,
                    "pack_ycocg",
                    [
                        &ech,
                        &src,
                        &w,
                        &r.x0,
                        &r.y0,
                        &r.width(),
                        &r.height(),
                        &plan.output_range(0).max,
                        &plan.output_range(0).shift,
                        &out,
                        &offsets,
                        &strides,
                        &rows,
                        &bytes
                    ],
                    [
                        round_up(r.width() as usize, PACK_GROUP[0]),
                        round_up(r.height() as usize, PACK_GROUP[1])
                    ],
                    PACK_GROUP
                );
            }
            first = 3;
        }
        for p in first..plan.header.planes.len() {
            let r = plan.output_rect(p);
            let w = plan.header.planes[p].size_at(plan.loq).0;
            let l = layout.planes[p];
            let (offset, ps, rs) = (u(l.offset)?, u(l.pixel_stride)?, u(l.row_stride)?);
            let src = at(p);
            // SAFETY: as for pack_ycocg.
            unsafe {
                launch!(
                    q,
                    &self.k.pack_plane,
                    "pack_plane",
                    [
                        &ech,
                        &src,
                        &w,
                        &r.x0,
                        &r.y0,
                        &r.width(),
                        &r.height(),
                        &plan.output_range(p).max,
                        &plan.output_range(p).shift,
                        &out,
                        &offset,
                        &ps,
                        &rs,
                        &bytes
                    ],
                    [
                        round_up(r.width() as usize, PACK_GROUP[0]),
                        round_up(r.height() as usize, PACK_GROUP[1])
                    ],
                    PACK_GROUP
                );
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        self.queue
            .finish()
            .map_err(|e| cl_err("finishing the queue", e))
    }

    /// Runs a batch in chunks that fit the device's batch budget (see
    /// `DeviceInfo::batch_budget`), one after another; the callbacks are as for
    /// [`Worker::run_chunk`], with `item` indexing `items`.
    fn run_batch<T>(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        items: &[(&Plan, &[u8], &OutputLayout)],
        mut read_back: impl FnMut(&mut Self, usize, &FrameBufs) -> Result<()>,
        mut deliver: impl FnMut(&mut Self, usize, FrameBufs) -> Result<T>,
    ) -> Vec<Result<T>> {
        let budget = info.batch_budget / 2;
        let mut results = Vec::with_capacity(items.len());
        for chunk in chunks(items, budget) {
            let start = chunk.start;
            results.extend(self.run_chunk(
                context,
                info,
                &items[chunk],
                |w, i, b| read_back(w, start + i, b),
                |w, i, b| deliver(w, start + i, b),
            ));
        }
        results
    }

    /// Runs one chunk of a batch. `read_back(item, buffers)` may enqueue a read of a frame before the
    /// queue is finished; `deliver(item, buffers)` gets each frame whose decode
    /// succeeded. `item` indexes `items`.
    fn run_chunk<T>(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        items: &[(&Plan, &[u8], &OutputLayout)],
        mut read_back: impl FnMut(&mut Self, usize, &FrameBufs) -> Result<()>,
        mut deliver: impl FnMut(&mut Self, usize, FrameBufs) -> Result<T>,
    ) -> Vec<Result<T>> {
        let start = std::time::Instant::now();
        let (slots, frames, bufs, shared) = match self.enqueue_batch(context, info, items) {
            Ok(v) => v,
            Err(e) => return items.iter().map(|_| Err(clone_err(&e))).collect(),
        };
        let enqueued = start.elapsed();
        let item_of = item_of(&slots);
        let mut read_errors: Vec<Option<Error>> = Vec::with_capacity(bufs.len());
        let tiles = shared.host.owner.len();
        for (fi, b) in bufs.iter().enumerate() {
            read_errors.push(read_back(self, item_of[fi], b).err());
        }
        let finished = self.finish();
        if trace() {
            eprintln!(
                "vc6-opencl: batch of {} frames, {} tiles: host preparation and enqueue {:.2} ms, device {:.2} ms",
                items.len(),
                tiles,
                enqueued.as_secs_f64() * 1e3,
                (start.elapsed() - enqueued).as_secs_f64() * 1e3
            );
        }
        let mut tile_errors = shared.host.tile_errors(&frames, &shared.codes);
        let mut bufs: Vec<Option<FrameBufs>> = bufs.into_iter().map(Some).collect();
        let results = slots
            .into_iter()
            .map(|slot| {
                let fi = slot?;
                let b = bufs[fi].take().expect("each frame once");
                let failed = finished
                    .as_ref()
                    .err()
                    .map(clone_err)
                    .or(read_errors[fi].take())
                    .or(tile_errors[fi].take());
                match failed {
                    Some(e) => {
                        self.give_frame(b, false);
                        Err(e)
                    }
                    None => deliver(self, item_of[fi], b),
                }
            })
            .collect();
        self.give_shared(shared);
        results
    }

    /// Decodes every job into host memory, submitting all of them before waiting once.
    pub(crate) fn decode_batch(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        jobs: Vec<DecodeJob<'_>>,
    ) -> Vec<Result<()>> {
        let mut outs = Vec::with_capacity(jobs.len());
        let mut items = Vec::with_capacity(jobs.len());
        let mut early: Vec<Option<Error>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            early.push(job.layout.check(job.plan, job.out.len()).err());
            items.push((job.plan, job.stream, job.layout));
            outs.push(job.out);
        }
        // Frames whose output buffer is wrong are not decoded at all.
        let keep: Vec<usize> = (0..items.len()).filter(|&i| early[i].is_none()).collect();
        let batch: Vec<_> = keep.iter().map(|&i| items[i]).collect();
        let mut targets: Vec<Option<&mut [u8]>> = Vec::with_capacity(keep.len());
        let mut rest: Vec<Option<&mut [u8]>> = outs.into_iter().map(Some).collect();
        for &i in &keep {
            targets.push(rest[i].take());
        }
        let results = self.run_batch(
            context,
            info,
            &batch,
            |w, item, b| {
                let target = targets[item].as_deref_mut().expect("output buffer");
                // SAFETY: the target is exactly `layout.len` bytes (checked), the
                // buffer's size, and stays borrowed until after `finish`.
                unsafe {
                    w.queue
                        .enqueue_read_buffer(&b.out.buf, CL_NON_BLOCKING, 0, target, &[])
                        .map_err(|e| cl_err("reading the frame", e))?;
                }
                Ok(())
            },
            |w, _, b| {
                w.give_frame(b, false);
                Ok(())
            },
        );
        interleave(early, results)
    }

    /// Decodes every job into a device buffer of its own, submitting all before waiting
    /// once; the frames share one command queue for later reads.
    pub(crate) fn decode_batch_to_device(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        jobs: &[(&Plan, &[u8], &OutputLayout)],
    ) -> Vec<Result<DeviceFrame>> {
        #[allow(deprecated)]
        let queue = CommandQueue::create_default(context, 0)
            .map(Arc::new)
            .map_err(|e| cl_err("command queue creation", e));
        self.run_batch(
            context,
            info,
            jobs,
            |_, _, _| Ok(()),
            |w, item, b| {
                let queue = queue.as_ref().map_err(clone_err)?.clone();
                let out = w.give_frame(b, true).expect("kept output");
                let (plan, _, layout) = jobs[item];
                let (width, height) = plan.output_size(0);
                Ok(DeviceFrame {
                    buffer: out.buf,
                    width,
                    height,
                    layout: layout.clone(),
                    queue,
                })
            },
        )
    }
}

/// `VC6_OPENCL_TRACE=1` prints the host and device time of every batch to stderr.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE
        .get_or_init(|| std::env::var("VC6_OPENCL_TRACE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m).max(1) * m
}
