//! Python bindings of vc6-rs: the native module `vc6rs._vc6rs`, wrapped by the Python
//! package `vc6rs` (`crates/vc6-python/python/vc6rs`). Build and install with maturin
//! (`pip install ./crates/vc6-python`); see that folder's README.
//!
//! Every encode and decode runs with the GIL released; every class is thread-safe.
//! Unsafe code is confined to the DLPack capsule and the buffer protocol (`image.rs`), and
//! handing a consumer's CUDA stream to a device frame (`cuda.rs`).

mod cuda;
mod decoder;
mod encoder;
mod enums;
mod errors;
mod image;
mod imagefile;
mod input;

use numpy::PyArray1;
use pyo3::prelude::*;

/// Reads a PNG, JPEG or TIFF file into a NumPy array (without the GIL): `(height, width)`
/// for grey, `(height, width, 3 or 4)` for RGB(A); `uint8` or `uint16`. Grey with alpha
/// becomes RGBA.
#[pyfunction]
fn read_image<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let img = py
        .detach(|| imagefile::read(&path))
        .map_err(errors::Failure::into_py)?;
    let (h, w, c) = (img.height as usize, img.width as usize, img.channels);
    let flat = match img.samples {
        imagefile::Samples::U8(v) => PyArray1::from_vec(py, v).into_any(),
        imagefile::Samples::U16(v) => PyArray1::from_vec(py, v).into_any(),
    };
    if c == 1 {
        flat.call_method1("reshape", ((h, w),))
    } else {
        flat.call_method1("reshape", ((h, w, c),))
    }
}

/// The native module.
#[pymodule]
#[pyo3(name = "_vc6rs")]
fn vc6rs_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<enums::CodecBackendType>()?;
    m.add_class::<enums::ImageMemoryType>()?;
    m.add_class::<enums::EncoderGenericPreset>()?;
    m.add_class::<enums::PictureFormat>()?;
    m.add_class::<image::DecodedImage>()?;
    m.add_class::<image::EncodedImage>()?;
    m.add_class::<cuda::CudaImage>()?;
    m.add_class::<encoder::EncoderSync>()?;
    m.add_class::<decoder::DecoderSync>()?;
    m.add_class::<decoder::DecoderAsync>()?;
    m.add_class::<decoder::DecodeFuture>()?;
    m.add_class::<decoder::StreamInfo>()?;
    m.add_function(wrap_pyfunction!(decoder::probe, m)?)?;
    m.add_function(wrap_pyfunction!(decoder::required_size, m)?)?;
    m.add_function(wrap_pyfunction!(decoder::backends, m)?)?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::cuda_kernel_cache_path, m)?)?;
    m.add("BUFFER_PROTOCOL", cfg!(any(Py_3_11, not(Py_LIMITED_API))))?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
