//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/`, built with cargo-fuzz and run
//! with the kept seeds, and the short smoke of every target that `cargo xtask test` runs.
//!
//! The checks themselves live in `crates/vc6-fuzzing` (so they build on stable and every
//! finding replays as a test there); this module only builds, seeds, runs and reports.

use crate::{run_cmd, step, workspace_root};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fuzz targets, in the order they run.
pub const TARGETS: [&str; 4] = ["decode", "decode_nocrc", "roundtrip", "backend_diff"];

/// Seconds of each target in the smoke of `cargo xtask test`.
pub const SMOKE_SECONDS: u64 = 20;

/// How libFuzzer targets get built here: cargo-fuzz needs `-Z` flags, so a nightly
/// toolchain, or the stable one told to allow them.
pub struct Toolchain {
    /// `+nightly`, or none for the default toolchain.
    plus: Option<&'static str>,
    /// Sets `RUSTC_BOOTSTRAP=1` (stable compilers accept `-Z` flags then).
    bootstrap: bool,
}

impl Toolchain {
    /// Nightly when rustup has it; otherwise the stable compiler with `RUSTC_BOOTSTRAP=1`
    /// when `allow_stable`; otherwise why fuzzing cannot run here.
    pub fn find(allow_stable: bool) -> std::result::Result<Toolchain, String> {
        let nightly = Command::new("rustup")
            .args(["run", "nightly", "rustc", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if nightly {
            return Ok(Toolchain {
                plus: Some("+nightly"),
                bootstrap: false,
            });
        }
        if allow_stable {
            return Ok(Toolchain {
                plus: None,
                bootstrap: true,
            });
        }
        Err("no nightly toolchain (`rustup toolchain install nightly` adds one)".into())
    }

    fn cargo(&self) -> Command {
        let mut c = Command::new("cargo");
        if let Some(p) = self.plus {
            c.arg(p);
        }
        if self.bootstrap {
            c.env("RUSTC_BOOTSTRAP", "1");
        }
        c.current_dir(workspace_root());
        c
    }

    fn describe(&self) -> &'static str {
        if self.bootstrap {
            "stable with RUSTC_BOOTSTRAP=1 (no nightly toolchain here)"
        } else {
            "nightly"
        }
    }
}

/// Installs cargo-fuzz when `cargo fuzz` is missing, saying so.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        println!("xtask: cargo-fuzz is missing: installing it (cargo install cargo-fuzz --locked)");
        run_cmd(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Builds every fuzz target (optimised, with debug assertions and AddressSanitizer).
fn build(tc: &Toolchain) -> Result<()> {
    step(&format!(
        "building the fuzz targets with cargo-fuzz on {}",
        tc.describe()
    ));
    // cargo-fuzz's default: optimised, with debug assertions and overflow checks.
    run_cmd(tc.cargo().args(["fuzz", "build"]))
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV names no host")
}

fn binary(target: &str) -> Result<PathBuf> {
    Ok(workspace_root()
        .join("fuzz/target")
        .join(host_triple()?)
        .join("release")
        .join(target))
}

/// The kept, minimised corpus of a target (in the repository).
fn seeds(target: &str) -> PathBuf {
    workspace_root().join("fuzz/seeds").join(target)
}

/// The seeds a run starts from: the kept corpus, and the conformance streams for the
/// targets that read streams.
fn seed_dirs(target: &str) -> Vec<PathBuf> {
    let mut dirs = vec![seeds(target)];
    if target != "roundtrip" {
        dirs.push(workspace_root().join("fixtures/conformance"));
    }
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Input lengths: streams up to 16 KiB (the largest conformance stream is 10.3 KiB); the
/// round trip's choices take its first 30 bytes and the rest are samples, so it may use
/// its whole length from the start instead of growing it slowly.
fn length_args(target: &str) -> [&'static str; 2] {
    if target == "roundtrip" {
        ["-max_len=1024", "-len_control=0"]
    } else {
        ["-max_len=16384", "-len_control=100"]
    }
}

/// What one run did, from libFuzzer's report.
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs executed.
    pub execs: u64,
    /// Edges covered (libFuzzer's `cov:`).
    pub cov: u64,
    /// Features (edges with hit counts; libFuzzer's `ft:`).
    pub ft: u64,
    /// Inputs in the corpus at the end.
    pub corpus: u64,
    /// The input that failed, when one did.
    pub finding: Option<PathBuf>,
}

fn field(line: &str, name: &str) -> Option<u64> {
    let rest = line.split(name).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

fn parse(log: &str) -> Stats {
    let mut s = Stats::default();
    for line in log.lines() {
        if line.contains(" cov: ") {
            s.cov = field(line, " cov: ").unwrap_or(s.cov);
            s.ft = field(line, " ft: ").unwrap_or(s.ft);
            if let Some(c) = line.split(" corp: ").nth(1) {
                s.corpus = c
                    .split('/')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(s.corpus);
            }
        }
        if let Some(n) = field(line, "stat::number_of_executed_units: ") {
            s.execs = n;
        }
        if let Some(p) = line.split("Test unit written to ").nth(1) {
            s.finding = Some(PathBuf::from(p.trim()));
        }
    }
    s
}

/// Runs `target` for `seconds` with `corpus` as its working corpus (new inputs go there),
/// started from the seeds, with the SIMD paths off when `scalar`; the log goes to
/// `corpus`'s sibling `<target>.log`.
fn run_target(target: &str, seconds: u64, corpus: &Path, scalar: bool) -> Result<Stats> {
    std::fs::create_dir_all(corpus)?;
    let artifacts = workspace_root().join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&artifacts)?;
    let mut cmd = Command::new(binary(target)?);
    cmd.arg(corpus)
        .args(seed_dirs(target))
        .arg(format!("-max_total_time={seconds}"))
        // A decode of a stream within the fuzzing limits takes milliseconds.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=4096")
        .args(length_args(target))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1");
    if target == "backend_diff" {
        // The OpenCL driver keeps its compiler's allocations to the end of the process.
        cmd.arg("-detect_leaks=0");
    }
    if scalar {
        // The scalar twins of the SIMD kernels: what CPUs without AVX2 run.
        cmd.env("VC6_SIMD", "scalar");
    }
    println!("xtask: running {cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("could not start the {target} fuzz target"))?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let log_path = corpus.with_extension("log");
    std::fs::write(&log_path, &log)?;
    let stats = parse(&log);
    if !out.status.success() || stats.finding.is_some() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        bail!(
            "fuzz target {target} found a failure{} (full log: {}). Keep it as a test: copy \
             it to fuzz/regressions/{target}/<what-it-is> and add a line to `findings!` in \
             crates/vc6-fuzzing/tests/replay.rs",
            stats
                .finding
                .as_ref()
                .map(|p| format!(": {}", p.display()))
                .unwrap_or_default(),
            log_path.display()
        );
    }
    Ok(stats)
}

fn report(target: &str, seconds: u64, s: &Stats) {
    println!(
        "xtask: fuzz {target}: {} executions in {seconds} s ({}/s), coverage {} edges, \
         {} features, corpus {} inputs, no findings",
        s.execs,
        s.execs / seconds.max(1),
        s.cov,
        s.ft,
        s.corpus
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the kept seeds of `target` with a minimal set covering the seeds and
/// `corpus` (libFuzzer's `-set_cover_merge=1`).
fn minimise(target: &str, corpus: &Path) -> Result<()> {
    let kept = seeds(target);
    let fresh = kept.with_extension("new");
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh)?;
    let mut cmd = Command::new(binary(target)?);
    // The fewest inputs that cover every edge (hit counts aside): small enough to keep.
    cmd.args(["-set_cover_merge=1", "-use_counters=0"])
        .args(length_args(target))
        .arg(&fresh)
        .args(seed_dirs(target))
        .arg(corpus);
    if target == "backend_diff" {
        cmd.arg("-detect_leaks=0");
    }
    println!("xtask: running {cmd:?}");
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "merging the {target} corpus failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The conformance streams are seeds already.
    let fixtures: Vec<Vec<u8>> = files(&workspace_root().join("fixtures/conformance"))
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    for f in files(&fresh) {
        if std::fs::read(&f).is_ok_and(|d| fixtures.contains(&d)) {
            std::fs::remove_file(&f)?;
        }
    }
    let _ = std::fs::remove_dir_all(&kept);
    std::fs::rename(&fresh, &kept)?;
    let n = std::fs::read_dir(&kept)?.count();
    println!("xtask: fuzz/seeds/{target} now holds {n} inputs");
    Ok(())
}

/// `cargo xtask fuzz [--target T]... [--seconds N] [--no-merge] [--scalar]`.
pub fn fuzz(rest: &[String]) -> Result<()> {
    let mut targets = Vec::new();
    let mut seconds = 300u64;
    let mut merge = true;
    let mut scalar = false;
    let mut args = rest.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--target" => {
                let t = args.next().context("--target needs a name")?;
                if !TARGETS.contains(&t.as_str()) {
                    bail!(
                        "no fuzz target {t:?}; the targets are {}",
                        TARGETS.join(", ")
                    );
                }
                targets.push(t.clone());
            }
            "--seconds" => {
                seconds = args
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a whole number of seconds")?;
            }
            "--no-merge" => merge = false,
            "--scalar" => scalar = true,
            other => bail!("fuzz: unknown option {other:?}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let tc = Toolchain::find(true).map_err(anyhow::Error::msg)?;
    ensure_cargo_fuzz()?;
    build(&tc)?;
    if targets.iter().any(|t| t == "backend_diff") {
        crate::ensure_opencl()?;
    }
    for t in &targets {
        let simd = if scalar { ", SIMD off" } else { "" };
        step(&format!("fuzzing {t} for {seconds} s{simd}"));
        let corpus = workspace_root().join("fuzz/corpus").join(t);
        let stats = run_target(t, seconds, &corpus, scalar)?;
        report(t, seconds, &stats);
        if merge {
            minimise(t, &corpus)?;
        }
    }
    Ok(())
}

/// The smoke of `cargo xtask test`: every target for [`SMOKE_SECONDS`] from the kept
/// seeds, in a scratch corpus (the repository is not touched). Skips, saying why in one
/// line, where no toolchain can build the targets.
pub fn smoke() -> Result<()> {
    step(&format!(
        "fuzz smoke: every fuzz target for {SMOKE_SECONDS} s"
    ));
    let tc = match Toolchain::find(false) {
        Ok(tc) => tc,
        Err(why) => {
            println!("xtask: skipping the fuzz smoke: {why}");
            return Ok(());
        }
    };
    ensure_cargo_fuzz()?;
    build(&tc)?;
    let scratch = workspace_root().join("target/fuzz-smoke");
    let _ = std::fs::remove_dir_all(&scratch);
    for t in TARGETS {
        let stats = run_target(t, SMOKE_SECONDS, &scratch.join(t), false)?;
        report(t, SMOKE_SECONDS, &stats);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_libfuzzer_reports() {
        let log = "#1024\tpulse  cov: 5739 ft: 19289 corp: 225/696Kb lim: 10584 exec/s: 102\n\
                   #5403\tDONE   cov: 5805 ft: 21584 corp: 447/1399Kb lim: 10584 exec/s: 131\n\
                   stat::number_of_executed_units: 5403\n";
        let s = parse(log);
        assert_eq!((s.execs, s.cov, s.ft, s.corpus), (5403, 5805, 21584, 447));
        assert!(s.finding.is_none());
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='a/'; Test unit written to a/crash-12ab\n";
        assert_eq!(parse(crash).finding.unwrap().to_str(), Some("a/crash-12ab"));
    }
}
