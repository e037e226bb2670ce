"""The fast CPU path of Adam/AdamW (optim/adam.py): the step in place, one temporary, as the kernel does it.

Lecture: "MORE ON OPTIMIZATION - Adaptive moment estimation (Adam)".  The reference is
optim/adam.py::_adam_step_cpu, the slide's five lines in plain NumPy, a new array per line.  This
module computes the same step in place on the parameter and the moment buffers, reusing one
temporary for g^2 and the denominator (benchmarks/bench_optim.py measures what that saves).
Adam reaches it in one line, never inside ``tm.reference_mode()``; tests/test_reference_parity.py
holds it equal to the reference.
"""

import numpy

__all__ = ["adam_step"]


def adam_step(
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
    """One Adam/AdamW step on numpy arrays, in place on param and the moment buffers, with one temporary.

    The same step as optim/adam.py::_adam_step_cpu (the reference), with the bias corrections folded
    into step_size and bias_correction2_sqrt on the host as in kernels/optim.cu::adam_step.
    """
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
