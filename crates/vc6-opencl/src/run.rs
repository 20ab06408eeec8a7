//! Enqueuing a decode: buffers, kernel launches, read-back. All the `unsafe` of the crate
//! is here: OpenCL calls that the driver checks against buffer sizes we computed, and
//! non-blocking transfers whose host memory outlives the `finish` that ends them.
#![allow(unsafe_code)]

use crate::job::{offset_u32, Layout, J_TABLES};
use crate::{cl_err, clone_err, DeviceInfo};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, CL_NON_BLOCKING};
use std::ptr;
use std::sync::Arc;
use vc6_core::{DecodeJob, Error, OutputLayout, Plan, Result};

/// Most buffers a worker keeps for the next decode (their bytes are bounded too).
const POOL_KEEP: usize = 1024;
/// Work-group sizes: tiles are serial work; blocks run 1D over every plane of a wave;
/// packing is 2D over the output.
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

/// One frame of a batch, prepared on the host: its layout and where its data sits in the
/// batch's shared buffers.
struct FramePrep<'a> {
    plan: &'a Plan,
    stream: &'a [u8],
    layout: &'a OutputLayout,
    lay: Layout,
    stream_base: usize,
    /// Per plane: the offsets (in samples) of its two echelon buffers in the batch's
    /// echelon arena, and which of them holds the plane's last echelon after the batch.
    ech: Vec<[u32; 2]>,
    current: Vec<usize>,
}

/// The device side of one frame: its packed output.
struct FrameBufs {
    out: Pooled,
}

/// Words per entry of the reconstruct and MED job tables (see decode.cl).
const RECON_WORDS: usize = 20;
const MED_WORDS: usize = 8;

/// One wave's launches: the MED jobs and reconstruct jobs of every frame's section `w`,
/// each as (first entry, entry count).
#[derive(Debug, Clone, Copy, Default)]
struct Wave {
    meds: (u32, u32),
    recons: (u32, u32),
    /// Blocks over all of the wave's reconstruct jobs (the launch size).
    blocks: u32,
}

/// A batch in flight: buffers shared by every frame, and the host memory that
/// non-blocking transfers read from or write to until the queue is finished.
struct Shared {
    stream: Pooled,
    tables: Pooled,
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

/// What `merge` lays out for a batch, on the host.
#[derive(Default)]
struct HostTables {
    table_bytes: Vec<u8>,
    job_bytes: Vec<u8>,
    recon_bytes: Vec<u8>,
    med_bytes: Vec<u8>,
    /// `(frame, tile index in the frame's layout)` of each merged tile.
    owner: Vec<(usize, usize)>,
    waves: Vec<Wave>,
    stream_len: usize,
    /// Scratch entries per tile (the largest tile's coefficient count).
    side2: usize,
    /// Coefficients of every section of every frame, and the echelon arena's length
    /// (in elements).
    coeffs: usize,
    arena: usize,
}

fn sum_u32(v: usize, what: &str) -> Result<u32> {
    offset_u32(
        v,
        &format!("the batch's {what}"),
        "decode fewer frames at once",
    )
}

fn put_words(out: &mut Vec<u8>, words: &[u32]) {
    words
        .iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
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
            s.stream, s.tables, s.jobs, s.recons, s.meds, s.coeffs, s.scratch, s.echelons, s.err,
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

    /// Lays the frames out together. Entropy decoding needs nothing but the stream, so
    /// every tile of every section of every frame is decoded by one `decode_tiles`
    /// launch: the batch waits for one tile's serial decode, not one per section. The
    /// reconstruction then runs in waves: wave `w` is every frame's section `w` (coarsest
    /// first), one `med_tiles` and one `reconstruct` launch over all frames, so a batch
    /// costs as many launches as its deepest frame has sections (plus its packs).
    /// Coefficients of all sections stay in one buffer; echelons live in one arena, two
    /// buffers per plane.
    fn merge(frames: &mut [FramePrep<'_>]) -> Result<HostTables> {
        let mut t = HostTables::default();
        let mut table_base = Vec::with_capacity(frames.len());
        let mut entries = 0usize;
        for f in frames.iter_mut() {
            f.stream_base = t.stream_len;
            t.stream_len += f.stream.len();
            table_base.push(sum_u32(entries, "table entries")?);
            entries += f.lay.tables.len();
            f.lay
                .tables
                .iter()
                .for_each(|e| t.table_bytes.extend_from_slice(&e.to_le_bytes()));
            for &n in &f.lay.echelon_len {
                let a = sum_u32(t.arena, "echelon samples")?;
                let b = sum_u32(t.arena + n, "echelon samples")?;
                f.ech.push([a, b]);
                f.current.push(0);
                t.arena += 2 * n;
            }
            t.side2 = t.side2.max(1 << (2 * f.plan.header.tile_log2));
        }
        sum_u32(t.arena, "echelon samples")?;
        sum_u32(t.stream_len, "stream bytes")?;
        let waves = frames
            .iter()
            .map(|f| f.lay.sections.len())
            .max()
            .unwrap_or(0);
        let (mut recon_count, mut med_count) = (0usize, 0usize);
        let mut coeffs = 0usize;
        for w in 0..waves {
            let mut wave = Wave::default();
            let (recon_first, med_first) = (recon_count, med_count);
            let mut blocks = 0usize;
            for (fi, f) in frames.iter_mut().enumerate() {
                let Some(sec) = f.lay.sections.get(w) else {
                    continue;
                };
                let stream_base = sum_u32(f.stream_base, "stream bytes")?;
                let cbase = sum_u32(coeffs, "coefficient count")?;
                let tile_base = t.owner.len();
                coeffs += sec.coeffs;
                let range = sec.first_job as usize..(sec.first_job + sec.job_count) as usize;
                for tile in range {
                    let mut words = f.lay.jobs[tile];
                    words[0] += stream_base;
                    words[1] += stream_base;
                    words[2] += cbase;
                    for slot in &mut words[J_TABLES..J_TABLES + 16] {
                        if *slot != u32::MAX {
                            *slot += table_base[fi];
                        }
                    }
                    put_words(&mut t.job_bytes, &words);
                    t.owner.push((fi, tile));
                }
                let header = &f.plan.header;
                let taps = header.upsampler.taps();
                // Bit 0: nearest upsampler; bit 1: lossy (an average residual layer);
                // bit 2: the predicted-average step.
                let flags = u32::from(header.upsampler == vc6_core::Upsampler::Nearest)
                    | u32::from(!header.lossless) << 1
                    | u32::from(header.predicted_average) << 2;
                for p in &sec.planes {
                    let cur = f.current[p.plane];
                    let [e0, e1] = f.ech[p.plane];
                    let (this, other) = if cur == 0 { (e0, e1) } else { (e1, e0) };
                    let (lo, hi) = (p.range.0 as u32, p.range.1 as u32);
                    if p.base {
                        let first = tile_base + (p.first_job - sec.first_job) as usize;
                        for i in 0..p.job_count as usize {
                            let tile = sum_u32(first + i, "tile count")?;
                            let words: [u32; MED_WORDS] = [tile, this, p.size.0, lo, hi, 0, 0, 0];
                            put_words(&mut t.med_bytes, &words);
                            med_count += 1;
                        }
                        continue;
                    }
                    f.current[p.plane] = 1 - cur;
                    let r = p.blocks;
                    if r.is_empty() {
                        continue;
                    }
                    let words: [u32; RECON_WORDS] = [
                        sum_u32(blocks, "block count")?,
                        cbase + p.cbase,
                        this,
                        p.lower.0,
                        p.lower.1,
                        other,
                        p.size.0,
                        p.size.1,
                        r.x0,
                        r.y0,
                        r.width(),
                        r.height(),
                        lo,
                        hi,
                        taps[0] as u32,
                        taps[1] as u32,
                        taps[2] as u32,
                        taps[3] as u32,
                        flags,
                        0,
                    ];
                    put_words(&mut t.recon_bytes, &words);
                    recon_count += 1;
                    blocks += r.width() as usize * r.height() as usize;
                }
            }
            sum_u32(coeffs, "coefficient count")?;
            t.coeffs = coeffs;
            wave.meds = (
                sum_u32(med_first, "tile count")?,
                sum_u32(med_count - med_first, "tile count")?,
            );
            wave.recons = (
                sum_u32(recon_first, "plane count")?,
                sum_u32(recon_count - recon_first, "plane count")?,
            );
            wave.blocks = sum_u32(blocks, "block count")?;
            t.waves.push(wave);
        }
        Ok(t)
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
                        ech: Vec::new(),
                        current: Vec::new(),
                    })
                })
        });
        for prep in preps {
            slots.push(prep.map(|p| {
                frames.push(p);
                frames.len() - 1
            }));
        }
        let host = Self::merge(&mut frames)?;
        let mut sh = Shared {
            stream: self.take(context, info, host.stream_len)?,
            tables: self.take(context, info, host.table_bytes.len())?,
            jobs: self.take(context, info, host.job_bytes.len())?,
            recons: self.take(context, info, host.recon_bytes.len())?,
            meds: self.take(context, info, host.med_bytes.len())?,
            coeffs: self.take(context, info, host.coeffs * 4)?,
            scratch: self.take(context, info, host.owner.len() * host.side2 * 2)?,
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
        self.write(&mut sh.jobs, 0, &host.job_bytes)?;
        self.write(&mut sh.recons, 0, &host.recon_bytes)?;
        self.write(&mut sh.meds, 0, &host.med_bytes)?;
        // The vectors must outlive the non-blocking writes: they move into `sh`.
        sh.host = host;
        let stride = sum_u32(sh.host.side2, "scratch stride")?;
        let tiles = sum_u32(sh.host.owner.len(), "tile count")?;
        self.decode_tiles(&sh, tiles, stride)?;
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

    /// Entropy decoding of every tile of the batch, one work item per tile.
    fn decode_tiles(&self, sh: &Shared, count: u32, stride: u32) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        // SAFETY: the job table, coefficient, scratch and error buffers were sized by
        // `merge` for every tile; the kernel bounds-checks its global id against `count`
        // and writes only inside its tile's coefficients and scratch.
        unsafe {
            launch!(
                &self.queue,
                &self.k.decode_tiles,
                "decode_tiles",
                [
                    &sh.stream.buf.get(),
                    &sh.tables.buf.get(),
                    &sh.jobs.buf.get(),
                    &0u32,
                    &count,
                    &sh.coeffs.buf.get(),
                    &sh.scratch.buf.get(),
                    &stride,
                    &sh.err.buf.get()
                ],
                [round_up(count as usize, TILE_GROUP)],
                [TILE_GROUP]
            );
        }
        Ok(())
    }

    /// One wave of reconstruction: MED for lowest echelons, upsample-and-add for the
    /// others, over every frame.
    fn enqueue_wave(&self, sh: &Shared, w: Wave) -> Result<()> {
        let q = &self.queue;
        // SAFETY (both launches): every table and buffer was sized by `merge` for every
        // entry; the kernels bounds-check their global id against the counts, read lower
        // echelons at clamped positions, and write only inside their tile or echelon,
        // whose arena regions are disjoint.
        unsafe {
            if w.meds.1 > 0 {
                launch!(
                    q,
                    &self.k.med_tiles,
                    "med_tiles",
                    [
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
                        &plan.output_max(0),
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
                        &plan.output_max(p),
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
        // The first failing tile of each frame, in wave order.
        let mut tile_errors: Vec<Option<Error>> = (0..bufs.len()).map(|_| None).collect();
        for (m, &code) in shared.codes.iter().enumerate() {
            let (fi, t) = shared.host.owner[m];
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
/// `i32` echelons per plane, and the coefficients of all its sections (about one `i32`
/// per sample, plus scratch).
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
    plan.header.required_size(plan.loq).unwrap_or(0) + layout.len as u64 + samples * 14
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
