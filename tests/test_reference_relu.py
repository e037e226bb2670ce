"""ReLU's fast CPU path (ops/activation_fast.py) against the reference (ops/activation.py), forward and backward.

The fast path splits both passes in blocks over the worker threads; forced onto tiny arrays here, with 1-5
workers, values and gradients must be the reference's bit for bit (the same elementwise operations).
"""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import cpu_threads
from tinygrad_med.ops import activation_fast


@pytest.mark.parametrize("workers", [1, 2, 5])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 4), (2, 3, 1, 9)])
def test_fast_relu_equals_the_reference(monkeypatch, workers, shape):
    monkeypatch.setattr(activation_fast, "_PARALLEL_MIN_SIZE", 1)
    monkeypatch.setattr(cpu_threads, "_WORKERS", workers)
    rng = numpy.random.default_rng(40)
    x = rng.standard_normal(shape).astype("f4")
    x.reshape(-1)[::3] = 0  # ties at 0: no gradient there, as PyTorch
    gy = rng.standard_normal(shape).astype("f4")

    def run():
        xt = tm.tensor(x, requires_grad=True)
        y = tm.nn.functional.relu(xt)
        y.backward(tm.tensor(gy))
        return y.numpy(), xt.grad.numpy()

    with tm.reference_mode():
        reference = run()
    for got, want in zip(run(), reference, strict=True):
        numpy.testing.assert_array_equal(got, want)
    assert not run()[1].reshape(-1)[::3].any()


def test_non_contiguous_input_takes_the_one_call():
    x = numpy.arange(-6.0, 6.0).reshape(3, 4).T  # a transposed view
    numpy.testing.assert_array_equal(activation_fast.relu_fwd(x), numpy.maximum(x, 0))
    numpy.testing.assert_array_equal(activation_fast.relu_bwd(x, numpy.ones_like(x)), (x > 0).astype(float))


def test_reference_mode_never_calls_the_fast_path(monkeypatch):
    def refuse(*args):
        raise AssertionError("the fast path ran under tm.reference_mode()")

    monkeypatch.setattr(activation_fast, "relu_fwd", refuse)
    monkeypatch.setattr(activation_fast, "relu_bwd", refuse)
    with tm.reference_mode():
        x = tm.tensor(numpy.array([-1.0, 2.0]), requires_grad=True)
        tm.nn.functional.relu(x).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])
