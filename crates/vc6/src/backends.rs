//! Run-time choice among the backends compiled into this build.

use std::sync::Arc;
use vc6_core::{CpuBackend, Error, Result};

/// Which implementation runs the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// The best compiled-in backend that works on this machine: CUDA on an NVIDIA GPU
    /// (while its decode has not run on a GPU, only with `VC6_CUDA_UNTESTED=1`), then
    /// OpenCL on a GPU, then the CPU.
    #[default]
    Auto,
    /// The CPU reference, always available.
    Cpu,
    /// OpenCL (feature `opencl`): any OpenCL 1.2 device, chosen by `OCL_DEVICE`.
    OpenCl,
    /// CUDA (feature `cuda`): an NVIDIA GPU, chosen by `CUDA_VISIBLE_DEVICES` and
    /// `VC6_CUDA_DEVICE`. Its device decode is written but has never run on a GPU: unless
    /// `VC6_CUDA_UNTESTED=1` is set, decoding with it fails with [`Error::Unsupported`],
    /// [`Backend::status`] reports it as unable to run and `Auto` passes it by.
    Cuda,
}

/// What [`Backend::status`] found for one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    /// The backend.
    pub backend: Backend,
    /// Whether this build has it.
    pub compiled: bool,
    /// The device it would run on, or why it cannot run here.
    pub device: std::result::Result<String, String>,
}

impl Backend {
    /// Every concrete backend this crate knows, compiled in or not.
    pub const ALL: [Backend; 3] = [Backend::Cpu, Backend::OpenCl, Backend::Cuda];

    /// Backends compiled into this build that can run on this machine.
    pub fn available() -> Vec<Backend> {
        Self::status()
            .into_iter()
            .filter(|s| s.device.is_ok())
            .map(|s| s.backend)
            .collect()
    }

    /// Each known backend: compiled in or not, and its device or why it cannot run.
    pub fn status() -> Vec<BackendStatus> {
        Self::ALL
            .iter()
            .map(|&backend| BackendStatus {
                backend,
                compiled: backend.is_compiled(),
                device: match backend {
                    Backend::Cuda => cuda_status(),
                    b => b
                        .instantiate(0, None)
                        .map(|b| b.device())
                        .map_err(|e| e.to_string()),
                },
            })
            .collect()
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Auto | Backend::Cpu => true,
            Backend::OpenCl => cfg!(feature = "opencl"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backend `Auto` resolves to here: CUDA where it can run (a driver, a device,
    /// and while its decode has not run on a GPU, `VC6_CUDA_UNTESTED=1`), else OpenCL
    /// when it runs on a GPU, else the CPU.
    pub fn resolve(self) -> Backend {
        self.resolve_on(None)
    }

    /// As [`Backend::resolve`], with the GPU backends looking for the device `hint`
    /// names ([`DecoderSettings::device`](crate::DecoderSettings::device)).
    pub(crate) fn resolve_on(self, hint: Option<&str>) -> Backend {
        match self {
            Backend::Auto => {
                // `Auto` must give a backend that decodes: CUDA only where it can run.
                if cuda_runs(hint) {
                    return Backend::Cuda;
                }
                // Only the device type is probed here: the kernels are built on first use.
                #[cfg(feature = "opencl")]
                {
                    let mut config = vc6_opencl::OpenClConfig::from_env();
                    if let Some(h) = hint {
                        config.device = Some(h.to_string());
                    }
                    if vc6_opencl::OpenClBackend::probe(&config).is_ok_and(|d| d.is_gpu) {
                        return Backend::OpenCl;
                    }
                }
                Backend::Cpu
            }
            b => b,
        }
    }

    /// Lower-case name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Cpu => "cpu",
            Backend::OpenCl => "opencl",
            Backend::Cuda => "cuda",
        }
    }

    /// The backend object for decoding on `threads` CPU threads (CPU backend only), on
    /// the device `hint` names (GPU backends only; `None`: the environment's choice).
    pub(crate) fn instantiate(
        self,
        threads: usize,
        hint: Option<&str>,
    ) -> Result<Arc<dyn vc6_core::Backend>> {
        match self.resolve_on(hint) {
            Backend::Cpu => Ok(Arc::new(CpuBackend::new(threads))),
            Backend::OpenCl => opencl(hint),
            Backend::Cuda => cuda(hint),
            Backend::Auto => unreachable!("resolve never returns Auto"),
        }
    }
}

#[cfg(feature = "opencl")]
fn opencl(hint: Option<&str>) -> Result<Arc<dyn vc6_core::Backend>> {
    Ok(vc6_opencl::OpenClBackend::shared_on(hint)?)
}

#[cfg(not(feature = "opencl"))]
fn opencl(_: Option<&str>) -> Result<Arc<dyn vc6_core::Backend>> {
    Err(Error::Unsupported(
        "the OpenCL backend is not compiled into this build (the `opencl` feature of the vc6 crate; the vc6 command has it by default)"
            .into(),
    ))
}

#[cfg(feature = "cuda")]
fn cuda(hint: Option<&str>) -> Result<Arc<dyn vc6_core::Backend>> {
    Ok(vc6_cuda::CudaBackend::shared_on(hint)?)
}

#[cfg(not(feature = "cuda"))]
const CUDA_NOT_COMPILED: &str = "the CUDA backend is not compiled into this build (the `cuda` feature of the vc6 crate; the vc6 command has it by default)";

#[cfg(not(feature = "cuda"))]
fn cuda(_: Option<&str>) -> Result<Arc<dyn vc6_core::Backend>> {
    Err(Error::Unsupported(CUDA_NOT_COMPILED.into()))
}

/// Why CUDA cannot run here, for [`Backend::status`]: no driver (or no device), or, with
/// one, that its device decode has never run on a GPU and `VC6_CUDA_UNTESTED=1` is not
/// set; with the variable set, the device (so that `VC6_REQUIRE_BACKENDS=cuda` runs the
/// shared suite on it). Only probes the driver: no context, no kernel build. The
/// with-driver branches have never run on a GPU.
#[cfg(feature = "cuda")]
fn cuda_status() -> std::result::Result<String, String> {
    cuda_status_on(None)
}

/// [`cuda_status`] for the device `hint` names (`None`: the environment's).
#[cfg(feature = "cuda")]
fn cuda_status_on(hint: Option<&str>) -> std::result::Result<String, String> {
    let mut config = vc6_cuda::CudaConfig::from_env();
    if let Some(h) = hint {
        config.device = Some(h.to_string());
    }
    match vc6_cuda::CudaBackend::probe(&config) {
        Err(e) => Err(e.to_string()),
        Ok(device) if vc6_cuda::untested_decode_enabled() => Ok(device.to_string()),
        Ok(device) => Err(format!(
            "device decode never run on a GPU, off unless VC6_CUDA_UNTESTED=1 (the CUDA backend would run on {device})"
        )),
    }
}

/// Whether `Auto` takes CUDA: it can run here ([`cuda_status`]). The gate is read first,
/// so that without `VC6_CUDA_UNTESTED=1` no driver is loaded or initialised (cuInit is
/// slow, and the CLI's start-up counts).
#[cfg(feature = "cuda")]
fn cuda_runs(hint: Option<&str>) -> bool {
    vc6_cuda::untested_decode_enabled() && cuda_status_on(hint).is_ok()
}

#[cfg(not(feature = "cuda"))]
fn cuda_runs(_: Option<&str>) -> bool {
    false
}

#[cfg(not(feature = "cuda"))]
fn cuda_status() -> std::result::Result<String, String> {
    Err(Error::Unsupported(CUDA_NOT_COMPILED.into()).to_string())
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "cpu" => Ok(Backend::Cpu),
            "opencl" | "ocl" => Ok(Backend::OpenCl),
            "cuda" => Ok(Backend::Cuda),
            other => Err(Error::Unsupported(format!(
                "unknown backend '{other}' (known: auto, cpu, opencl, cuda)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_is_named_parsed_and_listed() {
        assert_eq!("cuda".parse::<Backend>().unwrap(), Backend::Cuda);
        assert_eq!("CUDA".parse::<Backend>().unwrap(), Backend::Cuda);
        assert_eq!(Backend::Cuda.name(), "cuda");
        assert_eq!(Backend::Cuda.to_string(), "cuda");
        assert_eq!(Backend::Cuda.is_compiled(), cfg!(feature = "cuda"));
        let e = "cudaa".parse::<Backend>().unwrap_err().to_string();
        assert!(e.contains("known: auto, cpu, opencl, cuda"), "{e}");
        assert!(Backend::ALL.contains(&Backend::Cuda));
    }

    /// CUDA's decode has never run on a GPU, so unless `VC6_CUDA_UNTESTED=1` opens it, it
    /// never counts as available and `Auto` passes it by; its status says why: no driver
    /// here, or (with one) the untested device decode. `Auto` takes CUDA exactly where it
    /// is available (`tests/auto_cuda.rs` checks both ways against a stand-in driver).
    #[test]
    fn cuda_never_runs_and_says_why() {
        assert_eq!(
            Backend::Auto.resolve() == Backend::Cuda,
            Backend::available().contains(&Backend::Cuda)
        );
        if std::env::var("VC6_CUDA_UNTESTED").is_ok_and(|v| v.trim() == "1") {
            eprintln!("note: VC6_CUDA_UNTESTED=1: CUDA may count as available here");
            return;
        }
        assert!(!Backend::available().contains(&Backend::Cuda));
        assert_ne!(Backend::Auto.resolve(), Backend::Cuda);
        let status = Backend::status();
        let cuda = status.iter().find(|s| s.backend == Backend::Cuda).unwrap();
        assert_eq!(cuda.compiled, cfg!(feature = "cuda"));
        let why = cuda.device.clone().unwrap_err();
        assert!(
            why.contains("no NVIDIA driver found")
                || why.contains("never run on a GPU")
                || why.contains("not compiled into this build")
                || why.contains("no CUDA device"),
            "{why}"
        );
        if !cfg!(feature = "cuda") {
            assert!(why.contains("not compiled into this build"), "{why}");
        }
    }
}
