//! The Python step of `cargo xtask test`: the `vc6rs` module (crates/vc6-python) built
//! with maturin into a virtualenv at `target/py-venv`, and its pytest suite run there.
//!
//! Needs Python 3.10 or later with `venv` and `pip` (it fails, with the reason, when there
//! is none); maturin, NumPy, pytest and Ray Data come from PyPI into the virtualenv the
//! first time. The suite's Ray tests skip, saying why, when Ray cannot be installed.

use crate::{run_cmd, step, workspace_root};
use anyhow::{bail, Context, Result};
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
    let system = find_python()?;
    let venv = root.join("target").join("py-venv");
    let python = venv_python(&venv);
    if !python.exists() {
        step(&format!(
            "creating a Python virtualenv at {}",
            venv.display()
        ));
        run_cmd(Command::new(&system).args(["-m", "venv"]).arg(&venv)).with_context(|| {
            "`python3 -m venv` failed: install Python's venv module (Debian: apt-get install python3-venv)"
        })?;
    }
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
        run_cmd(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(&missing),
        )
        .context("pip could not install the Python test tools")?;
    }
    if !has_module(&python, RAY.1) {
        step(&format!(
            "installing {} from PyPI into the virtualenv (for the Ray tests)",
            RAY.0
        ));
        let ok = run_cmd(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(RAY.0),
        );
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
        Command::new(venv_bin(&venv, "maturin"))
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
    run_cmd(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(&wheel),
    )?;

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

/// `python3` (or `python`) when it is Python 3.10 or later, else why not, in one line.
fn find_python() -> Result<PathBuf> {
    let mut seen = Vec::new();
    for name in ["python3", "python"] {
        let Ok(out) = Command::new(name)
            .args([
                "-c",
                "import sys; print(sys.version_info[0], sys.version_info[1])",
            ])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u32> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        match v[..] {
            [3, minor] if minor >= MIN_MINOR => return Ok(PathBuf::from(name)),
            [major, minor] => seen.push(format!("{name} is {major}.{minor}")),
            _ => seen.push(format!("{name} does not run")),
        }
    }
    if seen.is_empty() {
        bail!(
            "Python is missing: the vc6rs module's tests need python3 (3.{MIN_MINOR} or later, \
             with venv and pip; Debian: apt-get install python3 python3-venv python3-pip)"
        );
    }
    bail!(
        "no Python 3.{MIN_MINOR} or later ({}): the vc6rs module's tests need one",
        seen.join(", ")
    )
}

/// Whether `python` can import `module`.
fn has_module(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn venv_bin(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    venv_bin(venv, "python")
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
