"""The educational tiled GEMM kernel (kernels/gemm.cu) against numpy.matmul."""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.errors import ShapeError
from tinygrad_med.ops.gemm import tiled_matmul


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (5, 9, 3), (130, 7, 129)])
def test_tiled_matmul_matches_numpy_on_every_device(device, M, K, N):
    rng = numpy.random.default_rng(M + K + N)
    a, b = rng.standard_normal((M, K)).astype(numpy.float32), rng.standard_normal((K, N)).astype(numpy.float32)
    c = tiled_matmul(device.tensor(a), device.tensor(b))
    assert c.shape == (M, N)
    assert_close(c, a @ b, rtol=1e-4, atol=1e-4)


def test_tiled_matmul_gradcheck(device):
    a = device.tensor(numpy.random.default_rng(1).standard_normal((4, 9)), requires_grad=True)
    b = device.tensor(numpy.random.default_rng(2).standard_normal((9, 3)), requires_grad=True)
    tm.gradcheck(tiled_matmul, [a, b])


def test_tiled_matmul_needs_matching_inner_size():
    with pytest.raises(ShapeError, match=r"a.shape=\(2, 3\) as \(M, K\); b.shape=\(4, 5\) as \(K, N\)"):
        tiled_matmul(tm.ones(2, 3), tm.ones(4, 5))


def test_tiled_matmul_has_no_race_between_threads():
    """The kernel gives the same result with threads run forwards and backwards (emulator)."""
    pytest.importorskip("tinygrad_med.kernelcheck.emulator")
    from tinygrad_med import backend
    from tinygrad_med.kernelcheck.emulator import thread_order

    rng = numpy.random.default_rng(3)
    a, b = rng.standard_normal((20, 17)), rng.standard_normal((17, 9))
    results = []
    with backend.use_emulator():
        for order in ("forward", "reverse"):
            with thread_order(order):
                results.append(tiled_matmul(tm.tensor(a), tm.tensor(b)).numpy())
    numpy.testing.assert_array_equal(results[0], results[1])
    numpy.testing.assert_allclose(results[0], a @ b, rtol=1e-12)
