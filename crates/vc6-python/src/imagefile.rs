//! PNG, JPEG and TIFF files through the `image` crate.

use crate::errors::Failure;
use std::path::Path;

/// Decoded samples of an image file.
pub enum Samples {
    /// 8-bit samples.
    U8(Vec<u8>),
    /// 16-bit samples.
    U16(Vec<u16>),
}

/// An image file's pixels: interleaved, 1 (grey), 3 (RGB) or 4 (RGBA) channels.
pub struct ImageFile {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub samples: Samples,
}

impl ImageFile {
    /// The codec's pixel format for these samples.
    pub fn format(&self) -> vc6::PixelFormat {
        use vc6::PixelFormat as F;
        match (&self.samples, self.channels) {
            (Samples::U8(_), 1) => F::Gray8,
            (Samples::U8(_), 3) => F::Rgb8,
            (Samples::U8(_), _) => F::Rgba8,
            (Samples::U16(_), 1) => F::Gray16,
            (Samples::U16(_), 3) => F::Rgb16,
            (Samples::U16(_), _) => F::Rgba16,
        }
    }

    /// The packed frame (16-bit samples little-endian), as the encoder takes it.
    pub fn into_bytes(self) -> Vec<u8> {
        match self.samples {
            Samples::U8(v) => v,
            Samples::U16(v) => v.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }
}

/// The extensions read as image files rather than raw frames.
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "tif", "tiff"];

/// Whether `bytes` begin like a PNG, JPEG or TIFF file.
fn has_image_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xff, 0xd8, 0xff])
        || bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
}

/// Whether a file is an image file (by its extension, or by its first bytes when its length
/// is not that of a raw frame).
pub fn is_image(path: &Path, bytes: &[u8], raw_len: Option<usize>) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    IMAGE_EXTENSIONS.contains(&ext.as_str())
        || (has_image_magic(bytes) && raw_len != Some(bytes.len()))
}

/// Decodes a PNG, JPEG or TIFF file's bytes; `name` is for messages.
pub fn decode(bytes: &[u8], name: &str) -> Result<ImageFile, Failure> {
    use image::ColorType as C;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Failure::Image(format!("{name}: {e}")))?;
    if reader.format().is_none() {
        return Err(Failure::Unsupported(format!(
            "{name}: not a PNG, JPEG or TIFF image"
        )));
    }
    let img = reader
        .decode()
        .map_err(|e| Failure::Image(format!("{name}: cannot decode the image: {e}")))?;
    let (width, height) = (img.width(), img.height());
    let (channels, samples) = match img.color() {
        C::L8 => (1, Samples::U8(img.into_luma8().into_raw())),
        C::Rgb8 => (3, Samples::U8(img.into_rgb8().into_raw())),
        C::Rgba8 | C::La8 => (4, Samples::U8(img.into_rgba8().into_raw())),
        C::L16 => (1, Samples::U16(img.into_luma16().into_raw())),
        C::Rgb16 => (3, Samples::U16(img.into_rgb16().into_raw())),
        C::Rgba16 | C::La16 => (4, Samples::U16(img.into_rgba16().into_raw())),
        other => {
            return Err(Failure::Unsupported(format!(
                "{name}: {other:?} images are not supported (only 8- and 16-bit integer samples)"
            )))
        }
    };
    Ok(ImageFile {
        width,
        height,
        channels,
        samples,
    })
}

/// Reads and decodes an image file.
pub fn read(path: &Path) -> Result<ImageFile, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Io(path.to_path_buf(), e))?;
    decode(&bytes, &path.display().to_string())
}
