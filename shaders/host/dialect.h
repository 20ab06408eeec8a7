// vc6-rs kernels: the host C dialect, for tests only. Goes first, followed by
// shaders/common/decode_body.h, in crates/vc6-cuda/tests/fake_kernels.c, which the stand-in
// CUDA driver of the tests (crates/vc6-cuda/tests/fake_libcuda.c) calls to run a launch on
// the CPU when FAKE_CUDA_RUN=1. So the CUDA backend's host code (buffers, segments, kernel
// arguments, launch shapes, copies, lanes) is checked end to end, pixels included, where
// there is no GPU. It names the words the body uses (the list is at the top of the body) as
// shaders/cuda/dialect.cuh does, with OpenCL C's types and values.
//
// Execution model, as CUDA's: a launch runs its blocks one after another; within a block,
// a kernel with barriers runs each CUDA thread as a fiber (ucontext), every fiber resumed
// in turn until its next barrier, so none passes a barrier before all reached it; a kernel
// without barriers runs its threads one after another (which no barrier-free kernel can
// tell from running them at once). Work-group arrays are static: one per kernel, shared by
// the threads of the running block.
//
// It is not a model of a GPU's memory ordering or warp scheduling: a kernel that is racy on
// a GPU may pass here. It checks the host's side and the kernels' integers.
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>

// Entry points: called through fake_kernels.c's trampolines.
#define KERNEL static
#define KERNEL_GROUP(n) static
#define FUNC static inline

// Address spaces: one memory.
#define GLOBAL
#define LOCAL
#define GROUP_SHARED static

// The running CUDA thread's place in the launch, set by fake_kernels.c.
extern __thread unsigned fk_thread[3], fk_block[3], fk_dim[3];
#define LOCAL_ID_X (fk_thread[0])
#define GROUP_ID_X (fk_block[0])
#define GLOBAL_ID_X (fk_block[0] * fk_dim[0] + fk_thread[0])
#define GLOBAL_ID_Y (fk_block[1] * fk_dim[1] + fk_thread[1])

// A barrier of the running block (fake_kernels.c aborts when a kernel it runs without
// fibers reaches one).
void fk_barrier(void);
#define BARRIER_GLOBAL() fk_barrier()
#define BARRIER_ALL() fk_barrier()

// Types with OpenCL C's sizes.
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef long long i64;
typedef struct { int x, y, z, w; } int4;
typedef struct { uint x, y, z, w; } uint4;
#define MAKE_INT4(a, b, c, d) ((int4){(a), (b), (c), (d)})

#define INT_MAX 2147483647
#define INT_MIN (-INT_MAX - 1)

// Integer built-ins with OpenCL C's types and values (clz(0) is 32).
#define POPCOUNT(x) ((uint)__builtin_popcount((uint)(x)))
#define CLZ(x) ((uint)(x) == 0 ? 32u : (uint)__builtin_clz((uint)(x)))
#define UABS(x) ((x) < 0 ? 0u - (uint)(x) : (uint)(x))

// min and max of int, uint and long long, and clamp of int, as OpenCL C's (C has no
// overloading: _Generic picks by the operands' common type, which the body never mixes).
static inline int fk_mini(int a, int b) { return a < b ? a : b; }
static inline uint fk_minu(uint a, uint b) { return a < b ? a : b; }
static inline i64 fk_minl(i64 a, i64 b) { return a < b ? a : b; }
static inline int fk_maxi(int a, int b) { return a > b ? a : b; }
static inline uint fk_maxu(uint a, uint b) { return a > b ? a : b; }
static inline i64 fk_maxl(i64 a, i64 b) { return a > b ? a : b; }
#define min(a, b) _Generic((a) + (b), int: fk_mini, uint: fk_minu, i64: fk_minl)((a), (b))
#define max(a, b) _Generic((a) + (b), int: fk_maxi, uint: fk_maxu, i64: fk_maxl)((a), (b))
static inline int clamp(int x, int lo, int hi) { return fk_mini(fk_maxi(x, lo), hi); }
