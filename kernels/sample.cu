// kernels/sample.cu -- grid sampling (lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer")
// Every input runs as 3-D: a 2-D input (N, C, H, W) is (N, C, 1, H, W) with one tap along D.
// Source index of the grid coordinate g along an axis of L pixels (PyTorch's rules):
//   align ? src = (g + 1) / 2 * (L - 1) : src = ((g + 1) * L - 1) / 2
//   padding 1 (border): src = clip(src, 0, L - 1); 2 (reflection): mirror, then clip; 0 (zeros): taps
//   outside the input read 0.  The slope dsrc/dg = (L-1)/2 or L/2, times 0 / +-1 where clipped / mirrored.
// mode 0 (bi/trilinear): taps i0 = floor(src) with weight i0 + 1 - src, i0 + 1 with weight src - i0 per axis;
// mode 1 (nearest): one tap nearbyint(src) (round half to even), weight 1.
// grid_sample_fwd: y[n, c, p] = sum over corners of w_x * w_y * w_z * x[n, c, iz, iy, ix]
// grid_sample_bwd: gx[n, c, corner] += w * gy[n, c, p]   (atomicAdd: neighbouring points share inputs)
//                  g_grid[n, p, a] = slope_a * sum_{c, corners} gy[n, c, p] * x[corner] * (+-1) * (other weights)
// Reference: tinygrad_med/ops/sample.py::_grid_sample_fwd_cpu / _grid_sample_bwd_cpu.
// One thread per output point (n, p), looping over the channels; grid-stride loops.
#include "common.cuh"

struct AxisTaps {
  long long i0;     // first tap
  long long count;  // 2 (linear), 1 (nearest, or the D axis of a 2-D input)
  real_t w[2];      // weights of taps i0 and i0 + 1
  real_t slope;     // d src / d grid coordinate (0 for nearest: piecewise constant)
};

// PyTorch's reflect_coordinates_set_grad: src mirrored into [twice_low/2, twice_high/2]; *flip = +-1.
__device__ real_t reflect(real_t src, long long twice_low, long long twice_high, real_t* flip) {
  if (twice_low == twice_high) {
    *flip = 0;
    return 0;
  }
  const real_t low = (real_t)twice_low / 2, span = (real_t)(twice_high - twice_low) / 2;
  src -= low;
  real_t sign = 1;
  if (src < 0) {
    sign = -1;
    src = -src;
  }
  const real_t extra = fmod(src, span);
  const bool even = fmod(floor(src / span), (real_t)2) == 0;  // in real_t: src may be inf (then extra is nan)
  *flip = even ? sign : -sign;
  return even ? extra + low : span - extra + low;
}

__device__ AxisTaps axis_taps(real_t g, long long L, long long mode, long long padding, long long align) {
  AxisTaps t;
  real_t src = align ? (g + 1) / 2 * (real_t)(L - 1) : ((g + 1) * (real_t)L - 1) / 2;
  real_t slope = align ? (real_t)(L - 1) / 2 : (real_t)L / 2;
  if (padding == 2) {
    real_t flip;
    src = align ? reflect(src, 0, 2 * (L - 1), &flip) : reflect(src, -1, 2 * L - 1, &flip);
    slope *= flip;
  }
  if (padding != 0) {  // border, and reflection's final clip; fmax/fmin send nan to 0, as PyTorch's CUDA kernel
    if (!(src > 0 && src < (real_t)(L - 1))) slope = 0;
    src = fmin(fmax(src, (real_t)0), (real_t)(L - 1));
  }
  if (!(src > (real_t)-1073741824.0 && src < (real_t)1073741824.0)) {  // inf, nan, huge: outside (PyTorch: -100)
    src = -100;
    slope = 0;
  }
  if (mode == 1) {
    t.i0 = (long long)nearbyint(src);
    t.count = 1;
    t.w[0] = 1;
    t.w[1] = 0;
    t.slope = 0;
    return t;
  }
  const real_t lo = floor(src);
  t.i0 = (long long)lo;
  t.count = 2;
  t.w[0] = lo + 1 - src;
  t.w[1] = src - lo;
  t.slope = slope;
  return t;
}

// The three axes' taps of output point k (grid row k, nd coordinates x, y[, z]): t[0] = D, t[1] = H, t[2] = W.
__device__ void point_taps(const real_t* g, long long nd, long long D, long long H, long long W, long long mode,
                           long long padding, long long align, AxisTaps* t) {
  t[2] = axis_taps(g[0], W, mode, padding, align);
  t[1] = axis_taps(g[1], H, mode, padding, align);
  if (nd == 3) {
    t[0] = axis_taps(g[2], D, mode, padding, align);
  } else {  // a 2-D input: the single plane, weight 1, no gradient
    t[0].i0 = 0;
    t[0].count = 1;
    t[0].w[0] = 1;
    t[0].w[1] = 0;
    t[0].slope = 0;
  }
}

__device__ bool inside(long long i, long long L) { return i >= 0 && i < L; }

extern "C" __global__ void grid_sample_fwd(const real_t* __restrict__ x, const real_t* __restrict__ grid,
                                           real_t* __restrict__ y, long long N, long long C, long long D, long long H,
                                           long long W, long long P, long long nd, long long mode, long long padding,
                                           long long align) {
  const long long S = D * H * W;
  GRID_STRIDE_LOOP(k, N * P) {
    const long long n = k / P, p = k % P;
    AxisTaps t[3];
    point_taps(grid + k * nd, nd, D, H, W, mode, padding, align, t);
    for (long long c = 0; c < C; ++c) {
      const real_t* xc = x + (n * C + c) * S;
      real_t acc = 0;
      for (long long bz = 0; bz < t[0].count; ++bz)
        for (long long by = 0; by < t[1].count; ++by)
          for (long long bx = 0; bx < t[2].count; ++bx) {
            const long long iz = t[0].i0 + bz, iy = t[1].i0 + by, ix = t[2].i0 + bx;
            if (!inside(iz, D) || !inside(iy, H) || !inside(ix, W)) continue;  // zero padding
            acc += t[2].w[bx] * t[1].w[by] * t[0].w[bz] * xc[(iz * H + iy) * W + ix];
          }
      y[(n * C + c) * P + p] = acc;
    }
  }
}

extern "C" __global__ void grid_sample_bwd(const real_t* __restrict__ gy, const real_t* __restrict__ x,
                                           const real_t* __restrict__ grid, real_t* __restrict__ gx,
                                           real_t* __restrict__ g_grid, long long N, long long C, long long D,
                                           long long H, long long W, long long P, long long nd, long long mode,
                                           long long padding, long long align) {
  const long long S = D * H * W;
  GRID_STRIDE_LOOP(k, N * P) {
    const long long n = k / P, p = k % P;
    AxisTaps t[3];
    point_taps(grid + k * nd, nd, D, H, W, mode, padding, align, t);
    real_t g_src[3] = {0, 0, 0};  // dL/dsrc along D, H, W
    for (long long c = 0; c < C; ++c) {
      const real_t* xc = x + (n * C + c) * S;
      real_t* gxc = gx + (n * C + c) * S;
      const real_t gout = gy[(n * C + c) * P + p];
      for (long long bz = 0; bz < t[0].count; ++bz)
        for (long long by = 0; by < t[1].count; ++by)
          for (long long bx = 0; bx < t[2].count; ++bx) {
            const long long iz = t[0].i0 + bz, iy = t[1].i0 + by, ix = t[2].i0 + bx;
            if (!inside(iz, D) || !inside(iy, H) || !inside(ix, W)) continue;
            const long long at = (iz * H + iy) * W + ix;
            const real_t wz = t[0].w[bz], wy = t[1].w[by], wx = t[2].w[bx];
            atomicAdd(&gxc[at], wx * wy * wz * gout);
            const real_t v = xc[at] * gout;  // d w / d src along an axis: +1 for the upper tap, -1 for the lower
            g_src[0] += (bz ? v : -v) * wy * wx;
            g_src[1] += (by ? v : -v) * wz * wx;
            g_src[2] += (bx ? v : -v) * wz * wy;
          }
    }
    real_t* gg = g_grid + k * nd;
    gg[0] = g_src[2] * t[2].slope;
    gg[1] = g_src[1] * t[1].slope;
    if (nd == 3) gg[2] = g_src[0] * t[0].slope;
  }
}

// ---------------------------------------------------------------------------------------------- bicubic
// mode 2, 4-D inputs only (PyTorch's grid_sampler_2d bicubic).  src is unnormalised as above but NOT padded;
// i0 = floor(src), t = src - i0, and the 4 taps i0 - 1 + k (k = 0..3) per axis weigh Keys' cubic convolution
// (A = -0.75):  W_0 = far(t + 1), W_1 = near(t), W_2 = near(1 - t), W_3 = far(2 - t),
//   near(s) = ((A + 2) s - (A + 3)) s^2 + 1 (|s| <= 1),   far(s) = ((A s - 5A) s + 8A) s - 4A (1 < |s| < 2).
// padding_mode maps each tap's integer index (PyTorch's get_value_bounded): border clips it, reflection
// mirrors then clips it, zeros leaves it (a tap outside reads 0).  The mapping moves no tap with g, so
//   d W_k / d g = W_k'(t) * slope   (W_0' = far'(t + 1), W_1' = near'(t), W_2' = -near'(1 - t), W_3' = -far'(2 - t))
// grid_sample_fwd_cubic: y[n, c, p] = sum_{j, i} W_j(t_y) W_i(t_x) x[n, c, iy_j, ix_i]          (16 taps)
// grid_sample_bwd_cubic: gx[n, c, iy_j, ix_i] += W_j W_i gy[n, c, p]   (atomicAdd, as grid_sample_bwd)
//                        g_grid[n, p] = (sum gy x W_i' W_j, sum gy x W_i W_j')  over c, i, j
// Reference: tinygrad_med/ops/sample.py::_cubic_axis_taps_cpu (the taps; the sums are _grid_sample_*_cpu's).
// Same signature as grid_sample_fwd/bwd (D = 1, nd = 2 and mode are not read).

#define CUBIC_A ((real_t)-0.75)

struct CubicTaps {
  long long i[4];  // the taps' indices after padding_mode (0 where outside: then w = dw = 0)
  real_t w[4];     // W_k(t)
  real_t dw[4];    // d W_k / d grid coordinate
};

__device__ real_t cubic_near(real_t s) { return ((CUBIC_A + 2) * s - (CUBIC_A + 3)) * s * s + 1; }
__device__ real_t cubic_far(real_t s) { return ((CUBIC_A * s - 5 * CUBIC_A) * s + 8 * CUBIC_A) * s - 4 * CUBIC_A; }
__device__ real_t cubic_near_slope(real_t s) { return (3 * (CUBIC_A + 2) * s - 2 * (CUBIC_A + 3)) * s; }
__device__ real_t cubic_far_slope(real_t s) { return (3 * CUBIC_A * s - 10 * CUBIC_A) * s + 8 * CUBIC_A; }

__device__ CubicTaps cubic_taps(real_t g, long long L, long long padding, long long align) {
  CubicTaps c;
  real_t src = align ? (g + 1) / 2 * (real_t)(L - 1) : ((g + 1) * (real_t)L - 1) / 2;
  real_t slope = align ? (real_t)(L - 1) / 2 : (real_t)L / 2;
  if (!(src > (real_t)-1073741824.0 && src < (real_t)1073741824.0)) {  // inf, nan, huge: as axis_taps
    src = -100;
    slope = 0;
  }
  const real_t lo = floor(src), t = src - lo;
  c.w[0] = cubic_far(t + 1);
  c.w[1] = cubic_near(t);
  c.w[2] = cubic_near(1 - t);
  c.w[3] = cubic_far(2 - t);
  c.dw[0] = cubic_far_slope(t + 1) * slope;
  c.dw[1] = cubic_near_slope(t) * slope;
  c.dw[2] = -cubic_near_slope(1 - t) * slope;
  c.dw[3] = -cubic_far_slope(2 - t) * slope;
  for (int k = 0; k < 4; ++k) {
    real_t idx = lo - 1 + (real_t)k;
    if (padding == 2) {
      real_t flip;
      idx = align ? reflect(idx, 0, 2 * (L - 1), &flip) : reflect(idx, -1, 2 * L - 1, &flip);
    }
    if (padding != 0) idx = fmin(fmax(idx, (real_t)0), (real_t)(L - 1));
    c.i[k] = (long long)idx;
    if (!inside(c.i[k], L)) {  // zeros padding: the tap reads 0 and moves nothing
      c.i[k] = 0;
      c.w[k] = 0;
      c.dw[k] = 0;
    }
  }
  return c;
}

extern "C" __global__ void grid_sample_fwd_cubic(const real_t* __restrict__ x, const real_t* __restrict__ grid,
                                                 real_t* __restrict__ y, long long N, long long C, long long D,
                                                 long long H, long long W, long long P, long long nd, long long mode,
                                                 long long padding, long long align) {
  const long long S = H * W;
  GRID_STRIDE_LOOP(k, N * P) {
    const long long n = k / P, p = k % P;
    const CubicTaps tx = cubic_taps(grid[2 * k], W, padding, align), ty = cubic_taps(grid[2 * k + 1], H, padding, align);
    for (long long c = 0; c < C; ++c) {
      const real_t* xc = x + (n * C + c) * S;
      real_t acc = 0;
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) acc += tx.w[i] * ty.w[j] * xc[ty.i[j] * W + tx.i[i]];
      y[(n * C + c) * P + p] = acc;
    }
  }
}

extern "C" __global__ void grid_sample_bwd_cubic(const real_t* __restrict__ gy, const real_t* __restrict__ x,
                                                 const real_t* __restrict__ grid, real_t* __restrict__ gx,
                                                 real_t* __restrict__ g_grid, long long N, long long C, long long D,
                                                 long long H, long long W, long long P, long long nd, long long mode,
                                                 long long padding, long long align) {
  const long long S = H * W;
  GRID_STRIDE_LOOP(k, N * P) {
    const long long n = k / P, p = k % P;
    const CubicTaps tx = cubic_taps(grid[2 * k], W, padding, align), ty = cubic_taps(grid[2 * k + 1], H, padding, align);
    real_t g_x = 0, g_y = 0;  // dL/d grid coordinate along W and H
    for (long long c = 0; c < C; ++c) {
      const real_t* xc = x + (n * C + c) * S;
      real_t* gxc = gx + (n * C + c) * S;
      const real_t gout = gy[(n * C + c) * P + p];
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) {
          if (tx.w[i] == 0 && tx.dw[i] == 0) continue;  // outside (or a zero weight: adds nothing)
          if (ty.w[j] == 0 && ty.dw[j] == 0) continue;
          const long long at = ty.i[j] * W + tx.i[i];
          atomicAdd(&gxc[at], tx.w[i] * ty.w[j] * gout);
          const real_t v = xc[at] * gout;
          g_x += v * tx.dw[i] * ty.w[j];
          g_y += v * tx.w[i] * ty.dw[j];
        }
    }
    g_grid[2 * k] = g_x;
    g_grid[2 * k + 1] = g_y;
  }
}
