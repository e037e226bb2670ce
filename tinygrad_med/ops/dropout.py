"""Dropout: dropout, dropout1d/2d/3d (whole channels), (feature_)alpha_dropout  <->  kernels/dropout.cu.

Lecture: "Dropout regularization".  During training each value (or each whole channel)
is kept with probability 1 - p and scaled by 1 / (1 - p) ("inverted" dropout), so that
evaluation, where dropout is the identity, sees the same expected activations.

The random numbers come from Philox4x32-10, a counter-based generator: the number of
mask entry k is a pure function of (seed, k).  So the mask

    keep_k = u_k >= round(p * 2^32),   u_k = word k % 4 of Philox4x32-10(counter=k // 4, key=seed)

is never stored (backward makes it again from the 64-bit seed), the GPU makes every
element's number in its own thread, and the CPU (vectorised NumPy below) and the GPU
(kernels/dropout.cu) produce the same mask bit for bit.  The seed of each call comes from
``tinygrad_med.random.next_seed()``, so ``manual_seed`` makes a run repeat exactly.

Reference: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers:
as easy as 1, 2, 3", SC'11 (Philox); N. Srivastava et al., "Dropout: a simple way to prevent
neural networks from overfitting", JMLR 15 (2014); J. Tompson et al., arXiv:1411.4280
(channel dropout); G. Klambauer et al., arXiv:1706.02515 (alpha dropout).
"""

import math
import warnings

import numpy

from .. import backend, random
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor

__all__ = [
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "philox4x32_10",
    "Dropout",
]

_M0, _M1 = numpy.uint64(0xD2511F53), numpy.uint64(0xCD9E8D57)  # Philox multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
_LOW, _32 = numpy.uint64(0xFFFFFFFF), numpy.uint64(32)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (torch.nn.functional.dropout).

    Lecture: "Dropout regularization".
    Forward:  y_i = x_i * keep_i / (1 - p),  keep_i ~ Bernoulli(1 - p) from Philox(seed, i); y = x in eval
              (p = 1 gives zeros, p = 0 the identity)
    Backward: gx_i = gy_i * keep_i / (1 - p)  (the mask regenerated from the seed)
    Shapes:   x (*) -> y (*)

    Args:
        input: float tensor of any shape.
        p: probability of dropping an element, in [0, 1].
        training: dropout only while training; the identity otherwise.
        inplace: must be False (tensors here are not modified in place by ops).
    Raises:
        ValueError if p is outside [0, 1] or inplace is True; DTypeError for a non-float tensor.
    """
    _check("dropout", input, p, inplace, training)
    return _dropout(input, p, training, group=1)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p (torch.nn.functional.dropout1d).

    Lecture: "Dropout regularization".
    Forward:  y[n, c, :] = x[n, c, :] * keep[n, c] / (1 - p)   Backward: gx = gy * keep / (1 - p)
    Shapes:   x (N, C, L) or (C, L) -> same shape
    Raises:   ShapeError for other ranks; ValueError if p is outside [0, 1].
    """
    return _channel_dropout("dropout1d", input, p, training, inplace, {2: 1, 3: 1})


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) input with probability p (torch.nn.functional.dropout2d).

    Lecture: "Dropout regularization" (for feature maps, whose neighbouring pixels are correlated,
    dropping single pixels does little; Tompson et al. drop whole channels).
    Forward:  y[n, c] = x[n, c] * keep[n, c] / (1 - p),  keep[n, c] from Philox(seed, n*C + c)
    Backward: gx[n, c] = gy[n, c] * keep[n, c] / (1 - p)
    Shapes:   x (N, C, H, W) -> same shape; a 3-D input is read as (N, C, L), as PyTorch does, and
              other ranks >= 2 as (N, C, *) with PyTorch's deprecation warning
    Raises:   ShapeError for fewer than 2 dims; ValueError if p is outside [0, 1].
    """
    return _channel_dropout("dropout2d", input, p, training, inplace, {3: 1, 4: 2}, _per_sample_channel)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input (torch.nn.functional.dropout3d).

    Lecture: "Dropout regularization".
    Forward:  y[n, c] = x[n, c] * keep[n, c] / (1 - p)   Backward: gx[n, c] = gy[n, c] * keep[n, c] / (1 - p)
    Shapes:   x (N, C, D, H, W) or (C, D, H, W) -> same shape; other ranks >= 1 as unbatched (C, *), with
              PyTorch's deprecation warning
    Raises:   ShapeError for a 0-d input; ValueError if p is outside [0, 1].
    """
    return _channel_dropout("dropout3d", input, p, training, inplace, {4: 3, 5: 3}, _per_first_dim)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped values go to SELU's saturation value, mean and variance kept.

    Lecture: "Dropout regularization" (the variant for self-normalising networks).
    Forward:  y = a (x keep + alpha' (1 - keep)) + b, alpha' = -SELU_SCALE * SELU_ALPHA,
              a = ((1 - p)(1 + p alpha'^2))^(-1/2), b = -a alpha' p   (Klambauer et al., arXiv:1706.02515)
    Backward: gx = gy * a * keep
    Shapes:   x (*) -> y (*)
    Raises:   ValueError if p is outside [0, 1].
    """
    _check("alpha_dropout", input, p, inplace, training)
    return _alpha_dropout(input, p, training, group=1)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels: each (n, c) plane is kept or set to the saturation value together.

    Lecture: "Dropout regularization" (alpha dropout, with the channel masks of dropout2d).
    Forward:  y[n, c] = a (x[n, c] keep[n, c] + alpha' (1 - keep[n, c])) + b, a, b, alpha' as alpha_dropout
    Backward: gx[n, c] = gy[n, c] * a * keep[n, c]
    Shapes:   x (N, C, *) -> same (any rank >= 2, as torch.nn.functional.feature_alpha_dropout)
    Raises:   ShapeError for fewer than 2 dims (when it drops); ValueError if p is outside [0, 1].
    """
    _check("feature_alpha_dropout", input, p, inplace, training)
    if training and 0 < p < 1 and input.ndim < 2:  # eval, p = 0 and p = 1 take any rank, as PyTorch
        raise ShapeError(fmt("feature_alpha_dropout", "feature dropout needs at least 2 dims (N, C, *)", x=input))
    return _alpha_dropout(input, p, training, group=math.prod(input.shape[2:]))


def _alpha_dropout(input, p, training, group):
    """The alpha dropout map with one mask entry per ``group`` consecutive elements (1, or a channel's plane)."""
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    alpha = -_SELU_SCALE * _SELU_ALPHA
    a = ((1 - p) * (1 + p * alpha**2)) ** -0.5
    ones = Tensor._wrap(backend.get_xp(input.data).ones_like(input.data))
    keep = Dropout.apply(ones, seed=random.next_seed(), threshold=_threshold(p), scale=1.0, group=max(group, 1))
    return (input * keep + alpha * (1 - keep)) * a - a * alpha * p  # keep: 0 / 1


class Dropout(Function):
    """y = x * keep * scale with keep regenerated from the seed in backward (nothing stored but the seed).

    Lecture:  "Dropout regularization"
    Forward:  y = x * keep * scale, keep ~ Bernoulli(1 - p), scale = 1/(1-p)
    Backward: gx = gy * keep * scale (the same mask, regenerated from the seed)
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, seed, threshold, scale, group):
        self.options = (seed, threshold, scale, group)
        self.apply_mask = _dropout_fwd_gpu if backend.on_gpu(x) else _dropout_fwd_cpu  # the one dispatch
        # ascontiguousarray makes a 0-d array 1-D: reshape keeps PyTorch's shape () for a 0-d tensor
        return self.apply_mask(backend.get_xp(x).ascontiguousarray(x).reshape(x.shape), *self.options)

    def backward(self, gy):
        # the map is linear in x, so its backward is the same map applied to gy (same seed -> same mask)
        return self.apply_mask(backend.get_xp(gy).ascontiguousarray(gy).reshape(gy.shape), *self.options)


# ----------------------------------------------------------------------------- helpers


def _check(op, x, p, inplace, training=True):
    if not isinstance(x, Tensor):
        raise TypeError(fmt(op, f"expected a Tensor, got {type(x).__name__}"))
    if training and x.dtype.kind != "f":  # in eval dropout is the identity for any dtype, as PyTorch
        raise DTypeError(fmt(op, f"x has dtype {x.dtype}; expected float32 or float64", x=x))
    if not 0.0 <= p <= 1.0:  # also false for nan
        raise ValueError(fmt(op, f"dropout probability has to be between 0 and 1, but got {p}"))
    if inplace:
        raise ValueError(fmt(op, "inplace=True is not supported", hint="use y = dropout(x, p) instead"))


def _channel_dropout(op, input, p, training, inplace, spatial_dims, legacy=None):
    """Channel dropout: one mask entry per (sample, channel), shared by its spatial_dims[rank] last dims.

    ``legacy(rank)``: the shared trailing dims for the other ranks PyTorch still takes (with its
    deprecation warning), or None where it refuses.
    """
    _check(op, input, p, inplace, training)
    trailing = spatial_dims.get(input.ndim)
    if trailing is None and legacy is not None and legacy(input.ndim) is not None:
        trailing = legacy(input.ndim)
        warnings.warn(f"{op}: Received a {input.ndim}-D input to {op}, which is deprecated and will result in an "
                      "error in a future release. To retain the behavior and silence this warning, please use "
                      "dropout instead.", UserWarning, stacklevel=3)  # fmt: skip
    if trailing is None:
        ranks = " or ".join(f"{r}-D" for r in spatial_dims)
        raise ShapeError(fmt(op, f"expected a {ranks} input, got {input.ndim}-D", x=input,
                             hint="use dropout for element-wise dropout"))  # fmt: skip
    group = math.prod(input.shape[input.ndim - trailing :])
    return _dropout(input, p, training, group)


def _per_sample_channel(rank):
    """dropout2d's other ranks in PyTorch: one mask entry per (N, C), the rest shared (None below 2 dims)."""
    return rank - 2 if rank >= 2 else None


def _per_first_dim(rank):
    """dropout3d's other ranks in PyTorch: read as unbatched, one mask entry per index of dim 0."""
    return rank - 1 if rank >= 1 else None


def _dropout(input, p, training, group):
    if not training or p == 0:
        return input
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return Dropout.apply(input, seed=random.next_seed(), threshold=_threshold(p), scale=scale, group=max(int(group), 1))


def _threshold(p):
    """Drop entry k iff u_k < round(p 2^32): probability p up to 2^-33 (p = 1 drops every entry)."""
    return int(round(float(p) * 2.0**32))


def philox4x32_10(counter, key):
    """Philox4x32-10 of 4 counter words (uint32 values, arrays broadcast together) and 2 key words (ints).

    Returns the 4 output words as uint32 arrays.  Known answer (Random123): counter 0, key 0 ->
    (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8).  The words are held in uint64 so that the
    32 x 32 -> 64-bit products are exact (every word stays below 2^32), and updated in place:
    this loop is the CPU cost of dropout.
    """
    words = numpy.broadcast_arrays(*(numpy.asarray(c, dtype=numpy.uint64) & _LOW for c in counter))
    c0, c1, c2, c3 = (numpy.array(w) for w in words)  # writable copies
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    product0, product1 = numpy.empty_like(c0), numpy.empty_like(c0)
    for round_ in range(10):
        if round_ > 0:  # key schedule: bumped before rounds 2..10, modulo 2^32
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        numpy.multiply(c0, _M0, out=product0)  # (hi0, lo0) = M0 * c0
        numpy.multiply(c2, _M1, out=product1)  # (hi1, lo1) = M1 * c2
        numpy.right_shift(product1, _32, out=c0)  # c0 <- hi1 ^ c1 ^ k0
        c0 ^= c1
        c0 ^= numpy.uint64(k0)
        numpy.bitwise_and(product1, _LOW, out=c1)  # c1 <- lo1
        numpy.right_shift(product0, _32, out=c2)  # c2 <- hi0 ^ c3 ^ k1
        c2 ^= c3
        c2 ^= numpy.uint64(k1)
        numpy.bitwise_and(product0, _LOW, out=c3)  # c3 <- lo0
    return tuple(c.astype(numpy.uint32) for c in (c0, c1, c2, c3))


def _philox_uint32_cpu(n, seed):
    """u_0 .. u_{n-1}: word k % 4 of Philox4x32-10(counter=(lo32(k/4), hi32(k/4), 0, 0), key=seed)."""
    block = numpy.arange((n + 3) // 4, dtype=numpy.uint64)
    zero = numpy.zeros(1, dtype=numpy.uint32)
    key = (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)
    words = philox4x32_10((block & _LOW, block >> _32, zero, zero), key)
    return numpy.stack(words, axis=1).reshape(-1)[:n]  # (blocks, 4) -> (4 * blocks,) -> (n,)


def _philox_uint32_gpu(n, seed, xp=None):
    """u_0 .. u_{n-1} from kernels/dropout.cu::philox_uint32 (one thread per Philox block of 4 words)."""
    xp = xp or (numpy if backend.emulating() else backend.array_module("cuda"))  # no input array to ask
    out = xp.empty(n, dtype=numpy.uint32)
    kernel = backend.load_kernel("dropout", "philox_uint32", numpy.float32)
    kernel((backend.blocks_for((n + 3) // 4),), (256,), (out, n, seed))
    return out


def _dropout_fwd_cpu(x, seed, threshold, scale, group):
    """y = x * (u_k >= threshold ? scale : 0) with k = flat index // group; x C-contiguous."""
    keep = _philox_uint32_cpu(x.size // group, seed) >= threshold
    factor = numpy.where(keep, x.dtype.type(scale), x.dtype.type(0))  # (n // group,)
    return (x.reshape(-1, group) * factor[:, None]).reshape(x.shape)


def _dropout_fwd_gpu(x, seed, threshold, scale, group):
    """Element dropout: dropout_fwd, one thread per Philox block of 4 elements.  Channel dropout: the
    n // group words u_k first (philox_uint32), then dropout_channel_fwd reads u[i // group]."""
    xp = backend.get_xp(x)
    y = xp.empty_like(x)
    if group == 1:
        kernel = backend.load_kernel("dropout", "dropout_fwd", x.dtype)
        kernel((backend.blocks_for((x.size + 3) // 4),), (256,), (x, y, x.size, seed, threshold, scale))
        return y
    u = _philox_uint32_gpu(x.size // group, seed, xp)
    kernel = backend.load_kernel("dropout", "dropout_channel_fwd", x.dtype)
    kernel((backend.blocks_for(x.size),), (256,), (x, u, y, x.size, group, threshold, scale))
    return y
