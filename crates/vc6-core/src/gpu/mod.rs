//! The host-side layout both GPU backends share (`vc6-opencl` and `vc6-cuda`): a decode
//! [`Plan`](crate::Plan) turned into the flat tables the kernels of
//! `shaders/common/decode_body.h` read (decode tables, plane descriptors, tile jobs, MED
//! and reconstruct jobs, in the word layouts that file documents), and the frames of a
//! batch merged wave by wave (wave `w` is every frame's section `w`, coarsest first).
//!
//! Plain Rust with no GPU API calls, so it is unit-tested here without a device; the
//! backends upload what it lays out, launch the kernels per [`Wave`], and turn the
//! kernels' error bytes into errors with [`Layout::tile_error`].

mod job;
mod merge;

pub use job::*;
pub use merge::*;
