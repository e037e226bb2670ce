"""CPU threads: hold NumPy's BLAS to one thread where our own threads do the splitting, and those threads.

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
import os
from concurrent.futures import ThreadPoolExecutor

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is in install_requires
    ThreadpoolController = None

__all__ = [
    "one_blas_thread",
    "blas_thread_limit",
    "blas_threads",
    "has_control",
    "worker_count",
    "thread_pool",
    "split_over_workers",
]

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


# ----------------------------------------------------------------------------- our worker threads


def worker_count():
    """How many threads the CPU paths share their work out to: the cores this process may run on, at most 8."""
    return _WORKERS


def thread_pool():
    """The worker threads (worker_count() of them), made once per process: the CPU convolution's chunks and
    copies, batch norm's passes.  NumPy releases the GIL in its loops and BLAS calls, so they run in parallel."""
    if os.getpid() not in _POOL:
        _POOL.clear()
        _POOL[os.getpid()] = ThreadPoolExecutor(_WORKERS, thread_name_prefix="tgm-cpu")
    return _POOL[os.getpid()]


def split_over_workers(fn, length, workers):
    """fn(block) for ``workers`` contiguous blocks (slices) of range(length), the calling thread taking the first;
    returns when every block is done (and raises what a block raised)."""
    workers = max(1, min(workers, length))
    if workers == 1:
        fn(slice(0, length))
        return
    bounds = [length * i // workers for i in range(workers + 1)]
    blocks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    helpers = [thread_pool().submit(fn, block) for block in blocks[1:]]
    try:
        fn(blocks[0])
    finally:
        for helper in helpers:
            helper.result()


_WORKERS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)
_POOL = {}  # process id -> executor: a forked child (a data-loading worker) must not reuse the parent's
