//! Host memory the copies of a batch go through: page-locked (pinned) buffers, so that
//! `cuMemcpyHtoDAsync` and `cuMemcpyDtoHAsync` really run asynchronously, on the copy
//! engines, while kernels of the other lanes run (from pageable memory the driver copies
//! through a staging buffer of its own and the call returns only when it is done).
//!
//! Each lane of a batch has one [`Staging`]: an upload buffer (write-combined: the host
//! only writes it) and a download buffer (cached: the host reads it). They are kept by
//! the backend between batches ([`StagingPool`]) because pinning memory is slow (the
//! driver locks every page), within a bound: at most one staging per lane, each buffer
//! at most [`KEEP_BYTES`]; a batch that needs more gets it and gives the excess back when
//! it ends.
//!
//! Where the driver cannot pin more memory (a locked-memory limit), a buffer falls back
//! to ordinary memory: slower copies, same results. `VC6_CUDA_PINNED=0` asks for ordinary
//! memory from the start (to measure what pinning gains).
//!
//! **Never run on a GPU** (only against the stand-in driver of `tests/fake_driver.rs`).
#![allow(unsafe_code)]

use cudarc::driver::{result, sys, CudaContext};
use std::sync::{Arc, Mutex};

/// The largest buffer a kept staging holds on to between batches.
pub(crate) const KEEP_BYTES: usize = 192 << 20;

/// The smallest buffer allocated, so that small batches do not pin memory again and again.
const MIN_BYTES: usize = 1 << 20;

/// A host buffer for asynchronous copies: pinned where the driver allows it.
pub(crate) enum HostBuf {
    /// Page-locked memory from `cuMemHostAlloc`, freed with `cuMemFreeHost`.
    Pinned {
        ptr: *mut u8,
        len: usize,
        context: Arc<CudaContext>,
    },
    /// Ordinary memory: the driver could not pin more.
    Pageable(Vec<u8>),
}

// SAFETY: the pinned pointer is owned by this buffer alone (as a Vec's would be); the
// driver allows freeing it from any thread once the context is bound.
unsafe impl Send for HostBuf {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for HostBuf {}

impl HostBuf {
    /// At least `len` bytes (rounded up to limit reallocations), pinned with `flags`
    /// (`cuMemHostAlloc`'s) when `pin` is set, pageable otherwise or where pinning fails.
    /// The contents are zeroed.
    fn new(context: &Arc<CudaContext>, len: usize, flags: u32, pin: bool) -> HostBuf {
        let len = if len <= 64 << 20 {
            len.max(MIN_BYTES).next_power_of_two()
        } else {
            len.next_multiple_of(16 << 20)
        };
        if !pin {
            return HostBuf::Pageable(vec![0; len]);
        }
        let pinned = context.bind_to_thread().and_then(|()| {
            // SAFETY: a plain allocation of `len` bytes; the pointer is owned here.
            unsafe { result::malloc_host(len, flags) }
        });
        match pinned {
            Ok(ptr) if !ptr.is_null() => {
                // SAFETY: `ptr` holds `len` writable bytes; zeroed so that they are never
                // read uninitialised.
                unsafe { std::ptr::write_bytes(ptr.cast::<u8>(), 0, len) };
                HostBuf::Pinned {
                    ptr: ptr.cast(),
                    len,
                    context: context.clone(),
                }
            }
            _ => {
                if super::trace() {
                    eprintln!("vc6-cuda: could not pin {len} bytes of host memory; copies go through ordinary memory");
                }
                HostBuf::Pageable(vec![0; len])
            }
        }
    }

    /// Bytes it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            HostBuf::Pinned { len, .. } => *len,
            HostBuf::Pageable(v) => v.len(),
        }
    }

    /// The bytes, for the host to read or write. The caller makes sure no copy into or
    /// out of them is in flight (the lane's stream was synchronized since the last one
    /// was queued): the lanes of `super` only touch a staging between a stream
    /// synchronization and the next copy they queue.
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        match self {
            // SAFETY: `ptr` holds `len` initialised bytes owned by this buffer, and
            // `&mut self` makes this the only view the host has.
            HostBuf::Pinned { ptr, len, .. } => unsafe {
                std::slice::from_raw_parts_mut(*ptr, *len)
            },
            HostBuf::Pageable(v) => v,
        }
    }
}

impl Drop for HostBuf {
    fn drop(&mut self) {
        if let HostBuf::Pinned { ptr, context, .. } = self {
            // SAFETY: allocated by cuMemHostAlloc and freed once; no copy is in flight
            // (every batch synchronizes its lanes before its stagings go back).
            let _ = context
                .bind_to_thread()
                .map(|()| unsafe { result::free_host(ptr.cast()) });
        }
    }
}

/// One lane's host buffers.
pub(crate) struct Staging {
    up: Option<HostBuf>,
    down: Option<HostBuf>,
    /// Whether new buffers are pinned.
    pin: bool,
}

impl Staging {
    /// The upload buffer, at least `len` bytes (grown as needed; write-combined).
    pub(crate) fn up(&mut self, context: &Arc<CudaContext>, len: usize) -> &mut HostBuf {
        let flags = sys::CU_MEMHOSTALLOC_WRITECOMBINED;
        grow(&mut self.up, context, len, flags, self.pin)
    }

    /// The download buffer, at least `len` bytes (grown as needed).
    pub(crate) fn down(&mut self, context: &Arc<CudaContext>, len: usize) -> &mut HostBuf {
        grow(&mut self.down, context, len, 0, self.pin)
    }

    /// The download buffer as it is (after [`Staging::down`] sized it).
    pub(crate) fn down_bytes(&mut self) -> &mut [u8] {
        self.down.as_mut().map_or(&mut [], HostBuf::bytes)
    }

    /// Drops buffers larger than `keep` bytes.
    fn trim(&mut self, keep: usize) {
        for b in [&mut self.up, &mut self.down] {
            if b.as_ref().is_some_and(|b| b.len() > keep) {
                *b = None;
            }
        }
    }
}

/// `buf`, reallocated when it holds fewer than `len` bytes.
fn grow<'s>(
    buf: &'s mut Option<HostBuf>,
    context: &Arc<CudaContext>,
    len: usize,
    flags: u32,
    pin: bool,
) -> &'s mut HostBuf {
    if buf.as_ref().is_none_or(|b| b.len() < len) {
        *buf = None; // free the old one first: pinned memory is scarce
        *buf = Some(HostBuf::new(context, len, flags, pin));
    }
    buf.as_mut().expect("just set")
}

/// The stagings kept between batches.
pub(crate) struct StagingPool {
    kept: Mutex<Vec<Staging>>,
    /// How many it keeps: one per lane of a batch.
    keep: usize,
    /// Whether buffers are pinned.
    pin: bool,
}

impl StagingPool {
    /// A pool that keeps up to `keep` stagings, whose buffers are pinned when `pin` is set.
    pub(crate) fn new(keep: usize, pin: bool) -> StagingPool {
        StagingPool {
            kept: Mutex::new(Vec::new()),
            keep,
            pin,
        }
    }

    /// `n` stagings: kept ones first, then new empty ones.
    pub(crate) fn take(&self, n: usize) -> Vec<Staging> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let from = kept.len().saturating_sub(n);
        let mut out: Vec<Staging> = kept.drain(from..).collect();
        out.resize_with(n, || Staging {
            up: None,
            down: None,
            pin: self.pin,
        });
        out
    }

    /// Gives stagings back once nothing copies into or out of them; keeps up to its
    /// bound, trimmed to [`KEEP_BYTES`] a buffer.
    pub(crate) fn give_back(&self, stagings: Vec<Staging>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        for mut s in stagings {
            if kept.len() < self.keep {
                s.trim(KEEP_BYTES);
                kept.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool hands kept stagings out first, keeps at most its bound, and drops what
    /// is larger than [`KEEP_BYTES`].
    #[test]
    fn kept_stagings_are_reused_bounded_and_trimmed() {
        const KEEP_LANES: usize = 3;
        let pool = StagingPool::new(KEEP_LANES, true);
        let big = || Staging {
            up: Some(HostBuf::Pageable(vec![0; KEEP_BYTES + 1])),
            down: Some(HostBuf::Pageable(vec![0; 16])),
            pin: true,
        };
        pool.give_back((0..KEEP_LANES + 2).map(|_| big()).collect());
        let mut taken = pool.take(KEEP_LANES + 1);
        assert_eq!(taken.len(), KEEP_LANES + 1);
        let kept = taken.iter().filter(|s| s.down.is_some()).count();
        assert_eq!(kept, KEEP_LANES);
        assert!(taken.iter().all(|s| s.up.is_none()), "trimmed");
        assert_eq!(taken[0].down_bytes().len(), 16);
        let fresh = pool.take(1);
        assert!(fresh[0].down.is_none() && fresh[0].pin, "nothing left");
    }
}
