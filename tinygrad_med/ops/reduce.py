"""Reductions over dims: sum, mean, max/min (with indices), var/std, argmax/argmin, logsumexp.

Lecture: "Batch normalization" (means and variances over the batch) and every loss.
Backward of a reduction spreads gy back over the reduced axes: evenly for sum and
mean, to the position of the extreme for max/min, and as 2 (x - mean) / (n - c)
for the variance.
"""

import builtins

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from ..tensor import Tensor

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "var", "std", "argmax", "argmin", "logsumexp", "normalize_dims"]


def normalize_dims(x, dim, op):
    """None -> all axes; int or tuple -> a sorted tuple of non-negative axes (ShapeError if out of range)."""
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -builtins.max(x.ndim, 1) <= d < builtins.max(x.ndim, 1):
            raise ShapeError(fmt(op, f"dim {d} is out of range for a {x.ndim}-D tensor", x=x))
        out.append(d % builtins.max(x.ndim, 1))
    return tuple(sorted(set(out)))


def _keep(gy, x_shape, axes, keepdim):
    """Reshape gy so that it broadcasts against x (re-insert the reduced axes)."""
    if keepdim or not axes or gy.ndim == len(x_shape):
        return gy
    shape = [1 if i in axes else n for i, n in enumerate(x_shape)]
    return gy.reshape(shape)


def sum(x, dim=None, keepdim=False):
    """Sum over ``dim`` (all dims if None).

    Forward:  y = sum_{i in dims} x_i
    Backward: gx = gy broadcast back over the summed dims
    Shapes:   x (...) -> y with the summed dims removed (kept as 1 if keepdim)
    """
    axes = normalize_dims(x, dim, "sum")
    return Sum.apply(x, axes=axes, keepdim=keepdim)


class Sum(Function):
    def forward(self, x, axes, keepdim):
        self.x_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim) if x.ndim else x.copy()

    def backward(self, gy):
        xp = backend.get_xp(gy)
        return xp.broadcast_to(_keep(gy, self.x_shape, self.axes, self.keepdim), self.x_shape).copy()


def mean(x, dim=None, keepdim=False):
    """Mean over ``dim``.  Backward: gx = gy / n, n the number of averaged elements."""
    axes = normalize_dims(x, dim, "mean")
    n = int(numpy.prod([x.shape[a] for a in axes])) if axes else 1
    return sum(x, axes, keepdim) / builtins.max(n, 1)


def _extreme(x, dim, keepdim, which):
    """max/min with PyTorch's two forms: over everything -> value; over a dim -> (values, indices)."""
    if dim is None:
        return Extreme.apply(x, axes=tuple(range(x.ndim)), keepdim=False, which=which)
    axes = normalize_dims(x, dim, which)
    values = Extreme.apply(x, axes=axes, keepdim=keepdim, which=which)
    finder = argmax if which == "max" else argmin
    return values, finder(x, dim, keepdim)


def max(x, dim=None, keepdim=False):
    """Largest element, or (values, indices) along ``dim`` as torch.max.

    Backward: gy goes to the maximal element(s), split evenly between ties.
    """
    return _extreme(x, dim, keepdim, "max")


def min(x, dim=None, keepdim=False):
    """Smallest element, or (values, indices) along ``dim`` as torch.min."""
    return _extreme(x, dim, keepdim, "min")


def amax(x, dim=None, keepdim=False):
    """Maximum over one or several dims (values only)."""
    return Extreme.apply(x, axes=normalize_dims(x, dim, "amax"), keepdim=keepdim, which="max")


def amin(x, dim=None, keepdim=False):
    """Minimum over one or several dims (values only)."""
    return Extreme.apply(x, axes=normalize_dims(x, dim, "amin"), keepdim=keepdim, which="min")


class Extreme(Function):
    """y = max (or min) over axes; backward routes gy to the arg-extreme, split between ties."""

    def forward(self, x, axes, keepdim, which):
        if x.size == 0:
            raise ShapeError(fmt(which, "cannot reduce an empty tensor", x=x))
        reduce = x.max if which == "max" else x.min
        y_keep = reduce(axis=axes, keepdims=True)
        self.hit = x == y_keep  # (x.shape) True at the extreme(s)
        self.axes, self.keepdim, self.x_shape = axes, keepdim, x.shape
        return y_keep if keepdim else y_keep.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        gy = _keep(gy, self.x_shape, self.axes, self.keepdim)
        count = self.hit.sum(axis=self.axes, keepdims=True)
        return self.hit * (gy / count)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest element (flat if dim is None), int64, no gradient."""
    return _arg(x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest element (flat if dim is None), int64, no gradient."""
    return _arg(x, dim, keepdim, "argmin")


def _arg(x, dim, keepdim, how):
    data = x.data if isinstance(x, Tensor) else x
    finder = data.argmax if how == "argmax" else data.argmin
    if dim is None:
        result = finder()
        if keepdim:
            result = result.reshape((1,) * data.ndim)
    else:
        (axis,) = normalize_dims(x, dim, how)
        result = finder(axis=axis)
        if keepdim:
            result = backend.get_xp(data).expand_dims(result, axis)
    return Tensor._wrap(result.astype(numpy.int64))


def var(x, dim=None, keepdim=False, unbiased=True, correction=None):
    """Variance over ``dim`` with Bessel's correction by default (as torch.var).

    Forward:  y = sum (x - mean)^2 / (n - c), c = correction (1 if unbiased else 0)
    Backward: gx = gy * 2 (x - mean) / (n - c)
    """
    axes = normalize_dims(x, dim, "var")
    c = (1 if unbiased else 0) if correction is None else correction
    return Var.apply(x, axes=axes, keepdim=keepdim, correction=c)


class Var(Function):
    def forward(self, x, axes, keepdim, correction):
        n = int(numpy.prod([x.shape[a] for a in axes])) if axes else 1
        self.centered = x - x.mean(axis=axes, keepdims=True)
        self.scale = 1.0 / (n - correction) if n > correction else float("inf")  # torch gives inf/nan too
        self.axes, self.keepdim, self.x_shape = axes, keepdim, x.shape
        y = (self.centered**2).sum(axis=axes, keepdims=keepdim) * self.scale
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        gy = _keep(gy, self.x_shape, self.axes, self.keepdim)
        return gy * (2 * self.scale) * self.centered


def std(x, dim=None, keepdim=False, unbiased=True, correction=None):
    """Standard deviation: sqrt(var).  Backward through var and sqrt."""
    return var(x, dim, keepdim, unbiased, correction).sqrt()


def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed stably as m + log(sum(exp(x - m))).

    Backward: gx = gy * softmax(x) along dim.
    """
    axes = normalize_dims(x, dim, "logsumexp")
    return LogSumExp.apply(x, axes=axes, keepdim=keepdim)


class LogSumExp(Function):
    def forward(self, x, axes, keepdim):
        xp = backend.get_xp(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y_keep = m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        self.x, self.y_keep, self.axes, self.keepdim = x, y_keep, axes, keepdim
        return y_keep if keepdim else y_keep.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        gy = _keep(gy, self.x.shape, self.axes, self.keepdim)
        return gy * backend.get_xp(gy).exp(self.x - self.y_keep)
