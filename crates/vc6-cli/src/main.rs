//! `vc6`: encode images to vc6-rs streams, decode them (whole, at a lower level of quality
//! or a region of one) and inspect them.
//!
//! Every failure ends in one line on stderr, `vc6: error: ...`, and exit status 1
//! (2 for usage errors; a bad option value is one line too). Work on many files (`encode
//! -r`, `decode` into a folder) reports each failed file on its own line and goes on;
//! the status is 1 at the end if any failed.
//!
//! Cargo features: `opencl` and `cuda` (default) compile in the OpenCL and CUDA backends
//! (`--backend opencl|cuda`; drivers are loaded at run time, so the binary still runs
//! where neither is installed; the CUDA backend's device decode has never run on a GPU
//! and is off unless VC6_CUDA_UNTESTED=1). `vc6 info --backends` says which backends this
//! build has and where each can run.

mod batch;
mod imageio;
mod info;
mod progress;
mod tree;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use vc6::{
    Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat, Preset,
    Upsampler,
};

/// Encode, decode and inspect vc6-rs hierarchical images.
#[derive(Debug, Parser)]
#[command(name = "vc6", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode images (PNG, JPEG, TIFF, PPM/PGM/PAM or raw samples) to .vc6 streams.
    Encode(EncodeArgs),
    /// Decode a .vc6 stream, whole, at a lower LoQ or a region, to an image or raw file.
    Decode(DecodeArgs),
    /// Show what a .vc6 stream holds (reads only its first bytes).
    Info(InfoArgs),
}

#[derive(Debug, Args)]
struct EncodeArgs {
    /// Input files; raw samples when the extension is .rgb/.raw/.yuv/.bin or --size is given.
    #[arg(required = true, value_name = "IN")]
    inputs: Vec<PathBuf>,
    /// Output file; with several inputs, a folder (created if missing) that gets IN's
    /// stem + ".vc6" for each input.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Exact reconstruction (the default); the same as --preset lossless.
    #[arg(long, conflicts_with_all = ["quality", "bpp", "preset"])]
    lossless: bool,
    /// Coding tools: lossless, light (lossy, faster decode) or better (lossy, best
    /// quality per bit) [default: lossless, or better with --quality/--bpp].
    #[arg(long, value_name = "NAME")]
    preset: Option<Preset>,
    /// Lossy coding at quality Q, 0 to 100 (fractions allowed: 62.5): lower is smaller; 100 still reconstructs
    /// exactly (lossy syntax, quantiser step 1) [default with a lossy preset: 80].
    #[arg(long, short = 'q', value_name = "Q", value_parser = parse_quality, conflicts_with = "bpp", allow_negative_numbers = true)]
    quality: Option<f32>,
    /// Lossy coding at B bits per pixel: several encoder passes until the file is within
    /// 1% of it.
    #[arg(long, value_name = "B", value_parser = parse_bpp, allow_negative_numbers = true)]
    bpp: Option<f64>,
    /// Number of echelons (levels of quality), the lowest included [default: chosen by size].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=17), allow_negative_numbers = true)]
    echelons: Option<u8>,
    /// Upsampler predicting each echelon from the one below: nearest, linear, cubic or modcubic.
    #[arg(long, value_name = "KIND")]
    upsampler: Option<Upsampler>,
    /// Fit the upsampler's four taps to each picture and store them in the stream.
    #[arg(long)]
    adaptive_upsampler: bool,
    /// Lossy: predict each block's average from the upsampled echelon below instead of
    /// taking the sample below (turns the predicted-average step off).
    #[arg(long)]
    no_predicted_average: bool,
    /// Lossy: code the alpha plane of RGBA/BGRA input exactly, the colour at the quality or
    /// rate (ignored for input without alpha).
    #[arg(long)]
    lossless_alpha: bool,
    /// Pixel format: of raw input (required there), or to convert image input to
    /// (gray/rgb/rgba/bgr/bgra at 8 or 16 bits), e.g. gray8, rgb8, rgba16, bgr8, yuv420p.
    #[arg(long, value_name = "FMT")]
    format: Option<PixelFormat>,
    /// Size of raw input, WxH (makes every input raw).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// Bits per sample actually used (e.g. 10 or 12 for 16-bit formats) [default: the format's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16), allow_negative_numbers = true)]
    bit_depth: Option<u8>,
    /// Worker threads (0 = every core), at most 1024.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_threads, allow_negative_numbers = true)]
    threads: usize,
    /// Write the stream even where OUT does not end in .vc6.
    #[arg(long)]
    force: bool,
    /// Backend: auto, cpu, opencl or cuda (encoding runs on the CPU with every backend today;
    /// see `vc6 info --backends`).
    #[arg(long, value_name = "NAME", default_value = "auto")]
    backend: Backend,
    /// IN is a folder: encode every image under it (PNG, JPEG, TIFF, PPM/PGM/PAM) to the
    /// same relative path under the folder OUT, the extension replaced by .vc6, files in
    /// parallel; outputs already complete are kept, so an interrupted run resumes.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// No progress line, no line per file and no summary.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The .vc6 streams (a prefix of one is enough for coarser LoQs).
    #[arg(required = true, value_name = "IN")]
    inputs: Vec<PathBuf>,
    /// Output file: .png, .ppm, .pgm, .pam, or .rgb/.raw/.yuv/.bin for the packed samples;
    /// with several inputs, a folder (created if missing) that gets IN's stem + "." + EXT
    /// for each input, decoded in batches.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// The output type where OUT is a folder: png, ppm, pgm, pam, rgb, raw, yuv or bin.
    #[arg(long, value_name = "EXT", default_value = "png")]
    ext: String,
    /// Level of quality: 0 = full size, each step halves the size (rounding up).
    #[arg(
        long,
        value_name = "K",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    loq: u8,
    /// Decode only this rectangle, X,Y,W,H in the LoQ's pixel grid.
    #[arg(long, value_name = "X,Y,W,H", value_parser = parse_region)]
    region: Option<[u32; 4]>,
    /// Output pixel format [default: the stream's own].
    #[arg(long, value_name = "FMT")]
    format: Option<PixelFormat>,
    /// Worker threads (0 = every core), at most 1024.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse_threads, allow_negative_numbers = true)]
    threads: usize,
    /// Backend that decodes: auto (a GPU when one is compiled in and present, for
    /// pictures of 4 MP and more; else the CPU), cpu, opencl (device chosen by
    /// OCL_DEVICE) or cuda (off unless VC6_CUDA_UNTESTED=1: never run on a GPU); every backend gives the same bytes. `vc6 info --backends` lists what
    /// runs here.
    #[arg(long, value_name = "NAME", default_value = "auto")]
    backend: Backend,
    /// Also print the backend and device that decoded.
    #[arg(short, long)]
    verbose: bool,
    /// No progress line, no line per file and no summary.
    #[arg(long)]
    quiet: bool,
}

impl DecodeArgs {
    /// The LoQ and region asked for (`--loq`, `--region`).
    fn frame_region(&self) -> FrameRegion {
        match self.region {
            Some([x, y, width, height]) => FrameRegion {
                loq: self.loq,
                x,
                y,
                width,
                height,
            },
            None => FrameRegion::full(self.loq),
        }
    }
}

#[derive(Debug, Args)]
struct InfoArgs {
    /// The .vc6 stream.
    #[arg(value_name = "IN", required_unless_present = "backends")]
    input: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// List every backend: whether this build has it, and the device it runs on here
    /// or why it cannot run (with --json, as a "backends" array).
    #[arg(long)]
    backends: bool,
}

/// Parses `WxH`.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let err = || format!("'{s}' is not a size WxH, e.g. 1920x1080");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(err)?;
    let w: u32 = w.trim().parse().map_err(|_| err())?;
    let h: u32 = h.trim().parse().map_err(|_| err())?;
    if w == 0 || h == 0 {
        return Err(format!("size {w}x{h} is empty"));
    }
    Ok((w, h))
}

/// Parses `X,Y,W,H`.
fn parse_region(s: &str) -> Result<[u32; 4], String> {
    let err = || format!("'{s}' is not a region X,Y,W,H, e.g. 0,0,256,256");
    let v: Vec<u32> = s
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| err())?;
    let [x, y, w, h] = v[..] else {
        return Err(err());
    };
    if w == 0 || h == 0 {
        return Err(format!(
            "region {x},{y},{w},{h} is empty (W and H must be at least 1)"
        ));
    }
    Ok([x, y, w, h])
}

/// The error and its causes on one line, joined by ": " (a cause whose text the previous
/// part already holds is left out).
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// A usage error found after parsing: one `vc6: error:` line, exit status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Failures already reported, one line each: exit status 1 without another line.
#[derive(Debug)]
struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("some files failed")
    }
}

impl std::error::Error for Reported {}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A panic (a bug) still ends in one line on stderr.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "vc6: error: internal error (a bug in vc6, please report it): panicked{at}: {}",
            msg.replace(['\n', '\r'], " ")
        );
    }));
}

/// Ends the process for a command-line error (exit status 2) on one `vc6: error: ...`
/// line, like every other error; help and version go out as clap prints them.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    // The first paragraph (a list of missing arguments continues it), on one line.
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let first = first.join(" ");
    let msg = first.strip_prefix("error: ").unwrap_or(&first);
    // A value our parsers refuse carries the library's own kind of error; the clap line
    // already says it is an invalid value.
    let msg = msg
        .replace(": invalid parameter: ", ": ")
        .replace(": unsupported: ", ": ");
    eprintln!("vc6: error: {msg} (see --help)");
    std::process::exit(2)
}

/// `--quality Q`: a number from 0 to 100, fractions allowed (62.5).
fn parse_quality(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(q) if (0.0..=100.0).contains(&q) => Ok(q),
        _ => Err(format!("{s}: a quality is a number from 0 to 100")),
    }
}

/// `--bpp B`: a positive, finite rate.
fn parse_bpp(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(b) if b.is_finite() && b > 0.0 => Ok(b),
        Ok(_) => Err(format!("{s}: bits per pixel must be positive")),
        Err(_) => Err(format!("{s:?} is not a number of bits per pixel")),
    }
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Encode(args) => encode(&args, &mut out),
        Command::Decode(args) => decode(&args, &mut out),
        Command::Info(args) => run_info(&args, &mut out),
    };
    let result = result.and_then(|()| out.flush().context("writing to stdout"));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::FAILURE,
        Err(e) if e.is::<Usage>() => {
            drop(out);
            eprintln!("vc6: error: {} (see --help)", one_line(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            drop(out);
            eprintln!("vc6: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run_info(args: &InfoArgs, out: &mut dyn Write) -> Result<()> {
    let backends = args.backends.then(vc6::Backend::status);
    match (&args.input, args.json) {
        (Some(input), json) => info::run(input, json, backends.as_deref(), out),
        (None, true) => info::backends_json(backends.as_deref().unwrap_or_default(), out),
        (None, false) => info::backends(backends.as_deref().unwrap_or_default(), out),
    }
}

/// Most worker threads the CLI takes: more only cost start-up (a thread each) and memory.
const MAX_THREADS: usize = 1024;

/// `--threads N`, 0 (every core) to [`MAX_THREADS`].
fn parse_threads(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a thread count (0 = every core)"))?;
    if n > MAX_THREADS {
        return Err(format!(
            "{n} threads: at most {MAX_THREADS} (0 = every core)"
        ));
    }
    Ok(n)
}

/// Refuses to write any of `outputs` over one of `inputs` (the write would destroy it).
/// Each path is resolved once, so a folder of many inputs costs one lookup per file.
fn outputs_spare_inputs(inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<()> {
    let inputs: HashSet<PathBuf> = inputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for output in outputs {
        if std::fs::canonicalize(output).is_ok_and(|o| inputs.contains(&o)) {
            bail!(
                "{}: this is the input; writing the output there would destroy it",
                output.display()
            );
        }
    }
    Ok(())
}

/// Refuses two inputs whose outputs (`outputs[i]` for `inputs[i]`) are the same file.
fn outputs_are_distinct(inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<()> {
    let mut seen = HashSet::new();
    for (input, output) in inputs.iter().zip(outputs) {
        if !seen.insert(output) {
            bail!(
                "two inputs would both be written to {} ({} is one of them)",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Whether `path` names a .vc6 file (the extension in any case).
fn is_vc6_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("vc6"))
}

/// `IN`'s file stem, for naming outputs.
fn stem(path: &Path) -> Result<&std::ffi::OsStr> {
    path.file_stem()
        .ok_or_else(|| anyhow!("{}: input has no file name", path.display()))
}

/// Whether `-o` names a folder: one that exists, or a name ending in a separator (`out/`,
/// made when missing).
fn names_folder(path: &Path) -> bool {
    path.is_dir()
        || path
            .to_str()
            .is_some_and(|s| s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR))
}

fn encode(args: &EncodeArgs, out: &mut dyn Write) -> Result<()> {
    if args.size.is_some() && args.format.is_none() {
        bail!("--size needs --format (the pixel format of the raw input)");
    }
    if args.recursive {
        return tree::encode_tree(args, &encoder_settings(args)?, out);
    }
    let multi = args.inputs.len() > 1;
    // `-o out/` names a folder, made when missing, even for one input.
    let folder = names_folder(&args.output);
    let outputs: Vec<PathBuf> = if multi || folder {
        if (args.output.exists() && !args.output.is_dir()) || (!folder && is_vc6_name(&args.output))
        {
            bail!(
                "{}: with several inputs -o must be a folder, and this names a file",
                args.output.display()
            );
        }
        std::fs::create_dir_all(&args.output)
            .with_context(|| format!("creating folder {}", args.output.display()))?;
        args.inputs
            .iter()
            .map(|i| {
                let mut name = stem(i)?.to_os_string();
                name.push(".vc6");
                Ok(args.output.join(name))
            })
            .collect::<Result<_>>()?
    } else {
        vec![args.output.clone()]
    };
    outputs_spare_inputs(&args.inputs, &outputs)?;
    // Names made in a folder end in .vc6; a name given is checked.
    if !(multi || folder || is_vc6_name(&args.output) || args.force) {
        bail!(
            "{}: an encoded stream goes to a .vc6 file (name it so, or give --force to \
             write it there anyway)",
            args.output.display()
        );
    }
    outputs_are_distinct(&args.inputs, &outputs)?;

    let settings = encoder_settings(args)?;
    let progress = (multi && !args.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(args.inputs.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} {elapsed} {wide_msg}",
        ) {
            pb.set_style(style);
        }
        pb
    });
    for (input, output) in args.inputs.iter().zip(&outputs) {
        if let Some(pb) = &progress {
            pb.set_message(input.display().to_string());
        }
        let line = match encode_one(args, &settings, input, output) {
            Ok(line) => line,
            Err(e) => {
                // Leave the terminal clean for the error line.
                if let Some(pb) = &progress {
                    pb.finish_and_clear();
                }
                return Err(e);
            }
        };
        match &progress {
            Some(pb) => {
                pb.suspend(|| writeln!(out, "{line}"))?;
                pb.inc(1);
            }
            None if args.quiet => {}
            None => writeln!(out, "{line}")?,
        }
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok(())
}

/// The encoder settings the options ask for.
fn encoder_settings(args: &EncodeArgs) -> Result<EncoderSettings> {
    let lossy_rate = args.quality.is_some() || args.bpp.is_some();
    let preset = args.preset.unwrap_or(if lossy_rate {
        Preset::Better
    } else {
        Preset::Lossless
    });
    if preset == Preset::Lossless && lossy_rate {
        bail!("--preset lossless takes no --quality or --bpp (use --preset light or better)");
    }
    let defaults = EncoderSettings::from_preset(preset);
    Ok(EncoderSettings {
        threads: args.threads,
        backend: args.backend,
        echelons: args.echelons,
        upsampler: args.upsampler.unwrap_or(defaults.upsampler),
        adaptive_upsampler: args.adaptive_upsampler,
        predicted_average: !args.no_predicted_average,
        lossless_alpha: args.lossless_alpha,
        bit_depth: args.bit_depth,
        quality: match args.bpp {
            Some(_) => None,
            None => args.quality.or(defaults.quality),
        },
        target_bpp: args.bpp,
        ..defaults
    })
}

/// Encodes one file to `output`; returns its summary line.
fn encode_one(
    args: &EncodeArgs,
    settings: &EncoderSettings,
    input: &Path,
    output: &Path,
) -> Result<String> {
    let e = encode_stream(args, settings, input)?;
    std::fs::write(output, &e.stream).with_context(|| format!("writing {}", output.display()))?;
    if let Some(warning) = &e.warning {
        eprintln!("vc6: warning: {warning}");
    }
    let pixels = u64::from(e.width) * u64::from(e.height);
    let bpp = e.stream.len() as f64 * 8.0 / pixels.max(1) as f64;
    Ok(format!(
        "{} -> {}: {}x{} {}, {} bytes, {bpp:.2} bpp, {:.1} ms",
        input.display(),
        output.display(),
        e.width,
        e.height,
        e.format,
        e.stream.len(),
        e.ms,
    ))
}

/// Reads and encodes one file (the options say how).
fn encode_stream(
    args: &EncodeArgs,
    settings: &EncoderSettings,
    input: &Path,
) -> Result<tree::Encoded> {
    let frame = if args.size.is_some() || imageio::is_raw_path(input) {
        let (Some((w, h)), Some(format)) = (args.size, args.format) else {
            bail!(
                "{}: raw input needs --size WxH and --format FMT",
                input.display()
            );
        };
        imageio::read_raw(input, format, w, h)?
    } else {
        let frame = imageio::read_image(input)?;
        match args.format {
            Some(target) => {
                imageio::convert(frame, target).with_context(|| input.display().to_string())?
            }
            None => frame,
        }
    };
    let mut settings = settings.clone();
    if settings.bit_depth.is_none() && frame.bit_depth < frame.format.container_bits() {
        // e.g. a PGM with maxval 1023: keep its 10 bits.
        settings.bit_depth = Some(frame.bit_depth);
    }
    let start = Instant::now();
    let stream = Encoder::new(frame.width, frame.height, frame.format, settings)
        .and_then(|enc| enc.encode(&frame.data))
        .with_context(|| format!("encoding {}", input.display()))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let pixels = u64::from(frame.width) * u64::from(frame.height);
    let bpp = stream.len() as f64 * 8.0 / pixels.max(1) as f64;
    // Rate control lands within 1% when it can; say so when the target was out of reach
    // (above what exact coding spends, or below the smallest stream).
    let warning = args
        .bpp
        .filter(|&t| (bpp / t - 1.0).abs() > 0.02)
        .map(|target| {
            let why = match bpp < target {
                true => "the exact stream is smaller",
                false => "no stream of this picture is smaller",
            };
            format!(
                "{}: --bpp {target} is out of reach ({why}): {bpp:.3} bpp",
                input.display()
            )
        });
    Ok(tree::Encoded {
        stream,
        width: frame.width,
        height: frame.height,
        format: frame.format,
        ms,
        warning,
    })
}

/// Output pixels from which `--backend auto` considers a GPU for one picture (4 MP): below,
/// the CPU is done before a GPU's context, kernels and transfers are.
const AUTO_GPU_PIXELS: u64 = 4 << 20;

/// The pixels of plane 0 at `loq` (0 when the header does not say).
fn output_pixels(data: &[u8], loq: u8) -> u64 {
    vc6::probe(data)
        .ok()
        .and_then(|i| {
            i.loqs
                .get(usize::from(loq))
                .map(|l| u64::from(l.width) * u64::from(l.height))
        })
        .unwrap_or(0)
}

/// The finest LoQ coarser than `loq` that decodes, after a corrupt decode at `loq`.
fn coarser_loq(decoder: &Decoder, data: &[u8], loq: u8) -> Option<u8> {
    let coarsest = vc6::probe(data).ok()?.loqs.len().checked_sub(1)?;
    (loq.saturating_add(1)..=u8::try_from(coarsest).ok()?).find(|&k| {
        let whole = FrameRegion {
            loq: k,
            ..FrameRegion::default()
        };
        decoder.decode_region(data, whole).is_ok()
    })
}

/// The image format `data` starts like, for the hint on a file given to `decode` that is
/// an image rather than a stream.
fn image_kind(data: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 6] = [
        (b"\xff\xd8\xff", "JPEG"),
        (b"\x89PNG", "PNG"),
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"P5", "PGM"),
        (b"P6", "PPM"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| data.starts_with(magic))
        .map(|&(_, kind)| kind)
}

/// Names a decoding failure; for a truncated stream also says which LoQs the file holds.
fn decode_error(path: &Path, data: &[u8], e: vc6::Error) -> anyhow::Error {
    let mut msg = format!("decoding {}: {e}", path.display());
    if matches!(e, vc6::Error::NotVc6(_)) {
        if let Some(kind) = image_kind(data) {
            msg.push_str(&format!(
                " (this is a {kind} file; did you mean `vc6 encode`?)"
            ));
        }
    }
    if matches!(e, vc6::Error::Truncated { .. }) {
        if let Ok(info) = vc6::probe(data) {
            let held = data.len() as u64;
            let finest = info
                .loqs
                .iter()
                .filter(|l| l.required_bytes <= held)
                .map(|l| l.loq)
                .min();
            match finest {
                Some(k) => msg.push_str(&format!(
                    " (the file holds {held} of {} bytes: LoQ {k} and coarser can be decoded, e.g. --loq {k})",
                    info.total_bytes
                )),
                None => msg.push_str(&format!(
                    " (the file holds {held} of {} bytes, too few for any LoQ)",
                    info.total_bytes
                )),
            }
        }
    }
    anyhow!(msg)
}

/// A decoding failure of `path` explained: what the stream holds, and where a corrupt
/// section spoils only its LoQ and the finer ones, the finest LoQ that still decodes.
fn explain_decode_failure(
    decoder: &Decoder,
    path: &Path,
    data: &[u8],
    loq: u8,
    e: vc6::Error,
) -> anyhow::Error {
    let coarser = match e {
        vc6::Error::Format(_) => coarser_loq(decoder, data, loq),
        _ => None,
    };
    let err = decode_error(path, data, e);
    match coarser {
        Some(k) => anyhow!("{err} (LoQ {k} and coarser decode: try --loq {k})"),
        None => err,
    }
}

fn decode(args: &DecodeArgs, out: &mut dyn Write) -> Result<()> {
    let input = match &args.inputs[..] {
        [input] if !names_folder(&args.output) => input,
        _ => return batch::decode_many(args, out),
    };
    imageio::check_output_path(&args.output)?;
    outputs_spare_inputs(
        std::slice::from_ref(input),
        std::slice::from_ref(&args.output),
    )?;
    let data = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    // One picture below AUTO_GPU_PIXELS decodes on the CPU before a GPU would be ready, so
    // `auto` does not even look for one (looking alone costs 25 ms with PoCL installed).
    let backend = match args.backend {
        Backend::Auto if output_pixels(&data, args.loq) < AUTO_GPU_PIXELS => Backend::Cpu,
        b => b,
    };
    let settings = DecoderSettings {
        format: args.format,
        threads: args.threads,
        backend,
        ..DecoderSettings::default()
    };
    let decoder = Decoder::new(settings).context("starting the decoder")?;
    let region = args.frame_region();
    let start = Instant::now();
    let frame = decoder
        .decode_region(&data, region)
        .map_err(|e| explain_decode_failure(&decoder, input, &data, args.loq, e))?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    imageio::write_image(&args.output, &frame)?;
    let what = match args.region {
        Some([x, y, w, h]) => format!("LoQ {}, region {x},{y},{w},{h}", args.loq),
        None => format!("LoQ {}", args.loq),
    };
    if !args.quiet {
        writeln!(
            out,
            "{} -> {}: {}x{} {} ({what}), {ms:.1} ms",
            input.display(),
            args.output.display(),
            frame.width,
            frame.height,
            frame.format,
        )?;
    }
    if args.verbose {
        writeln!(
            out,
            "backend: {} ({})",
            decoder.backend_name(),
            decoder.device()
        )?;
    }
    Ok(())
}
