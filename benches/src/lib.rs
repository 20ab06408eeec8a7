//! Shared helpers for the vc6 benchmarks: loading the measurement corpus (RGB8, and every
//! folder in its own layout: grey, RGBA, 16-bit), and (in [`quality`] and [`lossy`]) the
//! picture quality measures and helpers of the lossy comparison, (in [`timing`])
//! interleaved best-of-N timing, (in [`process`]) the whole-process comparison of the
//! command-line decoders, and the targets table ([`Target`]).
//!
//! The corpus lives outside the repository, in `shared/corpus/` beside the workspace
//! (see its README). `cargo xtask bench` runs the `report` binary and the criterion
//! benches on it; `cargo xtask bench --lossy` runs the `lossy` binary, `cargo xtask bench
//! --process` the `process` binary.

pub mod lossy;
pub mod process;
pub mod quality;
pub mod timing;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One picture of the corpus, as RGB8.
#[derive(Debug, Clone)]
pub struct CorpusImage {
    /// File name without the folder.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved RGB8 samples, row-major, `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

impl CorpusImage {
    /// Number of pixels.
    pub fn pixel_count(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
}

/// The default RGB8 corpus folder: `../shared/corpus/rgb8` relative to the workspace
/// root, unless the environment variable `VC6_CORPUS` names another one.
pub fn default_corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VC6_CORPUS") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("corpus")
        .join("rgb8")
}

/// Every `*.png` in `dir` (sorted by name), decoded to RGB8: alpha is dropped, grey is
/// expanded to RGB, palettes are expanded, 16-bit samples are reduced to 8 bits.
pub fn load_rgb8_dir(dir: &Path) -> Result<Vec<CorpusImage>> {
    load_rgb8_dir_filtered(dir, |_| true)
}

/// Like [`load_rgb8_dir`], keeping only the files whose name passes `keep`.
pub fn load_rgb8_dir_filtered(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<CorpusImage>> {
    if !dir.is_dir() {
        bail!(
            "corpus folder {} does not exist; the measurement corpus is expected in \
             shared/corpus/rgb8 beside the workspace (pass --corpus DIR or set VC6_CORPUS)",
            dir.display()
        );
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read corpus folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no *.png files in corpus folder {}", dir.display());
    }
    paths.iter().map(|p| load_png_rgb8(p)).collect()
}

/// Decodes one PNG file to RGB8.
pub fn load_png_rgb8(path: &Path) -> Result<CorpusImage> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (info, buf) = decode_png(
        std::io::BufReader::new(file),
        path,
        png::Transformations::EXPAND | png::Transformations::STRIP_16,
    )?;
    if info.bit_depth != png::BitDepth::Eight {
        bail!(
            "{}: unexpected bit depth {:?} after expansion",
            path.display(),
            info.bit_depth
        );
    }
    let pixels = to_rgb8(&buf, info.color_type)
        .with_context(|| format!("{}: unsupported colour type", path.display()))?;
    Ok(CorpusImage {
        name,
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// Decodes the PNG `data` (read from `path`, for messages) with `transformations`: its
/// frame's description and samples.
fn decode_png(
    data: impl std::io::Read,
    path: &Path,
    transformations: png::Transformations,
) -> Result<(png::OutputInfo, Vec<u8>)> {
    let mut dec = png::Decoder::new(data);
    dec.set_transformations(transformations);
    let mut reader = dec
        .read_info()
        .with_context(|| format!("{}: not a readable PNG", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("{}: cannot decode PNG", path.display()))?;
    buf.truncate(info.buffer_size());
    Ok((info, buf))
}

fn to_rgb8(buf: &[u8], colour: png::ColorType) -> Result<Vec<u8>> {
    Ok(match colour {
        png::ColorType::Rgb => buf.to_vec(),
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => bail!("palette was not expanded"),
    })
}

/// PNG-encodes RGB8 pixels with the png crate's default compression.
pub fn png_encode_rgb8(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(pixels)?;
        w.finish()?;
    }
    Ok(out)
}

/// Decodes a PNG held in memory (RGB8 as written by [`png_encode_rgb8`]).
pub fn png_decode(data: &[u8]) -> Result<Vec<u8>> {
    let mut reader = png::Decoder::new(data).read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok(buf)
}

/// A picture in its file's own layout: as many channels as the file has, 8 or 16 bits.
#[derive(Debug, Clone)]
pub struct RawPicture {
    /// File name without the folder.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// Bits per sample: 8 or 16.
    pub bits: u8,
    /// Interleaved samples, row-major; 16-bit samples big-endian (as PNG and PPM store
    /// them).
    pub samples: Vec<u8>,
    /// Size of the file it was read from, in bytes.
    pub file_bytes: u64,
}

impl RawPicture {
    /// Number of pixels.
    pub fn pixel_count(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// The samples with 16-bit ones little-endian (what `vc6::PixelFormat`'s 16-bit
    /// formats take); 8-bit samples unchanged.
    pub fn samples_le(&self) -> Vec<u8> {
        if self.bits == 16 {
            self.samples
                .chunks_exact(2)
                .flat_map(|s| [s[1], s[0]])
                .collect()
        } else {
            self.samples.clone()
        }
    }

    /// The vc6 pixel format of this layout (grey + alpha has none).
    pub fn vc6_format(&self) -> Result<vc6::PixelFormat> {
        use vc6::PixelFormat as F;
        Ok(match (self.channels, self.bits) {
            (1, 8) => F::Gray8,
            (3, 8) => F::Rgb8,
            (4, 8) => F::Rgba8,
            (1, 16) => F::Gray16,
            (3, 16) => F::Rgb16,
            (4, 16) => F::Rgba16,
            (c, b) => bail!(
                "{}: {c} channels of {b} bits have no vc6 pixel format",
                self.name
            ),
        })
    }

    /// A short description: `gray8`, `rgb16`, ...
    pub fn layout(&self) -> String {
        let c = match self.channels {
            1 => "gray",
            2 => "grayalpha",
            3 => "rgb",
            _ => "rgba",
        };
        format!("{c}{}", self.bits)
    }
}

/// The files in `dir` whose extension is one of `exts` (case-insensitive), sorted by name.
pub fn list_pictures(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads a PNG (palettes and grey below 8 bits expanded, 16 bits kept) or a binary
/// PGM/PPM (`P5`/`P6`, maxval 255 or 65535), by extension.
pub fn load_picture(path: &Path) -> Result<RawPicture> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let (width, height, channels, bits, samples) = if is_png {
        let (info, buf) = decode_png(data.as_slice(), path, png::Transformations::EXPAND)?;
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => bail!("{}: palette was not expanded", path.display()),
        };
        let bits = match info.bit_depth {
            png::BitDepth::Eight => 8,
            png::BitDepth::Sixteen => 16,
            d => bail!("{}: bit depth {d:?} after expansion", path.display()),
        };
        (info.width, info.height, channels, bits, buf)
    } else {
        parse_pnm(&data).with_context(|| format!("{}", path.display()))?
    };
    Ok(RawPicture {
        name,
        width,
        height,
        channels,
        bits,
        samples,
        file_bytes: data.len() as u64,
    })
}

/// Parses a binary PGM or PPM (`P5`, `P6`; maxval 255 or 65535, 16-bit samples
/// big-endian): width, height, channels, bits, samples.
pub(crate) fn parse_pnm(data: &[u8]) -> Result<(u32, u32, usize, u8, Vec<u8>)> {
    let mut pos = 0;
    let mut token = || -> Result<String> {
        loop {
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if pos < data.len() && data[pos] == b'#' {
                while pos < data.len() && data[pos] != b'\n' {
                    pos += 1;
                }
                continue;
            }
            break;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            bail!("PNM header ends early");
        }
        Ok(String::from_utf8_lossy(&data[start..pos]).into_owned())
    };
    let channels = match token()?.as_str() {
        "P5" => 1,
        "P6" => 3,
        m => bail!("not a binary PGM/PPM (magic {m:?})"),
    };
    let w: u32 = token()?.parse().context("PNM width")?;
    let h: u32 = token()?.parse().context("PNM height")?;
    let bits = match token()?.as_str() {
        "255" => 8,
        "65535" => 16,
        m => bail!("PNM maxval {m}: only 255 and 65535 are read"),
    };
    let start = pos + 1;
    let len = w as usize * h as usize * channels * usize::from(bits / 8);
    if data.len() < start + len {
        bail!(
            "PNM of {w}x{h} holds {} sample bytes, expected {len}",
            data.len().saturating_sub(start)
        );
    }
    Ok((w, h, channels, bits, data[start..start + len].to_vec()))
}

/// PNG-encodes samples in [`RawPicture`]'s layout (16-bit big-endian) with the png
/// crate's default compression.
pub fn png_encode(
    samples: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    bits: u8,
) -> Result<Vec<u8>> {
    let colour = match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        c => bail!("png_encode: {c} channels"),
    };
    let depth = match bits {
        8 => png::BitDepth::Eight,
        16 => png::BitDepth::Sixteen,
        b => bail!("png_encode: {b} bits"),
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(colour);
        enc.set_depth(depth);
        let mut w = enc.write_header()?;
        w.write_image_data(samples)?;
        w.finish()?;
    }
    Ok(out)
}

/// The commit of the workspace this was built from (`git rev-parse HEAD`), with the
/// tracked files that differ from it, for the report's header; "unknown" without git.
pub fn git_state() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    };
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return "unknown (no git)".into();
    };
    let dirty: Vec<String> = git(&["status", "--porcelain", "--untracked-files=no"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.get(3..).map(str::to_string))
        .collect();
    if dirty.is_empty() {
        head
    } else {
        let shown: Vec<&str> = dirty.iter().take(6).map(String::as_str).collect();
        format!(
            "{head} + uncommitted changes to {}{}",
            shown.join(", "),
            if dirty.len() > shown.len() {
                format!(" and {} more", dirty.len() - shown.len())
            } else {
                String::new()
            }
        )
    }
}

/// One line of a targets table: what is aimed at, what was measured, and whether it is
/// met (`None`: not measured here, the measured column says why).
#[derive(Debug, Clone)]
pub struct Target {
    /// The target, in words.
    pub target: String,
    /// What this run measured.
    pub measured: String,
    /// Met, not met, or not measured.
    pub met: Option<bool>,
}

impl Target {
    /// A target decided by `met`.
    pub fn new(target: impl Into<String>, measured: impl Into<String>, met: bool) -> Target {
        Target {
            target: target.into(),
            measured: measured.into(),
            met: Some(met),
        }
    }

    /// A figure shown beside the targets, not itself a target.
    pub fn info(what: impl Into<String>, measured: impl Into<String>) -> Target {
        Target {
            target: format!("(info) {}", what.into()),
            measured: measured.into(),
            met: None,
        }
    }

    /// A target that was not measured, and why.
    pub fn skipped(target: impl Into<String>, why: impl Into<String>) -> Target {
        Target {
            target: target.into(),
            measured: why.into(),
            met: None,
        }
    }
}

/// Prints a targets table (markdown) with a count of those met.
pub fn print_targets(targets: &[Target]) {
    println!("| target | measured | status |");
    println!("|---|---|---|");
    let info = |t: &Target| t.target.starts_with("(info)");
    for t in targets {
        let status = match t.met {
            _ if info(t) => "",
            Some(true) => "**met**",
            Some(false) => "not met",
            None => "not measured",
        };
        println!("| {} | {} | {status} |", t.target, t.measured);
    }
    let met = targets.iter().filter(|t| t.met == Some(true)).count();
    let measured = targets.iter().filter(|t| t.met.is_some()).count();
    let unmeasured = targets
        .iter()
        .filter(|t| t.met.is_none() && !info(t))
        .count();
    println!("\n{met} of {measured} measured targets met ({unmeasured} not measured).");
}

/// The CPU model from `/proc/cpuinfo` ("unknown CPU" elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Hardware threads of this machine.
pub fn hardware_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Today's date (UTC) as YYYY-MM-DD, without a date crate.
pub fn today_utc() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_helpers_round_trip_and_convert() {
        let (w, h) = (7u32, 5u32);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let png = png_encode_rgb8(&pixels, w, h).unwrap();
        assert_eq!(png_decode(&png).unwrap(), pixels);
        assert_eq!(
            to_rgb8(&[1, 2, 3, 4], png::ColorType::Rgba).unwrap(),
            [1, 2, 3]
        );
        assert_eq!(
            to_rgb8(&[9, 200], png::ColorType::GrayscaleAlpha).unwrap(),
            [9, 9, 9]
        );
    }

    #[test]
    fn pnm_and_png_in_their_own_layout() {
        // A 2x1 16-bit PPM: samples big-endian.
        let mut ppm = b"P6\n# comment\n2 1\n65535\n".to_vec();
        let be: Vec<u8> = (1..=12).collect();
        ppm.extend_from_slice(&be);
        let (w, h, c, b, samples) = parse_pnm(&ppm).unwrap();
        assert_eq!((w, h, c, b), (2, 1, 3, 16));
        assert_eq!(samples, be);
        let pic = RawPicture {
            name: "t.ppm".into(),
            width: w,
            height: h,
            channels: c,
            bits: b,
            samples,
            file_bytes: ppm.len() as u64,
        };
        assert_eq!(&pic.samples_le()[..4], &[2, 1, 4, 3]);
        assert_eq!(pic.vc6_format().unwrap(), vc6::PixelFormat::Rgb16);
        assert_eq!(pic.layout(), "rgb16");
        // png at 16 bits keeps the big-endian samples.
        let png = png_encode(&pic.samples, 2, 1, 3, 16).unwrap();
        assert_eq!(png_decode(&png).unwrap(), pic.samples);
        // Grey PGM, 8 bits.
        let (_, _, c, b, s) = parse_pnm(b"P5 1 2 255\n\x07\x09").unwrap();
        assert_eq!((c, b, s), (1, 8, vec![7, 9]));
        assert!(parse_pnm(b"P6 1 1 1023\n\0\0\0\0\0\0").is_err());
        assert!(parse_pnm(b"P6 2 2 255\n\0").is_err());
    }

    #[test]
    fn missing_corpus_is_a_clear_error() {
        let err = load_rgb8_dir(Path::new("/nonexistent/corpus")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
