"""Tensor factories with PyTorch's names: tensor, zeros, ones, full, arange, eye, rand, randn, *_like.

Each takes ``dtype=`` (float32 by default for floating values) and ``device=``
('cpu' or 'cuda').  Random factories draw from the per-device generator that
``tm.manual_seed`` resets, so runs repeat exactly on each device.
"""

import numpy

from . import backend, random
from .errors import ShapeError, fmt
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
    "rand_like",
    "randn_like",
    "from_numpy",
]

_DEFAULT = numpy.float32


def _size(size):
    """zeros(2, 3) and zeros((2, 3)) alike; sizes must be non-negative ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(not isinstance(s, (int, numpy.integer)) or s < 0 for s in size):
        raise ShapeError(fmt("factory", f"sizes must be non-negative integers, got {size}"))
    return tuple(int(s) for s in size)


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


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor filled with 0 (float32 unless dtype is given)."""
    return _make(lambda xp, s, d: xp.zeros(s, d), _size(size), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor filled with 1."""
    return _make(lambda xp, s, d: xp.ones(s, d), _size(size), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor in PyTorch; here filled with 0, so nothing random leaks in."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``."""
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), _size((size,)), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values start, start+step, ... < end; int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        integral = all(isinstance(v, (int, numpy.integer)) for v in (start, end, step))
        dtype = numpy.int64 if integral else _DEFAULT
    return _make(lambda xp, s, d: xp.arange(start, end, step, dtype=d), (), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` values evenly spaced from start to end, both included."""
    return _make(lambda xp, s, d: xp.linspace(start, end, steps, dtype=d), (), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (m = n by default)."""
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: gen.random(s).astype(d) if xp is numpy else gen.random_sample(s, dtype=d),
        _size(size),
        dtype,
        device,
        requires_grad,
    )


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: gen.standard_normal(s).astype(d) if xp is numpy else gen.standard_normal(s, dtype=d),
        _size(size),
        dtype,
        device,
        requires_grad,
    )


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers uniform in [low, high), int64 by default."""
    if high is None:
        low, high = 0, low
    gen = random.generator(device or "cpu")
    return _make(
        lambda xp, s, d: (gen.integers(low, high, s) if xp is numpy else gen.randint(low, high, s)).astype(d),
        _size((size,)),
        dtype or numpy.int64,
        device,
        False,
    )


def _like(fn, x, dtype, device, requires_grad, *args):
    return fn(*args, *x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape, dtype and device of x (unless given)."""
    return _like(zeros, x, dtype, device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    """Ones with the shape, dtype and device of x (unless given)."""
    return _like(ones, x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` with the shape, dtype and device of x (unless given)."""
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False):
    """Uniform [0, 1) values with the shape, dtype and device of x."""
    return _like(rand, x, dtype, device, requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False):
    """Standard normal values with the shape, dtype and device of x."""
    return _like(randn, x, dtype, device, requires_grad)
