// kernels/rnn.cu -- fused gate arithmetic of one LSTM / GRU step (lecture: "Recurrent neural networks")
//
// lstm_gates_fwd: a = [a_i a_f a_g a_o] (N, 4H);  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
//                 c' = f c + i g;  h' = o tanh(c');  act = [i f g o] is saved for the backward
// lstm_gates_bwd: t = tanh(c');  gc_total = gc' + gh' o (1 - t^2)
//                 ga_i = gc_total g i(1-i);  ga_f = gc_total c f(1-f);  ga_g = gc_total i (1-g^2)
//                 ga_o = gh' t o(1-o);  gc = gc_total f
// gru_gates_fwd:  r = sigmoid(gi_r + gh_r);  z = sigmoid(gi_z + gh_z);  n = tanh(gi_n + r gh_n)
//                 h' = (1 - z) n + z h;  act = [r z n]
// gru_gates_bwd:  ga_n = g (1-z)(1-n^2);  ga_r = ga_n gh_n r(1-r);  ga_z = g (h-n) z(1-z)
//                 g_gi = [ga_r ga_z ga_n];  g_gh = [ga_r ga_z ga_n r];  g_h = g z
// Reference: tinygrad_med/ops/rnn.py::_lstm_gates_fwd_cpu (and _bwd, _gru_*). One thread per
// (sample, hidden unit): it reads its 4 (or 3) gate pre-activations, so the whole step's
// elementwise work is one launch instead of a dozen.
#include "common.cuh"

__device__ __forceinline__ real_t sigmoid(real_t a) {
  real_t e = exp(-fabs(a));  // in (0, 1]: no overflow for any a
  return a >= 0 ? (real_t)1 / ((real_t)1 + e) : e / ((real_t)1 + e);
}

extern "C" __global__ void lstm_gates_fwd(const real_t* __restrict__ gates, const real_t* __restrict__ c,
                                          real_t* __restrict__ h_new, real_t* __restrict__ c_new,
                                          real_t* __restrict__ act, long long N, long long H) {
  GRID_STRIDE_LOOP(k, N * H) {
    const long long n = k / H, j = k % H, row = n * 4 * H;
    const real_t i = sigmoid(gates[row + j]);
    const real_t f = sigmoid(gates[row + H + j]);
    const real_t g = tanh(gates[row + 2 * H + j]);
    const real_t o = sigmoid(gates[row + 3 * H + j]);
    const real_t cn = f * c[k] + i * g;
    c_new[k] = cn;
    h_new[k] = o * tanh(cn);
    act[row + j] = i;
    act[row + H + j] = f;
    act[row + 2 * H + j] = g;
    act[row + 3 * H + j] = o;
  }
}

extern "C" __global__ void lstm_gates_bwd(const real_t* __restrict__ gh, const real_t* __restrict__ gc,
                                          const real_t* __restrict__ act, const real_t* __restrict__ c,
                                          const real_t* __restrict__ c_new, real_t* __restrict__ g_gates,
                                          real_t* __restrict__ g_c, long long N, long long H) {
  GRID_STRIDE_LOOP(k, N * H) {
    const long long n = k / H, j = k % H, row = n * 4 * H;
    const real_t i = act[row + j], f = act[row + H + j], g = act[row + 2 * H + j], o = act[row + 3 * H + j];
    const real_t t = tanh(c_new[k]);
    const real_t gc_total = gc[k] + gh[k] * o * ((real_t)1 - t * t);
    g_gates[row + j] = gc_total * g * i * ((real_t)1 - i);
    g_gates[row + H + j] = gc_total * c[k] * f * ((real_t)1 - f);
    g_gates[row + 2 * H + j] = gc_total * i * ((real_t)1 - g * g);
    g_gates[row + 3 * H + j] = gh[k] * t * o * ((real_t)1 - o);
    g_c[k] = gc_total * f;
  }
}

extern "C" __global__ void gru_gates_fwd(const real_t* __restrict__ gi, const real_t* __restrict__ gh,
                                         const real_t* __restrict__ h, real_t* __restrict__ h_new,
                                         real_t* __restrict__ act, long long N, long long H) {
  GRID_STRIDE_LOOP(k, N * H) {
    const long long n = k / H, j = k % H, row = n * 3 * H;
    const real_t r = sigmoid(gi[row + j] + gh[row + j]);
    const real_t z = sigmoid(gi[row + H + j] + gh[row + H + j]);
    const real_t nn = tanh(gi[row + 2 * H + j] + r * gh[row + 2 * H + j]);
    h_new[k] = ((real_t)1 - z) * nn + z * h[k];
    act[row + j] = r;
    act[row + H + j] = z;
    act[row + 2 * H + j] = nn;
  }
}

extern "C" __global__ void gru_gates_bwd(const real_t* __restrict__ g, const real_t* __restrict__ act,
                                         const real_t* __restrict__ gh, const real_t* __restrict__ h,
                                         real_t* __restrict__ g_gi, real_t* __restrict__ g_gh,
                                         real_t* __restrict__ g_h, long long N, long long H) {
  GRID_STRIDE_LOOP(k, N * H) {
    const long long n = k / H, j = k % H, row = n * 3 * H;
    const real_t r = act[row + j], z = act[row + H + j], nn = act[row + 2 * H + j];
    const real_t ga_n = g[k] * ((real_t)1 - z) * ((real_t)1 - nn * nn);
    const real_t ga_r = ga_n * gh[row + 2 * H + j] * r * ((real_t)1 - r);
    const real_t ga_z = g[k] * (h[k] - nn) * z * ((real_t)1 - z);
    g_gi[row + j] = ga_r;
    g_gi[row + H + j] = ga_z;
    g_gi[row + 2 * H + j] = ga_n;
    g_gh[row + j] = ga_r;
    g_gh[row + H + j] = ga_z;
    g_gh[row + 2 * H + j] = ga_n * r;
    g_h[k] = g[k] * z;
  }
}
