"""Argument parsing shared by the tensor factories: sizes, numbers and the dtype a fill value implies.

PyTorch's factories read ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])`` and
``zeros(size=(2, 3))`` alike, take 0-d tensors wherever a number goes, and refuse floats
where an integer is needed.  These helpers say so once, with the project's error wording.
"""

import operator

import numpy

from .errors import ShapeError, fmt
from .tensor import Tensor

__all__ = ["sizes", "integer", "number"]


def sizes(op, size, kw):
    """The shape from ``*size`` (ints, or one tuple/list) or the ``size=`` keyword in ``kw``.

    Raises: TypeError for another keyword, both forms at once, or a non-integer size;
    ShapeError for a negative size.
    """
    extra = set(kw) - {"size"}
    if extra:
        raise TypeError(fmt(op, f"got an unexpected keyword argument {sorted(extra)[0]!r}"))
    if "size" in kw:
        if size:
            raise TypeError(fmt(op, "got multiple values for argument 'size'"))
        size = (kw["size"],)
    if not size:
        raise TypeError(fmt(op, "missing the required argument 'size'"))
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(integer(op, "size", s) for s in size)
    if any(s < 0 for s in shape):
        raise ShapeError(fmt(op, f"sizes must be non-negative, got {shape}"))
    return shape


def integer(op, name, value):
    """``value`` as a Python int: ints, numpy integers and one-element integer tensors (not bool, not float)."""
    if isinstance(value, (bool, numpy.bool_)) or (isinstance(value, Tensor) and value.dtype.kind not in "iu"):
        raise TypeError(fmt(op, f"{name} must be an int, got {value!r}"))
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(fmt(op, f"{name} must be an int, got {type(value).__name__} {value!r}")) from None


def number(op, name, value):
    """``value`` as a Python or numpy number; a 0-d tensor gives its value (ShapeError if it has dims)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(fmt(op, f"{name} must be a number or a 0-d tensor", **{name: value}))
        value = value.item()
    if isinstance(value, numpy.generic):
        value = value.item()
    if not isinstance(value, (bool, int, float)):
        raise TypeError(fmt(op, f"{name} must be a number, got {type(value).__name__}"))
    return value
