//! Building the stand-in driver (`tests/fake_libcuda.c`, with the kernels on the CPU from
//! `tests/fake_kernels.c`); shared with the facade's tests (`crates/vc6/tests/auto_cuda.rs`
//! includes this file by path).

use std::path::Path;
use std::process::Command;

/// Builds the stand-in `libcuda.so.1` into `dir` (with `defines`, e.g. `-DNO_DRIVER_VERSION`).
pub fn build_fake(dir: &Path, defines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    // The repository's root: this file is included by crates under crates/, whose
    // manifests are two folders down.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tests = root.join("crates/vc6-cuda/tests");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-shared", "-fPIC", "-pthread", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .args(defines)
        .arg("-I")
        .arg(root.join("shaders/host"))
        .arg("-I")
        .arg(root.join("shaders/common"))
        .arg(tests.join("fake_libcuda.c"))
        .arg(tests.join("fake_kernels.c"))
        .output()
        .unwrap_or_else(|e| panic!("running {cc} (the C compiler Rust links with): {e}"));
    assert!(
        out.status.success(),
        "building the fake driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
