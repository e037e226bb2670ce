"""The fast CPU path of batch norm (ops/norm.py): the same formulas with fewer passes over memory.

Lecture: "Batch normalization".  The reference is ops/norm.py::_batch_norm_train_fwd_cpu,
_batch_norm_fwd_cpu and _batch_norm_bwd_cpu (Algorithm 1 and the chain rule written as on the
slide); this module computes the same values, x - mu_B once and turned into x_hat in place, the
channel sums without writing products (einsum), and gx built in place.  Measured: training
forward + backward of (32, 64, 1024) float32 on one core, 7.7 ms (reference) -> 5.1-5.9 ms.
BatchNorm reaches it in one line, never inside ``tm.reference_mode()``; tests/test_reference_parity.py
holds it equal to the reference.
"""

import numpy

__all__ = ["batch_norm_train_fwd", "batch_norm_fwd", "batch_norm_bwd", "PATHS"]


def _channel_sum(a3):
    """(N, C, S) -> (C,): the sum over the batch and spatial axes (pairwise along S)."""
    return a3.sum(axis=0).sum(axis=-1)


def _channel_dot(a3, b3):
    """(N, C, S), (N, C, S) -> (C,): sum of a3 * b3 per channel, without writing the product."""
    return numpy.einsum("ncs,ncs->c", a3, b3)


def batch_norm_train_fwd(x3, gamma, beta, eps, keep_x_hat=True):
    """Training forward of x3 (N, C, S): (y, x_hat, mu_B, sigma2_B, inv_std), statistics in two passes.

    The centred x is computed once: it gives sigma2_B and then becomes x_hat in place (returned even if
    not keep_x_hat: here it costs nothing extra).
    """
    m = x3.shape[0] * x3.shape[2]
    mean = _channel_sum(x3) / m  # mu_B
    x_hat = x3 - mean[:, None]  # x - mu_B ...
    var = _channel_dot(x_hat, x_hat) / m  # sigma2_B (biased)
    inv_std = 1.0 / numpy.sqrt(var + eps)
    x_hat *= inv_std[:, None]  # ... times 1 / sqrt(sigma2_B + eps): x_hat
    y = x_hat * gamma[:, None]
    y += beta[:, None]
    return y, x_hat, mean, var, inv_std


def batch_norm_fwd(x3, mean, inv_std, gamma, beta, keep_x_hat=True):
    """x_hat = (x - mean) inv_std and y = gamma x_hat + beta, per channel of x3 (N, C, S) (x_hat returned
    even if not keep_x_hat: it is the way to y here)."""
    x_hat = x3 - mean[:, None]
    x_hat *= inv_std[:, None]
    y = x_hat * gamma[:, None]
    y += beta[:, None]
    return y, x_hat


def batch_norm_bwd(gy3, x_hat, gamma, inv_std, training):
    """(gx, g_gamma, g_beta) of y = gamma x_hat + beta, through the batch statistics if training."""
    m = gy3.shape[0] * gy3.shape[2]
    sum_gy, sum_gy_xhat = _channel_sum(gy3), _channel_dot(gy3, x_hat)
    scale = (gamma * inv_std)[:, None]
    if not training:  # the statistics are constants
        return gy3 * scale, sum_gy_xhat, sum_gy
    # Ioffe & Szegedy's chain rule through mu_B and sigma2_B, in its compact form
    #   gx = (gamma inv_std / m)(m gy - sum gy - x_hat sum(gy x_hat))
    #      = gamma inv_std (gy - (x_hat sum(gy x_hat) / m + sum(gy) / m)), built in place in gx:
    gx = x_hat * (sum_gy_xhat / m)[:, None]
    gx += (sum_gy / m)[:, None]
    numpy.subtract(gy3, gx, out=gx)
    gx *= scale
    return gx, sum_gy_xhat, sum_gy


PATHS = (batch_norm_train_fwd, batch_norm_fwd, batch_norm_bwd)  # as BatchNorm.forward picks them
