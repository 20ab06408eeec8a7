//! What the end-to-end tests of the `vc6` binary share: scratch folders and running it.
#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "vc6-cli-test-{}-{}-{name}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `vc6` binary with `args`.
pub fn vc6(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    vc6_env(args, &[])
}

/// Runs the `vc6` binary with `args` and extra environment variables.
pub fn vc6_env(args: &[&dyn AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vc6"))
        .args(args.iter().map(|a| a.as_ref()))
        .envs(env.iter().copied())
        .output()
        .expect("running vc6")
}
