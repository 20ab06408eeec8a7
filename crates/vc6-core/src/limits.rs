//! Resource limits for decoding untrusted streams.

use crate::error::{Error, Result};

/// Bounds checked before the decoder allocates anything sized by the stream.
///
/// The defaults accept any picture up to 16384 x 16384 with four planes of 16 bits and
/// refuse anything that would need more than 2 GiB of working memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest plane width accepted.
    pub max_width: u32,
    /// Largest plane height accepted.
    pub max_height: u32,
    /// Largest number of planes accepted.
    pub max_planes: usize,
    /// Largest total sample count over all planes.
    pub max_samples: u64,
    /// Largest working memory, in bytes, the decoder may allocate for one picture: every
    /// echelon from the requested LoQ down (4 bytes a sample) and the output (2 bytes a
    /// sample), plus, in the `vc6` facade, the copies a format conversion makes. What a
    /// decode really allocates beyond this is bounded by a small constant and the
    /// stream's own length (checked by the fuzzing suite's counting allocator).
    pub max_alloc_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 65535,
            max_height: 65535,
            max_planes: 255,
            max_samples: 4 * 16384 * 16384,
            max_alloc_bytes: 2 << 30,
        }
    }
}

impl Limits {
    /// No limits beyond what the format itself can express.
    pub fn unlimited() -> Self {
        Limits {
            max_width: u32::MAX,
            max_height: u32::MAX,
            max_planes: 255,
            max_samples: u64::MAX,
            max_alloc_bytes: u64::MAX,
        }
    }

    pub(crate) fn check_alloc(&self, bytes: u64, what: &str) -> Result<()> {
        if bytes > self.max_alloc_bytes {
            return Err(Error::LimitsExceeded(format!(
                "{what} needs {bytes} bytes of working memory, limit is {}",
                self.max_alloc_bytes
            )));
        }
        Ok(())
    }
}
