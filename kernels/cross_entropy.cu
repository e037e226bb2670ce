// kernels/cross_entropy.cu -- fused softmax cross-entropy with class-index targets (torch.nn.functional.cross_entropy)
// Layout: x (N, C, D) with D = d1*d2*... (1 for (N, C) scores); row r = n*D + k is one sample or pixel,
// its C class scores sit D apart.  t = target[r], w = class weights (all 1 when none are given),
// W = sum_c w_c, eps = label smoothing.
// softmax_xent_fwd: lse_r = m_r + log sum_c e^(x_rc - m_r),  m_r = max_c x_rc   (saved for backward)
//                   loss_r = (1 - eps) w_t (lse_r - x_rt) + (eps / C) (W lse_r - sum_c w_c x_rc),  0 if t = ignore_index
// softmax_xent_bwd: gx_rc = g_r [ p_rc ((1 - eps) w_t + (eps / C) W) - (1 - eps) w_t [c = t] - (eps / C) w_c ],
//                   p_rc = e^(x_rc - lse_r), and 0 for ignored rows; g_r = dL/d loss_r (gy, or gy / sum w_t for 'mean')
// Reference: tinygrad_med/ops/cross_entropy.py::_softmax_xent_fwd_cpu / _softmax_xent_bwd_cpu.
// Forward: blockDim.y rows per block, blockDim.x threads per row striding over C and reducing in shared
// memory with common.cuh's block_reduce (blockDim.x a power of two, blockDim.x * blockDim.y <= XENT_THREADS).  Backward: one thread per element of x (no reduction: lse_r is saved).
#include "common.cuh"

#define XENT_THREADS 256

extern "C" __global__ void softmax_xent_fwd(const real_t* __restrict__ x, const long long* __restrict__ target,
                                            const real_t* __restrict__ weight, real_t* __restrict__ loss,
                                            real_t* __restrict__ lse, long long rows, long long C, long long D,
                                            long long ignore_index, double smoothing, double weight_sum) {
  __shared__ real_t buf[XENT_THREADS];
  real_t* rowbuf = buf + threadIdx.y * blockDim.x;  // this row's slice of the scratch
  for (long long first = (long long)blockIdx.x * blockDim.y; first < rows; first += (long long)gridDim.x * blockDim.y) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0;  // a row past the end: no entries, same barriers
    const real_t* xr = x + ((n ? r : 0) / D) * C * D + (n ? r : 0) % D;  // class c of row r is xr[c * D]
    real_t m = n ? xr[0] : (real_t)0;
    for (long long c = threadIdx.x; c < n; c += blockDim.x) m = max(m, xr[c * D]);
    m = block_reduce(rowbuf, m, true);
    real_t sum_exp = 0, sum_wx = 0;
    for (long long c = threadIdx.x; c < n; c += blockDim.x) {
      sum_exp += exp(xr[c * D] - m);
      sum_wx += weight[c] * xr[c * D];
    }
    sum_exp = block_reduce(rowbuf, sum_exp, false);
    if (smoothing != 0) sum_wx = block_reduce(rowbuf, sum_wx, false);  // uniform branch: whole block
    if (threadIdx.x == 0 && n) {
      real_t row_lse = m + log(sum_exp);
      long long t = target[r];
      real_t value = 0;  // an ignored row adds nothing
      if (t != ignore_index && t >= 0 && t < C) {
        real_t eps = (real_t)smoothing;
        value = ((real_t)1 - eps) * weight[t] * (row_lse - xr[t * D]) +
                eps / (real_t)C * ((real_t)weight_sum * row_lse - sum_wx);
      } else if (t != ignore_index) {
        value = sqrt((real_t)-1);  // NaN: the host validates targets, so never reached; never read out of bounds
      }
      lse[r] = row_lse;
      loss[r] = value;
    }
  }
}

extern "C" __global__ void softmax_xent_bwd(const real_t* __restrict__ x, const long long* __restrict__ target,
                                            const real_t* __restrict__ weight, const real_t* __restrict__ lse,
                                            const real_t* __restrict__ g, real_t* __restrict__ gx, long long rows,
                                            long long C, long long D, long long ignore_index, double smoothing,
                                            double weight_sum) {
  GRID_STRIDE_LOOP(i, rows * C) {
    long long c = (i / D) % C;
    long long r = (i / (C * D)) * D + i % D;  // (n, c, k) -> row n*D + k
    long long t = target[r];
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
