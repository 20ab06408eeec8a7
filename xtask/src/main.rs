//! Project automation for vc6-rs.
//!
//! Run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`):
//!
//! * `test` — the whole test suite with every finished backend compiled in and required
//!   to run (installing PoCL for OpenCL when no OpenCL platform is present), then the
//!   conformance check on every backend, `cargo package` of the library crates, the CUDA
//!   kernels through NVRTC and ptxas, the Python suite and the fuzz smoke (what CI runs).
//! * `conformance [--bless]` — the conformance test against `fixtures/conformance.txt`.
//! * `bench [--quick] [--corpus DIR] [--loq K] [--no-process]` — the report: vc6 against
//!   png, qoi and JPEG in process (lossless RGB8, lossy at 1.25 bpp, 16-bit, grey, RGBA;
//!   one thread and all cores), then the whole process on one core against `ojph_expand`
//!   and `djpeg`, and a targets table; then the decode speed of every backend that runs
//!   here (CPU, OpenCL), then (unless `--quick`) the criterion benches.
//! * `bench --process [--quick] [--corpus DIR]` — the whole-process comparison alone
//!   (installs openjph-tools, libjpeg-turbo-progs and hyperfine with apt-get when missing).
//! * `bench --lossy [--quick] [--corpus DIR]` — the lossy comparison instead: vc6 against
//!   JPEG (4:4:4, 4:2:0) and, where the tools are installed, JPEG 2000 and HTJ2K at 0.5,
//!   1.25 and 3.0 bpp (PSNR, SSIM, decode speed, thumbnails).
//! * `fuzz [--target T]... [--seconds N] [--no-merge] [--scalar]` — the libFuzzer targets of
//!   `fuzz/` (see `fuzz.rs`); `test` runs each for a short smoke where nightly exists.
//! * `soak [--minutes N]` — the soak test on every backend that runs here.
//! * `fixtures` — regenerate `fixtures/sample.png`.
//! * `gpu-bundle [--synthetic]` — build `target/gpu-bundle/` for a GPU machine without Rust
//!   (see `gpu_bundle.rs`); then run `bash target/gpu-bundle/run.sh` there.

mod cuda;
mod fixtures;
mod fuzz;
mod gpu_bundle;
mod python;
mod venv;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test                         cargo test --workspace with the OpenCL backend compiled in and
                               required (installs PoCL via apt-get when no OpenCL platform is
                               present), the conformance check, cargo package of the library
                               crates, the CUDA kernels compiled to PTX and checked (NVRTC and
                               ptxas wheels), the Python module's pytest suite (a virtualenv
                               in target/py-venv), and a 20 s smoke of every fuzz target
                               (where a nightly toolchain exists)
  conformance [--bless]        run the conformance test on every compiled backend
                               (--bless rewrites fixtures/conformance.txt)
  bench [--quick] [--corpus DIR] [--loq K] [--no-process]
                               the report on DIR (default: ../shared/corpus/rgb8 beside
                               the workspace) and the folders beside it (rgb16, gray8,
                               rgba8, uhd): vc6 against png, qoi and JPEG in process,
                               one thread and all cores; the whole process on one core
                               against ojph_expand and djpeg (not with --no-process);
                               a targets table; then the decode speed of each backend
                               that runs here, then criterion benches unless --quick
                               (fewer runs)
  bench --process [--quick] [--corpus DIR]
                               the whole-process comparison alone: the release vc6 CLI
                               (decode --backend cpu, taskset -c 0) against ojph_expand
                               (lossless and 1.25 bpp) and djpeg (1.25 bpp) at 500x500 to
                               3840x2160; installs openjph-tools libjpeg-turbo-progs
                               hyperfine with apt-get when missing
  bench --lossy [--quick] [--corpus DIR]
                               lossy comparison instead: vc6 against JPEG 4:4:4 and
                               4:2:0 (jpeg-encoder, zune-jpeg) and, where installed,
                               JPEG 2000 (opj_compress) and HTJ2K (ojph_compress) at
                               0.5, 1.25 and 3.0 bpp: PSNR, SSIM, decode MP/s,
                               thumbnails (--quick: every 4th image, one timed run)
  fuzz [--target T]... [--seconds N] [--no-merge] [--scalar]
                               coverage-guided fuzzing (cargo-fuzz, nightly or stable with
                               RUSTC_BOOTSTRAP=1) of decode, decode_nocrc, roundtrip and
                               backend_diff, N seconds each (default 300), seeded from
                               fuzz/seeds/ and fixtures/; prints executions and coverage,
                               then minimises the corpus back into fuzz/seeds/ (not with
                               --no-merge); --scalar: with the SIMD paths off
                               (VC6_SIMD=scalar), as on CPUs without AVX2
  soak [--minutes N]           decodes valid and damaged streams of mixed sizes through
                               AsyncDecoder and decode_batch on every backend for N minutes
                               (default 1): decodes/s, resident memory, no mixed-up results
  fixtures                     regenerate fixtures/sample.png
  gpu-bundle [--synthetic]     cargo xtask gpu-bundle: builds target/gpu-bundle for a GPU
                               machine without Rust (release backends bench with opencl,cuda,
                               the vc6 CLI, the vc6-cuda tests and vc6's backends and
                               conformance tests, a 4K picture: the corpus's, or a synthetic
                               one with --synthetic or without a corpus); then run
                               `bash target/gpu-bundle/run.sh` there
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
        "fuzz" => fuzz::fuzz(rest),
        "soak" => soak(rest),
        "gpu-bundle" => gpu_bundle::gpu_bundle(rest),
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
const BACKEND_FEATURES: &str = "vc6/opencl,vc6/cuda,vc6/image,vc6-fuzzing/opencl";

/// The backends `cargo xtask test` compiles in and insists on: their names for
/// `VC6_REQUIRE_BACKENDS`, which makes the shared backend suite (and the CLI tests) fail
/// when one of them cannot run.
const REQUIRED_BACKENDS: &str = "opencl";

/// The crates meant for crates.io, in dependency order.
const PUBLISHED: [&str; 4] = ["vc6-core", "vc6-opencl", "vc6-cuda", "vc6"];

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
        "cargo package {}: each library crate packages and builds on its own",
        PUBLISHED.join(" ")
    ));
    clear_stale_package_sources()?;
    // Its own, emptied target folder: cargo takes a crate from a registry (here the local
    // one of the packages being verified) as never changing, so an earlier run's build of
    // one would be reused whatever the new sources say.
    let verify = workspace_root().join("target").join("package-verify");
    let _ = std::fs::remove_dir_all(&verify);
    let verify = verify.to_string_lossy().into_owned();
    let mut package = vec!["package", "--allow-dirty", "--target-dir", &verify];
    for p in PUBLISHED {
        package.extend(["-p", p]);
    }
    cargo(&package, &[])?;
    let nvrtc = cuda::check_kernels()?;
    cuda::emulated_suite("vc6/opencl,vc6/cuda,vc6/image", &nvrtc)?;
    python::test()?;
    fuzz::smoke()?;
    step(&format!(
        "all checks passed (backends tested: cpu, {REQUIRED_BACKENDS}; cuda's host code with the kernels on the CPU)"
    ));
    Ok(())
}

/// `cargo package` of several crates verifies each against the others through a local
/// registry, whose crates cargo extracts once under `$CARGO_HOME/registry/src/-<hash>/`
/// and then trusts, since a published version never changes. Ours do between runs (same
/// version, new code), so a second run would verify against the first run's sources.
/// Removes those extractions (local registries' folders start with `-`; crates.io's are
/// untouched).
fn clear_stale_package_sources() -> Result<()> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(home) = home else {
        return Ok(());
    };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for entry in std::fs::read_dir(registry.path())?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if PUBLISHED
                    .iter()
                    .any(|p| name.starts_with(&format!("{p}-0")))
                {
                    let path = entry.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)?;
                    } else {
                        std::fs::remove_file(&path)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `cargo xtask soak [--minutes N]`: the soak binary of `vc6-fuzzing`, in release, with
/// every backend compiled in (OpenCL installed first, as for the tests).
fn soak(rest: &[String]) -> Result<()> {
    let minutes = match rest {
        [] => "1".to_string(),
        [flag, n] if flag == "--minutes" => {
            let m: f64 = n.parse().context("--minutes takes a number")?;
            if m.is_nan() || m <= 0.0 {
                bail!("--minutes must be positive");
            }
            n.clone()
        }
        _ => bail!("usage: cargo xtask soak [--minutes N]"),
    };
    ensure_opencl()?;
    step(&format!("soak test for {minutes} minutes"));
    cargo(
        &[
            "run",
            "--release",
            "-p",
            "vc6-fuzzing",
            "--features",
            "opencl",
            "--bin",
            "soak",
            "--",
            "--minutes",
            &minutes,
        ],
        &[],
    )
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

/// `cargo xtask bench [--quick] [--corpus DIR] [--loq K] [--no-process]`: the report
/// (every section, the whole-process comparison included, and the targets table), the
/// backend comparison, then criterion; `--lossy` runs the lossy comparison instead,
/// `--process` the whole-process comparison alone.
fn bench(rest: &[String]) -> Result<()> {
    let mut quick = false;
    let mut lossy = false;
    let mut process = false;
    let mut no_process = false;
    let mut corpus: Option<PathBuf> = None;
    let mut loq: Option<String> = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--lossy" => lossy = true,
            "--process" => process = true,
            "--no-process" => no_process = true,
            "--corpus" => {
                corpus = Some(PathBuf::from(it.next().context("--corpus needs a folder")?))
            }
            "--loq" => loq = Some(it.next().context("--loq needs a number")?.clone()),
            other => bail!("bench: unknown option {other:?}\n{USAGE}"),
        }
    }
    if lossy && process {
        bail!("bench: --lossy and --process are separate runs; pick one");
    }
    if process && no_process {
        bail!("bench: --process and --no-process contradict each other");
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
    if (lossy || process) && loq.is_some() {
        bail!("bench: --loq applies to the report, not to --lossy or --process");
    }
    let with_cli = !lossy && !no_process;
    let build = build_bench_binaries(with_cli)?;
    let bin = |name: &str| -> Result<String> {
        let p = build
            .dir
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        p.to_str()
            .map(str::to_owned)
            .with_context(|| format!("{} is not valid UTF-8", p.display()))
    };
    if lossy {
        return bench_lossy(&bin("lossy")?, &corpus, &corpus_str, quick, &shown);
    }
    if with_cli {
        ensure_process_tools();
    }
    let vc6_cli = bin("vc6")?;
    let mut common = vec!["--corpus", &corpus_str, "--command", &shown];
    if quick {
        common.push("--quick");
    }
    if process {
        step(&format!(
            "whole-process decode on one core: vc6 against ojph_expand and djpeg{}",
            if quick { " (--quick: 5 runs each)" } else { "" }
        ));
        let mut args = common.clone();
        args.extend(["--vc6-cli", &vc6_cli]);
        return run_cmd(Command::new(bin("process")?).args(&args));
    }

    let mut report_args = common.clone();
    if let Some(k) = &loq {
        report_args.extend(["--loq", k]);
    }
    if with_cli {
        report_args.extend(["--vc6-cli", &vc6_cli]);
    }
    step(&format!(
        "report on {} and the folders beside it{}",
        corpus.display(),
        if with_cli {
            ", then the whole process on one core"
        } else {
            " (--no-process: without the whole-process comparison)"
        }
    ));
    run_cmd(Command::new(bin("report")?).args(&report_args))?;

    // Every backend that runs here, on the same streams (the binary also runs on its
    // own: `target/release/backends DIR`, e.g. copied to a GPU machine).
    step(&format!(
        "decode speed by backend (CPU, OpenCL) on {}{}",
        corpus.display(),
        if quick {
            " (--quick: one timed run each)"
        } else {
            ""
        }
    ));
    run_cmd(Command::new(bin("backends")?).args(&common))?;
    if quick {
        step("--quick: skipping criterion benches");
        return Ok(());
    }
    step("criterion benches: cargo bench -p vc6-benches");
    let mut args = vec!["bench", "-p", "vc6-benches"];
    if build.no_default_features {
        args.push("--no-default-features");
    }
    cargo(&args, &[("VC6_CORPUS", &corpus_str)])
}

/// Where the release binaries of the benches were built, and whether without the
/// default (OpenCL) features.
struct BenchBuild {
    dir: PathBuf,
    no_default_features: bool,
}

/// Builds the bench binaries (and, with `cli`, the `vc6` command-line binary) in
/// release. When that fails, tries again without the default features (the OpenCL
/// backend), saying so: the CPU measurements do not need it.
fn build_bench_binaries(cli: bool) -> Result<BenchBuild> {
    let mut args = vec!["build", "--release", "-p", "vc6-benches", "--bins"];
    if cli {
        args.extend(["-p", "vc6-cli"]);
    }
    step(&format!(
        "building the bench binaries{} (release)",
        if cli { " and the vc6 CLI" } else { "" }
    ));
    let no_default_features = match cargo(&args, &[]) {
        Ok(()) => false,
        Err(e) => {
            println!(
                "xtask: the build with default features failed ({e:#}); building again with \
                 --no-default-features (no OpenCL backend: the CPU figures do not need it)"
            );
            args.push("--no-default-features");
            cargo(&args, &[])?;
            true
        }
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(BenchBuild {
        dir: target.join("release"),
        no_default_features,
    })
}

/// The peers of the whole-process comparison and their Debian packages.
const PROCESS_TOOLS: [(&str, &str); 5] = [
    ("ojph_compress", "openjph-tools"),
    ("ojph_expand", "openjph-tools"),
    ("cjpeg", "libjpeg-turbo-progs"),
    ("djpeg", "libjpeg-turbo-progs"),
    ("hyperfine", "hyperfine"),
];

/// Installs the whole-process comparison's tools with apt-get when one is missing; never
/// fails: without them the comparison skips those peers (or times in its own loop) and
/// says so.
fn ensure_process_tools() {
    let missing: Vec<&str> = PROCESS_TOOLS
        .iter()
        .filter(|(t, _)| !on_path(t))
        .map(|(t, _)| *t)
        .collect();
    if missing.is_empty() {
        return;
    }
    let mut pkgs: Vec<&str> = Vec::new();
    for (t, p) in PROCESS_TOOLS {
        if missing.contains(&t) && !pkgs.contains(&p) {
            pkgs.push(p);
        }
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        println!(
            "xtask: {} not installed and no apt-get here: the whole-process comparison skips \
             those peers",
            missing.join(", ")
        );
        return;
    }
    println!(
        "xtask: {} not installed: installing Debian packages {} with apt-get for the \
         whole-process comparison",
        missing.join(", "),
        pkgs.join(" ")
    );
    if let Err(e) = ensure_apt_packages(&pkgs) {
        println!(
            "xtask: installing {} failed ({e:#}): the whole-process comparison skips the \
             missing peers",
            pkgs.join(" ")
        );
    }
}

/// Whether `name` is an executable file in a `PATH` folder.
fn on_path(name: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|d| {
        let p = d.join(name);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    })
}

/// `cargo xtask bench --lossy`: the `lossy` binary in release (it also runs on its own:
/// `target/release/lossy DIR`). JPEG 2000 and HTJ2K rows need `opj_compress` /
/// `opj_decompress` and `ojph_compress` / `ojph_expand` on PATH (Debian:
/// libopenjp2-tools, openjph-tools); without them the rows say "not installed".
fn bench_lossy(
    lossy: &str,
    corpus: &Path,
    corpus_str: &str,
    quick: bool,
    shown: &str,
) -> Result<()> {
    let mut args = vec!["--corpus", corpus_str, "--command", shown];
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
    run_cmd(Command::new(lossy).args(&args))
}

/// The workspace root (the folder above `xtask/`). `cargo run` names the manifest's
/// folder at run time; the compile-time one is the fallback, since an xtask binary built
/// from another checkout that shares `target/` would otherwise test that checkout.
fn workspace_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent()
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
