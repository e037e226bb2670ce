// kernels/norm.cu -- batch normalisation (lecture: "Batch normalization"; Ioffe & Szegedy, arXiv:1502.03167)
// x is viewed as (N, C, S): S = product of the spatial sizes (1 for BatchNorm1d on (N, C)); each channel c
// has m = N*S values. instance_norm, group_norm and layer_norm reuse these kernels on a reshaped view.
// The statistics:        mean[c] = (1/m) sum x;  var[c] = (1/m) sum (x - mean[c])^2   (biased, no E[x^2] - E[x]^2)
//   batch_norm_stats_partial: channel c's m values are cut into B = ceil(m / NORM_CHUNK) chunks, one block
//                          each (C*B blocks, not C: C = 128 blocks would leave an H100/H200 mostly idle).
//                          Chunk b (n_b values, held in registers) gives sum_b and, in a second pass over the
//                          registers, M2_b = sum over the chunk of (x - sum_b / n_b)^2.
//   batch_norm_stats_combine: Chan, Golub & LeVeque's pairwise formula, exact in exact arithmetic:
//                          mean = (1/m) sum_b sum_b;  var = (1/m) sum_b [M2_b + n_b (sum_b / n_b - mean)^2]
//                          so x is read once, and the variance is still a sum of squared deviations.
// batch_norm_fwd:        x_hat = (x - mean[c]) * inv_std[c];  y = gamma[c] * x_hat + beta[c]   (x_hat stored
//                        only if keep_x_hat, i.e. if a backward will need it)
// batch_norm_bwd_partial / batch_norm_bwd_combine: sum_gy[c] = sum gy;  sum_gy_xhat[c] = sum gy * x_hat
//                          (per chunk, then summed over the B chunks, as the statistics)
// batch_norm_bwd:        gx = (gamma[c] inv_std[c] / m) (m gy - sum_gy[c] - x_hat sum_gy_xhat[c])  (training)
//                        gx = gamma[c] inv_std[c] gy                                            (eval)
// Reference: tinygrad_med/ops/norm.py::_batch_norm_train_fwd_cpu (stats + fwd), _batch_norm_fwd_cpu (eval),
// _batch_norm_bwd_cpu (both backward kernels).
// The reductions add a block's values with common.cuh's block_reduce (a shared-memory tree: log2 steps,
// __syncthreads between steps; launched with blockDim.x = NORM_THREADS), in double for float32 too;
// partial results per chunk are doubles. The elementwise kernels use one thread per element and carry
// the channel index along their grid-stride loop (no 64-bit division per element).
#include "common.cuh"

#define NORM_THREADS 256                          // = ops/norm.py::NORM_THREADS; a power of two (halved by
                                                  // block_reduce)
#define NORM_ITEMS 16                             // values per thread of a chunk, held in registers
#define NORM_CHUNK (NORM_THREADS * NORM_ITEMS)    // = ops/norm.py::NORM_CHUNK: values per block of a reduction

// The values j = j0, j0 + NORM_THREADS, j0 + 2 NORM_THREADS, ... of channel c of x (N, C, S), as offsets
// (n*C + c)*S + s with j = n*S + s: (n, s) advance by a precomputed step, so the loops have no 64-bit
// division (one per thread at the start).
struct ChannelWalk {
  long long n, s, step_n, step_s, C, S, c;
  __device__ ChannelWalk(long long j0, long long c_, long long C_, long long S_)
      : n(j0 / S_), s(j0 % S_), step_n(NORM_THREADS / S_), step_s(NORM_THREADS % S_), C(C_), S(S_), c(c_) {}
  __device__ long long offset() const { return (n * C + c) * S + s; }
  __device__ void next() {
    n += step_n;
    s += step_s;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
};

// The channel c = (i / S) % C of flat index i in (N, C, S), carried along a grid-stride loop
// i, i + stride, ...: (s, c) advance by (stride % S, (stride / S) % C) with at most one carry each.
struct ChannelCarry {
  long long s, c, step_s, step_c, S, C;
  __device__ ChannelCarry(long long i, long long stride, long long S_, long long C_)
      : s(i % S_), c(i / S_ % C_), step_s(stride % S_), step_c(stride / S_ % C_), S(S_), C(C_) {}
  __device__ void next() {
    s += step_s;
    c += step_c;
    if (s >= S) {
      s -= S;
      ++c;
    }
    if (c >= C) c -= C;  // c < 2C here
  }
};

#define FIRST_INDEX ((long long)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_THREADS ((long long)blockDim.x * gridDim.x)

// launch: grid (any, grid-stride over the C*B (channel, chunk) pairs), block (NORM_THREADS,);
// writes part_sum[c*B + b] = sum_b and part_m2[c*B + b] = M2_b
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_stats_partial(
    const real_t* __restrict__ x, double* __restrict__ part_sum, double* __restrict__ part_m2, long long N,
    long long C, long long S, long long B) {
  __shared__ double partial[NORM_THREADS];
  for (long long cb = blockIdx.x; cb < C * B; cb += gridDim.x) {  // the same cb for the whole block
    const long long c = cb / B, first = cb % B * NORM_CHUNK;
    const long long count = min(N * S - first, (long long)NORM_CHUNK);  // n_b: the last chunk may be short
    real_t v[NORM_ITEMS];  // the chunk, read once; constant trip counts keep it in registers
    double sum = 0.0;
    ChannelWalk w(first + threadIdx.x, c, C, S);
    for (int k = 0; k < NORM_ITEMS; ++k, w.next()) {
      v[k] = k * NORM_THREADS + (long long)threadIdx.x < count ? x[w.offset()] : (real_t)0;
      sum += (double)v[k];
    }
    const double sum_b = block_reduce(partial, sum, false);
    const double mean_b = sum_b / (double)count;
    double squares = 0.0;  // second pass, over the registers: deviations from the chunk's own mean
    for (int k = 0; k < NORM_ITEMS; ++k) {
      const double d = (double)v[k] - mean_b;
      if (k * NORM_THREADS + (long long)threadIdx.x < count) squares += d * d;
    }
    const double m2_b = block_reduce(partial, squares, false);
    if (threadIdx.x == 0) {
      part_sum[cb] = sum_b;
      part_m2[cb] = m2_b;
    }
  }
}

// launch: grid (any, grid-stride over channels), block (NORM_THREADS,)
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_stats_combine(
    const double* __restrict__ part_sum, const double* __restrict__ part_m2, real_t* __restrict__ mean,
    real_t* __restrict__ var, long long C, long long B, long long m) {
  __shared__ double partial[NORM_THREADS];
  for (long long c = blockIdx.x; c < C; c += gridDim.x) {
    const double *sums = part_sum + c * B, *m2s = part_m2 + c * B;
    double total = 0.0;
    for (long long b = threadIdx.x; b < B; b += NORM_THREADS) total += sums[b];
    const double mu = block_reduce(partial, total, false) / (double)m;
    double squares = 0.0;
    for (long long b = threadIdx.x; b < B; b += NORM_THREADS) {
      const double n_b = (double)min(m - b * NORM_CHUNK, (long long)NORM_CHUNK);
      const double d = sums[b] / n_b - mu;  // chunk mean - mean
      squares += m2s[b] + n_b * d * d;
    }
    const double sigma2 = block_reduce(partial, squares, false) / (double)m;
    if (threadIdx.x == 0) {
      mean[c] = (real_t)mu;
      var[c] = (real_t)sigma2;
    }
  }
}

extern "C" __global__ void batch_norm_fwd(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                          const real_t* __restrict__ inv_std, const real_t* __restrict__ gamma,
                                          const real_t* __restrict__ beta, real_t* __restrict__ y,
                                          real_t* __restrict__ x_hat, long long N, long long C, long long S,
                                          long long keep_x_hat) {
  ChannelCarry ch(FIRST_INDEX, GRID_THREADS, S, C);
  for (long long i = FIRST_INDEX; i < N * C * S; i += GRID_THREADS, ch.next()) {
    const real_t xh = (x[i] - mean[ch.c]) * inv_std[ch.c];
    if (keep_x_hat) x_hat[i] = xh;  // 0 when no backward will run: a third less memory traffic
    y[i] = gamma[ch.c] * xh + beta[ch.c];
  }
}

// launch: as batch_norm_stats_partial; part_gy[c*B + b] = sum of gy, part_gy_xhat[c*B + b] = sum of gy x_hat
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_bwd_partial(
    const real_t* __restrict__ gy, const real_t* __restrict__ x_hat, double* __restrict__ part_gy,
    double* __restrict__ part_gy_xhat, long long N, long long C, long long S, long long B) {
  __shared__ double partial[NORM_THREADS];
  for (long long cb = blockIdx.x; cb < C * B; cb += gridDim.x) {
    const long long c = cb / B, first = cb % B * NORM_CHUNK;
    const long long count = min(N * S - first, (long long)NORM_CHUNK);
    double a = 0.0, b = 0.0;
    ChannelWalk w(first + threadIdx.x, c, C, S);
    for (int k = 0; k < NORM_ITEMS; ++k, w.next()) {
      if (k * NORM_THREADS + (long long)threadIdx.x >= count) break;
      const long long i = w.offset();
      a += (double)gy[i];
      b += (double)gy[i] * (double)x_hat[i];
    }
    a = block_reduce(partial, a, false);
    b = block_reduce(partial, b, false);
    if (threadIdx.x == 0) {
      part_gy[cb] = a;
      part_gy_xhat[cb] = b;
    }
  }
}

// launch: grid (any, grid-stride over channels), block (NORM_THREADS,)
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_bwd_combine(
    const double* __restrict__ part_gy, const double* __restrict__ part_gy_xhat, real_t* __restrict__ sum_gy,
    real_t* __restrict__ sum_gy_xhat, long long C, long long B) {
  __shared__ double partial[NORM_THREADS];
  for (long long c = blockIdx.x; c < C; c += gridDim.x) {
    double a = 0.0, b = 0.0;
    for (long long k = threadIdx.x; k < B; k += NORM_THREADS) {
      a += part_gy[c * B + k];
      b += part_gy_xhat[c * B + k];
    }
    a = block_reduce(partial, a, false);
    b = block_reduce(partial, b, false);
    if (threadIdx.x == 0) {
      sum_gy[c] = (real_t)a;
      sum_gy_xhat[c] = (real_t)b;
    }
  }
}

// training = 1: gradient through the batch statistics; training = 0: the statistics are constants
extern "C" __global__ void batch_norm_bwd(const real_t* __restrict__ gy, const real_t* __restrict__ x_hat,
                                          const real_t* __restrict__ gamma, const real_t* __restrict__ inv_std,
                                          const real_t* __restrict__ sum_gy, const real_t* __restrict__ sum_gy_xhat,
                                          real_t* __restrict__ gx, long long N, long long C, long long S,
                                          long long training) {
  const real_t m = (real_t)(N * S);
  ChannelCarry ch(FIRST_INDEX, GRID_THREADS, S, C);
  for (long long i = FIRST_INDEX; i < N * C * S; i += GRID_THREADS, ch.next()) {
    const long long c = ch.c;
    const real_t scale = gamma[c] * inv_std[c];
    gx[i] = training ? scale / m * (m * gy[i] - sum_gy[c] - x_hat[i] * sum_gy_xhat[c]) : scale * gy[i];
  }
}
