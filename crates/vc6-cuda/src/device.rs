//! Decodes whose frames stay on the device: into buffers of the backend's
//! ([`DeviceFrame`]) or into the caller's device memory, ordered on the caller's stream;
//! and the one place every decode goes through ([`CudaBackend::run`]: the gate, a new
//! stream, the ordering against a caller's stream).
//!
//! **Never run on a GPU** (only against the stand-in driver of `tests/fake_driver.rs`).
#![allow(unsafe_code)]

use crate::driver::{cu_err, guard};
use crate::{clone_err, run, untested_decode_enabled, CudaBackend, DeviceFrame, DECODE_UNTESTED};
use cudarc::driver::sys::CUstream;
use vc6_core::{Error, OutputLayout, Plan, Result};

impl CudaBackend {
    /// Decodes one stream into device memory and leaves the frame there: see
    /// [`CudaBackend::decode_batch_to_device`]. **Never run on a GPU.**
    pub fn decode_to_device(
        &self,
        plan: &Plan,
        stream: &[u8],
        layout: &OutputLayout,
    ) -> Result<DeviceFrame> {
        self.decode_batch_to_device(&[(plan, stream, layout)])
            .pop()
            .expect("one result per job")
    }

    /// Decodes many streams, pipelined over up to `VC6_CUDA_LANES` (default 3) new streams
    /// of the device, each into a device buffer of its own, and returns once they are
    /// decoded (the tiles' error bytes are read back, so a damaged stream gets its error
    /// here). Each [`DeviceFrame`] carries the stream it was decoded on and a ready event; see its docs for reading it from other streams. Without
    /// `VC6_CUDA_UNTESTED=1`: `Error::Unsupported(`[`DECODE_UNTESTED`]`)` for each job.
    /// **Never run on a GPU.**
    pub fn decode_batch_to_device(
        &self,
        jobs: &[(&Plan, &[u8], &OutputLayout)],
    ) -> Vec<Result<DeviceFrame>> {
        self.run(jobs, run::Dest::Device, None)
            .into_iter()
            .zip(jobs)
            .map(|(r, &(plan, _, layout))| {
                let buf = r?.expect("a device buffer per frame for device output");
                guard("decode", || {
                    DeviceFrame::new(
                        buf,
                        plan.output_size(0),
                        plan.header.planes[0].bit_depth,
                        layout.clone(),
                    )
                })
            })
            .collect()
    }

    /// Decodes one stream straight into device memory the caller owns, ordered on the
    /// caller's stream `consumer`: the decode starts after the work queued on `consumer`
    /// so far, and work queued there afterwards sees the whole frame. Returns once the
    /// frame is decoded (with the stream's error, if it is damaged). `layout` says where
    /// each plane goes; every byte it writes lies below `dst_len`, which is checked.
    /// Without `VC6_CUDA_UNTESTED=1`: `Error::Unsupported(`[`DECODE_UNTESTED`]`)`.
    /// **Never run on a GPU.**
    ///
    /// # Safety
    /// `dst` must be the address of at least `dst_len` bytes of device memory of this
    /// backend's context that nothing else writes or frees until the decode is done, and
    /// `consumer` a live stream of this context (or 0, 1 or 2: CUDA's legacy and
    /// per-thread default streams).
    pub unsafe fn decode_into_device_ptr(
        &self,
        plan: &Plan,
        stream: &[u8],
        layout: &OutputLayout,
        dst: u64,
        dst_len: usize,
        consumer: CUstream,
    ) -> Result<()> {
        let dest = run::Dest::Pointer(dst, dst_len);
        self.run(&[(plan, stream, layout)], dest, Some(consumer))
            .pop()
            .expect("one result per job")
            .map(|_| ())
    }

    /// Runs the device decode of `items` into `dest` on a new stream and the lanes forked
    /// from it (after the work queued on `after`, and before the work queued there
    /// next), or refuses it while
    /// the decode has not run on a GPU. A panic of cudarc's (a driver symbol it cannot
    /// find) becomes `Error::Device` for each item.
    pub(crate) fn run(
        &self,
        items: &[(&Plan, &[u8], &OutputLayout)],
        dest: run::Dest<'_, '_>,
        after: Option<CUstream>,
    ) -> Vec<run::Packed> {
        if !untested_decode_enabled() {
            return items
                .iter()
                .map(|_| Err(Error::Unsupported(DECODE_UNTESTED.into())))
                .collect();
        }
        let ran = guard("decode", || {
            let stream = self
                .context
                .new_stream()
                .map_err(|e| cu_err("stream creation (cuStreamCreate)", e))?;
            // SAFETY: `decode_into_device_ptr`'s caller vouched for the handle; the
            // wrapper does not destroy it.
            let theirs = after.map(|s| unsafe { self.context.wrap_borrowed_stream(s) });
            if let Some(theirs) = &theirs {
                stream.join(theirs).map_err(|e| {
                    cu_err("ordering after the caller's stream (cuStreamWaitEvent)", e)
                })?;
            }
            let results = run::decode_batch(&stream, &self.runner(), items, dest);
            if let Some(theirs) = &theirs {
                theirs.join(&stream).map_err(|e| {
                    cu_err(
                        "ordering the caller's stream after the decode (cuStreamWaitEvent)",
                        e,
                    )
                })?;
            }
            Ok(results)
        });
        match ran {
            Ok(results) => results,
            Err(e) => items.iter().map(|_| Err(clone_err(&e))).collect(),
        }
    }
}
