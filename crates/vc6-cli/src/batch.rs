//! `vc6 decode A.vc6 B.vc6 ... -o DIR/`: several streams into a folder through the batch
//! decoder (`Decoder::decode_batch`, a GPU's fast path), in chunks whose frames and
//! streams together stay under [`CHUNK_BYTES`], so memory stays bounded however many
//! files are given (the environment variable `VC6_CHUNK_BYTES` sets another bound, for
//! tests and tuning). A bad input fails only its own entry.

use crate::progress::{Progress, Summary};
use crate::{DecodeArgs, Reported};
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use vc6::{Backend, Decoder, DecoderSettings, Frame, FrameRegion, PixelFormat};

/// Most bytes of streams and decoded frames one chunk holds (a larger single file makes
/// a chunk of its own).
pub const CHUNK_BYTES: u64 = 256 << 20;

/// Bytes read from the start of each input to learn its size from the header.
const HEAD_BYTES: u64 = 64 << 10;

/// One input, its output and what its header says.
struct Entry {
    input: PathBuf,
    output: PathBuf,
    /// Bytes the entry holds in memory while its chunk decodes: the file and the frame.
    cost: u64,
    /// Pixels of the output (0 when the header does not read).
    pixels: u64,
    /// Full-size pixels of the stream (for bits per pixel).
    full_pixels: u64,
    /// A failure found before decoding (the file does not read).
    error: Option<anyhow::Error>,
}

/// The output format's extension for folder outputs, without a leading dot.
fn extension(args: &DecodeArgs) -> String {
    args.ext.trim_start_matches('.').to_ascii_lowercase()
}

/// Probes `input` from its first bytes: its cost in a chunk and its pixels.
fn entry(args: &DecodeArgs, input: &Path, output: PathBuf) -> Entry {
    let mut e = Entry {
        input: input.to_path_buf(),
        output,
        cost: 0,
        pixels: 0,
        full_pixels: 0,
        error: None,
    };
    let head = fs::File::open(input).and_then(|f| {
        let len = f.metadata()?.len();
        let mut head = Vec::new();
        f.take(HEAD_BYTES).read_to_end(&mut head)?;
        Ok((len, head))
    });
    let (len, head) = match head {
        Ok(h) => h,
        Err(err) => {
            e.error = Some(anyhow!(err).context(format!("reading {}", input.display())));
            return e;
        }
    };
    e.cost = len;
    // A header that does not read costs its file only; the decode names its fault.
    if let Ok(info) = vc6::probe(&head) {
        let (w, h) = match args.region {
            Some([_, _, w, h]) => (w, h),
            None => info
                .loqs
                .get(usize::from(args.loq))
                .map_or((0, 0), |l| (l.width, l.height)),
        };
        e.pixels = u64::from(w) * u64::from(h);
        e.full_pixels = u64::from(info.width) * u64::from(info.height);
        let format = args
            .format
            .or_else(|| PixelFormat::from_tag(info.format_tag));
        let frame = match format {
            Some(f) => f.frame_len(w, h).map_or(u64::MAX / 4, |n| n as u64),
            // Planar pictures: 16-bit samples in every plane, an upper bound.
            None => e.pixels * 2 * info.planes.len() as u64,
        };
        e.cost = e.cost.saturating_add(frame);
    }
    e
}

/// [`CHUNK_BYTES`], or `VC6_CHUNK_BYTES` where that is set to a positive number.
fn chunk_bytes() -> u64 {
    std::env::var("VC6_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CHUNK_BYTES)
}

/// Splits `entries` (their indices, failed ones left out) into runs of at most `bound`
/// bytes each.
fn chunks(entries: &[Entry], bound: u64) -> Vec<Vec<usize>> {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut held = 0u64;
    for (i, e) in entries.iter().enumerate() {
        if e.error.is_some() {
            continue;
        }
        match chunks.last_mut() {
            Some(last) if held.saturating_add(e.cost) <= bound => {
                last.push(i);
                held += e.cost;
            }
            _ => {
                chunks.push(vec![i]);
                held = e.cost;
            }
        }
    }
    chunks
}

/// `vc6 decode IN... -o DIR`: every input to `DIR/<stem>.<ext>`, a line each and a
/// summary on `out`; failed inputs reported one line each, the result then [`Reported`].
pub fn decode_many(args: &DecodeArgs, out: &mut dyn Write) -> Result<()> {
    let start = Instant::now();
    let ext = extension(args);
    crate::imageio::check_output_path(Path::new(&format!("out.{ext}")))
        .with_context(|| format!("--ext {}", args.ext))?;
    if args.output.exists() && !args.output.is_dir() {
        bail!(
            "{}: with several inputs -o must be a folder, and this names a file",
            args.output.display()
        );
    }
    let outputs: Vec<PathBuf> = args
        .inputs
        .iter()
        .map(|i| {
            let mut name = crate::stem(i)?.to_os_string();
            name.push(".");
            name.push(&ext);
            Ok(args.output.join(name))
        })
        .collect::<Result<_>>()?;
    crate::outputs_are_distinct(&args.inputs, &outputs)?;
    crate::outputs_spare_inputs(&args.inputs, &outputs)?;
    fs::create_dir_all(&args.output)
        .with_context(|| format!("creating folder {}", args.output.display()))?;

    let entries: Vec<Entry> = args
        .inputs
        .iter()
        .zip(outputs)
        .map(|(i, o)| entry(args, i, o))
        .collect();
    // Many small pictures are still much work together: `auto` looks for a GPU when the
    // whole batch reaches the size at which one picture would.
    let total: u64 = entries.iter().map(|e| e.pixels).sum();
    let backend = match args.backend {
        Backend::Auto if total < crate::AUTO_GPU_PIXELS => Backend::Cpu,
        b => b,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("starting the worker threads")?;
    // Threads 0: the decoder works on the pool it is called from, this one.
    let settings = DecoderSettings {
        format: args.format,
        threads: 0,
        backend,
        ..DecoderSettings::default()
    };
    let decoder = Decoder::new(settings).context("starting the decoder")?;
    let region = args.frame_region();

    let show = !args.quiet && std::io::stderr().is_terminal();
    let bytes = entries.iter().map(|e| e.cost).sum();
    let progress = Progress::new(show, "decoding", entries.len() as u64, bytes);
    let mut summary = Summary::default();
    let mut lines: Vec<Option<String>> = vec![None; entries.len()];
    for e in &entries {
        if let Some(err) = &e.error {
            summary.failed += 1;
            progress.message(&format!("vc6: error: {}", crate::one_line(err)));
            progress.advance(1, e.cost, 0);
        }
    }
    for chunk in chunks(&entries, chunk_bytes()) {
        let results = pool.install(|| decode_chunk(&decoder, region, &entries, &chunk));
        for (&i, result) in chunk.iter().zip(results) {
            let e = &entries[i];
            let pixels = match result {
                Ok((pixels, stream_bytes, line)) => {
                    summary.done += 1;
                    summary.pixels += pixels;
                    summary.stream_bytes += stream_bytes;
                    summary.stream_pixels += e.full_pixels;
                    lines[i] = Some(line);
                    pixels
                }
                Err(err) => {
                    summary.failed += 1;
                    progress.message(&format!("vc6: error: {}", crate::one_line(&err)));
                    0
                }
            };
            progress.advance(1, e.cost, pixels);
        }
    }
    progress.finish();
    summary.seconds = start.elapsed().as_secs_f64();
    if !args.quiet {
        for line in lines.into_iter().flatten() {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "{}", summary.decode_line())?;
    }
    if args.verbose {
        writeln!(
            out,
            "backend: {} ({})",
            decoder.backend_name(),
            decoder.device()
        )?;
    }
    match summary.failed {
        0 => Ok(()),
        _ => Err(Reported.into()),
    }
}

/// Reads the chunk's files (side by side), decodes them in one batch and writes the
/// outputs (side by side); per entry: the output's pixels, the stream's bytes and the
/// line to print, or the failure.
fn decode_chunk(
    decoder: &Decoder,
    region: FrameRegion,
    entries: &[Entry],
    chunk: &[usize],
) -> Vec<Result<(u64, u64, String)>> {
    let data: Vec<Result<Vec<u8>>> = chunk
        .par_iter()
        .map(|&i| {
            let path = &entries[i].input;
            fs::read(path).with_context(|| format!("reading {}", path.display()))
        })
        .collect();
    let items: Vec<(&[u8], FrameRegion)> = data
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .map(|d| (&d[..], region))
        .collect();
    let mut frames = decoder.decode_batch(&items).into_iter();
    // Each read entry with its frame, or its failure, in chunk order.
    let decoded: Vec<(usize, &[u8], Result<Frame>)> = chunk
        .iter()
        .zip(&data)
        .map(|(&i, d)| match d {
            Ok(d) => {
                let frame = frames.next().expect("a result per stream");
                let frame = frame.map_err(|e| {
                    crate::explain_decode_failure(decoder, &entries[i].input, d, region.loq, e)
                });
                (i, &d[..], frame)
            }
            Err(e) => (i, &[][..], Err(anyhow!("{}", crate::one_line(e)))),
        })
        .collect();
    decoded
        .into_par_iter()
        .map(|(i, stream, frame)| {
            let e = &entries[i];
            let frame = frame?;
            crate::imageio::write_image(&e.output, &frame)?;
            let what = match region.width {
                0 => format!("LoQ {}", region.loq),
                _ => format!(
                    "LoQ {}, region {},{},{},{}",
                    region.loq, region.x, region.y, region.width, region.height
                ),
            };
            let line = format!(
                "{} -> {}: {}x{} {} ({what})",
                e.input.display(),
                e.output.display(),
                frame.width,
                frame.height,
                frame.format,
            );
            let pixels = u64::from(frame.width) * u64::from(frame.height);
            Ok((pixels, stream.len() as u64, line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cost: u64, failed: bool) -> Entry {
        Entry {
            input: PathBuf::new(),
            output: PathBuf::new(),
            cost,
            pixels: 0,
            full_pixels: 0,
            error: failed.then(|| anyhow!("unreadable")),
        }
    }

    #[test]
    fn chunks_stay_under_the_bound_and_skip_failures() {
        let entries = [
            entry(40, false),
            entry(50, false),
            entry(10, true),
            entry(20, false),
            entry(250, false),
            entry(5, false),
        ];
        assert_eq!(
            chunks(&entries, 100),
            [vec![0, 1], vec![3], vec![4], vec![5]]
        );
        assert_eq!(chunks(&entries, 1000), [vec![0, 1, 3, 4, 5]]);
    }
}
