"""Adam (with AMSGrad) and AdamW (torch.optim.Adam, torch.optim.AdamW).

Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)".  The slide writes

    m_t = gamma_1 m_{t-1} + (1 - gamma_1) dL/dw          decaying average of the gradient (first moment)
    v_t = gamma_2 v_{t-1} + (1 - gamma_2) (dL/dw)^2      decaying average of its square (second moment)
    m^_t = m_t / (1 - gamma_1^t),  v^_t = v_t / (1 - gamma_2^t)   bias correction ("avoid bias to zero")
    w_t = w_{t-1} - eta / (sqrt(v^_t) + eps) * m^_t

Kernel: kernels/optim.cu::adam_step (one launch per parameter on the GPU).
"""

import math

import numpy

from ..backend import on_gpu
from ..errors import fmt
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
        beta1, beta2 = group["betas"]
        t = state["step"]
        step_size = group["lr"] / (1 - beta1**t)  # lr / (1 - gamma_1^t): bias correction of m
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)  # sqrt(1 - gamma_2^t): bias correction of v
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_buffer(param)
        max_exp_avg_sq = state.get("max_exp_avg_sq", param)  # unused by the step without amsgrad
        step = _adam_step_gpu if on_gpu(param) else _adam_step_cpu
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
            self.decoupled_weight_decay,
            group["amsgrad"],
            step_size,
            bias_correction2_sqrt,
        )


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


def _adam_step_cpu(
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
    """One Adam/AdamW step on numpy arrays, in place on param and the moment buffers (the reference)."""
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay  # AdamW: w <- w (1 - lr lambda)
        else:
            grad = grad + weight_decay * param  # Adam: L2 term; a new array, .grad is never modified
    exp_avg *= beta1  # m_t = gamma_1 m_{t-1} + (1 - gamma_1) g_t
    exp_avg += (1 - beta1) * grad
    grad_sq = numpy.multiply(grad, grad, out=numpy.empty_like(exp_avg))  # an array even when 0-d
    grad_sq *= 1 - beta2  # v_t = gamma_2 v_{t-1} + (1 - gamma_2) g_t^2
    exp_avg_sq *= beta2
    exp_avg_sq += grad_sq
    second_moment = exp_avg_sq
    if amsgrad:
        numpy.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)  # vmax_t = max(vmax_{t-1}, v_t)
        second_moment = max_exp_avg_sq
    denom = grad_sq  # reuse the temporary: denom = sqrt(v_t) / sqrt(1 - gamma_2^t) + eps
    numpy.sqrt(second_moment, out=denom)
    denom /= bias_correction2_sqrt
    denom += eps
    numpy.divide(exp_avg, denom, out=denom)  # m_t / denom
    denom *= step_size
    param -= denom  # w_t = w_{t-1} - step_size m_t / denom


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
    """The same step as ``_adam_step_cpu``: one launch of kernels/optim.cu::adam_step."""
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
