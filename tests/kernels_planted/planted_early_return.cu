// tests/kernels_planted/planted_early_return.cu -- PLANTED BUG: a return before a barrier.
// block_max: partial[b] = max over block b's 64 elements; threads past n return early and never
// reach __syncthreads. CUDA leaves that undefined: older GPUs hang; an H200 counts the exited
// threads as arrived, and the tree then reads shared memory they never wrote (stale values).
// The emulator must raise instead.
typedef REAL_T real_t;
#define BLOCK 64

extern "C" __global__ void block_max(const real_t* __restrict__ x, real_t* __restrict__ partial, long long n) {
  __shared__ real_t s[BLOCK];
  long long i = (long long)blockIdx.x * BLOCK + threadIdx.x;
  if (i >= n) return;  // BUG: the last block's tail threads skip the barriers below
  s[threadIdx.x] = x[i];
  __syncthreads();
  for (int half = BLOCK / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) s[threadIdx.x] = max(s[threadIdx.x], s[threadIdx.x + half]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
