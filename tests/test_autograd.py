"""The backward engine: accumulation, shared inputs, broadcasting, graph freeing, no_grad."""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med import backend
from tinygrad_med.errors import DeviceError, DTypeError, ShapeError
from tinygrad_med.function import Function


def test_chain_rule_matches_hand_derivative():
    x = tm.tensor([0.5, -1.0, 2.0], dtype=tm.float64, requires_grad=True)
    y = (x * x * 3 + x.exp()).sum()  # dy/dx = 6x + e^x
    y.backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() + numpy.exp(x.numpy()))


def test_tensor_used_twice_gets_both_contributions():
    x = tm.tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.backward()
    assert x.grad.item() == pytest.approx(7.0)


def test_diamond_graph_visits_each_function_once_after_all_consumers():
    x = tm.tensor([1.0, 2.0], dtype=tm.float64, requires_grad=True)
    a = x * 2
    b = a.exp()
    c = a * b  # uses a directly and through b
    c.sum().backward()
    xs = x.numpy()
    expected = 2 * numpy.exp(2 * xs) + 2 * xs * 2 * numpy.exp(2 * xs)
    numpy.testing.assert_allclose(x.grad.numpy(), expected)


def test_gradients_accumulate_across_backward_calls():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_broadcasting_is_undone_in_the_gradient():
    x = tm.randn(4, 3, requires_grad=True)
    b = tm.randn(3, requires_grad=True)
    s = tm.randn(4, 1, requires_grad=True)
    ((x + b) * s).sum().backward()
    assert b.grad.shape == (3,) and s.grad.shape == (4, 1)
    numpy.testing.assert_allclose(b.grad.numpy(), s.numpy().sum() * numpy.ones(3), rtol=1e-5)
    numpy.testing.assert_allclose(s.grad.numpy(), (x.numpy() + b.numpy()).sum(1, keepdims=True), rtol=1e-5)


def test_graph_is_freed_after_backward_unless_retained():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()  # allowed once more: the graph was retained the first time
    numpy.testing.assert_allclose(x.grad.numpy(), 4 * numpy.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_on_non_scalar_needs_a_gradient():
    x = tm.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(ShapeError, match=r"one-element.*output.shape=\(3,\)"):
        y.backward()
    y.backward(tm.tensor([1.0, 0.0, 2.0]))
    numpy.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 4.0])


def test_backward_gradient_of_wrong_shape_is_rejected():
    y = tm.randn(3, requires_grad=True) * 2
    with pytest.raises(ShapeError, match="gradient.shape=\\(2,\\)"):
        y.backward(tm.ones(2))


def test_no_grad_records_nothing_and_detach_cuts_the_graph():
    x = tm.randn(3, requires_grad=True)
    with tm.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    z = (x * 2).detach()
    assert not z.requires_grad and z.is_leaf

    @tm.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert tm.is_grad_enabled()


def test_retain_grad_keeps_intermediate_gradient():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    numpy.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_only_float_tensors_can_require_grad():
    with pytest.raises(DTypeError, match="int64"):
        tm.tensor([1, 2, 3], requires_grad=True)


def test_backward_of_something_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tm.ones(2).sum().backward()


def test_long_chain_does_not_hit_the_recursion_limit():
    x = tm.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_function_returning_wrong_gradient_shape_is_named():
    class Bad(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.sum()

    x = tm.randn(3, requires_grad=True)
    with pytest.raises(ShapeError, match="Bad.backward"):
        Bad.apply(x).sum().backward()


def test_multi_output_function_gets_zero_for_unused_output():
    class Split2(Function):
        def forward(self, x):
            return x[:2].copy(), x[2:].copy()

        def backward(self, g0, g1):
            return numpy.concatenate([g0, g1])

    x = tm.randn(5, requires_grad=True)
    a, b = Split2.apply(x)
    (a * 3).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), [3, 3, 0, 0, 0])


def test_mixing_devices_is_a_clear_error(monkeypatch):
    class OnGpu(numpy.ndarray):  # stands in for a cupy array on a machine without a GPU
        pass

    monkeypatch.setattr(backend, "device_of", lambda a: "cuda" if isinstance(a, OnGpu) else "cpu")
    x, y = tm.ones(2), tm.Tensor(numpy.ones(2, dtype=numpy.float32).view(OnGpu))
    with pytest.raises(DeviceError, match=r"(?i)add: inputs are on different devices \(cpu and cuda\).*to\('cpu'\)"):
        x + y
