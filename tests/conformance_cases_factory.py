"""The factory part of the grid run by tests/test_conformance_torch.py: every size and argument form
of zeros ones empty full arange linspace eye rand randn randint and the *_like factories."""

import numpy

_RANDOM = {"random": True}


def _sized(name, random):
    opts = _RANDOM if random else {}
    forms = [
        ("(2, 3)", lambda M: getattr(M, name)(2, 3)),
        ("((2, 3))", lambda M: getattr(M, name)((2, 3))),
        ("([2, 3])", lambda M: getattr(M, name)([2, 3])),
        ("(size=(2, 3))", lambda M: getattr(M, name)(size=(2, 3))),
        ("(())", lambda M: getattr(M, name)(())),
        ("([])", lambda M: getattr(M, name)([])),
        ("(0, 3)", lambda M: getattr(M, name)(0, 3)),
        ("(4, dtype=float64)", lambda M: getattr(M, name)(4, dtype=M.float64)),
        ("(4, dtype=int64)", lambda M: getattr(M, name)(4, dtype=M.int64)),
        ("(4, dtype=bool)", lambda M: getattr(M, name)(4, dtype=M.bool)),
        ("(np.int64(2))", lambda M: getattr(M, name)(numpy.int64(2))),
        ("(tensor(2))", lambda M: getattr(M, name)(M.tensor(2))),
        ("(2.0) refused", lambda M: getattr(M, name)(2.0)),
        ("(-1) refused", lambda M: getattr(M, name)(-1)),
        ("(True) refused", lambda M: getattr(M, name)(True)),
        ("((2,), size=(2,)) refused", lambda M: getattr(M, name)((2,), size=(2,))),
        ("(2, requires_grad=True)", lambda M: getattr(M, name)(2, requires_grad=True)),
    ]
    return [("factory", f"{name}{label}", fn, [], opts) for label, fn in forms]


_FULL = [
    ("full((2,), 3.)", lambda M: M.full((2,), 3.0)),
    ("full((2,), 3)", lambda M: M.full((2,), 3)),
    ("full((2,), True)", lambda M: M.full((2,), True)),
    ("full([2, 1], -1)", lambda M: M.full([2, 1], -1)),
    ("full((), 2.5)", lambda M: M.full((), 2.5)),
    ("full((2,), tensor(3))", lambda M: M.full((2,), M.tensor(3))),
    ("full((2,), tensor(3.))", lambda M: M.full((2,), M.tensor(3.0))),
    ("full((2,), 3, dtype=float64)", lambda M: M.full((2,), 3, dtype=M.float64)),
    ("full((2,), 2.7, dtype=int64)", lambda M: M.full((2,), 2.7, dtype=M.int64)),
    ("full(size=, fill_value=)", lambda M: M.full(size=(2,), fill_value=1.5)),
    ("full((2,), np.float64)", lambda M: M.full((2,), numpy.float64(1.5))),
    ("full((2,), np.int32)", lambda M: M.full((2,), numpy.int32(2))),
    ("full(2, 3.) refused", lambda M: M.full(2, 3.0)),
    ("arange(5)", lambda M: M.arange(5)),
    ("arange(1, 5, 2)", lambda M: M.arange(1, 5, 2)),
    ("arange(0, 1, 0.25)", lambda M: M.arange(0, 1, 0.25)),
    ("arange(0, 1, 0.1)", lambda M: M.arange(0, 1, 0.1)),
    ("arange(5.)", lambda M: M.arange(5.0)),
    ("arange(0.5, 3)", lambda M: M.arange(0.5, 3)),
    ("arange(5, 1, -1)", lambda M: M.arange(5, 1, -1)),
    ("arange(1, 1)", lambda M: M.arange(1, 1)),
    ("arange(end=5)", lambda M: M.arange(end=5)),
    ("arange(start=1, end=5)", lambda M: M.arange(start=1, end=5)),
    ("arange(tensor(3))", lambda M: M.arange(M.tensor(3))),
    ("arange(tensor(3.))", lambda M: M.arange(M.tensor(3.0))),
    ("arange(5, dtype=float64)", lambda M: M.arange(5, dtype=M.float64)),
    ("arange(0, 5, 1.5, dtype=int64)", lambda M: M.arange(0, 5, 1.5, dtype=M.int64)),
    ("arange(1, 5, 0) refused", lambda M: M.arange(1, 5, 0)),
    ("arange(5, 1) refused", lambda M: M.arange(5, 1)),
    ("arange(inf) refused", lambda M: M.arange(float("inf"))),
    ("arange(5., requires_grad=True)", lambda M: M.arange(5.0, requires_grad=True)),
    ("arange(5, requires_grad=True) refused", lambda M: M.arange(5, requires_grad=True)),
    ("linspace(0, 1, 5)", lambda M: M.linspace(0, 1, 5)),
    ("linspace(0, 1, steps=5)", lambda M: M.linspace(0, 1, steps=5)),
    ("linspace(-2.5, 7, 11)", lambda M: M.linspace(-2.5, 7, 11)),
    ("linspace(0-d, 0-d, 3)", lambda M: M.linspace(M.tensor(0.0), M.tensor(1.0), 3)),
    ("linspace(0, 10, 4, int64)", lambda M: M.linspace(0, 10, 4, dtype=M.int64)),
    ("linspace(0, -5, 4, int64)", lambda M: M.linspace(0, -5, 4, dtype=M.int64)),
    ("linspace(0, 1, 1)", lambda M: M.linspace(0, 1, 1)),
    ("linspace(0, 1, 0)", lambda M: M.linspace(0, 1, 0)),
    ("linspace(0, 1, 3, float64)", lambda M: M.linspace(0, 1, 3, dtype=M.float64)),
    ("linspace(0, 1, tensor(3))", lambda M: M.linspace(0, 1, M.tensor(3))),
    ("linspace(0, 1, -1) refused", lambda M: M.linspace(0, 1, -1)),
    ("linspace(0, 1) refused", lambda M: M.linspace(0, 1)),
    ("linspace(0, 1, 2.0) refused", lambda M: M.linspace(0, 1, 2.0)),
    ("linspace(1-d, 1, 3) refused", lambda M: M.linspace(M.tensor([0.0]), 1, 3)),
    ("eye(3)", lambda M: M.eye(3)),
    ("eye(2, 3)", lambda M: M.eye(2, 3)),
    ("eye(0)", lambda M: M.eye(0)),
    ("eye(n=2, m=3)", lambda M: M.eye(n=2, m=3)),
    ("eye(2, dtype=int64)", lambda M: M.eye(2, dtype=M.int64)),
    ("eye(-1) refused", lambda M: M.eye(-1)),
    ("eye(2, 3.) refused", lambda M: M.eye(2, 3.0)),
]

_RANDINT = [
    ("randint(10, (3,))", lambda M: M.randint(10, (3,))),
    ("randint(10, ())", lambda M: M.randint(10, ())),
    ("randint(3, 10, (2,))", lambda M: M.randint(3, 10, (2,))),
    ("randint(10, size=(3,))", lambda M: M.randint(10, size=(3,))),
    ("randint(low=, high=, size=)", lambda M: M.randint(low=2, high=10, size=(3,))),
    ("randint(high=, size=)", lambda M: M.randint(high=10, size=(3,))),
    ("randint(10, [2, 2])", lambda M: M.randint(10, [2, 2])),
    ("randint(-5, -2, (2,))", lambda M: M.randint(-5, -2, (2,))),
    ("randint(3, 10, (2,), dtype=float32)", lambda M: M.randint(3, 10, (2,), dtype=M.float32)),
    ("randint(tensor(10), (2,))", lambda M: M.randint(M.tensor(10), (2,))),
    ("randint(10, 3) refused", lambda M: M.randint(10, 3)),
    ("randint(10, 3, (2,)) refused", lambda M: M.randint(10, 3, (2,))),
    ("randint(0, (2,)) refused", lambda M: M.randint(0, (2,))),
    ("randint(2.5, (2,)) refused", lambda M: M.randint(2.5, (2,))),
    ("randint(10, (-1,)) refused", lambda M: M.randint(10, (-1,))),
    ("randint(10, (2,), dtype=bool) refused", lambda M: M.randint(10, (2,), dtype=M.bool)),
    ("randint(10, (2,), requires_grad=True) refused", lambda M: M.randint(10, (2,), requires_grad=True)),
    ("rand(2, dtype=int64) refused", lambda M: M.rand(2, dtype=M.int64)),
    ("randn(2, dtype=int64) refused", lambda M: M.randn(2, dtype=M.int64)),
]

_LIKE = [
    ("zeros_like", lambda M, x: M.zeros_like(x)),
    ("ones_like(dtype=int64)", lambda M, x: M.ones_like(x, dtype=M.int64)),
    ("full_like(2.7)", lambda M, x: M.full_like(x, 2.7)),
    ("full_like(3)", lambda M, x: M.full_like(x, 3)),
    ("empty_like", lambda M, x: M.empty_like(x) * 0),
    ("rand_like", lambda M, x: M.rand_like(x)),
    ("randn_like(dtype=float64)", lambda M, x: M.randn_like(x, dtype=M.float64)),
    ("randint_like(5)", lambda M, x: M.randint_like(x, 5)),
    ("randint_like(2, 5)", lambda M, x: M.randint_like(x, 2, 5)),
]


def factory_cases():
    """Every form above, and the *_like factories on float64, int64 and bool inputs of several shapes."""
    cases = []
    for name, random in [("zeros", False), ("ones", False), ("empty", True), ("rand", True), ("randn", True)]:
        cases += _sized(name, random)
    cases += [("factory", label, fn, []) for label, fn in _FULL]
    cases += [("factory", label, fn, [], _RANDOM) for label, fn in _RANDINT]
    for label, fn in _LIKE:
        for dtype in (numpy.float64, numpy.int64, bool):
            for shape in [(), (0,), (2, 3)]:
                opts = _RANDOM if "rand" in label else {}
                cases.append(("factory", f"{label} {numpy.dtype(dtype)} {shape}", fn, [numpy.ones(shape, dtype)], opts))
    return cases
