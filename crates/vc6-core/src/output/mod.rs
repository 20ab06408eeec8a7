//! Output layouts: where each plane's samples go in a caller's byte buffer. Every backend
//! packs into the same layouts, so one description covers interleaved RGB(A)/BGR(A),
//! planar YUV, 8 and 16-bit samples, and regions.

use crate::error::{Error, Result};
use crate::plan::Plan;

pub(crate) mod pack;
#[cfg(target_arch = "x86_64")]
mod x86;

/// How one output sample is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleType {
    /// One byte.
    U8,
    /// Two bytes, little-endian.
    U16,
}

impl SampleType {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 => 2,
        }
    }
}

/// How a reconstructed sample becomes an output sample: the plane's fraction bits
/// shifted out with rounding (docs/bitstream.md 4), then clamped to `[0, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputRange {
    /// The largest output value, `2^d - 1` for `d`-bit samples.
    pub max: i32,
    /// The plane's fraction bits (0 to 7).
    pub shift: u32,
}

impl OutputRange {
    /// 8-bit samples of a stream without fraction bits.
    pub const U8: OutputRange = OutputRange { max: 255, shift: 0 };

    /// What is added before the shift: half of its unit.
    #[inline(always)]
    pub fn round(self) -> i32 {
        (1 << self.shift) >> 1
    }

    /// The output sample of reconstructed value `v`.
    #[inline(always)]
    pub fn apply(self, v: i32) -> i32 {
        ((v + self.round()) >> self.shift).clamp(0, self.max)
    }
}

/// Where one plane's samples go: sample `(x, y)` of the plane's output rectangle is at
/// byte `offset + y * row_stride + x * pixel_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaneLayout {
    /// Byte offset of the first sample.
    pub offset: usize,
    /// Bytes from one sample to the next in a row.
    pub pixel_stride: usize,
    /// Bytes from one row to the next.
    pub row_stride: usize,
}

/// Where every plane of a decode goes in the output buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutputLayout {
    /// Sample storage, the same for every plane.
    pub sample: SampleType,
    /// One entry per plane of the stream, in plane order.
    pub planes: Vec<PlaneLayout>,
    /// Length in bytes of the whole output.
    pub len: usize,
}

impl OutputLayout {
    /// Planes one after the other, each in tight rows (planar YUV, or a picture's planes).
    pub fn planar(plan: &Plan, sample: SampleType) -> OutputLayout {
        let bytes = sample.bytes();
        let mut offset = 0;
        let planes = (0..plan.header.planes.len())
            .map(|p| {
                let (w, h) = plan.output_size(p);
                let l = PlaneLayout {
                    offset,
                    pixel_stride: bytes,
                    row_stride: w as usize * bytes,
                };
                offset += w as usize * h as usize * bytes;
                l
            })
            .collect();
        OutputLayout {
            sample,
            planes,
            len: offset,
        }
    }

    /// Planes of one size interleaved into pixels of `channels.len()` samples: plane `p`
    /// goes to sample `channels[p]` of each pixel; rows without padding.
    pub fn interleaved(
        plan: &Plan,
        sample: SampleType,
        channels: &[usize],
    ) -> Result<OutputLayout> {
        let n = channels.len();
        let size = plan.output_size(0);
        let mut seen = [false; 256];
        if n != plan.header.planes.len()
            || channels
                .iter()
                .any(|&c| c >= n || std::mem::replace(&mut seen[c], true))
        {
            return Err(Error::param(format!(
                "{n} channel positions {channels:?} for a stream of {} planes",
                plan.header.planes.len()
            )));
        }
        if (0..n).any(|p| plan.output_size(p) != size) {
            return Err(Error::param("interleaved output needs planes of one size"));
        }
        let bytes = sample.bytes();
        let row_stride = size.0 as usize * n * bytes;
        Ok(OutputLayout {
            sample,
            planes: channels
                .iter()
                .map(|&c| PlaneLayout {
                    offset: c * bytes,
                    pixel_stride: n * bytes,
                    row_stride,
                })
                .collect(),
            len: row_stride * size.1 as usize,
        })
    }

    /// Checks that the layout fits `plan` and a buffer of `len` bytes: one entry per
    /// plane, every sample inside the buffer, samples wide enough for the bit depth.
    pub fn check(&self, plan: &Plan, len: usize) -> Result<()> {
        if self.planes.len() != plan.header.planes.len() {
            return Err(Error::param(format!(
                "output layout has {} planes, the stream {}",
                self.planes.len(),
                plan.header.planes.len()
            )));
        }
        if len != self.len {
            return Err(Error::param(format!(
                "output buffer has {len} bytes, the layout needs {}",
                self.len
            )));
        }
        let bytes = self.sample.bytes();
        for (p, l) in self.planes.iter().enumerate() {
            let (w, h) = plan.output_size(p);
            if plan.header.planes[p].bit_depth as usize > 8 * bytes {
                return Err(Error::param(format!(
                    "plane {p} has {} bits, too many for {bytes}-byte output samples",
                    plan.header.planes[p].bit_depth
                )));
            }
            let last = (h as u64 - 1) * l.row_stride as u64
                + (w as u64 - 1) * l.pixel_stride as u64
                + l.offset as u64
                + bytes as u64;
            if last > self.len as u64 || l.pixel_stride < bytes {
                return Err(Error::param(format!(
                    "output layout of plane {p} ({w}x{h}) does not fit in {} bytes",
                    self.len
                )));
            }
        }
        Ok(())
    }

    /// The byte position of each plane in a pixel when this is tight interleaved 8-bit
    /// output of planes of one size (the common fast path), else `None`.
    pub fn tight_interleaved_u8(&self, plan: &Plan) -> Option<Vec<usize>> {
        self.tight_interleaved(plan)
            .filter(|_| self.sample == SampleType::U8)
    }

    /// The sample position of each plane in a pixel when this is tight interleaved output
    /// (8 or 16-bit) of 1 to 4 planes of one size, else `None`.
    pub fn tight_interleaved(&self, plan: &Plan) -> Option<Vec<usize>> {
        let n = self.planes.len();
        let bytes = self.sample.bytes();
        let (w, _) = plan.output_size(0);
        let tight = (1..=4).contains(&n)
            && self.planes.iter().enumerate().all(|(p, l)| {
                l.pixel_stride == n * bytes
                    && l.row_stride == w as usize * n * bytes
                    && l.offset < n * bytes
                    && l.offset % bytes == 0
                    && plan.output_size(p) == plan.output_size(0)
            });
        let offsets: Vec<usize> = self.planes.iter().map(|l| l.offset / bytes).collect();
        let distinct = (0..n).all(|o| offsets.contains(&o));
        (tight && distinct).then_some(offsets)
    }

    /// Writes row `y` of plane `p`, each sample through `range`.
    pub(crate) fn write_row(
        &self,
        p: usize,
        y: usize,
        row: &[i32],
        range: OutputRange,
        out: &mut [u8],
    ) {
        let l = self.planes[p];
        let start = l.offset + y * l.row_stride;
        match self.sample {
            SampleType::U8 => {
                for (i, &v) in row.iter().enumerate() {
                    out[start + i * l.pixel_stride] = range.apply(v) as u8;
                }
            }
            SampleType::U16 => {
                for (i, &v) in row.iter().enumerate() {
                    let at = start + i * l.pixel_stride;
                    out[at..at + 2].copy_from_slice(&(range.apply(v) as u16).to_le_bytes());
                }
            }
        }
    }
}
