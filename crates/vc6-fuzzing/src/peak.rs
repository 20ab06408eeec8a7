//! A counting allocator: live bytes and their peak since the last [`reset`], so a check
//! can hold a decode to the memory its [`vc6::Limits`] allow.
//!
//! A binary opts in with
//! `#[global_allocator] static A: vc6_fuzzing::peak::PeakAlloc = vc6_fuzzing::peak::PeakAlloc;`
//! (the fuzz targets and the replay tests do); elsewhere [`installed`] is false and the
//! checks skip the memory bound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeakAlloc;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call goes unchanged to the system allocator; the counters are only
// arithmetic on the sizes the caller passes.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        USED.store(true, Ordering::Relaxed);
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        USED.store(true, Ordering::Relaxed);
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Whether this process counts its allocations ([`PeakAlloc`] is its global allocator).
pub fn installed() -> bool {
    // Any Rust program has allocated by the time a check runs.
    USED.load(Ordering::Relaxed)
}

/// Starts a new peak at the bytes live now, which it returns.
pub fn reset() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The most bytes live at once since the last [`reset`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs `f` and returns its result with the most bytes it had live beyond those live
/// before it (`None` when allocations are not counted).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<usize>) {
    let base = reset();
    let out = f();
    let grown = installed().then(|| peak().saturating_sub(base));
    (out, grown)
}
