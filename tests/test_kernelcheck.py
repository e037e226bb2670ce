"""Tests of the kernel checks (tinygrad_med/kernelcheck) and of backend.Kernel's argument checks.

The self-test kernels (kernels/selftest.cu) run through backend.load_kernel on the CPU
emulator and, marked ``gpu``, on CuPy, against NumPy. The planted-bug kernels
(tests/kernels_planted/*.cu) must each be caught by the check made for them:
a missing barrier by thread order, an early return by the barrier check, an
out-of-bounds read by AddressSanitizer, a by-value int by the compile check.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from tinygrad_med import backend
from tinygrad_med.errors import DeviceError, DTypeError, KernelError, ShapeError
from tinygrad_med.kernelcheck import compile_check, emulator, source

PLANTED = Path(__file__).resolve().parent / "kernels_planted"
ROOT = Path(__file__).resolve().parent.parent
SANITIZED = ROOT / "tinygrad_med" / "kernelcheck" / "run_sanitized.sh"
DTYPES = [numpy.float32, numpy.float64]
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is needed to emulate the CUDA kernels")
needs_nvcc = pytest.mark.skipif(compile_check.find_nvcc() is None, reason="nvcc not found; CI has it")


@pytest.fixture(params=[pytest.param("emulator", marks=needs_gxx), pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module whose kernels run: numpy inside use_emulator(), or cupy on a GPU."""
    if request.param == "cupy":
        reason = backend.cuda_unavailable_reason()
        if reason:
            pytest.skip(reason)
        yield backend.cupy
    else:
        with backend.use_emulator():
            yield numpy


def run(xp, name, dtype, grid, block, *args):
    """Launch kernels/selftest.cu::name; numpy arrays in args are moved to xp and back after."""
    moved = [xp.asarray(a) if isinstance(a, numpy.ndarray) else a for a in args]
    backend.load_kernel("selftest", name, dtype)(grid, block, tuple(moved))
    return [backend.to_numpy(m) for m in moved if not isinstance(m, (int, float))]


def im2col_reference(x, KH, KW, S, P, D):
    """x (C, H, W) -> (C*KH*KW, OH*OW), straight from the definition."""
    C, H, W = x.shape
    OH, OW = (H + 2 * P - D * (KH - 1) - 1) // S + 1, (W + 2 * P - D * (KW - 1) - 1) // S + 1
    padded = numpy.pad(x, ((0, 0), (P, P), (P, P)))
    col = numpy.empty((C, KH, KW, OH, OW), x.dtype)
    for p in range(KH):
        for q in range(KW):
            col[:, p, q] = padded[:, p * D : p * D + S * (OH - 1) + 1 : S, q * D : q * D + S * (OW - 1) + 1 : S]
    return col.reshape(C * KH * KW, OH * OW), OH, OW


# ----------------------------------------------------------------------------- self-test kernels vs NumPy


@pytest.mark.parametrize("dtype", DTYPES)
def test_saxpy(xp, dtype):
    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
    (got, _) = run(xp, "saxpy", dtype, (3,), (128,), y.copy(), x, 2.5, 1000)  # 384 threads, grid-stride
    numpy.testing.assert_allclose(got, 2.5 * x + y, rtol=1e-5, atol=1e-6)  # the GPU contracts to an FMA


@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_2d_matches_definition_exactly(xp, dtype):
    x = numpy.random.default_rng(1).standard_normal((3, 9, 8)).astype(dtype)
    expected, OH, OW = im2col_reference(x, KH=3, KW=2, S=2, P=1, D=2)
    col = numpy.full(expected.shape, numpy.nan, dtype)
    (_, got) = run(xp, "im2col_2d", dtype, (4,), (64,), x, col, 3, 9, 8, 3, 2, 2, 1, 2, OH, OW)
    numpy.testing.assert_array_equal(got, expected)  # an index kernel: exact


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_sum_shared_memory_reduction(xp, dtype):
    x = numpy.random.default_rng(2).random(1000).astype(dtype)
    (_, partial) = run(xp, "block_sum", dtype, (4,), (256,), x, numpy.zeros(4, dtype), 1000)
    numpy.testing.assert_allclose(partial, numpy.pad(x, (0, 24)).reshape(4, 256).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_tile_2d_blocks(xp, dtype):
    x = numpy.random.default_rng(3).standard_normal((37, 21)).astype(dtype)  # (R, K), not multiples of 16
    (_, y) = run(xp, "transpose_tile", dtype, (2, 3), (16, 16), x, numpy.zeros((21, 37), dtype), 37, 21)
    numpy.testing.assert_array_equal(y, x.T)


def test_histogram_atomic_add(xp):
    labels = numpy.random.default_rng(4).integers(0, 10, 5000)
    (_, counts) = run(xp, "histogram", numpy.float32, (8,), (128,), labels, numpy.zeros(10, numpy.uint32), 5000)
    numpy.testing.assert_array_equal(counts, numpy.bincount(labels, minlength=10))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_atomic_add(xp, dtype):
    rng = numpy.random.default_rng(5)
    index, src = rng.integers(0, 7, 300), rng.standard_normal(300).astype(dtype)
    expected = numpy.zeros(7, dtype)
    numpy.add.at(expected, index, src)
    (_, _, out) = run(xp, "scatter_add", dtype, (2,), (64,), index, src, numpy.zeros(7, dtype), 300)
    numpy.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)  # atomic order changes rounding


# ----------------------------------------------------------------------------- backend.Kernel argument checks


def test_kernel_rejects_wrong_argument_count(xp):
    kernel = backend.load_kernel("selftest", "saxpy", numpy.float32)
    y = xp.zeros(4, numpy.float32)
    with pytest.raises(KernelError, match=r"saxpy: takes 4 arguments \(y, x, a, n\) but got 3"):
        kernel((1,), (4,), (y, y, 2.0))


def test_kernel_rejects_wrong_dtype(xp):
    kernel = backend.load_kernel("selftest", "saxpy", numpy.float32)
    y, x64 = xp.zeros(4, numpy.float32), xp.zeros(4, numpy.float64)
    with pytest.raises(DTypeError, match=r"parameter x \(real_t\*\) expects float32, got float64"):
        kernel((1,), (4,), (y, x64, 2.0, 4))


def test_kernel_rejects_non_contiguous_array(xp):
    kernel = backend.load_kernel("selftest", "saxpy", numpy.float32)
    y, x = xp.zeros(4, numpy.float32), xp.zeros(8, numpy.float32)[::2]
    with pytest.raises(ShapeError, match=r"parameter x must be C-contiguous"):
        kernel((1,), (4,), (y, x, 2.0, 4))


def test_kernel_rejects_array_from_other_module(xp):
    kernel = backend.load_kernel("selftest", "saxpy", numpy.float32)
    with pytest.raises(DeviceError, match=r"parameter y expects a"):
        kernel((1,), (4,), ([0.0] * 4, xp.zeros(4, numpy.float32), 2.0, 4))


def test_kernel_rejects_oversized_block(xp):
    kernel = backend.load_kernel("selftest", "saxpy", numpy.float32)
    y = xp.zeros(4, numpy.float32)
    with pytest.raises(KernelError, match=r"more than 1024 threads"):
        kernel((1,), (64, 32), (y, y, 2.0, 4))


def test_kernel_rejects_by_value_int_parameter(xp, monkeypatch):
    monkeypatch.setattr(backend, "kernel_dir", lambda: PLANTED)
    kernel = backend.load_kernel("planted_int_param", "scale", numpy.float32)
    with pytest.raises(KernelError, match=r"parameter n has by-value type 'int'; use long long or double"):
        kernel((1,), (4,), (xp.ones(4, numpy.float32), 2.0, 4))


# ----------------------------------------------------------------------------- emulator behaviour


def planted(name, dtype=numpy.float32):
    """The emulated kernel of tests/kernels_planted/<name>.cu (one kernel per file)."""
    module = emulator.load_file(PLANTED / f"{name}.cu", dtype)
    return module.get_function(next(iter(module.signatures)))


@needs_gxx
def test_barrier_kernels_found_through_device_functions():
    text = "\n".join(p.read_text() for p in source.source_files(ROOT / "kernels" / "selftest.cu"))
    assert source.barrier_kernels(text) == {"block_sum", "transpose_tile"}


@needs_gxx
@pytest.mark.parametrize("name, grid, block", [("block_sum", (4,), (256,)), ("transpose_tile", (2, 3), (16, 16))])
def test_correct_barrier_kernels_agree_in_both_thread_orders(name, grid, block):
    x = numpy.random.default_rng(6).random(37 * 21)
    with backend.use_emulator():
        args = (x, numpy.zeros(max(4, x.size)), x.size) if name == "block_sum" else (x, numpy.zeros(x.size), 37, 21)
        forward = run(numpy, name, numpy.float64, grid, block, *args)[1]
        with emulator.thread_order("reverse"):
            reverse = run(numpy, name, numpy.float64, grid, block, *args)[1]
    numpy.testing.assert_array_equal(forward, reverse)


@needs_gxx
def test_missing_syncthreads_caught_by_thread_order():
    shift_left, x = planted("planted_race"), numpy.arange(1, 201, dtype=numpy.float32)
    forward, reverse = numpy.zeros(200, numpy.float32), numpy.zeros(200, numpy.float32)
    shift_left((4,), (64,), (x, forward, 200))
    with emulator.thread_order("reverse"):
        shift_left((4,), (64,), (x, reverse, 200))
    assert not numpy.array_equal(forward, reverse), "the planted race went unnoticed"


@needs_gxx
def test_return_before_barrier_raises_instead_of_hanging():
    block_max, x = planted("planted_early_return"), numpy.random.default_rng(7).random(256).astype(numpy.float32)
    partial = numpy.zeros(4, numpy.float32)
    block_max((4,), (64,), (x, partial, 256))  # every thread reaches every barrier: fine
    numpy.testing.assert_array_equal(partial, x.reshape(4, 64).max(axis=1))
    with pytest.raises(KernelError, match=r"block \(3, 0, 0\): 56 thread\(s\) returned while others wait at __sync"):
        block_max((4,), (64,), (x, partial, 200))


@needs_gxx
@pytest.mark.skipif(emulator.sanitizing(), reason="ASan builds guard shared arrays with red zones instead")
@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_unwritten_shared_memory_reads_as_nan(order):
    block_total, x = planted("planted_stale_shared"), numpy.ones(256, numpy.float32)
    partial = numpy.zeros(4, numpy.float32)
    with emulator.thread_order(order):
        block_total((4,), (64,), (x, partial, 256))  # every thread stores: fine
        numpy.testing.assert_array_equal(partial, [64, 64, 64, 64])
        block_total((4,), (64,), (x, partial, 200))  # the last block's 56 tail threads store nothing
    numpy.testing.assert_array_equal(partial[:3], [64, 64, 64])
    assert numpy.isnan(partial[3]), "the read of unwritten shared memory went unnoticed"


@needs_gxx
def test_threads_at_different_barriers_raise():
    with pytest.raises(KernelError, match=r"threads wait at different __syncthreads \(lines 8 and 11\)"):
        planted("planted_split_barrier")((1,), (4,), (numpy.zeros(4, numpy.float32),))


@needs_gxx
def test_dynamic_shared_memory_is_refused():
    with backend.use_emulator():
        kernel = backend.load_kernel("selftest", "block_sum", numpy.float32)
        with pytest.raises(KernelError, match=r"dynamic shared memory"):
            kernel((1,), (256,), (numpy.zeros(4, numpy.float32), numpy.zeros(1, numpy.float32), 4), shared_mem=64)


@needs_gxx
def test_unknown_thread_order_is_refused(monkeypatch):
    monkeypatch.setenv("TGM_EMULATOR_ORDER", "sideways")
    with pytest.raises(KernelError, match=r"TGM_EMULATOR_ORDER='sideways'"):
        planted("planted_oob")((1,), (1,), (numpy.zeros(2, numpy.float32), numpy.zeros(1, numpy.float32), 1))


@needs_gxx
def test_library_rebuilt_when_the_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TGM_EMULATOR_CACHE", str(tmp_path / "cache"))
    cu = tmp_path / "edited.cu"
    cu.write_text((PLANTED / "planted_oob.cu").read_text())
    first, _ = emulator.build_library(cu, numpy.float32)
    assert emulator.build_library(cu, numpy.float32)[0] == first  # cached
    cu.write_text(cu.read_text().replace("x[i + 1] - x[i]", "x[i] - x[i]"))
    assert emulator.build_library(cu, numpy.float32)[0] != first


@needs_gxx
@pytest.mark.skipif(not SANITIZED.exists(), reason="run_sanitized.sh is not installed")
def test_out_of_bounds_read_caught_by_address_sanitizer():
    # In a child process: AddressSanitizer ends the process it finds a bug in.
    script = (
        "import numpy; from tinygrad_med.kernelcheck import emulator\n"
        "f = emulator.load_file('tests/kernels_planted/planted_oob.cu', numpy.float32).get_function('diff')\n"
        "x = numpy.arange(200, dtype=numpy.float32); y = numpy.zeros(200, numpy.float32)\n"
        "f((4,), (64,), (x, y, 199)); print('in bounds ok', flush=True)\n"  # n = 199 reads x[199]: fine
        "f((4,), (64,), (x, y, 200)); print('not caught')\n"  # reads x[200]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", str(SANITIZED), sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert "in bounds ok" in result.stdout, result.stderr[-3000:]
    assert "not caught" not in result.stdout
    assert "heap-buffer-overflow" in result.stderr and "planted_oob.cu:9" in result.stderr, result.stderr[-3000:]


# ----------------------------------------------------------------------------- compile check


def test_int_parameter_rejected_from_the_source():
    problems = compile_check.source_problems(source.kernel_signatures(PLANTED / "planted_int_param.cu"))
    assert problems == ["scale: parameter n has by-value type 'int'; use long long or double"]


@needs_nvcc
def test_int_parameter_rejected_by_ptx_widths():
    report = compile_check.check_file(PLANTED / "planted_int_param.cu", "float32")
    assert not report.ok
    assert any("parameter n (int) is .u32 in PTX" in p for p in report.problems), report.problems
    assert report.kernels["scale"].ptx_params == ("u64", "f64", "u32")


@needs_nvcc
def test_warning_fails_the_compile_check(tmp_path):
    cu = tmp_path / "unused.cu"  # the early-return kernel with an unused variable added
    cu.write_text(
        (PLANTED / "planted_early_return.cu").read_text().replace("  __shared__", "  int unused = 1;\n  __shared__")
    )
    report = compile_check.check_file(cu, "float64")
    assert not report.ok and "declared but never referenced" in "\n".join(report.problems)


@needs_nvcc
def test_every_kernel_file_compiles_cleanly():
    reports = compile_check.check_files()
    assert {r.path.name for r in reports} >= {"selftest.cu"}
    assert all(r.ok for r in reports), "\n" + compile_check.format_table(reports)
    kernel = next(r for r in reports if r.path.name == "selftest.cu").kernels["block_sum"]
    assert kernel.registers > 0 and kernel.shared_bytes >= 256 * 4 and kernel.spill_bytes == 0


@needs_nvcc
def test_compile_check_command_line_exit_codes():
    clean = compile_check.main([str(ROOT / "kernels" / "selftest.cu"), "--no-nvrtc"])
    broken = compile_check.main([str(PLANTED / "planted_int_param.cu"), "--no-nvrtc"])
    assert (clean, broken) == (0, 1)
