// kernels/cross_entropy.cu -- fused softmax cross-entropy with class-index targets (torch.nn.functional.cross_entropy)
// Layout: x (N, C, S) with S = d1*d2*... the spatial size (1 for (N, C) scores); row r = n*S + k is one
// sample or pixel, its C class scores sit S apart.  t = target[r], w = class weights (all 1 when none are given),
// W = sum_c w_c, eps = label smoothing.
// softmax_xent_fwd: lse_r = m_r + log sum_c e^(x_rc - m_r),  m_r = max_c x_rc   (saved for backward)
//                   loss_r = (1 - eps) w_t (lse_r - x_rt) + (eps / C) (W lse_r - sum_c w_c x_rc),  0 if t = ignore_index
// softmax_xent_bwd: gx_rc = g_r [ p_rc ((1 - eps) w_t + (eps / C) W) - (1 - eps) w_t [c = t] - (eps / C) w_c ],
//                   p_rc = e^(x_rc - lse_r), and 0 for ignored rows; g_r = dL/d loss_r (gy, or gy / sum w_t for 'mean')
// Reference: tinygrad_med/ops/cross_entropy.py::_softmax_xent_fwd_cpu / _softmax_xent_bwd_cpu.
// Forward: blockDim.y rows per block, blockDim.x threads per row striding over C (blockDim.x a power of two,
// blockDim.x * blockDim.y <= XENT_THREADS). One pass over the row: each thread keeps a running max m and
// s = sum e^(x - m), rescaled when m grows (the "online" log-sum-exp); the row's threads then merge their
// (m, s) pairs with common.cuh's block_reduce: M = the max of the m's, then s = sum of s e^(m - M).
// sum_c w_c x_rc (label smoothing only) is a second tree, skipped when eps = 0.
// Backward: one thread per element of x (no reduction: lse_r is saved); its (row, class) is carried along the
// grid-stride loop (no 64-bit division per element).
#include "common.cuh"

#define XENT_THREADS 256

// s e^(m - M): a thread that saw no entries has s = 0 (and m = -inf, so e^(m - M) could be e^(nan))
__device__ real_t rescaled(real_t s, real_t m, real_t M) { return s == (real_t)0 ? (real_t)0 : s * exp(m - M); }

// merge the (m, s) pairs of the row's blockDim.x threads with common.cuh's block_reduce: the row's max M,
// then sum of s e^(m - M); every thread gets the row's (M, s).  All threads of the block call it (barriers);
// buf is this row's blockDim.x entries of scratch.
__device__ void row_reduce_lse(real_t* buf, real_t* m, real_t* s) {
  const real_t M = block_reduce(buf, *m, true);
  *s = block_reduce(buf, rescaled(*s, *m, M), false);
  *m = M;
}

extern "C" __global__ void softmax_xent_fwd(const real_t* __restrict__ x, const long long* __restrict__ target,
                                            const real_t* __restrict__ weight, real_t* __restrict__ loss,
                                            real_t* __restrict__ lse, long long rows, long long C, long long S,
                                            long long ignore_index, double smoothing, double weight_sum) {
  __shared__ real_t buf[XENT_THREADS];
  real_t* row_buf = buf + threadIdx.y * blockDim.x;  // this row's scratch
  for (long long first = (long long)blockIdx.x * blockDim.y; first < rows; first += (long long)gridDim.x * blockDim.y) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0;  // a row past the end: no entries, same barriers
    const real_t* xr = x + ((n ? r : 0) / S) * C * S + (n ? r : 0) % S;  // class c of row r is xr[c * S]
    real_t m = -INFINITY, s = 0;  // running max and sum of e^(x - m) over this thread's classes
    for (long long c = threadIdx.x; c < n; c += blockDim.x) {
      const real_t v = xr[c * S];
      if (v > m) {
        s = s * exp(m - v) + (real_t)1;  // the old terms shrink by e^(m - v); e^(v - v) = 1
        m = v;
      } else {
        s += exp(v - m);
      }
    }
    row_reduce_lse(row_buf, &m, &s);
    real_t sum_wx = 0;
    if (smoothing != 0) {  // uniform branch: whole block
      for (long long c = threadIdx.x; c < n; c += blockDim.x) sum_wx += weight[c] * xr[c * S];
      sum_wx = block_reduce(row_buf, sum_wx, false);
    }
    if (threadIdx.x == 0 && n) {
      real_t row_lse = m + log(s);
      long long t = target[r];
      real_t value = 0;  // an ignored row adds nothing
      if (t != ignore_index && t >= 0 && t < C) {
        real_t eps = (real_t)smoothing;
        value = ((real_t)1 - eps) * weight[t] * (row_lse - xr[t * S]) +
                eps / (real_t)C * ((real_t)weight_sum * row_lse - sum_wx);
      } else if (t != ignore_index) {
        value = sqrt((real_t)-1);  // NaN: the host validates targets, so never reached; never read out of bounds
      }
      lse[r] = row_lse;
      loss[r] = value;
    }
  }
}

// (row r, class c) of flat index i = (n*C + c)*S + k in x (N, C, S), r = n*S + k, carried along a grid-stride
// loop: (k, c, n) advance by the digits of the stride in base (S, C, .), with a carry from each to the next.
struct RowClassCarry {
  long long k, c, n, step_k, step_c, step_n, C, S;
  __device__ RowClassCarry(long long i, long long stride, long long C_, long long S_)
      : k(i % S_), c(i / S_ % C_), n(i / S_ / C_), step_k(stride % S_), step_c(stride / S_ % C_),
        step_n(stride / S_ / C_), C(C_), S(S_) {}
  __device__ long long row() const { return n * S + k; }
  __device__ void next() {
    k += step_k;
    c += step_c;
    n += step_n;
    if (k >= S) {
      k -= S;
      ++c;
    }
    if (c >= C) {
      c -= C;
      ++n;
    }
  }
};

extern "C" __global__ void softmax_xent_bwd(const real_t* __restrict__ x, const long long* __restrict__ target,
                                            const real_t* __restrict__ weight, const real_t* __restrict__ lse,
                                            const real_t* __restrict__ g, real_t* __restrict__ gx, long long rows,
                                            long long C, long long S, long long ignore_index, double smoothing,
                                            double weight_sum) {
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)blockDim.x * gridDim.x;
  RowClassCarry at(first, stride, C, S);
  for (long long i = first; i < rows * C; i += stride, at.next()) {
    const long long c = at.c, r = at.row(), t = target[r];
    if (t == ignore_index || t < 0 || t >= C) {  // the host has refused out-of-range targets
      gx[i] = t == ignore_index ? (real_t)0 : sqrt((real_t)-1);
      continue;
    }
    real_t eps = (real_t)smoothing;
    real_t p = exp(x[i] - lse[r]);
    real_t pull = ((real_t)1 - eps) * weight[t];  // weight of the true class's one-hot
    real_t spread = eps / (real_t)C;              // weight of the uniform part of the smoothed target
    gx[i] = g[r] * (p * (pull + spread * (real_t)weight_sum) - (c == t ? pull : (real_t)0) - spread * weight[c]);
  }
}
