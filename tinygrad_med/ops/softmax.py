"""Softmax and log-softmax over one dim, with their own CUDA row kernels.

Lecture: "Image classification" (class scores -> probabilities, before the cross-entropy);
"Convolutional neural networks - Activation function".  Each op is a public function, its
Function class (forward, then backward right below it) and ``_<name>_cpu`` / ``_<name>_gpu``
pairs; the GPU half launches the kernel of the same name in kernels/softmax.cu
(ops/softmax.py::_softmax_fwd_gpu -> kernels/softmax.cu::softmax_fwd), with backend.launch's row
launch (as the fused softmax cross-entropy, ops/cross_entropy.py).

Numerical care: both subtract the row maximum, so inputs of +-1000 give a one-hot row and
finite log-probabilities with no overflow; where the exact limit needs exp to underflow to 0,
the CPU code says so with ``numpy.errstate(under='ignore')``.
"""

import warnings

import numpy

from ..backend import get_xp, launch, on_gpu
from ..function import Function
from .activation_args import check_float
from .reduce_args import one_axis

__all__ = ["softmax", "log_softmax", "Softmax", "LogSoftmax"]


def softmax(x, dim=None, *, dtype=None, _stacklevel=3):
    """Softmax over ``dim``: a probability distribution along that axis.

    Lecture: "Image classification" (class scores -> probabilities, before the cross-entropy).
    Forward:  y_c = e^{x_c - m} / sum_k e^{x_k - m},  m = max_k x_k  (m cancels; it prevents overflow)
    Backward: gx_c = y_c (gy_c - sum_k gy_k y_k)
    Shapes:   x (...) -> y (...), rows along dim sum to 1
    Args:     dim: the axis whose entries form each distribution.  None: PyTorch's deprecated implicit
              choice (dim 0 for a 0-, 1- or 3-D x, else 1) with its UserWarning "Implicit dimension choice
              for softmax has been deprecated".  dtype: cast x first.  _stacklevel: as F.softmax's (the
              frame the warning names: 3 = softmax's caller).
    Raises:   ShapeError if dim is out of range.
    """
    x = x if dtype is None else x.to(dtype)
    axis = _softmax_axis("softmax", x, dim, _stacklevel)
    if x.ndim == 0:  # a single score: its own distribution
        return softmax(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, axis=axis)


def log_softmax(x, dim=None, *, dtype=None, _stacklevel=3):
    """Log of the softmax over ``dim``, computed directly (never log of a rounded 0).

    Lecture: "Image classification" (log-probabilities for nll_loss).
    Forward:  y_c = x_c - m - log sum_k e^{x_k - m},  m = max_k x_k
    Backward: gx_c = gy_c - e^{y_c} sum_k gy_k
    Shapes:   x (...) -> y (...)
    Args:     dim, dtype, _stacklevel: as softmax (dim=None warns and picks dim 0 or 1 the same way).
    Raises:   ShapeError if dim is out of range.
    """
    x = x if dtype is None else x.to(dtype)
    axis = _softmax_axis("log_softmax", x, dim, _stacklevel)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    return LogSoftmax.apply(x, axis=axis)


def _softmax_axis(op, x, dim, stacklevel):
    check_float(op, x)
    if dim is None:
        dim = _implicit_dim(op, x.ndim, stacklevel + 1)  # + 1: this frame lies between softmax and the warning
    return one_axis(x, dim, op)


def _implicit_dim(op, ndim, stacklevel):
    """PyTorch's legacy rule for dim=None (torch.nn.functional._get_softmax_dim), with its warning: dim 0 for
    0-, 1- or 3-D inputs (a vector; an unbatched (C, H, W) image), else dim 1 (the channels of (N, C, ...))."""
    warnings.warn(
        f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Function):
    """y = softmax(x) along axis; saves y, since gx = y (gy - <gy, y>).

    Lecture:  "Image classification"
    Forward:  y = e^(x - m) / sum e^(x - m) along axis, m = max
    Backward: gx = y (gy - sum(gy y)) along axis
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, axis):
        self.axis = axis
        self.y = _softmax_fwd_gpu(x, axis) if on_gpu(x) else _softmax_fwd_cpu(x, axis)
        return self.y

    def backward(self, gy):
        if on_gpu(gy):
            return _rows_gpu("softmax_bwd", self.axis, self.y, gy)
        return _softmax_bwd_cpu(self.y, gy, self.axis)


class LogSoftmax(Function):
    """y = log_softmax(x) along axis; saves y, since gx = gy - e^y sum(gy).

    Lecture:  "Image classification"
    Forward:  y = x - m - log sum e^(x - m) along axis
    Backward: gx = gy - e^y sum(gy) along axis
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, axis):
        self.axis = axis
        self.y = _log_softmax_fwd_gpu(x, axis) if on_gpu(x) else _log_softmax_fwd_cpu(x, axis)
        return self.y

    def backward(self, gy):
        if on_gpu(gy):
            return _rows_gpu("log_softmax_bwd", self.axis, self.y, gy)
        return _log_softmax_bwd_cpu(self.y, gy, self.axis)


def _softmax_fwd_cpu(x, axis):
    xp = get_xp(x)
    if x.size == 0:  # no row, or rows of no entry: nothing to normalise (max over nothing has no value)
        return x.copy()
    with numpy.errstate(under="ignore"):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_fwd_gpu(x, axis):
    return _rows_gpu("softmax_fwd", axis, x)


def _softmax_bwd_cpu(y, gy, axis):
    return y * (gy - (gy * y).sum(axis=axis, keepdims=True))


def _log_softmax_fwd_cpu(x, axis):
    xp = get_xp(x)
    if x.size == 0:  # as _softmax_fwd_cpu
        return x.copy()
    shifted = x - x.max(axis=axis, keepdims=True)
    with numpy.errstate(under="ignore"):
        return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_fwd_gpu(x, axis):
    return _rows_gpu("log_softmax_fwd", axis, x)


def _log_softmax_bwd_cpu(y, gy, axis):
    with numpy.errstate(under="ignore"):
        return gy - get_xp(y).exp(y) * gy.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- kernel launches

_SOFTMAX_THREADS = 256  # SOFTMAX_THREADS in kernels/softmax.cu: threads of one block


def _rows_gpu(name, axis, *arrays):
    """Launch kernels/softmax.cu::<name> over rows of ``axis``: moved last, made contiguous, then moved back.
    backend.grid_for's row launch: a power of two >= C threads across each row, short rows share a block."""
    xp = get_xp(arrays[0])
    rows_last = [xp.ascontiguousarray(xp.moveaxis(a, axis, -1), dtype=arrays[0].dtype) for a in arrays]  # (..., C)
    out = xp.empty_like(rows_last[0])
    C = out.shape[-1]
    rows = out.size // C if C else 0
    launch("softmax", name, rows, (*rows_last, out, rows, C), out.dtype, _SOFTMAX_THREADS, row_length=C)
    return xp.moveaxis(out, -1, axis)
