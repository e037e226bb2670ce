"""The input check shared by the activation functions (ops/activation.py) and softmax (ops/softmax.py).

Lecture: "Convolutional neural networks - Activation function".  No op math here: each public
activation calls this before doing any work, so that a non-tensor or an integer tensor gets the
same message naming the op, what came and how to fix it.
"""

from ..errors import DTypeError, fmt
from ..tensor import Tensor

__all__ = ["check_float"]


def check_float(op, x):
    """Raise TypeError unless x is a Tensor, DTypeError unless its dtype is a float one."""
    if not isinstance(x, Tensor):
        raise TypeError(fmt(op, f"expected a Tensor, got {type(x).__name__}", hint="wrap it with tm.tensor(...)"))
    if x.dtype.kind != "f":
        raise DTypeError(
            fmt(op, f"expected a float tensor, got dtype {x.dtype}", x=x, hint="convert it with x.float()")
        )
