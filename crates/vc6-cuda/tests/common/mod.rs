//! What the backend's test binaries share: a small stream and the check that the gated
//! decode is refused.

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
