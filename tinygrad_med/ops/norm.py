"""Normalisation: batch_norm, instance_norm, group_norm, layer_norm  <->  kernels/norm.cu.

Lecture: "Batch normalization".  Every op here normalises groups of values to mean 0
and variance 1 and then scales and shifts them.  They differ only in which values
form a group, so all four run through one Function, ``BatchNorm``, on a view of x
as (N, C, S) whose "channels" are the groups:

    batch_norm     x (N, C, *)   -> (N, C, S)        one group per channel, over batch and space
    instance_norm  x (N, C, *)   -> (1, N*C, S)      one group per sample and channel
    group_norm     x (N, C, *)   -> (1, N*G, C/G*S)  one group per sample and group of channels
    layer_norm     x (..., *D)   -> (1, M, prod(D))  one group per sample, over the last dims

Reference: S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", arXiv:1502.03167 (Algorithm 1 and section 3.1).
"""

import math

import numpy

from .. import backend
from ..errors import DeviceError, DTypeError, ShapeError, fmt
from ..function import Function, increment_version, is_grad_enabled
from ..reference import path
from ..tensor import Tensor
from . import norm_fast
from .activation import relu

__all__ = ["batch_norm", "batch_norm_relu", "instance_norm", "group_norm", "layer_norm", "BatchNorm"]

NORM_THREADS = 256  # threads per block of the reduction kernels (= NORM_THREADS in kernels/norm.cu)
NORM_CHUNK = NORM_THREADS * 16  # values of one channel per reduction block (= NORM_CHUNK in kernels/norm.cu)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation over the batch and spatial dims, per channel (torch.nn.functional.batch_norm).

    Lecture: "Batch normalization".
    Forward:  mu_B = (1/m) sum_i x_i;  sigma2_B = (1/m) sum_i (x_i - mu_B)^2   (m = N * spatial size)
              x_hat = (x - mu_B) / sqrt(sigma2_B + eps);  y = gamma * x_hat + beta
              training: batch statistics, and in place
                  running_mean <- (1 - momentum) running_mean + momentum mu_B
                  running_var  <- (1 - momentum) running_var + momentum sigma2_B m / (m - 1)  (unbiased)
              eval: mu_B, sigma2_B replaced by running_mean, running_var
    Backward: g_beta = sum gy;  g_gamma = sum gy x_hat   (sums over everything but the channel)
              training: gx = (gamma inv_std / m) (m gy - sum gy - x_hat sum(gy x_hat))
              eval:     gx = gamma inv_std gy
    Code:     reference _batch_norm_train_fwd_cpu, _batch_norm_fwd_cpu, _batch_norm_bwd_cpu; kernels/norm.cu;
              fast CPU path ops/norm_fast.py (same formulas, fewer passes, x_hat not stored).
    Shapes:   x (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W) -> y of the same shape;
              running_mean, running_var, weight (gamma), bias (beta): (C,)
    Reference: Ioffe & Szegedy, arXiv:1502.03167, Algorithm 1 (training) and Algorithm 2 (inference).

    Args:
        input: the tensor x, float32 or float64.
        running_mean, running_var: tensors of shape (C,) updated in place when training; may be
            None when training (nothing is tracked), must be given in eval mode.
        weight, bias: gamma and beta, or None for 1 and 0.
        training: use (and track) the batch statistics instead of the running ones.
        momentum: weight of the new batch statistic in the running average.
        eps: added to the variance before the square root.
    Returns:
        y, a Tensor shaped like x.
    Raises:
        ShapeError if x has fewer than 2 dims, a channel count disagrees, or a channel has a single
        value while training; DTypeError if x is not floating point; ValueError if eval mode has no
        running statistics.
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, relu=False)


def batch_norm_relu(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """relu(batch_norm(input, ...)), one op on the fast CPU path (nn.Sequential runs BatchNorm then ReLU so).

    Lecture: "Batch normalization" and "Convolutional neural networks - Activation function".
    Forward:  y = max(0, gamma x_hat + beta), written in place over batch norm's fresh output
    Backward: batch norm's backward of gy * [y > 0]
    The value is relu(batch_norm(...)) exactly; what changes is that the batch-norm output before the
    ReLU is never a tensor of its own, so the graph does not hold it until the backward (one
    activation fewer per conv-BN-ReLU block) and the ReLU costs one in-place pass.  Under
    ``tm.reference_mode()``, on the GPU and for an empty input it runs the two ops, as written.
    Args, Returns and Raises: as batch_norm.
    """
    fused = isinstance(input, Tensor) and input.numel() > 0 and path(input.data, False, True, False)  # fast CPU only
    if not fused:
        return relu(batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps))
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, relu=True)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps, relu):
    """batch_norm's checks and the op (its ReLU folded in if ``relu``)."""
    stats = [t for t in (running_mean, running_var, weight, bias) if t is not None]
    if isinstance(input, Tensor) and input.shape == (0,) and all(t.shape == (0,) for t in stats):
        return input * 1.0  # PyTorch reads a 1-D input as 0 channels: only an empty one (and empty stats) passes
    _check_input("batch_norm", input, 2, "(N, C, *)")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_per_channel("batch_norm", name, t, (C,), input)
    if training and input.numel() // max(C, 1) == 1:  # none (an empty batch) is fine, as in PyTorch
        raise ShapeError(
            fmt(
                "batch_norm",
                f"expected more than 1 value per channel when training, got {input.numel() // max(C, 1)}",
                x=input,
                hint="use a batch of 2 or more",
            )
        )
    if (running_mean is None) != (running_var is None):
        raise ValueError(fmt("batch_norm", "give both running_mean and running_var, or neither"))
    if not training and running_mean is None:
        raise ValueError(
            fmt(
                "batch_norm",
                "running_mean and running_var must be given in eval mode",
                hint="pass training=True to use the batch statistics",
            )
        )
    raw = {
        "running_mean": None if running_mean is None else running_mean.data,
        "running_var": None if running_var is None else running_var.data,
    }
    keep = _grad_needed(input, weight, bias)
    y = BatchNorm.apply(
        input, weight, bias, **raw, training=training, momentum=momentum, eps=eps, keep_x_hat=keep, relu=relu
    )
    if training and running_mean is not None:  # forward updated them in place: count the change
        increment_version(running_mean)
        increment_version(running_var)
    return y


class BatchNorm(Function):
    """x_hat = (x - mu) inv_std and y = gamma x_hat + beta per channel of x viewed as (N, C, S); x_hat is
    saved for the backward (keep_x_hat=False: no backward will run, and the GPU does not store it; the
    fast CPU training path saves (x, mu) instead and rebuilds x_hat: ops/norm_fast.py).

    Lecture:  "Batch normalization"
    Forward:  x_hat = (x - mean_c) / sqrt(var_c + eps), y = gamma_c x_hat + beta_c (batch stats if training)
    Backward: gx = (gamma inv_std / m)(m gy - sum gy - x_hat sum gy x_hat) in training, gamma inv_std gy in eval;
              g gamma = sum gy x_hat; g beta = sum gy  (sums over n and s, per channel)
    Shapes:   x (N, C, *S), gamma, beta (C,) -> y (N, C, *S), m = N * prod S
    """

    def forward(self, x, gamma, beta, running_mean, running_var, training, momentum, eps, keep_x_hat=True, relu=False):
        xp, self.x_shape, self.training, self.relu = backend.get_xp(x), x.shape, training, relu
        self.empty = x.size == 0  # N = 0: nothing to normalise and no kernel to launch; the running
        if self.empty:  # statistics stay as they are (PyTorch), the gradients are zeros
            self.C = x.shape[1]
            return xp.zeros(x.shape, x.dtype)
        x3 = xp.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)  # (N, C, *) -> (N, C, S)
        train_fwd, fwd, self.bwd = path(x3, _REFERENCE, norm_fast.PATHS, _GPU)  # the one dispatch (reference.path)
        C, self.shape3 = x3.shape[1], x3.shape
        self.gamma = xp.ones(C, x.dtype) if gamma is None else xp.ascontiguousarray(gamma, dtype=x.dtype)
        beta = xp.zeros(C, x.dtype) if beta is None else xp.ascontiguousarray(beta, dtype=x.dtype)
        if training:  # Algorithm 1: the batch statistics
            y, self.x_hat, mean, var, self.inv_std = train_fwd(x3, self.gamma, beta, x.dtype.type(eps), keep_x_hat)
            if running_mean is not None:
                _update_running_stats(running_mean, running_var, mean, var, x3.size // C, momentum)
        else:  # Algorithm 2: the running statistics stand in for the batch's
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
            self.inv_std = 1.0 / xp.sqrt(var + x.dtype.type(eps))  # (C,)
            y, self.x_hat = fwd(x3, mean, self.inv_std, self.gamma, beta, keep_x_hat)
        if relu:  # batch_norm_relu: y is this op's own fresh array; its positive entries are the ReLU's mask
            self.relu_fwd, self.relu_bwd = path(x3, _RELU, norm_fast.RELU, _RELU)
            self.y = self.relu_fwd(y)
        return y.reshape(x.shape)

    def backward(self, gy):
        if self.empty:
            xp = backend.get_xp(gy)
            return xp.zeros(self.x_shape, gy.dtype), xp.zeros(self.C, gy.dtype), xp.zeros(self.C, gy.dtype)
        gy3 = backend.get_xp(gy).ascontiguousarray(gy).reshape(self.shape3)
        if self.relu:  # the ReLU's adjoint first: gy where y > 0
            gy3 = self.relu_bwd(gy3, self.y)
        gx, g_gamma, g_beta = self.bwd(gy3, self.x_hat, self.gamma, self.inv_std, self.training)
        return gx.reshape(self.x_shape), g_gamma, g_beta


def instance_norm(
    input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True, momentum=0.1, eps=1e-5
):
    """Instance normalisation: each sample's channel normalised over its own spatial dims.

    Lecture: "Batch normalization" (the statistics taken per sample instead of per batch).
    Forward:  batch_norm of x viewed as (1, N*C, S); y = weight[c] x_hat + bias[c];
              running stats (if given) move towards the batch average of the per-instance
              mean and unbiased variance; use_input_stats=False normalises with the running stats.
    Backward: that of batch_norm (training) on the view, then of the per-channel affine map.
    Shapes:   x (N, C, L), (N, C, H, W) or (N, C, D, H, W) -> same shape; running stats, weight, bias (C,)
    Raises:   ShapeError if x has fewer than 3 dims, a channel count disagrees, or a channel has one
              spatial element.
    """
    _check_input("instance_norm", input, 3, "(N, C, *)")
    N, C = input.shape[:2]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_per_channel("instance_norm", name, t, (C,), input, same_dtype=name in ("weight", "bias"))
    if not use_input_stats:  # eval reads the running stats only; PyTorch takes them in another float dtype here
        stats = [None if t is None else Tensor._wrap(t.data.astype(input.dtype)) for t in (running_mean, running_var)]
        return batch_norm(input, *stats, weight, bias, False, momentum, eps)
    if math.prod(input.shape[2:]) <= 1:
        raise ShapeError(fmt("instance_norm", "expected more than 1 spatial element when training", x=input))
    xp = backend.get_xp(input.data)
    tiled = {
        k: None if t is None else xp.tile(t.data, N)
        for k, t in (("running_mean", running_mean), ("running_var", running_var))
    }
    view, keep = input.reshape(1, N * C, math.prod(input.shape[2:])), _grad_needed(input)
    y = BatchNorm.apply(view, None, None, **tiled, training=True, momentum=momentum, eps=eps, keep_x_hat=keep)
    for key, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None:  # (N*C,) -> (C,): the average over the batch, as PyTorch does
            t.data[...] = tiled[key].reshape(N, C).mean(axis=0) if N else float("nan")  # N = 0: nan, as PyTorch
            increment_version(t)
    return _affine(y.reshape(input.shape), weight, bias, (1, C) + (1,) * (input.ndim - 2))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation: each sample's channels split into num_groups groups, each normalised.

    Lecture: "Batch normalization" (statistics over a group of channels of one sample).
    Forward:  x viewed as (N, G, C/G * S); x_hat over each (n, g); y = weight[c] x_hat + bias[c]
    Backward: that of batch_norm (training) on the view, then of the per-channel affine map.
    Shapes:   x (N, C, *) -> same shape; weight, bias (C,)
    Reference: Y. Wu, K. He, "Group Normalization", arXiv:1803.08494.
    Raises:   ShapeError if C is not divisible by num_groups or weight/bias are not (C,).
    """
    _check_input("group_norm", input, 2, "(N, C, *)")
    N, C = input.shape[:2]
    if num_groups < 1 or C % num_groups:
        raise ShapeError(
            fmt(
                "group_norm",
                f"{C} channels are not divisible into num_groups={num_groups}",
                x=(input.shape, "(N, C, *)"),
            )
        )
    for name, t in (("weight", weight), ("bias", bias)):
        _check_per_channel("group_norm", name, t, (C,), input)
    group = C // num_groups * math.prod(input.shape[2:])  # C/G * S values per (n, g)
    y = _normalize(input.reshape(1, N * num_groups, group), eps).reshape(input.shape)
    return _affine(y, weight, bias, (1, C) + (1,) * (input.ndim - 2))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last len(normalized_shape) dims of each sample.

    Lecture: "Batch normalization" (statistics over the features of one sample).
    Forward:  x viewed as (M, K), K = prod(normalized_shape); x_hat over each row;
              y = weight * x_hat + bias (weight, bias of shape normalized_shape)
    Backward: that of batch_norm (training) on the view, then of the elementwise affine map.
    Shapes:   x (..., *normalized_shape) -> same shape
    Reference: J. L. Ba, J. R. Kiros, G. E. Hinton, "Layer Normalization", arXiv:1607.06450.
    Raises:   ShapeError if x does not end in normalized_shape or weight/bias have another shape.
    """
    shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    _check_input("layer_norm", input, len(shape), "(..., *normalized_shape)")
    if tuple(input.shape[input.ndim - len(shape) :]) != shape:
        raise ShapeError(fmt("layer_norm", f"x does not end in normalized_shape {shape}", x=input))
    for name, t in (("weight", weight), ("bias", bias)):
        _check_per_channel("layer_norm", name, t, shape, input)
    K = math.prod(shape)
    y = _normalize(input.reshape(1, input.numel() // max(K, 1), K), eps).reshape(input.shape)
    return _affine(y, weight, bias, shape)


# ----------------------------------------------------------------------------- helpers


def _normalize(x3, eps):
    """x_hat per row of x3 (1, R, K): BatchNorm in training mode, without affine or running stats."""
    options = {"training": True, "momentum": 0.0, "eps": eps, "keep_x_hat": _grad_needed(x3)}
    return BatchNorm.apply(x3, None, None, running_mean=None, running_var=None, **options)


def _grad_needed(*tensors):
    """True if a backward can run through these inputs (grad enabled and one of them requires grad)."""
    return is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _affine(y, weight, bias, shape):
    """y * weight + bias with weight and bias reshaped to broadcast (recorded as Tensor ops)."""
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _check_input(op, x, min_dims, layout):
    if not isinstance(x, Tensor):
        raise TypeError(fmt(op, f"expected a Tensor, got {type(x).__name__}"))
    if x.ndim < max(min_dims, 1):
        raise ShapeError(fmt(op, f"expected at least {max(min_dims, 1)} dims {layout}, got {x.ndim}", x=x))
    if x.dtype.kind != "f":
        raise DTypeError(fmt(op, f"x has dtype {x.dtype}; expected float32 or float64", x=x))


def _check_per_channel(op, name, t, shape, x, same_dtype=True):
    """t is None or of the given shape, on x's device and (same_dtype) of x's dtype, as PyTorch requires."""
    if t is None:
        return
    if tuple(t.shape) != tuple(shape):
        raise ShapeError(
            fmt(
                op,
                f"{name} has shape {tuple(t.shape)} but x expects {tuple(shape)}",
                x=(x.shape, "(N, C, *)"),
                **{name: t},
            )
        )
    if t.device != x.device:  # running statistics bypass Function.apply's device check: check them here
        raise DeviceError(
            fmt(op, f"x is on {x.device} but {name} is on {t.device}", hint=f"move {name} with .to('{x.device}')")
        )
    if same_dtype and t.dtype != x.dtype:
        raise DTypeError(
            fmt(op, f"expected {name} to have x's dtype {x.dtype}, got {t.dtype}", hint=f"convert with .to({x.dtype})")
        )


def _update_running_stats(running_mean, running_var, mean, var, m, momentum):
    """In place: running <- (1 - momentum) running + momentum batch, with the unbiased variance."""
    running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    running_var[...] = (1 - momentum) * running_var + momentum * var * (m / (m - 1))


def _batch_norm_train_fwd_cpu(x3, gamma, beta, eps, keep_x_hat=True):
    """Algorithm 1 on x3 (N, C, S), per channel over the m = N*S values: (y, x_hat, mu_B, sigma2_B, inv_std).

    mu_B = (1/m) sum x,  sigma2_B = (1/m) sum (x - mu_B)^2,  x_hat = (x - mu_B) / sqrt(sigma2_B + eps),
    y = gamma x_hat + beta.  (x_hat is returned even if not keep_x_hat: it is the way to y here.)
    """
    mean = x3.mean(axis=(0, 2))  # mu_B (C,)
    var = ((x3 - mean[:, None]) ** 2).mean(axis=(0, 2))  # sigma2_B (C,), biased
    inv_std = 1.0 / numpy.sqrt(var + eps)
    y, x_hat = _batch_norm_fwd_cpu(x3, mean, inv_std, gamma, beta)
    return y, x_hat, mean, var, inv_std


def _batch_norm_train_fwd_gpu(x3, gamma, beta, eps, keep_x_hat=True):
    mean, var = _batch_norm_stats_gpu(x3)
    inv_std = 1.0 / backend.get_xp(x3).sqrt(var + eps)
    y, x_hat = _batch_norm_fwd_gpu(x3, mean, inv_std, gamma, beta, keep_x_hat)
    return y, x_hat, mean, var, inv_std


def _batch_norm_stats_gpu(x3):
    """mu_B and sigma2_B per channel: kernels/norm.cu::batch_norm_stats_partial (a block per chunk of
    NORM_CHUNK values of a channel, C*B blocks in all), then batch_norm_stats_combine (a block per channel)."""
    xp, (N, C, S) = backend.get_xp(x3), x3.shape
    B = -(-(N * S) // NORM_CHUNK)  # chunks per channel
    part_sum, part_m2 = xp.empty(C * B, dtype=xp.float64), xp.empty(C * B, dtype=xp.float64)
    partial = backend.load_kernel("norm", "batch_norm_stats_partial", x3.dtype)
    partial((backend.blocks_for(C * B, 1),), (NORM_THREADS,), (x3, part_sum, part_m2, N, C, S, B))
    mean, var = xp.empty(C, dtype=x3.dtype), xp.empty(C, dtype=x3.dtype)
    combine = backend.load_kernel("norm", "batch_norm_stats_combine", x3.dtype)
    combine((backend.blocks_for(C, 1),), (NORM_THREADS,), (part_sum, part_m2, mean, var, C, B, N * S))
    return mean, var


def _batch_norm_fwd_cpu(x3, mean, inv_std, gamma, beta, keep_x_hat=True):
    """x_hat = (x - mean) inv_std and y = gamma x_hat + beta, per channel of x3 (N, C, S)."""
    x_hat = (x3 - mean[:, None]) * inv_std[:, None]
    return gamma[:, None] * x_hat + beta[:, None], x_hat


def _batch_norm_fwd_gpu(x3, mean, inv_std, gamma, beta, keep_x_hat=True):
    """y, and x_hat (None if not keep_x_hat: the kernel then reads x and writes y only, 2 streams instead of 3)."""
    xp, (N, C, S) = backend.get_xp(x3), x3.shape
    y, x_hat = xp.empty_like(x3), xp.empty(x3.shape if keep_x_hat else 1, x3.dtype)  # 1: a placeholder
    kernel = backend.load_kernel("norm", "batch_norm_fwd", x3.dtype)
    kernel((backend.blocks_for(x3.size),), (256,), (x3, mean, inv_std, gamma, beta, y, x_hat, N, C, S, int(keep_x_hat)))
    return y, x_hat if keep_x_hat else None


def _batch_norm_bwd_cpu(gy3, x_hat, gamma, inv_std, training):
    """(gx, g_gamma, g_beta) of y = gamma x_hat + beta, through the batch statistics if training.

    g_beta = sum gy,  g_gamma = sum gy x_hat  (sums over the m = N*S values of each channel);
    training: Ioffe & Szegedy's chain rule through mu_B and sigma2_B, in its compact form
        gx = (gamma inv_std / m)(m gy - sum gy - x_hat sum(gy x_hat));
    eval: the statistics are constants, gx = gamma inv_std gy.
    """
    m = gy3.shape[0] * gy3.shape[2]
    g_beta, g_gamma = gy3.sum(axis=(0, 2)), (gy3 * x_hat).sum(axis=(0, 2))  # (C,), (C,)
    if not training:
        return (gamma * inv_std)[:, None] * gy3, g_gamma, g_beta
    gx = (gamma * inv_std / m)[:, None] * (m * gy3 - g_beta[:, None] - x_hat * g_gamma[:, None])
    return gx, g_gamma, g_beta


def _batch_norm_bwd_gpu(gy3, x_hat, gamma, inv_std, training):
    xp, (N, C, S) = backend.get_xp(gy3), gy3.shape
    B = -(-(N * S) // NORM_CHUNK)  # chunks per channel, as in _batch_norm_stats_gpu
    part_gy, part_gy_xhat = xp.empty(C * B, dtype=xp.float64), xp.empty(C * B, dtype=xp.float64)
    partial = backend.load_kernel("norm", "batch_norm_bwd_partial", gy3.dtype)
    partial((backend.blocks_for(C * B, 1),), (NORM_THREADS,), (gy3, x_hat, part_gy, part_gy_xhat, N, C, S, B))
    sum_gy, sum_gy_xhat = xp.empty(C, dtype=gy3.dtype), xp.empty(C, dtype=gy3.dtype)
    combine = backend.load_kernel("norm", "batch_norm_bwd_combine", gy3.dtype)
    combine((backend.blocks_for(C, 1),), (NORM_THREADS,), (part_gy, part_gy_xhat, sum_gy, sum_gy_xhat, C, B))
    gx = xp.empty_like(gy3)
    kernel = backend.load_kernel("norm", "batch_norm_bwd", gy3.dtype)
    kernel(
        (backend.blocks_for(gy3.size),),
        (256,),
        (gy3, x_hat, gamma, inv_std, sum_gy, sum_gy_xhat, gx, N, C, S, int(training)),
    )
    return gx, sum_gy_xhat, sum_gy


_REFERENCE = (_batch_norm_train_fwd_cpu, _batch_norm_fwd_cpu, _batch_norm_bwd_cpu)  # the slide's formulas
_GPU = (_batch_norm_train_fwd_gpu, _batch_norm_fwd_gpu, _batch_norm_bwd_gpu)  # kernels/norm.cu


def _relu_(y):
    """batch_norm_relu's ReLU, in place on the op's own output: y = max(0, y)."""
    backend.get_xp(y).maximum(y, 0, out=y)
    return y


def _relu_grad(gy, y):
    """The ReLU's adjoint: gy where y > 0, else 0."""
    return gy * (y > 0)


_RELU = (_relu_, _relu_grad)  # the reference (and the GPU: CuPy runs the same lines); norm_fast.RELU on the CPU
