//! # vc6
//!
//! A fast hierarchical image codec after the architecture of VC-6 (SMPTE ST 2117-1):
//! each plane is a stack of echelons, resolutions halving downwards; the lowest is coded
//! directly and each higher one as residuals against an upsampled prediction, coded with
//! s-trees in tiles indexed by a tableau. So a decoder can stop at any level of quality
//! (LoQ), decode from a byte prefix, and decode a region reading only the tiles it needs.
//!
//! The bitstream is vc6-rs's own (docs/bitstream.md). It is **not** the ST 2117-1 syntax
//! and is not compatible with V-Nova's SDK. VC-6 techniques are patented by V-Nova; this
//! crate grants no patent licence.
//!
//! ```
//! use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
//!
//! let (w, h) = (320, 200);
//! let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i / 3) % w) as u8 ^ (i % 3) as u8).collect();
//! let stream = Encoder::new(w, h, PixelFormat::Rgb8, EncoderSettings::default())?.encode(&rgb)?;
//!
//! let info = vc6::probe(&stream)?;
//! assert_eq!((info.width, info.height, info.lossless), (320, 200, true));
//!
//! let decoder = Decoder::new(DecoderSettings::default())?;
//! assert_eq!(decoder.decode(&stream)?.data, rgb);
//! let thumb = decoder.decode_region(&stream, FrameRegion::full(2))?;
//! assert_eq!((thumb.width, thumb.height), (80, 50));
//! # Ok::<(), vc6::Error>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `rayon` | yes     | tiles encoded and decoded on every core |
//! | `opencl` | no     | the OpenCL backend ([`Backend::OpenCl`] and the `opencl` module); the OpenCL library is loaded at run time |
//! | `cuda`  | no      | the CUDA backend ([`Backend::Cuda`]): driver check, device choice, NVRTC and its kernel cache; its device decode has never run on a GPU, so it refuses decodes unless `VC6_CUDA_UNTESTED=1`, and only then does `Auto` prefer it |
//! | `image` | no      | the `image` crate's decoder, region decoder, encoder and format hooks (the `image` module: `vc6::image::register()` makes `image::open("x.vc6")` work) |
//!
//! The CPU backend is always there; [`Backend::status`] lists what this build can run
//! here, and [`Backend::Auto`] (the default) picks an OpenCL GPU when there is one. Every
//! backend decodes to the same bytes. [`Decoder::decode_batch`] decodes many streams in
//! one call (a GPU's fast path), [`AsyncDecoder`] keeps several frames in flight, and with
//! `opencl`, `Decoder::decode_to_opencl` / `decode_batch_to_opencl` leave frames in device
//! memory (with `cuda`, `decode_to_cuda` / `decode_batch_to_cuda`, never run on a GPU).
#![forbid(unsafe_code)]
// On docs.rs, items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backends;
mod codec;
pub mod format;
#[cfg(feature = "image")]
pub mod image;
mod pipeline;
#[cfg(all(doctest, feature = "opencl", feature = "cuda", feature = "image"))]
mod readme;

/// The backend trait and the types an implementation sees ([`Backend`] is the choice
/// among the compiled ones).
pub mod backend {
    pub use vc6_core::backend::{Backend, CpuBackend, DecodeJob};
    pub use vc6_core::plan::{Plan, PlanePlan, SectionPlan, TableSpec};
    pub use vc6_core::{OutputLayout, PlaneLayout, SampleType};
}

/// The OpenCL backend (feature `opencl`): device selection, the kernel binary cache and
/// decoded frames kept in device memory.
#[cfg(feature = "opencl")]
pub use vc6_opencl as opencl;

/// The CUDA backend (feature `cuda`): device choice, NVRTC and the kernel cache, and
/// decoded frames kept in device memory with their stream and ready event. Its device
/// decode has never run on a GPU (see the crate docs).
#[cfg(feature = "cuda")]
pub use vc6_cuda as cuda;

pub use backends::{Backend, BackendStatus};
pub use codec::{
    probe, required_size, Decoder, DecoderSettings, Encoder, EncoderSettings, Frame, FrameRegion,
    Preset,
};
pub use format::{convert_picture, PixelFormat};
pub use pipeline::{AsyncDecoder, Pending};
pub use vc6_core::{
    Error, Limits, LoqInfo, Picture, Plane, PlaneInfo, Result, StreamInfo, Upsampler,
};
