"""Pooling: max and average over sliding windows (1D/2D/3D), on the CPU and with kernels/pool.cu.

Lecture: "Convolutional neural networks - Pooling" (max and average pooling of 2 x 2
windows with stride 2 reduce the resolution of each feature map, channel by channel).
Adaptive pooling, global average pooling and max unpooling: ops/adaptive_pool.py.
Argument checking, the Window geometry and the output size: ops/pool_args.py.

One N-d code path serves 1D, 2D and 3D: an input is (N, C, *spatial) or (C, *spatial),
and a window is described per spatial dim by its size K, stride S, padding P and dilation dil.
For one kernel offset k, the inputs seen by all windows form a strided slice
``x_padded[..., k*dil :: S]``, so the CPU path loops over the K kernel offsets only (never
over output positions) and works on whole arrays; the GPU kernels run one thread per
output (3-D geometry, with size-1 leading dims for 1D and 2D).

Output size per spatial dim (as PyTorch):
    O = floor_or_ceil((L + 2P - dil*(K-1) - 1) / S) + 1,
    and in ceil_mode the last window must start inside the input or the left padding:
    if (O-1)*S >= L + P then O -= 1.
"""

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function, is_grad_enabled
from .int_args import is_int
from .pool_args import plane_strides, pool_output_size, pool_window

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "pool_output_size"]


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1D max pooling; see max_pool2d.  Shapes: (N, C, L) -> (N, C, OL)."""
    return _max_pool("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over KH x KW windows (padding counts as -inf).

    Lecture: "Convolutional neural networks - Max Pooling".
    Forward:  y[n,c,i,j] = max_{p,q} x[n, c, i*S - P + p*dil, j*S - P + q*dil]
    Backward: gx[n,c,h,w] = sum of gy[n,c,i,j] over the windows (i,j) whose argmax is (h,w)
    Code:     reference _max_pool_fwd_cpu / max_pool_bwd_cpu (no fast CPU path: the reference is plain);
              kernels/pool.cu::max_pool_fwd, max_pool_bwd(_gather).
    Shapes:   x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW),
              OH = floor_or_ceil((H + 2P - dil*(KH-1) - 1) / S) + 1 (same for OW; see module doc)
    Args:
        x: float tensor.
        kernel_size, stride (default: kernel_size), padding, dilation: int or one per spatial dim.
        ceil_mode: round the output size up (last window may hang over the right edge).
        return_indices: also return the argmax, a flat index into each (H, W) plane as in PyTorch.
    Returns:
        y, or (y, indices) with indices int64 of y's shape (no gradient).
    Raises:
        ShapeError on a wrong rank, padding > kernel_size // 2, or a window larger than the padded input.
    """
    return _max_pool("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3D max pooling; see max_pool2d.  Shapes: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    return _max_pool("max_pool3d", 3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    win = pool_window(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    with_argmax = return_indices or (is_grad_enabled() and x.requires_grad)  # else nobody reads it
    if not return_indices:
        return MaxPool.apply(x, win=win, return_indices=False, with_argmax=with_argmax)
    y, indices = MaxPool.apply(x, win=win, return_indices=True, with_argmax=True)
    return y, indices.detach()


class MaxPool(Function):
    """y = max over each window; saves the flat argmax per (N, C) plane for the backward scatter
    (with_argmax=False: no backward will run and no indices are returned, so none are made).

    Lecture:  "Convolutional neural networks - Max Pooling"
    Forward:  y[n,c,o] = max_k x[n, c, o*S - P + k*dil]
    Backward: gx = gy scattered to each window's argmax (adds on overlap)
    Shapes:   x (N, C, *I) -> y (N, C, *O), O = floor_or_ceil((I + 2P - dil*(K-1) - 1) / S) + 1
    """

    def forward(self, x, win, return_indices, with_argmax):
        self.x_shape, self.win = x.shape, win
        fwd = _max_pool_fwd_gpu if backend.on_gpu(x) else _max_pool_fwd_cpu
        y, self.argmax = fwd(x, win, with_argmax)
        return (y, self.argmax) if return_indices else y

    def backward(self, gy, *_):  # no gradient flows into the indices output
        bwd = max_pool_bwd_gpu if backend.on_gpu(gy) else max_pool_bwd_cpu
        return bwd(gy, self.argmax, self.x_shape, len(self.win.size), self.win)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1D average pooling; see avg_pool2d.  Shapes: (N, C, L) -> (N, C, OL)."""
    return _avg_pool("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Average pooling over KH x KW windows.

    Lecture: "Convolutional neural networks - Average Pooling".
    Forward:  y[n,c,i,j] = (1/m_ij) * sum_{p,q} x[n, c, i*S - P + p, j*S - P + q]  (padding counts as 0)
              m_ij = divisor_override, else the window's size clipped to the padded input
              (count_include_pad=True), else the number of real (unpadded) inputs it covers.
    Backward: gx[n,c,h,w] = sum over windows (i,j) covering (h,w) of gy[n,c,i,j] / m_ij
    Shapes:   x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW), OH = floor_or_ceil((H + 2P - KH) / S) + 1
    Args:
        x: float tensor.
        kernel_size, stride (default: kernel_size), padding: int or one per spatial dim.
        ceil_mode: round the output size up (the last window may hang over the right edge).
        count_include_pad: count the zero padding in m (not the part beyond it in ceil_mode).
        divisor_override: if given, m for every window.
    Returns:
        y, of x's dtype.
    Raises:
        ShapeError on a wrong rank, padding > kernel_size // 2, or a window larger than the padded input;
        ValueError if divisor_override is 0.
    """
    return _avg_pool("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """3D average pooling; see avg_pool2d.  Shapes: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    return _avg_pool("avg_pool3d", 3, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _avg_pool(op, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    win = pool_window(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and not is_int(divisor_override):
        raise DTypeError(fmt(op, f"divisor_override must be an int, got {divisor_override!r}"))
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(fmt(op, "divisor_override must not be zero"))
    divisor = 0 if divisor_override is None else int(divisor_override)  # 0: derive it from the window
    return AvgPool.apply(x, win=win, count_include_pad=bool(count_include_pad), divisor=divisor)


class AvgPool(Function):
    """y = window sum / m; the backward spreads gy / m evenly over each window.

    Lecture:  "Convolutional neural networks - Average Pooling"
    Forward:  y[n,c,o] = sum over window o of x / m (m: window size, or divisor)
    Backward: gx = sum over windows covering x of gy / m
    Shapes:   x (N, C, *I) -> y (N, C, *O), O = floor_or_ceil((I + 2P - K) / S) + 1
    """

    def forward(self, x, win, count_include_pad, divisor):
        self.x_shape, self.options = x.shape, (win, count_include_pad, divisor)
        fwd = _avg_pool_fwd_gpu if backend.on_gpu(x) else _avg_pool_fwd_cpu
        return fwd(x, *self.options)

    def backward(self, gy):
        bwd = _avg_pool_bwd_gpu if backend.on_gpu(gy) else _avg_pool_bwd_cpu
        return bwd(gy, self.x_shape, *self.options)


def _launch_dims(win):
    """Window geometry as the kernels take it: 3 spatial dims, with size-1 dims in front for 1D/2D."""
    extra = 3 - len(win.size)
    fields = [
        (1,) * extra + win.size,
        (1,) * extra + win.out,
        (1,) * extra + win.kernel,
        (1,) * extra + win.stride,
        (0,) * extra + win.padding,
        (1,) * extra + win.dilation,
    ]
    return [v for field in fields for v in field]


MAX_LAUNCH = 2**30  # elements per launch: kernels/pool.cu indexes in 32 bits (i + grid stride < 2^31)


def plane_launches(op, planes, plane_size, *arrays):
    """(n, views) per launch: n whole (N, C) planes, at most MAX_LAUNCH elements, and those planes of
    each array as C-contiguous (n, plane size) views."""
    step = MAX_LAUNCH // max(plane_size, 1)  # planes = 0 (an empty batch): no launch at all
    if step < 1:
        raise ShapeError(fmt(op, f"one (N, C) plane of {plane_size} elements exceeds the GPU kernels' {MAX_LAUNCH}"))
    for start in range(0, planes, step):
        stop = min(start + step, planes)
        yield stop - start, [a.reshape(planes, -1)[start:stop] for a in arrays]


def _no_overlap(win):
    """True if no input lies in two windows (dilation 1 and S >= K in every dim): the *_bwd_gather kernels apply."""
    return all(d == 1 and s >= k for k, s, d in zip(win.kernel, win.stride, win.dilation, strict=True))


def _launch_rows(name, planes, size, args, dtype):
    """A row kernel of pool.cu over the rows (d, h) of ``planes`` planes of 3-D size (D, H, W) (size-1 dims in
    front for 1-D and 2-D), by backend.launch's row launch: 32 threads across a row, 8 rows per block."""
    rows = planes * int(numpy.prod(((1,) * 3 + tuple(size))[-3:-1]))
    backend.launch("pool", name, rows, args, dtype, row_length=32)


# ----------------------------------------------------------------------------- max pool: CPU / GPU


def _max_pool_fwd_cpu(x, win, with_argmax):
    """Running max over the kernel offsets; returns (y, flat argmax per plane, or None if not with_argmax)."""
    widths = win.padded_widths(x.ndim)
    padded = numpy.pad(x, widths, constant_values=-numpy.inf) if any(map(any, widths)) else x
    offsets = win.offsets()
    y = padded[win.slices(offsets[0])].copy()  # (N, C, *O)
    local = numpy.zeros(y.shape, numpy.min_scalar_type(len(offsets)))  # which offset holds the max
    for k, offset in enumerate(offsets[1:], 1):
        seen = padded[win.slices(offset)]
        better = seen > y  # strict: the first maximum in scan order wins ties, as in PyTorch
        numpy.maximum(y, seen, out=y)
        numpy.maximum(local, better * local.dtype.type(k), out=local)  # k exceeds every earlier offset
    return y, _flat_argmax(win, local) if with_argmax else None


def _flat_argmax(win, local):
    """Local offset index -> flat input index per plane: sum_d (o_d*S_d - P_d + k_d*D_d) * plane_stride_d.

    A window that holds no input at all (possible with dilation > 1 and padding) gets index -1, as in
    the kernel; its output is -inf and it passes no gradient.
    """
    strides, nd = plane_strides(win.size), len(win.size)
    base, valid = 0, True
    for d, (n, k, s, p, dil, o, st) in enumerate(zip(*win, strides, strict=True)):
        start = (numpy.arange(o) * s - p).reshape((-1,) + (1,) * (nd - 1 - d))
        base = base + start * st
        positions = start[..., None] + numpy.arange(k) * dil  # (O_d, 1.., K_d)
        valid = valid & ((positions >= 0) & (positions < n)).any(axis=-1)
    delta = numpy.array(
        [
            sum(k * dil * st for k, dil, st in zip(offset, win.dilation, strides, strict=True))
            for offset in win.offsets()
        ],
        dtype=numpy.int64,
    )
    flat = base + delta[local]  # (N, C, *O) int64
    return flat if numpy.all(valid) else numpy.where(valid, flat, -1)


def _max_pool_fwd_gpu(x, win, with_argmax):
    xp = backend.get_xp(x)
    x = xp.ascontiguousarray(x)
    y = xp.empty(x.shape[: -len(win.size)] + win.out, x.dtype)
    argmax = xp.empty(y.shape if with_argmax else 1, xp.int64)  # 1: a placeholder the kernel does not write
    planes = y.size // int(numpy.prod(win.out))
    arrays = (x, y, argmax) if with_argmax else (x, y)
    for n, views in plane_launches("max_pool", planes, max(x.size, y.size) // max(planes, 1), *arrays):
        x_n, y_n, argmax_n = views if with_argmax else (*views, argmax)
        args = (x_n, y_n, argmax_n, n, *_launch_dims(win), int(with_argmax))
        _launch_rows("max_pool_fwd", n, win.out, args, x.dtype)
    return y, argmax if with_argmax else None


def max_pool_bwd_cpu(gy, argmax, x_shape, nd, win=None):
    """gx[plane, argmax] += gy (add.at: overlapping windows may pick the same input).  win: the GPU path's
    choice of kernel only (adaptive pooling passes None: its windows may overlap)."""
    plane_in, plane_out = int(numpy.prod(x_shape[-nd:])), int(numpy.prod(argmax.shape[-nd:]))
    gx = numpy.zeros(x_shape, gy.dtype)
    rows = numpy.arange(argmax.size // plane_out).reshape(-1, 1) * plane_in  # start of each (n, c) plane
    flat, gy = (argmax.reshape(-1, plane_out) + rows).reshape(-1), gy.reshape(-1)
    inside = (argmax >= 0).reshape(-1)  # -1: a window without inputs (see _flat_argmax)
    if not inside.all():
        flat, gy = flat[inside], gy[inside]
    numpy.add.at(gx.reshape(-1), flat, gy)
    return gx


def max_pool_bwd_gpu(gy, argmax, x_shape, nd, win=None):
    """A gather (max_pool_bwd_gather, every gx written once) where the windows ``win`` do not overlap;
    else a zero fill and max_pool_bwd's atomicAdd scatter."""
    xp = backend.get_xp(gy)
    plane_in, plane_out = int(numpy.prod(x_shape[-nd:])), int(numpy.prod(argmax.shape[-nd:]))
    planes, gather = gy.size // plane_out, win is not None and _no_overlap(win)
    gy, argmax = xp.ascontiguousarray(gy), xp.ascontiguousarray(argmax)
    gx = xp.empty(x_shape, gy.dtype) if gather else xp.zeros(x_shape, gy.dtype)
    for n, arrays in plane_launches("max_pool", planes, max(plane_in, plane_out), gy, argmax, gx):
        if gather:
            _launch_rows("max_pool_bwd_gather", n, win.size, (*arrays, n, *_launch_dims(win)[:15]), gy.dtype)
        else:
            args = (*arrays, n * plane_out, plane_out, plane_in)
            backend.launch("pool", "max_pool_bwd", n * plane_out, args, gy.dtype)
    return gx


# ----------------------------------------------------------------------------- average pool: CPU / GPU


def _avg_pool_fwd_cpu(x, win, count_include_pad, divisor):
    """Sum of the K strided slices (one per kernel offset), divided by m."""
    padded = numpy.pad(x, win.padded_widths(x.ndim))  # zeros: padding adds nothing to a sum
    offsets = win.offsets()
    total = padded[win.slices(offsets[0])].copy()  # (N, C, *O)
    for offset in offsets[1:]:
        total += padded[win.slices(offset)]
    return total / _avg_divisor(win, count_include_pad, divisor).astype(x.dtype)


def _avg_pool_bwd_cpu(gy, x_shape, win, count_include_pad, divisor):
    """Each kernel offset's slice of the padded gx receives gy / m; the padding is cut off at the end."""
    share = gy / _avg_divisor(win, count_include_pad, divisor).astype(gy.dtype)
    widths = win.padded_widths(len(x_shape))
    gx = numpy.zeros([n + a + b for n, (a, b) in zip(x_shape, widths, strict=True)], gy.dtype)
    for offset in win.offsets():
        gx[win.slices(offset)] += share  # no two windows share an input at the same offset
    return gx[tuple(slice(a, a + n) for n, (a, _) in zip(x_shape, widths, strict=True))]


def _avg_divisor(win, count_include_pad, divisor):
    """m per output position (an outer product over the spatial dims), or the override."""
    if divisor:
        return numpy.asarray(divisor)
    nd, m = len(win.size), numpy.ones((1,) * len(win.size), numpy.int64)
    for d, (n, k, s, p, o) in enumerate(zip(win.size, win.kernel, win.stride, win.padding, win.out, strict=True)):
        start = numpy.arange(o) * s - p
        end = numpy.minimum(start + k, n + p)  # the window clipped to the padded input
        count = end - start if count_include_pad else numpy.minimum(end, n) - numpy.maximum(start, 0)
        m = m * count.reshape((-1,) + (1,) * (nd - 1 - d))
    return m


def _avg_pool_fwd_gpu(x, win, count_include_pad, divisor):
    xp = backend.get_xp(x)
    x = xp.ascontiguousarray(x)
    y = xp.empty(x.shape[: -len(win.size)] + win.out, x.dtype)
    planes = y.size // int(numpy.prod(win.out))
    options = (*_launch_dims(win)[:15], int(count_include_pad), divisor)
    for n, arrays in plane_launches("avg_pool", planes, max(x.size, y.size) // max(planes, 1), x, y):
        _launch_rows("avg_pool_fwd", n, win.out, (*arrays, n, *options), x.dtype)
    return y


def _avg_pool_bwd_gpu(gy, x_shape, win, count_include_pad, divisor):
    """avg_pool_bwd_gather (a row kernel) where windows do not overlap, else avg_pool_bwd (one thread per
    input, summing over the windows that cover it)."""
    xp = backend.get_xp(gy)
    gy, gx = xp.ascontiguousarray(gy), xp.empty(x_shape, gy.dtype)
    planes, gather = gx.size // int(numpy.prod(win.size)), _no_overlap(win)
    options = (*_launch_dims(win)[:15], int(count_include_pad), divisor)
    for n, arrays in plane_launches("avg_pool", planes, max(gx.size, gy.size) // max(planes, 1), gy, gx):
        if gather:
            _launch_rows("avg_pool_bwd_gather", n, win.size, (*arrays, n, *options), gy.dtype)
        else:
            size = gx.size // planes * n
            backend.launch("pool", "avg_pool_bwd", size, (*arrays, size, *options), gy.dtype)
    return gx
