"""Class-index losses (ops/cross_entropy.py, kernels/cross_entropy.cu): cross_entropy and nll_loss.

(a) forward against naive loops from the formulas, (b) gradient checks in float64 for every option
(cross_entropy's fused kernel on every device), (c) kernel parity and thread-order independence,
(d) PyTorch's numbers (when torch is installed), stability at +-1000 and bad input.
"""

import itertools
import math

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops import cross_entropy as CE

# ----------------------------------------------------------------------------- naive reference


def naive_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Per sample/pixel loop: -(1 - eps) w_t log p_t - (eps / C) sum_c w_c log p_c; mean over sum of w_t."""
    C = x.shape[1]
    w = numpy.ones(C) if weight is None else weight
    losses, total_weight = numpy.zeros(t.shape), 0.0
    for index in numpy.ndindex(t.shape):
        scores = [x[(index[0], c) + index[1:]] for c in range(C)]
        m = max(scores)
        log_p = [s - m - math.log(sum(math.exp(v - m) for v in scores)) for s in scores]
        y = int(t[index])
        if y == ignore_index:
            continue
        smooth = -sum(w[c] * log_p[c] for c in range(C)) / C
        losses[index] = -(1 - label_smoothing) * w[y] * log_p[y] + label_smoothing * smooth
        total_weight += w[y]
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / total_weight


def _scores(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


def _targets(shape, C, seed=1, ignore=None):
    t = numpy.random.default_rng(seed).integers(0, C, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


# ----------------------------------------------------------------------------- cross-entropy and NLL

CE_OPTIONS = [
    {},
    {"weight": True},
    {"ignore_index": 1},
    {"ignore_index": -100, "ignored": True},
    {"label_smoothing": 0.2},
    {"weight": True, "ignore_index": 2, "ignored": True, "label_smoothing": 0.3},
]
CE_SHAPES = [((6, 5), (6,)), ((2, 4, 3, 2), (2, 3, 2)), ((5,), ())]


def _ce_case(shape, tshape, options, seed=0):
    C = shape[1] if len(shape) > 1 else shape[0]
    kw = {k: v for k, v in options.items() if k in ("ignore_index", "label_smoothing")}
    ignore = kw.get("ignore_index", -100) if options.get("ignored") else None
    t = _targets(tshape, C, seed + 1, ignore) if tshape else numpy.array(seed % C)
    w = numpy.random.default_rng(seed + 2).uniform(0.5, 2.0, C) if options.get("weight") else None
    return _scores(shape, seed), t, w, kw


@pytest.mark.parametrize("shape,tshape", CE_SHAPES)
@pytest.mark.parametrize("options", CE_OPTIONS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_matches_naive_loop(shape, tshape, options, reduction):
    x, t, w, kw = _ce_case(shape, tshape, options)
    y = CE.cross_entropy(tm.tensor(x), tm.tensor(t), None if w is None else tm.tensor(w), reduction=reduction, **kw)
    x4, t4 = (x[None], t[None]) if len(shape) == 1 else (x, t)
    expected = naive_cross_entropy(x4, t4, w, reduction=reduction, **kw)
    assert_close(y, expected.reshape(t.shape) if reduction == "none" else expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", CE_OPTIONS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_gradcheck_every_device(device, options, reduction):
    x, t, w, kw = _ce_case((3, 4, 2), (3, 2), options, seed=3)
    weight = None if w is None else device.tensor(w)
    tm.gradcheck(
        lambda s: CE.cross_entropy(s, device.tensor(t), weight, reduction=reduction, **kw),
        [device.tensor(x, requires_grad=True)],
        atol=1e-7,
        rtol=1e-5,
    )


@pytest.mark.parametrize("options", [o for o in CE_OPTIONS if "label_smoothing" not in o])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss_matches_naive_and_gradcheck(options, reduction):
    x, t, w, kw = _ce_case((4, 3, 2), (4, 2), options, seed=5)
    log_p = x - numpy.log(numpy.exp(x).sum(axis=1, keepdims=True))
    weight = None if w is None else tm.tensor(w)
    y = CE.nll_loss(tm.tensor(log_p), tm.tensor(t), weight, reduction=reduction, **kw)
    assert_close(y, naive_cross_entropy(x, t, w, reduction=reduction, **kw), rtol=1e-12, atol=1e-12)
    tm.gradcheck(
        lambda s: CE.nll_loss(s, tm.tensor(t), weight, reduction=reduction, **kw),
        [tm.tensor(log_p, requires_grad=True)],
        atol=1e-7,
        rtol=1e-5,
    )


@settings(max_examples=20, deadline=None)
@given(
    N=st.integers(1, 3),
    C=st.integers(1, 5),
    spatial=st.lists(st.integers(1, 3), max_size=2),
    smoothing=st.sampled_from([0.0, 0.3]),
    weighted=st.booleans(),
    seed=st.integers(0, 100),
)
def test_cross_entropy_any_spatial_shape(N, C, spatial, smoothing, weighted, seed):
    """(N, C, d1, ..., dk) scores with (N, d1, ..., dk) targets: loss shape for 'none', value, and gradient."""
    x = _scores((N, C, *spatial), seed)
    t = _targets((N, *spatial), C, seed, ignore=-100)
    w = numpy.random.default_rng(seed).uniform(0.5, 2.0, C) if weighted else None
    weight = None if w is None else tm.tensor(w)
    none = CE.cross_entropy(tm.tensor(x), tm.tensor(t), weight, reduction="none", label_smoothing=smoothing)
    assert none.shape == t.shape
    assert_close(
        none, naive_cross_entropy(x, t, w, reduction="none", label_smoothing=smoothing), rtol=1e-12, atol=1e-12
    )
    s = tm.tensor(x, requires_grad=True)
    CE.cross_entropy(s, tm.tensor(t), weight, reduction="sum", label_smoothing=smoothing).backward()
    grad = s.grad.numpy()
    ignored = numpy.expand_dims(t == -100, 1)
    numpy.testing.assert_array_equal(numpy.where(ignored, grad, 0), 0)  # ignored pixels get no gradient
    if w is None:  # softmax - target: each pixel's gradient sums to 0 over the classes
        numpy.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-12)


def test_nll_loss_takes_minus_infinity_at_other_classes():
    log_p = tm.tensor([[0.0, -numpy.inf], [-numpy.inf, 0.0]], requires_grad=True)
    y = CE.nll_loss(log_p, tm.tensor([0, 1]))
    y.backward()
    assert y.item() == 0.0
    numpy.testing.assert_array_equal(log_p.grad.numpy(), [[-0.5, 0.0], [0.0, -0.5]])


@pytest.mark.parametrize("options", [{}, {"weight": True, "label_smoothing": 0.25}])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_probability_targets(options, reduction):
    x = _scores((3, 4, 2), 7)
    q = numpy.random.default_rng(8).random((3, 4, 2))
    q /= q.sum(axis=1, keepdims=True)
    eps = options.get("label_smoothing", 0.0)
    w = numpy.array([0.5, 1.0, 1.5, 2.0]) if options.get("weight") else numpy.ones(4)
    log_p = x - numpy.log(numpy.exp(x).sum(axis=1, keepdims=True))
    per = -((q * (1 - eps) + eps / 4) * w.reshape(1, 4, 1) * log_p).sum(axis=1)
    expected = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    weight = tm.tensor(w) if options.get("weight") else None
    y = CE.cross_entropy(tm.tensor(x), tm.tensor(q), weight, reduction=reduction, label_smoothing=eps)
    assert_close(y, expected, rtol=1e-12, atol=1e-12)
    tm.gradcheck(
        lambda s, p: CE.cross_entropy(s, p, weight, reduction=reduction, label_smoothing=eps),
        [tm.tensor(x, requires_grad=True), tm.tensor(q, requires_grad=True)],
        atol=1e-7,
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "shape,tshape",
    # (5, 1001): 128 threads a row (about 8 classes each), 2 rows a block, the last block half empty
    [((8, 10), (8,)), ((2, 3, 5, 4), (2, 5, 4)), ((3, 300), (3,)), ((5, 1001), (5,))],
)
@pytest.mark.parametrize("options", CE_OPTIONS[1:3] + CE_OPTIONS[5:])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_cross_entropy_kernel_parity(device, shape, tshape, options, reduction):
    x, t, w, kw = _ce_case(shape, tshape, options, seed=9)
    x = (x * 3).astype(numpy.float32)
    weight = None if w is None else w.astype(numpy.float32)

    def run(make):
        s = make(x, requires_grad=True)
        y = CE.cross_entropy(s, make(t), None if weight is None else make(weight), reduction=reduction, **kw)
        y.backward(make(numpy.linspace(0.5, 1.5, y.numel()).reshape(y.shape).astype(numpy.float32)))
        return y, s.grad

    y, gx = run(device.tensor)
    y_ref, gx_ref = device.reference(run, lambda a, requires_grad=False: tm.tensor(a, requires_grad=requires_grad))
    assert y.dtype == numpy.float32 and gx.dtype == numpy.float32
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


def test_cross_entropy_kernel_has_no_race():
    from tinygrad_med import backend
    from tinygrad_med.kernelcheck.emulator import thread_order

    x, t = tm.tensor(_scores((3, 37), 10), requires_grad=True), tm.tensor(_targets((3,), 37))
    results = []
    with backend.use_emulator():
        for order in ("forward", "reverse"):
            with thread_order(order):
                x.grad = None
                y = CE.cross_entropy(x, t, label_smoothing=0.1)
                y.backward()
                results.append((y.numpy(), x.grad.numpy()))
    for a, b in zip(*results, strict=True):
        numpy.testing.assert_allclose(a, b, rtol=1e-14)


def test_cross_entropy_all_ignored_mean_is_nan_like_pytorch():
    with numpy.errstate(invalid="ignore"):
        y = CE.cross_entropy(tm.tensor(_scores((2, 3))), tm.tensor([-100, -100]))
    assert math.isnan(y.item())


# ----------------------------------------------------------------------------- stability at +-1000


def test_cross_entropy_is_finite_and_warning_free_at_plus_minus_1000(device):
    x = numpy.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    with numpy.errstate(all="raise"):
        s = device.tensor(x, requires_grad=True)
        y = CE.cross_entropy(s, device.tensor(numpy.array([1, 1])), label_smoothing=0.1)
        y.backward()
    assert numpy.isfinite(device.numpy(s.grad)).all()
    assert_close(y, naive_cross_entropy(x, numpy.array([1, 1]), label_smoothing=0.1), rtol=1e-9, atol=0)


# ----------------------------------------------------------------------------- PyTorch's numbers


def test_cross_entropy_matches_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for (shape, tshape), options, reduction in itertools.product(CE_SHAPES, CE_OPTIONS, ["none", "mean", "sum"]):
        x, t, w, kw = _ce_case(shape, tshape, options, seed=13)
        s, ts = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = CE.cross_entropy(s, tm.tensor(t), None if w is None else tm.tensor(w), reduction=reduction, **kw)
        yt = F.cross_entropy(ts, torch.tensor(t), None if w is None else torch.tensor(w), reduction=reduction, **kw)
        y.backward(tm.tensor(numpy.ones(y.shape)))
        yt.backward(torch.ones_like(yt))
        assert_close(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert_close(s.grad, ts.grad.numpy(), rtol=1e-10, atol=1e-12)
    q = numpy.random.default_rng(14).dirichlet(numpy.ones(4), size=3)
    ours = CE.cross_entropy(
        tm.tensor(_scores((3, 4))), tm.tensor(q), tm.tensor(numpy.arange(1.0, 5.0)), label_smoothing=0.2
    )
    theirs = F.cross_entropy(
        torch.tensor(_scores((3, 4))), torch.tensor(q), torch.arange(1.0, 5.0).double(), label_smoothing=0.2
    )
    assert_close(ours, theirs.numpy(), rtol=1e-10)


# ----------------------------------------------------------------------------- bad input


def test_cross_entropy_refuses_bad_targets():
    x = tm.tensor(_scores((4, 3)))
    with pytest.raises(ShapeError, match=r"target must have shape \(4,\).*target.shape=\(4, 1\) as \(N, d1, ...\)"):
        CE.cross_entropy(x, tm.tensor(numpy.zeros((4, 1), dtype=numpy.int64)))
    with pytest.raises(ShapeError, match=r"target must have shape \(2, 5\)"):
        CE.cross_entropy(tm.ones(2, 3, 5), tm.tensor(numpy.zeros((2, 3), dtype=numpy.int64)))
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 is out of bounds for 3 classes"):
        CE.cross_entropy(x, tm.tensor([0, 1, 3, 2]))
    with pytest.raises(IndexError, match=r"nll_loss: target -1 is out of bounds"):
        CE.nll_loss(x, tm.tensor([0, 1, -1, 2]))
    with pytest.raises(DTypeError, match=r"cross_entropy: target must be an int64 tensor.*got dtype bool"):
        CE.cross_entropy(x, tm.tensor(numpy.ones(4, dtype=bool)))
    with pytest.raises(DTypeError, match=r"cross_entropy: input must be a float tensor, got dtype int64"):
        CE.cross_entropy(tm.tensor([[1, 2]]), tm.tensor([0]))
    with pytest.raises(ValueError, match="ignore_index is only supported for class-index targets"):
        CE.cross_entropy(x, tm.tensor(numpy.full((4, 3), 1 / 3)), ignore_index=0)


def test_cross_entropy_refuses_bad_options():
    x, t = tm.tensor(_scores((4, 3))), tm.tensor([0, 1, 2, 0])
    with pytest.raises(ShapeError, match=r"weight must be a float tensor of shape \(3,\).*weight.shape=\(2,\)"):
        CE.cross_entropy(x, t, weight=tm.ones(2))
    with pytest.raises(ValueError, match=r"reduction must be one of 'none', 'mean', 'sum', got 'avg'"):
        CE.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        CE.cross_entropy(x, t, label_smoothing=1.5)


@pytest.mark.parametrize("max_blocks", [65535, 1])
def test_cross_entropy_kernel_many_pixels_per_block(monkeypatch, max_blocks):
    """Segmentation layout, C = 2: one thread and 256 pixels per block, 2*13*11 = 286 pixels -> a
    part-empty second block; with 1 block at most, the forward loops over the pixels and the backward's
    grid-stride loop carries (pixel, class) across steps (256 = 1*143 + 113 in base (D = 143, C = 2)).
    Both thread orders match the CPU path."""
    from tinygrad_med import backend
    from tinygrad_med.kernelcheck.emulator import thread_order

    monkeypatch.setattr(backend, "MAX_BLOCKS", max_blocks)
    x, t = _scores((2, 2, 13, 11), 15), _targets((2, 13, 11), 2, 16, ignore=-100)
    w = tm.tensor([0.7, 1.3], dtype=x.dtype)

    def run():
        s = tm.tensor(x, requires_grad=True)
        y = CE.cross_entropy(s, tm.tensor(t), w, label_smoothing=0.2, reduction="sum")
        y.backward()
        return y.numpy(), s.grad.numpy()

    expected = run()
    with backend.use_emulator():
        for order in ("forward", "reverse"):
            with thread_order(order):
                for got, want in zip(run(), expected, strict=True):
                    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
