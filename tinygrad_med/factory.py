"""Tensor factories with PyTorch's names and call forms: tensor, zeros, ones, full, empty, arange,
linspace, eye, rand, randn, randint, *_like.

Sizes come as PyTorch takes them: ``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])`` or
``zeros(size=(2, 3))``.  Each factory takes ``dtype=`` (float32 by default for floating values,
int64 for integer ones, as PyTorch infers them) and ``device=`` ('cpu' or 'cuda').  Random
factories draw from the per-device generator that ``tm.manual_seed`` resets, so runs repeat
exactly on each device.  A call PyTorch refuses is refused here too: a wrongly typed argument
with TypeError, a negative size with ShapeError, a float dtype asked of an integer draw (or the
reverse) with DTypeError, an empty range with ValueError.
"""

import numpy

from . import backend, random
from .errors import DTypeError, ShapeError, fmt
from .factory_args import integer, number, sizes
from .ops.promotion import scalar_dtype
from .tensor import Tensor

__all__ = [
    "tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "rand_like",
    "randn_like",
    "randint_like",
    "from_numpy",
]

_DEFAULT = numpy.float32


def _make(fill, size, dtype, device, requires_grad):
    xp = backend.array_module(device)
    data = fill(xp, size, numpy.dtype(dtype or _DEFAULT))
    return Tensor(data, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor copied from ``data`` (Python numbers become float32 or int64)."""
    array = data.data if isinstance(data, Tensor) else data
    if isinstance(array, numpy.ndarray) or backend.is_gpu_array(array):
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing memory with a numpy array (dtype kept)."""
    return Tensor(numpy.asarray(array))


def zeros(*size, dtype=None, device=None, requires_grad=False, **kw):
    """A tensor filled with 0 (float32 unless dtype is given): zeros(2, 3), zeros((2, 3)), zeros(size=(2, 3))."""
    shape = sizes("zeros", size, kw)
    return _make(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, **kw):
    """A tensor filled with 1; sizes as zeros."""
    shape = sizes("ones", size, kw)
    return _make(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, **kw):
    """An uninitialised tensor in PyTorch; here filled with 0, so nothing random leaks in."""
    shape = sizes("empty", size, kw)
    return _make(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` (a tuple or list) filled with ``fill_value``.

    The dtype follows the value as in PyTorch: bool -> bool, int -> int64, float -> float32.
    """
    if not isinstance(size, (tuple, list)):
        raise TypeError(fmt("full", f"size must be a tuple of ints, got {type(size).__name__}", size=size))
    value = number("full", "fill_value", fill_value)
    dtype = scalar_dtype(value) if dtype is None else dtype
    return _make(lambda xp, s, d: xp.full(s, value, d), sizes("full", (size,), {}), dtype, device, requires_grad)


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values start, start+step, ... up to end (excluded): arange(5), arange(1, 5), arange(0, 1, 0.25).

    int64 when start, end and step are all integers, else float32 (as PyTorch).  The length is
    ceil((end - start) / step) and value i is start + i * step, computed in float64.
    Raises: ValueError for step 0, a step pointing away from end, or a non-finite bound.
    """
    if end is None:
        start, end = 0, start
    start, end, step = (number("arange", n, v) for n, v in (("start", start), ("end", end), ("step", step)))
    if dtype is None:
        dtype = numpy.int64 if all(isinstance(v, (int, numpy.integer)) for v in (start, end, step)) else _DEFAULT
    if numpy.dtype(dtype).kind in "iub":  # PyTorch steps integer ranges in integers
        start, end, step = int(start), int(end), int(step)
    if not numpy.isfinite([start, end, step]).all():
        raise ValueError(fmt("arange", f"unsupported range: {start} -> {end} by {step}"))
    if step == 0:
        raise ValueError(fmt("arange", "step must be nonzero"))
    if (end - start) * step < 0:
        raise ValueError(fmt("arange", f"upper bound and lower bound inconsistent with step sign: {start} -> {end}"))
    n = int(numpy.ceil((end - start) / step))
    return _make(lambda xp, s, d: (start + step * xp.arange(n)).astype(d), (), dtype, device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values evenly spaced from start to end, both included (start and end may be 0-d tensors).

    Value i is start + i * delta in the first half and end - (steps - 1 - i) * delta in the second
    (delta = (end - start) / (steps - 1)), PyTorch's rule, so that both ends are exact.
    Raises: ValueError for steps < 0; ShapeError for a start or end with dims.
    """
    start, end = number("linspace", "start", start), number("linspace", "end", end)
    steps = integer("linspace", "steps", steps)
    if dtype is not None and numpy.dtype(dtype).kind in "iub":  # PyTorch truncates the ends first
        start, end = int(start), int(end)
    if steps < 0:
        raise ValueError(fmt("linspace", f"number of steps must be non-negative, got {steps}"))
    i = numpy.arange(steps)
    delta = (end - start) / (steps - 1) if steps > 1 else 0.0
    values = numpy.where(i < max(steps // 2, 1), start + i * delta, end - (steps - 1 - i) * delta)
    return _make(lambda xp, s, d: xp.asarray(values).astype(d), (), dtype, device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (m = n by default)."""
    n = integer("eye", "n", n)
    m = n if m is None else integer("eye", "m", m)
    if n < 0 or m < 0:
        raise ShapeError(fmt("eye", f"n and m must be greater or equal to 0, got n={n}, m={m}"))
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, **kw):
    """Uniform on [0, 1); sizes as zeros.  Raises DTypeError for a non-float dtype."""
    shape, dtype = sizes("rand", size, kw), _float_dtype("rand", dtype)
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: gen.random(s).astype(d) if xp is numpy else gen.random_sample(s, dtype=d),
        shape,
        dtype,
        device,
        requires_grad,
    )


def randn(*size, dtype=None, device=None, requires_grad=False, **kw):
    """Standard normal; sizes as zeros.  Raises DTypeError for a non-float dtype."""
    shape, dtype = sizes("randn", size, kw), _float_dtype("randn", dtype)
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: gen.standard_normal(s).astype(d) if xp is numpy else gen.standard_normal(s, dtype=d),
        shape,
        dtype,
        device,
        requires_grad,
    )


def _float_dtype(op, dtype):
    dtype = numpy.dtype(dtype or _DEFAULT)
    if dtype.kind != "f":
        raise DTypeError(fmt(op, f"draws floating-point values; dtype {dtype} is not a float dtype"))
    return dtype


def randint(*args, size=None, low=None, high=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform in [low, high): randint(high, size), randint(low, high, size), size a tuple.

    int64 by default (any dtype that holds the range may be asked for).
    Raises: TypeError for a size that is not a tuple/list or a non-integer bound; ValueError if low >= high.
    """
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if size is None or not isinstance(size, (tuple, list)):
        raise TypeError(fmt("randint", "size must be given as a tuple of ints", size=size))
    if len(args) == 2 and low is None and high is None:
        low, high = args
    elif len(args) == 1 and high is None:
        high = args[0]
    elif args:
        raise TypeError(fmt("randint", f"expected (high, size) or (low, high, size), got {len(args) + 1} arguments"))
    low, high = integer("randint", "low", 0 if low is None else low), integer("randint", "high", high)
    return _randint(low, high, sizes("randint", (size,), {}), dtype, device, requires_grad)


def _randint(low, high, shape, dtype, device, requires_grad):
    if low >= high:
        raise ValueError(fmt("randint", f"expects low to be less than high, but got low={low} >= high={high}"))
    dtype = numpy.dtype(numpy.int64 if dtype is None else dtype)
    if dtype.kind in "iub":
        info = numpy.iinfo(dtype) if dtype.kind != "b" else numpy.iinfo(numpy.uint8)
        if low < info.min or high - 1 > (1 if dtype.kind == "b" else info.max):
            raise ValueError(fmt("randint", f"the range [{low}, {high}) is out of bounds for {dtype}"))
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: (gen.integers(low, high, s) if xp is numpy else gen.randint(low, high, s)).astype(d),
        shape,
        dtype,
        device,
        requires_grad,
    )


def _like(op, x, dtype, device):
    if not isinstance(x, Tensor):
        raise TypeError(fmt(op, f"input must be a Tensor, got {type(x).__name__}"))
    return x.shape, dtype or x.dtype, device or x.device


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape, dtype and device of input (unless given)."""
    shape, dtype, device = _like("zeros_like", input, dtype, device)
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    """Ones with the shape, dtype and device of input (unless given)."""
    shape, dtype, device = _like("ones_like", input, dtype, device)
    return ones(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor like input in PyTorch; here zeros."""
    shape, dtype, device = _like("empty_like", input, dtype, device)
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``fill_value`` (cast to input's dtype) with the shape, dtype and device of input (unless given)."""
    shape, dtype, device = _like("full_like", input, dtype, device)
    return full(shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) values with the shape, dtype and device of input (a float dtype)."""
    shape, dtype, device = _like("rand_like", input, dtype, device)
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    """Standard normal values with the shape, dtype and device of input (a float dtype)."""
    shape, dtype, device = _like("randn_like", input, dtype, device)
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low_or_high, high=None, *, dtype=None, device=None, requires_grad=False):
    """randint_like(input, high) or randint_like(input, low, high): integers in [low, high) shaped as input."""
    shape, dtype, device = _like("randint_like", input, dtype, device)
    low, high = (0, low_or_high) if high is None else (low_or_high, high)
    low, high = integer("randint_like", "low", low), integer("randint_like", "high", high)
    return _randint(low, high, shape, dtype, device, requires_grad)
