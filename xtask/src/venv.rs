//! Python virtualenvs under `target/` for the steps that need tools from PyPI: the Python
//! module's tests (`python.rs`) and the CUDA kernel check (`cuda.rs`).

use crate::run_cmd;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `python3` (or `python`) when it is Python 3.`min_minor` or later, else why not, in one
/// line naming `needed_for`.
pub fn find_python(min_minor: u32, needed_for: &str) -> Result<PathBuf> {
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
            [3, minor] if minor >= min_minor => return Ok(PathBuf::from(name)),
            [major, minor] => seen.push(format!("{name} is {major}.{minor}")),
            _ => seen.push(format!("{name} does not run")),
        }
    }
    if seen.is_empty() {
        bail!(
            "Python is missing: {needed_for} needs python3 (3.{min_minor} or later, with venv \
             and pip; Debian: apt-get install python3 python3-venv python3-pip)"
        );
    }
    bail!(
        "no Python 3.{min_minor} or later ({}): {needed_for} needs one",
        seen.join(", ")
    )
}

/// A program of the virtualenv at `venv`.
pub fn bin(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

/// The virtualenv at `venv`, made with `system` Python when it is missing; returns its
/// interpreter.
pub fn ensure(venv: &Path, system: &Path, purpose: &str) -> Result<PathBuf> {
    let python = bin(venv, "python");
    if !python.exists() {
        println!(
            "xtask: creating a Python virtualenv at {} ({purpose})",
            venv.display()
        );
        run_cmd(Command::new(system).args(["-m", "venv"]).arg(venv)).context(
            "`python3 -m venv` failed: install Python's venv module \
             (Debian: apt-get install python3-venv)",
        )?;
    }
    Ok(python)
}

/// `pip install` of `requirements` into the virtualenv of `python`.
pub fn pip_install(python: &Path, requirements: &[&str]) -> Result<()> {
    run_cmd(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements),
    )
}
