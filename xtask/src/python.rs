//! The Python step of `cargo xtask test`: the `vc6rs` module (crates/vc6-python) built
//! with maturin into a virtualenv at `target/py-venv`, and its pytest suite run there.
//!
//! Needs Python 3.10 or later with `venv` and `pip` (it fails, with the reason, when there
//! is none); maturin, NumPy, pytest and Ray Data come from PyPI into the virtualenv the
//! first time. The suite's Ray tests skip, saying why, when Ray cannot be installed.

use crate::{run_cmd, step, venv, workspace_root};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the virtualenv needs: (pip requirement, module that shows it is installed).
const PACKAGES: [(&str, &str); 3] = [
    ("maturin", "maturin"),
    ("numpy", "numpy"),
    ("pytest", "pytest"),
];

/// Ray Data, for the Ray tests: optional (they skip without it).
const RAY: (&str, &str) = ("ray[data]", "ray.data");

/// The oldest Python the module supports (its abi3 wheels).
const MIN_MINOR: u32 = 10;

/// Builds and installs the `vc6rs` wheel in `target/py-venv` and runs
/// `pytest crates/vc6-python/tests` with it.
pub fn test() -> Result<()> {
    let root = workspace_root();
    let system = venv::find_python(MIN_MINOR, "the vc6rs module's tests")?;
    let venv = root.join("target").join("py-venv");
    let python = venv::ensure(&venv, &system, "the vc6rs module's tests")?;
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, module)| !has_module(&python, module))
        .map(|(req, _)| *req)
        .collect();
    if !missing.is_empty() {
        step(&format!(
            "installing {} from PyPI into the virtualenv",
            missing.join(" ")
        ));
        venv::pip_install(&python, &missing)
            .context("pip could not install the Python test tools")?;
    }
    if !has_module(&python, RAY.1) {
        step(&format!(
            "installing {} from PyPI into the virtualenv (for the Ray tests)",
            RAY.0
        ));
        let ok = venv::pip_install(&python, &[RAY.0]);
        if let Err(e) = ok {
            println!("xtask: Ray could not be installed ({e:#}): the Ray tests will skip");
        }
    }

    let target = target_dir(&root);
    let wheels = target.join("py-wheels");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)
            .with_context(|| format!("removing old wheels in {}", wheels.display()))?;
    }
    step("building the vc6rs wheel: maturin build --release (crates/vc6-python)");
    run_cmd(
        Command::new(venv::bin(&venv, "maturin"))
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(root.join("crates").join("vc6-python").join("Cargo.toml"))
            .arg("--out")
            .arg(&wheels)
            .arg("--interpreter")
            .arg(&python)
            .current_dir(&root),
    )?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("maturin left no wheel in {}", wheels.display()))?;
    let wheel = wheel
        .to_str()
        .with_context(|| format!("the wheel's path {} is not UTF-8", wheel.display()))?;
    venv::pip_install(&python, &["--force-reinstall", "--no-deps", wheel])?;

    // The suite compares its decodes with the vc6 command's.
    step("building the vc6 command for the comparisons (cargo build -p vc6-cli)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_cmd(
        Command::new(cargo)
            .args(["build", "--quiet", "-p", "vc6-cli"])
            .current_dir(&root),
    )?;
    let cli = target
        .join("debug")
        .join(format!("vc6{}", std::env::consts::EXE_SUFFIX));

    step("pytest crates/vc6-python/tests (the vc6rs module: CPU and OpenCL backends)");
    run_cmd(
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root.join("crates").join("vc6-python").join("tests"))
            .env("VC6_CLI", &cli)
            .current_dir(&root),
    )
}

/// Whether `python` can import `module`.
fn has_module(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
