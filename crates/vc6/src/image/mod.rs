//! The [`image`] crate's traits for vc6 streams (feature `image`).
//!
//! * [`Vc6Decoder`]: [`ImageDecoder`](image::ImageDecoder) and
//!   [`ImageDecoderRect`](image::ImageDecoderRect) (a region is decoded reading only
//!   the tiles it needs).
//! * [`Vc6Encoder`]: [`ImageEncoder`](image::ImageEncoder), lossless by default.
//! * [`register`]: makes `image::open("x.vc6")`, `ImageReader::with_guessed_format` and
//!   `image::load_from_memory` recognise vc6 (by the `vc6` extension and the magic
//!   bytes `VC6R`).
//!
//! ```
//! use image::{DynamicImage, RgbImage};
//! use vc6::image::Vc6Encoder;
//!
//! let picture = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, y| {
//!     image::Rgb([x as u8 * 4, y as u8 * 5, (x ^ y) as u8])
//! }));
//! let mut stream = Vec::new();
//! picture.write_with_encoder(Vc6Encoder::new(&mut stream))?;
//!
//! vc6::image::register();
//! let back = image::load_from_memory(&stream)?;
//! assert_eq!(back, picture);
//! # Ok::<(), image::ImageError>(())
//! ```
//!
//! # Colour types
//!
//! | vc6 stream | decodes to | encoded from |
//! |---|---|---|
//! | `gray8`, `gray16` | `L8`, `L16` | `L8`, `L16` |
//! | `rgb8`, `rgba8` | `Rgb8`, `Rgba8` | `Rgb8`, `Rgba8` |
//! | `rgb16`, `rgba16` | `Rgb16`, `Rgba16` | `Rgb16`, `Rgba16` |
//! | `bgr8`, `bgra8` | `Rgb8`, `Rgba8` (channels reordered) | — |
//! | `yuv420p`, `yuv422p`, `yuv444p` | `Rgb8` | — |
//! | `yuv420p16`, `yuv422p16`, `yuv444p16` | `Rgb16` | — |
//!
//! Every other colour type of the encoder (`La8`, `La16`, float, ...) is
//! [`ImageError::Unsupported`], and so are generic
//! planar streams (format tag 0), which have no colour type: decode those with
//! [`Decoder::decode_picture`](crate::Decoder::decode_picture).
//!
//! **Bit depths below the container.** vc6 carries 10- or 12-bit samples LSB-aligned in
//! 16-bit words, and `image` has no 10- or 12-bit type: such a stream decodes to `L16` /
//! `Rgb16` / `Rgba16` with its samples as they are (a 12-bit white is 4095, not 65535);
//! scale them yourself if you need the full 16-bit range. 16-bit samples are native-endian
//! in `image`'s buffers and little-endian in vc6 frames; both directions convert.
//!
//! **YUV** streams carry no colour-space metadata. They are converted with the BT.601
//! full-range (JFIF) matrix at the stream's bit depth (chroma centred on
//! `2^(depth-1)`), with the subsampled chroma of 4:2:0 and 4:2:2 repeated over the
//! pixels it covers. Decode with [`Decoder`](crate::Decoder) to get the planes as they
//! are.
//!
//! # Limits
//!
//! [`Vc6Decoder::set_limits`](image::ImageDecoder::set_limits) (which
//! [`ImageReader`](image::ImageReader) calls) narrows the decoder's [`Limits`](crate::Limits):
//! `max_image_width`/`max_image_height` become `max_width`/`max_height` and `max_alloc`
//! becomes `max_alloc_bytes`, vc6's bound on its working memory (every echelon, about 7.3
//! bytes a sample: 22 bytes a pixel of RGB). `image`'s default limits allow 512 MiB, so
//! RGB pictures above about 20 megapixels need `ImageReader::limits` or `no_limits`. A
//! stream over the limits is refused before anything is decoded, with
//! [`ImageError::Limits`]. A limit `image` leaves unset
//! keeps the value of the decoder's own settings ([`Vc6Decoder::with_settings`]).

mod decoder;
mod encoder;

pub use decoder::Vc6Decoder;
pub use encoder::Vc6Encoder;

use crate::{Error, PixelFormat};
use ::image::error::{
    DecodingError, EncodingError, ImageFormatHint, LimitError, LimitErrorKind, ParameterError,
    ParameterErrorKind, UnsupportedError, UnsupportedErrorKind,
};
use ::image::{ColorType, ImageError};

/// The extension the decoding hook is registered for.
const EXTENSION: &str = "vc6";

/// Registers vc6 with the `image` crate: a decoding hook for the `vc6` extension and
/// format detection by the magic bytes `56 43 36 52` ("VC6R"). Afterwards
/// `image::open("x.vc6")`, `ImageReader::with_guessed_format` and
/// `image::load_from_memory` decode vc6 streams (with [`Vc6Decoder`]'s defaults).
///
/// Returns `true` when this call registered the hooks, `false` when a hook for `vc6`
/// was there already (an earlier call, from any thread, or someone else's): calling it
/// twice is harmless and adds nothing.
pub fn register() -> bool {
    let fresh = ::image::hooks::register_decoding_hook(
        EXTENSION.into(),
        Box::new(|reader| Ok(Box::new(Vc6Decoder::new(reader)?))),
    );
    // Detection hooks pile up on every call, so only the call that won the decoding
    // hook (atomically, under image's lock) adds one.
    if fresh {
        ::image::hooks::register_format_detection_hook(EXTENSION.into(), b"VC6R", None);
    }
    fresh
}

fn hint() -> ImageFormatHint {
    ImageFormatHint::Name(EXTENSION.into())
}

/// The `image` colour type a stream of `format` decodes to.
fn color_type_of(format: PixelFormat) -> ColorType {
    match format {
        PixelFormat::Gray8 => ColorType::L8,
        PixelFormat::Gray16 => ColorType::L16,
        PixelFormat::Rgb8
        | PixelFormat::Bgr8
        | PixelFormat::Yuv420p8
        | PixelFormat::Yuv422p8
        | PixelFormat::Yuv444p8 => ColorType::Rgb8,
        PixelFormat::Rgba8 | PixelFormat::Bgra8 => ColorType::Rgba8,
        PixelFormat::Rgb16
        | PixelFormat::Yuv420p16
        | PixelFormat::Yuv422p16
        | PixelFormat::Yuv444p16 => ColorType::Rgb16,
        PixelFormat::Rgba16 => ColorType::Rgba16,
    }
}

fn unsupported(msg: String) -> ImageError {
    ImageError::Unsupported(UnsupportedError::from_format_and_kind(
        hint(),
        UnsupportedErrorKind::GenericFeature(msg),
    ))
}

fn parameter(msg: String) -> ImageError {
    ImageError::Parameter(ParameterError::from_kind(ParameterErrorKind::Generic(msg)))
}

/// The `image` error for a vc6 error, by cause; `encoding` picks the kind of the
/// errors that only say "it failed" (corrupt data, device).
fn image_error(e: Error, encoding: bool) -> ImageError {
    match e {
        Error::Io(io) => ImageError::IoError(io),
        Error::Unsupported(msg) => unsupported(msg),
        Error::Parameter(msg) => parameter(msg),
        Error::LimitsExceeded(msg) => {
            // vc6 says which limit only in words: working memory is counted in bytes,
            // everything else (sizes, planes, samples) is the picture's dimensions.
            let kind = if msg.contains("bytes") {
                LimitErrorKind::InsufficientMemory
            } else {
                LimitErrorKind::DimensionError
            };
            ImageError::Limits(LimitError::from_kind(kind))
        }
        other if encoding => ImageError::Encoding(EncodingError::new(hint(), other)),
        other => ImageError::Decoding(DecodingError::new(hint(), other)),
    }
}

fn decoding_error(e: Error) -> ImageError {
    image_error(e, false)
}

fn encoding_error(e: Error) -> ImageError {
    image_error(e, true)
}
