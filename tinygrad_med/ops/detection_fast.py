"""Fast CPU paths of roi_align (all RoIs as one sparse matrix, scipy.sparse) and roi_pool (bins of one size together).

Lecture: "Instance segmentation - Mask R-CNN".  The reference is ops/detection.py::_roi_align_fwd_cpu /
_bwd_cpu (y[k] = A_k x[b_k] B_k^T per RoI, ops/roi_geometry.py); RoIAlign reaches this module in one
line (reference.path), never inside ``tm.reference_mode()``, and tests/test_reference_parity.py holds
the two equal.  Output (k, i, j) reads x through the outer product of A_k's row i and B_k's row j, a few
neighbouring pixels, so the whole op is one sparse (K*PH*PW, N*H*W) matrix M: y = M x, gx = M^T gy.

    roi_align_fwd(x, rois, output_size, spatial_scale, sampling_ratio, aligned)        -> y
    roi_align_bwd(gy, rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned) -> gx
    roi_pool_fwd(x, rois, output_size, spatial_scale) -> y, argmax   (the reference: _roi_pool_fwd_cpu)
"""

import itertools

import numpy
import scipy.sparse

from .roi_geometry import roi_align_matrices, roi_pool_bins
from .sample_fast import channels_first, channels_last

__all__ = ["roi_align_fwd", "roi_align_bwd", "roi_pool_fwd", "LOWEST"]

LOWEST = -3.402823466e38  # -FLT_MAX: a bin's running max starts here, as torchvision (empty bins give 0)


def roi_align_fwd(x, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """Fast CPU path of _roi_align_fwd_cpu: all RoIs as one sparse matrix applied to x as channels-last rows."""
    M = _roi_align_matrix(rois, x.shape, output_size, spatial_scale, sampling_ratio, aligned, x.dtype)
    y = M @ channels_last(x)  # (K*PH*PW, N*H*W) @ (N*H*W, C): every channel shares the taps
    return channels_first(y, rois.shape[0], output_size, x.dtype)  # (K, C, PH, PW)


def roi_align_bwd(gy, rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned):
    """Fast CPU path of _roi_align_bwd_cpu: the transposed sparse matrix."""
    M = _roi_align_matrix(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, gy.dtype)
    gx = M.T @ channels_last(gy)  # the adjoint: (N*H*W, K*PH*PW) @ (K*PH*PW, C)
    return channels_first(gx, x_shape[0], x_shape[2:], gy.dtype)  # (N, C, H, W)


def _roi_align_matrix(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, dtype):
    """roi_align as one sparse (K*PH*PW, N*H*W) matrix M, y = M x: row (k, i, j) is A_k[i] (outer) B_k[j] in image b_k.

    A_k's rows and B_k's rows are nonzero on a few neighbouring pixels only (a band of T_h and T_w), so
    a row of M holds at most T_h * T_w weights; the zero ones are left out.
    """
    A, B, image = roi_align_matrices(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, dtype)
    (h0, A_band), (w0, B_band) = _band(A), _band(B)  # (K, PH), (K, PH, T_h); (K, PW), (K, PW, T_w)
    T_h, T_w, (N, _, H, W) = A_band.shape[2], B_band.shape[2], x_shape
    index = numpy.int32 if N * H * W < 2**31 else numpy.int64
    corner = ((image[:, None] * H + h0)[:, :, None] * W + w0[:, None, :]).astype(index)  # (K, PH, PW): flat (b, h, w)
    window = (numpy.arange(T_h)[:, None] * W + numpy.arange(T_w)).astype(index).ravel()  # (T_h*T_w,) offsets
    column = corner.reshape(-1, 1) + window  # (K*PH*PW, T_h*T_w)
    weight = (A_band[:, :, None, :, None] * B_band[:, None, :, None, :]).reshape(column.shape)
    kept = weight != 0
    rows = numpy.zeros(column.shape[0] + 1, index)  # row r holds entries [rows[r], rows[r+1])
    numpy.cumsum(kept.sum(axis=1), out=rows[1:])
    return scipy.sparse.csr_matrix((weight[kept], column[kept], rows), shape=(column.shape[0], N * H * W))


def _band(M):
    """A (K, P, L) matrix with short nonzero runs per row -> first index (K, P), runs (K, P, T), T the longest."""
    nonzero = M != 0
    first = numpy.argmax(nonzero, axis=-1)  # 0 for an all-zero row
    last = M.shape[-1] - 1 - numpy.argmax(nonzero[..., ::-1], axis=-1)
    T = max(int((last - first).max(initial=0)) + 1, 1)
    at = first[..., None] + numpy.arange(T)  # (K, P, T)
    band = numpy.take_along_axis(M, numpy.minimum(at, M.shape[-1] - 1), axis=-1) * (at < M.shape[-1])
    return first, band


def roi_pool_fwd(x, rois, output_size, spatial_scale):
    """Fast CPU path of ops/detection.py::_roi_pool_fwd_cpu: max and flat argmax per bin, all channels at
    once (x as channels-last rows), bins of one size together.

    The bins of each size (height, width) step through their height * width offsets in row-major order
    together, each step reading one pixel row of C values per bin and keeping the greater (strict ">":
    the first maximum wins, as torchvision).  The argmax comes back as a (K, C, PH, PW)
    view of a (K, PH, PW, C) int32 array (the backward only reads it).
    """
    image, (h0, h1), (w0, w1) = roi_pool_bins(rois, x.shape, output_size, spatial_scale)
    (K, (PH, PW)), (C, H, W) = (image.shape[0], output_size), x.shape[1:]
    per_bin = (
        image[:, None, None] * H * W,
        h0[:, :, None],
        w0[:, None, :],
        (h1 - h0)[:, :, None],
        (w1 - w0)[:, None, :],
    )
    plane, top, left, height, width = (numpy.broadcast_to(a, (K, PH, PW)).ravel() for a in per_bin)
    x_rows = channels_last(x)  # (N*H*W, C)
    y = numpy.zeros((K * PH * PW, C), x.dtype)  # an empty bin gives 0 and argmax -1
    argmax = numpy.full((K * PH * PW, C), -1, numpy.int32 if H * W < 2**31 else numpy.int64)
    size = numpy.where((height > 0) & (width > 0), height * (W + 1) + width, 0)  # a bin's (height, width) as one key
    for key in numpy.unique(size[size > 0]):
        bins = numpy.flatnonzero(size == key)
        y_bins, argmax_bins = numpy.full((bins.size, C), LOWEST, x.dtype), argmax[bins]  # (bins, C)
        step = numpy.empty_like(argmax_bins)
        for dh, dw in itertools.product(range(height[bins[0]]), range(width[bins[0]])):
            pixel = (top[bins] + dh) * W + left[bins] + dw  # (bins,)
            v = x_rows.take(plane[bins] + pixel, axis=0)  # (bins, C)
            better = v > y_bins  # strictly: the first maximum in row-major order wins, nan never (torchvision's ">")
            numpy.fmax(y_bins, v, out=y_bins)
            numpy.subtract(pixel[:, None], argmax_bins, out=step)  # argmax = pixel where better, as arithmetic:
            step *= better  # a masked copy (copyto where=, numpy.where) branches per element and is 3x slower
            argmax_bins += step
        y[bins], argmax[bins] = y_bins, argmax_bins
    return channels_first(y, K, output_size, x.dtype), argmax.reshape(K, PH, PW, C).transpose(0, 3, 1, 2)
