//! Building the stand-in driver (`tests/fake_libcuda.c`); shared with the facade's tests
//! (`crates/vc6/tests/auto_cuda.rs` includes this file by path).

use std::path::Path;
use std::process::Command;

/// Builds the stand-in `libcuda.so.1` into `dir` (with `defines`, e.g. `-DNO_DRIVER_VERSION`).
pub fn build_fake(dir: &Path, defines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    // Through include_str!, so the source is found from whichever crate includes this file.
    let src = dir.join("fake_libcuda.c");
    std::fs::write(&src, include_str!("../fake_libcuda.c")).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-shared", "-fPIC", "-pthread", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .args(defines)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running {cc} (the C compiler Rust links with): {e}"));
    assert!(
        out.status.success(),
        "building the fake driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
