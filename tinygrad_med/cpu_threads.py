"""CPU threads: hold NumPy's BLAS to one thread where our own threads do the splitting.

``blas_thread_limit(count)`` is the one place that sets the limit: ops/conv_cpu.py's chunk workers hold it at
one (two pools of threads would fight), as do the training objectives whose products are small
(``blas_threads = 1``).  Everywhere else BLAS keeps its own threads.

Not load-dependent, on purpose.  A policy that dropped BLAS to one thread while other processes
filled the cores (tried on 2026-12-07: it made an LSTM step at load 12-15 go from 1,016-3,796 ms to
250-338 ms) made the arithmetic depend on the machine's load: the split of a product over threads
changes the order of its sums, and layers went by chunks or whole by the load, so the same seed gave
different weights (a resumed Probabilistic U-Net run no longer matched the straight one while other
jobs ran).  Same inputs, same seed, same machine: same result, whatever else runs.  Without
threadpoolctl (an install dependency, so only in a stripped environment) nothing changes.
"""

import contextlib

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is in install_requires
    ThreadpoolController = None

__all__ = ["one_blas_thread", "blas_thread_limit", "blas_threads", "has_control"]

_CONTROLLER = []  # [the BLAS libraries' controllers], found on first use (the search takes ~0.4 ms)


def has_control():
    """Whether the BLAS threads can be limited here (threadpoolctl is importable)."""
    return ThreadpoolController is not None


def _blas_libraries():
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _CONTROLLER[0]


@contextlib.contextmanager
def blas_thread_limit(count):
    """Context manager: NumPy's BLAS runs on at most ``count`` threads inside it (None: left as it is), and on
    as many as before after it.

    Calls each BLAS library's own get/set function once each way (a few microseconds; threadpoolctl's
    ``limit()`` re-reads every library and takes ~80 us); nested uses cost one get each.
    """
    libraries = _blas_libraries() if has_control() and count is not None else []
    before = [lib.num_threads for lib in libraries]
    changed = [(lib, n) for lib, n in zip(libraries, before, strict=True) if n > count]
    for lib, _ in changed:
        lib.set_num_threads(count)
    try:
        yield
    finally:
        for lib, n in changed:
            lib.set_num_threads(n)


def one_blas_thread():
    """Context manager: NumPy's BLAS on one thread inside it (blas_thread_limit(1))."""
    return blas_thread_limit(1)


def blas_threads():
    """The number of threads NumPy's BLAS uses now (the largest over the BLAS libraries found; None without
    threadpoolctl or without a BLAS that reports it)."""
    if not has_control():
        return None
    counts = [lib.num_threads for lib in _blas_libraries()]
    return max(counts) if counts else None
