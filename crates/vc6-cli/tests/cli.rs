//! End-to-end tests of the `vc6` binary.

mod common;

use common::{vc6, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;

const W: u32 = 37;
const H: u32 = 23;

/// Runs vc6 and insists it succeeds; returns stdout.
fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = vc6(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vc6 {:?} failed ({:?}): {stderr}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs vc6, insists it fails with one `vc6: error:` line and no panic; returns that line.
fn fails(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = vc6(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "vc6 should have failed; stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("vc6: error: "), "{stderr}");
    stderr
}

/// A 37x23 RGB picture: gradients plus a checker and some noise-like pattern.
fn test_image() -> image::RgbImage {
    image::RgbImage::from_fn(W, H, |x, y| {
        let checker = if (x / 4 + y / 3) % 2 == 0 { 40 } else { 0 };
        let hash = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 7;
        image::Rgb([
            (x * 255 / (W - 1)) as u8,
            (y * 255 / (H - 1)) as u8 ^ checker,
            (hash % 256) as u8,
        ])
    })
}

fn crop(img: &image::RgbImage, x: u32, y: u32, w: u32, h: u32) -> image::RgbImage {
    image::imageops::crop_imm(img, x, y, w, h).to_image()
}

/// Writes the test PNG and encodes it; returns (png, vc6) paths.
fn encoded(dir: &TempDir) -> (PathBuf, PathBuf) {
    let png = dir.path("in.png");
    test_image().save(&png).unwrap();
    let stream = dir.path("in.vc6");
    let stdout = ok(&[&"encode", &png, &"-o", &stream]);
    assert!(stdout.contains("37x23 rgb8"), "summary: {stdout}");
    assert!(
        stdout.contains("bytes") && stdout.contains("bpp"),
        "summary: {stdout}"
    );
    (png, stream)
}

fn read_rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().into_rgb8()
}

#[test]
fn png_round_trip_is_lossless() {
    let dir = TempDir::new("roundtrip");
    let (_, stream) = encoded(&dir);
    let out = dir.path("out.png");
    ok(&[&"decode", &stream, &"-o", &out]);
    assert_eq!(read_rgb(&out), test_image());
}

#[test]
fn netpbm_and_raw_outputs_match() {
    let dir = TempDir::new("netpbm");
    let (_, stream) = encoded(&dir);
    let ppm = dir.path("out.ppm");
    ok(&[&"decode", &stream, &"-o", &ppm]);
    assert_eq!(read_rgb(&ppm), test_image());
    let pam = dir.path("out.pam");
    ok(&[&"decode", &stream, &"-o", &pam]);
    let bytes = std::fs::read(&pam).unwrap();
    assert!(bytes.starts_with(b"P7\nWIDTH 37\nHEIGHT 23\nDEPTH 3\nMAXVAL 255\n"));
    assert!(bytes.ends_with(test_image().as_raw()));
    let raw = dir.path("out.rgb");
    ok(&[&"decode", &stream, &"-o", &raw]);
    assert_eq!(std::fs::read(&raw).unwrap(), test_image().into_raw());
    // Gray output of an RGB frame is refused with a reason.
    let err = fails(&[&"decode", &stream, &"-o", &dir.path("out.pgm")]);
    assert!(err.contains("gray"), "{err}");
    assert!(
        err.contains(".ppm") && err.contains("--format gray8"),
        "{err}"
    );
    let err = fails(&[&"decode", &stream, &"-o", &dir.path("out.xyz")]);
    assert!(err.contains("unknown output type"), "{err}");
}

#[test]
fn loq_1_is_half_size() {
    let dir = TempDir::new("loq");
    let (_, stream) = encoded(&dir);
    let out = dir.path("loq1.png");
    ok(&[&"decode", &stream, &"-o", &out, &"--loq", &"1"]);
    let img = read_rgb(&out);
    assert_eq!(img.dimensions(), (19, 12));
}

#[test]
fn region_is_crop_of_full_decode() {
    let dir = TempDir::new("region");
    let (_, stream) = encoded(&dir);
    let full = dir.path("full.png");
    ok(&[&"decode", &stream, &"-o", &full]);
    let full = read_rgb(&full);
    let part = dir.path("part.png");
    ok(&[&"decode", &stream, &"-o", &part, &"--region", &"5,3,20,11"]);
    assert_eq!(read_rgb(&part), crop(&full, 5, 3, 20, 11));
    // A region touching the right and bottom edges.
    ok(&[&"decode", &stream, &"-o", &part, &"--region", &"30,17,7,6"]);
    assert_eq!(read_rgb(&part), crop(&full, 30, 17, 7, 6));

    // The same at LoQ 1, in LoQ 1's grid.
    let half = dir.path("half.png");
    ok(&[&"decode", &stream, &"-o", &half, &"--loq", &"1"]);
    let half = read_rgb(&half);
    ok(&[
        &"decode",
        &stream,
        &"-o",
        &part,
        &"--loq",
        &"1",
        &"--region",
        &"2,1,9,8",
    ]);
    assert_eq!(read_rgb(&part), crop(&half, 2, 1, 9, 8));
}

#[test]
fn info_json_has_the_fields() {
    let dir = TempDir::new("info");
    let (_, stream) = encoded(&dir);
    let text = ok(&[&"info", &stream, &"--json"]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("info --json is JSON");
    for key in [
        "width",
        "height",
        "format",
        "lossless",
        "upsampler",
        "colour_transform",
        "planes",
        "loqs",
        "header_bytes",
        "total_bytes",
        "file_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {text}");
    }
    assert_eq!(v["width"], 37);
    assert_eq!(v["height"], 23);
    assert_eq!(v["format"], "rgb8");
    assert_eq!(v["lossless"], true);
    let file_len = std::fs::metadata(&stream).unwrap().len();
    assert_eq!(v["file_bytes"], file_len);
    assert_eq!(v["total_bytes"], file_len);
    let planes = v["planes"].as_array().unwrap();
    assert!(!planes.is_empty());
    for p in planes {
        for key in ["width", "height", "bit_depth", "echelons"] {
            assert!(p.get(key).is_some(), "plane lacks {key}: {p}");
        }
    }
    let loqs = v["loqs"].as_array().unwrap();
    assert!(loqs.len() >= 2, "{text}");
    assert_eq!(loqs[0]["loq"], 0);
    assert_eq!(loqs[0]["width"], 37);
    assert_eq!(loqs[0]["height"], 23);
    assert_eq!(loqs[0]["required_bytes"], file_len);
    assert_eq!(loqs[1]["width"], 19);
    assert_eq!(loqs[1]["height"], 12);
    let needs: Vec<u64> = loqs
        .iter()
        .map(|l| l["required_bytes"].as_u64().unwrap())
        .collect();
    assert!(needs.windows(2).all(|w| w[0] >= w[1]), "{needs:?}");

    // The text form names the same things.
    let text = ok(&[&"info", &stream]);
    for word in ["37x23", "rgb8", "lossless", "upsampler", "LoQ 1: 19x12"] {
        assert!(text.contains(word), "'{word}' missing from: {text}");
    }
}

#[test]
fn prefix_decodes_coarser_loqs() {
    let dir = TempDir::new("prefix");
    let (_, stream) = encoded(&dir);
    let v: serde_json::Value = serde_json::from_str(&ok(&[&"info", &stream, &"--json"])).unwrap();
    let need1 = v["loqs"][1]["required_bytes"].as_u64().unwrap() as usize;
    let bytes = std::fs::read(&stream).unwrap();
    let prefix = dir.path("prefix.vc6");
    std::fs::write(&prefix, &bytes[..need1]).unwrap();

    let t: serde_json::Value = serde_json::from_str(&ok(&[&"info", &prefix, &"--json"])).unwrap();
    assert_eq!(t["truncated"], true);
    assert_eq!(t["decodable_loqs"][0], 1);
    let text = ok(&[&"info", &prefix]);
    assert!(text.contains("truncated"), "{text}");

    let full_half = dir.path("a.png");
    ok(&[&"decode", &stream, &"-o", &full_half, &"--loq", &"1"]);
    let prefix_half = dir.path("b.png");
    ok(&[&"decode", &prefix, &"-o", &prefix_half, &"--loq", &"1"]);
    assert_eq!(read_rgb(&prefix_half), read_rgb(&full_half));

    let err = fails(&[&"decode", &prefix, &"-o", &dir.path("c.png")]);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("--loq 1"), "{err}");
}

#[test]
fn raw_input_round_trip() {
    let dir = TempDir::new("raw");
    let raw = dir.path("in.bin");
    let pixels = test_image().into_raw();
    std::fs::write(&raw, &pixels).unwrap();
    let stream = dir.path("raw.vc6");
    ok(&[
        &"encode",
        &raw,
        &"-o",
        &stream,
        &"--size",
        &"37x23",
        &"--format",
        &"rgb8",
    ]);
    let out = dir.path("out.raw");
    ok(&[&"decode", &stream, &"-o", &out]);
    assert_eq!(std::fs::read(&out).unwrap(), pixels);

    // 16-bit gray, 12 bits used, from a file named by its extension.
    let gray: Vec<u8> = (0..W * H)
        .flat_map(|i| (((i * 97) % 4096) as u16).to_le_bytes())
        .collect();
    let raw16 = dir.path("g.raw");
    std::fs::write(&raw16, &gray).unwrap();
    let stream16 = dir.path("g.vc6");
    ok(&[
        &"encode",
        &raw16,
        &"-o",
        &stream16,
        &"--size",
        &"37x23",
        &"--format",
        &"gray16",
        &"--bit-depth",
        &"12",
    ]);
    let out16 = dir.path("g-out.raw");
    ok(&[&"decode", &stream16, &"-o", &out16]);
    assert_eq!(std::fs::read(&out16).unwrap(), gray);
    // Its PGM has maxval 4095 and big-endian samples.
    let pgm = dir.path("g.pgm");
    ok(&[&"decode", &stream16, &"-o", &pgm]);
    let bytes = std::fs::read(&pgm).unwrap();
    let header = b"P5\n37 23\n4095\n";
    assert!(bytes.starts_with(header));
    let be: Vec<u8> = gray.chunks(2).flat_map(|c| [c[1], c[0]]).collect();
    assert_eq!(&bytes[header.len()..], &be[..]);
    // And the PGM encodes back to the same samples.
    let again = dir.path("g2.vc6");
    ok(&[&"encode", &pgm, &"-o", &again]);
    ok(&[&"decode", &again, &"-o", &out16]);
    assert_eq!(std::fs::read(&out16).unwrap(), gray);

    // Wrong length, missing --format, missing --size.
    let err = fails(&[
        &"encode",
        &raw,
        &"-o",
        &stream,
        &"--size",
        &"36x23",
        &"--format",
        &"rgb8",
    ]);
    assert!(err.contains("bytes"), "{err}");
    let err = fails(&[&"encode", &raw, &"-o", &stream, &"--size", &"37x23"]);
    assert!(err.contains("--format"), "{err}");
    let err = fails(&[&"encode", &raw, &"-o", &stream, &"--format", &"rgb8"]);
    assert!(err.contains("--size"), "{err}");
}

#[test]
fn several_inputs_go_to_a_folder() {
    let dir = TempDir::new("multi");
    let a = dir.path("a.png");
    let b = dir.path("b.png");
    test_image().save(&a).unwrap();
    image::imageops::flip_horizontal(&test_image())
        .save(&b)
        .unwrap();
    let out_dir = dir.path("out");
    let stdout = ok(&[&"encode", &a, &b, &"-o", &out_dir]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for (name, want) in [
        ("a", test_image()),
        ("b", image::imageops::flip_horizontal(&test_image())),
    ] {
        let stream = out_dir.join(format!("{name}.vc6"));
        assert!(stream.is_file(), "{} missing", stream.display());
        let png = dir.path(&format!("{name}-out.png"));
        ok(&[&"decode", &stream, &"-o", &png]);
        assert_eq!(read_rgb(&png), want);
    }
}

#[test]
fn truncated_file_is_named() {
    let dir = TempDir::new("trunc");
    let (_, stream) = encoded(&dir);
    let bytes = std::fs::read(&stream).unwrap();
    let cut = dir.path("cut.vc6");
    std::fs::write(&cut, &bytes[..40]).unwrap();
    let err = fails(&[&"decode", &cut, &"-o", &dir.path("x.png")]);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("cut.vc6"), "{err}");
    let err = fails(&[&"info", &cut]);
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn foreign_file_is_named() {
    let dir = TempDir::new("foreign");
    let (png, _) = encoded(&dir);
    let err = fails(&[&"decode", &png, &"-o", &dir.path("x.png")]);
    assert!(err.contains("not a vc6"), "{err}");
    assert!(err.contains("in.png"), "{err}");
    let err = fails(&[&"info", &png, &"--json"]);
    assert!(err.contains("not a vc6"), "{err}");
}

#[test]
fn corrupted_file_fails_cleanly() {
    let dir = TempDir::new("corrupt");
    let (_, stream) = encoded(&dir);
    let good = std::fs::read(&stream).unwrap();
    // A flipped bit in the header's plane sizes fails its checksum.
    let mut bytes = good.clone();
    bytes[14] ^= 0x01;
    let bad = dir.path("bad.vc6");
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails(&[&"decode", &bad, &"-o", &dir.path("x.png")]);
    assert!(err.contains("corrupt"), "{err}");
    assert!(err.contains("bad.vc6"), "{err}");
    // Damage in the body: an error or some picture, never a panic.
    let n = good.len();
    for i in [n / 2, n - 3, n - 1] {
        let mut bytes = good.clone();
        bytes[i] ^= 0x5a;
        std::fs::write(&bad, &bytes).unwrap();
        let out = vc6(&[&"decode", &bad, &"-o", &dir.path("y.png")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        if !out.status.success() {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
}

#[test]
fn missing_input_and_usage_errors() {
    let dir = TempDir::new("usage");
    let err = fails(&[&"decode", &dir.path("nope.vc6"), &"-o", &dir.path("x.png")]);
    assert!(err.contains("nope.vc6"), "{err}");
    let out = vc6(&[&"encode"]);
    assert_eq!(out.status.code(), Some(2));
    let out = vc6(&[&"decode", &"x.vc6", &"-o", &"y.png", &"--region", &"1,2,3"]);
    assert_eq!(out.status.code(), Some(2));
    let out = vc6(&[
        &"encode",
        &"x.png",
        &"-o",
        &"y.vc6",
        &"--upsampler",
        &"sinc",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// What `vc6 info --backends --json` says about `name`: (compiled, device or why not).
fn backend_status(name: &str) -> (bool, Result<String, String>) {
    let text = ok(&[&"info", &"--backends", &"--json"]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("info --backends --json");
    let b = v["backends"]
        .as_array()
        .expect("a backends array")
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {text}"));
    let compiled = b["compiled"].as_bool().expect("compiled is a bool");
    let device = if b["available"] == true {
        Ok(b["device"].as_str().expect("device").to_string())
    } else {
        Err(b["error"].as_str().expect("error").to_string())
    };
    (compiled, device)
}

/// Whether `VC6_REQUIRE_BACKENDS` (comma-separated, as `cargo xtask test` sets it) names
/// `name`.
fn required(name: &str) -> bool {
    std::env::var("VC6_REQUIRE_BACKENDS")
        .unwrap_or_default()
        .split(',')
        .any(|b| b.trim().eq_ignore_ascii_case(name))
}

/// True when the OpenCL backend runs here. When it cannot, prints a note and returns
/// false, unless `VC6_REQUIRE_BACKENDS` names it: then the test fails.
fn opencl_runs(test: &str) -> bool {
    let (compiled, device) = backend_status("opencl");
    match device {
        Ok(device) => {
            eprintln!("{test}: OpenCL device: {device}");
            true
        }
        Err(why) => {
            assert!(
                !required("opencl"),
                "{test}: OpenCL is required (VC6_REQUIRE_BACKENDS) but cannot run here \
                 (compiled in: {compiled}): {why}"
            );
            eprintln!("note: {test} skipped: the OpenCL backend cannot run here: {why}");
            false
        }
    }
}

/// A `w x h` RGB picture with edges, gradients and noise, so that every layer has
/// non-zero residuals and several tiles are coded.
fn busy_image(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let hash = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)).rotate_right(11);
        let ring = ((x as i32 - 90).pow(2) + (y as i32 - 60).pow(2)) / 97;
        image::Rgb([
            (x * 7 + (hash & 15)) as u8,
            (ring as u32 * 13 + y) as u8,
            ((hash >> 8) % 256) as u8 / if (x / 16 + y / 16) % 2 == 0 { 1 } else { 8 },
        ])
    })
}

/// Decodes `stream` with `extra` options on the CPU and on OpenCL into files named
/// `cpu.EXT` and `opencl.EXT`; insists the two files are the same bytes.
fn same_file_from_both(dir: &TempDir, stream: &Path, ext: &str, extra: &[&str]) {
    let mut files = Vec::new();
    for backend in ["cpu", "opencl"] {
        let out = dir.path(&format!("{backend}-{}.{ext}", extra.join("_")));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"decode", &stream, &"-o", &out, &"--backend", &backend];
        for e in extra {
            args.push(e);
        }
        ok(&args);
        files.push(std::fs::read(&out).unwrap());
    }
    assert!(!files[0].is_empty());
    assert!(
        files[0] == files[1],
        "--backend opencl wrote a different .{ext} file than --backend cpu (options {extra:?}): \
         {} and {} bytes, first difference at byte {:?}",
        files[0].len(),
        files[1].len(),
        files[0].iter().zip(&files[1]).position(|(a, b)| a != b)
    );
}

#[test]
fn opencl_decodes_the_same_files_as_cpu() {
    if !opencl_runs("opencl_decodes_the_same_files_as_cpu") {
        return;
    }
    let dir = TempDir::new("opencl");

    // RGB8, whole picture, as PNG and PPM; the CPU file is the original picture.
    let img = busy_image(301, 197);
    let png = dir.path("rgb.png");
    img.save(&png).unwrap();
    let stream = dir.path("rgb.vc6");
    ok(&[&"encode", &png, &"-o", &stream]);
    same_file_from_both(&dir, &stream, "png", &[]);
    same_file_from_both(&dir, &stream, "ppm", &[]);
    assert_eq!(read_rgb(&dir.path("opencl-.png")), img);

    // A region of LoQ 1 and LoQ 2, and a whole LoQ 2.
    same_file_from_both(
        &dir,
        &stream,
        "png",
        &["--loq", "1", "--region", "37,21,90,61"],
    );
    same_file_from_both(
        &dir,
        &stream,
        "ppm",
        &["--loq", "2", "--region", "3,5,70,40"],
    );
    same_file_from_both(&dir, &stream, "png", &["--loq", "2"]);

    // Gray 16-bit PGM (maxval 65535: every bit used), whole and a region.
    let (w, h) = (133u32, 71u32);
    let mut pgm = format!("P5\n{w} {h}\n65535\n").into_bytes();
    for y in 0..h {
        for x in 0..w {
            let hash = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 9;
            let v = (x * 400 + y * 300) as u16 ^ (hash as u16 & 0x3ff);
            pgm.extend_from_slice(&v.to_be_bytes());
        }
    }
    let pgm_in = dir.path("gray16.pgm");
    std::fs::write(&pgm_in, &pgm).unwrap();
    let stream16 = dir.path("gray16.vc6");
    let summary = ok(&[&"encode", &pgm_in, &"-o", &stream16]);
    assert!(summary.contains("gray16"), "{summary}");
    same_file_from_both(&dir, &stream16, "pgm", &[]);
    assert_eq!(std::fs::read(dir.path("opencl-.pgm")).unwrap(), pgm);
    same_file_from_both(
        &dir,
        &stream16,
        "pgm",
        &["--loq", "1", "--region", "5,7,40,20"],
    );
}

#[test]
fn info_backends_lists_cpu_opencl_and_cuda() {
    let text = ok(&[&"info", &"--backends"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "one line per backend: {text}");
    assert!(lines[2].starts_with("cuda "), "{text}");
    assert!(lines[0].starts_with("cpu "), "{text}");
    assert!(
        lines[0].contains("compiled in") && lines[0].contains("runs on"),
        "{text}"
    );
    assert!(lines[1].starts_with("opencl "), "{text}");
    assert!(
        lines[1].contains("runs on") || lines[1].contains("cannot run here: "),
        "{text}"
    );

    let (compiled, device) = backend_status("cpu");
    assert!(compiled);
    assert!(device.is_ok(), "{device:?}");
    let (compiled, device) = backend_status("opencl");
    assert_eq!(compiled, cfg!(feature = "opencl"), "{device:?}");
    assert_eq!(lines[1].contains("not compiled in"), !compiled, "{text}");
    if required("opencl") {
        assert!(device.is_ok(), "OpenCL is required but: {device:?}");
    }

    // With a stream, the JSON object gains a "backends" field; without --backends it has none.
    let dir = TempDir::new("info-backends");
    let (_, stream) = encoded(&dir);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&[&"info", &stream, &"--json", &"--backends"])).unwrap();
    assert_eq!(v["width"], 37);
    assert_eq!(v["backends"][0]["name"], "cpu");
    assert_eq!(v["backends"][1]["name"], "opencl");
    let v: serde_json::Value = serde_json::from_str(&ok(&[&"info", &stream, &"--json"])).unwrap();
    assert!(v.get("backends").is_none());
    let text = ok(&[&"info", &stream, &"--backends"]);
    assert!(
        text.contains("37x23") && text.contains("\n  cpu "),
        "{text}"
    );
}

#[test]
fn unknown_backend_is_one_clear_line() {
    let dir = TempDir::new("nonsense");
    let (png, stream) = encoded(&dir);
    let out = dir.path("x.png");
    let dec: [&dyn AsRef<std::ffi::OsStr>; 6] =
        [&"decode", &stream, &"-o", &out, &"--backend", &"nonsense"];
    let enc: [&dyn AsRef<std::ffi::OsStr>; 6] =
        [&"encode", &png, &"-o", &stream, &"--backend", &"nonsense"];
    for args in [&dec[..], &enc[..]] {
        let run = vc6(args);
        let stderr = String::from_utf8(run.stderr).unwrap();
        assert_eq!(run.status.code(), Some(2), "usage error: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("vc6: error: "), "{stderr}");
        for word in ["--backend", "'nonsense'", "auto, cpu, opencl"] {
            assert!(stderr.contains(word), "'{word}' missing from: {stderr}");
        }
    }
    assert!(!out.exists());
}

#[test]
fn backend_that_cannot_run_is_one_clear_line() {
    // OCL_DEVICE naming no device makes OpenCL unavailable whether or not it is installed.
    let dir = TempDir::new("nodevice");
    let (_, stream) = encoded(&dir);
    let run = Command::new(env!("CARGO_BIN_EXE_vc6"))
        .args(["decode", "--backend", "opencl", "-o"])
        .arg(dir.path("x.png"))
        .arg(&stream)
        .env("OCL_DEVICE", "no-such-device-anywhere")
        .output()
        .unwrap();
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("vc6: error: "), "{stderr}");
    // Which reason depends on the machine: not compiled in, no OpenCL installed, or no
    // device of that name; each names OpenCL.
    assert!(stderr.to_lowercase().contains("opencl"), "{stderr}");
    // The CPU still decodes.
    ok(&[
        &"decode",
        &stream,
        &"-o",
        &dir.path("y.png"),
        &"--backend",
        &"cpu",
    ]);
}

#[test]
fn lossy_encoding_by_rate_quality_and_preset() {
    let dir = TempDir::new("lossy");
    let (w, h) = (180u32, 120u32);
    let png = dir.path("busy.png");
    busy_image(w, h).save(&png).unwrap();
    let lossless = dir.path("lossless.vc6");
    ok(&[&"encode", &png, &"-o", &lossless]);
    let lossless_len = std::fs::metadata(&lossless).unwrap().len();

    // --bpp: the file lands within 2% of the target, and decodes to the right size.
    let at = dir.path("rate.vc6");
    ok(&[&"encode", &png, &"-o", &at, &"--bpp", &"2"]);
    let bpp = std::fs::metadata(&at).unwrap().len() as f64 * 8.0 / f64::from(w * h);
    assert!((bpp - 2.0).abs() <= 0.04, "--bpp 2 gave {bpp:.3} bpp");
    let out = dir.path("rate.png");
    ok(&[&"decode", &at, &"-o", &out]);
    assert_eq!(read_rgb(&out).dimensions(), (w, h));
    let info = ok(&[&"info", &at, &"--json"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["lossless"], false, "{info}");
    assert_eq!(v["planes"][0]["fraction_bits"], 5, "{info}");
    let text = ok(&[&"info", &at]);
    assert!(
        text.contains("8 bits (coded with 5 fraction bits)"),
        "{text}"
    );

    // --quality: smaller than lossless, and 100 still reconstructs exactly.
    let q = dir.path("q40.vc6");
    ok(&[&"encode", &png, &"-o", &q, &"--quality", &"40"]);
    assert!(std::fs::metadata(&q).unwrap().len() < lossless_len);
    let exact = dir.path("q100.vc6");
    ok(&[
        &"encode",
        &png,
        &"-o",
        &exact,
        &"-q",
        &"100",
        &"--preset",
        &"light",
    ]);
    let back = dir.path("q100.png");
    ok(&[&"decode", &exact, &"-o", &back]);
    assert_eq!(read_rgb(&back), busy_image(w, h));

    // --lossless-alpha: RGBA input keeps its alpha exactly, its colour does not.
    let rgba = dir.path("busy_rgba.png");
    let mut with_alpha = image::DynamicImage::ImageRgb8(busy_image(w, h)).to_rgba8();
    with_alpha
        .pixels_mut()
        .enumerate()
        .for_each(|(i, p)| p[3] = (i * 7 % 256) as u8);
    with_alpha.save(&rgba).unwrap();
    let a = dir.path("alpha.vc6");
    ok(&[
        &"encode",
        &rgba,
        &"-o",
        &a,
        &"-q",
        &"50",
        &"--lossless-alpha",
    ]);
    let back = dir.path("alpha.png");
    ok(&[&"decode", &a, &"-o", &back]);
    let got = image::open(&back).unwrap().to_rgba8();
    let alpha = |img: &image::RgbaImage| img.pixels().map(|p| p[3]).collect::<Vec<u8>>();
    assert_eq!(alpha(&got), alpha(&with_alpha), "alpha differs");
    assert!(got != with_alpha, "quality 50 kept the colour exact");

    // The lossless preset takes no rate; an unknown preset is named.
    let err = fails(&[
        &"encode",
        &png,
        &"-o",
        &q,
        &"--preset",
        &"lossless",
        &"-q",
        &"50",
    ]);
    assert!(err.contains("lossless"), "{err}");
    let out = vc6(&[&"encode", &png, &"-o", &q, &"--preset", &"fancy"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("fancy"),
        "{stderr}"
    );
}

/// No command overwrites its input; an encode output must end in .vc6 unless --force;
/// thread counts are bounded.
#[test]
fn outputs_never_replace_inputs_and_streams_go_to_vc6_files() {
    let dir = TempDir::new("no_overwrite");
    let (png, stream) = encoded(&dir);
    let png_bytes = std::fs::read(&png).unwrap();
    // The input as the output, for encode (even with --force) and decode.
    for force in [false, true] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"encode", &png, &"-o", &png];
        if force {
            args.push(&"--force");
        }
        let err = fails(&args);
        assert!(err.contains("this is the input"), "{err}");
    }
    assert_eq!(
        std::fs::read(&png).unwrap(),
        png_bytes,
        "the input is intact"
    );
    let ppm_stream = dir.path("stream.ppm");
    std::fs::copy(&stream, &ppm_stream).unwrap();
    let err = fails(&[&"decode", &ppm_stream, &"-o", &ppm_stream]);
    assert!(err.contains("this is the input"), "{err}");
    assert_eq!(
        std::fs::read(&ppm_stream).unwrap(),
        std::fs::read(&stream).unwrap()
    );
    // A stream written to a name that says image or text: refused, unless --force.
    for name in ["out.png", "out.txt", "out"] {
        let out = dir.path(name);
        let err = fails(&[&"encode", &png, &"-o", &out]);
        assert!(err.contains(".vc6") && err.contains("--force"), "{err}");
        assert!(!out.exists(), "{name} was written");
    }
    let forced = dir.path("stream.bin");
    ok(&[&"encode", &png, &"-o", &forced, &"--force"]);
    assert_eq!(
        std::fs::read(&forced).unwrap(),
        std::fs::read(&stream).unwrap()
    );
    // Upper-case extensions are .vc6 too.
    ok(&[&"encode", &png, &"-o", &dir.path("UP.VC6")]);
    // Thread counts: a sane bound, with a reason (a usage error: exit status 2).
    let t_ppm = dir.path("t.ppm");
    let too_many: [&[&dyn AsRef<std::ffi::OsStr>]; 2] = [
        &[&"encode", &png, &"-o", &stream, &"--threads", &"100000"],
        &[&"decode", &stream, &"-o", &t_ppm, &"--threads", &"5000"],
    ];
    for args in too_many {
        let out = vc6(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("at most 1024"), "{err}");
    }
    ok(&[&"decode", &stream, &"-o", &t_ppm, &"--threads", &"3"]);
}

/// A --bpp the picture cannot reach gives a warning with the rate reached; a reachable
/// one gives none.
#[test]
fn unreachable_bpp_warns_with_the_rate_reached() {
    let dir = TempDir::new("bpp_reach");
    let (png, _) = encoded(&dir);
    let out = dir.path("r.vc6");
    for (bpp, warns) in [("100", true), ("0.001", true), ("4", false)] {
        let run = vc6(&[&"encode", &png, &"-o", &out, &"--bpp", &bpp]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "--bpp {bpp}: {err}");
        assert_eq!(
            err.contains("vc6: warning:") && err.contains("out of reach"),
            warns,
            "--bpp {bpp}: {err}"
        );
        if warns {
            let reached = std::fs::metadata(&out).unwrap().len() as f64 * 8.0 / (37.0 * 23.0);
            assert!(err.contains(&format!("{reached:.3} bpp")), "{err}");
        }
    }
}

/// An image given to `decode` gets a hint that `encode` was probably meant.
#[test]
fn decoding_an_image_suggests_encode() {
    let dir = TempDir::new("decode_image");
    let (png, _) = encoded(&dir);
    let jpeg = dir.path("photo.jpg");
    std::fs::write(&jpeg, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").unwrap();
    for (input, kind) in [(&png, "PNG"), (&jpeg, "JPEG")] {
        let err = fails(&[&"decode", input, &"-o", &dir.path("x.ppm")]);
        assert!(
            err.contains(&format!(
                "this is a {kind} file; did you mean `vc6 encode`?"
            )),
            "{err}"
        );
    }
    let junk = dir.path("junk.vc6");
    std::fs::write(&junk, b"not a stream at all").unwrap();
    let err = fails(&[&"decode", &junk, &"-o", &dir.path("x.ppm")]);
    assert!(!err.contains("did you mean"), "{err}");
}

/// Several inputs need a folder: a file-like -o is refused before anything is made; a
/// trailing separator makes a folder even for one input.
#[test]
fn folder_outputs_are_made_and_file_names_refused() {
    let dir = TempDir::new("folders");
    let (png, stream) = encoded(&dir);
    let other = dir.path("other.png");
    std::fs::copy(&png, &other).unwrap();
    let m = dir.path("m.vc6");
    let err = fails(&[&"encode", &png, &other, &"-o", &m]);
    assert!(err.contains("must be a folder"), "{err}");
    assert!(!m.exists(), "no folder named m.vc6");
    let new_dir = dir.path("newdir");
    let slash = format!("{}/", new_dir.display());
    ok(&[&"encode", &png, &"-o", &slash]);
    assert_eq!(
        std::fs::read(new_dir.join("in.vc6")).unwrap(),
        std::fs::read(&stream).unwrap()
    );
}

/// A corrupt finest section names the coarser LoQ that still decodes.
#[test]
fn corrupt_fine_sections_suggest_a_coarser_loq() {
    let dir = TempDir::new("corrupt_loq");
    let (_, stream) = encoded(&dir);
    let mut bytes = std::fs::read(&stream).unwrap();
    // The last section (LoQ 0) ends the stream, its CRC last: flip a byte before it.
    let at = bytes.len() - 8;
    bytes[at] ^= 0x5a;
    let bad = dir.path("bad.vc6");
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails(&[&"decode", &bad, &"-o", &dir.path("x.ppm")]);
    assert!(
        err.contains("corrupt") && err.contains("try --loq 1"),
        "{err}"
    );
    ok(&[&"decode", &bad, &"-o", &dir.path("x.ppm"), &"--loq", &"1"]);
}

/// `auto` decodes a small picture on the CPU without looking for a GPU, and -v says
/// which backend and device decoded.
#[test]
fn auto_takes_the_cpu_for_small_pictures_and_verbose_says_so() {
    let dir = TempDir::new("auto_small");
    let (_, stream) = encoded(&dir);
    let stdout = ok(&[&"decode", &stream, &"-o", &dir.path("x.ppm"), &"-v"]);
    assert!(stdout.contains("backend: cpu ("), "{stdout}");
    let quiet = ok(&[&"decode", &stream, &"-o", &dir.path("x.ppm")]);
    assert!(!quiet.contains("backend:"), "{quiet}");
}

/// A fractional quality codes between its whole neighbours.
#[test]
fn fractional_quality_lies_between_its_neighbours() {
    let dir = TempDir::new("fractional");
    let (png, _) = encoded(&dir);
    let size = |q: &str| {
        let out = dir.path(&format!("q{q}.vc6"));
        ok(&[&"encode", &png, &"-o", &out, &"--quality", &q]);
        std::fs::read(&out).unwrap()
    };
    let (low, mid, high) = (size("30"), size("30.5"), size("31"));
    assert!(
        mid != low && mid != high,
        "30.5 gave the stream of a whole quality"
    );
    assert!(
        low.len() <= mid.len() && mid.len() <= high.len(),
        "sizes at 30, 30.5, 31: {} {} {}",
        low.len(),
        mid.len(),
        high.len()
    );
}

/// Usage errors: one `vc6: error:` line, exit status 2, no doubled kinds, negative
/// numbers read as values and refused for what they are.
#[test]
fn usage_errors_are_one_line_with_status_2() {
    let dir = TempDir::new("usage");
    let (png, _) = encoded(&dir);
    let out = dir.path("o.vc6");
    let cases: [(&[&dyn AsRef<std::ffi::OsStr>], &str); 6] = [
        (
            &[&"encode", &png, &"-o", &out, &"--preset", &"fast"],
            "unknown preset 'fast'",
        ),
        (
            &[&"encode", &png, &"-o", &out, &"--quality", &"-5"],
            "from 0 to 100",
        ),
        (
            &[&"encode", &png, &"-o", &out, &"--quality", &"100.5"],
            "from 0 to 100",
        ),
        (
            &[&"encode", &png, &"-o", &out, &"--bpp", &"-1"],
            "must be positive",
        ),
        (&[&"decode", &out, &"-o", &out, &"--loq", &"-1"], "--loq"),
        (&[&"encode"], "--output <OUT> <IN>"),
    ];
    for (args, what) in cases {
        let run = vc6(args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("vc6: error: ") && err.contains(what),
            "{err}"
        );
        assert!(
            !err.contains("invalid parameter") && !err.contains("tip:"),
            "{err}"
        );
    }
}
