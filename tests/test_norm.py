"""Tests of ops/norm.py (batch_norm, instance_norm, group_norm, layer_norm), kernels/norm.cu and nn/norm.py.

(a) forward against loops written from the slide's four lines (mu_B, sigma2_B, x_hat, y);
(b) gradient checks in float64 of every input, batch norm in training and eval mode;
(c) CPU / emulated / cuda parity through the ``device`` fixture, and the reduction kernels run
    in both thread orders (a race would change the result); a kernel with one barrier removed
    is caught by the same check;
(d) running statistics by hand and against PyTorch when it is importable; bad input.
"""

import shutil

import numpy
import pytest
from conftest import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import backend, nn
from tinygrad_med.errors import DTypeError, ShapeError
from tinygrad_med.nn import functional as F
from tinygrad_med.ops import norm

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is needed to emulate the CUDA kernels")


def rand(*shape, seed=0, dtype=numpy.float64):
    return (numpy.random.default_rng(seed).standard_normal(shape) * 1.5 + 0.7).astype(dtype)


def cpu_tensor(array, requires_grad=False):
    """The plain CPU twin of device.tensor, for device.reference runs."""
    return tm.tensor(array.copy(), requires_grad=requires_grad)


def t64(array, requires_grad=True):
    return tm.tensor(numpy.asarray(array, dtype=numpy.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- naive references (the slide)


def bn_reference(x, gamma, beta, eps, mean=None, var=None):
    """Ioffe & Szegedy Algorithm 1, channel by channel; mean/var given = eval mode."""
    y = numpy.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c].ravel()  # the mini-batch B = {x_1 .. x_m} of channel c
        mu = values.sum() / values.size if mean is None else mean[c]
        sigma2 = ((values - mu) ** 2).sum() / values.size if var is None else var[c]
        x_hat = (x[:, c] - mu) / numpy.sqrt(sigma2 + eps)
        y[:, c] = gamma[c] * x_hat + beta[c]
    return y


def normalize_rows_reference(rows, eps):
    out = numpy.empty_like(rows)
    for r in range(rows.shape[0]):
        mu = rows[r].mean()
        out[r] = (rows[r] - mu) / numpy.sqrt(((rows[r] - mu) ** 2).mean() + eps)
    return out


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_slide_formula(shape, training):
    x, gamma, beta = rand(*shape), rand(shape[1], seed=1), rand(shape[1], seed=2)
    mean, var = rand(shape[1], seed=3), numpy.abs(rand(shape[1], seed=4)) + 0.5
    y = F.batch_norm(t64(x), t64(mean), t64(var), t64(gamma), t64(beta), training=training, eps=1e-3)
    expected = bn_reference(x, gamma, beta, 1e-3, None if training else mean, None if training else var)
    assert_close(y, expected, rtol=1e-12, atol=1e-12)


def test_instance_group_layer_norm_match_loops():
    x, w, b = rand(2, 4, 3, 5), rand(4, seed=1), rand(4, seed=2)
    per_channel = (1, 4, 1, 1)
    inst = normalize_rows_reference(x.reshape(8, -1), 1e-5).reshape(x.shape) * w.reshape(per_channel)
    assert_close(F.instance_norm(t64(x), weight=t64(w), bias=t64(b)), inst + b.reshape(per_channel), 1e-12, 1e-12)
    group = normalize_rows_reference(x.reshape(4, -1), 1e-5).reshape(x.shape) * w.reshape(per_channel)
    assert_close(F.group_norm(t64(x), 2, t64(w), t64(b)), group + b.reshape(per_channel), 1e-12, 1e-12)
    lw, lb = rand(3, 5, seed=5), rand(3, 5, seed=6)
    layer = normalize_rows_reference(x.reshape(8, 15), 1e-5).reshape(x.shape) * lw + lb
    assert_close(F.layer_norm(t64(x), (3, 5), t64(lw), t64(lb)), layer, 1e-12, 1e-12)


def test_normalized_output_has_zero_mean_unit_variance():
    y = F.batch_norm(tm.tensor(rand(8, 3, 6, 6, dtype=numpy.float32)), None, None, training=True).numpy()
    numpy.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)  # 1 - eps / sigma2, about


# ----------------------------------------------------------------------------- gradient checks (float64, CPU)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 3, 3), (2, 2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_all_inputs(shape, training):
    C = shape[1]
    rm, rv = t64(rand(C, seed=3), False), t64(numpy.abs(rand(C, seed=4)) + 0.5, False)
    inputs = [t64(rand(*shape)), t64(rand(C, seed=1)), t64(rand(C, seed=2))]
    result = tm.gradcheck(
        lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), inputs, atol=1e-6, rtol=1e-5
    )
    assert result.passed, result.report()


@pytest.mark.parametrize("op", ["instance_norm", "group_norm", "layer_norm"])
def test_instance_group_layer_norm_gradcheck(op):
    x, w, b = t64(rand(2, 4, 3, 3)), t64(rand(4, seed=1)), t64(rand(4, seed=2))
    if op == "instance_norm":
        fn = lambda x, w, b: F.instance_norm(x, weight=w, bias=b)  # noqa: E731
    elif op == "group_norm":
        fn = lambda x, w, b: F.group_norm(x, 2, w, b)  # noqa: E731
    else:
        w, b = t64(rand(3, 3, seed=1)), t64(rand(3, 3, seed=2))
        fn = lambda x, w, b: F.layer_norm(x, (3, 3), w, b)  # noqa: E731
    result = tm.gradcheck(fn, [x, w, b], atol=1e-6, rtol=1e-5)
    assert result.passed, result.report()


@settings(max_examples=15, deadline=None)
@given(
    N=st.integers(2, 4),
    C=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    eps=st.sampled_from([1e-5, 1e-2]),
)
def test_batch_norm_random_shapes_forward_and_gradient(N, C, spatial, eps):
    shape = (N, C, *spatial)
    x, gamma, beta = rand(*shape, seed=N + C), rand(C, seed=1), rand(C, seed=2)
    y = F.batch_norm(t64(x), None, None, t64(gamma), t64(beta), training=True, eps=eps)
    assert y.shape == shape
    assert_close(y, bn_reference(x, gamma, beta, eps), 1e-11, 1e-11)
    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=eps)  # noqa: E731
    assert tm.gradcheck(fn, [t64(x), t64(gamma), t64(beta)], atol=1e-6, rtol=1e-5).passed


# ----------------------------------------------------------------------------- running statistics


def test_running_stats_update_by_hand_unbiased_variance():
    x = rand(4, 2, 3)
    rm, rv = tm.tensor(numpy.array([0.5, -1.0])), tm.tensor(numpy.array([2.0, 0.25]))
    F.batch_norm(tm.tensor(x), rm, rv, training=True, momentum=0.3)
    values = x.transpose(1, 0, 2).reshape(2, -1)  # (C, m) with m = 12
    batch_mean, unbiased = values.mean(axis=1), values.var(axis=1, ddof=1)
    numpy.testing.assert_allclose(rm.numpy(), 0.7 * numpy.array([0.5, -1.0]) + 0.3 * batch_mean, rtol=1e-12)
    numpy.testing.assert_allclose(rv.numpy(), 0.7 * numpy.array([2.0, 0.25]) + 0.3 * unbiased, rtol=1e-12)


def test_eval_mode_uses_running_stats_and_leaves_them():
    x, rm, rv = rand(3, 2, 4), tm.tensor(numpy.array([1.0, 2.0])), tm.tensor(numpy.array([4.0, 9.0]))
    y = F.batch_norm(tm.tensor(x), rm, rv, training=False, eps=0.0)
    expected = (x - numpy.array([1.0, 2.0])[:, None]) / numpy.array([2.0, 3.0])[:, None]
    assert_close(y, expected, 1e-12, 1e-12)
    numpy.testing.assert_array_equal(rm.numpy(), [1.0, 2.0])
    numpy.testing.assert_array_equal(rv.numpy(), [4.0, 9.0])


def test_module_train_eval_and_cumulative_momentum():
    bn = nn.BatchNorm1d(3, momentum=None).double()
    batches = [rand(5, 3, seed=s) for s in range(3)]
    for b in batches:
        bn(t64(b, False))
    assert int(bn.num_batches_tracked.item()) == 3
    # momentum=None: the running stats are the plain averages of the batch statistics
    numpy.testing.assert_allclose(bn.running_mean.numpy(), numpy.mean([b.mean(0) for b in batches], 0), rtol=1e-12)
    numpy.testing.assert_allclose(
        bn.running_var.numpy(), numpy.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-12
    )
    bn.eval()
    y = bn(t64(batches[0], False)).numpy()
    expected = (batches[0] - bn.running_mean.numpy()) / numpy.sqrt(bn.running_var.numpy() + 1e-5)
    numpy.testing.assert_allclose(y, expected, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3  # eval does not count batches


def test_module_state_dict_names_and_no_tracking():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.weight.shape == (4,) and bn.running_var.numpy().tolist() == [1.0] * 4
    assert list(nn.BatchNorm3d(2, affine=False, track_running_stats=False).state_dict()) == []
    free = nn.BatchNorm2d(2, track_running_stats=False).eval()  # eval without running stats: batch stats
    y = free(tm.tensor(rand(3, 2, 2, 2, dtype=numpy.float32))).numpy()
    numpy.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert list(nn.GroupNorm(2, 4).state_dict()) == ["weight", "bias"]
    assert nn.LayerNorm((3, 5)).weight.shape == (3, 5)


def test_instance_norm_module_tracks_and_accepts_unbatched():
    inn = nn.InstanceNorm1d(2, track_running_stats=True, momentum=0.5).double()
    x = rand(3, 2, 6)
    inn(t64(x, False))
    per_instance = x.mean(axis=2)  # (N, C): the running mean moves towards its batch average
    numpy.testing.assert_allclose(inn.running_mean.numpy(), 0.5 * per_instance.mean(0), rtol=1e-12)
    numpy.testing.assert_allclose(inn.running_var.numpy(), 0.5 + 0.5 * x.var(axis=2, ddof=1).mean(0), rtol=1e-12)
    assert inn(t64(x[0], False)).shape == (2, 6)


torch_cases = [
    ("BatchNorm1d", (6, 3)),
    ("BatchNorm1d", (4, 3, 5)),
    ("BatchNorm2d", (4, 3, 5, 5)),
    ("BatchNorm3d", (2, 3, 3, 4, 2)),
    ("InstanceNorm2d", (3, 3, 4, 4)),
]


@pytest.mark.parametrize("name, shape", torch_cases)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_modules_match_torch_train_then_eval(name, shape, momentum):
    torch = pytest.importorskip("torch")
    kwargs = {"momentum": momentum, "affine": True, "track_running_stats": True}
    ours, theirs = getattr(nn, name)(3, **kwargs).double(), getattr(torch.nn, name)(3, **kwargs).double()
    for step in range(3):
        x = rand(*shape, seed=step)
        y = ours(t64(x, False))
        assert_close(y, theirs(torch.tensor(x)).detach().numpy(), 1e-10, 1e-10)
    for key, value in theirs.state_dict().items():
        numpy.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-10, err_msg=key)
    ours.eval(), theirs.eval()
    x = rand(*shape, seed=9)
    assert_close(ours(t64(x, False)), theirs(torch.tensor(x)).detach().numpy(), 1e-10, 1e-10)


def test_training_gradients_match_torch():
    torch = pytest.importorskip("torch")
    x, w, b, gy = rand(4, 3, 2, 5), rand(3, seed=1), rand(3, seed=2), rand(4, 3, 2, 5, seed=3)
    ours = [t64(x), t64(w), t64(b)]
    F.batch_norm(ours[0], None, None, ours[1], ours[2], training=True).backward(t64(gy, False))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    torch.nn.functional.batch_norm(theirs[0], None, None, theirs[1], theirs[2], training=True).backward(
        torch.tensor(gy)
    )
    for o, t in zip(ours, theirs, strict=True):
        assert_close(o.grad, t.grad.numpy(), 1e-10, 1e-10)


@pytest.mark.parametrize(
    "name, args, shape",
    [("GroupNorm", (2, 4), (3, 4, 5)), ("LayerNorm", ((4, 5),), (3, 4, 5)), ("InstanceNorm1d", (4,), (3, 4, 5))],
)
def test_group_layer_instance_modules_match_torch_with_gradients(name, args, shape):
    torch = pytest.importorskip("torch")
    kwargs = {"affine": True} if name == "InstanceNorm1d" else {}
    ours, theirs = getattr(nn, name)(*args, **kwargs).double(), getattr(torch.nn, name)(*args, **kwargs).double()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):  # non-trivial weight and bias
        p.data[...] = rand(*p.shape, seed=p.ndim + p.numel())
        q.data = torch.tensor(p.numpy())
    x, gy = rand(*shape), rand(*shape, seed=7)
    xt, xq = t64(x), torch.tensor(x, requires_grad=True)
    ours(xt).backward(t64(gy, False))
    theirs(xq).backward(torch.tensor(gy))
    assert_close(xt.grad, xq.grad.numpy(), 1e-10, 1e-10)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert_close(p.grad, q.grad.numpy(), 1e-10, 1e-10)


# ----------------------------------------------------------------------------- CPU / GPU parity


@pytest.mark.parametrize("shape", [(7, 3), (3, 2, 5, 6), (2, 2, 3, 2, 3), (3, 2, 1400)])  # last: 2 chunks
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_parity(device, shape, training):
    C = shape[1]
    x, gamma, beta, gy = (
        rand(*shape, dtype=numpy.float32),
        rand(C, seed=1, dtype=numpy.float32),
        rand(C, seed=2, dtype=numpy.float32),
        rand(*shape, seed=3, dtype=numpy.float32),
    )
    stats = (numpy.zeros(C, numpy.float32) + 0.2, numpy.ones(C, numpy.float32) * 1.5)

    def run(make):
        xs = [make(x, requires_grad=True), make(gamma, requires_grad=True), make(beta, requires_grad=True)]
        rm, rv = make(stats[0]), make(stats[1])
        y = F.batch_norm(xs[0], rm, rv, xs[1], xs[2], training=training, momentum=0.2)
        y.backward(make(gy))
        return [y, rm, rv] + [t.grad for t in xs]

    for got, expected in zip(run(device.tensor), device.reference(run, cpu_tensor), strict=True):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_instance_group_layer_norm_parity(device):
    x, gy = rand(2, 4, 3, 3, dtype=numpy.float32), rand(2, 4, 3, 3, seed=5, dtype=numpy.float32)
    w, b = rand(4, seed=1, dtype=numpy.float32), rand(4, seed=2, dtype=numpy.float32)

    def run(make):
        results = []
        for op in (
            lambda x, w, b: F.instance_norm(x, None, None, w, b),
            lambda x, w, b: F.group_norm(x, 2, w, b),
            lambda x, w, b: F.layer_norm(x, (4, 3, 3)),
        ):
            xs = [make(a, requires_grad=True) for a in (x, w, b)]
            y = op(*xs)
            y.backward(make(gy))
            results += [y] + [t.grad for t in xs if t.grad is not None]
        return results

    for got, expected in zip(run(device.tensor), device.reference(run, cpu_tensor), strict=True):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_backward_stores_no_x_hat(device, training):
    """Under no_grad (or with no input requiring grad) the forward keeps no x_hat; y is unchanged."""
    x = rand(3, 2, 5, 6, dtype=numpy.float32)
    stats = (numpy.full(2, 0.2, numpy.float32), numpy.full(2, 1.5, numpy.float32))

    def run(make, requires_grad):
        rm, rv = make(stats[0]), make(stats[1])
        return F.batch_norm(make(x, requires_grad=requires_grad), rm, rv, training=training)

    with tm.no_grad():
        y = run(device.tensor, True)
    assert not y.requires_grad
    assert_close(y, device.reference(run, cpu_tensor, True), rtol=1e-4, atol=1e-5)
    assert_close(run(device.tensor, False), y, rtol=0, atol=0)
    if device.name != "cpu":
        x3 = device.tensor(x).data.reshape(3, 2, 30)
        ones, zeros = (device.tensor(numpy.full(2, v, numpy.float32)).data for v in (1.0, 0.0))
        y3, x_hat = norm._batch_norm_fwd_gpu(x3, zeros, ones, ones, zeros, False)
        assert x_hat is None
        assert_close(y3, x.reshape(3, 2, 30), rtol=0, atol=0)  # mean 0, inv_std 1, gamma 1, beta 0


def _reduce_kernels(x3, gy3):
    """Both reduction kernels once: (mean, var, sum_gy, sum_gy_xhat) from the emulated GPU path."""
    mean, var = norm._batch_norm_stats_gpu(x3)
    inv_std = 1.0 / numpy.sqrt(var + 1e-5)
    _, x_hat = norm._batch_norm_fwd_gpu(x3, mean, inv_std, numpy.ones_like(mean), numpy.zeros_like(mean))
    _, sum_gy_xhat, sum_gy = norm._batch_norm_bwd_gpu(gy3, x_hat, numpy.ones_like(mean), inv_std, True)
    return mean, var, sum_gy, sum_gy_xhat


@needs_gxx
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("shape, max_blocks", [((3, 2, 150), None), ((2, 3, 2100), None), ((2, 3, 2100), 2)])
def test_reduction_kernels_race_free_in_both_thread_orders(dtype, shape, max_blocks, monkeypatch):
    """m = 450: one chunk per channel, part empty; m = 4200 > NORM_CHUNK: two chunks per channel (the
    second short), combined by Chan's formula; max_blocks=2: the blocks loop over (channel, chunk) pairs."""
    from tinygrad_med.kernelcheck import emulator

    if max_blocks:
        monkeypatch.setattr(backend, "MAX_BLOCKS", max_blocks)
    # off centre: a sum-of-squares variance would lose digits (float32's own x_hat loses some at 100)
    x3 = rand(*shape, dtype=dtype) * 3 + (100 if dtype == numpy.float64 else 5)
    gy3 = rand(*shape, seed=1, dtype=dtype)
    with backend.use_emulator():
        forward = _reduce_kernels(x3, gy3)
        with emulator.thread_order("reverse"):
            reverse = _reduce_kernels(x3, gy3)
    for f, r in zip(forward, reverse, strict=True):
        numpy.testing.assert_array_equal(f, r)  # bit for bit: a race would depend on the order
    x64, gy64 = x3.astype(numpy.float64), gy3.astype(numpy.float64)
    mean, var = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))
    x_hat = (x64 - mean[:, None]) / numpy.sqrt(var[:, None] + 1e-5)
    expected = (mean, var, gy64.sum(axis=(0, 2)), (gy64 * x_hat).sum(axis=(0, 2)))
    for got, want in zip(forward, expected, strict=True):
        numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@needs_gxx
def test_thread_order_check_catches_a_missing_barrier(tmp_path):
    from tinygrad_med.kernelcheck import emulator

    # norm.cu's reductions use common.cuh's block_reduce: drop the barrier of its tree step in a copy of both files
    common = (backend.kernel_dir() / "common.cuh").read_text()
    step = "buf[t] + buf[t + half];\n    __syncthreads();\n"
    assert step in common
    (tmp_path / "common.cuh").write_text(common.replace(step, "buf[t] + buf[t + half];\n"))
    broken = tmp_path / "norm_without_tree_barrier.cu"
    broken.write_text((backend.kernel_dir() / "norm.cu").read_text())
    stats = emulator.load_file(broken, numpy.float64).get_function("batch_norm_stats_partial")
    x3 = rand(2, 2, 300)
    results = []
    for order in ("forward", "reverse"):
        part_sum, part_m2 = numpy.zeros(2), numpy.zeros(2)
        with emulator.thread_order(order):
            stats((2,), (norm.NORM_THREADS,), (x3, part_sum, part_m2, 2, 2, 300, 1))
        results.append(part_sum)
    assert not numpy.array_equal(results[0], results[1]), "the missing barrier went unnoticed"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.gpu
def test_running_stats_on_another_device_raise():
    if backend.cuda_unavailable_reason():
        pytest.skip(backend.cuda_unavailable_reason())
    x = tm.tensor(rand(4, 3, dtype=numpy.float32), device="cuda")
    with pytest.raises(tm.DeviceError, match="x is on cuda but running_mean is on cpu"):
        F.batch_norm(x, tm.zeros(3), tm.ones(3), training=True)


def test_bad_inputs_raise_clear_errors():
    x = tm.tensor(rand(4, 3, 2, 2, dtype=numpy.float32))
    with pytest.raises(ShapeError, match=r"running_mean has shape \(4,\) but x expects \(3,\)"):
        F.batch_norm(x, tm.zeros(4), tm.ones(4), training=True)
    with pytest.raises(ShapeError, match=r"weight has shape \(2,\)"):
        F.batch_norm(x, None, None, tm.ones(2), training=True)
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        F.batch_norm(tm.tensor(rand(1, 3, dtype=numpy.float32)), None, None, training=True)
    with pytest.raises(ValueError, match="eval mode"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ShapeError, match=r"at least 2 dims"):
        F.batch_norm(tm.ones(5), None, None, training=True)
    with pytest.raises(DTypeError, match="int64"):
        F.batch_norm(tm.tensor(numpy.ones((2, 3), numpy.int64)), None, None, training=True)
    with pytest.raises(ShapeError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(tm.ones(4, 3, 5))
    with pytest.raises(ShapeError, match=r"expected 2D or 3D input"):
        nn.BatchNorm1d(3)(x)
    with pytest.raises(ShapeError, match=r"x\.shape=\(4, 3, 2, 2\)"):
        nn.BatchNorm2d(5)(x)
    with pytest.raises(ShapeError, match="not divisible into num_groups=2"):
        F.group_norm(x, 2)
    with pytest.raises(ShapeError, match="num_channels=3 must be divisible"):
        nn.GroupNorm(2, 3)
    with pytest.raises(ShapeError, match=r"does not end in normalized_shape \(3,\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ShapeError, match="more than 1 spatial element"):
        F.instance_norm(tm.ones(2, 3, 1))
