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
