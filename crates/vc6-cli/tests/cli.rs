//! End-to-end tests of the `vc6` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const W: u32 = 37;
const H: u32 = 23;

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "vc6-cli-test-{}-{}-{name}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vc6(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vc6"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("running vc6")
}

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
    assert_eq!(ok(&[&"info", &"--backends"]).trim(), "cpu (available)");
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
