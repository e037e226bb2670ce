"""Optimizers and LR schedulers: trajectories against the slide's / the papers' formulas, CPU vs
emulated-GPU kernels (kernels/optim.cu), PyTorch when it is installed, state_dict round trips and
bad input."""

import math

import numpy
import pytest
from conftest import Device, assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_med as tm
from tinygrad_med import backend, nn, optim
from tinygrad_med.errors import CheckpointError, DTypeError, ShapeError
from tinygrad_med.optim import lr_scheduler

# ----------------------------------------------------------------------------- a small problem
# L(w) = 1/2 w^T A w - b^T w with A symmetric positive definite: grad = A w - b.
# Both the optimizer and the reference compute the gradient from their own current w,
# so a wrong update anywhere changes every later step.
rng = numpy.random.default_rng(7)
_M = rng.normal(size=(6, 6))
A = _M @ _M.T / 6 + numpy.eye(6)
B = rng.normal(size=6)
W0 = rng.normal(size=6)


def quadratic_grad(w):
    return A @ w - B


def run_ours(make_optimizer, steps, w0=W0, grad_fn=quadratic_grad, dtype=numpy.float64):
    """Trajectory (steps + 1, 6) of our optimizer on the quadratic."""
    w = tm.Tensor(numpy.array(w0, dtype=dtype), requires_grad=True)
    opt = make_optimizer([w])
    path = [w.numpy().copy()]
    for _ in range(steps):
        w.grad = tm.Tensor(grad_fn(w.numpy()).astype(dtype))
        opt.step()
        path.append(w.numpy().copy())
    return numpy.array(path)


# ----------------------------------------------------------------------------- references
# Written from the formulas (slide, papers), element-wise, independently of tinygrad_med.


def reference_slide_momentum(eta, beta, steps):
    """Slide "Momentum in optimization": v_t = beta v_{t-1} + eta dL/dw, w_t = w_{t-1} - v_t."""
    w, v, path = W0.copy(), numpy.zeros(6), [W0.copy()]
    for _ in range(steps):
        v = beta * v + eta * quadratic_grad(w)
        w = w - v
        path.append(w.copy())
    return numpy.array(path)


def reference_sgd_torch_doc(lr, momentum, dampening, weight_decay, nesterov, steps):
    """The algorithm box of torch.optim.SGD's documentation."""
    w, b, path = W0.copy(), None, [W0.copy()]
    for t in range(1, steps + 1):
        g = quadratic_grad(w) + weight_decay * w
        if momentum != 0:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        w = w - lr * g
        path.append(w.copy())
    return numpy.array(path)


def reference_adam(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, steps):
    """Slide "Adaptive moment estimation (Adam)" with m^, v^; AMSGrad (Reddi et al.) keeps max v;
    AdamW (Loshchilov & Hutter, Alg. 2 with schedule multiplier 1): w <- w - lr (m^/(sqrt(v^)+eps) + wd w)."""
    w, m, v, vmax, path = W0.copy(), numpy.zeros(6), numpy.zeros(6), numpy.zeros(6), [W0.copy()]
    for t in range(1, steps + 1):
        g = quadratic_grad(w)
        if not decoupled:
            g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        vmax = numpy.maximum(vmax, v)
        m_hat = m / (1 - beta1**t)
        v_hat = (vmax if amsgrad else v) / (1 - beta2**t)
        update = m_hat / (numpy.sqrt(v_hat) + eps)
        w = w - lr * (update + weight_decay * w) if decoupled else w - lr * update
        path.append(w.copy())
    return numpy.array(path)


def reference_rmsprop(lr, alpha, eps, weight_decay, momentum, centered, steps):
    """Tieleman & Hinton's RMSprop; centered as in Graves (arXiv:1308.0850), eq. 38-41."""
    w, s, a, b, path = W0.copy(), numpy.zeros(6), numpy.zeros(6), numpy.zeros(6), [W0.copy()]
    for _ in range(steps):
        g = quadratic_grad(w) + weight_decay * w
        s = alpha * s + (1 - alpha) * g * g
        a = alpha * a + (1 - alpha) * g
        r = numpy.sqrt(s - a * a if centered else s) + eps
        b = momentum * b + g / r
        w = w - lr * (b if momentum > 0 else g / r)
        path.append(w.copy())
    return numpy.array(path)


# ----------------------------------------------------------------------------- (a) formulas


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_sgd_momentum_is_the_slides_velocity_update(beta):
    ours = run_ours(lambda p: optim.SGD(p, lr=0.05, momentum=beta), steps=15)
    numpy.testing.assert_allclose(ours, reference_slide_momentum(0.05, beta, 15), rtol=1e-12, atol=1e-13)


def test_sgd_momentum_with_a_changing_lr_is_pytorchs_not_the_slides():
    """Documented in SGD: with a schedule, PyTorch's buffer takes the current lr, the slide's velocity the old ones."""
    lrs, beta = [0.1, 0.1, 0.01, 0.01], 0.9
    w = tm.Tensor(W0.copy(), requires_grad=True)
    opt = optim.SGD([w], lr=lrs[0], momentum=beta)
    w_b, b, w_v, v = W0.copy(), numpy.zeros(6), W0.copy(), numpy.zeros(6)
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        w.grad = tm.Tensor(quadratic_grad(w.numpy()))
        opt.step()
        b = beta * b + quadratic_grad(w_b)  # PyTorch: b_t = beta b_{t-1} + g_t, w_t = w_{t-1} - lr_t b_t
        w_b = w_b - lr * b
        v = beta * v + lr * quadratic_grad(w_v)  # slide: v_t = beta v_{t-1} + eta_t g_t, w_t = w_{t-1} - v_t
        w_v = w_v - v
    numpy.testing.assert_allclose(w.numpy(), w_b, rtol=1e-13)
    assert numpy.abs(w.numpy() - w_v).max() > 1e-3


@pytest.mark.parametrize(
    "momentum, dampening, weight_decay, nesterov",
    [(0.9, 0.0, 0.0, True), (0.9, 0.3, 0.1, False), (0.0, 0.0, 0.2, False), (0.8, 0, 0.05, True)],
)
def test_sgd_options_follow_pytorchs_algorithm(momentum, dampening, weight_decay, nesterov):
    ours = run_ours(
        lambda p: optim.SGD(
            p, lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov
        ),
        steps=12,
    )
    expected = reference_sgd_torch_doc(0.05, momentum, dampening, weight_decay, nesterov, 12)
    numpy.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(
    "cls, weight_decay, amsgrad",
    [
        (optim.Adam, 0.0, False),
        (optim.Adam, 0.1, False),
        (optim.Adam, 0.1, True),
        (optim.AdamW, 0.1, False),
        (optim.AdamW, 0.3, True),
    ],
)
def test_adam_follows_the_slide_and_papers(cls, weight_decay, amsgrad):
    ours = run_ours(
        lambda p: cls(p, lr=0.1, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay, amsgrad=amsgrad), steps=15
    )
    expected = reference_adam(0.1, 0.8, 0.95, 1e-6, weight_decay, amsgrad, cls is optim.AdamW, 15)
    numpy.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13)


def test_adam_first_step_moves_each_weight_by_about_lr():
    """Bias correction: m^_1 = g_1 and v^_1 = g_1^2, so the first step is lr * sign(g_1)."""
    path = run_ours(lambda p: optim.Adam(p, lr=0.01, eps=0.0), steps=1)
    numpy.testing.assert_allclose(path[0] - path[1], 0.01 * numpy.sign(quadratic_grad(W0)), rtol=1e-12)


@pytest.mark.parametrize(
    "weight_decay, momentum, centered", [(0, 0, False), (0.1, 0.5, False), (0, 0.9, True), (0.2, 0, True)]
)
def test_rmsprop_follows_its_formula(weight_decay, momentum, centered):
    ours = run_ours(
        lambda p: optim.RMSprop(
            p, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=weight_decay, momentum=momentum, centered=centered
        ),
        steps=15,
    )
    expected = reference_rmsprop(0.01, 0.9, 1e-6, weight_decay, momentum, centered, 15)
    numpy.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-13)


ALL_CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, weight_decay=0.1, momentum=0.9, centered=True)),
]
CONFIG_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for cls, kw in ALL_CONFIGS]


# ----------------------------------------------------------------------------- (c) CPU vs GPU kernels
CPU = Device("cpu")  # the reference runs build their tensors here (device.reference turns the emulator off)


def _device_run(device, cls, options, grads, dtype, shape=(5, 7)):
    """20 steps with fixed gradients on ``device``; returns (param, state arrays) as numpy."""
    w = device.tensor(numpy.linspace(-1, 1, math.prod(shape)).reshape(shape), requires_grad=True, dtype=dtype)
    opt = cls([w], **options)
    for g in grads:
        w.grad = device.tensor(g, dtype=dtype)
        opt.step()
    state = {k: tm.backend.to_numpy(v) for k, v in opt.state[w].items() if k != "step"}
    return w.numpy(), state


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls, options", ALL_CONFIGS, ids=CONFIG_IDS)
def test_kernel_trajectory_matches_the_cpu_path(device, cls, options, dtype):
    grads = numpy.random.default_rng(3).normal(size=(20, 5, 7))
    param, state = _device_run(device, cls, options, grads, dtype)
    ref_param, ref_state = device.reference(_device_run, CPU, cls, options, grads, dtype)
    rtol, atol = (1e-4, 1e-5) if dtype == "float32" else (1e-12, 1e-13)  # float32: FMA contraction on a GPU
    assert param.dtype == numpy.dtype(dtype)
    assert_close(param, ref_param, rtol=rtol, atol=atol)
    assert sorted(state) == sorted(ref_state)
    for key in state:
        assert_close(state[key], ref_state[key], rtol=rtol, atol=atol)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
    config=st.integers(0, len(ALL_CONFIGS) - 1),
    dtype=st.sampled_from(["float32", "float64"]),
    steps=st.integers(1, 4),
)
def test_emulated_kernels_agree_for_any_shape(shape, config, dtype, steps):
    """Any shape, including 0-d and empty parameters (no launch), agrees with the CPU path."""
    cls, options = ALL_CONFIGS[config]
    grads = numpy.random.default_rng(len(shape)).normal(size=(steps, *shape))
    ref_param, ref_state = _device_run(CPU, cls, options, grads, dtype, shape=tuple(shape))
    with backend.use_emulator():
        param, state = _device_run(CPU, cls, options, grads, dtype, shape=tuple(shape))
    assert param.shape == tuple(shape)
    numpy.testing.assert_array_equal(param, ref_param)  # same operations in the same order on the CPU
    for key in ref_state:
        numpy.testing.assert_array_equal(state[key], ref_state[key])


def test_kernel_updates_a_non_contiguous_parameter_in_place(device):
    base = numpy.arange(12.0, dtype=numpy.float32).reshape(3, 4)

    def run(on):
        w = on.tensor(base, requires_grad=True)
        w.data = w.data.T  # a transposed view: the kernel works on a contiguous copy written back
        data = w.data
        opt = optim.Adam([w], lr=0.1)
        for s in range(3):
            w.grad = on.tensor(numpy.sin(numpy.arange(12.0) + s).reshape(4, 3), dtype="float32")
            w.grad.data = w.grad.data.T.copy().T  # a non-contiguous gradient too (Fortran order)
            opt.step()
        assert w.data is data
        return w.numpy()

    assert_close(run(device), device.reference(run, CPU), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls, options", ALL_CONFIGS, ids=CONFIG_IDS)
def test_gpu_path_is_one_kernel_launch_per_parameter(monkeypatch, cls, options):
    launches = []
    original = tm.backend.Kernel.__call__

    def counting(self, grid, block, args, shared_mem=0):
        launches.append(self.name)
        return original(self, grid, block, args, shared_mem)

    monkeypatch.setattr(tm.backend.Kernel, "__call__", counting)
    params = [tm.Tensor(numpy.ones(shape), requires_grad=True) for shape in ((3, 4), (5,), (2, 2, 2))]
    opt = cls(params, **options)
    with tm.backend.use_emulator():
        for _ in range(2):
            for p in params[:2]:  # the third has no grad: skipped
                p.grad = tm.Tensor(numpy.full(p.shape, 0.5))
            opt.step()
    kernel = {"SGD": "sgd_step", "Adam": "adam_step", "AdamW": "adam_step", "RMSprop": "rmsprop_step"}
    assert launches == [kernel[cls.__name__]] * 4


def test_step_keeps_tensor_identity_and_never_writes_grad(device):
    w = device.tensor(numpy.ones((3, 4)), requires_grad=True, dtype="float32")
    data = w.data
    for cls in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop):
        opt = cls([w], lr=0.1, weight_decay=0.5)
        grad = numpy.full((3, 4), 0.25, dtype=numpy.float32)
        w.grad = device.tensor(grad)
        opt.step()
        assert w.data is data
        numpy.testing.assert_array_equal(w.grad.numpy(), grad)
    assert (w.numpy() < 1).all()


# ----------------------------------------------------------------------------- PyTorch parity


def _torch_run(torch, cls_name, options, steps, groups=None):
    w = torch.tensor(W0.copy(), dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, cls_name)([w], **options)
    path = [w.detach().numpy().copy()]
    for _ in range(steps):
        w.grad = torch.from_numpy(quadratic_grad(w.detach().numpy()))
        opt.step()
        path.append(w.detach().numpy().copy())
    return numpy.array(path)


def _option_grid():
    cases = []
    for momentum in (0.0, 0.9):
        for dampening in (0.0, 0.2):
            for weight_decay in (0.0, 0.05):
                for nesterov in (False, True):
                    if nesterov and (momentum == 0 or dampening != 0):
                        continue
                    cases.append(
                        (
                            "SGD",
                            dict(
                                lr=0.05,
                                momentum=momentum,
                                dampening=dampening,
                                weight_decay=weight_decay,
                                nesterov=nesterov,
                            ),
                        )
                    )
    for name in ("Adam", "AdamW"):
        for weight_decay in (0.0, 0.1):
            for amsgrad in (False, True):
                for betas in ((0.9, 0.999), (0.5, 0.6)):
                    cases.append(
                        (name, dict(lr=0.05, betas=betas, eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad))
                    )
    for weight_decay in (0.0, 0.1):
        for momentum in (0.0, 0.7):
            for centered in (False, True):
                cases.append(
                    (
                        "RMSprop",
                        dict(
                            lr=0.01,
                            alpha=0.9,
                            eps=1e-8,
                            weight_decay=weight_decay,
                            momentum=momentum,
                            centered=centered,
                        ),
                    )
                )
    return cases


@pytest.mark.parametrize(
    "cls_name, options",
    _option_grid(),
    ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, o in _option_grid()],
)
def test_trajectory_matches_torch_optim(cls_name, options):
    torch = pytest.importorskip("torch")
    expected = _torch_run(torch, cls_name, options, steps=25)
    ours = run_ours(lambda p: getattr(optim, cls_name)(p, **options), steps=25)
    numpy.testing.assert_allclose(ours, expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_defaults_match_torch(cls_name):
    torch = pytest.importorskip("torch")
    ours = getattr(optim, cls_name)([tm.zeros(2, requires_grad=True)]).defaults
    theirs = getattr(torch.optim, cls_name)([torch.zeros(2, requires_grad=True)]).defaults
    for key, value in ours.items():
        assert theirs[key] == value, key


def test_param_groups_and_a_scheduler_match_torch():
    """Two groups with their own lr, SGD with momentum, StepLR changing lr mid-run."""
    torch = pytest.importorskip("torch")
    w1, w2 = W0[:3].copy(), W0[3:].copy()
    t1, t2 = (torch.tensor(w, requires_grad=True) for w in (w1, w2))
    m1, m2 = (tm.Tensor(w, requires_grad=True) for w in (w1, w2))
    t_opt = torch.optim.SGD([{"params": [t1]}, {"params": [t2], "lr": 0.02}], lr=0.1, momentum=0.9)
    m_opt = optim.SGD([{"params": [m1]}, {"params": [m2], "lr": 0.02}], lr=0.1, momentum=0.9)
    t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=3, gamma=0.5)
    m_sched = lr_scheduler.StepLR(m_opt, step_size=3, gamma=0.5)
    for _ in range(10):
        g = quadratic_grad(numpy.concatenate([m1.numpy(), m2.numpy()]))
        m1.grad, m2.grad = tm.Tensor(g[:3]), tm.Tensor(g[3:])
        g = quadratic_grad(numpy.concatenate([t1.detach().numpy(), t2.detach().numpy()]))
        t1.grad, t2.grad = torch.from_numpy(g[:3].copy()), torch.from_numpy(g[3:].copy())
        m_opt.step(), t_opt.step(), m_sched.step(), t_sched.step()
        assert m_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-14)
    numpy.testing.assert_allclose(m1.numpy(), t1.detach().numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(m2.numpy(), t2.detach().numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- schedulers


def _lrs(make_scheduler, epochs, base_lr=0.1):
    opt = optim.SGD([tm.zeros(2, requires_grad=True)], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr()[0] == lrs[-1]
    return lrs


# name -> (build the scheduler from a module with torch.optim.lr_scheduler's names, closed form at epoch e)
SCHEDULES = {
    "StepLR": (lambda mod, o: mod.StepLR(o, step_size=3, gamma=0.5), lambda e: 0.1 * 0.5 ** (e // 3)),
    "MultiStepLR": (
        lambda mod, o: mod.MultiStepLR(o, milestones=[7, 2, 5], gamma=0.3),
        lambda e: 0.1 * 0.3 ** sum(e >= m for m in (2, 5, 7)),
    ),
    "ExponentialLR": (lambda mod, o: mod.ExponentialLR(o, gamma=0.9), lambda e: 0.1 * 0.9**e),
    "CosineAnnealingLR": (
        lambda mod, o: mod.CosineAnnealingLR(o, T_max=8, eta_min=0.01),
        lambda e: 0.01 + 0.09 * (1 + math.cos(math.pi * e / 8)) / 2,
    ),
    "LinearLR": (
        lambda mod, o: mod.LinearLR(o, start_factor=0.25, total_iters=4),
        lambda e: 0.1 * (0.25 + 0.75 * min(e, 4) / 4),
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_scheduler_follows_its_closed_form(name):
    make, formula = SCHEDULES[name]
    lrs = _lrs(lambda o: make(lr_scheduler, o), 20)
    numpy.testing.assert_allclose(lrs, [formula(e) for e in range(21)], rtol=1e-14)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_scheduler_matches_torch(name):
    torch = pytest.importorskip("torch")
    make = SCHEDULES[name][0]
    t_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    t_sched = make(torch.optim.lr_scheduler, t_opt)
    expected = [t_sched.get_last_lr()[0]]
    for _ in range(20):
        t_opt.step()
        t_sched.step()
        expected.append(t_opt.param_groups[0]["lr"])
    numpy.testing.assert_allclose(_lrs(lambda o: make(lr_scheduler, o), 20), expected, rtol=1e-12)


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49995, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


@pytest.mark.parametrize(
    "mode, threshold_mode, threshold, cooldown",
    [("min", "rel", 1e-4, 0), ("min", "abs", 0.05, 1), ("max", "rel", 0.01, 0), ("max", "abs", 0.0, 2)],
)
def test_reduce_lr_on_plateau_matches_torch(mode, threshold_mode, threshold, cooldown):
    torch = pytest.importorskip("torch")
    options = dict(
        mode=mode,
        factor=0.5,
        patience=1,
        threshold=threshold,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=0.01,
    )
    t_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    m_opt = optim.SGD([tm.zeros(2, requires_grad=True)], lr=0.1)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **options)
    m_sched = lr_scheduler.ReduceLROnPlateau(m_opt, **options)
    for metric in PLATEAU_METRICS:
        t_sched.step(metric)
        m_sched.step(metric)
        assert m_opt.param_groups[0]["lr"] == pytest.approx(t_opt.param_groups[0]["lr"], rel=1e-14)
        assert m_sched.num_bad_epochs == t_sched.num_bad_epochs


def test_reduce_lr_on_plateau_by_hand():
    opt = optim.SGD([tm.zeros(2, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=0.2)
    lrs = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3]:
        sched.step(metric)
        lrs.append(opt.param_groups[0]["lr"])
    # bad epochs: 4 at index 2, 3, 4 -> third bad (> patience 2) at index 4 halves lr; again at 7; then min_lr
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    assert sched.get_last_lr() == [0.25]


def test_scheduler_state_dict_resumes(tmp_path):
    opt = optim.SGD([tm.zeros(2, requires_grad=True)], lr=0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    tm.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s.npz")
    expected = [sched.step() or sched.get_last_lr()[0] for _ in range(3)]
    loaded = tm.load(tmp_path / "s.npz")
    opt2 = optim.SGD([tm.zeros(2, requires_grad=True)], lr=0.1)
    opt2.load_state_dict(loaded["opt"])
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10, last_epoch=3)  # resume: needs initial_lr
    sched2.load_state_dict(loaded["sched"])
    assert [sched2.step() or sched2.get_last_lr()[0] for _ in range(3)] == pytest.approx(expected, rel=1e-15)


# ----------------------------------------------------------------------------- state_dict


@pytest.mark.parametrize("cls, options", ALL_CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_mid_training_continues_identically(tmp_path, cls, options):
    grads = numpy.random.default_rng(5).normal(size=(10, 2, 3))
    w_full, w_first = (tm.Tensor(numpy.ones((2, 3)), requires_grad=True) for _ in range(2))
    b_full, b_first = (tm.Tensor(numpy.zeros(3), requires_grad=True) for _ in range(2))
    full, first = cls([w_full, b_full], **options), cls([w_first, b_first], **options)
    for step, g in enumerate(grads):
        w_full.grad, b_full.grad = tm.Tensor(g), tm.Tensor(g[0] if step % 2 else g[1])
        full.step()
        if step < 5:
            w_first.grad, b_first.grad = tm.Tensor(g), tm.Tensor(g[0] if step % 2 else g[1])
            first.step()
    tm.save({"optimizer": first.state_dict(), "w": w_first, "b": b_first}, tmp_path / "ckpt.npz")
    loaded = tm.load(tmp_path / "ckpt.npz")
    w, b = (tm.Tensor(loaded[k].numpy(), requires_grad=True) for k in ("w", "b"))
    resumed = cls([w, b], lr=123.0)  # options come back from the checkpoint
    resumed.load_state_dict(loaded["optimizer"])
    assert resumed.param_groups[0]["lr"] == options["lr"]
    for step, g in enumerate(grads[5:], start=5):
        w.grad, b.grad = tm.Tensor(g), tm.Tensor(g[0] if step % 2 else g[1])
        resumed.step()
    numpy.testing.assert_array_equal(w.numpy(), w_full.numpy())
    numpy.testing.assert_array_equal(b.numpy(), b_full.numpy())
    assert resumed.state[w]["step"] == 10


def test_state_dict_layout_is_pytorchs():
    w1, w2, w3 = (tm.zeros(2, requires_grad=True) for _ in range(3))
    opt = optim.Adam([{"params": [w1, w2]}, {"params": [w3], "lr": 0.5}], amsgrad=True)
    w2.grad = tm.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(sd["state"]) == [1]  # w1 and w3 had no grad: no state
    assert sorted(sd["state"][1]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    sd["state"][1]["exp_avg"][...] = 7  # a copy: the optimizer's own buffer is untouched
    assert (opt.state[w2]["exp_avg"] != 7).all()


def test_load_state_dict_moves_state_to_the_parameters_device_and_dtype(device):
    source = tm.Tensor(numpy.ones(4), requires_grad=True)
    opt = optim.SGD([source], lr=0.1, momentum=0.9)
    source.grad = tm.Tensor(numpy.arange(4.0))
    opt.step()
    target = device.tensor(numpy.ones(4), requires_grad=True, dtype="float32")
    opt2 = optim.SGD([target], lr=0.1, momentum=0.9)
    opt2.load_state_dict(opt.state_dict())
    buffer = opt2.state[target]["momentum_buffer"]
    assert buffer.dtype == numpy.float32 and tm.backend.device_of(buffer) == target.device
    assert_close(buffer, numpy.arange(4.0))


def test_load_state_dict_rejects_mismatches():
    w = tm.zeros(3, requires_grad=True)
    opt = optim.Adam([w])
    w.grad = tm.ones(3)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(CheckpointError, match=r"adam: state 'exp_avg' of parameter 0 has the wrong shape"):
        optim.Adam([tm.zeros(4, requires_grad=True)]).load_state_dict(sd)
    with pytest.raises(CheckpointError, match="has 1 parameter groups but the optimizer has 2"):
        optim.Adam(
            [{"params": [tm.zeros(3, requires_grad=True)]}, {"params": [tm.zeros(3, requires_grad=True)]}]
        ).load_state_dict(sd)
    with pytest.raises(CheckpointError, match="parameter group 0 has 2 parameters"):
        optim.Adam([tm.zeros(3, requires_grad=True), tm.zeros(3, requires_grad=True)]).load_state_dict(sd)
    with pytest.raises(CheckpointError, match="expects a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


# ----------------------------------------------------------------------------- API behaviour


def test_zero_grad_and_params_without_grad():
    w, unused = tm.ones(3, requires_grad=True), tm.ones(3, requires_grad=True)
    opt = optim.SGD([w, unused], lr=0.5)
    w.grad = tm.ones(3)
    opt.step()
    assert unused not in opt.state and unused.numpy().tolist() == [1, 1, 1]
    assert w.numpy().tolist() == [0.5, 0.5, 0.5]
    opt.zero_grad(set_to_none=False)
    assert w.grad.numpy().tolist() == [0, 0, 0] and unused.grad is None
    opt.zero_grad()
    assert w.grad is None


def test_step_with_closure_trains_a_least_squares_model():
    x = tm.Tensor(rng.normal(size=(32, 3)))
    y = x @ tm.Tensor(numpy.array([[1.0], [-2.0], [0.5]]))
    w = tm.zeros(3, 1, requires_grad=True, dtype=tm.float64)
    opt = optim.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(300)]
    assert losses[-1] < 1e-6 * losses[0]
    assert_close(w, numpy.array([[1.0], [-2.0], [0.5]]), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("cls, options", ALL_CONFIGS, ids=CONFIG_IDS)
def test_every_optimizer_trains_an_nn_model(cls, options):
    x = tm.Tensor(rng.normal(size=(64, 4)).astype(numpy.float32))
    y = x @ tm.Tensor(numpy.array([[1.0], [-2.0], [0.5], [3.0]], dtype=numpy.float32)) + 1.0
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = cls(model.parameters(), **options)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


def test_add_param_group_uses_defaults_and_its_own_options():
    opt = optim.RMSprop([tm.zeros(2, requires_grad=True)], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": tm.zeros(3, requires_grad=True), "lr": 0.01})
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.5
    assert "RMSprop (" in repr(opt) and "Parameter Group 1" in repr(opt)


def test_public_names_have_docstrings():
    for module in (optim, lr_scheduler):
        for name in module.__all__:
            assert getattr(module, name).__doc__, name


# ----------------------------------------------------------------------------- (d) bad input


def test_bad_input_errors():
    w = tm.zeros(2, requires_grad=True)
    with pytest.raises(DTypeError, match=r"adam: parameter 0 has dtype int64; expected float32 or float64"):
        optim.Adam([tm.tensor([1, 2])])
    with pytest.raises(DTypeError, match=r"sgd: parameter 1 has dtype int32"):
        optim.SGD([w, tm.Tensor(numpy.zeros(2, dtype=numpy.int32))])
    with pytest.raises(ValueError, match=r"sgd: invalid lr: -0.1; expected a number >= 0"):
        optim.SGD([w], lr=-0.1)
    with pytest.raises(ValueError, match=r"adam: invalid beta parameter at index 1: 1.0"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"adamw: invalid beta parameter at index 0: -0.5"):
        optim.AdamW([w], betas=(-0.5, 0.9))
    with pytest.raises(ValueError, match=r"rmsprop: invalid alpha"):
        optim.RMSprop([w], alpha=-1)
    with pytest.raises(ValueError, match=r"adam: invalid eps"):
        optim.Adam([w], eps=-1e-8)
    with pytest.raises(ValueError, match=r"optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match=r"Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([w], momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match=r"parameter 1 appears more than once"):
        optim.SGD([w, w])
    with pytest.raises(ValueError, match=r"parameter 0 is not a leaf"):
        optim.SGD([w * 2])
    with pytest.raises(TypeError, match=r"but got a Tensor"):
        optim.SGD(w)
    with pytest.raises(TypeError, match=r"ordered collections"):
        optim.SGD({w})
    with pytest.raises(TypeError, match=r"parameter 0 is a ndarray"):
        optim.SGD([numpy.zeros(2)])
    with pytest.raises(ValueError, match=r"sgd: invalid lr"):
        optim.SGD([w]).add_param_group({"params": [tm.zeros(1, requires_grad=True)], "lr": -1})


def test_bad_gradient_errors():
    w = tm.zeros(2, 3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = tm.zeros(3, 2)
    with pytest.raises(ShapeError, match=r"sgd: parameter 0: gradient shape differs"):
        opt.step()
    w.grad = tm.zeros(2, 3, dtype=tm.float64)
    with pytest.raises(DTypeError, match=r"parameter 0 has dtype float32 but its grad has float64"):
        opt.step()


def test_bad_scheduler_arguments():
    opt = optim.SGD([tm.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="expected mode 'min' or 'max'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be positive"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.ExponentialLR("sgd", gamma=0.5)
