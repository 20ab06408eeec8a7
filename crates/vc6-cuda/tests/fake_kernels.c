// The decode kernels on the CPU, for the stand-in driver (fake_libcuda.c): its
// cuLaunchKernel calls fake_run_kernel when FAKE_CUDA_RUN=1. The kernel bodies are the
// shared ones (shaders/common/decode_body.h) in the host C dialect (shaders/host/dialect.h),
// so a decode through the CUDA backend's host code gives real pixels, which the tests
// compare with the CPU backend's. Built with -I shaders/host -I shaders/common.
#include "dialect.h"
#include "decode_body.h"
#include <string.h>
#include <ucontext.h>

__thread unsigned fk_thread[3], fk_block[3], fk_dim[3];

// Whether the running kernel runs its threads as fibers (it has barriers).
static int threaded;

// A kernel with barriers runs each CUDA thread of a block as a fiber (ucontext) on the
// launching thread: a round resumes every fiber until its next barrier or its end, so no
// fiber passes barrier k before all have reached it. Cheap on few cores, where a POSIX
// thread per CUDA thread spends its time waking 32 threads at every barrier.
typedef struct {
    ucontext_t ctx;
    enum { RUNNABLE, AT_BARRIER, DONE } state;
    unsigned thread[3];
} Fiber;

static ucontext_t scheduler;
static Fiber *fibers;
static unsigned current;
static void (*fiber_body)(void **);
static void **fiber_params;

static void fiber_main(void) {
    fiber_body(fiber_params);
    fibers[current].state = DONE; // and back to the scheduler (uc_link)
}

void fk_barrier(void) {
    if (!threaded) {
        fprintf(stderr, "[fake kernels] a barrier in a kernel run thread by thread\n");
        abort();
    }
    fibers[current].state = AT_BARRIER;
    swapcontext(&fibers[current].ctx, &scheduler);
}

// Each kernel called with its arguments as cuLaunchKernel has them: params[i] points to
// argument i (buffers are device addresses, which are host addresses here).
#define A(i, type) (*(type *)params[i])

static void run_decode_tiles(void **params) {
    decode_tiles(A(0, const uchar *), A(1, const uint *), A(2, const uint *), A(3, const uint *),
                 A(4, uint), A(5, int *), A(6, const int *), A(7, uchar *), A(8, uchar *));
}
static void run_med_tiles(void **params) {
    med_tiles(A(0, const uint *), A(1, const uint *), A(2, const uint *), A(3, uint), A(4, uint),
              A(5, const int *), A(6, int *));
}
static void run_reconstruct(void **params) {
    reconstruct(A(0, const int *), A(1, int *), A(2, const uint *), A(3, uint), A(4, uint),
                A(5, uint));
}
static void run_pack_plane(void **params) {
    pack_plane(A(0, const int *), A(1, uint), A(2, uint), A(3, uint), A(4, uint), A(5, uint),
               A(6, uint), A(7, int), A(8, uint), A(9, uchar *), A(10, uint), A(11, uint),
               A(12, uint), A(13, uint));
}
static void run_pack_ycocg(void **params) {
    pack_ycocg(A(0, const int *), A(1, uint4), A(2, uint), A(3, uint), A(4, uint), A(5, uint),
               A(6, uint), A(7, int), A(8, uint), A(9, uchar *), A(10, uint4), A(11, uint4),
               A(12, uint4), A(13, uint));
}

typedef void (*Body)(void **params);

// Stack of each fiber: the kernels keep a few structs and no arrays of size on the stack.
#define FIBER_STACK (256u << 10)

// Runs one block of a kernel with barriers, its `n` threads as fibers on `stacks`.
static void run_block_as_fibers(Body body, void **params, const unsigned block[3],
                                unsigned n, char *stacks) {
    unsigned i = 0;
    for (unsigned tz = 0; tz < block[2]; tz++)
        for (unsigned ty = 0; ty < block[1]; ty++)
            for (unsigned tx = 0; tx < block[0]; tx++, i++) {
                Fiber *f = &fibers[i];
                getcontext(&f->ctx);
                f->ctx.uc_stack.ss_sp = stacks + (size_t)i * FIBER_STACK;
                f->ctx.uc_stack.ss_size = FIBER_STACK;
                f->ctx.uc_link = &scheduler;
                makecontext(&f->ctx, fiber_main, 0);
                f->state = RUNNABLE;
                f->thread[0] = tx, f->thread[1] = ty, f->thread[2] = tz;
            }
    fiber_body = body;
    fiber_params = params;
    for (;;) {
        unsigned waiting = 0, done = 0;
        for (current = 0; current < n; current++) {
            Fiber *f = &fibers[current];
            if (f->state == DONE) continue;
            f->state = RUNNABLE;
            memcpy(fk_thread, f->thread, sizeof fk_thread);
            swapcontext(&scheduler, &f->ctx);
        }
        for (i = 0; i < n; i++) {
            waiting += fibers[i].state == AT_BARRIER;
            done += fibers[i].state == DONE;
        }
        if (done == n) return;
        if (waiting != n) {
            // Some threads ended while others wait at a barrier: a hang on a GPU.
            fprintf(stderr, "[fake kernels] %u of %u threads ended while the rest wait at a barrier\n",
                    done, n);
            abort();
        }
    }
}

// Launches share the kernels' static work-group arrays and the fibers: one at a time.
static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;

// Runs kernel `name` over `grid` blocks of `block` threads, blocks one after another; 0,
// or -1 for a kernel it does not know.
int fake_run_kernel(const char *name, const unsigned grid[3], const unsigned block[3],
                    void **params) {
    Body body;
    int barriers = 0;
    if (!strcmp(name, "decode_tiles")) body = run_decode_tiles, barriers = 1;
    else if (!strcmp(name, "med_tiles")) body = run_med_tiles;
    else if (!strcmp(name, "reconstruct")) body = run_reconstruct;
    else if (!strcmp(name, "pack_plane")) body = run_pack_plane;
    else if (!strcmp(name, "pack_ycocg")) body = run_pack_ycocg;
    else return -1;
    unsigned n = block[0] * block[1] * block[2];
    pthread_mutex_lock(&launch_lock);
    unsigned saved[3][3];
    memcpy(saved[0], fk_thread, sizeof fk_thread);
    memcpy(saved[1], fk_block, sizeof fk_block);
    memcpy(saved[2], fk_dim, sizeof fk_dim);
    memcpy(fk_dim, block, sizeof fk_dim);
    threaded = barriers;
    char *stacks = barriers ? malloc((size_t)n * FIBER_STACK) : 0;
    fibers = barriers ? calloc(n, sizeof *fibers) : 0;
    if (barriers && (!stacks || !fibers)) {
        fprintf(stderr, "[fake kernels] no memory for %u fibers\n", n);
        abort();
    }
    for (fk_block[2] = 0; fk_block[2] < grid[2]; fk_block[2]++)
        for (fk_block[1] = 0; fk_block[1] < grid[1]; fk_block[1]++)
            for (fk_block[0] = 0; fk_block[0] < grid[0]; fk_block[0]++) {
                if (barriers) {
                    run_block_as_fibers(body, params, block, n, stacks);
                    continue;
                }
                // No barriers: the threads one after another.
                for (fk_thread[2] = 0; fk_thread[2] < block[2]; fk_thread[2]++)
                    for (fk_thread[1] = 0; fk_thread[1] < block[1]; fk_thread[1]++)
                        for (fk_thread[0] = 0; fk_thread[0] < block[0]; fk_thread[0]++)
                            body(params);
            }
    free(stacks);
    free(fibers);
    fibers = 0;
    threaded = 0;
    memcpy(fk_thread, saved[0], sizeof fk_thread);
    memcpy(fk_block, saved[1], sizeof fk_block);
    memcpy(fk_dim, saved[2], sizeof fk_dim);
    pthread_mutex_unlock(&launch_lock);
    return 0;
}
