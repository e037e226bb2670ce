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

Versions of saved values (PyTorch's version counter).  Backward reads the arrays
that forward saved on ``self``; if one of them was changed in place in between,
the gradient would silently be computed from the new values.  So every storage
(the numpy/cupy array that owns the memory: ``array.base`` for a view) has a
version, 0 at first, that every in-place change made through tinygrad_med
increments: the ``*_`` methods and ``__setitem__`` of Tensor, optimizer steps
(CPU and fused-kernel paths), running statistics of batch/instance norm,
``nn.init``, ``load_state_dict``, embedding's max_norm.  Views share the storage
and so the version (as PyTorch's views share its counter).  A global clock counts
all changes; ``apply`` notes it on the Function (one attribute, so recording costs
nothing measurable), and before ``backward`` the engine looks, only if the clock
moved since, for an array saved on the Function (an attribute, or inside a
tuple/list attribute) whose storage changed after that moment, and raises
``InplaceModifiedError``.  Saved means "an array attribute": inputs and outputs
alike (Exp saves its output y), and views of them; an op that saves an array
only for one input's gradient says so (``saved_only_for = {"a": 1}``: ``a`` is
read only when input 1 needs a gradient), so that it is not checked otherwise
(PyTorch does not save it then).

Not caught: writes straight into the raw array (``t.data[...] = v``,
``t.data += v``, numpy functions with ``out=t.data``, changes to the numpy array a
tensor was built from), and two numpy arrays built separately over one buffer.
Replacing the array (``t.data = new``) is safe: the Function keeps the old one.
Call ``increment_version(t)`` after such a raw write to have it checked.
"""

import contextlib
import weakref

import numpy

from . import anomaly, backend
from .errors import DeviceError, InplaceModifiedError, fmt

__all__ = [
    "Function",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "increment_version",
    "version_of",
    "storage_of",
]

_GRAD = {"enabled": True}
_ARRAY_TYPES = (numpy.ndarray,) if backend.cupy is None else (numpy.ndarray, backend.cupy.ndarray)
_VERSIONS = {}  # id(storage) -> [version, weak reference to it, clocks of its last changes]; absent: version 0
_CLOCK = [0]  # counts every in-place change; a Function notes it at forward
_HISTORY = 32  # clocks kept per storage (at least), to tell the version a Function saw
_ENGINE_ATTRIBUTES = frozenset(
    ("inputs", "needs_input_grad", "outputs_meta", "forward_clock", "retained", "freed", "anomaly_site")
)
_ANOMALY = anomaly.STATE  # {"on": ...}: tm.autograd.detect_anomaly() turns it on


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
    backward which gradients are wanted, so it can skip work.  ``saved_only_for``
    maps a saved attribute to the input whose gradient alone reads it (see the
    module docstring: versions of saved values).
    """

    differentiable = True  # False for ops such as argmax whose outputs carry no gradient
    saved_only_for = None  # e.g. Mul: {"a": 1, "b": 0}; a is read only for input 1's gradient

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
        if record:  # forward_clock: check_saved_versions looks for in-place changes after this moment
            fn.inputs, fn.needs_input_grad, fn.forward_clock = inputs, needs, _CLOCK[0]
        if _ANOMALY["on"]:
            anomaly.check_forward(cls.__name__, inputs, outputs)
            if record:
                fn.anomaly_site = anomaly.forward_site()
        creator = fn if record else None
        if isinstance(outputs, tuple):
            if record:
                fn.outputs_meta = [(y.shape, y.dtype) for y in outputs]
            return tuple(Tensor._wrap(y, creator, i) for i, y in enumerate(outputs))
        if record:
            fn.outputs_meta = [(outputs.shape, outputs.dtype)]
        return Tensor._wrap(outputs, creator, 0)


def storage_of(array):
    """The array that owns the memory of ``array`` (itself, or the base of a view)."""
    base = array.base
    while base is not None and isinstance(base, _ARRAY_TYPES):
        array, base = base, base.base
    return array


def _entry(array):
    """The version entry [version, weak reference, clocks of the last changes] of the storage of ``array``."""
    storage = storage_of(array)
    entry = _VERSIONS.get(id(storage))
    return entry if entry is not None and entry[1]() is storage else None


def version_of(array):
    """How many in-place changes the storage of ``array`` (a numpy/cupy array) has seen."""
    entry = _entry(array)
    return 0 if entry is None else entry[0]


def increment_version(tensor):
    """Record an in-place change of ``tensor`` (a Tensor or a numpy/cupy array) and of every view of its storage.

    Call it after writing into ``tensor.data`` directly, so that a backward that reads the
    old values raises instead of computing a wrong gradient (torch.autograd.graph.increment_version).
    """
    storage = storage_of(tensor if isinstance(tensor, _ARRAY_TYPES) else tensor.data)
    key = id(storage)
    entry = _VERSIONS.get(key)
    if entry is None or entry[1]() is not storage:
        entry = _VERSIONS[key] = [0, _weak(storage, key), []]
    _CLOCK[0] += 1
    entry[0] += 1
    entry[2].append(_CLOCK[0])
    if len(entry[2]) > 2 * _HISTORY:
        del entry[2][:_HISTORY]


def _weak(storage, key):
    """A weak reference that drops the storage's version entry when the storage dies."""

    def forget(ref):
        if _VERSIONS.get(key, (None, None))[1] is ref:
            del _VERSIONS[key]

    try:
        return weakref.ref(storage, forget)
    except TypeError:  # an array type without weak references: keep it alive instead
        return lambda: storage


def _saved_arrays(value):
    if isinstance(value, _ARRAY_TYPES):
        return (value,)
    return [v for v in value if isinstance(v, _ARRAY_TYPES)] if type(value) in (tuple, list) else ()


def check_saved_versions(fn):
    """Raise InplaceModifiedError if an array ``fn`` saved for backward was changed in place since its forward.

    O(1) when nothing anywhere was changed in place since (the clock has not moved); otherwise each
    array saved on ``fn`` is looked up, except those read only for a gradient nobody wants. Every in-place
    change moves the clock, running statistics updated by a training-mode batch norm included, so in a model
    with batch norm the ops recorded before its last forward take the lookup path.
    """
    clock = fn.__dict__.get("forward_clock")
    if clock is None or clock == _CLOCK[0]:
        return
    only_for, needs = fn.saved_only_for or {}, fn.needs_input_grad
    for name, value in fn.__dict__.items():
        if name in _ENGINE_ATTRIBUTES or (name in only_for and not needs[only_for[name]]):
            continue
        for array in _saved_arrays(value):
            entry = _entry(array)
            if entry is not None and entry[2] and entry[2][-1] > clock:  # changed after this forward
                raise InplaceModifiedError(_modified_message(fn, name, array, entry, clock))


def _modified_message(fn, name, array, entry, clock):
    op, storage = type(fn).__name__, storage_of(array)
    later = sum(1 for c in entry[2] if c > clock)  # changes since the forward, if the history reaches back
    exact = later < len(entry[2]) or entry[0] == len(entry[2])
    before = f"version {entry[0] - later}" if exact else "an earlier version"
    which = "an output (or a value computed in forward)"
    for i, t in enumerate(fn.__dict__.get("inputs", ())):
        if isinstance(getattr(t, "data", None), _ARRAY_TYPES) and storage_of(t.data) is storage:
            which = f"input {i}"
            break
    return fmt(
        f"{op}.backward",
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"{op} saved {name!r} ({which}, {array.dtype}{list(array.shape)}) at {before}; "
        f"it is now at version {entry[0]}",
        hint="clone() the tensor before changing it in place, or change it after backward()",
    )


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
