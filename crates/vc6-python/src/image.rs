//! Decoded and encoded images: NumPy arrays without copies, DLPack, the buffer protocol.
//! The only module with unsafe code: the DLPack structs and capsule, and the buffer slots.
#![allow(unsafe_code)]

use crate::enums::{ImageMemoryType, PictureFormat};
use crate::errors::param;
use crate::input::numpy;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyMemoryView, PyTuple};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Mutex;

/// A decoded picture in host memory.
///
/// `numpy.asarray(img)` gives the pixels without a copy: the frame's memory moved from
/// Rust into a NumPy array once, when the decode finished; every view shares it. Shapes:
/// `(height, width, channels)` for interleaved formats, `(height, width)` for grey,
/// `(3, height, width)` for `YUV444_*`, and one dimension of `Y + U + V` samples for
/// `YUV420_*` / `YUV422_*` (`planes()` gives the three planes as 2-D views). `dtype` is
/// `uint8` or `uint16`.
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct DecodedImage {
    width: u32,
    height: u32,
    format: vc6::PixelFormat,
    bit_depth: u8,
    loq: u8,
    /// The frame's bytes (owns the Rust `Vec`).
    base: Py<PyArray1<u8>>,
    /// `base` typed and shaped.
    array: Py<PyAny>,
    shape: Vec<usize>,
    /// The address of the first byte (stable: the memory never moves).
    data: usize,
}

/// The array shape of a packed `width x height` frame of `len` bytes in `format`:
/// `(height, width, channels)` interleaved, `(height, width)` grey, `(3, height, width)`
/// for 4:4:4 planar, and one dimension of all the samples for subsampled planar formats.
/// Host and device images use the same rule, so that `.cpu()` and the device view agree.
pub(crate) fn shape_of(
    format: vc6::PixelFormat,
    width: u32,
    height: u32,
    len: usize,
) -> Vec<usize> {
    let (w, h) = (width as usize, height as usize);
    if format.is_planar() {
        if format.plane_size(1, width, height) == (width, height) {
            vec![3, h, w]
        } else {
            vec![len / format.bytes_per_sample()]
        }
    } else if format.plane_count() == 1 {
        vec![h, w]
    } else {
        vec![h, w, format.plane_count()]
    }
}

impl DecodedImage {
    /// Moves a decoded frame into a NumPy array (no copy) and wraps it.
    pub fn new(py: Python<'_>, frame: vc6::Frame, loq: u8) -> PyResult<DecodedImage> {
        let format = frame.format;
        let shape = shape_of(format, frame.width, frame.height, frame.data.len());
        let base = PyArray1::from_vec(py, frame.data);
        let data = base.data() as usize;
        let typed = if format.bytes_per_sample() == 2 {
            base.call_method1("view", ("<u2",))?
        } else {
            base.clone().into_any()
        };
        let array = typed.call_method1("reshape", (PyTuple::new(py, &shape)?,))?;
        Ok(DecodedImage {
            width: frame.width,
            height: frame.height,
            format,
            bit_depth: frame.bit_depth,
            loq,
            base: base.unbind(),
            array: array.unbind(),
            shape,
            data,
        })
    }

    fn itemsize(&self) -> usize {
        self.format.bytes_per_sample()
    }
}

#[pymethods]
impl DecodedImage {
    /// Width in pixels (of the region, at the LoQ decoded).
    #[getter]
    fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.height
    }

    /// The picture format of the pixels.
    #[getter]
    fn format(&self) -> Option<PictureFormat> {
        PictureFormat::of(self.format)
    }

    /// Significant bits per sample (LSB-aligned: 10-bit samples are 0..1023 in uint16).
    #[getter]
    fn bit_depth(&self) -> u8 {
        self.bit_depth
    }

    /// The level of quality decoded (0: full size, k: halved k times).
    #[getter]
    fn loq(&self) -> u8 {
        self.loq
    }

    /// Where the pixels are: `ImageMemoryType.CPU` (device images are `CudaImage`s).
    #[getter]
    fn memory_type(&self) -> ImageMemoryType {
        ImageMemoryType::CPU
    }

    /// The array's shape (see the class docs).
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
        self.array.bind(py).getattr("dtype")
    }

    /// Strides in bytes (C order, no padding).
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.array.bind(py).getattr("strides")
    }

    /// Bytes of pixel data.
    #[getter]
    fn nbytes(&self, py: Python<'_>) -> PyResult<usize> {
        self.base.bind(py).len()
    }

    /// The pixel bytes as a one-dimensional `memoryview` of `uint8` (no copy).
    #[getter]
    fn memoryview<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(self.base.bind(py).as_any())
    }

    /// The pixels as a NumPy array (a view: no copy).
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.array.bind(py).call_method0("view")
    }

    /// NumPy's array protocol: a view of the pixels, no copy (unless `copy=True`, or a
    /// `dtype` other than the image's asks for a conversion).
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let array = self.array.bind(py);
        if let Some(dtype) = dtype.filter(|d| !d.is_none()) {
            let wanted = numpy(py)?.call_method1("dtype", (dtype,))?;
            if !wanted.eq(array.getattr("dtype")?)? {
                if copy == Some(false) {
                    return Err(PyValueError::new_err(format!(
                        "converting {} samples to {} needs a copy, and copy=False forbids it",
                        array.getattr("dtype")?,
                        wanted
                    )));
                }
                return array.call_method1("astype", (wanted,));
            }
        }
        if copy == Some(true) {
            array.call_method0("copy")
        } else {
            array.call_method0("view")
        }
    }

    /// The three planes of a planar (YUV) image as 2-D views: `(Y, U, V)`.
    fn planes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        if !self.format.is_planar() {
            return Err(param(format!(
                "{} is not planar: its channels are the last axis of the array",
                self.format
            )));
        }
        let flat = self.array.bind(py).call_method1("reshape", (-1,))?;
        let mut at = 0usize;
        let mut planes = Vec::with_capacity(3);
        for p in 0..3 {
            let (pw, ph) = self.format.plane_size(p, self.width, self.height);
            let n = pw as usize * ph as usize;
            let slice = pyo3::types::PySlice::new(py, at as isize, (at + n) as isize, 1);
            let plane = flat
                .get_item(slice)?
                .call_method1("reshape", ((ph as usize, pw as usize),))?;
            planes.push(plane);
            at += n;
        }
        PyTuple::new(py, planes)
    }

    /// This image (it is in host memory already).
    fn cpu(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// A copy of the pixel bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        // The bytes are never mutated by Rust; Python code may write through its views.
        let view = self.base.bind(py).readonly();
        Ok(PyBytes::new(py, view.as_slice()?))
    }

    /// Writes the raw pixel bytes to `path`.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let view = self.base.bind(py).readonly();
        let bytes = view.as_slice()?;
        py.detach(|| std::fs::write(&path, bytes))
            .map_err(|e| crate::errors::io_at(&path, e))
    }

    /// DLPack's device: `(1, 0)`, the CPU.
    fn __dlpack_device__(&self) -> (i32, i32) {
        (DL_CPU, 0)
    }

    /// A DLPack capsule of the pixels (no copy unless `copy=True`), for
    /// `numpy.from_dlpack`, `torch.from_dlpack` and the like. `max_version >= (1, 0)` gives
    /// a versioned capsule (`DLManagedTensorVersioned`), else the classic `DLManagedTensor`.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // Host memory: there is no stream to synchronise with; any value is accepted.
        let _ = stream;
        if let Some(dev) = dl_device.filter(|&d| d != (DL_CPU, 0)) {
            return Err(PyBufferError::new_err(format!(
                "the image is in host memory (DLPack device (1, 0)); cannot export to {dev:?}"
            )));
        }
        let (owner, data, copied) = if copy == Some(true) {
            let c = self.array.bind(py).call_method0("copy")?;
            let ptr = c.getattr("ctypes")?.getattr("data")?.extract::<usize>()?;
            (c.unbind(), ptr, true)
        } else {
            (self.base.clone_ref(py).into_any(), self.data, false)
        };
        let dtype = DLDataType {
            code: DL_UINT,
            bits: 8 * self.itemsize() as u8,
            lanes: 1,
        };
        export(
            py,
            owner,
            data,
            HOST,
            &self.shape,
            dtype,
            max_version.is_some_and(|v| v.0 >= 1),
            copied,
        )
    }

    /// The buffer protocol (builds for CPython 3.11's stable ABI or a specific version):
    /// the same memory as `numpy.asarray(img)`, shaped and typed alike.
    #[cfg(any(Py_3_11, not(Py_LIMITED_API)))]
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let array = slf.get().array.bind(slf.py()).clone();
        // SAFETY: `view` is the caller's buffer struct; NumPy fills it and takes a reference
        // to the array as its owner, so `PyBuffer_Release` releases it through the array.
        if unsafe { ffi::PyObject_GetBuffer(array.as_ptr(), view, flags) } == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "<DecodedImage {}x{} {} loq={} shape={:?}>",
            self.width,
            self.height,
            PictureFormat::of(self.format)
                .map(|f| format!("{f:?}"))
                .unwrap_or_else(|| self.format.to_string()),
            self.loq,
            self.shape
        )
    }
}

/// An encoded stream. `.memoryview` gives its bytes without a copy; `.release()` lets
/// its memory go (views handed out keep what they need alive).
#[pyclass(frozen, module = "vc6rs.codec")]
pub struct EncodedImage {
    stream: Mutex<Option<Py<PyArray1<u8>>>>,
    len: usize,
    width: u32,
    height: u32,
    format: Option<PictureFormat>,
}

impl EncodedImage {
    /// Moves an encoded stream into a NumPy array (no copy) and wraps it.
    pub fn new(
        py: Python<'_>,
        stream: Vec<u8>,
        width: u32,
        height: u32,
        format: vc6::PixelFormat,
    ) -> EncodedImage {
        let len = stream.len();
        EncodedImage {
            stream: Mutex::new(Some(PyArray1::from_vec(py, stream).unbind())),
            len,
            width,
            height,
            format: PictureFormat::of(format),
        }
    }

    /// The stream's array, or an error after `release()`.
    pub fn array(&self, py: Python<'_>) -> PyResult<Py<PyArray1<u8>>> {
        let guard = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(|a| a.clone_ref(py))
            .ok_or_else(|| PyValueError::new_err("the EncodedImage was released"))
    }
}

#[pymethods]
impl EncodedImage {
    /// The stream's bytes, without a copy.
    #[getter]
    fn memoryview<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        let array = self.array(py)?;
        PyMemoryView::from(array.bind(py).as_any())
    }

    /// Gives the stream's memory back (memoryviews already taken stay valid).
    fn release(&self) {
        let taken = self.stream.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }

    /// Whether `release()` was called.
    #[getter]
    fn released(&self) -> bool {
        self.stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// The stream's length in bytes.
    fn __len__(&self) -> usize {
        self.len
    }

    /// Bytes of the stream.
    #[getter]
    fn size(&self) -> usize {
        self.len
    }

    /// Width of the encoded picture.
    #[getter]
    fn width(&self) -> u32 {
        self.width
    }

    /// Height of the encoded picture.
    #[getter]
    fn height(&self) -> u32 {
        self.height
    }

    /// Picture format the picture was encoded from.
    #[getter]
    fn format(&self) -> Option<PictureFormat> {
        self.format
    }

    /// A copy of the stream as `bytes`.
    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let array = self.array(py)?;
        let view = array.bind(py).readonly();
        Ok(PyBytes::new(py, view.as_slice()?))
    }

    /// A copy of the stream as `bytes`.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.__bytes__(py)
    }

    /// Writes the stream to `path`.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let array = self.array(py)?;
        let view = array.bind(py).readonly();
        let bytes = view.as_slice()?;
        py.detach(|| std::fs::write(&path, bytes))
            .map_err(|e| crate::errors::io_at(&path, e))
    }

    /// The buffer protocol (builds for CPython 3.11's stable ABI or a specific version).
    #[cfg(any(Py_3_11, not(Py_LIMITED_API)))]
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let array = slf.get().array(slf.py())?;
        // SAFETY: as for DecodedImage: NumPy fills the view and owns it.
        if unsafe { ffi::PyObject_GetBuffer(array.as_ptr(), view, flags) } == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "<EncodedImage {} bytes, {}x{}{}>",
            self.len,
            self.width,
            self.height,
            if self.released() { ", released" } else { "" }
        )
    }
}

// ---- DLPack (dlpack.h, versions 0.8 and 1.0): host and CUDA memory ---------------------

const DL_CPU: i32 = 1;
/// `kDLCUDA`.
pub(crate) const DL_CUDA: i32 = 2;
pub(crate) const DL_UINT: u8 = 1;
const DL_FLAG_IS_COPIED: u64 = 1 << 1;
const HOST: DLDevice = DLDevice {
    device_type: DL_CPU,
    device_id: 0,
};

/// Where a tensor's memory is: `(device_type, device_id)`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct DLDevice {
    pub(crate) device_type: i32,
    pub(crate) device_id: i32,
}

/// A tensor's element type.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct DLDataType {
    pub(crate) code: u8,
    pub(crate) bits: u8,
    pub(crate) lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

#[repr(C)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// What a capsule's tensor points at: its shape, strides and a reference to the memory's
/// owner. The tensor struct comes first, so a pointer to it is a pointer to the holder.
#[repr(C)]
struct Holder<T> {
    tensor: T,
    shape: [i64; 3],
    strides: [i64; 3],
    owner: Option<Py<PyAny>>,
}

impl<T> Holder<T> {
    /// Frees the holder, dropping the owner's reference with the interpreter attached
    /// (or leaking it when the interpreter is gone: the process is ending).
    fn free(ptr: *mut Holder<T>) {
        // SAFETY: `ptr` came from `Box::into_raw` in `export` and is freed once: by the
        // consumer's call of the deleter, or by the capsule's destructor if never consumed.
        let mut holder = unsafe { Box::from_raw(ptr) };
        if let Some(owner) = holder.owner.take() {
            if Python::try_attach(|_py| drop(owner)).is_none() {
                // Cannot attach (finalising): leak the reference rather than touch Python.
            }
        }
    }
}

unsafe extern "C" fn delete_legacy(t: *mut DLManagedTensor) {
    if !t.is_null() {
        Holder::free(t.cast::<Holder<DLManagedTensor>>());
    }
}

unsafe extern "C" fn delete_versioned(t: *mut DLManagedTensorVersioned) {
    if !t.is_null() {
        Holder::free(t.cast::<Holder<DLManagedTensorVersioned>>());
    }
}

const LEGACY_NAME: &std::ffi::CStr = c"dltensor";
const VERSIONED_NAME: &std::ffi::CStr = c"dltensor_versioned";

/// The capsule's destructor: a capsule nobody consumed (still named `dltensor`) frees its
/// tensor; a consumed one was renamed `used_dltensor` and belongs to its consumer.
unsafe extern "C" fn capsule_legacy(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with the capsule, the GIL held.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, LEGACY_NAME.as_ptr()) == 1 {
            let t = ffi::PyCapsule_GetPointer(capsule, LEGACY_NAME.as_ptr());
            delete_legacy(t.cast());
        }
    }
}

unsafe extern "C" fn capsule_versioned(capsule: *mut ffi::PyObject) {
    // SAFETY: as above.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, VERSIONED_NAME.as_ptr()) == 1 {
            let t = ffi::PyCapsule_GetPointer(capsule, VERSIONED_NAME.as_ptr());
            delete_versioned(t.cast());
        }
    }
}

/// A DLPack capsule of `shape` (C order) of `dtype` elements at `data` in `device`'s
/// memory, kept alive by `owner` (a reference dropped when the consumer calls the
/// deleter, or when an unconsumed capsule is collected).
#[allow(clippy::too_many_arguments)]
pub(crate) fn export<'py>(
    py: Python<'py>,
    owner: Py<PyAny>,
    data: usize,
    device: DLDevice,
    shape: &[usize],
    dtype: DLDataType,
    versioned: bool,
    copied: bool,
) -> PyResult<Bound<'py, PyCapsule>> {
    let ndim = shape.len();
    let mut dims = [0i64; 3];
    let mut strides = [0i64; 3];
    let mut step = 1i64;
    for i in (0..ndim).rev() {
        dims[i] = shape[i] as i64;
        strides[i] = step;
        step *= shape[i] as i64;
    }
    let tensor = |shape: *mut i64, strides: *mut i64| DLTensor {
        data: data as *mut c_void,
        device,
        ndim: ndim as i32,
        dtype,
        shape,
        strides,
        byte_offset: 0,
    };
    if versioned {
        let holder = Box::into_raw(Box::new(Holder {
            tensor: DLManagedTensorVersioned {
                version: DLPackVersion { major: 1, minor: 0 },
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete_versioned),
                flags: if copied { DL_FLAG_IS_COPIED } else { 0 },
                dl_tensor: tensor(std::ptr::null_mut(), std::ptr::null_mut()),
            },
            shape: dims,
            strides,
            owner: Some(owner),
        }));
        // SAFETY: `holder` is a live allocation; the tensor's pointers point into it.
        unsafe {
            (*holder).tensor.manager_ctx = holder.cast();
            (*holder).tensor.dl_tensor.shape = (*holder).shape.as_mut_ptr();
            (*holder).tensor.dl_tensor.strides = (*holder).strides.as_mut_ptr();
        }
        let ptr = NonNull::new(holder.cast::<c_void>()).expect("Box is never null");
        // SAFETY: the pointer stays valid until the deleter or the destructor frees it.
        let capsule = unsafe {
            PyCapsule::new_with_pointer_and_destructor(
                py,
                ptr,
                VERSIONED_NAME,
                Some(capsule_versioned),
            )
        };
        capsule.inspect_err(|_| Holder::free(holder))
    } else {
        let holder = Box::into_raw(Box::new(Holder {
            tensor: DLManagedTensor {
                dl_tensor: tensor(std::ptr::null_mut(), std::ptr::null_mut()),
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete_legacy),
            },
            shape: dims,
            strides,
            owner: Some(owner),
        }));
        // SAFETY: as above.
        unsafe {
            (*holder).tensor.manager_ctx = holder.cast();
            (*holder).tensor.dl_tensor.shape = (*holder).shape.as_mut_ptr();
            (*holder).tensor.dl_tensor.strides = (*holder).strides.as_mut_ptr();
        }
        let ptr = NonNull::new(holder.cast::<c_void>()).expect("Box is never null");
        // SAFETY: as above.
        let capsule = unsafe {
            PyCapsule::new_with_pointer_and_destructor(py, ptr, LEGACY_NAME, Some(capsule_legacy))
        };
        capsule.inspect_err(|_| Holder::free(holder))
    }
}
