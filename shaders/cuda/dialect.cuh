// vc6-rs kernels: the CUDA dialect (CUDA C++ as NVRTC compiles it, no headers included).
// Goes first in the CUDA program source, followed by shaders/common/decode_body.h
// (crates/vc6-cuda/src/lib.rs, KERNEL_SOURCE), and names, in CUDA, the words the body
// uses for what differs between OpenCL and CUDA (shaders/opencl/dialect.h is the other
// side; the list is at the top of the body). Each word gives what OpenCL C gives, type
// and value, so the kernels compute the same integers under both APIs.
//
// Not yet run on a GPU: `cargo xtask test` compiles this source with NVRTC for sm_80 and
// sm_90 and checks the PTX with ptxas; the CUDA host (crates/vc6-cuda/src/run) has
// launched the kernels only on a stand-in driver that runs the body on the CPU.
//
// Launch shape: one CUDA thread per OpenCL work item, one block per work-group,
// blockDim.x = 32 for decode_tiles (its __launch_bounds__).

// Entry points (unmangled names, as the OpenCL kernels) and helpers.
#define KERNEL extern "C" __global__
#define KERNEL_GROUP(n) extern "C" __global__ __launch_bounds__(n)
#define FUNC __device__ inline

// Address spaces: CUDA pointers are generic, so only the declaration of a work-group
// (block) array says where it lives.
#define GLOBAL
#define LOCAL
#define GROUP_SHARED __shared__

// Work-item indices, as OpenCL's with a zero global offset.
#define LOCAL_ID_X ((uint)threadIdx.x)
#define GROUP_ID_X ((uint)blockIdx.x)
#define GLOBAL_ID_X ((uint)(blockIdx.x * blockDim.x + threadIdx.x))
#define GLOBAL_ID_Y ((uint)(blockIdx.y * blockDim.y + threadIdx.y))

// Work-group barriers: __syncthreads() orders both global and shared memory for the block.
#define BARRIER_GLOBAL() __syncthreads()
#define BARRIER_ALL() __syncthreads()

// Types, with OpenCL C's sizes: uchar, ushort and uint are not CUDA's; long is 32 bits
// on some hosts, long long is 64 on all. int4 and uint4 are CUDA's built-in vectors
// (fields x, y, z, w; no swizzles, so the body spells those out).
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef long long i64;
#define MAKE_INT4(a, b, c, d) make_int4((a), (b), (c), (d))

#ifndef INT_MAX
#define INT_MAX 2147483647
#endif
#ifndef INT_MIN
#define INT_MIN (-INT_MAX - 1)
#endif

// Integer built-ins with OpenCL C's types and values: popcount and clz of a uint are
// uint; abs of an int is a uint (abs(INT_MIN) is 2^31, where CUDA's int abs overflows).
#define POPCOUNT(x) ((uint)__popc((uint)(x)))
#define CLZ(x) ((uint)__clz((int)(x)))
#define UABS(x) ((x) < 0 ? 0u - (uint)(x) : (uint)(x))

// min and max of int, uint and long long are CUDA's; OpenCL C's clamp (min(max(x, lo), hi))
// is the body's for int only.
__device__ inline int clamp(int x, int lo, int hi) { return min(max(x, lo), hi); }
