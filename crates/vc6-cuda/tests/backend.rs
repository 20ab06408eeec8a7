//! The CUDA backend's groundwork, checked on any machine: without a driver (CI, the dev
//! machines) it must say so in one clear error; with one, it opens and, unless
//! `VC6_CUDA_UNTESTED=1` is set, refuses to decode with `Unsupported` naming that
//! variable (that branch has never run: no GPU has run these tests yet). The
//! kernel source must be the dialect header plus the shared body, with no OpenCL left in
//! the body; where NVRTC is loadable, it must compile for sm_80 and sm_90. On a GPU with
//! the gate open, the device outputs (a frame, the caller's memory) must equal the CPU.

mod common;

use common::{assert_caller_memory_gets, assert_refuses_to_decode, cpu_decode, stream};
use vc6_core::{Backend, Error};
use vc6_cuda::{
    compile, driver_present, nvrtc_present, untested_decode_enabled, CudaBackend, CudaConfig,
    DeviceInfo, Output, DECODE_UNTESTED, KERNEL_NAMES, KERNEL_SOURCE, NO_DRIVER,
};

const BODY: &str = include_str!("../kernels/decode_body.h");
const CUDA_DIALECT: &str = include_str!("../kernels/dialect.cuh");

/// The OpenCL dialect, from the repository (a packaged crate has none).
fn opencl_dialect() -> Option<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders/opencl/dialect.h");
    std::fs::read_to_string(path).ok()
}

#[test]
fn without_a_driver_start_up_says_so_and_with_one_decode_is_unsupported() {
    let config = CudaConfig::default();
    if !driver_present() {
        for e in [
            CudaBackend::new(&config).unwrap_err(),
            CudaBackend::shared().unwrap_err(),
            CudaBackend::shared().unwrap_err(),
            CudaBackend::probe(&config).unwrap_err(),
        ] {
            assert!(matches!(&e, Error::Device(m) if m == NO_DRIVER), "{e:?}");
            assert_eq!(
                e.to_string(),
                "device error: no NVIDIA driver found (libcuda.so.1 could not be loaded)"
            );
        }
        eprintln!("note: no NVIDIA driver here: the with-driver branch of this test did not run");
        return;
    }
    // With a driver (never run yet): the backend opens (or says why not, e.g. no NVRTC)
    // and, without VC6_CUDA_UNTESTED=1, every decode is Unsupported (with it, the shared
    // suite of the vc6 crate checks the decode).
    let info = CudaBackend::probe(&config);
    eprintln!("CUDA device: {info:?}");
    let backend = match CudaBackend::new(&config) {
        Ok(b) => b,
        Err(e) => {
            let m = e.to_string();
            assert!(
                matches!(e, Error::Device(_)) && !m.contains("panicked"),
                "start-up errors are device errors: {m}"
            );
            if !nvrtc_present() {
                assert!(m.contains("nvidia-cuda-nvrtc-cu12"), "{m}");
            }
            eprintln!("note: the CUDA backend cannot start here: {m}");
            return;
        }
    };
    assert_eq!(backend.name(), "cuda");
    assert_eq!(backend.device(), info.unwrap().to_string());
    if untested_decode_enabled() {
        eprintln!(
            "note: VC6_CUDA_UNTESTED=1: the gate is open; vc6's backends suite checks the decode"
        );
        return;
    }
    assert_refuses_to_decode(&backend);
}

#[test]
fn device_info_reads_well() {
    let info = DeviceInfo {
        ordinal: 1,
        name: "NVIDIA H100 80GB HBM3".into(),
        compute_capability: (9, 0),
        multiprocessors: 132,
        global_mem: 80 << 30,
        driver_version: 12040,
    };
    assert_eq!(info.arch(), "sm_90");
    assert_eq!(info.driver(), "12.4");
    assert_eq!(
        info.to_string(),
        "NVIDIA H100 80GB HBM3 (device 1, sm_90, 132 SMs, 81920 MiB, CUDA driver 12.4)"
    );
}

/// The body without its `//` comments.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names a dialect header `#define`s.
fn defines(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .map(|l| {
            l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|n| n != "INT_MAX" && n != "INT_MIN")
        .collect();
    names.sort();
    names
}

#[test]
fn kernel_source_is_the_dialect_then_the_shared_body() {
    assert_eq!(KERNEL_SOURCE, format!("{CUDA_DIALECT}{BODY}"));
    // Both dialects define the same words, and the body defines none of them.
    let words = defines(CUDA_DIALECT);
    match opencl_dialect() {
        Some(opencl) => assert_eq!(words, defines(&opencl)),
        None => eprintln!("note: no shaders/opencl/dialect.h here (a packaged crate)"),
    }
    for w in [
        "KERNEL",
        "KERNEL_GROUP",
        "FUNC",
        "GLOBAL",
        "LOCAL",
        "GROUP_SHARED",
        "LOCAL_ID_X",
        "GROUP_ID_X",
        "GLOBAL_ID_X",
        "GLOBAL_ID_Y",
        "BARRIER_GLOBAL",
        "BARRIER_ALL",
        "POPCOUNT",
        "CLZ",
        "UABS",
        "MAKE_INT4",
    ] {
        assert!(
            words.iter().any(|d| d == w),
            "{w} missing from the dialects"
        );
        assert!(
            !BODY.contains(&format!("#define {w}")),
            "the body redefines {w}"
        );
    }
    // No OpenCL C (nor CUDA) left in the body's code: it goes through the dialect words.
    let body = code(BODY);
    for word in [
        "get_local_id",
        "get_group_id",
        "get_global_id",
        "barrier(",
        "CLK_",
        "popcount(",
        "clz(",
        "abs(",
        "long ",
        ".wzyx",
        "(int4)(",
        "global ",
        "local ",
        "kernel ",
        "inline ",
        "__global__",
        "__shared__",
        "__syncthreads",
        "threadIdx",
        "blockIdx",
    ] {
        assert!(!body.contains(word), "the body's code uses `{word}`");
    }
    for name in KERNEL_NAMES {
        assert!(
            body.contains(&format!("void {name}(")),
            "kernel {name} missing"
        );
    }
    // Each kernel's comment names its CPU twin in vc6-core.
    for twin in [
        "CPU twin: SectionData::decode_band",
        "CPU twin: pyramid::med_reconstruct",
        "CPU twin:\n// pyramid::predict_reconstruct",
        "CPU twin: Reconstruction::write_layout",
        "(CPU twin: Reconstruction::write_layout with colour::inverse)",
    ] {
        assert!(BODY.contains(twin), "{twin}");
    }
}

#[test]
fn nvrtc_compiles_the_kernels_where_it_is_present() {
    if !nvrtc_present() {
        let e = compile("compute_80", Output::Ptx).unwrap_err().to_string();
        assert!(
            e.contains("nvidia-cuda-nvrtc-cu12") && e.contains("LD_LIBRARY_PATH"),
            "{e}"
        );
        eprintln!(
            "note: NVRTC is not loadable here, so the kernels were not compiled by this test \
             (cargo xtask test compiles them with the PyPI wheel)"
        );
        return;
    }
    for (virt, real) in [("compute_80", "sm_80"), ("compute_90", "sm_90")] {
        let ptx = String::from_utf8(compile(virt, Output::Ptx).unwrap()).unwrap();
        for name in KERNEL_NAMES {
            assert!(
                ptx.contains(&format!(".visible .entry {name}(")),
                "{virt}: {name} missing"
            );
        }
        assert!(
            ptx.contains(".maxntid 32, 1, 1"),
            "decode_tiles' launch bounds"
        );
        let cubin = compile(real, Output::Cubin).unwrap();
        assert_eq!(&cubin[..4], b"\x7fELF", "{real}: a cubin is an ELF file");
    }
    // A compile error carries NVRTC's own message.
    let e = compile("sm_1", Output::Cubin).unwrap_err().to_string();
    assert!(e.contains("NVRTC could not compile"), "{e}");
}

#[test]
fn the_untested_decode_is_refused_with_a_message_naming_the_variable() {
    assert!(DECODE_UNTESTED.contains("VC6_CUDA_UNTESTED=1"));
    assert!(DECODE_UNTESTED.contains("never run on a GPU"));
    assert!(DECODE_UNTESTED.contains("cargo test -p vc6 --features cuda --test backends"));
    assert!(DECODE_UNTESTED.contains("VC6_REQUIRE_BACKENDS=cuda"));
    assert_eq!(vc6_cuda::UNTESTED_VAR, "VC6_CUDA_UNTESTED");
    assert_eq!(
        untested_decode_enabled(),
        std::env::var("VC6_CUDA_UNTESTED").is_ok_and(|v| v.trim() == "1")
    );
}

/// On a GPU with the gate open (never run yet): the device outputs equal the CPU's
/// decode, and `decode_into_device_ptr` writes the caller's memory up to the layout's
/// length and not a byte beyond. Elsewhere it says why it did not run.
#[test]
fn device_outputs_equal_the_cpu_where_a_gpu_runs_them() {
    if !driver_present() || !untested_decode_enabled() {
        eprintln!("note: no NVIDIA driver, or VC6_CUDA_UNTESTED unset: device outputs not run");
        return;
    }
    let backend = match CudaBackend::new(&CudaConfig::default()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("note: the CUDA backend cannot start here: {e}");
            return;
        }
    };
    let (stream, plan, layout) = stream();
    let want = cpu_decode((&stream, &plan, &layout));
    let frame = backend.decode_to_device(&plan, &stream, &layout).unwrap();
    assert_eq!(frame.to_host().unwrap(), want);

    assert_caller_memory_gets(&backend, (&stream, &plan, &layout), &want);
}
