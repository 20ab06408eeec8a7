//! Helpers for the lossy comparisons (`lossy` and `report` binaries, the whole-process
//! comparison): hitting a target size by bisecting a codec's quality parameter, JPEG
//! through jpeg-encoder and zune-jpeg, PPM files for the command-line tools, and finding
//! those tools on `PATH`.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};

/// A stream found by a bisection: the parameter that made it, and its bytes.
#[derive(Debug, Clone)]
pub struct Fit<P> {
    /// The codec parameter (quality, step size, ...).
    pub param: P,
    /// The encoded stream.
    pub bytes: Vec<u8>,
}

/// Target size in bytes of a `pixels`-pixel picture at `bpp` bits per pixel.
pub fn target_bytes(pixels: u64, bpp: f64) -> f64 {
    pixels as f64 * bpp / 8.0
}

/// The integer parameter in `lo..=hi` whose stream size is closest to `target` bytes,
/// for an encoder whose size grows with the parameter (JPEG quality). Binary search for
/// the largest parameter whose stream is not larger than the target, then the closer of
/// it and the next one up: about `log2(hi - lo + 1) + 1` encodes. When sizes are not
/// monotonic the search still ends on two neighbouring parameters that bracket the target
/// (or on an end of the range).
pub fn bisect_int(
    lo: i32,
    hi: i32,
    target: f64,
    mut encode: impl FnMut(i32) -> Result<Vec<u8>>,
) -> Result<Fit<i32>> {
    ensure!(lo <= hi, "bisect_int: empty range {lo}..={hi}");
    let mut tried: Vec<Fit<i32>> = Vec::new();
    let mut eval = |q: i32, tried: &mut Vec<Fit<i32>>| -> Result<usize> {
        if let Some(f) = tried.iter().find(|f| f.param == q) {
            return Ok(f.bytes.len());
        }
        let bytes = encode(q)?;
        let n = bytes.len();
        tried.push(Fit { param: q, bytes });
        Ok(n)
    };
    // Invariant: size(a) <= target < size(b), with a = lo - 1 and b = hi + 1 as sentinels.
    let (mut a, mut b) = (lo - 1, hi + 1);
    while b - a > 1 {
        let m = a + (b - a) / 2;
        if eval(m, &mut tried)? as f64 <= target {
            a = m;
        } else {
            b = m;
        }
    }
    for q in [a, b] {
        if (lo..=hi).contains(&q) {
            eval(q, &mut tried)?;
        }
    }
    Ok(closest(tried, target))
}

/// The parameter in `[lo, hi]` whose stream size is closest to `target` bytes, for an
/// encoder whose size grows with the parameter, after `steps` bisection steps (each one
/// encode) plus the two ends. Every stream made is a candidate; the closest one wins.
pub fn bisect_f64(
    lo: f64,
    hi: f64,
    steps: u32,
    target: f64,
    mut encode: impl FnMut(f64) -> Result<Vec<u8>>,
) -> Result<Fit<f64>> {
    ensure!(lo < hi, "bisect_f64: empty range [{lo}, {hi}]");
    let mut tried = Vec::new();
    let small = encode(lo)?;
    let large = encode(hi)?;
    let (small_len, large_len) = (small.len() as f64, large.len() as f64);
    tried.push(Fit {
        param: lo,
        bytes: small,
    });
    tried.push(Fit {
        param: hi,
        bytes: large,
    });
    if target > small_len && target < large_len {
        let (mut a, mut b) = (lo, hi);
        for _ in 0..steps {
            let m = 0.5 * (a + b);
            let bytes = encode(m)?;
            if bytes.len() as f64 <= target {
                a = m;
            } else {
                b = m;
            }
            tried.push(Fit { param: m, bytes });
        }
    }
    Ok(closest(tried, target))
}

fn closest<P>(tried: Vec<Fit<P>>, target: f64) -> Fit<P> {
    tried
        .into_iter()
        .min_by(|x, y| {
            let dx = (x.bytes.len() as f64 - target).abs();
            let dy = (y.bytes.len() as f64 - target).abs();
            dx.total_cmp(&dy)
        })
        .expect("at least one stream was made")
}

/// The jpeg-encoder version in Cargo.lock, printed with the tables (the `lossy` binary's
/// tests check it).
pub const JPEG_ENCODER_VERSION: &str = "0.7.1";
/// The zune-jpeg version in Cargo.lock, printed with the tables.
pub const ZUNE_JPEG_VERSION: &str = "0.5.15";

/// JPEG-encodes RGB8 pixels with jpeg-encoder at `quality`: 4:4:4, or 4:2:0 with
/// box-averaged chroma when `subsample_420`; `optimised`: Huffman tables fitted to the
/// picture (the crate then writes one scan per component, non-interleaved), else the
/// standard tables (one interleaved scan). The quantised coefficients are the same
/// either way.
pub fn jpeg_encode_rgb8(
    rgb: &[u8],
    width: usize,
    height: usize,
    quality: u8,
    subsample_420: bool,
    optimised: bool,
) -> Result<Vec<u8>> {
    use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, quality);
    enc.set_sampling_factor(if subsample_420 {
        SamplingFactor::R_4_2_0
    } else {
        SamplingFactor::R_4_4_4
    });
    // The crate's default takes the top-left chroma sample of each 2x2 block; libjpeg
    // averages the block, which is what any real JPEG encoder does.
    enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    enc.set_optimized_huffman_tables(optimised);
    let w = u16::try_from(width).context("JPEG: width over 65535")?;
    let h = u16::try_from(height).context("JPEG: height over 65535")?;
    enc.encode(rgb, w, h, ColorType::Rgb)?;
    Ok(out)
}

/// Decodes a JPEG to RGB8 with zune-jpeg (single-threaded).
pub fn zune_decode_rgb8(stream: &[u8]) -> Result<Vec<u8>> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(stream), opts);
    Ok(dec.decode()?)
}

/// Writes an RGB8 picture as a binary PPM (P6, maxval 255).
pub fn write_ppm(path: &Path, rgb: &[u8], w: usize, h: usize) -> Result<()> {
    ensure!(
        rgb.len() == w * h * 3,
        "write_ppm: picture is not w*h*3 bytes"
    );
    let mut data = format!("P6\n{w} {h}\n255\n").into_bytes();
    data.extend_from_slice(rgb);
    std::fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))
}

/// Parses a binary PPM (P6, maxval 255): width, height and the RGB8 samples. Comments
/// (`#` to the end of the line) in the header are skipped.
pub fn parse_ppm(data: &[u8]) -> Result<(usize, usize, Vec<u8>)> {
    let (w, h, channels, bits, samples) = crate::parse_pnm(data)?;
    ensure!(
        channels == 3 && bits == 8,
        "not an 8-bit binary PPM ({channels} channels of {bits} bits)"
    );
    Ok((w as usize, h as usize, samples))
}

/// Reads a binary PPM file (see [`parse_ppm`]).
pub fn read_ppm(path: &Path) -> Result<(usize, usize, Vec<u8>)> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_ppm(&data).with_context(|| format!("{}", path.display()))
}

/// The full path of program `name` when it is an executable file in a `PATH` folder.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// A fresh, empty temporary folder (removed on drop).
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/vc6-lossy-<pid>-<tag>`, emptied first.
    pub fn new(tag: &str) -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!("vc6-lossy-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
        Ok(TempDir(p))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake encoder: the size grows with the parameter.
    fn fake(q: i32) -> Result<Vec<u8>> {
        Ok(vec![0; (q * q) as usize])
    }

    #[test]
    fn bisect_int_finds_the_closest_size() {
        // sizes q^2: target 50 lies between 49 (q=7) and 64 (q=8): 7 is closer.
        let f = bisect_int(1, 100, 50.0, fake).unwrap();
        assert_eq!((f.param, f.bytes.len()), (7, 49));
        // target 60: 64 (q=8) is closer than 49.
        assert_eq!(bisect_int(1, 100, 60.0, fake).unwrap().param, 8);
        // outside the range: the ends.
        assert_eq!(bisect_int(1, 100, 0.0, fake).unwrap().param, 1);
        assert_eq!(bisect_int(1, 100, 1e9, fake).unwrap().param, 100);
        // few encodes: log2(100) + 1 at most 9 distinct.
        let mut n = 0;
        bisect_int(1, 100, 2000.0, |q| {
            n += 1;
            fake(q)
        })
        .unwrap();
        assert!(n <= 9, "{n} encodes");
    }

    #[test]
    fn bisect_f64_converges() {
        let enc = |p: f64| Ok(vec![0u8; (p * 1000.0) as usize]);
        let f = bisect_f64(0.0, 10.0, 20, 4_321.0, enc).unwrap();
        assert!(
            (f.bytes.len() as f64 - 4_321.0).abs() <= 1.0,
            "{}",
            f.bytes.len()
        );
        assert!((f.param - 4.321).abs() < 0.01);
        assert_eq!(bisect_f64(1.0, 2.0, 5, 1e9, enc).unwrap().param, 2.0);
    }

    #[test]
    fn ppm_round_trip_and_comments() {
        let dir = TempDir::new("ppm-test").unwrap();
        let p = dir.path().join("a.ppm");
        let rgb: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 7) as u8).collect();
        write_ppm(&p, &rgb, 5, 3).unwrap();
        assert_eq!(read_ppm(&p).unwrap(), (5, 3, rgb.clone()));
        let mut with_comment = b"P6 # a comment\n5 3\n# another\n255\n".to_vec();
        with_comment.extend_from_slice(&rgb);
        assert_eq!(parse_ppm(&with_comment).unwrap(), (5, 3, rgb));
        assert!(parse_ppm(b"P5\n1 1\n255\n\0").is_err());
        assert!(parse_ppm(b"P6\n2 2\n255\n\0\0").is_err());
    }

    #[test]
    fn finds_sh_on_path() {
        if cfg!(unix) {
            assert!(find_on_path("sh").is_some());
        }
        assert!(find_on_path("surely-not-a-program-vc6").is_none());
    }
}
