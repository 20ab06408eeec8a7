//! What the backend's test binaries share: a small stream, the check that the gated
//! decode is refused, and the check of a decode into a caller's device memory.

use vc6_core::{Backend, DecodeJob, DecodeOptions, EncoderConfig, Error, OutputLayout, Picture};
use vc6_core::{Plan, Plane, SampleType};
use vc6_cuda::{CudaBackend, DECODE_UNTESTED};

/// A small lossless grey stream, its plan and layout.
pub fn stream() -> (Vec<u8>, Plan, OutputLayout) {
    let samples: Vec<u16> = (0..24 * 16).map(|i| (i * 7 % 256) as u16).collect();
    let plane = Plane::from_samples(24, 16, 8, samples).unwrap();
    let picture = Picture::new(vec![plane]).unwrap();
    let stream = vc6_core::encode(&picture, &EncoderConfig::default()).unwrap();
    let plan = Plan::new(&stream, &DecodeOptions::default()).unwrap();
    let layout = OutputLayout::planar(&plan, SampleType::U8);
    (stream, plan, layout)
}

/// Without `VC6_CUDA_UNTESTED=1`, a decode and each job of a batch are refused with
/// `Unsupported(DECODE_UNTESTED)`.
pub fn assert_refuses_to_decode(backend: &CudaBackend) {
    let (stream, plan, layout) = stream();
    let mut out = vec![0u8; layout.len];
    let job = DecodeJob {
        plan: &plan,
        stream: &stream,
        layout: &layout,
        out: &mut out,
    };
    let e = backend.decode(job).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m == DECODE_UNTESTED),
        "{e:?}"
    );
    let mut other = vec![0u8; layout.len];
    let jobs = vec![
        DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out: &mut out,
        },
        DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out: &mut other,
        },
    ];
    let results = backend.decode_batch(jobs);
    assert_eq!(results.len(), 2);
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(Error::Unsupported(_)))));
}

/// Decodes `stream` into device memory of a caller's, ordered on a stream of the caller's,
/// and checks that the bytes are `want` and that nothing was written past the layout.
#[allow(unsafe_code)]
pub fn assert_caller_memory_gets(
    backend: &CudaBackend,
    (stream, plan, layout): (&[u8], &Plan, &OutputLayout),
    want: &[u8],
) {
    use vc6_cuda::cudarc::driver::DevicePtrMut;
    let caller = backend.context().new_stream().unwrap();
    let guard = 64;
    let mut dst = caller
        .clone_htod(&vec![0xABu8; layout.len + guard])
        .unwrap();
    let (ptr, written) = dst.device_ptr_mut(&caller);
    // SAFETY: `dst` holds layout.len + guard bytes of this context's memory, and `caller`
    // is a live stream of the context; nothing else uses either until the copy below.
    unsafe {
        backend
            .decode_into_device_ptr(plan, stream, layout, ptr, layout.len, caller.cu_stream())
            .unwrap();
    }
    drop(written);
    let got = caller.clone_dtoh(&dst).unwrap();
    assert_eq!(&got[..layout.len], want);
    assert!(
        got[layout.len..].iter().all(|&b| b == 0xAB),
        "wrote past the layout"
    );
}

/// The CPU backend's decode of `stream`: what every CUDA output must equal.
pub fn cpu_decode((stream, plan, layout): (&[u8], &Plan, &OutputLayout)) -> Vec<u8> {
    let mut out = vec![0u8; layout.len];
    vc6_core::CpuBackend::new(1)
        .decode(DecodeJob {
            plan,
            stream,
            layout,
            out: &mut out,
        })
        .unwrap();
    out
}
