// kernels/dropout.cu -- inverted dropout with a counter-based random generator (lecture: "Dropout regularization")
// dropout_fwd:   k = i / group (the element, or its channel for dropout2d/3d);
//                y[i] = x[i] * (u_k >= threshold ? scale : 0),  scale = 1 / (1 - p),  threshold = round(p 2^32)
//                The backward is the same map applied to gy (gx = gy * mask * scale): ops/dropout.py calls this
//                kernel again with the same seed, so the mask is regenerated, never stored.
// philox_uint32: out[k] = u_k, the random stream itself (for the CPU == GPU bit-for-bit test).
// u_k = word (k mod 4) of Philox4x32-10(counter = (lo32(k/4), hi32(k/4), 0, 0), key = (lo32(seed), hi32(seed))).
// Philox4x32-10 (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC'11): a bijection of the 128-bit counter keyed by 64 bits, 10 rounds of
//   (hi0, lo0) = M0 * c0;  (hi1, lo1) = M1 * c2        (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);  then the key is bumped by the Weyl constants (W0, W1).
// Every element's random number depends only on (seed, k), so any thread can make any element's number:
// no state, no sequential stream, the same numbers on any grid and on the CPU.
// Reference: tinygrad_med/ops/dropout.py::philox4x32_10, _philox_uint32_cpu, _dropout_fwd_cpu.
// One thread per element.
#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u  // golden ratio
#define PHILOX_W1 0xBB67AE85u  // sqrt(3) - 1

// u_k: word k % 4 of the Philox4x32-10 block with counter k / 4 and key seed
__device__ unsigned int philox_word(unsigned long long k, unsigned long long seed) {
  const unsigned long long block = k >> 2;
  unsigned int c0 = (unsigned int)block, c1 = (unsigned int)(block >> 32), c2 = 0u, c3 = 0u;
  unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // key schedule: bumped before rounds 2..10
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    const unsigned int hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
    const unsigned int hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  const unsigned int word = (unsigned int)(k & 3);
  return word == 0 ? c0 : word == 1 ? c1 : word == 2 ? c2 : c3;
}

extern "C" __global__ void dropout_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n,
                                       long long group, unsigned long long seed, unsigned long long threshold,
                                       double scale) {
  GRID_STRIDE_LOOP(i, n) {
    const bool keep = (unsigned long long)philox_word((unsigned long long)(i / group), seed) >= threshold;
    y[i] = x[i] * (keep ? (real_t)scale : (real_t)0);
  }
}

extern "C" __global__ void philox_uint32(unsigned int* __restrict__ out, long long n, unsigned long long seed) {
  GRID_STRIDE_LOOP(k, n) { out[k] = philox_word((unsigned long long)k, seed); }
}
