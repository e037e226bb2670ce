"""Pixel-major convolution products for the fast CPU path (ops/conv_cpu.py): im2row and its GEMMs.

Lecture: "Convolutional neural networks - Convolution".  The same sums as the reference's im2col product
(ops/conv.py), transposed: im2row's matrix is im2col's with rows and columns swapped (and its columns in
(k, c) order), so that

    y^T[(n, o), f] = sum_{(k, c)} row[(n, o), (k, c)] W_rows[(k, c), f]       W_rows[(k, c), f] = W[f, c, k]
    gW_rows = row^T @ gy_rows                                                  gy_rows[(n, o), f] = gy[n, f, o]

The long dim, the output positions, is then the rows of the left operand, which OpenBLAS's AVX-512
kernels run 1.1-3x faster on the U-Net's shapes (measured in ops/conv_cpu.py::conv_by_chunks).
ops/conv_cpu.py calls these per chunk of output positions, in its workers; nothing here starts a thread.
"""

import math
import threading

import numpy
from numpy.lib.stride_tricks import as_strided

__all__ = ["im2row", "weight_rows", "conv_rows_into", "weight_grad_part", "scratch", "empty_scratch"]


def im2row(x, geometry):
    """The transpose of im2col's matrix, its columns in (k, c) order: row[(n, o), (k, c)] = x[n, c, o*S - P_low + k*dil]
    (zero outside x), (N * prod O, prod K * C), in this thread's scratch buffer.

    Copied from a channels-last, zero-padded copy of x, so that the inner run of each copy is the C channels
    of a pixel (times the last kernel dim where dil is 1) rather than single floats.
    """
    N, C, d = x.shape[0], x.shape[1], len(geometry.K)
    sizes = tuple(i + lo + hi for i, (lo, hi) in zip(geometry.I, geometry.P, strict=True))
    padded = scratch("padded", (N, *sizes, C), x.dtype)
    zero_border(padded, geometry.P)
    interior = (slice(None), *(slice(lo, lo + i) for i, (lo, _) in zip(geometry.I, geometry.P, strict=True)))
    numpy.copyto(padded[interior], numpy.moveaxis(x, 1, -1))
    st = padded.strides  # bytes per step along (N, *spatial, C)
    shape = (N, *geometry.O, *geometry.K, C)
    strides = (
        st[0],
        *(st[1 + i] * geometry.S[i] for i in range(d)),
        *(st[1 + i] * geometry.dil[i] for i in range(d)),
        st[-1],
    )
    rows = scratch("rows", (N * math.prod(geometry.O), math.prod(geometry.K) * C), x.dtype)
    numpy.copyto(rows.reshape(shape), as_strided(padded, shape, strides, writeable=False))
    return rows


def weight_rows(W):
    """W (F, C, *K) -> W_rows (prod K * C, F), W_rows[(k, c), f] = W[f, c, k]: im2row's matrix times it is y^T."""
    F, C = W.shape[:2]
    return numpy.ascontiguousarray(W.reshape(F, C, -1).transpose(2, 1, 0)).reshape(-1, F)


def conv_rows_into(y_block, x_block, W_rows, geometry):
    """y_block (N, F, *O) = conv of x_block (N, C, *I) as the pixel-major product im2row(x) @ W_rows."""
    rows = im2row(x_block, geometry)
    y_rows = scratch("product", (rows.shape[0], W_rows.shape[1]), rows.dtype)
    numpy.matmul(rows, W_rows, out=y_rows)
    numpy.copyto(y_block, numpy.moveaxis(y_rows.reshape(x_block.shape[0], *geometry.O, -1), -1, 1))


def zero_border(padded, pads):
    """Zero the padding of a channels-last buffer (N, *sizes, C): every slab outside the interior."""
    for i, (lo, hi) in enumerate(pads):
        size = padded.shape[1 + i]
        for border in (slice(0, lo), slice(size - hi, size)):
            if border.stop > border.start:
                padded[(slice(None),) * (1 + i) + (border,)] = 0


def weight_grad_part(x_block, gy_block, geometry):
    """One chunk's share of gW, pixel-major: im2row(x_block)^T @ gy_rows -> ((k, c), f), where
    gy_rows[(n, o), f] = gy_block[n, f, o]."""
    rows = im2row(x_block, geometry)
    gy_rows = scratch("product", (rows.shape[0], gy_block.shape[1]), gy_block.dtype)
    numpy.copyto(gy_rows.reshape(*gy_block[:, 0].shape, -1), numpy.moveaxis(gy_block, 1, -1))
    return numpy.matmul(rows.T, gy_rows)


def scratch(role, shape, dtype):
    """This thread's buffer for ``role``, viewed as ``shape``: grown when too small, reused from call to call.

    Not part of the math: each of over_chunks' workers copies and multiplies in its own few buffers (a few MB,
    the size of its largest chunk), which stay in its core's cache from one chunk to the next.
    """
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
        _SCRATCH_SETS.append(buffers)  # empty_cache() clears every thread's
    size = math.prod(shape) * numpy.dtype(dtype).itemsize
    buffer = buffers.get(role)
    if buffer is None or buffer.size < size:
        buffer = buffers[role] = numpy.empty(size, numpy.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def empty_scratch():
    """Drop every thread's scratch buffers (conv_cpu.empty_cache calls it)."""
    for buffers in _SCRATCH_SETS:
        buffers.clear()


_SCRATCH = threading.local()  # .buffers: role -> this thread's scratch buffer (scratch)
_SCRATCH_SETS = []  # every thread's .buffers dict, for empty_scratch()
