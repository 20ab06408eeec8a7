//! The CUDA driver: whether it can be loaded, the devices it lists, and the one a
//! configuration picks.
//!
//! cudarc loads `libcuda` on its first call and panics when it cannot (and when a symbol
//! is missing from an old driver), so every call here is made only after
//! [`driver_present`] said yes, and inside [`guard`], which turns a panic into an error.
//!
//! Never run on a GPU: [`driver_present`] and the no-driver path run in every test, the
//! device queries only against the stand-in driver of `tests/fake_driver.rs`.

use crate::DeviceInfo;
use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;
use std::panic::{catch_unwind, AssertUnwindSafe};
use vc6_core::{Error, Result};

/// What [`crate::CudaBackend::new`] reports where the driver library cannot be loaded.
pub const NO_DRIVER: &str = "no NVIDIA driver found (libcuda.so.1 could not be loaded)";

/// Whether the CUDA driver library (`libcuda.so.1`, `nvcuda.dll`) can be loaded here.
/// Cheap after the first call: the answer is kept for the process.
pub fn driver_present() -> bool {
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: only tries to dlopen the library under its usual names (and closes it
        // again); loading the NVIDIA driver has no other effect.
        #[allow(unsafe_code)]
        let found = catch_unwind(|| unsafe { sys::is_culib_present() });
        found.unwrap_or(false)
    })
}

/// Runs `f` (calls into cudarc) and turns a panic of cudarc's (a library or symbol it
/// could not load) into `Error::Device`, naming `what`.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            Err(Error::Device(format!(
                "CUDA {what} failed: the CUDA library could not be used ({msg})"
            )))
        }
    }
}

/// A driver error as `CUDA <what> failed: CUDA_ERROR_... (driver's text)`.
pub fn cu_err(what: &str, e: DriverError) -> Error {
    let text = e
        .error_string()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Error::Device(if text.is_empty() {
        format!("CUDA {what} failed: {:?}", e.0)
    } else {
        format!("CUDA {what} failed: {:?} ({text})", e.0)
    })
}

/// `CUDA_VISIBLE_DEVICES` as set (for error messages), or `None`.
fn visible_devices() -> Option<String> {
    std::env::var("CUDA_VISIBLE_DEVICES").ok()
}

/// Every device the driver lists (those `CUDA_VISIBLE_DEVICES` leaves visible), without
/// creating a context. Never run on a GPU (only against `tests/fake_driver.rs`'s
/// stand-in).
pub fn devices() -> Result<Vec<DeviceInfo>> {
    if !driver_present() {
        return Err(Error::Device(NO_DRIVER.into()));
    }
    guard("device enumeration", || {
        match result::init() {
            Ok(()) => {}
            Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => {
                return Err(no_device());
            }
            Err(e) => return Err(cu_err("initialisation (cuInit)", e)),
        }
        let driver = driver_version()?;
        let count = result::device::get_count().map_err(|e| cu_err("cuDeviceGetCount", e))?;
        let mut out = Vec::new();
        for ordinal in 0..count.max(0) {
            let dev = result::device::get(ordinal).map_err(|e| cu_err("cuDeviceGet", e))?;
            let attr = |a| {
                // SAFETY: `dev` comes from cuDeviceGet just above.
                #[allow(unsafe_code)]
                let v = unsafe { result::device::get_attribute(dev, a) };
                v.map_err(|e| cu_err("cuDeviceGetAttribute", e))
            };
            use sys::CUdevice_attribute as A;
            let major = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
            let minor = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
            let sms = attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
            // SAFETY: as above.
            #[allow(unsafe_code)]
            let mem = unsafe { result::device::total_mem(dev) };
            out.push(DeviceInfo {
                ordinal: ordinal as usize,
                name: result::device::get_name(dev)
                    .map_err(|e| cu_err("cuDeviceGetName", e))?
                    .trim()
                    .to_string(),
                compute_capability: (major.max(0) as u32, minor.max(0) as u32),
                multiprocessors: sms.max(0) as u32,
                global_mem: mem.map_err(|e| cu_err("cuDeviceTotalMem", e))? as u64,
                driver_version: driver,
            });
        }
        if out.is_empty() {
            return Err(no_device());
        }
        Ok(out)
    })
}

/// The driver's CUDA version, as `cuDriverGetVersion` gives it (12040 for 12.4).
fn driver_version() -> Result<u32> {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: cuDriverGetVersion writes one int through the pointer it is given.
    #[allow(unsafe_code)]
    let r = unsafe { sys::cuDriverGetVersion(&mut v) };
    r.result().map_err(|e| cu_err("cuDriverGetVersion", e))?;
    Ok(v.max(0) as u32)
}

fn no_device() -> Error {
    Error::Device(match visible_devices() {
        Some(v) => format!(
            "the NVIDIA driver lists no CUDA device (CUDA_VISIBLE_DEVICES='{v}' hides the others?)"
        ),
        None => "the NVIDIA driver lists no CUDA device".into(),
    })
}

/// The device `hint` picks among `devices`: a number is an index among the visible devices
/// (as CUDA numbers them after `CUDA_VISIBLE_DEVICES`), other text the first device whose
/// name contains it (case-insensitive); no hint, the first device.
pub fn pick(devices: &[DeviceInfo], hint: Option<&str>) -> Result<usize> {
    let listed = || {
        devices
            .iter()
            .map(|d| format!("{}: '{}'", d.ordinal, d.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let visible = match visible_devices() {
        Some(v) => format!(", CUDA_VISIBLE_DEVICES='{v}'"),
        None => String::new(),
    };
    let Some(hint) = hint.map(str::trim).filter(|h| !h.is_empty()) else {
        return if devices.is_empty() {
            Err(no_device())
        } else {
            Ok(0)
        };
    };
    if let Ok(i) = hint.parse::<usize>() {
        return devices.iter().position(|d| d.ordinal == i).ok_or_else(|| {
            Error::Device(format!(
                "CUDA device hint '{hint}' (VC6_CUDA_DEVICE): there is no device {i} (found {}{visible})",
                listed()
            ))
        });
    }
    let want = hint.to_lowercase();
    devices
        .iter()
        .position(|d| d.name.to_lowercase().contains(&want))
        .ok_or_else(|| {
            Error::Device(format!(
                "CUDA device hint '{hint}' (VC6_CUDA_DEVICE) matches no device (found {}{visible})",
                listed()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ordinal: usize, name: &str) -> DeviceInfo {
        DeviceInfo {
            ordinal,
            name: name.into(),
            compute_capability: (9, 0),
            multiprocessors: 132,
            global_mem: 80 << 30,
            driver_version: 12040,
        }
    }

    #[test]
    fn pick_by_index_name_or_default() {
        let devs = [
            dev(0, "NVIDIA A100-SXM4-40GB"),
            dev(1, "NVIDIA H100 80GB HBM3"),
        ];
        assert_eq!(pick(&devs, None).unwrap(), 0);
        assert_eq!(pick(&devs, Some("")).unwrap(), 0);
        assert_eq!(pick(&devs, Some("1")).unwrap(), 1);
        assert_eq!(pick(&devs, Some("h100")).unwrap(), 1);
        assert_eq!(pick(&devs, Some("NVIDIA")).unwrap(), 0);
        let e = pick(&devs, Some("2")).unwrap_err().to_string();
        assert!(
            e.contains("no device 2") && e.contains("'NVIDIA H100"),
            "{e}"
        );
        let e = pick(&devs, Some("rtx")).unwrap_err().to_string();
        assert!(e.contains("matches no device"), "{e}");
        assert!(pick(&[], None).is_err());
    }

    #[test]
    fn guard_turns_a_panic_into_an_error() {
        let e = guard("test call", || -> Result<()> {
            panic!("Missing symbol cuFoo")
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("CUDA test call failed") && e.contains("Missing symbol cuFoo"),
            "{e}"
        );
        assert_eq!(guard("x", || Ok(3)).unwrap(), 3);
    }
}
