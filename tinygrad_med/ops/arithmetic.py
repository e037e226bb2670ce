"""Elementwise arithmetic with broadcasting: + - * / ** neg exp log sqrt abs (clamp where maximum in select.py).

Lecture: "CNN refresher" (the computational graph that backpropagation runs over).
These are simple enough to stay as array code on both devices (``xp`` is numpy
or cupy); the activation functions have their own CUDA kernels in activation.py.

Broadcasting: when an input was broadcast to the output's shape in forward, its
gradient is summed back over the broadcast axes (``unbroadcast``), because every
copy of the input element contributed to the loss.

dtypes follow PyTorch (ops/promotion.py): an int64 tensor times 2.5 is float32, true division
of integers is float32, exp/log/sqrt of integers are float32; casts are graph nodes, so the
gradient reaches each input in its own dtype.
"""

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .promotion import as_operands, result_type

__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "floor_divide",
    "true_divide",
    "neg",
    "pow",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clamp",
    "clip",
    "where",
    "maximum",
    "minimum",
    "fill",
    "compare",
    "unbroadcast",
    "check_broadcast",
]

_FLOAT = numpy.dtype(numpy.float32)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``g.shape``."""
    if tuple(g.shape) == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra > 0 else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def check_broadcast(op, a, b):
    """The broadcast shape of a and b, or ShapeError naming the op and both shapes."""
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


def _binary(cls, op, a, b, dtype=None):
    """Run ``cls`` on a and b in PyTorch's promoted dtype (or ``dtype``); numbers become constants."""
    if dtype is None and _same_float(a, b):  # the common case, where promotion changes nothing (measured: 1.4x
        return cls.apply(*_constants_like(a, b, op))  # less per-op overhead on a chain of scalar adds)
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(ref, Tensor):
        raise TypeError(fmt(op, f"expected a Tensor operand, got {type(a).__name__} and {type(b).__name__}"))
    if hasattr(a, "shape") and hasattr(b, "shape") and tuple(a.shape) != tuple(b.shape):
        check_broadcast(op, a, b)
    a, b = as_operands(dtype or result_type(a, b), ref, a, b)
    return cls.apply(a, b)


def _same_float(a, b):
    """True when PyTorch's promotion keeps the tensor's dtype without a cast: two tensors of one float dtype, or
    a float tensor with a Python int or float (a lower-rank number never widens a float tensor)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.dtype == b.dtype and a.dtype.kind == "f"
    tensor, number = (a, b) if isinstance(a, Tensor) else (b, a)
    return isinstance(tensor, Tensor) and tensor.dtype.kind == "f" and type(number) in (int, float)


def _constants_like(a, b, op):
    """(a, b) ready for the op: two tensors' shapes checked; a Python number passes as it is (NumPy and CuPy keep
    the float tensor's dtype with a Python number, NEP 50), which is cheaper than a 0-d array."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape != b.shape:
        check_broadcast(op, a, b)
    return a, b


def _floating(x):
    """Integer and bool inputs of a floating-point function are cast to float32 first, as in PyTorch."""
    return x if x.dtype.kind == "f" else x.to(_FLOAT)


def _alpha_binary(cls, op, input, other, alpha):
    """input (+ or -) alpha * other, with alpha applied in the result dtype (PyTorch's add/sub)."""
    if alpha == 1:
        return _binary(cls, op, input, other)
    dtype = result_type(input, other)
    if dtype.kind in "biu" and not isinstance(alpha, (int, numpy.integer)):
        raise DTypeError(fmt(op, f"alpha must not be a floating point number for integer inputs, got {alpha!r}"))
    ref = input if isinstance(input, Tensor) else other
    input, other = as_operands(dtype, ref, input, other)
    if dtype.kind == "b":  # alpha * other in bool: other itself, or nothing
        return _binary(cls, op, input, other if alpha else False, dtype)
    other = mul(other, alpha) if isinstance(other, Tensor) else (other * alpha).astype(dtype, copy=False)
    return _binary(cls, op, input, other, dtype)


def add(input, other, *, alpha=1):
    """input + alpha * other (torch.add).  Backward: g_input = gy, g_other = alpha gy (each summed
    over its broadcast axes)."""
    return _alpha_binary(Add, "add", input, other, alpha)


class Add(Function):
    """y = a + b.

    Lecture:  "CNN refresher" (the computational graph backpropagation runs over)
    Forward:  y = a + b (broadcast)
    Backward: ga = unbroadcast(gy), gb = unbroadcast(gy)  (sum over the broadcast dims)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    def forward(self, a, b):
        self.a_shape, self.b_shape = getattr(a, "shape", ()), getattr(b, "shape", ())
        return a + b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(gy, self.b_shape)


def sub(input, other, *, alpha=1):
    """input - alpha * other (torch.sub).  Backward: g_input = gy, g_other = -alpha gy."""
    if any(
        isinstance(v, (bool, numpy.bool_)) or getattr(getattr(v, "dtype", None), "kind", "") == "b"
        for v in (input, other)
    ):
        raise DTypeError(fmt("sub", "subtraction of bool tensors is not supported", hint="use ^ or logical_xor"))
    return _alpha_binary(Sub, "sub", input, other, alpha)


class Sub(Function):
    """y = a - b.

    Lecture:  "CNN refresher"
    Forward:  y = a - b (broadcast)
    Backward: ga = unbroadcast(gy), gb = unbroadcast(-gy)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    def forward(self, a, b):
        self.a_shape, self.b_shape = getattr(a, "shape", ()), getattr(b, "shape", ())
        return a - b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(-gy, self.b_shape)


def mul(a, b):
    """a * b.  Backward: ga = gy * b, gb = gy * a."""
    return _binary(Mul, "mul", a, b)


class Mul(Function):
    """y = a * b.

    Lecture:  "CNN refresher"
    Forward:  y = a * b (broadcast)
    Backward: ga = unbroadcast(gy * b), gb = unbroadcast(gy * a)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    saved_only_for = {"a": 1, "b": 0}  # a is read only for gb, b only for ga

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        ga = unbroadcast(gy * self.b, numpy.shape(self.a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(gy * self.a, numpy.shape(self.b)) if self.needs_input_grad[1] else None
        return ga, gb


def div(input, other, *, rounding_mode=None):
    """input / other (torch.div): true division (integers give float32), or rounded with
    rounding_mode 'trunc' (toward zero) or 'floor' (toward -inf), in the operands' dtype.

    Backward: ga = gy / b, gb = -gy * a / b^2; rounded division has zero gradient (a step function).
    Raises:   ValueError for another rounding_mode, or an integer division by zero.
    """
    if rounding_mode is None:
        dtype = result_type(input, other)
        return _binary(Div, "div", input, other, dtype if dtype.kind == "f" else _FLOAT)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(fmt("div", f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"))
    _check_not_bool("div", input, other)
    return _binary(RoundedDiv if rounding_mode == "floor" else TruncDiv, "div", input, other)


class Div(Function):
    """y = a / b.

    Lecture:  "CNN refresher"
    Forward:  y = a / b (broadcast; x / 0 is +-inf or nan, as PyTorch)
    Backward: ga = unbroadcast(gy / b), gb = unbroadcast(-gy * a / b^2)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    saved_only_for = {"a": 1}  # a is read only for gb; b for both

    def forward(self, a, b):
        self.a, self.b = a, b
        with numpy.errstate(divide="ignore", invalid="ignore"):  # x / 0 gives +-inf or nan, as PyTorch
            return a / b

    def backward(self, gy):
        ga = unbroadcast(gy / self.b, numpy.shape(self.a)) if self.needs_input_grad[0] else None
        gb = unbroadcast(-gy * self.a / (self.b * self.b), numpy.shape(self.b)) if self.needs_input_grad[1] else None
        return ga, gb


class RoundedDiv(Function):
    """y = floor(a / b); a step function of a and b, so both gradients are zero.

    Lecture:  "CNN refresher"
    Forward:  y = floor(a / b) (trunc(a / b) in TruncDiv); integer division by 0 raises
    Backward: ga = gb = 0 (a step function of a and b)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    def forward(self, a, b):
        xp = backend.get_xp(a)
        self.shapes = numpy.shape(a), numpy.shape(b)
        if xp.asarray(a).dtype.kind in "biu" and not xp.all(xp.asarray(b) != 0):
            raise ValueError(fmt("div", "integer division by zero"))
        with numpy.errstate(divide="ignore", invalid="ignore"):  # float x / 0 gives +-inf or nan, as PyTorch
            return xp.asarray(xp.floor_divide(a, b) if self.rounding == "floor" else _trunc_divide(xp, a, b))

    rounding = "floor"

    def backward(self, gy):
        xp = backend.get_xp(gy)
        return tuple(xp.zeros(shape, gy.dtype) for shape in self.shapes)


def true_divide(input, other):
    """input / other, always true division (torch.true_divide, the alias of div with no rounding_mode)."""
    return div(input, other)


def floor_divide(input, other):
    """input // other, rounded toward -inf (torch.floor_divide).

    Backward: PyTorch defines none for floor_divide (div(..., rounding_mode='floor') has the zero
    gradient), so backward through it raises RuntimeError here too.
    """
    _check_not_bool("floor_divide", input, other)
    return _binary(FloorDivide, "floor_divide", input, other)


def _check_not_bool(op, input, other):
    if result_type(input, other).kind == "b":
        raise DTypeError(fmt(op, "rounded division of bool values is not supported", hint="cast with .long() first"))


class FloorDivide(RoundedDiv):
    """y = floor(a / b), with no derivative defined (non-differentiable: backward raises, as PyTorch).

    Lecture:  "CNN refresher"
    Forward:  y = floor(a / b); integer division by 0 raises
    Backward: none: calling it raises RuntimeError (use div(a, b, rounding_mode='floor'), whose gradients are 0)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    def backward(self, gy):
        raise RuntimeError(
            "floor_divide: the derivative is not implemented (as in PyTorch); use div(a, b, rounding_mode='floor')"
        )


class TruncDiv(RoundedDiv):
    """y = trunc(a / b), rounded toward zero.

    Lecture:  "CNN refresher"
    Forward:  y = trunc(a / b); integer division by 0 raises
    Backward: ga = gb = 0 (a step function of a and b)
    Shapes:   a, b broadcastable -> y (broadcast shape)
    """

    rounding = "trunc"


def _trunc_divide(xp, a, b):
    if xp.asarray(a).dtype.kind == "f":
        return xp.trunc(a / b)
    q = xp.abs(a) // xp.abs(b)  # integers: exact, no float round trip
    return xp.where((xp.asarray(a) < 0) != (xp.asarray(b) < 0), -q, q)


def pow(input, exponent):
    """input ** exponent (either may be a tensor).

    Backward: ga = gy * p * a^(p-1);  gp = gy * a^p * log(a), 0 where a = 0 and p >= 0 (as PyTorch).
    Integers to negative tensor powers truncate as in PyTorch (1, +-1 for a base of -1, else 0).
    Raises:   ValueError for an integer tensor to a negative integer number; DTypeError for bool ** bool tensor.
    """
    dtype = result_type(input, exponent)
    if dtype.kind in "iu" and not isinstance(exponent, Tensor) and numpy.any(numpy.asarray(exponent) < 0):
        raise ValueError(fmt("pow", "integers to negative integer powers are not allowed"))
    if dtype.kind == "b" and isinstance(exponent, Tensor):
        raise DTypeError(fmt("pow", "bool ** bool tensor is not supported", hint="cast with .long() first"))
    return _binary(Pow, "pow", input, exponent, dtype)


class Pow(Function):
    """y = a ** p.

    Lecture:  "CNN refresher"
    Forward:  y = a^p (broadcast; integer a uses exact integer powers)
    Backward: ga = unbroadcast(gy * p * a^(p-1)), gp = unbroadcast(gy * y * log a), 0 where a == 0 and p >= 0
    Shapes:   a, p broadcastable -> y (broadcast shape)
    """

    saved_only_for = {"y": 1, "p": 0}  # y is read only for gp, p only for ga

    def forward(self, a, p):
        xp = backend.get_xp(a)
        self.a, self.p = a, p
        with numpy.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, (-1) ** 0.5 = nan
            if xp.asarray(a).dtype.kind in "biu":
                self.y = _integer_pow(xp, a, p)
            else:
                self.y = a**p
        return self.y

    def backward(self, gy):
        xp = backend.get_xp(gy)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(gy * self.p * self.a ** (self.p - 1), numpy.shape(self.a))
        if self.needs_input_grad[1]:
            with numpy.errstate(divide="ignore", invalid="ignore"):
                gp = gy * self.y * xp.log(self.a)
            gp = xp.where((self.a == 0) & (self.p >= 0), 0, gp).astype(gy.dtype, copy=False)
            gb = unbroadcast(gp, numpy.shape(self.p))
        return ga, gb


def _integer_pow(xp, a, p):
    """a ** p for integers, with PyTorch's truncation for negative p: 1 ** p = 1, (-1) ** p = +-1, else 0."""
    dtype = xp.result_type(a, p)
    y = (xp.asarray(a) ** xp.maximum(p, 0)).astype(dtype, copy=False)
    if dtype.kind == "b" or not xp.any(xp.asarray(p) < 0):
        return y
    odd = xp.asarray(p) % 2 == 1
    inverse = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0)).astype(dtype)
    return xp.where(xp.asarray(p) < 0, inverse, y)


def neg(x):
    """-x.  Backward: gx = -gy.  Raises DTypeError for a bool x (PyTorch: use ~ instead)."""
    if x.dtype == bool:
        raise DTypeError(fmt("neg", "negation of a bool tensor is not supported", hint="use ~ or logical_not"))
    return Neg.apply(x)


class Neg(Function):
    """Negation, y = -x.

    Lecture:  "CNN refresher"
    Forward:  y = -x
    Backward: gx = -gy
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def exp(x):
    """e^x.  Backward: gx = gy * e^x (the output itself)."""
    return Exp.apply(_floating(x))


class Exp(Function):
    """Exponential; saves y, since (e^x)' = e^x.

    Lecture:  "CNN refresher"
    Forward:  y = e^x
    Backward: gx = gy * y
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        self.y = backend.get_xp(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


def log(x):
    """Natural logarithm.  Backward: gx = gy / x."""
    return Log.apply(_floating(x))


class Log(Function):
    """Natural logarithm; saves x.

    Lecture:  "CNN refresher"
    Forward:  y = log x
    Backward: gx = gy / x
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        self.x = x
        return backend.get_xp(x).log(x)

    def backward(self, gy):
        return gy / self.x


def sqrt(x):
    """Square root.  Backward: gx = gy / (2 sqrt(x))."""
    return Sqrt.apply(_floating(x))


class Sqrt(Function):
    """Square root; saves y.

    Lecture:  "CNN refresher"
    Forward:  y = sqrt(x)
    Backward: gx = gy / (2 y)
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        self.y = backend.get_xp(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


def abs(x):
    """|x|.  Backward: gx = gy * sign(x) (0 at x = 0, as PyTorch).  Raises DTypeError for bool (as PyTorch)."""
    if x.dtype.kind == "b":
        raise DTypeError(fmt("abs", "abs of a bool tensor is not supported", x=x))
    return Abs.apply(x)


class Abs(Function):
    """Absolute value; saves x.

    Lecture:  "CNN refresher"
    Forward:  y = |x|
    Backward: gx = gy * sign(x)  (0 at x = 0, as PyTorch)
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        self.x = x
        return backend.get_xp(x).abs(x)

    def backward(self, gy):
        return gy * backend.get_xp(gy).sign(self.x)


# Imported last: select.py uses _binary's helpers from promotion.py and unbroadcast from here.
from .select import clamp, clip, compare, fill, maximum, minimum, where  # noqa: E402
