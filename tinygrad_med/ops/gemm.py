"""The educational tiled matrix product, benchmarked against cuBLAS (kernels/gemm.cu).

Lecture: "CNN refresher" (fully connected layers; convolution as im2col + a matrix product).
The ops in tinygrad_med use ``xp.matmul`` (BLAS on the CPU, cuBLAS on the GPU) for every dense
product; ``tiled_matmul`` exists so that ``tgm bench`` can show what shared-memory tiling and
register blocking achieve against the vendor library.
"""

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function

__all__ = ["tiled_matmul"]

_TILE = 128  # rows and columns of C per thread block (BM = BN in kernels/gemm.cu)


def tiled_matmul(a, b):
    """C = A B for 2-D float tensors, with our tiled GEMM kernel on the GPU.

    Lecture: "CNN refresher".
    Forward:  C[m, n] = sum_k A[m, k] B[k, n]
    Backward: gA = gy B^T,  gB = A^T gy   (the same kernel, on transposed copies)
    Shapes:   A (M, K), B (K, N) -> C (M, N)
    Raises:   ShapeError if the operands are not 2-D or K differs; DTypeError if not float.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(
            fmt(
                "tiled_matmul",
                "expected 2-D operands with matching inner size",
                a=(a.shape, "(M, K)"),
                b=(b.shape, "(K, N)"),
            )
        )
    if a.dtype != b.dtype or a.dtype.kind != "f":
        raise DTypeError(fmt("tiled_matmul", f"expected two float32 or two float64 operands, got {a.dtype}, {b.dtype}"))
    return TiledMatMul.apply(a, b)


class TiledMatMul(Function):
    """Matrix product through the tiled kernel of kernels/gemm.cu (the educational GEMM).

    Lecture:  "CNN refresher" (fully connected layers; convolution as im2col + a matrix product)
    Forward:  y = a @ b
    Backward: ga = gy @ b^T, gb = a^T @ gy (the same tiled kernel)
    Shapes:   a (M, K), b (K, N) -> y (M, N)
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return _tiled_matmul(a, b)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        ga = _tiled_matmul(gy, xp.ascontiguousarray(self.b.T)) if self.needs_input_grad[0] else None
        gb = _tiled_matmul(xp.ascontiguousarray(self.a.T), gy) if self.needs_input_grad[1] else None
        return ga, gb


def _tiled_matmul(a, b):
    if backend.on_gpu(a):
        return _tiled_matmul_gpu(a, b)
    return _tiled_matmul_cpu(a, b)


def _tiled_matmul_cpu(a, b):
    return numpy.matmul(a, b)


def _tiled_matmul_gpu(a, b):
    xp = backend.get_xp(a)
    a, b = xp.ascontiguousarray(a), xp.ascontiguousarray(b)
    M, K = a.shape
    N = b.shape[1]
    c = xp.empty((M, N), dtype=a.dtype)
    grid = (-(-N // _TILE), -(-M // _TILE))  # (column tiles, row tiles)
    backend.load_kernel("gemm", "gemm_tiled", a.dtype)(grid, (256,), (a, b, c, M, N, K))
    return c
