// kernels/pool.cu -- max and average pooling (lecture: "Convolutional neural networks - Pooling")
// Every pool runs as 3-D: 1-D and 2-D inputs get leading spatial dims of size 1 (K=1, S=1, P=0, dilation 1).
// The window of output o along one dim reads input positions o*S - P + k*dil, k = 0 .. K-1 (outside: padding).
// max_pool_fwd: y = max over the window (the first maximum in scan order wins, as PyTorch);
//               argmax = the flat index (d*H + h)*W + w of the maximum inside the (n, c) plane
//               (written only if with_argmax: a forward without backward skips those 8 bytes per output)
// max_pool_bwd: gx[plane, argmax[k]] += gy[k]   (atomicAdd, because windows may overlap when S < K)
// avg_pool_fwd: y = (sum of x over the window, padding counting as 0) / m, m = divisor if != 0 (a
//               divisor_override, negative allowed as in PyTorch), else the product over dims of the
//               window clipped to the padded input (count_include_pad) or of its part inside the real
//               input (window_count)
// avg_pool_bwd: gx[i] = sum over the windows covering i of gy[window] / m[window]
//               (a gather, one thread per input element: no atomics)
// When no two windows share an input (dilation 1 and S >= K in every dim), each input lies in at most one
// window o, at offset (pos + P) % S < K along every dim, and the backward is a plain gather:
// max_pool_bwd_gather: gx[i] = gy[o] if argmax[o] is i, else 0   (0 also for inputs in no window)
// avg_pool_bwd_gather: gx[i] = gy[o] / m[o]                       (0 for inputs in no window)
//               every gx is written once: no zero fill, no atomics.
// Reference: tinygrad_med/ops/pool.py::_max_pool_fwd_cpu, _max_pool_bwd_cpu, _avg_pool_fwd_cpu, _avg_pool_bwd_cpu.
// Launches. Forward kernels and the gathers walk rows: block (32, 8), threadIdx.y picks a row (plane, d, h) of
// the output (forward) or of the input (gathers), threadIdx.x walks along w, the blocks loop over the rows; the
// row's coordinates and its d, h windows are worked out once per row. A gather thread takes one window column ow
// and writes its S_w inputs, so no thread divides per element. max_pool_bwd and avg_pool_bwd (overlapping
// windows) run one thread per output / input element, grid-stride.
// Index math is 32-bit: ops/pool.py launches whole (n, c) planes, at most 2^30 elements per launch (a 64-bit
// division is a ~70-instruction software routine on the GPU, and 64-bit indices double the registers: that
// made these memory-bound kernels compute- and occupancy-bound).
#include "common.cuh"

// for (int i = global thread index; i < n; i += threads in the grid); n <= 2^30, so i never overflows
#define GRID_STRIDE_LOOP32(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)

// for each row this thread row handles: row = blockIdx.x * blockDim.y + threadIdx.y, stepping by all rows
#define FOR_EACH_ROW(row, rows) \
  for (int row = blockIdx.x * blockDim.y + threadIdx.y; row < (rows); row += gridDim.x * blockDim.y)

// One spatial dim of a pooling window: input size L, output size O, kernel K, stride S, padding P, dilation dil
struct Dim {
  int L, O, K, S, P, dil;
};

__device__ Dim make_dim(long long L, long long O, long long K, long long S, long long P, long long dil) {
  return Dim{(int)L, (int)O, (int)K, (int)S, (int)P, (int)dil};
}

// (plane, a, b) of row index row = (plane * A + a) * B + b; unsigned division is the cheaper one
struct Row {
  int plane, a, b;
};

__device__ Row decode_row(int row, int A, int B) {
  const unsigned int ab = (unsigned int)row / (unsigned int)B;
  return Row{(int)(ab / (unsigned int)A), (int)(ab % (unsigned int)A), (int)((unsigned int)row - ab * (unsigned int)B)};
}

extern "C" __global__ void max_pool_fwd(const real_t* __restrict__ x, real_t* __restrict__ y,
                                        long long* __restrict__ argmax, long long planes, long long in_d,
                                        long long in_h, long long in_w, long long out_d, long long out_h,
                                        long long out_w, long long k_d, long long k_h, long long k_w, long long s_d,
                                        long long s_h, long long s_w, long long p_d, long long p_h, long long p_w,
                                        long long dil_d, long long dil_h, long long dil_w, long long with_argmax) {
  const Dim dd = make_dim(in_d, out_d, k_d, s_d, p_d, dil_d), dh = make_dim(in_h, out_h, k_h, s_h, p_h, dil_h),
            dw = make_dim(in_w, out_w, k_w, s_w, p_w, dil_w);
  FOR_EACH_ROW(row, (int)planes * dd.O * dh.O) {  // output row (plane, od, oh)
    const Row o = decode_row(row, dd.O, dh.O);
    const real_t* xc = x + o.plane * dd.L * dh.L * dw.L;
    for (int ow = threadIdx.x; ow < dw.O; ow += blockDim.x) {
      real_t best = (real_t)0;
      int arg = -1;  // stays -1 only if the window holds no input at all
      for (int a = 0; a < dd.K; ++a) {
        const int d = o.a * dd.S - dd.P + a * dd.dil;
        if (d < 0 || d >= dd.L) continue;
        for (int b = 0; b < dh.K; ++b) {
          const int h = o.b * dh.S - dh.P + b * dh.dil;
          if (h < 0 || h >= dh.L) continue;
          for (int c = 0; c < dw.K; ++c) {
            const int w = ow * dw.S - dw.P + c * dw.dil;
            if (w < 0 || w >= dw.L) continue;
            const int i = (d * dh.L + h) * dw.L + w;
            if (arg < 0 || xc[i] > best) {  // strict >: ties keep the first maximum
              best = xc[i];
              arg = i;
            }
          }
        }
      }
      const int k = row * dw.O + ow;
      y[k] = arg < 0 ? (real_t)(-INFINITY) : best;
      if (with_argmax) argmax[k] = arg;
    }
  }
}

extern "C" __global__ void max_pool_bwd(const real_t* __restrict__ gy, const long long* __restrict__ argmax,
                                        real_t* __restrict__ gx, long long n_out, long long plane_out,
                                        long long plane_in) {
  GRID_STRIDE_LOOP32(k, (int)n_out) {
    const long long a = argmax[k];
    if (a >= 0 && a < plane_in) atomicAdd(&gx[(unsigned int)k / (unsigned int)plane_out * plane_in + a], gy[k]);
  }
}

// inputs of window o along one dim that enter its divisor: the window [o*S - P, o*S - P + K) clipped to
// the padded input [-P, L + P), and, without count_include_pad, to the real input [0, L)
__device__ int window_count(int o, const Dim& dim, long long include_pad) {
  const int start = o * dim.S - dim.P, end = min(start + dim.K, dim.L + dim.P);
  return include_pad ? end - start : min(end, dim.L) - max(start, 0);
}

__device__ real_t avg_divisor(int od, int oh, int ow, const Dim& dd, const Dim& dh, const Dim& dw,
                              long long include_pad, long long divisor) {
  if (divisor != 0) return (real_t)divisor;  // divisor_override (PyTorch allows a negative one)
  return (real_t)(window_count(od, dd, include_pad) * window_count(oh, dh, include_pad) *
                  window_count(ow, dw, include_pad));
}

extern "C" __global__ void avg_pool_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long planes,
                                        long long in_d, long long in_h, long long in_w, long long out_d,
                                        long long out_h, long long out_w, long long k_d, long long k_h, long long k_w,
                                        long long s_d, long long s_h, long long s_w, long long p_d, long long p_h,
                                        long long p_w, long long include_pad, long long divisor) {
  const Dim dd = make_dim(in_d, out_d, k_d, s_d, p_d, 1), dh = make_dim(in_h, out_h, k_h, s_h, p_h, 1),
            dw = make_dim(in_w, out_w, k_w, s_w, p_w, 1);
  FOR_EACH_ROW(row, (int)planes * dd.O * dh.O) {  // output row (plane, od, oh)
    const Row o = decode_row(row, dd.O, dh.O);
    const real_t* xc = x + o.plane * dd.L * dh.L * dw.L;
    const int d0 = o.a * dd.S - dd.P, h0 = o.b * dh.S - dh.P;
    for (int ow = threadIdx.x; ow < dw.O; ow += blockDim.x) {
      const int w0 = ow * dw.S - dw.P;
      real_t sum = (real_t)0;
      for (int d = max(d0, 0); d < min(d0 + dd.K, dd.L); ++d)
        for (int h = max(h0, 0); h < min(h0 + dh.K, dh.L); ++h)
          for (int w = max(w0, 0); w < min(w0 + dw.K, dw.L); ++w) sum += xc[(d * dh.L + h) * dw.L + w];
      y[row * dw.O + ow] = sum / avg_divisor(o.a, o.b, ow, dd, dh, dw, include_pad, divisor);
    }
  }
}

// outputs o in [lo, hi) whose window [o*S - P, o*S - P + K) covers input position pos
__device__ void covering(int pos, const Dim& dim, int* lo, int* hi) {
  const int first = pos + dim.P - dim.K + 1;  // o*S >= first
  *lo = first <= 0 ? 0 : (first + dim.S - 1) / dim.S;
  *hi = min((pos + dim.P) / dim.S + 1, dim.O);  // o*S <= pos + P
}

extern "C" __global__ void avg_pool_bwd(const real_t* __restrict__ gy, real_t* __restrict__ gx, long long n_in,
                                        long long in_d, long long in_h, long long in_w, long long out_d,
                                        long long out_h, long long out_w, long long k_d, long long k_h, long long k_w,
                                        long long s_d, long long s_h, long long s_w, long long p_d, long long p_h,
                                        long long p_w, long long include_pad, long long divisor) {
  const Dim dd = make_dim(in_d, out_d, k_d, s_d, p_d, 1), dh = make_dim(in_h, out_h, k_h, s_h, p_h, 1),
            dw = make_dim(in_w, out_w, k_w, s_w, p_w, 1);
  GRID_STRIDE_LOOP32(i, (int)n_in) {
    const Row at = decode_row((unsigned int)i / (unsigned int)dw.L, dd.L, dh.L);  // input row (plane, d, h)
    const int w = i - ((unsigned int)i / (unsigned int)dw.L) * dw.L;
    const real_t* gyc = gy + at.plane * dd.O * dh.O * dw.O;
    int d_lo, d_hi, h_lo, h_hi, w_lo, w_hi;
    covering(at.a, dd, &d_lo, &d_hi);
    covering(at.b, dh, &h_lo, &h_hi);
    covering(w, dw, &w_lo, &w_hi);
    real_t sum = (real_t)0;
    for (int od = d_lo; od < d_hi; ++od)
      for (int oh = h_lo; oh < h_hi; ++oh)
        for (int ow = w_lo; ow < w_hi; ++ow)
          sum += gyc[(od * dh.O + oh) * dw.O + ow] / avg_divisor(od, oh, ow, dd, dh, dw, include_pad, divisor);
    gx[i] = sum;
  }
}

// ---------------------------------------------------------------- gathers for windows that do not overlap

// The one window holding position pos along a dim: o = (pos + P) / S if pos sits at offset (pos + P) % S < K
// of it and o < O; else -1 (pos is in no window: between windows when S > K, or past the last one).
__device__ int window_of(int pos, const Dim& dim) {
  const int o = (pos + dim.P) / dim.S;
  return pos + dim.P - o * dim.S < dim.K && o < dim.O ? o : -1;
}

// The gathers' shared walk over input rows (plane, d, h) and their inputs w: gx = value(o_row, od, oh, ow, i),
// with (od, oh, ow) the window holding the input (od or oh = -1 if none holds its row; then o_row = -1 too),
// o_row = (plane * O_d + od) * O_h + oh the output row, and i the input's flat index in its plane; inputs in no
// window get 0. Thread x takes window columns ow = threadIdx.x, + blockDim.x, ... and writes their S_w inputs
// w = ow*S_w - P_w + r, r < S_w (r >= K_w: between windows); the inputs past the last column get 0 at the end.
template <class Value>
__device__ void gather_rows(real_t* __restrict__ gx, int planes, const Dim& dd, const Dim& dh, const Dim& dw,
                            Value value) {
  FOR_EACH_ROW(row, planes * dd.L * dh.L) {
    const Row at = decode_row(row, dd.L, dh.L);
    const int od = window_of(at.a, dd), oh = window_of(at.b, dh);
    const int o_row = od < 0 || oh < 0 ? -1 : (at.plane * dd.O + od) * dh.O + oh;
    const int in_row = (at.a * dh.L + at.b) * dw.L;  // flat index of (d, h, 0) inside the plane
    real_t* gxr = gx + row * dw.L;
    for (int ow = threadIdx.x; ow < dw.O; ow += blockDim.x) {
      for (int r = 0; r < dw.S; ++r) {
        const int w = ow * dw.S - dw.P + r;
        if (w >= 0 && w < dw.L) gxr[w] = o_row >= 0 && r < dw.K ? value(o_row, od, oh, ow, in_row + w) : (real_t)0;
      }
    }
    for (int w = max(dw.O * dw.S - dw.P, 0) + threadIdx.x; w < dw.L; w += blockDim.x) gxr[w] = (real_t)0;
  }
}

// launch: rows = planes * in_d * in_h input rows (see gather_rows); windows must not overlap
extern "C" __global__ void max_pool_bwd_gather(const real_t* __restrict__ gy, const long long* __restrict__ argmax,
                                               real_t* __restrict__ gx, long long planes, long long in_d,
                                               long long in_h, long long in_w, long long out_d, long long out_h,
                                               long long out_w, long long k_d, long long k_h, long long k_w,
                                               long long s_d, long long s_h, long long s_w, long long p_d,
                                               long long p_h, long long p_w) {
  const Dim dd = make_dim(in_d, out_d, k_d, s_d, p_d, 1), dh = make_dim(in_h, out_h, k_h, s_h, p_h, 1),
            dw = make_dim(in_w, out_w, k_w, s_w, p_w, 1);
  // the window's gy if this input is its maximum, else 0
  gather_rows(gx, (int)planes, dd, dh, dw, [&](int o_row, int, int, int ow, int i) {
    const int o = o_row * dw.O + ow;
    return argmax[o] == i ? gy[o] : (real_t)0;
  });
}

// launch: as max_pool_bwd_gather
extern "C" __global__ void avg_pool_bwd_gather(const real_t* __restrict__ gy, real_t* __restrict__ gx,
                                               long long planes, long long in_d, long long in_h, long long in_w,
                                               long long out_d, long long out_h, long long out_w, long long k_d,
                                               long long k_h, long long k_w, long long s_d, long long s_h,
                                               long long s_w, long long p_d, long long p_h, long long p_w,
                                               long long include_pad, long long divisor) {
  const Dim dd = make_dim(in_d, out_d, k_d, s_d, p_d, 1), dh = make_dim(in_h, out_h, k_h, s_h, p_h, 1),
            dw = make_dim(in_w, out_w, k_w, s_w, p_w, 1);
  // gy / m of the window holding this input
  gather_rows(gx, (int)planes, dd, dh, dw, [&](int o_row, int od, int oh, int ow, int) {
    return gy[o_row * dw.O + ow] / avg_divisor(od, oh, ow, dd, dh, dw, include_pad, divisor);
  });
}
