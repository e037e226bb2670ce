// kernels/resample.cu -- interpolation (lecture: "Semantic segmentation" (upsampling), "Spatial transformer")
// Every resize runs as 3-D: 1-D and 2-D inputs get leading spatial dims of size 1.
// Along one axis of L inputs and O outputs, output o reads inputs i0[o] and i1[o] with weights w0[o] and w1[o]
// (linear: 1 - lam and lam; nearest: 1 and 0). These taps are the CPU reference's own
// (ops/resample.py::_axis_taps), made once per call on the host and passed as tables, so the kernels do no
// coordinate arithmetic and agree with the CPU on every index.
//   taps    = [i0_d, i1_d, i0_h, i1_h, i0_w, i1_w]   (int, O_d, O_d, O_h, O_h, O_w, O_w entries)
//   weights = [w0_d, w1_d, w0_h, w1_h, w0_w, w1_w]   (real_t, same layout)
// interpolate_fwd: y[od, oh, ow] = sum over a, b, c in {0, 1} of wa_d[od] wb_h[oh] wc_w[ow] x[ia_d[od], ib_h[oh], ic_w[ow]]
//                  (a tap of weight 0 is skipped: it adds nothing)
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

// the two taps of output o along one axis, from the tables (i0 at taps[0..O), i1 at taps[O..2O))
struct Tap {
  int i0, i1;
  real_t w0, w1;
};

__device__ Tap tap(const int* taps, const real_t* weights, int O, int o) {
  return Tap{taps[o], taps[O + o], weights[o], weights[O + o]};
}

#define FOR_EACH_ROW(row, rows) \
  for (int row = blockIdx.x * blockDim.y + threadIdx.y; row < (rows); row += gridDim.x * blockDim.y)

extern "C" __global__ void interpolate_fwd(const real_t* __restrict__ x, real_t* __restrict__ y,
                                           const int* __restrict__ taps, const real_t* __restrict__ weights,
                                           long long planes, long long in_d, long long in_h, long long in_w,
                                           long long out_d, long long out_h, long long out_w) {
  const int L_d = (int)in_d, L_h = (int)in_h, L_w = (int)in_w, O_d = (int)out_d, O_h = (int)out_h, O_w = (int)out_w;
  const int *taps_h = taps + 2 * O_d, *taps_w = taps_h + 2 * O_h;
  const real_t *weights_h = weights + 2 * O_d, *weights_w = weights_h + 2 * O_h;
  FOR_EACH_ROW(row, (int)planes * O_d * O_h) {  // row = (plane * O_d + od) * O_h + oh
    const int oh = row % O_h, od = row / O_h % O_d, plane = row / O_h / O_d;
    const Tap td = tap(taps, weights, O_d, od), th = tap(taps_h, weights_h, O_h, oh);
    const real_t* xc = x + plane * L_d * L_h * L_w;
    // the (up to) four input rows this output row reads, with their weights
    const int d_of[2] = {td.i0, td.i1}, h_of[2] = {th.i0, th.i1};
    const real_t wd[2] = {td.w0, td.w1}, wh[2] = {th.w0, th.w1};
    real_t* yr = y + row * O_w;
    for (int ow = threadIdx.x; ow < O_w; ow += blockDim.x) {
      const Tap tw = tap(taps_w, weights_w, O_w, ow);
      real_t acc = (real_t)0;
      for (int a = 0; a < 2; ++a) {
        if (wd[a] == (real_t)0) continue;
        for (int b = 0; b < 2; ++b) {
          if (wh[b] == (real_t)0) continue;
          const real_t* xr = xc + (d_of[a] * L_h + h_of[b]) * L_w;
          real_t along_w = tw.w0 * xr[tw.i0];
          if (tw.w1 != (real_t)0) along_w += tw.w1 * xr[tw.i1];
          acc += wd[a] * wh[b] * along_w;
        }
      }
      yr[ow] = acc;
    }
  }
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
