"""Function: the base of every differentiable op (forward, backward, saved values, apply).

An op is a subclass with two methods written side by side::

    class Mul(Function):
        def forward(self, a, b):          # raw arrays in, raw array out
            self.a, self.b = a, b         # save what backward needs
            return a * b
        def backward(self, gy):           # dL/dy in, one dL/d(input) per input out
            return gy * self.b, gy * self.a

``Mul.apply(x, y)`` unwraps the tensors, runs ``forward``, wraps the result in a
Tensor and, when a gradient is wanted, records the Function as the result's
creator so that ``Tensor.backward`` can call ``backward`` later.  Ops never
write into ``.grad``; the engine in tensor.py accumulates.
"""

import contextlib

from .errors import DeviceError, fmt

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]

_GRAD = {"enabled": True}


def is_grad_enabled():
    """True unless inside ``no_grad()``."""
    return _GRAD["enabled"]


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        self.previous = _GRAD["enabled"]
        _GRAD["enabled"] = self.mode

    def __exit__(self, *exc):
        _GRAD["enabled"] = self.previous
        return False


class no_grad(set_grad_enabled):
    """``with no_grad():`` computes without recording a graph (evaluation, optimizer steps)."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turns recording back on inside a ``no_grad()`` block."""

    def __init__(self):
        super().__init__(True)


class Function:
    """Base class of differentiable ops.

    Subclasses implement ``forward(*arrays, **options)`` returning an array (or a
    tuple of arrays) and ``backward(*gys)`` returning one gradient per positional
    input (None for inputs that need none).  ``self.needs_input_grad[i]`` tells
    backward which gradients are wanted, so it can skip work.
    """

    differentiable = True  # False for ops such as argmax whose outputs carry no gradient

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run the op on Tensors (and plain Python values) and record it in the graph."""
        Tensor = _tensor_class()
        raw, needs, array_type = [], [], None
        for t in inputs:  # one pass: unwrap, note who needs a gradient, check devices agree
            if isinstance(t, Tensor):
                raw.append(t.data)
                needs.append(t.requires_grad)
                if array_type is None:
                    array_type = type(t.data)
                elif type(t.data) is not array_type:
                    _raise_mixed_devices(cls.__name__, inputs)
            else:
                raw.append(t)
                needs.append(False)
        fn = cls()
        outputs = fn.forward(*raw, **kwargs)
        record = cls.differentiable and _GRAD["enabled"] and any(needs)
        if record:
            fn.inputs, fn.needs_input_grad = inputs, needs
        creator = fn if record else None
        if isinstance(outputs, tuple):
            if record:
                fn.outputs_meta = [(y.shape, y.dtype) for y in outputs]
            return tuple(Tensor._wrap(y, creator, i) for i, y in enumerate(outputs))
        if record:
            fn.outputs_meta = [(outputs.shape, outputs.dtype)]
        return Tensor._wrap(outputs, creator, 0)


_TENSOR = []


def _tensor_class():
    """tensor.py imports this module, so Tensor is looked up once, on first use."""
    if not _TENSOR:
        from .tensor import Tensor

        _TENSOR.append(Tensor)
    return _TENSOR[0]


def _raise_mixed_devices(op, inputs):
    devices = [t.device for t in inputs if isinstance(t, _tensor_class())]
    first = devices[0]
    other = next((d for d in devices if d != first), first)
    raise DeviceError(
        fmt(op, f"inputs are on different devices ({first} and {other})", hint=f"move them with .to('{first}') first")
    )
