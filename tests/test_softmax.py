"""Softmax and log-softmax (ops/softmax.py, kernels/softmax.cu; nn.Softmax / nn.LogSoftmax in test_activation.py).

(a) forward against naive per-row loops written from the slide formula, (b) gradient checks in
float64 on every device (the kernel backward passes too), (c) parity of the row kernels with the
CPU path, in both thread orders and with many short rows per block, (d) stability at +-1000 and
bad input.
"""

import math

import numpy
import pytest
from conftest import assert_close, forward_backward
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import softmax as S

# ----------------------------------------------------------------------------- naive reference (the slide)


def test_softmax_and_log_softmax_match_naive_loops():
    x = numpy.random.default_rng(1).standard_normal((3, 4, 5))
    for dim in (0, 1, 2, -1):
        expected = numpy.empty_like(x)
        moved, out = numpy.moveaxis(x, dim, -1), numpy.moveaxis(expected, dim, -1)
        for index in numpy.ndindex(moved.shape[:-1]):
            row = [math.exp(v) for v in moved[index]]
            out[index] = [r / sum(row) for r in row]
        assert_close(S.softmax(tm.tensor(x), dim), expected, rtol=1e-12, atol=1e-14)
        assert_close(S.log_softmax(tm.tensor(x), dim), numpy.log(expected), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("op", [S.softmax, S.log_softmax])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_gradcheck_every_device(device, op, dim):
    x = device.tensor(numpy.random.default_rng(4).standard_normal((3, 4, 5)), requires_grad=True)
    tm.gradcheck(lambda t: op(t, dim), [x], atol=1e-7, rtol=1e-5)


# ----------------------------------------------------------------------------- kernel parity (float32)


@pytest.mark.parametrize("op", [S.softmax, S.log_softmax])
@pytest.mark.parametrize("shape,dim", [((4, 10), 1), ((3, 300), -1), ((2, 5, 3), 1), ((6, 1), 1), ((7,), 0)])
def test_softmax_parity(device, op, shape, dim):
    x = (numpy.random.default_rng(9).standard_normal(shape) * 4).astype(numpy.float32)
    gy = numpy.random.default_rng(10).standard_normal(shape).astype(numpy.float32)
    t = device.tensor(x, requires_grad=True)
    y = op(t, dim)
    y.backward(device.tensor(gy))
    ref = device.reference(lambda: forward_backward(lambda s: op(s, dim), x, gy))
    assert_close(y, ref[0])
    assert_close(t.grad, ref[1])


def test_softmax_kernel_has_no_race():
    from tinygrad_med import backend
    from tinygrad_med.kernelcheck.emulator import thread_order

    x = tm.tensor(numpy.random.default_rng(11).standard_normal((3, 37)))
    results = []
    with backend.use_emulator():
        for order in ("forward", "reverse"):
            with thread_order(order):
                results.append((S.softmax(x, 1).numpy(), S.log_softmax(x, 1).numpy()))
    for a, b in zip(*results, strict=True):
        numpy.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("max_blocks", [65535, 2])
def test_row_kernels_share_blocks_between_short_rows(monkeypatch, max_blocks):
    """C = 3: 4 threads per row, 64 rows per block; 150 rows leave the last block part-empty, and with
    at most 2 blocks each block loops over several row groups.  Both thread orders agree with NumPy."""
    from tinygrad_med import backend
    from tinygrad_med.kernelcheck.emulator import thread_order

    monkeypatch.setattr(backend, "MAX_BLOCKS", max_blocks)
    assert backend.grid_for(150, 256, row_length=3) == ((min(3, max_blocks),), (4, 64))
    x = numpy.random.default_rng(12).standard_normal((150, 3)) * 5
    gy = numpy.random.default_rng(13).standard_normal((150, 3))
    expected = [forward_backward(lambda s, op=op: op(s, 1), x, gy) for op in (S.softmax, S.log_softmax)]
    with backend.use_emulator():
        for order in ("forward", "reverse"):
            with thread_order(order):
                for op, (y_ref, gx_ref) in zip((S.softmax, S.log_softmax), expected, strict=True):
                    y, gx = forward_backward(lambda s, op=op: op(s, 1), x, gy)
                    numpy.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
                    numpy.testing.assert_allclose(gx, gx_ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), data=st.data())
def test_softmax_rows_sum_to_one_and_log_agrees(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = tm.tensor(numpy.random.default_rng(len(shape)).standard_normal(shape) * 10)
    y = S.softmax(x, dim).numpy()
    numpy.testing.assert_allclose(y.sum(axis=dim), 1.0, rtol=1e-12)
    numpy.testing.assert_allclose(numpy.log(y), S.log_softmax(x, dim).numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- stability at +-1000


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_softmax_limits_at_plus_minus_1000_are_exact_without_warnings(device, dtype):
    with numpy.errstate(all="raise"):  # overflow, 0/0, inf-inf and underflow all raise inside the ops
        row = device.tensor(numpy.array([[1000.0, -1000.0, 0.0]], dtype=dtype), requires_grad=True)
        y_soft, y_log = S.softmax(row, 1), S.log_softmax(row, 1)
        (y_soft * y_soft).sum().backward()
        y_log.sum().backward()
    assert_close(y_soft, [[1.0, 0.0, 0.0]], rtol=0, atol=0)
    assert_close(y_log, [[0.0, -2000.0, -1000.0]], rtol=1e-7, atol=0)
    assert numpy.isfinite(device.numpy(row.grad)).all()


# ----------------------------------------------------------------------------- bad input


def test_softmax_refuses_bad_input():
    with pytest.raises(DTypeError, match="softmax: expected a float tensor"):
        S.softmax(tm.tensor([[1, 2]]), 1)
    with pytest.raises(ShapeError, match=r"dim 2 is out of range for a 2-D tensor \(x.shape=\(2, 3\)\)"):
        S.softmax(tm.ones(2, 3), 2)


# ----------------------------------------------------------------------------- dim=None (PyTorch's legacy rule)


@pytest.mark.parametrize("shape, implicit", [((), 0), ((5,), 0), ((3, 4), 1), ((2, 3, 4), 0), ((2, 3, 4, 2), 1)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_implicit_dim_warns_and_picks_dim_0_or_1(name, shape, implicit):
    """dim=None: dim 0 for 0-, 1- and 3-D inputs, else 1 (torch.nn.functional._get_softmax_dim), with the
    deprecation warning naming the caller's line (this file), from the function and from the module."""
    x = tm.tensor(numpy.random.default_rng(4).standard_normal(shape))
    expected = getattr(S, name)(x, implicit).numpy()
    layer = {"softmax": tm.nn.Softmax, "log_softmax": tm.nn.LogSoftmax}[name]()
    for call in (lambda: getattr(F, name)(x), lambda: layer(x)):
        with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been deprecated") as record:
            y = call()
        assert [w.filename for w in record] == [__file__]
        assert_close(y, expected, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 2)])
def test_implicit_dim_matches_pytorch(shape):
    torch = pytest.importorskip("torch")
    x = numpy.random.default_rng(5).standard_normal(shape)
    with pytest.warns(UserWarning):
        theirs = torch.nn.functional.softmax(torch.tensor(x)).numpy(), torch.nn.LogSoftmax()(torch.tensor(x)).numpy()
    with pytest.warns(UserWarning):
        ours = F.softmax(tm.tensor(x)), tm.nn.LogSoftmax()(tm.tensor(x))
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b, rtol=1e-12, atol=1e-12)
