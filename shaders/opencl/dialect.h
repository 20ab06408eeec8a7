// vc6-rs kernels: the OpenCL C 1.2 dialect. Goes first in the OpenCL program source,
// followed by shaders/common/decode_body.h (crates/vc6-opencl/src/lib.rs, KERNEL_SOURCE),
// and names, in OpenCL C, the words the body uses for what differs between OpenCL and
// CUDA (shaders/cuda/dialect.cuh is the other side; the list is at the top of the body).
// Every word expands to what the kernels were written with before the split (or to the
// same value: a cast the old code made implicitly, a swizzle spelt as a constructor), so
// the OpenCL kernels compute exactly what they did.

// Entry points and helpers.
#define KERNEL kernel
#define KERNEL_GROUP(n) __attribute__((reqd_work_group_size(n, 1, 1))) kernel
#define FUNC inline

// Address spaces: pointers into device (global) and work-group (local) memory, and a
// work-group array declared inside a kernel.
#define GLOBAL global
#define LOCAL local
#define GROUP_SHARED local

// Work-item indices (get_*_id return size_t; the body keeps them as uint).
#define LOCAL_ID_X ((uint)get_local_id(0))
#define GROUP_ID_X ((uint)get_group_id(0))
#define GLOBAL_ID_X ((uint)get_global_id(0))
#define GLOBAL_ID_Y ((uint)get_global_id(1))

// Work-group barriers: device memory only, and device plus work-group memory.
#define BARRIER_GLOBAL() barrier(CLK_GLOBAL_MEM_FENCE)
#define BARRIER_ALL() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)

// Integer built-ins, with OpenCL C's types: popcount and clz of a uint are uint, abs of an
// int is a uint (so abs(INT_MIN) is 2^31).
#define POPCOUNT(x) popcount(x)
#define CLZ(x) clz(x)
#define UABS(x) abs(x)

// Types: uchar, ushort, uint, int4, uint4, min, max, clamp, INT_MIN and INT_MAX are
// OpenCL C's own; long is 64 bits in OpenCL C.
typedef long i64;
#define MAKE_INT4(a, b, c, d) ((int4)((a), (b), (c), (d)))
