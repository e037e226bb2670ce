"""Errors raised on bad input, and the one helper that words their messages.

Every public op validates its arguments before doing any work and raises one of
these.  They subclass the built-in ValueError / TypeError so that code written
for NumPy or PyTorch still catches them.  A message always names the op, what
was expected and what came, e.g.

    conv2d: x has 3 channels but W expects 4 (x.shape=(8, 3, 32, 32) as (N, C, H, W); ...)
"""

__all__ = [
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "KernelError",
    "CheckpointError",
    "DataError",
    "IndexRangeError",
    "InplaceModifiedError",
    "AnomalyError",
    "UnknownNameError",
    "fmt",
]


class ShapeError(ValueError):
    """A tensor has the wrong number of dimensions or the wrong size along one."""


class IndexRangeError(ShapeError, IndexError):
    """An index past a dimension's size: a ShapeError that is also an IndexError, as Python's sequence protocol
    and PyTorch expect."""


class DTypeError(TypeError):
    """A tensor has a dtype the op cannot take (e.g. an integer tensor into a differentiable op)."""


class DeviceError(RuntimeError):
    """Tensors on different devices were mixed, or a device is not available."""


class KernelError(RuntimeError):
    """A CUDA kernel could not be found, compiled or launched with the given arguments."""


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, is missing a key, or holds an array of the wrong shape."""


class InplaceModifiedError(RuntimeError):
    """A value saved for backward was changed in place between forward and backward (PyTorch raises too)."""


class AnomalyError(RuntimeError):
    """Under ``tm.autograd.detect_anomaly()``: an op's forward or backward produced a NaN or an infinity."""


class DataError(ValueError):
    """A data file (``--data-path``, an image to predict on) is unreadable or holds values the loader cannot use."""


class UnknownNameError(ValueError):
    """A model, dataset, objective or optimizer name that is not registered; the message lists the valid names."""


def fmt(op, problem, hint=None, **arrays):
    """Build an error message in the project's one wording.

    Args:
        op: the public name of the op or function ("conv2d", "Tensor.backward").
        problem: what is wrong, in words ("x has 3 channels but W expects 4").
        hint: optional advice on how to fix it ("move gamma with .to('cuda')").
        **arrays: name=value pairs; a value with a ``.shape`` is shown by its shape,
            a (shape, layout) tuple as "shape as layout", anything else with repr.

    Returns:
        "op: problem (name=value; ...); hint"
    """
    parts = []
    for name, value in arrays.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str):
            parts.append(f"{name}.shape={tuple(value[0])} as {value[1]}")
        elif hasattr(value, "shape"):
            parts.append(f"{name}.shape={tuple(value.shape)}")
        else:
            parts.append(f"{name}={value!r}")
    message = f"{op}: {problem}"
    if parts:
        message += " (" + "; ".join(parts) + ")"
    if hint:
        message += f"; {hint}"
    return message
