//! Building the kernels, with the optional binary cache (`OCL_BIN_LOC`).

use crate::{cl_err, DeviceInfo, OpenClConfig, BUILD_OPTIONS, KERNEL_SOURCE};
use opencl3::context::Context;
use opencl3::program::Program;
use std::path::{Path, PathBuf};
use vc6_core::{Error, Result};

/// Where the program of a backend came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramOrigin {
    /// Compiled from source (no cache, a cache miss, or a rejected binary).
    Source,
    /// Loaded from the binary cache.
    Cache,
}

/// The cache file for this device, driver and kernel source.
pub(crate) fn cache_path(dir: &Path, info: &DeviceInfo) -> PathBuf {
    let key = vc6_core::gpu::cache_key(&[
        &info.name,
        &info.vendor,
        &info.platform,
        &info.driver,
        KERNEL_SOURCE,
        BUILD_OPTIONS,
    ]);
    dir.join(format!("vc6-opencl-{key:016x}.bin"))
}

pub(crate) fn build_program(
    context: &Context,
    info: &DeviceInfo,
    config: &OpenClConfig,
) -> Result<(Program, ProgramOrigin)> {
    let path = config.binary_cache.as_deref().map(|d| cache_path(d, info));
    if let Some(path) = &path {
        if let Ok(binary) = std::fs::read(path) {
            // A binary from another driver build is rejected here (CL_INVALID_BINARY or a
            // build failure): fall through to the source build, which replaces it.
            if let Ok(p) = Program::create_and_build_from_binary(context, &[&binary], BUILD_OPTIONS)
            {
                return Ok((p, ProgramOrigin::Cache));
            }
        }
    }
    let program = Program::create_and_build_from_source(context, KERNEL_SOURCE, BUILD_OPTIONS)
        .map_err(|log| {
            Error::Device(format!(
                "building the OpenCL kernels for '{}' failed: {log}",
                info.name
            ))
        })?;
    if let Some(path) = &path {
        save_binary(&program, path)?;
    }
    Ok((program, ProgramOrigin::Source))
}

fn save_binary(program: &Program, path: &Path) -> Result<()> {
    let binaries = program
        .get_binaries()
        .map_err(|e| cl_err("reading the program binary", e))?;
    let Some(binary) = binaries.into_iter().find(|b| !b.is_empty()) else {
        return Ok(());
    };
    vc6_core::gpu::write_cache_entry("OCL_BIN_LOC", path, &binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_device_and_driver() {
        let info = DeviceInfo {
            name: "dev".into(),
            vendor: "v".into(),
            platform: "p".into(),
            driver: "1.0".into(),
            is_gpu: true,
            max_alloc: 0,
            global_mem: 0,
            batch_budget: 0,
        };
        let dir = Path::new("/c");
        let a = cache_path(dir, &info);
        assert_eq!(a, cache_path(dir, &info));
        let newer = DeviceInfo {
            driver: "1.1".into(),
            ..info.clone()
        };
        assert_ne!(a, cache_path(dir, &newer));
        let other = DeviceInfo {
            name: "dev2".into(),
            ..info
        };
        assert_ne!(a, cache_path(dir, &other));
        assert!(a.starts_with(dir));
    }
}
