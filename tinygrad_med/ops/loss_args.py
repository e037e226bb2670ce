"""Arguments and reductions shared by the losses (ops/loss.py and ops/cross_entropy.py).

Lecture: every training slide ends in a loss; "CNN refresher" (backpropagation from the loss).
No op math here: the loss functions call these before doing any work, so that bad input gets a
message naming the op, the expected layout and what came, and every loss reduces the same way.

Reductions (PyTorch's): 'none' keeps one loss per element; 'sum' adds them; 'mean' divides the
sum by the number of elements (class-index targets and kl_div's 'batchmean' divide otherwise:
see cross_entropy.py and loss.py).
"""

from ..errors import DeviceError, DTypeError, fmt
from ..tensor import Tensor

__all__ = ["REDUCTIONS", "reduce_loss", "check_reduction", "is_float", "describe", "check_float", "same_device"]

REDUCTIONS = ("none", "mean", "sum")


def reduce_loss(loss, reduction):
    """'none' -> loss itself; 'sum' -> its sum (0 if empty); 'mean' -> its mean (nan if empty, as PyTorch)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.numel() == 0:  # the mean of no element: 0 / 0
        return loss.sum() * float("nan")
    return loss.mean()


def check_reduction(op, reduction, allowed=REDUCTIONS):
    """Raise ValueError naming op unless reduction is one of allowed."""
    if reduction not in allowed:
        raise ValueError(fmt(op, f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}"))


def is_float(t):
    """True for a Tensor of a float dtype."""
    return isinstance(t, Tensor) and t.dtype.kind == "f"


def describe(value):
    """'dtype float32' for a Tensor, else the type's name: for messages about a wrong argument."""
    return f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__


def check_float(op, name, value, hint=None):
    """Raise DTypeError naming op and name unless value is a float Tensor."""
    if not is_float(value):
        raise DTypeError(fmt(op, f"{name} must be a float tensor, got {describe(value)}", hint=hint))


def same_device(op, a, b):
    """Raise DeviceError unless input a and target (or weight) b are on the same device."""
    if a.device != b.device:
        raise DeviceError(
            fmt(op, f"input is on {a.device} but target is on {b.device}", hint=f"move target with .to('{a.device}')")
        )
