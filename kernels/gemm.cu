// kernels/gemm.cu -- an educational tiled matrix product (lecture: "CNN refresher", fully
// connected layers; every convolution here is im2col + one matrix product).
//
// gemm_tiled:  C[m, n] = sum_k A[m, k] * B[k, n]     A (M, K), B (K, N), C (M, N), row-major
//
// Reference: tinygrad_med/ops/gemm.py::_tiled_matmul_cpu (numpy.matmul). Not used by the ops:
// dense products go through cuBLAS (cupy.matmul); this kernel is benchmarked against it so a
// reader sees what each idea buys:
//   1. tiling: a block of 256 threads computes a 128 x 128 tile of C; the A and B panels it
//      needs are staged through shared memory 8 columns (BK) at a time, so each element of A and
//      B is read from global memory 128 / 8 = 16 times less often than in a naive kernel;
//   2. register blocking: each thread computes an 8 x 8 sub-tile, so every value loaded from
//      shared memory feeds 8 multiply-adds (a thread does 64 FMAs per 16 shared loads);
//   3. the A panel is stored transposed in shared memory, so a thread's 8 values of A for one k
//      are contiguous, like its 8 values of B.
// Edges: loads outside A or B read 0 and stores outside C are skipped, so any M, N, K works.
// Launch: grid (ceil(N / 128), ceil(M / 128)), block (256).
#include "common.cuh"

#define BM 128
#define BN 128
#define BK 8
#define TM 8
#define TN 8

extern "C" __global__ void __launch_bounds__(256) gemm_tiled(const real_t* __restrict__ A, const real_t* __restrict__ B,
                                                             real_t* __restrict__ C, long long M, long long N,
                                                             long long K) {
  __shared__ real_t As[BK][BM];  // A panel, transposed: As[k][m]
  __shared__ real_t Bs[BK][BN];  // B panel: Bs[k][n]

  const int tid = threadIdx.x;
  const int thread_row = tid / (BN / TN);  // 0..15: which 8 rows of the tile
  const int thread_col = tid % (BN / TN);  // 0..15: which 8 columns
  const long long row0 = (long long)blockIdx.y * BM;
  const long long col0 = (long long)blockIdx.x * BN;

  real_t acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0;

  for (long long k0 = 0; k0 < K; k0 += BK) {
    // Stage the panels: 1024 elements of A and of B, 4 per thread, zero outside the matrices.
    for (int e = tid; e < BM * BK; e += 256) {
      const int m = e / BK, k = e % BK;  // consecutive threads read consecutive k of one row
      const long long gm = row0 + m, gk = k0 + k;
      As[k][m] = (gm < M && gk < K) ? A[gm * K + gk] : (real_t)0;
    }
    for (int e = tid; e < BK * BN; e += 256) {
      const int k = e / BN, n = e % BN;  // consecutive threads read consecutive columns
      const long long gk = k0 + k, gn = col0 + n;
      Bs[k][n] = (gk < K && gn < N) ? B[gk * N + gn] : (real_t)0;
    }
    __syncthreads();  // the panels are complete before anyone reads them

    for (int k = 0; k < BK; ++k) {
      real_t a[TM], b[TN];
      for (int i = 0; i < TM; ++i) a[i] = As[k][thread_row * TM + i];
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][thread_col * TN + j];
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];  // outer product of the fragments
    }
    __syncthreads();  // everyone is done with the panels before they are overwritten
  }

  for (int i = 0; i < TM; ++i) {
    const long long gm = row0 + thread_row * TM + i;
    if (gm >= M) break;
    for (int j = 0; j < TN; ++j) {
      const long long gn = col0 + thread_col * TN + j;
      if (gn < N) C[gm * N + gn] = acc[i][j];
    }
  }
}
