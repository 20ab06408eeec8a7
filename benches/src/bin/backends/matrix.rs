//! The CUDA issue's matrix (`backends --matrix`): 4K and 1080p, batches, LoQ 0 and 2,
//! lossless and 1.25 bpp, host and device memory, and the LoQ 2 / LoQ 0 ratios.

use crate::*;

/// The target: LoQ 2 at least this many times LoQ 0's pictures per second.
const LOQ2_TARGET: f64 = 9.0;

/// The lossy rate of the matrix, bits per pixel.
const LOSSY_BPP: f64 = 1.25;

/// One cell of the matrix table.
enum Cell {
    Figure(Figure),
    /// The backend has no device output (device rows on the CPU).
    NoDevice,
    /// Decode error or a difference from the CPU: index into the error notes.
    Failed(usize),
}

/// One row of the matrix: (picture, batch, coding, memory, LoQ).
struct MatrixRow {
    picture: usize,
    batch: usize,
    lossy: bool,
    device: bool,
    loq: u8,
    /// Bytes of the batch's output frames.
    out_bytes: u64,
    workload: Workload,
    /// Why the row was not measured (too large for `--max-batch-bytes`).
    skipped: Option<String>,
    cells: Vec<Cell>,
}

/// Size at LoQ `loq`: halved (rounding up) `loq` times.
fn size_at_loq(w: u32, h: u32, loq: u8) -> (u64, u64) {
    let d = 1u64 << loq;
    (u64::from(w).div_ceil(d), u64::from(h).div_ceil(d))
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// A `width x height` crop of `img` centred on it, the picture repeated where it is
/// smaller than the crop.
fn centre_crop(img: &CorpusImage, width: u32, height: u32) -> Vec<u8> {
    let (sw, sh) = (img.width as usize, img.height as usize);
    let x0 = sw.saturating_sub(width as usize) / 2;
    let y0 = sh.saturating_sub(height as usize) / 2;
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height as usize {
        let sy = (y0 + y) % sh;
        for x in 0..width as usize {
            let sx = (x0 + x) % sw;
            let at = (sy * sw + sx) * 3;
            out.extend_from_slice(&img.pixels[at..at + 3]);
        }
    }
    out
}

pub(crate) fn run_matrix(
    args: &Args,
    decoders: &[Decoder],
    notes: &[String],
    cpu_ref: &Decoder,
) -> Result<()> {
    let runs = |default: usize| match (args.runs, args.quick) {
        (Some(n), _) => n,
        (None, true) => 1,
        (None, false) => default,
    };
    let Some(uhd_path) = &args.uhd else {
        bail!(
            "--matrix needs the 4K picture: --uhd FILE (or a corpus with a `uhd` folder beside it)"
        );
    };
    if args.corpus_given {
        eprintln!("backends: --matrix: the corpus folder is not used");
    }
    let uhd = load_images(uhd_path).with_context(|| format!("--uhd {}", uhd_path.display()))?;
    let Some(big) = uhd.into_iter().next() else {
        bail!("--uhd {}: no PNG picture there", uhd_path.display());
    };
    let hd = CorpusImage {
        name: format!("centre crop of {}", big.name),
        width: 1920,
        height: 1080,
        pixels: centre_crop(&big, 1920, 1080),
    };
    let pictures = [
        (
            format!("4K: {} ({}x{})", big.name, big.width, big.height),
            &big,
        ),
        (
            format!(
                "1080p: {} ({}x{}{})",
                hd.name,
                hd.width,
                hd.height,
                if big.width < 1920 || big.height < 1080 {
                    ", tiled"
                } else {
                    ""
                }
            ),
            &hd,
        ),
    ];
    let short = |p: usize| if p == 0 { "4K" } else { "1080p" };

    // Streams: per picture, lossless then lossy at 1.25 bpp; index = 2 * picture + lossy.
    let mut streams = Vec::new();
    let mut originals: Vec<&[u8]> = Vec::new();
    for (label, img) in &pictures {
        for lossy in [false, true] {
            eprintln!(
                "backends: encoding {label} {}",
                if lossy {
                    "lossy at 1.25 bpp"
                } else {
                    "lossless"
                }
            );
            let settings = if lossy {
                EncoderSettings {
                    target_bpp: Some(LOSSY_BPP),
                    quality: None,
                    tile_log2: args.tile_log2,
                    ..EncoderSettings::from_preset(Preset::Better)
                }
            } else {
                EncoderSettings {
                    tile_log2: args.tile_log2,
                    ..EncoderSettings::default()
                }
            };
            let enc = Encoder::new(img.width, img.height, PixelFormat::Rgb8, settings)?;
            streams.push(Stream {
                name: format!(
                    "{} ({})",
                    img.name,
                    if lossy { "lossy" } else { "lossless" }
                ),
                bytes: enc
                    .encode(&img.pixels)
                    .with_context(|| format!("encoding {label}"))?,
                lossless: !lossy,
            });
            originals.push(&img.pixels);
        }
    }

    // The rows: batch, picture, coding, memory, then LoQ 0 and LoQ 2 side by side.
    let any_device = decoders.iter().any(has_device_output);
    let memories: &[bool] = if any_device { &[false, true] } else { &[false] };
    let mut rows = Vec::new();
    for &batch in &args.batches {
        for (p, (_, img)) in pictures.iter().enumerate() {
            for lossy in [false, true] {
                for &device in memories {
                    for (loq, default_runs) in [(0u8, 2usize), (2, 3)] {
                        let (w, h) = size_at_loq(img.width, img.height, loq);
                        let out_bytes = batch as u64 * w * h * 3;
                        let skipped = (out_bytes > args.max_batch_bytes).then(|| {
                            format!(
                                "skipped: needs {} of output > --max-batch-bytes {}",
                                gib(out_bytes),
                                gib(args.max_batch_bytes)
                            )
                        });
                        rows.push(MatrixRow {
                            picture: p,
                            batch,
                            lossy,
                            device,
                            loq,
                            out_bytes,
                            workload: Workload {
                                label: format!(
                                    "{}, {}, batch of {batch} at LoQ {loq}, into {} memory",
                                    short(p),
                                    if lossy { "lossy 1.25 bpp" } else { "lossless" },
                                    if device { "device" } else { "host" }
                                ),
                                items: vec![
                                    (2 * p + usize::from(lossy), FrameRegion::full(loq));
                                    batch
                                ],
                                batch: true,
                                device,
                                runs: runs(default_runs),
                            },
                            skipped,
                            cells: Vec::new(),
                        });
                    }
                }
            }
        }
    }
    let largest = rows
        .iter()
        .filter(|r| r.skipped.is_none())
        .map(|r| r.out_bytes)
        .max()
        .unwrap_or(0);
    let most = rows.iter().map(|r| r.out_bytes).max().unwrap_or(0);
    eprintln!(
        "backends: the largest batch output is {} ({} frames x {}); the largest measured, {} \
         (host memory, plus as much device memory on a GPU; --max-batch-bytes {})",
        gib(most),
        args.batches.iter().max().copied().unwrap_or(0),
        short(0),
        gib(largest),
        gib(args.max_batch_bytes)
    );

    // ---- the report (markdown on stdout): the header and the table's head now, each
    // row as soon as it is measured (a run cut short keeps its rows), then the ratios ----
    print_report_head("vc6 decode speed by backend: the CUDA issue's matrix", args);
    for (label, _) in &pictures {
        println!("- picture {label}");
    }
    for (p, (_, img)) in pictures.iter().enumerate() {
        for lossy in [false, true] {
            let s = &streams[2 * p + usize::from(lossy)];
            println!(
                "- stream {} {}: {} bytes, {:.3} bpp",
                short(p),
                if lossy {
                    "lossy (preset better, target_bpp 1.25)"
                } else {
                    "lossless"
                },
                s.bytes.len(),
                s.bytes.len() as f64 * 8.0 / (img.width as f64 * img.height as f64)
            );
        }
    }
    println!(
        "- tiles of {side}x{side} coefficients",
        side = 1u32 << args.tile_log2
    );
    for dec in decoders {
        println!(
            "- {}: {}{}",
            dec.backend_name(),
            dec.device(),
            match dec.backend_name() {
                "opencl" if has_device_output(dec) => " (device memory: `decode_batch_to_opencl`)",
                "cuda" if has_device_output(dec) => " (device memory: `decode_batch_to_cuda`)",
                _ => " (host memory only)",
            }
        );
    }
    for note in notes {
        println!("- not measured: {note}");
    }
    println!(
        "- memory: the largest batch output is {} (host memory, and as much device memory \
         for device rows); --max-batch-bytes {} (figures above it are skipped)",
        gib(most),
        gib(args.max_batch_bytes)
    );
    println!(
        "- MP/s: output megapixels (LoQ 2 frames are 1/16 of full size) / the best of `runs` \
         timed runs; pictures/s: frames of the batch / the same time. Each after a warm-up \
         run checked byte for byte against the CPU reference (a lossless stream's original \
         pixels at LoQ 0, else the CPU's decode of the same stream); a batch returns when \
         the device has finished\n"
    );
    let names: Vec<&str> = decoders.iter().map(|d| d.backend_name()).collect();
    let mut head = String::from("| picture | batch | coding | LoQ | memory | output MP | runs |");
    let mut rule = String::from("|---|---:|---|---:|---|---:|---:|");
    for name in &names {
        head += &format!(" {name} MP/s | {name} pictures/s |");
        rule += "---:|---:|";
    }
    println!("{head}\n{rule}");
    let coding = |lossy: bool| if lossy { "lossy 1.25 bpp" } else { "lossless" };
    let memory = |device: bool| if device { "device" } else { "host" };

    // Measure; a figure's failure goes into the table, and the rest go on.
    let mut errors: Vec<String> = Vec::new();
    let mut decoded = Vec::new();
    for row in &mut rows {
        let w = &row.workload;
        if let Some(why) = &row.skipped {
            eprintln!("backends: {}: {why}", w.label);
        } else {
            let reference =
                reference_frames(cpu_ref, &streams, &originals, &w.items, &mut decoded)?;
            for dec in decoders {
                if w.device && !has_device_output(dec) {
                    row.cells.push(Cell::NoDevice);
                    continue;
                }
                eprintln!(
                    "backends: {} on {}, best of {}",
                    w.label,
                    dec.backend_name(),
                    w.runs
                );
                match measure(dec, &streams, w, &reference) {
                    Ok(Some(fig)) => {
                        eprintln!(
                            "backends:   {:.1} MP/s, {:.1} pictures/s ({:.2} MP in {:.1} ms)",
                            fig.mps(),
                            fig.pictures_per_s(),
                            fig.output_px as f64 / 1e6,
                            fig.best.as_secs_f64() * 1e3
                        );
                        row.cells.push(Cell::Figure(fig));
                    }
                    Ok(None) => row.cells.push(Cell::NoDevice),
                    Err(e) => {
                        let msg = format!("{}, {}: {e:#}", w.label, dec.backend_name());
                        eprintln!("backends:   FAILED: {msg}");
                        errors.push(msg.replace('\n', " "));
                        row.cells.push(Cell::Failed(errors.len()));
                    }
                }
            }
        }

        let (pw, ph) = size_at_loq(
            pictures[row.picture].1.width,
            pictures[row.picture].1.height,
            row.loq,
        );
        let mut line = format!(
            "| {} | {} | {} | {} | {} | {:.2} | {} |",
            short(row.picture),
            row.batch,
            coding(row.lossy),
            row.loq,
            memory(row.device),
            (row.batch as u64 * pw * ph) as f64 / 1e6,
            row.workload.runs
        );
        if let Some(why) = &row.skipped {
            line += &format!(" {why} | — |");
            for _ in 1..names.len() {
                line += " — | — |";
            }
        } else {
            let base = match row.cells.first() {
                Some(Cell::Figure(f)) if names[0] == "cpu" => Some(f.mps()),
                _ => None,
            };
            for (k, cell) in row.cells.iter().enumerate() {
                match cell {
                    Cell::Figure(f) => {
                        let v = f.mps();
                        match base {
                            Some(base) if k > 0 => {
                                line += &format!(" {v:.1} ({:.2}x cpu) |", v / base)
                            }
                            _ => line += &format!(" {v:.1} |"),
                        }
                        line += &format!(" {:.1} |", f.pictures_per_s());
                    }
                    Cell::NoDevice => line += " — | — |",
                    Cell::Failed(i) => line += &format!(" **failed** (error {i}) | — |"),
                }
            }
        }
        println!("{line}");
    }

    // LoQ 2 / LoQ 0 in pictures per second, per (picture, batch, coding, memory).
    println!(
        "\nLoQ 2 / LoQ 0, pictures per second (the issue's target for CUDA: at least {LOQ2_TARGET}x; \
         ✓ met, ✗ not met):\n"
    );
    let mut head = String::from("| picture | batch | coding | memory |");
    let mut rule = String::from("|---|---:|---|---|");
    for name in &names {
        head += &format!(" {name} |");
        rule += "---:|";
    }
    println!("{head}\n{rule}");
    for pair in rows.chunks(2) {
        let [r0, r2] = pair else { continue };
        debug_assert!(r0.loq == 0 && r2.loq == 2);
        let mut line = format!(
            "| {} | {} | {} | {} |",
            short(r0.picture),
            r0.batch,
            coding(r0.lossy),
            memory(r0.device)
        );
        for k in 0..names.len() {
            match (r0.cells.get(k), r2.cells.get(k)) {
                (Some(Cell::Figure(a)), Some(Cell::Figure(b))) => {
                    let ratio = b.pictures_per_s() / a.pictures_per_s();
                    let mark = if ratio >= LOQ2_TARGET { "✓" } else { "✗" };
                    line += &format!(" {ratio:.1}x {mark} |");
                }
                _ if r0.skipped.is_some() || r2.skipped.is_some() => line += " skipped |",
                _ => line += " — |",
            }
        }
        println!("{line}");
    }
    if !errors.is_empty() {
        println!("\nErrors:\n");
        for (i, e) in errors.iter().enumerate() {
            println!("{}. {e}", i + 1);
        }
    }
    ensure!(
        errors.is_empty(),
        "{} figure(s) failed (see the table's errors)",
        errors.len()
    );
    Ok(())
}
