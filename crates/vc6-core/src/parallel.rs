//! Runs independent jobs on one thread or on a rayon pool of the requested size (the
//! `rayon` feature; without it everything runs on the calling thread). Backends use it
//! for host-side preparation of batches.

#[cfg(feature = "rayon")]
use std::sync::{Arc, Mutex, OnceLock};

/// Maps `f` over `items` in order, on `threads` threads (0 = all cores, 1 = this thread).
pub fn map<T: Send, R: Send>(
    threads: usize,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(feature = "rayon")]
    if threads != 1 && items.len() > 1 && !(threads == 0 && cores() == 1) {
        use rayon::prelude::*;
        return install(threads, || items.into_par_iter().map(&f).collect());
    }
    let _ = threads;
    items.into_iter().map(f).collect()
}

/// Cores this process may run on (1 when pinned to one, as a one-file CLI run often is:
/// then no thread pool is started at all).
#[cfg(feature = "rayon")]
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `op` inside a pool with `threads` workers (0 = rayon's global pool).
#[cfg(feature = "rayon")]
fn install<R: Send>(threads: usize, op: impl FnOnce() -> R + Send) -> R {
    if threads == 0 {
        return op();
    }
    type Pools = Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(Vec::new()));
    let pool = {
        let mut guard = pools.lock().unwrap_or_else(|e| e.into_inner());
        match guard.iter().find(|(n, _)| *n == threads) {
            Some((_, p)) => Some(p.clone()),
            None => match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                Ok(p) => {
                    let p = Arc::new(p);
                    guard.push((threads, p.clone()));
                    Some(p)
                }
                Err(_) => None,
            },
        }
    };
    match pool {
        Some(p) => p.install(op),
        None => op(),
    }
}
