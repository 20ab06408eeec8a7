//! `cargo xtask gpu-bundle`: everything a GPU machine without Rust needs to run vc6's CUDA
//! checks, built here into the git-ignored folder `target/gpu-bundle/`:
//!
//! * `bin/backends`: the backends benchmark, release, features `opencl,cuda`;
//! * `bin/vc6`: the command-line tool, release (its default features: OpenCL and CUDA);
//! * `bin/test-*`: test binaries from `cargo test --release --no-run`, found through the
//!   JSON messages' `executable` fields: `vc6`'s `backends` and `conformance` tests with
//!   `opencl,cuda`, and every test target of `vc6-cuda` (its unit tests, `backend`,
//!   `fake_driver`);
//! * `pictures/`: one 4K PNG: the corpus's (`../shared/corpus/uhd`, when there and under
//!   20 MB), else a synthetic one (a smooth gradient, edges and noise); the benchmark crops
//!   its 1080p picture from it;
//! * `run.sh` (with `cli-check.sh`): runs every stage on the GPU machine, each with a
//!   timeout and a log, and prints a summary; `manifest.txt` lists what is here.
//!
//! The test binaries are built with `--release`: stripped of debug information they are a
//! fifth of a debug build's size, and they run the CPU reference decodes of the shared
//! suite several times faster, which matters on a machine lent for minutes. Debug
//! assertions are off in them; the same tests run with them in `cargo xtask test` here.
//! The copies are stripped with `strip --strip-debug` (symbols stay, so a panic's
//! backtrace still names functions); the build folder itself is left as cargo made it.
//!
//! The tests find their fixtures through paths compiled in from `CARGO_MANIFEST_DIR`
//! (absolute, under this workspace's root); `run.sh` makes that root a symbolic link to
//! the repository it runs in when it does not exist there.

use crate::{step, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the device tool carries at most, and so what the bundle must stay under.
const MAX_BUNDLE_BYTES: u64 = 64 << 20;

/// The largest corpus picture copied as is (else a synthetic one is made).
const MAX_PICTURE_BYTES: u64 = 20_000_000;

/// `cargo xtask gpu-bundle [--synthetic]`.
pub fn gpu_bundle(rest: &[String]) -> Result<()> {
    let mut synthetic = false;
    for a in rest {
        match a.as_str() {
            "--synthetic" => synthetic = true,
            other => bail!("gpu-bundle: unknown option {other:?} (usage: cargo xtask gpu-bundle [--synthetic])"),
        }
    }
    let root = workspace_root();
    check_ignored(&root)?;
    let bundle = root.join("target").join("gpu-bundle");
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)
            .with_context(|| format!("removing the old {}", bundle.display()))?;
    }
    let bin = bundle.join("bin");
    std::fs::create_dir_all(&bin)?;

    // (name in the bundle, path cargo built); names are unique.
    let mut built: Vec<(String, PathBuf)> = Vec::new();
    let mut commands: Vec<String> = Vec::new();

    step("gpu-bundle: the backends benchmark (release, features opencl,cuda)");
    let args = [
        "build",
        "--release",
        "-p",
        "vc6-benches",
        "--bin",
        "backends",
        "--features",
        "opencl,cuda",
    ];
    let arts = cargo_json(&root, &args)?;
    commands.push(format!("cargo {}", args.join(" ")));
    built.push(("backends".into(), find_bin(&arts, "backends")?));

    step("gpu-bundle: the vc6 command-line tool (release, default features: opencl, cuda)");
    let args = ["build", "--release", "-p", "vc6-cli", "--bin", "vc6"];
    let arts = cargo_json(&root, &args)?;
    commands.push(format!("cargo {}", args.join(" ")));
    built.push(("vc6".into(), find_bin(&arts, "vc6")?));

    step("gpu-bundle: vc6's backends and conformance tests (release, features opencl,cuda)");
    let args = [
        "test",
        "--release",
        "--no-run",
        "-p",
        "vc6",
        "--features",
        "opencl,cuda",
        "--test",
        "backends",
        "--test",
        "conformance",
    ];
    let arts = cargo_json(&root, &args)?;
    commands.push(format!("cargo {}", args.join(" ")));
    for target in ["backends", "conformance"] {
        built.push((
            format!("test-vc6-{target}"),
            find_one(&arts, |a| a.test && a.target == target)?,
        ));
    }

    step("gpu-bundle: every test target of vc6-cuda (release)");
    let args = ["test", "--release", "--no-run", "-p", "vc6-cuda"];
    let arts = cargo_json(&root, &args)?;
    commands.push(format!("cargo {}", args.join(" ")));
    let mut cuda_tests = 0;
    for a in arts.iter().filter(|a| a.test) {
        let Some(exe) = &a.executable else { continue };
        let name = if a.kind.iter().any(|k| k == "lib") {
            "test-vc6-cuda-lib".to_string()
        } else {
            format!("test-vc6-cuda-{}", a.target)
        };
        ensure!(
            !built.iter().any(|(n, _)| *n == name),
            "two test targets named {name}"
        );
        built.push((name, exe.clone()));
        cuda_tests += 1;
    }
    ensure!(
        cuda_tests >= 3,
        "expected vc6-cuda's unit tests, tests/backend.rs and tests/fake_driver.rs, found {cuda_tests} test executable(s)"
    );

    step("gpu-bundle: copying the executables (strip --strip-debug on the copies)");
    let strip = Command::new("strip")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !strip {
        println!("xtask: no `strip` here: the copies keep their debug information");
    }
    for (name, from) in &built {
        let to = bin.join(name);
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        if strip {
            let ok = Command::new("strip")
                .arg("--strip-debug")
                .arg(&to)
                .status()
                .is_ok_and(|s| s.success());
            ensure!(ok, "strip --strip-debug {} failed", to.display());
        }
        println!(
            "xtask: {} <- {} ({} -> {})",
            to.display(),
            from.display(),
            mib(file_len(from)),
            mib(file_len(&to))
        );
    }

    step("gpu-bundle: the 4K picture");
    let pictures = bundle.join("pictures");
    std::fs::create_dir_all(&pictures)?;
    let corpus_uhd = root.join("..").join("shared").join("corpus").join("uhd");
    let corpus_pick = if synthetic {
        None
    } else {
        first_png(&corpus_uhd).filter(|p| file_len(p) <= MAX_PICTURE_BYTES)
    };
    let (picture, picture_source) = match corpus_pick {
        Some(src) => {
            let name = src.file_name().expect("a file").to_owned();
            let to = pictures.join(&name);
            std::fs::copy(&src, &to).with_context(|| format!("copying {}", src.display()))?;
            println!("xtask: copied {} ({})", src.display(), mib(file_len(&to)));
            (to, format!("copied from {}", src.display()))
        }
        None => {
            let to = pictures.join("synthetic_3840x2160.png");
            println!(
                "xtask: {}: writing a synthetic 4K picture (gradient, edges, noise)",
                if synthetic {
                    "--synthetic".to_string()
                } else {
                    format!("no PNG under 20 MB in {}", corpus_uhd.display())
                }
            );
            write_synthetic_png(&to, 3840, 2160)?;
            println!("xtask: wrote {} ({})", to.display(), mib(file_len(&to)));
            (
                to,
                "synthesised by cargo xtask gpu-bundle (smooth gradient, hard-edged shapes, \
                 stripes, noise)"
                    .to_string(),
            )
        }
    };
    let picture_name = picture
        .file_name()
        .expect("a file")
        .to_string_lossy()
        .into_owned();

    step("gpu-bundle: run.sh, cli-check.sh, manifest.txt");
    let workspace = root.to_string_lossy().into_owned();
    let run_sh = RUN_SH
        .replace("@WORKSPACE@", &workspace)
        .replace("@PICTURE@", &picture_name)
        .replace(
            "@CUDA_TESTS@",
            &built
                .iter()
                .filter(|(n, _)| n.starts_with("test-vc6-cuda-"))
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
    write_script(&bundle.join("run.sh"), &run_sh)?;
    write_script(&bundle.join("cli-check.sh"), CLI_CHECK_SH)?;

    let mut files = BTreeMap::new();
    list_files(&bundle, &bundle, &mut files)?;
    let mut manifest = String::new();
    manifest.push_str(
        "vc6 GPU bundle, made by `cargo xtask gpu-bundle`; run `bash target/gpu-bundle/run.sh` \
         in the repository root of a copy of the working tree (see run.sh's header).\n\n",
    );
    manifest.push_str(&format!(
        "workspace root compiled into the tests: {workspace}\n"
    ));
    manifest.push_str(&format!("picture: {picture_name}, {picture_source}\n"));
    manifest
        .push_str("builds (in the workspace's target/, copies stripped of debug information):\n");
    for c in &commands {
        manifest.push_str(&format!("  {c}\n"));
    }
    manifest.push_str("\nfiles (bytes):\n");
    let mut total = 0u64;
    for (name, len) in &files {
        manifest.push_str(&format!("  {len:>10}  {name}\n"));
        total += len;
    }
    manifest.push_str(&format!("  {total:>10}  total (before this file)\n"));
    std::fs::write(bundle.join("manifest.txt"), &manifest)?;
    total += file_len(&bundle.join("manifest.txt"));

    println!("\nxtask: {} holds:", bundle.display());
    for (name, len) in &files {
        println!("  {:>10}  {name}", mib(*len));
    }
    println!(
        "  {:>10}  total ({} bytes; the device tool carries at most {})",
        mib(total),
        total,
        mib(MAX_BUNDLE_BYTES)
    );
    ensure!(
        total < MAX_BUNDLE_BYTES,
        "the bundle is {} — over the {} the device tool carries",
        mib(total),
        mib(MAX_BUNDLE_BYTES)
    );
    println!(
        "\nxtask: on the GPU machine, in the repository root of the copy: \
         bash target/gpu-bundle/run.sh   (carry: target/gpu-bundle)"
    );
    Ok(())
}

/// The build folder must be ignored by git: the bundle must never be committed.
fn check_ignored(root: &Path) -> Result<()> {
    let text = std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default();
    let ignored = text.lines().map(str::trim).any(|l| {
        matches!(
            l,
            "target" | "/target" | "target/" | "/target/" | "target/*" | "/target/*"
        )
    });
    ensure!(
        ignored,
        "{} does not ignore target/: refusing to write the bundle (with a copy of the corpus \
         picture) where git would pick it up",
        root.join(".gitignore").display()
    );
    Ok(())
}

/// One `compiler-artifact` message of cargo's JSON output.
#[derive(Debug)]
struct Artifact {
    target: String,
    kind: Vec<String>,
    test: bool,
    executable: Option<PathBuf>,
}

/// Runs cargo with `args` and `--message-format=json-render-diagnostics` (compiler
/// messages still go to the terminal); returns the artifacts it reported.
fn cargo_json(root: &Path, args: &[&str]) -> Result<Vec<Artifact>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let shown = format!("{cmd:?}");
    println!("xtask: running {shown}");
    let out = cmd
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    ensure!(out.status.success(), "{shown} failed ({})", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut arts = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("cargo's JSON message {line:.200}"))?;
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let target = &v["target"];
        arts.push(Artifact {
            target: target["name"].as_str().unwrap_or_default().to_string(),
            kind: target["kind"]
                .as_array()
                .map(|k| {
                    k.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            test: v["profile"]["test"] == true,
            executable: v["executable"].as_str().map(PathBuf::from),
        });
    }
    Ok(arts)
}

/// The executable of the binary target `name` among `arts`.
fn find_bin(arts: &[Artifact], name: &str) -> Result<PathBuf> {
    find_one(arts, |a| {
        a.kind.iter().any(|k| k == "bin") && a.target == name
    })
}

/// The executable of the one artifact that `pick` accepts.
fn find_one(arts: &[Artifact], pick: impl Fn(&Artifact) -> bool) -> Result<PathBuf> {
    let found: Vec<&PathBuf> = arts
        .iter()
        .filter(|a| pick(a))
        .filter_map(|a| a.executable.as_ref())
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("cargo reported no such executable"),
        more => bail!(
            "cargo reported {} candidate executables: {more:?}",
            more.len()
        ),
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// The first `*.png` (by name) in `dir`.
fn first_png(dir: &Path) -> Option<PathBuf> {
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    pngs.sort();
    pngs.into_iter().next()
}

/// Every file under `dir`, by path relative to `base`, with its size.
fn list_files(base: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            list_files(base, &p, out)?;
        } else {
            let rel = p.strip_prefix(base).unwrap_or(&p);
            out.insert(rel.to_string_lossy().into_owned(), file_len(&p));
        }
    }
    Ok(())
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A photo-like synthetic RGB8 picture: a smooth two-axis gradient, soft and hard-edged
/// discs and rectangles, fine stripes, and seeded noise of a few levels.
fn write_synthetic_png(path: &Path, width: u32, height: u32) -> Result<()> {
    let (w, h) = (width as usize, height as usize);
    let mut px = vec![0u8; w * h * 3];
    let mut seed = 0x9e37_79b9u32;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 9) as f32 - 4.0
    };
    let (fw, fh) = (width as f32, height as f32);
    for y in 0..h {
        let fy = y as f32 / fh;
        for x in 0..w {
            let fx = x as f32 / fw;
            // Sky-to-ground gradient.
            let mut c = [
                40.0 + 150.0 * fx * (1.0 - fy),
                70.0 + 120.0 * (1.0 - fy),
                180.0 - 120.0 * fy + 30.0 * fx,
            ];
            // A soft disc (the sun) and a hard-edged one.
            let d = ((fx - 0.75).powi(2) + ((fy - 0.25) * fh / fw).powi(2)).sqrt();
            let glow = (1.0 - d / 0.12).clamp(0.0, 1.0);
            c = [c[0] + 90.0 * glow, c[1] + 70.0 * glow, c[2] + 10.0 * glow];
            let d2 = ((fx - 0.3).powi(2) + ((fy - 0.6) * fh / fw).powi(2)).sqrt();
            if d2 < 0.08 {
                c = [200.0, 60.0 + 40.0 * fy, 50.0];
            }
            // Buildings: hard-edged rectangles with lit windows.
            let col = (fx * 24.0) as u32;
            let top = 0.55 + 0.15 * (((col * 7919) % 13) as f32 / 13.0);
            if fy > top && !col.is_multiple_of(3) {
                let shade = 30.0 + 10.0 * (col % 5) as f32;
                c = [shade, shade + 5.0, shade + 15.0];
                if (x / 12) % 3 == 1 && (y / 18) % 3 == 1 && (x * 31 + y * 17) % 7 != 0 {
                    c = [230.0, 200.0, 120.0];
                }
            }
            // Fine stripes near the bottom (texture).
            if fy > 0.92 && (x + y / 2) % 6 < 2 {
                c = [c[0] * 0.7, c[1] * 0.7, c[2] * 0.7];
            }
            let at = (y * w + x) * 3;
            for k in 0..3 {
                px[at + k] = (c[k] + noise()).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    crate::fixtures::write_rgb8_png(path, width, height, &px, png::Compression::Fast)
}

/// `run.sh`: @WORKSPACE@, @PICTURE@ and @CUDA_TESTS@ are filled in.
const RUN_SH: &str = include_str!("../scripts/gpu-run.sh");

/// `cli-check.sh VC6 ROOT PICTURE WORK`: the command-line tool on CUDA against the CPU.
const CLI_CHECK_SH: &str = include_str!("../scripts/gpu-cli-check.sh");
