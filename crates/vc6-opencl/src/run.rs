//! Enqueuing a decode: buffers, kernel launches, read-back. All the `unsafe` of the crate
//! is here: OpenCL calls that the driver checks against buffer sizes we computed, and
//! non-blocking transfers whose host memory outlives the `finish` that ends them.
#![allow(unsafe_code)]

use crate::job::Layout;
use crate::{cl_err, clone_err, DeviceInfo};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::{ExecuteKernel, Kernel};
use opencl3::memory::{Buffer, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, CL_NON_BLOCKING};
use std::ptr;
use std::sync::Arc;
use vc6_core::{DecodeJob, Error, OutputLayout, Plan, Result};

/// Most buffers a worker keeps for the next decode (their bytes are bounded too).
const POOL_KEEP: usize = 1024;
/// Work-group shapes: tiles are serial work, blocks and pixels 2D.
const TILE_GROUP: usize = 32;
const BLOCK_GROUP: [usize; 2] = [32, 4];

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

/// One frame of a batch, prepared on the host: its layout and where its data sits in the
/// batch's shared buffers.
struct FramePrep<'a> {
    plan: &'a Plan,
    stream: &'a [u8],
    layout: &'a OutputLayout,
    lay: Layout,
    stream_base: usize,
    /// Per section: the merged index of its first tile and its first coefficient in the
    /// wave's coefficient buffer.
    tile_base: Vec<u32>,
    coeff_base: Vec<u32>,
}

/// The device side of one frame: echelons (two per plane, ping-pong) and the output.
struct FrameBufs {
    echelons: Vec<[Pooled; 2]>,
    current: Vec<usize>,
    out: Pooled,
}

/// A batch in flight: buffers shared by every frame, and the host memory that
/// non-blocking transfers read from or write to until the queue is finished.
struct Shared {
    stream: Pooled,
    tables: Pooled,
    jobs: Pooled,
    coeffs: Pooled,
    scratch: Pooled,
    err: Pooled,
    table_bytes: Vec<u8>,
    job_bytes: Vec<u8>,
    codes: Vec<u8>,
    /// `(frame, tile index in the frame's layout)` of each merged tile.
    owner: Vec<(usize, usize)>,
}

/// What `merge` computes for a batch.
struct Shared0 {
    table_bytes: Vec<u8>,
    job_bytes: Vec<u8>,
    owner: Vec<(usize, usize)>,
    /// Per wave: the first merged tile and the tile count.
    launches: Vec<(u32, u32)>,
    stream_len: usize,
    /// Scratch entries per tile (the largest tile's coefficient count).
    side2: usize,
}

fn sum_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "the batch's {what} ({v}) is beyond the OpenCL backend's 32-bit offsets; decode fewer frames at once"
        ))
    })
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
        for p in [s.stream, s.tables, s.jobs, s.coeffs, s.scratch, s.err] {
            self.give(p);
        }
    }

    fn give_frame(&mut self, f: FrameBufs, keep_out: bool) -> Option<Pooled> {
        for [a, b] in f.echelons {
            self.give(a);
            self.give(b);
        }
        if keep_out {
            Some(f.out)
        } else {
            self.give(f.out);
            None
        }
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

    /// Lays the frames out together: sections are decoded in waves (wave `w` is every
    /// frame's section `w`, coarsest first), each wave's tiles of every frame in one
    /// `decode_tiles` launch, so a batch has as many tile launches as its deepest frame
    /// has sections, and all its tiles in flight at once.
    fn merge(frames: &mut [FramePrep<'_>]) -> Result<(Shared0, usize, usize)> {
        let mut stream_len = 0usize;
        let mut table_bytes = Vec::new();
        for f in frames.iter_mut() {
            f.stream_base = stream_len;
            stream_len += f.stream.len();
        }
        let waves = frames
            .iter()
            .map(|f| f.lay.sections.len())
            .max()
            .unwrap_or(0);
        let side2 = frames
            .iter()
            .map(|f| 1usize << (2 * f.plan.header.tile_log2))
            .max()
            .unwrap_or(1);
        let mut job_bytes = Vec::new();
        let mut owner = Vec::new();
        let mut launches = Vec::with_capacity(waves);
        let (mut max_coeffs, mut max_tiles) = (0usize, 0usize);
        let mut table_base = vec![0u32; frames.len()];
        let mut entries = 0usize;
        for (fi, f) in frames.iter().enumerate() {
            table_base[fi] = sum_u32(entries, "table entries")?;
            entries += f.lay.tables.len();
            f.lay
                .tables
                .iter()
                .for_each(|e| table_bytes.extend_from_slice(&e.to_le_bytes()));
        }
        for w in 0..waves {
            let first = owner.len();
            let mut coeffs = 0usize;
            for (fi, f) in frames.iter_mut().enumerate() {
                let Some(sec) = f.lay.sections.get(w) else {
                    continue;
                };
                f.tile_base.push(sum_u32(owner.len(), "tile count")?);
                f.coeff_base.push(sum_u32(coeffs, "coefficient count")?);
                let stream_base = sum_u32(f.stream_base, "stream bytes")?;
                let cbase = sum_u32(coeffs, "coefficient count")?;
                coeffs += sec.coeffs;
                let range = sec.first_job as usize..(sec.first_job + sec.job_count) as usize;
                for t in range {
                    let mut words = f.lay.jobs[t];
                    words[0] += stream_base;
                    words[1] += stream_base;
                    words[2] += cbase;
                    for slot in &mut words[11..23] {
                        if *slot != u32::MAX {
                            *slot += table_base[fi];
                        }
                    }
                    words
                        .iter()
                        .for_each(|v| job_bytes.extend_from_slice(&v.to_le_bytes()));
                    owner.push((fi, t));
                }
            }
            sum_u32(coeffs, "coefficient count")?;
            max_coeffs = max_coeffs.max(coeffs);
            max_tiles = max_tiles.max(owner.len() - first);
            launches.push((
                sum_u32(first, "tile count")?,
                sum_u32(owner.len() - first, "tile count")?,
            ));
        }
        sum_u32(stream_len, "stream bytes")?;
        Ok((
            Shared0 {
                table_bytes,
                job_bytes,
                owner,
                launches,
                stream_len,
                side2,
            },
            max_coeffs,
            max_tiles,
        ))
    }

    /// Prepares, uploads and enqueues a batch; returns per frame its buffers (or why it
    /// was left out) and the batch's shared buffers.
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
        let mut slots = Vec::with_capacity(items.len());
        let mut frames = Vec::new();
        let preps = vc6_core::parallel::map(0, items.to_vec(), |(plan, stream, layout)| {
            layout
                .check(plan, layout.len)
                .and_then(|()| plan.check_stream(stream))
                .and_then(|()| {
                    let needed = plan.header.required_size(plan.loq)? as usize;
                    Ok(FramePrep {
                        plan,
                        // Tile payloads end within `needed` (the plan checked every offset).
                        stream: &stream[..needed],
                        layout,
                        lay: Layout::new(plan)?,
                        stream_base: 0,
                        tile_base: Vec::new(),
                        coeff_base: Vec::new(),
                    })
                })
        });
        for prep in preps {
            slots.push(prep.map(|p| {
                frames.push(p);
                frames.len() - 1
            }));
        }
        let (s0, max_coeffs, max_tiles) = Self::merge(&mut frames)?;
        let mut shared = Shared {
            stream: self.take(context, info, s0.stream_len)?,
            tables: self.take(context, info, s0.table_bytes.len())?,
            jobs: self.take(context, info, s0.job_bytes.len())?,
            coeffs: self.take(context, info, max_coeffs * 4)?,
            scratch: self.take(context, info, max_tiles * s0.side2 * 2)?,
            err: self.take(context, info, s0.owner.len())?,
            codes: vec![0u8; s0.owner.len()],
            table_bytes: s0.table_bytes,
            job_bytes: s0.job_bytes,
            owner: s0.owner,
        };
        let mut bufs = Vec::with_capacity(frames.len());
        for f in &frames {
            let mut echelons = Vec::with_capacity(f.lay.echelon_len.len());
            for &n in &f.lay.echelon_len {
                echelons.push([
                    self.take(context, info, n * 4)?,
                    self.take(context, info, n * 4)?,
                ]);
            }
            bufs.push(FrameBufs {
                current: vec![0; echelons.len()],
                echelons,
                out: self.take(context, info, f.layout.len)?,
            });
        }
        for f in &frames {
            self.write(&mut shared.stream, f.stream_base, f.stream)?;
        }
        let (tb, jb) = (
            std::mem::take(&mut shared.table_bytes),
            std::mem::take(&mut shared.job_bytes),
        );
        self.write(&mut shared.tables, 0, &tb)?;
        self.write(&mut shared.jobs, 0, &jb)?;
        (shared.table_bytes, shared.job_bytes) = (tb, jb);
        let stride = sum_u32(s0.side2, "scratch stride")?;
        for (w, &(first, count)) in s0.launches.iter().enumerate() {
            self.decode_tiles(&shared, first, count, stride)?;
            for (f, b) in frames.iter().zip(bufs.iter_mut()) {
                if w < f.lay.sections.len() {
                    self.reconstruct_section(f, w, b, &shared)?;
                }
            }
        }
        for (f, b) in frames.iter().zip(&bufs) {
            self.pack(f.plan, f.layout, b)?;
        }
        if !shared.codes.is_empty() {
            // SAFETY: `codes` has one byte per merged tile, the buffer's size; it lives in
            // `shared` until the queue is finished.
            unsafe {
                self.queue
                    .enqueue_read_buffer(
                        &shared.err.buf,
                        CL_NON_BLOCKING,
                        0,
                        &mut shared.codes,
                        &[],
                    )
                    .map_err(|e| cl_err("reading tile errors", e))?;
            }
        }
        Ok((slots, frames, bufs, shared))
    }

    fn decode_tiles(&self, sh: &Shared, first: u32, count: u32, stride: u32) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        // SAFETY: the job table, coefficient, scratch and error buffers were sized by
        // `merge` for every tile of every wave; the kernel bounds-checks its global id.
        unsafe {
            ExecuteKernel::new(&self.k.decode_tiles)
                .set_arg(&sh.stream.buf)
                .set_arg(&sh.tables.buf)
                .set_arg(&sh.jobs.buf)
                .set_arg(&first)
                .set_arg(&count)
                .set_arg(&sh.coeffs.buf)
                .set_arg(&sh.scratch.buf)
                .set_arg(&stride)
                .set_arg(&sh.err.buf)
                .set_global_work_size(round_up(count as usize, TILE_GROUP))
                .set_local_work_size(TILE_GROUP)
                .enqueue_nd_range(&self.queue)
                .map_err(|e| cl_err("decode_tiles", e))?;
        }
        Ok(())
    }

    /// The lowest echelon's MED, or upsample-and-add, for every plane of section `w`.
    fn reconstruct_section(
        &self,
        f: &FramePrep<'_>,
        w: usize,
        b: &mut FrameBufs,
        sh: &Shared,
    ) -> Result<()> {
        let q = &self.queue;
        let plan = f.plan;
        let taps = plan.header.upsampler.taps();
        let nearest = u32::from(plan.header.upsampler == vc6_core::Upsampler::Nearest);
        let sec = &f.lay.sections[w];
        for p in &sec.planes {
            let cur = b.current[p.plane];
            let [e0, e1] = &b.echelons[p.plane];
            let (this, other) = if cur == 0 { (e0, e1) } else { (e1, e0) };
            let (lo, hi) = p.range;
            if p.base {
                if p.job_count == 0 {
                    continue;
                }
                let first = f.tile_base[w] + (p.first_job - sec.first_job);
                // SAFETY: tiles lie inside the echelon (`size`), which fits the plane's
                // echelon buffer (sized for its largest echelon).
                unsafe {
                    ExecuteKernel::new(&self.k.med_tiles)
                        .set_arg(&sh.jobs.buf)
                        .set_arg(&first)
                        .set_arg(&p.job_count)
                        .set_arg(&sh.coeffs.buf)
                        .set_arg(&this.buf)
                        .set_arg(&p.size.0)
                        .set_arg(&lo)
                        .set_arg(&hi)
                        .set_global_work_size(round_up(p.job_count as usize, TILE_GROUP))
                        .set_local_work_size(TILE_GROUP)
                        .enqueue_nd_range(q)
                        .map_err(|e| cl_err("med_tiles", e))?;
                }
                continue;
            }
            let r = p.blocks;
            if !r.is_empty() {
                let cbase = f.coeff_base[w] + p.cbase;
                // SAFETY: blocks lie inside the lower echelon, whose samples are read at
                // clamped positions; writes stay inside the upper echelon.
                unsafe {
                    ExecuteKernel::new(&self.k.reconstruct)
                        .set_arg(&sh.coeffs.buf)
                        .set_arg(&cbase)
                        .set_arg(&this.buf)
                        .set_arg(&p.lower.0)
                        .set_arg(&p.lower.1)
                        .set_arg(&other.buf)
                        .set_arg(&p.size.0)
                        .set_arg(&p.size.1)
                        .set_arg(&r.x0)
                        .set_arg(&r.y0)
                        .set_arg(&r.width())
                        .set_arg(&r.height())
                        .set_arg(&lo)
                        .set_arg(&hi)
                        .set_arg(&taps)
                        .set_arg(&nearest)
                        .set_global_work_sizes(&[
                            round_up(r.width() as usize, BLOCK_GROUP[0]),
                            round_up(r.height() as usize, BLOCK_GROUP[1]),
                        ])
                        .set_local_work_sizes(&BLOCK_GROUP)
                        .enqueue_nd_range(q)
                        .map_err(|e| cl_err("reconstruct", e))?;
                }
            }
            b.current[p.plane] = 1 - cur;
        }
        Ok(())
    }

    fn pack(&self, plan: &Plan, layout: &OutputLayout, f: &FrameBufs) -> Result<()> {
        let q = &self.queue;
        let out = &f.out.buf;
        let bytes = layout.sample.bytes() as u32;
        let echelon = |p: usize| &f.echelons[p][f.current[p]].buf;
        let u =
            |v: usize| u32::try_from(v).map_err(|_| Error::Unsupported("output over 4 GiB".into()));
        let mut first = 0;
        if plan.header.colour_transform {
            let r = plan.output_rect(0);
            let w = plan.header.planes[0].size_at(plan.loq).0;
            let l = &layout.planes;
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
                ExecuteKernel::new(&self.k.pack_ycocg)
                    .set_arg(echelon(0))
                    .set_arg(echelon(1))
                    .set_arg(echelon(2))
                    .set_arg(&w)
                    .set_arg(&r.x0)
                    .set_arg(&r.y0)
                    .set_arg(&r.width())
                    .set_arg(&r.height())
                    .set_arg(&plan.output_max(0))
                    .set_arg(out)
                    .set_arg(&offsets)
                    .set_arg(&strides)
                    .set_arg(&rows)
                    .set_arg(&bytes)
                    .set_global_work_sizes(&[
                        round_up(r.width() as usize, BLOCK_GROUP[0]),
                        round_up(r.height() as usize, BLOCK_GROUP[1]),
                    ])
                    .set_local_work_sizes(&BLOCK_GROUP)
                    .enqueue_nd_range(q)
                    .map_err(|e| cl_err("pack_ycocg", e))?;
            }
            first = 3;
        }
        for p in first..plan.header.planes.len() {
            let r = plan.output_rect(p);
            let w = plan.header.planes[p].size_at(plan.loq).0;
            let l = layout.planes[p];
            let (offset, ps, rs) = (u(l.offset)?, u(l.pixel_stride)?, u(l.row_stride)?);
            // SAFETY: as for pack_ycocg.
            unsafe {
                ExecuteKernel::new(&self.k.pack_plane)
                    .set_arg(echelon(p))
                    .set_arg(&w)
                    .set_arg(&r.x0)
                    .set_arg(&r.y0)
                    .set_arg(&r.width())
                    .set_arg(&r.height())
                    .set_arg(&plan.output_max(p))
                    .set_arg(out)
                    .set_arg(&offset)
                    .set_arg(&ps)
                    .set_arg(&rs)
                    .set_arg(&bytes)
                    .set_global_work_sizes(&[
                        round_up(r.width() as usize, BLOCK_GROUP[0]),
                        round_up(r.height() as usize, BLOCK_GROUP[1]),
                    ])
                    .set_local_work_sizes(&BLOCK_GROUP)
                    .enqueue_nd_range(q)
                    .map_err(|e| cl_err("pack_plane", e))?;
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
        let mut start = 0;
        while start < items.len() {
            let mut end = start + 1;
            let mut bytes = frame_bytes(items[start]);
            while end < items.len() && bytes + frame_bytes(items[end]) <= budget {
                bytes += frame_bytes(items[end]);
                end += 1;
            }
            results.extend(self.run_chunk(
                context,
                info,
                &items[start..end],
                |w, i, b| read_back(w, start + i, b),
                |w, i, b| deliver(w, start + i, b),
            ));
            start = end;
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
        let (slots, _frames, bufs, shared) = match self.enqueue_batch(context, info, items) {
            Ok(v) => v,
            Err(e) => return items.iter().map(|_| Err(clone_err(&e))).collect(),
        };
        let enqueued = start.elapsed();
        let item_of: Vec<usize> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().ok().map(|_| i))
            .collect();
        let mut read_errors: Vec<Option<Error>> = Vec::with_capacity(bufs.len());
        for (fi, b) in bufs.iter().enumerate() {
            read_errors.push(read_back(self, item_of[fi], b).err());
        }
        let finished = self.finish();
        if trace() {
            eprintln!(
                "vc6-opencl: batch of {} frames, {} tiles: host preparation and enqueue {:.2} ms, device {:.2} ms",
                items.len(),
                shared.owner.len(),
                enqueued.as_secs_f64() * 1e3,
                (start.elapsed() - enqueued).as_secs_f64() * 1e3
            );
        }
        // The first failing tile of each frame, in wave order.
        let mut tile_errors: Vec<Option<Error>> = (0..bufs.len()).map(|_| None).collect();
        for (m, &code) in shared.codes.iter().enumerate() {
            let (fi, t) = shared.owner[m];
            if code != 0 && tile_errors[fi].is_none() {
                tile_errors[fi] = _frames[fi].lay.tile_error(t, code).err();
            }
        }
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
        let mut results = results.into_iter();
        early
            .into_iter()
            .map(|e| match e {
                Some(e) => Err(e),
                None => results.next().expect("one result per decoded frame"),
            })
            .collect()
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

/// Device memory a frame takes while it decodes, roughly: its stream and output, two
/// `i32` echelons per plane, and its share of the coefficient buffer.
fn frame_bytes(item: (&Plan, &[u8], &OutputLayout)) -> u64 {
    let (plan, _, layout) = item;
    let samples: u64 = plan
        .header
        .planes
        .iter()
        .map(|d| {
            let (w, h) = d.size_at(plan.loq.min(d.echelons - 1));
            u64::from(w) * u64::from(h)
        })
        .sum();
    plan.header.required_size(plan.loq).unwrap_or(0) + layout.len as u64 + samples * 12
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
