"""Run the unchanged CUDA kernels of kernels/*.cu on the CPU, to test them without a GPU.

Each kernel file is compiled with g++ -std=c++20 into a shared library, once per
REAL_T (float, double), with ``cuda_cpu.h`` (the CUDA built-ins: thread indices,
``__shared__``, ``__syncthreads``, atomics, math intrinsics) force-included and one
generated ``extern "C"`` trampoline per kernel that unpacks the arguments. Python
calls the trampoline through ctypes, as ``f(grid, block, args)`` -- the call that
``cupy.RawKernel`` takes -- so ``backend.use_emulator()`` can hand these functions to
every op's GPU path.

How threads run (see cuda_cpu.h): blocks one after another; the threads of a block
as a plain loop, or as fibers switched at each ``__syncthreads`` when the kernel
calls it. A thread that returns while others wait at a barrier is an error (a
KernelError here; a GPU hangs, or goes on with shared memory nobody wrote).

Knobs (environment variables, read at each launch or build):
    TGM_EMULATOR_ORDER=reverse   run blocks and threads in reverse order; a kernel
                                 whose result changes with the order has a race
                                 (also ``with thread_order("reverse"):``)
    TGM_EMULATOR_SANITIZE=1      build with AddressSanitizer + UBSan; python must run
                                 with libasan preloaded: see run_sanitized.sh
    TGM_EMULATOR_CACHE=DIR       where the libraries are kept
                                 (default ~/.cache/tinygrad_med/emulator)
    TGM_EMULATOR_CXX=g++         the compiler
"""

import contextlib
import ctypes
import hashlib
import os
import shlex
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy

from ..errors import KernelError, fmt
from . import source, tool_env

__all__ = ["load_module", "load_file", "thread_order", "sanitizing", "header_path", "cache_dir", "build_library"]

_HERE = Path(__file__).resolve().parent
_ORDERS = {"forward": 0, "reverse": 1}
_STATE = {"order": None}  # None: take TGM_EMULATOR_ORDER
_LAUNCH_LOCK = threading.Lock()  # kernels share static state (indices, __shared__): one launch at a time
_BASE_FLAGS = ("-std=c++20", "-shared", "-fPIC", "-fvisibility=hidden", "-w")
_FAST_FLAGS = ("-O2",)
_SANITIZE_FLAGS = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def header_path():
    """The CUDA built-ins header that every emulated kernel file is compiled with."""
    return _HERE / "cuda_cpu.h"


def sanitizing():
    """True when TGM_EMULATOR_SANITIZE=1: kernels are built with ASan + UBSan."""
    return os.environ.get("TGM_EMULATOR_SANITIZE") == "1"


def cache_dir():
    """Folder of the built libraries: $TGM_EMULATOR_CACHE or ~/.cache/tinygrad_med/emulator."""
    default = Path.home() / ".cache" / "tinygrad_med" / "emulator"
    return Path(os.environ.get("TGM_EMULATOR_CACHE") or default)


@contextlib.contextmanager
def thread_order(order):
    """Run launches inside the block with threads and blocks in ``order``: 'forward' or 'reverse'."""
    if order not in _ORDERS:
        raise ValueError(f"thread_order: expected 'forward' or 'reverse', got {order!r}")
    previous, _STATE["order"] = _STATE["order"], order
    try:
        yield
    finally:
        _STATE["order"] = previous


def _current_order():
    order = _STATE["order"] or os.environ.get("TGM_EMULATOR_ORDER", "forward")
    if order not in _ORDERS:
        raise KernelError(fmt("emulator", f"TGM_EMULATOR_ORDER={order!r}; expected 'forward' or 'reverse'"))
    return _ORDERS[order]


# ----------------------------------------------------------------------------- building


def _unpack(index, ctype):
    """C++ expression that turns 64-bit argument slot ``index`` into a ``ctype`` value."""
    slot = f"a[{index}]"
    if ctype.endswith("*"):
        return f"reinterpret_cast<{ctype}>(static_cast<uintptr_t>({slot}))"
    if ctype in ("double", "float"):
        return f"static_cast<{ctype}>(tgm_bits<double>({slot}))"
    return f"static_cast<{ctype}>({slot})"


def _trampolines(signatures):
    """Generated C++ glue: per kernel, one thread's call and an exported launcher."""
    lines = []
    for name, params in signatures.items():
        call_args = ", ".join(_unpack(k, ctype) for k, (ctype, _) in enumerate(params))
        lines += [
            f"static void tgm_thread_{name}(const unsigned long long* a) {{ (void)a; {name}({call_args}); }}",
            f'extern "C" __attribute__((visibility("default"))) int tgm_launch_{name}('
            "const long long* cfg, const unsigned long long* a, char* error, int error_size) {",
            f"  return tgm::launch(cfg, tgm_thread_{name}, a, error, error_size);",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _compile_command(cu_path, glue_path, out_path, real):
    """The g++ command line that builds one kernel file for one REAL_T."""
    compiler = shlex.split(os.environ.get("TGM_EMULATOR_CXX", "g++"))
    flags = _SANITIZE_FLAGS if sanitizing() else _FAST_FLAGS
    includes = [f"-I{cu_path.parent}", f"-I{source.kernel_dir()}"]
    return [*compiler, *_BASE_FLAGS, *flags, f"-DREAL_T={real}", *includes,
            "-include", str(header_path()), str(glue_path), "-o", str(out_path)]  # fmt: skip


def build_library(cu_path, dtype):
    """Build (or find in the cache) the shared library of ``cu_path`` for REAL_T = ``dtype``.

    Returns:
        (path of the .so, {kernel name: parameter list}).
    Raises:
        KernelError with g++'s messages if the file does not compile.
    """
    cu_path = Path(cu_path).resolve()
    real = {"float32": "float", "float64": "double"}[numpy.dtype(dtype).name]
    signatures = source.kernel_signatures(cu_path)
    glue = f'#include "{cu_path}"\n' + _trampolines(signatures)
    command = _compile_command(cu_path, Path("GLUE.cpp"), Path("OUT.so"), real)
    digest = hashlib.sha256("\0".join(command).encode() + glue.encode() + header_path().read_bytes())
    for path in source.source_files(cu_path):
        digest.update(path.read_bytes())
    prefix = f"{cu_path.stem}-{real}{'-asan' if sanitizing() else ''}-"
    out = cache_dir() / f"{prefix}{digest.hexdigest()[:16]}.so"
    if not out.is_file():
        _compile(cu_path, glue, out, real)
        for stale in out.parent.glob(f"{prefix}*.so"):  # older builds of this file: keep the cache small
            if stale != out:
                stale.unlink(missing_ok=True)
    return out, signatures


def _compile(cu_path, glue, out, real):
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        glue_path, tmp_out = Path(tmp) / f"{cu_path.stem}_glue.cpp", Path(tmp) / "lib.so"
        glue_path.write_text(glue)
        command = _compile_command(cu_path, glue_path, tmp_out, real)
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=tool_env())
        except FileNotFoundError as error:
            hint = "install g++ or set TGM_EMULATOR_CXX"
            raise KernelError(fmt("emulator", f"no C++ compiler: {error}", hint=hint)) from error
        if result.returncode != 0:
            raise KernelError(
                fmt("emulator", f"{cu_path.name} does not compile for the CPU (REAL_T={real}):\n{result.stderr}")
            )
        os.replace(tmp_out, out)  # atomic: a parallel build of the same file is harmless


# ----------------------------------------------------------------------------- loading and calling


class Module:
    """The emulated kernels of one .cu file and REAL_T, like cupy.RawModule."""

    def __init__(self, cu_path, dtype):
        self.path, self.dtype = Path(cu_path), numpy.dtype(dtype)
        library, self.signatures = build_library(cu_path, dtype)
        self.barriers = source.barrier_kernels("\n".join(p.read_text() for p in source.source_files(cu_path)))
        try:
            self.library = ctypes.CDLL(str(library))
        except OSError as error:
            hint = "run python under tinygrad_med/kernelcheck/run_sanitized.sh" if sanitizing() else None
            raise KernelError(fmt("emulator", f"cannot load {library.name}: {error}", hint=hint)) from error

    def get_function(self, name):
        """The kernel ``name`` as a callable ``f(grid, block, args, shared_mem=0)``."""
        if name not in self.signatures:
            raise KernelError(
                fmt("emulator", f"{self.path.name} has no kernel {name!r}; it has {sorted(self.signatures)}")
            )
        launcher = getattr(self.library, f"tgm_launch_{name}")
        launcher.restype = ctypes.c_int
        return Function(f"{self.path.name}::{name}", self.signatures[name], launcher, name in self.barriers)


class Function:
    """One emulated kernel: ``f(grid, block, args, shared_mem=0)`` runs the whole grid on the CPU."""

    def __init__(self, where, params, launcher, uses_barriers):
        self.where, self.params, self.launcher, self.uses_barriers = where, params, launcher, uses_barriers

    def __call__(self, grid, block, args, shared_mem=0):
        if shared_mem:
            raise KernelError(fmt(self.where, "dynamic shared memory (extern __shared__) is not emulated"))
        if len(args) != len(self.params):
            raise KernelError(fmt(self.where, f"takes {len(self.params)} arguments but got {len(args)}"))
        dims = [int(d) for d in _three(grid) + _three(block)]
        if dims[3] * dims[4] * dims[5] > 1024:
            raise KernelError(fmt(self.where, f"block {tuple(dims[3:])} has more than 1024 threads"))
        config = (ctypes.c_longlong * 8)(*dims, _current_order(), int(self.uses_barriers))
        slots = (ctypes.c_ulonglong * max(1, len(args)))(
            *[_slot(self.where, p, a) for p, a in zip(self.params, args, strict=True)]
        )
        error = ctypes.create_string_buffer(600)
        with _LAUNCH_LOCK:
            status = self.launcher(config, slots, error, len(error))
        if status != 0:
            raise KernelError(fmt(self.where, error.value.decode(errors="replace")))


def _three(dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return dims + (1,) * (3 - len(dims))


def _slot(where, param, arg):
    """One argument as the 64 bits the trampoline reads: an address, an integer or a double's bits."""
    ctype, name = param
    if ctype.endswith("*"):
        if not isinstance(arg, numpy.ndarray):
            raise KernelError(fmt(where, f"parameter {name} ({ctype}) expects a numpy array, got {type(arg).__name__}"))
        return arg.ctypes.data
    if ctype in ("double", "float"):
        return struct.unpack("<Q", struct.pack("<d", float(arg)))[0]
    return int(arg) & 0xFFFF_FFFF_FFFF_FFFF  # two's complement, like CuPy's 64-bit packing


_MODULES = {}


def load_file(cu_path, dtype):
    """A Module for any .cu file (kept per process, path, dtype and build flags)."""
    key = (str(Path(cu_path).resolve()), numpy.dtype(dtype).name, sanitizing())
    if key not in _MODULES:
        _MODULES[key] = Module(cu_path, dtype)
    return _MODULES[key]


def load_module(family, dtype, folder=None):
    """The emulated ``<folder>/<family>.cu`` for REAL_T = ``dtype``: what backend.load_kernel asks for.

    ``folder`` defaults to the package's kernels/ (backend.kernel_dir).
    """
    path = Path(folder or source.kernel_dir()) / f"{family}.cu"
    if not path.is_file():
        raise KernelError(fmt("emulator", f"no kernel file {path}"))
    return load_file(path, dtype)
