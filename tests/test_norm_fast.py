"""The fused batch-norm fast path (ops/norm_fast.py) against the slide's reference, float64 and float32.

The fused path takes both statistics from x without a temporary and never stores x_hat (the
backward rebuilds it from x); where a channel's mean dwarfs its spread it hands over to the
centred two-pass path.  Values and all three gradients must match the reference (tm.reference_mode()).
"""

import numpy
import pytest
from conftest import assert_close

import tinygrad_med as tm
from tinygrad_med.function import InplaceModifiedError
from tinygrad_med.ops import norm_fast
from tinygrad_med.ops.norm import batch_norm_relu


def _forward_and_grads(x, gamma, beta, dtype):
    xt, gt, bt = (tm.tensor(a.astype(dtype), requires_grad=True) for a in (x, gamma, beta))
    running = tm.tensor(numpy.zeros(x.shape[1], dtype)), tm.tensor(numpy.ones(x.shape[1], dtype))
    y = tm.nn.functional.batch_norm(xt, *running, gt, bt, training=True)
    gy = numpy.cos(numpy.arange(y.numel())).reshape(y.shape).astype(dtype)  # no symmetry to hide errors
    y.backward(tm.tensor(gy))
    return [y.numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy(), running[0].numpy(), running[1].numpy()]


def _case(mean, spread=2.0, shape=(4, 6, 9, 7), seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape) * spread + mean
    return x, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])


@pytest.mark.parametrize("mean", [0.0, 1.5, 7.0])  # |mean| <= 4 sigma: the fused path
def test_fused_path_equals_reference_float64(mean):
    x, gamma, beta = _case(mean)
    with tm.reference_mode():
        reference = _forward_and_grads(x, gamma, beta, numpy.float64)
    for r, f in zip(reference, _forward_and_grads(x, gamma, beta, numpy.float64), strict=True):
        assert_close(f, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mean", [0.0, 1.5, 7.0, 300.0])  # 300: the centred path takes over
def test_float32_error_is_that_of_the_reference(mean):
    """float32 fast and float32 reference both against float64: the fast error at most a few times the reference's."""
    x, gamma, beta = _case(mean, shape=(8, 4, 32, 32))
    truth = _forward_and_grads(x, gamma, beta, numpy.float64)
    with tm.reference_mode():
        reference = _forward_and_grads(x, gamma, beta, numpy.float32)
    fast = _forward_and_grads(x, gamma, beta, numpy.float32)
    for t, r, f in zip(truth, reference, fast, strict=True):
        scale = numpy.abs(t).max()
        err_ref, err_fast = numpy.abs(r - t).max() / scale, numpy.abs(f - t).max() / scale
        assert err_fast <= max(8 * err_ref, 1e-5), (err_fast, err_ref)


def test_fused_forward_keeps_x_not_x_hat_and_hands_large_means_to_the_centred_path():
    x3 = numpy.random.default_rng(1).standard_normal((4, 3, 50))
    gamma, beta, eps = numpy.ones(3), numpy.zeros(3), 1e-5
    y, saved, mean, var, inv_std = norm_fast.batch_norm_train_fwd(x3, gamma, beta, eps)
    assert isinstance(saved, tuple) and saved[0] is x3  # no x_hat written
    assert_close(var, x3.var(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    shifted = x3.copy()
    shifted[:, 1] += 100.0  # channel 1: mean 100, sigma 1
    y2, saved2, mean2, var2, _ = norm_fast.batch_norm_train_fwd(shifted, gamma, beta, eps)
    assert isinstance(saved2, numpy.ndarray)  # the centred path: x_hat
    assert_close(var2, shifted.var(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    assert_close(y2, y, rtol=1e-9, atol=1e-9)
    constant = numpy.full((2, 2, 5), 3.0)  # sigma 0: centred path, y = beta
    y3, *_ = norm_fast.batch_norm_train_fwd(constant, numpy.ones(2), numpy.full(2, 0.5), eps)
    assert_close(y3, numpy.full(constant.shape, 0.5), rtol=0, atol=1e-12)


def test_changing_x_after_the_fused_forward_is_caught():
    """The fused backward reads x: an in-place change of x before backward raises, as for any saved value."""
    x = tm.tensor(numpy.random.default_rng(2).standard_normal((4, 3, 5)), requires_grad=True)
    h = x * 1.0
    y = tm.nn.functional.batch_norm(h, None, None, training=True)
    with tm.no_grad():
        h.mul_(0.5)  # an in-place method: bumps h's version
    with pytest.raises(InplaceModifiedError):
        y.sum().backward()


def _bn_relu_grads(x, gamma, beta, dtype, training, fused):
    xt, gt, bt = (tm.tensor(a.astype(dtype), requires_grad=True) for a in (x, gamma, beta))
    running = tm.tensor(numpy.linspace(-0.5, 0.5, x.shape[1]).astype(dtype)), tm.tensor(numpy.ones(x.shape[1], dtype))
    F = tm.nn.functional
    if fused:
        y = batch_norm_relu(xt, *running, gt, bt, training=training)
    else:
        y = F.relu(F.batch_norm(xt, *running, gt, bt, training=training))
    y.backward(tm.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape).astype(dtype)))
    return [y.numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy(), running[0].numpy(), running[1].numpy()]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("mean", [0.3, 300.0])  # the fused statistics, and the centred path
def test_batch_norm_relu_equals_the_two_reference_ops(training, mean):
    x, gamma, beta = _case(mean, shape=(3, 5, 6, 4))
    for dtype, tol in ((numpy.float64, 1e-10), (numpy.float32, 2e-4)):
        with tm.reference_mode():
            reference = _bn_relu_grads(x, gamma, beta, dtype, training, fused=False)
        fused = _bn_relu_grads(x, gamma, beta, dtype, training, fused=True)
        assert (reference[0] == 0).any() and (reference[0] > 0).any()  # the ReLU cuts somewhere
        for r, f in zip(reference, fused, strict=True):
            assert_close(f, r, rtol=tol, atol=tol)


def test_sequential_folds_batch_norm_then_relu_only_for_plain_layers():
    rng = numpy.random.default_rng(3)
    x = tm.tensor(rng.standard_normal((2, 3, 5, 5)).astype("float32"), requires_grad=True)
    plain = tm.nn.Sequential(tm.nn.BatchNorm2d(3), tm.nn.ReLU())
    assert type(plain(x)._ctx).__name__ == "BatchNorm"  # one op: the BN output is no tensor of its own

    class Capped(tm.nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 0.5

    class Noisy(tm.nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) + 1.0

    for model in (tm.nn.Sequential(tm.nn.BatchNorm2d(3), Capped()), tm.nn.Sequential(Noisy(3), tm.nn.ReLU())):
        y = model(x)
        with tm.reference_mode():
            expected = model(x)
        assert_close(y.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    with tm.reference_mode():
        assert type(plain(x)._ctx).__name__ == "ReLU"  # the slide's two ops, as written


@pytest.mark.parametrize("N, workers", [(5, 2), (2, 3), (1, 4)])  # blocks of samples, or of channels
@pytest.mark.parametrize("relu", [False, True])
def test_passes_split_over_workers_equal_the_reference(monkeypatch, N, workers, relu):
    """The normalisation, the input gradient and the fused ReLU run in blocks of samples (of channels when there
    are fewer samples than workers) on the worker threads: every value and gradient as the reference's."""
    from tinygrad_med import cpu_threads

    monkeypatch.setattr(norm_fast, "_PARALLEL_MIN_SIZE", 1)
    monkeypatch.setattr(cpu_threads, "_WORKERS", workers)
    x, gamma, beta = _case(0.5, shape=(N, 5, 6, 7), seed=3)

    def run():
        xt, gt, bt = (tm.tensor(a, requires_grad=True) for a in (x, gamma, beta))
        running = tm.tensor(numpy.zeros(5)), tm.tensor(numpy.ones(5))
        norm = batch_norm_relu if relu else tm.nn.functional.batch_norm
        y = norm(xt, *running, gt, bt, training=True)
        y.backward(tm.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape)))
        return [y.numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()]

    with tm.reference_mode():
        reference = run()
    for r, f in zip(reference, run(), strict=True):
        assert_close(f, r, rtol=1e-10, atol=1e-10)
