//! The host-side layout both GPU backends share (`vc6-opencl` and `vc6-cuda`): a decode
//! [`Plan`](crate::Plan) turned into the flat tables the kernels of
//! `shaders/common/decode_body.h` read (decode tables, plane descriptors, tile jobs, MED
//! and reconstruct jobs, in the word layouts that file documents), and the frames of a
//! batch merged wave by wave (wave `w` is every frame's section `w`, coarsest first).
//!
//! Plain Rust with no GPU API calls, so it is unit-tested here without a device; the
//! backends upload what it lays out, launch the kernels per [`Wave`], and turn the
//! kernels' error bytes into errors with [`Layout::tile_error`].

mod job;
mod merge;

pub use job::*;
pub use merge::*;

/// The key of a compiled-kernel cache entry (`OCL_BIN_LOC`, `CUDA_BIN_LOC`): FNV-1a, 64
/// bits, over `parts` (device, driver, kernel source, build options), each ended by a
/// 0xff byte. Stable across runs and builds, which std's hashers are not.
pub fn cache_key(parts: &[&str]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for &b in p.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Stores a compiled-kernel cache entry at `path` (folders made as needed): written beside
/// it and renamed, so that a concurrent reader never sees half a file. `var` names the
/// cache's environment variable in the errors (`OCL_BIN_LOC`, `CUDA_BIN_LOC`).
pub fn write_cache_entry(var: &str, path: &std::path::Path, bytes: &[u8]) -> crate::Result<()> {
    use crate::Error;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Device(format!(
            "{var}: cannot create the kernel cache folder {}: {e}",
            dir.display()
        ))
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Device(format!(
                "{var}: cannot write the kernel cache {}: {e}",
                path.display()
            ))
        })
}
