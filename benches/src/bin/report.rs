//! Size and speed of vc6 (lossless) against the png and qoi crates, on the same images,
//! in one process. Run through `cargo xtask bench` (release build).
//!
//! ```text
//! report [--corpus DIR] [--loq K] [--runs N] [--filter TEXT]
//! ```
//!
//! Every time is the best of N runs (3, fewer for big images), summed over all images;
//! throughput is total pixels / total best time.

use anyhow::{bail, ensure, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
use vc6_benches::{
    cpu_model, default_corpus_dir, hardware_threads, load_rgb8_dir_filtered, png_decode,
    png_encode_rgb8, today_utc, CorpusImage,
};

const USAGE: &str = "usage: report [--corpus DIR] [--loq K] [--runs N] [--filter TEXT]";

struct Args {
    corpus: PathBuf,
    loq: Option<u8>,
    runs: Option<usize>,
    filter: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        corpus: default_corpus_dir(),
        loq: None,
        runs: None,
        filter: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))
        };
        match a.as_str() {
            "--corpus" => args.corpus = PathBuf::from(val("a folder")?),
            "--loq" => args.loq = Some(val("a number")?.parse().context("--loq: not a number")?),
            "--runs" => {
                let n: usize = val("a number")?.parse().context("--runs: not a number")?;
                ensure!(n >= 1, "--runs must be at least 1");
                args.runs = Some(n);
            }
            "--filter" => args.filter = Some(val("a text")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

/// Times `f` `runs` times; returns the best time and the output of the last run.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed());
        out = Some(v);
    }
    Ok((best, out.expect("runs >= 1")))
}

/// Sizes and best times, summed over the images, for one codec.
#[derive(Default, Clone, Copy)]
struct Totals {
    bytes: u64,
    encode: Duration,
    encode_1: Duration,
    decode_1: Duration,
    decode_all: Duration,
}

fn mps(pixels: u64, d: Duration) -> f64 {
    pixels as f64 / 1e6 / d.as_secs_f64().max(1e-12)
}

fn bpp(bytes: u64, pixels: u64) -> f64 {
    bytes as f64 * 8.0 / pixels as f64
}

fn check_same(codec: &str, img: &CorpusImage, got: &[u8]) -> Result<()> {
    if got != img.pixels.as_slice() {
        let at = got.iter().zip(&img.pixels).position(|(a, b)| a != b);
        bail!(
            "{codec} is NOT lossless on {}: decoded {} bytes, expected {}; first difference at byte {:?}",
            img.name,
            got.len(),
            img.pixels.len(),
            at
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("report: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let filter = args.filter.clone();
    let images = load_rgb8_dir_filtered(&args.corpus, |n| match &filter {
        Some(f) => n.contains(f.as_str()),
        None => true,
    })?;
    let total_px: u64 = images.iter().map(CorpusImage::pixel_count).sum();
    eprintln!(
        "report: {} images, {:.1} MP from {}",
        images.len(),
        total_px as f64 / 1e6,
        args.corpus.display()
    );

    let dec_1 = Decoder::new(DecoderSettings {
        threads: 1,
        ..Default::default()
    })?;
    let dec_all = Decoder::new(DecoderSettings {
        threads: 0,
        ..Default::default()
    })?;

    let (mut vc6, mut png, mut qoi) = (Totals::default(), Totals::default(), Totals::default());
    let mut loq = Totals::default();
    let mut loq_px = 0u64;
    let mut per_image = Vec::new();

    for img in &images {
        let (w, h, px) = (img.width, img.height, img.pixel_count());
        let runs = args.runs.unwrap_or(if px > 3_000_000 { 2 } else { 3 });
        eprintln!("report: {} ({w}x{h}), best of {runs}", img.name);

        // vc6, lossless with default settings.
        let enc = Encoder::new(w, h, PixelFormat::Rgb8, EncoderSettings::default())
            .with_context(|| format!("vc6 encoder for {}", img.name))?;
        let (t, stream) = best_of(runs, || Ok(enc.encode(&img.pixels)?))
            .with_context(|| format!("vc6 encode of {}", img.name))?;
        vc6.encode += t;
        vc6.bytes += stream.len() as u64;
        let enc_1 = Encoder::new(
            w,
            h,
            PixelFormat::Rgb8,
            EncoderSettings {
                threads: 1,
                ..Default::default()
            },
        )?;
        let (t, stream_1) = best_of(runs, || Ok(enc_1.encode(&img.pixels)?))?;
        ensure!(
            stream_1 == stream,
            "vc6 stream of {} depends on the thread count",
            img.name
        );
        vc6.encode_1 += t;
        let (t, frame) = best_of(runs, || Ok(dec_1.decode(&stream)?))
            .with_context(|| format!("vc6 decode (1 thread) of {}", img.name))?;
        ensure!(
            (frame.width, frame.height) == (w, h),
            "vc6 decoded {} as {}x{}, expected {w}x{h}",
            img.name,
            frame.width,
            frame.height
        );
        check_same("vc6 (1 thread)", img, &frame.data)?;
        vc6.decode_1 += t;
        let (t, frame) = best_of(runs, || Ok(dec_all.decode(&stream)?))
            .with_context(|| format!("vc6 decode (all cores) of {}", img.name))?;
        check_same("vc6 (all cores)", img, &frame.data)?;
        vc6.decode_all += t;

        if let Some(k) = args.loq {
            let region = FrameRegion {
                loq: k,
                ..Default::default()
            };
            let (t, frame) = best_of(runs, || Ok(dec_1.decode_region(&stream, region)?))
                .with_context(|| format!("vc6 decode at LoQ {k} (1 thread) of {}", img.name))?;
            loq.decode_1 += t;
            loq_px += frame.width as u64 * frame.height as u64;
            let (t, _) = best_of(runs, || Ok(dec_all.decode_region(&stream, region)?))
                .with_context(|| format!("vc6 decode at LoQ {k} (all cores) of {}", img.name))?;
            loq.decode_all += t;
        }

        // png crate, default compression.
        let (t, png_data) = best_of(runs, || png_encode_rgb8(&img.pixels, w, h))?;
        png.encode += t;
        png.bytes += png_data.len() as u64;
        let (t, decoded) = best_of(runs, || png_decode(&png_data))?;
        check_same("png", img, &decoded)?;
        png.decode_1 += t;

        // qoi crate.
        let (t, qoi_data) = best_of(runs, || Ok(qoi::encode_to_vec(&img.pixels, w, h)?))?;
        qoi.encode += t;
        qoi.bytes += qoi_data.len() as u64;
        let (t, (_, decoded)) = best_of(runs, || Ok(qoi::decode_to_vec(&qoi_data)?))?;
        check_same("qoi", img, &decoded)?;
        qoi.decode_1 += t;

        per_image.push((
            img.name.clone(),
            w,
            h,
            bpp(stream.len() as u64, px),
            bpp(png_data.len() as u64, px),
            bpp(qoi_data.len() as u64, px),
        ));
    }

    // ---- the report (markdown on stdout) ----
    let cores = hardware_threads();
    println!("# vc6 vs png vs qoi (lossless RGB8)\n");
    println!("- date: {}", today_utc());
    println!("- machine: {} ({} hardware threads)", cpu_model(), cores);
    println!(
        "- corpus: {} — {} images, {:.2} MP",
        args.corpus.display(),
        images.len(),
        total_px as f64 / 1e6
    );
    match args.runs {
        Some(n) => println!("- each time is the best of {n} runs, summed over the images"),
        None => println!(
            "- each time is the best of 3 runs (2 for images over 3 MP), summed over the images"
        ),
    }
    println!("- vc6: default encoder settings (lossless); png: png crate, default compression; qoi: qoi crate (both single-threaded)\n");
    println!("| codec | bpp | encode MP/s (1 thread) | encode MP/s (all cores) | decode MP/s (1 thread) | decode MP/s (all cores) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, t: &Totals, multi: bool| {
        let (enc_1, enc_all, dec_all) = if multi {
            (
                format!("{:.1}", mps(total_px, t.encode_1)),
                format!("{:.1}", mps(total_px, t.encode)),
                format!("{:.1}", mps(total_px, t.decode_all)),
            )
        } else {
            (
                format!("{:.1}", mps(total_px, t.encode)),
                "—".into(),
                "—".into(),
            )
        };
        println!(
            "| {name} | {:.3} | {enc_1} | {enc_all} | {:.1} | {dec_all} |",
            bpp(t.bytes, total_px),
            mps(total_px, t.decode_1),
        )
    };
    row("vc6", &vc6, true);
    row("png", &png, false);
    row("qoi", &qoi, false);
    if let Some(k) = args.loq {
        println!(
            "| vc6 LoQ {k} ({:.2} MP out) | — | — | — | {:.1} ({:.1} full-res MP/s) | {:.1} ({:.1} full-res MP/s) |",
            loq_px as f64 / 1e6,
            mps(loq_px, loq.decode_1),
            mps(total_px, loq.decode_1),
            mps(loq_px, loq.decode_all),
            mps(total_px, loq.decode_all),
        );
    }

    let (vb, pb, qb) = (
        bpp(vc6.bytes, total_px),
        bpp(png.bytes, total_px),
        bpp(qoi.bytes, total_px),
    );
    let speed = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-12);
    println!(
        "\nvc6 on every core ({cores} hardware threads) against one thread: encode {:.2}x, decode {:.2}x\n",
        speed(vc6.encode, vc6.encode_1),
        speed(vc6.decode_all, vc6.decode_1)
    );
    println!("\nRatios:\n");
    println!("- vc6 bpp / png bpp {:.3}", vb / pb);
    println!("- vc6 bpp / qoi bpp {:.3}", vb / qb);
    println!(
        "- vc6/png encode speed {:.2}x",
        speed(vc6.encode, png.encode)
    );
    println!(
        "- vc6/qoi encode speed {:.2}x",
        speed(vc6.encode, qoi.encode)
    );
    println!(
        "- vc6/png decode speed {:.2}x (1 thread), {:.2}x (all cores)",
        speed(vc6.decode_1, png.decode_1),
        speed(vc6.decode_all, png.decode_1)
    );
    println!(
        "- vc6/qoi decode speed {:.2}x (1 thread), {:.2}x (all cores)",
        speed(vc6.decode_1, qoi.decode_1),
        speed(vc6.decode_all, qoi.decode_1)
    );
    if args.loq.is_some() {
        println!(
            "- vc6 LoQ decode / full decode time {:.3} (1 thread), {:.3} (all cores)",
            loq.decode_1.as_secs_f64() / vc6.decode_1.as_secs_f64().max(1e-12),
            loq.decode_all.as_secs_f64() / vc6.decode_all.as_secs_f64().max(1e-12)
        );
    }

    println!("\nPer image (bpp):\n");
    println!("| image | size | vc6 | png | qoi | vc6/png |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, w, h, v, p, q) in &per_image {
        println!(
            "| {name} | {w}x{h} | {v:.3} | {p:.3} | {q:.3} | {:.3} |",
            v / p
        );
    }
    Ok(())
}
