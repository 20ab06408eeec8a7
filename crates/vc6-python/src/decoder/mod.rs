//! `DecoderSync`, `DecoderAsync` and their futures; `probe` and `required_size`.

mod future;

use crate::cuda::CudaImage;
use crate::enums::{CodecBackendType, ImageMemoryType, PictureFormat};
use crate::errors::{param, to_py, Failure};
use crate::image::DecodedImage;
use crate::input::{bytes_of, Bytes};
pub use future::DecodeFuture;
use future::DeviceItem;
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use vc6::{DecoderSettings, FrameRegion};

/// The settings of a decoder from the SDK-style arguments.
fn settings(
    width: u32,
    height: u32,
    backend: CodecBackendType,
    picture_format: Option<PictureFormat>,
    threads: usize,
) -> PyResult<DecoderSettings> {
    Ok(DecoderSettings {
        max_width: width,
        max_height: height,
        format: picture_format.map(PictureFormat::pixel),
        backend: backend.backend(),
        threads,
        ..DecoderSettings::default()
    })
}

/// `loq` and `region` (`(x, y, width, height)` in the LoQ's grid, or `None`: everything).
pub fn frame_region(loq: i64, region: Option<&Bound<'_, PyAny>>) -> PyResult<FrameRegion> {
    let loq =
        u8::try_from(loq).map_err(|_| param(format!("loq must be from 0 to 255, got {loq}")))?;
    let Some(region) = region.filter(|r| !r.is_none()) else {
        return Ok(FrameRegion::full(loq));
    };
    let parts: Vec<i64> = region
        .extract()
        .map_err(|_| param("region must be (x, y, width, height) or None"))?;
    let [x, y, w, h] = parts[..] else {
        return Err(param(format!(
            "region must be (x, y, width, height), got {} numbers",
            parts.len()
        )));
    };
    let field = |v: i64, name: &str| {
        u32::try_from(v).map_err(|_| param(format!("region {name} must be 0 or more, got {v}")))
    };
    let (x, y, width, height) = (
        field(x, "x")?,
        field(y, "y")?,
        field(w, "width")?,
        field(h, "height")?,
    );
    if width == 0 || height == 0 {
        return Err(param(format!(
            "region width and height must be positive, got {width}x{height}"
        )));
    }
    Ok(FrameRegion {
        loq,
        x,
        y,
        width,
        height,
    })
}

/// One item of a batch: the stream, or why it cannot be read, and its region.
type BatchItem<'py> = PyResult<(Bytes<'py>, FrameRegion)>;

/// Parses a batch item: a stream, or a tuple `(stream, loq)` / `(stream, loq, region)`.
fn batch_item<'py>(
    item: &Bound<'py, PyAny>,
    loq: i64,
    region: Option<&Bound<'py, PyAny>>,
) -> BatchItem<'py> {
    if let Ok(t) = item.cast::<PyTuple>() {
        if (2..=3).contains(&t.len()) {
            let data = bytes_of(&t.get_item(0)?)?;
            let loq: i64 = t
                .get_item(1)?
                .extract()
                .map_err(|_| param("a batch item's loq must be an integer"))?;
            let region = if t.len() == 3 {
                Some(t.get_item(2)?)
            } else {
                None
            };
            return Ok((data, frame_region(loq, region.as_ref())?));
        }
    }
    Ok((bytes_of(item)?, frame_region(loq, region)?))
}

/// Turns a batch's outcomes into a list of images (made by `make` from the item's stream,
/// its region and its frame) and exception objects.
fn batch_list<'py, T>(
    py: Python<'py>,
    items: Vec<BatchItem<'py>>,
    results: Vec<vc6::Result<T>>,
    make: impl Fn(&[u8], FrameRegion, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut results = results.into_iter();
    let out = PyList::empty(py);
    for item in items {
        let obj: Py<PyAny> = match item {
            Err(e) => e.into_value(py).into_any(),
            Ok((bytes, region)) => match results.next().expect("one result per readable item") {
                Ok(frame) => make(bytes.as_slice(), region, frame)
                    .unwrap_or_else(|e| e.into_value(py).into_any()),
                Err(e) => to_py(e).into_value(py).into_any(),
            },
        };
        out.append(obj)?;
    }
    Ok(out)
}

/// A host image as a Python object.
fn host_image(py: Python<'_>, frame: vc6::Frame, loq: u8) -> PyResult<Py<PyAny>> {
    Ok(Bound::new(py, DecodedImage::new(py, frame, loq)?)?
        .into_any()
        .unbind())
}

/// A device image as a Python object.
fn device_image(
    py: Python<'_>,
    frame: vc6::cuda::DeviceFrame,
    format: vc6::PixelFormat,
    loq: u8,
    ordinal: usize,
) -> PyResult<Py<PyAny>> {
    Ok(
        Bound::new(py, CudaImage::new(frame, format, loq, ordinal)?)?
            .into_any()
            .unbind(),
    )
}

/// Decodes vc6 streams, whole, at a level of quality (LoQ), a region of one, or a prefix
/// (`DecoderSync(width, height, backend, picture_format, memory_type)`): `width` and
/// `height` bound the pictures it accepts (0: no bound but the default limits);
/// `picture_format` is the output format (`None`: each stream's own). Thread-safe, and
/// every decode releases the GIL.
///
/// `memory_type=ImageMemoryType.CUDA_DEVICE`: `decode`, `decode_batch` and `read` return
/// `CudaImage`s, frames left in CUDA device memory, decoded by the CUDA backend whatever
/// `backend` says (`write` still decodes to the host with `backend`). Device frames are in
/// each stream's own format: a `picture_format` that differs raises `UnsupportedError`
/// for that stream. **The CUDA device decode has never run on a GPU**: creating such a
/// decoder raises `UnsupportedError` unless `VC6_CUDA_UNTESTED=1` is set (and without an
/// NVIDIA driver), and `DeviceError` when the device cannot start.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct DecoderSync {
    state: RwLock<SyncState>,
}

/// A `DecoderSync`'s decoder and where its images go.
#[derive(Clone)]
struct SyncState {
    decoder: vc6::Decoder,
    /// `Some(device ordinal)` for `ImageMemoryType.CUDA_DEVICE`.
    cuda: Option<usize>,
}

impl DecoderSync {
    fn state(&self) -> SyncState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn decoder(&self) -> vc6::Decoder {
        self.state().decoder
    }

    /// `decode` and `read` once they have the stream: a host image, or a device image
    /// with `ImageMemoryType.CUDA_DEVICE`; the decode runs without the GIL.
    fn decode_stream(
        &self,
        py: Python<'_>,
        stream: &[u8],
        region: FrameRegion,
    ) -> PyResult<Py<PyAny>> {
        let SyncState { decoder, cuda } = self.state();
        if let Some(ordinal) = cuda {
            let (frame, format) = py
                .detach(|| -> vc6::Result<_> {
                    let frame = decoder.decode_to_cuda(stream, region)?;
                    Ok((frame, crate::cuda::own_format(stream)?))
                })
                .map_err(to_py)?;
            return device_image(py, frame, format, region.loq, ordinal);
        }
        let frame = py
            .detach(|| decoder.decode_region(stream, region))
            .map_err(to_py)?;
        host_image(py, frame, region.loq)
    }
}

/// Opens the CUDA backend for `memory_type` (`Some(device ordinal)`), or `None` for host
/// memory.
fn device_for(py: Python<'_>, memory_type: ImageMemoryType) -> PyResult<Option<usize>> {
    match memory_type {
        ImageMemoryType::CPU => Ok(None),
        ImageMemoryType::CUDA_DEVICE => crate::cuda::open(py).map(Some),
    }
}

#[pymethods]
impl DecoderSync {
    /// A decoder for pictures up to `width x height` (0: no bound but the default limits).
    #[new]
    #[pyo3(signature = (width=0, height=0, backend=CodecBackendType::CPU, picture_format=None, memory_type=ImageMemoryType::CPU, *, threads=0))]
    fn new(
        py: Python<'_>,
        width: u32,
        height: u32,
        backend: CodecBackendType,
        picture_format: Option<PictureFormat>,
        memory_type: ImageMemoryType,
        threads: usize,
    ) -> PyResult<DecoderSync> {
        let s = settings(width, height, backend, picture_format, threads)?;
        // Starting a GPU backend may compile kernels: without the GIL (`device_for` too).
        let cuda = device_for(py, memory_type)?;
        let decoder = py.detach(|| vc6::Decoder::new(s)).map_err(to_py)?;
        Ok(DecoderSync {
            state: RwLock::new(SyncState { decoder, cuda }),
        })
    }

    /// Changes the largest accepted size and the output format, and where images go
    /// (`memory_type`; `None`: unchanged). Switching to `ImageMemoryType.CUDA_DEVICE`
    /// checks the CUDA backend as the constructor does.
    #[pyo3(signature = (width, height, picture_format=None, memory_type=None))]
    fn reconfigure(
        &self,
        py: Python<'_>,
        width: u32,
        height: u32,
        picture_format: Option<PictureFormat>,
        memory_type: Option<ImageMemoryType>,
    ) -> PyResult<()> {
        let cuda = memory_type.map(|m| device_for(py, m)).transpose()?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state
            .decoder
            .reconfigure(width, height, picture_format.map(PictureFormat::pixel))
            .map_err(to_py)?;
        if let Some(cuda) = cuda {
            state.cuda = cuda;
        }
        Ok(())
    }

    /// Where decoded images go: `ImageMemoryType.CPU` (`DecodedImage`) or
    /// `ImageMemoryType.CUDA_DEVICE` (`CudaImage`).
    #[getter]
    fn memory_type(&self) -> ImageMemoryType {
        match self.state().cuda {
            Some(_) => ImageMemoryType::CUDA_DEVICE,
            None => ImageMemoryType::CPU,
        }
    }

    /// Largest width accepted (0: the default limit).
    #[getter]
    fn max_width(&self) -> u32 {
        self.decoder().settings().max_width
    }

    /// Largest height accepted (0: the default limit).
    #[getter]
    fn max_height(&self) -> u32 {
        self.decoder().settings().max_height
    }

    /// The output format (`None`: each stream's own).
    #[getter]
    fn picture_format(&self) -> Option<PictureFormat> {
        self.decoder().settings().format.and_then(PictureFormat::of)
    }

    /// The backend that runs the decodes: `"cpu"` or `"opencl"`, or `"cuda"` with
    /// `ImageMemoryType.CUDA_DEVICE`.
    #[getter]
    fn backend_name(&self) -> &'static str {
        let state = self.state();
        match state.cuda {
            Some(_) => "cuda",
            None => state.decoder.backend_name(),
        }
    }

    /// The device the backend runs on, for people.
    #[getter]
    fn device(&self) -> String {
        let state = self.state();
        match state.cuda {
            Some(_) => crate::cuda::device_name(),
            None => state.decoder.device(),
        }
    }

    /// Decodes a stream (any bytes-like object, or an `EncodedImage`): the whole picture,
    /// or LoQ `loq` (the picture halved `loq` times), or a `region` `(x, y, width, height)`
    /// of that LoQ's grid. `data` may be a prefix holding `required_size(data, loq)` bytes.
    /// Returns a `DecodedImage`, or a `CudaImage` with `ImageMemoryType.CUDA_DEVICE`.
    #[pyo3(signature = (data, loq=0, region=None))]
    fn decode(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        loq: i64,
        region: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let region = frame_region(loq, region)?;
        self.decode_stream(py, bytes_of(data)?.as_slice(), region)
    }

    /// Decodes many streams in one call (a GPU's fast path). Each item is a stream, or a
    /// tuple `(stream, loq)` or `(stream, loq, region)`; `loq` and `region` apply to the
    /// plain ones. Returns a list with a `DecodedImage` (a `CudaImage` with
    /// `ImageMemoryType.CUDA_DEVICE`) or an exception object (not raised) for each item, in
    /// order: a bad item fails alone.
    #[pyo3(signature = (items, loq=0, region=None))]
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        loq: i64,
        region: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<BatchItem<'py>> = items
            .try_iter()?
            .map(|item| item.and_then(|i| batch_item(&i, loq, region)))
            .collect();
        let jobs: Vec<(&[u8], FrameRegion)> = items
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|(b, r)| (b.as_slice(), *r)))
            .collect();
        let SyncState { decoder, cuda } = self.state();
        if let Some(ordinal) = cuda {
            let results = py.detach(|| decoder.decode_batch_to_cuda(&jobs));
            return batch_list(py, items, results, |stream, region, frame| {
                let format = crate::cuda::own_format(stream).map_err(to_py)?;
                device_image(py, frame, format, region.loq, ordinal)
            });
        }
        let results = py.detach(|| decoder.decode_batch(&jobs));
        batch_list(py, items, results, |_, region, frame| {
            host_image(py, frame, region.loq)
        })
    }

    /// Reads a stream from a file and decodes it (as `decode`).
    #[pyo3(signature = (path, loq=0, region=None))]
    fn read(
        &self,
        py: Python<'_>,
        path: PathBuf,
        loq: i64,
        region: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let region = frame_region(loq, region)?;
        let stream = py
            .detach(|| std::fs::read(&path))
            .map_err(|e| Failure::Io(path.clone(), e).into_py())?;
        self.decode_stream(py, &stream, region)
    }

    /// Decodes a stream (as `decode`, but into host memory whatever the memory type) and
    /// writes its raw pixels to `path`; returns the bytes written.
    #[pyo3(signature = (data, path, loq=0, region=None))]
    fn write(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        path: PathBuf,
        loq: i64,
        region: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let region = frame_region(loq, region)?;
        let bytes = bytes_of(data)?;
        let stream = bytes.as_slice();
        let decoder = self.decoder();
        py.detach(|| -> Result<usize, Failure> {
            let frame = decoder.decode_region(stream, region)?;
            std::fs::write(&path, &frame.data).map_err(|e| Failure::Io(path.clone(), e))?;
            Ok(frame.data.len())
        })
        .map_err(Failure::into_py)
    }

    fn __repr__(&self) -> String {
        let SyncState { decoder: d, cuda } = self.state();
        format!(
            "<DecoderSync max {}x{} backend={} format={}{}>",
            d.settings().max_width,
            d.settings().max_height,
            if cuda.is_some() {
                "cuda"
            } else {
                d.backend_name()
            },
            d.settings()
                .format
                .map(|f| f.to_string())
                .unwrap_or_else(|| "own".into()),
            if cuda.is_some() {
                " memory=CUDA_DEVICE"
            } else {
                ""
            }
        )
    }
}

/// Decodes on background threads, `in_flight` frames at a time (`DecoderAsync(width,
/// height, backend, picture_format, memory_type, in_flight=4)`): `decode` returns a
/// `DecodeFuture` at once (it blocks only while `in_flight` decodes are unfinished), whose
/// `result()` gives the `DecodedImage` or raises the error.
///
/// `memory_type=ImageMemoryType.CUDA_DEVICE`: the futures give `CudaImage`s, as
/// `DecoderSync`'s `decode`, `decode_batch` and `read` do (the CUDA backend decodes
/// whatever `backend` says, in each stream's own format). **The CUDA device decode has
/// never run on a GPU**: creating such a decoder raises `UnsupportedError` unless
/// `VC6_CUDA_UNTESTED=1` is set (and without an NVIDIA driver), and `DeviceError` when
/// the device cannot start.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct DecoderAsync {
    state: RwLock<AsyncState>,
    in_flight: usize,
}

/// A `DecoderAsync`'s workers and where its images go.
#[derive(Clone)]
struct AsyncState {
    pool: Arc<vc6::AsyncDecoder>,
    /// `Some(device ordinal)` for `ImageMemoryType.CUDA_DEVICE`.
    cuda: Option<usize>,
}

impl DecoderAsync {
    fn state(&self) -> AsyncState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a device decode of `stream` needs beside its frame.
fn device_item(stream: &[u8], loq: u8, ordinal: usize) -> DeviceItem {
    DeviceItem {
        format: crate::cuda::own_format(stream),
        loq,
        ordinal,
    }
}

#[pymethods]
impl DecoderAsync {
    /// An asynchronous decoder for pictures up to `width x height` (0: no bound).
    #[new]
    #[pyo3(signature = (width=0, height=0, backend=CodecBackendType::CPU, picture_format=None, memory_type=ImageMemoryType::CPU, *, in_flight=4, threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        width: u32,
        height: u32,
        backend: CodecBackendType,
        picture_format: Option<PictureFormat>,
        memory_type: ImageMemoryType,
        in_flight: usize,
        threads: usize,
    ) -> PyResult<DecoderAsync> {
        let s = settings(width, height, backend, picture_format, threads)?;
        // As DecoderSync: backends start without the GIL (`device_for` too).
        let cuda = device_for(py, memory_type)?;
        let pool = py
            .detach(|| vc6::AsyncDecoder::new(s, in_flight))
            .map_err(to_py)?;
        Ok(DecoderAsync {
            state: RwLock::new(AsyncState {
                pool: Arc::new(pool),
                cuda,
            }),
            in_flight,
        })
    }

    /// Changes the largest accepted size and the output format, and where images go
    /// (`memory_type`; `None`: unchanged), for decodes submitted from now on (those in
    /// flight finish as they were). Switching to `ImageMemoryType.CUDA_DEVICE` checks the
    /// CUDA backend as the constructor does.
    #[pyo3(signature = (width, height, picture_format=None, memory_type=None))]
    fn reconfigure(
        &self,
        py: Python<'_>,
        width: u32,
        height: u32,
        picture_format: Option<PictureFormat>,
        memory_type: Option<ImageMemoryType>,
    ) -> PyResult<()> {
        let cuda = memory_type.map(|m| device_for(py, m)).transpose()?;
        let mut decoder = self.state().pool.decoder().clone();
        decoder
            .reconfigure(width, height, picture_format.map(PictureFormat::pixel))
            .map_err(to_py)?;
        let next = vc6::AsyncDecoder::with_decoder(decoder, self.in_flight).map_err(to_py)?;
        let old = {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            if let Some(cuda) = cuda {
                state.cuda = cuda;
            }
            std::mem::replace(&mut state.pool, Arc::new(next))
        };
        // The old pool finishes its decodes as it drops: without the GIL.
        py.detach(move || drop(old));
        Ok(())
    }

    /// Most decodes unfinished at once.
    #[getter]
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Where decoded images go: `ImageMemoryType.CPU` (`DecodedImage`) or
    /// `ImageMemoryType.CUDA_DEVICE` (`CudaImage`).
    #[getter]
    fn memory_type(&self) -> ImageMemoryType {
        match self.state().cuda {
            Some(_) => ImageMemoryType::CUDA_DEVICE,
            None => ImageMemoryType::CPU,
        }
    }

    /// The backend that runs the decodes: `"cpu"` or `"opencl"`, or `"cuda"` with
    /// `ImageMemoryType.CUDA_DEVICE`.
    #[getter]
    fn backend_name(&self) -> &'static str {
        let state = self.state();
        match state.cuda {
            Some(_) => "cuda",
            None => state.pool.decoder().backend_name(),
        }
    }

    /// Queues a decode (arguments as `DecoderSync.decode`); returns a `DecodeFuture`
    /// (of a `DecodedImage`, or a `CudaImage` with `ImageMemoryType.CUDA_DEVICE`).
    #[pyo3(signature = (data, loq=0, region=None))]
    fn decode(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        loq: i64,
        region: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DecodeFuture> {
        let region = frame_region(loq, region)?;
        let stream: Arc<[u8]> = Arc::from(bytes_of(data)?.as_slice());
        let AsyncState { pool, cuda } = self.state();
        // The pool moves into the closure: were it the last reference (after a
        // reconfigure), it drops there, without the GIL.
        Ok(py.detach(move || submit(&pool, cuda, stream, region)))
    }

    /// Reads a file and queues its decode; returns a `DecodeFuture`.
    #[pyo3(signature = (path, loq=0, region=None))]
    fn read(
        &self,
        py: Python<'_>,
        path: PathBuf,
        loq: i64,
        region: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DecodeFuture> {
        let region = frame_region(loq, region)?;
        let AsyncState { pool, cuda } = self.state();
        py.detach(move || -> Result<_, Failure> {
            let stream = std::fs::read(&path).map_err(|e| Failure::Io(path.clone(), e))?;
            Ok(submit(&pool, cuda, stream.into(), region))
        })
        .map_err(Failure::into_py)
    }

    /// Queues many decodes as one batch (items as `DecoderSync.decode_batch`); the
    /// future's `result()` is the list of images (`CudaImage`s with
    /// `ImageMemoryType.CUDA_DEVICE`) and exception objects.
    #[pyo3(signature = (items, loq=0, region=None))]
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        loq: i64,
        region: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<DecodeFuture> {
        let items: Vec<BatchItem<'py>> = items
            .try_iter()?
            .map(|item| item.and_then(|i| batch_item(&i, loq, region)))
            .collect();
        let mut slots = Vec::with_capacity(items.len());
        let mut jobs: Vec<(Arc<[u8]>, FrameRegion)> = Vec::new();
        for item in items {
            match item {
                Ok((bytes, region)) => {
                    jobs.push((Arc::from(bytes.as_slice()), region));
                    slots.push(Ok(region.loq));
                }
                Err(e) => slots.push(Err(e.into_value(py).into_any())),
            }
        }
        let AsyncState { pool, cuda } = self.state();
        let Some(ordinal) = cuda else {
            let pending = py.detach(move || pool.submit_batch(jobs));
            return Ok(DecodeFuture::batch(pending, slots));
        };
        let (pending, items) = py.detach(move || {
            let items: Vec<DeviceItem> = jobs
                .iter()
                .map(|(stream, region)| device_item(stream, region.loq, ordinal))
                .collect();
            (pool.submit_batch_to_cuda(jobs), items)
        });
        let mut items = items.into_iter();
        let slots = slots
            .into_iter()
            .map(|slot| slot.map(|_| items.next().expect("one item per job")))
            .collect();
        Ok(DecodeFuture::device_batch(pending, slots))
    }

    fn __repr__(&self) -> String {
        format!(
            "<DecoderAsync in_flight={} backend={}{}>",
            self.in_flight,
            self.backend_name(),
            if self.state().cuda.is_some() {
                " memory=CUDA_DEVICE"
            } else {
                ""
            }
        )
    }
}

/// Queues a decode of `stream` on `pool`: into host memory, or into CUDA device memory
/// on device `cuda`.
fn submit(
    pool: &vc6::AsyncDecoder,
    cuda: Option<usize>,
    stream: Arc<[u8]>,
    region: FrameRegion,
) -> DecodeFuture {
    match cuda {
        None => DecodeFuture::single(pool.submit(stream, region), region.loq),
        Some(ordinal) => {
            let item = device_item(&stream, region.loq, ordinal);
            DecodeFuture::device(pool.submit_to_cuda(stream, region), item)
        }
    }
}

/// What the first bytes of a stream say (`probe`).
#[pyclass(frozen, get_all, module = "vc6rs.codec")]
pub struct StreamInfo {
    /// Width in pixels.
    width: u32,
    /// Height in pixels.
    height: u32,
    /// The picture format (`None`: generic planes).
    format: Option<PictureFormat>,
    /// Whether decoding is exact.
    lossless: bool,
    /// Bits per sample of plane 0.
    bit_depth: u8,
    /// Planes.
    planes: usize,
    /// `(width, height, bytes needed)` of every LoQ, 0 first.
    loqs: Vec<(u32, u32, u64)>,
    /// Header bytes.
    header_bytes: u64,
    /// Whole stream bytes.
    total_bytes: u64,
}

#[pymethods]
impl StreamInfo {
    fn __repr__(&self) -> String {
        format!(
            "<StreamInfo {}x{} {} {} {} LoQs, {} bytes>",
            self.width,
            self.height,
            self.format
                .map(|f| format!("{f:?}"))
                .unwrap_or_else(|| "planar".into()),
            if self.lossless { "lossless" } else { "lossy" },
            self.loqs.len(),
            self.total_bytes
        )
    }
}

/// Size, format, LoQs and byte counts from the first bytes of a stream (1 KiB is enough
/// for pictures of up to 150 planes).
#[pyfunction]
pub fn probe(first_bytes: &Bound<'_, PyAny>) -> PyResult<StreamInfo> {
    let bytes = bytes_of(first_bytes)?;
    let info = vc6::probe(bytes.as_slice()).map_err(to_py)?;
    Ok(StreamInfo {
        width: info.width,
        height: info.height,
        format: vc6::PixelFormat::from_tag(info.format_tag).and_then(PictureFormat::of),
        lossless: info.lossless,
        bit_depth: info.planes.first().map_or(0, |p| p.bit_depth),
        planes: info.planes.len(),
        loqs: info
            .loqs
            .iter()
            .map(|l| (l.width, l.height, l.required_bytes))
            .collect(),
        header_bytes: info.header_bytes,
        total_bytes: info.total_bytes,
    })
}

/// Bytes from the start of a stream needed to decode LoQ `loq`, from its first bytes.
#[pyfunction]
#[pyo3(signature = (first_bytes, loq=0))]
pub fn required_size(first_bytes: &Bound<'_, PyAny>, loq: i64) -> PyResult<u64> {
    let loq = frame_region(loq, None)?.loq;
    let bytes = bytes_of(first_bytes)?;
    vc6::required_size(bytes.as_slice(), loq).map_err(to_py)
}

/// Backends this build has, and for each the device it would use or why it cannot run:
/// a list of `(name, compiled, device_or_None, reason_or_None)`.
#[pyfunction]
pub fn backends(py: Python<'_>) -> Vec<(&'static str, bool, Option<String>, Option<String>)> {
    py.detach(vc6::Backend::status)
        .into_iter()
        .map(|s| {
            let (dev, why) = match s.device {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e)),
            };
            (s.backend.name(), s.compiled, dev, why)
        })
        .collect()
}
