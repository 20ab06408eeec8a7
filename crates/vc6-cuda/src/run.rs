//! The device decode on cudarc: buffers, host-to-device copies, the kernel launches wave
//! by wave, the error bytes and the packed frames read back. It mirrors vc6-opencl's
//! `run.rs` (same host layout, [`vc6_core::gpu`]; same launch shapes: one block of 32 per
//! tile for `decode_tiles`, 1D blocks of 32 and 128 for `med_tiles` and `reconstruct`,
//! 2D blocks of 32 x 4 for the packs; same kernel arguments in the same order and types).
//!
//! **Never run on a GPU.** It compiles and is checked by clippy; on machines without a
//! GPU only its failure path has run (against the stand-in driver of
//! `tests/fake_driver.rs`, which cannot create streams or launch kernels). Whether it
//! decodes, and bit-exactly, is unknown until `cargo test -p vc6 --features cuda --test
//! backends` runs on a GPU with `VC6_CUDA_UNTESTED=1 VC6_REQUIRE_BACKENDS=cuda`.
//!
//! All the `unsafe` of the crate's decode is here: kernel launches, whose arguments
//! follow the kernels' signatures in shaders/common/decode_body.h and whose buffers are
//! sized by `vc6_core::gpu::merge` for every entry, as in the OpenCL backend.
#![allow(unsafe_code)]

use crate::driver::cu_err;
use crate::pool::DevicePool;
use crate::{clone_err, DeviceInfo};
use cudarc::driver::{
    CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtrMut, DeviceRepr, DriverError,
    LaunchConfig, PushKernelArg,
};
use std::sync::Arc;
use vc6_core::gpu::{
    chunks, interleave, item_of, merge, prepare, FramePrep, HostTables, Prepared, Wave,
};
use vc6_core::{Error, OutputLayout, Plan, Result};

/// Block sizes, as the OpenCL backend's work-group sizes: a tile's lanes on one block of
/// 32 (decode_body.h's GROUP, decode_tiles' `__launch_bounds__`; MED runs one tile per
/// thread); blocks of the reconstruction run 1D over every plane of a wave; packing is
/// 2D over the output.
const TILE_GROUP: u32 = 32;
const BLOCK_GROUP: u32 = 128;
const PACK_GROUP: [u32; 2] = [32, 4];

/// CUDA's `uint4` as a kernel argument: four `u32`, 16 bytes aligned to 16 (what
/// `pack_ycocg` takes; the OpenCL backend passes a `[u32; 4]` as its `uint4`).
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, Default)]
struct Uint4([u32; 4]);

// SAFETY: plain data with the size and alignment of CUDA's uint4 (x, y, z, w in order).
unsafe impl DeviceRepr for Uint4 {}

/// The five kernels, looked up once in the loaded module.
pub(crate) struct Kernels {
    decode_tiles: CudaFunction,
    med_tiles: CudaFunction,
    reconstruct: CudaFunction,
    pack_plane: CudaFunction,
    pack_ycocg: CudaFunction,
}

impl Kernels {
    /// Looks every kernel up in `module` (`cuModuleGetFunction`). Has run only against
    /// the stand-in driver of `tests/fake_driver.rs`, never on a GPU.
    pub(crate) fn load(module: &Arc<CudaModule>) -> Result<Kernels> {
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| cu_err(&format!("finding kernel {name}"), e))
        };
        Ok(Kernels {
            decode_tiles: f("decode_tiles")?,
            med_tiles: f("med_tiles")?,
            reconstruct: f("reconstruct")?,
            pack_plane: f("pack_plane")?,
            pack_ycocg: f("pack_ycocg")?,
        })
    }
}

/// Device memory a batch may hold at once: a quarter of the device's memory, between
/// 256 MiB and 8 GiB (the OpenCL backend's default). Bigger batches run in chunks of
/// half of it.
pub(crate) fn batch_budget(info: &DeviceInfo) -> u64 {
    (info.global_mem / 4).clamp(256 << 20, 8 << 30)
}

/// The buffers a batch shares, on the device.
struct Shared {
    stream: CudaSlice<u8>,
    tables: CudaSlice<u8>,
    planes: CudaSlice<u8>,
    jobs: CudaSlice<u8>,
    recons: CudaSlice<u8>,
    meds: CudaSlice<u8>,
    coeffs: CudaSlice<u8>,
    scratch: CudaSlice<u8>,
    echelons: CudaSlice<u8>,
    err: CudaSlice<u8>,
}

fn launch_err(name: &str) -> impl Fn(DriverError) -> Error + '_ {
    move |e| cu_err(&format!("launching {name}"), e)
}

/// A zeroed device buffer of at least `len` bytes (at least 16: no empty allocations),
/// from the backend's pool. Never run on a GPU.
fn alloc(stream: &Arc<CudaStream>, pool: &DevicePool, len: usize) -> Result<CudaSlice<u8>> {
    pool.alloc(stream, len.max(16))
}

/// A device buffer holding `data` (at least 16 bytes). Never run on a GPU.
fn upload(stream: &Arc<CudaStream>, pool: &DevicePool, data: &[u8]) -> Result<CudaSlice<u8>> {
    let mut buf = alloc(stream, pool, data.len())?;
    if !data.is_empty() {
        stream
            .memcpy_htod(data, &mut buf)
            .map_err(|e| cu_err("uploading (cuMemcpyHtoDAsync)", e))?;
    }
    Ok(buf)
}

/// One-dimensional launch over `n` threads in blocks of `block` (at least one block, as
/// the OpenCL backend's `round_up`).
fn linear(n: u32, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(block).max(1), 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Two-dimensional launch over a `w` x `h` window in blocks of [`PACK_GROUP`].
fn window(w: u32, h: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (
            w.div_ceil(PACK_GROUP[0]).max(1),
            h.div_ceil(PACK_GROUP[1]).max(1),
            1,
        ),
        block_dim: (PACK_GROUP[0], PACK_GROUP[1], 1),
        shared_mem_bytes: 0,
    }
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

impl<'b> Dest<'_, 'b> {
    /// The host buffers of the items in `range` (host output), or the same kind of
    /// destination for a chunk of the batch.
    fn chunk(&mut self, range: std::ops::Range<usize>) -> Dest<'_, 'b> {
        match self {
            Dest::Host(outs) => Dest::Host(&mut outs[range]),
            Dest::Device => Dest::Device,
            Dest::Pointer(p, n) => Dest::Pointer(*p, *n),
        }
    }

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

/// Decodes every item on `stream`, chunk by chunk as the batch budget allows, as the
/// OpenCL backend's `Worker::decode_batch`, into `dest`. Items whose output buffer is
/// too small for their layout are not decoded. Waits for the stream before it returns
/// (the tiles' error bytes are read back). **Never run on a GPU** (only against the
/// stand-in driver of `tests/fake_driver.rs`, whose kernel launches do nothing).
pub(crate) fn decode_batch(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    pool: &DevicePool,
    info: &DeviceInfo,
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
    // Host buffers of the items decoded, in order.
    let mut host_outs: Vec<&mut [u8]>;
    let mut kept_dest = match dest {
        Dest::Host(outs) => {
            host_outs = outs
                .iter_mut()
                .zip(&early)
                .filter(|(_, e)| e.is_none())
                .map(|(o, _)| &mut **o)
                .collect();
            Dest::Host(&mut host_outs)
        }
        Dest::Device => Dest::Device,
        Dest::Pointer(p, n) => Dest::Pointer(p, n),
    };
    let budget = batch_budget(info) / 2;
    let mut results = Vec::with_capacity(kept.len());
    for chunk in chunks(&kept, budget) {
        let d = kept_dest.chunk(chunk.clone());
        results.extend(run_chunk(stream, k, pool, &kept[chunk], d));
    }
    interleave(early, results)
}

/// Runs one chunk: lays it out, uploads, launches every wave and the packs, reads the
/// error bytes back (and the frames, for host output), and names the first failing tile
/// of each frame. **Never run on a GPU.**
fn run_chunk(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    pool: &DevicePool,
    items: &[(&Plan, &[u8], &OutputLayout)],
    dest: Dest<'_, '_>,
) -> Vec<Packed> {
    let start = std::time::Instant::now();
    // Host side: check and lay out each frame; a bad frame is left out of the batch.
    let Prepared { slots, mut frames } = prepare(items);
    let item_of = item_of(&slots);
    let ran = merge(&mut frames).and_then(|host| {
        let (codes, outs) = enqueue(stream, k, pool, &frames, &host, dest, &item_of)?;
        Ok((host, codes, outs))
    });
    let (host, codes, mut outs) = match ran {
        Ok(v) => v,
        Err(e) => return items.iter().map(|_| Err(clone_err(&e))).collect(),
    };
    if trace() {
        eprintln!(
            "vc6-cuda: batch of {} frames, {} tiles: {:.2} ms (host, device and copies)",
            items.len(),
            host.owner.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let mut tile_errors = host.tile_errors(&frames, &codes);
    slots
        .into_iter()
        .map(|slot| {
            let fi = slot?;
            match tile_errors[fi].take() {
                Some(e) => Err(e),
                None => Ok(outs[fi].take()),
            }
        })
        .collect()
}

/// Uploads the batch, launches its waves and packs (into `dest`), copies the error
/// bytes back (and every frame, for host output: into `outs[item_of[frame]]`), then
/// waits for the stream. Returns the error byte of each merged tile and, for
/// [`Dest::Device`], each frame's buffer. **Never run on a GPU.**
fn enqueue(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    pool: &DevicePool,
    frames: &[FramePrep<'_>],
    host: &HostTables,
    dest: Dest<'_, '_>,
    item_of: &[usize],
) -> Result<(Vec<u8>, Vec<FrameOut>)> {
    let mut stream_buf = alloc(stream, pool, host.stream_len)?;
    for f in frames {
        if !f.stream.is_empty() {
            let mut dst = stream_buf.slice_mut(f.stream_base..f.stream_base + f.stream.len());
            stream
                .memcpy_htod(f.stream, &mut dst)
                .map_err(|e| cu_err("uploading the streams (cuMemcpyHtoDAsync)", e))?;
        }
    }
    let sh = Shared {
        stream: stream_buf,
        tables: upload(stream, pool, &host.table_bytes)?,
        planes: upload(stream, pool, &host.plane_bytes)?,
        jobs: upload(stream, pool, &host.job_bytes)?,
        recons: upload(stream, pool, &host.recon_bytes)?,
        meds: upload(stream, pool, &host.med_bytes)?,
        coeffs: alloc(stream, pool, host.coeffs * 4)?,
        scratch: alloc(stream, pool, host.scratch)?,
        echelons: alloc(stream, pool, host.arena * 4)?,
        err: alloc(stream, pool, host.owner.len())?,
    };
    for &w in &host.waves {
        launch_wave(stream, k, &sh, w)?;
    }
    let mut frame_out = Vec::with_capacity(frames.len());
    for f in frames {
        if let Dest::Pointer(ptr, _) = dest {
            pack(stream, k, f, &sh, ptr)?;
            frame_out.push(None);
        } else {
            let mut out = alloc(stream, pool, f.layout.len)?;
            {
                let (ptr, _written) = out.device_ptr_mut(stream);
                pack(stream, k, f, &sh, ptr)?;
            }
            frame_out.push(Some(out));
        }
    }
    let mut codes = vec![0u8; host.owner.len()];
    if !codes.is_empty() {
        stream
            .memcpy_dtoh(&sh.err.slice(..codes.len()), &mut codes)
            .map_err(|e| cu_err("reading tile errors (cuMemcpyDtoHAsync)", e))?;
    }
    if let Dest::Host(outs) = dest {
        for (fi, out) in frame_out.iter_mut().enumerate() {
            let target = &mut *outs[item_of[fi]];
            let out = out.take().expect("a buffer per frame for host output");
            if !target.is_empty() {
                stream
                    .memcpy_dtoh(&out.slice(..target.len()), target)
                    .map_err(|e| cu_err("reading the frame (cuMemcpyDtoHAsync)", e))?;
            }
        }
    }
    stream
        .synchronize()
        .map_err(|e| cu_err("finishing the stream (cuStreamSynchronize)", e))?;
    Ok((codes, frame_out))
}

/// One wave over every frame: entropy decoding of its tiles (one block each), then MED
/// for lowest echelons and upsample-and-add for the others. **Never run on a GPU.**
fn launch_wave(stream: &Arc<CudaStream>, k: &Kernels, sh: &Shared, w: Wave) -> Result<()> {
    // SAFETY (all launches): the arguments follow the kernels' signatures in
    // shaders/common/decode_body.h, in order and type (device pointers, uint as u32);
    // every table and buffer was sized by `merge` for every entry; decode_tiles runs
    // exactly one block of 32 per tile of the wave (its __launch_bounds__), reads the
    // stream only inside its payload (checked against the plan) and tables only inside
    // the ones `Layout` wrote, and writes only its tile's coefficients, its scratch
    // (whose size it checks) and its error byte; the other kernels bounds-check their
    // global id against the counts, read lower echelons at clamped positions, and write
    // only inside their tile or echelon, whose arena regions are disjoint.
    unsafe {
        if w.tiles.1 > 0 {
            let cfg = LaunchConfig {
                grid_dim: (w.tiles.1, 1, 1),
                block_dim: (TILE_GROUP, 1, 1),
                shared_mem_bytes: 0,
            };
            stream
                .launch_builder(&k.decode_tiles)
                .arg(&sh.stream)
                .arg(&sh.tables)
                .arg(&sh.planes)
                .arg(&sh.jobs)
                .arg(&w.tiles.0)
                .arg(&sh.coeffs)
                .arg(&sh.echelons)
                .arg(&sh.scratch)
                .arg(&sh.err)
                .launch(cfg)
                .map_err(launch_err("decode_tiles"))?;
        }
        if w.meds.1 > 0 {
            stream
                .launch_builder(&k.med_tiles)
                .arg(&sh.planes)
                .arg(&sh.jobs)
                .arg(&sh.meds)
                .arg(&w.meds.0)
                .arg(&w.meds.1)
                .arg(&sh.coeffs)
                .arg(&sh.echelons)
                .launch(linear(w.meds.1, TILE_GROUP))
                .map_err(launch_err("med_tiles"))?;
        }
        if w.blocks > 0 {
            stream
                .launch_builder(&k.reconstruct)
                .arg(&sh.coeffs)
                .arg(&sh.echelons)
                .arg(&sh.recons)
                .arg(&w.recons.0)
                .arg(&w.recons.1)
                .arg(&w.blocks)
                .launch(linear(w.blocks, BLOCK_GROUP))
                .map_err(launch_err("reconstruct"))?;
        }
    }
    Ok(())
}

/// Crops, converts and packs a frame's planes into the device memory at `out`, which
/// holds at least `f.layout.len` bytes. **Never run on a GPU.**
fn pack(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    f: &FramePrep<'_>,
    sh: &Shared,
    out: u64,
) -> Result<()> {
    let (plan, layout) = (f.plan, f.layout);
    let bytes = layout.sample.bytes() as u32;
    let at = |p: usize| f.ech[p][f.current[p]];
    let u = |v: usize| u32::try_from(v).map_err(|_| Error::Unsupported("output over 4 GiB".into()));
    let mut first = 0;
    if plan.header.colour_transform {
        let r = plan.output_rect(0);
        let w = plan.header.planes[0].size_at(plan.loq).0;
        let l = &layout.planes;
        let src = Uint4([at(0), at(1), at(2), 0]);
        let offsets = Uint4([u(l[0].offset)?, u(l[1].offset)?, u(l[2].offset)?, 0]);
        let strides = Uint4([
            u(l[0].pixel_stride)?,
            u(l[1].pixel_stride)?,
            u(l[2].pixel_stride)?,
            0,
        ]);
        let rows = Uint4([
            u(l[0].row_stride)?,
            u(l[1].row_stride)?,
            u(l[2].row_stride)?,
            0,
        ]);
        let range = plan.output_range(0);
        let (x0, y0, rw, rh) = (r.x0, r.y0, r.width(), r.height());
        // SAFETY: `layout.check` proved every written byte lies inside the output
        // buffer (at least `layout.len` bytes: ours, or the caller's, whose length the
        // caller vouched for); the window lies inside the three
        // equal-sized echelons; the arguments follow pack_ycocg's signature.
        unsafe {
            stream
                .launch_builder(&k.pack_ycocg)
                .arg(&sh.echelons)
                .arg(&src)
                .arg(&w)
                .arg(&x0)
                .arg(&y0)
                .arg(&rw)
                .arg(&rh)
                .arg(&range.max)
                .arg(&range.shift)
                .arg(&out)
                .arg(&offsets)
                .arg(&strides)
                .arg(&rows)
                .arg(&bytes)
                .launch(window(rw, rh))
                .map_err(launch_err("pack_ycocg"))?;
        }
        first = 3;
    }
    for p in first..plan.header.planes.len() {
        let r = plan.output_rect(p);
        let w = plan.header.planes[p].size_at(plan.loq).0;
        let l = layout.planes[p];
        let (offset, ps, rs) = (u(l.offset)?, u(l.pixel_stride)?, u(l.row_stride)?);
        let src = at(p);
        let range = plan.output_range(p);
        let (x0, y0, rw, rh) = (r.x0, r.y0, r.width(), r.height());
        // SAFETY: as for pack_ycocg, with pack_plane's signature.
        unsafe {
            stream
                .launch_builder(&k.pack_plane)
                .arg(&sh.echelons)
                .arg(&src)
                .arg(&w)
                .arg(&x0)
                .arg(&y0)
                .arg(&rw)
                .arg(&rh)
                .arg(&range.max)
                .arg(&range.shift)
                .arg(&out)
                .arg(&offset)
                .arg(&ps)
                .arg(&rs)
                .arg(&bytes)
                .launch(window(rw, rh))
                .map_err(launch_err("pack_plane"))?;
        }
    }
    Ok(())
}

/// `VC6_CUDA_TRACE=1` prints the time of every batch to stderr.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var("VC6_CUDA_TRACE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint4_is_cudas_uint4_and_launch_shapes_match_opencl() {
        assert_eq!(std::mem::size_of::<Uint4>(), 16);
        assert_eq!(std::mem::align_of::<Uint4>(), 16);
        // OpenCL: global round_up(n, group).max(group), local group.
        let c = linear(0, 32);
        assert_eq!((c.grid_dim, c.block_dim), ((1, 1, 1), (32, 1, 1)));
        let c = linear(129, 128);
        assert_eq!((c.grid_dim, c.block_dim), ((2, 1, 1), (128, 1, 1)));
        let c = window(33, 9);
        assert_eq!((c.grid_dim, c.block_dim), ((2, 3, 1), (32, 4, 1)));
        let info = DeviceInfo {
            ordinal: 0,
            name: "x".into(),
            compute_capability: (9, 0),
            multiprocessors: 1,
            global_mem: 80 << 30,
            driver_version: 12040,
        };
        assert_eq!(batch_budget(&info), 8 << 30);
    }
}
