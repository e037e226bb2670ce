"""Elementwise arithmetic with broadcasting: + - * / ** neg exp log sqrt abs clamp where.

Lecture: "CNN refresher" (the computational graph that backpropagation runs over).
These are simple enough to stay as array code on both devices (``xp`` is numpy
or cupy); the activation functions have their own CUDA kernels in activation.py.

Broadcasting: when an input was broadcast to the output's shape in forward, its
gradient is summed back over the broadcast axes (``unbroadcast``), because every
copy of the input element contributed to the loss.
"""

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from ..tensor import Tensor

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clamp",
    "where",
    "maximum",
    "minimum",
    "compare",
    "unbroadcast",
]


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``g.shape``."""
    if tuple(g.shape) == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra > 0 else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _check_broadcast(op, a, b):
    try:
        return numpy.broadcast_shapes(numpy.shape(a), numpy.shape(b))
    except ValueError:
        raise ShapeError(
            fmt(
                op,
                "shapes cannot be broadcast together",
                a=a,
                b=b,
                hint="sizes must match or be 1, aligned from the right",
            )
        ) from None


def _binary(cls, op, a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape != b.shape:
        _check_broadcast(op, a, b)
    if not isinstance(a, Tensor):  # scalar or array on the left: make it a constant tensor
        a = Tensor._wrap(_like(a, b))
    if not isinstance(b, Tensor):
        b = _like(b, a) if hasattr(b, "shape") else b
    return cls.apply(a, b)


def _like(value, other):
    """A plain number stays a number (NumPy keeps the tensor's dtype); arrays move to other's device."""
    if isinstance(value, (int, float, bool)):
        return backend.get_xp(other.data).asarray(value, dtype=other.dtype)
    return backend.to_device(numpy.asarray(value) if not hasattr(value, "shape") else value, other.device)


def add(a, b):
    """a + b.  Backward: ga = gy, gb = gy (each summed over its broadcast axes)."""
    return _binary(Add, "add", a, b)


class Add(Function):
    """y = a + b."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = getattr(a, "shape", ()), getattr(b, "shape", ())
        return a + b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(gy, self.b_shape)


def sub(a, b):
    """a - b.  Backward: ga = gy, gb = -gy."""
    return _binary(Sub, "sub", a, b)


class Sub(Function):
    """y = a - b."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = getattr(a, "shape", ()), getattr(b, "shape", ())
        return a - b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(-gy, self.b_shape)


def mul(a, b):
    """a * b.  Backward: ga = gy * b, gb = gy * a."""
    return _binary(Mul, "mul", a, b)


class Mul(Function):
    """y = a * b."""

    saved_only_for = {"a": 1, "b": 0}  # a is read only for gb, b only for ga

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        ga = unbroadcast(gy * self.b, numpy.shape(self.a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * self.a, numpy.shape(self.b)) if self.needs_input_grad[1] else None
        return ga, gb


def div(a, b):
    """a / b.  Backward: ga = gy / b, gb = -gy * a / b^2."""
    return _binary(Div, "div", a, b)


class Div(Function):
    """y = a / b."""

    saved_only_for = {"a": 1}  # a is read only for gb; b for both

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = unbroadcast(gy / self.b, numpy.shape(self.a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(-gy * self.a / (self.b * self.b), numpy.shape(self.b)) if self.needs_input_grad[1] else None
        return ga, gb


def pow(a, exponent):
    """a ** exponent (either may be a tensor).

    Backward: ga = gy * p * a^(p-1);  gp = gy * a^p * log(a)  (a > 0 where gp is needed).
    """
    return _binary(Pow, "pow", a, exponent)


class Pow(Function):
    """y = a ** p."""

    saved_only_for = {"y": 1, "p": 0}  # y is read only for gp, p only for ga

    def forward(self, a, p):
        self.a, self.p = a, p
        self.y = a**p
        return self.y

    def backward(self, gy):
        xp = backend.get_xp(gy)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(gy * self.p * self.a ** (self.p - 1), numpy.shape(self.a))
        if self.needs_input_grad[1]:
            gb = unbroadcast(gy * self.y * xp.log(self.a), numpy.shape(self.p))
        return ga, gb


def neg(x):
    """-x.  Backward: gx = -gy."""
    return Neg.apply(x)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def exp(x):
    """e^x.  Backward: gx = gy * e^x (the output itself)."""
    return Exp.apply(x)


class Exp(Function):
    def forward(self, x):
        self.y = backend.get_xp(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


def log(x):
    """Natural logarithm.  Backward: gx = gy / x."""
    return Log.apply(x)


class Log(Function):
    def forward(self, x):
        self.x = x
        return backend.get_xp(x).log(x)

    def backward(self, gy):
        return gy / self.x


def sqrt(x):
    """Square root.  Backward: gx = gy / (2 sqrt(x))."""
    return Sqrt.apply(x)


class Sqrt(Function):
    def forward(self, x):
        self.y = backend.get_xp(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


def abs(x):
    """|x|.  Backward: gx = gy * sign(x) (0 at x = 0, as PyTorch)."""
    return Abs.apply(x)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return backend.get_xp(x).abs(x)

    def backward(self, gy):
        return gy * backend.get_xp(gy).sign(self.x)


def clamp(x, min=None, max=None):
    """Clip x to [min, max].  Backward: gx = gy where min <= x <= max, else 0."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(x, low=min, high=max)


class Clamp(Function):
    def forward(self, x, low, high):
        xp = backend.get_xp(x)
        self.inside = xp.ones(x.shape, dtype=bool)
        if low is not None:
            self.inside &= x >= low
        if high is not None:
            self.inside &= x <= high
        return xp.clip(x, low, high).astype(x.dtype, copy=False)

    def backward(self, gy):
        return gy * self.inside


def where(condition, a, b):
    """Pick a where condition holds, else b.  Backward: ga = gy * c, gb = gy * (1 - c)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(ref, Tensor):
        raise TypeError("where: at least one of a and b must be a Tensor")
    a = a if isinstance(a, Tensor) else Tensor._wrap(_like(a, ref))
    b = b if isinstance(b, Tensor) else Tensor._wrap(_like(b, ref))
    return Where.apply(a, b, condition=backend.to_device(cond, ref.device).astype(bool))


class Where(Function):
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


def maximum(a, b):
    """Elementwise max.  Backward: the gradient goes to the larger input (to a on ties)."""
    a_t = a if isinstance(a, Tensor) else Tensor._wrap(_like(a, b))
    b_t = b if isinstance(b, Tensor) else Tensor._wrap(_like(b, a))
    return where(a_t.data >= b_t.data, a_t, b_t)


def minimum(a, b):
    """Elementwise min.  Backward: the gradient goes to the smaller input (to a on ties)."""
    a_t = a if isinstance(a, Tensor) else Tensor._wrap(_like(a, b))
    b_t = b if isinstance(b, Tensor) else Tensor._wrap(_like(b, a))
    return where(a_t.data <= b_t.data, a_t, b_t)


_COMPARE = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}


def compare(a, b, how):
    """a == b, a < b, ... as a bool tensor (no gradient)."""
    left = a.data if isinstance(a, Tensor) else a
    right = b.data if isinstance(b, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        _check_broadcast(how, a, b)
    result = getattr(left, _COMPARE[how])(right)
    if result is NotImplemented:
        result = getattr(backend.get_xp(right).asarray(right), _COMPARE[how])(left)
    return Tensor._wrap(result)
