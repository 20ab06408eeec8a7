//! `--backend cuda` where CUDA cannot decode: no NVIDIA driver (CI and the dev machines), or
//! a driver and a backend whose device decode has never run on a GPU and is off unless
//! VC6_CUDA_UNTESTED=1 (no GPU has run this test). Either way `vc6 decode` ends with one
//! `vc6: error:` line saying why, and `vc6 info --backends` lists cuda with the reason.
//! And where it can decode (here: on the stand-in driver, which runs the kernels on the
//! CPU), `--backend cuda` gives `--backend cpu`'s bytes.

mod common;

use common::vc6;
use std::path::PathBuf;

/// The reasons CUDA can give for not decoding.
const REASONS: [&str; 5] = [
    "no NVIDIA driver found (libcuda.so.1 could not be loaded)",
    "never run on a GPU",
    "not compiled into this build",
    "lists no CUDA device",
    "NVRTC",
];

fn has_reason(text: &str) -> bool {
    REASONS.iter().any(|r| text.contains(r))
}

#[test]
fn cuda_cannot_decode_and_says_why_in_one_line() {
    let dir = std::env::temp_dir().join(format!("vc6-cli-test-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png: PathBuf = dir.join("in.png");
    image::GrayImage::from_fn(19, 11, |x, y| image::Luma([(x * 13 + y * 7) as u8]))
        .save(&png)
        .unwrap();
    let stream = dir.join("in.vc6");
    let out = vc6(&[&"encode", &png, &"-o", &stream]);
    assert!(out.status.success(), "{out:?}");

    let decoded = dir.join("out.png");
    let out = vc6(&[&"decode", &stream, &"-o", &decoded, &"--backend", &"cuda"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("vc6: error: "), "{stderr}");
    assert!(has_reason(&stderr), "no reason given: {stderr}");
    if stderr.contains("no NVIDIA driver found") {
        assert_eq!(
            stderr.trim_end(),
            "vc6: error: starting the decoder: device error: no NVIDIA driver found \
             (libcuda.so.1 could not be loaded)"
        );
    }
    assert!(!decoded.exists(), "no output is written");

    // The listing: one line for cuda, with the reason.
    let out = vc6(&[&"info", &"--backends"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("cuda "))
        .unwrap_or_else(|| panic!("cuda missing from:\n{text}"));
    assert!(line.contains("cannot run here: "), "{line}");
    assert!(has_reason(line), "{line}");
    assert_eq!(
        line.contains("not compiled in"),
        !cfg!(feature = "cuda"),
        "{line}"
    );

    let out = vc6(&[&"info", &"--backends", &"--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cuda = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "cuda")
        .expect("cuda in the JSON listing");
    assert_eq!(cuda["compiled"], cfg!(feature = "cuda"));
    assert_eq!(cuda["available"], false);
    assert!(has_reason(cuda["error"].as_str().unwrap()), "{cuda}");

    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(all(feature = "cuda", target_os = "linux"))]
#[path = "../../vc6-cuda/tests/fake/mod.rs"]
mod fake;

/// `vc6 decode --backend cuda` gives the bytes `--backend cpu` gives, at full size and at
/// a lower LoQ, 8 and 16 bits, through the CUDA backend's whole host side. There is no
/// GPU here: the stand-in driver (`crates/vc6-cuda/tests/fake_libcuda.c`, FAKE_CUDA_RUN=1)
/// runs the shared kernel bodies on the CPU, and a stand-in cubin in the kernel cache
/// takes NVRTC's place. `vc6 info --backends` then lists cuda as running, and `auto`
/// takes it for a batch.
#[cfg(all(feature = "cuda", target_os = "linux"))]
#[test]
fn cuda_decodes_the_cpus_bytes_on_the_stand_in_driver() {
    use std::process::Command;
    let dir = common::TempDir::new("cuda-emulated");
    let lib = dir.path("lib");
    fake::build_fake(&lib, &[]);
    // The stand-in's device 0: sm_80, driver 12.4; only those two key the cache.
    let info = vc6::cuda::DeviceInfo {
        ordinal: 0,
        name: "Fake A100-SXM4-40GB".into(),
        compute_capability: (8, 0),
        multiprocessors: 108,
        global_mem: 40 << 30,
        driver_version: 12040,
    };
    let cache = dir.path("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        vc6::cuda::cache_path(&cache, &info),
        b"\x7fELF a cubin, as far as the fake driver can tell",
    )
    .unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vc6"))
            .args(args)
            .env("LD_LIBRARY_PATH", &lib)
            .env("FAKE_CUDA", "3")
            .env("FAKE_CUDA_RUN", "1")
            .env("VC6_CUDA_UNTESTED", "1")
            .env("CUDA_BIN_LOC", &cache)
            .env_remove("FAKE_CUDA_LOG")
            .env_remove("VC6_CUDA_DEVICE")
            .env_remove("CUDA_VISIBLE_DEVICES")
            .output()
            .unwrap();
        assert!(out.status.success(), "vc6 {args:?}: {out:?}");
        out
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let rgb = dir.path("rgb.png");
    image::RgbImage::from_fn(37, 23, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 11) as u8, (x ^ y) as u8])
    })
    .save(&rgb)
    .unwrap();
    let grey16 = dir.path("grey16.png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_fn(29, 17, |x, y| {
        image::Luma([(x * 2111 + y * 977) as u16])
    })
    .save(&grey16)
    .unwrap();
    let cases = [
        (&rgb, vec![]),
        (&grey16, vec![]),
        (&rgb, vec!["--quality", "60"]),
    ];
    for (i, (png, extra)) in cases.iter().enumerate() {
        let stream = dir.path(&format!("{i}.vc6"));
        let mut args = vec![
            os("encode"),
            (*png).clone().into(),
            os("-o"),
            stream.clone().into(),
        ];
        args.extend(extra.iter().map(|s| os(s)));
        run(&args.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
        for loq in ["0", "1"] {
            let decode = |backend: &str| {
                let out = dir.path(&format!("{i}-{loq}-{backend}.png"));
                let args = [
                    os("decode"),
                    stream.clone().into(),
                    os("-o"),
                    out.clone().into(),
                    os("--loq"),
                    os(loq),
                    os("--backend"),
                    os(backend),
                    os("-v"),
                ];
                let said = run(&args.iter().map(|s| s.as_os_str()).collect::<Vec<_>>());
                let said = String::from_utf8_lossy(&said.stdout);
                assert!(said.contains(&format!("backend: {backend}")), "{said}");
                std::fs::read(out).unwrap()
            };
            assert_eq!(
                decode("cuda"),
                decode("cpu"),
                "{} at LoQ {loq}",
                png.display()
            );
        }
    }
    let out = run(&[&os("info"), &os("--backends")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("cuda ")).unwrap();
    assert!(line.contains("runs on Fake A100"), "{line}");
}
