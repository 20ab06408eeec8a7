//! `Backend::Auto` takes CUDA exactly where CUDA can run, checked against the stand-in
//! driver of vc6-cuda's tests (`crates/vc6-cuda/tests/fake_libcuda.c`: made-up devices,
//! no kernels). With a device and `VC6_CUDA_UNTESTED=1`, `Auto` is CUDA; without the
//! variable (the decode has never run on a GPU) or without a device, it is not. No GPU
//! has run this test.
//!
//! Each case runs in a child process (this test binary again, `auto_child`), since the
//! driver library is loaded once per process.
#![cfg(all(target_os = "linux", feature = "cuda"))]

#[path = "../../vc6-cuda/tests/fake/mod.rs"]
mod fake;

use std::process::Command;
use vc6::{Backend, Decoder, DecoderSettings};

#[test]
fn auto_prefers_cuda_exactly_where_it_runs() {
    let dir = std::env::temp_dir().join(format!("vc6-auto-cuda-{}", std::process::id()));
    fake::build_fake(&dir, &[]);
    // (FAKE_CUDA mode, VC6_CUDA_UNTESTED, whether Auto is CUDA): mode 3 has devices,
    // mode 1 none.
    for (mode, untested, cuda) in [
        ("3", Some("1"), true),
        ("3", None, false),
        ("1", Some("1"), false),
    ] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["auto_child", "--exact", "--ignored", "--nocapture"])
            .env("LD_LIBRARY_PATH", &dir)
            .env("CUDA_BIN_LOC", dir.join("cache"))
            .env("FAKE_CUDA", mode)
            .env("VC6_AUTO_EXPECT", if cuda { "cuda" } else { "other" })
            .env_remove("VC6_CUDA_UNTESTED")
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env_remove("VC6_CUDA_DEVICE");
        if let Some(v) = untested {
            cmd.env("VC6_CUDA_UNTESTED", v);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "mode {mode}, VC6_CUDA_UNTESTED {untested:?}:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One case, in a child process with the stand-in driver loaded.
#[test]
#[ignore = "run by auto_prefers_cuda_exactly_where_it_runs, with the fake driver loaded"]
fn auto_child() {
    let Ok(expect) = std::env::var("VC6_AUTO_EXPECT") else {
        return;
    };
    let cuda = Backend::status()
        .into_iter()
        .find(|s| s.backend == Backend::Cuda)
        .unwrap();
    if expect == "cuda" {
        assert_eq!(Backend::Auto.resolve(), Backend::Cuda);
        assert!(Backend::available().contains(&Backend::Cuda));
        assert!(cuda.device.unwrap().starts_with("Fake A100"));
        // The settings' device: each decoder on the GPU it names (stand-in cubins in the
        // kernel cache for both devices, so no NVRTC is needed).
        let cache = std::path::PathBuf::from(std::env::var("CUDA_BIN_LOC").unwrap());
        std::fs::create_dir_all(&cache).unwrap();
        for hint in ["0", "1"] {
            let config = vc6::cuda::CudaConfig {
                device: Some(hint.into()),
                ..Default::default()
            };
            let info = vc6::cuda::CudaBackend::probe(&config).unwrap();
            std::fs::write(vc6::cuda::cache_path(&cache, &info), b"\x7fELF").unwrap();
        }
        let on = |backend, device: Option<&str>| {
            Decoder::new(DecoderSettings {
                backend,
                device: device.map(str::to_owned),
                ..Default::default()
            })
        };
        for (backend, device, name) in [
            (Backend::Auto, None, "Fake A100"),
            (Backend::Auto, Some("h100"), "Fake H100"),
            (Backend::Cuda, Some("1"), "Fake H100"),
            (Backend::Cuda, Some("a100"), "Fake A100"),
        ] {
            let d = on(backend, device).unwrap();
            assert_eq!(d.backend_name(), "cuda");
            assert!(d.device().starts_with(name), "{device:?}: {}", d.device());
        }
        // A hint that names no GPU: `Auto` falls back, an explicit CUDA says why.
        let d = on(Backend::Auto, Some("no such gpu")).unwrap();
        assert_ne!(d.backend_name(), "cuda");
        let e = on(Backend::Cuda, Some("no such gpu"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such gpu"), "{e}");
        // The CPU ignores it.
        assert_eq!(on(Backend::Cpu, Some("1")).unwrap().backend_name(), "cpu");
    } else {
        assert_ne!(Backend::Auto.resolve(), Backend::Cuda);
        assert!(!Backend::available().contains(&Backend::Cuda));
        let why = cuda.device.unwrap_err();
        assert!(
            why.contains("VC6_CUDA_UNTESTED=1") || why.contains("no CUDA device"),
            "{why}"
        );
    }
}
