//! Errors of the core codec, grouped by cause.

use thiserror::Error;

/// Result alias used across vc6-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while encoding or decoding.
///
/// Truncated input ([`Error::Truncated`]) is told apart from invalid input
/// ([`Error::Format`]) so that streaming callers know when more bytes may help.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error from a reader or writer the caller supplied.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a vc6-rs stream at all (wrong magic).
    #[error("not a vc6-rs stream: {0}")]
    NotVc6(String),
    /// The stream ends before the data needed for the request.
    #[error("truncated stream: {what} needs {needed} bytes, only {available} available")]
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes needed (from the start of the stream) to go on.
        needed: u64,
        /// Bytes the caller supplied.
        available: u64,
    },
    /// The stream is malformed or corrupted; the text says where (docs/bitstream.md section).
    #[error("corrupt stream: {0}")]
    Format(String),
    /// The stream or request uses a feature this build does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller passed an invalid argument.
    #[error("invalid parameter: {0}")]
    Parameter(String),
    /// Decoding would exceed the configured [`crate::Limits`].
    #[error("limits exceeded: {0}")]
    LimitsExceeded(String),
    /// A GPU backend's device, driver or runtime failed (no platform, a build or launch
    /// error, out of device memory); the text names the call and the driver's code.
    #[error("device error: {0}")]
    Device(String),
}

impl Error {
    pub(crate) fn format(msg: impl Into<String>) -> Self {
        Error::Format(msg.into())
    }
    pub(crate) fn param(msg: impl Into<String>) -> Self {
        Error::Parameter(msg.into())
    }
    pub(crate) fn truncated(what: impl Into<String>, needed: u64, available: u64) -> Self {
        Error::Truncated {
            what: what.into(),
            needed,
            available,
        }
    }
}
