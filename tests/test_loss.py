"""Pointwise losses (ops/loss.py) and the loss modules (nn/loss.py).

(a) forward against naive loops from the formulas, (b) gradient checks in float64 for every loss
and option, (d) PyTorch's numbers (when torch is installed), stability at +-1000 and bad input.
The class-index losses (cross_entropy, nll_loss) and their kernels: tests/test_cross_entropy.py.
"""

import math

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med import nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.ops import loss as L

RNG = numpy.random.default_rng(0)

# ----------------------------------------------------------------------------- naive references


def naive_elementwise(name, x, t, **kw):
    out = numpy.empty(numpy.broadcast_shapes(x.shape, t.shape))
    xb, tb = numpy.broadcast_to(x, out.shape), numpy.broadcast_to(t, out.shape)
    for i in numpy.ndindex(out.shape):
        a, b = float(xb[i]), float(tb[i])
        if name == "mse":
            out[i] = (a - b) ** 2
        elif name == "l1":
            out[i] = abs(a - b)
        elif name == "smooth_l1":
            beta = kw["beta"]
            out[i] = 0.5 * (a - b) ** 2 / beta if abs(a - b) < beta else abs(a - b) - 0.5 * beta
        elif name == "bce":
            out[i] = -(b * max(math.log(a), -100) + (1 - b) * max(math.log(1 - a), -100))
        elif name == "bce_logits":
            sig = 1 / (1 + math.exp(-a))
            pw = float(numpy.broadcast_to(kw.get("pos_weight", 1.0), out.shape)[i])
            out[i] = -(pw * b * math.log(sig) + (1 - b) * math.log(1 - sig))
        elif name == "kl":
            out[i] = (b * (math.log(b) - a) if b > 0 else 0.0) if not kw.get("log_target") else math.exp(b) * (b - a)
    return out


def _scores(shape, seed=0):
    return numpy.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------- binary, regression, KL

POINTWISE = {
    "mse": (L.mse_loss, {}),
    "l1": (L.l1_loss, {}),
    "smooth_l1": (L.smooth_l1_loss, {"beta": 0.7}),
    "bce": (L.binary_cross_entropy, {}),
    "bce_logits": (L.binary_cross_entropy_with_logits, {}),
    "kl": (L.kl_div, {}),
    "kl_log": (L.kl_div, {"log_target": True}),
}


def _pair(name, shape=(3, 4), seed=11):
    rng = numpy.random.default_rng(seed)
    if name == "bce":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    if name.startswith("kl"):
        log_p = numpy.log(rng.uniform(0.1, 1, shape))
        return log_p, (rng.uniform(-2, 0, shape) if name == "kl_log" else rng.uniform(0.1, 1, shape))
    x, t = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    x = numpy.where(numpy.abs(numpy.abs(x - t) - 0.7) < 0.05, x + 0.2, x)  # keep away from kinks
    return numpy.where(numpy.abs(x - t) < 0.05, x + 0.2, x), (rng.uniform(0, 1, shape) if name == "bce_logits" else t)


@pytest.mark.parametrize("name", sorted(POINTWISE))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_pointwise_losses_match_naive_and_gradcheck(name, reduction):
    fn, kw = POINTWISE[name]
    x, t = _pair(name)
    per = naive_elementwise(name.replace("kl_log", "kl"), x, t, **kw)
    expected = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    assert_close(fn(tm.tensor(x), tm.tensor(t), reduction=reduction, **kw), expected, rtol=1e-12, atol=1e-12)
    tm.gradcheck(
        lambda a, b: fn(a, b, reduction=reduction, **kw),
        [tm.tensor(x, requires_grad=True), tm.tensor(t, requires_grad=True)],
        atol=1e-7,
        rtol=1e-5,
    )


def test_weights_pos_weight_batchmean_and_broadcasting():
    x, t = _pair("bce_logits", (4, 3), seed=12)
    w, pw = numpy.array([[0.5], [1.0], [2.0], [1.5]]), numpy.array([1.0, 3.0, 0.5])
    expected = (naive_elementwise("bce_logits", x, t, pos_weight=pw) * w).mean()  # pos_weight per class (column)
    args = [tm.tensor(x, requires_grad=True), tm.tensor(t, requires_grad=True)]
    y = L.binary_cross_entropy_with_logits(*args, weight=tm.tensor(w), pos_weight=tm.tensor(pw))
    assert_close(y, expected, rtol=1e-12)
    tm.gradcheck(
        lambda a, b: L.binary_cross_entropy_with_logits(a, b, tm.tensor(w), pos_weight=tm.tensor(pw)),
        args,
        atol=1e-7,
        rtol=1e-5,
    )
    p, q = _pair("bce", (4, 3))
    assert_close(
        L.binary_cross_entropy(tm.tensor(p), tm.tensor(q), tm.tensor(w), reduction="sum"),
        (naive_elementwise("bce", p, q) * w).sum(),
        rtol=1e-12,
    )
    log_p, q = _pair("kl", (4, 3))
    assert_close(
        L.kl_div(tm.tensor(log_p), tm.tensor(q), reduction="batchmean"),
        naive_elementwise("kl", log_p, q).sum() / 4,
        rtol=1e-12,
    )
    x, t = _scores((4, 3)), _scores((3,), 1)  # target broadcast along the batch, as PyTorch allows
    assert_close(L.mse_loss(tm.tensor(x), tm.tensor(t)), naive_elementwise("mse", x, t).mean(), rtol=1e-12)
    pair = [tm.tensor(x, requires_grad=True), tm.tensor(t, requires_grad=True)]
    tm.gradcheck(lambda a, b: L.smooth_l1_loss(a, b, beta=0.0), pair, atol=1e-7, rtol=1e-5)


def test_kl_div_zero_target_contributes_nothing():
    log_p = tm.tensor(numpy.log([[0.2, 0.8]]), requires_grad=True)
    y = L.kl_div(log_p, tm.tensor([[0.0, 1.0]]), reduction="sum")
    y.backward()
    assert_close(y, -numpy.log(0.8), rtol=1e-12)
    assert_close(log_p.grad, [[0.0, -1.0]], rtol=0, atol=0)


# ----------------------------------------------------------------------------- stability at +-1000


def test_bce_with_logits_is_finite_and_warning_free_at_plus_minus_1000():
    x = numpy.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    with numpy.errstate(all="raise"):
        s = tm.tensor(x, requires_grad=True)
        z = L.binary_cross_entropy_with_logits(
            s, tm.tensor(numpy.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])), reduction="sum"
        )
        z.backward()
    assert numpy.isfinite(s.grad.numpy()).all()
    assert_close(z, 4000 + math.log(2), rtol=1e-9, atol=0)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    y = L.binary_cross_entropy(tm.tensor([0.0, 1.0]), tm.tensor([1.0, 0.0]), reduction="none")
    numpy.testing.assert_array_equal(y.numpy(), [100.0, 100.0])


# ----------------------------------------------------------------------------- PyTorch's numbers


def test_pointwise_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for name, (fn, kw) in POINTWISE.items():
        x, t = _pair(name)
        torch_fn = {
            "mse": F.mse_loss,
            "l1": F.l1_loss,
            "smooth_l1": F.smooth_l1_loss,
            "bce": F.binary_cross_entropy,
            "bce_logits": F.binary_cross_entropy_with_logits,
            "kl": F.kl_div,
            "kl_log": F.kl_div,
        }[name]
        for reduction in ["none", "sum"] + (["batchmean"] if name.startswith("kl") else ["mean"]):
            ours = fn(tm.tensor(x), tm.tensor(t), reduction=reduction, **kw)
            assert_close(
                ours,
                torch_fn(torch.tensor(x), torch.tensor(t), reduction=reduction, **kw).numpy(),
                rtol=1e-10,
                atol=1e-12,
            )


# ----------------------------------------------------------------------------- modules


def test_loss_modules_call_their_functions():
    x, t = tm.tensor(_scores((4, 3))), tm.tensor(numpy.random.default_rng(1).integers(0, 3, (4,)))
    w = tm.tensor([0.5, 1.0, 2.0], dtype=x.dtype)  # PyTorch refuses class weights of another dtype
    module = nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1)
    assert_close(module(x, t), L.cross_entropy(x, t, w, 2, label_smoothing=0.1), rtol=0, atol=0)
    assert list(module.state_dict()) == ["weight"]
    assert_close(nn.NLLLoss(reduction="sum")(x, t), L.nll_loss(x, t, reduction="sum"), rtol=0, atol=0)
    p, q = (tm.tensor(a) for a in _pair("bce"))
    assert_close(nn.BCELoss()(p, q), L.binary_cross_entropy(p, q), rtol=0, atol=0)
    pw = tm.tensor([1.0, 2.0, 3.0, 4.0])
    assert_close(
        nn.BCEWithLogitsLoss(pos_weight=pw)(p, q),
        L.binary_cross_entropy_with_logits(p, q, pos_weight=pw),
        rtol=0,
        atol=0,
    )
    assert_close(nn.MSELoss()(p, q), L.mse_loss(p, q), rtol=0, atol=0)
    assert_close(nn.L1Loss(reduction="none")(p, q), L.l1_loss(p, q, "none"), rtol=0, atol=0)
    assert_close(nn.SmoothL1Loss(beta=0.3)(p, q), L.smooth_l1_loss(p, q, beta=0.3), rtol=0, atol=0)
    assert_close(nn.KLDivLoss(reduction="batchmean")(p.log(), q), L.kl_div(p.log(), q, "batchmean"), rtol=0, atol=0)
    assert "reduction='mean'" in repr(nn.MSELoss())


# ----------------------------------------------------------------------------- bad input


def test_pointwise_losses_refuse_bad_options():
    x = tm.tensor(_scores((4, 3)))
    with pytest.raises(ValueError, match="reduction must be one of 'none', 'mean', 'sum', 'batchmean'"):
        L.kl_div(x, x, reduction="batch")
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be >= 0"):
        L.smooth_l1_loss(x, x, beta=-1.0)


def test_pointwise_losses_refuse_bad_pairs():
    x = tm.tensor(numpy.full((2, 3), 0.5))
    with pytest.raises(
        ShapeError,
        match=r"binary_cross_entropy: target must have the same shape as input "
        r"\(input.shape=\(2, 3\); target.shape=\(3,\)\)",
    ):
        L.binary_cross_entropy(x, tm.ones(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input must be probabilities"):
        L.binary_cross_entropy(x * 3, tm.ones(2, 3, dtype=tm.float64))
    with pytest.raises(DTypeError, match=r"mse_loss: target must be a float tensor, got dtype int64"):
        L.mse_loss(x, tm.tensor([[1, 2, 3], [4, 5, 6]]))
    with pytest.raises(ShapeError, match=r"l1_loss: input and target shapes do not broadcast"):
        L.l1_loss(x, tm.ones(4))
    with pytest.raises(ShapeError, match=r"pos_weight must broadcast to input's shape"):
        L.binary_cross_entropy_with_logits(x, x, pos_weight=tm.ones(4, dtype=tm.float64))
