"""PyTorch's type promotion for elementwise ops with two or more operands.

Lecture: "CNN refresher" (the computational graph; a cast is one more node whose backward casts gy back).
NumPy and PyTorch disagree on mixed dtypes: int64 array * 2.5 is float64 in NumPy and float32 in
PyTorch; a float32 tensor plus a 0-d float64 tensor stays float32 in PyTorch.  PyTorch's rule
(torch.result_type): operands come in three ranks, tensors with dims, 0-d tensors, and Python
numbers; within a rank the dtypes promote as usual (bool < integers < floats, wider wins); a
lower rank changes the result only if it is of a higher category (bool, integer, float), and
then a Python float gives the default float32, a Python int int64.
"""

import numpy

from .. import backend
from ..tensor import Tensor

__all__ = ["result_type", "promote_types", "as_operands", "scalar_dtype"]

_DEFAULT_FLOAT = numpy.dtype(numpy.float32)


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2}[numpy.dtype(dtype).kind]


def promote_types(a, b):
    """The smallest dtype that holds both (torch.promote_types): an integer with a float gives the float."""
    if a is None or b is None:
        return a if b is None else b
    a, b = numpy.dtype(a), numpy.dtype(b)
    if _category(a) != _category(b) and 2 in (_category(a), _category(b)):
        return a if _category(a) == 2 else b
    return numpy.promote_types(a, b)


def _combine(higher, lower):
    """A lower-rank result counts only where it is of a higher category (torch's combine_categories)."""
    if higher is None:
        return lower
    if lower is not None and _category(lower) > _category(higher):
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value):
    """PyTorch's dtype for a Python number: bool -> bool, int -> int64, float -> float32 (the default)."""
    if isinstance(value, (bool, numpy.bool_)):
        return numpy.dtype(bool)
    if isinstance(value, (int, numpy.integer)):
        return numpy.dtype(numpy.int64)
    return _DEFAULT_FLOAT


def result_type(*operands):
    """The dtype PyTorch gives an elementwise op on ``operands`` (Tensors, arrays, Python or NumPy numbers)."""
    ranked = [None, None, None]  # dims, 0-d, numbers
    for value in operands:
        if value is None:
            continue
        if isinstance(value, Tensor) or (hasattr(value, "shape") and not isinstance(value, numpy.generic)):
            rank, dtype = (0 if value.ndim else 1), value.dtype
        else:
            rank, dtype = 2, scalar_dtype(value)
        ranked[rank] = promote_types(ranked[rank], dtype)
    return _combine(ranked[0], _combine(ranked[1], ranked[2]))


def as_operands(dtype, ref, *operands):
    """Each operand in ``dtype`` on ref's device: Tensors cast with a differentiable .to, anything
    else a constant array (None stays None)."""
    out = []
    for value in operands:
        if value is None or isinstance(value, Tensor):
            out.append(value if value is None or value.dtype == dtype else value.to(dtype))
        else:
            array = value if hasattr(value, "shape") else numpy.asarray(value)
            out.append(backend.to_device(array, ref.device).astype(dtype, copy=False))
    return out
