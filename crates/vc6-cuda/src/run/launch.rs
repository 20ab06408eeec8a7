//! The kernel launches of a chunk: per wave one `decode_tiles` (one block of 32 per
//! tile), one `med_tiles` and one `reconstruct`, then `pack_plane`/`pack_ycocg` per frame.
//! It mirrors vc6-opencl's `run.rs`: the same launch shapes (1D blocks of 32 and 128 for
//! `med_tiles` and `reconstruct`, 2D blocks of 32 x 4 for the packs) and the same kernel
//! arguments in the same order and types, buffers passed as device addresses.
//!
//! **Never run on a GPU** (only against the stand-in driver of `tests/fake_driver.rs`,
//! which checks that every buffer argument points into a live allocation but runs no
//! kernel). Whether it decodes, and bit-exactly, is unknown until `cargo test -p vc6
//! --features cuda --test backends` runs on a GPU with `VC6_CUDA_UNTESTED=1
//! VC6_REQUIRE_BACKENDS=cuda`.
//!
//! The kernel launches are `unsafe`: their arguments follow the kernels' signatures in
//! shaders/common/decode_body.h and their buffers are sized by `vc6_core::gpu::merge`
//! for every entry, as in the OpenCL backend.
#![allow(unsafe_code)]

use crate::driver::cu_err;
use cudarc::driver::{
    CudaFunction, CudaModule, CudaStream, DeviceRepr, DriverError, LaunchConfig, PushKernelArg,
};
use std::sync::Arc;
use vc6_core::gpu::{FramePrep, Wave};
use vc6_core::{Error, Result};

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

fn launch_err(name: &str) -> impl Fn(DriverError) -> Error + '_ {
    move |e| cu_err(&format!("launching {name}"), e)
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

/// The device addresses of a chunk's buffers, as the kernels take them: segments of one
/// uploaded buffer (the streams and tables) and of one zeroed work buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addrs {
    pub(crate) stream: u64,
    pub(crate) tables: u64,
    pub(crate) planes: u64,
    pub(crate) jobs: u64,
    pub(crate) recons: u64,
    pub(crate) meds: u64,
    pub(crate) coeffs: u64,
    pub(crate) scratch: u64,
    pub(crate) echelons: u64,
    pub(crate) err: u64,
}

/// One wave over every frame: entropy decoding of its tiles (one block each), then MED
/// for lowest echelons and upsample-and-add for the others. **Never run on a GPU.**
pub(crate) fn launch_wave(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    sh: &Addrs,
    w: Wave,
) -> Result<()> {
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
pub(crate) fn pack(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    f: &FramePrep<'_>,
    sh: &Addrs,
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
    }
}
