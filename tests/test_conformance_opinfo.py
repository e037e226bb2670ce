"""Conformance on PyTorch's own sample inputs: the OpInfo database of torch's test suite.

For each op of ours that PyTorch's ``op_db`` (torch.testing._internal.common_methods_invocations)
describes, every sample input PyTorch generates for it -- in float64 with gradients, float32, int64
and bool where the op takes them -- runs through torch and through tinygrad_med, in the function
form and in the Tensor-method form, and the two must agree on raise-or-not, shapes, dtypes, values
and input gradients (tests/conformance_compare.py).  PyTorch's error inputs must raise here too.
Skipped where torch's test internals cannot be imported (they need the ``expecttest`` package).
"""

import re
import sys
from pathlib import Path

import pytest

import tinygrad_med as tm

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))
try:
    from torch.testing._internal.common_methods_invocations import op_db
except Exception as error:  # ImportError without expecttest; anything torch's internals raise on import
    pytest.skip(f"torch's OpInfo database cannot be imported: {error}", allow_module_level=True)

from conformance_compare import DType, Either, compare, run  # noqa: E402

F = tm.nn.functional
OURS = {  # OpInfo name -> our function, where the name alone does not find it
    "div.no_rounding_mode": tm.div,
    "div.trunc_rounding": tm.div,
    "div.floor_rounding": tm.div,
    "max.reduction_with_dim": tm.max,
    "max.reduction_no_dim": tm.max,
    "max.binary": tm.max,
    "min.reduction_with_dim": tm.min,
    "min.reduction_no_dim": tm.min,
    "min.binary": tm.min,
    "var_mean.unbiased": tm.var_mean,
    "std_mean.unbiased": tm.std_mean,
    "std.unbiased": tm.std,
    "var.unbiased": tm.var,
    "softmax": F.softmax,
    "softmax.with_dtype": F.softmax,
    "log_softmax": F.log_softmax,
    "log_softmax.with_dtype": F.log_softmax,
    "nn.functional.gelu": F.gelu,
    "squeeze.multiple": tm.squeeze,
    "linspace.tensor_overload": tm.linspace,
    "norm.fro": tm.norm,
    "norm.inf": tm.norm,
    "norm.nuc": tm.norm,
    "to": lambda x, *args, **kwargs: x.to(*args, **kwargs),
    "where": lambda x, condition, other: tm.where(condition, x, other),  # OpInfo's argument order
}
NAMES = (
    "abs add arange mul sub clone clamp cumsum div.no_rounding_mode div.trunc_rounding div.floor_rounding "
    "true_divide exp floor_divide linspace linspace.tensor_overload log max.reduction_with_dim max.reduction_no_dim "
    "var_mean var_mean.unbiased std_mean std_mean.unbiased min.reduction_with_dim min.reduction_no_dim max.binary "
    "maximum min.binary minimum softmax softmax.with_dtype to nn.functional.gelu neg permute pow sqrt reshape "
    "flatten empty_like zeros_like ones_like randn randn_like rand_like randint randint_like full_like ones zeros "
    "full eye empty squeeze squeeze.multiple fill unsqueeze logsumexp transpose log_softmax log_softmax.with_dtype "
    "where amax amin argmax argmin mean std std.unbiased var var.unbiased prod sum norm norm.fro norm.inf norm.nuc"
).split()
RANDOM = {"empty", "empty_like", "randn", "randn_like", "rand_like", "randint", "randint_like"}
KNOWN = [
    (r"norm\.nuc$", r"", "the nuclear norm (sum of singular values) is not implemented: refused with ValueError"),
]
DTYPES = (torch.float64, torch.int64, torch.bool)  # float32 repeats float64's samples at lower precision


def _plain(value):
    """A sample's argument with torch objects made neutral: arrays, DType, Either, tuples."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, torch.dtype):
        return DType(str(value).replace("torch.", ""))
    if isinstance(value, torch.memory_format):
        return Either(value, None)
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, (list, tuple)):  # torch.Size included
        return type(value)(_plain(v) for v in value) if not isinstance(value, torch.Size) else tuple(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _describe(sample):
    def shape(v):
        return tuple(v.shape) if isinstance(v, torch.Tensor) else v

    return f"{shape(sample.input)} args={[shape(a) for a in sample.args]} kwargs={sample.kwargs}"


def _caller(op, name, method):
    if method:
        return lambda M, x, args, kwargs: getattr(x, op.method_variant.__name__)(*args, **kwargs)
    ours = OURS.get(name) or getattr(tm, op.name)
    return lambda M, x, args, kwargs: (op.op if M is torch else ours)(x, *args, **kwargs)


def _known(name, label):
    return next((why for n, l, why in KNOWN if re.search(n, name) and re.search(l, label)), None)


def check(op, name, method):
    """[(label, reason or None, known divergence or None)] over every sample of ``op``."""
    out, fn = [], _caller(op, name, method)
    for dtype in DTYPES:
        if dtype not in op.supported_dtypes("cpu"):
            continue
        grad = dtype == torch.float64 and op.supports_autograd
        for i, sample in enumerate(op.sample_inputs("cpu", dtype, requires_grad=grad)):
            inputs = [_plain(sample.input), _plain(sample.args), _plain(sample.kwargs)]
            label = f"{'x.' if method else ''}{name} {str(dtype)[6:]} #{i} {_describe(sample)}"
            expected, got = run(torch, torch, fn, inputs, i), run(tm, torch, fn, inputs, i)
            reason = compare(expected, got, name in RANDOM, single=dtype != torch.float64)
            known = _known(name, label) if reason and got[0] == "raised" else None  # only a refusal is excused
            out.append((label, None if known else reason, known))
    return out


def _ops():
    ops = {}
    for op in op_db:
        name = op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")
        if name in NAMES:
            ops[name] = op
    return ops


OPS = _ops()
WITH_ERRORS = sorted(name for name, op in OPS.items() if op.error_inputs_func is not None)


@pytest.mark.parametrize("name", sorted(OPS))
def test_pytorch_sample_inputs_agree(name):
    op = OPS[name]
    cases = check(op, name, method=False)
    if op.method_variant is not None and hasattr(tm.Tensor, op.method_variant.__name__):
        cases += check(op, name, method=True)
    failures = [f"{label}: {reason}" for label, reason, _ in cases if reason]
    assert cases and not failures, f"{len(failures)}/{len(cases)} disagree:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize("name", WITH_ERRORS)
def test_pytorch_error_inputs_raise(name):
    fn = _caller(OPS[name], name, method=False)
    silent, checked = [], 0
    for error in OPS[name].error_inputs("cpu"):
        sample = error.sample_input
        try:
            inputs = [_plain(sample.input), _plain(sample.args), _plain(sample.kwargs)]
        except ValueError:  # e.g. a 65-D tensor: NumPy arrays cannot hold it, so it is refused before any op
            continue
        checked += 1
        if run(tm, torch, fn, inputs, 0)[0] != "raised":
            silent.append(f"{_describe(sample)} (PyTorch: {error.error_type.__name__} {error.error_regex!r})")
    if not checked:  # said as a skip, never a silent pass
        pytest.skip(f"none of {name}'s error inputs can be held in NumPy arrays")
    assert not silent, "accepted what PyTorch refuses:\n" + "\n".join(silent)
