"""Checking CUDA kernels without a GPU.

Two tools, both usable in CI where there is no GPU:

- ``emulator``: runs the unchanged kernels of kernels/*.cu on the CPU (g++ and the
  header ``cuda_cpu.h``), so ``backend.use_emulator()`` runs every op's GPU path and
  its kernels against NumPy. Races show up by running threads in reverse order; a
  thread that skips a ``__syncthreads`` is an error; out-of-bounds accesses are caught
  by AddressSanitizer in the sanitized build (``run_sanitized.sh``).
- ``compile_check``: compiles every kernel file with nvcc (and NVRTC when present) for
  float and double, failing on warnings, register spills and kernel parameters whose
  PTX widths disagree with what CuPy passes. ``python -m tinygrad_med.kernelcheck.compile_check``.

Data files this package needs at run time: ``cuda_cpu.h`` and ``run_sanitized.sh``.
"""

import os

__all__ = ["tool_env"]


def tool_env():
    """The environment for g++ / nvcc subprocesses: ours, less the sanitizer preload.

    Under run_sanitized.sh python runs with libasan in LD_PRELOAD; the compilers are not
    built for it, and run slower and noisier with it, so they get an environment without it.
    """
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env
