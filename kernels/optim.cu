// kernels/optim.cu -- fused optimizer updates (lecture: "MORE ON OPTIMIZATION": momentum, Adam)
// sgd_step:     g += wd w;  b = first ? g : mu b + (1 - dampening) g;  d = nesterov ? g + mu b : b;
//               w -= lr d                      (momentum == 0: w -= lr g, b untouched)
// adam_step:    decoupled ? w *= 1 - lr wd : g += wd w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//               amsgrad: vmax = max(vmax, v), v = vmax;  w -= step_size m / (sqrt(v) / bc2_sqrt + eps)
//               with step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t) computed on the host
// rmsprop_step: g += wd w;  s = alpha s + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g;
//               r = sqrt(s [- a^2]) + eps;  momentum > 0: b = mu b + g / r, w -= lr b;  else w -= lr g / r
// Reference: tinygrad_med/optim/sgd.py::_sgd_step_cpu, adam.py::_adam_step_cpu,
//            rmsprop.py::_rmsprop_step_cpu. One thread per parameter element (grid-stride loop),
// one launch per parameter per step: every element's update is independent, so no barriers, no atomics.
// Arithmetic is done in real_t, in the order of the NumPy reference, so float32 runs agree to rounding.
// Optional state pointers (unused when the option is off) may alias param: they carry no __restrict__.
#include "common.cuh"

extern "C" __global__ void sgd_step(real_t* __restrict__ param, const real_t* __restrict__ grad,
                                    real_t* momentum_buffer, double lr, double momentum, double dampening,
                                    double weight_decay, long long nesterov, long long first_step, long long n) {
  const real_t mu = (real_t)momentum, keep = (real_t)(1.0 - dampening);
  const real_t wd = (real_t)weight_decay, rate = (real_t)lr;
  GRID_STRIDE_LOOP(i, n) {
    real_t w = param[i], g = grad[i];
    if (weight_decay != 0.0) g = g + wd * w;  // L2 penalty in the gradient
    if (momentum != 0.0) {
      real_t b = first_step ? g : mu * momentum_buffer[i] + keep * g;  // b_1 = g_1
      momentum_buffer[i] = b;
      g = nesterov ? g + mu * b : b;
    }
    param[i] = w - rate * g;  // w_t = w_{t-1} - lr d_t
  }
}

extern "C" __global__ void adam_step(real_t* __restrict__ param, const real_t* __restrict__ grad,
                                     real_t* __restrict__ exp_avg, real_t* __restrict__ exp_avg_sq,
                                     real_t* max_exp_avg_sq, double lr, double beta1, double beta2, double eps,
                                     double weight_decay, long long decoupled, long long amsgrad, double step_size,
                                     double bias_correction2_sqrt, long long n) {
  const real_t b1 = (real_t)beta1, one_minus_b1 = (real_t)(1.0 - beta1);
  const real_t b2 = (real_t)beta2, one_minus_b2 = (real_t)(1.0 - beta2);
  const real_t wd = (real_t)weight_decay, decay = (real_t)(1.0 - lr * weight_decay);
  const real_t eps_r = (real_t)eps, size = (real_t)step_size, bc2 = (real_t)bias_correction2_sqrt;
  GRID_STRIDE_LOOP(i, n) {
    real_t w = param[i], g = grad[i];
    if (weight_decay != 0.0) {
      if (decoupled) w = w * decay;  // AdamW: w <- w (1 - lr lambda)
      else g = g + wd * w;           // Adam: L2 penalty in the gradient
    }
    real_t m = b1 * exp_avg[i] + one_minus_b1 * g;         // first moment m_t
    real_t v = b2 * exp_avg_sq[i] + one_minus_b2 * (g * g);  // second moment v_t
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if (amsgrad) {
      real_t old = max_exp_avg_sq[i];  // AMSGrad: running maximum of v_t (NaN propagates, as numpy.maximum)
      v = (v > old || v != v) ? v : old;
      max_exp_avg_sq[i] = v;
    }
    real_t denom = sqrt(v) / bc2 + eps_r;  // sqrt(v^_t) + eps
    param[i] = w - size * (m / denom);
  }
}

extern "C" __global__ void rmsprop_step(real_t* __restrict__ param, const real_t* __restrict__ grad,
                                        real_t* __restrict__ square_avg, real_t* grad_avg, real_t* momentum_buffer,
                                        double lr, double alpha, double eps, double weight_decay, double momentum,
                                        long long centered, long long n) {
  const real_t a = (real_t)alpha, one_minus_a = (real_t)(1.0 - alpha);
  const real_t wd = (real_t)weight_decay, mu = (real_t)momentum, rate = (real_t)lr, eps_r = (real_t)eps;
  GRID_STRIDE_LOOP(i, n) {
    real_t w = param[i], g = grad[i];
    if (weight_decay != 0.0) g = g + wd * w;
    real_t s = a * square_avg[i] + one_minus_a * (g * g);  // decaying average of g^2
    square_avg[i] = s;
    real_t r;
    if (centered) {
      real_t mean = a * grad_avg[i] + one_minus_a * g;  // decaying average of g
      grad_avg[i] = mean;
      r = sqrt(s - mean * mean) + eps_r;
    } else {
      r = sqrt(s) + eps_r;
    }
    real_t step = g / r;
    if (momentum > 0.0) {
      step = mu * momentum_buffer[i] + step;
      momentum_buffer[i] = step;
    }
    param[i] = w - step * rate;
  }
}
