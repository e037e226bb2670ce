"""Reference mode: every op runs its reference, the slide's formula in plain NumPy.

Each op family keeps (a) a reference written to be read, (b) its CUDA kernel, and where measured
speed needs it (c) a fast CPU path in a separate module that the op reaches in one line.  Inside

    with tm.reference_mode():
        loss = model(x).sum(); loss.backward()

(or on a function decorated with ``@tm.reference_mode()``) every CPU op skips its fast path and runs
the reference, so that a debugger stepping through ``F.conv2d`` sees im2col, one GEMM and col2im,
and nothing else.  Every op makes that choice in one line, through ``path`` below.  The GPU runs
the CUDA kernels either way.

The flag is one module-level value shared by all threads (as ``no_grad``'s): set it around a
whole computation, not from several threads at once.  ``set_reference_mode(True)`` turns it on
for good (the ``--reference`` option of ``tgm gradcheck`` uses the context manager).
"""

import contextlib

from . import backend

__all__ = ["reference_mode", "is_reference_mode", "set_reference_mode", "path"]

_MODE = {"on": False}


def is_reference_mode():
    """True inside ``reference_mode()`` (or after ``set_reference_mode(True)``): ops skip their fast paths."""
    return _MODE["on"]


def path(x, reference, fast, gpu=None):
    """The one dispatch of every op with a fast CPU path: what it runs for the array ``x``.

    On the GPU ``gpu`` (its kernel launches), or ``reference`` when gpu is None (a reference that
    launches the kernels itself, as conv's im2col); on the CPU ``reference`` inside
    ``reference_mode()``, else ``fast``.  Used as ``fwd = path(x, _op_fwd_cpu, op_fast.op_fwd, _op_fwd_gpu)``.
    """
    if backend.on_gpu(x):
        return reference if gpu is None else gpu
    return reference if _MODE["on"] else fast


def set_reference_mode(on):
    """Turn reference mode on or off for the whole process; returns the previous setting."""
    previous, _MODE["on"] = _MODE["on"], bool(on)
    return previous


class reference_mode(contextlib.ContextDecorator):
    """Context manager (and decorator) under which every op runs its plain NumPy reference.

    ``reference_mode(False)`` turns the fast paths back on inside an outer ``reference_mode()``.
    The previous setting comes back on exit, also when the block raises.
    """

    def __init__(self, on=True):
        self.on = bool(on)
        self.previous = []  # a stack, so that one instance may be entered again (a decorated recursive function)

    def __enter__(self):
        self.previous.append(set_reference_mode(self.on))
        return self

    def __exit__(self, *exc):
        set_reference_mode(self.previous.pop())
        return False
