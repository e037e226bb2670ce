// kernels/common.cuh -- the few definitions every kernel file shares.
// Compiled by NVRTC (CuPy), by nvcc (the compile check) and by g++ with
// tinygrad_med/kernelcheck/cuda_cpu.h (the CPU emulator), so it uses nothing but plain CUDA C++.
#ifndef TGM_COMMON_CUH
#define TGM_COMMON_CUH

#ifndef REAL_T
#error "compile with -DREAL_T=float or -DREAL_T=double (backend.compile_options does)"
#endif
typedef REAL_T real_t;  // float32 or float64 tensors: one source, compiled twice

// for (long long i = global thread index; i < n; i += threads in the grid): any grid covers any n.
#define GRID_STRIDE_LOOP(i, n)                                                \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)

#endif  // TGM_COMMON_CUH
