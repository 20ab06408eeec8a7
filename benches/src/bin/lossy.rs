//! Lossy RGB8 at fixed rates: vc6 (once it has a lossy encoder, issue 3) against JPEG
//! (4:4:4 and 4:2:0) and, where the command-line tools are installed, JPEG 2000
//! (`opj_compress`) and HTJ2K (`ojph_compress`). `cargo xtask bench --lossy` runs it; it
//! is a plain program, so it also runs on its own (or copied, with a folder of PNG files,
//! to another machine):
//!
//! ```text
//! cargo build --release -p vc6-benches --bin lossy
//! target/release/lossy /path/to/corpus/rgb8 [--quick]
//! ```
//!
//! For each target rate (0.5, 1.25 and 3.0 bits per pixel) every image is coded on its
//! own as close to the target as the codec allows, then decoded and compared with the
//! original:
//!
//! * PSNR over all R, G, B samples (peak 255), from the squared error pooled over the
//!   corpus (also the mean of per-image dB, for comparison with figures made that way);
//! * SSIM on BT.601 luma (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03), the mean
//!   of each picture's SSIM map, weighted by pixel count over the corpus;
//! * decode speed in output megapixels per second: one thread (the best of N runs per
//!   image, summed) and all cores (images decoded in parallel on every hardware thread);
//! * thumbnails: the picture at 1/2 and 1/4 size (vc6 LoQ 1 and 2; JPEG 2000's reduced
//!   resolutions; a decoded JPEG, area-downscaled) against area and Lanczos-3 downscales
//!   of the original.
//!
//! JPEG: the `jpeg-encoder` crate (baseline, optimised Huffman tables, 4:2:0 chroma
//! box-averaged), quality bisected per image; decoded by `zune-jpeg`. JPEG 2000:
//! `opj_compress -I -r 24/bpp` (irreversible 9/7, rate from the tool's own rate
//! control). HTJ2K: `ojph_compress` has no rate control, so its `-qstep` is bisected per
//! image. The tools' decode speeds are the times they print themselves (reading the
//! codestream included), not timed in this process.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vc6_benches::lossy::{
    bisect_f64, bisect_int, find_on_path, jpeg_encode_rgb8, read_ppm, target_bytes, write_ppm,
    zune_decode_rgb8, TempDir, JPEG_ENCODER_VERSION, ZUNE_JPEG_VERSION,
};
use vc6_benches::quality::{area_downscale, lanczos3_downscale, psnr_from_mse, sse, ssim_luma};
use vc6_benches::{
    cpu_model, default_corpus_dir, hardware_threads, load_rgb8_dir, today_utc, CorpusImage,
};

const USAGE: &str = "\
usage: lossy [--corpus] DIR [--quick] [--bpp LIST] [--runs N] [--threads N]
             [--no-j2k] [--per-image] [--command TEXT]

  DIR            folder of PNG files (the rgb8 corpus; default ../shared/corpus/rgb8
                 beside the workspace, or VC6_CORPUS)
  --quick        every 4th image, one timed run per figure, fewer HTJ2K bisection steps
  --bpp LIST     comma-separated target rates (default 0.5,1.25,3.0)
  --runs N       timed decode runs per figure (default 3; 1 with --quick)
  --threads N    threads for encoding and scoring (default: every hardware thread);
                 decode timing uses one thread, then every hardware thread
  --no-j2k       skip JPEG 2000 and HTJ2K even when the tools are installed
  --per-image    also print a per-image table for each rate
  --command TEXT the command line to print above the tables (default: this one's)
  --vc6-preset P  vc6's preset for the lossy rows: light or better (default better)
  --no-predicted-average, --adaptive-upsampler
                 switch vc6's coding tools, to measure what each buys";

/// The rates of issue 3, in bits per pixel.
const DEFAULT_BPP: [f64; 3] = [0.5, 1.25, 3.0];

/// Thumbnail levels measured: 1/2 and 1/4 size (vc6 LoQ 1 and 2).
const THUMB_LEVELS: [u32; 2] = [1, 2];

struct Args {
    corpus: PathBuf,
    quick: bool,
    bpps: Vec<f64>,
    runs: usize,
    threads: usize,
    j2k: bool,
    per_image: bool,
    command: Option<String>,
    vc6: Vc6Tools,
}

/// vc6's coding tools for the lossy rows (the preset, then the switches).
#[derive(Debug, Clone, Copy)]
struct Vc6Tools {
    preset: vc6::Preset,
    predicted_average: bool,
    adaptive_upsampler: bool,
}

fn parse_args() -> Result<Args> {
    let mut corpus = None;
    let mut runs = None;
    let mut args = Args {
        corpus: PathBuf::new(),
        quick: false,
        bpps: DEFAULT_BPP.to_vec(),
        runs: 3,
        threads: hardware_threads(),
        j2k: true,
        per_image: false,
        command: None,
        vc6: Vc6Tools {
            preset: vc6::Preset::Better,
            predicted_average: true,
            adaptive_upsampler: false,
        },
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--corpus" => corpus = Some(PathBuf::from(val("a folder")?)),
            "--quick" => args.quick = true,
            "--bpp" => {
                let list = val("a list such as 0.5,1.25,3")?;
                args.bpps = list
                    .split(',')
                    .map(|s| s.trim().parse::<f64>())
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("--bpp {list}"))?;
                ensure!(
                    !args.bpps.is_empty() && args.bpps.iter().all(|&b| b > 0.0 && b < 24.0),
                    "--bpp: rates must lie between 0 and 24"
                );
            }
            "--runs" => {
                let n: usize = val("a number")?.parse().context("--runs: not a number")?;
                ensure!(n >= 1, "--runs must be at least 1");
                runs = Some(n);
            }
            "--threads" => {
                let n: usize = val("a number")?
                    .parse()
                    .context("--threads: not a number")?;
                ensure!(n >= 1, "--threads must be at least 1");
                args.threads = n;
            }
            "--no-j2k" => args.j2k = false,
            "--vc6-preset" => {
                args.vc6.preset = val("lossless, light or better")?
                    .parse()
                    .context("--vc6-preset")?
            }
            "--no-predicted-average" => args.vc6.predicted_average = false,
            "--adaptive-upsampler" => args.vc6.adaptive_upsampler = true,
            "--per-image" => args.per_image = true,
            "--command" => args.command = Some(val("a text")?),
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
    args.corpus = corpus.unwrap_or_else(default_corpus_dir);
    args.runs = runs.unwrap_or(if args.quick { 1 } else { 3 });
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// The corpus with its reference thumbnails.

/// One corpus picture and the downscales its thumbnails are compared against.
struct Prepared {
    img: CorpusImage,
    /// Per [`THUMB_LEVELS`] entry: (area downscale, Lanczos-3 downscale) of the original.
    thumbs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Prepared {
    fn new(img: CorpusImage) -> Prepared {
        let (w, h) = (img.width as usize, img.height as usize);
        let thumbs = THUMB_LEVELS
            .iter()
            .map(|&k| {
                (
                    area_downscale(&img.pixels, w, h, k).0,
                    lanczos3_downscale(&img.pixels, w, h, k).0,
                )
            })
            .collect();
        Prepared { img, thumbs }
    }

    fn w(&self) -> usize {
        self.img.width as usize
    }

    fn h(&self) -> usize {
        self.img.height as usize
    }

    fn px(&self) -> u64 {
        self.img.pixel_count()
    }
}

// ---------------------------------------------------------------------------------------
// What one codec gives on one picture at one rate, and the shared scoring.

/// Squared errors of a thumbnail against the two downscales of the original.
#[derive(Clone, Copy, Default)]
struct ThumbErr {
    samples: u64,
    sse_area: u64,
    sse_lanczos: u64,
}

impl ThumbErr {
    fn add(&mut self, o: ThumbErr) {
        self.samples += o.samples;
        self.sse_area += o.sse_area;
        self.sse_lanczos += o.sse_lanczos;
    }
}

/// One picture coded by one codec at one rate.
struct ImageResult {
    /// The stream, kept for the decode timing.
    stream: Vec<u8>,
    /// The size counted for the rate: `stream.len()` but for JPEG 4:2:0 (`jpeg_row`).
    bytes: usize,
    /// The codec parameter that made it (quality, step size, ratio).
    param: f64,
    sse: u64,
    ssim: f64,
    /// Per [`THUMB_LEVELS`] entry, when the codec gives thumbnails.
    thumbs: Vec<Option<ThumbErr>>,
}

/// Below this PSNR a decode is taken for broken (zune-jpeg 0.5.15 gave 5-10 dB on
/// jpeg-encoder's non-interleaved 4:2:0 files); no codec at 0.25 bpp or more is this bad.
const SANITY_DB: f64 = 12.0;

/// Scores a decoded picture, and its thumbnails (`thumbs[i]` at `THUMB_LEVELS[i]`, of
/// the LoQ size `ceil(w / 2^k) x ceil(h / 2^k)`), against the original. Every codec's
/// row goes through here, vc6's too.
fn score(
    p: &Prepared,
    stream: Vec<u8>,
    param: f64,
    decoded: &[u8],
    thumbs: &[Option<Vec<u8>>],
) -> Result<ImageResult> {
    ensure!(
        decoded.len() == p.img.pixels.len(),
        "{}: decoded {} bytes, expected {}",
        p.img.name,
        decoded.len(),
        p.img.pixels.len()
    );
    let thumbs = thumbs
        .iter()
        .zip(&p.thumbs)
        .zip(THUMB_LEVELS)
        .map(|((t, (area, lanczos)), k)| {
            let Some(t) = t else { return Ok(None) };
            ensure!(
                t.len() == area.len(),
                "{}: thumbnail at 1/{} is {} bytes, expected {}",
                p.img.name,
                1 << k,
                t.len(),
                area.len()
            );
            Ok(Some(ThumbErr {
                samples: t.len() as u64,
                sse_area: sse(t, area),
                sse_lanczos: sse(t, lanczos),
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let err = sse(&p.img.pixels, decoded);
    let psnr = psnr_from_mse(err as f64 / decoded.len().max(1) as f64);
    ensure!(
        psnr >= SANITY_DB,
        "{}: the decoded picture is nothing like the original ({psnr:.2} dB): a decoder \
         or colour-conversion bug, not a rate-distortion trade-off",
        p.img.name
    );
    Ok(ImageResult {
        bytes: stream.len(),
        sse: err,
        ssim: ssim_luma(&p.img.pixels, decoded, p.w(), p.h()),
        stream,
        param,
        thumbs,
    })
}

/// Area downscales of a decoded full-size picture, for codecs without reduced-resolution
/// decoding (JPEG): the thumbnail one would make from it.
fn area_thumbs(decoded: &[u8], w: usize, h: usize) -> Vec<Option<Vec<u8>>> {
    THUMB_LEVELS
        .iter()
        .map(|&k| Some(area_downscale(decoded, w, h, k).0))
        .collect()
}

// ---------------------------------------------------------------------------------------
// One row of a table.

/// Decode speeds, output megapixels per second.
#[derive(Clone, Copy)]
struct Speed {
    one: Option<f64>,
    all: Option<f64>,
    /// The times are those the command-line tool printed, not measured here.
    tool: bool,
}

/// One codec at one rate over the corpus.
struct Row {
    codec: String,
    /// The settings and the range of the bisected parameter.
    settings: String,
    /// How its thumbnails are made.
    thumbs_how: &'static str,
    /// Measured, or why not (printed with dashes).
    outcome: std::result::Result<Measured, String>,
}

struct Measured {
    pixels: u64,
    bytes: u64,
    samples: u64,
    sse: u64,
    /// Sum over pictures of SSIM times pixel count.
    ssim_px: f64,
    /// Mean over pictures of per-picture PSNR (dB).
    psnr_mean: f64,
    speed: Speed,
    thumbs: Vec<Option<ThumbErr>>,
    per_image: Vec<(String, f64, f64, f64)>,
}

impl Measured {
    fn bpp(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.pixels as f64
    }

    fn psnr(&self) -> f64 {
        psnr_from_mse(self.sse as f64 / self.samples as f64)
    }

    fn ssim(&self) -> f64 {
        self.ssim_px / self.pixels as f64
    }
}

impl Row {
    fn missing(codec: &str, thumbs_how: &'static str, why: impl Into<String>) -> Row {
        Row {
            codec: codec.into(),
            settings: String::new(),
            thumbs_how,
            outcome: Err(why.into()),
        }
    }

    /// A row from every picture's result (`results[i]` for `images[i]`).
    fn measured(
        codec: &str,
        thumbs_how: &'static str,
        settings: String,
        images: &[Prepared],
        results: &[ImageResult],
        speed: Speed,
    ) -> Row {
        let mut m = Measured {
            pixels: 0,
            bytes: 0,
            samples: 0,
            sse: 0,
            ssim_px: 0.0,
            psnr_mean: 0.0,
            speed,
            thumbs: vec![None; THUMB_LEVELS.len()],
            per_image: Vec::new(),
        };
        for (p, r) in images.iter().zip(results) {
            let px = p.px();
            m.pixels += px;
            m.bytes += r.bytes as u64;
            m.samples += px * 3;
            m.sse += r.sse;
            m.ssim_px += r.ssim * px as f64;
            let psnr = psnr_from_mse(r.sse as f64 / (px * 3) as f64);
            m.psnr_mean += psnr / images.len() as f64;
            for (acc, t) in m.thumbs.iter_mut().zip(&r.thumbs) {
                if let Some(t) = t {
                    acc.get_or_insert_with(ThumbErr::default).add(*t);
                }
            }
            m.per_image.push((
                p.img.name.clone(),
                r.bytes as f64 * 8.0 / px as f64,
                psnr,
                r.ssim,
            ));
        }
        Row {
            codec: codec.into(),
            settings,
            thumbs_how,
            outcome: Ok(m),
        }
    }
}

fn param_range(results: &[ImageResult], fmt: impl Fn(f64) -> String) -> String {
    let lo = results
        .iter()
        .map(|r| r.param)
        .fold(f64::INFINITY, f64::min);
    let hi = results
        .iter()
        .map(|r| r.param)
        .fold(f64::NEG_INFINITY, f64::max);
    if lo == hi {
        fmt(lo)
    } else {
        format!("{}–{}", fmt(lo), fmt(hi))
    }
}

// ---------------------------------------------------------------------------------------
// Running work on every core, and timing in-process decoders.

/// `f` over `items` on `threads` threads, results in order; the first error wins.
fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    par_map_with(items, threads, || Ok(()), |_, i, t| f(i, t))
}

/// Like [`par_map`], with a state per worker thread made by `init` (a decoder, say).
fn par_map_with<T: Sync, R: Send, S>(
    items: &[T],
    threads: usize,
    init: impl Fn() -> Result<S> + Sync,
    f: impl Fn(&mut S, usize, &T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                let mut state = match init() {
                    Ok(st) => st,
                    Err(e) => {
                        *failed.lock().expect("no thread panicked") = Some(e);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&mut state, i, &items[i]);
                    out.lock().expect("no thread panicked")[i] = Some(r);
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("no thread panicked") {
        return Err(e);
    }
    out.into_inner()
        .expect("no thread panicked")
        .into_iter()
        .map(|r| r.expect("every item was done"))
        .collect()
}

/// Decode speed of an in-process decoder over the streams: one thread (the best of
/// `runs` per stream after an untimed warm-up decode, summed) and every hardware thread (the corpus, repeated so each
/// thread has several pictures, decoded in parallel biggest first, one decoder made by
/// `new_decoder` per thread; the best of `runs`). Every decode's output length is checked
/// against `w * h * 3`.
fn time_in_process<D>(
    images: &[Prepared],
    results: &[ImageResult],
    runs: usize,
    new_decoder: impl Fn() -> Result<D> + Sync,
    decode: impl Fn(&mut D, &[u8]) -> Result<Vec<u8>> + Sync,
) -> Result<Speed> {
    let check = |i: usize, out: &[u8]| -> Result<()> {
        ensure!(
            out.len() == images[i].img.pixels.len(),
            "{}: decoded {} bytes, expected {}",
            images[i].img.name,
            out.len(),
            images[i].img.pixels.len()
        );
        Ok(())
    };
    let total_px: u64 = images.iter().map(Prepared::px).sum();
    let mut one = Duration::ZERO;
    let mut dec = new_decoder()?;
    for (i, r) in results.iter().enumerate() {
        decode(&mut dec, &r.stream)?; // warm-up, untimed
        let mut best = Duration::MAX;
        for _ in 0..runs {
            let t = Instant::now();
            let out = decode(&mut dec, &r.stream)?;
            best = best.min(t.elapsed());
            check(i, &out)?;
        }
        one += best;
    }
    let threads = hardware_threads();
    let reps = (4 * threads).div_ceil(images.len()).max(2);
    let mut order: Vec<usize> = (0..reps).flat_map(|_| 0..images.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(images[i].px()));
    let mut all = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        par_map_with(&order, threads, &new_decoder, |dec, _, &i| {
            let out = decode(dec, &results[i].stream)?;
            check(i, &out)
        })?;
        all = all.min(t.elapsed());
    }
    Ok(Speed {
        one: Some(mps(total_px, one)),
        all: Some(mps(total_px * reps as u64, all)),
        tool: false,
    })
}

fn mps(px: u64, d: Duration) -> f64 {
    px as f64 / 1e6 / d.as_secs_f64().max(1e-12)
}

// ---------------------------------------------------------------------------------------
// vc6: the hook for its lossy encoder.

/// vc6's row at `bpp`, or `None` where vc6 cannot code lossily (the tables then print
/// dashes and [`VC6_MISSING`]). This is the one place the vc6 row comes from:
///
/// 1. per picture (`par_map` over the corpus, one encoder thread each): the `better`
///    preset (cubic upsampler, predicted average) with `EncoderSettings::target_bpp`,
///    the encoder's own rate control, aiming at the same per-picture size as the other
///    codecs' bisections; the other settings are the defaults (YCoCg-R, 64x64 tiles);
/// 2. decode it with a one-thread `vc6::Decoder` at LoQ 0, and at LoQ 1 and 2
///    (`decode_region(.., FrameRegion::full(k))`) for the thumbnails, and [`score`] it;
/// 3. time the decodes like zune-jpeg's ([`time_in_process`]): a one-thread decoder
///    (tiles in parallel would make the "one thread" figure lie), and for "all cores"
///    pictures decoded in parallel, one decoder and thread each (a `vc6::Decoder` shared
///    by concurrent decodes allocates fresh buffers for all but one of them).
fn vc6_lossy_row(images: &[Prepared], bpp: f64, opts: &Opts) -> Option<Result<Row>> {
    Some(vc6_lossy_measure(images, bpp, opts))
}

fn vc6_lossy_measure(images: &[Prepared], bpp: f64, opts: &Opts) -> Result<Row> {
    use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
    let new_decoder = || {
        Ok(Decoder::new(DecoderSettings {
            threads: 1,
            ..Default::default()
        })?)
    };
    let results = par_map_with(images, opts.threads, new_decoder, |dec_1, _, p| {
        let settings = EncoderSettings {
            target_bpp: Some(bpp),
            quality: None,
            threads: 1,
            predicted_average: opts.vc6.predicted_average,
            adaptive_upsampler: opts.vc6.adaptive_upsampler,
            ..EncoderSettings::from_preset(opts.vc6.preset)
        };
        let enc = Encoder::new(p.img.width, p.img.height, PixelFormat::Rgb8, settings)?;
        let stream = enc
            .encode(&p.img.pixels)
            .with_context(|| format!("vc6 lossy encode of {}", p.img.name))?;
        let full = dec_1.decode(&stream)?;
        let thumbs = THUMB_LEVELS
            .iter()
            .map(|&k| {
                let f = dec_1.decode_region(&stream, FrameRegion::full(k as u8))?;
                Ok(Some(f.data))
            })
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("vc6 LoQ decode of {}", p.img.name))?;
        score(p, stream, bpp, &full.data, &thumbs)
    })?;
    let speed = time_in_process(images, &results, opts.runs, new_decoder, |d, s| {
        Ok(d.decode(s)?.data)
    })?;
    let t = opts.vc6;
    let settings = format!(
        "preset {}{}{}, target_bpp {bpp} (the encoder's rate control); vc6::Decoder, \
         1 thread per picture",
        t.preset.name(),
        if t.predicted_average {
            ""
        } else {
            ", no predicted average"
        },
        if t.adaptive_upsampler {
            ", adaptive upsampler"
        } else {
            ""
        },
    );
    Ok(Row::measured(
        "vc6", VC6_THUMBS, settings, images, &results, speed,
    ))
}

/// LoQ 1 and 2 of vc6's *lossless* stream against the downscales of the original: how
/// close vc6's echelons themselves are to a good downscale, before any quantisation (a
/// reference row of the thumbnails table). Pooled over the corpus, per [`THUMB_LEVELS`].
fn vc6_lossless_thumbs(images: &[Prepared], opts: &Opts) -> Result<Vec<ThumbErr>> {
    use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
    let per_image = par_map(images, opts.threads, |_, p| {
        let settings = EncoderSettings {
            threads: 1,
            ..Default::default()
        };
        let enc = Encoder::new(p.img.width, p.img.height, PixelFormat::Rgb8, settings)?;
        let stream = enc.encode(&p.img.pixels)?;
        let dec = Decoder::new(DecoderSettings {
            threads: 1,
            ..Default::default()
        })?;
        THUMB_LEVELS
            .iter()
            .zip(&p.thumbs)
            .map(|(&k, (area, lanczos))| {
                let t = dec.decode_region(&stream, FrameRegion::full(k as u8))?.data;
                ensure!(
                    t.len() == area.len(),
                    "vc6 LoQ {k} of {}: wrong size",
                    p.img.name
                );
                Ok(ThumbErr {
                    samples: t.len() as u64,
                    sse_area: sse(&t, area),
                    sse_lanczos: sse(&t, lanczos),
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut total = vec![ThumbErr::default(); THUMB_LEVELS.len()];
    for errs in per_image {
        for (acc, e) in total.iter_mut().zip(errs) {
            acc.add(e);
        }
    }
    Ok(total)
}

/// What the vc6 row says while [`vc6_lossy_row`] returns `None`.
const VC6_MISSING: &str = "no lossy encoder (issue 3): no numbers";

/// How vc6's thumbnails are made: LoQ k of the same stream.
const VC6_THUMBS: &str = "LoQ k";

/// How the JPEG 2000 thumbnails are made: the stream decoded at reduced resolution.
const J2K_THUMBS: &str = "reduced resolution";

// ---------------------------------------------------------------------------------------
// JPEG: jpeg-encoder, quality bisected; zune-jpeg.

#[derive(Clone, Copy)]
enum Chroma {
    Full,
    Quarter,
}

impl Chroma {
    fn label(self) -> &'static str {
        match self {
            Chroma::Full => "JPEG 4:4:4",
            Chroma::Quarter => "JPEG 4:2:0",
        }
    }
}

/// jpeg-encoder at `quality` ([`jpeg_encode_rgb8`]); `optimised`: Huffman tables
/// fitted to the picture (non-interleaved scans), else the standard tables.
fn jpeg_encode(p: &Prepared, quality: u8, chroma: Chroma, optimised: bool) -> Result<Vec<u8>> {
    let quarter = matches!(chroma, Chroma::Quarter);
    jpeg_encode_rgb8(&p.img.pixels, p.w(), p.h(), quality, quarter, optimised)
        .with_context(|| format!("jpeg-encoder on {}", p.img.name))
}

fn zune_decode(stream: &[u8]) -> Result<Vec<u8>> {
    zune_decode_rgb8(stream)
}

/// The JPEG row: quality bisected on the size of the file with optimised Huffman
/// tables (what a size-conscious JPEG encoder writes).
///
/// zune-jpeg 0.5.15 (the current release, also the image crate's) decodes the
/// non-interleaved 4:2:0 scans of such files to garbage (5-10 dB; upstream's
/// zune-image issue 419, fixed after 0.5.15; 0.5.16-rc3 decodes them right, but a
/// pre-release pin would downgrade the image crate for the whole workspace). So at 4:2:0
/// the rate is that file's size, and the pixels and decode time come from its twin with
/// the standard tables in one interleaved scan: the same quantised coefficients, so the
/// same pixels (checked by a test with 4:4:4 and, where installed, djpeg at 4:2:0). At
/// 4:4:4 the optimised file itself is decoded.
fn jpeg_row(images: &[Prepared], bpp: f64, chroma: Chroma, opts: &Opts) -> Result<Row> {
    let results = par_map(images, opts.threads, |_, p| {
        let target = target_bytes(p.px(), bpp);
        let fit = bisect_int(1, 100, target, |q| jpeg_encode(p, q as u8, chroma, true))?;
        let rate_bytes = fit.bytes.len();
        let stream = match chroma {
            Chroma::Full => fit.bytes,
            Chroma::Quarter => jpeg_encode(p, fit.param as u8, chroma, false)?,
        };
        let decoded = zune_decode(&stream)?;
        let thumbs = area_thumbs(&decoded, p.w(), p.h());
        let mut r = score(p, stream, f64::from(fit.param), &decoded, &thumbs)?;
        r.bytes = rate_bytes;
        Ok(r)
    })?;
    let speed = time_in_process(
        images,
        &results,
        opts.runs,
        || Ok(()),
        |_, s| zune_decode(s),
    )?;
    let settings = format!(
        "q {} (bisected), optimised Huffman; zune-jpeg{}",
        param_range(&results, |q| format!("{q:.0}")),
        match chroma {
            Chroma::Full => "",
            Chroma::Quarter => " (decodes the standard-table twin: same pixels)",
        }
    );
    Ok(Row::measured(
        chroma.label(),
        "full decode, area-downscaled",
        settings,
        images,
        &results,
        speed,
    ))
}

// ---------------------------------------------------------------------------------------
// JPEG 2000 (OpenJPEG) and HTJ2K (OpenJPH) through their command-line tools.

/// Runs a tool; fails with its output when it fails. Returns stdout and stderr.
fn tool(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {program}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            text.trim_end()
        );
    }
    Ok(text)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
}

/// Reads a tool's decoded PPM and checks its size.
fn read_decoded(path: &Path, w: usize, h: usize) -> Result<Vec<u8>> {
    let (dw, dh, rgb) = read_ppm(path)?;
    ensure!(
        (dw, dh) == (w, h),
        "{} is {dw}x{dh}, expected {w}x{h}",
        path.display()
    );
    Ok(rgb)
}

#[derive(Clone, Copy, PartialEq)]
enum J2k {
    /// OpenJPEG: `opj_compress -I -r`.
    Part1,
    /// OpenJPH: `ojph_compress -qstep`, bisected.
    Ht,
}

impl J2k {
    fn label(self) -> &'static str {
        match self {
            J2k::Part1 => "JPEG 2000",
            J2k::Ht => "HTJ2K",
        }
    }

    fn tools(self) -> [&'static str; 2] {
        match self {
            J2k::Part1 => ["opj_compress", "opj_decompress"],
            J2k::Ht => ["ojph_compress", "ojph_expand"],
        }
    }

    fn ext(self) -> &'static str {
        match self {
            J2k::Part1 => "j2k",
            J2k::Ht => "j2c",
        }
    }

    /// Decodes `stream_path` into `out` at 1/2^k size (0: full size).
    fn decode(
        self,
        stream_path: &Path,
        out: &Path,
        k: u32,
        threads: Option<&str>,
    ) -> Result<String> {
        let (i, o) = (path_str(stream_path)?, path_str(out)?);
        let ks = k.to_string();
        match self {
            J2k::Part1 => {
                let mut args = vec!["-i", i, "-o", o];
                if k > 0 {
                    args.extend(["-r", &ks]);
                }
                if let Some(t) = threads {
                    args.extend(["-threads", t]);
                }
                tool("opj_decompress", &args)
            }
            J2k::Ht => {
                let mut args = vec!["-i", i, "-o", o];
                if k > 0 {
                    args.extend(["-skip_res", &ks]);
                }
                tool("ojph_expand", &args)
            }
        }
    }

    /// The decode time the tool printed, in seconds.
    fn printed_time(self, text: &str) -> Option<f64> {
        match self {
            // "decode time: 16 ms"
            J2k::Part1 => text
                .lines()
                .find_map(|l| l.trim().strip_prefix("decode time:"))
                .and_then(|v| v.trim().strip_suffix("ms"))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|ms| ms / 1e3),
            // "Elapsed time = 0.020477"
            J2k::Ht => text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Elapsed time ="))
                .and_then(|v| v.trim().parse::<f64>().ok()),
        }
    }
}

fn j2k_row(images: &[Prepared], bpp: f64, kind: J2k, opts: &Opts) -> Result<Row> {
    let label = kind.label();
    if !opts.j2k {
        return Ok(Row::missing(label, J2K_THUMBS, "skipped (--no-j2k)"));
    }
    let missing: Vec<&str> = kind
        .tools()
        .into_iter()
        .filter(|t| find_on_path(t).is_none())
        .collect();
    if !missing.is_empty() {
        let pkg = match kind {
            J2k::Part1 => "libopenjp2-tools",
            J2k::Ht => "openjph-tools",
        };
        return Ok(Row::missing(
            label,
            J2K_THUMBS,
            format!("not installed ({}; Debian: {pkg})", missing.join(", ")),
        ));
    }
    let ratio = 24.0 / bpp;
    let steps = if opts.quick { 8 } else { 12 };
    let results = par_map(images, opts.threads, |i, p| {
        let dir = TempDir::new(&format!("{}-{i}-{bpp}", kind.ext()))?;
        let src = dir.path().join("src.ppm");
        write_ppm(&src, &p.img.pixels, p.w(), p.h())?;
        let stream_path = dir.path().join(format!("s.{}", kind.ext()));
        let encode = |arg: &str, value: &str| -> Result<Vec<u8>> {
            let _ = std::fs::remove_file(&stream_path);
            let (s, o) = (path_str(&src)?, path_str(&stream_path)?);
            match kind {
                J2k::Part1 => tool("opj_compress", &["-i", s, "-o", o, "-I", arg, value])?,
                J2k::Ht => tool("ojph_compress", &["-i", s, "-o", o, arg, value])?,
            };
            std::fs::read(&stream_path)
                .with_context(|| format!("reading {}", stream_path.display()))
        };
        let (param, bytes) = match kind {
            J2k::Part1 => (ratio, encode("-r", &format!("{ratio}"))?),
            J2k::Ht => {
                // Bisect ln(1 / qstep) over qstep 0.5 .. 0.0002: the size grows with it.
                let target = target_bytes(p.px(), bpp);
                let fit = bisect_f64((2.0f64).ln(), 5000f64.ln(), steps, target, |v| {
                    encode("-qstep", &format!("{:.6}", (-v).exp()))
                })?;
                ((-fit.param).exp(), fit.bytes)
            }
        };
        std::fs::write(&stream_path, &bytes)?;
        let out = dir.path().join("d.ppm");
        kind.decode(&stream_path, &out, 0, None)?;
        let decoded = read_decoded(&out, p.w(), p.h())?;
        let mut thumbs = Vec::new();
        for (k, (area, _)) in THUMB_LEVELS.iter().zip(&p.thumbs) {
            let out = dir.path().join(format!("d{k}.ppm"));
            kind.decode(&stream_path, &out, *k, None)?;
            let (tw, th, rgb) = read_ppm(&out)?;
            ensure!(
                tw * th * 3 == area.len(),
                "{label} at 1/{} of {}: {tw}x{th}",
                1 << k,
                p.img.name
            );
            thumbs.push(Some(rgb));
        }
        score(p, bytes, param, &decoded, &thumbs)
    })?;
    let speed = j2k_tool_speed(images, &results, kind)?;
    let settings = match kind {
        J2k::Part1 => format!("opj_compress -I -r {ratio:.2}; opj_decompress"),
        J2k::Ht => format!(
            "ojph_compress -qstep {} (bisected); ojph_expand",
            param_range(&results, |q| format!("{q:.4}"))
        ),
    };
    Ok(Row::measured(
        label, J2K_THUMBS, settings, images, &results, speed,
    ))
}

/// The tools' own decode times, summed over the corpus, one decode per picture, one
/// after the other: one thread (`-threads 1` for opj_decompress; ojph_expand has no
/// threads) and, for opj_decompress, `-threads <hardware threads>`.
fn j2k_tool_speed(images: &[Prepared], results: &[ImageResult], kind: J2k) -> Result<Speed> {
    let dir = TempDir::new(&format!("{}-speed", kind.ext()))?;
    let stream_path = dir.path().join(format!("s.{}", kind.ext()));
    let out = dir.path().join("d.ppm");
    let total_px: u64 = images.iter().map(Prepared::px).sum();
    let all_threads = hardware_threads().to_string();
    let sum = |threads: Option<&str>| -> Result<Option<f64>> {
        let mut secs = 0.0;
        for r in results {
            std::fs::write(&stream_path, &r.stream)?;
            let text = kind.decode(&stream_path, &out, 0, threads)?;
            match kind.printed_time(&text) {
                Some(s) => secs += s,
                None => return Ok(None),
            }
        }
        Ok(Some(total_px as f64 / 1e6 / secs.max(1e-9)))
    };
    Ok(match kind {
        J2k::Part1 => Speed {
            one: sum(Some("1"))?,
            all: sum(Some(&all_threads))?,
            tool: true,
        },
        J2k::Ht => Speed {
            one: sum(None)?,
            all: None,
            tool: true,
        },
    })
}

// ---------------------------------------------------------------------------------------
// The report.

/// What every row needs besides the pictures and the rate.
struct Opts {
    threads: usize,
    runs: usize,
    quick: bool,
    j2k: bool,
    vc6: Vc6Tools,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("lossy: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let mut all = load_rgb8_dir(&args.corpus)?;
    if args.quick {
        all = all.into_iter().step_by(4).collect();
    }
    let images = par_map(&all, args.threads, |_, img| Ok(Prepared::new(img.clone())))?;
    drop(all);
    let total_px: u64 = images.iter().map(Prepared::px).sum();
    eprintln!(
        "lossy: {} images, {:.2} MP from {}",
        images.len(),
        total_px as f64 / 1e6,
        args.corpus.display()
    );
    let opts = Opts {
        threads: args.threads,
        runs: args.runs,
        quick: args.quick,
        j2k: args.j2k,
        vc6: args.vc6,
    };

    let mut tables: Vec<(f64, Vec<Row>)> = Vec::new();
    for &bpp in &args.bpps {
        let mut rows = Vec::new();
        eprintln!("lossy: {bpp} bpp: vc6");
        rows.push(match vc6_lossy_row(&images, bpp, &opts) {
            Some(row) => row?,
            None => Row::missing("vc6", VC6_THUMBS, VC6_MISSING),
        });
        for chroma in [Chroma::Full, Chroma::Quarter] {
            eprintln!("lossy: {bpp} bpp: {}", chroma.label());
            rows.push(jpeg_row(&images, bpp, chroma, &opts)?);
        }
        for kind in [J2k::Part1, J2k::Ht] {
            eprintln!("lossy: {bpp} bpp: {}", kind.label());
            rows.push(j2k_row(&images, bpp, kind, &opts)?);
        }
        tables.push((bpp, rows));
    }
    eprintln!("lossy: vc6 lossless LoQ 1 and 2 (thumbnail reference)");
    let lossless = vc6_lossless_thumbs(&images, &opts)?;
    print_report(&args, &images, &tables, &lossless, started.elapsed());
    Ok(())
}

fn print_report(
    args: &Args,
    images: &[Prepared],
    tables: &[(f64, Vec<Row>)],
    vc6_lossless: &[ThumbErr],
    took: Duration,
) {
    let command = args.command.clone().unwrap_or_else(|| {
        std::env::args()
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
            .collect::<Vec<_>>()
            .join(" ")
    });
    let total_px: u64 = images.iter().map(Prepared::px).sum();
    println!("# Lossy RGB8: vc6 against JPEG and JPEG 2000\n");
    println!("- command: `{command}`");
    println!("- date: {}", today_utc());
    println!(
        "- machine: {} ({} hardware threads); run took {:.0} s",
        cpu_model(),
        hardware_threads(),
        took.as_secs_f64()
    );
    println!(
        "- corpus: {} — {} images, {:.2} MP{}",
        args.corpus.display(),
        images.len(),
        total_px as f64 / 1e6,
        if args.quick {
            " (--quick: every 4th image)"
        } else {
            ""
        }
    );
    println!(
        "- each picture is coded on its own as close to the target rate as the codec allows; \
         bpp = total bytes x 8 / total pixels"
    );
    println!(
        "- PSNR: over all R, G, B samples, peak 255, from the squared error pooled over the \
         corpus (\"mean dB\": the mean of per-picture PSNR)"
    );
    println!(
        "- SSIM: BT.601 luma, 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, no \
         downsampling; mean of each SSIM map, weighted by pixels"
    );
    println!(
        "- decode MP/s: one thread = best of {} run(s) per picture, summed; all cores = \
         pictures decoded in parallel on {} threads; output megapixels",
        args.runs,
        hardware_threads()
    );
    println!(
        "- JPEG: jpeg-encoder {} (baseline, optimised Huffman tables, 4:2:0 chroma \
         box-averaged), quality bisected per picture; decoded by zune-jpeg {} (at 4:2:0 the \
         standard-table twin with the same coefficients: see jpeg_row)",
        JPEG_ENCODER_VERSION, ZUNE_JPEG_VERSION
    );
    println!(
        "- JPEG 2000 / HTJ2K: command-line tools through PPM files; `*`: decode speed from \
         the time the tool prints (codestream read included), not timed here"
    );
    println!(
        "- vc6: preset `better` with `EncoderSettings::target_bpp` (its own rate control), \
         decoded by `vc6::Decoder` on the CPU, one thread per picture\n"
    );

    for (bpp, rows) in tables {
        println!("## {bpp} bpp\n");
        println!(
            "| codec | bpp | PSNR RGB (dB) | mean dB | SSIM Y | decode MP/s (1 thread) | decode MP/s (all cores) | settings |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---|");
        for row in rows {
            match &row.outcome {
                Err(why) => println!("| {} | — | — | — | — | — | — | {why} |", row.codec),
                Ok(m) => {
                    let star = if m.speed.tool { "*" } else { "" };
                    let fmt = |v: Option<f64>| match v {
                        Some(v) => format!("{v:.1}{star}"),
                        None => "—".into(),
                    };
                    println!(
                        "| {} | {:.3} | {:.2} | {:.2} | {:.4} | {} | {} | {} |",
                        row.codec,
                        m.bpp(),
                        m.psnr(),
                        m.psnr_mean,
                        m.ssim(),
                        fmt(m.speed.one),
                        fmt(m.speed.all),
                        row.settings
                    );
                }
            }
        }
        println!();
        if args.per_image {
            print_per_image(rows);
        }
    }

    println!(
        "## Thumbnails: the picture at 1/2 and 1/4 size against a downscale of the original\n"
    );
    println!(
        "PSNR (RGB, pooled) against the area (box) and Lanczos-3 downscales of the original \
         to `ceil(w / 2^k) x ceil(h / 2^k)`, vc6's LoQ k size. vc6: LoQ k of the lossy \
         stream; JPEG 2000 / HTJ2K: the stream decoded at reduced resolution \
         (`opj_decompress -r k`, `ojph_expand -skip_res k`); JPEG: the full decode, \
         area-downscaled. JPEG 2000's reduced resolutions are its wavelet low-pass bands, \
         whose samples sit on even source pixels rather than on block centres: half a \
         source pixel off both references, which caps their score here.\n"
    );
    println!("| picture | bpp | 1/2 vs area | 1/2 vs Lanczos-3 | 1/4 vs area | 1/4 vs Lanczos-3 | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (bpp, rows) in tables {
        for row in rows {
            let name = format!("{}, {}", row.codec, row.thumbs_how);
            match &row.outcome {
                Err(why) => println!("| {name} | {bpp} | — | — | — | — | {why} |"),
                Ok(m) => {
                    print!("| {name} | {bpp} |");
                    for t in &m.thumbs {
                        match t {
                            Some(t) => print!(
                                " {:.2} | {:.2} |",
                                psnr_from_mse(t.sse_area as f64 / t.samples as f64),
                                psnr_from_mse(t.sse_lanczos as f64 / t.samples as f64)
                            ),
                            None => print!(" — | — |"),
                        }
                    }
                    println!(" |");
                }
            }
        }
    }
    print!("| reference: vc6 lossless, LoQ k | lossless |");
    for t in vc6_lossless {
        print!(
            " {:.2} | {:.2} |",
            psnr_from_mse(t.sse_area as f64 / t.samples as f64),
            psnr_from_mse(t.sse_lanczos as f64 / t.samples as f64)
        );
    }
    println!(" vc6's echelons before any quantisation |");
    // How far apart the two references are: a thumbnail cannot be "close" to both by
    // more than this.
    print!("| reference: Lanczos-3 of the original | — |");
    for k in 0..THUMB_LEVELS.len() {
        let (mut e, mut n) = (0u64, 0u64);
        for p in images {
            let (area, lanczos) = &p.thumbs[k];
            e += sse(area, lanczos);
            n += area.len() as u64;
        }
        print!(" {:.2} | — |", psnr_from_mse(e as f64 / n as f64));
    }
    println!(" reference for how far apart the two downscales are |");
}

fn print_per_image(rows: &[Row]) {
    let measured: Vec<(&str, &Measured)> = rows
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().map(|m| (r.codec.as_str(), m)))
        .collect();
    let Some((_, first)) = measured.first() else {
        return;
    };
    print!("| image |");
    for (c, _) in &measured {
        print!(" {c} bpp / dB / SSIM |");
    }
    println!();
    print!("|---|");
    for _ in &measured {
        print!("---:|");
    }
    println!();
    for i in 0..first.per_image.len() {
        print!("| {} |", first.per_image[i].0);
        for (_, m) in &measured {
            let (_, b, p, s) = &m.per_image[i];
            print!(" {b:.3} / {p:.2} / {s:.4} |");
        }
        println!();
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quick options for the row tests: two threads, one run, no JPEG 2000 tools.
    fn test_opts() -> Opts {
        Opts {
            threads: 2,
            runs: 1,
            quick: true,
            j2k: false,
            vc6: Vc6Tools {
                preset: vc6::Preset::Better,
                predicted_average: true,
                adaptive_upsampler: false,
            },
        }
    }

    fn prepared(name: &str, w: u32, h: u32) -> Prepared {
        let pixels = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (f64::from(i % w), f64::from(i / w));
                [
                    (128.0 + 80.0 * (x / 9.0).sin() * (y / 7.0).cos()) as u8,
                    (128.0 + 50.0 * (x / 5.0 + y / 13.0).sin()) as u8,
                    (100.0 + 0.5 * x + 0.8 * y) as u8,
                ]
            })
            .collect();
        Prepared::new(CorpusImage {
            name: name.into(),
            width: w,
            height: h,
            pixels,
        })
    }

    #[test]
    fn jpeg_round_trips_at_both_samplings() {
        // Odd sizes, optimised Huffman tables: jpeg-encoder writes non-interleaved scans,
        // which zune-jpeg 0.5.15 decoded to garbage at 4:2:0.
        let p = prepared("t", 67, 45);
        for chroma in [Chroma::Full, Chroma::Quarter] {
            let stream = jpeg_encode(&p, 90, chroma, false).unwrap();
            let dec = zune_decode(&stream).unwrap();
            let psnr = vc6_benches::quality::psnr_rgb(&p.img.pixels, &dec);
            assert!(psnr > 33.0, "{}: {psnr:.2} dB", chroma.label());
        }
        let stream = jpeg_encode(&p, 90, Chroma::Full, true).unwrap();
        let psnr = vc6_benches::quality::psnr_rgb(&p.img.pixels, &zune_decode(&stream).unwrap());
        assert!(psnr > 33.0, "4:4:4, optimised tables: {psnr:.2} dB");
    }

    /// The Huffman tables change the bytes, not the pixels: what `jpeg_row` relies on
    /// when it decodes the standard-table twin of a 4:2:0 file.
    #[test]
    fn huffman_tables_do_not_change_the_pixels() {
        let p = prepared("t", 67, 45);
        for q in [20, 75] {
            let opt = jpeg_encode(&p, q, Chroma::Full, true).unwrap();
            let std = jpeg_encode(&p, q, Chroma::Full, false).unwrap();
            assert!(opt.len() < std.len());
            assert_eq!(zune_decode(&opt).unwrap(), zune_decode(&std).unwrap());
            // 4:2:0 through libjpeg-turbo's djpeg, where installed.
            if find_on_path("djpeg").is_none() {
                continue;
            }
            let dir = TempDir::new(&format!("djpeg-test-{q}")).unwrap();
            let mut decoded = Vec::new();
            for (name, optimised) in [("o", true), ("s", false)] {
                let jpg = dir.path().join(format!("{name}.jpg"));
                let ppm = dir.path().join(format!("{name}.ppm"));
                std::fs::write(
                    &jpg,
                    jpeg_encode(&p, q, Chroma::Quarter, optimised).unwrap(),
                )
                .unwrap();
                let out = Command::new("djpeg")
                    .args(["-pnm", "-outfile"])
                    .arg(&ppm)
                    .arg(&jpg)
                    .status()
                    .unwrap();
                assert!(out.success());
                decoded.push(read_ppm(&ppm).unwrap());
            }
            assert_eq!(decoded[0], decoded[1], "djpeg, 4:2:0, q {q}");
        }
    }

    #[test]
    fn jpeg_row_hits_the_rate() {
        let images = [prepared("a", 96, 64), prepared("b", 81, 57)];
        let opts = test_opts();
        let row = jpeg_row(&images, 2.0, Chroma::Quarter, &opts).unwrap();
        let m = row.outcome.as_ref().unwrap();
        assert!((m.bpp() - 2.0).abs() < 0.3, "{} bpp", m.bpp());
        assert!(m.psnr() > 25.0 && m.ssim() > 0.8 && m.ssim() <= 1.0);
        assert!(m.thumbs.iter().all(Option::is_some));
        let skipped = j2k_row(&images, 2.0, J2k::Part1, &opts).unwrap();
        assert!(skipped.outcome.is_err());
    }

    #[test]
    fn vc6_row_hits_the_rate() {
        let images = [prepared("a", 96, 64), prepared("b", 81, 57)];
        let opts = test_opts();
        let Some(row) = vc6_lossy_row(&images, 2.0, &opts) else {
            return;
        };
        let row = row.unwrap();
        let m = row.outcome.as_ref().unwrap();
        assert!((m.bpp() - 2.0).abs() < 0.5, "{} bpp", m.bpp());
        assert!(m.psnr() > 20.0, "{} dB", m.psnr());
        assert!(m.thumbs.iter().all(Option::is_some));
    }

    #[test]
    fn a_broken_decode_is_an_error() {
        let p = prepared("t", 20, 20);
        let inverted: Vec<u8> = p.img.pixels.iter().map(|v| 255 - v).collect();
        assert!(score(&p, vec![], 0.0, &inverted, &[None, None]).is_err());
        assert!(score(&p, vec![], 0.0, &p.img.pixels, &[None, None]).is_ok());
    }

    #[test]
    fn printed_versions_are_the_locked_ones() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
        for (name, version) in [
            ("jpeg-encoder", JPEG_ENCODER_VERSION),
            ("zune-jpeg", ZUNE_JPEG_VERSION),
        ] {
            let entry = format!("name = \"{name}\"\nversion = \"{version}\"");
            assert!(lock.contains(&entry), "Cargo.lock has no {name} {version}");
        }
    }

    #[test]
    fn tool_times_parse() {
        assert_eq!(
            J2k::Part1.printed_time("[INFO] Generated Outfile b.ppm\ndecode time: 16 ms\n"),
            Some(0.016)
        );
        assert_eq!(
            J2k::Ht.printed_time("Elapsed time = 0.020477\n"),
            Some(0.020477)
        );
        assert_eq!(J2k::Ht.printed_time("nothing"), None);
    }

    #[test]
    fn par_map_keeps_order_and_reports_errors() {
        let v: Vec<u32> = (0..50).collect();
        let out = par_map(&v, 3, |i, &x| Ok(x * 2 + i as u32)).unwrap();
        assert_eq!(out, (0..50).map(|x| x * 3).collect::<Vec<_>>());
        let err = par_map(&v, 3, |_, &x| {
            ensure!(x != 17, "seventeen");
            Ok(x)
        });
        assert!(err.is_err());
    }
}
