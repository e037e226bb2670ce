"""Numerical gradient check: central differences in float64 against backward().

Lecture: "More on optimization" (every update follows the gradient, so the gradient
had better be right).  For a function f of tensors x_1..x_m and a random upstream
gradient g (not all ones, so that a wrong sum over an axis cannot hide), the scalar

    L(x) = sum_k < f(x)_k , g_k >

has dL/dx from ``backward()`` (the analytic gradient) and

    dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

from two forward passes (the numeric one).  Every element is checked, up to
``max_elements`` per input; beyond that a random sample of elements, plus
``directions`` random directions d checked as  <dL/dx, d> ~ (L(x + eps d) - L(x - eps d)) / (2 eps).
"""

from dataclasses import dataclass, field

import numpy

from .. import backend
from ..function import no_grad
from ..tensor import Tensor

__all__ = ["gradcheck", "GradcheckError", "GradcheckResult"]

REL_FLOOR = 1e-3  # derivatives smaller than this are judged by atol alone


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree; the message shows the worst element."""


@dataclass
class GradcheckResult:
    """Outcome of a gradient check.

    Attributes:
        passed: every checked element within atol + rtol * |numeric|.
        max_abs_err: the worst |numeric - analytic| over all checked elements.
        max_rel_err: the worst |numeric - analytic| / |numeric| over elements with |numeric| > REL_FLOOR.
        worst: (input index, element index, numeric, analytic) of the worst element.
        checked: number of elements and directions compared.
    """

    passed: bool = True
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst: tuple = field(default=None)
    checked: int = 0

    def __bool__(self):
        return self.passed

    def report(self):
        if self.worst is None:
            return "gradcheck: nothing to check (no input requires grad)"
        i, index, numeric, analytic = self.worst
        status = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {status}: {self.checked} checks, max abs err {self.max_abs_err:.3g}, "
            f"max rel err {self.max_rel_err:.3g}; worst at input {i} index {index}: "
            f"numeric {numeric:.8g} vs analytic {analytic:.8g}"
        )


def gradcheck(
    fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, max_elements=4096, directions=3, seed=0, raise_exception=True
):
    """Compare backward() of ``fn`` with central differences, in float64.

    Args:
        fn: callable taking the inputs, returning a Tensor or a tuple of Tensors.
        inputs: sequence of Tensors (float inputs that require grad are checked; others
            are passed through as they are) and plain Python values.
        eps: finite-difference step.
        atol, rtol: an element passes if |numeric - analytic| <= atol + rtol * |numeric|.
        max_elements: check every element of inputs up to this size, a random sample beyond.
        directions: number of random-direction checks per input (catches what sampling misses).
        seed: seeds the upstream gradient, the sample and the directions.
        raise_exception: raise GradcheckError on failure instead of returning the result.
    Returns:
        GradcheckResult.
    """
    rng = numpy.random.default_rng(seed)
    xs = [_as_float64(x) for x in inputs]
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    upstream = [_random_like(rng, y) for y in _outputs(fn(*xs))]

    def loss():
        with no_grad():
            return float(sum(float((y.data * g).sum()) for y, g in zip(_outputs(fn(*xs)), upstream)))

    analytic = _analytic(fn, xs, checked, upstream)
    result = GradcheckResult()
    for i in checked:
        _check_elements(result, i, xs[i], analytic[i], loss, rng, eps, atol, rtol, max_elements)
        _check_directions(result, i, xs[i], analytic[i], loss, rng, eps, atol, rtol, directions)
    if raise_exception and not result.passed:
        raise GradcheckError(result.report())
    return result


def _as_float64(x):
    if not isinstance(x, Tensor):
        return x
    if x.dtype.kind != "f":
        return x
    return Tensor(x.data.astype(numpy.float64), requires_grad=x.requires_grad)


def _outputs(y):
    return [t for t in (y if isinstance(y, (tuple, list)) else (y,)) if isinstance(t, Tensor) and t.dtype.kind == "f"]


def _random_like(rng, y):
    g = rng.standard_normal(y.shape)
    return backend.to_device(g, y.device)


def _analytic(fn, xs, checked, upstream):
    for i in checked:
        xs[i].grad = None
    outputs = _outputs(fn(*xs))
    total = None
    for y, g in zip(outputs, upstream):
        if not y.requires_grad:
            continue
        term = (y * Tensor._wrap(g)).sum()
        total = term if total is None else total + term
    if total is not None:
        total.backward()
    grads = {}
    for i in checked:
        grad = xs[i].grad
        grads[i] = backend.to_numpy(grad.data) if grad is not None else numpy.zeros(xs[i].shape)
    return grads


def _record(result, i, index, numeric, analytic, atol, rtol):
    abs_err = abs(numeric - analytic)
    result.checked += 1
    if abs_err > atol + rtol * abs(numeric):
        result.passed = False
    if result.worst is None or abs_err > result.max_abs_err:
        result.worst = (i, index, numeric, analytic)
    result.max_abs_err = max(result.max_abs_err, abs_err)
    if abs(numeric) > REL_FLOOR:  # a relative error of a near-zero derivative says nothing
        result.max_rel_err = max(result.max_rel_err, abs_err / abs(numeric))


def _check_elements(result, i, x, grad, loss, rng, eps, atol, rtol, max_elements):
    flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
    n = flat.size
    picks = range(n) if n <= max_elements else rng.choice(n, size=max_elements, replace=False)
    for k in picks:
        k = int(k)
        original = float(flat[k])
        flat[k] = original + eps
        up = loss()
        flat[k] = original - eps
        down = loss()
        flat[k] = original
        numeric = (up - down) / (2 * eps)
        _record(
            result,
            i,
            tuple(int(j) for j in numpy.unravel_index(k, x.shape)),
            numeric,
            float(grad.reshape(-1)[k]),
            atol,
            rtol,
        )


def _check_directions(result, i, x, grad, loss, rng, eps, atol, rtol, directions):
    original = x.data.copy()
    for _ in range(directions):
        d = rng.standard_normal(x.shape)
        d_dev = backend.to_device(d, x.device)
        x.data[...] = original + eps * d_dev
        up = loss()
        x.data[...] = original - eps * d_dev
        down = loss()
        x.data[...] = original
        numeric = (up - down) / (2 * eps)
        _record(result, i, "random direction", numeric, float((grad * d).sum()), atol, rtol * 10)
