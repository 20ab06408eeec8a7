//! # vc6-core
//!
//! The format layer of vc6-rs: picture model, bitstream (header, sections, tableau),
//! entropy coding (lane-interleaved rANS, contexts, s-trees), the echelon pyramid with its upsamplers, the
//! reversible colour transform, and the CPU reference encoder and decoder.
//!
//! This crate has no GPU dependencies. `unsafe` is confined to the SIMD kernels (the
//! `x86` modules, each use with a `// SAFETY:` comment); each has a scalar twin, the
//! reference, chosen at run time by [`simd`]. The bitstream it reads and
//! writes is vc6-rs's own (docs/bitstream.md); it follows the VC-6 architecture but
//! is **not** the SMPTE ST 2117-1 syntax.
//!
//! Features: `rayon` (default) decodes and encodes tiles on every core.
#![deny(unsafe_code)]

pub mod backend;
mod bytes;
pub mod colour;
pub mod decoder;
pub mod encoder;
pub mod entropy;
mod error;
pub mod gpu;
pub mod header;
mod limits;
pub mod options;
pub mod output;
pub mod parallel;
pub mod picture;
pub mod plan;
pub mod pyramid;
pub mod quant;
pub mod simd;
pub mod syntax;
pub mod tableau;
#[cfg(test)]
mod test_rng;

pub use backend::{Backend, CpuBackend, DecodeJob};
pub use decoder::{decode, decode_interleaved_u8, decode_planned, decode_with, DecodeBuffers};
pub use encoder::{encode, EncoderConfig, DEFAULT_FRACTION_BITS};
pub use error::{Error, Result};
pub use header::{probe, required_size, Header, LoqInfo, PlaneInfo, StreamInfo};
pub use limits::Limits;
pub use options::{DecodeOptions, Region};
pub use output::{OutputLayout, OutputRange, PlaneLayout, SampleType};
pub use picture::{Picture, Plane};
pub use plan::{map_span, Plan};
pub use pyramid::Upsampler;
