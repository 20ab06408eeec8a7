//! Device memory reused between batches, within a bound: a stream-ordered memory pool of
//! the backend's own (`cuMemPoolCreate`) whose release threshold is the batch budget, so
//! the buffers one batch frees serve the next one without going back to the driver, and
//! never more than that budget stays reserved while idle. A pool of its own rather than
//! the device's default pool, whose settings other libraries in the process share.
//!
//! Where the device has no memory pools, buffers come from cudarc's ordinary allocation.
//!
//! **Never run on a GPU** (only against the stand-in driver of `tests/fake_driver.rs`).
#![allow(unsafe_code)]

use crate::driver::cu_err;
use cudarc::driver::result::mem_pool;
use cudarc::driver::sys;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use std::sync::Arc;
use vc6_core::Result;

/// The backend's memory pool, or none where the device has no memory pools.
pub(crate) struct DevicePool {
    pool: Option<sys::CUmemoryPool>,
}

// SAFETY: a CUmemoryPool handle may be used from any thread of the process.
unsafe impl Send for DevicePool {}
// SAFETY: as above; the pool is only read after creation.
unsafe impl Sync for DevicePool {}

impl DevicePool {
    /// A pool on device `ordinal` that keeps up to `keep` bytes reserved between
    /// batches; no pool where `context` has no stream-ordered allocation.
    pub(crate) fn new(context: &Arc<CudaContext>, ordinal: usize, keep: u64) -> Result<DevicePool> {
        if !context.has_async_alloc() {
            return Ok(DevicePool { pool: None });
        }
        context
            .bind_to_thread()
            .map_err(|e| cu_err("binding the context (cuCtxSetCurrent)", e))?;
        // SAFETY: all-zero is a valid CUmemPoolProps (no handle types, no size limit, no
        // Windows attributes); the fields set make it device memory on `ordinal`.
        let mut props: sys::CUmemPoolProps = unsafe { std::mem::zeroed() };
        props.allocType = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
        props.location.type_ = sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE;
        props.location.id = ordinal as i32;
        // SAFETY: `props` is a valid, fully initialised CUmemPoolProps.
        let pool = unsafe { mem_pool::create(&props) }
            .map_err(|e| cu_err("creating a memory pool (cuMemPoolCreate)", e))?;
        let mut threshold: u64 = keep;
        // SAFETY: the pool was just created; the release threshold is a cuuint64_t.
        let set = unsafe {
            mem_pool::set_attribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
        };
        if let Err(e) = set {
            // SAFETY: the pool has no allocations yet.
            let _ = unsafe { mem_pool::destroy(pool) };
            return Err(cu_err(
                "setting the memory pool's release threshold (cuMemPoolSetAttribute)",
                e,
            ));
        }
        Ok(DevicePool { pool: Some(pool) })
    }

    /// A zeroed buffer of `len` bytes, ordered on `stream`: from the pool when there is
    /// one. Freed (back to the pool) in stream order when dropped.
    pub(crate) fn alloc(&self, stream: &Arc<CudaStream>, len: usize) -> Result<CudaSlice<u8>> {
        let mut buf = self.alloc_uninit(stream, len)?;
        stream
            .memset_zeros(&mut buf)
            .map_err(|e| cu_err("zeroing device memory (cuMemsetD8Async)", e))?;
        Ok(buf)
    }

    /// A buffer of `len` bytes as [`DevicePool::alloc`], not zeroed: for buffers a copy
    /// fills before anything reads them.
    pub(crate) fn alloc_uninit(
        &self,
        stream: &Arc<CudaStream>,
        len: usize,
    ) -> Result<CudaSlice<u8>> {
        let what = || format!("allocating {len} bytes of device memory");
        let Some(pool) = self.pool else {
            // SAFETY: the buffer is filled by a copy before any kernel reads it.
            return unsafe { stream.alloc::<u8>(len) }.map_err(|e| cu_err(&what(), e));
        };
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| cu_err("binding the context (cuCtxSetCurrent)", e))?;
        // SAFETY: the pool and the stream are live; the caller fills the memory before
        // anything reads it.
        let ptr = unsafe { mem_pool::alloc_async(pool, len, stream.cu_stream()) }
            .map_err(|e| cu_err(&format!("{} (cuMemAllocFromPoolAsync)", what()), e))?;
        // SAFETY: `ptr` is a live allocation of `len` bytes, ordered on `stream`; the
        // slice's drop frees it with cuMemFreeAsync (the context has stream-ordered
        // allocation, checked in `new`), which returns it to this pool.
        Ok(unsafe { stream.upgrade_device_ptr::<u8>(ptr, len) })
    }
}

impl Drop for DevicePool {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            // SAFETY: destroyed once. Buffers still out (frames the caller keeps) stay
            // valid: the driver releases the pool when the last of them is freed.
            let _ = unsafe { mem_pool::destroy(pool) };
        }
    }
}
