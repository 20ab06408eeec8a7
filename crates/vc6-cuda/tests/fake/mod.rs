//! Building the stand-in driver (`tests/fake_libcuda.c`, with the kernels on the CPU from
//! `tests/fake_kernels.c`); shared with the facade's tests (`crates/vc6/tests/auto_cuda.rs`
//! includes this file by path).

use std::path::Path;
use std::process::Command;

/// Builds the stand-in `libcuda.so.1` into `dir` (with `defines`, e.g. `-DNO_DRIVER_VERSION`).
pub fn build_fake(dir: &Path, defines: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    // The sources are compiled in (include_str!, relative to this file whichever crate
    // includes it), so the test binaries also work away from the repository (the GPU
    // bundle runs them on another machine).
    let sources = [
        ("fake_libcuda.c", include_str!("../fake_libcuda.c")),
        ("fake_kernels.c", include_str!("../fake_kernels.c")),
        (
            "dialect.h",
            include_str!("../../../../shaders/host/dialect.h"),
        ),
        ("decode_body.h", include_str!("../../kernels/decode_body.h")),
    ];
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (name, text) in sources {
        std::fs::write(src.join(name), text).unwrap();
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-shared", "-fPIC", "-pthread", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .args(defines)
        .arg("-I")
        .arg(&src)
        .arg(src.join("fake_libcuda.c"))
        .arg(src.join("fake_kernels.c"))
        .output()
        .unwrap_or_else(|e| panic!("running {cc} (the C compiler Rust links with): {e}"));
    assert!(
        out.status.success(),
        "building the fake driver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
