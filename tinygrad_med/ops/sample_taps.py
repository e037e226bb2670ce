"""grid_sample's taps: where each output point reads the input, and with which weights (ops/sample.py).

Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the sampler's bilinear kernel).  The formulas
(source index, padding, bilinear / bicubic / nearest weights) are in ops/sample.py's module docstring.
The reference (ops/sample.py::_grid_sample_fwd_cpu / _bwd_cpu) and the fast CPU path (ops/sample_fast.py)
both read the taps computed here; kernels/sample.cu computes the same taps per output point.

    taps(x_shape, grid, mode, padding, align_corners) -> index, weight, d weight / d grid   each (T, N, P)
"""

import functools
import math

import numpy

from .resample import cubic_weight_slopes, cubic_weights

__all__ = ["MODES", "PADDING", "taps"]

MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
PADDING = {"zeros": 0, "border": 1, "reflection": 2}


def _source_index(coord, size, padding, align_corners):
    """(src, dsrc/dcoord) along one axis of ``size`` pixels (module docstring), as arrays like coord."""
    if align_corners:
        src, slope = (coord + 1) / 2 * (size - 1), numpy.full_like(coord, (size - 1) / 2)
    else:
        src, slope = ((coord + 1) * size - 1) / 2, numpy.full_like(coord, size / 2)
    if padding == PADDING["reflection"]:
        twice_low, twice_high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        src, flip = _reflect(src, twice_low, twice_high)
        slope = slope * flip
    if padding != PADDING["zeros"]:  # border, and reflection's last step: clip to [0, L-1]
        inside = (src > 0) & (src < size - 1)  # nan: outside, and fmax/fmin send it to 0 (PyTorch's CUDA kernel)
        src, slope = numpy.fmin(numpy.fmax(src, 0), size - 1).astype(coord.dtype), slope * inside
    far = ~(numpy.abs(src) < 2.0**30)  # zeros padding: inf, nan or huge reads 0 (PyTorch's CUDA kernel: -100)
    return numpy.where(far, -100, src).astype(coord.dtype), numpy.where(far, 0, slope).astype(coord.dtype)


def _reflect(src, twice_low, twice_high):
    """Mirror src into [twice_low/2, twice_high/2] (PyTorch's reflect_coordinates); returns (src, +-1 slope)."""
    if twice_low == twice_high:  # a 1-pixel axis with align_corners
        return numpy.zeros_like(src), numpy.zeros_like(src)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = src - low
    sign = numpy.where(shifted < 0, -1, 1)
    shifted = numpy.abs(shifted)
    with numpy.errstate(invalid="ignore"):  # an infinite src mirrors to nan, clipped to 0 afterwards
        extra, even = numpy.fmod(shifted, span), numpy.floor(shifted / span) % 2 == 0
    return numpy.where(even, extra + low, span - extra + low).astype(src.dtype), numpy.where(even, sign, -sign)


def _axis_taps(coord, size, mode, padding, align_corners):
    """One axis's taps (index, weight, d weight / d coord) as (R, N, P) arrays: R = 2 (i0, i0 + 1) or 1 (nearest).

    A tap outside [0, size) weighs 0 (zero padding), and so does its derivative; its index is set to 0,
    a pixel that it then reads with weight 0.  The slope d src / d coord is folded into the derivative.
    """
    if mode == MODES["bicubic"]:
        return _cubic_axis_taps(coord, size, padding, align_corners)
    src, slope = _source_index(coord, size, padding, align_corners)
    if mode == MODES["nearest"]:  # one tap, piecewise constant: no derivative
        i, weight, dweight = numpy.rint(src)[None], numpy.ones_like(src)[None], numpy.zeros_like(src)[None]
    else:
        i0 = numpy.floor(src)
        i, weight = numpy.stack([i0, i0 + 1]), numpy.stack([i0 + 1 - src, src - i0])
        dweight = numpy.stack([-slope, slope])
    inside = (i >= 0) & (i < size)
    return numpy.where(inside, i, 0).astype(numpy.int32), weight * inside, dweight * inside


def _cubic_axis_taps(coord, size, padding, align_corners):
    """Bicubic taps along one axis as (4, N, P) arrays (module docstring): i0 - 1 .. i0 + 2 with Keys' weights
    W_k(t), t = src - floor(src); padding_mode maps each tap's index (PyTorch's get_value_bounded).

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the sampler, here with a smoother kernel).
    Returns (index, weight, d weight / d coord) like _axis_taps; kernels/sample.cu::cubic_taps is its twin.
    """
    src, slope = _source_index(coord, size, PADDING["zeros"], align_corners)  # unnormalised, not padded
    i0 = numpy.floor(src)
    t = src - i0
    i = numpy.stack([i0 - 1, i0, i0 + 1, i0 + 2])
    if padding == PADDING["reflection"]:
        twice_low, twice_high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        i = _reflect(i, twice_low, twice_high)[0]
    if padding != PADDING["zeros"]:  # border, and reflection's last step
        i = numpy.clip(i, 0, size - 1)
    inside = (i >= 0) & (i < size)
    weight, dweight = numpy.stack(cubic_weights(t)), numpy.stack(cubic_weight_slopes(t)) * slope
    return numpy.where(inside, i, 0).astype(numpy.int32), weight * inside, dweight * inside


def taps(x_shape, grid, mode, padding, align_corners, derivatives=True):
    """Every output point's T taps (4 bilinear, 8 trilinear, 16 bicubic, 1 nearest) as (T, N, P) arrays.

    Returns the flat input index, the weight and, with ``derivatives``, a list of d weight / d grid
    coordinate per spatial axis (D, H, W order).  The corners are the outer product of the axes' taps
    (the last axis fastest): a corner's weight is the product of its axes' weights, its derivative along
    axis a the same product with axis a's derivative in place of its weight.
    """
    spatial = x_shape[2:]
    nd = len(spatial)
    coords = grid.reshape(grid.shape[0], -1, nd)  # (N, P, nd), component 0 = x = the last axis
    options = (mode, padding, align_corners)
    axes = [_axis_taps(coords[..., nd - 1 - a], size, *options) for a, size in enumerate(spatial)]  # D, H, W
    strides = [math.prod(spatial[a + 1 :]) for a in range(nd)]
    dtype = numpy.int32 if math.prod(spatial) < 2**31 else numpy.int64  # a flat pixel index within one image
    index = _outer([i.astype(dtype) * stride for (i, _, _), stride in zip(axes, strides, strict=True)], numpy.add)
    weight = _outer([w for _, w, _ in axes], numpy.multiply)
    if not derivatives:
        return index, weight, None
    dweights = [_outer([d if b == a else w for b, (_, w, d) in enumerate(axes)], numpy.multiply) for a in range(nd)]
    return index, weight, dweights


def _outer(per_axis, op):
    """(R_0, N, P), (R_1, N, P), ... -> (R_0 * R_1 * ..., N, P): op over every combination, the last axis fastest.

    The tap axis leads so that every elementwise loop runs over N * P contiguous values.
    """
    nd, points = len(per_axis), per_axis[0].shape[1:]
    spread = [a.reshape(*(a.shape[0] if b == i else 1 for b in range(nd)), *points) for i, a in enumerate(per_axis)]
    count = math.prod(a.shape[0] for a in per_axis)
    return functools.reduce(op, reversed(spread)).reshape(count, *points)  # x first, as PyTorch multiplies
