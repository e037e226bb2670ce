// kernels/softmax.cu -- softmax and log-softmax over rows (lecture: "Image classification")
// softmax_fwd:     y[r, c] = e^(x[r, c] - m_r) / sum_k e^(x[r, k] - m_r),  m_r = max_k x[r, k]
// softmax_bwd:     gx[r, c] = y[r, c] * (gy[r, c] - sum_k gy[r, k] y[r, k])
// log_softmax_fwd: y[r, c] = x[r, c] - m_r - log sum_k e^(x[r, k] - m_r)
// log_softmax_bwd: gx[r, c] = gy[r, c] - e^(y[r, c]) * sum_k gy[r, k]
// Reference: tinygrad_med/ops/softmax.py::_<name>_cpu.
// blockDim.y rows of the last (contiguous) dim per block, blockDim.x threads per row striding over its
// C entries and reducing in shared memory (common.cuh::block_reduce); blockDim.x must be a power of
// two and blockDim.x * blockDim.y <= SOFTMAX_THREADS.
#include "common.cuh"

#define SOFTMAX_THREADS 256

// ------------------------------------------------------------------ softmax over rows
// A block of (blockDim.x, blockDim.y) threads takes blockDim.y rows at a time: thread (tx, ty) works
// on row first + ty, striding over its C entries by blockDim.x, and row ty reduces in its own slice
// of buf.  Every thread runs the same iterations, because block_reduce's barriers need the whole
// block: a row past the end takes part with n = 0 entries.

#define FOR_EACH_ROW_GROUP(first, rows)                                                 \
  for (long long first = (long long)blockIdx.x * blockDim.y; first < (rows);          \
       first += (long long)gridDim.x * blockDim.y)

// m_r = max_k x[r, k] and s_r = sum_k e^(x[r, k] - m_r) over the n entries of row xr (n = 0 past the end).
__device__ void row_max_sum(real_t* rowbuf, const real_t* xr, long long n, real_t* m, real_t* s) {
  real_t local = n ? xr[0] : (real_t)0;  // a start value every thread may take, so no -INFINITY is needed
  for (long long c = threadIdx.x; c < n; c += blockDim.x) local = max(local, xr[c]);
  *m = block_reduce(rowbuf, local, true);
  real_t sum = 0;
  for (long long c = threadIdx.x; c < n; c += blockDim.x) sum += exp(xr[c] - *m);
  *s = block_reduce(rowbuf, sum, false);
}

extern "C" __global__ void softmax_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long rows,
                                       long long C) {
  __shared__ real_t buf[SOFTMAX_THREADS];
  FOR_EACH_ROW_GROUP(first, rows) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0, at = (n ? r : 0) * C;  // row r: x[at .. at + n)
    real_t m, s;
    row_max_sum(buf + threadIdx.y * blockDim.x, x + at, n, &m, &s);
    for (long long c = threadIdx.x; c < n; c += blockDim.x) y[at + c] = exp(x[at + c] - m) / s;
  }
}

extern "C" __global__ void log_softmax_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, long long rows,
                                           long long C) {
  __shared__ real_t buf[SOFTMAX_THREADS];
  FOR_EACH_ROW_GROUP(first, rows) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0, at = (n ? r : 0) * C;
    real_t m, s;
    row_max_sum(buf + threadIdx.y * blockDim.x, x + at, n, &m, &s);
    real_t lse = m + log(s);
    for (long long c = threadIdx.x; c < n; c += blockDim.x) y[at + c] = x[at + c] - lse;
  }
}

extern "C" __global__ void softmax_bwd(const real_t* __restrict__ y, const real_t* __restrict__ gy,
                                       real_t* __restrict__ gx, long long rows, long long C) {
  __shared__ real_t buf[SOFTMAX_THREADS];
  FOR_EACH_ROW_GROUP(first, rows) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0, at = (n ? r : 0) * C;
    real_t dot = 0;
    for (long long c = threadIdx.x; c < n; c += blockDim.x) dot += gy[at + c] * y[at + c];
    dot = block_reduce(buf + threadIdx.y * blockDim.x, dot, false);
    for (long long c = threadIdx.x; c < n; c += blockDim.x) gx[at + c] = y[at + c] * (gy[at + c] - dot);
  }
}

extern "C" __global__ void log_softmax_bwd(const real_t* __restrict__ y, const real_t* __restrict__ gy,
                                           real_t* __restrict__ gx, long long rows, long long C) {
  __shared__ real_t buf[SOFTMAX_THREADS];
  FOR_EACH_ROW_GROUP(first, rows) {
    long long r = first + threadIdx.y, n = r < rows ? C : 0, at = (n ? r : 0) * C;
    real_t total = 0;
    for (long long c = threadIdx.x; c < n; c += blockDim.x) total += gy[at + c];
    total = block_reduce(buf + threadIdx.y * blockDim.x, total, false);
    for (long long c = threadIdx.x; c < n; c += blockDim.x) gx[at + c] = gy[at + c] - exp(y[at + c]) * total;
  }
}
