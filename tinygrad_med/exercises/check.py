"""Run a student's exercise file in place of the package's reference and say, in plain words, what is wrong.

For each seed the exercise draws one case (random shapes, float64).  The case runs twice through the
public op: once with the package's code and once with the student's functions patched in.  Then, in
this order, the first difference found is reported: an exception (NotImplementedError for a body not
yet written), the output shapes, the output values (largest error and where), each input's gradient
(its shape, then its values), and finally a gradient check of the student's backward against central
differences of the student's own forward (so a wrong backward is told apart from a wrong forward).
"""

import contextlib
import importlib
import traceback
import types
from pathlib import Path

import numpy

from ..factory import tensor
from ..random import manual_seed
from ..reference import reference_mode
from .source import target_nodes

__all__ = ["check_file", "check_module", "load_student", "SEEDS"]

SEEDS = (0, 1, 2)
_RTOL, _ATOL = 1e-6, 1e-9  # against the reference: both in float64, the same formulas in another order
_FD_STEP, _FD_RTOL, _FD_ATOL = 1e-6, 1e-4, 1e-6  # central differences of the student's own forward
_FD_ENTRIES = 4  # entries per input probed by central differences (enough to catch a wrong formula)


def load_student(path):
    """Import the file at ``path`` as a fresh module (a syntax error raises as Python reports it)."""
    path = Path(path)
    name = f"tgm_exercise_{path.stem}_{abs(hash(str(path.resolve())))}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = compile(path.read_text(), str(path), "exec")  # never a cached .pyc of an earlier version
    exec(code, vars(module))
    return module


def check_file(exercise, path, seeds=SEEDS):
    """Problems (a list of one-line strings, empty when it passes) of the student's file at ``path``."""
    try:
        student = load_student(path)
    except Exception as error:  # the student's file: anything can be wrong in it
        return [f"your file does not import: {_where(error, path)}"]
    return check_module(exercise, student, seeds)


def check_module(exercise, student, seeds=SEEDS):
    """Problems of the student's module, checked on one case per seed; stops at the first failing case."""
    missing = [t for t in exercise.targets if _student_function(student, t) is None]
    if missing:
        return [f"your file defines no {', '.join(missing)} (start again with --force, or copy the signature)"]
    for seed in seeds:
        case = exercise.case(numpy.random.default_rng(seed))
        expected = _forward(case, seed)  # the package's own code first
        gys = [numpy.random.default_rng(seed + 1000).standard_normal(e.shape) for e in expected]
        want = _backward(case, seed, gys) if case.grads else {}
        try:
            with _patched(exercise, student):
                problems = _compare_case(case, seed, expected, gys, want)
        except NotImplementedError as error:
            return [f"{case.label}: {error} (NotImplementedError)"]
        except Exception as error:  # whatever the student's code raised, said in one line with its place
            return [f"{case.label}: your code raised {_where(error, getattr(student, '__file__', ''))}"]
        if problems:
            return [f"{case.label}: {problem}" for problem in problems]
    return []


def _compare_case(case, seed, expected, gys, want):
    """Outputs, then gradients against the package's, then central differences (run with the student's code).

    A wrong forward makes the reference's gradients no yardstick, but the central differences of the
    student's own forward still say whether the backward is its derivative.
    """
    problems = _compare_outputs(case, _forward(case, seed), expected)
    if not case.grads or any("has shape" in p or "outputs but" in p for p in problems):
        return problems
    have = _backward(case, seed, gys)
    if not problems:
        problems = _compare_grads(case, have, want)
    if any(have[name] is None or have[name].shape != case.inputs[name].shape for name in case.grads):
        return problems
    return problems + _central_differences(case, seed, gys, have)


# ----------------------------------------------------------------------------- running a case


def _tensors(case, grads=()):
    """Fresh tensors (or arrays) from the case's inputs: a forward may write into them (running statistics)."""
    if not case.tensors:
        return {name: _copy(value) for name, value in case.inputs.items()}
    return {
        name: tensor(value.copy(), requires_grad=name in grads) if isinstance(value, numpy.ndarray) else value
        for name, value in case.inputs.items()
    }


def _copy(value):
    return value.copy() if hasattr(value, "copy") else value


def _as_array(value):
    value = value.toarray() if hasattr(value, "toarray") else value
    return numpy.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=numpy.float64)


def _run(case, seed, inputs):
    manual_seed(seed)  # dropout draws its mask from the generator: the same mask for both runs
    with reference_mode():
        outputs = case.run(inputs)
    return outputs if isinstance(outputs, (tuple, list)) else (outputs,)


def _forward(case, seed):
    return [_as_array(out) for out in _run(case, seed, _tensors(case))]


def _backward(case, seed, gys):
    """{input name: gradient array or None} of sum_k <output_k, gy_k>."""
    inputs = _tensors(case, case.grads)
    outputs = _run(case, seed, inputs)
    loss = None
    for out, gy in zip(outputs, gys, strict=True):
        if getattr(out, "requires_grad", False):
            term = (out * tensor(gy)).sum()
            loss = term if loss is None else loss + term
        else:  # not differentiable (batch norm's running statistics): left out of the loss
            gy[...] = 0
    if loss is not None:
        with reference_mode():  # the backward too: col2im, for one, picks its path when it is called
            loss.backward()
    return {name: None if inputs[name].grad is None else _as_array(inputs[name].grad) for name in case.grads}


def _loss(case, seed, gys, name, array):
    inputs = dict(case.inputs, **{name: array})
    outputs = _run(case, seed, {k: tensor(v.copy()) if isinstance(v, numpy.ndarray) else v for k, v in inputs.items()})
    return sum(float((_as_array(out) * gy).sum()) for out, gy in zip(outputs, gys, strict=True))


def _central_differences(case, seed, gys, have):
    """Probe a few entries of each input: does the backward agree with the student's own forward?"""
    rng = numpy.random.default_rng(seed + 2000)
    problems = []
    for name in case.grads:
        base = case.inputs[name]
        for flat in rng.choice(base.size, size=min(_FD_ENTRIES, base.size), replace=False):
            index = numpy.unravel_index(flat, base.shape)
            plus, minus = base.copy(), base.copy()
            plus[index] += _FD_STEP
            minus[index] -= _FD_STEP
            numeric = (_loss(case, seed, gys, name, plus) - _loss(case, seed, gys, name, minus)) / (2 * _FD_STEP)
            analytic = have[name][index]
            if abs(analytic - numeric) > _FD_ATOL + _FD_RTOL * abs(numeric):
                problems.append(
                    f"the gradient for {name} disagrees with central differences of your own forward at "
                    f"{name}{list(map(int, index))}: backward gives {analytic:.6g}, "
                    f"(f({name}+h) - f({name}-h)) / 2h gives {numeric:.6g}"
                )
                break
    return problems


# ----------------------------------------------------------------------------- comparing


def _compare_outputs(case, got, expected):
    if len(got) != len(expected):
        return [f"the forward returns {len(got)} outputs but should return {len(expected)} ({', '.join(case.outputs)})"]
    problems = []
    for name, have, want in zip(case.outputs, got, expected, strict=True):
        if have.shape != want.shape:
            problems.append(f"forward: {name} has shape {have.shape} but should have {want.shape}")
        else:
            problems += _values(f"forward: {name}", have, want)
    return problems


def _compare_grads(case, have, want):
    problems = []
    for name in case.grads:
        if have[name] is None:
            problems.append(f"backward: no gradient for {name} (backward returned None for it)")
        elif have[name].shape != want[name].shape:
            problems.append(
                f"backward: the gradient for {name} has shape {have[name].shape} but should have {want[name].shape}"
                f" (the shape of {name})"
            )
        else:
            problems += _values(f"backward: the gradient for {name}", have[name], want[name])
    return problems


def _values(what, have, want):
    """'what differs ... at [i, j] (yours a, expected b)', or nothing when they agree."""
    bad = ~numpy.isclose(have, want, rtol=_RTOL, atol=_ATOL, equal_nan=True)
    if not bad.any():
        return []
    error = numpy.where(bad, numpy.abs(numpy.nan_to_num(have - want, nan=numpy.inf)), 0)
    index = numpy.unravel_index(int(numpy.argmax(error)), have.shape)
    where = list(map(int, index))
    return [
        f"{what} is wrong in {int(bad.sum())} of {bad.size} entries; the largest error {error[index]:.3g} is at "
        f"{where} (yours {have[index]:.6g}, expected {want[index]:.6g})"
    ]


# ----------------------------------------------------------------------------- patching


def _student_function(student, target):
    owner, _, name = target.rpartition(".")
    holder = getattr(student, owner, None) if owner else student
    return getattr(holder, name, None) if holder is not None else None


@contextlib.contextmanager
def _patched(exercise, student):
    """The student's functions in place of the package's targets (and in the module's dispatch tuples)."""
    module = importlib.import_module(exercise.module)
    undo = []
    try:
        for target, (_, owner) in target_nodes(exercise.module, exercise.targets).items():
            new = _student_function(student, target)
            holder = getattr(module, owner.name) if owner is not None else module
            name = target.rpartition(".")[2]
            old = vars(holder)[name]
            undo.append((holder, name, old))
            setattr(holder, name, new)
            for key, value in list(vars(module).items()):  # e.g. norm._REFERENCE = (train_fwd, fwd, bwd)
                if isinstance(value, tuple) and any(v is old for v in value):
                    undo.append((module, key, value))
                    setattr(module, key, tuple(new if v is old else v for v in value))
        yield
    finally:
        for holder, name, old in reversed(undo):
            setattr(holder, name, old)


def _where(error, path):
    """'Type: message (file:line)', the line being the deepest frame inside the student's file if any."""
    frames = traceback.extract_tb(error.__traceback__)
    place = ""
    mine = [f for f in frames if path and Path(f.filename).resolve() == Path(path).resolve()]
    if isinstance(error, SyntaxError):  # its message names the file and line already
        place = ""
    elif mine:
        place = f" ({Path(mine[-1].filename).name}:{mine[-1].lineno}: {mine[-1].line})"
    elif frames:
        place = f" (in {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}{place}"
