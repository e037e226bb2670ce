"""Where im2col takes each column entry from: the index maps of convolution, without arithmetic.

Lecture: "Convolutional neural networks - Convolution" (convolution as a matrix operation).

    col[(c, k), (n, o)] = x[n, c, o*S - P_low + k*dil]       (zero outside x)

``patches`` is that whole map as one strided view of the zero-padded input (no copy: copying it
is im2col); ``offset_slices`` is the same map for one kernel offset k, as a pair of slices (col2im
adds along them).  ``channels_first`` and ``batch_first`` move between the (N, C, ...) layout of
tensors and the (C, N * ...) layout of the GEMM.  The reference (ops/conv.py) and the fast CPU path
(ops/conv_cpu.py) both read these.
"""

import math

import numpy
from numpy.lib.stride_tricks import as_strided

from .. import backend

__all__ = ["patches", "column_shape", "offset_slices", "channels_first", "batch_first", "by_group"]


def patches(x, geometry):
    """The strided view (C, *K, N, *O) of the zero-padded x with [c, k, n, o] = x[n, c, o*S - P_low + k*dil]."""
    N, C, d = x.shape[0], x.shape[1], len(geometry.K)
    padded = x
    if any(low or high for low, high in geometry.P):
        padded = numpy.zeros(
            (N, C, *(i + lo + hi for i, (lo, hi) in zip(geometry.I, geometry.P, strict=True))), x.dtype
        )
        padded[(..., *(slice(lo, lo + i) for i, (lo, _) in zip(geometry.I, geometry.P, strict=True)))] = x
    st = padded.strides  # bytes per step along (N, C, *spatial)
    shape = (C, *geometry.K, N, *geometry.O)
    strides = (
        st[1],
        *(st[2 + i] * geometry.dil[i] for i in range(d)),
        st[0],
        *(st[2 + i] * geometry.S[i] for i in range(d)),
    )
    return as_strided(padded, shape, strides, writeable=False)  # (C, *K, N, *O), no copy


def column_shape(x_shape, geometry):
    """(C * prod K, N * prod O): the shape of im2col's matrix."""
    return x_shape[1] * math.prod(geometry.K), x_shape[0] * math.prod(geometry.O)


def offset_slices(k, geometry):
    """For kernel offset k: the slices of x and of the output grid that it pairs (None if none)."""
    in_slices, out_slices = [], []
    for i in range(len(k)):  # output positions o whose input o*S - P_low + k*dil falls inside x
        start = k[i] * geometry.dil[i] - geometry.P[i][0]
        o_lo = max(0, -(start // geometry.S[i]))  # ceil(-start / S), at least 0
        o_hi = min(geometry.O[i], (geometry.I[i] - 1 - start) // geometry.S[i] + 1)
        if o_hi <= o_lo:
            return None, None
        out_slices.append(slice(o_lo, o_hi))
        first = o_lo * geometry.S[i] + start
        in_slices.append(slice(first, first + (o_hi - o_lo - 1) * geometry.S[i] + 1, geometry.S[i]))
    return in_slices, out_slices


def channels_first(a, groups):
    """(N, C, *spatial) -> (groups, C/groups, N * prod spatial), one copy."""
    xp = backend.get_xp(a)
    N, C = a.shape[:2]
    out = xp.empty((C, N) + a.shape[2:], a.dtype)
    out[...] = a.swapaxes(0, 1)
    return out.reshape(groups, C // groups, N * math.prod(a.shape[2:]))


def batch_first(a_t, N, spatial):
    """(groups, C/groups, N * prod spatial) -> (N, C, *spatial), a transposed view (no copy)."""
    C = a_t.shape[0] * a_t.shape[1]
    return a_t.reshape((C, N) + tuple(spatial)).swapaxes(0, 1)


def by_group(a, groups):
    """(R, M) -> (groups, R/groups, M), a view: the rows of each group of channels (no -1: M may be 0)."""
    return a.reshape(groups, a.shape[0] // groups, a.shape[1])
