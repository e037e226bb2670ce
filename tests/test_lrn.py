"""Tests of ops/lrn.py (local_response_norm) and nn.LocalResponseNorm.

(a) forward against a loop over (n, c, position) written from the AlexNet paper's section 3.3
    formula (even and odd window sizes, windows wider than C, 3-D to 5-D inputs);
(b) gradient checks in float64, central differences;
(c) no CUDA kernel: the op is array code on both devices; the `device` fixture ties the cuda run to the CPU;
(d) PyTorch agreement when it is importable; bad input.
"""

import numpy
import pytest
from conftest import assert_close, forward_backward

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F


def naive_lrn(x, size, alpha, beta, k):
    """b[c] = a[c] / (k + alpha/n * sum_{c'=max(0, c-n//2)}^{min(C-1, c+(n-1)//2)} a[c']^2)^beta."""
    N, C = x.shape[:2]
    flat = x.reshape(N, C, -1)
    y = numpy.empty_like(flat)
    for n in range(N):
        for c in range(C):
            for p in range(flat.shape[2]):
                lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
                energy = sum(flat[n, q, p] ** 2 for q in range(lo, hi + 1))
                y[n, c, p] = flat[n, c, p] / (k + alpha / size * energy) ** beta
    return y.reshape(x.shape)


@pytest.mark.parametrize(
    "shape, size",
    [((2, 6, 3, 4), 5), ((2, 6, 3, 4), 4), ((1, 3, 5), 7), ((2, 4, 2, 3, 2), 3), ((1, 5, 2, 2), 1)],
)
def test_forward_matches_the_papers_formula(shape, size):
    x = numpy.random.default_rng(0).standard_normal(shape) * 2
    for alpha, beta, k in [(1e-4, 0.75, 1.0), (5e-4 * 1000, 0.75, 2.0), (0.3, 0.5, 1.5)]:
        y = F.local_response_norm(tm.tensor(x), size, alpha, beta, k)
        assert_close(y.numpy(), naive_lrn(x, size, alpha, beta, k), rtol=1e-12, atol=1e-12)


def test_float32_is_the_default_and_stays_float32():
    x = numpy.random.default_rng(1).standard_normal((2, 8, 3, 3)).astype(numpy.float32)
    y = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(tm.tensor(x))
    assert y.dtype == numpy.float32
    assert_close(y.numpy(), naive_lrn(x.astype(numpy.float64), 5, 5e-4, 0.75, 2.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, size", [((2, 5, 3), 3), ((1, 6, 2, 2), 4), ((1, 3, 2, 1, 2), 5)])
def test_gradcheck(shape, size):
    x = tm.tensor(numpy.random.default_rng(2).standard_normal(shape), requires_grad=True)
    result = tm.gradcheck(lambda t: F.local_response_norm(t, size, alpha=0.8, beta=0.75, k=1.0), [x])
    assert result.passed, result.report()


def test_parity_on_device(device):
    """Forward and backward on the device equal the CPU path (float32; CuPy arrays when device is cuda)."""
    x = numpy.random.default_rng(3).standard_normal((2, 7, 5, 4)).astype(numpy.float32)
    gy = numpy.random.default_rng(4).standard_normal(x.shape).astype(numpy.float32)
    lrn = nn.LocalResponseNorm(5, alpha=5e-4 * 50, beta=0.75, k=2.0)
    t = device.tensor(x, requires_grad=True)
    y = lrn(t)
    y.backward(device.tensor(gy))
    ref = device.reference(lambda: forward_backward(lrn, x, gy))
    assert y.dtype == numpy.float32 and t.grad.dtype == numpy.float32
    assert_close(y, ref[0])
    assert_close(t.grad, ref[1])


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = numpy.random.default_rng(3).standard_normal((2, 7, 4, 3))
    gy = numpy.random.default_rng(4).standard_normal(x.shape)
    ours = tm.tensor(x, requires_grad=True)
    y = F.local_response_norm(ours, 5, 0.01, 0.75, 2.0)
    (y * tm.tensor(gy)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    y_t = torch.nn.functional.local_response_norm(theirs, 5, 0.01, 0.75, 2.0)
    (y_t * torch.tensor(gy)).sum().backward()
    assert_close(y.numpy(), y_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert_close(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_module_repr_and_no_parameters():
    layer = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    assert list(layer.parameters()) == []
    assert repr(layer) == "LocalResponseNorm(5, alpha=0.0005, beta=0.75, k=2.0)"


def test_bad_input():
    with pytest.raises(ShapeError, match=r"at least 3 dims \(N, C, \*\), got 2 \(x.shape=\(4, 5\)\)"):
        F.local_response_norm(tm.randn(4, 5), 3)
    with pytest.raises(DTypeError, match="x has dtype int64"):
        F.local_response_norm(tm.tensor(numpy.ones((1, 2, 3), dtype=numpy.int64)), 3)
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        F.local_response_norm(tm.randn(1, 2, 3), 0)
