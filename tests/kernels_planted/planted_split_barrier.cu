// tests/kernels_planted/planted_split_barrier.cu -- PLANTED BUG: even and odd threads wait at
// different __syncthreads. mark: y[t] = 1 for even t, 2 for odd t, each branch with its own
// barrier; CUDA leaves that undefined. The emulator must name both lines (8 and 11).
typedef REAL_T real_t;
#define SYNC() __syncthreads()  // through a macro: the emulator's source scan must still see it
extern "C" __global__ void mark(real_t* __restrict__ y) {
  if (threadIdx.x % 2 == 0) {
    SYNC();
    y[threadIdx.x] = 1;
  } else {
    SYNC();
    y[threadIdx.x] = 2;
  }
}
