"""max, min, amax, amin, argmax, argmin: the extreme values of a tensor, and where they are.

Lecture: "Convolutional neural networks - Pooling" (max pooling routes the gradient the same way)
and "Image classification" (the predicted class is an argmax).
torch.max has three forms, kept here: max(x) -> the largest value; max(x, dim, keepdim) -> a
(values, indices) named tuple; max(x, other) -> the elementwise maximum of two tensors.
Backward: over everything (max(x), amax), gy is split evenly between tied extremes; along a dim
(max(x, dim)) it goes to the returned index only, as in PyTorch.
"""

import collections
import warnings

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .reduce_args import keep_dims, one_axis, reduction_axes

__all__ = ["max", "min", "amax", "amin", "argmax", "argmin", "normalize_dims", "MaxResult", "MinResult"]

MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def normalize_dims(x, dim, op):
    """Deprecated: reduce_args.reduction_axes (with empty_means_all=False) is the one dim normaliser."""
    warnings.warn(
        "tinygrad_med.ops.reduce.normalize_dims is deprecated; use tinygrad_med.ops.reduce_args.reduction_axes "
        "(several dims) or one_axis (one dim)",
        DeprecationWarning,
        stacklevel=2,
    )
    return reduction_axes(x, dim, op, empty_means_all=False)


def max(input, dim=None, keepdim=False, *, other=None):
    """Largest element; (values, indices) along ``dim``; or the elementwise maximum with ``other``.

    Backward: gy goes to the maximal element(s) (split between ties without dim, to the index with dim).
    Raises:   ShapeError for an empty input without dim, or an empty dim.
    """
    return _extreme(input, dim, keepdim, other, "max")


def min(input, dim=None, keepdim=False, *, other=None):
    """Smallest element; (values, indices) along ``dim``; or the elementwise minimum with ``other``."""
    return _extreme(input, dim, keepdim, other, "min")


def _extreme(x, dim, keepdim, other, which):
    from .arithmetic import maximum, minimum

    if isinstance(dim, Tensor) or other is not None:  # max(a, b): the binary form
        return (maximum if which == "max" else minimum)(x, dim if other is None else other)
    if dim is None:
        _check_nonempty(x, (), which, whole=True)
        return Extreme.apply(x, axes=tuple(range(x.ndim)), keepdim=False, which=which)
    axis = one_axis(x, dim, which)
    indices = _arg(x, dim, True, "argmax" if which == "max" else "argmin")  # (..., 1, ...) at axis
    if x.ndim == 0:
        return (MaxResult if which == "max" else MinResult)(x.reshape(()), indices)
    values = TakeAlong.apply(x, index=indices.data, axis=axis, keepdim=keepdim)
    if not keepdim:
        indices = Tensor._wrap(indices.data.squeeze(axis))
    return (MaxResult if which == "max" else MinResult)(values, indices)


class TakeAlong(Function):
    """y = x at ``index`` along ``axis``; backward puts gy back at those positions, zeros elsewhere.

    Lecture:  "CNN refresher"
    Forward:  y = take_along_axis(x, index, axis)
    Backward: gx = gy at the taken positions, 0 elsewhere; none for index
    Shapes:   x (*), index (* with 1 along axis) -> y
    """

    def forward(self, x, index, axis, keepdim):
        xp = backend.get_xp(x)
        self.index, self.axis, self.x_shape = index, axis, x.shape
        y = xp.take_along_axis(x, index, axis)
        return y if keepdim else y.squeeze(axis)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        position = xp.arange(self.x_shape[self.axis]).reshape(
            [-1 if i == self.axis else 1 for i in range(len(self.x_shape))]
        )
        picked = position == self.index  # (x.shape) one True per reduced line, at the returned index
        return xp.where(picked, gy.reshape(self.index.shape), 0).astype(gy.dtype, copy=False)


def amax(input, dim=(), keepdim=False):
    """Maximum over one or several dims (all for () or None), values only.  Ties share gy evenly."""
    axes = reduction_axes(input, dim, "amax")
    _check_nonempty(input, axes, "amax", whole=_all_dims(dim))
    return Extreme.apply(input, axes=axes, keepdim=keepdim, which="max")


def amin(input, dim=(), keepdim=False):
    """Minimum over one or several dims (all for () or None), values only.  Ties share gy evenly."""
    axes = reduction_axes(input, dim, "amin")
    _check_nonempty(input, axes, "amin", whole=_all_dims(dim))
    return Extreme.apply(input, axes=axes, keepdim=keepdim, which="min")


def _all_dims(dim):
    return dim is None or (isinstance(dim, (tuple, list)) and not dim)


def _check_nonempty(x, axes, op, whole):
    """PyTorch refuses the extreme of nothing: over every dim of an empty tensor, or along an empty dim."""
    if whole and x.numel() == 0:
        raise ShapeError(fmt(op, "expected reduction dim to be specified for an empty input", x=x))
    for a in axes:
        if x.shape[a] == 0:
            raise ShapeError(fmt(op, f"expected reduction dim {a} to have non-zero size", x=x))


class Extreme(Function):
    """y = max (or min) over axes; backward routes gy to the arg-extreme, split between ties.

    Lecture:  "Convolutional neural networks - Max Pooling" (a max routes its gradient)
    Forward:  y = max_{axes} x (or min)
    Backward: gx = gy / count at each element equal to y (ties split), 0 elsewhere
    Shapes:   x (*) -> y (* without axes, or 1 if keepdim)
    """

    def forward(self, x, axes, keepdim, which):
        reduce = x.max if which == "max" else x.min
        y_keep = reduce(axis=axes, keepdims=True)
        self.hit = (x == y_keep) | ((x != x) & (y_keep != y_keep))  # (x.shape) True at the extreme(s), nan included
        self.axes, self.keepdim, self.x_shape = axes, keepdim, x.shape
        return y_keep if keepdim else y_keep.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        gy = keep_dims(gy, self.x_shape, self.axes, self.keepdim)
        count = self.hit.sum(axis=self.axes, keepdims=True)
        return self.hit * (gy / count)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element (flat if dim is None), int64, no gradient."""
    return _arg(input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest element (flat if dim is None), int64, no gradient."""
    return _arg(input, dim, keepdim, "argmin")


def _arg(x, dim, keepdim, how):
    data = x.data
    finder = data.argmax if how == "argmax" else data.argmin
    if dim is None:
        _check_nonempty(x, (), how, whole=True)
        result = finder()
        if keepdim:
            result = result.reshape((1,) * data.ndim)
    else:
        axis = one_axis(x, dim, how)
        if data.ndim == 0:
            return Tensor._wrap(backend.get_xp(data).zeros((), numpy.int64))
        _check_nonempty(x, (axis,), how, whole=False)
        result = finder(axis=axis, keepdims=keepdim)
    return Tensor._wrap(backend.get_xp(data).asarray(result).astype(numpy.int64))
