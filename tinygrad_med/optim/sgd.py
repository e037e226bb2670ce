"""SGD with momentum, Nesterov momentum and weight decay (torch.optim.SGD).

Lecture: "MORE ON OPTIMIZATION - Momentum in optimization".  The slide writes

    w_t = w_{t-1} - v_t,   v_t = eta * dL/dw                  (standard gradient)
                           v_t = beta * v_{t-1} + eta * dL/dw  (with momentum)

Kernel: kernels/optim.cu::sgd_step (one launch per parameter on the GPU).
"""

from ..backend import on_gpu
from ..errors import fmt
from .optimizer import Optimizer, check_nonnegative, launch_update, zeros_buffer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum: the slide's update, in PyTorch's parametrisation.

    Lecture: "MORE ON OPTIMIZATION - Momentum in optimization".
    Forward (per parameter w with gradient g_t, step t = 1, 2, ...):
        g_t <- g_t + weight_decay * w_{t-1}                          (L2 penalty, if weight_decay > 0)
        b_t  = g_t                                    at t = 1        (momentum buffer, if momentum > 0)
        b_t  = momentum * b_{t-1} + (1 - dampening) * g_t   for t > 1
        d_t  = g_t + momentum * b_t  (nesterov)   or   d_t = b_t   (classical)   or d_t = g_t (momentum = 0)
        w_t  = w_{t-1} - lr * d_t
    Backward: none (optimizers are not differentiable).
    Code:     reference _sgd_step_cpu (plain; no fast CPU path); kernels/optim.cu::sgd_step.
    Shapes:   state["momentum_buffer"] has the parameter's shape (only when momentum > 0).

    The slide vs PyTorch.  The slide keeps the *velocity* v_t = beta v_{t-1} + eta g_t,
    which already contains the learning rate, and steps w_t = w_{t-1} - v_t.  PyTorch
    (and this class, so that a PyTorch user gets PyTorch's trajectory) keeps the buffer
    b_t in gradient units and multiplies by lr when stepping.  With momentum = beta,
    dampening = 0 (the default) and a constant lr = eta, induction from v_1 = eta g_1 =
    eta b_1 gives v_t = eta * b_t for every t, so both produce exactly the same weights
    (tests/test_optim.py checks it against the slide's formula).  They differ only when
    lr changes during training (a scheduler): the slide's v_t keeps the old rates in its
    history, PyTorch's b_t applies the current rate to the whole buffer.  ``dampening``
    (PyTorch's, not on the slide) scales the new gradient by (1 - dampening), except at
    the first step, where PyTorch copies the gradient into the buffer.

    Args:
        params: iterable of Tensors or of dicts (parameter groups with their own options).
        lr: learning rate eta (default 1e-3, as torch.optim.SGD).
        momentum: beta on the slide (default 0: the "standard gradient" update).
        dampening: dampening of the new gradient in the buffer (default 0).
        weight_decay: L2 penalty coefficient (default 0).
        nesterov: use Nesterov momentum, d_t = g_t + momentum * b_t (default False).
    Raises:
        ValueError if lr, momentum or weight_decay is negative, or nesterov is asked
            without momentum or with dampening; others as in Optimizer.
    """

    name = "sgd"

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_options(self, group):
        super()._check_options(group)
        check_nonnegative(self.name, group, ("momentum", "weight_decay"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                fmt(
                    self.name,
                    "Nesterov momentum requires a momentum and zero dampening",
                    momentum=group["momentum"],
                    dampening=group["dampening"],
                )
            )

    def _update(self, param, grad, state, group):
        first_step = False
        if group["momentum"] != 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = zeros_buffer(param)
            first_step = True
        buffer = state.get("momentum_buffer", param)  # unused by the step when momentum == 0
        step = _sgd_step_gpu if on_gpu(param) else _sgd_step_cpu
        step(
            param,
            grad,
            buffer,
            group["lr"],
            group["momentum"],
            group["dampening"],
            group["weight_decay"],
            group["nesterov"],
            first_step,
        )


def _sgd_step_cpu(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """One SGD step on numpy arrays, in place on ``param`` and ``momentum_buffer`` (the reference)."""
    if weight_decay != 0:
        grad = grad + weight_decay * param  # a new array: .grad itself is never modified
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = grad  # b_1 = g_1
        else:
            momentum_buffer *= momentum  # b_t = momentum b_{t-1} + (1 - dampening) g_t
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * grad  # w_t = w_{t-1} - lr d_t


def _sgd_step_gpu(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """The same step as ``_sgd_step_cpu``: one launch of kernels/optim.cu::sgd_step."""
    launch_update(
        "sgd_step",
        param,
        grad,
        (momentum_buffer,),
        (lr, momentum, dampening, weight_decay, int(bool(nesterov)), int(bool(first_step))),
    )
