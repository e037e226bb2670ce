// kernels/selftest.cu -- small kernels that test the kernel harness itself (tinygrad_med/kernelcheck)
// saxpy:          y[i] = a * x[i] + y[i]                       (grid-stride loop, double scalar)
// im2col_2d:      col[(c*KH + p)*KW + q, i*OW + j] = x[c, i*S - P + p*dil, j*S - P + q*dil] (0 outside)
// block_sum:      partial[b] = sum of x over block b's 256 elements (common.cuh's block_reduce: a
//                 shared-memory tree, its __syncthreads inside a __device__ function of another file)
// transpose_tile: y[j, i] = x[i, j] through a 16 x 16 shared tile (2-D blocks, __syncthreads)
// histogram:      counts[labels[i]] += 1 (atomicAdd on unsigned int)
// scatter_add:    out[index[i]] += src[i] (atomicAdd on real_t)
// Reference: tests/test_kernelcheck.py (NumPy one-liners). One thread per output element.
#include "common.cuh"

#define SUM_BLOCK 256
#define TILE 16

extern "C" __global__ void saxpy(real_t* __restrict__ y, const real_t* __restrict__ x, double a, long long n) {
  GRID_STRIDE_LOOP(i, n) { y[i] = (real_t)a * x[i] + y[i]; }
}

// x (C, H, W) -> col (C*KH*KW, OH*OW), OH = (H + 2P - dil*(KH-1) - 1) / S + 1 (same for OW)
extern "C" __global__ void im2col_2d(const real_t* __restrict__ x, real_t* __restrict__ col, long long C, long long H,
                                     long long W, long long KH, long long KW, long long S, long long P, long long dil,
                                     long long OH, long long OW) {
  GRID_STRIDE_LOOP(k, C * KH * KW * OH * OW) {
    long long j = k % OW, i = k / OW % OH, q = k / (OW * OH) % KW, p = k / (OW * OH * KW) % KH;
    long long c = k / (OW * OH * KW * KH);
    long long h = i * S - P + p * dil, w = j * S - P + q * dil;
    col[k] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(c * H + h) * W + w] : (real_t)0;
  }
}

// launch with blockDim.x == SUM_BLOCK; partial has one element per block
extern "C" __global__ void __launch_bounds__(SUM_BLOCK) block_sum(const real_t* __restrict__ x,
                                                                  real_t* __restrict__ partial, long long n) {
  __shared__ real_t s[SUM_BLOCK];
  long long i = (long long)blockIdx.x * SUM_BLOCK + threadIdx.x;
  real_t total = block_reduce(s, i < n ? x[i] : (real_t)0, false);  // barriers inside (common.cuh)
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// x (R, K) -> y (K, R); launch with block (TILE, TILE) and grid (ceil(K/TILE), ceil(R/TILE))
extern "C" __global__ void __launch_bounds__(TILE * TILE) transpose_tile(const real_t* __restrict__ x,
                                                                         real_t* __restrict__ y, long long R,
                                                                         long long K) {
  __shared__ real_t tile[TILE][TILE + 1];  // +1 column: no bank conflicts on the GPU
  long long r = (long long)blockIdx.y * TILE + threadIdx.y, k = (long long)blockIdx.x * TILE + threadIdx.x;
  if (r < R && k < K) tile[threadIdx.y][threadIdx.x] = x[r * K + k];
  __syncthreads();
  r = (long long)blockIdx.y * TILE + threadIdx.x, k = (long long)blockIdx.x * TILE + threadIdx.y;
  if (r < R && k < K) y[k * R + r] = tile[threadIdx.x][threadIdx.y];
}

extern "C" __global__ void histogram(const long long* __restrict__ labels, unsigned int* __restrict__ counts,
                                     long long n) {
  GRID_STRIDE_LOOP(i, n) { atomicAdd(&counts[labels[i]], 1u); }
}

extern "C" __global__ void scatter_add(const long long* __restrict__ index, const real_t* __restrict__ src,
                                       real_t* __restrict__ out, long long n) {
  GRID_STRIDE_LOOP(i, n) { atomicAdd(&out[index[i]], src[i]); }
}
