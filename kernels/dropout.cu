// kernels/dropout.cu -- inverted dropout with a counter-based random generator (lecture: "Dropout regularization")
// dropout_fwd:         y[i] = x[i] * (u_i >= threshold ? scale : 0),  scale = 1 / (1 - p),  threshold = round(p 2^32)
//                      (element dropout; one thread per 4 elements, which share one Philox block)
// dropout_channel_fwd: the same with k = i / group (the channel of dropout1d/2d/3d): y[i] = x[i] * keep(u_k);
//                      the n / group words u_k come from philox_uint32 (a tiny launch), the kernel only reads them
// The backward is the same map applied to gy (gx = gy * mask * scale): ops/dropout.py calls these kernels again
// with the same seed, so the mask is regenerated, never stored.
// philox_uint32:       out[k] = u_k, the random stream itself (also the CPU == GPU bit-for-bit test).
// u_k = word (k mod 4) of Philox4x32-10(counter = (lo32(k/4), hi32(k/4), 0, 0), key = (lo32(seed), hi32(seed))).
// Philox4x32-10 (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC'11): a bijection of the 128-bit counter keyed by 64 bits, 10 rounds of
//   (hi0, lo0) = M0 * c0;  (hi1, lo1) = M1 * c2        (32 x 32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);  then the key is bumped by the Weyl constants (W0, W1).
// Every element's random number depends only on (seed, k), so any thread can make any element's number:
// no state, no sequential stream, the same numbers on any grid and on the CPU.
// Reference: tinygrad_med/ops/dropout.py::philox4x32_10, _philox_uint32_cpu, _dropout_fwd_cpu.
#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u  // golden ratio
#define PHILOX_W1 0xBB67AE85u  // sqrt(3) - 1

// The 4 words of Philox4x32-10 block `block` (counter (lo32(block), hi32(block), 0, 0)) keyed by seed:
// u_{4 block}, ..., u_{4 block + 3}.
struct PhiloxBlock {
  unsigned int w[4];
};

__device__ PhiloxBlock philox_block(unsigned long long block, unsigned long long seed) {
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
  PhiloxBlock out = {{c0, c1, c2, c3}};
  return out;
}

// launch: ceil(n / 4) threads (grid-stride), one per Philox block, i.e. per 4 consecutive elements
// 4b .. 4b + 3: one Philox evaluation gives all four masks (not one evaluation per element).
extern "C" __global__ void dropout_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n,
                                       unsigned long long seed, unsigned long long threshold, double scale) {
  const real_t kept = (real_t)scale, dropped = (real_t)0;
  GRID_STRIDE_LOOP(b, (n + 3) / 4) {
    const PhiloxBlock u = philox_block((unsigned long long)b, seed);
    for (int j = 0; j < 4; ++j) {  // constant trip count: unrolled, u.w[j] stays in registers
      const long long i = 4 * b + j;
      if (i < n) y[i] = x[i] * ((unsigned long long)u.w[j] >= threshold ? kept : dropped);
    }
  }
}

// launch: one thread per element i; keep[i / group] is the mask entry u_k >= threshold made by
// philox_uint32 beforehand (n / group words). (k, r) = (i / group, i % group) is carried from one
// grid-stride step to the next (a precomputed step, no 64-bit division per element).
extern "C" __global__ void dropout_channel_fwd(const real_t* __restrict__ x, const unsigned int* __restrict__ u,
                                               real_t* __restrict__ y, long long n, long long group,
                                               unsigned long long threshold, double scale) {
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)blockDim.x * gridDim.x;
  const long long step_k = stride / group, step_r = stride % group;
  long long k = first / group, r = first % group;
  for (long long i = first; i < n; i += stride) {
    y[i] = x[i] * ((unsigned long long)u[k] >= threshold ? (real_t)scale : (real_t)0);
    k += step_k;  // i + stride = (k + step_k) * group + (r + step_r), with one carry at most
    r += step_r;
    if (r >= group) {
      r -= group;
      ++k;
    }
  }
}

// launch: ceil(n / 4) threads, one per Philox block: out[k] = u_k
extern "C" __global__ void philox_uint32(unsigned int* __restrict__ out, long long n, unsigned long long seed) {
  GRID_STRIDE_LOOP(b, (n + 3) / 4) {
    const PhiloxBlock u = philox_block((unsigned long long)b, seed);
    for (int j = 0; j < 4; ++j)
      if (4 * b + j < n) out[4 * b + j] = u.w[j];
  }
}
