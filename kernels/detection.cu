// kernels/detection.cu -- RoI align, RoI pooling and NMS overlaps (lecture: "Object detection",
// "Instance segmentation - Mask R-CNN"; the rules in full: tinygrad_med/ops/detection.py).
// A RoI row is (b, x1, y1, x2, y2) in image pixels; its geometry is computed in double, as on the CPU.
// roi_align_fwd: y[k,c,i,j] = (1 / (G_h G_w)) sum_{iy,ix} bilinear(x[b_k, c], y_{i,iy}, x_{j,ix}),
//                y_{i,iy} = y1 + i * bin_h + (iy + 0.5) * bin_h / G_h (x alike); a sample outside
//                [-1, H] x [-1, W] reads 0, one in [-1, 0) is moved to 0, one past H - 1 reads row H - 1
// roi_align_bwd: gx[b_k, c, corner] += gy[k,c,i,j] * (the corner's bilinear weight) / (G_h G_w)
//                (atomicAdd: the samples of neighbouring bins and of overlapping RoIs share pixels)
// roi_pool_fwd:  y[k,c,i,j] = max of x[b_k, c] over the rounded bin; argmax = flat h * W + w of the first
//                maximum in row-major order; an empty bin gives y = 0 and argmax = -1
// roi_pool_bwd:  gx[b_k, c, argmax[k,c,i,j]] += gy[k,c,i,j]   (atomicAdd: bins of overlapping RoIs share pixels)
// nms_mask:      bit j % 64 of mask[i, j / 64] (64-bit words, passed as long long) is set iff IoU(box i, box j) > t and j > i (boxes sorted by score)
// Reference: tinygrad_med/ops/detection.py::_roi_align_fwd_cpu / _roi_align_bwd_cpu (the same taps as one
// matrix per axis), _roi_pool_fwd_cpu / _roi_pool_bwd_cpu, _nms_mask_cpu. One thread per output element
// (per (i, 64-box word) for nms_mask), grid-stride loops.
#include "common.cuh"

// ---------------------------------------------------------------------------- roi_align

// One RoI of roi_align: its image, first sample coordinates, bin sizes and samples per bin.
struct AlignRoi {
  long long b, grid_h, grid_w;
  double start_h, start_w, bin_h, bin_w;
};

__device__ AlignRoi align_roi(const real_t* roi, long long PH, long long PW, double spatial_scale,
                              long long sampling_ratio, long long aligned) {
  AlignRoi r;
  const double offset = aligned ? 0.5 : 0.0;  // aligned: pixel centres sit at half-integer coordinates
  r.b = (long long)roi[0];
  r.start_w = (double)roi[1] * spatial_scale - offset;
  r.start_h = (double)roi[2] * spatial_scale - offset;
  double roi_w = ((double)roi[3] * spatial_scale - offset) - r.start_w;
  double roi_h = ((double)roi[4] * spatial_scale - offset) - r.start_h;
  if (!aligned) {  // torchvision: "force malformed RoIs to be 1x1"
    roi_w = max(roi_w, 1.0);
    roi_h = max(roi_h, 1.0);
  }
  r.bin_h = roi_h / (double)PH;
  r.bin_w = roi_w / (double)PW;
  r.grid_h = sampling_ratio > 0 ? sampling_ratio : max((long long)ceil(roi_h / (double)PH), 0LL);
  r.grid_w = sampling_ratio > 0 ? sampling_ratio : max((long long)ceil(roi_w / (double)PW), 0LL);
  return r;
}

// Coordinate of sample s (of grid) in bin p along one axis.
__device__ double sample_at(double start, double bin, long long p, long long s, long long grid) {
  return start + (double)p * bin + ((double)s + 0.5) * bin / (double)grid;
}

// Bilinear taps of coordinate c along an axis of length L: rows lo, hi with weights 1 - lam, lam.
// False if c is outside [-1, L] (the sample reads 0).
__device__ bool axis_tap(double c, long long L, long long* lo, long long* hi, double* lam) {
  if (!(c >= -1.0 && c <= (double)L)) return false;  // written so that a NaN coordinate is outside too
  c = max(c, 0.0);
  *lo = min((long long)floor(c), L - 1);
  *lam = *lo >= L - 1 ? 0.0 : c - (double)*lo;  // at or past the last row: all weight on it
  *hi = min(*lo + 1, L - 1);
  return true;
}

// Call visit(flat index in the (H, W) plane, bilinear weight) for the 4 taps of every sample of bin (i, j).
template <class Visit>
__device__ void for_each_tap(const AlignRoi& r, long long i, long long j, long long H, long long W, Visit visit) {
  for (long long iy = 0; iy < r.grid_h; ++iy) {
    long long h0, h1;
    double ly;
    if (!axis_tap(sample_at(r.start_h, r.bin_h, i, iy, r.grid_h), H, &h0, &h1, &ly)) continue;
    for (long long ix = 0; ix < r.grid_w; ++ix) {
      long long w0, w1;
      double lx;
      if (!axis_tap(sample_at(r.start_w, r.bin_w, j, ix, r.grid_w), W, &w0, &w1, &lx)) continue;
      visit(h0 * W + w0, (1.0 - ly) * (1.0 - lx));
      visit(h0 * W + w1, (1.0 - ly) * lx);
      visit(h1 * W + w0, ly * (1.0 - lx));
      visit(h1 * W + w1, ly * lx);
    }
  }
}

// Output element k = (roi, c, i, j) of a (K, C, PH, PW) array, and its RoI's geometry.
#define ALIGN_BIN(k)                                                     \
  const long long j = (k) % PW, i = (k) / PW % PH, c = (k) / (PW * PH) % C; \
  const AlignRoi r = align_roi(rois + 5 * ((k) / (PW * PH * C)), PH, PW, spatial_scale, sampling_ratio, aligned)

extern "C" __global__ void roi_align_fwd(const real_t* __restrict__ x, const real_t* __restrict__ rois,
                                         real_t* __restrict__ y, long long n_out, long long C, long long H,
                                         long long W, long long PH, long long PW, double spatial_scale,
                                         long long sampling_ratio, long long aligned) {
  GRID_STRIDE_LOOP(k, n_out) {
    ALIGN_BIN(k);
    const real_t* plane = x + (r.b * C + c) * H * W;
    double acc = 0.0;
    for_each_tap(r, i, j, H, W, [&](long long index, double weight) { acc += weight * (double)plane[index]; });
    y[k] = (real_t)(acc / (double)max(r.grid_h * r.grid_w, 1LL));
  }
}

extern "C" __global__ void roi_align_bwd(const real_t* __restrict__ gy, const real_t* __restrict__ rois,
                                         real_t* __restrict__ gx, long long n_out, long long C, long long H,
                                         long long W, long long PH, long long PW, double spatial_scale,
                                         long long sampling_ratio, long long aligned) {
  GRID_STRIDE_LOOP(k, n_out) {
    ALIGN_BIN(k);
    real_t* plane = gx + (r.b * C + c) * H * W;
    const double g = (double)gy[k] / (double)max(r.grid_h * r.grid_w, 1LL);
    for_each_tap(r, i, j, H, W, [&](long long index, double weight) { atomicAdd(&plane[index], (real_t)(g * weight)); });
  }
}

// ---------------------------------------------------------------------------- roi_pool

// Bin p of a rounded RoI side [start, start + length): [start + floor(p * size), start + ceil((p + 1) * size)),
// size = length / P, clipped to [0, L].
__device__ void bin_edges(long long start, long long length, long long p, long long P, long long L, long long* lo,
                          long long* hi) {
  const double size = (double)length / (double)P;
  *lo = min(max((long long)floor((double)p * size) + start, 0LL), L);
  *hi = min(max((long long)ceil((double)(p + 1) * size) + start, 0LL), L);
}

extern "C" __global__ void roi_pool_fwd(const real_t* __restrict__ x, const real_t* __restrict__ rois,
                                        real_t* __restrict__ y, long long* __restrict__ argmax, long long n_out,
                                        long long C, long long H, long long W, long long PH, long long PW,
                                        double spatial_scale) {
  GRID_STRIDE_LOOP(k, n_out) {
    const long long j = k % PW, i = k / PW % PH, c = k / (PW * PH) % C;
    const real_t* roi = rois + 5 * (k / (PW * PH * C));
    // round() is half away from zero, as std::round in torchvision
    const long long x1 = (long long)round((double)roi[1] * spatial_scale);
    const long long y1 = (long long)round((double)roi[2] * spatial_scale);
    const long long x2 = (long long)round((double)roi[3] * spatial_scale);
    const long long y2 = (long long)round((double)roi[4] * spatial_scale);
    long long h0, h1, w0, w1;
    bin_edges(y1, max(y2 - y1 + 1, 1LL), i, PH, H, &h0, &h1);
    bin_edges(x1, max(x2 - x1 + 1, 1LL), j, PW, W, &w0, &w1);
    const real_t* plane = x + ((long long)roi[0] * C + c) * H * W;
    real_t best = (real_t)-3.402823466e38;  // -FLT_MAX, as torchvision
    long long arg = -1;
    for (long long h = h0; h < h1; ++h) {
      for (long long w = w0; w < w1; ++w) {
        if (plane[h * W + w] > best) {  // strict: the first maximum in row-major order wins
          best = plane[h * W + w];
          arg = h * W + w;
        }
      }
    }
    y[k] = (h1 <= h0 || w1 <= w0) ? (real_t)0 : best;
    argmax[k] = arg;
  }
}

extern "C" __global__ void roi_pool_bwd(const real_t* __restrict__ gy, const long long* __restrict__ argmax,
                                        const real_t* __restrict__ rois, real_t* __restrict__ gx, long long n_out,
                                        long long C, long long H, long long W, long long PH, long long PW) {
  GRID_STRIDE_LOOP(k, n_out) {
    const long long arg = argmax[k];
    if (arg < 0) continue;  // an empty bin passes no gradient
    const long long c = k / (PW * PH) % C, b = (long long)rois[5 * (k / (PW * PH * C))];
    atomicAdd(&gx[(b * C + c) * H * W + arg], gy[k]);
  }
}

// ---------------------------------------------------------------------------- nms

extern "C" __global__ void nms_mask(const real_t* __restrict__ boxes, long long* __restrict__ mask,
                                    long long n, double iou_threshold) {
  const long long words = (n + 63) / 64;
  GRID_STRIDE_LOOP(t, n * words) {
    const long long i = t / words, first = t % words * 64;
    const real_t* a = boxes + 4 * i;
    const real_t area_a = (a[2] - a[0]) * (a[3] - a[1]);
    unsigned long long bits = 0ULL;
    for (long long j = max(first, i + 1); j < min(first + 64, n); ++j) {
      const real_t* b = boxes + 4 * j;
      const real_t w = max(min(a[2], b[2]) - max(a[0], b[0]), (real_t)0);
      const real_t h = max(min(a[3], b[3]) - max(a[1], b[1]), (real_t)0);
      const real_t inter = w * h;
      const real_t area_b = (b[2] - b[0]) * (b[3] - b[1]);
      // IoU in real_t, compared in double as torchvision compares (T)ovr > (double)threshold
      if ((double)(inter / (area_a + area_b - inter)) > iou_threshold) bits |= 1ULL << (j - first);
    }
    mask[t] = (long long)bits;  // the 64 bits as they are (the host reads them as bytes)
  }
}
