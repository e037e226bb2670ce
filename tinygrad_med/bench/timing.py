"""Timing, the roofline ceilings and the machine description for ``tgm bench``.

Every figure is measured in the same run as the numbers it is compared with: the
ceilings are the machine's own matrix product (NumPy/BLAS SGEMM on the CPU, cuBLAS
through cupy.matmul on the GPU) and its own large copy (a device-to-device copy on
the GPU), not datasheet values.
"""

import json
import os
import platform
import statistics
from pathlib import Path

import numpy

from .. import backend

__all__ = ["measure", "summarize", "peaks", "machine_info", "save_json"]


def measure(fn, device, repeat=10, warmup=2):
    """Times of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls (seconds)."""
    for _ in range(warmup):
        fn()
    backend.synchronize()
    return [backend.time_call(fn, device) for _ in range(repeat)]


def summarize(times):
    """Median and spread (interquartile range relative to the median) of a list of times."""
    ordered = sorted(times)
    median = statistics.median(ordered)
    q1, q3 = ordered[len(ordered) // 4], ordered[(3 * len(ordered)) // 4]
    return {"median_s": median, "iqr_rel": (q3 - q1) / median if median else 0.0, "n": len(ordered)}


def peaks(device, quick=False):
    """Measured ceilings on ``device``: matrix-product GFLOP/s (float32) and copy GB/s.

    Copy bandwidth counts bytes read plus bytes written.
    """
    xp = backend.array_module(device)
    n = 1024 if quick else (2048 if device == "cpu" else 8192)
    rng = numpy.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n), dtype=numpy.float32))
    b = xp.asarray(rng.standard_normal((n, n), dtype=numpy.float32))
    gemm = summarize(measure(lambda: xp.matmul(a, b), device, repeat=3 if quick else 5, warmup=1))
    elements = (8 if quick else 64) * 2**20 if device == "cpu" else 256 * 2**20
    src = xp.ones(elements, dtype=numpy.float32)
    dst = xp.empty_like(src)
    copy = summarize(measure(lambda: xp.copyto(dst, src), device, repeat=3 if quick else 5, warmup=1))
    return {
        "gemm_gflops": 2 * n**3 / gemm["median_s"] / 1e9,
        "gemm_size": n,
        "copy_gbs": 2 * src.nbytes / copy["median_s"] / 1e9,
        "copy_bytes": int(src.nbytes),
    }


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return [
        {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """CPU model, cores, BLAS and its kernel, and the GPU with driver/CUDA/CuPy versions if any."""
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "blas": _blas_info(),
        "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }
    info.update(backend.device_properties())
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def save_json(path, result):
    """Write one benchmark's result dict as JSON (its folder made if missing); values JSON cannot hold are str()."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(result, handle, indent=1, default=str)
