"""Adaptive pooling (average and max), global average pooling, and max unpooling (1D/2D/3D).

Lecture: "GoogLeNet" (FC layers replaced by average pooling), "ResNet", and "Graph
convolutions - adaptive pooling" (fixed-size output, regardless of input size).

Adaptive windows: output i of O along a dim of L inputs averages (or maxes) the inputs
[floor(i*L/O), ceil((i+1)*L/O)), as PyTorch; neighbouring windows may overlap by one.

Global average pooling is ``adaptive_avg_pool2d(x, 1)`` (or 1d / 3d): one mean per
channel, whatever the input size.  GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842) and
ResNet (He et al. 2016, arXiv:1512.03385) end with it instead of large fully connected
layers: it removes most of the parameters (AlexNet's FC layers hold ~58M of its ~62M) and
lets the network take any image size.

Adaptive average pooling is a separable linear map (one averaging matrix per axis, see
ops/resample.py::separable), so it runs the same array code on both devices; adaptive max
pooling gathers its windows with array code and scatters its gradient with the max_pool
backward of ops/pool.py (kernels/pool.cu::max_pool_bwd on the GPU).
"""

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from .int_args import int_tuple, is_int
from .pool import max_pool_bwd_cpu, max_pool_bwd_gpu
from .pool_args import check_input, plane_strides
from .resample import separable

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]


# ----------------------------------------------------------------------------- adaptive pooling


def adaptive_avg_pool1d(x, output_size):
    """Adaptive average pooling to OL outputs; see adaptive_avg_pool2d.  Shapes: (N, C, L) -> (N, C, OL)."""
    return adaptive_avg("adaptive_avg_pool1d", 1, x, output_size)


def adaptive_avg_pool2d(x, output_size):
    """Average over windows chosen so that the output has a fixed size, whatever the input size.

    Lecture: "GoogLeNet" (FC layers replaced by average pooling) and "Graph convolutions"
    (adaptive pooling: fixed-size output regardless of input size).  ``output_size=1`` is global
    average pooling, as at the end of GoogLeNet and ResNet.
    Forward:  y[n,c,i,j] = mean of x[n, c, h0(i):h1(i), w0(j):w1(j)],
              h0(i) = floor(i*H/OH), h1(i) = ceil((i+1)*H/OH) (same for w).  Per dim this is a
              matrix A (O x L) with A[i, h0(i):h1(i)] = 1/(h1 - h0), so y = A_H x A_W^T.
    Backward: gx = A_H^T gy A_W (the transposed matrices)
    Shapes:   x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW); an entry None keeps that dim's size.
    Args:
        x: float tensor.
        output_size: int or (OH, OW), entries may be None.
    Returns:
        y, of x's dtype.
    Raises:   ShapeError on a wrong rank or an output size below 1.
    """
    return adaptive_avg("adaptive_avg_pool2d", 2, x, output_size)


def adaptive_avg_pool3d(x, output_size):
    """3D adaptive average pooling; see adaptive_avg_pool2d.  Shapes: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    return adaptive_avg("adaptive_avg_pool3d", 3, x, output_size)


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """Adaptive max pooling to OL outputs; see adaptive_max_pool2d."""
    return _adaptive_max("adaptive_max_pool1d", 1, x, output_size, return_indices)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max over the adaptive windows of adaptive_avg_pool2d.

    Lecture: "Graph convolutions - adaptive pooling" (fixed-size output regardless of input size).
    Forward:  y[n,c,i,j] = max of x[n, c, h0(i):h1(i), w0(j):w1(j)] (windows as adaptive_avg_pool2d)
    Backward: gx[n,c,h,w] = sum of gy over the windows whose argmax is (h,w) (windows may overlap)
    Shapes:   x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW); indices flat per (H, W) plane.
    Args:
        x: float tensor.  output_size: int or (OH, OW), entries may be None.
        return_indices: also return the flat argmax per plane (int64, no gradient), as PyTorch.
    Returns:
        y, or (y, indices).
    Raises:   ShapeError on a wrong rank or an output size below 1.
    """
    return _adaptive_max("adaptive_max_pool2d", 2, x, output_size, return_indices)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """3D adaptive max pooling; see adaptive_max_pool2d."""
    return _adaptive_max("adaptive_max_pool3d", 3, x, output_size, return_indices)


def _adaptive_sizes(op, nd, x, output_size):
    """output_size (an int, or nd entries each an int or None for "keep x's size") -> nd ints >= 0.

    PyTorch allows 0 (an empty output) and refuses negative sizes, floats and bools.
    """
    check_input(op, x, nd)
    sizes = (output_size,) * nd if output_size is None or is_int(output_size) else output_size
    if not isinstance(sizes, (tuple, list)):
        raise DTypeError(fmt(op, f"output_size must be an int >= 0 or a tuple of {nd}, got {output_size!r}", x=x))
    if len(sizes) != nd:  # a 1-tuple is not repeated (PyTorch: "output_size must be 2")
        raise ShapeError(fmt(op, f"output_size must be an int >= 0 or a tuple of {nd}, got {output_size!r}", x=x))
    sizes = tuple(n if o is None else o for o, n in zip(sizes, x.shape[-nd:], strict=True))
    return int_tuple(op, "output_size", sizes, nd, minimum=0)


def _adaptive_bounds(n, o):
    """Window [start, end) of each of the o outputs over n inputs: floor(i*n/o), ceil((i+1)*n/o)."""
    i = numpy.arange(o)
    return i * n // o, -(-(i + 1) * n // o)


def adaptive_avg(op, nd, x, output_size):
    matrices = []
    for n, o in zip(x.shape[-nd:], _adaptive_sizes(op, nd, x, output_size), strict=True):
        start, end = _adaptive_bounds(n, o)
        inside = (numpy.arange(n) >= start[:, None]) & (numpy.arange(n) < end[:, None])  # (O, L)
        matrices.append(inside / (end - start)[:, None])
    return separable(x, matrices)


def _adaptive_max(op, nd, x, output_size, return_indices):
    out = _adaptive_sizes(op, nd, x, output_size)
    if not return_indices:
        return AdaptiveMaxPool.apply(x, out=out, return_indices=False)
    y, indices = AdaptiveMaxPool.apply(x, out=out, return_indices=True)
    return y, indices.detach()


class AdaptiveMaxPool(Function):
    """Gathers all windows at once (each padded to the longest by repeating its last element,
    which never wins a tie), takes the argmax, and scatters gy back to it like max_pool.

    Lecture:  "Graph convolutions - adaptive pooling" (fixed-size output for any input)
    Forward:  y[n,c,o] = max over window o of x, window o = [floor(o L / O), ceil((o + 1) L / O)) per dim
    Backward: gx = gy scattered to each window's argmax (adds where windows overlap)
    Shapes:   x (N, C, *L) -> y (N, C, *O) (and the flat argmax, same shape)
    """

    def forward(self, x, out, return_indices):
        xp, nd = backend.get_xp(x), len(out)
        self.x_shape, self.nd = x.shape, nd
        if x.size == 0 or 0 in out:  # N = 0 or an empty output_size: nothing to gather, as PyTorch
            self.argmax = xp.zeros(x.shape[:-nd] + tuple(out), xp.int64)
            y = xp.zeros(self.argmax.shape, x.dtype)
            return (y, self.argmax) if return_indices else y
        positions = [_adaptive_positions(n, o) for n, o in zip(x.shape[-nd:], out, strict=True)]  # (O_d, K_d)
        index = tuple(xp.asarray(_along(pos, d, nd)) for d, pos in enumerate(positions))
        windows = _windows_last(x[(Ellipsis, *index)], nd)  # (N, C, O1, K1, O2, K2, ..) -> (N, C, *O, K1*K2*..)
        local = windows.argmax(axis=-1)[..., None]
        flat = sum(
            _along(pos * stride, d, nd)
            for d, (pos, stride) in enumerate(zip(positions, plane_strides(x.shape[-nd:]), strict=True))
        )  # flat index in the plane of each gathered element
        flat = xp.asarray(_windows_last(flat, nd))
        self.argmax = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), local, -1)[..., 0]
        y = xp.take_along_axis(windows, local, -1)[..., 0]
        return (y, self.argmax) if return_indices else y

    def backward(self, gy, *_):  # no gradient flows into the indices output
        if gy.size == 0:  # an empty output: no window, no gradient (and no kernel launch)
            return backend.get_xp(gy).zeros(self.x_shape, gy.dtype)
        bwd = max_pool_bwd_gpu if backend.on_gpu(gy) else max_pool_bwd_cpu
        return bwd(gy, self.argmax, self.x_shape, self.nd)


def _adaptive_positions(n, o):
    """(O, K) input positions of each window, K the longest window; short ones repeat their last."""
    start, end = _adaptive_bounds(n, o)
    return numpy.minimum(start[:, None] + numpy.arange((end - start).max()), end[:, None] - 1)


def _along(pos, d, nd):
    """Reshape an (O_d, K_d) array to broadcast over (O1, K1, O2, K2, ...) at dims 2d, 2d+1."""
    return pos.reshape((1,) * 2 * d + pos.shape + (1,) * 2 * (nd - 1 - d))


def _windows_last(a, nd):
    """(..., O1, K1, ..., O_nd, K_nd) -> (..., O1, ..., O_nd, K1*...*K_nd)."""
    lead = a.ndim - 2 * nd
    order = [lead + 2 * d for d in range(nd)] + [lead + 2 * d + 1 for d in range(nd)]
    moved = a.transpose(list(range(lead)) + order)
    return moved.reshape(moved.shape[: lead + nd] + (-1,))


# ----------------------------------------------------------------------------- max unpooling


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool1d; see max_unpool2d."""
    return _max_unpool("max_unpool1d", 1, x, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Put each pooled value back where its maximum came from; zeros elsewhere.

    Lecture: "Semantic segmentation" (upsampling in encoder-decoder networks, SegNet-style).
    Forward:  y[n, c, indices[n,c,i,j]] = x[n,c,i,j] (flat index per (OH, OW) plane); 0 elsewhere
    Backward: gx[n,c,i,j] = gy[n, c, indices[n,c,i,j]] (a gather)
    Shapes:   x, indices (N, C, H, W) -> y (N, C, OH, OW), OH = (H - 1)*S - 2P + KH unless output_size
              is given (within S of that); indices come from max_pool2d(..., return_indices=True).
    Args:
        x: float tensor.  indices: int64 tensor of x's shape.
        kernel_size, stride (default: kernel_size), padding: those of the max_pool2d being inverted.
        output_size: (OH, OW) or a full shape whose last two entries are taken.
    Returns:
        y (N, C, OH, OW), of x's dtype.
    Raises:   ShapeError if x and indices differ in shape, an index is out of range, or output_size is invalid.
    """
    return _max_unpool("max_unpool2d", 2, x, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool3d; see max_unpool2d."""
    return _max_unpool("max_unpool3d", 3, x, indices, kernel_size, stride, padding, output_size)


def _max_unpool(op, nd, x, indices, kernel_size, stride, padding, output_size):
    check_input(op, x, nd)
    if tuple(indices.shape) != tuple(x.shape) or indices.dtype.kind not in "iu":
        raise ShapeError(fmt(op, "indices must be an integer tensor of x's shape", x=x, indices=indices))
    kernel = int_tuple(op, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None else int_tuple(op, "stride", stride, nd, 1)
    padding = int_tuple(op, "padding", padding, nd, 0)
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(x.shape[-nd:], kernel, stride, padding, strict=True))
    out = default if output_size is None else int_tuple(op, "output_size", tuple(output_size)[-nd:], nd, 0)
    if len(out) != nd or any(not d - s < o < d + s for o, d, s in zip(out, default, stride, strict=True)):
        raise ShapeError(
            fmt(
                op,
                f"invalid output_size {output_size!r}: each size must lie strictly within stride {stride} of {default}",
                x=x,
            )
        )
    flat = indices.data
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= int(numpy.prod(out))):
        raise ShapeError(fmt(op, f"an index is outside the output plane {out}", indices=indices))
    return MaxUnpool.apply(x, indices, out=out)


class MaxUnpool(Function):
    """Max unpooling: the inverse placement of a max pool's outputs at its indices.

    Lecture:  "Semantic segmentation" (upsampling in encoder-decoder networks, SegNet-style)
    Forward:  y = zeros (N, C, *out); y[n, c, indices[n, c, i]] = x[n, c, i]
    Backward: gx[n, c, i] = gy[n, c, indices[n, c, i]]; none for indices
    Shapes:   x, indices (N, C, *I) -> y (N, C, *out)
    """

    def forward(self, x, indices, out):
        xp, nd = backend.get_xp(x), len(out)
        self.x_shape = x.shape
        self.rows = xp.arange(int(numpy.prod(x.shape[:-nd]))).reshape(-1, 1)  # one row per (n, c) plane
        plane = int(numpy.prod(x.shape[-nd:]))  # not -1 in the reshapes: N may be 0
        self.index, self.out_plane = indices.reshape(self.rows.size, plane), int(numpy.prod(out))
        y = xp.zeros((self.rows.size, self.out_plane), x.dtype)
        y[self.rows, self.index] = x.reshape(self.rows.size, plane)
        return y.reshape(x.shape[:-nd] + out)

    def backward(self, gy):
        return gy.reshape(self.rows.size, self.out_plane)[self.rows, self.index].reshape(self.x_shape), None
