// tinygrad_med/kernelcheck/cuda_cpu.h -- the CUDA built-ins, for running unchanged .cu kernels on the CPU.
//
// The emulator (emulator.py) compiles kernels/<family>.cu with g++ -std=c++20 and this header
// force-included, plus a generated trampoline per kernel that calls tgm::launch() below.
// How a launch runs:
//   - blocks run one after another, so `__shared__` is plain static storage (one copy, reused);
//   - in a kernel without __syncthreads, the threads of a block run as a plain loop;
//   - in a kernel with __syncthreads, each CUDA thread of the block is a ucontext fiber, and
//     __syncthreads() switches back to a scheduler that resumes the next fiber.  When every fiber
//     waits at the barrier, all are released.  A fiber that returns while others wait is reported
//     (undefined in CUDA: older GPUs hang, newer ones go on with shared memory the exited threads
//     never wrote), and so are threads waiting at different barriers;
//   - order 1 runs blocks and threads in reverse; comparing with order 0 exposes missing barriers.
// One OS thread runs a launch (emulator.py serialises launches), so the built-ins are plain
// globals and atomics are plain read-modify-writes: a fiber is never pre-empted.
// Not emulated: warps (__shfl*, __syncwarp, warp votes), extern __shared__, half precision,
// textures, timing.  A kernel that uses them fails to compile here, with the name in the error.
#ifndef TGM_CUDA_CPU_H
#define TGM_CUDA_CPU_H

#include <cmath>
#include <math.h>  // after <cmath>: puts the float overloads (exp(float), ...) in the global namespace
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <sys/mman.h>
#include <ucontext.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

// ------------------------------------------------------------------ keywords
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
// Blocks run one at a time, so one static copy is the block's shared memory.  All of it sits in
// one section, filled with 0xFF bytes (NaN as float or double, -1 as an integer) before each block:
// a read of shared memory that no thread of this block wrote shows up instead of reading what the
// previous block left.  Under ASan each array keeps its own red zones instead (ASan leaves arrays
// in named sections unguarded), so there overflows are reported and stale reads are not.
#ifdef __SANITIZE_ADDRESS__
#define __shared__ static
#else
#define __shared__ static __attribute__((section("tgm_shared")))
#endif
extern "C" char __start_tgm_shared[] __attribute__((weak, visibility("hidden")));  // set by the linker
extern "C" char __stop_tgm_shared[] __attribute__((weak, visibility("hidden")));
#define __launch_bounds__(...)
// __restrict__ is a g++ keyword already.

// ------------------------------------------------------------------ thread and block indices
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
static uint3 threadIdx, blockIdx;  // set by the scheduler before each thread runs or resumes
static dim3 blockDim, gridDim;
static const int warpSize = 32;

// ------------------------------------------------------------------ atomics (same overloads as CUDA)
#define TGM_ATOMIC(T)                                                              \
  static inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }     \
  static inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
TGM_ATOMIC(int)
TGM_ATOMIC(unsigned int)
TGM_ATOMIC(unsigned long long)
TGM_ATOMIC(float)
TGM_ATOMIC(double)
#define TGM_ATOMIC_INT(T)                                                                        \
  static inline T atomicMax(T* p, T v) { T old = *p; *p = old > v ? old : v; return old; }         \
  static inline T atomicMin(T* p, T v) { T old = *p; *p = old < v ? old : v; return old; }         \
  static inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }  \
  static inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
TGM_ATOMIC_INT(int)
TGM_ATOMIC_INT(unsigned int)
TGM_ATOMIC_INT(long long)
TGM_ATOMIC_INT(unsigned long long)
static inline void __threadfence() { asm volatile("" ::: "memory"); }

// ------------------------------------------------------------------ math and bit intrinsics
template <class T> static inline T __ldg(const T* p) { return *p; }
template <class A, class B> static inline auto min(A a, B b) -> std::common_type_t<A, B> { return b < a ? b : a; }
template <class A, class B> static inline auto max(A a, B b) -> std::common_type_t<A, B> { return a < b ? b : a; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
#define __expf(x) expf(x)  // the GPU's fast versions; exact here (glibc declares these names too)
#define __logf(x) logf(x)
#define __powf(x, y) powf(x, y)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
template <class To, class From> static inline To tgm_bits(From v) { To r; std::memcpy(&r, &v, sizeof r); return r; }
static inline int __float_as_int(float x) { return tgm_bits<int>(x); }
static inline float __int_as_float(int x) { return tgm_bits<float>(x); }
static inline unsigned int __float_as_uint(float x) { return tgm_bits<unsigned int>(x); }
static inline float __uint_as_float(unsigned int x) { return tgm_bits<float>(x); }
static inline long long __double_as_longlong(double x) { return tgm_bits<long long>(x); }
static inline double __longlong_as_double(long long x) { return tgm_bits<double>(x); }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }

// ------------------------------------------------------------------ the block scheduler
namespace tgm {

struct Fiber {
  ucontext_t context;
  char* stack;
  uint3 index;
  int state;  // RUNNING, WAITING at a barrier, or DONE
  int line;   // source line of the barrier it waits at
};
enum { RUNNING, WAITING, DONE };
enum { STACK_BYTES = 256 * 1024, GUARD_BYTES = 4096 };  // per CUDA thread; a guard page catches overflow

struct Launch {
  void (*body)(const unsigned long long*);  // the generated trampoline: calls the kernel once
  const unsigned long long* args;
  bool fibers;           // run threads as fibers (the kernel calls __syncthreads)
  Fiber* fibers_of_block;
  int current;           // index of the running fiber
  ucontext_t scheduler;
  char error[512];
  const void* scheduler_stack;  // AddressSanitizer's view of the scheduler's stack
  size_t scheduler_stack_size;
};
static Launch launch_state;

// AddressSanitizer must be told about every switch between stacks, or it reports false errors.
static inline void asan_start(void** save, const void* bottom, size_t size) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_start_switch_fiber(save, bottom, size);
#else
  (void)save, (void)bottom, (void)size;
#endif
}
static inline void asan_finish(void* save, const void** bottom, size_t* size) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_finish_switch_fiber(save, bottom, size);
#else
  (void)save, (void)bottom, (void)size;
#endif
}

static void fail(const char* message, int a, int b) {
  if (launch_state.error[0] == 0) std::snprintf(launch_state.error, sizeof launch_state.error, message, a, b);
}

// From a fiber: back to the scheduler (save == nullptr when the fiber has finished for good).
static void yield_to_scheduler(Fiber& fiber, void** save) {
  asan_start(save, launch_state.scheduler_stack, launch_state.scheduler_stack_size);
  swapcontext(&fiber.context, &launch_state.scheduler);
  asan_finish(save ? *save : nullptr, nullptr, nullptr);
}

static void fiber_main(int index) {
  Fiber& fiber = launch_state.fibers_of_block[index];
  asan_finish(nullptr, &launch_state.scheduler_stack, &launch_state.scheduler_stack_size);
  launch_state.body(launch_state.args);
  fiber.state = DONE;
  yield_to_scheduler(fiber, nullptr);  // never resumed
}

// __syncthreads(): wait until every thread of the block has arrived.
static __attribute__((noinline)) void barrier(int line) {
  if (!launch_state.fibers) {  // the source scan missed a barrier: say so rather than run wrongly
    if (blockDim.x * blockDim.y * blockDim.z > 1)
      fail("__syncthreads (line %d) reached in a kernel run without fibers (emulator bug)", line, 0);
    return;
  }
  Fiber& fiber = launch_state.fibers_of_block[launch_state.current];
  fiber.state = WAITING;
  fiber.line = line;
  void* save = nullptr;
  yield_to_scheduler(fiber, &save);
  asm volatile("" ::: "memory");
}

static char* stacks(int count) {  // one stack per thread of a block, kept for the next launches
  static char* pool = nullptr;
  static int pooled = 0;
  if (count <= pooled) return pool;
  if (pool) munmap(pool, (size_t)pooled * STACK_BYTES);
  pool = (char*)mmap(nullptr, (size_t)count * STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pool == MAP_FAILED) { pool = nullptr; pooled = 0; return nullptr; }
  for (int i = 0; i < count; ++i) mprotect(pool + (size_t)i * STACK_BYTES, GUARD_BYTES, PROT_NONE);
  pooled = count;
  return pool;
}

static uint3 thread_index(int t) {
  return {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
}

// Run one block's threads as fibers, round after round, until all are done or a barrier is broken.
static void run_block_fibers(int threads, int order) {
  Fiber* fibers = launch_state.fibers_of_block;
  for (int t = 0; t < threads; ++t) {
    Fiber& f = fibers[t];
    f.index = thread_index(t), f.state = RUNNING, f.line = 0;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack + GUARD_BYTES;
    f.context.uc_stack.ss_size = STACK_BYTES - GUARD_BYTES;
    f.context.uc_link = nullptr;
    makecontext(&f.context, (void (*)())fiber_main, 1, t);
  }
  for (int waiting = threads; waiting > 0 && !launch_state.error[0];) {
    for (int k = 0; k < threads; ++k) {
      int t = order ? threads - 1 - k : k;
      if (fibers[t].state == DONE) continue;
      fibers[t].state = RUNNING;
      launch_state.current = t;
      threadIdx = fibers[t].index;
      void* save = nullptr;
      asan_start(&save, fibers[t].stack + GUARD_BYTES, STACK_BYTES - GUARD_BYTES);
      swapcontext(&launch_state.scheduler, &fibers[t].context);
      asan_finish(save, nullptr, nullptr);
    }
    int done = 0, line = -1;
    waiting = 0;
    for (int t = 0; t < threads; ++t) {
      if (fibers[t].state == DONE) { ++done; continue; }
      ++waiting;
      if (line >= 0 && fibers[t].line != line) fail("threads wait at different __syncthreads (lines %d and %d)", line, fibers[t].line);
      line = fibers[t].line;
    }
    if (waiting && done) fail("%d thread(s) returned while others wait at __syncthreads (line %d)", done, line);
  }
}

static void run_block_loop(int threads, int order) {
  for (int k = 0; k < threads && !launch_state.error[0]; ++k) {
    threadIdx = thread_index(order ? threads - 1 - k : k);
    launch_state.body(launch_state.args);
  }
}

// Run a whole grid.  cfg = {grid.x, grid.y, grid.z, block.x, block.y, block.z, order, fibers}.
// Returns 0, or 1 with a message in `error`.
static int launch(const long long* cfg, void (*body)(const unsigned long long*), const unsigned long long* args,
                  char* error, int error_size) {
  Launch& L = launch_state;
  L.body = body, L.args = args, L.fibers = cfg[7] != 0, L.error[0] = 0;
  gridDim = dim3((unsigned)cfg[0], (unsigned)cfg[1], (unsigned)cfg[2]);
  blockDim = dim3((unsigned)cfg[3], (unsigned)cfg[4], (unsigned)cfg[5]);
  int order = (int)cfg[6], threads = (int)(cfg[3] * cfg[4] * cfg[5]);
  long long blocks = cfg[0] * cfg[1] * cfg[2];
  static Fiber fibers[1024];
  if (threads > 1024) fail("block of %d threads; CUDA allows at most 1024", threads, 0);
  if (L.fibers && !L.error[0]) {
    char* pool = stacks(threads);
    if (!pool) fail("cannot allocate %d fiber stacks", threads, 0);
    for (int t = 0; pool && t < threads; ++t) fibers[t].stack = pool + (size_t)t * STACK_BYTES;
    L.fibers_of_block = fibers;
  }
  for (long long k = 0; k < blocks && !L.error[0]; ++k) {
    if (__start_tgm_shared) std::memset(__start_tgm_shared, 0xFF, __stop_tgm_shared - __start_tgm_shared);
    long long b = order ? blocks - 1 - k : k;
    blockIdx = {(unsigned)(b % cfg[0]), (unsigned)(b / cfg[0] % cfg[1]), (unsigned)(b / (cfg[0] * cfg[1]))};
    if (L.fibers) run_block_fibers(threads, order);
    else run_block_loop(threads, order);
  }
  std::fflush(stdout);  // a kernel's printf output comes before Python's next line
  if (!L.error[0]) return 0;
  std::snprintf(error, error_size, "block (%u, %u, %u): %s", blockIdx.x, blockIdx.y, blockIdx.z, L.error);
  return 1;
}

}  // namespace tgm

#define __syncthreads() tgm::barrier(__LINE__)

#endif  // TGM_CUDA_CPU_H
