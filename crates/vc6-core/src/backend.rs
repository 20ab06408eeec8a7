//! The `Backend` trait: what runs a decode, and the CPU reference that implements it.
//!
//! The host always parses and checks: [`Plan`] reads the header, section tables and
//! tableaux. A backend runs everything after that: entropy decoding of every tile (each
//! tile is independent, so one GPU work item or group per tile), the lowest echelon's MED,
//! upsample-and-add per echelon, the inverse colour transform and packing into the
//! caller's [`OutputLayout`]. Every backend must produce the CPU backend's bytes exactly.

use crate::decoder::{decode_planned, DecodeBuffers};
use crate::error::Result;
use crate::output::OutputLayout;
use crate::plan::Plan;
use std::sync::Mutex;

/// One decode: a checked plan, its stream, and where the pixels go.
#[derive(Debug)]
pub struct DecodeJob<'a> {
    /// The checked plan (from [`Plan::new`] on `stream`).
    pub plan: &'a Plan,
    /// The stream (or the prefix the plan needs).
    pub stream: &'a [u8],
    /// Where each plane goes in `out`.
    pub layout: &'a OutputLayout,
    /// The output buffer, exactly `layout.len` bytes.
    pub out: &'a mut [u8],
}

/// A decoder implementation: the CPU reference, or a GPU backend.
///
/// Implementations are shared between threads; each call is independent.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Short lower-case name (`cpu`, `opencl`, ...).
    fn name(&self) -> &'static str;

    /// The device it runs on, for people.
    fn device(&self) -> String;

    /// Runs one decode.
    fn decode(&self, job: DecodeJob<'_>) -> Result<()>;

    /// Runs many decodes; a GPU submits them together and waits once. The results are
    /// in job order. The default runs them one after another.
    fn decode_batch(&self, jobs: Vec<DecodeJob<'_>>) -> Vec<Result<()>> {
        jobs.into_iter().map(|j| self.decode(j)).collect()
    }
}

/// The CPU reference backend (tiles on every core with the `rayon` feature).
#[derive(Debug, Default)]
pub struct CpuBackend {
    threads: usize,
    buffers: Mutex<DecodeBuffers>,
}

impl CpuBackend {
    /// A CPU backend on `threads` worker threads (0 = all cores, 1 = the calling thread).
    pub fn new(threads: usize) -> CpuBackend {
        CpuBackend {
            threads,
            buffers: Mutex::default(),
        }
    }

    /// Runs `f` with the backend's spare echelon buffers, without holding the lock
    /// meanwhile (a concurrent decode gets an empty set and allocates its own).
    fn with_buffers<T>(&self, f: impl FnOnce(&mut DecodeBuffers) -> T) -> T {
        let lock = || self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let mut buffers = std::mem::take(&mut *lock());
        let result = f(&mut buffers);
        *lock() = buffers;
        result
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.threads {
            0 => format!("CPU, {cores} threads"),
            n => format!("CPU, {n} of {cores} threads"),
        }
    }

    fn decode(&self, job: DecodeJob<'_>) -> Result<()> {
        self.with_buffers(|b| {
            decode_planned(job.plan, job.stream, self.threads, b, job.layout, job.out)
        })
    }
}
