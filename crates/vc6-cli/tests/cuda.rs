//! `--backend cuda` where CUDA cannot decode, which is everywhere today: no NVIDIA driver
//! (CI and the dev machines), or a driver and a backend whose device decode has never run
//! on a GPU and is off unless VC6_CUDA_UNTESTED=1 (no GPU has run this test). Either way `vc6 decode` ends
//! with one `vc6: error:` line saying why, and `vc6 info --backends` lists cuda with the
//! reason.

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
