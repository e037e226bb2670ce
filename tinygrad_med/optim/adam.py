"""Adam (with AMSGrad) and AdamW (torch.optim.Adam, torch.optim.AdamW).

Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)".  The slide writes

    m_t = gamma_1 m_{t-1} + (1 - gamma_1) dL/dw          decaying average of the gradient (first moment)
    v_t = gamma_2 v_{t-1} + (1 - gamma_2) (dL/dw)^2      decaying average of its square (second moment)
    m^_t = m_t / (1 - gamma_1^t),  v^_t = v_t / (1 - gamma_2^t)   bias correction ("avoid bias to zero")
    w_t = w_{t-1} - eta / (sqrt(v^_t) + eps) * m^_t

Reference: _adam_step_cpu below (those lines in plain NumPy; what tm.reference_mode() runs).
Kernel: kernels/optim.cu::adam_step (one launch per parameter on the GPU).
Fast CPU path: optim/adam_fast.py::adam_step (the kernel's in-place arithmetic, in NumPy).
"""

import math

import numpy

from ..backend import on_gpu
from ..errors import fmt
from ..reference import path
from . import adam_fast
from .optimizer import Optimizer, check_nonnegative, launch_update, zeros_buffer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam: the slide's bias-corrected moment estimates, with optional AMSGrad and L2 weight decay.

    Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)".
    Forward (per parameter w with gradient g_t, step t = 1, 2, ...; betas = (gamma_1, gamma_2)):
        g_t <- g_t + weight_decay * w_{t-1}            (Adam: L2 penalty folded into the gradient)
        w_{t-1} <- w_{t-1} (1 - lr * weight_decay)     (AdamW instead: decoupled weight decay)
        m_t = gamma_1 m_{t-1} + (1 - gamma_1) g_t
        v_t = gamma_2 v_{t-1} + (1 - gamma_2) g_t^2
        vmax_t = max(vmax_{t-1}, v_t)                   (amsgrad; v_t below is then vmax_t)
        w_t = w_{t-1} - step_size * m_t / (sqrt(v_t) / sqrt(1 - gamma_2^t) + eps),
              step_size = lr / (1 - gamma_1^t)
        which is the slide's w_{t-1} - lr / (sqrt(v^_t) + eps) * m^_t, written as in PyTorch
        (and Algorithm 1 of the paper), with the two bias corrections computed on the host.
    Backward: none (optimizers are not differentiable).
    Code:     reference _adam_step_cpu (the slide's five lines); kernels/optim.cu::adam_step;
              fast CPU path optim/adam_fast.py::adam_step (in place, as the kernel).
    Shapes:   state "exp_avg" (m), "exp_avg_sq" (v) and, with amsgrad, "max_exp_avg_sq"
              have the parameter's shape; state "step" is t.
    Reference: Kingma & Ba, "Adam: A Method for Stochastic Optimization", arXiv:1412.6980;
        AMSGrad: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Args:
        params: iterable of Tensors or of dicts (parameter groups with their own options).
        lr: learning rate eta (default 1e-3).
        betas: (gamma_1, gamma_2), each in [0, 1) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        amsgrad: use the running maximum of v_t (default False).
    Raises:
        ValueError if lr, eps or weight_decay is negative or a beta is outside [0, 1);
            others as in Optimizer.
    """

    name = "adam"
    decoupled_weight_decay = False  # AdamW sets True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        check_nonnegative(self.name, group, ("eps", "weight_decay"))
        betas = group["betas"]
        if len(tuple(betas)) != 2:
            raise ValueError(fmt(self.name, f"betas must be a pair (beta1, beta2), got {betas!r}"))
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    fmt(self.name, f"invalid beta parameter at index {i}: {beta!r}; expected 0 <= beta < 1")
                )

    def _init_state(self, state, param, group):
        super()._init_state(state, param, group)
        state["exp_avg"] = zeros_buffer(param)
        state["exp_avg_sq"] = zeros_buffer(param)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_buffer(param)

    def _update(self, param, grad, state, group):
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_buffer(param)
        step = path(param, _adam_step_cpu, _fused_step, _fused_step)  # the slide's five lines, or adam_fast / optim.cu
        return step(param, grad, state, group, self.decoupled_weight_decay)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, w <- w (1 - lr * weight_decay) before the Adam step.

    Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)".
    Forward:  as Adam, but weight decay shrinks the weights directly instead of entering
              the gradient (so it is not rescaled by 1 / sqrt(v^_t)):
              w_{t-1} <- w_{t-1} (1 - lr * weight_decay), then the Adam step with g_t.
    Backward: none (optimizers are not differentiable).
    Shapes:   as Adam.
    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101;
        Kingma & Ba, arXiv:1412.6980.

    Args:
        params, lr, betas, eps, amsgrad: as Adam.
        weight_decay: decoupled decay coefficient lambda (default 1e-2, as torch.optim.AdamW).
    Raises:
        ValueError as Adam.
    """

    name = "adamw"
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


def _adam_step_cpu(param, grad, state, group, decoupled):
    """One Adam/AdamW step, the slide's five lines in plain NumPy (the reference; a new array per line).

    param and the moment buffers in ``state`` are overwritten with the results (they are the optimizer's).
    """
    beta1, beta2 = group["betas"]
    lr, eps, weight_decay, t = group["lr"], group["eps"], group["weight_decay"], state["step"]
    if weight_decay != 0 and decoupled:
        param[...] = param * (1 - lr * weight_decay)  # AdamW: w <- w (1 - lr lambda)
    elif weight_decay != 0:
        grad = grad + weight_decay * param  # Adam: the L2 term enters the gradient
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad  # m_t = gamma_1 m_{t-1} + (1 - gamma_1) g_t
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2  # v_t = gamma_2 v_{t-1} + (1 - gamma_2) g_t^2
    if group["amsgrad"]:  # the running maximum of v_t stands in for v_t in the step
        state["max_exp_avg_sq"][...] = numpy.maximum(state["max_exp_avg_sq"], v)
    m_hat = m / (1 - beta1**t)  # bias corrections
    v_hat = (state["max_exp_avg_sq"] if group["amsgrad"] else v) / (1 - beta2**t)
    param[...] = param - lr * m_hat / (numpy.sqrt(v_hat) + eps)  # w_t = w_{t-1} - eta m^_t / (sqrt(v^_t) + eps)
    state["exp_avg"][...], state["exp_avg_sq"][...] = m, v


def _fused_step(param, grad, state, group, decoupled):
    """The step in place, with the bias corrections computed on the host: kernels/optim.cu::adam_step on the GPU,
    optim/adam_fast.py::adam_step on the CPU (same arguments)."""
    beta1, beta2 = group["betas"]
    t = state["step"]
    step_size = group["lr"] / (1 - beta1**t)  # lr / (1 - gamma_1^t): bias correction of m
    bias_correction2_sqrt = math.sqrt(1 - beta2**t)  # sqrt(1 - gamma_2^t): bias correction of v
    max_exp_avg_sq = state.get("max_exp_avg_sq", param)  # unused by the step without amsgrad
    step = _adam_step_gpu if on_gpu(param) else adam_fast.adam_step
    step(
        param,
        grad,
        state["exp_avg"],
        state["exp_avg_sq"],
        max_exp_avg_sq,
        group["lr"],
        beta1,
        beta2,
        group["eps"],
        group["weight_decay"],
        decoupled,
        group["amsgrad"],
        step_size,
        bias_correction2_sqrt,
    )


def _adam_step_gpu(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled,
    amsgrad,
    step_size,
    bias_correction2_sqrt,
):
    """The same step as ``adam_fast.adam_step``: one launch of kernels/optim.cu::adam_step."""
    launch_update(
        "adam_step",
        param,
        grad,
        (exp_avg, exp_avg_sq, max_exp_avg_sq),
        (
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            int(bool(decoupled)),
            int(bool(amsgrad)),
            step_size,
            bias_correction2_sqrt,
        ),
    )
