// tests/kernels_planted/planted_stale_shared.cu -- PLANTED BUG: a read of shared memory nobody wrote.
// block_total: partial[b] = sum of block b's 64 elements; threads past n skip their store to s[t]
// (it should store 0), so the tree adds whatever s[t] held before: the previous block's values on a
// GPU, or 0 by luck. The emulator fills shared memory with NaN before each block: the sum is NaN.
typedef REAL_T real_t;
#define BLOCK 64

extern "C" __global__ void block_total(const real_t* __restrict__ x, real_t* __restrict__ partial, long long n) {
  __shared__ real_t s[BLOCK];
  long long i = (long long)blockIdx.x * BLOCK + threadIdx.x;
  if (i < n) s[threadIdx.x] = x[i];  // BUG: else s[threadIdx.x] = 0
  __syncthreads();
  for (int half = BLOCK / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
