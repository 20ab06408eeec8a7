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

// ---------------------------------------------------------------------------------------
// Lossless sections.

/// One codec over a section.
#[derive(Default)]
struct Codec {
    bytes: u64,
    decode_1: Total,
    /// vc6 only: every core.
    decode_all: Total,
    encode_1: Duration,
    /// vc6 only: every core.
    encode_all: Duration,
}

/// Sizes of one picture.
struct PicSizes {
    name: String,
    w: u32,
    h: u32,
    file: u64,
    vc6: u64,
    png: u64,
    qoi: Option<u64>,
}

struct Lossless {
    pictures: usize,
    px: u64,
    layout: String,
    /// The pictures came from PNG files (their sizes are a column).
    from_png: bool,
    vc6: Codec,
    png: Codec,
    qoi: Option<Codec>,
    /// How QOI coded these pictures, when not as they are.
    qoi_note: Option<&'static str>,
    sizes: Vec<PicSizes>,
    /// LoQ k: (k, output pixels, one thread, all cores).
    loq: Option<(u8, u64, Total, Total)>,
}

/// The samples QOI codes for a picture (it takes 3 or 4 channels of 8 bits), and a note
/// when they are not the picture's own.
fn qoi_input(p: &RawPicture) -> Option<(Vec<u8>, Option<&'static str>)> {
    if p.bits != 8 {
        return None;
    }
    Some(match p.channels {
        3 | 4 => (p.samples.clone(), None),
        1 => (
            p.samples.iter().flat_map(|&g| [g, g, g]).collect(),
            Some("QOI has no grey mode: it codes the grey expanded to RGB (R = G = B)"),
        ),
        _ => (
            p.samples
                .chunks_exact(2)
                .flat_map(|s| [s[0], s[0], s[0], s[1]])
                .collect(),
            Some("QOI has no grey mode: it codes grey + alpha expanded to RGBA"),
        ),
    })
}

fn lossless_section(
    pics: &[RawPicture],
    dec: &Decoders,
    plan: &Plan,
    loq: Option<u8>,
    with_qoi: bool,
) -> Result<Lossless> {
    let mut s = Lossless {
        pictures: pics.len(),
        px: pics.iter().map(RawPicture::pixel_count).sum(),
        layout: pics
            .iter()
            .map(RawPicture::layout)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        from_png: pics
            .iter()
            .all(|p| p.name.to_ascii_lowercase().ends_with(".png")),
        vc6: Codec::default(),
        png: Codec::default(),
        qoi: None,
        qoi_note: None,
        sizes: Vec::new(),
        loq: loq.map(|k| (k, 0, Total::default(), Total::default())),
    };
    for p in pics {
        let (w, h, px) = (p.width, p.height, p.pixel_count());
        let rounds = plan.rounds(px);
        let enc_runs = plan.encode_runs(px);
        eprintln!(
            "report:   {} ({w}x{h} {}), {rounds} rounds",
            p.name,
            p.layout()
        );
        let format = p.vc6_format()?;
        let input = p.samples_le();

        // vc6, lossless with default settings; the stream must not depend on threads.
        let enc_all = Encoder::new(w, h, format, EncoderSettings::default())
            .with_context(|| format!("vc6 encoder for {}", p.name))?;
        let enc_1 = Encoder::new(
            w,
            h,
            format,
            EncoderSettings {
                threads: 1,
                ..Default::default()
            },
        )?;
        let (t, stream) = best_of(enc_runs, || Ok(enc_all.encode(&input)?))
            .with_context(|| format!("vc6 encode of {}", p.name))?;
        s.vc6.encode_all += t;
        let (t, stream_1) = best_of(enc_runs, || Ok(enc_1.encode(&input)?))?;
        s.vc6.encode_1 += t;
        ensure!(
            stream_1 == stream,
            "vc6 stream of {} depends on the thread count",
            p.name
        );
        s.vc6.bytes += stream.len() as u64;
        // Bit-exact before timing, on both decoders (also the warm-up).
        let f = dec
            .one
            .decode(&stream)
            .with_context(|| format!("vc6 decode of {}", p.name))?;
        ensure!(
            (f.width, f.height, f.format) == (w, h, format),
            "vc6 decoded {} as {}x{} {:?}",
            p.name,
            f.width,
            f.height,
            f.format
        );
        same_or_bail("vc6 (1 thread)", &p.name, &f.data, &input)?;
        let f = dec.all.decode(&stream)?;
        same_or_bail("vc6 (all cores)", &p.name, &f.data, &input)?;

        // png crate, default compression, in the picture's own layout.
        let (t, png_data) = best_of(enc_runs, || {
            png_encode(&p.samples, w, h, p.channels, p.bits)
        })?;
        s.png.encode_1 += t;
        s.png.bytes += png_data.len() as u64;
        same_or_bail("png", &p.name, &png_decode(&png_data)?, &p.samples)?;

        // qoi crate, where it applies.
        let qoi = if with_qoi { qoi_input(p) } else { None };
        let mut qoi_data = None;
        if let Some((qin, note)) = &qoi {
            let (t, data) = best_of(enc_runs, || Ok(qoi::encode_to_vec(qin, w, h)?))?;
            let (_, back) = qoi::decode_to_vec(&data)?;
            same_or_bail("qoi", &p.name, &back, qin)?;
            let c = s.qoi.get_or_insert_with(Codec::default);
            c.encode_1 += t;
            c.bytes += data.len() as u64;
            s.qoi_note = s.qoi_note.or(*note);
            qoi_data = Some(data);
        }

        // Decodes, round by round.
        let mut v1 = || -> Result<()> {
            black_box(dec.one.decode(&stream)?);
            Ok(())
        };
        let mut va = || -> Result<()> {
            black_box(dec.all.decode(&stream)?);
            Ok(())
        };
        let mut pn = || -> Result<()> {
            black_box(png_decode(&png_data)?);
            Ok(())
        };
        let qd = qoi_data.as_deref().unwrap_or_default();
        let mut qo = || -> Result<()> {
            black_box(qoi::decode_to_vec(qd)?);
            Ok(())
        };
        let mut tasks: Vec<&mut dyn FnMut() -> Result<()>> = vec![&mut v1, &mut va, &mut pn];
        if qoi_data.is_some() {
            tasks.push(&mut qo);
        }
        let stats = interleaved(rounds, &mut tasks)?;
        s.vc6.decode_1.add(stats[0]);
        s.vc6.decode_all.add(stats[1]);
        s.png.decode_1.add(stats[2]);
        if let (Some(c), Some(st)) = (s.qoi.as_mut(), stats.get(3)) {
            c.decode_1.add(*st);
        }

        if let Some((k, out_px, one, all)) = s.loq.as_mut() {
            let region = FrameRegion::full(*k);
            let f = dec.one.decode_region(&stream, region)?;
            *out_px += u64::from(f.width) * u64::from(f.height);
            let mut a = || -> Result<()> {
                black_box(dec.one.decode_region(&stream, region)?);
                Ok(())
            };
            let mut b = || -> Result<()> {
                black_box(dec.all.decode_region(&stream, region)?);
                Ok(())
            };
            let st = interleaved(rounds, &mut [&mut a, &mut b])
                .with_context(|| format!("vc6 decode at LoQ {k} of {}", p.name))?;
            one.add(st[0]);
            all.add(st[1]);
        }

        s.sizes.push(PicSizes {
            name: p.name.clone(),
            w,
            h,
            file: p.file_bytes,
            vc6: stream.len() as u64,
            png: png_data.len() as u64,
            qoi: qoi_data.as_ref().map(|d| d.len() as u64),
        });
    }
    Ok(s)
}

impl Lossless {
    fn print(&self, title: &str, cores: usize) {
        let px = self.px;
        println!(
            "{title}\n\n{} picture(s), {:.2} MP, {}. vc6: default encoder settings (lossless); \
             png: the png crate, default compression, in the pictures' own layout; qoi: the qoi \
             crate.{}\n",
            self.pictures,
            px as f64 / 1e6,
            self.layout,
            match (&self.qoi, self.qoi_note) {
                (None, _) => " QOI has no 16-bit mode: no QOI row.".to_string(),
                (Some(_), Some(n)) => format!(" {n}."),
                (Some(_), None) => String::new(),
            }
        );
        println!(
            "| codec | bpp | decode MP/s, 1 thread | decode MP/s, all cores ({cores} threads) | median MP/s, 1 thread / all cores | spread | encode MP/s, 1 thread | encode MP/s, all cores |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let v = &self.vc6;
        println!(
            "| vc6 | {:.3} | {:.1} | {:.1} | {:.1} / {:.1} | {:.0}% / {:.0}% | {:.1} | {:.1} |",
            bpp(v.bytes, px),
            v.decode_1.mps(px),
            v.decode_all.mps(px),
            v.decode_1.mps_median(px),
            v.decode_all.mps_median(px),
            v.decode_1.spread_percent(),
            v.decode_all.spread_percent(),
            mps(px, v.encode_1),
            mps(px, v.encode_all),
        );
        let peer = |name: &str, c: &Codec| {
            println!(
                "| {name} | {:.3} | {:.1} | (single-threaded) | {:.1} | {:.0}% | {:.1} | — |",
                bpp(c.bytes, px),
                c.decode_1.mps(px),
                c.decode_1.mps_median(px),
                c.decode_1.spread_percent(),
                mps(px, c.encode_1),
            )
        };
        peer("png", &self.png);
        if let Some(q) = &self.qoi {
            peer(
                if self.qoi_note.is_some() {
                    "qoi (as RGB)"
                } else {
                    "qoi"
                },
                q,
            );
        }
        if let Some((k, out_px, one, all)) = &self.loq {
            println!(
                "| vc6 LoQ {k} ({:.2} MP out) | — | {:.1} ({:.1} full-res MP/s) | {:.1} ({:.1} full-res MP/s) | — | {:.0}% / {:.0}% | — | — |",
                *out_px as f64 / 1e6,
                one.mps(*out_px),
                one.mps(px),
                all.mps(*out_px),
                all.mps(px),
                one.spread_percent(),
                all.spread_percent(),
            );
        }

        println!("\nRatios (this run):\n");
        let files: u64 = self.sizes.iter().map(|s| s.file).sum();
        print!(
            "- size: vc6 / png {:.3}",
            v.bytes as f64 / self.png.bytes as f64
        );
        if let Some(q) = &self.qoi {
            print!(", vc6 / qoi {:.3}", v.bytes as f64 / q.bytes as f64);
        }
        if self.from_png {
            print!(
                ", vc6 / the corpus PNG files {:.3} ({:.3} bpp)",
                v.bytes as f64 / files as f64,
                bpp(files, px)
            );
        }
        println!();
        let mut peers = vec![("png", &self.png)];
        if let Some(q) = &self.qoi {
            peers.push(("qoi", q));
        }
        for (name, c) in peers {
            println!(
                "- decode speed vc6 / {name}: 1 thread {:.2}x (medians {:.2}x), all cores {:.2}x (medians {:.2}x)",
                speed(v.decode_1.best, c.decode_1.best),
                speed(v.decode_1.median, c.decode_1.median),
                speed(v.decode_all.best, c.decode_1.best),
                speed(v.decode_all.median, c.decode_1.median),
            );
        }
        println!(
            "- vc6 on all cores against one thread: decode {:.2}x, encode {:.2}x",
            speed(v.decode_all.best, v.decode_1.best),
            speed(v.encode_all, v.encode_1)
        );
        if let Some((_, _, one, all)) = &self.loq {
            println!(
                "- vc6 LoQ decode / full decode time: {:.3} (1 thread), {:.3} (all cores)",
                one.best.as_secs_f64() / v.decode_1.best.as_secs_f64().max(1e-12),
                all.best.as_secs_f64() / v.decode_all.best.as_secs_f64().max(1e-12)
            );
        }

        println!("\nPer picture (bpp):\n");
        let file_col = if self.from_png {
            " corpus PNG file |"
        } else {
            ""
        };
        let file_sep = if self.from_png { "---:|" } else { "" };
        let qoi_col = if self.qoi.is_some() { " qoi |" } else { "" };
        let qoi_sep = if self.qoi.is_some() { "---:|" } else { "" };
        let file_ratio = if self.from_png { " vc6 / file |" } else { "" };
        println!("| picture | size | vc6 | png |{file_col}{qoi_col} vc6 / png |{file_ratio}");
        println!("|---|---|---:|---:|{file_sep}{qoi_sep}---:|{file_sep}");
        for s in &self.sizes {
            let spx = u64::from(s.w) * u64::from(s.h);
            let mut line = format!(
                "| {} | {}x{} | {:.3} | {:.3} |",
                s.name,
                s.w,
                s.h,
                bpp(s.vc6, spx),
                bpp(s.png, spx)
            );
            if self.from_png {
                line += &format!(" {:.3} |", bpp(s.file, spx));
            }
            if let Some(q) = s.qoi {
                line += &format!(" {:.3} |", bpp(q, spx));
            }
            line += &format!(" {:.3} |", s.vc6 as f64 / s.png as f64);
            if self.from_png {
                line += &format!(" {:.3} |", s.vc6 as f64 / s.file as f64);
            }
            println!("{line}");
        }
        println!();
    }

    /// Issue 9's targets for this section (`kind` names which), then the rest of the
    /// comparison as information.
    fn targets(&self, label: &str, kind: Section) -> Vec<Target> {
        let px = self.px;
        let v = &self.vc6;
        let vb = bpp(v.bytes, px);
        let mut out = Vec::new();
        let worst_file = self
            .sizes
            .iter()
            .filter(|s| s.file > 0)
            .map(|s| (s.vc6 as f64 / s.file as f64, s.name.as_str()))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let (true, Some((r, name))) = (self.from_png, worst_file) {
            out.push(Target::new(
                format!("{label}: no picture larger than its PNG file in the corpus"),
                format!("worst vc6 / file {r:.3} ({name})"),
                r < 1.0,
            ));
        }
        let speed_vs = |c: &Codec, t: &Total| {
            let r = speed(t.best, c.decode_1.best);
            let text = format!(
                "{r:.2}x ({:.1} against {:.1} MP/s; medians {:.2}x)",
                t.mps(px),
                c.decode_1.mps(px),
                speed(t.median, c.decode_1.median)
            );
            (r, text)
        };
        match kind {
            Section::Rgb8 => {
                out.push(Target::new(
                    format!("{label}: size at most {RGB8_MOST_BPP} bpp (whole folder)"),
                    format!("{vb:.3} bpp"),
                    vb <= RGB8_MOST_BPP,
                ));
                let (r, text) = speed_vs(&self.png, &v.decode_1);
                out.push(Target::new(
                    format!("{label}: decode at least 1.2x the png crate, 1 thread"),
                    text,
                    r >= 1.2,
                ));
                if let Some(q) = &self.qoi {
                    let (r, text) = speed_vs(q, &v.decode_1);
                    out.push(Target::new(
                        format!("{label}: decode at least 1.0x QOI, 1 thread"),
                        text,
                        r >= 1.0,
                    ));
                }
            }
            Section::Rgb16 => {
                out.push(Target::new(
                    format!(
                        "{label}: size no larger than bitstream v1's ({V1_RGB16_BPP} bpp, the \
                         same encoder settings)"
                    ),
                    format!("{vb:.3} bpp"),
                    vb <= V1_RGB16_BPP,
                ));
                out.push(Target::skipped(
                    format!("{label}: decode at least 2x the v1 decoder's speed, 1 thread"),
                    format!(
                        "v1 is not in this build: an A/B run of both decoders is in \
                         docs/performance.md; this run: {:.1} MP/s",
                        v.decode_1.mps(px)
                    ),
                ));
            }
            Section::Grey => {}
        }
        // The rest, for information (not targets of issue 9).
        let pb = bpp(self.png.bytes, px);
        out.push(Target::info(
            format!("{label}: size against the png crate's PNG"),
            format!("{vb:.3} against {pb:.3} bpp ({:.3}x)", vb / pb),
        ));
        let mut peers = vec![("the png crate", &self.png)];
        if let Some(q) = &self.qoi {
            peers.push(("QOI", q));
        }
        for (name, c) in peers {
            for (threads, t) in [("1 thread", &v.decode_1), ("all cores", &v.decode_all)] {
                if kind == Section::Rgb8 && threads == "1 thread" {
                    continue;
                }
                let (_, text) = speed_vs(c, t);
                out.push(Target::info(
                    format!("{label}: decode speed against {name}, {threads}"),
                    text,
                ));
            }
        }
        out
    }
}

/// Which of issue 9's targets a lossless section checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Rgb8,
    Rgb16,
    Grey,
}

/// Issue 9's size target for the lossless RGB8 corpus.
const RGB8_MOST_BPP: f64 = 8.3;
/// Bitstream v1's size of the 16-bit corpus (commit a56d035, default settings): sizes
/// do not depend on the machine, so v1's figure stands in for a run of v1.
const V1_RGB16_BPP: f64 = 32.441;
/// Bitstream v1's mean PSNR of the rgb8 corpus at 1.25 bpp (docs/performance.md, issue 3).
const V1_LOSSY_MEAN_DB: f64 = 42.18;

// ---------------------------------------------------------------------------------------
// The lossy section.

#[derive(Default)]
struct LossyCodec {
    bytes: u64,
    sse: u64,
    samples: u64,
    /// Sum of per-picture PSNR (dB).
    psnr_sum: f64,
    decode_1: Total,
    decode_all: Total,
}

impl LossyCodec {
    fn add(&mut self, bytes: usize, original: &[u8], decoded: &[u8]) -> f64 {
        let e = sse(original, decoded);
        let psnr = psnr_from_mse(e as f64 / decoded.len() as f64);
        self.bytes += bytes as u64;
        self.sse += e;
        self.samples += decoded.len() as u64;
        self.psnr_sum += psnr;
        psnr
    }

    fn psnr(&self) -> f64 {
        psnr_from_mse(self.sse as f64 / self.samples.max(1) as f64)
    }
}

/// One picture of the lossy section.
struct LossyPic {
    name: String,
    w: u32,
    h: u32,
    /// vc6's bpp and PSNR (dB).
    vc6: (f64, f64),
    /// JPEG's bpp, PSNR (dB) and quality.
    jpeg: (f64, f64, i32),
}

struct Lossy {
    bpp: f64,
    pictures: usize,
    px: u64,
    vc6: LossyCodec,
    jpeg: LossyCodec,
    /// JPEG qualities chosen (lowest, highest).
    q_range: (i32, i32),
    per_pic: Vec<LossyPic>,
}

fn lossy_section(pics: &[&RawPicture], rate: f64, dec: &Decoders, plan: &Plan) -> Result<Lossy> {
    let mut s = Lossy {
        bpp: rate,
        pictures: pics.len(),
        px: pics.iter().map(|p| p.pixel_count()).sum(),
        vc6: LossyCodec::default(),
        jpeg: LossyCodec::default(),
        q_range: (i32::MAX, i32::MIN),
        per_pic: Vec::new(),
    };
    for p in pics {
        ensure!(
            (p.channels, p.bits) == (3, 8),
            "{}: the lossy section takes RGB8 pictures",
            p.name
        );
        let (w, h, px) = (p.width, p.height, p.pixel_count());
        let rounds = plan.rounds(px);
        eprintln!("report:   {} ({w}x{h}), {rounds} rounds", p.name);
        let rgb = &p.samples;
        let settings = EncoderSettings {
            target_bpp: Some(rate),
            quality: None,
            ..EncoderSettings::from_preset(vc6::Preset::Better)
        };
        let stream = Encoder::new(w, h, PixelFormat::Rgb8, settings)?
            .encode(rgb)
            .with_context(|| format!("vc6 lossy encode of {}", p.name))?;
        let one = dec.one.decode(&stream)?.data;
        let all = dec.all.decode(&stream)?.data;
        ensure!(
            one.len() == rgb.len(),
            "vc6 lossy decode of {}: {} bytes, expected {}",
            p.name,
            one.len(),
            rgb.len()
        );
        ensure!(
            one == all,
            "vc6 lossy decode of {} differs between one thread and all cores",
            p.name
        );
        let vp = s.vc6.add(stream.len(), rgb, &one);
        ensure!(
            vp > 12.0,
            "vc6's lossy decode of {} is nothing like the original ({vp:.2} dB)",
            p.name
        );

        let target = target_bytes(px, rate);
        let fit = bisect_int(1, 100, target, |q| {
            jpeg_encode_rgb8(rgb, w as usize, h as usize, q as u8, false, true)
        })
        .with_context(|| format!("JPEG of {}", p.name))?;
        let jpeg = fit.bytes;
        let decoded = zune_decode_rgb8(&jpeg)?;
        ensure!(
            decoded.len() == rgb.len(),
            "zune-jpeg decoded {} to the wrong size",
            p.name
        );
        let jp = s.jpeg.add(jpeg.len(), rgb, &decoded);
        s.q_range = (s.q_range.0.min(fit.param), s.q_range.1.max(fit.param));

        let mut a = || -> Result<()> {
            black_box(dec.one.decode(&stream)?);
            Ok(())
        };
        let mut b = || -> Result<()> {
            black_box(dec.all.decode(&stream)?);
            Ok(())
        };
        let mut c = || -> Result<()> {
            black_box(zune_decode_rgb8(&jpeg)?);
            Ok(())
        };
        let st = interleaved(rounds, &mut [&mut a, &mut b, &mut c])?;
        s.vc6.decode_1.add(st[0]);
        s.vc6.decode_all.add(st[1]);
        s.jpeg.decode_1.add(st[2]);
        s.per_pic.push(LossyPic {
            name: p.name.clone(),
            w,
            h,
            vc6: (bpp(stream.len() as u64, px), vp),
            jpeg: (bpp(jpeg.len() as u64, px), jp, fit.param),
        });
    }
    Ok(s)
}

impl Lossy {
    fn print(&self, quick: bool, cores: usize) {
        let px = self.px;
        println!("## 2. Lossy RGB8 at {} bpp (`rgb8/`)\n", self.bpp);
        println!(
            "{} picture(s){}, {:.2} MP, each coded on its own at the rate. vc6: preset `better` \
             with `target_bpp` (the encoder's rate control). JPEG 4:4:4: jpeg-encoder {} \
             (optimised Huffman tables), quality bisected per picture to the same size, decoded \
             by zune-jpeg {}. PSNR over R, G, B (peak 255): pooled over the pictures, and the \
             mean of per-picture dB.\n",
            self.pictures,
            if quick { " (--quick: every 4th)" } else { "" },
            px as f64 / 1e6,
            JPEG_ENCODER_VERSION,
            ZUNE_JPEG_VERSION
        );
        println!(
            "| codec | bpp | PSNR RGB (dB) | mean dB | decode MP/s, 1 thread | decode MP/s, all cores ({cores} threads) | median MP/s, 1 thread / all cores | spread | settings |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        let (v, j) = (&self.vc6, &self.jpeg);
        let n = self.pictures.max(1) as f64;
        println!(
            "| vc6 | {:.3} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} / {:.1} | {:.0}% / {:.0}% | preset better, target_bpp {} |",
            bpp(v.bytes, px),
            v.psnr(),
            v.psnr_sum / n,
            v.decode_1.mps(px),
            v.decode_all.mps(px),
            v.decode_1.mps_median(px),
            v.decode_all.mps_median(px),
            v.decode_1.spread_percent(),
            v.decode_all.spread_percent(),
            self.bpp
        );
        println!(
            "| JPEG 4:4:4 | {:.3} | {:.2} | {:.2} | {:.1} | (single-threaded) | {:.1} | {:.0}% | q {}–{} (bisected); zune-jpeg |",
            bpp(j.bytes, px),
            j.psnr(),
            j.psnr_sum / n,
            j.decode_1.mps(px),
            j.decode_1.mps_median(px),
            j.decode_1.spread_percent(),
            self.q_range.0,
            self.q_range.1
        );
        println!("\nRatios (this run):\n");
        println!(
            "- decode speed vc6 / zune-jpeg: 1 thread {:.2}x (medians {:.2}x), all cores {:.2}x (medians {:.2}x)",
            speed(v.decode_1.best, j.decode_1.best),
            speed(v.decode_1.median, j.decode_1.median),
            speed(v.decode_all.best, j.decode_1.best),
            speed(v.decode_all.median, j.decode_1.median),
        );
        println!(
            "- PSNR vc6 − JPEG 4:4:4: {:+.2} dB pooled, {:+.2} dB mean of pictures, at {:.3} against {:.3} bpp",
            v.psnr() - j.psnr(),
            (v.psnr_sum - j.psnr_sum) / n,
            bpp(v.bytes, px),
            bpp(j.bytes, px)
        );
        println!("\nPer picture (bpp / PSNR dB):\n");
        println!("| picture | size | vc6 | JPEG 4:4:4 | JPEG quality |");
        println!("|---|---|---:|---:|---:|");
        for p in &self.per_pic {
            let ((vb, vp), (jb, jp, q)) = (p.vc6, p.jpeg);
            println!(
                "| {} | {}x{} | {vb:.3} / {vp:.2} | {jb:.3} / {jp:.2} | {q} |",
                p.name, p.w, p.h
            );
        }
        println!();
    }

    fn targets(&self) -> Vec<Target> {
        let (v, j, px) = (&self.vc6, &self.jpeg, self.px);
        let n = self.pictures.max(1) as f64;
        let mut out = Vec::new();
        for (threads, t) in [("1 thread", &v.decode_1), ("all cores", &v.decode_all)] {
            let r = speed(t.best, j.decode_1.best);
            let what = format!(
                "lossy {} bpp: decode at least 1.0x zune-jpeg (JPEG 4:4:4, same rate), {threads}",
                self.bpp
            );
            let measured = format!(
                "{r:.2}x ({:.1} against {:.1} MP/s; medians {:.2}x)",
                t.mps(px),
                j.decode_1.mps(px),
                speed(t.median, j.decode_1.median)
            );
            out.push(match threads {
                "1 thread" => Target::new(what, measured, r >= 1.0),
                _ => Target::info(what, measured),
            });
        }
        let (vm, jm) = (v.psnr_sum / n, j.psnr_sum / n);
        let all = self.pictures >= 16;
        let what = format!(
            "lossy {} bpp: mean PSNR no lower than bitstream v1's ({V1_LOSSY_MEAN_DB} dB, whole corpus)",
            self.bpp
        );
        let measured = format!("{vm:.2} dB over {} pictures", self.pictures);
        out.push(if all && self.bpp == 1.25 {
            Target::new(what, measured, vm >= V1_LOSSY_MEAN_DB)
        } else {
            Target::skipped(what, format!("{measured}: not the whole corpus at 1.25 bpp"))
        });
        out.push(Target::info(
            format!("lossy {} bpp: PSNR against JPEG 4:4:4 at the same rate", self.bpp),
            format!(
                "{vm:.2} against {jm:.2} dB mean ({:+.2}); pooled {:.2} against {:.2}",
                vm - jm,
                v.psnr(),
                j.psnr()
            ),
        ));
        out
    }
}
