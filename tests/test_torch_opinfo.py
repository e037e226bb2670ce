"""PyTorch's own sample inputs (its OpInfo database, torch.testing._internal) through our ops: every
sample PyTorch answers must give the same output and the same gradients here (float64, CPU path).

Skipped without torch, or if its test-internal module cannot be imported (it is not a public API).
A sample that PyTorch itself refuses is skipped; the refusals are tests/test_int_args.py's business.
"""

import sys
import types
import unittest

import numpy
import pytest

import tinygrad_med as tm
from tinygrad_med.nn import functional as F

torch = pytest.importorskip("torch")
sys.modules.setdefault("expecttest", types.SimpleNamespace(TestCase=unittest.TestCase))  # a test-only dependency
try:
    from torch.testing._internal.common_methods_invocations import op_db
except Exception as error:  # pragma: no cover - depends on the installed torch
    pytest.skip(f"PyTorch's OpInfo database is not importable: {error}", allow_module_level=True)

FUNCTIONAL = ["conv2d", "conv_transpose2d", "batch_norm", "group_norm", "layer_norm", "instance_norm", "cross_entropy",
              "nll_loss", "linear", "pad", "interpolate", "grid_sample", "avg_pool2d", "adaptive_max_pool2d", "kl_div",
              "mse_loss", "binary_cross_entropy"]  # fmt: skip
OPS = ["softmax", "log_softmax", "matmul"] + [f"nn.functional.{name}" for name in FUNCTIONAL]
INFOS = [o for o in op_db if o.name in OPS and o.variant_test_name not in ("with_dtype", "without_cudnn")]


def _ours(name):
    return tm.matmul if name == "matmul" else getattr(F, name.split(".")[-1])


def _convert(value):
    """torch tensors (nested in lists, tuples, dicts) -> tinygrad_med tensors with the same requires_grad."""
    if isinstance(value, torch.Tensor):
        grad = value.requires_grad and value.dtype.is_floating_point
        return tm.tensor(value.detach().numpy().copy(), requires_grad=grad)
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(v) for v in value)
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    return value


def _leaves(value, out):
    if isinstance(value, (torch.Tensor, tm.Tensor)):
        out.append(value)
    elif isinstance(value, (list, tuple, dict)):
        for v in value.values() if isinstance(value, dict) else value:
            _leaves(v, out)
    return out


def _compare(info, sample):
    args, kwargs = [sample.input, *sample.args], dict(sample.kwargs)
    try:
        expected = info.op(*args, **kwargs)
    except Exception:  # PyTorch refuses this sample itself
        return False
    ours_args, ours_kwargs = _convert(args), _convert(kwargs)
    y = _ours(info.name)(*ours_args, **ours_kwargs)
    if isinstance(expected, tuple):  # (values, indices): the indices carry no gradient
        numpy.testing.assert_array_equal(y[1].numpy(), expected[1].numpy())
        expected, y = expected[0], y[0]
    assert tuple(y.shape) == tuple(expected.shape)
    numpy.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-7, equal_nan=True)
    inputs = [t for t in _leaves([args, kwargs], []) if t.requires_grad]
    if not expected.requires_grad or not inputs:
        return True
    gy = numpy.random.default_rng(0).standard_normal(tuple(expected.shape))
    grads = torch.autograd.grad(expected, inputs, torch.tensor(gy), allow_unused=True)
    y.backward(tm.tensor(gy))
    ours_inputs = [t for t in _leaves([ours_args, ours_kwargs], []) if t.requires_grad]
    for g, t in zip(grads, ours_inputs, strict=True):
        g = numpy.zeros(t.shape) if g is None else g.numpy()
        numpy.testing.assert_allclose(0 * g if t.grad is None else t.grad.numpy(), g, rtol=1e-5, atol=1e-6)
    return True


@pytest.mark.parametrize(
    "info", INFOS, ids=lambda o: o.name + ("." + o.variant_test_name if o.variant_test_name else "")
)
def test_pytorch_sample_inputs_match(info):
    compared = sum(_compare(info, s) for s in info.sample_inputs("cpu", torch.float64, requires_grad=True))
    assert compared > 0
