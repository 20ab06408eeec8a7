// A stand-in for the NVIDIA driver (libcuda.so.1), built by the tests (tests/fake/mod.rs,
// the Python suite, `cargo xtask test`) with fake_kernels.c, so that the backend's host
// code with a driver present runs where there is no GPU. It answers only the calls the
// backend and NVRTC make, with made-up devices; it checks nothing about CUDA itself.
//
// FAKE_CUDA picks the behaviour: 0, context creation fails (out of memory); 1, cuInit
// finds no device; 2, everything up to module loading succeeds (cuModuleLoadData accepts
// any ELF file) and streams cannot be created; 3, as 2, and streams, events and memory
// work too: device memory is host memory (every copy, set and free is checked against
// the live allocations, and a bad one aborts), and kernel launches are logged, their
// buffer arguments checked against the live allocations, and run nothing, unless
// FAKE_CUDA_RUN=1: then they run the kernels on the CPU (fake_kernels.c), so decodes give
// the pixels a GPU would. Page-locked host memory is ordinary memory (FAKE_CUDA_NO_PIN=1:
// none to be had). With FAKE_CUDA_LOG=path, mode 3 appends one line per launch, copy,
// event record, stream wait, synchronization, caller-visible free and host allocation to
// that file, for the tests to check the order. Built with -DNO_DRIVER_VERSION it lacks
// cuDriverGetVersion, like a driver too old for a symbol cudarc wants.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <pthread.h>

typedef int CUresult;
typedef int CUdevice;

static int mode(void) {
    const char *m = getenv("FAKE_CUDA");
    return m ? atoi(m) : 0;
}

static int ctx_dummy, mod_dummy;

CUresult cuInit(unsigned flags) { return mode() == 1 ? 100 : 0; } // CUDA_ERROR_NO_DEVICE
#ifndef NO_DRIVER_VERSION
CUresult cuDriverGetVersion(int *v) { *v = 12040; return 0; }
#endif
CUresult cuDeviceGetCount(int *n) { *n = 2; return 0; }
CUresult cuDeviceGet(CUdevice *d, int i) { *d = i; return i < 2 ? 0 : 101; }
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
    switch (attr) {
    case 75: *v = d ? 9 : 8; break; // compute capability major: sm_80, sm_90
    case 76: *v = 0; break;         // minor
    case 16: *v = d ? 132 : 108; break; // multiprocessors
    case 115: *v = mode() == 3; break;  // memory pools: cuMemAllocAsync and cuMemFreeAsync
    default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
    strncpy(name, d ? "Fake H100 80GB HBM3" : "Fake A100-SXM4-40GB", len);
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) { *bytes = (size_t)(d ? 80 : 40) << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, CUdevice d) {
    if (mode() == 0) return 2; // CUDA_ERROR_OUT_OF_MEMORY
    *c = &ctx_dummy;
    return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { return 0; }
CUresult cuCtxSetCurrent(void *c) { return 0; }
CUresult cuCtxGetCurrent(void **c) { *c = &ctx_dummy; return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuModuleLoadData(void **m, const void *image) {
    if (memcmp(image, "\x7f" "ELF", 4) != 0) return 200; // CUDA_ERROR_INVALID_IMAGE
    fprintf(stderr, "[fake libcuda] module loaded\n");
    *m = &mod_dummy;
    return 0;
}
CUresult cuModuleUnload(void *m) { return 0; }
// Each kernel handle is its name, so that launches can be logged by name.
CUresult cuModuleGetFunction(void **f, void *m, const char *name) { *f = strdup(name); return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) {
    *s = e == 100 ? "no CUDA-capable device is detected"
       : e == 2 ? "out of memory"
       : e == 200 ? "device kernel image is invalid" : "fake error";
    return 0;
}
CUresult cuGetErrorName(CUresult e, const char **s) { *s = "CUDA_ERROR_FAKE"; return 0; }
// NVRTC opens libcuda too and asks for this; a real driver has it.
CUresult cuGetExportTable(const void **table, const void *id) { return 1; }

// ---- mode 3: streams, events and memory (host memory standing in for the device's) ----

typedef unsigned long long CUdeviceptr;
#define NOT_SUPPORTED 801 // CUDA_ERROR_NOT_SUPPORTED
#define INVALID_VALUE 1   // CUDA_ERROR_INVALID_VALUE

// One line a call, whole even when threads log at once.
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void logf_(const char *fmt, ...) {
    const char *path = getenv("FAKE_CUDA_LOG");
    if (!path) return;
    char line[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    pthread_mutex_lock(&log_lock);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
    pthread_mutex_unlock(&log_lock);
}

// Live allocations, to check every copy, set and free against; the lock lets decodes run
// from several threads at once, as on a real driver.
#define MAX_ALLOCS 65536
static struct { char *p; size_t n; } allocs[MAX_ALLOCS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int find(CUdeviceptr p, size_t n) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_ALLOCS; i++)
        if (allocs[i].p && (char *)p >= allocs[i].p && (char *)p + n <= allocs[i].p + allocs[i].n) {
            pthread_mutex_unlock(&lock);
            return i;
        }
    fprintf(stderr, "[fake libcuda] %zu bytes at %p are not inside one allocation\n", n, (void *)p);
    abort();
}

static CUresult alloc(CUdeviceptr *p, size_t n) {
    if (mode() != 3) return NOT_SUPPORTED;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_ALLOCS; i++)
        if (!allocs[i].p) {
            allocs[i].p = calloc(n ? n : 1, 1);
            allocs[i].n = n;
            // Fresh memory is not zero on a GPU: make reads of unwritten bytes visible.
            memset(allocs[i].p, 0xEE, n);
            *p = (CUdeviceptr)allocs[i].p;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    pthread_mutex_unlock(&lock);
    return 2;
}

static CUresult release(CUdeviceptr p) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_ALLOCS; i++)
        if (allocs[i].p == (char *)p) {
            logf_("free %llx", p);
            free(allocs[i].p);
            allocs[i].p = 0;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    fprintf(stderr, "[fake libcuda] freeing %p, which is not an allocation\n", (void *)p);
    abort();
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { return alloc(p, n); }
CUresult cuMemAllocAsync(CUdeviceptr *p, size_t n, void *stream) { return alloc(p, n); }
CUresult cuMemFree_v2(CUdeviceptr p) { return release(p); }
// Memory pools: one pool at a time, whose allocations are logged.
static int pool_dummy;
CUresult cuMemPoolCreate(void **pool, const void *props) {
    if (mode() != 3) return NOT_SUPPORTED;
    *pool = &pool_dummy;
    logf_("pool create");
    return 0;
}
CUresult cuMemPoolSetAttribute(void *pool, int attr, void *value) {
    if (attr == 4) logf_("pool release threshold %llu", *(unsigned long long *)value);
    return 0;
}
CUresult cuMemPoolDestroy(void *pool) { logf_("pool destroy"); return 0; }
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *p, size_t n, void *pool, void *stream) {
    CUresult r = alloc(p, n);
    if (!r) logf_("pool alloc %zu at %llx", n, *p);
    return r;
}
CUresult cuMemFreeAsync(CUdeviceptr p, void *stream) { return release(p); }
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, void *stream) {
    find(p, n);
    memset((void *)p, v, n);
    return 0;
}
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { return cuMemsetD8Async(p, v, n, 0); }
// Page-locked host memory: ordinary memory, remembered so that copies can say whether
// they went through it. FAKE_CUDA_NO_PIN=1 makes every such allocation fail.
static struct { char *p; size_t n; } pinned[1024];

CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags) {
    if (mode() != 3 || getenv("FAKE_CUDA_NO_PIN")) return 2;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 1024; i++)
        if (!pinned[i].p) {
            pinned[i].p = malloc(n ? n : 1);
            pinned[i].n = n;
            memset(pinned[i].p, 0xEE, n);
            *p = pinned[i].p;
            logf_("host alloc %zu flags %u at %llx", n, flags, (unsigned long long)*p);
            pthread_mutex_unlock(&lock);
            return 0;
        }
    pthread_mutex_unlock(&lock);
    return 2;
}
CUresult cuMemFreeHost(void *p) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 1024; i++)
        if (pinned[i].p == p) {
            logf_("host free %llx", (unsigned long long)p);
            free(p);
            pinned[i].p = 0;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    fprintf(stderr, "[fake libcuda] freeing host memory %p that cuMemHostAlloc did not give\n", p);
    abort();
}
static const char *kind(const void *p, size_t n) {
    const char *k = "pageable";
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 1024; i++)
        if (pinned[i].p && (const char *)p >= pinned[i].p && (const char *)p + n <= pinned[i].p + pinned[i].n)
            k = "pinned";
    pthread_mutex_unlock(&lock);
    return k;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, void *stream) {
    find(dst, n);
    memcpy((void *)dst, src, n);
    logf_("htod %zu from %s stream %llx", n, kind(src, n), (unsigned long long)stream);
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, void *stream) {
    find(src, n);
    memcpy(dst, (void *)src, n);
    logf_("dtoh %zu into %s stream %llx", n, kind(dst, n), (unsigned long long)stream);
    return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { return cuMemcpyHtoDAsync_v2(dst, src, n, 0); }
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoHAsync_v2(dst, src, n, 0); }

CUresult cuStreamCreate(void **s, unsigned flags) {
    if (mode() != 3) return NOT_SUPPORTED;
    *s = malloc(1);
    logf_("stream %llx", (unsigned long long)*s);
    return 0;
}
CUresult cuStreamDestroy_v2(void *s) { free(s); return 0; }
CUresult cuStreamSynchronize(void *s) {
    logf_("sync stream %llx", (unsigned long long)s);
    return 0;
}
CUresult cuStreamQuery(void *s) { return 0; }
CUresult cuStreamWaitEvent(void *s, void *e, unsigned flags) {
    logf_("wait stream %llx event %llx", (unsigned long long)s, (unsigned long long)e);
    return 0;
}
CUresult cuEventCreate(void **e, unsigned flags) {
    if (mode() != 3) return NOT_SUPPORTED;
    *e = malloc(1);
    return 0;
}
CUresult cuEventDestroy_v2(void *e) { free(e); return 0; }
CUresult cuEventRecord(void *e, void *s) {
    logf_("record event %llx stream %llx", (unsigned long long)e, (unsigned long long)s);
    return 0;
}
CUresult cuEventSynchronize(void *e) { return 0; }
CUresult cuEventQuery(void *e) { return 0; }

// fake_kernels.c: runs a launch on the CPU; -1 for a kernel it does not know.
int fake_run_kernel(const char *name, const unsigned grid[3], const unsigned block[3],
                    void **params);

// The buffer arguments of each kernel (their indices in shaders/common/decode_body.h's
// signatures), ended by -1: each must point into a live allocation.
static const int *buffer_args(const char *name) {
    static const int tiles[] = {0, 1, 2, 3, 5, 6, 7, 8, -1}, med[] = {0, 1, 2, 5, 6, -1},
                     recon[] = {0, 1, 2, -1}, pack[] = {0, 9, -1}, none[] = {-1};
    return !strcmp(name, "decode_tiles") ? tiles
         : !strcmp(name, "med_tiles") ? med
         : !strcmp(name, "reconstruct") ? recon
         : !strncmp(name, "pack_", 5) ? pack : none;
}

// Logs `launch <kernel> grid block stream`, and for the packs the output address
// (argument 9); aborts when a buffer argument is not inside a live allocation.
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
    if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024) return INVALID_VALUE;
    const char *name = f;
    for (const int *a = buffer_args(name); *a >= 0; a++) find(*(CUdeviceptr *)params[*a], 1);
    char line[256];
    snprintf(line, sizeof line, "launch %s grid %u,%u,%u block %u,%u,%u stream %llx", name, gx, gy,
             gz, bx, by, bz, (unsigned long long)stream);
    if (!strncmp(name, "pack_", 5)) {
        CUdeviceptr out = *(CUdeviceptr *)params[9];
        snprintf(line + strlen(line), sizeof line - strlen(line), " out %llx", out);
    }
    logf_("%s", line);
    // FAKE_CUDA_RUN=1: the kernel runs on the CPU (fake_kernels.c), so decodes give pixels.
    if (getenv("FAKE_CUDA_RUN")) {
        unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
        if (fake_run_kernel(name, grid, block, params)) return 500; // CUDA_ERROR_NOT_FOUND
    }
    return 0;
}
