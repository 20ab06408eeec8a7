//! Pixel formats: how a frame of raw bytes maps onto the planes of a [`Picture`].
//!
//! # Sample layouts
//!
//! Every format stores rows top to bottom, pixels left to right, with no row
//! padding. Samples are **LSB-aligned**: a 10-bit sample in a 16-bit container
//! holds a value in `0..1024`, so 10- or 12-bit content is declared with a
//! smaller bit depth in the same container. 16-bit containers are always
//! **little-endian `u16` words**, whatever the host byte order.
//!
//! * `gray8`, `gray16`: one sample per pixel.
//! * `rgb8`, `rgb16`, `bgr8`: three interleaved samples per pixel in the order
//!   named (`bgr8` is B, G, R in memory).
//! * `rgba8`, `rgba16`, `bgra8`: four interleaved samples per pixel in the
//!   order named; alpha is straight (not premultiplied), max value = opaque.
//! * `yuv420p`, `yuv422p`, `yuv444p` and their `16` variants: planar, the whole
//!   Y plane, then the whole U plane, then the whole V plane, each plane's rows
//!   contiguous. 4:2:0 chroma planes are `ceil(w/2) x ceil(h/2)`, 4:2:2 chroma
//!   planes are `ceil(w/2) x h`, 4:4:4 chroma planes are full size.
//!
//! # Plane order in a [`Picture`]
//!
//! Gray formats give one plane. RGB-family formats always give the planes
//! R, G, B (then A), whatever the byte order in memory, so `bgr8` and `rgb8`
//! frames of the same image give equal pictures. YUV formats give Y, U, V.

use std::fmt;
use std::str::FromStr;

use vc6_core::picture::MAX_DIMENSION;
use vc6_core::{Error, OutputLayout, Picture, Plan, Plane, Result, SampleType};

/// A raw frame layout: channel order, container size and chroma subsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// One 8-bit gray sample per pixel.
    Gray8,
    /// One 16-bit (little-endian) gray sample per pixel.
    Gray16,
    /// Interleaved 8-bit R, G, B.
    Rgb8,
    /// Interleaved 8-bit R, G, B, A.
    Rgba8,
    /// Interleaved 8-bit B, G, R.
    Bgr8,
    /// Interleaved 8-bit B, G, R, A.
    Bgra8,
    /// Interleaved 16-bit (little-endian) R, G, B.
    Rgb16,
    /// Interleaved 16-bit (little-endian) R, G, B, A.
    Rgba16,
    /// Planar 8-bit Y, U, V with 4:2:0 chroma.
    Yuv420p8,
    /// Planar 8-bit Y, U, V with 4:2:2 chroma.
    Yuv422p8,
    /// Planar 8-bit Y, U, V with full-size chroma.
    Yuv444p8,
    /// Planar 16-bit (little-endian) Y, U, V with 4:2:0 chroma.
    Yuv420p16,
    /// Planar 16-bit (little-endian) Y, U, V with 4:2:2 chroma.
    Yuv422p16,
    /// Planar 16-bit (little-endian) Y, U, V with full-size chroma.
    Yuv444p16,
}

/// Chroma subsampling of the planar formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chroma {
    S420,
    S422,
    S444,
}

/// The channel family of a format, independent of container size and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Gray,
    Rgb { alpha: bool },
    Yuv(Chroma),
}

impl PixelFormat {
    /// Every format, in tag order.
    pub const ALL: [PixelFormat; 14] = [
        PixelFormat::Gray8,
        PixelFormat::Gray16,
        PixelFormat::Rgb8,
        PixelFormat::Rgba8,
        PixelFormat::Bgr8,
        PixelFormat::Bgra8,
        PixelFormat::Rgb16,
        PixelFormat::Rgba16,
        PixelFormat::Yuv420p8,
        PixelFormat::Yuv422p8,
        PixelFormat::Yuv444p8,
        PixelFormat::Yuv420p16,
        PixelFormat::Yuv422p16,
        PixelFormat::Yuv444p16,
    ];

    /// The canonical lowercase name (`"rgb8"`, `"yuv420p"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Gray8 => "gray8",
            PixelFormat::Gray16 => "gray16",
            PixelFormat::Rgb8 => "rgb8",
            PixelFormat::Rgba8 => "rgba8",
            PixelFormat::Bgr8 => "bgr8",
            PixelFormat::Bgra8 => "bgra8",
            PixelFormat::Rgb16 => "rgb16",
            PixelFormat::Rgba16 => "rgba16",
            PixelFormat::Yuv420p8 => "yuv420p",
            PixelFormat::Yuv422p8 => "yuv422p",
            PixelFormat::Yuv444p8 => "yuv444p",
            PixelFormat::Yuv420p16 => "yuv420p16",
            PixelFormat::Yuv422p16 => "yuv422p16",
            PixelFormat::Yuv444p16 => "yuv444p16",
        }
    }

    /// The stable stream tag, 1..=14 in [`PixelFormat::ALL`] order (0 means generic planar).
    pub fn tag(self) -> u8 {
        match self {
            PixelFormat::Gray8 => 1,
            PixelFormat::Gray16 => 2,
            PixelFormat::Rgb8 => 3,
            PixelFormat::Rgba8 => 4,
            PixelFormat::Bgr8 => 5,
            PixelFormat::Bgra8 => 6,
            PixelFormat::Rgb16 => 7,
            PixelFormat::Rgba16 => 8,
            PixelFormat::Yuv420p8 => 9,
            PixelFormat::Yuv422p8 => 10,
            PixelFormat::Yuv444p8 => 11,
            PixelFormat::Yuv420p16 => 12,
            PixelFormat::Yuv422p16 => 13,
            PixelFormat::Yuv444p16 => 14,
        }
    }

    /// The format with this stream tag; `None` for 0 (generic planar) and unknown tags.
    pub fn from_tag(tag: u8) -> Option<PixelFormat> {
        match tag {
            1..=14 => Some(PixelFormat::ALL[usize::from(tag - 1)]),
            _ => None,
        }
    }

    /// Bits in one sample's container: 8 or 16.
    pub fn container_bits(self) -> u8 {
        match self {
            PixelFormat::Gray8
            | PixelFormat::Rgb8
            | PixelFormat::Rgba8
            | PixelFormat::Bgr8
            | PixelFormat::Bgra8
            | PixelFormat::Yuv420p8
            | PixelFormat::Yuv422p8
            | PixelFormat::Yuv444p8 => 8,
            PixelFormat::Gray16
            | PixelFormat::Rgb16
            | PixelFormat::Rgba16
            | PixelFormat::Yuv420p16
            | PixelFormat::Yuv422p16
            | PixelFormat::Yuv444p16 => 16,
        }
    }

    /// Bytes in one sample's container: 1 or 2.
    pub fn bytes_per_sample(self) -> usize {
        usize::from(self.container_bits() / 8)
    }

    /// Planes in the [`Picture`] form: gray 1, RGB/BGR 3, RGBA/BGRA 4, YUV 3.
    pub fn plane_count(self) -> usize {
        match self.family() {
            Family::Gray => 1,
            Family::Rgb { alpha: false } | Family::Yuv(_) => 3,
            Family::Rgb { alpha: true } => 4,
        }
    }

    /// True for the RGB, RGBA, BGR and BGRA formats.
    pub fn is_rgb(self) -> bool {
        matches!(self.family(), Family::Rgb { .. })
    }

    /// True for the formats with an alpha channel.
    pub fn has_alpha(self) -> bool {
        matches!(self.family(), Family::Rgb { alpha: true })
    }

    /// True for the planar (YUV) formats.
    pub fn is_planar(self) -> bool {
        matches!(self.family(), Family::Yuv(_))
    }

    /// Size of plane `plane` of a `width x height` frame (chroma planes of 4:2:0
    /// and 4:2:2 are subsampled, rounding up; everything else is full size).
    pub fn plane_size(self, plane: usize, width: u32, height: u32) -> (u32, u32) {
        let half = |v: u32| v / 2 + (v & 1);
        match (self.family(), plane) {
            (Family::Yuv(Chroma::S420), 1 | 2) => (half(width), half(height)),
            (Family::Yuv(Chroma::S422), 1 | 2) => (half(width), height),
            _ => (width, height),
        }
    }

    /// Bytes of one `width x height` frame in this layout; an error on overflow.
    pub fn frame_len(self, width: u32, height: u32) -> Result<usize> {
        let overflow = || {
            Error::Parameter(format!(
                "a {width}x{height} {self} frame is too large for this platform"
            ))
        };
        let samples = if self.is_planar() {
            (0..3).try_fold(0usize, |acc, p| {
                let (pw, ph) = self.plane_size(p, width, height);
                (pw as usize)
                    .checked_mul(ph as usize)
                    .and_then(|n| acc.checked_add(n))
            })
        } else {
            (width as usize)
                .checked_mul(height as usize)
                .and_then(|n| n.checked_mul(self.plane_count()))
        };
        samples
            .and_then(|n| n.checked_mul(self.bytes_per_sample()))
            .ok_or_else(overflow)
    }

    /// Splits a packed frame into the planes of a [`Picture`] (see the module docs
    /// for the plane order). `bit_depth` is the significant bits per sample,
    /// 1..=[`container_bits`](Self::container_bits); every sample must fit in it.
    pub fn to_picture(
        self,
        pixels: &[u8],
        width: u32,
        height: u32,
        bit_depth: u8,
    ) -> Result<Picture> {
        check_dims(width, height)?;
        self.check_depth(bit_depth)?;
        let expected = self.frame_len(width, height)?;
        if pixels.len() != expected {
            return Err(Error::Parameter(format!(
                "a {width}x{height} {self} frame is {expected} bytes, got {}",
                pixels.len()
            )));
        }
        let sixteen = self.container_bits() == 16;
        let mut samples: Vec<Vec<u16>> = match self.family() {
            Family::Gray => {
                if sixteen {
                    vec![split_planar::<2>(pixels)]
                } else {
                    vec![split_planar::<1>(pixels)]
                }
            }
            Family::Rgb { alpha: false } => {
                let n = width as usize * height as usize;
                let [a, b, c] = if sixteen {
                    split3::<2>(pixels, n)
                } else {
                    split3::<1>(pixels, n)
                };
                vec![a, b, c]
            }
            Family::Rgb { alpha: true } => {
                let n = width as usize * height as usize;
                let [a, b, c, d] = if sixteen {
                    split4::<2>(pixels, n)
                } else {
                    split4::<1>(pixels, n)
                };
                vec![a, b, c, d]
            }
            Family::Yuv(_) => {
                let bps = self.bytes_per_sample();
                let mut rest = pixels;
                let mut out = Vec::with_capacity(3);
                for p in 0..3 {
                    let (pw, ph) = self.plane_size(p, width, height);
                    let len = pw as usize * ph as usize * bps;
                    let (bytes, tail) = rest.split_at(len.min(rest.len()));
                    rest = tail;
                    out.push(if sixteen {
                        split_planar::<2>(bytes)
                    } else {
                        split_planar::<1>(bytes)
                    });
                }
                out
            }
        };
        if self.is_bgr() {
            // Byte order B, G, R(, A) -> picture order R, G, B(, A).
            samples.swap(0, 2);
        }
        let planes = samples
            .into_iter()
            .enumerate()
            .map(|(p, s)| {
                let (pw, ph) = self.plane_size(p, width, height);
                Plane {
                    width: pw,
                    height: ph,
                    bit_depth,
                    samples: s,
                }
            })
            .collect::<Vec<_>>();
        if bit_depth < self.container_bits() {
            for (p, plane) in planes.iter().enumerate() {
                if let Some((i, v)) = first_above(&plane.samples, max_for(bit_depth)) {
                    let (x, y) = (i % plane.width as usize, i / plane.width as usize);
                    return Err(Error::Parameter(format!(
                        "sample {v} of {} at ({x}, {y}) (byte offset {}) does not fit in {bit_depth} bits",
                        self.plane_name(p),
                        self.byte_offset(p, i, width, height),
                    )));
                }
            }
        }
        Ok(Picture { planes })
    }

    /// Where a backend writes each plane of `plan` to produce this format directly, or
    /// `None` when the plan's planes do not fit the format (sizes, depths or count); the
    /// caller then takes the checked [`Picture`] path, which names what is wrong.
    pub fn layout(self, plan: &Plan) -> Option<OutputLayout> {
        let (w, h) = plan.output_size(0);
        let n = plan.header.planes.len();
        let fits = n == self.plane_count()
            && (0..n).all(|p| {
                plan.output_size(p) == self.plane_size(p, w, h)
                    && plan.header.planes[p].bit_depth <= self.container_bits()
            });
        if !fits {
            return None;
        }
        let sample = match self.container_bits() {
            16 => SampleType::U16,
            _ => SampleType::U8,
        };
        let layout = match self.family() {
            Family::Gray | Family::Yuv(_) => OutputLayout::planar(plan, sample),
            Family::Rgb { .. } => {
                let channels: Vec<usize> = (0..n)
                    .map(|p| if self.is_bgr() && p < 3 { 2 - p } else { p })
                    .collect();
                OutputLayout::interleaved(plan, sample, &channels).ok()?
            }
        };
        (self.frame_len(w, h).ok() == Some(layout.len)).then_some(layout)
    }

    /// Packs a [`Picture`] into a new frame buffer; the inverse of
    /// [`to_picture`](Self::to_picture). The frame size is plane 0's size.
    pub fn from_picture(self, picture: &Picture) -> Result<Vec<u8>> {
        let (w, h) = self.check_picture(picture)?;
        let mut out = vec![0u8; self.frame_len(w, h)?];
        self.pack(picture, &mut out);
        Ok(out)
    }

    /// Like [`from_picture`](Self::from_picture), into `out`, which must be
    /// exactly [`frame_len`](Self::frame_len) bytes.
    pub fn from_picture_into(self, picture: &Picture, out: &mut [u8]) -> Result<()> {
        let (w, h) = self.check_picture(picture)?;
        let expected = self.frame_len(w, h)?;
        if out.len() != expected {
            return Err(Error::Parameter(format!(
                "a {w}x{h} {self} frame is {expected} bytes, the output buffer has {}",
                out.len()
            )));
        }
        self.pack(picture, out);
        Ok(())
    }

    fn family(self) -> Family {
        match self {
            PixelFormat::Gray8 | PixelFormat::Gray16 => Family::Gray,
            PixelFormat::Rgb8 | PixelFormat::Bgr8 | PixelFormat::Rgb16 => {
                Family::Rgb { alpha: false }
            }
            PixelFormat::Rgba8 | PixelFormat::Bgra8 | PixelFormat::Rgba16 => {
                Family::Rgb { alpha: true }
            }
            PixelFormat::Yuv420p8 | PixelFormat::Yuv420p16 => Family::Yuv(Chroma::S420),
            PixelFormat::Yuv422p8 | PixelFormat::Yuv422p16 => Family::Yuv(Chroma::S422),
            PixelFormat::Yuv444p8 | PixelFormat::Yuv444p16 => Family::Yuv(Chroma::S444),
        }
    }

    fn is_bgr(self) -> bool {
        matches!(self, PixelFormat::Bgr8 | PixelFormat::Bgra8)
    }

    fn plane_name(self, plane: usize) -> &'static str {
        match (self.family(), plane) {
            (Family::Gray, _) => "the gray plane",
            (Family::Rgb { .. }, 0) => "R",
            (Family::Rgb { .. }, 1) => "G",
            (Family::Rgb { .. }, 2) => "B",
            (Family::Rgb { .. }, _) => "A",
            (Family::Yuv(_), 0) => "Y",
            (Family::Yuv(_), 1) => "U",
            (Family::Yuv(_), _) => "V",
        }
    }

    /// Byte offset in the packed frame of sample `index` of picture plane `plane`.
    fn byte_offset(self, plane: usize, index: usize, width: u32, height: u32) -> usize {
        let bps = self.bytes_per_sample();
        if self.is_planar() {
            let before: usize = (0..plane)
                .map(|p| {
                    let (pw, ph) = self.plane_size(p, width, height);
                    pw as usize * ph as usize
                })
                .sum();
            (before + index) * bps
        } else {
            let channel = if self.is_bgr() && plane < 3 {
                2 - plane
            } else {
                plane
            };
            (index * self.plane_count() + channel) * bps
        }
    }

    fn check_depth(self, bit_depth: u8) -> Result<()> {
        if bit_depth == 0 || bit_depth > self.container_bits() {
            return Err(Error::Parameter(format!(
                "bit depth {bit_depth} is outside 1..={} for {self}",
                self.container_bits()
            )));
        }
        Ok(())
    }

    /// Checks that `picture` has this format's plane layout, that every plane's
    /// samples fit its bit depth and that the bit depth fits the container.
    /// Returns the frame size (plane 0's size).
    pub(crate) fn check_picture(self, picture: &Picture) -> Result<(u32, u32)> {
        let planes = &picture.planes;
        if planes.len() != self.plane_count() {
            return Err(Error::Parameter(format!(
                "{self} needs {} planes, the picture has {}",
                self.plane_count(),
                planes.len()
            )));
        }
        let (w, h) = (planes[0].width, planes[0].height);
        check_dims(w, h)?;
        for (p, plane) in planes.iter().enumerate() {
            let (pw, ph) = self.plane_size(p, w, h);
            if (plane.width, plane.height) != (pw, ph) {
                return Err(Error::Parameter(format!(
                    "plane {p} ({}) of a {w}x{h} {self} picture must be {pw}x{ph}, got {}x{}",
                    self.plane_name(p),
                    plane.width,
                    plane.height
                )));
            }
            if plane.bit_depth == 0 || plane.bit_depth > self.container_bits() {
                return Err(Error::Parameter(format!(
                    "plane {p} ({}) has bit depth {}, {self} holds 1..={} bits",
                    self.plane_name(p),
                    plane.bit_depth,
                    self.container_bits()
                )));
            }
            let n = pw as usize * ph as usize;
            if plane.samples.len() != n {
                return Err(Error::Parameter(format!(
                    "plane {p} ({}) of {pw}x{ph} needs {n} samples, got {}",
                    self.plane_name(p),
                    plane.samples.len()
                )));
            }
            if let Some((i, v)) = first_above(&plane.samples, max_for(plane.bit_depth)) {
                return Err(Error::Parameter(format!(
                    "sample {v} of plane {p} ({}) at ({}, {}) does not fit in {} bits",
                    self.plane_name(p),
                    i % pw as usize,
                    i / pw as usize,
                    plane.bit_depth
                )));
            }
        }
        Ok((w, h))
    }

    /// Writes a checked picture into a buffer of exactly `frame_len` bytes.
    fn pack(self, picture: &Picture, out: &mut [u8]) {
        let p = &picture.planes;
        let sixteen = self.container_bits() == 16;
        // Planes in memory (byte) order.
        let (c0, c2) = if self.is_bgr() { (2, 0) } else { (0, 2) };
        match self.family() {
            Family::Gray => {
                if sixteen {
                    merge_planar::<2>(out, &p[0].samples);
                } else {
                    merge_planar::<1>(out, &p[0].samples);
                }
            }
            Family::Rgb { alpha: false } => {
                let s = [&p[c0].samples[..], &p[1].samples[..], &p[c2].samples[..]];
                if sixteen {
                    merge3::<2>(out, s);
                } else {
                    merge3::<1>(out, s);
                }
            }
            Family::Rgb { alpha: true } => {
                let s = [
                    &p[c0].samples[..],
                    &p[1].samples[..],
                    &p[c2].samples[..],
                    &p[3].samples[..],
                ];
                if sixteen {
                    merge4::<2>(out, s);
                } else {
                    merge4::<1>(out, s);
                }
            }
            Family::Yuv(_) => {
                let bps = self.bytes_per_sample();
                let mut rest = out;
                for plane in p {
                    let len = plane.samples.len() * bps;
                    let (bytes, tail) = rest.split_at_mut(len.min(rest.len()));
                    rest = tail;
                    if sixteen {
                        merge_planar::<2>(bytes, &plane.samples);
                    } else {
                        merge_planar::<1>(bytes, &plane.samples);
                    }
                }
            }
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PixelFormat {
    type Err = Error;

    /// Parses a canonical name (case-insensitive) or a common alias such as
    /// `gray`, `grey8`, `y8`, `i420`, `yuv420p8`, `rgb24`.
    fn from_str(s: &str) -> Result<PixelFormat> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(f) = PixelFormat::ALL.iter().find(|f| f.name() == lower) {
            return Ok(*f);
        }
        let alias = match lower.as_str() {
            "gray" | "grey" | "grey8" | "y8" => Some(PixelFormat::Gray8),
            "grey16" | "y16" | "gray16le" => Some(PixelFormat::Gray16),
            "rgb24" => Some(PixelFormat::Rgb8),
            "bgr24" => Some(PixelFormat::Bgr8),
            "rgba" | "rgba32" => Some(PixelFormat::Rgba8),
            "bgra" | "bgra32" => Some(PixelFormat::Bgra8),
            "rgb48" | "rgb48le" | "rgb16le" => Some(PixelFormat::Rgb16),
            "rgba64" | "rgba64le" | "rgba16le" => Some(PixelFormat::Rgba16),
            "yuv420p8" | "i420" => Some(PixelFormat::Yuv420p8),
            "yuv422p8" => Some(PixelFormat::Yuv422p8),
            "yuv444p8" => Some(PixelFormat::Yuv444p8),
            "yuv420p16le" => Some(PixelFormat::Yuv420p16),
            "yuv422p16le" => Some(PixelFormat::Yuv422p16),
            "yuv444p16le" => Some(PixelFormat::Yuv444p16),
            _ => None,
        };
        alias.ok_or_else(|| {
            let names: Vec<&str> = PixelFormat::ALL.iter().map(|f| f.name()).collect();
            Error::Parameter(format!(
                "unknown pixel format {s:?}; valid names: {}",
                names.join(", ")
            ))
        })
    }
}

/// Converts a picture laid out as `from` into the plane layout of `to`.
///
/// Supported: any pair of gray/RGB/RGBA/BGR/BGRA formats at 8 or 16 bits
/// (adding an opaque alpha plane, dropping alpha, replicating gray into RGB,
/// BT.601 integer luma `(77R + 150G + 29B + 128) >> 8` for RGB to gray), and
/// YUV to YUV with the same subsampling (a depth change). If `to` has the same
/// container size as `from` the bit depth is kept, otherwise samples are
/// rescaled with rounding to `to.container_bits()` bits. Any other YUV
/// conversion is [`Error::Unsupported`].
pub fn convert_picture(picture: Picture, from: PixelFormat, to: PixelFormat) -> Result<Picture> {
    from.check_picture(&picture)?;
    let same_container = from.container_bits() == to.container_bits();
    let mut planes = picture.planes;
    match (from.family(), to.family()) {
        (Family::Yuv(a), Family::Yuv(b)) if a == b => {}
        (Family::Yuv(_), _) | (_, Family::Yuv(_)) => {
            return Err(Error::Unsupported(format!(
                "pixel format conversion {from} -> {to}: only a bit depth change between \
                 YUV formats of the same subsampling is supported (no colour-space or \
                 chroma resampling)"
            )));
        }
        (src, dst) => {
            let alpha = if from.has_alpha() { planes.pop() } else { None };
            // Colour planes, still at the source depth.
            let mut out: Vec<Plane> = match (src, dst) {
                (Family::Rgb { .. }, Family::Gray) => vec![luma(planes)],
                (Family::Gray, Family::Rgb { .. }) => match planes.pop() {
                    Some(y) => vec![y.clone(), y.clone(), y],
                    None => planes,
                },
                _ => planes,
            };
            if to.has_alpha() {
                let a = match (alpha, out.first()) {
                    (Some(a), _) => Some(a),
                    // Opaque: the max value of the colour planes' depth.
                    (None, Some(base)) => Some(Plane {
                        width: base.width,
                        height: base.height,
                        bit_depth: base.bit_depth,
                        samples: vec![max_for(base.bit_depth); base.samples.len()],
                    }),
                    (None, None) => None,
                };
                out.extend(a);
            }
            planes = out;
        }
    }
    if !same_container {
        for plane in &mut planes {
            rescale(plane, to.container_bits());
        }
    }
    Ok(Picture { planes })
}

/// BT.601 integer luma of checked R, G, B planes, at R's bit depth.
fn luma(mut planes: Vec<Plane>) -> Plane {
    planes.truncate(3);
    let depth = planes[0].bit_depth;
    for p in &mut planes[1..] {
        rescale(p, depth);
    }
    let mut r = planes.remove(0);
    let (g, b) = (&planes[0].samples, &planes[1].samples);
    for ((r, &g), &b) in r.samples.iter_mut().zip(g).zip(b) {
        let y = (77 * u32::from(*r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8;
        *r = y as u16;
    }
    r
}

/// Rescales a checked plane to `to` bits with round-to-nearest:
/// `(v * (2^to - 1) + (2^from - 1) / 2) / (2^from - 1)`.
fn rescale(plane: &mut Plane, to: u8) {
    let from = plane.bit_depth;
    if from == to {
        return;
    }
    let max_a = u32::from(max_for(from));
    let max_b = u32::from(max_for(to));
    let f = |v: u16| ((u32::from(v) * max_b + max_a / 2) / max_a) as u16;
    if plane.samples.len() > max_a as usize {
        let lut: Vec<u16> = (0..=max_a).map(|v| f(v as u16)).collect();
        for s in &mut plane.samples {
            // Samples are checked to be <= max_a, so the lookup is in range.
            *s = lut.get(usize::from(*s)).copied().unwrap_or(max_for(to));
        }
    } else {
        for s in &mut plane.samples {
            *s = f(*s);
        }
    }
    plane.bit_depth = to;
}

fn check_dims(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::Parameter(format!(
            "frame size {width}x{height} is outside 1..={MAX_DIMENSION}"
        )));
    }
    Ok(())
}

fn max_for(bit_depth: u8) -> u16 {
    ((1u32 << bit_depth.min(16)) - 1) as u16
}

/// First sample above `max`, with its index; a fast branch-free max scan first.
fn first_above(samples: &[u16], max: u16) -> Option<(usize, u16)> {
    if max == u16::MAX || samples.iter().fold(0u16, |m, &s| m.max(s)) <= max {
        return None;
    }
    samples
        .iter()
        .position(|&s| s > max)
        .map(|i| (i, samples[i]))
}

#[inline(always)]
fn rd<const B: usize>(px: &[u8], k: usize) -> u16 {
    if B == 1 {
        u16::from(px[k])
    } else {
        u16::from_le_bytes([px[2 * k], px[2 * k + 1]])
    }
}

#[inline(always)]
fn wr<const B: usize>(px: &mut [u8], k: usize, v: u16) {
    if B == 1 {
        px[k] = v as u8;
    } else {
        let [lo, hi] = v.to_le_bytes();
        px[2 * k] = lo;
        px[2 * k + 1] = hi;
    }
}

fn split_planar<const B: usize>(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks_exact(B).map(|p| rd::<B>(p, 0)).collect()
}

fn split3<const B: usize>(pixels: &[u8], n: usize) -> [Vec<u16>; 3] {
    let (mut a, mut b, mut c) = (vec![0u16; n], vec![0u16; n], vec![0u16; n]);
    for (((px, a), b), c) in pixels
        .chunks_exact(3 * B)
        .zip(&mut a)
        .zip(&mut b)
        .zip(&mut c)
    {
        *a = rd::<B>(px, 0);
        *b = rd::<B>(px, 1);
        *c = rd::<B>(px, 2);
    }
    [a, b, c]
}

fn split4<const B: usize>(pixels: &[u8], n: usize) -> [Vec<u16>; 4] {
    let (mut a, mut b, mut c, mut d) = (vec![0u16; n], vec![0u16; n], vec![0u16; n], vec![0u16; n]);
    for ((((px, a), b), c), d) in pixels
        .chunks_exact(4 * B)
        .zip(&mut a)
        .zip(&mut b)
        .zip(&mut c)
        .zip(&mut d)
    {
        *a = rd::<B>(px, 0);
        *b = rd::<B>(px, 1);
        *c = rd::<B>(px, 2);
        *d = rd::<B>(px, 3);
    }
    [a, b, c, d]
}

fn merge_planar<const B: usize>(out: &mut [u8], s: &[u16]) {
    for (px, &v) in out.chunks_exact_mut(B).zip(s) {
        wr::<B>(px, 0, v);
    }
}

fn merge3<const B: usize>(out: &mut [u8], [a, b, c]: [&[u16]; 3]) {
    for (((px, &a), &b), &c) in out.chunks_exact_mut(3 * B).zip(a).zip(b).zip(c) {
        wr::<B>(px, 0, a);
        wr::<B>(px, 1, b);
        wr::<B>(px, 2, c);
    }
}

fn merge4<const B: usize>(out: &mut [u8], [a, b, c, d]: [&[u16]; 4]) {
    for ((((px, &a), &b), &c), &d) in out.chunks_exact_mut(4 * B).zip(a).zip(b).zip(c).zip(d) {
        wr::<B>(px, 0, a);
        wr::<B>(px, 1, b);
        wr::<B>(px, 2, c);
        wr::<B>(px, 3, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// A random frame whose samples fit `bit_depth`.
    fn random_frame(f: PixelFormat, w: u32, h: u32, bit_depth: u8, rng: &mut XorShift) -> Vec<u8> {
        let len = f.frame_len(w, h).unwrap();
        let max = max_for(bit_depth);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let v = (rng.next() >> 11) as u16 & max;
            if f.container_bits() == 8 {
                out.push(v as u8);
            } else {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn round_trip_every_format_odd_sizes() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for f in PixelFormat::ALL {
            let depths: &[u8] = if f.container_bits() == 8 {
                &[8, 5, 1]
            } else {
                &[16, 10, 12]
            };
            for &(w, h) in &[(1, 1), (3, 5), (7, 2), (2, 7), (16, 9)] {
                for &d in depths {
                    let frame = random_frame(f, w, h, d, &mut rng);
                    let pic = f.to_picture(&frame, w, h, d).unwrap();
                    pic.validate().unwrap();
                    assert_eq!(pic.planes.len(), f.plane_count(), "{f}");
                    for (p, plane) in pic.planes.iter().enumerate() {
                        assert_eq!((plane.width, plane.height), f.plane_size(p, w, h), "{f}");
                        assert_eq!(plane.bit_depth, d);
                    }
                    let back = f.from_picture(&pic).unwrap();
                    assert_eq!(back, frame, "{f} {w}x{h} depth {d}");
                    let mut buf = vec![0xAA; frame.len()];
                    f.from_picture_into(&pic, &mut buf).unwrap();
                    assert_eq!(buf, frame);
                }
            }
        }
    }

    #[test]
    fn frame_len_values() {
        assert_eq!(PixelFormat::Rgb8.frame_len(3, 5).unwrap(), 45);
        assert_eq!(PixelFormat::Rgba16.frame_len(3, 5).unwrap(), 120);
        assert_eq!(PixelFormat::Gray16.frame_len(7, 2).unwrap(), 28);
        // 3x5 4:2:0: 15 + 2*(2*3) = 27.
        assert_eq!(PixelFormat::Yuv420p8.frame_len(3, 5).unwrap(), 27);
        assert_eq!(PixelFormat::Yuv420p16.frame_len(3, 5).unwrap(), 54);
        // 3x5 4:2:2: 15 + 2*(2*5) = 35.
        assert_eq!(PixelFormat::Yuv422p8.frame_len(3, 5).unwrap(), 35);
        assert_eq!(PixelFormat::Yuv444p8.frame_len(3, 5).unwrap(), 45);
        // u32::MAX^2 * 8 bytes overflows even a 64-bit usize.
        assert!(PixelFormat::Rgba16.frame_len(u32::MAX, u32::MAX).is_err());
        assert!(PixelFormat::Yuv444p16
            .frame_len(u32::MAX, u32::MAX)
            .is_err());
        if usize::BITS == 32 {
            assert!(PixelFormat::Rgba16.frame_len(65535, 65535).is_err());
        } else {
            assert_eq!(
                PixelFormat::Rgba16.frame_len(65535, 65535).unwrap(),
                65535 * 65535 * 8
            );
        }
    }

    #[test]
    fn yuv_plane_sizes_odd() {
        let f = PixelFormat::Yuv420p8;
        assert_eq!(f.plane_size(0, 7, 5), (7, 5));
        assert_eq!(f.plane_size(1, 7, 5), (4, 3));
        assert_eq!(f.plane_size(2, 7, 5), (4, 3));
        assert_eq!(f.plane_size(1, 1, 1), (1, 1));
        assert_eq!(PixelFormat::Yuv422p16.plane_size(1, 7, 5), (4, 5));
        assert_eq!(PixelFormat::Yuv444p8.plane_size(2, 7, 5), (7, 5));
        assert_eq!(PixelFormat::Rgba8.plane_size(3, 7, 5), (7, 5));
        let frame: Vec<u8> = (0..PixelFormat::Yuv420p8.frame_len(7, 5).unwrap())
            .map(|i| i as u8)
            .collect();
        let pic = f.to_picture(&frame, 7, 5, 8).unwrap();
        assert_eq!(pic.planes[1].samples[0], 35);
        assert_eq!(pic.planes[2].samples[0], 35 + 12);
        assert_eq!(pic.planes[2].samples[11], 58);
    }

    #[test]
    fn bgr_byte_order_swaps() {
        let pic = PixelFormat::Bgr8
            .to_picture(&[10, 20, 30], 1, 1, 8)
            .unwrap();
        let s: Vec<u16> = pic.planes.iter().map(|p| p.samples[0]).collect();
        assert_eq!(s, [30, 20, 10]);
        assert_eq!(PixelFormat::Rgb8.from_picture(&pic).unwrap(), [30, 20, 10]);
        assert_eq!(PixelFormat::Bgr8.from_picture(&pic).unwrap(), [10, 20, 30]);

        let pic = PixelFormat::Bgra8
            .to_picture(&[1, 2, 3, 4], 1, 1, 8)
            .unwrap();
        let s: Vec<u16> = pic.planes.iter().map(|p| p.samples[0]).collect();
        assert_eq!(s, [3, 2, 1, 4]);
        assert_eq!(PixelFormat::Rgba8.from_picture(&pic).unwrap(), [3, 2, 1, 4]);

        // 16-bit samples are little-endian words.
        let pic = PixelFormat::Rgb16
            .to_picture(&[0x34, 0x12, 0xff, 0x00, 0x00, 0x01], 1, 1, 16)
            .unwrap();
        let s: Vec<u16> = pic.planes.iter().map(|p| p.samples[0]).collect();
        assert_eq!(s, [0x1234, 0x00ff, 0x0100]);
    }

    #[test]
    fn errors_on_bad_input() {
        let f = PixelFormat::Rgb8;
        let e = f.to_picture(&[0; 11], 2, 2, 8).unwrap_err();
        assert!(
            matches!(&e, Error::Parameter(m) if m.contains("12") && m.contains("11")),
            "{e}"
        );
        assert!(f.to_picture(&[0; 13], 2, 2, 8).is_err());
        assert!(f.to_picture(&[], 0, 0, 8).is_err());
        assert!(f.to_picture(&[0; 12], 2, 2, 0).is_err());
        assert!(f.to_picture(&[0; 12], 2, 2, 9).is_err());
        assert!(PixelFormat::Gray16.to_picture(&[0; 8], 2, 2, 17).is_err());

        // Out-of-range samples.
        let e = PixelFormat::Gray8
            .to_picture(&[0, 3, 16, 0], 2, 2, 4)
            .unwrap_err();
        assert!(
            matches!(&e, Error::Parameter(m) if m.contains("16") && m.contains("(0, 1)")),
            "{e}"
        );
        let mut frame = vec![0u8; 2 * 3 * 2];
        frame[8..10].copy_from_slice(&1024u16.to_le_bytes());
        let e = PixelFormat::Rgb16.to_picture(&frame, 2, 1, 10).unwrap_err();
        assert!(
            matches!(&e, Error::Parameter(m) if m.contains("1024") && m.contains("G")),
            "{e}"
        );
        frame[8..10].copy_from_slice(&1023u16.to_le_bytes());
        assert!(PixelFormat::Rgb16.to_picture(&frame, 2, 1, 10).is_ok());

        // from_picture mismatches.
        let gray = PixelFormat::Gray8
            .to_picture(&[1, 2, 3, 4], 2, 2, 8)
            .unwrap();
        assert!(PixelFormat::Rgb8.from_picture(&gray).is_err());
        let deep = PixelFormat::Gray16.to_picture(&[0; 8], 2, 2, 12).unwrap();
        assert!(PixelFormat::Gray8.from_picture(&deep).is_err());
        let mut bad = gray.clone();
        bad.planes[0].samples[3] = 256;
        assert!(PixelFormat::Gray8.from_picture(&bad).is_err());
        bad.planes[0].samples.pop();
        assert!(PixelFormat::Gray8.from_picture(&bad).is_err());
        let mut buf = [0u8; 3];
        assert!(PixelFormat::Gray8
            .from_picture_into(&gray, &mut buf)
            .is_err());

        // YUV chroma plane of the wrong size.
        let y = PixelFormat::Yuv444p8.to_picture(&[0; 12], 2, 2, 8).unwrap();
        assert!(PixelFormat::Yuv420p8.from_picture(&y).is_err());
        assert!(PixelFormat::Yuv444p8.from_picture(&y).is_ok());
    }

    #[test]
    fn tags_round_trip() {
        for (i, f) in PixelFormat::ALL.iter().enumerate() {
            assert_eq!(usize::from(f.tag()), i + 1);
            assert_eq!(PixelFormat::from_tag(f.tag()), Some(*f));
        }
        assert_eq!(PixelFormat::from_tag(0), None);
        assert_eq!(PixelFormat::from_tag(15), None);
        assert_eq!(PixelFormat::from_tag(255), None);
    }

    #[test]
    fn names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(f.to_string().parse::<PixelFormat>().unwrap(), f);
            assert_eq!(f.name().to_uppercase().parse::<PixelFormat>().unwrap(), f);
        }
        for (s, f) in [
            ("grey8", PixelFormat::Gray8),
            ("gray", PixelFormat::Gray8),
            ("Y8", PixelFormat::Gray8),
            ("yuv420p8", PixelFormat::Yuv420p8),
            ("yuv422p8", PixelFormat::Yuv422p8),
            ("yuv444p8", PixelFormat::Yuv444p8),
            ("I420", PixelFormat::Yuv420p8),
        ] {
            assert_eq!(s.parse::<PixelFormat>().unwrap(), f, "{s}");
        }
        let e = "rgb9".parse::<PixelFormat>().unwrap_err();
        assert!(
            matches!(&e, Error::Parameter(m) if m.contains("yuv444p16") && m.contains("gray8")),
            "{e}"
        );
    }

    fn samples(p: &Picture) -> Vec<Vec<u16>> {
        p.planes.iter().map(|p| p.samples.clone()).collect()
    }

    #[test]
    fn convert_channels() {
        use PixelFormat::*;
        let rgb = Rgb8.to_picture(&[10, 20, 30, 40, 50, 60], 2, 1, 8).unwrap();
        let rgba = convert_picture(rgb.clone(), Rgb8, Rgba8).unwrap();
        assert_eq!(
            samples(&rgba),
            [vec![10, 40], vec![20, 50], vec![30, 60], vec![255, 255]]
        );
        assert_eq!(
            Rgba8.from_picture(&rgba).unwrap(),
            [10, 20, 30, 255, 40, 50, 60, 255]
        );
        assert_eq!(convert_picture(rgba, Rgba8, Bgr8).unwrap(), rgb);
        assert_eq!(convert_picture(rgb.clone(), Rgb8, Bgr8).unwrap(), rgb);

        // Alpha for a smaller bit depth is that depth's max.
        let rgb5 = Rgb8.to_picture(&[1, 2, 3], 1, 1, 5).unwrap();
        let a = convert_picture(rgb5, Rgb8, Bgra8).unwrap();
        assert_eq!(a.planes[3].samples, [31]);
        assert_eq!(a.planes[3].bit_depth, 5);

        let gray = Gray8.to_picture(&[7, 200], 2, 1, 8).unwrap();
        let g3 = convert_picture(gray.clone(), Gray8, Rgb8).unwrap();
        assert_eq!(samples(&g3), [vec![7, 200], vec![7, 200], vec![7, 200]]);
        let g4 = convert_picture(gray, Gray8, Rgba16).unwrap();
        assert_eq!(
            samples(&g4),
            [
                vec![7 * 257, 200 * 257],
                vec![7 * 257, 200 * 257],
                vec![7 * 257, 200 * 257],
                vec![65535, 65535]
            ]
        );
        assert!(g4.planes.iter().all(|p| p.bit_depth == 16));

        // RGB to gray: BT.601 integer luma.
        let y = convert_picture(rgb, Rgb8, Gray8).unwrap();
        assert_eq!(y.planes.len(), 1);
        let expect = |r: u32, g: u32, b: u32| ((77 * r + 150 * g + 29 * b + 128) >> 8) as u16;
        assert_eq!(
            y.planes[0].samples,
            [expect(10, 20, 30), expect(40, 50, 60)]
        );
        let white = Rgb8.to_picture(&[255; 3], 1, 1, 8).unwrap();
        assert_eq!(
            convert_picture(white, Rgb8, Gray8).unwrap().planes[0].samples,
            [255]
        );
    }

    #[test]
    fn convert_depths() {
        use PixelFormat::*;
        let mut frame = Vec::new();
        for v in [65535u16, 0, 32896, 128, 65535, 257, 1000, 2000] {
            frame.extend_from_slice(&v.to_le_bytes());
        }
        let p = Rgba16.to_picture(&frame, 2, 1, 16).unwrap();
        let rgb8 = convert_picture(p, Rgba16, Rgb8).unwrap();
        assert_eq!(samples(&rgb8), [vec![255, 255], vec![0, 1], vec![128, 4]]);
        assert!(rgb8.planes.iter().all(|p| p.bit_depth == 8));

        // Same container keeps the bit depth (10-bit in 16-bit containers).
        let mut f10 = Vec::new();
        for v in [1023u16, 0, 512] {
            f10.extend_from_slice(&v.to_le_bytes());
        }
        let p10 = Rgb16.to_picture(&f10, 1, 1, 10).unwrap();
        let a10 = convert_picture(p10.clone(), Rgb16, Rgba16).unwrap();
        assert_eq!(a10.planes[3].samples, [1023]);
        assert!(a10.planes.iter().all(|p| p.bit_depth == 10));
        let p8 = convert_picture(p10, Rgb16, Rgb8).unwrap();
        assert_eq!(samples(&p8), [vec![255], vec![0], vec![128]]);

        // The rounding formula against floating point, 8 -> 10 and 10 -> 8.
        let all: Vec<u8> = (0..=255).collect();
        let g = Gray8.to_picture(&all, 256, 1, 8).unwrap();
        let mut plane = g.planes[0].clone();
        rescale(&mut plane, 10);
        for (v, &s) in plane.samples.iter().enumerate() {
            assert_eq!(s, (v as f64 * 1023.0 / 255.0).round() as u16);
        }
        rescale(&mut plane, 8);
        assert_eq!(plane.samples, g.planes[0].samples);

        // 8 -> 16 is v * 257; 16 -> 8 round trips.
        let g16 = convert_picture(g.clone(), Gray8, Gray16).unwrap();
        assert!(g16.planes[0]
            .samples
            .iter()
            .enumerate()
            .all(|(v, &s)| s == v as u16 * 257));
        assert_eq!(convert_picture(g16, Gray16, Gray8).unwrap(), g);
    }

    #[test]
    fn convert_yuv() {
        use PixelFormat::*;
        let frame: Vec<u8> = (0..Yuv420p8.frame_len(3, 3).unwrap())
            .map(|i| i as u8 * 10)
            .collect();
        let p = Yuv420p8.to_picture(&frame, 3, 3, 8).unwrap();
        let p16 = convert_picture(p.clone(), Yuv420p8, Yuv420p16).unwrap();
        assert_eq!(p16.planes[1].samples[0], 90 * 257);
        assert_eq!(convert_picture(p16, Yuv420p16, Yuv420p8).unwrap(), p);
        assert_eq!(convert_picture(p.clone(), Yuv420p8, Yuv420p8).unwrap(), p);
        for to in [Rgb8, Gray8, Yuv444p8, Yuv422p16] {
            let e = convert_picture(p.clone(), Yuv420p8, to).unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{to}: {e}");
        }
        let rgb = Rgb8.to_picture(&[0; 27], 3, 3, 8).unwrap();
        assert!(matches!(
            convert_picture(rgb.clone(), Rgb8, Yuv444p8),
            Err(Error::Unsupported(_))
        ));
        // A picture that does not match `from` is a parameter error.
        assert!(matches!(
            convert_picture(rgb, Rgba8, Rgb8),
            Err(Error::Parameter(_))
        ));
    }
}
