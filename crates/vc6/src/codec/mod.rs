//! Encoder and decoder objects: the SDK-style surface over `vc6-core`.

#[cfg(any(feature = "opencl", feature = "cuda"))]
mod device;

use crate::backends::Backend;
use crate::format::{convert_picture, PixelFormat};
use std::path::Path;
use std::sync::Arc;
use vc6_core::{
    DecodeJob, DecodeOptions, EncoderConfig, Error, Limits, OutputLayout, Picture, Plan, Plane,
    Region, Result, SampleType, Upsampler,
};

/// Encoding presets: the coding tools; [`EncoderSettings::quality`] or
/// [`EncoderSettings::target_bpp`] set the rate of a lossy stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Preset {
    /// Exact reconstruction of every sample.
    #[default]
    Lossless,
    /// Lossy, faster decode: linear upsampling (shifts and adds, no multiplies) and the
    /// predicted-average step; about 1.2x `Better`'s CPU decode speed for a few hundredths
    /// of a dB. (The nearest upsampler, [`EncoderSettings::upsampler`], decodes a little
    /// faster still but costs 2.6 dB.) Quality 80 unless set.
    Light,
    /// Lossy, best quality per bit: cubic upsampling and the predicted-average step;
    /// quality 80 unless set.
    Better,
}

impl Preset {
    /// Lower-case name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Lossless => "lossless",
            Preset::Light => "light",
            Preset::Better => "better",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lossless" => Ok(Preset::Lossless),
            "light" => Ok(Preset::Light),
            "better" => Ok(Preset::Better),
            other => Err(Error::Parameter(format!(
                "unknown preset '{other}' (expected lossless, light or better)"
            ))),
        }
    }
}

/// Encoder settings. `EncoderSettings::default()` is the lossless preset;
/// [`EncoderSettings::from_preset`] gives the others, whose fields can then be changed.
///
/// ```
/// use vc6::{Encoder, EncoderSettings, PixelFormat, Preset};
/// let pixels: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 7 % 251) as u8).collect();
/// let settings = EncoderSettings { quality: Some(60.0), ..EncoderSettings::from_preset(Preset::Better) };
/// let lossy = Encoder::new(64, 48, PixelFormat::Rgb8, settings)?.encode(&pixels)?;
/// let one_bpp = EncoderSettings { target_bpp: Some(1.0), quality: None, ..EncoderSettings::from_preset(Preset::Better) };
/// let sized = Encoder::new(64, 48, PixelFormat::Rgb8, one_bpp)?.encode(&pixels)?;
/// assert!(!vc6::probe(&lossy)?.lossless);
/// assert!((sized.len() as f64 * 8.0 / (64.0 * 48.0) - 1.0).abs() < 0.05);
/// # Ok::<(), vc6::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// Quality preset.
    pub preset: Preset,
    /// Echelons per plane including the lowest (`None`: until the picture is at most
    /// 16 pixels on its longer side).
    pub echelons: Option<u8>,
    /// Upsampler used to predict each echelon from the one below.
    pub upsampler: Upsampler,
    /// Bit depth of the samples for 16-bit formats (10, 12, 16 ...); `None`: the
    /// container's depth.
    pub bit_depth: Option<u8>,
    /// Reversible YCoCg-R colour transform (`None`: on for RGB formats).
    pub colour_transform: Option<bool>,
    /// log2 of the tile side in coefficients, 2..=8: 7 (128 x 128) for lossless coding,
    /// where the entropy coder's 32 lanes per tile cost least in large tiles; 6 (64 x 64)
    /// in the lossy presets, whose tiles are smaller in bytes anyway. Smaller tiles mean
    /// finer region decoding and more parallel work per picture.
    pub tile_log2: u8,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Which backend encodes (the encoder runs on the CPU for every backend today).
    pub backend: Backend,
    /// Lossy coding at this quality, 0 to 100, fractions allowed (`None`: lossless). Lower is smaller and
    /// less exact, alike at every bit depth; 100 quantises with a step of 1 and still
    /// reconstructs exactly. Needs a lossy preset (`from_preset(Preset::Better)` or
    /// `Light`): the lossless preset refuses it, as it refuses `target_bpp`.
    pub quality: Option<f32>,
    /// Lossy streams: the predicted-average step (each block's average predicted as the
    /// sample below, so the average residual corrects the echelon below). On by default.
    pub predicted_average: bool,
    /// Fit the upsampler's taps to each picture and send them in the stream, instead of
    /// `upsampler`'s (which remains the fallback for pictures too small to fit).
    pub adaptive_upsampler: bool,
    /// Lossy coding at this many bits per pixel, instead of a quality: the encoder runs
    /// several passes until the stream is within 1% of it (when reachable).
    pub target_bpp: Option<f64>,
    /// Lossy streams of formats with alpha: code the alpha plane exactly, the colour
    /// planes at the quality or target rate. Ignored for formats without alpha.
    pub lossless_alpha: bool,
    /// Expert: lanes of every coded tile, 1, 8 or 32 (`None`: chosen per tile by its
    /// size). More lanes decode faster on SIMD and GPUs and cost 2 bytes each per tile.
    pub lanes: Option<usize>,
    /// Expert: contexts per plane of each residual section, 1 to 8 (`None`: chosen by
    /// the section's size).
    pub contexts: Option<u8>,
    /// Expert, lossy streams: code the planes this many bits below their samples' unit,
    /// 0 to 7 (`None`: 5, fewer for samples above 11 bits, 0 at quality 100); the exact
    /// alpha plane of `lossless_alpha` gets none. Fractions of a sample in the echelons
    /// are what high-fidelity lossy coding needs; 0 gives the streams of earlier versions.
    pub fraction_bits: Option<u8>,
}

impl EncoderSettings {
    /// The settings of a preset.
    pub fn from_preset(preset: Preset) -> EncoderSettings {
        let lossy = EncoderSettings {
            preset,
            quality: Some(80.0),
            predicted_average: true,
            tile_log2: 6,
            ..EncoderSettings::default()
        };
        match preset {
            Preset::Lossless => EncoderSettings::default(),
            Preset::Light => EncoderSettings {
                upsampler: Upsampler::Linear,
                ..lossy
            },
            Preset::Better => EncoderSettings {
                upsampler: Upsampler::Cubic,
                ..lossy
            },
        }
    }
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            preset: Preset::Lossless,
            echelons: None,
            upsampler: Upsampler::Cubic,
            bit_depth: None,
            colour_transform: None,
            tile_log2: 7,
            threads: 0,
            backend: Backend::Auto,
            quality: None,
            predicted_average: true,
            adaptive_upsampler: false,
            target_bpp: None,
            lossless_alpha: false,
            lanes: None,
            contexts: None,
            fraction_bits: None,
        }
    }
}

/// Encodes frames of one size and pixel format.
///
/// ```
/// use vc6::{Encoder, EncoderSettings, PixelFormat};
/// let (w, h) = (64, 48);
/// let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
/// let enc = Encoder::new(w, h, PixelFormat::Rgb8, EncoderSettings::default())?;
/// let stream = enc.encode(&pixels)?;
/// assert_eq!(vc6::probe(&stream)?.width, 64);
/// # Ok::<(), vc6::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    width: u32,
    height: u32,
    format: PixelFormat,
    settings: EncoderSettings,
}

impl Encoder {
    /// An encoder for `width x height` frames in `format`.
    pub fn new(
        width: u32,
        height: u32,
        format: PixelFormat,
        settings: EncoderSettings,
    ) -> Result<Encoder> {
        let mut enc = Encoder {
            width,
            height,
            format,
            settings,
        };
        enc.reconfigure(width, height, format)?;
        Ok(enc)
    }

    /// Changes the frame size and format, keeping the settings.
    pub fn reconfigure(&mut self, width: u32, height: u32, format: PixelFormat) -> Result<()> {
        if width == 0 || height == 0 || width > 65535 || height > 65535 {
            return Err(Error::Parameter(format!(
                "frame size {width}x{height} is outside 1..=65535"
            )));
        }
        let depth = self.settings.bit_depth.unwrap_or(format.container_bits());
        if depth == 0 || depth > format.container_bits() {
            return Err(Error::Parameter(format!(
                "bit depth {depth} does not fit the {format} format ({} bits)",
                format.container_bits()
            )));
        }
        self.settings.upsampler.validate()?;
        if let Some(q) = self.settings.quality.filter(|q| !(0.0..=100.0).contains(q)) {
            return Err(Error::Parameter(format!(
                "quality must be from 0 to 100, got {q}"
            )));
        }
        if self.settings.preset == Preset::Lossless
            && (self.settings.quality.is_some() || self.settings.target_bpp.is_some())
        {
            return Err(Error::Parameter(
                "the lossless preset takes no quality or target bits per pixel (start from \
                 EncoderSettings::from_preset(Preset::Better) or Preset::Light for lossy coding)"
                    .into(),
            ));
        }
        if self.settings.quality.is_some() && self.settings.target_bpp.is_some() {
            return Err(Error::Parameter(
                "give a quality or a target bits per pixel, not both".into(),
            ));
        }
        if self
            .settings
            .target_bpp
            .is_some_and(|b| !(b.is_finite() && b > 0.0))
        {
            return Err(Error::Parameter(
                "target bits per pixel must be positive".into(),
            ));
        }
        (self.width, self.height, self.format) = (width, height, format);
        Ok(())
    }

    /// The frame size and format this encoder takes.
    pub fn frame(&self) -> (u32, u32, PixelFormat) {
        (self.width, self.height, self.format)
    }

    /// Bytes of one input frame.
    pub fn frame_len(&self) -> Result<usize> {
        self.format.frame_len(self.width, self.height)
    }

    fn config(&self, colour_default: bool, format_tag: u8) -> EncoderConfig {
        EncoderConfig {
            echelons: self.settings.echelons,
            upsampler: self.settings.upsampler,
            colour_transform: self.settings.colour_transform.unwrap_or(colour_default),
            tile_log2: self.settings.tile_log2,
            checksums: true,
            format_tag,
            threads: self.settings.threads,
            quality: self.settings.quality,
            predicted_average: self.settings.predicted_average,
            adaptive_upsampler: self.settings.adaptive_upsampler,
            target_bpp: self.settings.target_bpp,
            exact_plane: (self.settings.lossless_alpha && self.format.has_alpha()).then_some(3),
            lanes: self.settings.lanes,
            contexts: self.settings.contexts,
            precision: None,
            fraction_bits: self.settings.fraction_bits,
        }
    }

    /// Encodes one packed frame (see [`PixelFormat`] for the layouts).
    pub fn encode(&self, pixels: &[u8]) -> Result<Vec<u8>> {
        let depth = self
            .settings
            .bit_depth
            .unwrap_or(self.format.container_bits());
        let picture = self
            .format
            .to_picture(pixels, self.width, self.height, depth)?;
        vc6_core::encode(
            &picture,
            &self.config(self.format.is_rgb(), self.format.tag()),
        )
    }

    /// Encodes many packed frames of this encoder's size and format, one job per frame on
    /// `threads` threads (0 = every core; each frame's own encode then runs on one):
    /// one result per frame, in order, so a bad frame fails alone.
    ///
    /// ```
    /// use vc6::{Encoder, EncoderSettings, PixelFormat};
    /// let enc = Encoder::new(8, 8, PixelFormat::Gray8, EncoderSettings::default())?;
    /// let (a, b) = (vec![7u8; 64], vec![9u8; 63]);
    /// let out = enc.encode_batch(&[&a, &b]);
    /// assert!(out[0].is_ok() && out[1].is_err());
    /// # Ok::<(), vc6::Error>(())
    /// ```
    pub fn encode_batch(&self, frames: &[&[u8]]) -> Vec<Result<Vec<u8>>> {
        let one = Encoder {
            settings: EncoderSettings {
                threads: 1,
                ..self.settings.clone()
            },
            ..self.clone()
        };
        vc6_core::parallel::map(self.settings.threads, frames.to_vec(), |f| one.encode(f))
    }

    /// Encodes a generic planar picture (any planes, sizes and depths); the stream's
    /// format tag says "planar" and the colour transform is off unless set.
    pub fn encode_picture(&self, picture: &Picture) -> Result<Vec<u8>> {
        vc6_core::encode(picture, &self.config(false, 0))
    }

    /// Reads one raw frame from `input`, encodes it and writes the stream to `output`;
    /// returns the stream length.
    pub fn encode_file(&self, input: &Path, output: &Path) -> Result<u64> {
        let pixels = std::fs::read(input)?;
        let stream = self.encode(&pixels)?;
        std::fs::write(output, &stream)?;
        Ok(stream.len() as u64)
    }
}

/// What to decode: a level of quality and a rectangle in that level's pixel grid.
/// `width == 0 && height == 0` means the whole picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameRegion {
    /// Level of quality: 0 is full size, k is the picture halved (rounding up) k times.
    pub loq: u8,
    /// Left edge in the LoQ's grid.
    pub x: u32,
    /// Top edge in the LoQ's grid.
    pub y: u32,
    /// Width (0 with `height == 0`: everything).
    pub width: u32,
    /// Height (0 with `width == 0`: everything).
    pub height: u32,
}

impl FrameRegion {
    /// The whole picture at `loq`.
    pub fn full(loq: u8) -> FrameRegion {
        FrameRegion {
            loq,
            ..Default::default()
        }
    }

    fn core_region(&self) -> Option<Region> {
        (self.width != 0 || self.height != 0).then_some(Region {
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        })
    }
}

/// A decoded, packed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of `data`.
    pub format: PixelFormat,
    /// Significant bits per sample (LSB-aligned).
    pub bit_depth: u8,
    /// The pixels.
    pub data: Vec<u8>,
}

/// Decoder settings. `DecoderSettings::default()` decodes any stream within the default
/// [`Limits`] into its own pixel format on every core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecoderSettings {
    /// Largest picture width accepted (0: the limit in `limits`).
    pub max_width: u32,
    /// Largest picture height accepted (0: the limit in `limits`).
    pub max_height: u32,
    /// Output pixel format (`None`: the stream's own).
    pub format: Option<PixelFormat>,
    /// Which backend decodes.
    pub backend: Backend,
    /// The GPU a GPU backend decodes on (`None`: `VC6_CUDA_DEVICE` / `OCL_DEVICE`, else
    /// the first). CUDA: an index among the devices `CUDA_VISIBLE_DEVICES` leaves, or text
    /// the device's name contains (`"1"`, `"h100"`); OpenCL: text the device's name,
    /// vendor or platform contains. Each device's backend is opened once per process and
    /// shared. The CPU backend ignores it.
    pub device: Option<String>,
    /// Worker threads (0 = all cores, 1 = the calling thread).
    pub threads: usize,
    /// Bounds for untrusted streams.
    pub limits: Limits,
}

/// Decodes streams, whole or in part.
///
/// ```
/// use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
/// let pixels: Vec<u8> = (0..100 * 60).map(|i| (i % 97) as u8).collect();
/// let stream = Encoder::new(100, 60, PixelFormat::Gray8, EncoderSettings::default())?.encode(&pixels)?;
/// let dec = Decoder::new(DecoderSettings::default())?;
/// assert_eq!(dec.decode(&stream)?.data, pixels);
/// // Half size, from just the bytes that LoQ needs.
/// let need = vc6::required_size(&stream, 1)? as usize;
/// let half = dec.decode_region(&stream[..need], FrameRegion::full(1))?;
/// assert_eq!((half.width, half.height), (50, 30));
/// // A 10x10 window of the full-size picture.
/// let region = FrameRegion { loq: 0, x: 20, y: 5, width: 10, height: 10 };
/// assert_eq!(dec.decode_region(&stream, region)?.data[0], pixels[5 * 100 + 20]);
/// # Ok::<(), vc6::Error>(())
/// ```
///
/// The decoder runs on the backend its settings pick ([`Backend::Auto`]: a GPU when one
/// is compiled in and present, else the CPU); every backend gives the same bytes. A CPU
/// decoder keeps the echelon buffers of its last decode for the next one. A decoder is
/// `Sync`: concurrent decodes on one decoder are fine.
#[derive(Debug, Clone)]
pub struct Decoder {
    settings: DecoderSettings,
    backend: Arc<dyn vc6_core::Backend>,
}

/// One decode prepared on the host: the checked plan and where the pixels go.
struct Prepared {
    plan: Plan,
    format: PixelFormat,
    layout: OutputLayout,
}

impl Decoder {
    /// A decoder with these settings; fails when the chosen backend cannot run here.
    pub fn new(settings: DecoderSettings) -> Result<Decoder> {
        let backend = settings
            .backend
            .instantiate(settings.threads, settings.device.as_deref())?;
        let mut d = Decoder { settings, backend };
        d.reconfigure(
            d.settings.max_width,
            d.settings.max_height,
            d.settings.format,
        )?;
        Ok(d)
    }

    /// Changes the largest accepted size and the output format.
    pub fn reconfigure(
        &mut self,
        max_width: u32,
        max_height: u32,
        format: Option<PixelFormat>,
    ) -> Result<()> {
        self.settings.max_width = max_width;
        self.settings.max_height = max_height;
        self.settings.format = format;
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> &DecoderSettings {
        &self.settings
    }

    /// The backend that runs the decodes (`cpu`, `opencl`, ...).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The device the backend runs on, for people.
    pub fn device(&self) -> String {
        self.backend.device()
    }

    pub(crate) fn options(&self, region: FrameRegion) -> DecodeOptions {
        let mut limits = self.settings.limits;
        if self.settings.max_width != 0 {
            limits.max_width = limits.max_width.min(self.settings.max_width);
        }
        if self.settings.max_height != 0 {
            limits.max_height = limits.max_height.min(self.settings.max_height);
        }
        DecodeOptions {
            loq: region.loq,
            region: region.core_region(),
            limits,
            threads: self.settings.threads,
            verify_checksums: true,
        }
    }

    /// Decodes the whole picture at full resolution.
    pub fn decode(&self, stream: &[u8]) -> Result<Frame> {
        self.decode_region(stream, FrameRegion::default())
    }

    /// Decodes a region at a level of quality. `stream` may be a prefix of the whole
    /// stream holding at least [`required_size`] bytes for that LoQ.
    pub fn decode_region(&self, stream: &[u8], region: FrameRegion) -> Result<Frame> {
        match self.prepare(stream, region)? {
            Some(p) => {
                let mut data = vec![0u8; p.layout.len];
                self.backend.decode(DecodeJob {
                    plan: &p.plan,
                    stream,
                    layout: &p.layout,
                    out: &mut data,
                })?;
                Ok(p.frame(data))
            }
            None => self.decode_converted(stream, region),
        }
    }

    /// Decodes many streams, each with its region, in one call: a GPU backend submits
    /// them together and waits once, which is its fast path. Results are in input order;
    /// one bad stream fails only its own entry.
    ///
    /// ```
    /// use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
    /// let enc = Encoder::new(40, 30, PixelFormat::Gray8, EncoderSettings::default())?;
    /// let a = enc.encode(&[7u8; 1200])?;
    /// let b = enc.encode(&[9u8; 1200])?;
    /// let dec = Decoder::new(DecoderSettings::default())?;
    /// let frames = dec.decode_batch(&[(&a[..], FrameRegion::default()), (&b[..], FrameRegion::full(1))]);
    /// assert_eq!(frames[0].as_ref().unwrap().data, vec![7u8; 1200]);
    /// assert_eq!(frames[1].as_ref().unwrap().width, 20);
    /// # Ok::<(), vc6::Error>(())
    /// ```
    pub fn decode_batch(&self, items: &[(&[u8], FrameRegion)]) -> Vec<Result<Frame>> {
        let mut results: Vec<Option<Result<Frame>>> = Vec::with_capacity(items.len());
        let mut ready = Vec::new();
        // Parsing and checking (CRCs, tables, tableaux) of every stream, on every core.
        let prepared = vc6_core::parallel::map(self.settings.threads, items.to_vec(), |(s, r)| {
            self.prepare(s, r)
        });
        for (i, (&(stream, region), prepared)) in items.iter().zip(prepared).enumerate() {
            match prepared {
                Ok(Some(p)) => {
                    let data = vec![0u8; p.layout.len];
                    ready.push((i, p, data));
                    results.push(None);
                }
                Ok(None) => results.push(Some(self.decode_converted(stream, region))),
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let jobs = ready
            .iter_mut()
            .map(|(i, p, data)| DecodeJob {
                plan: &p.plan,
                stream: items[*i].0,
                layout: &p.layout,
                out: data,
            })
            .collect();
        let outcomes = self.backend.decode_batch(jobs);
        for ((i, p, data), outcome) in ready.into_iter().zip(outcomes) {
            results[i] = Some(outcome.map(|()| p.frame(data)));
        }
        results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect()
    }

    /// Like [`Decoder::decode_region`], into a caller buffer of exactly the frame's
    /// length; returns (width, height, format). A stream that fails its checks (header,
    /// tables, lengths, checksums) leaves `out` untouched; one whose tile data turns out
    /// corrupt while decoding may leave part of the picture in it.
    pub fn decode_into(
        &self,
        stream: &[u8],
        region: FrameRegion,
        out: &mut [u8],
    ) -> Result<(u32, u32, PixelFormat)> {
        if let Some(p) = self.prepare(stream, region)? {
            if out.len() != p.layout.len {
                let (w, h) = p.plan.output_size(0);
                return Err(Error::Parameter(format!(
                    "a {w}x{h} {} frame is {} bytes, the output buffer has {}",
                    p.format,
                    p.layout.len,
                    out.len()
                )));
            }
            self.backend.decode(DecodeJob {
                plan: &p.plan,
                stream,
                layout: &p.layout,
                out,
            })?;
            let (w, h) = p.plan.output_size(0);
            return Ok((w, h, p.format));
        }
        let (picture, format) = self.decode_picture_as(stream, region)?;
        format.from_picture_into(&picture, out)?;
        Ok((picture.planes[0].width, picture.planes[0].height, format))
    }

    /// Plans a decode straight into the output format: `None` when the output needs a
    /// format conversion (or the stream has no pixel format), which goes through a
    /// [`Picture`].
    fn prepare(&self, stream: &[u8], region: FrameRegion) -> Result<Option<Prepared>> {
        let header = vc6_core::Header::parse(stream)?;
        let Some(own) = PixelFormat::from_tag(header.format_tag) else {
            return Ok(None);
        };
        if self.settings.format.is_some_and(|f| f != own)
            || own.plane_count() != header.planes.len()
        {
            return Ok(None);
        }
        check_region_parity(own, region)?;
        let plan = Plan::with_header(header, stream, &self.options(region))?;
        let Some(layout) = own.layout(&plan) else {
            return Ok(None);
        };
        Ok(Some(Prepared {
            plan,
            format: own,
            layout,
        }))
    }

    /// Decodes to planes, for generic planar streams (no pixel format needed).
    pub fn decode_picture(&self, stream: &[u8], region: FrameRegion) -> Result<Picture> {
        let header = vc6_core::Header::parse(stream)?;
        // The planes are copied out of the decoded bytes: that copy counts too.
        let copy = planes_bytes(&header, region.loq);
        self.decode_picture_within(stream, region, header, copy)
    }

    /// [`Decoder::decode_picture`] with `extra` bytes of the working-memory limit kept
    /// for what the caller allocates beside the decode (the picture's copy, a conversion).
    fn decode_picture_within(
        &self,
        stream: &[u8],
        region: FrameRegion,
        header: vc6_core::Header,
        extra: u64,
    ) -> Result<Picture> {
        let mut options = self.options(region);
        let limit = options.limits.max_alloc_bytes;
        if extra > limit {
            return Err(Error::LimitsExceeded(format!(
                "the decoded planes and their conversion need {extra} bytes of working \
                 memory, limit is {limit}"
            )));
        }
        options.limits.max_alloc_bytes = limit - extra;
        let plan = Plan::with_header(header, stream, &options)?;
        let layout = OutputLayout::planar(&plan, SampleType::U16);
        let mut bytes = vec![0u8; layout.len];
        self.backend.decode(DecodeJob {
            plan: &plan,
            stream,
            layout: &layout,
            out: &mut bytes,
        })?;
        let planes = (0..plan.header.planes.len())
            .map(|p| {
                let (width, height) = plan.output_size(p);
                let at = layout.planes[p].offset;
                let n = width as usize * height as usize;
                Plane {
                    width,
                    height,
                    bit_depth: plan.header.planes[p].bit_depth,
                    samples: bytes[at..at + 2 * n]
                        .chunks_exact(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]]))
                        .collect(),
                }
            })
            .collect();
        Ok(Picture { planes })
    }

    /// Reads a stream from `path` and decodes a region of it.
    pub fn decode_file(&self, path: &Path, region: FrameRegion) -> Result<Frame> {
        self.decode_region(&std::fs::read(path)?, region)
    }

    /// Decodes a region and writes its packed pixels to `path` as raw bytes.
    pub fn decode_to_file(&self, stream: &[u8], region: FrameRegion, path: &Path) -> Result<Frame> {
        let frame = self.decode_region(stream, region)?;
        std::fs::write(path, &frame.data)?;
        Ok(frame)
    }

    /// The slow path: planes, then a format conversion on the host.
    fn decode_converted(&self, stream: &[u8], region: FrameRegion) -> Result<Frame> {
        let (picture, format) = self.decode_picture_as(stream, region)?;
        let p0 = &picture.planes[0];
        let (width, height, bit_depth) = (p0.width, p0.height, p0.bit_depth);
        let data = format.from_picture(&picture)?;
        Ok(Frame {
            width,
            height,
            format,
            bit_depth,
            data,
        })
    }

    fn decode_picture_as(
        &self,
        stream: &[u8],
        region: FrameRegion,
    ) -> Result<(Picture, PixelFormat)> {
        let info = vc6_core::probe(stream)?;
        let Some(own) = PixelFormat::from_tag(info.format_tag) else {
            return Err(Error::Unsupported(format!(
                "the stream holds {} generic planes with no pixel format; use decode_picture",
                info.planes.len()
            )));
        };
        let out = self.settings.format.unwrap_or(own);
        check_region_parity(out, region)?;
        let header = vc6_core::Header::parse(stream)?;
        // Beside the decode: the planes' copy, the converted planes and the packed frame.
        let (w, h) = header.planes[0].size_at(region.loq.min(header.planes[0].echelons - 1));
        let frame = out.frame_len(w, h)? as u64;
        let converted = if out == own {
            0
        } else {
            frame * 2 / out.bytes_per_sample() as u64
        };
        let extra = planes_bytes(&header, region.loq) + converted + frame;
        let picture = self.decode_picture_within(stream, region, header, extra)?;
        // Planes with echelon counts of their own can have sizes at a lower LoQ that no
        // longer fit the declared format: the stream cannot be packed there, only given
        // as planes (not the caller's mistake, so not a parameter error).
        own.check_picture(&picture).map_err(|e| match e {
            Error::Parameter(m) => Error::Unsupported(format!(
                "at LoQ {} the stream's planes do not fit its own format ({m}); \
                 decode_picture gives them as planes",
                region.loq
            )),
            e => e,
        })?;
        if out == own {
            Ok((picture, own))
        } else {
            Ok((convert_picture(picture, own, out)?, out))
        }
    }
}

impl Prepared {
    fn frame(self, data: Vec<u8>) -> Frame {
        let (width, height) = self.plan.output_size(0);
        Frame {
            width,
            height,
            format: self.format,
            bit_depth: self.plan.header.planes[0].bit_depth,
            data,
        }
    }
}

/// Subsampled chroma can only be cut at even luma positions and keep its layout.
fn check_region_parity(out: PixelFormat, region: FrameRegion) -> Result<()> {
    let (cw, ch) = out.plane_size(1.min(out.plane_count() - 1), 2, 2);
    if out.is_planar() && ((cw == 1 && region.x % 2 == 1) || (ch == 1 && region.y % 2 == 1)) {
        return Err(Error::Parameter(format!(
            "a {out} region must start at an even {} (got {},{})",
            if cw == 1 && region.x % 2 == 1 {
                "x"
            } else {
                "y"
            },
            region.x,
            region.y
        )));
    }
    Ok(())
}

/// Bytes of a picture's `u16` planes at `loq` (each plane at its own echelon).
fn planes_bytes(header: &vc6_core::Header, loq: u8) -> u64 {
    header
        .planes
        .iter()
        .map(|p| {
            let (w, h) = p.size_at(loq.min(p.echelons - 1));
            2 * u64::from(w) * u64::from(h)
        })
        .sum()
}

/// Reads size, format, planes and echelons from the first bytes of a stream
/// (1024 bytes are enough for pictures of up to 150 planes).
pub fn probe(first_bytes: &[u8]) -> Result<vc6_core::StreamInfo> {
    vc6_core::probe(first_bytes)
}

/// Bytes from the start of a stream needed to decode at `loq`, from its first bytes.
pub fn required_size(first_bytes: &[u8], loq: u8) -> Result<u64> {
    vc6_core::required_size(first_bytes, loq)
}
