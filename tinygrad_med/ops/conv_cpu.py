"""CPU speed-ups of the convolution (ops/conv.py): chunks, threads and reused column buffers.

Lecture: "Convolutional neural networks - Convolution".  Nothing here changes the math of
conv.py (im2col + one GEMM per group, col2im for the adjoint); it only decides how the CPU runs
it: a large layer goes chunk by chunk of output positions so that its column block stays in cache
(goes_by_chunks, _chunks, over_chunks), with gx by the flipped-kernel convolution where that is one
(adjoint_geometry, flipped_transposed); im2col and col2im copy by blocks of channels in
parallel threads (by_channel_blocks); and the column buffer of one training step is reused by
the next (spare_buffers, empty_cache).  The GPU takes none of these paths.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

try:  # optional: without it, the CPU path makes one large product (see goes_by_chunks)
    from threadpoolctl import ThreadpoolController
except ImportError:
    ThreadpoolController = None

from .. import backend

__all__ = ["empty_cache"]

# ----------------------------------------------------------------------------- chunks of output positions


def goes_by_chunks(x, geometry):
    """Whether the CPU path goes chunk by chunk: a column matrix several times larger than a chunk,
    padding within the kernel's reach along the chunked dim (every chunk then reads some of x), and
    threadpoolctl to hold BLAS to one thread per chunk (else one large product is faster).

    Measured f+b on 2 cores (AMD EPYC, OpenBLAS, benchmarks/bench_conv.py): W3 (conv3d 16->16, 32^3,
    col 113 MB) 71-81 -> 41-42 ms, W1 (conv2d 64->64, N=16, col 38 MB) 37-38 -> 29-35 ms; peak
    memory 120 -> 16-19 MiB and 48 -> 14 MiB.  (W3's gx also skips col2im: see conv.py::ConvNd._chunked_backward.)"""
    col_bytes = x.shape[1] * math.prod(geometry.K) * x.shape[0] * math.prod(geometry.O) * x.itemsize
    within_reach = max(geometry.P[0]) <= geometry.D[0] * (geometry.K[0] - 1)
    return (
        ThreadpoolController is not None and not backend.on_gpu(x) and within_reach and col_bytes > _CHUNKED_MIN_BYTES
    )


def _chunks(x, geometry):
    """Blocks of output positions whose column block is about _CHUNK_BYTES: whole samples if one
    sample's columns fit, else runs of rows along the first spatial dim of one sample.

    Yields (samples, out_rows, in_rows, geometry of the chunk): the chunk's output is
    y[samples, :, out_rows], and it reads exactly x[samples, :, in_rows], zero-padded as the chunk's
    geometry says (the padding of the whole input where the chunk touches its border, else none).
    """
    N, rows, per_row = x.shape[0], geometry.O[0], math.prod(geometry.O[1:])
    cols = max(1, _CHUNK_BYTES // (x.shape[1] * math.prod(geometry.K) * x.itemsize))
    if rows * per_row <= cols:
        m = cols // (rows * per_row)
        blocks = [(slice(n, n + m), 0, rows) for n in range(0, N, m)]
    else:
        r = max(1, cols // per_row)
        blocks = [(slice(n, n + 1), a, min(a + r, rows)) for n in range(N) for a in range(0, rows, r)]
    K, S, D, (P_low, _), I = geometry.K[0], geometry.S[0], geometry.D[0], geometry.P[0], geometry.I[0]
    for samples, a, b in blocks:
        first, end = a * S - P_low, (b - 1) * S - P_low + (K - 1) * D + 1  # input rows [first, end) incl. padding
        lo, hi = max(first, 0), min(end, I)
        chunk = geometry._replace(
            I=(hi - lo, *geometry.I[1:]), P=((lo - first, end - hi), *geometry.P[1:]), O=(b - a, *geometry.O[1:])
        )
        yield samples, slice(a, b), slice(lo, hi), chunk


def over_chunks(work, x, geometry):
    """[work(chunks) for each thread's share of the chunks]: contiguous shares, one per thread,
    with BLAS held to one thread meanwhile (each product is small; two BLAS pools would fight).
    The limit is process-wide: BLAS calls of other Python threads meanwhile run on one thread too."""
    chunks = list(_chunks(x, geometry))
    workers = min(_THREADS, len(chunks))
    if workers <= 1:
        return [work(chunks)]
    bounds = [len(chunks) * i // workers for i in range(workers + 1)]
    with _blas_controller().limit(limits=1, user_api="blas"):
        return list(_pool().map(work, [chunks[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]))


def flipped_transposed(W, groups):
    """W (F, C/g, *K) -> W' (C, F/g, *K), W'[c, f, k] = W[f, c, K-1-k] within each group."""
    F, C_g, K = W.shape[0], W.shape[1], W.shape[2:]
    W_g = W.reshape(groups, F // groups, C_g, *K).swapaxes(1, 2)  # (g, C/g, F/g, *K)
    flipped = W_g[(..., *(slice(None, None, -1) for _ in K))]
    return numpy.ascontiguousarray(flipped).reshape(groups * C_g, F // groups, *K)


def adjoint_geometry(geometry):
    """The geometry of gx = conv(gy, flipped W^T): input O, output I, padding D*(K-1) - P; None
    unless that is a convolution (stride 1, and padding within the kernel's reach D*(K-1))."""
    reach = [d * (k - 1) for k, d in zip(geometry.K, geometry.D, strict=True)]
    pads = tuple((r - lo, r - hi) for r, (lo, hi) in zip(reach, geometry.P, strict=True))
    if any(s != 1 for s in geometry.S) or min(min(pad) for pad in pads) < 0:
        return None
    return geometry._replace(P=pads, I=geometry.O, O=geometry.I)


# ----------------------------------------------------------------------------- threads and buffers


def by_channel_blocks(fn, C, size):
    """fn(channel slice) over blocks of channels, in parallel threads for large arrays.

    Not part of the math: NumPy releases the GIL inside copies and adds, so the memory-bound
    im2col/col2im loops can use every core while BLAS is idle (each block writes its own rows).
    Measured on 2 cores: 1.9x on im2col/col2im alone, but inside a training step OpenBLAS's
    workers keep spinning for ~0.1 s after each GEMM and hold the other core, so the gain
    shows only where they sleep at once (OPENBLAS_THREAD_TIMEOUT=4: W1 44 -> 34 ms, W3 76 -> 57 ms).
    """
    in_pool = threading.current_thread().name.startswith("tgm-conv")  # already one of over_chunks' threads
    workers = min(_THREADS, C) if size >= _PARALLEL_MIN_SIZE and not in_pool else 1
    if workers <= 1:
        fn(slice(None))
        return
    bounds = [C * i // workers for i in range(workers + 1)]
    list(_pool().map(fn, [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]))


class _SpareBuffers:
    """Column buffers that a finished backward hands back, one per (shape, dtype), for the next im2col.

    Not part of the math: a fresh buffer of 100 MB costs milliseconds of page faults on every step.
    Only buffers nothing else refers to are put here; ``empty_cache()`` drops them (CPU only).
    """

    def __init__(self):
        self.free, self.enabled = {}, True

    def take(self, shape, dtype):
        found = self.free.pop((shape, numpy.dtype(dtype)), None)
        return found if found is not None else numpy.empty(shape, dtype)

    def put(self, buffer):
        if self.enabled and isinstance(buffer, numpy.ndarray) and buffer.base is None:
            self.free[(buffer.shape, buffer.dtype)] = buffer


spare_buffers = _SpareBuffers()


def empty_cache():
    """Drop the column buffers kept for reuse between training steps (as torch.cuda.empty_cache)."""
    spare_buffers.free.clear()


_THREADS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)
_CHUNK_BYTES = 1 << 22  # column block of one chunk: fits the L2 + L3 share of a core
_CHUNKED_MIN_BYTES = 1 << 24  # column matrices below this are made and multiplied whole
_PARALLEL_MIN_SIZE = 1 << 20  # elements; below this, thread start-up costs more than it saves
_BLAS = []  # the ThreadpoolController, made on first use
_POOL = {}  # process id -> executor: a forked child (a data-loading worker) must not reuse the parent's


def _blas_controller():
    if not _BLAS:
        _BLAS.append(ThreadpoolController())  # finds NumPy's BLAS once (0.4 ms a search)
    return _BLAS[0]


def _pool():
    if os.getpid() not in _POOL:
        _POOL.clear()
        _POOL[os.getpid()] = ThreadPoolExecutor(_THREADS, thread_name_prefix="tgm-conv")
    return _POOL[os.getpid()]
