"""CPU threads: hold NumPy's BLAS to one thread around products too small to split.

OpenBLAS splits every matrix product over its threads (one per core by default), and its workers
spin for a while after each call before they sleep.  For a product as small as one LSTM step's,
(4H, H) @ (H, N) with N = 32, the split saves little; and where other processes hold the cores, a
worker that the kernel has descheduled stalls every call until it runs again.  An LSTM T32 B32
128->256 forward+backward (benchmarks/bench_vs_torch.py) measured on the 2-core machine at load
average 12-15, in alternating blocks of 10: median 1,016-3,796 ms with the default two BLAS threads,
250-338 ms with one; this is why its ratio to PyTorch swung from 1.2x to 2.1x from run to run.

``one_blas_thread()`` is the one place that sets the limit (ops/rnn.py's recurrent loops,
ops/conv_cpu.py's chunk threads).  The limit is process-wide while it holds: BLAS calls of other
Python threads meanwhile run on one thread too.  Without threadpoolctl (an install dependency, so
only in a stripped environment) it changes nothing.
"""

import contextlib

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is in install_requires
    ThreadpoolController = None

__all__ = ["one_blas_thread", "blas_threads", "has_control"]

_CONTROLLER = []  # [the BLAS libraries' controllers], found on first use (the search takes ~0.4 ms)


def has_control():
    """Whether the BLAS threads can be limited here (threadpoolctl is importable)."""
    return ThreadpoolController is not None


def _blas_libraries():
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _CONTROLLER[0]


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: NumPy's BLAS runs on one thread inside it, and on as many as before after it.

    Calls each BLAS library's own get/set function once each way (a few microseconds; threadpoolctl's
    ``limit()`` re-reads every library and takes ~80 us); nested uses cost one get each.
    """
    libraries = _blas_libraries() if has_control() else []
    before = [lib.num_threads for lib in libraries]
    changed = [(lib, n) for lib, n in zip(libraries, before, strict=True) if n != 1]
    for lib, _ in changed:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in changed:
            lib.set_num_threads(n)


def blas_threads():
    """The number of threads NumPy's BLAS uses now (the largest over the BLAS libraries found; None without
    threadpoolctl or without a BLAS that reports it)."""
    if not has_control():
        return None
    counts = [lib.num_threads for lib in _blas_libraries()]
    return max(counts) if counts else None
