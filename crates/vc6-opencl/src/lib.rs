//! # vc6-opencl
//!
//! The OpenCL backend of vc6-rs: the whole decode after header and tableau parsing runs
//! on an OpenCL 1.2 device (bitstream version 2: entropy decoding one tile per work-group
//! with its rANS lanes on the work items and contexts from the echelon below, the lowest
//! echelon's MED, upsample-and-add per echelon, the inverse colour transform and packing
//! into the output layout), bit-identical to the CPU reference in `vc6-core`. Contexts
//! make each section level wait for the one below, so a batch runs wave by wave.
//!
//! The bitstream-v2 kernels have run only on PoCL (a CPU OpenCL) so far, not on GPU
//! hardware: bit-exact there, their speed on a GPU is not measured.
//!
//! The OpenCL library is loaded at run time, so this crate builds and links on machines
//! without OpenCL; [`OpenClBackend::new`] then reports that no platform is present.
//!
//! ## Environment
//!
//! - `OCL_DEVICE`: use the first device whose name, vendor, platform name or platform
//!   vendor contains this string (case-insensitive), e.g. `nvidia`, `pocl`. Unset: the first GPU, else the
//!   first device.
//! - `OCL_BIN_LOC`: a folder that caches compiled program binaries, keyed by device name,
//!   driver version and a hash of the kernel source. A binary the driver rejects is
//!   rebuilt from source and replaced.
//! - `VC6_OPENCL_TRACE=1`: print the host (preparation and enqueue) and device time of
//!   every decode or batch to stderr.
//!
//! ## Memory types
//!
//! [`vc6_core::Backend::decode`] writes into host memory. [`OpenClBackend::decode_to_device`]
//! keeps the packed frame in a device buffer ([`DeviceFrame`]) for the caller's own
//! kernels, on the backend's [`context`](OpenClBackend::context).
#![deny(unsafe_code)]

mod cache;
mod run;

pub use cache::ProgramOrigin;
pub use opencl3;
pub use run::DeviceFrame;

use opencl3::context::Context;
use opencl3::device::{Device, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_GPU};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use run::Worker;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use vc6_core::{DecodeJob, Error, OutputLayout, Plan, Result};

/// The kernels, compiled for the chosen device at start-up: the OpenCL C dialect header,
/// then the kernel bodies that the CUDA backend shares (written once, in the C both
/// languages read alike). `kernels/dialect.h` and `kernels/decode_body.h` are links to the
/// repository's `shaders/opencl/dialect.h` and `shaders/common/decode_body.h`, where the
/// kernels are kept; `cargo package` stores the files themselves, so the published crate
/// carries them.
pub const KERNEL_SOURCE: &str = concat!(
    include_str!("../kernels/dialect.h"),
    include_str!("../kernels/decode_body.h")
);
const BUILD_OPTIONS: &str = "-cl-std=CL1.2";

/// How to pick the device and where to cache compiled kernels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenClConfig {
    /// Pick the first device whose name, vendor or platform contains this string
    /// (case-insensitive); `None`: the first GPU, else the first device.
    pub device: Option<String>,
    /// Folder caching compiled program binaries; `None`: always build from source.
    pub binary_cache: Option<PathBuf>,
    /// Device memory one batch may use at once, in bytes (`None`: from the device's
    /// memory; see [`DeviceInfo::batch_budget`]).
    pub batch_budget: Option<u64>,
}

impl OpenClConfig {
    /// The configuration from `OCL_DEVICE` and `OCL_BIN_LOC` (unset or empty: default).
    pub fn from_env() -> OpenClConfig {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        OpenClConfig {
            device: var("OCL_DEVICE"),
            binary_cache: var("OCL_BIN_LOC").map(PathBuf::from),
            batch_budget: None,
        }
    }
}

/// Facts about the chosen device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device name.
    pub name: String,
    /// Device vendor.
    pub vendor: String,
    /// Platform name.
    pub platform: String,
    /// Driver version.
    pub driver: String,
    /// Whether the device is a GPU.
    pub is_gpu: bool,
    /// Largest single allocation, in bytes.
    pub max_alloc: u64,
    /// Device memory, in bytes.
    pub global_mem: u64,
    /// Device memory a batch may hold at once: [`OpenClConfig::batch_budget`], else a
    /// quarter of the device's memory between 256 MiB and 8 GiB. Bigger batches run in
    /// chunks; decoded-buffer pools keep up to this much for the next decode.
    pub batch_budget: u64,
}

/// The OpenCL backend: one device, one context, the compiled kernels, and a pool of
/// command queues so that concurrent decodes run side by side.
pub struct OpenClBackend {
    info: DeviceInfo,
    device: Device,
    context: Context,
    program: Mutex<Program>,
    origin: ProgramOrigin,
    workers: Mutex<Vec<Worker>>,
}

impl std::fmt::Debug for OpenClBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenClBackend")
            .field("info", &self.info)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

pub(crate) fn cl_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Device(format!("OpenCL {what} failed: {e}"))
}

impl OpenClBackend {
    /// Opens the device `config` picks and compiles (or loads) the kernels.
    pub fn new(config: &OpenClConfig) -> Result<OpenClBackend> {
        let (device, mut info) = pick_device(config.device.as_deref())?;
        if let Some(b) = config.batch_budget {
            info.batch_budget = b;
        }
        if !device.endian_little().unwrap_or(true) {
            return Err(Error::Unsupported(format!(
                "OpenCL device '{}' is big-endian",
                info.name
            )));
        }
        let context = Context::from_device(&device).map_err(|e| cl_err("context creation", e))?;
        let (program, origin) = cache::build_program(&context, &info, config)?;
        let backend = OpenClBackend {
            info,
            device,
            context,
            program: Mutex::new(program),
            origin,
            workers: Mutex::default(),
        };
        // Create one worker now, so that kernel problems show at start-up.
        let w = backend.worker()?;
        backend.put_worker(w);
        Ok(backend)
    }

    /// The process-wide backend from [`OpenClConfig::from_env`], opened on first use and
    /// shared by every decoder (one context, kernels compiled once).
    pub fn shared() -> Result<Arc<OpenClBackend>> {
        static SHARED: OnceLock<std::result::Result<Arc<OpenClBackend>, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                OpenClBackend::new(&OpenClConfig::from_env())
                    .map(Arc::new)
                    .map_err(|e| match e {
                        Error::Device(m) => m,
                        e => e.to_string(),
                    })
            })
            .clone()
            .map_err(Error::Device)
    }

    /// The backend on the first device whose name, vendor or platform contains `hint`
    /// (case-insensitive), opened on first use and kept for the process, with the other
    /// settings from the environment; `None`: [`OpenClBackend::shared`]. A hint that
    /// names the environment's own device gives that same backend.
    pub fn shared_on(hint: Option<&str>) -> Result<Arc<OpenClBackend>> {
        let Some(hint) = hint else {
            return Self::shared();
        };
        let config = OpenClConfig {
            device: Some(hint.to_string()),
            ..OpenClConfig::from_env()
        };
        let key = |d: &DeviceInfo| (d.name.clone(), d.vendor.clone(), d.platform.clone());
        let wanted = key(&Self::probe(&config)?);
        if Self::probe(&OpenClConfig::from_env()).is_ok_and(|d| key(&d) == wanted) {
            return Self::shared();
        }
        type Open = std::sync::Mutex<Vec<Arc<OpenClBackend>>>;
        static OPEN: Open = std::sync::Mutex::new(Vec::new());
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = open.iter().find(|b| key(&b.info) == wanted) {
            return Ok(b.clone());
        }
        let b = Arc::new(OpenClBackend::new(&config)?);
        open.push(b.clone());
        Ok(b)
    }

    /// The device [`OpenClBackend::new`] would open with `config`, without creating a
    /// context or building kernels (cheap: for choosing a backend).
    pub fn probe(config: &OpenClConfig) -> Result<DeviceInfo> {
        pick_device(config.device.as_deref()).map(|(_, info)| info)
    }

    /// The chosen device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Whether the device is a GPU ([`vc6`'s `Auto` choice prefers those).
    pub fn is_gpu(&self) -> bool {
        self.info.is_gpu
    }

    /// Where the kernels came from: a source build or the binary cache.
    pub fn program_origin(&self) -> ProgramOrigin {
        self.origin
    }

    /// The OpenCL context that device frames live in.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The OpenCL device.
    pub fn device_handle(&self) -> &Device {
        &self.device
    }

    fn worker(&self) -> Result<Worker> {
        if let Some(w) = self.workers.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(w);
        }
        let program = self.program.lock().unwrap_or_else(|e| e.into_inner());
        Worker::new(&self.context, &program)
    }

    fn put_worker(&self, w: Worker) {
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(w);
    }

    /// Decodes into a new device buffer laid out as `layout` says, and keeps it there.
    /// The frame is complete when this returns.
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

    /// Decodes many streams into device buffers, submitting all of them before waiting
    /// once (the fast path for feeding a GPU pipeline). Results are in job order.
    pub fn decode_batch_to_device(
        &self,
        jobs: &[(&Plan, &[u8], &OutputLayout)],
    ) -> Vec<Result<DeviceFrame>> {
        let mut w = match self.worker() {
            Ok(w) => w,
            Err(e) => return jobs.iter().map(|_| Err(clone_err(&e))).collect(),
        };
        let results = w.decode_batch_to_device(&self.context, &self.info, jobs);
        self.put_worker(w);
        results
    }
}

impl vc6_core::Backend for OpenClBackend {
    fn name(&self) -> &'static str {
        "opencl"
    }

    fn device(&self) -> String {
        format!(
            "{} ({}, {}, driver {})",
            self.info.name, self.info.vendor, self.info.platform, self.info.driver
        )
    }

    fn decode(&self, job: DecodeJob<'_>) -> Result<()> {
        self.decode_batch(vec![job])
            .pop()
            .expect("one result per job")
    }

    fn decode_batch(&self, jobs: Vec<DecodeJob<'_>>) -> Vec<Result<()>> {
        let mut w = match self.worker() {
            Ok(w) => w,
            Err(e) => return jobs.iter().map(|_| Err(clone_err(&e))).collect(),
        };
        let results = w.decode_batch(&self.context, &self.info, jobs);
        self.put_worker(w);
        results
    }
}

pub(crate) fn clone_err(e: &Error) -> Error {
    match e {
        Error::Format(m) => Error::Format(m.clone()),
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        Error::Parameter(m) => Error::Parameter(m.clone()),
        Error::LimitsExceeded(m) => Error::LimitsExceeded(m.clone()),
        e => Error::Device(e.to_string()),
    }
}

fn pick_device(wanted: Option<&str>) -> Result<(Device, DeviceInfo)> {
    // Some ICDs (PoCL) race when two threads enumerate devices for the first time: one
    // sees none. Enumeration is rare and cheap, so it is serialised.
    static ENUMERATE: Mutex<()> = Mutex::new(());
    let _guard = ENUMERATE.lock().unwrap_or_else(|e| e.into_inner());
    let platforms = get_platforms().map_err(|e| {
        Error::Device(format!(
            "no OpenCL platform found ({e}): install an OpenCL driver and its ICD loader \
             (on Debian: pocl-opencl-icd and ocl-icd-libopencl1, or your GPU vendor's driver)"
        ))
    })?;
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for p in &platforms {
        let pname = p.name().unwrap_or_default();
        let pvendor = p.vendor().unwrap_or_default();
        let ids = match p.get_devices(CL_DEVICE_TYPE_ALL) {
            Ok(ids) => ids,
            Err(e) => {
                errors.push(format!("platform '{}': {e}", pname.trim()));
                continue;
            }
        };
        for id in ids {
            let d = Device::new(id);
            let info = DeviceInfo {
                name: d.name().unwrap_or_default().trim().to_string(),
                vendor: d.vendor().unwrap_or_default().trim().to_string(),
                platform: pname.trim().to_string(),
                driver: d.driver_version().unwrap_or_default().trim().to_string(),
                is_gpu: d.dev_type().is_ok_and(|t| t & CL_DEVICE_TYPE_GPU != 0),
                max_alloc: d.max_mem_alloc_size().unwrap_or(0),
                global_mem: d.global_mem_size().unwrap_or(0),
                batch_budget: (d.global_mem_size().unwrap_or(0) / 4).clamp(256 << 20, 8 << 30),
            };
            let keys = [&info.name, &info.vendor, &info.platform, &pvendor]
                .map(|k| k.to_lowercase())
                .join("\n");
            all.push((d, info, keys));
        }
    }
    if all.is_empty() {
        return Err(Error::Device(format!(
            "no OpenCL device found: {} platform(s) list no devices{}",
            platforms.len(),
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        )));
    }
    let pick = match wanted {
        Some(w) => {
            let w = w.to_lowercase();
            all.iter().position(|(_, _, keys)| keys.contains(&w))
        }
        None => all.iter().position(|(_, i, _)| i.is_gpu).or(Some(0)),
    };
    match pick {
        Some(i) => {
            let (d, info, _) = all.swap_remove(i);
            Ok((d, info))
        }
        None => Err(Error::Device(format!(
            "OCL_DEVICE='{}' matches no OpenCL device (found {})",
            wanted.unwrap_or_default(),
            all.iter()
                .map(|(_, i, _)| format!("'{}' ({})", i.name, i.platform))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
