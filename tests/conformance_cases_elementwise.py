"""The elementwise, factory and activation part of the grid run by tests/test_conformance_torch.py.

Same layout as tests/conformance_cases.py: (family, label, fn, inputs[, options]); options
{"random": True} compares only shape, dtype and raise-or-not (the draws differ by design).
"""

import numpy
from conformance_cases import RNG, _array, _layouts

_FLOAT_PAIRS = [((), ()), ((3,), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((0, 3), (3,)), ((2, 3), (2,))]
_TYPED = {
    "f64": lambda: _array((3,)),
    "f32": lambda: _array((3,)).astype(numpy.float32),
    "i64": lambda: RNG.integers(-3, 4, (3,)),
    "i32": lambda: RNG.integers(1, 4, (3,)).astype(numpy.int32),
    "bool": lambda: RNG.integers(0, 2, (3,)).astype(bool),
    "0d-f64": lambda: numpy.array(1.5),
    "0d-i64": lambda: numpy.array(2),
    "int": lambda: 2,
    "float": lambda: 2.5,
    "true": lambda: True,
}
_BINARY = [
    ("add", lambda M, a, b: M.add(a, b)),
    ("add alpha", lambda M, a, b: M.add(a, b, alpha=2)),
    ("a.add alpha", lambda M, a, b: a.add(b, alpha=-1)),
    ("a + b", lambda M, a, b: a + b),
    ("b + a", lambda M, a, b: b + a),
    ("sub alpha", lambda M, a, b: M.sub(a, b, alpha=0.5)),
    ("a.sub", lambda M, a, b: a.sub(b)),
    ("b - a", lambda M, a, b: b - a),
    ("mul", lambda M, a, b: M.mul(a, b)),
    ("b * a", lambda M, a, b: b * a),
    ("div", lambda M, a, b: M.div(a, b)),
    ("div trunc", lambda M, a, b: M.div(a, b, rounding_mode="trunc")),
    ("div floor", lambda M, a, b: a.div(b, rounding_mode="floor")),
    ("div None", lambda M, a, b: a.div(b, rounding_mode=None)),
    ("a / b", lambda M, a, b: a / b),
    ("b / a", lambda M, a, b: b / a),
    ("a // b", lambda M, a, b: a // b),
    ("pow", lambda M, a, b: M.pow(a, b)),
    ("maximum", lambda M, a, b: M.maximum(a, b)),
    ("minimum", lambda M, a, b: a.minimum(b)),
    ("max(a, b)", lambda M, a, b: M.max(a, b)),
    ("min(a, b)", lambda M, a, b: a.min(b)),
    ("where", lambda M, a, b: M.where(a > 0, a, b)),
]


def arithmetic_cases():
    """Every binary op and call form on broadcast float64 pairs (gradients compared) and on mixed dtypes."""
    cases = []
    for name, fn in _BINARY:
        for sa, sb in _FLOAT_PAIRS:
            for layout, a in _layouts(sa, "positive" if name == "pow" else "normal"):
                cases.append(("arithmetic", f"{name} {sa} {layout} {sb}", fn, [a, _array(sb)]))
        for ta, make_a in list(_TYPED.items())[:7]:
            for tb, make_b in _TYPED.items():
                if name in ("where",) and tb in ("int", "float", "true"):
                    continue
                cases.append(("promotion", f"{name} {ta} {tb}", fn, [make_a(), make_b()]))
    return cases


_UNARY = [
    ("exp", lambda M, x: M.exp(x)),
    ("log", lambda M, x: x.log()),
    ("sqrt", lambda M, x: M.sqrt(x)),
    ("abs", lambda M, x: M.abs(x)),
    ("neg", lambda M, x: M.neg(x)),
    ("-x", lambda M, x: -x),
    ("x ** 2", lambda M, x: x**2),
    ("x ** -1", lambda M, x: x**-1),
    ("x ** 0.5", lambda M, x: x**0.5),
    ("2 ** x", lambda M, x: 2**x),
]


def unary_cases():
    """exp log sqrt abs neg pow on every shape and layout (float64 with gradients), and on int and bool."""
    cases = []
    for name, fn in _UNARY:
        for shape in [(), (0,), (1,), (4,), (2, 3)]:
            for layout, x in _layouts(shape, "positive"):
                cases.append(("unary", f"{name} {shape} {layout}", fn, [x]))
        for dtype in (numpy.int64, numpy.int32, bool, numpy.float32):
            cases.append(("unary", f"{name} {numpy.dtype(dtype)}", fn, [RNG.integers(1, 4, (3,)).astype(dtype)]))
    return cases


def clamp_cases():
    """clamp/clip with number, tensor (broadcast) and None bounds, lo > hi, int inputs; fill."""
    forms = [
        ("clamp(x, -0.5, 0.5)", lambda M, x, lo, hi: M.clamp(x, -0.5, 0.5)),
        ("clamp(x, min=0)", lambda M, x, lo, hi: M.clamp(x, min=0)),
        ("x.clamp(max=0.2)", lambda M, x, lo, hi: x.clamp(max=0.2)),
        ("clip(x, lo, hi)", lambda M, x, lo, hi: M.clip(x, lo, hi)),
        ("clamp(x, lo)", lambda M, x, lo, hi: M.clamp(x, lo)),
        ("x.clamp(None, hi)", lambda M, x, lo, hi: x.clamp(None, hi)),
        ("x.clip(min=hi, max=lo)", lambda M, x, lo, hi: x.clip(min=hi, max=lo)),
        ("clamp(x, 1, -1)", lambda M, x, lo, hi: M.clamp(x, 1, -1)),
        ("clamp(x) refused", lambda M, x, lo, hi: M.clamp(x)),
        ("fill(x, 3)", lambda M, x, lo, hi: M.fill(x, 3)),
        ("fill(x, lo[0])", lambda M, x, lo, hi: M.fill(x, lo.reshape(-1)[0])),
        ("fill(x, hi) refused", lambda M, x, lo, hi: M.fill(x, hi)),
    ]
    cases = []
    for label, fn in forms:
        for sx, sb in [((), ()), ((4,), (4,)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((0,), (1,)), ((3,), (2,))]:
            for layout, x in _layouts(sx):
                cases.append(("clamp", f"{label} {sx} {layout} {sb}", fn, [x, _array(sb) - 0.5, _array(sb) + 0.5]))
        ints = RNG.integers(-3, 4, (4,))
        cases.append(("clamp", f"{label} int64", fn, [ints, numpy.array([-1, 0, 1, 2]), numpy.array([1, 1, 2, 3])]))
    return cases


def gelu_and_to_cases():
    """gelu (none, tanh) in F and nn forms; Tensor.to's forms."""
    forms = [
        ("F.gelu", lambda M, x: M.nn.functional.gelu(x)),
        ("F.gelu tanh", lambda M, x: M.nn.functional.gelu(x, approximate="tanh")),
        ("F.gelu none", lambda M, x: M.nn.functional.gelu(x, approximate="none")),
        ("nn.GELU tanh", lambda M, x: M.nn.GELU(approximate="tanh")(x)),
        ("nn.GELU", lambda M, x: M.nn.GELU()(x)),
        ("to(float32)", lambda M, x: x.to(M.float32)),
        ("to(float64, non_blocking)", lambda M, x: x.to(M.float64, non_blocking=True)),
        ("to(float64, False, True)", lambda M, x: x.to(M.float64, False, True)),
        ("to('cpu', float32)", lambda M, x: x.to("cpu", M.float32)),
        ("to(device=, dtype=)", lambda M, x: x.to(device="cpu", dtype=M.float32)),
        ("to(int64)", lambda M, x: x.to(M.int64)),
        ("to(other)", lambda M, x: x.to(M.ones(1, dtype=M.float32))),
        ("to(copy=True)", lambda M, x: x.to(M.float64, copy=True) * 2),
    ]
    cases = []
    for label, fn in forms:
        for shape in [(), (0,), (1,), (4,), (2, 3), (2, 3, 2)]:
            for layout, x in _layouts(shape):
                cases.append(("gelu/to", f"{label} {shape} {layout}", fn, [x * 3]))
    return cases
