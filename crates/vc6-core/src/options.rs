//! What a decode asks for: the LoQ, a region, limits, threads.

use crate::limits::Limits;

/// A rectangle in the pixel grid of plane 0 at the requested LoQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

/// What to decode and with which resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Level of quality: 0 is full resolution, k is the picture halved k times.
    pub loq: u8,
    /// Only this part of the picture (in the LoQ's grid); `None` decodes everything.
    pub region: Option<Region>,
    /// Bounds on what an untrusted stream may make the decoder allocate.
    pub limits: Limits,
    /// Worker threads (0 = all cores, 1 = the calling thread only).
    pub threads: usize,
    /// Check section CRCs when the stream has them.
    pub verify_checksums: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            loq: 0,
            region: None,
            limits: Limits::default(),
            threads: 0,
            verify_checksums: true,
        }
    }
}
