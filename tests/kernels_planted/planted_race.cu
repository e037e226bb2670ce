// tests/kernels_planted/planted_race.cu -- PLANTED BUG: a missing __syncthreads (read before the write).
// shift_left: y[i] = x[i + 1] within each block of 64, through shared memory; the barrier between
// the write of s[t] and the read of s[t + 1] is missing, so the result depends on thread order.
// Used by tests/test_kernelcheck.py: forward and reverse thread order must give different results.
typedef REAL_T real_t;
#define BLOCK 64

extern "C" __global__ void shift_left(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  __shared__ real_t s[BLOCK];
  long long i = (long long)blockIdx.x * BLOCK + threadIdx.x;
  s[threadIdx.x] = i < n ? x[i] : (real_t)0;
  // BUG: __syncthreads() belongs here
  real_t right = threadIdx.x + 1 < BLOCK ? s[threadIdx.x + 1] : (real_t)0;
  __syncthreads();
  if (i < n) y[i] = right;
}
