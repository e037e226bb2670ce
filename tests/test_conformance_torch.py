"""Conformance with PyTorch: the same calls through torch and tinygrad_med must agree.

Where torch is installed (skipped cleanly where not), every case of the grid in
tests/conformance_cases*.py runs on both sides and is compared in float64 (tests/conformance_compare.py):
whether it raises, the output's structure, shape and dtype, the values, and the gradients of every
float input (the backward of sum(output * w) for a fixed random w).  A PyTorch refusal must be ours
too (any error type: ours name the op, PyTorch's often do not).  The cases are counted per family;
a test fails listing the first disagreements of its family.
"""

import re
import sys
from pathlib import Path

import numpy
import pytest

import tinygrad_med as tm

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))

import conformance_cases as grid  # noqa: E402
import conformance_cases_elementwise as grid_elementwise  # noqa: E402
import conformance_cases_factory as grid_factory  # noqa: E402
from conformance_compare import compare, run  # noqa: E402


def all_cases():
    """Every case of the grid, as (family, label, fn, inputs, options)."""
    cases = (
        grid.reduction_cases()
        + grid.variance_cases()
        + grid.norm_cases()
        + grid.shape_cases()
        + grid_elementwise.arithmetic_cases()
        + grid_elementwise.unary_cases()
        + grid_elementwise.clamp_cases()
        + grid_elementwise.gelu_and_to_cases()
        + grid_factory.factory_cases()
    )
    return [case if len(case) == 5 else (*case, {}) for case in cases]


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
        expected, got = run(torch, torch, fn, inputs, seed), run(tm, torch, fn, inputs, seed)
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


FAMILIES = ["reduce", "variance", "norm", "shape", "arithmetic", "promotion", "unary", "clamp", "gelu/to", "factory"]


@pytest.mark.parametrize("family", FAMILIES)
def test_tinygrad_med_agrees_with_pytorch(family):
    cases = _family_results(family)
    failures = [f"{label}: {reason}" for label, reason, _ in cases if reason]
    assert cases and not failures, f"{len(failures)}/{len(cases)} disagree:\n" + "\n".join(failures[:25])
