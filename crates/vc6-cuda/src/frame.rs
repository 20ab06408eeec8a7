//! Decoded frames that stay in device memory ([`DeviceFrame`]), and the rules that make
//! reading them safe: a frame hands out its address only to a stream that has been made
//! to wait for the frame's ready event, and it frees its memory only after the work
//! those streams had queued when they asked.
//!
//! **Never run on a GPU.** The calls have run only against the stand-in driver of
//! `tests/fake_driver.rs`, which records them (events, waits, copies) but runs no
//! kernel.
#![allow(unsafe_code)]

use crate::driver::{cu_err, guard};
use cudarc::driver::sys::CUstream;
use cudarc::driver::{CudaEvent, CudaSlice, CudaStream, DevicePtr};
use std::sync::{Arc, Mutex};
use vc6_core::{Error, OutputLayout, Result, SampleType};

/// A decoded frame kept in CUDA device memory, packed as its [`OutputLayout`] says
/// (interleaved or planar, `u8` or `u16` samples).
///
/// It carries the stream it was produced on ([`DeviceFrame::stream`]) and an event
/// recorded after its last write ([`DeviceFrame::ready`]). Its device address comes only
/// through [`DeviceFrame::device_ptr_on`] (or its raw-stream twin), which first makes the
/// consumer's stream wait for that event, so kernels queued there afterwards see the
/// whole frame. Those streams are remembered: when the frame is dropped, its memory is
/// freed in order after the work they had queued by then (as `torch`'s `record_stream`),
/// so keep each such stream alive until the frame is dropped.
///
/// **Never run on a GPU** (see the crate docs).
pub struct DeviceFrame {
    buf: CudaSlice<u8>,
    /// Width of the frame (plane 0's output) in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per sample of plane 0 (the rest of each `u16` is zero).
    pub bit_depth: u8,
    /// Where each plane is in the buffer; `layout.planes[0].row_stride` is the row pitch.
    pub layout: OutputLayout,
    ready: CudaEvent,
    /// Raw handles of the streams that were given the address.
    consumers: Mutex<Vec<usize>>,
}

impl std::fmt::Debug for DeviceFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bit_depth", &self.bit_depth)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl DeviceFrame {
    /// A frame over `buf`, whose writes were all queued on `buf`'s stream; records the
    /// ready event there.
    pub(crate) fn new(
        buf: CudaSlice<u8>,
        (width, height): (u32, u32),
        bit_depth: u8,
        layout: OutputLayout,
    ) -> Result<DeviceFrame> {
        let ready = buf
            .stream()
            .record_event(None)
            .map_err(|e| cu_err("recording a frame's ready event (cuEventRecord)", e))?;
        Ok(DeviceFrame {
            buf,
            width,
            height,
            bit_depth,
            layout,
            ready,
            consumers: Mutex::new(Vec::new()),
        })
    }

    /// Bytes of the packed frame (`layout.len`).
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// Whether the frame holds no bytes (never: frames are at least 1x1).
    pub fn is_empty(&self) -> bool {
        self.layout.len == 0
    }

    /// Bytes from one row of plane 0 to the next.
    pub fn row_stride(&self) -> usize {
        self.layout.planes[0].row_stride
    }

    /// Sample storage: `u8` or `u16` (native-endian, LSB-aligned).
    pub fn sample(&self) -> SampleType {
        self.layout.sample
    }

    /// The stream the frame was decoded on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        self.buf.stream()
    }

    /// The event recorded after the frame's last write.
    pub fn ready(&self) -> &CudaEvent {
        &self.ready
    }

    /// Whether the frame is complete on the device (`cuEventQuery`).
    pub fn is_ready(&self) -> Result<bool> {
        guard("event query", || {
            self.ready
                .try_is_complete()
                .map_err(|e| cu_err("querying a frame's ready event (cuEventQuery)", e))
        })
    }

    /// Makes `consumer` wait for the frame, and returns the frame's device address for
    /// work queued on `consumer` from now on. `consumer` is remembered, and the frame's
    /// memory is freed only after the work queued there before the frame is dropped.
    pub fn device_ptr_on(&self, consumer: &CudaStream) -> Result<u64> {
        // SAFETY: a `CudaStream` is a live stream of its context.
        unsafe { self.device_ptr_on_raw(consumer.cu_stream()) }
    }

    /// As [`DeviceFrame::device_ptr_on`], for a stream handle from another library
    /// (`torch.cuda.current_stream().cuda_stream`, CuPy's `Stream.ptr`); `0` and `1`
    /// (`CU_STREAM_LEGACY`) are the legacy default stream and `2` (`CU_STREAM_PER_THREAD`)
    /// the per-thread one.
    ///
    /// # Safety
    /// `consumer` must be a live stream of this frame's context, or 0, 1 or 2 (CUDA's
    /// default streams), and stay alive until the frame is dropped.
    pub unsafe fn device_ptr_on_raw(&self, consumer: CUstream) -> Result<u64> {
        let ctx = self.ready.context().clone();
        guard("stream wait", || {
            // SAFETY: the caller vouches for the handle; the wrapper does not destroy it.
            let stream = unsafe { ctx.wrap_borrowed_stream(consumer) };
            stream
                .wait(&self.ready)
                .map_err(|e| cu_err("making a stream wait for a frame (cuStreamWaitEvent)", e))?;
            let mut seen = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
            if !seen.contains(&(consumer as usize)) {
                seen.push(consumer as usize);
            }
            Ok(self.address())
        })
    }

    /// Blocks until the frame is complete on the device, then returns its address for
    /// use from any stream (work already finished cannot race with it).
    pub fn device_ptr_synchronized(&self) -> Result<u64> {
        self.synchronize()?;
        Ok(self.address())
    }

    /// Blocks the calling thread until the frame is complete on the device.
    pub fn synchronize(&self) -> Result<()> {
        guard("event wait", || {
            self.ready
                .synchronize()
                .map_err(|e| cu_err("waiting for a frame (cuEventSynchronize)", e))
        })
    }

    /// Copies the frame into `out`, which must hold exactly [`DeviceFrame::len`] bytes,
    /// and waits for the copy.
    pub fn copy_to_host(&self, out: &mut [u8]) -> Result<()> {
        if out.len() != self.layout.len {
            return Err(Error::Parameter(format!(
                "host buffer of {} bytes for a device frame of {} bytes",
                out.len(),
                self.layout.len
            )));
        }
        let stream = self.buf.stream();
        guard("copy to host", || {
            stream
                .memcpy_dtoh(&self.buf.slice(..out.len()), out)
                .map_err(|e| cu_err("copying a frame to the host (cuMemcpyDtoHAsync)", e))?;
            stream
                .synchronize()
                .map_err(|e| cu_err("finishing the copy (cuStreamSynchronize)", e))
        })
    }

    /// The frame copied to a new host buffer.
    pub fn to_host(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.layout.len];
        self.copy_to_host(&mut out)?;
        Ok(out)
    }

    /// The device address, without ordering: for this module only.
    fn address(&self) -> u64 {
        let stream = self.buf.stream();
        let (ptr, _read) = self.buf.device_ptr(stream);
        ptr
    }
}

impl Drop for DeviceFrame {
    /// Orders the free (on the producing stream) after the work every consumer stream
    /// had queued by now.
    fn drop(&mut self) {
        let seen = std::mem::take(self.consumers.get_mut().unwrap_or_else(|p| p.into_inner()));
        if seen.is_empty() {
            return;
        }
        let ctx = self.ready.context().clone();
        let producer = self.buf.stream().clone();
        // Errors cannot be returned from a drop; cudarc keeps them for the context's next
        // `check_err`, and a panic of cudarc's is caught.
        let _ = guard("frame release", || {
            for raw in seen {
                // SAFETY: the handle was given to `device_ptr_on_raw`, whose caller vouched
                // that it stays alive until this drop.
                let consumer = unsafe { ctx.wrap_borrowed_stream(raw as CUstream) };
                ctx.record_err(producer.join(&consumer));
            }
            Ok(())
        });
    }
}
