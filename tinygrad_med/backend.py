"""Array modules, devices and CUDA kernels: the ONLY module that imports cupy.

A tensor on device 'cpu' holds a numpy.ndarray, one on 'cuda' a cupy.ndarray.
Op code is written once against the array module returned by ``get_xp(x)``;
the op families that are the point of the course also have raw CUDA kernels,
loaded here from ``kernels/<family>.cu`` and launched with the same call that
``cupy.RawKernel`` takes::

    kernel = load_kernel("activation", "sigmoid_fwd", x.dtype)
    kernel((blocks,), (threads,), (x, y, x.size))

or in one line, with the launch size of ``grid_for`` (the one launch-size helper)::

    launch("activation", "sigmoid_fwd", x.size, (x, y, x.size), x.dtype)

Every kernel file is compiled once per process and dtype, with
``-DREAL_T=float`` or ``-DREAL_T=double``, so one source serves float32 and
float64.  Before a launch, the arguments are checked against the parameter list
parsed from the .cu source: arrays must be contiguous, of the right dtype and on
the right device; Python scalars are converted to the kernel's ``long long`` or
``double`` (a kernel parameter of type ``int`` or ``float`` is refused, because
CuPy packs every Python int as 64 bits and every float as a double).

Without a GPU, ``use_emulator()`` makes ``load_kernel`` return the same kernels
compiled for the CPU (tinygrad_med/kernelcheck), and makes ``on_gpu(x)`` true
for numpy arrays, so the GPU path of every op runs and is tested in CI.
"""

import contextlib
import os
import time

import numpy

from .errors import DeviceError, DTypeError, KernelError, ShapeError, fmt
from .kernelcheck.source import KERNEL_RE, kernel_dir, parse_params

try:  # CuPy is optional: everything on the CPU works without it.
    import cupy

    _CUPY_IMPORT_ERROR = None
except Exception as error:  # ImportError, or a broken CUDA install
    cupy = None
    _CUPY_IMPORT_ERROR = error

__all__ = [
    "cupy",
    "get_xp",
    "is_gpu_array",
    "on_gpu",
    "cuda_available",
    "cuda_unavailable_reason",
    "normalize_device",
    "device_of",
    "array_module",
    "to_device",
    "to_numpy",
    "kernel_dir",
    "kernel_signature",
    "grid_for",
    "load_kernel",
    "use_emulator",
    "emulating",
    "synchronize",
    "time_call",
    "device_properties",
]

# ----------------------------------------------------------------------------- devices


def is_gpu_array(array):
    """True if ``array`` is a cupy.ndarray."""
    return cupy is not None and isinstance(array, cupy.ndarray)


def get_xp(array):
    """The array module (numpy or cupy) that ``array`` belongs to."""
    return cupy if is_gpu_array(array) else numpy


def on_gpu(array):
    """True if an op on ``array`` should take its GPU (kernel) path.

    That is a cupy array, or any array while ``use_emulator()`` is active: the
    one place where ops decide between ``_f_cpu`` and ``_f_gpu``.
    """
    return is_gpu_array(array) or _EMULATOR["on"]


def cuda_unavailable_reason():
    """None if a CUDA device can be used, else a sentence saying why not."""
    if cupy is None:
        return f"CuPy is not installed ({_CUPY_IMPORT_ERROR}); install it with: pip install 'tinygrad_med[gpu]'"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # cudaErrorInsufficientDriver, cudaErrorNoDevice, ...
        return f"CuPy is installed but no CUDA device can be used ({error}); check the driver"
    if count == 0:
        return "CuPy is installed but the driver reports no CUDA device"
    return None


def cuda_available():
    """True if tensors can be placed on 'cuda'."""
    return cuda_unavailable_reason() is None


def normalize_device(device):
    """'cpu' or 'cuda' from 'cpu', 'cuda', 'cuda:0' or None (-> 'cpu')."""
    if device is None:
        return "cpu"
    name = str(device)
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "cuda:0", "gpu"):
        return "cuda"
    raise DeviceError(fmt("device", f"unknown device {name!r}; expected 'cpu' or 'cuda'"))


def device_of(array):
    """'cuda' for a cupy array, 'cpu' for anything else."""
    return "cuda" if is_gpu_array(array) else "cpu"


def array_module(device):
    """numpy for 'cpu', cupy for 'cuda' (DeviceError saying why if CUDA cannot be used)."""
    if normalize_device(device) == "cpu":
        return numpy
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise DeviceError(fmt("device 'cuda'", reason))
    return cupy


def to_device(array, device):
    """Return ``array`` on ``device`` ('cpu' or 'cuda'), copying only if it moves."""
    device = normalize_device(device)
    if device == "cpu":
        return cupy.asnumpy(array) if is_gpu_array(array) else numpy.asarray(array)
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise DeviceError(fmt("to('cuda')", reason))
    return cupy.asarray(array)


def to_numpy(array):
    """A numpy copy-or-view of ``array`` wherever it lives."""
    return cupy.asnumpy(array) if is_gpu_array(array) else numpy.asarray(array)


def synchronize():
    """Wait for the GPU to finish queued work (no-op without one); used by benchmarks."""
    if cupy is not None and cuda_available():
        cupy.cuda.Device().synchronize()


def time_call(fn, device):
    """Seconds one call of ``fn`` takes on ``device``.

    On 'cuda' the time between two CUDA events recorded around the call, after the
    queue is drained (so only this call's kernels are measured); on 'cpu' the wall clock.
    """
    if normalize_device(device) == "cuda":
        synchronize()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def device_properties():
    """Name, driver, CUDA runtime and CuPy versions of the GPU (empty dict without one)."""
    if not cuda_available():
        return {}
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return {
        "gpu": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
        "multiprocessors": props["multiProcessorCount"],
        "memory_bytes": props["totalGlobalMem"],
        "compute_capability": f"{props['major']}.{props['minor']}",
        "driver": cupy.cuda.runtime.driverGetVersion(),
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "cupy": cupy.__version__,
    }


# ----------------------------------------------------------------------------- kernels


# pointer element type -> numpy dtype (None means the module's REAL_T)
_POINTER_DTYPES = {
    "real_t": None,
    "float": numpy.float32,
    "double": numpy.float64,
    "long long": numpy.int64,
    "int": numpy.int32,
    "unsigned int": numpy.uint32,
    "unsigned char": numpy.uint8,
    "bool": numpy.bool_,
}
_SCALAR_TYPES = {"long long": int, "unsigned long long": int, "double": float}


def kernel_signature(family, name=None):
    """Parameter lists of the kernels in ``kernels/<family>.cu``.

    Returns:
        {kernel name: [(C type, parameter name), ...]}, or one such list if ``name`` is given.
    Raises:
        KernelError if the file or the kernel does not exist.
    """
    path = kernel_dir() / f"{family}.cu"
    if not path.is_file():
        raise KernelError(fmt("load_kernel", f"no kernel file {path}"))
    found = {m.group(1): parse_params(m.group(2)) for m in KERNEL_RE.finditer(path.read_text())}
    if name is None:
        return found
    if name not in found:
        raise KernelError(fmt("load_kernel", f"{path.name} has no kernel {name!r}; it has {sorted(found)}"))
    return found[name]


class Kernel:
    """One CUDA kernel, callable as ``kernel(grid, block, args)`` like cupy.RawKernel.

    The arguments are checked against the parameter list of the .cu source before
    the launch; a wrong count, dtype, device or a non-contiguous array is a clear error.
    """

    def __init__(self, family, name, dtype, params, function, xp):
        self.family, self.name, self.dtype = family, name, numpy.dtype(dtype)
        self.params, self.function, self.xp = params, function, xp

    def __repr__(self):
        return f"Kernel({self.family}.cu::{self.name}, REAL_T={self.dtype.name})"

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = _dims(self, "grid", grid), _dims(self, "block", block)
        if block[0] * block[1] * block[2] > 1024:
            raise KernelError(fmt(self.name, f"block {block} has more than 1024 threads"))
        self.function(grid, block, self._check_args(args), shared_mem=shared_mem)

    def _check_args(self, args):
        where = f"{self.family}.cu::{self.name}"
        if len(args) != len(self.params):
            names = ", ".join(n for _, n in self.params)
            raise KernelError(fmt(where, f"takes {len(self.params)} arguments ({names}) but got {len(args)}"))
        packed = []
        for (ctype, pname), arg in zip(self.params, args):
            if ctype.endswith("*"):
                packed.append(self._check_array(where, ctype, pname, arg))
            elif ctype in _SCALAR_TYPES:
                if hasattr(arg, "shape") and getattr(arg, "ndim", 0) != 0:
                    raise KernelError(fmt(where, f"parameter {pname} ({ctype}) got an array", arg=arg))
                packed.append(_SCALAR_TYPES[ctype](arg))
            else:
                raise KernelError(fmt(where, f"parameter {pname} has by-value type {ctype!r}; use long long or double"))
        return tuple(packed)

    def _check_array(self, where, ctype, pname, arg):
        if not isinstance(arg, self.xp.ndarray):
            raise DeviceError(
                fmt(where, f"parameter {pname} expects a {self.xp.__name__} array, got {type(arg).__name__}")
            )
        expected = _POINTER_DTYPES.get(ctype[:-1])
        expected = self.dtype if expected is None else numpy.dtype(expected)
        if arg.dtype != expected:
            raise DTypeError(fmt(where, f"parameter {pname} ({ctype}) expects {expected}, got {arg.dtype}"))
        if not arg.flags.c_contiguous:
            raise ShapeError(
                fmt(
                    where, f"parameter {pname} must be C-contiguous", arg=arg, hint="pass x.copy() or ascontiguousarray"
                )
            )
        return arg


def _dims(kernel, what, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if not 1 <= len(dims) <= 3 or any(int(d) < 1 for d in dims):
        raise KernelError(fmt(kernel.name, f"{what} must be 1 to 3 positive sizes, got {dims}"))
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))


MAX_BLOCKS = 65535  # blocks per launch for grid-stride kernels; each thread then loops over the rest


def grid_for(n, threads=256, row_length=None):
    """(grid, block) of a launch: the one launch-size helper of every kernel family.

    Without ``row_length``: a grid-stride kernel over ``n`` elements, ceil(n / threads) blocks of
    ``threads``, at most MAX_BLOCKS.  Every elementwise kernel loops ``for (i = global id; i < n;
    i += all threads)`` (common.cuh's GRID_STRIDE_LOOP), so the cap is safe and one launch covers any n.

    With ``row_length``: a row kernel over ``n`` rows (softmax, cross-entropy, pooling, resampling):
    blocks of (across, rows per block) threads, ``across`` = a power of two >= row_length, at most
    ``threads`` (block_reduce halves it), and as many rows per block as fit in ``threads`` (at most n):
    many short rows (C = 2 classes per pixel) share a block instead of leaving it almost empty.  At
    most MAX_BLOCKS blocks; the row kernels loop over the rest.
    """
    if row_length is None:
        return (max(1, min(-(-int(n) // threads), MAX_BLOCKS)),), (threads,)
    across = min(threads, 1 << max(0, int(row_length - 1).bit_length()))
    rows_per_block = max(1, min(threads // across, int(n)))
    return (max(1, min(-(-int(n) // rows_per_block), MAX_BLOCKS)),), (across, rows_per_block)


NVRTC_OPTIONS = ("--std=c++17",)  # + -DREAL_T=..., -I<kernel_dir>; CuPy adds -arch and -ftz=true
_MODULES = {}  # (family, dtype name, provider) -> (compiled module, array module)
_KERNELS = {}  # (family, name, dtype, provider) -> Kernel, so a launch re-reads nothing
_EMULATOR = {"on": False}


def blocks_for(n, threads=256):
    """Blocks for a grid-stride loop over n items, ``threads`` items per block (grid_for's block count);
    the norm reductions pass threads=1: one block per (channel, chunk) or per channel, at most MAX_BLOCKS."""
    return grid_for(n, threads)[0][0]


def launch(family, name, n, args, dtype, threads=256, row_length=None):
    """Launch kernels/<family>.cu::<name> on the arrays and scalars ``args`` with ``grid_for``'s grid:
    one thread per element of ``n`` (a grid-stride kernel), or with ``row_length`` a row kernel over
    ``n`` rows; nothing to launch for n == 0."""
    if n:
        load_kernel(family, name, dtype)(*grid_for(n, threads, row_length), args)


def compile_options(dtype):
    """The options every kernel file is compiled with (also used by the compile check)."""
    real = {"float32": "float", "float64": "double"}[numpy.dtype(dtype).name]
    return NVRTC_OPTIONS + (f"-DREAL_T={real}", f"-I{kernel_dir()}")


def load_kernel(family, name, dtype):
    """The kernel ``name`` of ``kernels/<family>.cu`` compiled for REAL_T = ``dtype``.

    Compiles the file once per process, dtype and provider (CuPy on a GPU, the CPU
    emulator inside ``use_emulator()``) and caches it.
    """
    provider = "emulator" if _EMULATOR["on"] else "cupy"
    kernel = _KERNELS.get((family, name, dtype, provider))
    if kernel is not None:  # the common case: one dict lookup per launch
        return kernel
    dtype = numpy.dtype(dtype)
    if dtype.name not in ("float32", "float64"):
        raise DTypeError(fmt("load_kernel", f"kernels are built for float32 or float64, got {dtype}"))
    params = kernel_signature(family, name)
    key = (family, dtype.name, provider)
    if key not in _MODULES:
        _MODULES[key] = _compile(family, dtype, provider)
    module, xp = _MODULES[key]
    kernel = Kernel(family, name, dtype, params, module.get_function(name), xp)
    _KERNELS[(family, name, dtype, provider)] = kernel
    return kernel


def _compile(family, dtype, provider):
    if provider == "emulator":
        from .kernelcheck import emulator

        return emulator.load_module(family, dtype, kernel_dir()), numpy
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise DeviceError(fmt("load_kernel", reason))
    source = (kernel_dir() / f"{family}.cu").read_text()
    try:
        module = cupy.RawModule(code=source, options=compile_options(dtype))
        module.compile()
    except Exception as error:
        raise KernelError(fmt("load_kernel", f"kernels/{family}.cu failed to compile: {error}")) from error
    return module, cupy


@contextlib.contextmanager
def use_emulator(on=True):
    """Run the GPU path of every op on the CPU: kernels compiled with g++ and our CUDA header.

    Inside this context ``on_gpu(x)`` is true for numpy arrays and ``load_kernel``
    returns emulated kernels, so ``_f_gpu`` code and the .cu kernels run without a GPU.
    """
    previous = _EMULATOR["on"]
    _EMULATOR["on"] = on
    try:
        yield
    finally:
        _EMULATOR["on"] = previous


def emulating():
    """True inside ``use_emulator()``."""
    return _EMULATOR["on"]


if os.environ.get("TGM_EMULATE_CUDA") == "1":  # run a whole program's GPU path on the CPU
    _EMULATOR["on"] = True
