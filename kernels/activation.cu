// kernels/activation.cu -- activation functions (lecture: "Convolutional neural networks - Activation function")
// sigmoid_fwd:     y = 1 / (1 + e^-x), written with e = e^-|x| so that nothing overflows at |x| = 1000
// sigmoid_bwd:     gx = gy * y * (1 - y)
// tanh_fwd/bwd:    y = tanh(x);  gx = gy * (1 - y^2)
// relu_fwd/bwd:    y = max(0, x);  gx = gy * [x > 0]
// leaky_relu_*:    y = x if x > 0 else slope * x;  gx = gy * (1 if x > 0 else slope)
// elu_fwd/bwd:     y = x if x > 0 else alpha * (e^x - 1);  gx = gy * (1 if x > 0 else alpha * e^x)
// gelu_fwd/bwd:    y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  gx = gy * (Phi(x) + x * phi(x))
// Reference: tinygrad_med/ops/activation.py::_<name>_cpu (softmax and log_softmax: kernels/softmax.cu).
// One thread per element (grid-stride loop).
#include "common.cuh"

extern "C" __global__ void sigmoid_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    real_t e = exp(-fabs(v));  // in (0, 1]: never overflows
    y[i] = v >= 0 ? (real_t)1 / ((real_t)1 + e) : e / ((real_t)1 + e);
  }
}

extern "C" __global__ void sigmoid_bwd(const real_t* __restrict__ y, const real_t* __restrict__ gy,
                                       real_t* __restrict__ gx, long long n) {
  GRID_STRIDE_LOOP(i, n) { gx[i] = gy[i] * y[i] * ((real_t)1 - y[i]); }
}

extern "C" __global__ void tanh_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  GRID_STRIDE_LOOP(i, n) { y[i] = tanh(x[i]); }
}

extern "C" __global__ void tanh_bwd(const real_t* __restrict__ y, const real_t* __restrict__ gy,
                                    real_t* __restrict__ gx, long long n) {
  GRID_STRIDE_LOOP(i, n) { gx[i] = gy[i] * ((real_t)1 - y[i] * y[i]); }
}

extern "C" __global__ void relu_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = v <= 0 ? (real_t)0 : v;  // written so that NaN passes through, as numpy.maximum does
  }
}

extern "C" __global__ void relu_bwd(const real_t* __restrict__ x, const real_t* __restrict__ gy,
                                    real_t* __restrict__ gx, long long n) {
  GRID_STRIDE_LOOP(i, n) { gx[i] = x[i] > 0 ? gy[i] : (real_t)0; }
}

extern "C" __global__ void leaky_relu_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n,
                                          double slope) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = v > 0 ? v : (real_t)slope * v;
  }
}

extern "C" __global__ void leaky_relu_bwd(const real_t* __restrict__ x, const real_t* __restrict__ gy,
                                          real_t* __restrict__ gx, long long n, double slope) {
  GRID_STRIDE_LOOP(i, n) { gx[i] = x[i] > 0 ? gy[i] : (real_t)slope * gy[i]; }
}

extern "C" __global__ void elu_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n, double alpha) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = v > 0 ? v : (real_t)alpha * expm1(v);  // expm1: exact near 0, and e^x is never formed for x > 0
  }
}

extern "C" __global__ void elu_bwd(const real_t* __restrict__ x, const real_t* __restrict__ gy,
                                   real_t* __restrict__ gx, long long n, double alpha) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    gx[i] = v > 0 ? gy[i] : gy[i] * (real_t)alpha * exp(v);
  }
}

extern "C" __global__ void gelu_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    y[i] = (real_t)0.5 * v * ((real_t)1 + erf(v * (real_t)0.70710678118654752440));
  }
}

extern "C" __global__ void gelu_bwd(const real_t* __restrict__ x, const real_t* __restrict__ gy,
                                    real_t* __restrict__ gx, long long n) {
  GRID_STRIDE_LOOP(i, n) {
    real_t v = x[i];
    real_t cdf = (real_t)0.5 * ((real_t)1 + erf(v * (real_t)0.70710678118654752440));
    real_t pdf = (real_t)0.39894228040143267794 * exp((real_t)-0.5 * v * v);  // 1/sqrt(2 pi) e^(-x^2/2)
    gx[i] = gy[i] * (cdf + v * pdf);
  }
}
