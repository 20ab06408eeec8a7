//! Compiles the CUDA kernels with NVRTC, no GPU needed: for each architecture given
//! (`sm_80`, `sm_90`, ...) writes `OUT/decode.<arch>.ptx` (PTX for `compute_XY`, for ptxas
//! to check) and `OUT/decode.<arch>.cubin` (NVRTC's own cubin for `sm_XY`, what the backend
//! loads), and prints one line per architecture. A compile error ends with NVRTC's log and
//! status 1. `cargo xtask test` runs it (the check of `xtask/src/cuda.rs`).
//!
//! ```text
//! LD_LIBRARY_PATH=.../site-packages/nvidia/cuda_nvrtc/lib \
//!     cargo run -p vc6-cuda --example compile_kernels -- --out target/cuda-ptx sm_80 sm_90
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use vc6_cuda::{compile, nvrtc_version, Output};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut archs = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            a if a.starts_with("sm_") && a[3..].chars().all(|c| c.is_ascii_digit()) => {
                archs.push(a.to_string())
            }
            _ => {
                eprintln!("usage: compile_kernels --out DIR sm_XY...");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(out), false) = (out, archs.is_empty()) else {
        eprintln!("usage: compile_kernels --out DIR sm_XY...");
        return ExitCode::from(2);
    };
    match run(&out, &archs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compile_kernels: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path, archs: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (major, minor) = nvrtc_version()?;
    std::fs::create_dir_all(out)?;
    for arch in archs {
        let start = std::time::Instant::now();
        let virtual_arch = arch.replacen("sm_", "compute_", 1);
        let ptx = compile(&virtual_arch, Output::Ptx)?;
        let cubin = compile(arch, Output::Cubin)?;
        let ptx_path = out.join(format!("decode.{arch}.ptx"));
        std::fs::write(&ptx_path, &ptx)?;
        std::fs::write(out.join(format!("decode.{arch}.cubin")), &cubin)?;
        println!(
            "{arch}: NVRTC {major}.{minor}: PTX ({virtual_arch}) {} bytes, cubin {} bytes, \
             {:.1} s -> {}",
            ptx.len(),
            cubin.len(),
            start.elapsed().as_secs_f64(),
            ptx_path.display()
        );
    }
    Ok(())
}
