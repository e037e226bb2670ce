"""In-place changes of a Tensor (``x.add_(1)``, ``x[0] = 2``, ``x.zero_()``): the bodies of Tensor's ``*_`` methods.

They are not recorded in the graph.  Each one first checks that no gradient would be lost
(``check``), then writes into ``t.data``, then counts the change (``increment_version``), so
that a Function that saved this storage for backward refuses to run on the new values
(function.py explains the version counter).  As in PyTorch:

    x = tm.tensor([1., 2.]); w = tm.tensor([3., 4.], requires_grad=True)
    y = (x * w).sum()      # Mul saves x to compute dL/dw
    x.add_(10.)            # x's version: 0 -> 1
    y.backward()           # InplaceModifiedError: Mul saved 'a' at version 0; it is now at version 1
"""

import numpy

from . import backend
from .errors import ShapeError, fmt
from .function import increment_version, is_grad_enabled

__all__ = [
    "check",
    "zero_",
    "fill_",
    "copy_",
    "add_",
    "sub_",
    "mul_",
    "div_",
    "clamp_",
    "uniform_",
    "normal_",
    "setitem",
]


def check(t, name, other=None):
    """Raise RuntimeError if changing ``t`` in place (with ``other``) would lose a gradient.

    Outside ``no_grad()``: a leaf that requires grad may not change (PyTorch's rule), and since
    in-place ops are not recorded here, neither may a recorded result nor take a value that
    requires grad (PyTorch records those; tinygrad_med refuses instead of dropping the gradient).
    """
    if not is_grad_enabled():
        return
    if t.requires_grad and t._ctx is None:
        raise RuntimeError(
            fmt(
                name,
                "a leaf tensor that requires grad is being used in an in-place operation",
                hint="wrap the change in `with tm.no_grad():` (as optimizers do)",
            )
        )
    if t._ctx is not None or getattr(other, "requires_grad", False):
        raise RuntimeError(
            fmt(
                name,
                "in-place ops are not recorded in the graph, and this one involves a tensor that requires grad",
                hint="use the out-of-place op (y = y + 1), or wrap the change in `with tm.no_grad():`",
            )
        )


def _raw(value):
    return value.data if hasattr(value, "requires_grad") else value


def _done(t):
    increment_version(t.data)
    return t


def zero_(t):
    """t <- 0."""
    check(t, "zero_")
    t.data[...] = 0
    return _done(t)


def fill_(t, value):
    """t <- value (a number or a one-element tensor)."""
    check(t, "fill_", value)
    t.data[...] = _raw(value)
    return _done(t)


def copy_(t, source):
    """t <- source (same shape, or a scalar), moved to t's device and cast to t's dtype."""
    src = _raw(source)
    if tuple(numpy.shape(src)) != t.shape and numpy.ndim(src) > 0:
        raise ShapeError(fmt("copy_", "source and destination shapes differ", self=t, source=src))
    check(t, "copy_", source)
    t.data[...] = backend.to_device(src, t.device) if hasattr(src, "shape") else src
    return _done(t)


def add_(t, other, alpha=1):
    """t <- t + alpha * other."""
    check(t, "add_", other)
    t.data += alpha * _raw(other)
    return _done(t)


def sub_(t, other, alpha=1):
    """t <- t - alpha * other."""
    check(t, "sub_", other)
    t.data -= alpha * _raw(other)
    return _done(t)


def mul_(t, other):
    """t <- t * other."""
    check(t, "mul_", other)
    t.data *= _raw(other)
    return _done(t)


def div_(t, other):
    """t <- t / other."""
    check(t, "div_", other)
    t.data /= _raw(other)
    return _done(t)


def clamp_(t, min=None, max=None):
    """t <- min(max(t, min), max); either bound may be None."""
    if min is None and max is None:
        raise ValueError(fmt("clamp_", "at least one of min and max must be given"))
    check(t, "clamp_")
    backend.get_xp(t.data).clip(t.data, min, max, out=t.data)
    return _done(t)


def uniform_(t, low=0.0, high=1.0):
    """t <- samples of U(low, high) from the device's generator."""
    from . import random

    check(t, "uniform_")
    t.data[...] = random.generator(t.device).uniform(low, high, t.shape).astype(t.dtype)
    return _done(t)


def normal_(t, mean=0.0, std=1.0):
    """t <- samples of N(mean, std^2) from the device's generator."""
    from . import random

    check(t, "normal_")
    t.data[...] = random.generator(t.device).normal(mean, std, t.shape).astype(t.dtype)
    return _done(t)


def setitem(t, index, value):
    """t[index] <- value (Tensor.__setitem__)."""
    check(t, "__setitem__", value)
    t.data[_raw(index)] = _raw(value)
    _done(t)
