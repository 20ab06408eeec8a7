//! Run-time choice among the backends compiled into this build.

use std::sync::Arc;
use vc6_core::{CpuBackend, Error, Result};

/// Which implementation runs the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// The best compiled-in backend that works on this machine: a GPU when one is
    /// compiled in and present, else the CPU.
    #[default]
    Auto,
    /// The CPU reference, always available.
    Cpu,
    /// OpenCL (feature `opencl`): any OpenCL 1.2 device, chosen by `OCL_DEVICE`.
    OpenCl,
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
    pub const ALL: [Backend; 2] = [Backend::Cpu, Backend::OpenCl];

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
                device: backend
                    .instantiate(0)
                    .map(|b| b.device())
                    .map_err(|e| e.to_string()),
            })
            .collect()
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Auto | Backend::Cpu => true,
            Backend::OpenCl => cfg!(feature = "opencl"),
        }
    }

    /// The backend `Auto` resolves to here: OpenCL when it runs on a GPU, else the CPU.
    pub fn resolve(self) -> Backend {
        match self {
            Backend::Auto => {
                // Only the device type is probed here: the kernels are built on first use.
                #[cfg(feature = "opencl")]
                if vc6_opencl::OpenClBackend::probe(&vc6_opencl::OpenClConfig::from_env())
                    .is_ok_and(|d| d.is_gpu)
                {
                    return Backend::OpenCl;
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
        }
    }

    /// The backend object for decoding on `threads` CPU threads (CPU backend only).
    pub(crate) fn instantiate(self, threads: usize) -> Result<Arc<dyn vc6_core::Backend>> {
        match self.resolve() {
            Backend::Cpu => Ok(Arc::new(CpuBackend::new(threads))),
            Backend::OpenCl => opencl(),
            Backend::Auto => unreachable!("resolve never returns Auto"),
        }
    }
}

#[cfg(feature = "opencl")]
fn opencl() -> Result<Arc<dyn vc6_core::Backend>> {
    Ok(vc6_opencl::OpenClBackend::shared()?)
}

#[cfg(not(feature = "opencl"))]
fn opencl() -> Result<Arc<dyn vc6_core::Backend>> {
    Err(Error::Unsupported(
        "the OpenCL backend is not compiled into this build (the `opencl` feature of the vc6 crate; the vc6 command has it by default)"
            .into(),
    ))
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
            other => Err(Error::Unsupported(format!(
                "unknown backend '{other}' (known: auto, cpu, opencl)"
            ))),
        }
    }
}
