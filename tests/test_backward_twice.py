"""A backward through a part of the graph that an earlier backward freed raises PyTorch's RuntimeError.

Every way in: the same root twice, an intermediate result of a walked graph, a second root sharing
part of it, the other output of a multi-output op; and retain_graph=True keeps it walkable.  A
backward frees every Function it walked, so the graph holds no activations afterwards.  PyTorch frees
only the saved tensors and can walk ops that saved none (add, sum, reshape) again; here that second
walk raises too (stricter on purpose: keeping the graph's shape without its values cost ~20% on the
10,000-add autograd benchmark).
"""

import gc
import weakref

import numpy
import pytest

import tinygrad_med as tm

MESSAGE = r"Trying to backward through the graph a second time .*retain_graph=True"


def _same_root_twice(lib):
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    z = (w * w).sum()
    z.backward()
    z.backward()


def _intermediate_after_free(lib):
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    y = w * w
    y.exp().sum().backward()
    y.sum().backward()


def _second_root_sharing_the_graph(lib):
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    y = w * w
    y.exp().sum().backward()
    (y * 2).sum().backward()


def _other_output_of_a_multi_output_op(lib):
    w = lib.tensor([[3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    a, b = (w * w).split(1)
    (a * a).sum().backward()
    (b * b).sum().backward()


def _deep_chain_shared(lib):
    w = lib.tensor([0.5, 1.5], requires_grad=True)
    h = w
    for _ in range(5):
        h = (h * 1.5).tanh()
    h.sum().backward()
    (h * 3).sum().backward()


CASES = [_same_root_twice, _intermediate_after_free, _second_root_sharing_the_graph, _other_output_of_a_multi_output_op]
CASES.append(_deep_chain_shared)


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__.strip("_"))
def test_backward_through_a_freed_graph_raises_pytorchs_runtime_error(case):
    with pytest.raises(RuntimeError, match=MESSAGE) as info:
        case(tm)
    assert not isinstance(info.value, AttributeError)
    assert ".backward: " in str(info.value)  # names the Function


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__.strip("_"))
def test_pytorch_raises_in_the_same_cases(case):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        case(torch)


def test_retain_graph_keeps_every_path_walkable_and_accumulates():
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    y = w * w
    z = y.exp().sum()
    z.backward(retain_graph=True)
    first = w.grad.numpy().copy()
    z.backward(retain_graph=True)
    numpy.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)
    (y * 2).sum().backward()  # a second root through the retained Mul: fine, and frees it
    numpy.testing.assert_allclose(w.grad.numpy(), 2 * first + 4 * w.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match=MESSAGE):
        z.backward()


def test_a_fresh_forward_after_backward_works():
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    for _ in range(2):
        w.grad = None
        (w * w).sum().backward()
        numpy.testing.assert_allclose(w.grad.numpy(), [6.0, 8.0])


def test_ops_that_saved_nothing_are_not_walked_again_unlike_pytorch():
    """PyTorch walks add and sum a second time (they saved no tensor); here it raises instead (stricter)."""
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    z = (w + 1).sum()
    z.backward()
    with pytest.raises(RuntimeError, match=MESSAGE):
        z.backward()
    numpy.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0])  # the first backward's result stands


def test_a_walked_graph_keeps_no_activations_while_its_root_lives():
    x = tm.randn(1000, requires_grad=True)
    h = x.exp()  # saved by Exp (its output) and read by the next op
    g = h * 3.0
    seen = [weakref.ref(h.data), weakref.ref(g.data)]
    z = (g + 1.0).sum()
    del h, g
    z.backward()
    gc.collect()
    assert [ref() for ref in seen] == [None, None]
    assert z.requires_grad and z._ctx is not None
