// tests/kernels_planted/planted_int_param.cu -- PLANTED BUG: a by-value int parameter.
// scale: y[i] = a * y[i]. CuPy packs a Python int as 64 bits, so `int n` reads the wrong bytes on
// a GPU; the compile check (PTX .u32 parameter) and backend.Kernel must both refuse it.
typedef REAL_T real_t;

extern "C" __global__ void scale(real_t* __restrict__ y, double a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = (real_t)a * y[i];
}
