//! [`Vc6Encoder`]: `ImageEncoder` over [`Encoder`].

use super::{encoding_error, hint};
use crate::{Encoder, EncoderSettings, PixelFormat};
use ::image::error::{ParameterError, ParameterErrorKind, UnsupportedError, UnsupportedErrorKind};
use ::image::{ExtendedColorType, ImageEncoder, ImageError, ImageResult};
use std::borrow::Cow;
use std::io::Write;

/// Encodes pictures from the `image` crate as vc6 streams into a writer: `L8`, `L16`,
/// `Rgb8`, `Rgba8`, `Rgb16` and `Rgba16` (other colour types are
/// [`ImageError::Unsupported`]; `DynamicImage::write_with_encoder` passes its own type).
///
/// ```
/// use image::{DynamicImage, GrayImage};
/// use vc6::image::Vc6Encoder;
/// use vc6::{EncoderSettings, Preset};
///
/// let gray = DynamicImage::ImageLuma8(GrayImage::from_fn(32, 32, |x, y| image::Luma([(x * y) as u8])));
/// let mut lossless = Vec::new();
/// gray.write_with_encoder(Vc6Encoder::new(&mut lossless))?;
/// let settings = EncoderSettings { quality: Some(50.0), ..EncoderSettings::from_preset(Preset::Better) };
/// let mut lossy = Vec::new();
/// gray.write_with_encoder(Vc6Encoder::with_settings(&mut lossy, settings))?;
/// assert!(vc6::probe(&lossless).unwrap().lossless && !vc6::probe(&lossy).unwrap().lossless);
/// # Ok::<(), image::ImageError>(())
/// ```
#[derive(Debug)]
pub struct Vc6Encoder<W: Write> {
    writer: W,
    settings: EncoderSettings,
}

impl<W: Write> Vc6Encoder<W> {
    /// A lossless encoder ([`EncoderSettings::default`]) writing to `writer`.
    pub fn new(writer: W) -> Self {
        Self::with_settings(writer, EncoderSettings::default())
    }

    /// An encoder with these settings, e.g. lossy ones from
    /// [`EncoderSettings::from_preset`] with a quality or a target bit rate.
    pub fn with_settings(writer: W, settings: EncoderSettings) -> Self {
        Vc6Encoder { writer, settings }
    }
}

impl<W: Write> ImageEncoder for Vc6Encoder<W> {
    fn write_image(
        mut self,
        buf: &[u8],
        width: u32,
        height: u32,
        color_type: ExtendedColorType,
    ) -> ImageResult<()> {
        let format = match color_type {
            ExtendedColorType::L8 => PixelFormat::Gray8,
            ExtendedColorType::L16 => PixelFormat::Gray16,
            ExtendedColorType::Rgb8 => PixelFormat::Rgb8,
            ExtendedColorType::Rgba8 => PixelFormat::Rgba8,
            ExtendedColorType::Rgb16 => PixelFormat::Rgb16,
            ExtendedColorType::Rgba16 => PixelFormat::Rgba16,
            other => {
                return Err(ImageError::Unsupported(
                    UnsupportedError::from_format_and_kind(
                        hint(),
                        UnsupportedErrorKind::Color(other),
                    ),
                ))
            }
        };
        let expected = format.frame_len(width, height).map_err(encoding_error)?;
        if buf.len() != expected {
            return Err(ImageError::Parameter(ParameterError::from_kind(
                ParameterErrorKind::DimensionMismatch,
            )));
        }
        // image hands over native-endian words; vc6 frames are little-endian.
        let pixels: Cow<[u8]> = if cfg!(target_endian = "big") && format.container_bits() == 16 {
            Cow::Owned(buf.chunks_exact(2).flat_map(|w| [w[1], w[0]]).collect())
        } else {
            Cow::Borrowed(buf)
        };
        let stream = Encoder::new(width, height, format, self.settings)
            .and_then(|enc| enc.encode(&pixels))
            .map_err(encoding_error)?;
        self.writer.write_all(&stream)?;
        self.writer.flush()?;
        Ok(())
    }
}
