"""Conformance with PyTorch: the same calls through torch and tinygrad_med must agree.

Where torch is installed (skipped cleanly where not), every case of the grid in
tests/conformance_cases*.py runs on both sides and is compared in float64: whether it raises, the
output's structure, shape and dtype, the values, and the gradients of every float input (the
backward of sum(output * w) for a fixed random w).  A PyTorch refusal must be ours too (any
error type: ours name the op, PyTorch's often do not).  The cases are counted per family; a test
fails listing the first disagreements of its family.
"""

import re
import sys
import warnings
from pathlib import Path

import numpy
import pytest

import tinygrad_med as tm

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))

import conformance_cases as grid  # noqa: E402
import conformance_cases_elementwise as grid_elementwise  # noqa: E402
import conformance_cases_factory as grid_factory  # noqa: E402


def all_cases():
    """Every case of the grid, as (family, label, fn, inputs, options)."""
    cases = (
        grid.reduction_cases()
        + grid.variance_cases()
        + grid.shape_cases()
        + grid_elementwise.arithmetic_cases()
        + grid_elementwise.unary_cases()
        + grid_elementwise.clamp_cases()
        + grid_elementwise.gelu_and_to_cases()
        + grid_factory.factory_cases()
    )
    return [case if len(case) == 5 else (*case, {}) for case in cases]


def _tensor(M, value):
    """numpy array -> tensor (torch gets a contiguous copy; tinygrad_med the view as it is, strides and all)."""
    if not isinstance(value, numpy.ndarray):
        return value
    t = torch.tensor(value.copy()) if M is torch else tm.Tensor(value)
    return t.requires_grad_(True) if value.dtype.kind == "f" else t


def _flat(out):
    return [v for item in out for v in _flat(item)] if isinstance(out, (tuple, list)) else [out]


def _numpy(M, value):
    if isinstance(value, M.Tensor):
        array = value.detach().numpy() if M is torch else value.numpy()
        return numpy.asarray(array)
    return value


def run(M, fn, inputs, seed):
    """("raised", error type name) or ("ok", output arrays, input gradients)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tensors = [_tensor(M, v) for v in inputs]
            outputs = _flat(fn(M, *tensors))
            values = [_numpy(M, v) for v in outputs]
        except Exception as error:  # the comparison is raise-or-not; the type is PyTorch's or ours
            return ("raised", type(error).__name__)
        grads = _gradients(M, tensors, outputs, seed)
    return ("ok", values, grads)


def _gradients(M, tensors, outputs, seed):
    leaves = [t for t in tensors if isinstance(t, M.Tensor) and t.requires_grad]
    live = [o for o in outputs if isinstance(o, M.Tensor) and o.requires_grad and o.dtype in (M.float32, M.float64)]
    if not leaves:
        return []
    if live:
        rng = numpy.random.default_rng(seed)
        loss = sum((o * M.tensor(rng.normal(size=tuple(o.shape)), dtype=o.dtype)).sum() for o in live)
        try:
            loss.backward()
        except Exception as error:
            return [f"backward raised {type(error).__name__}"]
    return [numpy.zeros(t.shape) if t.grad is None else _numpy(M, t.grad) for t in leaves]


def _dtype(array):
    return str(array.dtype)


def compare(expected, got, random=False, single=False):
    """None if they agree, else a short reason."""
    if expected[0] != got[0]:
        return (
            f"torch {expected[1] if expected[0] == 'raised' else 'ran'}, ours {got[1] if got[0] == 'raised' else 'ran'}"
        )
    if expected[0] == "raised":
        return None
    (_, want, want_g), (_, have, have_g) = expected, got
    if len(want) != len(have):
        return f"{len(want)} outputs vs {len(have)}"
    single = single or any(isinstance(a, numpy.ndarray) and a.dtype == numpy.float32 for a in want)
    for i, (a, b) in enumerate(zip(want, have)):
        if isinstance(a, numpy.ndarray) != isinstance(b, numpy.ndarray):
            return f"output {i}: {type(a).__name__} vs {type(b).__name__}"
        if isinstance(a, numpy.ndarray) and (a.shape != b.shape or _dtype(a) != _dtype(b)):
            return f"output {i}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        if not random and not _close(a, b, single):
            return f"output {i}: values {numpy.ravel(a)[:4]} vs {numpy.ravel(b)[:4]}"
    for i, (a, b) in enumerate([] if random else zip(want_g, have_g)):
        if isinstance(a, str) or isinstance(b, str):
            if not (isinstance(a, str) and isinstance(b, str) and a == b):
                return f"gradient {i}: {_short(a)} vs {_short(b)}"
        elif not _close(a, b, single):
            return f"gradient {i}: {_short(a)} vs {_short(b)}"
    return None


def _short(value):
    return value if isinstance(value, str) else numpy.ravel(value)[:4]


def _close(a, b, single=False):
    a, b = numpy.asarray(a), numpy.asarray(b)
    if a.shape != b.shape:
        return False
    rtol = 1e-5 if single or numpy.float32 in (a.dtype, b.dtype) else 1e-9
    return numpy.allclose(a.astype(numpy.float64), b.astype(numpy.float64), rtol=rtol, atol=rtol * 1e-2, equal_nan=True)


# Where we differ from PyTorch on purpose: (family, regex on the label, why).  Each is a PyTorch bug or an
# internal error, shown by torch's own gradcheck or message; the case still runs and is counted as "known".
KNOWN = [
    (
        "variance",
        r"dim=\(\)$",
        "var/std with dim=(): PyTorch's backward divides by 1 - c instead of n - c "
        "(torch.autograd.gradcheck fails on torch.var(x, (), False)); ours is the derivative of the forward",
    ),
    (
        "reduce",
        r"^x\.logsumexp\(dim=d, keepdim\) .* dim=\(\)$",
        "logsumexp(x, (), keepdim=False): PyTorch fails inside ('output with shape [] doesn't match the "
        "broadcast shape'); ours reduces every dim, as sum(x, ()) does in PyTorch",
    ),
    (
        "promotion",
        r"^pow \S+ bool$",
        "pow with a bool tensor exponent: PyTorch's backward raises (bool - 1); ours differentiates",
    ),
]


def _known(family, label):
    return next((why for fam, pattern, why in KNOWN if fam == family and re.search(pattern, label)), None)


def results():
    """{family: [(label, reason or None, known divergence or None)]} for the whole grid."""
    out = {}
    for seed, (family, label, fn, inputs, options) in enumerate(all_cases()):
        expected, got = run(torch, fn, inputs, seed), run(tm, fn, inputs, seed)
        single = any(getattr(v, "dtype", None) == numpy.float32 for v in inputs)  # float32 rounding on the way
        reason = compare(expected, got, options.get("random", False), single)
        known = _known(family, label) if reason else None
        out.setdefault(family, []).append((label, None if known else reason, known))
    return out


_RESULTS = {}


def _family_results(family):
    if not _RESULTS:
        _RESULTS.update(results())
    return _RESULTS[family]


FAMILIES = ["reduce", "variance", "shape", "arithmetic", "promotion", "unary", "clamp", "gelu/to", "factory"]


@pytest.mark.parametrize("family", FAMILIES)
def test_tinygrad_med_agrees_with_pytorch(family):
    cases = _family_results(family)
    failures = [f"{label}: {reason}" for label, reason, _ in cases if reason]
    assert cases and not failures, f"{len(failures)}/{len(cases)} disagree:\n" + "\n".join(failures[:25])
