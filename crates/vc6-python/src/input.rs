//! Bytes from Python objects without copying: `bytes`, `EncodedImage`, NumPy arrays and
//! anything with the buffer protocol (through `numpy.frombuffer`, since the stable ABI of
//! CPython 3.10 has no buffer API of its own).

use crate::errors::param;
use crate::image::EncodedImage;
use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Bytes borrowed from a Python object for as long as this lives.
pub enum Bytes<'py> {
    /// An immutable `bytes` object.
    Bytes(Bound<'py, PyBytes>),
    /// A one-dimensional, contiguous `uint8` array (a view of the caller's memory).
    Array(PyReadonlyArray1<'py, u8>),
}

impl Bytes<'_> {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Bytes(b) => b.as_bytes(),
            Bytes::Array(a) => a.as_slice().expect("made contiguous by `flat_u8`"),
        }
    }
}

/// `numpy`, imported once per call site (Python caches the module).
pub fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// A contiguous one-dimensional `uint8` view of `array`'s memory (copied only when the
/// array is not contiguous).
fn flat_u8<'py>(array: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray1<'py, u8>> {
    flat_u8_as(array, None)
}

/// Like [`flat_u8`], the samples first made `dtype` (a NumPy dtype string) when they are not.
fn flat_u8_as<'py>(
    array: &Bound<'py, PyAny>,
    dtype: Option<&str>,
) -> PyResult<PyReadonlyArray1<'py, u8>> {
    let py = array.py();
    let np = numpy(py)?;
    let flat = np
        .call_method1("ascontiguousarray", (array, dtype))?
        .call_method1("view", (np.getattr("uint8")?,))?
        .call_method1("reshape", (-1,))?;
    let flat = flat
        .cast_into::<PyArray1<u8>>()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
    flat.try_readonly()
        .map_err(|e| param(format!("the array is borrowed mutably elsewhere: {e}")))
}

/// The bytes of a stream (or of anything byte-like).
pub fn bytes_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bytes<'py>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::Bytes(b.clone()));
    }
    if let Ok(enc) = obj.cast::<EncodedImage>() {
        let array = enc.get().array(obj.py())?;
        return Ok(Bytes::Array(flat_u8(array.bind(obj.py()))?));
    }
    if obj.cast::<PyUntypedArray>().is_ok() {
        return Ok(Bytes::Array(flat_u8(obj)?));
    }
    let py = obj.py();
    let np = numpy(py)?;
    if let Ok(array) = np.call_method1("frombuffer", (obj, np.getattr("uint8")?)) {
        return Ok(Bytes::Array(flat_u8(&array)?));
    }
    // A buffer frombuffer refuses (not contiguous, a format other than bytes): through a
    // memoryview, copied into place when it must be.
    if let Ok(view) = py.import("builtins")?.call_method1("memoryview", (obj,)) {
        let array = np.call_method1("asarray", (view,))?;
        return Ok(Bytes::Array(flat_u8(&array)?));
    }
    Err(PyTypeError::new_err(format!(
        "expected a bytes-like object (bytes, bytearray, memoryview, a NumPy array or an \
         EncodedImage), got {}",
        obj.get_type().name()?
    )))
}

/// The packed samples of a frame in `format`: NumPy arrays of `uint8` / `uint16` (any byte
/// order; 16-bit samples go to the codec little-endian), or any bytes-like object holding
/// the packed frame.
pub fn pixels_of<'py>(obj: &Bound<'py, PyAny>, format: vc6::PixelFormat) -> PyResult<Bytes<'py>> {
    let Ok(array) = obj.cast::<PyUntypedArray>() else {
        return bytes_of(obj);
    };
    let dtype = array.dtype();
    let (kind, size) = (dtype.kind(), dtype.itemsize());
    let want = format.bytes_per_sample();
    if kind != b'u' || !(size == 1 || size == 2) {
        return Err(param(format!(
            "{format} samples are uint{}, got an array of {}",
            8 * want,
            dtype
        )));
    }
    if size != want {
        return Err(param(format!(
            "{format} samples are uint{}, got an array of {}-bit samples",
            8 * want,
            8 * size
        )));
    }
    if size == 2 {
        // Little-endian words whatever the array's byte order.
        return Ok(Bytes::Array(flat_u8_as(obj, Some("<u2"))?));
    }
    Ok(Bytes::Array(flat_u8(obj)?))
}
