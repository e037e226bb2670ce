"""CPU threads: hold NumPy's BLAS to one thread around products too small to split.

OpenBLAS splits every matrix product over its threads (one per core by default), and its workers
spin for a while after each call before they sleep.  For a product as small as one LSTM step's,
(4H, H) @ (H, N) with N = 32, the split saves little; and where other processes hold the cores, a
worker that the kernel has descheduled stalls every call until it runs again.  An LSTM T32 B32
128->256 forward+backward (benchmarks/bench_vs_torch.py) measured on the 2-core machine at load
average 12-15, in alternating blocks of 10: median 1,016-3,796 ms with the default two BLAS threads,
250-338 ms with one; this is why its ratio to PyTorch swung from 1.2x to 2.1x from run to run.

``one_blas_thread()`` is the one place that sets the limit; ops/conv_cpu.py's chunk workers always
hold it (two pools of threads would fight).  ``small_products()`` holds it only while the machine is
busy (``machine_is_busy``: other processes' runnable threads at or above the CPU count now, so a BLAS
worker would wait for a core): ops/rnn.py's recurrent loops and the convolution's layers made whole
use it.  On a quiet machine BLAS keeps its threads there, as before (the split of the 4H rows
of an LSTM step was measured 1.5x faster then).  The limit is process-wide while it holds: BLAS
calls of other Python threads meanwhile run on one thread too.  Without threadpoolctl (an install
dependency, so only in a stripped environment) nothing changes.
"""

import contextlib
import os
import time

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is in install_requires
    ThreadpoolController = None

__all__ = ["one_blas_thread", "small_products", "machine_is_busy", "blas_threads", "has_control"]

_RECHECK_S = 0.5  # machine_is_busy looks again after this many seconds
_BUSY = [-_RECHECK_S, False]  # [when last looked, the answer]
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


def machine_is_busy():
    """Whether other processes' runnable threads fill every CPU right now: the kernel's count of runnable
    threads (/proc/loadavg) less this process's own, at or above the CPU count.  Looked up at most every
    _RECHECK_S seconds; False where /proc is missing (the library then leaves BLAS alone).

    Not the load average: its 1-minute mean lags, and it kept BLAS on one thread after the other jobs
    had ended (an LSTM step 14-17 -> 20 ms at a load average of 5 on a machine gone quiet)."""
    now = time.monotonic()
    if now - _BUSY[0] >= _RECHECK_S:
        counts = _running_threads()
        _BUSY[:] = [now, counts is not None and counts[0] - counts[1] >= (os.cpu_count() or 1)]
    return _BUSY[1]


def _running_threads():
    """(runnable threads on the machine, runnable threads of this process), or None without /proc."""
    try:
        with open("/proc/loadavg") as f:
            machine = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat") as f:
                own += f.read().rsplit(")", 1)[1].split()[0] == "R"  # the state follows the command in brackets
    except (OSError, ValueError, IndexError):
        return None
    return machine, own


def small_products():
    """Context manager for a run of products too small to split well: one BLAS thread while the machine is
    busy (a split product waits for its slowest thread, and a descheduled one stalls it), else nothing."""
    return one_blas_thread() if machine_is_busy() else contextlib.nullcontext()


def blas_threads():
    """The number of threads NumPy's BLAS uses now (the largest over the BLAS libraries found; None without
    threadpoolctl or without a BLAS that reports it)."""
    if not has_control():
        return None
    counts = [lib.num_threads for lib in _blas_libraries()]
    return max(counts) if counts else None
