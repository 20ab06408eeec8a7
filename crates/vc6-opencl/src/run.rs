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

/// Most buffers a worker keeps for the next decode.
const POOL_KEEP: usize = 48;
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

/// Device buffers of one decode in flight.
struct InFlight<'a> {
    layout: Layout,
    stream: Pooled,
    tables: Pooled,
    jobs: Pooled,
    coeffs: Pooled,
    scratch: Pooled,
    err: Pooled,
    echelons: Vec<[Pooled; 2]>,
    /// Which of each plane's two echelon buffers holds its latest echelon.
    current: Vec<usize>,
    out: Option<Pooled>,
    codes: Vec<u8>,
    target: Option<&'a mut [u8]>,
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
        })
    }

    fn take(&mut self, context: &Context, info: &DeviceInfo, len: usize) -> Result<Pooled> {
        let len = len.max(16);
        let best = (0..self.pool.len())
            .filter(|&i| self.pool[i].cap >= len && self.pool[i].cap <= len.saturating_mul(2))
            .min_by_key(|&i| self.pool[i].cap);
        if let Some(i) = best {
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
        self.pool.push(p);
        if self.pool.len() > POOL_KEEP {
            let smallest = (0..self.pool.len())
                .min_by_key(|&i| self.pool[i].cap)
                .unwrap_or(0);
            self.pool.swap_remove(smallest);
        }
    }

    fn give_flight(&mut self, f: InFlight<'_>) {
        for p in [f.stream, f.tables, f.jobs, f.coeffs, f.scratch, f.err] {
            self.give(p);
        }
        for [a, b] in f.echelons {
            self.give(a);
            self.give(b);
        }
        if let Some(o) = f.out {
            self.give(o);
        }
    }

    fn write(&self, dst: &mut Pooled, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: `dst` holds at least `data.len()` bytes (sized from it), and the
        // non-blocking write's host memory (the caller's stream or the in-flight layout)
        // lives until the queue is finished.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut dst.buf, CL_NON_BLOCKING, 0, data, &[])
                .map_err(|e| cl_err("uploading", e))?;
        }
        Ok(())
    }

    /// Enqueues everything for one decode into `out` (a pooled device buffer).
    fn enqueue<'a>(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        plan: &Plan,
        stream: &'a [u8],
        layout: &OutputLayout,
    ) -> Result<InFlight<'a>> {
        plan.check_stream(stream)?;
        let lay = Layout::new(plan)?;
        let needed = plan.header.required_size(plan.loq)? as usize;
        // Tile payloads end within `needed` (the plan checked every offset).
        let stream = &stream[..needed];
        let side = 1usize << plan.header.tile_log2;
        let mut f = InFlight {
            stream: self.take(context, info, stream.len())?,
            tables: self.take(context, info, lay.tables.len())?,
            jobs: self.take(context, info, lay.jobs.len())?,
            coeffs: self.take(context, info, lay.max_coeffs * 4)?,
            scratch: self.take(context, info, lay.max_section_jobs * side * side * 2)?,
            err: self.take(context, info, lay.origin.len())?,
            echelons: Vec::with_capacity(lay.echelon_len.len()),
            current: vec![0; lay.echelon_len.len()],
            out: None,
            codes: vec![0u8; lay.origin.len()],
            target: None,
            layout: lay,
        };
        for i in 0..f.layout.echelon_len.len() {
            let n = f.layout.echelon_len[i] * 4;
            f.echelons
                .push([self.take(context, info, n)?, self.take(context, info, n)?]);
        }
        f.out = Some(self.take(context, info, layout.len)?);
        self.write(&mut f.stream, stream)?;
        self.write(&mut f.tables, &f.layout.tables)?;
        self.write(&mut f.jobs, &f.layout.jobs)?;
        self.run_sections(plan, &mut f)?;
        self.pack(plan, layout, &mut f)?;
        if !f.codes.is_empty() {
            // SAFETY: `codes` has one byte per job, the buffer's size; it lives in the
            // in-flight record until the queue is finished.
            unsafe {
                self.queue
                    .enqueue_read_buffer(&f.err.buf, CL_NON_BLOCKING, 0, &mut f.codes, &[])
                    .map_err(|e| cl_err("reading tile errors", e))?;
            }
        }
        Ok(f)
    }

    fn run_sections(&mut self, plan: &Plan, f: &mut InFlight<'_>) -> Result<()> {
        let q = &self.queue;
        let taps = plan.header.upsampler.taps();
        let nearest = u32::from(plan.header.upsampler == vc6_core::Upsampler::Nearest);
        for s in &f.layout.sections {
            if s.job_count > 0 {
                // SAFETY: the job table, coefficient, scratch and error buffers were
                // sized by `Layout` for every job and section; the kernel bounds-checks
                // its global id against `job_count`.
                unsafe {
                    ExecuteKernel::new(&self.k.decode_tiles)
                        .set_arg(&f.stream.buf)
                        .set_arg(&f.tables.buf)
                        .set_arg(&f.jobs.buf)
                        .set_arg(&s.first_job)
                        .set_arg(&s.job_count)
                        .set_arg(&f.coeffs.buf)
                        .set_arg(&f.scratch.buf)
                        .set_arg(&f.err.buf)
                        .set_global_work_size(round_up(s.job_count as usize, TILE_GROUP))
                        .set_local_work_size(TILE_GROUP)
                        .enqueue_nd_range(q)
                        .map_err(|e| cl_err("decode_tiles", e))?;
                }
            }
            for p in &s.planes {
                let cur = f.current[p.plane];
                let [e0, e1] = &f.echelons[p.plane];
                let (this, other) = if cur == 0 { (e0, e1) } else { (e1, e0) };
                let (lo, hi) = p.range;
                if p.base {
                    if p.job_count == 0 {
                        continue;
                    }
                    // SAFETY: tiles lie inside the echelon (`size`), which fits the
                    // plane's echelon buffer (sized for its largest echelon).
                    unsafe {
                        ExecuteKernel::new(&self.k.med_tiles)
                            .set_arg(&f.jobs.buf)
                            .set_arg(&p.first_job)
                            .set_arg(&p.job_count)
                            .set_arg(&f.coeffs.buf)
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
                let b = p.blocks;
                if !b.is_empty() {
                    // SAFETY: blocks lie inside the lower echelon, whose samples are read
                    // at clamped positions; writes stay inside the upper echelon.
                    unsafe {
                        ExecuteKernel::new(&self.k.reconstruct)
                            .set_arg(&f.coeffs.buf)
                            .set_arg(&p.cbase)
                            .set_arg(&this.buf)
                            .set_arg(&p.lower.0)
                            .set_arg(&p.lower.1)
                            .set_arg(&other.buf)
                            .set_arg(&p.size.0)
                            .set_arg(&p.size.1)
                            .set_arg(&b.x0)
                            .set_arg(&b.y0)
                            .set_arg(&b.width())
                            .set_arg(&b.height())
                            .set_arg(&lo)
                            .set_arg(&hi)
                            .set_arg(&taps)
                            .set_arg(&nearest)
                            .set_global_work_sizes(&[
                                round_up(b.width() as usize, BLOCK_GROUP[0]),
                                round_up(b.height() as usize, BLOCK_GROUP[1]),
                            ])
                            .set_local_work_sizes(&BLOCK_GROUP)
                            .enqueue_nd_range(q)
                            .map_err(|e| cl_err("reconstruct", e))?;
                    }
                }
                f.current[p.plane] = 1 - cur;
            }
        }
        Ok(())
    }

    fn pack(&mut self, plan: &Plan, layout: &OutputLayout, f: &mut InFlight<'_>) -> Result<()> {
        let q = &self.queue;
        let out = &f.out.as_ref().expect("output buffer").buf;
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

    /// Decodes every job, submitting all of them before waiting once.
    pub(crate) fn decode_batch(
        &mut self,
        context: &Context,
        info: &DeviceInfo,
        jobs: Vec<DecodeJob<'_>>,
    ) -> Vec<Result<()>> {
        let mut flights: Vec<Result<InFlight<'_>>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let r = job.layout.check(job.plan, job.out.len()).and_then(|()| {
                let mut f = self.enqueue(context, info, job.plan, job.stream, job.layout)?;
                if let Some(out) = &f.out {
                    let out = &out.buf;
                    // SAFETY: `job.out` is exactly `layout.len` bytes (checked) and stays
                    // borrowed by the in-flight record until after `finish`.
                    unsafe {
                        self.queue
                            .enqueue_read_buffer(out, CL_NON_BLOCKING, 0, job.out, &[])
                            .map_err(|e| cl_err("reading the frame", e))?;
                    }
                }
                f.target = Some(job.out);
                Ok(f)
            });
            flights.push(r);
        }
        let finished = self.finish();
        flights
            .into_iter()
            .map(|f| {
                let f = f?;
                if let Err(e) = &finished {
                    return Err(clone_err(e));
                }
                let result = f.layout.check_errors(&f.codes);
                self.give_flight(f);
                result
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
        let mut flights = Vec::with_capacity(jobs.len());
        for &(plan, stream, layout) in jobs {
            flights.push(
                layout
                    .check(plan, layout.len)
                    .and_then(|()| self.enqueue(context, info, plan, stream, layout)),
            );
        }
        let finished = self.finish();
        #[allow(deprecated)]
        let queue = CommandQueue::create_default(context, 0)
            .map(Arc::new)
            .map_err(|e| cl_err("command queue creation", e));
        flights
            .into_iter()
            .zip(jobs)
            .map(|(f, &(plan, _, layout))| {
                let mut f = f?;
                finished.as_ref().map_err(clone_err)?;
                let queue = queue.as_ref().map_err(clone_err)?.clone();
                let checked = f.layout.check_errors(&f.codes);
                let out = f.out.take().expect("output buffer");
                self.give_flight(f);
                checked?;
                let (width, height) = plan.output_size(0);
                Ok(DeviceFrame {
                    buffer: out.buf,
                    width,
                    height,
                    layout: layout.clone(),
                    queue,
                })
            })
            .collect()
    }
}

fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m).max(1) * m
}
