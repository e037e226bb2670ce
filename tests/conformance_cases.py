"""The grid of edge cases that tests/test_conformance_torch.py runs through torch and tinygrad_med alike.

Each case is (family, label, fn, inputs, options): ``fn(M, *tensors)`` is written once against a
module M (``torch`` or ``tinygrad_med``; both spell the call the same), ``inputs`` are numpy arrays
(made tensors on each side: float ones require grad) or plain Python values passed as they are.
The grid crosses the inputs PyTorch's own tests lean on -- 0-d, empty, size-1 dims, non-contiguous
and negative-stride arrays, int and bool dtypes -- with every positional and keyword form the
signature documents, plus forms PyTorch refuses (the two must then both raise).
"""

import numpy

RNG = numpy.random.default_rng(0)

SHAPES = [(), (0,), (1,), (4,), (2, 3), (3, 1), (0, 3), (2, 3, 2)]


def _array(shape, kind="normal"):
    """A float64 array of ``shape``; kind 'ties' (small integers, so extremes tie), 'positive', 'zeros'."""
    if kind == "ties":
        return RNG.integers(-2, 3, shape).astype(numpy.float64)
    if kind == "positive":
        return RNG.uniform(0.5, 2.0, shape)
    if kind == "zeros":
        return RNG.integers(0, 3, shape).astype(numpy.float64)
    return RNG.normal(size=shape)


def _layouts(shape, kind="normal"):
    """The same values as a contiguous array, a transposed view and a reversed (negative-stride) view."""
    out = [("contiguous", _array(shape, kind))]
    if len(shape) >= 2:
        out.append(("transposed", _array(shape[::-1], kind).T))
    if len(shape) >= 1 and shape[0] > 1:
        out.append(("reversed", _array(shape, kind)[::-1]))
    return out


def _dims(ndim):
    """Every valid dim, one out of range, and the tuple forms (including () and a repeated dim)."""
    dims = list(range(-max(ndim, 1), max(ndim, 1))) + [max(ndim, 1)]
    return dims + [(), (0,), [0, -1] if ndim > 1 else (0, -1)]


def reduction_cases():
    """sum mean prod amax amin max min argmax argmin logsumexp cumsum over every dim form."""
    ops = {
        "sum": (True, "normal"),
        "mean": (True, "normal"),
        "amax": (True, "ties"),
        "amin": (True, "ties"),
        "logsumexp": (True, "normal"),
        "prod": (False, "zeros"),
        "max": (False, "ties"),
        "min": (False, "ties"),
        "argmax": (False, "ties"),
        "argmin": (False, "ties"),
        "cumsum": (False, "normal"),
    }
    cases = []
    for name, (tuples, kind) in ops.items():
        for shape in SHAPES:
            for layout, x in _layouts(shape, kind):
                dims = [d for d in _dims(len(shape)) if tuples or not isinstance(d, (tuple, list))]
                cases += _reduction_forms(name, shape, layout, x, dims)
    return cases


def _reduction_forms(name, shape, layout, x, dims):
    cases = [("reduce", f"{name}(x) {shape} {layout}", lambda M, x, n=name: getattr(M, n)(x), [x])]
    if name in ("logsumexp", "cumsum"):
        cases = []
    for i, d in enumerate(dims):
        keep = bool(i % 2)
        tag = f"{shape} {layout} dim={d}"
        if name == "cumsum":
            cases.append(("reduce", f"cumsum {tag}", lambda M, x, d=d: M.cumsum(x, d), [x]))
            cases.append(("reduce", f"cumsum dim= {tag}", lambda M, x, d=d: x.cumsum(dim=d), [x]))
            continue
        cases.append(
            ("reduce", f"{name}(x, d, {keep}) {tag}", lambda M, x, n=name, d=d, k=keep: getattr(M, n)(x, d, k), [x])
        )
        cases.append(
            (
                "reduce",
                f"x.{name}(dim=d, keepdim) {tag}",
                lambda M, x, n=name, d=d, k=not keep: getattr(x, n)(dim=d, keepdim=k),
                [x],
            )
        )
    if name in ("argmax", "argmin"):
        cases.append(
            ("reduce", f"{name} keepdim no dim {shape}", lambda M, x, n=name: getattr(M, n)(x, keepdim=True), [x])
        )
    return cases


def variance_cases():
    """var std var_mean std_mean in each of PyTorch's forms: (x), (x, unbiased), (x, dim, unbiased, keepdim),
    (x, dim, keepdim=, correction=), tuple dims, and the refused mixes."""
    forms = [
        ("(x)", lambda f, x, d: f(x)),
        ("(x, True)", lambda f, x, d: f(x, True)),
        ("(x, False)", lambda f, x, d: f(x, False)),
        ("(x, d, False)", lambda f, x, d: f(x, d, False)),
        ("(x, d, True, True)", lambda f, x, d: f(x, d, True, True)),
        ("(x, d, keepdim=True, correction=0)", lambda f, x, d: f(x, d, keepdim=True, correction=0)),
        ("(x, dim=d, correction=2)", lambda f, x, d: f(x, dim=d, correction=2)),
        ("(x, unbiased=False)", lambda f, x, d: f(x, unbiased=False)),
        ("(x, dim=d, unbiased=False)", lambda f, x, d: f(x, dim=d, unbiased=False)),
        ("(x, d, 1) refused", lambda f, x, d: f(x, d, 1)),
        ("(x, d, unbiased=False, correction=0) refused", lambda f, x, d: f(x, d, unbiased=False, correction=0)),
    ]
    cases = []
    for name in ("var", "std", "var_mean", "std_mean"):
        for shape in SHAPES:
            for layout, x in _layouts(shape):
                for i, d in enumerate(_dims(len(shape))):
                    label, form = forms[i % len(forms)]
                    fn = lambda M, x, n=name, d=d, form=form: form(getattr(M, n), x, d)  # noqa: E731
                    cases.append(("variance", f"{name}{label} {shape} {layout} dim={d}", fn, [x]))
                if name in ("var", "std"):
                    for label, form in forms:
                        method = lambda M, x, n=name, form=form: form(lambda x, *a, **k: getattr(x, n)(*a, **k), x, 0)  # noqa: E731
                        cases.append(("variance", f"x.{name}{label} {shape} {layout}", method, [x]))
    cases.append(("variance", "var of int refused", lambda M, x: M.var(x), [numpy.array([1, 2, 3])]))
    return cases


def norm_cases():
    """norm with p in fro, 2, 1, 0, 3, 0.5, inf, -inf, -1 over every dim form, zeros in the input."""
    cases = []
    inf = float("inf")
    for p in ["fro", 2, 1, 0, 3, 0.5, inf, -inf, -1]:
        for shape in SHAPES:
            for layout, x in _layouts(shape, "zeros" if p in (2, 0.5, inf) else "normal"):
                for i, d in enumerate([None] + _dims(len(shape))):
                    tag = f"p={p} {shape} {layout} dim={d}"
                    if i % 2:
                        cases.append(("norm", f"norm(x, p, d) {tag}", lambda M, x, p=p, d=d: M.norm(x, p, d), [x]))
                    else:
                        fn = lambda M, x, p=p, d=d: x.norm(p=p, dim=d, keepdim=True)  # noqa: E731
                        cases.append(("norm", f"x.norm(p=, dim=, keepdim=True) {tag}", fn, [x]))
    cases.append(("norm", "norm of int refused", lambda M, x: M.norm(x), [numpy.array([1, 2])]))
    cases.append(("norm", "norm(x, dtype=float64)", lambda M, x: M.norm(x, dtype=M.float64), [_array((3,))]))
    return cases


def shape_cases():
    """transpose squeeze unsqueeze flatten permute on every shape, 0-d included."""
    cases = []
    for shape in SHAPES:
        nd = len(shape)
        for layout, x in _layouts(shape):
            for d in _dims(nd)[: 2 * max(nd, 1) + 1]:
                tag = f"{shape} {layout} dim={d}"
                cases.append(("shape", f"transpose(d, 0) {tag}", lambda M, x, d=d: M.transpose(x, d, 0), [x]))
                cases.append(("shape", f"squeeze(d) {tag}", lambda M, x, d=d: x.squeeze(d), [x]))
                cases.append(("shape", f"unsqueeze(d) {tag}", lambda M, x, d=d: M.unsqueeze(x, d), [x]))
                cases.append(("shape", f"flatten(d) {tag}", lambda M, x, d=d: x.flatten(d), [x]))
                cases.append(("shape", f"flatten(0, d) {tag}", lambda M, x, d=d: M.flatten(x, 0, d), [x]))
            cases.append(
                ("shape", f"permute(reversed) {shape} {layout}", lambda M, x: x.permute(*range(x.ndim)[::-1]), [x])
            )
            cases.append(("shape", f"squeeze() {shape} {layout}", lambda M, x: M.squeeze(x), [x]))
            cases.append(("shape", f"unsqueeze(-1) {shape} {layout}", lambda M, x: x.unsqueeze(-1), [x]))
            cases.append(("shape", f"clone {shape} {layout}", lambda M, x: x.clone(), [x]))
            if 0 not in shape:  # softmax of empty tensors is checked with the norms, elsewhere
                cases.append(("shape", f"softmax(x, -1) {shape} {layout}", lambda M, x: x.softmax(-1), [x]))
                cases.append(("shape", f"log_softmax(x, 0) {shape} {layout}", lambda M, x: x.log_softmax(0), [x]))
    return cases
