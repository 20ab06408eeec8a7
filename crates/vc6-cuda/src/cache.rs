//! The kernel cache (`CUDA_BIN_LOC`): cubins keyed by device architecture, driver version
//! and a hash of the kernel source and build options.
//!
//! The key and the file handling are tested here; loading a cached cubin into a context
//! ([`crate::CudaBackend::new`]) has never run on a GPU, only against the stand-in driver
//! of `tests/fake_driver.rs`.

use crate::compile::BUILD_OPTIONS;
use crate::{DeviceInfo, KERNEL_SOURCE};
use std::path::{Path, PathBuf};
use vc6_core::Result;

/// Where the module of a backend came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleOrigin {
    /// Compiled by NVRTC (no cache, a cache miss, or a cached cubin the driver rejected).
    Source,
    /// Loaded from the cache folder.
    Cache,
}

/// The cache file in `dir` (a `CUDA_BIN_LOC` folder) for this device's architecture and
/// driver, and this kernel source.
pub fn cache_path(dir: &Path, info: &DeviceInfo) -> PathBuf {
    let arch = info.arch();
    let driver = info.driver_version.to_string();
    let mut parts = vec![arch.as_str(), driver.as_str(), KERNEL_SOURCE];
    parts.extend_from_slice(BUILD_OPTIONS);
    let key = vc6_core::gpu::cache_key(&parts);
    dir.join(format!("vc6-cuda-{arch}-{key:016x}.cubin"))
}

/// The cached cubin at `path`, if there is one.
pub fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok().filter(|b| !b.is_empty())
}

/// Stores `cubin` at `path`: written beside it and renamed, so that a concurrent reader
/// never sees half a file.
pub fn write(path: &Path, cubin: &[u8]) -> Result<()> {
    vc6_core::gpu::write_cache_entry("CUDA_BIN_LOC", path, cubin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cc: (u32, u32), driver: u32) -> DeviceInfo {
        DeviceInfo {
            ordinal: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            compute_capability: cc,
            multiprocessors: 132,
            global_mem: 80 << 30,
            driver_version: driver,
        }
    }

    #[test]
    fn key_depends_on_architecture_and_driver_only() {
        let dir = Path::new("/c");
        let a = cache_path(dir, &info((9, 0), 12040));
        assert_eq!(a, cache_path(dir, &info((9, 0), 12040)));
        // Another board of the same architecture shares the entry.
        let other_board = DeviceInfo {
            name: "NVIDIA H200".into(),
            ordinal: 1,
            ..info((9, 0), 12040)
        };
        assert_eq!(a, cache_path(dir, &other_board));
        assert_ne!(a, cache_path(dir, &info((9, 0), 12080)));
        assert_ne!(a, cache_path(dir, &info((8, 0), 12040)));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("vc6-cuda-sm_90-") && name.ends_with(".cubin"),
            "{name}"
        );
        assert!(a.starts_with(dir));
    }

    #[test]
    fn write_then_read_and_replace() {
        let dir = std::env::temp_dir().join(format!("vc6-cuda-cache-test-{}", std::process::id()));
        let path = cache_path(&dir.join("sub"), &info((8, 6), 12020));
        assert_eq!(read(&path), None);
        write(&path, b"first").unwrap();
        assert_eq!(read(&path).as_deref(), Some(&b"first"[..]));
        write(&path, b"second").unwrap();
        assert_eq!(read(&path).as_deref(), Some(&b"second"[..]));
        // Nothing but the entry is left behind.
        let files = std::fs::read_dir(dir.join("sub")).unwrap().count();
        assert_eq!(files, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
