//! The checks behind the vc6 fuzz targets, kept in ordinary library code (as jxl-oxide
//! does) so that they build on stable, the fuzz targets in `fuzz/fuzz_targets/` stay one
//! line each, and every finding replays as a named test (`tests/replay.rs`).
//!
//! Each check takes the fuzzer's bytes and panics when the codec breaks a promise:
//!
//! * [`decode::check`]: every decoding entry point on the same bytes (`probe`,
//!   `required_size`, whole, LoQ, region and prefix decodes, `decode_into`, a batch and
//!   `AsyncDecoder`), which must agree with each other, never panic and stay within
//!   [`decode::LIMITS`] in memory.
//! * [`nocrc::check`]: the same after recomputing the header and section checksums, so
//!   that mutations reach the table, tableau and tile decoders instead of stopping at a
//!   CRC mismatch.
//! * [`roundtrip::check`]: a small picture and encoder settings drawn from the bytes; a
//!   lossless stream decodes exactly, a lossy one within its quantisation bound, and LoQ,
//!   prefix and region decodes equal the parts of the full ones.
//! * `backend_diff::check` (feature `opencl`): the CPU and OpenCL decodes of the same
//!   (checksum-fixed) bytes are identical, or fail alike.
//!
//! [`peak`] holds the counting allocator the targets and the replay tests install, so a
//! decode's peak memory is measured, not guessed.

pub mod bytes;
pub mod decode;
pub mod nocrc;
pub mod peak;
pub mod roundtrip;

#[cfg(feature = "opencl")]
pub mod backend_diff;
