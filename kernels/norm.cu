// kernels/norm.cu -- batch normalisation (lecture: "Batch normalization"; Ioffe & Szegedy, arXiv:1502.03167)
// x is viewed as (N, C, S): S = product of the spatial sizes (1 for BatchNorm1d on (N, C)); each channel c
// has m = N*S values. instance_norm, group_norm and layer_norm reuse these kernels on a reshaped view.
// batch_norm_stats:      mean[c] = (1/m) sum x;  var[c] = (1/m) sum (x - mean[c])^2   (biased, two passes)
// batch_norm_fwd:        x_hat = (x - mean[c]) * inv_std[c];  y = gamma[c] * x_hat + beta[c]
// batch_norm_bwd_reduce: sum_gy[c] = sum gy;  sum_gy_xhat[c] = sum gy * x_hat
// batch_norm_bwd:        gx = (gamma[c] inv_std[c] / m) (m gy - sum_gy[c] - x_hat sum_gy_xhat[c])  (training)
//                        gx = gamma[c] inv_std[c] gy                                            (eval)
// Reference: tinygrad_med/ops/norm.py::_batch_norm_train_fwd_cpu (stats + fwd), _batch_norm_fwd_cpu (eval),
// _batch_norm_bwd_cpu (both backward kernels).
// The two reductions run one block of NORM_THREADS threads per channel: each thread sums a strided
// slice of the channel, then the block adds the partial sums as a shared-memory tree (log2 steps,
// __syncthreads between steps). The elementwise kernels use one thread per element.
#include "common.cuh"

#define NORM_THREADS 256  // = ops/norm.py::NORM_THREADS; a power of two (the tree halves it)

// The sum of v over the block's threads, returned to every thread. All threads must call it
// (it has barriers); partial is the block's __shared__ scratch of NORM_THREADS doubles.
__device__ double block_sum(double v, double* partial) {
  const int t = threadIdx.x;
  partial[t] = v;
  __syncthreads();
  for (int half = NORM_THREADS / 2; half > 0; half /= 2) {  // tree: halve the active threads each step
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  const double total = partial[0];
  __syncthreads();  // every thread has read partial[0] before the next call overwrites it
  return total;
}

// The elements j = t, t + NORM_THREADS, t + 2 NORM_THREADS, ... (j < N*S) of channel c of x (N, C, S) that
// thread t sums, as offsets (n*C + c)*S + s with j = n*S + s: (n, s) advance by a precomputed step, so the
// loops have no 64-bit division (a division per element costs registers and, on sm_90, spills).
struct ChannelWalk {
  long long n, s, step_n, step_s, C, S, c;
  __device__ ChannelWalk(long long c_, long long C_, long long S_)
      : n(threadIdx.x / S_), s(threadIdx.x % S_), step_n(NORM_THREADS / S_), step_s(NORM_THREADS % S_), C(C_),
        S(S_), c(c_) {}
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

// launch: grid (C,), block (NORM_THREADS,); inv_m = 1 / (N*S)
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_stats(
    const real_t* __restrict__ x, real_t* __restrict__ mean, real_t* __restrict__ var, long long N, long long C,
    long long S, double inv_m) {
  __shared__ double partial[NORM_THREADS];
  const long long c = blockIdx.x;
  double sum = 0.0;  // accumulate in double for float32 too: m may be in the millions
  for (ChannelWalk w(c, C, S); w.n < N; w.next()) sum += (double)x[w.offset()];
  const double mu = block_sum(sum, partial) * inv_m;  // inv_m = 1 / (N*S): no division in the kernel
  double squares = 0.0;  // second pass over (x - mu): no cancellation, unlike E[x^2] - E[x]^2
  for (ChannelWalk w(c, C, S); w.n < N; w.next()) {
    const double d = (double)x[w.offset()] - mu;
    squares += d * d;
  }
  const double sigma2 = block_sum(squares, partial) * inv_m;
  if (threadIdx.x == 0) {
    mean[c] = (real_t)mu;
    var[c] = (real_t)sigma2;
  }
}

extern "C" __global__ void batch_norm_fwd(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                          const real_t* __restrict__ inv_std, const real_t* __restrict__ gamma,
                                          const real_t* __restrict__ beta, real_t* __restrict__ y,
                                          real_t* __restrict__ x_hat, long long N, long long C, long long S) {
  GRID_STRIDE_LOOP(i, N * C * S) {
    const long long c = i / S % C;
    const real_t xh = (x[i] - mean[c]) * inv_std[c];
    x_hat[i] = xh;
    y[i] = gamma[c] * xh + beta[c];
  }
}

// launch: grid (C,), block (NORM_THREADS,)
extern "C" __global__ void __launch_bounds__(NORM_THREADS) batch_norm_bwd_reduce(
    const real_t* __restrict__ gy, const real_t* __restrict__ x_hat, real_t* __restrict__ sum_gy,
    real_t* __restrict__ sum_gy_xhat, long long N, long long C, long long S) {
  __shared__ double partial[NORM_THREADS];
  const long long c = blockIdx.x;
  double a = 0.0, b = 0.0;
  for (ChannelWalk w(c, C, S); w.n < N; w.next()) {
    const long long i = w.offset();
    a += (double)gy[i];
    b += (double)gy[i] * (double)x_hat[i];
  }
  a = block_sum(a, partial);
  b = block_sum(b, partial);
  if (threadIdx.x == 0) {
    sum_gy[c] = (real_t)a;
    sum_gy_xhat[c] = (real_t)b;
  }
}

// training = 1: gradient through the batch statistics; training = 0: the statistics are constants
extern "C" __global__ void batch_norm_bwd(const real_t* __restrict__ gy, const real_t* __restrict__ x_hat,
                                          const real_t* __restrict__ gamma, const real_t* __restrict__ inv_std,
                                          const real_t* __restrict__ sum_gy, const real_t* __restrict__ sum_gy_xhat,
                                          real_t* __restrict__ gx, long long N, long long C, long long S,
                                          long long training) {
  const real_t m = (real_t)(N * S);
  GRID_STRIDE_LOOP(i, N * C * S) {
    const long long c = i / S % C;
    const real_t scale = gamma[c] * inv_std[c];
    gx[i] = training ? scale / m * (m * gy[i] - sum_gy[c] - x_hat[i] * sum_gy_xhat[c]) : scale * gy[i];
  }
}
