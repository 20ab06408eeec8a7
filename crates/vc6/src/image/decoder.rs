//! [`Vc6Decoder`]: `ImageDecoder` and `ImageDecoderRect` over [`Decoder`].

use super::{color_type_of, decoding_error, parameter, unsupported};
use crate::{
    Decoder, DecoderSettings, Error, FrameRegion, Limits, Picture, PixelFormat, StreamInfo,
};
use ::image::error::{LimitError, LimitErrorKind};
use ::image::{ColorType, ExtendedColorType, ImageDecoder, ImageDecoderRect, ImageError};
use ::image::{ImageResult, LimitSupport};
use std::io::Read;

/// Bytes read at a time while looking for the end of the header (1 KiB holds the
/// header of any picture of up to 150 planes).
const HEADER_CHUNK: u64 = 1024;

/// Decodes a vc6 stream for the `image` crate (see the [module docs](super) for the
/// colour types, bit depths and limits).
///
/// [`new`](Vc6Decoder::new) reads only the header; the rest of the stream is read when
/// the picture, or a first region of it, is decoded (and kept for further regions).
///
/// ```
/// use image::{ImageDecoder, ImageDecoderRect};
/// use vc6::{Encoder, EncoderSettings, PixelFormat};
///
/// let gray: Vec<u8> = (0..40 * 30).map(|i| (i % 251) as u8).collect();
/// let stream = Encoder::new(40, 30, PixelFormat::Gray8, EncoderSettings::default())?.encode(&gray)?;
/// let mut decoder = vc6::image::Vc6Decoder::new(&stream[..])?;
/// assert_eq!((decoder.dimensions(), decoder.color_type()), ((40, 30), image::ColorType::L8));
/// // A 4x2 window at (10, 5), into rows 8 bytes apart.
/// let mut window = [0u8; 12];
/// decoder.read_rect(10, 5, 4, 2, &mut window, 8)?;
/// assert_eq!(window[8..12], gray[6 * 40 + 10..6 * 40 + 14]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Vc6Decoder<R: Read> {
    /// The rest of the stream, until it is read into `stream`.
    reader: Option<R>,
    stream: Vec<u8>,
    info: StreamInfo,
    /// The stream's own format.
    source: PixelFormat,
    /// The settings given, whose limits `set_limits` narrows.
    settings: DecoderSettings,
    /// The limits in force: the settings' narrowed by `image`'s.
    limits: Limits,
}

impl<R: Read> std::fmt::Debug for Vc6Decoder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vc6Decoder")
            .field("width", &self.info.width)
            .field("height", &self.info.height)
            .field("format", &self.source)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Vc6Decoder<R> {
    /// A decoder with the default [`DecoderSettings`]; reads the stream's header from
    /// `reader`. Fails on a stream that is not vc6, whose header is truncated or corrupt,
    /// or that has no `image` colour type (generic planar streams).
    pub fn new(reader: R) -> ImageResult<Self> {
        Self::with_settings(reader, DecoderSettings::default())
    }

    /// A decoder with these settings (backend, threads, limits; the output format is
    /// always the one of the [colour type table](super#colour-types), so
    /// `settings.format` is ignored).
    pub fn with_settings(mut reader: R, settings: DecoderSettings) -> ImageResult<Self> {
        let mut stream = Vec::new();
        let info = loop {
            let had = stream.len();
            (&mut reader)
                .take(HEADER_CHUNK)
                .read_to_end(&mut stream)
                .map_err(ImageError::IoError)?;
            match crate::probe(&stream) {
                Ok(info) => break info,
                // A longer header: read on, unless the input has ended.
                Err(Error::Truncated { .. }) if stream.len() > had => {}
                Err(e) => return Err(decoding_error(e)),
            }
        };
        let Some(source) = PixelFormat::from_tag(info.format_tag) else {
            return Err(unsupported(match info.format_tag {
                0 => format!(
                    "a generic planar vc6 stream ({} planes) has no image colour type; decode \
                     it with vc6::Decoder::decode_picture",
                    info.planes.len()
                ),
                tag => format!("vc6 pixel format tag {tag} is unknown to this version"),
            }));
        };
        // Trailing bytes are not the stream's.
        stream.truncate(usize::try_from(info.total_bytes).unwrap_or(usize::MAX));
        let mut limits = settings.limits;
        // The settings' own size bounds are limits too.
        if settings.max_width != 0 {
            limits.max_width = limits.max_width.min(settings.max_width);
        }
        if settings.max_height != 0 {
            limits.max_height = limits.max_height.min(settings.max_height);
        }
        let settings = DecoderSettings { limits, ..settings };
        Ok(Vc6Decoder {
            reader: Some(reader),
            stream,
            info,
            source,
            settings,
            limits,
        })
    }

    /// What the header says: sizes, planes, echelons, bytes per LoQ.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The stream's own pixel format (the picture may be converted, see
    /// [`ImageDecoder::color_type`]).
    pub fn pixel_format(&self) -> PixelFormat {
        self.source
    }

    /// The limits the next decode runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads the rest of the stream (once); never more than the header says it holds.
    fn read_rest(&mut self) -> ImageResult<()> {
        if let Some(mut reader) = self.reader.take() {
            let want = self
                .info
                .total_bytes
                .saturating_sub(self.stream.len() as u64);
            // Grows with the bytes that arrive, so a header claiming a huge stream
            // allocates nothing it does not get.
            (&mut reader)
                .take(want)
                .read_to_end(&mut self.stream)
                .map_err(ImageError::IoError)?;
        }
        Ok(())
    }

    /// A decoder into `format` (`None`: the stream's own) under the limits in force,
    /// `extra` bytes of working memory kept for what the caller allocates beside it.
    fn decoder(&self, format: Option<PixelFormat>, extra: u64) -> ImageResult<Decoder> {
        let mut limits = self.limits;
        limits.max_alloc_bytes = limits.max_alloc_bytes.checked_sub(extra).ok_or_else(|| {
            ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory))
        })?;
        Decoder::new(DecoderSettings {
            format,
            limits,
            ..self.settings.clone()
        })
        .map_err(decoding_error)
    }

    /// Decodes `w x h` pixels at (`x`, `y`) (`w == h == 0`: the whole picture) into
    /// `out`, rows `pitch` bytes apart; `out` is checked to hold them.
    fn decode_to(
        &mut self,
        (x, y, w, h): (u32, u32, u32, u32),
        out: &mut [u8],
        pitch: usize,
    ) -> ImageResult<()> {
        let bpp = usize::from(self.color_type().bytes_per_pixel());
        let (w, h) = if w == 0 && h == 0 {
            (self.info.width, self.info.height)
        } else {
            (w, h)
        };
        if w == 0 || h == 0 {
            return Ok(());
        }
        let row = w as usize * bpp;
        self.read_rest()?;
        if self.source.is_planar() {
            return self.decode_yuv((x, y, w, h), out, pitch);
        }
        let target = match color_type_of(self.source) {
            ColorType::L8 => PixelFormat::Gray8,
            ColorType::L16 => PixelFormat::Gray16,
            ColorType::Rgb8 => PixelFormat::Rgb8,
            ColorType::Rgba8 => PixelFormat::Rgba8,
            ColorType::Rgb16 => PixelFormat::Rgb16,
            _ => PixelFormat::Rgba16,
        };
        let region = FrameRegion {
            loq: 0,
            x,
            y,
            width: w,
            height: h,
        };
        let packed = row * h as usize;
        if pitch == row {
            // Rows back to back: straight into the caller's buffer.
            let frame = &mut out[..packed];
            self.decoder(Some(target), 0)?
                .decode_into(&self.stream, region, frame)
                .map_err(decoding_error)?;
            le_to_native(target, frame);
        } else {
            let mut frame = vec![0u8; packed];
            self.decoder(Some(target), packed as u64)?
                .decode_into(&self.stream, region, &mut frame)
                .map_err(decoding_error)?;
            le_to_native(target, &mut frame);
            for (dst, src) in out.chunks_mut(pitch).zip(frame.chunks_exact(row)) {
                dst[..row].copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// YUV streams: the planes of the region (its origin moved to the chroma grid), then
    /// BT.601 full range to RGB.
    fn decode_yuv(
        &mut self,
        (x, y, w, h): (u32, u32, u32, u32),
        out: &mut [u8],
        pitch: usize,
    ) -> ImageResult<()> {
        // log2 of the chroma subsampling, across and down.
        let (cw, ch) = self.source.plane_size(1, 2, 2);
        let (sx, sy) = (u32::from(cw == 1), u32::from(ch == 1));
        // Cut at even luma positions where chroma is subsampled, so each chroma sample
        // of the region covers the same luma pixels as in the whole picture.
        let (x0, y0) = ((x >> sx) << sx, (y >> sy) << sy);
        let region = FrameRegion {
            loq: 0,
            x: x0,
            y: y0,
            width: w + (x - x0),
            height: h + (y - y0),
        };
        let picture = self
            .decoder(None, 0)?
            .decode_picture(&self.stream, region)
            .map_err(decoding_error)?;
        let sixteen = self.source.container_bits() == 16;
        yuv_to_rgb(
            &picture,
            (sx, sy),
            (x - x0, y - y0, w, h),
            sixteen,
            out,
            pitch,
        )
    }
}

/// 16-bit frames: vc6's little-endian words to `image`'s native-endian ones.
fn le_to_native(format: PixelFormat, frame: &mut [u8]) {
    if cfg!(target_endian = "big") && format.container_bits() == 16 {
        for word in frame.chunks_exact_mut(2) {
            word.swap(0, 1);
        }
    }
}

/// Writes the `w x h` pixels at (`dx`, `dy`) of a decoded Y, U, V picture as RGB rows
/// `pitch` bytes apart (8-bit, or native-endian 16-bit samples at the picture's depth).
/// Chroma sample `(i >> sx, j >> sy)` goes with luma sample `(i, j)`.
fn yuv_to_rgb(
    picture: &Picture,
    (sx, sy): (u32, u32),
    (dx, dy, w, h): (u32, u32, u32, u32),
    sixteen: bool,
    out: &mut [u8],
    pitch: usize,
) -> ImageResult<()> {
    let corrupt = |what: &str| {
        decoding_error(Error::Format(format!(
            "the YUV planes do not fit their format: {what}"
        )))
    };
    let [luma, u, v] = picture.planes.as_slice() else {
        return Err(corrupt("not 3 planes"));
    };
    let depth = luma.bit_depth;
    let container = if sixteen { 16 } else { 8 };
    if depth == 0 || depth > container || u.bit_depth != depth || v.bit_depth != depth {
        return Err(corrupt("bit depths differ or exceed the container"));
    }
    let (cw, ch) = ((dx + w - 1) >> sx, (dy + h - 1) >> sy);
    let fits = |p: &crate::Plane, pw: u32, ph: u32| {
        p.width >= pw && p.height >= ph && p.samples.len() == p.width as usize * p.height as usize
    };
    if !fits(luma, dx + w, dy + h) || !fits(u, cw + 1, ch + 1) || !fits(v, cw + 1, ch + 1) {
        return Err(corrupt("a plane is smaller than the region"));
    }
    let centre = 1i64 << (depth - 1);
    let max = (1i64 << depth) - 1;
    let bytes = if sixteen { 2 } else { 1 };
    for (j, dst) in out.chunks_mut(pitch).take(h as usize).enumerate() {
        let ly = dy as usize + j;
        let cy = ly >> sy;
        let lrow = &luma.samples[ly * luma.width as usize..][..(dx + w) as usize];
        let urow = &u.samples[cy * u.width as usize..][..u.width as usize];
        let vrow = &v.samples[cy * v.width as usize..][..v.width as usize];
        for (i, px) in dst.chunks_exact_mut(3 * bytes).take(w as usize).enumerate() {
            let lx = dx as usize + i;
            let (cb, cr) = (urow[lx >> sx], vrow[lx >> sx]);
            let rgb = bt601(
                i64::from(lrow[lx]),
                i64::from(cb) - centre,
                i64::from(cr) - centre,
            );
            for (c, value) in rgb.into_iter().enumerate() {
                let value = value.clamp(0, max) as u16;
                if sixteen {
                    px[2 * c..2 * c + 2].copy_from_slice(&value.to_ne_bytes());
                } else {
                    px[c] = value as u8;
                }
            }
        }
    }
    Ok(())
}

/// BT.601 full range (JFIF): R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr,
/// B = Y + 1.772 Cb, in 16-bit fixed point rounded to nearest (before clamping).
fn bt601(y: i64, cb: i64, cr: i64) -> [i64; 3] {
    const HALF: i64 = 1 << 15;
    [
        y + ((91_881 * cr + HALF) >> 16),
        y + ((-22_554 * cb - 46_802 * cr + HALF) >> 16),
        y + ((116_130 * cb + HALF) >> 16),
    ]
}

impl<R: Read> ImageDecoder for Vc6Decoder<R> {
    fn dimensions(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }

    fn color_type(&self) -> ColorType {
        color_type_of(self.source)
    }

    fn original_color_type(&self) -> ExtendedColorType {
        match self.source {
            PixelFormat::Bgr8 => ExtendedColorType::Bgr8,
            PixelFormat::Bgra8 => ExtendedColorType::Bgra8,
            other => color_type_of(other).into(),
        }
    }

    fn read_image(mut self, buf: &mut [u8]) -> ImageResult<()> {
        if buf.len() as u64 != self.total_bytes() {
            return Err(parameter(format!(
                "a {}x{} {:?} picture is {} bytes, the buffer has {}",
                self.info.width,
                self.info.height,
                self.color_type(),
                self.total_bytes(),
                buf.len()
            )));
        }
        let row = self.info.width as usize * usize::from(self.color_type().bytes_per_pixel());
        self.decode_to((0, 0, 0, 0), buf, row)
    }

    fn read_image_boxed(self: Box<Self>, buf: &mut [u8]) -> ImageResult<()> {
        (*self).read_image(buf)
    }

    fn set_limits(&mut self, limits: ::image::Limits) -> ImageResult<()> {
        limits.check_support(&LimitSupport::default())?;
        let (width, height) = self.dimensions();
        limits.check_dimensions(width, height)?;
        // Each call replaces the last: narrow the settings' limits afresh.
        let mut ours = self.settings.limits;
        if let Some(w) = limits.max_image_width {
            ours.max_width = ours.max_width.min(w);
        }
        if let Some(h) = limits.max_image_height {
            ours.max_height = ours.max_height.min(h);
        }
        if let Some(bytes) = limits.max_alloc {
            ours.max_alloc_bytes = ours.max_alloc_bytes.min(bytes);
        }
        self.limits = ours;
        Ok(())
    }
}

impl<R: Read> ImageDecoderRect for Vc6Decoder<R> {
    /// Decodes the `width x height` pixels at (`x`, `y`) of the full-size picture,
    /// reading only the tiles they need; rows go `row_pitch` bytes apart in `buf`.
    fn read_rect(
        &mut self,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        buf: &mut [u8],
        row_pitch: usize,
    ) -> ImageResult<()> {
        if width == 0 || height == 0 {
            // Nothing to write (and 0 x 0 would mean the whole picture to vc6).
            return Ok(());
        }
        let (w, h) = self.dimensions();
        if u64::from(x) + u64::from(width) > u64::from(w)
            || u64::from(y) + u64::from(height) > u64::from(h)
        {
            return Err(parameter(format!(
                "the {width}x{height} rectangle at ({x}, {y}) is outside the {w}x{h} picture"
            )));
        }
        let row = width as usize * usize::from(self.color_type().bytes_per_pixel());
        let needed = (height as usize - 1)
            .checked_mul(row_pitch)
            .and_then(|n| n.checked_add(row));
        if row_pitch < row || needed.is_none_or(|n| buf.len() < n) {
            return Err(parameter(format!(
                "{height} rows of {row} bytes, {row_pitch} bytes apart, do not fit a buffer \
                 of {} bytes",
                buf.len()
            )));
        }
        self.decode_to((x, y, width, height), buf, row_pitch)
    }
}
