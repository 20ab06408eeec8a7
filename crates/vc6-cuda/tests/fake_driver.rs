//! The backend's host code with a driver present, run without a GPU against a stand-in
//! driver (`tests/fake_libcuda.c`, built here with the C compiler Rust links with): device
//! list and choice, cuInit and context errors, a missing driver symbol, the kernel cache
//! (a hit that needs no NVRTC; a rejected entry rebuilt with NVRTC where it is loadable),
//! decodes refused with Unsupported unless `VC6_CUDA_UNTESTED=1`, and with it a decode
//! that fails with a clear device error where the stand-in has no streams (mode 2) rather
//! than a panic; with streams and memory (mode 3), the whole host side of host, device and
//! caller-memory decodes, batches pipelined over lanes with pinned buffers, the
//! configuration from the environment, and (with `FAKE_CUDA_RUN=1`, the kernels run on the
//! CPU) the CPU backend's pixels. It checks vc6-cuda's logic, not CUDA: nothing here has
//! run on a GPU.
//!
//! Each case runs in a child process (this test binary again, `fake_driver_child`), since
//! the driver library is found through `LD_LIBRARY_PATH` and loaded once per process.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
mod common;
mod fake;

use common::{assert_caller_memory_gets, assert_refuses_to_decode, cpu_decode, stream};
use fake::build_fake;
use vc6_core::{Backend, DecodeJob, Error, OutputLayout, Plan};
use vc6_cuda::{cache_path, nvrtc_present, CudaBackend, CudaConfig, ModuleOrigin, DECODE_UNTESTED};

/// Runs `fake_driver_child` for `case` with the fake driver in `lib` and `FAKE_CUDA=mode`.
fn child(case: &str, lib: &Path, mode: &str, cache: &Path) {
    child_with(case, lib, mode, cache, None);
}

/// As [`child`], with `VC6_CUDA_UNTESTED` set to `untested` (or removed).
fn child_with(case: &str, lib: &Path, mode: &str, cache: &Path, untested: Option<&str>) {
    let mut path = lib.as_os_str().to_owned();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "fake_driver_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("LD_LIBRARY_PATH", path)
    .env("FAKE_CUDA", mode)
    .env("VC6_FAKE_CASE", case)
    .env("VC6_FAKE_CACHE", cache)
    .env("FAKE_CUDA_LOG", cache.with_extension("log"))
    .env_remove("CUDA_BIN_LOC")
    .env_remove("VC6_CUDA_DEVICE")
    .env_remove("CUDA_VISIBLE_DEVICES")
    .env_remove("VC6_CUDA_UNTESTED");
    if let Some(v) = untested {
        cmd.env("VC6_CUDA_UNTESTED", v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "case {case} failed ({}):\n{text}",
        out.status
    );
    eprintln!("case {case}: ok");
}

#[test]
fn host_code_against_a_fake_driver() {
    let base = std::env::temp_dir().join(format!("vc6-cuda-fake-{}", std::process::id()));
    let (lib, old_lib) = (base.join("lib"), base.join("old-lib"));
    build_fake(&lib, &[]);
    build_fake(&old_lib, &["-DNO_DRIVER_VERSION"]);
    let cache = base.join("cache");
    child("no-device", &lib, "1", &cache);
    child("no-context", &lib, "0", &cache);
    child("missing-symbol", &old_lib, "2", &cache);
    child("cache-hit", &lib, "2", &cache);
    child("cache-rejected", &lib, "2", &cache);
    child_with("untested-decode", &lib, "2", &cache, Some("1"));
    child_with("device-decode", &lib, "3", &cache, Some("1"));
    child("device-decode-gated", &lib, "3", &cache);
    child("shared-on", &lib, "2", &cache);
    // Any other value keeps the gate shut.
    child_with("cache-hit", &lib, "2", &cache, Some("yes"));
    std::fs::remove_dir_all(&base).unwrap();
}

/// The backend on the fake H100, its kernels from a cached stand-in cubin.
fn fake_backend(h100: &CudaConfig, cache: &Path) -> CudaBackend {
    let info = CudaBackend::probe(h100).unwrap();
    std::fs::create_dir_all(cache).unwrap();
    std::fs::write(
        cache_path(cache, &info),
        b"\x7fELF a cubin, as far as the fake driver can tell",
    )
    .unwrap();
    CudaBackend::new(h100).unwrap()
}

/// What the fake driver logged (FAKE_CUDA_LOG) since the last call, one call a line.
fn take_log(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, "").unwrap();
    text.lines().map(str::to_owned).collect()
}

/// The index of the first line at or after `from` that starts with `prefix`.
fn find(log: &[String], from: usize, prefix: &str) -> usize {
    log.iter()
        .skip(from)
        .position(|l| l.starts_with(prefix))
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no '{prefix}' after line {from} in:\n{}", log.join("\n")))
}

/// The device decode's host side, run to the end against the fake driver of mode 3 (its
/// memory is host memory and its launches do nothing): buffers sized and copied within
/// their allocations, every kernel launched, output copied back or kept on the device,
/// the frame's ready event and the consumer stream's wait, a caller's pointer and stream.
#[allow(unsafe_code)]
fn device_decode(h100: &CudaConfig, cache: &Path) {
    use vc6_cuda::cudarc::driver::DevicePtrMut;
    let log_path = PathBuf::from(std::env::var("FAKE_CUDA_LOG").unwrap());
    take_log(&log_path);
    let backend = fake_backend(h100, cache);
    // A memory pool of the backend's own keeps half the batch budget (a quarter of the
    // 80 GB, at most 8 GiB) between batches.
    let log = take_log(&log_path);
    let create = find(&log, 0, "pool create");
    find(
        &log,
        create,
        &format!("pool release threshold {}", 4u64 << 30),
    );
    let (stream, plan, layout) = stream();

    // Host output: the packed frame is copied back (zeros: the fake runs no kernel, and
    // the output buffer is zeroed first), over whatever the buffer held.
    let mut out = vec![0xABu8; layout.len];
    backend
        .decode(DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out: &mut out,
        })
        .unwrap();
    assert!(out.iter().all(|&b| b == 0));
    let log = take_log(&log_path);
    // Every device buffer came from the pool: the streams and tables, the work buffer
    // and the packed frames, one each.
    assert_eq!(
        log.iter().filter(|l| l.starts_with("pool alloc ")).count(),
        3,
        "{log:?}"
    );
    let tiles = find(&log, 0, "launch decode_tiles grid");
    find(
        &log,
        tiles,
        "launch pack_plane grid 1,4,1 block 32,4,1 stream ",
    );
    assert!(
        log[tiles].contains("block 32,1,1 stream "),
        "{}",
        log[tiles]
    );

    // A batch with a job whose output is too small: that one fails alone.
    let (mut a, mut b) = (vec![1u8; layout.len], vec![1u8; layout.len - 1]);
    let results = backend.decode_batch(vec![
        DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out: &mut a,
        },
        DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out: &mut b,
        },
    ]);
    assert!(results[0].is_ok() && a.iter().all(|&v| v == 0));
    assert!(
        matches!(results[1], Err(Error::Parameter(_))),
        "{:?}",
        results[1]
    );
    assert!(b.iter().all(|&v| v == 1));
    take_log(&log_path);

    // Device output: frames with their size, layout and ready event.
    let frames =
        backend.decode_batch_to_device(&[(&plan, &stream, &layout), (&plan, &stream, &layout)]);
    let log = take_log(&log_path);
    let frames: Vec<_> = frames.into_iter().map(Result::unwrap).collect();
    assert_eq!((frames[0].width, frames[0].height), plan.output_size(0));
    assert_eq!((frames[0].len(), frames[0].row_stride()), (layout.len, 24));
    assert_eq!(frames[0].bit_depth, 8);
    assert_eq!(frames[1].to_host().unwrap(), vec![0u8; layout.len]);
    assert!(frames[0].is_ready().unwrap());
    let packs: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("launch pack_plane"))
        .collect();
    assert_eq!(packs.len(), 2, "{log:?}");
    // The address handed out is the one the pack wrote, and only after the consumer
    // stream was made to wait for the ready event.
    let consumer = backend.context().new_stream().unwrap();
    take_log(&log_path);
    let ptr = frames[0].device_ptr_on(&consumer).unwrap();
    assert!(
        packs[0].ends_with(&format!(" out {ptr:x}")),
        "{} vs {ptr:x}",
        packs[0]
    );
    let log = take_log(&log_path);
    let wait = find(
        &log,
        0,
        &format!(
            "wait stream {:x} event {:x}",
            consumer.cu_stream() as usize,
            frames[0].ready().cu_event() as usize
        ),
    );
    assert_eq!(wait, 0, "{log:?}");
    // Dropping it: the producer waits for the consumer's work so far, then frees.
    let producer = frames[0].stream().cu_stream() as usize;
    drop(frames);
    let log = take_log(&log_path);
    let record = find(&log, 0, "record event ");
    assert!(
        log[record].ends_with(&format!(" stream {:x}", consumer.cu_stream() as usize)),
        "{log:?}"
    );
    let event = log[record].split(' ').nth(2).unwrap().to_owned();
    let wait = find(
        &log,
        record,
        &format!("wait stream {producer:x} event {event}"),
    );
    find(&log, wait, &format!("free {ptr:x}"));

    // Into the caller's memory, ordered on the caller's stream.
    let caller = backend.context().new_stream().unwrap();
    let mut dst = caller.alloc_zeros::<u8>(layout.len + 64).unwrap();
    let (dst_ptr, _w) = dst.device_ptr_mut(&caller);
    take_log(&log_path);
    // SAFETY: `dst` is device memory (of the fake) of at least that many bytes, and
    // `caller` a live stream of the backend's context.
    unsafe {
        backend
            .decode_into_device_ptr(
                &plan,
                &stream,
                &layout,
                dst_ptr,
                layout.len + 64,
                caller.cu_stream(),
            )
            .unwrap();
    }
    let log = take_log(&log_path);
    let caller_s = caller.cu_stream() as usize;
    let before = find(&log, 0, "record event ");
    assert!(
        log[before].ends_with(&format!(" stream {caller_s:x}")),
        "{log:?}"
    );
    let ev = log[before].split(' ').nth(2).unwrap().to_owned();
    let ours = find(&log, before, "wait stream ");
    assert!(log[ours].ends_with(&format!(" event {ev}")), "{log:?}");
    let pack = find(&log, ours, "launch pack_plane");
    assert!(log[pack].ends_with(&format!(" out {dst_ptr:x}")), "{log:?}");
    // The caller's stream waits for an event recorded on ours after the pack.
    let theirs = find(&log, pack, &format!("wait stream {caller_s:x} event "));
    let ev = log[theirs].rsplit(' ').next().unwrap();
    let ours_s = log[ours].split(' ').nth(2).unwrap();
    find(&log, pack, &format!("record event {ev} stream {ours_s}"));
    // A destination too small is refused before anything runs on the device.
    // SAFETY: as above (the length is smaller than the allocation).
    let e = unsafe {
        backend.decode_into_device_ptr(
            &plan,
            &stream,
            &layout,
            dst_ptr,
            layout.len - 1,
            caller.cu_stream(),
        )
    }
    .unwrap_err();
    assert!(matches!(e, Error::Parameter(_)), "{e:?}");
    assert!(!take_log(&log_path).iter().any(|l| l.starts_with("launch")));
}

/// The stream of each log line that starts with `prefix` (its `stream <s>` word), in order.
fn streams_of(log: &[String], prefix: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            let at = words.iter().position(|w| *w == "stream").expect("a stream");
            words[at + 1].to_owned()
        })
        .collect()
}

/// A batch in several chunks runs pipelined over three streams ("lanes"), each with
/// pinned host buffers: the next chunk is queued before the first lane is waited for,
/// every copy goes through pinned memory, the buffers are kept for the next batch, a bad
/// item fails alone, and the batch's first stream ends ordered after the other lanes.
/// Where pinning fails, the copies go through ordinary memory with the same results. With
/// the kernels run on the CPU, every output is the CPU backend's.
fn pipelined_decode(h100: &CudaConfig, cache: &Path) {
    let log_path = PathBuf::from(std::env::var("FAKE_CUDA_LOG").unwrap());
    // One byte of batch memory: every frame is a chunk of its own.
    let config = CudaConfig {
        batch_memory: Some(1),
        ..h100.clone()
    };
    let backend = fake_backend(&config, cache);
    assert_eq!(backend.batch_memory(), 1);
    let (stream, plan, layout) = stream();
    let cut = &stream[..stream.len() - 1];
    let run = |backend: &CudaBackend| {
        let mut outs: Vec<Vec<u8>> = (0..5).map(|_| vec![0xAB; layout.len]).collect();
        let jobs = outs
            .iter_mut()
            .enumerate()
            .map(|(i, out)| DecodeJob {
                plan: &plan,
                stream: if i == 2 { cut } else { &stream },
                layout: &layout,
                out,
            })
            .collect();
        let results = backend.decode_batch(jobs);
        for (i, (r, out)) in results.iter().zip(&outs).enumerate() {
            if i == 2 {
                assert!(matches!(r, Err(Error::Parameter(_))), "{r:?}");
                assert!(
                    out.iter().all(|&b| b == 0xAB),
                    "a failed item's buffer is left"
                );
            } else {
                assert!(r.is_ok(), "item {i}: {r:?}");
                assert!(out.iter().all(|&b| b == 0), "item {i}");
            }
        }
    };
    take_log(&log_path);
    run(&backend);
    let log = take_log(&log_path);
    // Chunk i on lane i % 3; chunk 2 (the bad item alone) launches nothing.
    let mut launches = streams_of(&log, "launch decode_tiles");
    launches.dedup(); // a launch per wave
    let copies = streams_of(&log, "htod ");
    assert_eq!(copies.len(), 5, "{log:?}");
    let (a, b, c) = (&copies[0], &copies[1], &copies[2]);
    assert!(a != b && b != c && a != c, "{copies:?}");
    assert_eq!(copies[3..], [a.clone(), b.clone()]);
    assert_eq!(launches, [a.clone(), b.clone(), a.clone(), b.clone()]);
    // Lane b's chunk was queued before lane a was waited for.
    let first_sync = find(&log, 0, &format!("sync stream {a}"));
    assert!(
        log[..first_sync]
            .iter()
            .any(|l| l.starts_with("htod ") && l.ends_with(&format!("stream {b}"))),
        "{log:?}"
    );
    // Every copy went through pinned memory: per lane one write-combined upload buffer
    // (flag 4) and one download buffer.
    assert!(
        log.iter()
            .filter(|l| l.starts_with("htod "))
            .all(|l| l.contains(" from pinned ")),
        "{log:?}"
    );
    let downs: Vec<&String> = log.iter().filter(|l| l.starts_with("dtoh ")).collect();
    assert_eq!(
        downs.len(),
        8,
        "error bytes and frames of four chunks: {log:?}"
    );
    assert!(downs.iter().all(|l| l.contains(" into pinned ")), "{log:?}");
    let allocs: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("host alloc "))
        .collect();
    assert_eq!(allocs.len(), 6, "{log:?}");
    assert_eq!(allocs.iter().filter(|l| l.contains(" flags 4 ")).count(), 3);
    // At the end the first lane waits for the other two.
    let last = log.iter().rposition(|l| l.starts_with("launch ")).unwrap();
    for lane in [b, c] {
        let rec = find(&log, last, "record event ");
        let rec = (rec..log.len())
            .find(|&i| {
                log[i].starts_with("record event ") && log[i].ends_with(&format!(" stream {lane}"))
            })
            .unwrap_or_else(|| panic!("no event recorded on {lane}: {log:?}"));
        let ev = log[rec].split(' ').nth(2).unwrap();
        find(&log, rec, &format!("wait stream {a} event {ev}"));
    }

    // The next batch reuses the pinned buffers.
    run(&backend);
    let log = take_log(&log_path);
    assert!(!log.iter().any(|l| l.starts_with("host alloc")), "{log:?}");

    // Device output: each frame on its chunk's lane.
    let items = vec![(&plan, &stream[..], &layout); 4];
    let frames: Vec<_> = backend
        .decode_batch_to_device(&items)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let lane = |i: usize| frames[i].stream().cu_stream() as usize;
    assert!(lane(0) != lane(1) && lane(1) != lane(2) && lane(0) == lane(3));
    for f in &frames {
        assert_eq!(f.to_host().unwrap(), vec![0u8; layout.len]);
    }
    drop(frames);
    // Batches from several threads at once: each takes stagings of its own.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| run(&backend));
        }
    });
    // The kept buffers go with the backend: one upload and one download buffer per lane.
    take_log(&log_path);
    drop(backend);
    let log = take_log(&log_path);
    assert_eq!(
        log.iter().filter(|l| l.starts_with("host free ")).count(),
        6,
        "{log:?}"
    );

    // One lane: every chunk on the batch's own stream, one after the other.
    let one = CudaConfig {
        lanes: Some(1),
        ..config.clone()
    };
    let backend = fake_backend(&one, cache);
    take_log(&log_path);
    run(&backend);
    let log = take_log(&log_path);
    let mut copies = streams_of(&log, "htod ");
    assert_eq!(copies.len(), 5, "{log:?}");
    copies.dedup();
    assert_eq!(copies.len(), 1, "{log:?}");
    drop(backend);

    // With the kernels run on the CPU (FAKE_CUDA_RUN=1), a batch over three lanes gives
    // the CPU backend's pixels: host output, device output and the caller's memory.
    std::env::set_var("FAKE_CUDA_RUN", "1");
    let backend = fake_backend(&config, cache);
    let want = cpu_decode((&stream, &plan, &layout));
    assert!(want.iter().any(|&b| b != 0));
    let mut outs: Vec<Vec<u8>> = (0..5).map(|_| vec![0xAB; layout.len]).collect();
    let jobs = outs
        .iter_mut()
        .map(|out| DecodeJob {
            plan: &plan,
            stream: &stream,
            layout: &layout,
            out,
        })
        .collect();
    assert!(backend.decode_batch(jobs).iter().all(Result::is_ok));
    assert!(outs.iter().all(|o| *o == want));
    for f in backend.decode_batch_to_device(&[(&plan, &stream[..], &layout); 4]) {
        assert_eq!(f.unwrap().to_host().unwrap(), want);
    }
    assert_caller_memory_gets(&backend, (&stream, &plan, &layout), &want);
    drop(backend);
    std::env::remove_var("FAKE_CUDA_RUN");

    // Pinning off: no pinned memory is asked for, the copies go through ordinary memory.
    let unpinned = CudaConfig {
        pinned: Some(false),
        ..config.clone()
    };
    let backend = fake_backend(&unpinned, cache);
    take_log(&log_path);
    run(&backend);
    let log = take_log(&log_path);
    assert!(!log.iter().any(|l| l.starts_with("host alloc")), "{log:?}");
    let copies: Vec<&String> = log.iter().filter(|l| l.starts_with("htod ")).collect();
    assert!(
        copies.len() == 5 && copies.iter().all(|l| l.contains(" from pageable ")),
        "{log:?}"
    );
    drop(backend);

    // Without pinned memory to be had: the same results through ordinary memory.
    std::env::set_var("FAKE_CUDA_NO_PIN", "1");
    let backend = fake_backend(&config, cache);
    take_log(&log_path);
    run(&backend);
    let log = take_log(&log_path);
    assert!(!log.iter().any(|l| l.starts_with("host alloc")), "{log:?}");
    assert!(
        log.iter()
            .filter(|l| l.starts_with("htod "))
            .all(|l| l.contains(" from pageable ")),
        "{log:?}"
    );
    std::env::remove_var("FAKE_CUDA_NO_PIN");
}

/// One case, in a child process that `host_code_against_a_fake_driver` starts.
#[test]
#[ignore = "run by host_code_against_a_fake_driver, with the fake driver loaded"]
fn fake_driver_child() {
    let Ok(case) = std::env::var("VC6_FAKE_CASE") else {
        return;
    };
    let cache = PathBuf::from(std::env::var("VC6_FAKE_CACHE").unwrap());
    let h100 = CudaConfig {
        device: Some("h100".into()),
        binary_cache: Some(cache.clone()),
        batch_memory: None,
        lanes: None,
        pinned: None,
    };
    let err = |config: &CudaConfig| CudaBackend::new(config).unwrap_err().to_string();
    match case.as_str() {
        "no-device" => {
            for e in [
                CudaBackend::probe(&CudaConfig::default())
                    .unwrap_err()
                    .to_string(),
                err(&CudaConfig::default()),
            ] {
                assert_eq!(e, "device error: the NVIDIA driver lists no CUDA device");
            }
        }
        "no-context" => {
            let a100 = CudaBackend::probe(&CudaConfig::default()).unwrap();
            assert_eq!(
                (a100.ordinal, a100.name.as_str(), a100.arch()),
                (0, "Fake A100-SXM4-40GB", "sm_80".to_string())
            );
            assert_eq!(a100.driver(), "12.4");
            assert_eq!(CudaBackend::probe(&h100).unwrap().arch(), "sm_90");
            let one = CudaConfig {
                device: Some("1".into()),
                ..CudaConfig::default()
            };
            assert_eq!(CudaBackend::probe(&one).unwrap().ordinal, 1);
            let five = CudaConfig {
                device: Some("5".into()),
                ..CudaConfig::default()
            };
            let e = CudaBackend::probe(&five).unwrap_err().to_string();
            assert!(e.contains("there is no device 5"), "{e}");
            let e = err(&CudaConfig::default());
            assert!(
                e.contains("cuDevicePrimaryCtxRetain")
                    && e.contains("CUDA_ERROR_OUT_OF_MEMORY (out of memory)"),
                "{e}"
            );
        }
        "missing-symbol" => {
            // cudarc panics on a symbol it cannot find; the backend turns that into an error.
            let e = CudaBackend::probe(&CudaConfig::default())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("could not be used") && e.contains("cuDriverGetVersion"),
                "{e}"
            );
        }
        "cache-hit" => {
            // A cached cubin is loaded as it is: no NVRTC needed.
            let info = CudaBackend::probe(&h100).unwrap();
            let entry = cache_path(&cache, &info);
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::write(
                &entry,
                b"\x7fELF a cubin, as far as the fake driver can tell",
            )
            .unwrap();
            let backend = CudaBackend::new(&h100).unwrap();
            assert_eq!(backend.module_origin(), ModuleOrigin::Cache);
            assert_eq!(backend.info(), &info);
            assert_eq!(backend.name(), "cuda");
            assert!(backend
                .device()
                .starts_with("Fake H100 80GB HBM3 (device 1, sm_90"));
            assert_refuses_to_decode(&backend);
        }
        "cache-rejected" => {
            // An entry the driver rejects is rebuilt with NVRTC and replaced.
            let info = CudaBackend::probe(&h100).unwrap();
            let entry = cache_path(&cache, &info);
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::write(&entry, b"damaged").unwrap();
            if nvrtc_present() {
                let backend = CudaBackend::new(&h100).unwrap();
                assert_eq!(backend.module_origin(), ModuleOrigin::Source);
                let cubin = std::fs::read(&entry).unwrap();
                assert!(cubin.starts_with(b"\x7fELF") && cubin.len() > 10_000);
                assert_refuses_to_decode(&backend);
            } else {
                let e = err(&h100);
                assert!(e.contains("nvidia-cuda-nvrtc-cu12"), "{e}");
                assert_eq!(std::fs::read(&entry).unwrap(), b"damaged");
                eprintln!("note: no NVRTC here: the rebuild itself was not checked");
            }
        }
        "untested-decode" => {
            // The gate is open, so the decode runs until the stand-in driver lacks a call
            // (cuStreamCreate): every job gets a device error naming it, and nothing
            // panics out of the backend.
            assert_eq!(std::env::var("VC6_CUDA_UNTESTED").as_deref(), Ok("1"));
            let info = CudaBackend::probe(&h100).unwrap();
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::write(
                cache_path(&cache, &info),
                b"\x7fELF a cubin, as far as the fake driver can tell",
            )
            .unwrap();
            let backend = CudaBackend::new(&h100).unwrap();
            let (stream, plan, layout) = stream();
            let (mut a, mut b) = (vec![0u8; layout.len], vec![0u8; layout.len]);
            fn job<'a>(
                plan: &'a Plan,
                stream: &'a [u8],
                layout: &'a OutputLayout,
                out: &'a mut [u8],
            ) -> DecodeJob<'a> {
                DecodeJob {
                    plan,
                    stream,
                    layout,
                    out,
                }
            }
            let e = backend
                .decode(job(&plan, &stream, &layout, &mut a))
                .unwrap_err();
            let results = backend.decode_batch(vec![
                job(&plan, &stream, &layout, &mut a),
                job(&plan, &stream, &layout, &mut b),
            ]);
            assert_eq!(results.len(), 2);
            for e in std::iter::once(e).chain(results.into_iter().map(Result::unwrap_err)) {
                let m = e.to_string();
                assert!(matches!(e, Error::Device(_)), "{m}");
                assert!(
                    m.contains("CUDA stream creation (cuStreamCreate) failed")
                        && m.contains("CUDA_ERROR_NOT_SUPPORTED"),
                    "{m}"
                );
            }
        }
        "device-decode" => {
            // A batch memory that is not a size is named at start-up, not ignored.
            std::env::set_var("VC6_CUDA_BATCH_MEMORY", "lots");
            let e = CudaConfig::try_from_env().unwrap_err().to_string();
            assert!(
                e.contains("VC6_CUDA_BATCH_MEMORY='lots' is not a size"),
                "{e}"
            );
            assert_eq!(CudaConfig::from_env().batch_memory, None);
            let e = CudaBackend::shared().unwrap_err().to_string();
            assert!(e.contains("VC6_CUDA_BATCH_MEMORY"), "{e}");
            std::env::set_var("VC6_CUDA_BATCH_MEMORY", "3M");
            assert_eq!(
                CudaConfig::try_from_env().unwrap().batch_memory,
                Some(3 << 20)
            );
            std::env::remove_var("VC6_CUDA_BATCH_MEMORY");
            for bad in ["0", "9", "two"] {
                std::env::set_var("VC6_CUDA_LANES", bad);
                let e = CudaConfig::try_from_env().unwrap_err().to_string();
                assert!(
                    e.contains(&format!("VC6_CUDA_LANES='{bad}' is not a number")),
                    "{e}"
                );
            }
            std::env::set_var("VC6_CUDA_LANES", "2");
            assert_eq!(CudaConfig::try_from_env().unwrap().lanes, Some(2));
            std::env::remove_var("VC6_CUDA_LANES");
            std::env::set_var("VC6_CUDA_PINNED", "no");
            let e = CudaConfig::try_from_env().unwrap_err().to_string();
            assert!(e.contains("VC6_CUDA_PINNED='no' is neither 0 nor 1"), "{e}");
            std::env::set_var("VC6_CUDA_PINNED", "0");
            assert_eq!(CudaConfig::try_from_env().unwrap().pinned, Some(false));
            std::env::remove_var("VC6_CUDA_PINNED");
            device_decode(&h100, &cache);
            pipelined_decode(&h100, &cache);
        }
        "device-decode-gated" => {
            let backend = fake_backend(&h100, &cache);
            let (stream, plan, layout) = stream();
            let e = backend
                .decode_to_device(&plan, &stream, &layout)
                .unwrap_err();
            assert!(
                matches!(&e, Error::Unsupported(m) if m == DECODE_UNTESTED),
                "{e:?}"
            );
        }
        "shared-on" => {
            // One backend per device for the process: a hint naming the environment's
            // device gives the shared backend, two hints naming one device the same one.
            std::fs::create_dir_all(&cache).unwrap();
            for hint in ["0", "1"] {
                let config = CudaConfig {
                    device: Some(hint.into()),
                    ..CudaConfig::default()
                };
                let info = CudaBackend::probe(&config).unwrap();
                std::fs::write(cache_path(&cache, &info), b"\x7fELF a cubin").unwrap();
            }
            std::env::set_var("CUDA_BIN_LOC", &cache);
            let h100 = CudaBackend::shared_on(Some("h100")).unwrap();
            assert_eq!(h100.info().ordinal, 1);
            assert!(std::sync::Arc::ptr_eq(
                &h100,
                &CudaBackend::shared_on(Some("1")).unwrap()
            ));
            let default = CudaBackend::shared_on(None).unwrap();
            assert_eq!(default.info().ordinal, 0);
            assert!(std::sync::Arc::ptr_eq(
                &default,
                &CudaBackend::shared().unwrap()
            ));
            assert!(std::sync::Arc::ptr_eq(
                &default,
                &CudaBackend::shared_on(Some("A100")).unwrap()
            ));
            let e = CudaBackend::shared_on(Some("5")).unwrap_err().to_string();
            assert!(e.contains("there is no device 5"), "{e}");
        }
        other => panic!("unknown case {other}"),
    }
}
