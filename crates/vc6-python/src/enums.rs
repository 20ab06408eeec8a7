//! The enums of `vc6rs.codec`: backends, picture formats, memory types and presets.
// Python spells enum members in capitals, as the SDK does.
#![allow(non_camel_case_types, clippy::upper_case_acronyms)]

use crate::errors::{param, UnsupportedError};
use pyo3::prelude::*;
use vc6::PixelFormat;

/// Where the codec runs. `GPU` is the OpenCL backend today (any OpenCL 1.2 device, chosen
/// by `OCL_DEVICE`); `AUTO` takes CUDA where it can run (today only with
/// `VC6_CUDA_UNTESTED=1`: never run on a GPU), then an OpenCL GPU, else the CPU.
#[pyclass(eq, eq_int, hash, frozen, from_py_object, module = "vc6rs.codec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecBackendType {
    /// The CPU backend, on every core.
    CPU,
    /// A GPU backend: OpenCL.
    GPU,
    /// CUDA where it can run, then an OpenCL GPU, else the CPU.
    AUTO,
}

impl CodecBackendType {
    /// The facade's backend.
    pub fn backend(self) -> vc6::Backend {
        match self {
            CodecBackendType::CPU => vc6::Backend::Cpu,
            CodecBackendType::GPU => vc6::Backend::OpenCl,
            CodecBackendType::AUTO => vc6::Backend::Auto,
        }
    }
}

/// Where decoded images live. `CUDA_DEVICE` (decoders only: `DecoderSync` and
/// `DecoderAsync`) leaves each
/// decoded frame in CUDA device memory as a `CudaImage`; the CUDA device decode has never
/// run on a GPU, so it is refused unless `VC6_CUDA_UNTESTED=1` is set (and an NVIDIA
/// driver is present).
#[pyclass(eq, eq_int, hash, frozen, from_py_object, module = "vc6rs.codec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageMemoryType {
    /// Host memory (NumPy arrays, the buffer protocol, DLPack on the CPU).
    CPU,
    /// CUDA device memory (decoders only; never run on a GPU: needs
    /// `VC6_CUDA_UNTESTED=1`).
    CUDA_DEVICE,
}

impl ImageMemoryType {
    /// Fails for the memory types an encoder cannot read: only host memory.
    pub fn check_encoder(self) -> PyResult<()> {
        match self {
            ImageMemoryType::CPU => Ok(()),
            ImageMemoryType::CUDA_DEVICE => Err(UnsupportedError::new_err(
                "ImageMemoryType.CUDA_DEVICE: encoding from CUDA device memory is not supported \
                 (encoders take frames in host memory: ImageMemoryType.CPU)",
            )),
        }
    }
}

/// Encoder presets: `LOSSLESS` (exact), and the lossy `LIGHT` (faster decode) and `BETTER`
/// (best quality per bit); the lossy ones start at quality 80.
#[pyclass(eq, eq_int, hash, frozen, from_py_object, module = "vc6rs.codec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncoderGenericPreset {
    /// Exact reconstruction of every sample.
    LOSSLESS,
    /// Lossy, faster decode (linear upsampling).
    LIGHT,
    /// Lossy, best quality per bit (cubic upsampling).
    BETTER,
}

impl EncoderGenericPreset {
    /// The facade's preset.
    pub fn preset(self) -> vc6::Preset {
        match self {
            EncoderGenericPreset::LOSSLESS => vc6::Preset::Lossless,
            EncoderGenericPreset::LIGHT => vc6::Preset::Light,
            EncoderGenericPreset::BETTER => vc6::Preset::Better,
        }
    }

    /// The binding's preset for a facade preset.
    pub fn of(p: vc6::Preset) -> EncoderGenericPreset {
        match p {
            vc6::Preset::Light => EncoderGenericPreset::LIGHT,
            vc6::Preset::Better => EncoderGenericPreset::BETTER,
            _ => EncoderGenericPreset::LOSSLESS,
        }
    }
}

/// Pixel layouts: interleaved `RGB_8`, `RGBA_8`, `BGR_8`, `BGRA_8`, `RGB_16`, `RGBA_16`,
/// grey `Y_8`, `Y_16`, and planar `YUV420_8` ... `YUV444_16` (the whole Y plane, then U,
/// then V). 16-bit samples are little-endian `uint16`, LSB-aligned (10 and 12-bit content
/// keeps its values).
#[pyclass(eq, eq_int, hash, frozen, from_py_object, module = "vc6rs.codec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFormat {
    /// 8-bit R, G, B.
    RGB_8,
    /// 8-bit R, G, B, A.
    RGBA_8,
    /// 8-bit B, G, R.
    BGR_8,
    /// 8-bit B, G, R, A.
    BGRA_8,
    /// 8-bit grey.
    Y_8,
    /// 16-bit R, G, B.
    RGB_16,
    /// 16-bit R, G, B, A.
    RGBA_16,
    /// 16-bit grey.
    Y_16,
    /// 8-bit planar Y, U, V, 4:2:0.
    YUV420_8,
    /// 8-bit planar Y, U, V, 4:2:2.
    YUV422_8,
    /// 8-bit planar Y, U, V, 4:4:4.
    YUV444_8,
    /// 16-bit planar Y, U, V, 4:2:0.
    YUV420_16,
    /// 16-bit planar Y, U, V, 4:2:2.
    YUV422_16,
    /// 16-bit planar Y, U, V, 4:4:4.
    YUV444_16,
}

impl PictureFormat {
    /// Every format.
    pub const ALL: [PictureFormat; 14] = [
        PictureFormat::RGB_8,
        PictureFormat::RGBA_8,
        PictureFormat::BGR_8,
        PictureFormat::BGRA_8,
        PictureFormat::Y_8,
        PictureFormat::RGB_16,
        PictureFormat::RGBA_16,
        PictureFormat::Y_16,
        PictureFormat::YUV420_8,
        PictureFormat::YUV422_8,
        PictureFormat::YUV444_8,
        PictureFormat::YUV420_16,
        PictureFormat::YUV422_16,
        PictureFormat::YUV444_16,
    ];

    /// The facade's pixel format.
    pub fn pixel(self) -> PixelFormat {
        match self {
            PictureFormat::RGB_8 => PixelFormat::Rgb8,
            PictureFormat::RGBA_8 => PixelFormat::Rgba8,
            PictureFormat::BGR_8 => PixelFormat::Bgr8,
            PictureFormat::BGRA_8 => PixelFormat::Bgra8,
            PictureFormat::Y_8 => PixelFormat::Gray8,
            PictureFormat::RGB_16 => PixelFormat::Rgb16,
            PictureFormat::RGBA_16 => PixelFormat::Rgba16,
            PictureFormat::Y_16 => PixelFormat::Gray16,
            PictureFormat::YUV420_8 => PixelFormat::Yuv420p8,
            PictureFormat::YUV422_8 => PixelFormat::Yuv422p8,
            PictureFormat::YUV444_8 => PixelFormat::Yuv444p8,
            PictureFormat::YUV420_16 => PixelFormat::Yuv420p16,
            PictureFormat::YUV422_16 => PixelFormat::Yuv422p16,
            PictureFormat::YUV444_16 => PixelFormat::Yuv444p16,
        }
    }

    /// The binding's format for a facade format (`None` for one it does not know).
    pub fn of(f: PixelFormat) -> Option<PictureFormat> {
        PictureFormat::ALL.into_iter().find(|p| p.pixel() == f)
    }

    /// Interleaved channels per pixel (1 for grey, 3 for the planar formats' planes).
    fn channel_count(self) -> usize {
        let f = self.pixel();
        if f.is_planar() {
            3
        } else {
            f.plane_count()
        }
    }
}

#[pymethods]
impl PictureFormat {
    /// The member's name (`"RGB_8"` ...).
    #[getter]
    fn name(&self) -> String {
        format!("{self:?}")
    }

    /// The vc6 command's name of the format (`"rgb8"`, `"yuv420p"` ...).
    #[getter]
    fn vc6_name(&self) -> &'static str {
        self.pixel().name()
    }

    /// Samples per pixel (interleaved formats) or planes (planar formats).
    #[getter]
    fn channels(&self) -> usize {
        self.channel_count()
    }

    /// Bytes of one sample: 1 or 2.
    #[getter]
    fn bytes_per_sample(&self) -> usize {
        self.pixel().bytes_per_sample()
    }

    /// Whether the planes follow each other (YUV) instead of being interleaved.
    #[getter]
    fn planar(&self) -> bool {
        self.pixel().is_planar()
    }

    /// Bytes of one `width x height` frame in this format.
    fn frame_size(&self, width: u32, height: u32) -> PyResult<usize> {
        self.pixel()
            .frame_len(width, height)
            .map_err(crate::errors::to_py)
    }

    /// The format named as the vc6 command names it (`"rgb8"`, `"gray16"`, `"yuv420p"` ...).
    #[staticmethod]
    fn from_vc6_name(name: &str) -> PyResult<PictureFormat> {
        let f: PixelFormat = name.parse().map_err(crate::errors::to_py)?;
        PictureFormat::of(f).ok_or_else(|| param(format!("unknown picture format {name:?}")))
    }
}

#[pymethods]
impl CodecBackendType {
    /// The member's name.
    #[getter]
    fn name(&self) -> String {
        format!("{self:?}")
    }
}

#[pymethods]
impl ImageMemoryType {
    /// The member's name.
    #[getter]
    fn name(&self) -> String {
        format!("{self:?}")
    }
}

#[pymethods]
impl EncoderGenericPreset {
    /// The member's name.
    #[getter]
    fn name(&self) -> String {
        format!("{self:?}")
    }
}
