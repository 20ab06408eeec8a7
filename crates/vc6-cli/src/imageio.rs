//! Reading and writing image files as packed frames.
//!
//! Inputs: PNG, JPEG, TIFF (through the `image` crate), binary netpbm (P5/P6/P7, 1-16 bits,
//! read here so that any maxval keeps its samples) and raw packed bytes. Outputs: PNG,
//! PPM/PGM/PAM and raw bytes. Frames hold 16-bit samples as little-endian words.

use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::io::Write;
use std::path::Path;
use vc6::{Frame, PixelFormat};

/// Extensions whose files hold raw packed samples.
pub const RAW_EXTENSIONS: &[&str] = &["rgb", "raw", "yuv", "bin"];

/// Lower-cased extension of `path` ("" when there is none).
pub fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

/// True when `path` names a raw sample file by its extension.
pub fn is_raw_path(path: &Path) -> bool {
    RAW_EXTENSIONS.contains(&extension(path).as_str())
}

/// Bits needed to hold `maxval`.
fn bits_for(maxval: u32) -> u8 {
    (32 - maxval.leading_zeros()).max(1) as u8
}

/// Reads a raw file of packed `format` samples of `width` x `height`.
pub fn read_raw(path: &Path, format: PixelFormat, width: u32, height: u32) -> Result<Frame> {
    let expected = format
        .frame_len(width, height)
        .with_context(|| format!("{width}x{height} {format}"))?;
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if data.len() != expected {
        bail!(
            "{}: file is {} bytes but a {width}x{height} {format} frame is {expected} bytes \
             (check --size and --format)",
            path.display(),
            data.len()
        );
    }
    Ok(Frame {
        width,
        height,
        format,
        bit_depth: format.container_bits(),
        data,
    })
}

/// Reads an image file (PNG, JPEG, TIFF, netpbm) into a packed frame.
///
/// The frame's `bit_depth` is the depth the file declares (netpbm maxval), which may be
/// below the container's.
pub fn read_image(path: &Path) -> Result<Frame> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() >= 2 && matches!(&bytes[..2], b"P5" | b"P6" | b"P7") {
        return read_netpbm(&bytes).with_context(|| format!("{}: bad netpbm file", path.display()));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .with_context(|| format!("reading {}", path.display()))?;
    if reader.format().is_none() {
        bail!(
            "{}: not a PNG, JPEG, TIFF or netpbm image (for raw samples give --size and --format)",
            path.display()
        );
    }
    let img = reader
        .decode()
        .with_context(|| format!("{}: cannot decode image", path.display()))?;
    from_dynamic(img).with_context(|| path.display().to_string())
}

fn from_dynamic(img: image::DynamicImage) -> Result<Frame> {
    use image::ColorType as C;
    let (width, height) = (img.width(), img.height());
    let words = |v: Vec<u16>| -> Vec<u8> { v.iter().flat_map(|s| s.to_le_bytes()).collect() };
    let (format, data) = match img.color() {
        C::L8 => (PixelFormat::Gray8, img.into_luma8().into_raw()),
        C::Rgb8 => (PixelFormat::Rgb8, img.into_rgb8().into_raw()),
        C::Rgba8 | C::La8 => (PixelFormat::Rgba8, img.into_rgba8().into_raw()),
        C::L16 => (PixelFormat::Gray16, words(img.into_luma16().into_raw())),
        C::Rgb16 => (PixelFormat::Rgb16, words(img.into_rgb16().into_raw())),
        C::Rgba16 | C::La16 => (PixelFormat::Rgba16, words(img.into_rgba16().into_raw())),
        other => bail!("{other:?} images are not supported (only 8- and 16-bit integer samples)"),
    };
    Ok(Frame {
        width,
        height,
        format,
        bit_depth: format.container_bits(),
        data,
    })
}

/// Parses a binary netpbm file (P5, P6 or P7).
fn read_netpbm(bytes: &[u8]) -> Result<Frame> {
    let mut pos = 2;
    let (width, height, depth, maxval) = if &bytes[..2] == b"P7" {
        let (mut w, mut h, mut d, mut m) = (None, None, None, None);
        loop {
            let line_end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| anyhow!("PAM header has no ENDHDR"))?;
            let line = std::str::from_utf8(&bytes[pos..pos + line_end])
                .map_err(|_| anyhow!("PAM header is not text"))?
                .trim();
            pos += line_end + 1;
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or("");
            let value = words.next();
            let num = || -> Result<u32> {
                value
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("PAM header line '{line}' needs a number"))
            };
            match key {
                "" => {}
                k if k.starts_with('#') => {}
                "WIDTH" => w = Some(num()?),
                "HEIGHT" => h = Some(num()?),
                "DEPTH" => d = Some(num()?),
                "MAXVAL" => m = Some(num()?),
                "TUPLTYPE" => {}
                "ENDHDR" => break,
                _ => bail!("unknown PAM header line '{line}'"),
            }
        }
        match (w, h, d, m) {
            (Some(w), Some(h), Some(d), Some(m)) => (w, h, d, m),
            _ => bail!("PAM header lacks WIDTH, HEIGHT, DEPTH or MAXVAL"),
        }
    } else {
        let depth = if &bytes[..2] == b"P5" { 1 } else { 3 };
        let mut fields = [0u32; 3];
        for field in &mut fields {
            // Whitespace and comments before each number.
            loop {
                match bytes.get(pos) {
                    Some(b) if b.is_ascii_whitespace() => pos += 1,
                    Some(b'#') => {
                        while bytes.get(pos).is_some_and(|&b| b != b'\n') {
                            pos += 1;
                        }
                    }
                    _ => break,
                }
            }
            let start = pos;
            while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            *field = std::str::from_utf8(&bytes[start..pos])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("bad header number"))?;
        }
        // Exactly one whitespace byte ends the header.
        if !bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
            bail!("header does not end in whitespace");
        }
        pos += 1;
        (fields[0], fields[1], depth, fields[2])
    };
    if width == 0 || height == 0 {
        bail!("empty image ({width}x{height})");
    }
    if maxval == 0 || maxval > 65535 {
        bail!("maxval {maxval} outside 1..=65535");
    }
    let wide = maxval > 255;
    let format = match (depth, wide) {
        (1, false) => PixelFormat::Gray8,
        (1, true) => PixelFormat::Gray16,
        (2 | 4, false) => PixelFormat::Rgba8,
        (2 | 4, true) => PixelFormat::Rgba16,
        (3, false) => PixelFormat::Rgb8,
        (3, true) => PixelFormat::Rgb16,
        _ => bail!("depth {depth} is not supported (1 to 4 channels)"),
    };
    let bps = if wide { 2 } else { 1 };
    let samples = width as usize * height as usize * depth as usize;
    let body = &bytes[pos..];
    if body.len() < samples * bps {
        bail!(
            "file is truncated: {width}x{height}x{depth} samples need {} bytes, {} present",
            samples * bps,
            body.len()
        );
    }
    let body = &body[..samples * bps];
    let read = |i: usize| -> u16 {
        if wide {
            u16::from_be_bytes([body[2 * i], body[2 * i + 1]])
        } else {
            u16::from(body[i])
        }
    };
    let channels_out = match depth {
        2 => 4,
        d => d as usize,
    };
    let mut out = Vec::with_capacity(width as usize * height as usize * channels_out * bps);
    let mut push = |v: u16| {
        if wide {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(v as u8);
        }
    };
    for px in 0..width as usize * height as usize {
        let base = px * depth as usize;
        if depth == 2 {
            // Gray + alpha becomes RGBA.
            let (g, a) = (read(base), read(base + 1));
            [g, g, g, a].into_iter().for_each(&mut push);
        } else {
            (0..depth as usize).for_each(|c| push(read(base + c).min(maxval as u16)));
        }
    }
    Ok(Frame {
        width,
        height,
        format,
        bit_depth: bits_for(maxval),
        data: out,
    })
}

/// Reads one sample `i` of a packed frame as u16.
fn sample(frame: &Frame, i: usize) -> u16 {
    if frame.format.container_bits() > 8 {
        u16::from_le_bytes([frame.data[2 * i], frame.data[2 * i + 1]])
    } else {
        u16::from(frame.data[i])
    }
}

/// Channel layout of an interleaved frame: (channels, source index for each output
/// channel in R,G,B,A / gray order). None for planar formats.
fn interleaved_layout(format: PixelFormat) -> Option<(usize, &'static [usize])> {
    Some(match format {
        PixelFormat::Gray8 | PixelFormat::Gray16 => (1, &[0]),
        PixelFormat::Rgb8 | PixelFormat::Rgb16 => (3, &[0, 1, 2]),
        PixelFormat::Rgba8 | PixelFormat::Rgba16 => (4, &[0, 1, 2, 3]),
        PixelFormat::Bgr8 => (3, &[2, 1, 0]),
        PixelFormat::Bgra8 => (4, &[2, 1, 0, 3]),
        _ => return None,
    })
}

/// Converts a frame to `target` with the facade's [`vc6::format::convert_picture`]:
/// between gray/RGB/RGBA/BGR/BGRA at 8 or 16 bits, or between YUV formats of one
/// subsampling (a depth change).
pub fn convert(frame: Frame, target: PixelFormat) -> Result<Frame> {
    if frame.format == target {
        return Ok(frame);
    }
    let picture =
        frame
            .format
            .to_picture(&frame.data, frame.width, frame.height, frame.bit_depth)?;
    let picture = vc6::format::convert_picture(picture, frame.format, target)
        .with_context(|| format!("converting {} to {target}", frame.format))?;
    let bit_depth = picture
        .planes
        .first()
        .map_or(target.container_bits(), |p| p.bit_depth);
    let data = target.from_picture(&picture)?;
    Ok(Frame {
        format: target,
        bit_depth,
        data,
        ..frame
    })
}

/// Gray, RGB or RGBA samples of a frame (BGR orders swapped), as u16 values in
/// `0..=(1<<bit_depth)-1`, with the channel count.
fn channels(frame: &Frame, what: &str) -> Result<(usize, Vec<u16>)> {
    let (ch, map) = checked_layout(frame, what)?;
    let n = frame.width as usize * frame.height as usize;
    let mut out = Vec::with_capacity(n * ch);
    for px in 0..n {
        for &c in map {
            out.push(sample(frame, px * ch + c));
        }
    }
    Ok((ch, out))
}

/// The interleaved layout of a frame (channels, source index of each output channel),
/// checked against its data.
fn checked_layout(frame: &Frame, what: &str) -> Result<(usize, &'static [usize])> {
    let Some((ch, map)) = interleaved_layout(frame.format) else {
        bail!(
            "{what} output needs a gray/rgb/rgba format, the frame is {}; use .yuv/.raw or --format",
            frame.format
        );
    };
    let n = frame.width as usize * frame.height as usize;
    let needed = n
        * ch
        * if frame.format.container_bits() > 8 {
            2
        } else {
            1
        };
    if frame.data.len() < needed {
        bail!(
            "decoder returned {} bytes for a {}x{} {} frame ({needed} expected)",
            frame.data.len(),
            frame.width,
            frame.height,
            frame.format
        );
    }
    Ok((ch, map))
}

/// Checks that the extension of `path` names an output kind this tool writes.
pub fn check_output_path(path: &Path) -> Result<()> {
    let ext = extension(path);
    match ext.as_str() {
        "png" | "ppm" | "pgm" | "pam" | "pnm" => Ok(()),
        e if RAW_EXTENSIONS.contains(&e) => Ok(()),
        _ => bail!(
            "{}: unknown output type '.{ext}' (expected .png, .ppm, .pgm, .pam, .rgb, .raw, .yuv or .bin)",
            path.display()
        ),
    }
}

/// Writes a frame to `path`, the kind chosen by the extension.
pub fn write_image(path: &Path, frame: &Frame) -> Result<()> {
    check_output_path(path)?;
    let ext = extension(path);
    let write = |parts: &[&[u8]]| -> Result<()> {
        let mut f =
            fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for p in parts {
            f.write_all(p)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    };
    match ext.as_str() {
        "png" => write_png(path, frame),
        "ppm" | "pgm" | "pam" | "pnm" => match encode_netpbm(&ext, frame)? {
            Netpbm::Whole(bytes) => write(&[&bytes]),
            Netpbm::Header(head) => write(&[&head, &frame.data]),
        },
        _ => write(&[&frame.data]),
    }
}

fn write_png(path: &Path, frame: &Frame) -> Result<()> {
    use image::DynamicImage as D;
    let (ch, samples) = channels(frame, "png")?;
    let container = frame.format.container_bits();
    let (w, h) = (frame.width, frame.height);
    // PNG samples span the container's full range: scale lower depths up.
    let depth = frame.bit_depth.clamp(1, container);
    let scale = |v: u16| -> u32 {
        if depth == container {
            u32::from(v)
        } else {
            let (from, to) = ((1u32 << depth) - 1, (1u32 << container) - 1);
            (u32::from(v).min(from) * to + from / 2) / from
        }
    };
    let bad = || anyhow!("frame size does not match its data");
    let img = if container > 8 {
        let v: Vec<u16> = samples.iter().map(|&s| scale(s) as u16).collect();
        match ch {
            1 => D::ImageLuma16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
            3 => D::ImageRgb16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
            _ => D::ImageRgba16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
        }
    } else {
        let v: Vec<u8> = samples.iter().map(|&s| scale(s) as u8).collect();
        match ch {
            1 => D::ImageLuma8(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
            3 => D::ImageRgb8(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
            _ => D::ImageRgba8(image::ImageBuffer::from_raw(w, h, v).ok_or_else(bad)?),
        }
    };
    img.save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))
}

/// A frame in a netpbm format: the whole file, or just the header when the frame's
/// bytes follow it as they are.
enum Netpbm {
    Whole(Vec<u8>),
    Header(Vec<u8>),
}

fn encode_netpbm(ext: &str, frame: &Frame) -> Result<Netpbm> {
    let (ch, map) = checked_layout(frame, ext)?;
    let n = frame.width as usize * frame.height as usize;
    let (w, h) = (frame.width, frame.height);
    let maxval = (1u32 << frame.bit_depth.clamp(1, 16)) - 1;
    let mut out = match (ext, ch) {
        ("pgm", 1) | ("pnm", 1) => format!("P5\n{w} {h}\n{maxval}\n"),
        ("ppm", 3) | ("pnm", 3) => format!("P6\n{w} {h}\n{maxval}\n"),
        ("pam", _) => {
            let tupltype = ["GRAYSCALE", "", "RGB", "RGB_ALPHA"][ch - 1];
            format!(
                "P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH {ch}\nMAXVAL {maxval}\nTUPLTYPE {tupltype}\nENDHDR\n"
            )
        }
        ("pgm", _) => bail!(
            "pgm output needs a gray format, the frame is {}; use .ppm, .pam or .png, or \
             --format gray8 to convert",
            frame.format
        ),
        (_, 1) => bail!(
            "{ext} output needs an rgb format, the frame is {}; use .pgm, .pam or .png, or \
             --format rgb8 to convert",
            frame.format
        ),
        _ => bail!(
            "{ext} output needs an rgb format, the frame is {}; use .pam or .png, or \
             --format rgb8 to convert",
            frame.format
        ),
    }
    .into_bytes();
    // Samples in the frame's own order (gray, RGB, RGBA): copied as they are (8-bit) or
    // byte-swapped to big-endian (16-bit). The decoder never exceeds the bit depth, so
    // there is nothing to clamp; this runs for every decode to .ppm, so it is one pass.
    let in_order = matches!(map, [0] | [0, 1, 2] | [0, 1, 2, 3]);
    if in_order && frame.format.container_bits() <= 8 && maxval == 255 && frame.data.len() == n * ch
    {
        return Ok(Netpbm::Header(out));
    }
    if in_order && frame.format.container_bits() > 8 {
        out.reserve(2 * n * ch);
        for s in frame.data[..2 * n * ch].chunks_exact(2) {
            let v = u16::from_le_bytes([s[0], s[1]]).min(maxval as u16);
            out.extend_from_slice(&v.to_be_bytes());
        }
        return Ok(Netpbm::Whole(out));
    }
    // Any other layout (BGR orders, depths below 8 bits), sample by sample.
    let (_, samples) = channels(frame, ext)?;
    out.reserve(2 * samples.len());
    for s in samples {
        let s = u32::from(s).min(maxval);
        if maxval > 255 {
            out.extend_from_slice(&(s as u16).to_be_bytes());
        } else {
            out.push(s as u8);
        }
    }
    Ok(Netpbm::Whole(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netpbm_16_bit_round_trip() {
        let frame = Frame {
            width: 2,
            height: 1,
            format: PixelFormat::Gray16,
            bit_depth: 10,
            data: vec![0x34, 0x02, 0xff, 0x03],
        };
        let Netpbm::Whole(bytes) = encode_netpbm("pgm", &frame).unwrap() else {
            panic!("16-bit samples are rewritten")
        };
        assert!(bytes.starts_with(b"P5\n2 1\n1023\n"));
        assert_eq!(&bytes[bytes.len() - 4..], &[0x02, 0x34, 0x03, 0xff]);
        let back = read_netpbm(&bytes).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn netpbm_writes_rgb8_as_it_is_and_bgr8_reordered() {
        let frame = |format| Frame {
            width: 2,
            height: 1,
            format,
            bit_depth: 8,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let Netpbm::Header(head) = encode_netpbm("ppm", &frame(PixelFormat::Rgb8)).unwrap() else {
            panic!("RGB8 samples follow the header as they are")
        };
        assert_eq!(head, b"P6\n2 1\n255\n");
        let Netpbm::Whole(bytes) = encode_netpbm("ppm", &frame(PixelFormat::Bgr8)).unwrap() else {
            panic!("BGR8 samples are reordered")
        };
        assert_eq!(bytes, b"P6\n2 1\n255\n\x03\x02\x01\x06\x05\x04");
    }

    #[test]
    fn pam_gray_alpha_becomes_rgba() {
        let bytes = b"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 2\nMAXVAL 255\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n\x10\x20";
        let f = read_netpbm(bytes).unwrap();
        assert_eq!(f.format, PixelFormat::Rgba8);
        assert_eq!(f.data, vec![0x10, 0x10, 0x10, 0x20]);
    }

    #[test]
    fn convert_reorders_and_adds_alpha() {
        let f = Frame {
            width: 1,
            height: 1,
            format: PixelFormat::Rgb8,
            bit_depth: 8,
            data: vec![1, 2, 3],
        };
        assert_eq!(
            convert(f.clone(), PixelFormat::Bgra8).unwrap().data,
            vec![3, 2, 1, 255]
        );
        assert!(convert(f, PixelFormat::Yuv420p8).is_err());
    }
}
