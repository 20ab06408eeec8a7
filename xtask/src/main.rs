//! Project automation for vc6-rs.
//!
//! Run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`):
//!
//! * `test` — the whole test suite, then the conformance check (what CI runs).
//! * `conformance [--bless]` — the conformance test against `fixtures/conformance.txt`.
//! * `bench [--quick] [--corpus DIR] [--loq K]` — the comparison report against
//!   png and qoi, then (unless `--quick`) the criterion benches.
//! * `fixtures` — regenerate `fixtures/sample.png`.

mod fixtures;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test                         cargo test --workspace, then the conformance check
  conformance [--bless]        run the conformance test (--bless rewrites fixtures/conformance.txt)
  bench [--quick] [--corpus DIR] [--loq K]
                               comparison report vs png and qoi on DIR
                               (default: ../shared/corpus/rgb8 beside the workspace),
                               then criterion benches unless --quick
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
            conformance(bless)
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

/// `cargo xtask test`: everything CI checks.
fn test() -> Result<()> {
    // Later: backends that need system packages (OpenCL via PoCL, wgpu via lavapipe)
    // call `ensure_apt_packages(&[...])` here before the tests run.
    step("cargo test --workspace");
    cargo(&["test", "--workspace"], &[])?;
    conformance(false)?;
    step("all checks passed");
    Ok(())
}

/// `cargo xtask conformance [--bless]`.
fn conformance(bless: bool) -> Result<()> {
    let envs: &[(&str, &str)] = if bless { &[("VC6_BLESS", "1")] } else { &[] };
    step(&format!(
        "conformance check: cargo test -p vc6 --test conformance{}",
        if bless {
            " (VC6_BLESS=1: rewriting fixtures/conformance.txt)"
        } else {
            ""
        }
    ));
    cargo(&["test", "-p", "vc6", "--test", "conformance"], envs)
}

/// `cargo xtask bench [--quick] [--corpus DIR] [--loq K]`.
fn bench(rest: &[String]) -> Result<()> {
    let mut quick = false;
    let mut corpus: Option<PathBuf> = None;
    let mut loq: Option<String> = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
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
#[allow(dead_code)]
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
    let apt = |args: &[&str]| -> Command {
        let mut c = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run_cmd(&mut apt(&["update"]))?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    run_cmd(&mut apt(&install))
}
