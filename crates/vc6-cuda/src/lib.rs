//! # vc6-cuda
//!
//! The CUDA backend of vc6-rs: it finds the NVIDIA driver and a device, creates a
//! context, compiles the decode kernels with NVRTC (or loads them from a cache) and
//! implements [`vc6_core::Backend`] with a device decode that mirrors the OpenCL
//! backend's: the same host layout ([`vc6_core::gpu`]: decode tables, plane descriptors,
//! tile, MED and reconstruct jobs, the frames of a batch merged wave by wave), uploaded
//! with cudarc, then per wave one `decode_tiles` launch (one block of 32 per tile), one
//! `med_tiles` and one `reconstruct`, then `pack_plane`/`pack_ycocg` per frame, and the
//! error bytes and packed frames copied back.
//!
//! A batch is the fast path: its frames go through one sequence of launches, in chunks
//! pipelined over three streams, each with page-locked (pinned) host buffers, so that one
//! chunk's copies overlap another's kernels and the host lays out the next chunk
//! meanwhile. Device buffers come from a memory pool of the backend's own and the pinned
//! buffers are kept, both within bounds, for the next batch (see `run`).
//!
//! **The device decode is written but has never run on a GPU**, so it is gated:
//! unless `VC6_CUDA_UNTESTED=1` is set, [`CudaBackend`]'s `decode` and `decode_batch`
//! return `Error::Unsupported(`[`DECODE_UNTESTED`]`)`, and the `vc6` facade's
//! `Backend::Auto` takes it only with the variable set.
//!
//! **Nothing in this crate has run on a GPU.** What has run, on machines without one: the
//! missing-driver path; the host code with a driver present, against a stand-in
//! `libcuda.so.1` (`tests/fake_driver.rs`) that answers with made-up devices, keeps
//! "device" memory in host memory, checks every copy, set and free against its live
//! allocations, logs events, stream waits and launches, and with `FAKE_CUDA_RUN=1` runs
//! each launch's kernel on the CPU (the shared kernel bodies in the host C dialect,
//! `shaders/host/dialect.h`). Against it the whole host side of a decode runs to the end,
//! and the shared backend suite and conformance pass on this backend with the CPU's bytes
//! (`cargo xtask test`): device list and choice, driver
//! errors, context and module calls, the cache's hit and rebuild, the decode gate,
//! buffers sized and copied, every kernel launched with its shape, the output copied
//! back or kept as a [`DeviceFrame`] (its ready event, the consumer stream's wait, the
//! free ordered after the consumer), a caller's pointer and stream, and NVRTC compiling
//! [`KERNEL_SOURCE`] to PTX and cubins for sm_80 and sm_90, the PTX checked by ptxas
//! (`cargo xtask test`, with NVRTC and ptxas from PyPI wheels). No real driver has created
//! a context, loaded these cubins, or run a kernel, so whether the kernels decode, and
//! bit-exactly, is unknown. The first thing to run on a GPU:
//! `VC6_CUDA_UNTESTED=1 VC6_REQUIRE_BACKENDS=cuda cargo test -p vc6 --features cuda --test backends`.
//!
//! ## Device output
//!
//! [`CudaBackend::decode_to_device`] and [`CudaBackend::decode_batch_to_device`] leave
//! each frame in a device buffer of its own ([`DeviceFrame`]: address, size, row pitch,
//! layout and sample type, the stream it was decoded on and an event marking it ready).
//! A frame gives its address only to a stream that it has made wait for that event
//! ([`DeviceFrame::device_ptr_on`]), or after the host waited
//! ([`DeviceFrame::device_ptr_synchronized`]), and frees its memory after the work those
//! streams had queued. [`CudaBackend::decode_into_device_ptr`] writes into the caller's
//! device memory, ordered on the caller's stream. Every decode returns once the device
//! is done with it (the tiles' error bytes are read back, so a damaged stream fails in
//! the call that decoded it).
//!
//! The kernels are the OpenCL backend's, written once (`shaders/common/decode_body.h`)
//! and compiled as CUDA C++ through a dialect header (`shaders/cuda/dialect.cuh`).
//!
//! The driver (`libcuda.so.1`) and NVRTC (`libnvrtc.so.12`) are loaded at run time, so
//! this crate builds and links where no CUDA is installed; [`CudaBackend::new`] then
//! reports that no driver was found.
//!
//! ## Environment
//!
//! - `CUDA_VISIBLE_DEVICES`: the driver's own; the devices it hides are not listed.
//! - `VC6_CUDA_DEVICE`: which of the visible devices to use: an index (`1`) or text the
//!   device's name contains (case-insensitive, e.g. `h100`). Unset: device 0.
//! - `CUDA_BIN_LOC`: a folder that caches compiled kernels (cubins), keyed by device
//!   architecture, driver version and a hash of the kernel source; a cubin the driver
//!   rejects is rebuilt and replaced. With a cache hit NVRTC is not needed at all.
//! - `VC6_CUDA_BATCH_MEMORY`: device memory a batch may hold at once (`512M`, `2G`;
//!   default a quarter of the device's memory, between 256 MiB and 8 GiB); bigger
//!   batches run in more chunks. A value that is not a size fails at start-up.
//! - `VC6_CUDA_LANES`: streams a batch runs on at once (1 to 8, default 3); unmeasured,
//!   there to be compared on a GPU without a rebuild.
//! - `VC6_CUDA_PINNED=0`: copy through ordinary rather than pinned host memory (to
//!   measure what pinning gains; default 1).
//! - `VC6_CUDA_UNTESTED=1`: run the device decode, which has never run on a GPU (unset:
//!   decodes are refused with [`DECODE_UNTESTED`]).
//! - `VC6_CUDA_TRACE=1`: print the time of every chunk of a batch to stderr.
//! - NVRTC comes from the CUDA toolkit, or from the PyPI wheel `nvidia-cuda-nvrtc-cu12`
//!   with its `nvidia/cuda_nvrtc/lib` folder on `LD_LIBRARY_PATH`.
#![deny(unsafe_code)]

mod cache;
mod compile;
mod device;
mod driver;
mod frame;
mod pool;
mod run;

pub use cache::{cache_path, ModuleOrigin};
pub use compile::{compile, nvrtc_present, nvrtc_version, Output, BUILD_OPTIONS};
pub use cudarc;
pub use driver::{driver_present, NO_DRIVER};
pub use frame::DeviceFrame;

use cudarc::driver::{CudaContext, CudaModule};
use cudarc::nvrtc::Ptx;
use driver::{cu_err, guard};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use vc6_core::{DecodeJob, Error, Result};

/// The kernels as CUDA C++: the CUDA dialect header, then the kernel bodies the OpenCL
/// backend shares. `kernels/dialect.cuh` and `kernels/decode_body.h` are links to the
/// repository's `shaders/cuda/dialect.cuh` and `shaders/common/decode_body.h`; `cargo
/// package` stores the files themselves.
pub const KERNEL_SOURCE: &str = concat!(
    include_str!("../kernels/dialect.cuh"),
    include_str!("../kernels/decode_body.h")
);

/// The kernels of [`KERNEL_SOURCE`] (`extern "C"`, so these are their symbol names).
pub const KERNEL_NAMES: [&str; 5] = [
    "decode_tiles",
    "med_tiles",
    "reconstruct",
    "pack_plane",
    "pack_ycocg",
];

/// The environment variable that lets the device decode run although it has never run
/// on a GPU ([`untested_decode_enabled`]).
pub const UNTESTED_VAR: &str = "VC6_CUDA_UNTESTED";

/// What `decode` and `decode_batch` return unless `VC6_CUDA_UNTESTED=1` is set.
pub const DECODE_UNTESTED: &str = "the CUDA device decode has never run on a GPU; set VC6_CUDA_UNTESTED=1 to try it (and please run `cargo test -p vc6 --features cuda --test backends` with VC6_REQUIRE_BACKENDS=cuda)";

/// Whether `VC6_CUDA_UNTESTED=1` is set, which lets [`CudaBackend`] run its device
/// decode (never run on a GPU). Read on every call.
pub fn untested_decode_enabled() -> bool {
    std::env::var(UNTESTED_VAR).is_ok_and(|v| v.trim() == "1")
}

/// How to pick the device and where to cache compiled kernels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CudaConfig {
    /// An index among the visible devices, or text the device's name contains
    /// (case-insensitive); `None`: device 0.
    pub device: Option<String>,
    /// Folder caching compiled kernels; `None`: always compile with NVRTC.
    pub binary_cache: Option<PathBuf>,
    /// Device memory a batch may hold at once, in bytes; `None`: a quarter of the
    /// device's memory, between 256 MiB and 8 GiB. Bigger batches run in chunks.
    pub batch_memory: Option<u64>,
    /// Streams a batch runs on at once, 1 to 8; `None`: 3.
    pub lanes: Option<usize>,
    /// Whether batches copy through pinned host memory; `None`: yes.
    pub pinned: Option<bool>,
}

impl CudaConfig {
    /// The configuration from `VC6_CUDA_DEVICE`, `CUDA_BIN_LOC` and
    /// `VC6_CUDA_BATCH_MEMORY` (unset or empty: default; a batch memory that is not a
    /// size is left at the default here: [`CudaConfig::try_from_env`] reports it).
    pub fn from_env() -> CudaConfig {
        Self::read_env().0
    }

    /// As [`CudaConfig::from_env`], with an error naming `VC6_CUDA_BATCH_MEMORY` when it
    /// is set to something that is not a size (`512M`, `2G`, `1073741824`), or
    /// `VC6_CUDA_LANES` when it is not a number from 1 to 8, or `VC6_CUDA_PINNED` when it
    /// is not 0 or 1.
    pub fn try_from_env() -> Result<CudaConfig> {
        match Self::read_env() {
            (_, Some(bad)) => Err(Error::Parameter(bad)),
            (config, None) => Ok(config),
        }
    }

    /// The configuration, and what is wrong with a variable that does not parse.
    fn read_env() -> (CudaConfig, Option<String>) {
        let var = |k| {
            std::env::var(k)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        let memory = var("VC6_CUDA_BATCH_MEMORY");
        let batch_memory = memory.as_deref().and_then(parse_size);
        let lanes_text = var("VC6_CUDA_LANES");
        let lanes = lanes_text
            .as_deref()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .filter(|n| (1..=run::MAX_LANES).contains(n));
        let pinned_text = var("VC6_CUDA_PINNED");
        let pinned = pinned_text.as_deref().and_then(|t| match t.trim() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        });
        let bad = match (&memory, &lanes_text, &pinned_text) {
            (Some(m), _, _) if batch_memory.is_none() => Some(format!(
                "VC6_CUDA_BATCH_MEMORY='{m}' is not a size (bytes, or with K, M or G: 512M, 2G)"
            )),
            (_, Some(l), _) if lanes.is_none() => Some(format!(
                "VC6_CUDA_LANES='{l}' is not a number of streams from 1 to {}",
                run::MAX_LANES
            )),
            (_, _, Some(p)) if pinned.is_none() => {
                Some(format!("VC6_CUDA_PINNED='{p}' is neither 0 nor 1"))
            }
            _ => None,
        };
        let config = CudaConfig {
            device: var("VC6_CUDA_DEVICE"),
            binary_cache: var("CUDA_BIN_LOC").map(PathBuf::from),
            batch_memory,
            lanes,
            pinned,
        };
        (config, bad)
    }
}

/// `text` as a number of bytes: digits, optionally followed by `K`, `M` or `G` (powers
/// of 1024; `KiB`, `MB` and the like read the same). Zero is not a size.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (n, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return None,
    };
    n.parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .and_then(|n| n.checked_mul(1 << shift))
}

/// Facts about a CUDA device, read from the driver without creating a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index among the visible devices (after `CUDA_VISIBLE_DEVICES`).
    pub ordinal: usize,
    /// Device name.
    pub name: String,
    /// Compute capability, `(major, minor)`.
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// Device memory, in bytes.
    pub global_mem: u64,
    /// The driver's CUDA version as `cuDriverGetVersion` gives it (12040 for 12.4).
    pub driver_version: u32,
}

impl DeviceInfo {
    /// The real architecture NVRTC compiles for, `sm_XY`.
    pub fn arch(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }

    /// The driver's CUDA version as `major.minor`.
    pub fn driver(&self) -> String {
        format!(
            "{}.{}",
            self.driver_version / 1000,
            self.driver_version % 1000 / 10
        )
    }
}

impl std::fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (device {}, {}, {} SMs, {} MiB, CUDA driver {})",
            self.name,
            self.ordinal,
            self.arch(),
            self.multiprocessors,
            self.global_mem >> 20,
            self.driver()
        )
    }
}

/// The CUDA backend: one device, its primary context and the compiled kernels. Its
/// device decode is written but gated behind `VC6_CUDA_UNTESTED=1` (see the crate docs).
/// Never run on a GPU.
pub struct CudaBackend {
    info: DeviceInfo,
    context: Arc<CudaContext>,
    module: Arc<CudaModule>,
    kernels: run::Kernels,
    pool: pool::DevicePool,
    stagings: run::staging::StagingPool,
    budget: u64,
    lanes: usize,
    origin: ModuleOrigin,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("info", &self.info)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl CudaBackend {
    /// Opens the device `config` picks (among those `CUDA_VISIBLE_DEVICES` leaves), creates
    /// its context and compiles (or loads from the cache) the kernels for its architecture.
    /// Without a driver: `Error::Device(`[`NO_DRIVER`]`)`, before cudarc is called at all.
    ///
    /// Never run on a GPU: only without a driver and against the stand-in driver of
    /// `tests/fake_driver.rs`.
    pub fn new(config: &CudaConfig) -> Result<CudaBackend> {
        let info = Self::probe(config)?;
        guard("start-up", || {
            let context = CudaContext::new(info.ordinal)
                .map_err(|e| cu_err("context creation (cuDevicePrimaryCtxRetain)", e))?;
            let (module, origin) = load_module(&context, &info, config)?;
            // Every kernel is looked up now, so that a missing one shows at start-up.
            let kernels = run::Kernels::load(&module)?;
            // Buffers freed by one batch serve the next; up to half the batch budget
            // stays reserved between batches.
            let budget = run::batch_budget(&info, config.batch_memory);
            let pool = pool::DevicePool::new(&context, info.ordinal, budget / 2)?;
            let lanes = config.lanes.unwrap_or(run::LANES).clamp(1, run::MAX_LANES);
            Ok(CudaBackend {
                info,
                context,
                module,
                kernels,
                pool,
                stagings: run::staging::StagingPool::new(lanes, config.pinned.unwrap_or(true)),
                budget,
                lanes,
                origin,
            })
        })
    }

    /// The process-wide backend from [`CudaConfig::try_from_env`], opened on first use
    /// and shared by every decoder. Never run on a GPU.
    pub fn shared() -> Result<Arc<CudaBackend>> {
        static SHARED: OnceLock<std::result::Result<Arc<CudaBackend>, Error>> = OnceLock::new();
        let open = || CudaBackend::new(&CudaConfig::try_from_env()?).map(Arc::new);
        match SHARED.get_or_init(open) {
            Ok(b) => Ok(b.clone()),
            Err(e) => Err(clone_err(e)),
        }
    }

    /// The backend on the device `hint` names (an index among the visible devices, or
    /// text its name contains), opened on first use and kept for the process, with the
    /// other settings from the environment; `None`: [`CudaBackend::shared`]. A hint that
    /// names the environment's own device gives that same backend. Never run on a GPU.
    pub fn shared_on(hint: Option<&str>) -> Result<Arc<CudaBackend>> {
        let Some(hint) = hint else {
            return Self::shared();
        };
        let mut config = CudaConfig::try_from_env()?;
        config.device = Some(hint.to_string());
        let ordinal = Self::probe(&config)?.ordinal;
        if Self::probe(&CudaConfig::from_env()).is_ok_and(|d| d.ordinal == ordinal) {
            return Self::shared();
        }
        static OPEN: std::sync::Mutex<Vec<Arc<CudaBackend>>> = std::sync::Mutex::new(Vec::new());
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = open.iter().find(|b| b.info.ordinal == ordinal) {
            return Ok(b.clone());
        }
        let b = Arc::new(CudaBackend::new(&config)?);
        open.push(b.clone());
        Ok(b)
    }

    /// The device [`CudaBackend::new`] would open with `config`, without creating a
    /// context or compiling (cheap: for `vc6 info --backends`). Without a driver:
    /// `Error::Device(`[`NO_DRIVER`]`)`. Never run on a GPU (only against the stand-in
    /// driver of `tests/fake_driver.rs`).
    pub fn probe(config: &CudaConfig) -> Result<DeviceInfo> {
        if !driver_present() {
            return Err(Error::Device(NO_DRIVER.into()));
        }
        let devices = driver::devices()?;
        let i = driver::pick(&devices, config.device.as_deref())?;
        Ok(devices[i].clone())
    }

    /// The chosen device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Device memory a batch may hold at once ([`CudaConfig::batch_memory`], or the
    /// default for this device).
    pub fn batch_memory(&self) -> u64 {
        self.budget
    }

    /// What a batch runs with.
    pub(crate) fn runner(&self) -> run::Runner<'_> {
        run::Runner {
            kernels: &self.kernels,
            pool: &self.pool,
            stagings: &self.stagings,
            budget: self.budget,
            lanes: self.lanes,
        }
    }

    /// Where the kernels came from: NVRTC or the cache.
    pub fn module_origin(&self) -> ModuleOrigin {
        self.origin
    }

    /// The CUDA context (the device's primary context).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.context
    }

    /// The loaded kernels ([`KERNEL_NAMES`]).
    pub fn module(&self) -> &Arc<CudaModule> {
        &self.module
    }
}

/// The kernels for `info`'s architecture: the cached cubin when `config` names a cache
/// that holds one the driver accepts, else NVRTC's (then cached). Never run on a GPU
/// (only against the stand-in driver of `tests/fake_driver.rs`).
fn load_module(
    context: &Arc<CudaContext>,
    info: &DeviceInfo,
    config: &CudaConfig,
) -> Result<(Arc<CudaModule>, ModuleOrigin)> {
    let path = config
        .binary_cache
        .as_deref()
        .map(|d| cache::cache_path(d, info));
    if let Some(cubin) = path.as_deref().and_then(cache::read) {
        // A cubin the driver rejects (a damaged file, another driver) is rebuilt below
        // and replaced.
        if let Ok(m) = context.load_module(Ptx::from_binary(cubin)) {
            return Ok((m, ModuleOrigin::Cache));
        }
    }
    let cubin = compile(&info.arch(), Output::Cubin)?;
    let module = context
        .load_module(Ptx::from_binary(cubin.clone()))
        .map_err(|e| cu_err("loading the compiled kernels (cuModuleLoadData)", e))?;
    if let Some(path) = &path {
        cache::write(path, &cubin)?;
    }
    Ok((module, ModuleOrigin::Source))
}

impl vc6_core::Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn device(&self) -> String {
        self.info.to_string()
    }

    /// One job, as [`decode_batch`](vc6_core::Backend::decode_batch) of one. Without
    /// `VC6_CUDA_UNTESTED=1`: `Error::Unsupported(`[`DECODE_UNTESTED`]`)`. **Never run on
    /// a GPU.**
    fn decode(&self, job: DecodeJob<'_>) -> Result<()> {
        self.decode_batch(vec![job])
            .pop()
            .expect("one result per job")
    }

    /// Decodes every job on the device, pipelined over up to three new streams in chunks
    /// within the batch memory, through pinned host buffers. Without `VC6_CUDA_UNTESTED=1`:
    /// `Error::Unsupported(`[`DECODE_UNTESTED`]`)` for each job. A panic of cudarc's (a
    /// driver symbol it cannot find) becomes `Error::Device` for each job. **Never run on
    /// a GPU.**
    fn decode_batch(&self, jobs: Vec<DecodeJob<'_>>) -> Vec<Result<()>> {
        let items: Vec<_> = jobs.iter().map(|j| (j.plan, j.stream, j.layout)).collect();
        let mut outs: Vec<&mut [u8]> = jobs.into_iter().map(|j| j.out).collect();
        self.run(&items, run::Dest::Host(&mut outs), None)
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect()
    }
}

/// A copy of `e` (the shared backend's start-up error, handed to every caller).
pub(crate) fn clone_err(e: &Error) -> Error {
    match e {
        Error::Format(m) => Error::Format(m.clone()),
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        Error::Parameter(m) => Error::Parameter(m.clone()),
        Error::LimitsExceeded(m) => Error::LimitsExceeded(m.clone()),
        Error::Device(m) => Error::Device(m.clone()),
        e => Error::Device(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn batch_memory_sizes_parse_and_nonsense_does_not() {
        assert_eq!(parse_size("1073741824"), Some(1 << 30));
        assert_eq!(parse_size(" 512M "), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("2 gib"), Some(2 << 30));
        assert_eq!(parse_size("64KB"), Some(64 << 10));
        for bad in ["", "0", "G", "1.5G", "-1", "12T", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
