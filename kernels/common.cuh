// kernels/common.cuh -- the few definitions every kernel file shares.
// Compiled by NVRTC (CuPy), by nvcc (the compile check) and by g++ with
// tinygrad_med/kernelcheck/cuda_cpu.h (the CPU emulator), so it uses nothing but plain CUDA C++.
#ifndef TGM_COMMON_CUH
#define TGM_COMMON_CUH

#ifndef REAL_T
// backend.compile_options always passes -DREAL_T=float or -DREAL_T=double; a plain
// `nvcc kernels/x.cu` (a quick syntax check) gets the float32 build.
#define REAL_T float
#endif
typedef REAL_T real_t;  // float32 or float64 tensors: one source, compiled twice

// NVRTC (what CuPy compiles with) has no <math.h>, so no INFINITY or NAN; nvcc and g++ have them.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif

// for (long long i = global thread index; i < n; i += threads in the grid): any grid covers any n.
#define GRID_STRIDE_LOOP(i, n)                                                \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)

// The sum (or the max, if take_max) of v over the block's threads, returned to every thread, as a
// shared-memory tree: log2(blockDim.x) halving steps with a __syncthreads after each.  Every thread
// of the block must call it; buf is __shared__ scratch with one entry per thread; blockDim.x must
// be a power of two.  T may be wider than real_t (e.g. double sums for float32 data).
template <class T>
__device__ T block_reduce(T* buf, T v, bool take_max) {
  const unsigned int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) buf[t] = take_max ? max(buf[t], buf[t + half]) : buf[t] + buf[t + half];
    __syncthreads();
  }
  const T result = buf[0];
  __syncthreads();  // every thread has read buf[0] before the next call overwrites it
  return result;
}

#endif  // TGM_COMMON_CUH
