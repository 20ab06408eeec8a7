//! Compiling [`crate::KERNEL_SOURCE`] with NVRTC, loaded at run time (`libnvrtc.so.12`).
//!
//! This has run on machines without a GPU (NVRTC needs none): `cargo xtask test` compiles
//! the kernels here to PTX for sm_80 and sm_90 and has ptxas check them, and to cubins.

use crate::driver::guard;
use crate::KERNEL_SOURCE;
use cudarc::nvrtc::{result, sys};
use std::ffi::{CStr, CString};
use vc6_core::{Error, Result};

/// NVRTC options besides the architecture (part of the cache key).
pub const BUILD_OPTIONS: &[&str] = &["--std=c++17"];

/// What [`compile`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// PTX text for a virtual architecture (`compute_90`): what ptxas checks, and what a
    /// driver JIT-compiles when no cubin fits.
    Ptx,
    /// A cubin (machine code) for a real architecture (`sm_90`): what the backend loads.
    Cubin,
}

/// The error for a machine without NVRTC.
pub fn missing_nvrtc() -> Error {
    Error::Device(
        "NVRTC, the CUDA runtime compiler (libnvrtc.so.12), could not be loaded: install the \
         CUDA toolkit's NVRTC (e.g. the cuda-nvrtc-12-x package of NVIDIA's repository) or the \
         PyPI wheel nvidia-cuda-nvrtc-cu12 (pip install nvidia-cuda-nvrtc-cu12) and put its \
         nvidia/cuda_nvrtc/lib folder on LD_LIBRARY_PATH; or set CUDA_BIN_LOC to a folder \
         holding kernels compiled before for this GPU and driver"
            .into(),
    )
}

/// Whether `libnvrtc` can be loaded here (cached for the process).
pub fn nvrtc_present() -> bool {
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: only tries to dlopen the library under its usual names.
        #[allow(unsafe_code)]
        let found = std::panic::catch_unwind(|| unsafe { sys::is_culib_present() });
        found.unwrap_or(false)
    })
}

/// NVRTC's version, `(major, minor)`.
pub fn nvrtc_version() -> Result<(u32, u32)> {
    if !nvrtc_present() {
        return Err(missing_nvrtc());
    }
    guard("nvrtcVersion", || {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: nvrtcVersion writes one int through each pointer.
        #[allow(unsafe_code)]
        let r = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
        r.result().map_err(|e| nvrtc_err("nvrtcVersion", e))?;
        Ok((major.max(0) as u32, minor.max(0) as u32))
    })
}

fn nvrtc_err(what: &str, e: result::NvrtcError) -> Error {
    Error::Device(format!("NVRTC {what} failed: {:?}", e.0))
}

/// Compiles the kernels for `arch`: `compute_XY` for [`Output::Ptx`], `sm_XY` for
/// [`Output::Cubin`] (PTX can be had for either). A compile error carries NVRTC's log.
pub fn compile(arch: &str, output: Output) -> Result<Vec<u8>> {
    if !nvrtc_present() {
        return Err(missing_nvrtc());
    }
    guard("kernel compilation (NVRTC)", || {
        compile_loaded(arch, output)
    })
}

fn compile_loaded(arch: &str, output: Output) -> Result<Vec<u8>> {
    let src = CString::new(KERNEL_SOURCE).expect("the kernel source has no NUL byte");
    let name = CString::new("vc6_decode.cu").expect("no NUL");
    let prog = result::create_program(&src, Some(&name))
        .map_err(|e| nvrtc_err("nvrtcCreateProgram", e))?;
    let mut options: Vec<String> = BUILD_OPTIONS.iter().map(|o| o.to_string()).collect();
    options.push(format!("--gpu-architecture={arch}"));
    // SAFETY: `prog` comes from create_program above and is destroyed once, at the end;
    // `src` and `name` outlive it. The buffers handed to the getters are as long as the
    // sizes NVRTC reported.
    #[allow(unsafe_code)]
    let out = unsafe {
        let compiled = result::compile_program(prog, &options);
        let out = match compiled {
            Err(e) => {
                let log = result::get_program_log(prog)
                    .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                    .unwrap_or_default();
                Err(Error::Device(format!(
                    "NVRTC could not compile the CUDA kernels for {arch} ({:?}, options {}):\n{}",
                    e.0,
                    options.join(" "),
                    log.trim_end()
                )))
            }
            Ok(()) => match output {
                Output::Ptx => result::get_ptx(prog)
                    .map(|p| CStr::from_ptr(p.as_ptr()).to_bytes().to_vec())
                    .map_err(|e| nvrtc_err("nvrtcGetPTX", e)),
                Output::Cubin => get_cubin(prog),
            },
        };
        let _ = result::destroy_program(prog);
        out
    }?;
    if out.is_empty() {
        return Err(Error::Device(format!(
            "NVRTC returned no {} for {arch} (a cubin needs a real architecture, sm_XY)",
            match output {
                Output::Ptx => "PTX",
                Output::Cubin => "cubin",
            }
        )));
    }
    Ok(out)
}

/// # Safety
/// `prog` is a compiled NVRTC program, not yet destroyed.
#[allow(unsafe_code)]
unsafe fn get_cubin(prog: sys::nvrtcProgram) -> Result<Vec<u8>> {
    let mut size = 0usize;
    sys::nvrtcGetCUBINSize(prog, &mut size)
        .result()
        .map_err(|e| nvrtc_err("nvrtcGetCUBINSize", e))?;
    let mut buf = vec![0u8; size];
    if size > 0 {
        sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast())
            .result()
            .map_err(|e| nvrtc_err("nvrtcGetCUBIN", e))?;
    }
    Ok(buf)
}
