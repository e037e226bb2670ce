"""The integer arguments of conv, pooling and resampling (kernel_size, stride, padding, ...), checked once.

Lecture: "Convolutional neural networks - Convolution padding", "Convolution stride", "Pooling",
"Dilated convolution (a trous)".  No op math here.

PyTorch takes these as "an int or a tuple of d ints" and refuses a float, a bool, a tuple of the
wrong length and values out of range (kernel_size, stride and dilation >= 1; padding and
output_padding >= 0).  Every op and module that takes one calls ``int_tuple``, so that a bad
value always gets the same message: the op, the argument's name and the value that came, e.g.

    Conv2d: kernel_size must be a positive int or a tuple of 2 positive ints, got 0
"""

import numbers

from ..errors import DTypeError, ShapeError, fmt

__all__ = ["int_tuple", "is_int", "check_int"]


def is_int(value):
    """True for a Python or NumPy integer that is not a bool (PyTorch refuses True as a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def int_tuple(op, name, value, d, minimum=1, repeat_single=True):
    """An int or a sequence of d ints, each >= minimum -> a d-tuple of Python ints.

    Args:
        op: the op or module named in the message.  name: the argument's name.
        d: the number of spatial dims.  minimum: the smallest value allowed (1 for sizes and
            strides, 0 for paddings).  repeat_single: a 1-sequence stands for all d dims (pooling).
    Raises:
        DTypeError if a value is not an int (a float, a bool, a string);
        ShapeError if the sequence has the wrong length or a value is below minimum.
    """
    kind = {1: "positive int", 0: "non-negative int"}.get(minimum, f"int >= {minimum}")
    expected = f"a {kind} or a tuple of {d} {kind}s"
    if is_int(value):
        values = (value,) * d
    elif isinstance(value, (tuple, list)):
        values = tuple(value) * d if repeat_single and len(value) == 1 else tuple(value)
    else:
        raise DTypeError(fmt(op, f"{name} must be {expected}, got {value!r} ({type(value).__name__})"))
    if not all(is_int(v) for v in values):
        raise DTypeError(fmt(op, f"{name} must be {expected}, got {value!r}"))
    if len(values) != d or any(v < minimum for v in values):
        raise ShapeError(fmt(op, f"{name} must be {expected}, got {value!r}"))
    return tuple(int(v) for v in values)


def check_int(op, name, value, minimum=1):
    """One int >= minimum (groups, divisor_override, ...) -> int; DTypeError or ShapeError otherwise."""
    if not is_int(value):
        raise DTypeError(fmt(op, f"{name} must be an int >= {minimum}, got {value!r} ({type(value).__name__})"))
    if value < minimum:
        raise ShapeError(fmt(op, f"{name} must be an int >= {minimum}, got {value!r}"))
    return int(value)
