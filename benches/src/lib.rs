//! Shared helpers for the vc6 benchmarks: loading the measurement corpus, and (in
//! [`quality`] and [`lossy`]) the picture quality measures and helpers of the lossy
//! comparison.
//!
//! The corpus lives outside the repository, in `shared/corpus/` beside the workspace
//! (see its README). `cargo xtask bench` runs the `report` binary and the criterion
//! benches on it; `cargo xtask bench --lossy` runs the `lossy` binary.

pub mod lossy;
pub mod quality;

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
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .with_context(|| format!("{}: not a readable PNG", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("{}: cannot decode PNG", path.display()))?;
    buf.truncate(info.buffer_size());
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
    fn missing_corpus_is_a_clear_error() {
        let err = load_rgb8_dir(Path::new("/nonexistent/corpus")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
