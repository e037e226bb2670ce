"""Host memory: keep freed NumPy buffers for reuse, and count the page faults that fresh ones cost.

On the GPU, CuPy keeps freed device memory in a pool, so allocating the next (T, N, 4H) buffer of
an LSTM or the next im2col matrix costs nothing.  On the CPU, NumPy asks glibc's malloc, and
glibc hands blocks above ~128 KiB back to the kernel when they are freed (mmap/munmap, or by
trimming the top of the heap).  The next allocation of the same size then pays one page fault
per 4 KiB page when it is first written: measured on a 2-core VM, an LSTM layer's forward and
backward (seq 32, batch 32, hidden 256) took about 2,300 faults per call, about 4 ms of 24 ms
(benchmarks/bench_rnn.py prints the count).

``reuse_freed_memory()`` makes glibc keep those blocks in the heap instead (its documented
``mallopt`` settings M_MMAP_THRESHOLD, M_TRIM_THRESHOLD and M_MMAP_MAX), so the process keeps its
peak heap size, as CuPy's pool keeps its peak device memory.  M_MMAP_THRESHOLD cannot exceed 32 MiB,
so blocks above it would still be mapped afresh on every allocation; M_MMAP_MAX = 0 serves those
from the heap too.  Measured on the U-Net step at 512 x 512 (batch 4, activations of 64 MiB; load
average ~16): 10.9-12.1 s and 23,000-30,000 page faults a step with the 32 MiB threshold alone,
6.0-6.4 s and 10 faults with M_MMAP_MAX = 0, peak resident memory 1,625 -> 1,675 MiB; without it
the step time grew 7-13x from 256^2 to 512^2 instead of 4x.

The library applies this itself: importing tinygrad_med calls ``apply_policy()``, so a user's own
training loop gets what the ``tgm`` command gets (it was set by ``tgm`` only, and a loop written as
the README's example ran its U-Net step 1.2x slower than under ``tgm``).  What it costs: the heap
does not shrink after a peak (below 1 GiB of free memory at its top), as with CuPy's pool; the
peak itself does not grow (benchmarks/bench_vs_torch.py --scaling measures the peak resident set).
To keep glibc's defaults, set the environment variable TGM_REUSE_HOST_MEMORY=0 before the import.
"""

import ctypes
import ctypes.util
import os

__all__ = ["reuse_freed_memory", "page_faults", "apply_policy", "policy"]

_ENV = "TGM_REUSE_HOST_MEMORY"
_POLICY = {"reuse_freed_memory": False}

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # glibc's malloc.h parameter numbers
_MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit (M_MMAP_MAX = 0 then covers larger blocks)
_TRIM_THRESHOLD = 2**30  # give memory back to the kernel only above 1 GiB free at the top of the heap


def reuse_freed_memory():
    """Keep freed host buffers (of any size: no block is mapped on its own) in the heap for the next allocation.

    Returns:
        True if glibc accepted the settings; False where there is no glibc (macOS, Windows, musl
        without mallopt), in which case nothing changes.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either value also stops glibc's own threshold tuning.
    done = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
            (_M_MMAP_MAX, 0),
        )
    )
    _POLICY["reuse_freed_memory"] = _POLICY["reuse_freed_memory"] or done
    return done


def apply_policy():
    """The library's host-memory policy, applied once at import: reuse_freed_memory() unless the
    environment variable TGM_REUSE_HOST_MEMORY is "0" (keep glibc's defaults).

    Returns:
        Whether freed buffers are now kept for reuse (False also where there is no glibc).
    """
    wanted = os.environ.get(_ENV, "1").strip()
    if wanted not in ("0", "1"):
        raise ValueError(f"{_ENV} must be '0' (glibc's defaults) or '1' (reuse freed buffers), got {wanted!r}")
    if wanted == "1" and not _POLICY["reuse_freed_memory"]:
        _POLICY["reuse_freed_memory"] = reuse_freed_memory()
    return _POLICY["reuse_freed_memory"]


def policy():
    """{"reuse_freed_memory": bool}: what apply_policy() (or reuse_freed_memory()) set in this process."""
    return dict(_POLICY)


def page_faults():
    """Minor page faults of this process so far (a fresh page touched for the first time counts one).

    Returns None where the platform does not count them (no ``resource`` module, e.g. Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
