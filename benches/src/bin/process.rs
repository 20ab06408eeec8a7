//! The whole-process comparison alone (`cargo xtask bench --process`): the release `vc6`
//! binary's `decode --backend cpu --threads 1` against OpenJPH's `ojph_expand` (lossless
//! and lossy) and libjpeg-turbo's `djpeg` (lossy), each a process pinned to one core. See
//! `vc6_benches::process`.
//!
//! ```text
//! cargo build --release -p vc6-cli -p vc6-benches
//! target/release/process --vc6-cli target/release/vc6 [--corpus DIR] [--quick]
//!                        [--runs N] [--pictures A.png,B.png] [--bpp B]
//! ```

use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;
use std::time::Instant;
use vc6_benches::process::{self, ProcessOptions};
use vc6_benches::{
    cpu_model, default_corpus_dir, git_state, hardware_threads, print_targets, today_utc,
};

const USAGE: &str = "\
usage: process --vc6-cli PATH [--corpus DIR] [--quick] [--runs N] [--warmup N]
               [--pictures LIST] [--bpp B] [--command TEXT]

  --vc6-cli PATH   the release vc6 binary (cargo build --release -p vc6-cli)
  --corpus DIR     the rgb8 corpus folder; the pictures are taken from DIR/.. (default
                   ../shared/corpus/rgb8 beside the workspace, or VC6_CORPUS)
  --quick          5 timed runs after 1 warm-up (default 20 after 3), fewer bisection steps
  --runs N         timed runs per command
  --warmup N       warm-up runs per command
  --pictures LIST  comma-separated PNG files instead of the default four sizes
  --bpp B          the lossy rate (default 1.25)
  --command TEXT   the command line to print in the header";

fn main() {
    if let Err(e) = run() {
        eprintln!("process: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let started = Instant::now();
    let mut vc6_cli = None;
    let mut corpus = default_corpus_dir();
    let mut quick = false;
    let mut runs = None;
    let mut warmup = None;
    let mut pictures: Option<Vec<PathBuf>> = None;
    let mut bpp = None;
    let mut command = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--vc6-cli" => vc6_cli = Some(PathBuf::from(val("a path")?)),
            "--corpus" => corpus = PathBuf::from(val("a folder")?),
            "--quick" => quick = true,
            "--runs" => runs = Some(val("a number")?.parse::<usize>().context("--runs")?),
            "--warmup" => warmup = Some(val("a number")?.parse::<usize>().context("--warmup")?),
            "--pictures" => pictures = Some(val("a list")?.split(',').map(PathBuf::from).collect()),
            "--bpp" => bpp = Some(val("a rate")?.parse::<f64>().context("--bpp")?),
            "--command" => command = Some(val("a text")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let vc6_cli = vc6_cli.with_context(|| format!("--vc6-cli is required\n{USAGE}"))?;
    let root = corpus.join("..");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let (mut opts, mut missing) = ProcessOptions::new(vc6_cli, &root, quick);
    if let Some(p) = pictures {
        opts.pictures = p;
        missing.clear();
    }
    for m in &missing {
        eprintln!("process: {} is missing: that size is skipped", m.display());
    }
    ensure!(!opts.pictures.is_empty(), "no pictures to measure");
    if let Some(n) = runs {
        ensure!(n >= 2, "--runs must be at least 2");
        opts.runs = n;
    }
    if let Some(n) = warmup {
        opts.warmup = n;
    }
    if let Some(b) = bpp {
        ensure!(b > 0.0 && b < 24.0, "--bpp must lie between 0 and 24");
        opts.bpp = b;
    }
    let results = process::run(&opts)?;

    let command = command.unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    println!("# vc6 whole-process decode on one core\n");
    println!("- command: `{command}`");
    println!("- date: {}; commit: {}", today_utc(), git_state());
    println!(
        "- machine: {} ({} hardware threads); run took {:.0} s",
        cpu_model(),
        hardware_threads(),
        started.elapsed().as_secs_f64()
    );
    for m in &missing {
        println!("- {} is missing: that size is skipped", m.display());
    }
    println!();
    results.print("##", "");
    println!("## Targets\n");
    print_targets(&results.targets());
    Ok(())
}
