// kernels/graph.cu -- graph convolution (lecture: "Graph convolutions: learning beyond images")
// The adjacency (or any graph operator) is a CSR matrix: row i holds entries e in [indptr[i], indptr[i+1])
// at columns indices[e]; row[e] = i.  Edge values have K channels, values[e*K + k] (K = 1: a plain matrix).
// spmm_fwd:            y[i,k,f] = sum_{e in row i} values[e,k] x[indices[e], f]     (A_k @ X, the aggregation)
// spmm_bwd_x:          gx[j,f] = sum_k sum_{e' in row j of A^T} values[perm[e'],k] gy[indices_t[e'], k, f]
//                      (A^T @ gY as a gather over the rows of A^T; CSR of A^T built once on the host)
// spmm_bwd_values:     gvalues[e,k] = sum_f gy[row[e], k, f] x[indices[e], f]    (dL/da_ij, sampled product)
// gaussian_kernel_fwd: phi[e,k] = exp(-1/2 sum_d (u[e,d] - mu[k,d])^2 / sigma[k,d]^2)   (Sigma_k = diag sigma_k^2)
// gaussian_kernel_bwd: r = gphi phi;  gmu[k,d] = sum_e r (u - mu) / sigma^2;  gsigma[k,d] = sum_e r (u - mu)^2 / sigma^3
// segment_max_fwd:     y[b,f] = max over nodes v in [ptr[b], ptr[b+1]) of x[v,f]; argmax = first such v (-1 if empty)
// segment_max_bwd:     gx[argmax[b,f], f] = gy[b,f]
// Reference: tinygrad_med/ops/graph.py::_spmm_fwd_cpu, _spmm_bwd_x_cpu, _spmm_bwd_values_cpu,
// _gaussian_kernel_fwd_cpu, _gaussian_kernel_bwd_cpu, _segment_max_fwd_cpu, _segment_max_bwd_cpu.
//
// Threads: spmm kernels run one thread per (output row, channel, feature), feature fastest, so the
// threads of a warp read consecutive features of the same neighbour row (coalesced).  The backward
// to x gathers over A^T instead of scattering with atomicAdd over A: no atomics means no contention
// at high-degree nodes and bit-for-bit reproducible gradients (float atomics add in a random order);
// the price is one O(E log E) sort on the host per graph, cached (CSR.transpose_structure).
// gaussian_kernel_bwd sums over all edges: one block per (k, d) and a shared-memory tree
// (block_reduce in common.cuh), again without atomics.  Sums accumulate in double.
#include "common.cuh"

#define GRAPH_THREADS 256  // = ops/graph.py::GRAPH_THREADS; a power of two (block_reduce halves it)

extern "C" __global__ void spmm_fwd(const long long* __restrict__ indptr, const long long* __restrict__ indices,
                                    const real_t* __restrict__ values, const real_t* __restrict__ x,
                                    real_t* __restrict__ y, long long V_out, long long K, long long F) {
  GRID_STRIDE_LOOP(t, V_out * K * F) {
    const long long f = t % F, k = (t / F) % K, i = t / (F * K);
    double sum = 0.0;
    for (long long e = indptr[i]; e < indptr[i + 1]; ++e) sum += (double)values[e * K + k] * (double)x[indices[e] * F + f];
    y[t] = (real_t)sum;
  }
}

extern "C" __global__ void spmm_bwd_x(const long long* __restrict__ indptr_t, const long long* __restrict__ indices_t,
                                      const long long* __restrict__ perm, const real_t* __restrict__ values,
                                      const real_t* __restrict__ gy, real_t* __restrict__ gx, long long V_in,
                                      long long K, long long F) {
  GRID_STRIDE_LOOP(t, V_in * F) {
    const long long f = t % F, j = t / F;
    double sum = 0.0;
    for (long long e = indptr_t[j]; e < indptr_t[j + 1]; ++e) {  // entry e of A^T is entry perm[e] of A
      const long long i = indices_t[e], a = perm[e];
      for (long long k = 0; k < K; ++k) sum += (double)values[a * K + k] * (double)gy[(i * K + k) * F + f];
    }
    gx[t] = (real_t)sum;
  }
}

extern "C" __global__ void spmm_bwd_values(const long long* __restrict__ row, const long long* __restrict__ indices,
                                           const real_t* __restrict__ gy, const real_t* __restrict__ x,
                                           real_t* __restrict__ gvalues, long long E, long long K, long long F) {
  GRID_STRIDE_LOOP(t, E * K) {
    const long long k = t % K, e = t / K;
    const real_t* g = gy + (row[e] * K + k) * F;
    const real_t* xj = x + indices[e] * F;
    double sum = 0.0;
    for (long long f = 0; f < F; ++f) sum += (double)g[f] * (double)xj[f];
    gvalues[t] = (real_t)sum;
  }
}

extern "C" __global__ void gaussian_kernel_fwd(const real_t* __restrict__ u, const real_t* __restrict__ mu,
                                               const real_t* __restrict__ sigma, real_t* __restrict__ phi,
                                               long long E, long long K, long long D) {
  GRID_STRIDE_LOOP(t, E * K) {
    const long long k = t % K, e = t / K;
    double quad = 0.0;  // (u - mu)^T Sigma^-1 (u - mu) with Sigma diagonal
    for (long long d = 0; d < D; ++d) {
      const double z = ((double)u[e * D + d] - (double)mu[k * D + d]) / (double)sigma[k * D + d];
      quad += z * z;
    }
    phi[t] = (real_t)exp(-0.5 * quad);
  }
}

// launch: grid (K*D,), block (GRAPH_THREADS,)
extern "C" __global__ void __launch_bounds__(GRAPH_THREADS) gaussian_kernel_bwd(
    const real_t* __restrict__ u, const real_t* __restrict__ mu, const real_t* __restrict__ sigma,
    const real_t* __restrict__ phi, const real_t* __restrict__ gphi, real_t* __restrict__ gmu,
    real_t* __restrict__ gsigma, long long E, long long K, long long D) {
  __shared__ double partial[GRAPH_THREADS];
  const long long k = blockIdx.x / D, d = blockIdx.x % D;
  const double m = (double)mu[k * D + d], s = (double)sigma[k * D + d];
  double sum_mu = 0.0, sum_sigma = 0.0;
  for (long long e = threadIdx.x; e < E; e += GRAPH_THREADS) {  // each thread a strided slice of the edges
    const double r = (double)gphi[e * K + k] * (double)phi[e * K + k];  // dL/dphi * phi = dL/d(log phi)
    const double diff = (double)u[e * D + d] - m;
    sum_mu += r * diff;
    sum_sigma += r * diff * diff;
  }
  sum_mu = block_reduce(partial, sum_mu, false);
  sum_sigma = block_reduce(partial, sum_sigma, false);
  if (threadIdx.x == 0) {
    gmu[k * D + d] = (real_t)(sum_mu / (s * s));
    gsigma[k * D + d] = (real_t)(sum_sigma / (s * s * s));
  }
}

extern "C" __global__ void segment_max_fwd(const long long* __restrict__ ptr, const real_t* __restrict__ x,
                                           real_t* __restrict__ y, long long* __restrict__ argmax, long long B,
                                           long long F) {
  GRID_STRIDE_LOOP(t, B * F) {
    const long long f = t % F, b = t / F;
    long long best = -1;
    for (long long v = ptr[b]; v < ptr[b + 1]; ++v)
      if (best < 0 || x[v * F + f] > x[best * F + f]) best = v;  // strict '>': the first maximum wins ties
    y[t] = best < 0 ? (real_t)0 : x[best * F + f];
    argmax[t] = best;
  }
}

extern "C" __global__ void segment_max_bwd(const long long* __restrict__ argmax, const real_t* __restrict__ gy,
                                           real_t* __restrict__ gx, long long B, long long F) {
  GRID_STRIDE_LOOP(t, B * F) {  // every node belongs to one graph: each gx entry is written at most once
    if (argmax[t] >= 0) gx[argmax[t] * F + t % F] = gy[t];
  }
}
