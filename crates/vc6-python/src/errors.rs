//! Python exceptions, one class per cause, all under `vc6rs.Vc6Error`.

use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;
use pyo3::{create_exception, PyErr};

create_exception!(
    vc6rs,
    Vc6Error,
    PyException,
    "Base class of every error vc6rs raises about a stream, a parameter or a device."
);
create_exception!(
    vc6rs,
    TruncatedError,
    Vc6Error,
    "The stream ends before the data the request needs. `needed` is the byte count (from \
     the start of the stream) that would let it go on; `available` what was given."
);
create_exception!(
    vc6rs,
    CorruptError,
    Vc6Error,
    "The stream is malformed or damaged (a failed checksum, an impossible value)."
);
create_exception!(
    vc6rs,
    NotVc6Error,
    CorruptError,
    "The bytes are not a vc6-rs stream at all (wrong magic): a kind of CorruptError."
);
create_exception!(
    vc6rs,
    UnsupportedError,
    Vc6Error,
    "The stream or the request needs something this build does not have."
);
create_exception!(
    vc6rs,
    LimitsError,
    Vc6Error,
    "Decoding would exceed the decoder's limits (size, planes, working memory)."
);
create_exception!(
    vc6rs,
    ParameterError,
    Vc6Error,
    "An argument is invalid (a size, a format, a region, a quality, a buffer length)."
);
create_exception!(
    vc6rs,
    DeviceError,
    Vc6Error,
    "A GPU backend's device, driver or runtime failed, or there is none."
);

/// The Python exception for a vc6 error: I/O errors become `OSError` and its subclasses
/// (`FileNotFoundError` ...), everything else one of the classes above.
pub fn to_py(e: vc6::Error) -> PyErr {
    match e {
        vc6::Error::Io(io) => PyErr::from(io),
        vc6::Error::Truncated {
            what,
            needed,
            available,
        } => Python::attach(|py| {
            let err = TruncatedError::new_err(format!(
                "truncated stream: {what} needs {needed} bytes, only {available} available"
            ));
            let value = err.value(py);
            // Attributes on a fresh exception instance cannot fail in practice; if they
            // did, the message still says the numbers.
            let _ = value.setattr("needed", needed);
            let _ = value.setattr("available", available);
            err
        }),
        vc6::Error::NotVc6(m) => NotVc6Error::new_err(format!("not a vc6-rs stream: {m}")),
        vc6::Error::Format(m) => CorruptError::new_err(format!("corrupt stream: {m}")),
        vc6::Error::Unsupported(m) => UnsupportedError::new_err(m),
        vc6::Error::Parameter(m) => ParameterError::new_err(m),
        vc6::Error::LimitsExceeded(m) => LimitsError::new_err(format!("limits exceeded: {m}")),
        vc6::Error::Device(m) => DeviceError::new_err(m),
        // `vc6::Error` is non-exhaustive: a cause added later is still a Vc6Error.
        #[allow(unreachable_patterns)]
        other => Vc6Error::new_err(other.to_string()),
    }
}

/// A `ParameterError` with this message.
pub fn param(msg: impl Into<String>) -> PyErr {
    ParameterError::new_err(msg.into())
}

/// An `OSError` naming the path (`OSError(errno, strerror, filename)`, which Python turns
/// into `FileNotFoundError`, `PermissionError` ... by the errno).
pub fn io_at(path: &std::path::Path, e: std::io::Error) -> PyErr {
    let name = path.display().to_string();
    match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            PyOSError::new_err((code, text, name))
        }
        None => PyOSError::new_err(format!("{name}: {e}")),
    }
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Vc6Error", py.get_type::<Vc6Error>())?;
    m.add("TruncatedError", py.get_type::<TruncatedError>())?;
    m.add("CorruptError", py.get_type::<CorruptError>())?;
    m.add("NotVc6Error", py.get_type::<NotVc6Error>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("LimitsError", py.get_type::<LimitsError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    Ok(())
}

/// A failure met without the interpreter attached, turned into a Python exception after.
#[derive(Debug)]
pub enum Failure {
    /// From the codec.
    Vc6(vc6::Error),
    /// Reading or writing a file.
    Io(std::path::PathBuf, std::io::Error),
    /// An image file that cannot be decoded.
    Image(String),
    /// An image file of a kind the codec does not take.
    Unsupported(String),
}

impl From<vc6::Error> for Failure {
    fn from(e: vc6::Error) -> Failure {
        Failure::Vc6(e)
    }
}

impl Failure {
    /// The Python exception.
    pub fn into_py(self) -> PyErr {
        match self {
            Failure::Vc6(e) => to_py(e),
            Failure::Io(path, e) => io_at(&path, e),
            Failure::Image(m) => CorruptError::new_err(m),
            Failure::Unsupported(m) => UnsupportedError::new_err(m),
        }
    }
}
