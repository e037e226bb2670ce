// kernels/pool.cu -- max and average pooling (lecture: "Convolutional neural networks - Pooling")
// Every pool runs as 3-D: 1-D and 2-D inputs get leading spatial dims of size 1 (K=1, S=1, P=0, dilation 1).
// The window of output o along one dim reads input positions o*S - P + k*dil, k = 0 .. K-1 (outside: padding).
// max_pool_fwd: y = max over the window (the first maximum in scan order wins, as PyTorch);
//               argmax = the flat index (d*H + h)*W + w of the maximum inside the (n, c) plane
// max_pool_bwd: gx[plane, argmax[k]] += gy[k]   (atomicAdd, because windows may overlap when S < K)
// avg_pool_fwd: y = (sum of x over the window, padding counting as 0) / m, m = divisor if > 0, else
//               the product over dims of the window clipped to the padded input (count_include_pad)
//               or of its part inside the real input (window_count)
// avg_pool_bwd: gx[i] = sum over the windows covering i of gy[window] / m[window]
//               (a gather, one thread per input element: no atomics)
// Reference: tinygrad_med/ops/pool.py::_max_pool_fwd_cpu, _max_pool_bwd_cpu, _avg_pool_fwd_cpu, _avg_pool_bwd_cpu.
// One thread per output element (per input element for avg_pool_bwd), grid-stride loops.
#include "common.cuh"

// (od, oh, ow, plane) of flat output index k in a (planes, out_d, out_h, out_w) array
#define DECODE_OUTPUT(k, od, oh, ow, plane)                              \
  long long ow = (k) % out_w, oh = (k) / out_w % out_h;                  \
  long long od = (k) / (out_w * out_h) % out_d, plane = (k) / (out_w * out_h * out_d)

extern "C" __global__ void max_pool_fwd(const real_t* __restrict__ x, real_t* __restrict__ y,
                                        long long* __restrict__ argmax, long long planes, long long in_d,
                                        long long in_h, long long in_w, long long out_d, long long out_h,
                                        long long out_w, long long k_d, long long k_h, long long k_w, long long s_d,
                                        long long s_h, long long s_w, long long p_d, long long p_h, long long p_w,
                                        long long dil_d, long long dil_h, long long dil_w) {
  GRID_STRIDE_LOOP(k, planes * out_d * out_h * out_w) {
    DECODE_OUTPUT(k, od, oh, ow, plane);
    const real_t* xc = x + plane * in_d * in_h * in_w;
    real_t best = (real_t)0;
    long long arg = -1;  // stays -1 only if the window holds no input at all
    for (long long a = 0; a < k_d; ++a) {
      long long d = od * s_d - p_d + a * dil_d;
      if (d < 0 || d >= in_d) continue;
      for (long long b = 0; b < k_h; ++b) {
        long long h = oh * s_h - p_h + b * dil_h;
        if (h < 0 || h >= in_h) continue;
        for (long long c = 0; c < k_w; ++c) {
          long long w = ow * s_w - p_w + c * dil_w;
          if (w < 0 || w >= in_w) continue;
          long long i = (d * in_h + h) * in_w + w;
          if (arg < 0 || xc[i] > best) {  // strict >: ties keep the first maximum
            best = xc[i];
            arg = i;
          }
        }
      }
    }
    y[k] = arg < 0 ? (real_t)(-INFINITY) : best;
    argmax[k] = arg;
  }
}

extern "C" __global__ void max_pool_bwd(const real_t* __restrict__ gy, const long long* __restrict__ argmax,
                                        real_t* __restrict__ gx, long long n_out, long long plane_out,
                                        long long plane_in) {
  GRID_STRIDE_LOOP(k, n_out) {
    long long a = argmax[k];
    if (a >= 0 && a < plane_in) atomicAdd(&gx[k / plane_out * plane_in + a], gy[k]);
  }
}

// inputs of window o along one dim that enter its divisor: the window [o*S - P, o*S - P + K) clipped to
// the padded input [-P, L + P), and, without count_include_pad, to the real input [0, L)
__device__ long long window_count(long long o, long long L, long long K, long long S, long long P,
                                  long long include_pad) {
  long long start = o * S - P, end = min(start + K, L + P);
  return include_pad ? end - start : min(end, L) - max(start, 0LL);
}

#define AVG_DIVISOR(od, oh, ow)                                                                   \
  (divisor > 0 ? divisor                                                                          \
               : window_count(od, in_d, k_d, s_d, p_d, include_pad) *                             \
                     window_count(oh, in_h, k_h, s_h, p_h, include_pad) *                         \
                     window_count(ow, in_w, k_w, s_w, p_w, include_pad))

extern "C" __global__ void avg_pool_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n_out,
                                        long long in_d, long long in_h, long long in_w, long long out_d,
                                        long long out_h, long long out_w, long long k_d, long long k_h, long long k_w,
                                        long long s_d, long long s_h, long long s_w, long long p_d, long long p_h,
                                        long long p_w, long long include_pad, long long divisor) {
  GRID_STRIDE_LOOP(k, n_out) {
    DECODE_OUTPUT(k, od, oh, ow, plane);
    const real_t* xc = x + plane * in_d * in_h * in_w;
    long long d0 = od * s_d - p_d, h0 = oh * s_h - p_h, w0 = ow * s_w - p_w;
    real_t sum = (real_t)0;
    for (long long d = max(d0, 0LL); d < min(d0 + k_d, in_d); ++d)
      for (long long h = max(h0, 0LL); h < min(h0 + k_h, in_h); ++h)
        for (long long w = max(w0, 0LL); w < min(w0 + k_w, in_w); ++w) sum += xc[(d * in_h + h) * in_w + w];
    y[k] = sum / (real_t)AVG_DIVISOR(od, oh, ow);
  }
}

// outputs o in [lo, hi) whose window [o*S - P, o*S - P + K) covers input position pos
__device__ void covering(long long pos, long long O, long long K, long long S, long long P, long long* lo,
                         long long* hi) {
  long long first = pos + P - K + 1;  // o*S >= first
  *lo = first <= 0 ? 0 : (first + S - 1) / S;
  *hi = min((pos + P) / S + 1, O);  // o*S <= pos + P
}

extern "C" __global__ void avg_pool_bwd(const real_t* __restrict__ gy, real_t* __restrict__ gx, long long n_in,
                                        long long in_d, long long in_h, long long in_w, long long out_d,
                                        long long out_h, long long out_w, long long k_d, long long k_h, long long k_w,
                                        long long s_d, long long s_h, long long s_w, long long p_d, long long p_h,
                                        long long p_w, long long include_pad, long long divisor) {
  GRID_STRIDE_LOOP(i, n_in) {
    long long w = i % in_w, h = i / in_w % in_h, d = i / (in_w * in_h) % in_d, plane = i / (in_w * in_h * in_d);
    const real_t* gyc = gy + plane * out_d * out_h * out_w;
    long long d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
    covering(d, out_d, k_d, s_d, p_d, &d_lo, &d_hi);
    covering(h, out_h, k_h, s_h, p_h, &h_lo, &h_hi);
    covering(w, out_w, k_w, s_w, p_w, &w_lo, &w_hi);
    real_t sum = (real_t)0;
    for (long long od = d_lo; od < d_hi; ++od)
      for (long long oh = h_lo; oh < h_hi; ++oh)
        for (long long ow = w_lo; ow < w_hi; ++ow)
          sum += gyc[(od * out_h + oh) * out_w + ow] / (real_t)AVG_DIVISOR(od, oh, ow);
    gx[i] = sum;
  }
}
