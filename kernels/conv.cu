// kernels/conv.cu -- im2col and col2im for 1D/2D/3D convolution (lecture: "Convolutional neural networks -
// Convolution", "Dilated convolution (a trous)"; "Semantic segmentation" for the transposed convolution).
// 1D and 2D are run as 3D with leading unit dims (D = KD = SD = dilD = OD = 1, PD = 0), so one kernel serves all.
// Layout: x (N, C, D, H, W); col (C*KD*KH*KW, N*OD*OH*OW), row r = ((c*KD + kd)*KH + kh)*KW + kw,
//         column m = ((n*OD + od)*OH + oh)*OW + ow.
//
// im2col: col[r, m] = x[n, c, od*SD - PD + kd*dilD, oh*SH - PH + kh*dilH, ow*SW - PW + kw*dilW]  (0 outside x)
//         one thread per column element.
// col2im: the adjoint of im2col. Input element (d, h, w) was copied to column m by kernel offset (kd, kh, kw)
//         iff  d + PD - kd*dilD = od*SD  with 0 <= od < OD  (same for h and w), so
//           gx[n, c, d, h, w] = sum over (kd, kh, kw) with SD | (d + PD - kd*dilD), od = (d + PD - kd*dilD)/SD
//                               in [0, OD) (same for oh, ow) of col[r(c, kd, kh, kw), m(n, od, oh, ow)]
//         one thread per input element gathering over the KD*KH*KW offsets: every thread writes only its
//         own element, so no atomics are needed.
// Reference: tinygrad_med/ops/conv.py::_im2col_cpu and _col2im_cpu (parity tests in tests/test_conv.py).
#include "common.cuh"

extern "C" __global__ void im2col(const real_t* __restrict__ x, real_t* __restrict__ col, long long N,
                                     long long C, long long D, long long H, long long W, long long KD,
                                     long long KH, long long KW, long long SD, long long SH, long long SW,
                                     long long PD, long long PH, long long PW, long long dilD, long long dilH,
                                     long long dilW, long long OD, long long OH, long long OW) {
  long long M = N * OD * OH * OW;  // columns
  GRID_STRIDE_LOOP(e, C * KD * KH * KW * M) {
    long long m = e % M, r = e / M;
    long long ow = m % OW, oh = m / OW % OH, od = m / (OW * OH) % OD, n = m / (OW * OH * OD);
    long long kw = r % KW, kh = r / KW % KH, kd = r / (KW * KH) % KD, c = r / (KW * KH * KD);
    long long d = od * SD - PD + kd * dilD, h = oh * SH - PH + kh * dilH, w = ow * SW - PW + kw * dilW;
    bool inside = d >= 0 && d < D && h >= 0 && h < H && w >= 0 && w < W;
    col[e] = inside ? x[(((n * C + c) * D + d) * H + h) * W + w] : (real_t)0;
  }
}

// the output index along one dim that kernel offset k maps to input index i, or -1 if there is none
__device__ long long source_index(long long i, long long k, long long S, long long P, long long Dil, long long O) {
  long long t = i + P - k * Dil;
  if (t < 0 || t % S != 0) return -1;
  return t / S < O ? t / S : -1;
}

extern "C" __global__ void col2im(const real_t* __restrict__ col, real_t* __restrict__ gx, long long N,
                                     long long C, long long D, long long H, long long W, long long KD,
                                     long long KH, long long KW, long long SD, long long SH, long long SW,
                                     long long PD, long long PH, long long PW, long long dilD, long long dilH,
                                     long long dilW, long long OD, long long OH, long long OW) {
  long long M = N * OD * OH * OW;
  GRID_STRIDE_LOOP(e, N * C * D * H * W) {
    long long w = e % W, h = e / W % H, d = e / (W * H) % D, c = e / (W * H * D) % C, n = e / (W * H * D * C);
    real_t sum = 0;
    for (long long kd = 0; kd < KD; ++kd) {
      long long od = source_index(d, kd, SD, PD, dilD, OD);
      if (od < 0) continue;
      for (long long kh = 0; kh < KH; ++kh) {
        long long oh = source_index(h, kh, SH, PH, dilH, OH);
        if (oh < 0) continue;
        for (long long kw = 0; kw < KW; ++kw) {
          long long ow = source_index(w, kw, SW, PW, dilW, OW);
          if (ow < 0) continue;
          long long r = ((c * KD + kd) * KH + kh) * KW + kw, m = ((n * OD + od) * OH + oh) * OW + ow;
          sum += col[r * M + m];
        }
      }
    }
    gx[e] = sum;
  }
}
