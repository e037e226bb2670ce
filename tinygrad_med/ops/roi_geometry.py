"""Where each RoI's bins lie: roi_align's bilinear weights as two small matrices per RoI, roi_pool's bins.

Lecture: "Instance segmentation - Mask R-CNN" ("RoI pooling requires interpolation").  roi_align is
linear in the input and separable: along each axis a RoI's samples read two neighbouring rows with
weights (1 - lam, lam), averaged over the G samples of a bin, so y[k, c] = A_k x[b_k, c] B_k^T with one
(PH, H) row matrix A_k and one (PW, W) column matrix B_k per RoI.  The reference (ops/detection.py::
_roi_align_fwd_cpu / _bwd_cpu) and the fast CPU path (ops/detection_fast.py) both start from them.

    roi_align_matrices(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, dtype) -> A, B, image
    roi_pool_bins(rois, x_shape, output_size, spatial_scale) -> image, (h0, h1), (w0, w1)

roi_pool (Fast R-CNN) rounds the box to whole cells and cuts it into PH x PW bins of whole cells; its
reference (ops/detection.py::_roi_pool_fwd_cpu) and fast path (ops/detection_fast.py::roi_pool_fwd)
take the bins from roi_pool_bins.
"""

import numpy

__all__ = ["roi_align_matrices", "roi_pool_bins"]


def roi_align_matrices(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, dtype):
    """Row weights A (K, PH, H), column weights B (K, PW, W) and image index (K,) of every RoI (module docstring)."""
    r = rois.astype(numpy.float64)
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (r[:, i] * spatial_scale - offset for i in range(1, 5))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # torchvision: "force malformed RoIs to be 1x1"
        roi_w, roi_h = numpy.maximum(roi_w, 1.0), numpy.maximum(roi_h, 1.0)
    (PH, PW), (H, W) = output_size, x_shape[2:]
    A = _axis_matrix(y1, roi_h / PH, _grid(roi_h, PH, sampling_ratio), PH, H)
    B = _axis_matrix(x1, roi_w / PW, _grid(roi_w, PW, sampling_ratio), PW, W)
    return A.astype(dtype), B.astype(dtype), r[:, 0].astype(numpy.int64)


def _grid(roi_size, P, sampling_ratio):
    """Samples per bin along one axis: sampling_ratio, or ceil(roi_size / P) when adaptive (<= 0)."""
    if sampling_ratio > 0:
        return numpy.full(roi_size.shape, sampling_ratio, numpy.int64)
    return numpy.maximum(numpy.ceil(roi_size / P), 0).astype(numpy.int64)


def _axis_matrix(start, bin_size, grid, P, L):
    """(K, P, L): row p of RoI k sums the bilinear weights / G of its G samples along one axis of length L."""
    K = start.shape[0]
    M = numpy.zeros((K, P, L))
    k, p = numpy.arange(K)[:, None], numpy.arange(P)[None, :]
    G = numpy.maximum(grid, 1)[:, None].astype(numpy.float64)  # (K, 1)
    for i in range(int(grid.max(initial=0))):  # the few sampling points of a bin, not pixels or RoIs
        c = start[:, None] + p * bin_size[:, None] + (i + 0.5) * bin_size[:, None] / G  # (K, P) sample coordinate
        inside = (i < grid[:, None]) & (c >= -1.0) & (c <= L)  # outside [-1, L]: the sample reads 0
        c = numpy.where(inside, numpy.maximum(c, 0.0), 0.0)
        low = numpy.minimum(numpy.floor(c).astype(numpy.int64), L - 1)
        lam = numpy.where(low >= L - 1, 0.0, c - low)  # at or past the last row: all weight on it
        weight = inside / G
        numpy.add.at(M, (k, p, low), weight * (1.0 - lam))
        numpy.add.at(M, (k, p, numpy.minimum(low + 1, L - 1)), weight * lam)
    return M


def roi_pool_bins(rois, x_shape, output_size, spatial_scale):
    """Image index (K,), row bins [h0, h1) (K, PH) and column bins [w0, w1) (K, PW), clipped to the input."""
    r = rois.astype(numpy.float64)
    scaled = r[:, 1:] * spatial_scale
    x1, y1, x2, y2 = (numpy.sign(scaled) * numpy.floor(numpy.abs(scaled) + 0.5)).astype(numpy.int64).T  # C round
    (PH, PW), (H, W) = output_size, x_shape[2:]
    rows = _bin_edges(y1, numpy.maximum(y2 - y1 + 1, 1), PH, H)
    cols = _bin_edges(x1, numpy.maximum(x2 - x1 + 1, 1), PW, W)
    return r[:, 0].astype(numpy.int64), rows, cols


def _bin_edges(start, length, P, L):
    """[start + floor(i * length / P), start + ceil((i + 1) * length / P)) for i < P, clipped to [0, L]."""
    size, i = (length / P)[:, None], numpy.arange(P)[None, :]
    lo = numpy.floor(i * size).astype(numpy.int64) + start[:, None]
    hi = numpy.ceil((i + 1) * size).astype(numpy.int64) + start[:, None]
    return numpy.clip(lo, 0, L), numpy.clip(hi, 0, L)
