//! End-to-end tests of dataset-scale work in the `vc6` binary: `encode -r` (a mirrored
//! tree, parallel, resumable, atomic outputs) and `decode` of several streams into a
//! folder through the batch decoder.

mod common;

use common::{vc6, vc6_env, TempDir};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs vc6 and insists it succeeds with nothing on stderr (no progress line when stderr
/// is not a terminal); returns stdout.
fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = vc6(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vc6 {:?} failed ({:?}): {stderr}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        out.status
    );
    assert!(stderr.is_empty(), "stderr: {stderr:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Insists `out` failed with status 1 and exactly one `vc6: error:` line naming `what`;
/// returns stdout.
fn failed_once(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains('\r'), "a progress line: {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(
        stderr.starts_with("vc6: error: ") && stderr.contains(what),
        "{stderr}"
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A w x h RGB picture, different for each seed.
fn picture(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let hash =
            (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed.wrapping_mul(97)) >> 5;
        image::Rgb([
            (x * 7 + seed) as u8,
            (y * 5) as u8 ^ (seed as u8),
            (hash % 256) as u8,
        ])
    })
}

fn gray(w: u32, h: u32) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 9 + y * 3) as u8]))
}

fn save(path: &Path, img: &image::RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save(path).unwrap();
}

/// The summary line (the last line of stdout).
fn summary(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or("")
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap();
                found.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// A tree: a.png, sub/b.png, sub/deeper/c.png (gray), notes.txt, sub/bad.png (corrupt).
fn tree(dir: &TempDir) -> PathBuf {
    let src = dir.path("src");
    save(&src.join("a.png"), &picture(37, 23, 1));
    save(&src.join("sub/b.png"), &picture(20, 41, 2));
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    gray(33, 17).save(src.join("sub/deeper/c.png")).unwrap();
    std::fs::write(src.join("notes.txt"), b"not an image").unwrap();
    let mut bad = b"\x89PNG\r\n\x1a\n".to_vec();
    bad.extend_from_slice(&[0x5a; 64]);
    std::fs::write(src.join("sub/bad.png"), bad).unwrap();
    src
}

/// Decodes `stream` to a PNG next to it and reads it back.
fn decoded(dir: &TempDir, stream: &Path) -> image::DynamicImage {
    static N: AtomicUsize = AtomicUsize::new(0);
    let png = dir.path(&format!("check-{}.png", N.fetch_add(1, Ordering::Relaxed)));
    ok(&[&"decode", &stream, &"-o", &png]);
    image::open(&png).unwrap()
}

#[test]
fn tree_is_mirrored_losslessly_and_a_bad_file_fails_alone() {
    let dir = TempDir::new("mirror");
    let src = tree(&dir);
    let dst = dir.path("dst");
    let run = vc6(&[&"encode", &"-r", &src, &"-o", &dst]);
    let stdout = failed_once(&run, "bad.png");
    assert_eq!(
        files_under(&dst),
        ["a.vc6", "sub/b.vc6", "sub/deeper/c.vc6"],
        "no output for the bad file, the text file, nor a temporary left"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let line = summary(&stdout);
    assert!(
        line.starts_with("encoded 3 files (0 already done, 1 other file skipped, 1 failed): "),
        "{line}"
    );
    assert!(line.contains(" MP at ") && line.contains(" bpp in ") && line.ends_with(" MP/s)"));
    assert_eq!(
        decoded(&dir, &dst.join("a.vc6")).into_rgb8(),
        picture(37, 23, 1)
    );
    assert_eq!(
        decoded(&dir, &dst.join("sub/b.vc6")).into_rgb8(),
        picture(20, 41, 2)
    );
    assert_eq!(
        decoded(&dir, &dst.join("sub/deeper/c.vc6")).into_luma8(),
        gray(33, 17)
    );
    // The tree's streams are those of one-file runs with the same options.
    let single = dir.path("single.vc6");
    ok(&[&"encode", &src.join("sub/b.png"), &"-o", &single]);
    assert_eq!(
        std::fs::read(&single).unwrap(),
        std::fs::read(dst.join("sub/b.vc6")).unwrap()
    );
}

#[test]
fn encode_options_apply_to_every_file_and_quiet_prints_nothing() {
    let dir = TempDir::new("options");
    let src = dir.path("src");
    save(&src.join("x.png"), &picture(40, 30, 3));
    save(&src.join("y/z.png"), &picture(31, 29, 4));
    let dst = dir.path("dst");
    let stdout = ok(&[
        &"encode",
        &"-r",
        &src,
        &"-o",
        &dst,
        &"--quality",
        &"50",
        &"--quiet",
    ]);
    assert_eq!(stdout, "", "--quiet");
    for name in ["x", "y/z"] {
        let single = dir.path("single.vc6");
        let png = src.join(format!("{name}.png"));
        ok(&[&"encode", &png, &"-o", &single, &"--quality", &"50"]);
        let tree = std::fs::read(dst.join(format!("{name}.vc6"))).unwrap();
        assert_eq!(tree, std::fs::read(&single).unwrap(), "{name}");
        // Lossy: not the lossless stream.
        ok(&[&"encode", &png, &"-o", &single]);
        assert_ne!(tree, std::fs::read(&single).unwrap(), "{name}");
    }
}

/// (modification time, inode) of a file: a rewrite through a renamed temporary changes
/// the inode even within the clock's resolution.
fn identity(path: &Path) -> (std::time::SystemTime, u64) {
    let meta = std::fs::metadata(path).unwrap();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    (meta.modified().unwrap(), inode)
}

#[test]
fn second_run_skips_complete_outputs() {
    let dir = TempDir::new("resume");
    let src = tree(&dir);
    std::fs::remove_file(src.join("sub/bad.png")).unwrap();
    let dst = dir.path("dst");
    let first = ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    assert!(
        summary(&first)
            .starts_with("encoded 3 files (0 already done, 1 other file skipped, 0 failed)"),
        "{first}"
    );
    let outputs = files_under(&dst);
    let before: Vec<_> = outputs
        .iter()
        .map(|f| (identity(&dst.join(f)), std::fs::read(dst.join(f)).unwrap()))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    assert!(
        summary(&second)
            .starts_with("encoded 0 files (3 already done, 1 other file skipped, 0 failed)"),
        "{second}"
    );
    assert_eq!(files_under(&dst), outputs);
    for (f, (id, bytes)) in outputs.iter().zip(before) {
        assert_eq!(identity(&dst.join(f)), id, "{f} was rewritten");
        assert_eq!(std::fs::read(dst.join(f)).unwrap(), bytes, "{f}");
    }
}

#[test]
fn truncated_outputs_are_encoded_again_and_stale_temporaries_ignored() {
    let dir = TempDir::new("interrupted");
    let src = tree(&dir);
    std::fs::remove_file(src.join("sub/bad.png")).unwrap();
    let dst = dir.path("dst");
    ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    let a = dst.join("a.vc6");
    let c = dst.join("sub/deeper/c.vc6");
    let (a_bytes, c_bytes) = (std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // An interrupted earlier run: a.vc6 cut short; c.vc6 never renamed into place, its
    // whole stream left in a temporary of a process long gone; junk in b's temporary.
    std::fs::write(&a, &a_bytes[..a_bytes.len() / 2]).unwrap();
    std::fs::remove_file(&c).unwrap();
    let c_tmp = dst.join("sub/deeper/.c.vc6.tmp-4000000");
    std::fs::write(&c_tmp, &c_bytes).unwrap();
    let b_tmp = dst.join("sub/.b.vc6.tmp-4000001");
    std::fs::write(&b_tmp, b"junk").unwrap();
    let b_id = identity(&dst.join("sub/b.vc6"));
    let stdout = ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    assert!(
        summary(&stdout)
            .starts_with("encoded 2 files (1 already done, 1 other file skipped, 0 failed)"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(&a).unwrap(), a_bytes, "a.vc6 encoded again");
    assert_eq!(std::fs::read(&c).unwrap(), c_bytes, "c.vc6 encoded again");
    assert_eq!(identity(&dst.join("sub/b.vc6")), b_id, "b.vc6 kept");
    // The leftovers are not outputs: left as they were.
    assert_eq!(std::fs::read(&b_tmp).unwrap(), b"junk");
    assert_eq!(
        files_under(&dst),
        [
            "a.vc6",
            "sub/.b.vc6.tmp-4000001",
            "sub/b.vc6",
            "sub/deeper/.c.vc6.tmp-4000000",
            "sub/deeper/c.vc6"
        ]
    );
}

#[test]
fn output_inside_the_source_is_not_walked() {
    let dir = TempDir::new("inside");
    let src = dir.path("src");
    save(&src.join("a.png"), &picture(25, 19, 5));
    save(&src.join("sub/b.png"), &picture(19, 25, 6));
    let dst = src.join("out");
    // An image already in DST: walking DST would encode it to out/out/stray.vc6.
    save(&dst.join("stray.png"), &picture(9, 9, 7));
    let first = ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    assert!(
        summary(&first)
            .starts_with("encoded 2 files (0 already done, 0 other files skipped, 0 failed)"),
        "{first}"
    );
    assert_eq!(
        files_under(&dst),
        ["a.vc6", "stray.png", "sub/b.vc6"],
        "DST's own files are not inputs"
    );
    // Nor are its outputs, on the next run.
    let second = ok(&[&"encode", &"-r", &src, &"-o", &dst]);
    assert!(
        summary(&second)
            .starts_with("encoded 0 files (2 already done, 0 other files skipped, 0 failed)"),
        "{second}"
    );
    // Into SRC itself: every output beside its input, none of them an input next time.
    let stdout = ok(&[&"encode", &"-r", &src, &"-o", &src]);
    assert!(
        summary(&stdout)
            .starts_with("encoded 3 files (0 already done, 2 other files skipped, 0 failed)"),
        "{stdout}"
    );
    assert!(src.join("sub/b.vc6").is_file() && src.join("out/stray.vc6").is_file());
    assert_eq!(
        decoded(&dir, &src.join("a.vc6")).into_rgb8(),
        picture(25, 19, 5)
    );
}

#[test]
fn recursive_usage_errors_have_status_2() {
    let dir = TempDir::new("usage");
    let src = tree(&dir);
    let file = src.join("a.png");
    let cases: [(&[&dyn AsRef<std::ffi::OsStr>], &str); 3] = [
        (&[&"encode", &"-r", &file, &"-o", &dir.path("d")], "not one"),
        (
            &[&"encode", &"--recursive", &src, &"-o", &file],
            "must be a folder",
        ),
        (
            &[&"encode", &"-r", &src, &src, &"-o", &dir.path("d")],
            "one folder",
        ),
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
    }
    assert!(!dir.path("d").exists(), "nothing made");
    assert_eq!(
        std::fs::read(&file).unwrap()[..4],
        b"\x89PNG"[..],
        "the input is intact"
    );
}

/// Three streams (RGB, RGB, gray) and a corrupt one; returns their paths.
fn streams(dir: &TempDir) -> Vec<PathBuf> {
    let src = dir.path("imgs");
    save(&src.join("one.png"), &picture(37, 23, 8));
    save(&src.join("two.png"), &picture(64, 48, 9));
    gray(30, 20).save(src.join("three.png")).unwrap();
    let vc6s = dir.path("streams");
    ok(&[&"encode", &"-r", &src, &"-o", &vc6s, &"--quiet"]);
    // A damaged first byte: not a stream at any LoQ.
    let mut bad = std::fs::read(vc6s.join("two.vc6")).unwrap();
    bad[0] ^= 0x5a;
    std::fs::write(vc6s.join("bad.vc6"), bad).unwrap();
    ["one", "bad", "two", "three"]
        .iter()
        .map(|n| vc6s.join(format!("{n}.vc6")))
        .collect()
}

#[test]
fn decoding_several_into_a_folder_matches_one_at_a_time() {
    let dir = TempDir::new("batch");
    let inputs = streams(&dir);
    for (extra, ext, env) in [
        (vec![], "png", "268435456"),
        (vec!["--loq", "1"], "pam", "268435456"),
        // A chunk per file: the results still land with their own entries.
        (vec![], "png", "1"),
    ] {
        let out_dir = dir.path(&format!("out-{ext}-{env}-{}", extra.len()));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"decode"];
        for i in &inputs {
            args.push(i);
        }
        args.push(&"-o");
        args.push(&out_dir);
        args.push(&"--ext");
        args.push(&ext);
        for e in &extra {
            args.push(e);
        }
        let run = vc6_env(&args, &[("VC6_CHUNK_BYTES", env)]);
        let stdout = failed_once(&run, "bad.vc6");
        assert_eq!(stdout.lines().count(), 4, "{stdout}");
        assert!(
            summary(&stdout).starts_with("decoded 3 files (1 failed): "),
            "{stdout}"
        );
        assert!(stdout.contains("one.vc6 -> "), "{stdout}");
        let mut want = vec![];
        for name in ["one", "three", "two"] {
            let alone = dir.path(&format!("alone-{name}.{ext}"));
            let stream = dir.path(&format!("streams/{name}.vc6"));
            let mut single: Vec<&dyn AsRef<std::ffi::OsStr>> =
                vec![&"decode", &stream, &"-o", &alone];
            for e in &extra {
                single.push(e);
            }
            ok(&single);
            let batch = std::fs::read(out_dir.join(format!("{name}.{ext}"))).unwrap();
            assert_eq!(batch, std::fs::read(&alone).unwrap(), "{name}.{ext}");
            want.push(format!("{name}.{ext}"));
        }
        want.sort();
        assert_eq!(files_under(&out_dir), want, "no output for the bad stream");
    }
    // Lossless all the way: the batch's PNG is the picture encoded.
    let back = image::open(dir.path("out-png-268435456-0/two.png")).unwrap();
    assert_eq!(back.into_rgb8(), picture(64, 48, 9));
}

#[test]
fn decoding_into_a_folder_checks_its_outputs() {
    let dir = TempDir::new("batch_usage");
    let inputs = streams(&dir);
    let file = dir.path("file.png");
    std::fs::write(&file, b"x").unwrap();
    // A file for -o, an unknown --ext, two inputs with one output name.
    let run = vc6(&[&"decode", &inputs[0], &inputs[2], &"-o", &file]);
    failed_once(&run, "must be a folder");
    let out = dir.path("o");
    let run = vc6(&[
        &"decode", &inputs[0], &inputs[2], &"-o", &out, &"--ext", &"gif",
    ]);
    failed_once(&run, "unknown output type");
    let twin = dir.path("twin");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::copy(&inputs[0], twin.join("one.vc6")).unwrap();
    let run = vc6(&[&"decode", &inputs[0], &twin.join("one.vc6"), &"-o", &out]);
    failed_once(&run, "both be written");
    assert!(!out.exists(), "nothing made");
    // One input and a folder -o: into the folder, with the summary.
    let slash = format!("{}/", out.display());
    let stdout = ok(&[&"decode", &inputs[3], &"-o", &slash, &"--quiet"]);
    assert_eq!(stdout, "");
    assert_eq!(
        image::open(out.join("three.png")).unwrap().into_luma8(),
        gray(30, 20)
    );
}
