// tests/kernels_planted/planted_oob.cu -- PLANTED BUG: an out-of-bounds read.
// diff: y[i] = x[i + 1] - x[i] for i < n - 1 is right; this reads x[n] for the last i.
// On the CPU the read lands in whatever follows the array and the result can still look right;
// only AddressSanitizer (TGM_EMULATOR_SANITIZE=1, run_sanitized.sh) reports it.
typedef REAL_T real_t;

extern "C" __global__ void diff(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i + 1] - x[i];  // BUG: the bound should be n - 1
}
