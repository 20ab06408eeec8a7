//! Decodes whose frames stay in GPU memory: `Decoder::decode_to_opencl` and
//! `decode_to_cuda`, and their batch forms, over one shared preparation.

use super::{Decoder, FrameRegion, Prepared};
use vc6_core::{Error, OutputLayout, Plan, Result};

/// Why a frame cannot be left in device memory as asked.
const DEVICE_OWN_FORMAT: &str = "device output needs the stream's own pixel format (no conversion)";

impl Decoder {
    /// Prepares each item for a device backend and runs `decode` on the ones that
    /// prepared; one result per item, in order.
    fn device_batch<T>(
        &self,
        items: &[(&[u8], FrameRegion)],
        decode: impl FnOnce(&[(&Plan, &[u8], &OutputLayout)]) -> Vec<Result<T>>,
    ) -> Vec<Result<T>> {
        let prepared: Vec<Result<Prepared>> = items
            .iter()
            .map(|&(stream, region)| {
                self.prepare(stream, region)?
                    .ok_or_else(|| Error::Unsupported(DEVICE_OWN_FORMAT.into()))
            })
            .collect();
        let jobs: Vec<_> = prepared
            .iter()
            .zip(items)
            .filter_map(|(p, &(stream, _))| p.as_ref().ok().map(|p| (&p.plan, stream, &p.layout)))
            .collect();
        let mut frames = decode(&jobs).into_iter();
        prepared
            .into_iter()
            .map(|p| match p {
                Ok(_) => frames.next().expect("one frame per prepared job"),
                Err(e) => Err(e),
            })
            .collect()
    }
}

/// `backend`'s error for every job, where the backend could not be opened.
fn each<T>(jobs: &[(&Plan, &[u8], &OutputLayout)], e: &Error) -> Vec<Result<T>> {
    let msg = e.to_string();
    jobs.iter()
        .map(|_| Err(Error::Device(msg.clone())))
        .collect()
}

#[cfg(feature = "opencl")]
impl Decoder {
    /// Decodes into OpenCL device memory and leaves the frame there, packed in the
    /// stream's own pixel format, for the caller's own kernels on
    /// [`OpenClBackend::context`](crate::opencl::OpenClBackend::context). Uses the
    /// OpenCL backend of the settings' device whatever this decoder's backend is;
    /// output format conversions are not supported on this path.
    pub fn decode_to_opencl(
        &self,
        stream: &[u8],
        region: FrameRegion,
    ) -> Result<crate::opencl::DeviceFrame> {
        self.decode_batch_to_opencl(&[(stream, region)])
            .pop()
            .expect("one result per item")
    }

    /// Like [`Decoder::decode_to_opencl`] for many streams, submitted together and
    /// waited for once: frames for a GPU pipeline without a trip through host memory.
    pub fn decode_batch_to_opencl(
        &self,
        items: &[(&[u8], FrameRegion)],
    ) -> Vec<Result<crate::opencl::DeviceFrame>> {
        let hint = self.settings.device.as_deref();
        self.device_batch(
            items,
            |jobs| match crate::opencl::OpenClBackend::shared_on(hint) {
                Ok(b) => b.decode_batch_to_device(jobs),
                Err(e) => each(jobs, &e),
            },
        )
    }
}

#[cfg(feature = "cuda")]
impl Decoder {
    /// Decodes into CUDA device memory and leaves the frame there, packed in the
    /// stream's own pixel format, with the stream it was decoded on and a ready event
    /// ([`cuda::DeviceFrame`](crate::cuda::DeviceFrame): its address is handed out only
    /// to a stream made to wait for the event). Uses the CUDA backend of the settings'
    /// device whatever this decoder's backend is; output format conversions are not
    /// supported on this path. **Never run on a GPU**: refused unless
    /// `VC6_CUDA_UNTESTED=1`.
    pub fn decode_to_cuda(
        &self,
        stream: &[u8],
        region: FrameRegion,
    ) -> Result<crate::cuda::DeviceFrame> {
        self.decode_batch_to_cuda(&[(stream, region)])
            .pop()
            .expect("one result per item")
    }

    /// Like [`Decoder::decode_to_cuda`] for many streams, decoded in one sequence of
    /// launches. **Never run on a GPU.**
    pub fn decode_batch_to_cuda(
        &self,
        items: &[(&[u8], FrameRegion)],
    ) -> Vec<Result<crate::cuda::DeviceFrame>> {
        let hint = self.settings.device.as_deref();
        self.device_batch(items, |jobs| {
            match crate::cuda::CudaBackend::shared_on(hint) {
                Ok(b) => b.decode_batch_to_device(jobs),
                Err(e) => each(jobs, &e),
            }
        })
    }
}
