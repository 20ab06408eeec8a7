//! Images in CUDA device memory (`ImageMemoryType.CUDA_DEVICE`): `CudaImage`, with
//! `__cuda_array_interface__` and DLPack, and the checks that decide whether the CUDA
//! backend can run here.
//!
//! **Never run on a GPU.** The CUDA device decode of vc6-rs has run only against a
//! stand-in driver (`crates/vc6-cuda/tests/fake_libcuda.c`), which records the calls (and
//! can run the kernels on the CPU); it is refused unless `VC6_CUDA_UNTESTED=1` is set. Unsafe code here:
//! handing a consumer's raw stream handle to the frame (`__dlpack__`).
#![allow(unsafe_code)]

use crate::enums::{ImageMemoryType, PictureFormat};
use crate::errors::{to_py, Failure, UnsupportedError};
use crate::image::{export, shape_of, DLDataType, DLDevice, DecodedImage, DL_CUDA, DL_UINT};
use crate::input::numpy;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyList, PyTuple};
use std::path::PathBuf;
use vc6::cuda::{CudaBackend, CudaConfig, DeviceFrame};
use vc6::PixelFormat;

/// The start of every refusal of `ImageMemoryType.CUDA_DEVICE`.
const NEEDS: &str = "ImageMemoryType.CUDA_DEVICE needs the CUDA backend, which cannot run here";

/// Checks that the CUDA backend can decode into device memory here, and opens it (the
/// process-wide backend: device, context and kernels, compiled or from `CUDA_BIN_LOC`),
/// without the GIL. Returns the device's ordinal (for DLPack).
///
/// Refusals, in this order: no NVIDIA driver (`UnsupportedError`); `VC6_CUDA_UNTESTED`
/// not `1`, since the device decode has never run on a GPU (`UnsupportedError`); the
/// device or its start-up failing (`DeviceError`, as the codec's device errors).
pub fn open(py: Python<'_>) -> PyResult<usize> {
    if !vc6::cuda::driver_present() {
        return Err(UnsupportedError::new_err(format!(
            "{NEEDS}: {}",
            vc6::cuda::NO_DRIVER
        )));
    }
    if !vc6::cuda::untested_decode_enabled() {
        return Err(UnsupportedError::new_err(format!(
            "{NEEDS}: {}",
            vc6::cuda::DECODE_UNTESTED
        )));
    }
    let backend = py.detach(CudaBackend::shared).map_err(|e| {
        to_py(match e {
            vc6::Error::Device(m) => vc6::Error::Device(format!("{NEEDS}: {m}")),
            vc6::Error::Unsupported(m) => vc6::Error::Unsupported(format!("{NEEDS}: {m}")),
            other => other,
        })
    })?;
    Ok(backend.info().ordinal)
}

/// The device the shared CUDA backend runs on, for people (after [`open`] succeeded).
pub fn device_name() -> String {
    match CudaBackend::shared() {
        Ok(b) => b.info().to_string(),
        Err(e) => format!("no CUDA device: {e}"),
    }
}

/// Where `CUDA_BIN_LOC=folder` keeps the compiled decode kernels for the device
/// `VC6_CUDA_DEVICE` picks (device 0 when unset): the file to pre-populate (copy a cubin
/// built for that device's architecture and driver there) or to ship beside an
/// application, so that NVRTC is not needed at run time. Reads the device list from the
/// driver (no context, no compile). Raises `DeviceError` when there is no NVIDIA driver
/// or no such device.
#[pyfunction]
pub fn cuda_kernel_cache_path(py: Python<'_>, folder: PathBuf) -> PyResult<String> {
    let info = py
        .detach(|| CudaBackend::probe(&CudaConfig::from_env()))
        .map_err(to_py)?;
    Ok(vc6::cuda::cache_path(&folder, &info)
        .to_string_lossy()
        .into_owned())
}

/// The pixel format a device frame decoded from `stream` is in: the stream's own (device
/// output is never converted).
pub fn own_format(stream: &[u8]) -> vc6::Result<PixelFormat> {
    let info = vc6::probe(stream)?;
    PixelFormat::from_tag(info.format_tag).ok_or_else(|| {
        vc6::Error::Unsupported("the stream holds generic planes with no pixel format".into())
    })
}

/// A decoded picture left in CUDA device memory (`DecoderSync(...,
/// memory_type=ImageMemoryType.CUDA_DEVICE)`), in the stream's own picture format.
///
/// **Never run on a GPU**: the CUDA device decode is refused unless `VC6_CUDA_UNTESTED=1`
/// is set, and has run only against a stand-in driver.
///
/// It has the attributes of `DecodedImage` (`width`, `height`, `format`, `bit_depth`,
/// `loq`, `shape`, `dtype`, `strides`, `ndim`, `nbytes`), with the same shapes, so that
/// `.cpu()` (a host copy: a `DecodedImage`) and the device view agree. For CuPy, PyTorch
/// and the like, without a copy:
///
/// - `__cuda_array_interface__` (version 3): the host first waits until the decode has
///   finished on the device (it has, in practice, when `decode` returns), so the memory
///   can be read from any stream; `stream` is the stream the frame was decoded on (never
///   0), which consumers may synchronise on (a no-op by then).
/// - `__dlpack__(stream=...)` / `__dlpack_device__()` (`(2, device)`, `kDLCUDA`): the
///   consumer's stream is made to wait for the decode (an event, no host wait): `None` or
///   `1` the legacy default stream, `2` the per-thread default stream, another int the raw
///   `CUstream` handle (`torch.cuda.current_stream().cuda_stream`, CuPy's
///   `Stream.ptr`), `-1` no stream (the host waits for the decode instead); `0` is
///   refused. The memory is then freed only after the work queued on that stream before
///   the image (and every tensor made from it) is dropped: keep the stream alive until
///   then.
///
/// Memory handed out through `__cuda_array_interface__` is freed, when the last reference
/// to the image goes, on the decode's stream without waiting for other streams: finish
/// (or synchronise) the work reading it before dropping the image and the arrays made
/// from it, or prefer DLPack with your stream.
///
/// `numpy.asarray(img)` raises `TypeError` (the pixels are not in host memory): use
/// `.cpu()`. `tobytes()` and `save(path)` copy to the host.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct CudaImage {
    frame: DeviceFrame,
    format: PixelFormat,
    loq: u8,
    shape: Vec<usize>,
    /// The CUDA device's ordinal (among the visible devices).
    ordinal: usize,
}

impl CudaImage {
    /// Wraps a device frame decoded at `loq` in `format` on device `ordinal`.
    pub fn new(
        frame: DeviceFrame,
        format: PixelFormat,
        loq: u8,
        ordinal: usize,
    ) -> PyResult<CudaImage> {
        let shape = shape_of(format, frame.width, frame.height, frame.len());
        let bytes = shape.iter().product::<usize>() * format.bytes_per_sample();
        if bytes != frame.len() || frame.sample().bytes() != format.bytes_per_sample() {
            // The facade packs device frames tightly in the stream's own format; anything
            // else would make the views lie about the memory.
            return Err(to_py(vc6::Error::Device(format!(
                "a device frame of {} bytes does not hold a packed {}x{} {format} frame",
                frame.len(),
                frame.width,
                frame.height
            ))));
        }
        Ok(CudaImage {
            frame,
            format,
            loq,
            shape,
            ordinal,
        })
    }

    fn itemsize(&self) -> usize {
        self.format.bytes_per_sample()
    }

    /// `'|u1'` or `'<u2'` (little-endian: the CUDA devices' byte order).
    fn typestr(&self) -> &'static str {
        if self.itemsize() == 2 {
            "<u2"
        } else {
            "|u1"
        }
    }

    /// The raw handle of the stream the frame was decoded on; never 0 (which the CUDA
    /// array interface forbids): a frame of the legacy default stream says 1.
    fn stream_handle(&self) -> usize {
        match self.frame.stream().cu_stream() as usize {
            0 => 1,
            s => s,
        }
    }

    /// Byte strides in C order.
    fn byte_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.shape.len()];
        let mut step = self.itemsize();
        for i in (0..self.shape.len()).rev() {
            strides[i] = step;
            step *= self.shape[i];
        }
        strides
    }

    /// The host copy as a codec frame.
    fn host_frame(&self, py: Python<'_>) -> PyResult<vc6::Frame> {
        let data = py.detach(|| self.frame.to_host()).map_err(to_py)?;
        Ok(vc6::Frame {
            width: self.frame.width,
            height: self.frame.height,
            format: self.format,
            bit_depth: self.frame.bit_depth,
            data,
        })
    }
}

/// What `__dlpack__`'s `stream` asks for.
enum Consumer {
    /// `-1`: no stream; the host waits instead.
    None,
    /// A raw `CUstream` handle (1: legacy default, 2: per-thread default).
    Stream(usize),
}

/// Reads `__dlpack__`'s `stream` argument, as the array API standard says for CUDA.
fn consumer_stream(stream: Option<&Bound<'_, PyAny>>) -> PyResult<Consumer> {
    let Some(stream) = stream.filter(|s| !s.is_none()) else {
        // None: the legacy default stream.
        return Ok(Consumer::Stream(1));
    };
    if stream.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "stream must be an int or None, not a bool",
        ));
    }
    let is_int = stream.is_instance_of::<pyo3::types::PyInt>();
    let value: i128 = stream
        .extract::<i64>()
        .map(i128::from)
        .or_else(|_| stream.extract::<u64>().map(i128::from))
        .map_err(|_| {
            if is_int {
                return PyValueError::new_err(format!("stream handle {stream} is out of range"));
            }
            PyTypeError::new_err(format!(
                "stream must be an int (a CUstream handle, 1, 2 or -1) or None, got {}",
                stream
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "?".into())
            ))
        })?;
    match value {
        -1 => Ok(Consumer::None),
        0 => Err(PyValueError::new_err(
            "stream=0 is ambiguous for CUDA and not allowed by DLPack: pass 1 for the \
             legacy default stream, 2 for the per-thread default stream, or the stream's \
             handle",
        )),
        v if v < 0 => Err(PyValueError::new_err(format!(
            "stream must be -1, None, 1, 2 or a CUstream handle, got {v}"
        ))),
        v => usize::try_from(v)
            .map(Consumer::Stream)
            .map_err(|_| PyValueError::new_err(format!("stream handle {v} is out of range"))),
    }
}

#[pymethods]
impl CudaImage {
    /// Width in pixels (of the region, at the LoQ decoded).
    #[getter]
    fn width(&self) -> u32 {
        self.frame.width
    }

    /// Height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.frame.height
    }

    /// The picture format of the pixels (the stream's own).
    #[getter]
    fn format(&self) -> Option<PictureFormat> {
        PictureFormat::of(self.format)
    }

    /// Significant bits per sample (LSB-aligned).
    #[getter]
    fn bit_depth(&self) -> u8 {
        self.frame.bit_depth
    }

    /// The level of quality decoded (0: full size, k: halved k times).
    #[getter]
    fn loq(&self) -> u8 {
        self.loq
    }

    /// `ImageMemoryType.CUDA_DEVICE`.
    #[getter]
    fn memory_type(&self) -> ImageMemoryType {
        ImageMemoryType::CUDA_DEVICE
    }

    /// The CUDA device's ordinal (among the visible devices), as in `__dlpack_device__`.
    #[getter]
    fn device_id(&self) -> usize {
        self.ordinal
    }

    /// The array's shape (as `DecodedImage`'s).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.shape)
    }

    /// Dimensions of the array.
    #[getter]
    fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// `numpy.dtype('uint8')` or `numpy.dtype('uint16')`.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy(py)?.call_method1("dtype", (self.typestr(),))
    }

    /// Strides in bytes (C order, no padding).
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.byte_strides())
    }

    /// Bytes of pixel data.
    #[getter]
    fn nbytes(&self) -> usize {
        self.frame.len()
    }

    /// The CUDA array interface, version 3 (CuPy, Numba, PyTorch): `shape`, `typestr`,
    /// `descr`, `data` (the device address, not read-only), `strides` (`None`: C order),
    /// `version` and `stream` (the decode's stream, never 0). The host waits for the
    /// decode to finish first, so the address is good on any stream. Never run on a GPU.
    #[getter(__cuda_array_interface__)]
    fn cuda_array_interface<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let ptr = py
            .detach(|| self.frame.device_ptr_synchronized())
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("shape", PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", self.typestr())?;
        d.set_item("descr", PyList::new(py, [("", self.typestr())])?)?;
        d.set_item("data", (ptr, false))?;
        d.set_item("strides", py.None())?;
        d.set_item("version", 3)?;
        d.set_item("stream", self.stream_handle())?;
        Ok(d)
    }

    /// DLPack's device: `(2, device_id)` (`kDLCUDA`).
    fn __dlpack_device__(&self) -> (i32, i32) {
        (DL_CUDA, self.ordinal as i32)
    }

    /// A DLPack capsule of the device memory (no copy), for `torch.from_dlpack`,
    /// `cupy.from_dlpack` and the like. `stream`: the consumer's stream, made to wait for
    /// the decode (see the class docs; `-1`: the host waits instead; `0` raises
    /// `ValueError`). `max_version >= (1, 0)` gives a versioned capsule. `dl_device` other
    /// than `__dlpack_device__()` and `copy=True` raise `BufferError` (use `.cpu()` for a
    /// host copy). The capsule keeps the image alive. Never run on a GPU.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        slf: &Bound<'py, Self>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let py = slf.py();
        let this = slf.get();
        let own = (DL_CUDA, this.ordinal as i32);
        if let Some(dev) = dl_device.filter(|&d| d != own) {
            return Err(PyBufferError::new_err(format!(
                "the image is in CUDA device memory (DLPack device {own:?}); cannot export \
                 to {dev:?} (use .cpu() for a host copy)"
            )));
        }
        if copy == Some(true) {
            return Err(PyBufferError::new_err(
                "copy=True is not supported for an image in CUDA device memory: export it \
                 without a copy and copy with the consumer (torch.from_dlpack(img).clone()), \
                 or use .cpu() for a host copy",
            ));
        }
        let consumer = consumer_stream(stream.as_ref())?;
        let frame = &this.frame;
        let ptr = py
            .detach(|| match consumer {
                Consumer::None => frame.device_ptr_synchronized(),
                // SAFETY: DLPack's protocol: the consumer passes a live stream of the
                // device's (primary) context, or 1 / 2 (CUDA's default streams), and keeps
                // it alive while it uses the tensor; the tensor keeps this image, and so
                // the frame, alive until its deleter runs.
                Consumer::Stream(handle) => unsafe {
                    frame.device_ptr_on_raw(handle as vc6::cuda::cudarc::driver::sys::CUstream)
                },
            })
            .map_err(to_py)?;
        let dtype = DLDataType {
            code: DL_UINT,
            bits: 8 * this.itemsize() as u8,
            lanes: 1,
        };
        let device = DLDevice {
            device_type: DL_CUDA,
            device_id: this.ordinal as i32,
        };
        export(
            py,
            slf.clone().into_any().unbind(),
            ptr as usize,
            device,
            &this.shape,
            dtype,
            max_version.is_some_and(|v| v.0 >= 1),
            false,
        )
    }

    /// Refuses: the pixels are in CUDA device memory. `img.cpu()` gives a host copy.
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__(&self, dtype: Option<Bound<'_, PyAny>>, copy: Option<bool>) -> PyResult<()> {
        let _ = (dtype, copy);
        Err(PyTypeError::new_err(
            "the image is in CUDA device memory: NumPy cannot read it; use img.cpu() for a \
             host copy (a DecodedImage), or hand it to CuPy/PyTorch through DLPack or \
             __cuda_array_interface__",
        ))
    }

    /// A copy in host memory: a `DecodedImage` (waits for the decode, then copies).
    fn cpu(&self, py: Python<'_>) -> PyResult<DecodedImage> {
        let frame = self.host_frame(py)?;
        DecodedImage::new(py, frame, self.loq)
    }

    /// Blocks (without the GIL) until the decode has finished on the device.
    fn synchronize(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.frame.synchronize()).map_err(to_py)
    }

    /// A host copy of the pixel bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| self.frame.to_host()).map_err(to_py)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Copies the pixels to the host and writes the raw bytes to `path`.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| -> Result<(), Failure> {
            let data = self.frame.to_host()?;
            std::fs::write(&path, data).map_err(|e| Failure::Io(path.clone(), e))
        })
        .map_err(Failure::into_py)
    }

    fn __repr__(&self) -> String {
        format!(
            "<CudaImage {}x{} {} loq={} shape={:?} cuda:{}>",
            self.frame.width,
            self.frame.height,
            PictureFormat::of(self.format)
                .map(|f| format!("{f:?}"))
                .unwrap_or_else(|| self.format.to_string()),
            self.loq,
            self.shape,
            self.ordinal
        )
    }
}
