// A stand-in for the NVIDIA driver (libcuda.so.1), built by tests/fake_driver.rs, so that
// the backend's host code with a driver present (device list, choice, context, module
// loading, the kernel cache) runs where there is no GPU. It answers only the calls the
// backend and NVRTC make, with made-up devices; it checks nothing about CUDA itself.
//
// FAKE_CUDA picks the behaviour: 0, context creation fails (out of memory); 1, cuInit
// finds no device; 2, everything succeeds and cuModuleLoadData accepts any ELF file.
// Built with -DNO_DRIVER_VERSION it lacks cuDriverGetVersion, like a driver too old for a
// symbol cudarc wants.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;

static int mode(void) {
    const char *m = getenv("FAKE_CUDA");
    return m ? atoi(m) : 0;
}

static int ctx_dummy, mod_dummy, fn_dummy;

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
CUresult cuModuleGetFunction(void **f, void *m, const char *name) { *f = &fn_dummy; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) {
    *s = e == 100 ? "no CUDA-capable device is detected"
       : e == 2 ? "out of memory"
       : e == 200 ? "device kernel image is invalid" : "fake error";
    return 0;
}
CUresult cuGetErrorName(CUresult e, const char **s) { *s = "CUDA_ERROR_FAKE"; return 0; }
// NVRTC opens libcuda too and asks for this; a real driver has it.
CUresult cuGetExportTable(const void **table, const void *id) { return 1; }
