// kernels/resample.cu -- interpolation (lecture: "Semantic segmentation" (upsampling), "Spatial transformer")
// Every resize runs as 3-D: 1-D and 2-D inputs get leading spatial dims of size 1.
// Along one axis of L inputs and O outputs, output o reads K inputs i_k[o] with weights w_k[o]
// (K = 2: linear 1 - lam and lam, nearest 1 and 0; K = 4: bicubic, Keys' cubic convolution weights, A = -0.75).
// These taps are the CPU reference's own (ops/resample.py::_axis_taps), made once per call on the host and
// passed as tables, so the kernels do no coordinate arithmetic and agree with the CPU on every index.
//   taps    = [i_0 .. i_{K-1} of d, of h, of w]   (int, K * O_d, K * O_h, K * O_w entries; tap k of o at k * O + o)
//   weights = [w_0 .. w_{K-1} of d, of h, of w]   (real_t, same layout)
// interpolate_fwd: y[od, oh, ow] = sum over a, b, c < K of wa_d[od] wb_h[oh] wc_w[ow] x[ia_d[od], ib_h[oh], ic_w[ow]]
//                  (a tap of weight 0 is skipped: it adds nothing); K = 2: interpolate_fwd, K = 4: interpolate_fwd_cubic
// interpolate_bwd: gx[id, ih, iw] = sum over the outputs reading it of the same weight times gy[od, oh, ow]
//                  -- the transposed map as a gather, one thread per input, no atomics and no zero fill.
//                  Its tables (ops/resample.py::_backward_tables) are the transposed taps: lo = [lo_d, lo_h, lo_w]
//                  (int, L_d + L_h + L_w entries), the first output reading input i along an axis, and
//                  weight_of = [(L_d, R_d), (L_h, R_h), (L_w, R_w)] (real_t), entry (i, k) the weight of input i
//                  in output lo[i] + k (0 where that output does not read it), R = the most readers of an input.
// Reference: tinygrad_med/ops/resample.py::_interpolate_fwd_cpu / _interpolate_bwd_cpu (the same taps as
// one (O x L) matrix per axis).
// launch: block (32, 8): threadIdx.x walks a row along w, threadIdx.y picks the row (plane, d, h); the blocks
// loop over the rows. A row's (plane, d, h) and its d and h taps are worked out once, not per element.
// Index math is 32-bit: ops/resample.py launches whole planes, at most 2^30 elements per launch.
#include "common.cuh"

#define FOR_EACH_ROW(row, rows) \
  for (int row = blockIdx.x * blockDim.y + threadIdx.y; row < (rows); row += gridDim.x * blockDim.y)

// the K taps of output o along one axis, from the tables (tap k at taps[k * O + o])
template <int K>
struct Taps {
  int i[K];
  real_t w[K];
};

template <int K>
__device__ Taps<K> taps_of(const int* taps, const real_t* weights, int O, int o) {
  Taps<K> t;
  for (int k = 0; k < K; ++k) {
    t.i[k] = taps[k * O + o];
    t.w[k] = weights[k * O + o];
  }
  return t;
}

// interpolate_fwd with K taps per axis (2: nearest, linear; 4: bicubic), unrolled by the compiler
template <int K>
__device__ void interpolate_rows(const real_t* __restrict__ x, real_t* __restrict__ y, const int* __restrict__ taps,
                                 const real_t* __restrict__ weights, int planes, int L_d, int L_h, int L_w, int O_d,
                                 int O_h, int O_w) {
  const int *taps_h = taps + K * O_d, *taps_w = taps_h + K * O_h;
  const real_t *weights_h = weights + K * O_d, *weights_w = weights_h + K * O_h;
  FOR_EACH_ROW(row, planes * O_d * O_h) {  // row = (plane * O_d + od) * O_h + oh
    const int oh = row % O_h, od = row / O_h % O_d, plane = row / O_h / O_d;
    // the (up to) K * K input rows this output row reads, with their weights
    const Taps<K> td = taps_of<K>(taps, weights, O_d, od), th = taps_of<K>(taps_h, weights_h, O_h, oh);
    const real_t* xc = x + plane * L_d * L_h * L_w;
    real_t* yr = y + row * O_w;
    for (int ow = threadIdx.x; ow < O_w; ow += blockDim.x) {
      const Taps<K> tw = taps_of<K>(taps_w, weights_w, O_w, ow);
      real_t acc = (real_t)0;
      for (int a = 0; a < K; ++a) {
        if (td.w[a] == (real_t)0) continue;  // a tap of weight 0 adds nothing
        for (int b = 0; b < K; ++b) {
          if (th.w[b] == (real_t)0) continue;
          const real_t* xr = xc + (td.i[a] * L_h + th.i[b]) * L_w;
          real_t along_w = tw.w[0] * xr[tw.i[0]];
          for (int c = 1; c < K; ++c)
            if (tw.w[c] != (real_t)0) along_w += tw.w[c] * xr[tw.i[c]];
          acc += td.w[a] * th.w[b] * along_w;
        }
      }
      yr[ow] = acc;
    }
  }
}

// Two entry points, because a kernel gets the registers of its hungriest path: with the bicubic loop inside,
// the bilinear one would run at half the occupancy (72 registers instead of 40).
extern "C" __global__ void interpolate_fwd(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           const int* __restrict__ taps, const real_t* __restrict__ weights,
                                           long long planes, long long in_d, long long in_h, long long in_w,
                                           long long out_d, long long out_h, long long out_w) {
  interpolate_rows<2>(x, y, taps, weights, (int)planes, (int)in_d, (int)in_h, (int)in_w, (int)out_d, (int)out_h,
                      (int)out_w);
}

extern "C" __global__ void interpolate_fwd_cubic(const real_t* __restrict__ x, real_t* __restrict__ y,
                                                 const int* __restrict__ taps, const real_t* __restrict__ weights,
                                                 long long planes, long long in_d, long long in_h, long long in_w,
                                                 long long out_d, long long out_h, long long out_w) {
  interpolate_rows<4>(x, y, taps, weights, (int)planes, (int)in_d, (int)in_h, (int)in_w, (int)out_d, (int)out_h,
                      (int)out_w);
}

extern "C" __global__ void interpolate_bwd(const real_t* __restrict__ gy, real_t* __restrict__ gx,
                                           const int* __restrict__ lo, const real_t* __restrict__ weight_of,
                                           long long planes, long long in_d, long long in_h, long long in_w,
                                           long long out_d, long long out_h, long long out_w, long long r_d,
                                           long long r_h, long long r_w) {
  const int L_d = (int)in_d, L_h = (int)in_h, L_w = (int)in_w, O_h = (int)out_h, O_w = (int)out_w;
  const int R_d = (int)r_d, R_h = (int)r_h, R_w = (int)r_w;
  const int *lo_h = lo + L_d, *lo_w = lo_h + L_h;
  const real_t *weight_h = weight_of + L_d * R_d, *weight_w = weight_h + L_h * R_h;
  FOR_EACH_ROW(row, (int)planes * L_d * L_h) {  // row = (plane * L_d + id) * L_h + ih
    const int ih = row % L_h, id = row / L_h % L_d, plane = row / L_h / L_d;
    const real_t* gyc = gy + plane * (int)out_d * O_h * O_w;
    real_t* gxr = gx + row * L_w;
    for (int iw = threadIdx.x; iw < L_w; iw += blockDim.x) {
      real_t acc = (real_t)0;
      for (int a = 0; a < R_d; ++a) {  // the outputs od = lo_d[id] + a that read this input's d
        const real_t wd = weight_of[id * R_d + a];
        if (wd == (real_t)0) continue;  // also every od past the outputs: the table is 0 there
        for (int b = 0; b < R_h; ++b) {
          const real_t wh = weight_h[ih * R_h + b];
          if (wh == (real_t)0) continue;
          const real_t* gyr = gyc + ((lo[id] + a) * O_h + lo_h[ih] + b) * O_w + lo_w[iw];
          real_t along_w = (real_t)0;
          for (int c = 0; c < R_w; ++c) {
            const real_t ww = weight_w[iw * R_w + c];
            if (ww != (real_t)0) along_w += ww * gyr[c];
          }
          acc += wd * wh * along_w;
        }
      }
      gxr[iw] = acc;
    }
  }
}
