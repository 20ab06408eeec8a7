//! The CUDA step of `cargo xtask test`: the CUDA kernels compiled and checked without a GPU.
//!
//! NVRTC and ptxas come from PyPI (`nvidia-cuda-nvrtc-cu12`, `nvidia-cuda-nvcc-cu12`), in
//! a virtualenv at `target/cuda-venv` made the first time. The kernel source (the CUDA
//! dialect header plus the shared body, `vc6_cuda::KERNEL_SOURCE`) goes through NVRTC
//! from Rust, by the backend's own compile path (cudarc; the example
//! `crates/vc6-cuda/examples/compile_kernels.rs` with the wheel's library folder on
//! `LD_LIBRARY_PATH`), to PTX for each architecture and to NVRTC's cubin; then ptxas
//! assembles each PTX for its architecture. Any error fails the step with the compiler's
//! log; so does a machine without Python or pip (nothing is skipped).

use crate::{run_cmd, step, venv, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The wheels, pinned to the CUDA version the backend's bindings are built for (cudarc's
/// `cuda-12090`).
const WHEELS: [&str; 2] = [
    "nvidia-cuda-nvrtc-cu12==12.9.*",
    "nvidia-cuda-nvcc-cu12==12.9.*",
];

/// The architectures checked: Ampere (A100) and Hopper (H100, H200).
pub const ARCHS: [&str; 2] = ["sm_80", "sm_90"];

/// Compiles the CUDA kernels with NVRTC for [`ARCHS`] and checks each PTX with ptxas;
/// prints one line per architecture (PTX size, registers per kernel). Returns NVRTC's
/// library folder.
pub fn check_kernels() -> Result<PathBuf> {
    let start = Instant::now();
    let root = workspace_root();
    step(&format!(
        "CUDA kernels without a GPU: NVRTC to PTX for {}, checked by ptxas",
        ARCHS.join(" and ")
    ));
    let venv = root.join("target").join("cuda-venv");
    let system = venv::find_python(0, "the CUDA kernel check (NVRTC and ptxas from PyPI)")?;
    let python = venv::ensure(&venv, &system, "NVRTC and ptxas")?;
    let site = site_packages(&python)?;
    let nvrtc_lib = site.join("nvidia").join("cuda_nvrtc").join("lib");
    let ptxas = site
        .join("nvidia")
        .join("cuda_nvcc")
        .join("bin")
        .join("ptxas");
    let present = || nvrtc_lib.join("libnvrtc.so.12").exists() && ptxas.exists();
    if !present() {
        println!(
            "xtask: NVRTC or ptxas missing: installing {} from PyPI into {} (about 300 MB)",
            WHEELS.join(" "),
            venv.display()
        );
        venv::pip_install(&python, &WHEELS).context(
            "pip could not install the CUDA compiler wheels (no pip in the virtualenv? \
             Debian: apt-get install python3-pip python3-venv; or no access to PyPI)",
        )?;
        if !present() {
            bail!(
                "the wheels installed, but {} or {} is missing",
                nvrtc_lib.join("libnvrtc.so.12").display(),
                ptxas.display()
            );
        }
    } else {
        println!("xtask: NVRTC and ptxas present in {}", venv.display());
    }

    let out = root.join("target").join("cuda-ptx");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut library_path = std::ffi::OsString::from(nvrtc_lib.as_os_str());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        library_path.push(":");
        library_path.push(old);
    }
    run_cmd(
        Command::new(&cargo)
            .args([
                "run",
                "--quiet",
                "-p",
                "vc6-cuda",
                "--example",
                "compile_kernels",
                "--",
                "--out",
            ])
            .arg(&out)
            .args(ARCHS)
            .current_dir(&root)
            .env("LD_LIBRARY_PATH", library_path),
    )
    .context("NVRTC could not compile the CUDA kernels (its log is above)")?;

    for arch in ARCHS {
        let ptx = out.join(format!("decode.{arch}.ptx"));
        let size = std::fs::metadata(&ptx)
            .with_context(|| format!("NVRTC left no PTX at {}", ptx.display()))?
            .len();
        let run = Command::new(&ptxas)
            .arg(format!("-arch={arch}"))
            .arg("-v")
            .arg(&ptx)
            .arg("-o")
            .arg(out.join(format!("decode.{arch}.ptxas.cubin")))
            .output()
            .with_context(|| format!("could not start {}", ptxas.display()))?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        if !run.status.success() {
            bail!(
                "ptxas rejected the PTX for {arch} ({}):\n{}",
                run.status,
                log.trim_end()
            );
        }
        let regs = registers(&log);
        let regs = if regs.is_empty() {
            "ptxas -v gave no register counts".to_string()
        } else {
            let list: Vec<String> = regs.iter().map(|(k, r)| format!("{k} {r}")).collect();
            format!("registers: {}", list.join(", "))
        };
        println!("xtask: CUDA {arch}: PTX {size} bytes, ptxas OK; {regs}");
    }
    println!(
        "xtask: CUDA kernels compiled and checked in {:.1} s (outputs in {})",
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(nvrtc_lib)
}

/// The shared backend suite and conformance on the CUDA backend without a GPU: against
/// the stand-in driver (`crates/vc6-cuda/tests/fake_libcuda.c`), whose launches run the
/// shared kernel bodies on the CPU (`fake_kernels.c`, in the host C dialect
/// `shaders/host/dialect.h`), so every decode goes through the CUDA backend's whole host
/// side (NVRTC's cubin and its cache, buffers, segments, kernel arguments, launch shapes,
/// pinned copies, lanes) and its pixels are compared with the CPU's. A batch memory of
/// 1 MiB puts most frames of a batch in chunks of their own, over every lane. It does not
/// run the kernels as a GPU would (CUDA's compiler, memory model and warps): that needs a
/// GPU.
pub fn emulated_suite(features: &str, nvrtc_lib: &Path) -> Result<()> {
    let root = workspace_root();
    step(
        "the shared backend suite and conformance on CUDA's host code, kernels run on the \
         CPU by the stand-in driver (no GPU)",
    );
    let dir = root.join("target").join("fake-cuda");
    let (lib, cache) = (dir.join("lib"), dir.join("cache"));
    std::fs::create_dir_all(&lib)?;
    std::fs::create_dir_all(&cache)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let tests = root.join("crates").join("vc6-cuda").join("tests");
    run_cmd(
        Command::new(&cc)
            .args(["-shared", "-fPIC", "-pthread", "-O1", "-o"])
            .arg(lib.join("libcuda.so.1"))
            .arg("-I")
            .arg(root.join("shaders").join("host"))
            .arg("-I")
            .arg(root.join("shaders").join("common"))
            .arg(tests.join("fake_libcuda.c"))
            .arg(tests.join("fake_kernels.c")),
    )
    .context("building the stand-in CUDA driver (needs a C compiler, cc)")?;
    let mut library_path = lib.into_os_string();
    library_path.push(":");
    library_path.push(nvrtc_lib);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_cmd(
        Command::new(cargo)
            .args(["test", "-p", "vc6", "--features", features])
            .args(["--test", "backends", "--test", "conformance"])
            .current_dir(&root)
            .env("LD_LIBRARY_PATH", library_path)
            .env("FAKE_CUDA", "3")
            .env("FAKE_CUDA_RUN", "1")
            .env("VC6_CUDA_UNTESTED", "1")
            .env("VC6_REQUIRE_BACKENDS", "cuda")
            .env("VC6_CUDA_BATCH_MEMORY", "1M")
            .env("CUDA_BIN_LOC", &cache)
            .env_remove("FAKE_CUDA_LOG")
            .env_remove("VC6_CUDA_DEVICE")
            .env_remove("CUDA_VISIBLE_DEVICES"),
    )
    .context("the CUDA backend's host code, with the kernels run on the CPU, disagrees with the CPU backend")
}

/// The virtualenv's `site-packages` folder.
fn site_packages(python: &Path) -> Result<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .with_context(|| format!("could not run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} does not run: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `(kernel, registers)` from `ptxas -v`'s log, in the order it lists them.
fn registers(log: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut kernel = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            kernel = rest.split('\'').next().map(str::to_string);
        } else if let Some(rest) = line.split("Used ").nth(1) {
            let n = rest.split(' ').next().and_then(|n| n.parse().ok());
            if let (Some(k), Some(n), true) = (kernel.take(), n, rest.contains("registers")) {
                out.push((k, n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_come_from_the_ptxas_log() {
        let log = "ptxas info    : 0 bytes gmem\n\
            ptxas info    : Compiling entry function 'pack_plane' for 'sm_80'\n\
            ptxas info    : Function properties for pack_plane\n\
            \x20   0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
            ptxas info    : Used 12 registers, used 0 barriers, 416 bytes cmem[0]\n\
            ptxas info    : Compiling entry function 'decode_tiles' for 'sm_80'\n\
            ptxas info    : Used 95 registers, used 1 barriers, 68 bytes smem\n";
        assert_eq!(
            registers(log),
            [
                ("pack_plane".to_string(), 12),
                ("decode_tiles".to_string(), 95)
            ]
        );
        assert!(registers("").is_empty());
    }

    /// The whole check, end to end (installs the wheels the first time, about 300 MB):
    /// `cargo test -p xtask cuda -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn check_kernels_end_to_end() {
        check_kernels().unwrap();
    }
}
