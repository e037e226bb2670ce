// kernels/resample.cu -- interpolation (lecture: "Semantic segmentation" (upsampling), "Spatial transformer")
// Every resize runs as 3-D: 1-D and 2-D inputs get leading spatial dims of size 1 (step 1).
// Along one axis of L inputs, output o reads two inputs i0, i1 with weights 1 - lam and lam
// (step = the scale factor of ops/resample.py::_axis_scale):
//   mode 0, nearest:        i0 = i1 = min(floor(o * step), L - 1)          (float32 arithmetic, as PyTorch)
//   mode 2, nearest-exact:  i0 = i1 = min(floor((o + 0.5) * step), L - 1)
//   mode 1, linear:         src = align ? o * step : max((o + 0.5) * step - 0.5, 0),
//                           i0 = floor(src), i1 = min(i0 + 1, L - 1), lam = src - i0
// interpolate_fwd: y[o_d, o_h, o_w] = sum over the 8 corners of w_d * w_h * w_w * x[i_d, i_h, i_w]  (trilinear;
//             bilinear and linear are the same with size-1 leading dims)
// interpolate_bwd: gx[corner] += w_d * w_h * w_w * gy[o]   (atomicAdd: neighbouring outputs share inputs)
// Reference: tinygrad_med/ops/resample.py::_interpolate_fwd_cpu / _interpolate_bwd_cpu (the same taps as
// one (O x L) matrix per axis). One thread per output element, grid-stride loops.
#include "common.cuh"

struct Taps {
  long long i0, i1;
  double lam;  // weight of i1; i0 gets 1 - lam
};

__device__ Taps axis_taps(long long o, long long L, double step, long long mode, long long align) {
  Taps t;
  if (mode != 1) {  // nearest, nearest-exact
    float where = mode == 0 ? (float)o : (float)((double)o + 0.5);
    t.i0 = t.i1 = min((long long)floorf(where * (float)step), L - 1);
    t.lam = 0.0;
    return t;
  }
  double src = align ? (double)o * step : max(((double)o + 0.5) * step - 0.5, 0.0);
  t.i0 = min((long long)floor(src), L - 1);
  t.i1 = min(t.i0 + 1, L - 1);
  t.lam = min(max(src - (double)t.i0, 0.0), 1.0);
  return t;
}

// corner c (bits: d h w) of output k: its flat input index inside the plane and its weight
__device__ double corner(long long c, const Taps& td, const Taps& th, const Taps& tw, long long in_h,
                         long long in_w, long long* index) {
  long long d = (c & 4) ? td.i1 : td.i0, h = (c & 2) ? th.i1 : th.i0, w = (c & 1) ? tw.i1 : tw.i0;
  *index = (d * in_h + h) * in_w + w;
  return ((c & 4) ? td.lam : 1.0 - td.lam) * ((c & 2) ? th.lam : 1.0 - th.lam) * ((c & 1) ? tw.lam : 1.0 - tw.lam);
}

#define OUTPUT_TAPS(k)                                                                              \
  long long ow = (k) % out_w, oh = (k) / out_w % out_h;                                             \
  long long od = (k) / (out_w * out_h) % out_d, plane = (k) / (out_w * out_h * out_d);              \
  Taps td = axis_taps(od, in_d, step_d, mode, align), th = axis_taps(oh, in_h, step_h, mode, align); \
  Taps tw = axis_taps(ow, in_w, step_w, mode, align)

extern "C" __global__ void interpolate_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n_out,
                                      long long in_d, long long in_h, long long in_w, long long out_d, long long out_h,
                                      long long out_w, double step_d, double step_h, double step_w, long long mode,
                                      long long align) {
  GRID_STRIDE_LOOP(k, n_out) {
    OUTPUT_TAPS(k);
    const real_t* xc = x + plane * in_d * in_h * in_w;
    double acc = 0.0;
    for (long long c = 0; c < 8; ++c) {
      long long index;
      double weight = corner(c, td, th, tw, in_h, in_w, &index);
      if (weight != 0.0) acc += weight * (double)xc[index];
    }
    y[k] = (real_t)acc;
  }
}

extern "C" __global__ void interpolate_bwd(const real_t* __restrict__ gy, real_t* __restrict__ gx, long long n_out,
                                      long long in_d, long long in_h, long long in_w, long long out_d, long long out_h,
                                      long long out_w, double step_d, double step_h, double step_w, long long mode,
                                      long long align) {
  GRID_STRIDE_LOOP(k, n_out) {
    OUTPUT_TAPS(k);
    real_t* gxc = gx + plane * in_d * in_h * in_w;
    for (long long c = 0; c < 8; ++c) {
      long long index;
      double weight = corner(c, td, th, tw, in_h, in_w, &index);
      if (weight != 0.0) atomicAdd(&gxc[index], (real_t)(weight * (double)gy[k]));
    }
  }
}
