//! The decode-speed and size report of `cargo xtask bench` (issue 9's measurements): vc6
//! against its peers on every corpus folder, in one process and one run, so that every
//! ratio comes from the same run, then a targets table.
//!
//! ```text
//! report [--corpus DIR] [--quick] [--runs N] [--loq K] [--filter TEXT] [--bpp B]
//!        [--vc6-cli PATH] [--command TEXT]
//! ```
//!
//! Sections (the folders are taken beside DIR, the rgb8 folder):
//!
//! 1. lossless RGB8 (`rgb8/`): vc6 against the png crate and the qoi crate: bpp (per
//!    picture too, against the corpus PNG files as well), decode and encode MP/s;
//! 2. lossy RGB8 at 1.25 bpp (`rgb8/`): vc6 (`better`, `target_bpp`) against JPEG 4:4:4
//!    (jpeg-encoder, quality bisected to the same size per picture) decoded by zune-jpeg:
//!    bpp, PSNR, decode MP/s;
//! 3. 16-bit lossless (`rgb16/`): vc6 against the png crate at 16 bits;
//! 4. grey (`gray8/`): vc6 against png and QOI (QOI has no grey: it codes the grey
//!    expanded to RGB);
//! 5. RGBA8 (`rgba8/`), for information;
//! 6. with `--vc6-cli`, the whole-process comparison on one core (`vc6_benches::process`);
//!
//! then the targets table. vc6 decodes on the CPU backend, on one thread
//! (`DecoderSettings { threads: 1, backend: Backend::Cpu }`) and on every core
//! (`threads: 0`); the peers are single-threaded libraries, so their one figure is set
//! against both. Every vc6 decode is checked bit-exact (lossless) before it is timed;
//! then all the decoders of a picture run in turn, round by round (N rounds), and each
//! keeps its best round: MP/s = total pixels / sum of the best times. The median rounds
//! give a second figure and the spread (median / best − 1), the noise of the run.

mod lossless;
mod lossy_rate;

use lossless::{lossless_section, Section};
use lossy_rate::lossy_section;

use anyhow::{bail, ensure, Context, Result};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vc6::{Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
use vc6_benches::lossy::{
    bisect_int, jpeg_encode_rgb8, target_bytes, zune_decode_rgb8, JPEG_ENCODER_VERSION,
    ZUNE_JPEG_VERSION,
};
use vc6_benches::process::{self, ProcessOptions};
use vc6_benches::quality::{psnr_from_mse, sse};
use vc6_benches::timing::{best_of, interleaved, mps, Total};
use vc6_benches::{
    cpu_model, default_corpus_dir, git_state, hardware_threads, list_pictures, load_picture,
    png_decode, png_encode, print_targets, today_utc, RawPicture, Target,
};

const USAGE: &str = "\
usage: report [--corpus DIR] [--quick] [--runs N] [--loq K] [--filter TEXT] [--bpp B]
              [--vc6-cli PATH] [--command TEXT]

  --corpus DIR    the rgb8 folder; rgb16/, gray8/, rgba8/, uhd/ are taken beside it
                  (default ../shared/corpus/rgb8 beside the workspace, or VC6_CORPUS)
  --quick         2 timed rounds per picture (default 5, 3 above 3 MP), one encode run,
                  the lossy section on every 4th picture, fewer whole-process runs
  --runs N        timed rounds per picture for the in-process decodes
  --loq K         also time vc6 decoding lossless RGB8 at LoQ K
  --filter TEXT   only the rgb8 pictures whose name contains TEXT
  --bpp B         the lossy rate (default 1.25)
  --vc6-cli PATH  the release vc6 binary: adds the whole-process comparison on one core
                  (ojph_expand, djpeg; see the process binary)
  --command TEXT  the command line to print in the header";

struct Args {
    corpus: PathBuf,
    quick: bool,
    runs: Option<usize>,
    loq: Option<u8>,
    filter: Option<String>,
    bpp: f64,
    vc6_cli: Option<PathBuf>,
    command: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        corpus: default_corpus_dir(),
        quick: false,
        runs: None,
        loq: None,
        filter: None,
        bpp: 1.25,
        vc6_cli: None,
        command: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--corpus" => args.corpus = PathBuf::from(val("a folder")?),
            "--quick" => args.quick = true,
            "--loq" => args.loq = Some(val("a number")?.parse().context("--loq: not a number")?),
            "--runs" => {
                let n: usize = val("a number")?.parse().context("--runs: not a number")?;
                ensure!(n >= 1, "--runs must be at least 1");
                args.runs = Some(n);
            }
            "--filter" => args.filter = Some(val("a text")?),
            "--bpp" => {
                args.bpp = val("a rate")?.parse().context("--bpp: not a number")?;
                ensure!(
                    args.bpp > 0.0 && args.bpp < 24.0,
                    "--bpp must lie between 0 and 24"
                );
            }
            "--vc6-cli" => args.vc6_cli = Some(PathBuf::from(val("a path")?)),
            "--command" => args.command = Some(val("a text")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("report: error: {e:#}");
        std::process::exit(1);
    }
}

/// The two vc6 decoders every section times: one thread and every core, CPU backend.
struct Decoders {
    one: Decoder,
    all: Decoder,
}

/// Timed rounds and encode runs for a picture of `px` pixels.
struct Plan {
    runs: Option<usize>,
    quick: bool,
}

impl Plan {
    fn rounds(&self, px: u64) -> usize {
        self.runs.unwrap_or(match (self.quick, px > 3_000_000) {
            (true, _) => 2,
            (false, true) => 3,
            (false, false) => 5,
        })
    }

    fn encode_runs(&self, px: u64) -> usize {
        if self.quick || px > 3_000_000 {
            1
        } else {
            2
        }
    }
}

fn run() -> Result<()> {
    let started = Instant::now();
    let args = parse_args()?;
    let root = args.corpus.join("..");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let cores = hardware_threads();
    let plan = Plan {
        runs: args.runs,
        quick: args.quick,
    };
    let dec = Decoders {
        one: Decoder::new(DecoderSettings {
            threads: 1,
            backend: Backend::Cpu,
            ..Default::default()
        })?,
        all: Decoder::new(DecoderSettings {
            threads: 0,
            backend: Backend::Cpu,
            ..Default::default()
        })?,
    };

    let command = args.command.clone().unwrap_or_else(|| {
        std::env::args()
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
            .collect::<Vec<_>>()
            .join(" ")
    });
    println!("# vc6 decode speed and size against its peers\n");
    println!("- command: `{command}`");
    println!("- date: {}; commit: {}", today_utc(), git_state());
    println!("- machine: {} ({cores} hardware threads)", cpu_model());
    println!("- corpus: {}", root.display());
    println!(
        "- vc6 decodes with `vc6::Decoder` on the CPU backend: \"1 thread\" is \
         `DecoderSettings {{ threads: 1, backend: Backend::Cpu }}`, \"all cores\" `threads: 0` \
         ({cores} hardware threads, tiles in parallel). The peers (png, qoi, zune-jpeg) are \
         single-threaded libraries: their one figure is set against vc6's one-thread and \
         all-core figures alike."
    );
    println!(
        "- in-process timing: every vc6 decode is checked bit-exact (lossy: the same bytes \
         on one thread and on all cores) before it is timed; then every decoder of a picture \
         runs once per round, in turn, for {} rounds (3 above 3 MP), and keeps its best: \
         MP/s = total pixels / sum of best times. \"median\" figures use each picture's \
         median round instead; \"spread\" = median / best − 1, this run's noise.",
        plan.runs.unwrap_or(if args.quick { 2 } else { 5 })
    );
    println!(
        "- encode MP/s: best of {} run(s) per picture\n",
        if args.quick { 1 } else { 2 }
    );

    let mut targets = Vec::new();
    let filter = args.filter.clone();
    let keep = |p: &Path| match &filter {
        Some(f) => p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(f.as_str())),
        None => true,
    };

    // 1. Lossless RGB8.
    let rgb8 = load_folder(&args.corpus, &["png"], keep)?;
    ensure!(
        !rgb8.is_empty(),
        "no PNG pictures in {} (filter {:?})",
        args.corpus.display(),
        args.filter
    );
    eprintln!("report: 1. lossless RGB8, {} pictures", rgb8.len());
    let s = lossless_section(&rgb8, &dec, &plan, args.loq, true)?;
    s.print("## 1. Lossless RGB8 (`rgb8/`)", cores);
    targets.extend(s.targets("lossless RGB8", Section::Rgb8));

    // 2. Lossy RGB8 at the rate.
    let lossy_pics: Vec<&RawPicture> = if args.quick {
        rgb8.iter().step_by(4).collect()
    } else {
        rgb8.iter().collect()
    };
    eprintln!(
        "report: 2. lossy RGB8 at {} bpp, {} pictures",
        args.bpp,
        lossy_pics.len()
    );
    let l = lossy_section(&lossy_pics, args.bpp, &dec, &plan)?;
    l.print(args.quick, cores);
    targets.extend(l.targets());
    drop(rgb8);

    // 3-5. The other folders.
    let others: [(&str, &str, &[&str], bool); 3] = [
        (
            "rgb16",
            "## 3. 16-bit lossless RGB (`rgb16/`)",
            &["ppm", "png"],
            true,
        ),
        (
            "gray8",
            "## 4. Grey, 8-bit lossless (`gray8/`)",
            &["png", "pgm"],
            true,
        ),
        (
            "rgba8",
            "## 5. RGBA8 lossless (`rgba8/`, for information)",
            &["png"],
            false,
        ),
    ];
    for (folder, title, exts, with_targets) in others {
        let dir = root.join(folder);
        let label = match folder {
            "rgb16" => "16-bit lossless",
            "gray8" => "grey lossless",
            _ => "RGBA8 lossless",
        };
        let pics = if dir.is_dir() {
            load_folder(&dir, exts, |_| true)?
        } else {
            Vec::new()
        };
        if pics.is_empty() {
            println!("{title}\n\nskipped: no pictures in {}\n", dir.display());
            if with_targets {
                targets.push(Target::skipped(
                    format!("{label}: measured"),
                    format!("no pictures in {}", dir.display()),
                ));
            }
            continue;
        }
        eprintln!("report: {folder}, {} pictures", pics.len());
        let s = lossless_section(&pics, &dec, &plan, None, true)?;
        s.print(title, cores);
        if with_targets {
            let kind = if folder == "rgb16" {
                Section::Rgb16
            } else {
                Section::Grey
            };
            targets.extend(s.targets(label, kind));
        }
    }

    // 6. The whole process on one core.
    match &args.vc6_cli {
        Some(cli) => {
            eprintln!("report: 6. whole process on one core");
            let (opts, missing) = ProcessOptions::new(cli.clone(), &root, args.quick);
            for m in &missing {
                println!("- {} is missing: that size is skipped", m.display());
            }
            let r = process::run(&opts)?;
            r.print("##", "6. ");
            targets.extend(r.targets());
        }
        None => {
            println!(
                "## 6. Whole process on one core\n\nskipped: no `--vc6-cli PATH` (`cargo xtask \
                 bench` builds the CLI and passes it)\n"
            );
            targets.push(Target::skipped(
                "whole process, one core: `vc6 decode` faster than `ojph_expand` and `djpeg`",
                "no --vc6-cli",
            ));
        }
    }

    println!("## Targets (all from this run)\n");
    print_targets(&targets);
    println!("\nThe run took {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

/// Every picture in `dir` with one of `exts` that `keep` passes.
fn load_folder(dir: &Path, exts: &[&str], keep: impl Fn(&Path) -> bool) -> Result<Vec<RawPicture>> {
    if !dir.is_dir() {
        bail!(
            "corpus folder {} does not exist; the measurement corpus is expected in \
             shared/corpus/ beside the workspace (pass --corpus DIR or set VC6_CORPUS)",
            dir.display()
        );
    }
    list_pictures(dir, exts)?
        .into_iter()
        .filter(|p| keep(p))
        .map(|p| load_picture(&p))
        .collect()
}

fn bpp(bytes: u64, px: u64) -> f64 {
    bytes as f64 * 8.0 / px.max(1) as f64
}

/// `b / a` of two times: how many times faster `a` is.
fn speed(a: Duration, b: Duration) -> f64 {
    b.as_secs_f64() / a.as_secs_f64().max(1e-12)
}

fn same_or_bail(codec: &str, name: &str, got: &[u8], want: &[u8]) -> Result<()> {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        bail!(
            "{codec} is NOT lossless on {name}: decoded {} bytes, expected {}; first \
             difference at byte {at:?}",
            got.len(),
            want.len()
        );
    }
    Ok(())
}

/// Issue 9's size target for the lossless RGB8 corpus.
const RGB8_MOST_BPP: f64 = 8.3;
/// Bitstream v1's size of the 16-bit corpus (commit a56d035, default settings): sizes
/// do not depend on the machine, so v1's figure stands in for a run of v1.
const V1_RGB16_BPP: f64 = 32.441;
/// Bitstream v1's mean PSNR of the rgb8 corpus at 1.25 bpp (docs/performance.md, issue 3).
const V1_LOSSY_MEAN_DB: f64 = 42.18;
