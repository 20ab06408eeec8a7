//! The stream header (docs/bitstream.md, "Header"), probing and prefix sizes.

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::picture::{check_plane_shape, MAX_PLANES};
use crate::pyramid::upsample::Upsampler;

/// First four bytes of every stream.
pub const MAGIC: [u8; 4] = *b"VC6R";
/// Bitstream version this crate writes and reads.
pub const VERSION: u8 = 2;
/// Most echelons a plane may have (a 65535-sample side halves to 1 in 16 steps).
pub const MAX_ECHELONS: u8 = 17;
/// Smallest and largest tile side, as log2 of the side in coefficients.
pub const TILE_LOG2_RANGE: std::ops::RangeInclusive<u8> = 2..=8;

const FLAG_LOSSLESS: u8 = 1;
const FLAG_COLOUR: u8 = 2;
const FLAG_CHECKSUMS: u8 = 4;
const FLAG_PREDICTED_AVERAGE: u8 = 8;
const FIXED_LEN: usize = 13;
/// Most fraction bits a plane of a lossy stream may declare (3 bits of its depth byte).
pub const MAX_FRACTION_BITS: u8 = 7;

/// Size, depth and echelon count of one plane, as declared in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneDesc {
    /// Width at echelon 0.
    pub width: u32,
    /// Height at echelon 0.
    pub height: u32,
    /// Bits per sample.
    pub bit_depth: u8,
    /// Lossy streams only: the plane is coded this many bits below its samples' unit (at
    /// depth `bit_depth + fraction_bits`), so that echelons and residuals keep fractions
    /// of a sample; the decoder shifts them out, rounding, as it writes the output.
    pub fraction_bits: u8,
    /// Number of echelons, the lowest (coded directly) included: 1..=17.
    pub echelons: u8,
}

impl PlaneDesc {
    /// Size of this plane at LoQ `loq` (echelon `-loq`).
    pub fn size_at(&self, loq: u8) -> (u32, u32) {
        (echelon_len(self.width, loq), echelon_len(self.height, loq))
    }
}

/// Length of a side after `loq` halvings, rounding up: `w = (w + 1) / 2`, `loq` times.
pub fn echelon_len(mut len: u32, loq: u8) -> u32 {
    for _ in 0..loq {
        len = len.div_ceil(2);
    }
    len
}

/// Everything the header declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The stream reconstructs the source exactly.
    pub lossless: bool,
    /// Planes 0, 1, 2 hold YCoCg-R of R, G, B.
    pub colour_transform: bool,
    /// Every section ends in a CRC-32.
    pub checksums: bool,
    /// Lossy streams only: the average of each predicted 2x2 block is the sample of the
    /// echelon below (the predicted-average step), not the upsampled prediction's own.
    pub predicted_average: bool,
    /// Pixel format tag (informative for the facade; 0 = generic planar).
    pub format_tag: u8,
    /// Upsampler used for prediction.
    pub upsampler: Upsampler,
    /// log2 of the tile side in coefficients.
    pub tile_log2: u8,
    /// Plane descriptors.
    pub planes: Vec<PlaneDesc>,
    /// Byte length of each section, coarsest (highest LoQ) first.
    pub section_sizes: Vec<u32>,
}

impl Header {
    /// Number of sections: the largest echelon count of any plane.
    pub fn section_count(&self) -> usize {
        self.planes
            .iter()
            .map(|p| p.echelons as usize)
            .max()
            .unwrap_or(0)
    }

    /// Coarsest LoQ every plane can be decoded at.
    pub fn max_loq(&self) -> u8 {
        self.planes.iter().map(|p| p.echelons).min().unwrap_or(1) - 1
    }

    /// LoQ carried by section `index` (0 = first section in the stream).
    pub fn section_loq(&self, index: usize) -> u8 {
        (self.section_count() - 1 - index) as u8
    }

    /// Length of the encoded header in bytes.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN
            + 6 * self.planes.len()
            + if matches!(self.upsampler, Upsampler::Custom(_)) {
                8
            } else {
                0
            }
            + 4 * self.section_count()
            + 4
    }

    /// The depth plane `p` is coded at: its bit depth plus its fraction bits.
    pub fn coded_depth(&self, p: usize) -> u8 {
        self.planes[p].bit_depth + self.planes[p].fraction_bits
    }

    /// Bytes from the start of the stream needed to decode at `loq`.
    pub fn required_size(&self, loq: u8) -> Result<u64> {
        if loq > self.max_loq() {
            return Err(Error::param(format!(
                "LoQ {loq} is not in the stream (its coarsest LoQ is {})",
                self.max_loq()
            )));
        }
        let sections = self.section_count() - loq as usize;
        let body: u64 = self.section_sizes[..sections]
            .iter()
            .map(|&s| u64::from(s))
            .sum();
        Ok(self.encoded_len() as u64 + body)
    }

    /// Total stream length.
    pub fn total_len(&self) -> u64 {
        self.encoded_len() as u64
            + self
                .section_sizes
                .iter()
                .map(|&s| u64::from(s))
                .sum::<u64>()
    }

    /// Checks the declared values for consistency (not the section sizes).
    pub fn validate(&self) -> Result<()> {
        if self.planes.is_empty() || self.planes.len() > MAX_PLANES {
            return Err(Error::param(format!(
                "plane count {} outside 1..=255",
                self.planes.len()
            )));
        }
        if !TILE_LOG2_RANGE.contains(&self.tile_log2) {
            return Err(Error::param(format!(
                "tile log2 {} outside 2..=8",
                self.tile_log2
            )));
        }
        self.upsampler.validate()?;
        if self.lossless && self.predicted_average {
            return Err(Error::param(
                "the predicted-average step is for lossy streams only",
            ));
        }
        if self.colour_transform {
            if self.planes.len() < 3 {
                return Err(Error::param("colour transform needs at least 3 planes"));
            }
            let p0 = self.planes[0];
            if self.planes[1..3].iter().any(|p| {
                (p.width, p.height, p.bit_depth, p.fraction_bits)
                    != (p0.width, p0.height, p0.bit_depth, p0.fraction_bits)
            }) {
                return Err(Error::param(
                    "colour transform needs planes 0-2 of one size and depth",
                ));
            }
        }
        for p in &self.planes {
            check_plane_shape(p.width, p.height, p.bit_depth)?;
            if p.fraction_bits > 0 && self.lossless {
                return Err(Error::param("fraction bits are for lossy streams only"));
            }
            if p.fraction_bits > MAX_FRACTION_BITS {
                return Err(Error::param(format!(
                    "{} fraction bits, more than {MAX_FRACTION_BITS}",
                    p.fraction_bits
                )));
            }
            if p.bit_depth + p.fraction_bits > 16 {
                return Err(Error::param(format!(
                    "a plane of {} bits with {} fraction bits is coded at more than 16 bits",
                    p.bit_depth, p.fraction_bits
                )));
            }
            if p.echelons == 0 || p.echelons > MAX_ECHELONS {
                return Err(Error::param(format!(
                    "echelon count {} outside 1..=17",
                    p.echelons
                )));
            }
        }
        Ok(())
    }

    /// Writes the header (with its CRC) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.put_u8(VERSION);
        let mut flags = 0;
        if self.lossless {
            flags |= FLAG_LOSSLESS;
        }
        if self.colour_transform {
            flags |= FLAG_COLOUR;
        }
        if self.checksums {
            flags |= FLAG_CHECKSUMS;
        }
        if self.predicted_average {
            flags |= FLAG_PREDICTED_AVERAGE;
        }
        out.put_u8(flags);
        out.put_u8(self.format_tag);
        out.put_u8(self.planes.len() as u8);
        out.put_u8(self.upsampler.id());
        out.put_u8(self.tile_log2);
        out.put_u16(0);
        out.put_u8(self.section_count() as u8);
        for p in &self.planes {
            out.put_u16(p.width as u16);
            out.put_u16(p.height as u16);
            out.put_u8(p.bit_depth | p.fraction_bits << 5);
            out.put_u8(p.echelons);
        }
        if let Upsampler::Custom(k) = self.upsampler {
            k.iter().for_each(|&c| out.put_u16(c as u16));
        }
        for &s in &self.section_sizes {
            out.put_u32(s);
        }
        let crc = crc32fast::hash(&out[start..]);
        out.put_u32(crc);
    }

    /// Parses a header from the start of `data` (which may be a prefix of the stream).
    pub fn parse(data: &[u8]) -> Result<Header> {
        if data.len() >= 4 && data[..4] != MAGIC {
            return Err(Error::NotVc6(format!(
                "magic is {:02x?}, expected \"VC6R\"",
                &data[..4]
            )));
        }
        let mut r = ByteReader::new(data);
        r.bytes(4, "header magic")?;
        let version = r.u8("header version")?;
        if version != VERSION {
            return Err(Error::Unsupported(format!(
                "unsupported bitstream version {version} (this decoder reads version {VERSION})"
            )));
        }
        let flags = r.u8("header flags")?;
        if flags & !(FLAG_LOSSLESS | FLAG_COLOUR | FLAG_CHECKSUMS | FLAG_PREDICTED_AVERAGE) != 0 {
            return Err(Error::format(format!(
                "header flags {flags:#04x} has reserved bits set"
            )));
        }
        let format_tag = r.u8("format tag")?;
        let plane_count = r.u8("plane count")?;
        let upsampler_id = r.u8("upsampler")?;
        let tile_log2 = r.u8("tile size")?;
        let reserved = r.u16("reserved header bytes")?;
        if reserved != 0 {
            return Err(Error::Unsupported(format!(
                "reserved header bytes 10-11 are {reserved:#06x} (a later version's option)"
            )));
        }
        let section_count = r.u8("section count")?;
        let mut planes = Vec::with_capacity(plane_count as usize);
        for _ in 0..plane_count {
            let width = u32::from(r.u16("plane width")?);
            let height = u32::from(r.u16("plane height")?);
            // Bits 0-4: the bit depth; bits 5-7: the fraction bits.
            let depth = r.u8("plane bit depth")?;
            planes.push(PlaneDesc {
                width,
                height,
                bit_depth: depth & 31,
                fraction_bits: depth >> 5,
                echelons: r.u8("plane echelons")?,
            });
        }
        let upsampler = match upsampler_id {
            0 => Upsampler::Nearest,
            1 => Upsampler::Linear,
            2 => Upsampler::Cubic,
            3 => Upsampler::ModifiedCubic,
            4 => {
                let mut k = [0i16; 4];
                for c in &mut k {
                    *c = r.u16("custom upsampler taps")? as i16;
                }
                Upsampler::Custom(k)
            }
            other => return Err(Error::Unsupported(format!("upsampler id {other}"))),
        };
        let mut section_sizes = Vec::with_capacity(section_count as usize);
        for _ in 0..section_count {
            section_sizes.push(r.u32("section sizes")?);
        }
        let crc_end = r.pos();
        let crc = r.u32("header checksum")?;
        if crc != crc32fast::hash(&data[..crc_end]) {
            return Err(Error::format("header checksum mismatch (corrupted header)"));
        }
        let header = Header {
            lossless: flags & FLAG_LOSSLESS != 0,
            colour_transform: flags & FLAG_COLOUR != 0,
            checksums: flags & FLAG_CHECKSUMS != 0,
            predicted_average: flags & FLAG_PREDICTED_AVERAGE != 0,
            format_tag,
            upsampler,
            tile_log2,
            planes,
            section_sizes,
        };
        header.validate().map_err(|e| match e {
            Error::Parameter(m) => Error::Format(format!("header: {m}")),
            e => e,
        })?;
        if header.section_count() != section_count as usize {
            return Err(Error::format(format!(
                "header declares {section_count} sections but the planes have {} echelons at most",
                header.section_count()
            )));
        }
        Ok(header)
    }
}

/// Description of one plane for `probe` users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneInfo {
    /// Width at LoQ 0.
    pub width: u32,
    /// Height at LoQ 0.
    pub height: u32,
    /// Bits per sample.
    pub bit_depth: u8,
    /// Lossy streams: bits below the samples' unit that the plane is coded with.
    pub fraction_bits: u8,
    /// Echelon count (lowest included).
    pub echelons: u8,
}

/// One decodable level of quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoqInfo {
    /// LoQ index (0 = full resolution).
    pub loq: u8,
    /// Width of plane 0 at this LoQ.
    pub width: u32,
    /// Height of plane 0 at this LoQ.
    pub height: u32,
    /// Bytes from the start of the stream needed to decode this LoQ.
    pub required_bytes: u64,
}

/// What `probe` learns from the first bytes of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Width of plane 0.
    pub width: u32,
    /// Height of plane 0.
    pub height: u32,
    /// Pixel format tag (see the facade's `PixelFormat`); 0 = generic planar.
    pub format_tag: u8,
    /// Exact reconstruction.
    pub lossless: bool,
    /// Upsampler used for prediction.
    pub upsampler: Upsampler,
    /// Planes 0-2 are YCoCg-R.
    pub colour_transform: bool,
    /// Planes.
    pub planes: Vec<PlaneInfo>,
    /// Every decodable LoQ, 0 first.
    pub loqs: Vec<LoqInfo>,
    /// Header length in bytes.
    pub header_bytes: u64,
    /// Whole stream length in bytes.
    pub total_bytes: u64,
}

impl StreamInfo {
    /// Builds the summary from a parsed header.
    pub fn from_header(h: &Header) -> StreamInfo {
        let p0 = h.planes[0];
        StreamInfo {
            width: p0.width,
            height: p0.height,
            format_tag: h.format_tag,
            lossless: h.lossless,
            upsampler: h.upsampler,
            colour_transform: h.colour_transform,
            planes: h
                .planes
                .iter()
                .map(|p| PlaneInfo {
                    width: p.width,
                    height: p.height,
                    bit_depth: p.bit_depth,
                    fraction_bits: p.fraction_bits,
                    echelons: p.echelons,
                })
                .collect(),
            loqs: (0..=h.max_loq())
                .map(|loq| {
                    let (width, height) = p0.size_at(loq);
                    LoqInfo {
                        loq,
                        width,
                        height,
                        required_bytes: h.required_size(loq).expect("loq within range"),
                    }
                })
                .collect(),
            header_bytes: h.encoded_len() as u64,
            total_bytes: h.total_len(),
        }
    }
}

/// Reads size, format, planes and echelons from the first bytes of a stream.
///
/// 1024 bytes are enough for up to 150 planes; with fewer bytes than the header needs the
/// error is [`Error::Truncated`] and says how many are needed.
pub fn probe(first_bytes: &[u8]) -> Result<StreamInfo> {
    Ok(StreamInfo::from_header(&Header::parse(first_bytes)?))
}

/// Number of bytes from the start of the stream needed to decode at `loq`.
pub fn required_size(first_bytes: &[u8], loq: u8) -> Result<u64> {
    Header::parse(first_bytes)?.required_size(loq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            lossless: true,
            colour_transform: true,
            checksums: true,
            predicted_average: false,
            format_tag: 3,
            upsampler: Upsampler::Custom([0, 12000, 4384, 0]),
            tile_log2: 6,
            planes: vec![
                PlaneDesc {
                    width: 640,
                    height: 480,
                    bit_depth: 8,
                    fraction_bits: 0,
                    echelons: 4
                };
                3
            ],
            section_sizes: vec![10, 20, 30, 40],
        }
    }

    #[test]
    fn header_round_trip() {
        let h = sample();
        let mut buf = Vec::new();
        h.write(&mut buf);
        assert_eq!(buf.len(), h.encoded_len());
        assert_eq!(Header::parse(&buf).unwrap(), h);
        assert_eq!(h.required_size(3).unwrap(), buf.len() as u64 + 10);
        assert_eq!(h.required_size(0).unwrap(), buf.len() as u64 + 100);
        assert!(h.required_size(4).is_err());
    }

    #[test]
    fn header_errors_are_named() {
        let h = sample();
        let mut buf = Vec::new();
        h.write(&mut buf);
        for n in 0..buf.len() {
            assert!(
                matches!(Header::parse(&buf[..n]), Err(Error::Truncated { .. })),
                "prefix {n}"
            );
        }
        let mut bad = buf.clone();
        bad[20] ^= 1;
        assert!(matches!(Header::parse(&bad), Err(Error::Format(_))));
        assert!(matches!(
            Header::parse(b"\x89PNG\r\n\x1a\n"),
            Err(Error::NotVc6(_))
        ));
    }

    #[test]
    fn kernels_whose_sums_could_overflow_are_corrupt() {
        let mut h = sample();
        h.upsampler = Upsampler::Custom([-8192, 16384, 16384, -8192]);
        let mut buf = Vec::new();
        h.write(&mut buf);
        let e = Header::parse(&buf).unwrap_err();
        assert!(
            matches!(&e, Error::Format(m) if m.contains("more than 32768")),
            "{e}"
        );
        h.upsampler = Upsampler::Custom([-4096, 12288, 12288, -4096]);
        buf.clear();
        h.write(&mut buf);
        assert_eq!(Header::parse(&buf).unwrap(), h);
    }

    /// Rewrites byte `at` of a written header and its CRC.
    fn with_byte(h: &Header, at: usize, v: u8) -> Vec<u8> {
        let mut buf = Vec::new();
        h.write(&mut buf);
        buf[at] = v;
        let n = buf.len() - 4;
        let crc = crc32fast::hash(&buf[..n]);
        buf[n..].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    #[test]
    fn fraction_bits_are_checked() {
        // Per plane, in bits 5-7 of the depth byte (offset 17 + 6p).
        let mut h = sample();
        (h.lossless, h.colour_transform) = (false, false);
        h.planes[0].fraction_bits = 4;
        h.planes[1].fraction_bits = 7;
        let mut buf = Vec::new();
        h.write(&mut buf);
        assert_eq!(
            buf[17..29].iter().step_by(6).copied().collect::<Vec<u8>>(),
            [0x88, 0xE8]
        );
        assert_eq!(Header::parse(&buf).unwrap(), h);
        assert_eq!(
            (h.coded_depth(0), h.coded_depth(1), h.coded_depth(2)),
            (12, 15, 8)
        );
        // Lossless streams, a plane coded above 16 bits, or colour planes that differ.
        let lossless = Header {
            lossless: true,
            ..h.clone()
        };
        let colour = Header {
            colour_transform: true,
            ..h.clone()
        };
        for (bad, what) in [
            (with_byte(&lossless, 17, 0x88), "lossy streams only"),
            (with_byte(&h, 23, 0xEC), "more than 16 bits"),
            (
                with_byte(&colour, 17, 0x88),
                "planes 0-2 of one size and depth",
            ),
        ] {
            match Header::parse(&bad) {
                Err(Error::Format(m)) => assert!(m.contains(what), "{m}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        for at in [10, 11] {
            assert!(matches!(
                Header::parse(&with_byte(&h, at, 1)),
                Err(Error::Unsupported(m)) if m.contains("reserved header bytes 10-11")
            ));
        }
    }

    #[test]
    fn echelon_sizes_round_up() {
        assert_eq!(echelon_len(5, 1), 3);
        assert_eq!(echelon_len(5, 2), 2);
        assert_eq!(echelon_len(1, 5), 1);
        assert_eq!(echelon_len(3840, 2), 960);
    }
}
