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
import weakref

import numpy
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "im2row",
    "row_blocks",
    "weight_rows",
    "conv_rows_into",
    "weight_grad_part",
    "copy_by_channel_blocks",
    "scratch",
    "empty_scratch",
]


def im2row(x, geometry):
    """The transpose of im2col's matrix, its columns in (k, c) order: row[(n, o), (k, c)] = x[n, c, o*S - P_low + k*dil]
    (zero outside x), (N * prod O, prod K * C), in this thread's scratch buffer.

    Copied from a channels-last, zero-padded copy of x, so that the inner run of each copy is the C channels
    of a pixel (times the last kernel dim where dil is 1) rather than single floats.
    """
    padded = _channels_last_padded(x, geometry)
    N, C, d = x.shape[0], x.shape[1], len(geometry.K)
    shape = (N, *geometry.O, *geometry.K, C)
    rows = scratch("rows", (N * math.prod(geometry.O), math.prod(geometry.K) * C), x.dtype)
    numpy.copyto(rows.reshape(shape), _patch_view(padded, geometry, range(d)))
    return rows


def row_blocks(x, geometry):
    """[V_0, V_1, ...]: for each offset k0 of the kernel along the first spatial dim, the (N, prod O, prod K' * C)
    block of im2row's matrix whose columns have that k0 (K' the kernel's other dims):

        V_k0[n, o, (k', c)] = x[n, c, o*S - P_low + (k0, k')*dil]         y^T = sum_k0 V_k0 @ W_rows[k0 block]

    With stride 1 along the first dim, output row o0 reads input row o0 + k0*dil0, so every V_k0 is a view of
    one copy that is K0 times smaller than im2row's: (N, padded rows, *O', *K', C), shifted by k0*dil0 rows.
    Otherwise they are column blocks of im2row's matrix itself.
    """
    N, C, K0 = x.shape[0], x.shape[1], geometry.K[0]
    width = math.prod(geometry.K[1:]) * C
    positions = math.prod(geometry.O)
    if geometry.S[0] != 1:
        rows = im2row(x, geometry).reshape(N, positions, K0, width)
        return [rows[:, :, k0] for k0 in range(K0)]
    padded = _channels_last_padded(x, geometry)
    d, first_rows = len(geometry.K), padded.shape[1]
    partial = scratch("rows", (N, first_rows, *geometry.O[1:], *geometry.K[1:], C), x.dtype)
    numpy.copyto(partial, _patch_view(padded, geometry, range(1, d)))
    partial = partial.reshape(N, first_rows * math.prod(geometry.O[1:]), width)
    per_row, dil0, O0 = math.prod(geometry.O[1:]), geometry.dil[0], geometry.O[0]
    return [partial[:, k0 * dil0 * per_row : (k0 * dil0 + O0) * per_row] for k0 in range(K0)]


def _channels_last_padded(x, geometry):
    """x (N, C, *I) copied into this thread's (N, *padded sizes, C) buffer, zero outside x."""
    N, C = x.shape[0], x.shape[1]
    sizes = tuple(i + lo + hi for i, (lo, hi) in zip(geometry.I, geometry.P, strict=True))
    padded = scratch("padded", (N, *sizes, C), x.dtype)
    zero_border(padded, geometry.P)
    interior = (slice(None), *(slice(lo, lo + i) for i, (lo, _) in zip(geometry.I, geometry.P, strict=True)))
    copy_by_channel_blocks(padded[interior], numpy.moveaxis(x, 1, -1), -1)
    return padded


def copy_by_channel_blocks(dst, src, axis):
    """numpy.copyto(dst, src), _CHANNEL_BLOCK channels along ``axis`` at a time.

    Not part of the math: a copy that moves the channels to or from the last axis gathers from (or
    scatters to) one stream per channel; 16 at a time keep the streams in cache.  Measured for
    (64, 64, 64) into a padded channels-last buffer (2026-12-07): 0.38 ms in one copy, 0.15 ms by
    blocks of 16; (32, 64, 64) 0.11 -> 0.07 ms; (16, 128, 128) 0.13 ms either way.
    """
    axis = axis % dst.ndim
    for start in range(0, dst.shape[axis], _CHANNEL_BLOCK):
        block = (slice(None),) * axis + (slice(start, start + _CHANNEL_BLOCK),)
        numpy.copyto(dst[block], src[block])


def _patch_view(padded, geometry, dims):
    """The strided view of a channels-last padded buffer with [n, o or i, k, c] = padded[n, o*S + k*dil, c] along
    ``dims`` (the other spatial dims keep their padded index i): (N, *(O or I), *K of dims, C), no copy."""
    st, d = padded.strides, len(geometry.K)
    shape = (padded.shape[0],) + tuple(geometry.O[i] if i in dims else padded.shape[1 + i] for i in range(d))
    strides = (st[0],) + tuple(st[1 + i] * (geometry.S[i] if i in dims else 1) for i in range(d))
    shape += tuple(geometry.K[i] for i in dims) + (padded.shape[-1],)
    strides += tuple(st[1 + i] * geometry.dil[i] for i in dims) + (st[-1],)
    return as_strided(padded, shape, strides, writeable=False)


def weight_rows(W):
    """W (F, C, *K) -> W_rows (prod K * C, F), W_rows[(k, c), f] = W[f, c, k]: im2row's matrix times it is y^T."""
    F, C = W.shape[:2]
    return numpy.ascontiguousarray(W.reshape(F, C, -1).transpose(2, 1, 0)).reshape(-1, F)


def conv_rows_into(y_block, x_block, W_rows, geometry):
    """y_block (N, F, *O) = conv of x_block (N, C, *I), pixel-major: y^T = sum_k0 V_k0 @ W_rows[k0 block]."""
    blocks, F = row_blocks(x_block, geometry), W_rows.shape[1]
    width = W_rows.shape[0] // len(blocks)
    y_rows = scratch("product", (*blocks[0].shape[:2], F), x_block.dtype)
    partial = scratch("partial", y_rows.shape, x_block.dtype) if len(blocks) > 1 else None
    for k0, V in enumerate(blocks):
        numpy.matmul(V, W_rows[k0 * width : (k0 + 1) * width], out=partial if k0 else y_rows)
        if k0:
            y_rows += partial
    copy_by_channel_blocks(y_block, numpy.moveaxis(y_rows.reshape(x_block.shape[0], *geometry.O, F), -1, 1), 1)


def zero_border(padded, pads):
    """Zero the padding of a channels-last buffer (N, *sizes, C): every slab outside the interior."""
    for i, (lo, hi) in enumerate(pads):
        size = padded.shape[1 + i]
        for border in (slice(0, lo), slice(size - hi, size)):
            if border.stop > border.start:
                padded[(slice(None),) * (1 + i) + (border,)] = 0


def weight_grad_part(x_block, gy_block, geometry):
    """One chunk's share of gW, pixel-major: the rows of the k0 block are sum_n V_k0[n]^T @ gy_rows[n] (row_blocks),
    ((k, c), f), where gy_rows[n, o, f] = gy_block[n, f, o]."""
    blocks = row_blocks(x_block, geometry)
    N, positions, F = gy_block.shape[0], blocks[0].shape[1], gy_block.shape[1]
    gy_rows = scratch("product", (N, positions, F), gy_block.dtype)
    copy_by_channel_blocks(gy_rows.reshape(*gy_block[:, 0].shape, F), numpy.moveaxis(gy_block, 1, -1), -1)
    parts = [numpy.matmul(V.swapaxes(-1, -2), gy_rows) for V in blocks]  # each (N, prod K' * C, F)
    return numpy.concatenate([part.sum(axis=0) if N > 1 else part[0] for part in parts])


def scratch(role, shape, dtype):
    """This thread's buffer for ``role``, viewed as ``shape``: grown when too small, reused from call to call.

    Not part of the math: each of over_chunks' workers copies and multiplies in its own few buffers (a few MB,
    the size of its largest chunk), which stay in its core's cache from one chunk to the next.  A thread's
    buffers go with it when it ends.
    """
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = _Buffers()
        _SCRATCH_SETS.add(buffers)  # empty_scratch() clears every living thread's
    size = math.prod(shape) * numpy.dtype(dtype).itemsize
    buffer = buffers.get(role)
    if buffer is None or buffer.size < size:
        buffer = buffers[role] = numpy.empty(size, numpy.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def empty_scratch():
    """Drop every thread's scratch buffers (conv_cpu.empty_cache calls it)."""
    for buffers in list(_SCRATCH_SETS):
        buffers.clear()


class _Buffers(dict):
    """role -> buffer of one thread (a dict that a WeakSet can hold: compared and hashed by identity)."""

    __eq__, __hash__ = object.__eq__, object.__hash__


_CHANNEL_BLOCK = 16  # channels per copy in copy_by_channel_blocks
_SCRATCH = threading.local()  # .buffers: this thread's _Buffers (scratch)
_SCRATCH_SETS = weakref.WeakSet()  # every living thread's _Buffers, for empty_scratch()
