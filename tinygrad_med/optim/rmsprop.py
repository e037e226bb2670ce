"""RMSprop, plain or centered, with momentum and weight decay (torch.optim.RMSprop).

Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)": RMSprop is the
slide's "decaying average of gradient second moment" without the first moment:
the step is the gradient divided by the root of that average.

Kernel: kernels/optim.cu::rmsprop_step (one launch per parameter on the GPU).
"""

import numpy

from ..backend import on_gpu
from .optimizer import Optimizer, check_nonnegative, launch_update, zeros_buffer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)" (its second moment).
    Forward (per parameter w with gradient g_t):
        g_t <- g_t + weight_decay * w_{t-1}                (L2 penalty, if weight_decay > 0)
        s_t = alpha s_{t-1} + (1 - alpha) g_t^2             (decaying average of g^2)
        a_t = alpha a_{t-1} + (1 - alpha) g_t               (centered only: average of g)
        r_t = sqrt(s_t) + eps,  or  sqrt(s_t - a_t^2) + eps (centered: an estimate of the std)
        b_t = momentum b_{t-1} + g_t / r_t,  w_t = w_{t-1} - lr * b_t     (momentum > 0)
        w_t = w_{t-1} - lr * g_t / r_t                                     (momentum = 0)
    Backward: none (optimizers are not differentiable).
    Shapes:   state "square_avg" (s), "grad_avg" (a, centered) and "momentum_buffer"
              (b, momentum > 0) have the parameter's shape.
    Reference: Tieleman & Hinton, Coursera "Neural Networks for Machine Learning", lecture 6.5
        (2012; no paper); centered form: Graves, "Generating Sequences With Recurrent Neural
        Networks", arXiv:1308.0850.

    Args:
        params: iterable of Tensors or of dicts (parameter groups with their own options).
        lr: learning rate (default 1e-2, as torch.optim.RMSprop).
        alpha: smoothing constant of the averages (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the raw second moment.
    Raises:
        ValueError if lr, alpha, eps, weight_decay or momentum is negative; others as in Optimizer.
    """

    name = "rmsprop"

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        check_nonnegative(self.name, group, ("alpha", "eps", "weight_decay", "momentum"))

    def _init_state(self, state, param, group):
        super()._init_state(state, param, group)
        state["square_avg"] = zeros_buffer(param)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_buffer(param)
        if group["centered"]:
            state["grad_avg"] = zeros_buffer(param)

    def _update(self, param, grad, state, group):
        for key, wanted in (("momentum_buffer", group["momentum"] > 0), ("grad_avg", group["centered"])):
            if wanted and key not in state:  # an option switched on after the first step
                state[key] = zeros_buffer(param)
        step = _rmsprop_step_gpu if on_gpu(param) else _rmsprop_step_cpu
        step(
            param,
            grad,
            state["square_avg"],
            state.get("grad_avg", param),
            state.get("momentum_buffer", param),
            group["lr"],
            group["alpha"],
            group["eps"],
            group["weight_decay"],
            group["momentum"],
            group["centered"],
        )


def _rmsprop_step_cpu(
    param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered
):
    """One RMSprop step on numpy arrays, in place (the reference). grad_avg / momentum_buffer are
    only touched when centered / momentum > 0."""
    if weight_decay != 0:
        grad = grad + weight_decay * param  # a new array: .grad is never modified
    grad_sq = numpy.multiply(grad, grad, out=numpy.empty_like(square_avg))  # an array even when 0-d
    grad_sq *= 1 - alpha  # s_t = alpha s_{t-1} + (1 - alpha) g_t^2
    square_avg *= alpha
    square_avg += grad_sq
    rms = grad_sq  # reuse the temporary for r_t
    if centered:
        grad_avg *= alpha  # a_t = alpha a_{t-1} + (1 - alpha) g_t
        grad_avg += (1 - alpha) * grad
        numpy.multiply(grad_avg, grad_avg, out=rms)
        numpy.subtract(square_avg, rms, out=rms)  # s_t - a_t^2
        numpy.sqrt(rms, out=rms)
    else:
        numpy.sqrt(square_avg, out=rms)
    rms += eps
    numpy.divide(grad, rms, out=rms)  # g_t / r_t
    if momentum > 0:
        momentum_buffer *= momentum  # b_t = momentum b_{t-1} + g_t / r_t
        momentum_buffer += rms
        numpy.multiply(momentum_buffer, lr, out=rms)
    else:
        rms *= lr
    param -= rms


def _rmsprop_step_gpu(
    param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered
):
    """The same step as ``_rmsprop_step_cpu``: one launch of kernels/optim.cu::rmsprop_step."""
    launch_update(
        "rmsprop_step",
        param,
        grad,
        (square_avg, grad_avg, momentum_buffer),
        (lr, alpha, eps, weight_decay, momentum, int(bool(centered))),
    )
