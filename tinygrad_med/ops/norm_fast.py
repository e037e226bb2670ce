"""The fast CPU path of batch norm (ops/norm.py): the same formulas with fewer passes over memory.

Lecture: "Batch normalization".  The reference is ops/norm.py::_batch_norm_train_fwd_cpu,
_batch_norm_fwd_cpu and _batch_norm_bwd_cpu (Algorithm 1 and the chain rule written as on the
slide); this module computes the same values with fewer passes.  BatchNorm reaches it in one
line, never inside ``tm.reference_mode()``; tests/test_reference_parity.py and tests/test_norm_fast.py
hold it equal to the reference, values and gradients.

Training, the fused path (batch_norm_train_fwd): both statistics from one read of x each and no
temporary, sum x and sum x^2 per channel, sigma2_B = (1/m) sum x^2 - mu_B^2; then normalise, scale
and shift in one affine map y = x (gamma inv_std) + (beta - mu_B gamma inv_std), 2 passes instead of
6, and x_hat is never written: the backward rebuilds what it needs from x, which the graph keeps
anyway (the op's input), so each batch norm holds one activation fewer until its backward:
    sum gy x_hat = inv_std (sum gy x - mu_B sum gy)
    gx = gamma inv_std (gy - x_hat sum(gy x_hat) / m - sum(gy) / m)
       = gamma inv_std (gy - (x - mu_B) inv_std sum(gy x_hat) / m - sum(gy) / m)      (4 passes).
sum x^2 - m mu_B^2 cancels when |mu_B| is large beside the spread: where mu_B^2 > _CANCEL sigma2_B in
some channel (up to a digit lost), the two-pass centred path runs instead (x - mu_B, then its
squares; x_hat kept), as does sum gy x - mu_B sum gy in the backward with it.
"""

import numpy

from ..cpu_threads import one_blas_thread, split_over_workers, worker_count

__all__ = [
    "batch_norm_train_fwd",
    "centred_train_fwd",
    "batch_norm_fwd",
    "batch_norm_bwd",
    "relu_",
    "relu_grad",
    "PATHS",
    "RELU",
]

_CANCEL = 16.0  # the fused statistics run while mu_B^2 <= _CANCEL sigma2_B in every channel (|mu| <= 4 sigma)


def _channel_sum(a3):
    """(N, C, S) -> (C,): the sum over the batch and spatial axes, as a3 @ ones (a BLAS matrix-vector product
    per sample) summed over the batch.

    Not part of the math: 2.5x faster than numpy's sum (0.13 -> 0.05 ms for 4 x 16 x 128^2, float32,
    2026-12-07), its relative error as small (1.2e-7 against a float64 sum, numpy's 0.9e-7).  BLAS stays on
    one thread: its own would spin beside the convolution's workers (ops/conv_cpu.py).
    """
    with one_blas_thread():
        return numpy.matmul(a3, numpy.ones(a3.shape[-1], a3.dtype)).sum(axis=0)


def _channel_dot(a3, b3):
    """(N, C, S), (N, C, S) -> (C,): sum of a3 * b3 per channel, without writing the product: one BLAS dot
    product per (n, c) row, a (1, S) @ (S, 1) matmul each (1.5x faster than einsum's sum of products and
    more accurate: 0.6e-7 against float64 for sum x^2 over 4 x 16 x 128^2, einsum's 7e-7)."""
    with one_blas_thread():
        return numpy.matmul(a3[..., None, :], b3[..., :, None])[..., 0, 0].sum(axis=0)


def batch_norm_train_fwd(x3, gamma, beta, eps, keep_x_hat=True):
    """Training forward of x3 (N, C, S): (y, saved, mu_B, sigma2_B, inv_std).

    saved is what batch_norm_bwd reads: (x3, mu_B) on the fused path (x_hat rebuilt from x), else x_hat
    (the centred path, for channels whose mean dwarfs their spread; see the module docstring).
    """
    m = x3.shape[0] * x3.shape[2]
    mean = _channel_sum(x3) / m  # mu_B
    var = _channel_dot(x3, x3) / m - mean * mean  # sigma2_B (biased), one read of x, no temporary
    if not numpy.all(mean * mean <= _CANCEL * var):  # also NaN / inf and constant channels
        return centred_train_fwd(x3, gamma, beta, eps)
    inv_std = 1.0 / numpy.sqrt(var + eps)
    scale = gamma * inv_std
    shift = beta - mean * scale
    y = numpy.empty_like(x3)

    def normalise(n, c):  # normalise and scale, then shift: y = gamma (x - mu_B) inv_std + beta
        numpy.multiply(x3[n, c], scale[c, None], out=y[n, c])
        y[n, c] += shift[c, None]

    _in_parallel(normalise, x3)
    return y, (x3, mean), mean, var, inv_std


def centred_train_fwd(x3, gamma, beta, eps):
    """Training forward with the statistics in two passes (x - mu_B once, turned into x_hat in place):
    (y, x_hat, mu_B, sigma2_B, inv_std)."""
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


def batch_norm_bwd(gy3, saved, gamma, inv_std, training):
    """(gx, g_gamma, g_beta) of y = gamma x_hat + beta, through the batch statistics if training.

    saved: x_hat, or (x3, mu_B) from the fused training forward (x_hat is then rebuilt within the sums).
    """
    if isinstance(saved, tuple):
        return _bwd_from_x(gy3, *saved, gamma, inv_std)
    x_hat = saved
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


def _bwd_from_x(gy3, x3, mean, gamma, inv_std):
    """The training backward from x itself: x_hat = (x - mu_B) inv_std enters only through the sums and
    one affine map of x, gx = gamma inv_std (gy + x a + b) with per-channel a and b (4 passes, in place)."""
    m = gy3.shape[0] * gy3.shape[2]
    sum_gy = _channel_sum(gy3)
    sum_gy_xhat = inv_std * (_channel_dot(gy3, x3) - mean * sum_gy)  # sum gy x_hat
    a = inv_std * sum_gy_xhat / m  # gx / (gamma inv_std) = gy - a (x - mu_B) - sum(gy) / m
    minus_a, shift, scale = -a, a * mean - sum_gy / m, gamma * inv_std
    gx = numpy.empty_like(gy3)

    def input_grad(n, c):
        g = gx[n, c]
        numpy.multiply(x3[n, c], minus_a[c, None], out=g)
        g += shift[c, None]
        g += gy3[n, c]
        g *= scale[c, None]

    _in_parallel(input_grad, gy3)
    return gx, sum_gy_xhat, sum_gy


def relu_(y3):
    """ReLU in place on batch norm's fresh output y3 (N, C, S) (batch_norm_relu), in the workers."""
    _in_parallel(lambda n, c: numpy.maximum(y3[n, c], 0, out=y3[n, c]), y3)
    return y3


def relu_grad(gy3, y3):
    """gy3 where y3 > 0, else 0: the ReLU's adjoint before batch norm's (batch_norm_relu), in the workers."""
    out = numpy.empty_like(gy3)
    _in_parallel(lambda n, c: numpy.multiply(gy3[n, c], y3[n, c] > 0, out=out[n, c]), gy3)
    return out


def _in_parallel(fn, a3):
    """fn(n, c) over blocks of a3's samples n (of its channels c where there are fewer samples than workers), in
    the CPU workers (cpu_threads.thread_pool).

    Not part of the math: every block is its own slice of the arrays, and NumPy releases the GIL inside these
    memory-bound loops, so both cores stream memory at once.  Below _PARALLEL_MIN_SIZE elements, one thread.
    Measured (2 cores, 2026-12-07): batch norm + ReLU forward and backward in the U-Net step at 128^2, 15.6 ->
    12.2 ms a step; alone on 4 x 32 x 128^2 (in cache), backward 0.84 -> 0.65 ms, the ReLU's adjoint 0.54 ->
    0.33 ms: the two cores share one memory bus, so less than twice.
    """
    N, C = a3.shape[:2]
    workers = worker_count() if a3.size >= _PARALLEL_MIN_SIZE else 1
    if N >= workers:
        split_over_workers(lambda n: fn(n, slice(None)), N, workers)
    else:
        split_over_workers(lambda c: fn(slice(None), c), C, workers)


PATHS = (batch_norm_train_fwd, batch_norm_fwd, batch_norm_bwd)  # as BatchNorm.forward picks them
RELU = (relu_, relu_grad)  # batch_norm_relu's ReLU and its adjoint, as BatchNorm picks them
_PARALLEL_MIN_SIZE = 1 << 18  # elements
