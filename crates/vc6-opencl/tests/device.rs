//! Device selection and the kernel binary cache, on whatever OpenCL platform is here.
//! Without one these tests pass only when `VC6_REQUIRE_BACKENDS` does not name opencl.

use vc6_opencl::{OpenClBackend, OpenClConfig, ProgramOrigin};

/// The default backend, or `None` (with a note) when OpenCL cannot run here and is not
/// required.
fn backend_or_skip(config: &OpenClConfig) -> Option<OpenClBackend> {
    match OpenClBackend::new(config) {
        Ok(b) => Some(b),
        Err(e) => {
            let required = std::env::var("VC6_REQUIRE_BACKENDS")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim().eq_ignore_ascii_case("opencl"));
            assert!(!required, "OpenCL is required but cannot run: {e}");
            eprintln!("note: OpenCL cannot run here, skipping: {e}");
            None
        }
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vc6-opencl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn binary_cache_is_written_reused_and_rebuilt_when_rejected() {
    let dir = temp_dir("cache");
    let config = OpenClConfig {
        binary_cache: Some(dir.clone()),
        ..OpenClConfig::default()
    };
    let Some(first) = backend_or_skip(&config) else {
        return;
    };
    assert_eq!(first.program_origin(), ProgramOrigin::Source);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one cached binary");
    let path = files[0].path();
    assert!(std::fs::metadata(&path).unwrap().len() > 0);

    let second = OpenClBackend::new(&config).unwrap();
    assert_eq!(second.program_origin(), ProgramOrigin::Cache);

    // A binary the driver rejects falls back to a source build and is replaced.
    std::fs::write(&path, b"not a program binary").unwrap();
    let third = OpenClBackend::new(&config).unwrap();
    assert_eq!(third.program_origin(), ProgramOrigin::Source);
    assert!(std::fs::metadata(&path).unwrap().len() > 20);
    let fourth = OpenClBackend::new(&config).unwrap();
    assert_eq!(fourth.program_origin(), ProgramOrigin::Cache);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn device_is_chosen_by_substring_and_a_miss_names_the_devices() {
    let Some(any) = backend_or_skip(&OpenClConfig::default()) else {
        return;
    };
    let name = any.info().name.clone();
    // Any case, any part of the name.
    let part = name[..name.len().min(6)].to_uppercase();
    let picked = OpenClBackend::new(&OpenClConfig {
        device: Some(part),
        ..OpenClConfig::default()
    })
    .unwrap();
    assert_eq!(picked.info().name, name);

    let err = OpenClBackend::new(&OpenClConfig {
        device: Some("no-such-device-xyz".into()),
        ..OpenClConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("no-such-device-xyz"), "{err}");
    assert!(
        err.contains(&name),
        "the error lists the devices found: {err}"
    );
}

#[test]
fn batches_over_the_memory_budget_run_in_chunks_with_the_same_bytes() {
    use vc6_core::{Backend, CpuBackend, DecodeJob, DecodeOptions, OutputLayout, Plan, SampleType};
    // 600 KiB: two of these frames (about 120 KiB each by the estimate) per chunk.
    let config = OpenClConfig {
        batch_budget: Some(600 << 10),
        ..OpenClConfig::default()
    };
    let Some(ocl) = backend_or_skip(&config) else {
        return;
    };
    let streams: Vec<Vec<u8>> = (0..7u32)
        .map(|k| {
            let (w, h) = (61 + 3 * k, 47);
            let planes = (0..3)
                .map(|p| vc6_core::Plane {
                    width: w,
                    height: h,
                    bit_depth: 8,
                    samples: (0..w * h)
                        .map(|i| ((i % w * (p + 1) + i / w * 3 + k * 7) % 256) as u16)
                        .collect(),
                })
                .collect();
            let cfg = vc6_core::EncoderConfig {
                colour_transform: true,
                threads: 1,
                ..vc6_core::EncoderConfig::default()
            };
            vc6_core::encode(&vc6_core::Picture { planes }, &cfg).unwrap()
        })
        .collect();
    let opts = DecodeOptions::default();
    let plans: Vec<Plan> = streams
        .iter()
        .map(|s| Plan::new(s, &opts).unwrap())
        .collect();
    let layouts: Vec<OutputLayout> = plans
        .iter()
        .map(|p| OutputLayout::interleaved(p, SampleType::U8, &[0, 1, 2]).unwrap())
        .collect();
    let run = |b: &dyn Backend| -> Vec<Vec<u8>> {
        let mut outs: Vec<Vec<u8>> = layouts.iter().map(|l| vec![0u8; l.len]).collect();
        let jobs = plans
            .iter()
            .zip(&streams)
            .zip(&layouts)
            .zip(outs.iter_mut())
            .map(|(((plan, stream), layout), out)| DecodeJob {
                plan,
                stream,
                layout,
                out,
            })
            .collect();
        for r in b.decode_batch(jobs) {
            r.unwrap();
        }
        outs
    };
    let want = run(&CpuBackend::new(1));
    assert_eq!(run(&ocl), want);
    assert!(want.iter().all(|f| f.iter().any(|&b| b != 0)));
}
