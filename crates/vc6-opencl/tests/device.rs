//! Device selection, the kernel binary cache, chunked batches, and bitstream version 2's
//! shapes (lanes, contexts, tile sizes, damaged tiles) against the CPU decoder, on
//! whatever OpenCL platform is here. Without one these tests pass only when
//! `VC6_REQUIRE_BACKENDS` does not name opencl.

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

/// A small xorshift generator, so the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A picture with smooth areas, edges and noise (so tiles get every layer mode), planes
/// of other sizes and depths.
fn picture(rng: &mut Rng, planes: &[(u32, u32, u8)]) -> vc6_core::Picture {
    let planes = planes
        .iter()
        .map(|&(w, h, depth)| {
            let max = (1u32 << depth) - 1;
            let (a, b) = (rng.below(7) as u32 + 1, rng.below(5) as u32 + 1);
            let noise = rng.below(4) as u32;
            let samples = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let edge = if (x / 9 + y / 13) % 3 == 0 {
                        max / 2
                    } else {
                        0
                    };
                    let n = if noise > 0 {
                        rng.below(u64::from(noise) * 3) as u32
                    } else {
                        0
                    };
                    ((x * a + y * b + edge + n) % (max + 1)) as u16
                })
                .collect();
            vc6_core::Plane {
                width: w,
                height: h,
                bit_depth: depth,
                samples,
            }
        })
        .collect();
    vc6_core::Picture { planes }
}

/// Decodes every request on `backend` in one batch, planar 16-bit: the bytes, or the
/// error's text.
fn decode_all(
    backend: &dyn vc6_core::Backend,
    requests: &[(Vec<u8>, vc6_core::DecodeOptions)],
) -> Vec<Result<Vec<u8>, String>> {
    use vc6_core::{DecodeJob, OutputLayout, Plan, SampleType};
    let plans: Vec<Plan> = requests
        .iter()
        .map(|(s, o)| Plan::new(s, o).expect("the test's requests plan"))
        .collect();
    let layouts: Vec<OutputLayout> = plans
        .iter()
        .map(|p| OutputLayout::planar(p, SampleType::U16))
        .collect();
    let mut outs: Vec<Vec<u8>> = layouts.iter().map(|l| vec![0xA5u8; l.len]).collect();
    let jobs = plans
        .iter()
        .zip(requests)
        .zip(&layouts)
        .zip(outs.iter_mut())
        .map(|(((plan, (stream, _)), layout), out)| DecodeJob {
            plan,
            stream,
            layout,
            out,
        })
        .collect();
    let results = backend.decode_batch(jobs);
    results
        .into_iter()
        .zip(outs)
        .map(|(r, out)| r.map(|()| out).map_err(|e| e.to_string()))
        .collect()
}

/// Bitstream v2 across its shapes: 1, 8 and 32 lanes, 1 to 8 contexts, every tile size,
/// lossless and lossy (16-bit values that take two bypass steps), LoQs and regions, all
/// in one batch: the OpenCL bytes equal the CPU's.
#[test]
fn lanes_contexts_and_tile_sizes_decode_like_the_cpu() {
    use vc6_core::{CpuBackend, DecodeOptions, EncoderConfig, Plan, Region};
    let Some(ocl) = backend_or_skip(&OpenClConfig::default()) else {
        return;
    };
    let mut rng = Rng(0x5eed_1234_5678_9abc);
    let mut requests = Vec::new();
    for case in 0..18usize {
        let lanes = [Some(1), Some(8), Some(32), None][case % 4];
        let contexts = Some([1u8, 2, 3, 4, 8, 5][case % 6]);
        let tile_log2 = [2u8, 3, 4, 5, 6, 7, 8][case % 7];
        let quality = [None, Some(70.0), None, Some(30.0), Some(95.0)][case % 5];
        let depth = [8u8, 16, 12, 8, 10, 1][case % 6];
        let (w, h) = (40 + rng.below(90) as u32, 30 + rng.below(70) as u32);
        let planes = [(w, h, depth), (w.div_ceil(2), h, depth), (w, h, 8)];
        let pic = picture(&mut rng, &planes[..1 + case % 3]);
        let cfg = EncoderConfig {
            tile_log2,
            lanes,
            contexts,
            quality,
            predicted_average: case % 2 == 0,
            upsampler: [
                vc6_core::Upsampler::Cubic,
                vc6_core::Upsampler::Nearest,
                vc6_core::Upsampler::Linear,
            ][case % 3],
            threads: 1,
            ..EncoderConfig::default()
        };
        let stream = vc6_core::encode(&pic, &cfg).unwrap();
        let plan = Plan::new(&stream, &DecodeOptions::default()).unwrap();
        let loqs = plan.header.planes.iter().map(|p| p.echelons).min().unwrap();
        for loq in [0, loqs / 2, loqs - 1] {
            requests.push((
                stream.clone(),
                DecodeOptions {
                    loq,
                    ..DecodeOptions::default()
                },
            ));
        }
        let (rw, rh) = (w / 3 + 1, h / 4 + 1);
        requests.push((
            stream.clone(),
            DecodeOptions {
                region: Some(Region {
                    x: rng.below(u64::from(w - rw)) as u32,
                    y: rng.below(u64::from(h - rh)) as u32,
                    width: rw,
                    height: rh,
                }),
                ..DecodeOptions::default()
            },
        ));
    }
    let want = decode_all(&CpuBackend::new(1), &requests);
    let got = decode_all(&ocl, &requests);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let w = w
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i}: cpu: {e}"));
        let g = g
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i}: opencl: {e}"));
        assert!(
            w == g,
            "request {i} ({:?}): bytes differ",
            requests[i].1.region
        );
    }
}

/// Damaged tile payloads (no checksums, so the damage reaches the tile decoders): the
/// OpenCL backend fails where the CPU fails, naming the same tile with the same message,
/// and otherwise gives the same bytes.
#[test]
fn damaged_tiles_fail_with_the_cpus_message() {
    use vc6_core::{CpuBackend, DecodeOptions, EncoderConfig, Plan};
    let Some(ocl) = backend_or_skip(&OpenClConfig::default()) else {
        return;
    };
    let mut rng = Rng(0xdead_beef_0bad_cafe);
    let mut requests = Vec::new();
    for case in 0..6usize {
        let pic = picture(&mut rng, &[(70, 50, 8), (70, 50, 12)]);
        let cfg = EncoderConfig {
            tile_log2: [3u8, 4, 5][case % 3],
            lanes: [Some(1), Some(8), Some(32)][case % 3],
            contexts: Some(4),
            quality: if case % 2 == 0 { None } else { Some(50.0) },
            checksums: false,
            threads: 1,
            ..EncoderConfig::default()
        };
        let stream = vc6_core::encode(&pic, &cfg).unwrap();
        let plan = Plan::new(&stream, &DecodeOptions::default()).unwrap();
        let payloads: Vec<std::ops::Range<usize>> = plan
            .sections
            .iter()
            .flat_map(|s| (0..s.offsets.len() - 1).map(|i| s.payload(i)))
            .filter(|r| !r.is_empty())
            .collect();
        for k in 0..40 {
            let t = &payloads[rng.below(payloads.len() as u64) as usize];
            let mut s = stream.clone();
            let at = t.start + rng.below(t.len() as u64) as usize;
            match k % 4 {
                // The header byte: modes, lane class.
                0 => s[t.start] = rng.next() as u8,
                // A state or a word.
                1 | 2 => s[at] ^= 1 << rng.below(8),
                _ => s[at] = rng.next() as u8,
            }
            requests.push((s, DecodeOptions::default()));
        }
    }
    let want = decode_all(&CpuBackend::new(1), &requests);
    let got = decode_all(&ocl, &requests);
    let mut failed = std::collections::BTreeMap::new();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        match (w, g) {
            (Ok(w), Ok(g)) => assert!(w == g, "request {i}: bytes differ"),
            (Err(w), Err(g)) => {
                assert_eq!(w, g, "request {i}");
                // The message after the tile's name, numbers left out.
                let what: String = w
                    .split_once(" at LoQ ")
                    .map_or(&w[..], |(_, m)| m)
                    .chars()
                    .skip_while(|c| c.is_ascii_digit() || *c == ':' || *c == ' ')
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                *failed.entry(what).or_insert(0) += 1;
            }
            _ => panic!(
                "request {i}: cpu {:?}, opencl {:?}",
                w.as_ref().err(),
                g.as_ref().err()
            ),
        }
    }
    eprintln!("damaged tiles: {failed:#?}");
    let n: usize = failed.values().sum();
    assert!(
        n > 60,
        "only {n} of {} damaged streams fail",
        requests.len()
    );
    assert!(failed.len() >= 4, "few kinds of failure: {failed:?}");
}

/// One backend per device for the process: two hints naming one device give the same
/// backend, and the environment's own device gives the shared one.
#[test]
fn shared_on_gives_one_backend_per_device() {
    use std::sync::Arc;
    let Some(any) = backend_or_skip(&OpenClConfig::from_env()) else {
        return;
    };
    let name = any.info().name.clone();
    let by_name = OpenClBackend::shared_on(Some(&name)).unwrap();
    let again = OpenClBackend::shared_on(Some(&name.to_uppercase())).unwrap();
    assert!(Arc::ptr_eq(&by_name, &again));
    assert_eq!(by_name.info().name, name);
    let shared = OpenClBackend::shared().unwrap();
    assert!(Arc::ptr_eq(
        &OpenClBackend::shared_on(None).unwrap(),
        &shared
    ));
    if shared.info().name == name {
        assert!(Arc::ptr_eq(&shared, &by_name));
    }
    let e = OpenClBackend::shared_on(Some("no-such-device-xyz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such-device-xyz"), "{e}");
}
