"""Ops that pick between values: where, maximum, minimum, clamp (clip), fill, and the comparisons.

Lecture: "Convolutional neural networks - Activation function" (ReLU is max(x, 0): the gradient
goes to the input that was picked) and "CNN refresher" (the computational graph).
Backward: gy goes to whichever input supplied the output element; where two inputs tie, PyTorch
splits gy between them in half (maximum, minimum), and clamp sends it to x inside [min, max] and to
the bound that was hit outside.  dtypes promote as in PyTorch (ops/promotion.py).
"""

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .arithmetic import check_broadcast, unbroadcast
from .promotion import as_operands, result_type

__all__ = ["where", "maximum", "minimum", "clamp", "clip", "fill", "compare"]


def _operands(op, *values):
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    if ref is None:
        raise TypeError(fmt(op, "expected at least one Tensor operand"))
    shaped = [v for v in values if hasattr(v, "shape")]
    for v in shaped[1:]:
        check_broadcast(op, shaped[0], v)
    return as_operands(result_type(*values), ref, *values)


def where(condition, input, other):
    """Pick input where condition holds, else other.  Backward: g_input = gy * c, g_other = gy * (1 - c)."""
    a, b = _operands("where", input, other)
    cond = condition.data if isinstance(condition, Tensor) else condition
    ref = a if isinstance(a, Tensor) else b
    a = a if isinstance(a, Tensor) else Tensor._wrap(a)
    b = b if isinstance(b, Tensor) else Tensor._wrap(b)
    return Where.apply(a, b, condition=backend.to_device(cond, ref.device).astype(bool))


class Where(Function):
    """Elementwise choice between a and b by a boolean condition.

    Lecture:  "Convolutional neural networks - Activation function" (ReLU is such a choice)
    Forward:  y = where(c, a, b)
    Backward: ga = unbroadcast(where(c, gy, 0)), gb = unbroadcast(where(c, 0, gy)); none for c
    Shapes:   a, b, c broadcastable -> y (broadcast shape)
    """

    def forward(self, a, b, condition):
        self.c, self.a_shape, self.b_shape = condition, a.shape, b.shape
        return backend.get_xp(a).where(condition, a, b)

    def backward(self, gy):
        zero = gy.dtype.type(0)
        xp = backend.get_xp(gy)
        return (
            unbroadcast(xp.where(self.c, gy, zero), self.a_shape),
            unbroadcast(xp.where(self.c, zero, gy), self.b_shape),
        )


def maximum(input, other):
    """Elementwise max (nan if either is nan).  Backward: gy to the larger input, split in half on ties.

    Raises: TypeError unless both are tensors (as torch.maximum; use clamp for a number).
    """
    _check_tensors("maximum", input, other)
    return Extremum.apply(*_operands("maximum", input, other), larger=True)


def minimum(input, other):
    """Elementwise min (nan if either is nan).  Backward: gy to the smaller input, split in half on ties."""
    _check_tensors("minimum", input, other)
    return Extremum.apply(*_operands("minimum", input, other), larger=False)


def _check_tensors(op, *values):
    for value in values:
        if not isinstance(value, Tensor):
            raise TypeError(
                fmt(op, f"expected Tensor arguments, got {type(value).__name__}", hint="use clamp for a number")
            )


class Extremum(Function):
    """y = max(a, b) or min(a, b); PyTorch's backward: where(a == b, gy / 2, gy), zero for the loser.

    Lecture:  "Convolutional neural networks - Activation function" (ReLU is max(x, 0))
    Forward:  y = max(a, b) (or min(a, b))
    Backward: the winner gets gy, the loser 0; on a tie each gets gy / 2
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    def forward(self, a, b, larger):
        xp = backend.get_xp(a)
        self.a, self.b, self.larger = a, b, larger
        return (xp.maximum if larger else xp.minimum)(a, b)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        half = xp.where(self.a == self.b, gy / 2, gy)
        a_lost, b_lost = (self.a < self.b, self.a > self.b) if self.larger else (self.a > self.b, self.a < self.b)
        return (
            unbroadcast(xp.where(a_lost, 0, half).astype(gy.dtype, copy=False), numpy.shape(self.a)),
            unbroadcast(xp.where(b_lost, 0, half).astype(gy.dtype, copy=False), numpy.shape(self.b)),
        )


def clamp(input, min=None, max=None):
    """Clip input to [min, max]; min and max may be numbers or tensors (broadcast), one may be None.

    Forward:  y = min(max(x, lo), hi)  (so y = hi where lo > hi, as PyTorch)
    Backward: gx = gy where lo <= x <= hi; g_lo = gy where x < lo < hi; g_hi = gy where x > hi or hi < lo
              (the bound that gave the output gets gy, as PyTorch).
    Raises:   ValueError if both min and max are None.
    """
    if min is None and max is None:
        raise ValueError(fmt("clamp", "at least one of min and max must not be None"))
    return Clamp.apply(*_operands("clamp", input, min, max))


clip = clamp


class Clamp(Function):
    """y = min(max(x, lo), hi); PyTorch's backward (clamp_backward_min_max), the exact derivative.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = min(max(x, lo), hi)
    Backward: gx = gy where lo <= x <= hi; g lo = gy where x < lo; g hi = gy where x > hi (else 0)
    Shapes:   x, lo, hi broadcastable -> y (broadcast shape)
    """

    def forward(self, x, low, high):
        xp = backend.get_xp(x)
        y = x if low is None else xp.maximum(x, low)
        y = y if high is None else xp.minimum(y, high)
        self.x, self.low, self.high = x, low, high
        return xp.asarray(y)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        x, low, high = self.x, self.low, self.high

        def where(mask, shape):
            return unbroadcast(xp.where(mask, gy, 0).astype(gy.dtype, copy=False), shape)

        inside = xp.logical_and(True if low is None else x >= low, True if high is None else x <= high)
        below = None if low is None else x < low if high is None else (x < low) & (low < high)
        above = None if high is None else x > high if low is None else (x > high) | (high < low)
        return (
            where(inside, numpy.shape(x)),
            where(below, numpy.shape(low)) if self.needs_input_grad[1] else None,
            where(above, numpy.shape(high)) if self.needs_input_grad[2] else None,
        )


def fill(input, value):
    """A new tensor of input's shape and dtype filled with value (torch.fill); value a number or 0-d tensor.

    Backward: g_input = 0 (the output does not depend on input's values); g_value = sum of gy.
    Raises:   ShapeError for a value tensor with dims.
    """
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ShapeError(fmt("fill", "only a 0-d value tensor can fill a tensor", value=value))
    if isinstance(value, Tensor) and value.dtype != input.dtype:
        value = value.to(input.dtype)
    return Fill.apply(input, value)


class Fill(Function):
    """Every element set to one value (a tensor value is differentiable).

    Lecture:  "CNN refresher"
    Forward:  y[i] = value
    Backward: gx = 0, g value = sum_i gy[i]
    Shapes:   x (*), value () -> y (*)
    """

    def forward(self, x, value):
        self.x_shape = x.shape
        return backend.get_xp(x).full(x.shape, value, dtype=x.dtype)

    def backward(self, gy):
        return backend.get_xp(gy).zeros(self.x_shape, gy.dtype), gy.sum()


_COMPARE = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}


def compare(a, b, how):
    """a == b, a < b, ... as a bool tensor (no gradient)."""
    left = a.data if isinstance(a, Tensor) else a
    right = b.data if isinstance(b, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        check_broadcast(how, a, b)
    result = getattr(left, _COMPARE[how])(right)
    if result is NotImplemented:
        result = getattr(backend.get_xp(right).asarray(right), _COMPARE[how])(left)
    return Tensor._wrap(result)
