"""Tensor.register_post_accumulate_grad_hook against PyTorch's (autograd.py).

Each scenario runs on both frameworks; what is compared is order-independent: which leaves' hooks
fire, how many times, and the leaf's ``.grad`` when its hook runs (it must be the final one).
"""

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.function import Function

torch = pytest.importorskip("torch", reason="needs torch for the reference")


class OnlyFirstTm(Function):
    """x * y whose backward gives x its gradient and y None (the engine skips the rest of y's branch)."""

    def forward(self, x, y):
        return x * y

    def backward(self, gy):
        return gy, None


def only_first(lib, x, y):
    if lib is tm:
        return OnlyFirstTm.apply(x, y)

    class OnlyFirstTorch(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, gy):
            return gy, None

    return OnlyFirstTorch.apply(x, y)


def leaves(lib, *names):
    rng = numpy.random.default_rng(len(names))
    return [lib.tensor(rng.standard_normal(3), requires_grad=True) for _ in names]


def record(named):
    """Hook every leaf: the log gets (name, its .grad as numpy or None) per call."""
    log = []
    for name, t in named.items():
        t.register_post_accumulate_grad_hook(
            lambda t, name=name: log.append((name, None if t.grad is None else t.grad.detach().numpy().copy()))
        )
    return log


def shared(lib):  # a used three times, b once; their last contributions come at different moments
    a, b = leaves(lib, "a", "b")
    log = record({"a": a, "b": b})
    ((a * a + a) * b).sum().backward()
    return log, {"a": a, "b": b}


def retained(lib):  # two backward passes through one graph: fires each time, with the sum so far
    a, b = leaves(lib, "a", "b")
    log = record({"a": a, "b": b})
    y = (a * 3 + b * a).sum()
    y.backward(retain_graph=True)
    y.backward()
    return log, {"a": a, "b": b}


def none_skipped(lib):  # b gets None straight away, c's whole branch gets none: they still fire
    a, b, c = leaves(lib, "a", "b", "c")
    log = record({"a": a, "b": b, "c": c})
    (only_first(lib, a, b) + only_first(lib, a, c * 2)).sum().backward()
    return log, {"a": a, "b": b, "c": c}


def leaf_root(lib):  # backward from a leaf itself
    (a,) = leaves(lib, "a")
    log = record({"a": a})
    a.backward(lib.tensor(numpy.ones(3)))
    return log, {"a": a}


def no_grad_paths(lib):  # an op under no_grad and a leaf outside the graph: no hook runs for them
    a, b, c = leaves(lib, "a", "b", "c")
    log = record({"a": a, "b": b, "c": c})
    with lib.no_grad():
        d = b * 2
    (a * d).sum().backward()
    return log, {"a": a, "b": b, "c": c}


def removed(lib):  # a removed hook does not run; removing twice is harmless
    a, b = leaves(lib, "a", "b")
    log = record({"a": a})
    handle = b.register_post_accumulate_grad_hook(lambda t: log.append(("b", None)))
    handle.remove()
    handle.remove()
    (a * b).sum().backward()
    return log, {"a": a, "b": b}


def summary(log):
    return sorted((name, None if grad is None else numpy.round(grad, 10).tolist()) for name, grad in log)


@pytest.mark.parametrize("scenario", [shared, retained, none_skipped, leaf_root, no_grad_paths, removed])
def test_hooks_fire_as_torch_does(scenario):
    ours, ours_leaves = scenario(tm)
    theirs, _ = scenario(torch)
    assert summary(ours) == summary(theirs)
    last = dict(ours)  # each leaf's last call saw its final gradient
    for name, grad in last.items():
        final = ours_leaves[name].grad
        assert (grad is None) == (final is None)
        assert final is None or numpy.array_equal(grad, final.numpy())


def test_registering_on_a_non_leaf_or_a_constant_is_refused():
    with pytest.raises(RuntimeError, match="non-leaf"):
        (tm.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tm.ones(2).register_post_accumulate_grad_hook(print)


def test_hooks_of_one_leaf_run_in_registration_order():
    a = tm.ones(2, requires_grad=True)
    order = []
    for k in range(3):
        a.register_post_accumulate_grad_hook(lambda t, k=k: order.append(k))
    (a * 2).sum().backward()
    assert order == [0, 1, 2]
