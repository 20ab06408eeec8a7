//! Decode speed of every vc6 backend that runs here (the CPU and, when compiled in and
//! present, OpenCL and CUDA), on the same streams, in one process. `cargo xtask bench` runs
//! it after the codec report; it is a plain program, so it can also be copied, with a folder
//! of PNG files, to a machine without Rust (a GPU server, say) and run there
//! (`cargo xtask gpu-bundle` builds it with the CUDA backend, with the tests, for that):
//!
//! ```text
//! cargo build --release -p vc6-benches --bin backends      # OpenCL is in by default
//! cargo build --release -p vc6-benches --bin backends --features cuda   # and CUDA
//! target/release/backends /path/to/corpus/rgb8 [--quick]
//! target/release/backends --matrix --uhd /path/to/4k.png [--batches 1,32,256]
//! ```
//!
//! Workloads, each decoded by every backend from the same lossless streams (default
//! encoder settings):
//!
//! * the corpus one image at a time (`Decoder::decode_region`, full size);
//! * the corpus as batches of 32 (`Decoder::decode_batch`, cycling through the corpus);
//! * the 4K picture (the `uhd` folder beside the corpus, or `--uhd`) as a batch of 32 at
//!   LoQ 0 and at LoQ 2, into host memory and into device memory
//!   (`decode_batch_to_opencl` on OpenCL, `decode_batch_to_cuda` on CUDA).
//!
//! With `--matrix`, instead, the CUDA issue's matrix: the 4K picture and a 1920x1080
//! centre crop of it, each coded lossless and lossy at 1.25 bpp (preset `better`,
//! `EncoderSettings::target_bpp`), as batches of 1, 32 and 256 (`--batches`), at LoQ 0 and
//! LoQ 2, into host and device memory; MP/s and pictures per second for each, and the
//! LoQ 2 / LoQ 0 ratio of pictures per second (the issue's target: at least 9x). A
//! figure's failure (a decode error, a difference from the CPU) is reported in its cell
//! and the rest go on; a batch whose output exceeds `--max-batch-bytes` is skipped, and
//! the table says so. The table's rows are printed as they are measured, so a run cut
//! short (a timeout on a lent machine) keeps the rows it finished.
//!
//! Throughput is output megapixels per second: the pixels handed back (a quarter-size
//! frame at LoQ 1, a sixteenth at LoQ 2) over the best of N timed runs. Before timing,
//! one warm-up run's output is checked byte for byte against the CPU reference (the
//! original pixels of a lossless stream at full size, else the CPU's decode of the same
//! stream). A batch returns only when the device has finished (CUDA frames are also
//! synchronised on their ready event), so the timed region holds all the work.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vc6::{
    Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat, Preset,
};
mod matrix;

use vc6_benches::{
    cpu_model, default_corpus_dir, hardware_threads, load_rgb8_dir, today_utc, CorpusImage,
};

const USAGE: &str = "\
usage: backends [--corpus] DIR [--uhd DIR|FILE] [--quick] [--runs N] [--batch N]
                [--backends LIST] [--command TEXT]
       backends --matrix [--uhd DIR|FILE] [--batches LIST] [--max-batch-bytes N]
                [--quick] [--runs N] [--backends LIST] [--command TEXT]

  DIR              folder of PNG files (the rgb8 corpus; not used with --matrix)
  --uhd DIR|FILE   the 4K picture(s) for the LoQ 0 / LoQ 2 batches
                   (default: the folder `uhd` beside DIR, when it exists; `none`: skip;
                   --matrix takes the first picture)
  --quick          one timed run per figure (default: best of 3, of 2 at LoQ 0 for 4K
                   and in the matrix)
  --runs N         timed runs per figure
  --batch N        frames per decode_batch call (default 32)
  --tile-log2 N    encode with tiles of 2^N x 2^N coefficients (default 6, the
                   encoder's default; smaller tiles give a GPU more parallel work)
  --backends LIST  comma-separated backends to measure, of cpu, opencl, cuda (default:
                   every one that runs here); one named here that cannot run is an error
  --command TEXT   the command line to print above the table (default: this one's)

  --matrix         instead of the workloads above, the CUDA issue's matrix: the 4K picture
                   and a 1920x1080 centre crop of it; lossless and lossy at 1.25 bpp;
                   batches of --batches frames; LoQ 0 and LoQ 2; into host memory and
                   into device memory (decode_batch_to_opencl / decode_batch_to_cuda);
                   MP/s and pictures/s, and the LoQ 2 / LoQ 0 ratio of pictures/s
  --batches LIST   the matrix's batch sizes (default 1,32,256)
  --max-batch-bytes N
                   skip matrix figures whose batch output (host or device) exceeds N
                   bytes (suffixes K, M, G: powers of 1024; default 8G)

The OpenCL device is the one OCL_DEVICE names (a substring of its name, vendor or
platform), else the first GPU, else the first device. The CUDA backend runs only with
VC6_CUDA_UNTESTED=1 (its device decode has never run on a GPU).";

struct Args {
    corpus: PathBuf,
    corpus_given: bool,
    uhd: Option<PathBuf>,
    runs: Option<usize>,
    quick: bool,
    batch: usize,
    tile_log2: u8,
    backends: Option<Vec<Backend>>,
    command: Option<String>,
    matrix: bool,
    batches: Vec<usize>,
    max_batch_bytes: u64,
}

/// `N`, `NK`, `NM` or `NG` (powers of 1024; a trailing `iB` or `B` is allowed).
fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("{text:?}: not a number of bytes"))?;
    ensure!(n > 0.0 && n.is_finite(), "{text:?}: must be positive");
    Ok((n * (1u64 << shift) as f64) as u64)
}

/// A comma-separated list, each item parsed as `T`.
fn parse_list<T: std::str::FromStr>(list: &str) -> Result<Vec<T>, T::Err> {
    list.split(',').map(|s| s.trim().parse::<T>()).collect()
}

fn parse_args() -> Result<Args> {
    let mut corpus = None;
    let mut uhd: Option<Option<PathBuf>> = None;
    let mut args = Args {
        corpus: PathBuf::new(),
        corpus_given: false,
        uhd: None,
        runs: None,
        quick: false,
        batch: 32,
        tile_log2: 6,
        backends: None,
        command: None,
        matrix: false,
        batches: vec![1, 32, 256],
        max_batch_bytes: 8 << 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--corpus" => corpus = Some(PathBuf::from(val("a folder")?)),
            "--uhd" => {
                let v = val("a folder or file")?;
                uhd = Some((v != "none").then(|| PathBuf::from(v)));
            }
            "--quick" => args.quick = true,
            "--runs" => {
                let n: usize = val("a number")?.parse().context("--runs: not a number")?;
                ensure!(n >= 1, "--runs must be at least 1");
                args.runs = Some(n);
            }
            "--batch" => {
                let n: usize = val("a number")?.parse().context("--batch: not a number")?;
                ensure!(n >= 1, "--batch must be at least 1");
                args.batch = n;
            }
            "--tile-log2" => {
                let n: u8 = val("a number")?
                    .parse()
                    .context("--tile-log2: not a number")?;
                ensure!((2..=8).contains(&n), "--tile-log2 must be in 2..=8");
                args.tile_log2 = n;
            }
            "--backends" => {
                let list = val("a list such as cpu,opencl")?;
                let parsed: Vec<Backend> =
                    parse_list(&list).with_context(|| format!("--backends {list}"))?;
                ensure!(
                    !parsed.contains(&Backend::Auto),
                    "--backends: name the backends (cpu, opencl, cuda), not auto"
                );
                args.backends = Some(parsed);
            }
            "--command" => args.command = Some(val("a text")?),
            "--matrix" => args.matrix = true,
            "--batches" => {
                let list = val("a list such as 1,32,256")?;
                let parsed: Vec<usize> = parse_list(&list)
                    .with_context(|| format!("--batches {list}: not a list of numbers"))?;
                ensure!(
                    !parsed.is_empty() && parsed.iter().all(|&n| n >= 1),
                    "--batches: every batch size must be at least 1"
                );
                args.batches = parsed;
            }
            "--max-batch-bytes" => {
                args.max_batch_bytes =
                    parse_bytes(&val("a size such as 8G")?).context("--max-batch-bytes")?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other if !other.starts_with('-') && corpus.is_none() => {
                corpus = Some(PathBuf::from(other))
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    args.corpus_given = corpus.is_some();
    args.corpus = corpus.unwrap_or_else(default_corpus_dir);
    args.uhd = match uhd {
        Some(explicit) => explicit,
        None => args
            .corpus
            .parent()
            .map(|p| p.join("uhd"))
            .filter(|p| p.is_dir()),
    };
    Ok(args)
}

/// A PNG file or every PNG in a folder.
fn load_images(path: &Path) -> Result<Vec<CorpusImage>> {
    if path.is_file() {
        Ok(vec![vc6_benches::load_png_rgb8(path)?])
    } else {
        load_rgb8_dir(path)
    }
}

/// One picture, encoded.
struct Stream {
    name: String,
    bytes: Vec<u8>,
    /// Lossless: the original pixels are the reference at full size.
    lossless: bool,
}

/// One row of the table: which frames each backend decodes, and how.
struct Workload {
    label: String,
    /// (stream index, region) per frame.
    items: Vec<(usize, FrameRegion)>,
    /// `decode_batch` of all items in one call, else `decode_region` one at a time.
    batch: bool,
    /// With `batch`: frames left in device memory (`decode_batch_to_opencl` on OpenCL,
    /// `decode_batch_to_cuda` on CUDA; no figure on other backends).
    device: bool,
    runs: usize,
}

/// One measured figure.
struct Figure {
    output_px: u64,
    frames: usize,
    best: Duration,
}

fn mps(px: u64, d: Duration) -> f64 {
    px as f64 / 1e6 / d.as_secs_f64().max(1e-12)
}

impl Figure {
    fn mps(&self) -> f64 {
        mps(self.output_px, self.best)
    }

    fn pictures_per_s(&self) -> f64 {
        self.frames as f64 / self.best.as_secs_f64().max(1e-12)
    }
}

/// Whether `dec`'s backend can decode into device memory in this build.
fn has_device_output(dec: &Decoder) -> bool {
    let name = dec.backend_name();
    (cfg!(feature = "opencl") && name == "opencl") || (cfg!(feature = "cuda") && name == "cuda")
}

/// Decodes the workload into device memory once (`decode_batch_to_opencl` or
/// `decode_batch_to_cuda`, by `dec`'s backend); returns the frames' bytes (copied back
/// only when `check`) and the output pixel count.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda")),
    allow(unused_mut, unused_variables, unreachable_code)
)]
fn decode_to_device(
    dec: &Decoder,
    streams: &[Stream],
    w: &Workload,
    check: bool,
) -> Result<(Vec<Vec<u8>>, u64)> {
    let items: Vec<(&[u8], FrameRegion)> = w
        .items
        .iter()
        .map(|&(s, r)| (&streams[s].bytes[..], r))
        .collect();
    let mut out = Vec::new();
    let mut px = 0u64;
    let what = || format!("{}: decoding into device memory", w.label);
    match dec.backend_name() {
        #[cfg(feature = "opencl")]
        "opencl" => {
            for r in dec.decode_batch_to_opencl(&items) {
                let f = r.with_context(what)?;
                px += u64::from(f.width) * u64::from(f.height);
                if check {
                    out.push(f.to_host().with_context(what)?);
                }
            }
        }
        #[cfg(feature = "cuda")]
        "cuda" => {
            let frames = dec.decode_batch_to_cuda(&items);
            for r in frames {
                let f = r.with_context(what)?;
                // The batch call returns once decoded; waiting on each frame's ready
                // event as well keeps every kernel inside the timed region.
                f.synchronize().with_context(what)?;
                px += u64::from(f.width) * u64::from(f.height);
                if check {
                    out.push(f.to_host().with_context(what)?);
                }
            }
        }
        other => bail!(
            "{}: the {other} backend has no device output in this build",
            w.label
        ),
    }
    Ok((out, px))
}

/// Decodes the workload once; returns the frames' bytes and the output pixel count.
fn decode_once(dec: &Decoder, streams: &[Stream], w: &Workload) -> Result<(Vec<Vec<u8>>, u64)> {
    let mut out = Vec::with_capacity(w.items.len());
    let mut px = 0u64;
    let mut take = |i: usize, r: vc6::Result<vc6::Frame>| -> Result<()> {
        let (s, region) = w.items[i];
        let f = r.with_context(|| {
            format!(
                "{} ({}): decoding {} at LoQ {}",
                w.label,
                dec.backend_name(),
                streams[s].name,
                region.loq
            )
        })?;
        px += u64::from(f.width) * u64::from(f.height);
        out.push(f.data);
        Ok(())
    };
    if w.batch {
        let items: Vec<(&[u8], FrameRegion)> = w
            .items
            .iter()
            .map(|&(s, r)| (&streams[s].bytes[..], r))
            .collect();
        for (i, r) in dec.decode_batch(&items).into_iter().enumerate() {
            take(i, r)?;
        }
    } else {
        for (i, &(s, r)) in w.items.iter().enumerate() {
            take(i, dec.decode_region(&streams[s].bytes, r))?;
        }
    }
    Ok((out, px))
}

/// A warm-up run checked against `reference` (one frame per item), then the best of the
/// timed runs; `None` for a device-memory workload on a backend without device memory.
fn measure(
    dec: &Decoder,
    streams: &[Stream],
    w: &Workload,
    reference: &[&[u8]],
) -> Result<Option<Figure>> {
    if w.device && !has_device_output(dec) {
        return Ok(None);
    }
    let run = |check: bool| match w.device {
        true => decode_to_device(dec, streams, w, check),
        false => decode_once(dec, streams, w),
    };
    let (frames, output_px) = run(true)?;
    ensure!(frames.len() == reference.len(), "one frame per item");
    for (i, (got, &want)) in frames.iter().zip(reference).enumerate() {
        if got != want {
            let (s, region) = w.items[i];
            bail!(
                "{}: the {} backend decoded {} at LoQ {} differently from the CPU: \
                     {} bytes against {}, first difference at byte {:?}",
                w.label,
                dec.backend_name(),
                streams[s].name,
                region.loq,
                got.len(),
                want.len(),
                got.iter().zip(want).position(|(a, b)| a != b)
            );
        }
    }
    drop(frames);
    let mut best = Duration::MAX;
    for _ in 0..w.runs {
        let t = Instant::now();
        let (frames, _) = run(false)?;
        best = best.min(t.elapsed());
        drop(frames);
    }
    Ok(Some(Figure {
        output_px,
        frames: w.items.len(),
        best,
    }))
}

/// The CPU reference for `items`: a lossless stream's original pixels at full size,
/// else the CPU's decode of each distinct (stream, region), decoded once into `decoded`.
fn reference_frames<'a>(
    cpu_ref: &Decoder,
    streams: &[Stream],
    originals: &[&'a [u8]],
    items: &[(usize, FrameRegion)],
    decoded: &'a mut Vec<((usize, FrameRegion), Vec<u8>)>,
) -> Result<Vec<&'a [u8]>> {
    let full = FrameRegion::full(0);
    decoded.clear();
    for &(s, r) in items {
        let exact = streams[s].lossless && r == full;
        if !exact && !decoded.iter().any(|(k, _)| *k == (s, r)) {
            let f = cpu_ref
                .decode_region(&streams[s].bytes, r)
                .with_context(|| format!("CPU reference decode of {}", streams[s].name))?;
            decoded.push(((s, r), f.data));
        }
    }
    let decoded: &'a Vec<_> = decoded;
    Ok(items
        .iter()
        .map(|&(s, r)| match decoded.iter().find(|(k, _)| *k == (s, r)) {
            Some((_, data)) => data.as_slice(),
            None => originals[s],
        })
        .collect())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("backends: error: {e:#}");
        std::process::exit(1);
    }
}

/// The backends to measure, each opened; notes on those left out.
fn open_decoders(args: &Args) -> Result<(Vec<Decoder>, Vec<String>)> {
    // Which backends: every one that runs here, or those asked for (which must run).
    let status = Backend::status();
    let mut notes = Vec::new();
    let mut decoders: Vec<Decoder> = Vec::new();
    for s in &status {
        let wanted = args
            .backends
            .as_ref()
            .is_none_or(|list| list.contains(&s.backend));
        if !wanted {
            continue;
        }
        match &s.device {
            Ok(_) => {
                let dec = Decoder::new(DecoderSettings {
                    backend: s.backend,
                    threads: 0,
                    ..Default::default()
                })
                .with_context(|| format!("opening the {} backend", s.backend))?;
                decoders.push(dec);
            }
            Err(why) => {
                ensure!(
                    args.backends.is_none(),
                    "backend {} cannot run here: {why}",
                    s.backend
                );
                notes.push(format!(
                    "{} {}: {}",
                    s.backend,
                    if s.compiled {
                        "cannot run here"
                    } else {
                        "is not compiled in"
                    },
                    why.replace('\n', " ")
                ));
            }
        }
    }
    ensure!(!decoders.is_empty(), "no backend to measure");
    Ok((decoders, notes))
}

/// The report's title, command line, date and machine (markdown on stdout).
fn print_report_head(title: &str, args: &Args) {
    println!("# {title}\n");
    println!("- command: `{}`", command_line(args));
    println!("- date: {}", today_utc());
    println!(
        "- machine: {} ({} hardware threads)",
        cpu_model(),
        hardware_threads()
    );
}

/// The command line to print above the table.
fn command_line(args: &Args) -> String {
    args.command.clone().unwrap_or_else(|| {
        std::env::args()
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let runs = |default: usize| match (args.runs, args.quick) {
        (Some(n), _) => n,
        (None, true) => 1,
        (None, false) => default,
    };

    let (decoders, notes) = open_decoders(&args)?;
    let cpu_ref = Decoder::new(DecoderSettings {
        backend: Backend::Cpu,
        threads: 0,
        ..Default::default()
    })?;
    if args.matrix {
        return matrix::run_matrix(&args, &decoders, &notes, &cpu_ref);
    }

    // The streams: the corpus, then the 4K picture(s).
    let corpus = load_images(&args.corpus)?;
    let uhd = match &args.uhd {
        Some(p) => load_images(p).with_context(|| format!("--uhd {}", p.display()))?,
        None => Vec::new(),
    };
    let corpus_px: u64 = corpus.iter().map(CorpusImage::pixel_count).sum();
    eprintln!(
        "backends: encoding {} images ({:.1} MP) from {}{}",
        corpus.len(),
        corpus_px as f64 / 1e6,
        args.corpus.display(),
        if uhd.is_empty() {
            String::new()
        } else {
            format!(" and {} 4K picture(s)", uhd.len())
        }
    );
    let mut streams = Vec::new();
    let mut originals: Vec<&[u8]> = Vec::new();
    for img in corpus.iter().chain(&uhd) {
        let enc = Encoder::new(
            img.width,
            img.height,
            PixelFormat::Rgb8,
            EncoderSettings {
                tile_log2: args.tile_log2,
                ..EncoderSettings::default()
            },
        )?;
        streams.push(Stream {
            name: img.name.clone(),
            bytes: enc
                .encode(&img.pixels)
                .with_context(|| format!("encoding {}", img.name))?,
            lossless: true,
        });
        originals.push(&img.pixels);
    }
    let n = corpus.len();
    let full = FrameRegion::full(0);
    let mut workloads = vec![
        Workload {
            label: "corpus, one image at a time (`decode_region`)".into(),
            items: (0..n).map(|i| (i, full)).collect(),
            batch: false,
            device: false,
            runs: runs(3),
        },
        Workload {
            label: format!(
                "corpus, batch of {} (`decode_batch`, cycling through the corpus)",
                args.batch
            ),
            items: (0..args.batch).map(|i| (i % n, full)).collect(),
            batch: true,
            device: false,
            runs: runs(3),
        },
    ];
    for (j, img) in uhd.iter().enumerate() {
        for (loq, default_runs) in [(0u8, 2usize), (2, 3)] {
            for device in [false, true] {
                workloads.push(Workload {
                    label: format!(
                        "{} ({}x{}), batch of {} at LoQ {loq}{}",
                        img.name,
                        img.width,
                        img.height,
                        args.batch,
                        if device {
                            ", into device memory (`decode_batch_to_opencl` / `_to_cuda`)"
                        } else {
                            ""
                        }
                    ),
                    items: vec![(n + j, FrameRegion::full(loq)); args.batch],
                    batch: true,
                    device,
                    runs: runs(default_runs),
                });
            }
        }
    }

    // Measure: every workload on every backend; the CPU reference checks each output.
    let mut table: Vec<Vec<Option<Figure>>> = Vec::new();
    let mut decoded = Vec::new();
    for w in &workloads {
        let reference = reference_frames(&cpu_ref, &streams, &originals, &w.items, &mut decoded)?;
        let mut row = Vec::new();
        for dec in &decoders {
            eprintln!(
                "backends: {} on {}, best of {}",
                w.label,
                dec.backend_name(),
                w.runs
            );
            let fig = measure(dec, &streams, w, &reference)?;
            if let Some(fig) = &fig {
                eprintln!(
                    "backends:   {:.1} MP/s ({:.2} MP in {:.1} ms)",
                    fig.mps(),
                    fig.output_px as f64 / 1e6,
                    fig.best.as_secs_f64() * 1e3
                );
            }
            row.push(fig);
        }
        table.push(row);
    }

    // ---- the report (markdown on stdout) ----
    print_report_head("vc6 decode speed by backend", &args);
    println!(
        "- corpus: {} — {} images, {:.2} MP; streams from the lossless encoder, tiles of {side}x{side} coefficients",
        args.corpus.display(),
        corpus.len(),
        corpus.iter().map(CorpusImage::pixel_count).sum::<u64>() as f64 / 1e6,
        side = 1u32 << args.tile_log2
    );
    if let Some(p) = &args.uhd {
        println!("- 4K: {}", p.display());
    }
    for dec in &decoders {
        println!("- {}: {}", dec.backend_name(), dec.device());
    }
    for note in &notes {
        println!("- not measured: {note}");
    }
    println!(
        "- MP/s: output megapixels (LoQ 2 frames are 1/16 of full size) / the best of `runs` \
         timed runs, each after a warm-up run checked byte for byte against the CPU \
         reference; `decode_batch` returns when the device has finished\n"
    );
    let names: Vec<&str> = decoders.iter().map(|d| d.backend_name()).collect();
    print!("| workload | runs | output MP |");
    for name in &names {
        print!(" {name} MP/s |");
    }
    println!();
    print!("|---|---:|---:|");
    for _ in &names {
        print!("---:|");
    }
    println!();
    for (w, row) in workloads.iter().zip(&table) {
        let Some(px) = row.iter().flatten().map(|f| f.output_px).next() else {
            continue;
        };
        print!("| {} | {} | {:.2} |", w.label, w.runs, px as f64 / 1e6);
        let base = row[0].as_ref().map(Figure::mps);
        for (k, fig) in row.iter().enumerate() {
            let Some(fig) = fig else {
                print!(" — |");
                continue;
            };
            let v = fig.mps();
            match base {
                Some(base) if k > 0 && names[0] == "cpu" => {
                    print!(" {v:.1} ({:.2}x cpu) |", v / base)
                }
                _ => print!(" {v:.1} |"),
            }
        }
        println!();
    }
    Ok(())
}
