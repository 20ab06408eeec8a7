//! Project automation for vc6-rs.
//!
//! Run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`):
//!
//! * `test` — the whole test suite with every finished backend compiled in and required
//!   to run (installing PoCL for OpenCL when no OpenCL platform is present), then the
//!   conformance check on every backend (what CI runs).
//! * `conformance [--bless]` — the conformance test against `fixtures/conformance.txt`.
//! * `bench [--quick] [--corpus DIR] [--loq K]` — the comparison report against
//!   png and qoi, the decode speed of every backend that runs here (CPU, OpenCL), then
//!   (unless `--quick`) the criterion benches.
//! * `bench --lossy [--quick] [--corpus DIR]` — the lossy comparison instead: vc6 against
//!   JPEG (4:4:4, 4:2:0) and, where the tools are installed, JPEG 2000 and HTJ2K at 0.5,
//!   1.25 and 3.0 bpp (PSNR, SSIM, decode speed, thumbnails).
//! * `fixtures` — regenerate `fixtures/sample.png`.

mod fixtures;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test                         cargo test --workspace with the OpenCL backend compiled in and
                               required (installs PoCL via apt-get when no OpenCL platform is
                               present), then the conformance check
  conformance [--bless]        run the conformance test on every compiled backend
                               (--bless rewrites fixtures/conformance.txt)
  bench [--quick] [--corpus DIR] [--loq K]
                               comparison report vs png and qoi on DIR
                               (default: ../shared/corpus/rgb8 beside the workspace),
                               decode speed of each backend that runs here (single
                               images, batches of 32, 4K from DIR/../uhd), then
                               criterion benches unless --quick (fewer runs)
  bench --lossy [--quick] [--corpus DIR]
                               lossy comparison instead: vc6 against JPEG 4:4:4 and
                               4:2:0 (jpeg-encoder, zune-jpeg) and, where installed,
                               JPEG 2000 (opj_compress) and HTJ2K (ojph_compress) at
                               0.5, 1.25 and 3.0 bpp: PSNR, SSIM, decode MP/s,
                               thumbnails (--quick: every 4th image, one timed run)
  fixtures                     regenerate fixtures/sample.png
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    match cmd.as_str() {
        "test" => {
            no_more_args(rest)?;
            test()
        }
        "conformance" => {
            let mut bless = false;
            for a in rest {
                match a.as_str() {
                    "--bless" => bless = true,
                    other => bail!("conformance: unknown option {other:?}\n{USAGE}"),
                }
            }
            conformance(bless, &[])
        }
        "bench" => bench(rest),
        "fixtures" => {
            no_more_args(rest)?;
            let path = workspace_root().join("fixtures").join("sample.png");
            step(&format!("writing {}", path.display()));
            fixtures::write_sample(&path)?;
            println!("xtask: wrote {}", path.display());
            Ok(())
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command {other:?}")
        }
    }
}

fn no_more_args(rest: &[String]) -> Result<()> {
    if let Some(a) = rest.first() {
        bail!("unexpected argument {a:?}\n{USAGE}");
    }
    Ok(())
}

/// Features of the `vc6` facade that compile in the finished GPU backends.
const BACKEND_FEATURES: &str = "vc6/opencl";

/// The backends `cargo xtask test` compiles in and insists on: their names for
/// `VC6_REQUIRE_BACKENDS`, which makes the shared backend suite (and the CLI tests) fail
/// when one of them cannot run.
const REQUIRED_BACKENDS: &str = "opencl";

/// `cargo xtask test`: everything CI checks.
fn test() -> Result<()> {
    // A backend that is compiled in must be tested, so its runtime must be here.
    ensure_opencl()?;
    let require = [("VC6_REQUIRE_BACKENDS", REQUIRED_BACKENDS)];
    step(&format!(
        "cargo test --workspace --features {BACKEND_FEATURES} \
         (VC6_REQUIRE_BACKENDS={REQUIRED_BACKENDS}: those backends must run)"
    ));
    cargo(
        &["test", "--workspace", "--features", BACKEND_FEATURES],
        &require,
    )?;
    conformance(false, &require)?;
    step(&format!(
        "all checks passed (backends tested: cpu, {REQUIRED_BACKENDS})"
    ));
    Ok(())
}

/// `cargo xtask conformance [--bless]`: on every backend compiled in (CPU and OpenCL);
/// `envs` adds e.g. `VC6_REQUIRE_BACKENDS`.
fn conformance(bless: bool, envs: &[(&str, &str)]) -> Result<()> {
    let mut envs = envs.to_vec();
    if bless {
        envs.push(("VC6_BLESS", "1"));
    }
    step(&format!(
        "conformance check: cargo test -p vc6 --features opencl --test conformance{}",
        if bless {
            " (VC6_BLESS=1: rewriting fixtures/conformance.txt)"
        } else {
            ""
        }
    ));
    cargo(
        &[
            "test",
            "-p",
            "vc6",
            "--features",
            "opencl",
            "--test",
            "conformance",
        ],
        &envs,
    )
}

/// Debian packages that provide an OpenCL platform on any machine: PoCL's CPU driver
/// and the ICD loader (`libOpenCL.so.1`) that the OpenCL backend opens at run time.
const OPENCL_PACKAGES: [&str; 2] = ["pocl-opencl-icd", "ocl-icd-libopencl1"];

/// Makes sure an OpenCL platform is usable, installing PoCL when none is (CI machines
/// have no GPU and no OpenCL); fails when that is not possible, so that the OpenCL
/// backend is never left untested.
fn ensure_opencl() -> Result<()> {
    step("checking for an OpenCL platform (the OpenCL backend is tested too)");
    if !cfg!(target_os = "linux") {
        println!(
            "xtask: not Linux: using the system's OpenCL as it is; the tests fail if it cannot run"
        );
        return Ok(());
    }
    let why = match opencl_missing() {
        None => return Ok(()),
        Some(why) => why,
    };
    println!("xtask: OpenCL is not usable here: {why}");
    println!(
        "xtask: installing PoCL, a CPU OpenCL driver, and the ICD loader ({}) \
         so that the OpenCL backend can be tested",
        OPENCL_PACKAGES.join(" ")
    );
    let help = format!(
        "install an OpenCL driver and the ICD loader (on Debian/Ubuntu: apt-get install {}), \
         or a GPU vendor's OpenCL driver, then rerun `cargo xtask test`. \
         (`cargo test --workspace` runs the tests without requiring OpenCL.)",
        OPENCL_PACKAGES.join(" ")
    );
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("OpenCL is not usable here ({why}) and there is no apt-get to install it: {help}");
    }
    ensure_apt_packages(&OPENCL_PACKAGES).with_context(|| {
        format!("OpenCL is not usable here ({why}) and installing PoCL failed: {help}")
    })?;
    if let Some(still) = opencl_missing() {
        bail!("OpenCL is still not usable after installing PoCL: {still}: {help}");
    }
    Ok(())
}

/// Where Linux distributions and GPU drivers put the OpenCL ICD loader.
const OPENCL_LOADERS: [&str; 7] = [
    "/usr/lib/x86_64-linux-gnu/libOpenCL.so.1",
    "/usr/lib/aarch64-linux-gnu/libOpenCL.so.1",
    "/usr/lib64/libOpenCL.so.1",
    "/usr/lib/libOpenCL.so.1",
    "/usr/local/lib/libOpenCL.so.1",
    "/usr/local/cuda/lib64/libOpenCL.so.1",
    "/opt/rocm/lib/libOpenCL.so.1",
];

/// None when an OpenCL platform with a device is present, else why not. Asks `clinfo -l`
/// when it is installed; otherwise looks for the ICD loader and a driver's `.icd` file.
fn opencl_missing() -> Option<String> {
    if let Ok(out) = Command::new("clinfo").arg("-l").output() {
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && text.contains("Device") {
            println!("xtask: clinfo -l:\n{}", text.trim_end());
            return None;
        }
        let mut why = String::from("`clinfo -l` lists no OpenCL device");
        if !out.status.success() {
            why.push_str(&format!(" (it failed: {})", out.status));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.trim().is_empty() {
            why.push_str(&format!(": {}", err.trim().replace('\n', " ")));
        }
        return Some(why);
    }
    let loader = OPENCL_LOADERS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let out = Command::new("ldconfig").arg("-p").output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.trim_start().starts_with("libOpenCL.so.1 "))
                .and_then(|l| l.rsplit_once("=> "))
                .map(|(_, p)| PathBuf::from(p.trim()))
        });
    let Some(loader) = loader else {
        return Some("no OpenCL ICD loader (libOpenCL.so.1) is installed".into());
    };
    // The loader reads drivers from OCL_ICD_VENDORS (a folder or one .icd file) or
    // /etc/OpenCL/vendors.
    let vendors = std::env::var_os("OCL_ICD_VENDORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/OpenCL/vendors"));
    let icds: Vec<String> = if vendors.is_file() {
        vec![vendors
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()]
    } else {
        std::fs::read_dir(&vendors)
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".icd"))
                    .collect()
            })
            .unwrap_or_default()
    };
    if icds.is_empty() {
        return Some(format!(
            "{} is installed but no OpenCL driver is registered in {} (no .icd file)",
            loader.display(),
            vendors.display()
        ));
    }
    println!(
        "xtask: OpenCL loader {} with driver(s) {} in {} (clinfo is not installed)",
        loader.display(),
        icds.join(", "),
        vendors.display()
    );
    None
}

/// `cargo xtask bench [--quick] [--corpus DIR] [--loq K]`, or with `--lossy` the lossy
/// comparison.
fn bench(rest: &[String]) -> Result<()> {
    let mut quick = false;
    let mut lossy = false;
    let mut corpus: Option<PathBuf> = None;
    let mut loq: Option<String> = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--lossy" => lossy = true,
            "--corpus" => {
                corpus = Some(PathBuf::from(it.next().context("--corpus needs a folder")?))
            }
            "--loq" => loq = Some(it.next().context("--loq needs a number")?.clone()),
            other => bail!("bench: unknown option {other:?}\n{USAGE}"),
        }
    }
    let corpus = corpus.unwrap_or_else(default_corpus);
    if !corpus.is_dir() {
        bail!(
            "corpus folder {} does not exist (or is not a folder).\n\
             The benchmark corpus lives in shared/corpus/rgb8 beside the workspace; \
             pass another folder of PNG files with --corpus DIR.",
            corpus.display()
        );
    }
    let corpus_str = corpus
        .to_str()
        .context("corpus path is not valid UTF-8")?
        .to_owned();
    let shown = std::iter::once("cargo xtask bench".to_string())
        .chain(rest.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    if lossy {
        if loq.is_some() {
            bail!("bench: --loq applies to the lossless report, not to --lossy");
        }
        return bench_lossy(&corpus, &corpus_str, quick, &shown);
    }
    let mut report_args = vec![
        "run",
        "--release",
        "-p",
        "vc6-benches",
        "--bin",
        "report",
        "--",
        "--corpus",
    ];
    report_args.push(&corpus_str);
    if let Some(k) = &loq {
        report_args.push("--loq");
        report_args.push(k);
    }
    step(&format!("comparison report on {}", corpus.display()));
    cargo(&report_args, &[])?;

    // Every backend that runs here, on the same streams (the binary also runs on its
    // own: `target/release/backends DIR`, e.g. copied to a GPU machine).
    let mut backend_args = vec![
        "run",
        "--release",
        "-p",
        "vc6-benches",
        "--bin",
        "backends",
        "--",
        "--corpus",
        &corpus_str,
        "--command",
        &shown,
    ];
    if quick {
        backend_args.push("--quick");
    }
    step(&format!(
        "decode speed by backend (CPU, OpenCL) on {}{}",
        corpus.display(),
        if quick {
            " (--quick: one timed run each)"
        } else {
            ""
        }
    ));
    cargo(&backend_args, &[])?;
    if quick {
        step("--quick: skipping criterion benches");
        return Ok(());
    }
    step("criterion benches: cargo bench -p vc6-benches");
    cargo(
        &["bench", "-p", "vc6-benches"],
        &[("VC6_CORPUS", &corpus_str)],
    )
}

/// `cargo xtask bench --lossy`: the `lossy` binary in release (it also runs on its own:
/// `target/release/lossy DIR`). JPEG 2000 and HTJ2K rows need `opj_compress` /
/// `opj_decompress` and `ojph_compress` / `ojph_expand` on PATH (Debian:
/// libopenjp2-tools, openjph-tools); without them the rows say "not installed".
fn bench_lossy(corpus: &Path, corpus_str: &str, quick: bool, shown: &str) -> Result<()> {
    let mut args = vec![
        "run",
        "--release",
        "-p",
        "vc6-benches",
        "--bin",
        "lossy",
        "--",
        "--corpus",
        corpus_str,
        "--command",
        shown,
    ];
    if quick {
        args.push("--quick");
    }
    step(&format!(
        "lossy comparison (vc6, JPEG, JPEG 2000, HTJ2K) on {}{}",
        corpus.display(),
        if quick {
            " (--quick: every 4th image, one timed run)"
        } else {
            ""
        }
    ));
    cargo(&args, &[])
}

/// The workspace root (the folder above `xtask/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// `../shared/corpus/rgb8` relative to the workspace root.
fn default_corpus() -> PathBuf {
    workspace_root()
        .join("..")
        .join("shared")
        .join("corpus")
        .join("rgb8")
}

fn step(what: &str) {
    println!("\n==> xtask: {what}");
}

/// Runs cargo (the one that runs us) in the workspace root; fails on a non-zero exit.
fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_cmd(&mut cmd)
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    println!("xtask: running {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Makes sure the Debian packages `pkgs` are installed: checks each with `dpkg -s`
/// and, when any is missing, runs `apt-get update` and `apt-get install -y` for them.
/// For backends that need system libraries (OpenCL via PoCL, wgpu via lavapipe).
fn ensure_apt_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        println!("xtask: system packages present: {}", pkgs.join(" "));
        return Ok(());
    }
    step(&format!(
        "installing system packages: {}",
        missing.join(" ")
    ));
    // Root in CI and on the dev machines; elsewhere fall back to sudo.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root && Command::new("sudo").arg("--version").output().is_err() {
        bail!(
            "installing {} needs root, and this user is not root and has no sudo",
            missing.join(" ")
        );
    }
    // sudo clears the environment, so DEBIAN_FRONTEND goes through `env`.
    let apt = |args: &[&str]| -> Command {
        let mut c = if is_root {
            Command::new("env")
        } else {
            let mut c = Command::new("sudo");
            c.arg("env");
            c
        };
        c.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args);
        c
    };
    run_cmd(&mut apt(&["update"]))?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    run_cmd(&mut apt(&install))
}
