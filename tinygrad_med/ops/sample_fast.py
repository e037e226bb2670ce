"""Fast CPU path of grid_sample: each image's taps as one sparse matrix (scipy.sparse).

Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer".  The reference is ops/sample.py::
_grid_sample_fwd_cpu / _bwd_cpu (the taps gathered by fancy indexing, the backward by numpy.add.at);
GridSample reaches this module in one line (reference.path), never inside ``tm.reference_mode()``, and
tests/test_reference_parity.py holds the two equal.

grid_sample is linear in x, so image n's taps form a sparse (P, S) matrix M_n with T = 4 / 8 / 16 / 1
weights a row: y[n] = M_n x[n] with x[n] as (S, C) rows, gx[n] = M_n^T gy[n]; g_grid weighs gy . x at
each tap with the weights' derivatives.  The taps of a few images are computed together (_image_groups).

    grid_sample_fwd(x, grid, mode, padding, align_corners)     -> y
    grid_sample_bwd(gy, x, grid, mode, padding, align_corners) -> gx, g_grid
"""

import math

import numpy
import scipy.sparse

from .sample_taps import MODES, taps

__all__ = ["grid_sample_fwd", "grid_sample_bwd", "channels_last", "channels_first", "GROUP_POINTS"]

GROUP_POINTS = 1 << 15  # output points whose taps are computed in one go (see _image_groups)


def channels_last(a):
    """(N, C, *spatial) -> (N * prod(spatial), C): one row per pixel, the matrix the sparse products read.

    With channels_first also used by roi_align and roi_pool (ops/detection.py)."""
    rows = a.reshape(*a.shape[:2], math.prod(a.shape[2:])).transpose(0, 2, 1)
    return numpy.ascontiguousarray(rows).reshape(-1, a.shape[1])  # a copy (reshape alone keeps a view when N == 1)


def channels_first(rows, N, spatial, dtype):
    """(N * prod(spatial), C) -> (N, C, *spatial), C-contiguous, in dtype (scipy computes float16 in float32)."""
    C = rows.shape[1]
    return numpy.ascontiguousarray(rows.reshape(N, math.prod(spatial), C).transpose(0, 2, 1), dtype).reshape(
        N, C, *spatial
    )


def _image_groups(N, P):
    """Slices of the batch with about GROUP_POINTS output points each, whose taps are computed together:
    few enough calls, and temporaries small enough for the allocator to reuse (fresh pages for
    batch-sized temporaries cost more than the arithmetic)."""
    step = max(1, GROUP_POINTS // max(P, 1))
    return [slice(start, min(start + step, N)) for start in range(0, N, step)]


def _image_matrix(index, values, S):
    """One image's sparse (P, S) sampling matrix from its (T, P) tap indices and values: row p holds its T taps."""
    T, P = index.shape
    rows = numpy.arange(0, P * T + 1, T, dtype=index.dtype)  # row p holds entries [p*T, (p+1)*T)
    return scipy.sparse.csr_matrix((values.T.ravel(), index.T.ravel(), rows), shape=(P, S))


def grid_sample_fwd(x, grid, mode, padding, align_corners):
    """Fast CPU path of _grid_sample_fwd_cpu: y[n] = M_n x[n], M_n image n's taps as a sparse (P, S) matrix."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    coords, S = grid.reshape(N, -1, nd), math.prod(spatial)
    y = numpy.empty((N, C, coords.shape[1]), x.dtype)
    for group in _image_groups(N, coords.shape[1]):
        index, weight, _ = taps(x.shape, coords[group], mode, padding, align_corners, derivatives=False)
        for i, n in enumerate(range(N)[group]):  # (T, P) taps of image n
            y[n] = (_image_matrix(index[:, i], weight[:, i], S) @ x[n].reshape(C, S).T).T  # (P, S) @ (S, C)
    return y.reshape(N, C, *grid.shape[1:-1])


def grid_sample_bwd(gy, x, grid, mode, padding, align_corners):
    """Fast CPU path of _grid_sample_bwd_cpu, gx[n] = M_n^T gy[n] (the adjoint);
    g_grid[n, p, a] = sum_t dw_t/dg_a * q_t, q_t = sum_c gy[n, c, p] x[n, c, i_t] (shared by all axes)."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    coords, S, gy = grid.reshape(N, -1, nd), math.prod(spatial), gy.reshape(N, C, -1)
    linear = mode != MODES["nearest"]  # nearest is piecewise constant: g_grid = 0
    gx, g_coords = numpy.empty((N, C, S), x.dtype), numpy.zeros(coords.shape, x.dtype)
    for group in _image_groups(N, coords.shape[1]):
        index, weight, dweights = taps(x.shape, coords[group], mode, padding, align_corners, linear)
        for i, n in enumerate(range(N)[group]):
            gy_rows = channels_last(gy[n : n + 1])  # (P, C)
            gx[n] = (_image_matrix(index[:, i], weight[:, i], S).T @ gy_rows).T  # (S, P) @ (P, C)
            if linear:
                x_rows = channels_last(x[n : n + 1])  # (S, C)
                q = numpy.stack([numpy.einsum("pc,pc->p", x_rows.take(tap, axis=0), gy_rows) for tap in index[:, i]])
                for axis, dweight in enumerate(dweights):  # (T, P) each
                    g_coords[n, :, nd - 1 - axis] = numpy.einsum("tp,tp->p", dweight[:, i], q)
    return gx.reshape(x.shape), g_coords.reshape(grid.shape)
