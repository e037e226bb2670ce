"""Reductions over dims: sum, mean, prod, cumsum, var/std, logsumexp (max/min/argmax in reduce_minmax.py).

Lecture: "Batch normalization" (means and variances over the batch) and every loss.
Backward of a reduction spreads gy back over the reduced axes: evenly for sum and
mean, as the product of the other factors for prod, as a reversed cumulative sum for
cumsum, and as 2 (x - mean) / (n - c) for the variance.

Call forms and edge cases follow PyTorch (ops/reduce_args.py): dim None, an int, a tuple or ();
a 0-d tensor takes dim 0 or -1; the mean of nothing is nan, the sum of nothing 0, the product 1.
"""

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from .reduce_args import check_float_input, keep_dims, one_axis, reduced_size, reduction_axes, sum_dtype, variance_args
from .reduce_minmax import amax, amin, argmax, argmin, max, min, normalize_dims

__all__ = [
    "sum",
    "mean",
    "prod",
    "cumsum",
    "max",
    "min",
    "amax",
    "amin",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "argmax",
    "argmin",
    "logsumexp",
    "norm",
    "normalize_dims",
    "keep_dims",
]


def _cast(x, dtype):
    return x if dtype is None or numpy.dtype(dtype) == x.dtype else x.to(dtype)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (all dims if None or ()); bool and integer inputs sum to int64, as torch.sum.

    Forward:  y = sum_{i in dims} x_i
    Backward: gx = gy broadcast back over the summed dims
    Shapes:   x (...) -> y with the summed dims removed (kept as 1 if keepdim)
    """
    x = _cast(input, dtype)
    axes = reduction_axes(x, dim, "sum")
    return Sum.apply(x, axes=axes, keepdim=keepdim, out=sum_dtype(x.dtype, dtype))


class Sum(Function):
    """Sum over the given axes.

    Lecture:  "Batch normalization" (means over the batch) and every loss
    Forward:  y = sum_{axes} x
    Backward: gx = gy broadcast back over the reduced axes
    Shapes:   x (*) -> y (* without axes, or 1 if keepdim)
    """

    def forward(self, x, axes, keepdim, out):
        self.x_shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return backend.get_xp(x).asarray(x.sum(axis=axes, keepdims=keepdim, dtype=out))

    def backward(self, gy):
        xp = backend.get_xp(gy)
        return xp.broadcast_to(keep_dims(gy, self.x_shape, self.axes, self.keepdim), self.x_shape).copy()


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Mean over ``dim``; the mean of no elements is nan, as torch.mean.

    Backward: gx = gy / n, n the number of averaged elements.
    Raises:   DTypeError for an integer or bool input (PyTorch cannot infer the output dtype).
    """
    x = _cast(input, dtype)
    check_float_input("mean", x)
    axes = reduction_axes(x, dim, "mean")
    n = reduced_size(x.shape, axes)
    return sum(x, axes if axes else (), keepdim) * (1.0 / n if n else float("nan"))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product of all elements, or along one ``dim`` (an int, as torch.prod).

    Forward:  y = prod_i x_i
    Backward: gx_i = gy * prod_{j != i} x_j  (exclusive products from the left and the right,
              so that a zero factor gives the right gradient rather than 0/0)
    """
    x = _cast(input, dtype)
    if dim is None:
        return prod(x.reshape(-1), 0, dtype=dtype).reshape([1] * x.ndim if keepdim else [])
    axis = one_axis(x, dim, "prod")
    if x.ndim == 0:
        return Prod.apply(x.reshape(1), axis=0, keepdim=False, out=sum_dtype(x.dtype, dtype)).reshape(())
    return Prod.apply(x, axis=axis, keepdim=keepdim, out=sum_dtype(x.dtype, dtype))


class Prod(Function):
    """Product along one axis.

    Lecture:  "CNN refresher"
    Forward:  y = prod_i x_i along axis
    Backward: gx_i = gy * prod_{j != i} x_j  (built without dividing by x_i, so zeros are handled)
    Shapes:   x (*) -> y (* without axis, or 1 if keepdim)
    """

    def forward(self, x, axis, keepdim, out):
        self.x, self.axis, self.keepdim = x, axis, keepdim
        return backend.get_xp(x).asarray(x.prod(axis=axis, keepdims=keepdim, dtype=out))

    def backward(self, gy):
        xp = backend.get_xp(gy)
        if self.x.size == 0:
            return xp.zeros(self.x.shape, gy.dtype)
        x = xp.moveaxis(self.x, self.axis, -1)  # (..., n)
        ones = xp.ones(x.shape[:-1] + (1,), x.dtype)
        left = xp.cumprod(xp.concatenate([ones, x[..., :-1]], -1), -1)  # prod_{j < i} x_j
        right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([x[..., 1:], ones], -1), -1), -1), -1)  # prod_{j > i}
        others = xp.moveaxis(left * right, -1, self.axis)
        return keep_dims(gy, self.x.shape, (self.axis,), self.keepdim) * others


def cumsum(input, dim, *, dtype=None):
    """Cumulative sum along ``dim``: y_i = x_0 + ... + x_i (bool and integers -> int64, as torch.cumsum).

    Backward: gx_i = gy_i + ... + gy_{n-1}, the cumulative sum of gy taken from the end.
    """
    x = _cast(input, dtype)
    axis = one_axis(x, dim, "cumsum")
    if x.ndim == 0:
        return CumSum.apply(x.reshape(1), axis=0, out=sum_dtype(x.dtype, dtype)).reshape(())
    return CumSum.apply(x, axis=axis, out=sum_dtype(x.dtype, dtype))


class CumSum(Function):
    """Cumulative sum along one axis.

    Lecture:  "CNN refresher"
    Forward:  y_i = sum_{j <= i} x_j
    Backward: gx_i = sum_{j >= i} gy_j  (a reversed cumulative sum)
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, axis, out):
        self.axis = axis
        return backend.get_xp(x).cumsum(x, axis=axis, dtype=out)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        return xp.flip(xp.cumsum(xp.flip(gy, self.axis), self.axis), self.axis)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` with Bessel's correction by default, in each of torch.var's forms:
    var(x), var(x, unbiased), var(x, dim, unbiased, keepdim), var(x, dim, keepdim=k, correction=c).

    Forward:  y = sum (x - mean)^2 / max(0, n - c), c = correction (1 if unbiased else 0)
    Backward: gx = gy * 2 (x - mean) / max(0, n - c)
    Raises:   DTypeError for a non-float input; TypeError for unbiased and correction together.
    """
    dim, correction = variance_args("var", dim, unbiased, keepdim, correction)
    check_float_input("var", input)
    axes = reduction_axes(input, dim, "var")
    return Var.apply(input, axes=axes, keepdim=keepdim, correction=correction, whole=dim is None or input.ndim == 0)


class Var(Function):
    """Variance over the given axes with a correction (Bessel's is 1).

    Lecture:  "Batch normalization" (the batch variance)
    Forward:  y = sum (x - mean)^2 / (n - correction)
    Backward: gx = gy * 2 (x - mean) / (n - correction)  (nan / inf where n <= correction, as PyTorch)
    Shapes:   x (*) -> y (* without axes, or 1 if keepdim)
    """

    def forward(self, x, axes, keepdim, correction, whole):
        n = reduced_size(x.shape, axes)
        with numpy.errstate(invalid="ignore", divide="ignore"):
            self.centered = x - x.mean(axis=axes, keepdims=True) if n else x
            scale = 1.0 / (n - correction) if n > correction else float("inf")  # torch gives inf/nan too
            y = (self.centered**2).sum(axis=axes, keepdims=keepdim) * scale
        # PyTorch's backward (var_backward): 2 / (n - c) along given dims, even where n - c <= 0; over
        # everything with n - c <= 0, nan where x equals the mean and inf elsewhere.
        self.grad_scale = 2.0 / (n - correction) if n != correction else float("inf")
        self.whole_undefined = whole and n <= correction
        self.axes, self.keepdim, self.x_shape = axes, keepdim, x.shape
        return backend.get_xp(x).asarray(y).astype(x.dtype, copy=False)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        gy = keep_dims(gy, self.x_shape, self.axes, self.keepdim)
        with numpy.errstate(invalid="ignore"):
            if self.whole_undefined:
                return (gy * xp.where(self.centered == 0, numpy.nan, numpy.inf)).astype(gy.dtype, copy=False)
            return gy * self.grad_scale * self.centered


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation sqrt(var), with var's call forms.

    Backward: through var and sqrt, gx_var = gy / (2 std), taken as 0 where std = 0 (as PyTorch:
    a constant input has no direction of steepest change, and 0 beats the nan of 0 / 0).
    """
    return SqrtOfVar.apply(var(input, dim, unbiased, keepdim, correction=correction))


class SqrtOfVar(Function):
    """The square root that turns Var into std, with std's gradient convention at 0.

    Lecture:  "Batch normalization"
    Forward:  y = sqrt(v)
    Backward: gv = gy / (2 y), 0 where y == 0
    Shapes:   v (*) -> y (*)
    """

    def forward(self, v):
        self.y = backend.get_xp(v).sqrt(v)
        return self.y

    def backward(self, gy):
        xp = backend.get_xp(gy)
        with numpy.errstate(divide="ignore", invalid="ignore"):
            return xp.where(self.y == 0, 0, gy / (2 * self.y)).astype(gy.dtype, copy=False)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over ``dim``, with var's call forms (torch.var_mean)."""
    dim, correction = variance_args("var_mean", dim, unbiased, keepdim, correction)
    return var(input, dim, keepdim=keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over ``dim``, with var's call forms (torch.std_mean)."""
    dim, correction = variance_args("std_mean", dim, unbiased, keepdim, correction)
    return std(input, dim, keepdim=keepdim, correction=correction), mean(input, dim, keepdim)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed stably as m + log(sum(exp(x - m))), m the maximum.

    Backward: gx = gy * softmax(x) along dim.  Integer inputs give float32; an empty sum gives -inf;
    dim=() reduces every dim (PyTorch raises a broadcast error for it unless keepdim or x is empty).
    """
    x = input if input.dtype.kind == "f" else input.to(numpy.float32)
    axes = reduction_axes(x, dim, "logsumexp")
    return LogSumExp.apply(x, axes=axes, keepdim=keepdim)


class LogSumExp(Function):
    """log sum exp over the given axes, shifted by the max so that nothing overflows.

    Lecture:  "Image classification" (the softmax normaliser)
    Forward:  y = m + log sum_{axes} e^(x - m), m = max_{axes} x
    Backward: gx = gy * e^(x - y)  (the softmax of x)
    Shapes:   x (*) -> y (* without axes, or 1 if keepdim)
    """

    def forward(self, x, axes, keepdim):
        xp = backend.get_xp(x)
        m = (
            x.max(axis=axes, keepdims=True)
            if x.size
            else xp.zeros([1 if i in axes else n for i, n in enumerate(x.shape)], x.dtype)
        )
        m = xp.where(xp.isfinite(m), m, 0)
        with numpy.errstate(divide="ignore"):
            y_keep = m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        self.x, self.y_keep, self.axes, self.keepdim = x, y_keep, axes, keepdim
        return y_keep if keepdim else y_keep.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        gy = keep_dims(gy, self.x.shape, self.axes, self.keepdim)
        return gy * backend.get_xp(gy).exp(self.x - self.y_keep)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over ``dim`` (all dims if None or ()), as torch.norm: p a number, inf, -inf or 'fro'.

    Forward:  y = (sum |x|^p)^(1/p); p = inf: max |x|; p = -inf: min |x|; p = 0: the number of non-zeros
    Backward: PyTorch's norm_backward: gx = gy x / y (p = 2), gy sign(x) (p = 1), gy sign(x) |x|^(p-1) / y^(p-1)
              (other p; 0 where y = 0), gy sign(x) split between the extreme entries (p = +-inf), 0 (p = 0)
    Raises:   DTypeError for an integer input; ShapeError for an inf or negative norm of nothing; ValueError for
              'nuc' (the nuclear norm of a matrix is not implemented).
    """
    x = _cast(input, dtype)
    check_float_input("norm", x)
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str):
        raise ValueError(fmt("norm", f"p={p!r} is not supported; use a number, inf, -inf or 'fro'", x=x))
    axes = reduction_axes(x, dim, "norm")
    if (numpy.isinf(p) or p < 0) and reduced_size(x.shape, axes) == 0:
        raise ShapeError(fmt("norm", f"cannot compute the {p} norm of an empty tensor (it has no identity)", x=x))
    return VectorNorm.apply(x, p=float(p), axes=axes, keepdim=keepdim)


class VectorNorm(Function):
    """p-norm over the given axes (p = 0, 1, 2, inf, -inf or any number).

    Lecture:  "MORE ON OPTIMIZATION" (gradient norms and weight decay)
    Forward:  y = (sum |x|^p)^(1/p); max |x| for inf
    Backward: gx = gy * sign(x) |x|^(p-1) / y^(p-1); inf: gy split among the maxima; p = 0: 0
    Shapes:   x (*) -> y (* without axes, or 1 if keepdim)
    """

    def forward(self, x, p, axes, keepdim):
        xp = backend.get_xp(x)
        a = xp.abs(x)
        if p == numpy.inf or p == -numpy.inf:
            y = a.max(axis=axes, keepdims=True) if p > 0 else a.min(axis=axes, keepdims=True)
        elif p == 0:
            y = (a != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        else:
            with numpy.errstate(divide="ignore", over="ignore"):
                y = (a**p).sum(axis=axes, keepdims=True) ** (1 / p)
        self.x, self.p, self.axes, self.keepdim, self.y_keep = x, p, axes, keepdim, y
        return y if keepdim else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(self, gy):
        xp = backend.get_xp(gy)
        x, p, y, axes = self.x, self.p, self.y_keep, self.axes
        gy = keep_dims(gy, x.shape, axes, self.keepdim)
        with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 0:
                return xp.zeros(x.shape, gy.dtype)
            if p == 1:
                return xp.sign(x) * gy
            if numpy.isinf(p):
                hit = (xp.abs(x) == y) | xp.isnan(x)  # the extreme entries share gy
                return xp.sign(x) * (gy / hit.sum(axis=axes, keepdims=True)) * hit
            scale = xp.where(y == 0, 0, gy / y ** (p - 1))
            if p == 2:
                return (x * scale).astype(gy.dtype, copy=False)
            scaled = xp.sign(x) * xp.abs(x) ** (p - 1)
            if p < 1:  # torch: |x|^(p-1) is taken as 0 at x = 0, and scaled by y^(1-p) without a mask
                return (xp.where(x == 0, 0, scaled) * gy * y ** (1 - p)).astype(gy.dtype, copy=False)
            return (scaled * scale).astype(gy.dtype, copy=False)
