"""Pointwise losses with torch.nn.functional's names and semantics: bce, mse, l1, smooth_l1, kl_div.

Lecture: every training slide ends in a loss; "CNN refresher" (backpropagation from the loss).
Each loss here is a pointwise Function in array code, reduced afterwards with the differentiable
sum/mean ops.  The class-index losses cross_entropy and nll_loss, and the fused softmax
cross-entropy kernels (kernels/cross_entropy.cu), are in ops/cross_entropy.py; they are
re-exported here so that ``tinygrad_med.ops.loss.cross_entropy`` keeps working.

Reductions (PyTorch's): 'none' keeps one loss per element; 'sum' adds them; 'mean' divides the
sum by the number of elements -- except kl_div's 'batchmean', which divides by the batch size N.
"""

import numpy

from ..backend import get_xp
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from .activation import stable_sigmoid
from .arithmetic import unbroadcast
from .cross_entropy import NLL, CrossEntropy, cross_entropy, nll_loss
from .loss_args import REDUCTIONS, check_float, check_reduction, describe, is_float, reduce_loss, same_device

__all__ = [
    "cross_entropy",  # re-exported from ops/cross_entropy.py
    "nll_loss",  # re-exported from ops/cross_entropy.py
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "kl_div",
    "CrossEntropy",  # re-exported from ops/cross_entropy.py
    "NLL",  # re-exported from ops/cross_entropy.py
    "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits",
    "SquaredError",
    "AbsoluteError",
    "SmoothL1Error",
    "KLDivergence",
]


# ----------------------------------------------------------------------------- binary cross-entropy


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy between probabilities and targets in [0, 1].

    Forward:  loss = -w [t log x + (1 - t) log(1 - x)], each log clamped to >= -100 (as PyTorch)
    Backward: gx = gy w (x - t) / max(x (1 - x), 1e-12);  gt = gy w (log(1 - x) - log x)
    Shapes:   input (...), target (...) same shape, weight broadcastable to it -> () or (...) for 'none'
    Raises:   ShapeError if the shapes differ; ValueError if input leaves [0, 1].
    """
    op = "binary_cross_entropy"
    _check_pair(op, input, target, reduction, same_shape=True)
    if bool(((input.data < 0) | (input.data > 1)).any()):
        raise ValueError(
            fmt(
                op,
                "all elements of input must be probabilities in [0, 1]",
                input=input,
                hint="apply sigmoid first, or use binary_cross_entropy_with_logits",
            )
        )
    if target.dtype != input.dtype:  # PyTorch does not promote here (binary_cross_entropy_with_logits does)
        raise DTypeError(fmt(op, f"expected target to have input's dtype {input.dtype}, got {target.dtype}"))
    loss = BinaryCrossEntropy.apply(input, target)
    return reduce_loss(_weighted(op, loss, weight), reduction)


class BinaryCrossEntropy(Function):
    """Elementwise BCE on probabilities; saves x, t and the clamped logs.

    Lecture:  "Image classification"
    Forward:  l = -(t log x + (1 - t) log(1 - x)), logs clamped at -100
    Backward: gx = gy (x - t) / (x (1 - x)) (clamped), gt = gy (log(1 - x) - log x)
    Shapes:   x, t (*) -> l (*)
    """

    def forward(self, x, t):
        xp = get_xp(x)
        self.x, self.t = x, t
        with numpy.errstate(divide="ignore"):  # log 0 = -inf, clamped to -100 below
            self.log_x, self.log_1mx = xp.maximum(xp.log(x), -100), xp.maximum(xp.log1p(-x), -100)
        return (-(t * self.log_x + (1 - t) * self.log_1mx)).astype(x.dtype, copy=False)

    def backward(self, gy):
        xp = get_xp(gy)
        gx = gy * (self.x - self.t) / xp.maximum(self.x * (1 - self.x), 1e-12)
        return gx, gy * (self.log_1mx - self.log_x)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable formula, on logits x.

    Forward:  loss = w [(1 - t) x + l (log(1 + e^{-|x|}) + max(-x, 0))],  l = 1 + (pos_weight - 1) t
              (the second term is -log sigma(x) without overflow)
    Backward: gx = gy w [(1 - t) - l sigma(-x)];  gt = gy w [-x + (pos_weight - 1) softplus(-x)]
    Shapes:   input (...), target same shape; weight broadcastable to it; pos_weight broadcastable
              along the last (class) dim, e.g. (C,) -> () or (...) for 'none'
    Raises:   ShapeError if the shapes differ or do not broadcast.
    """
    op = "binary_cross_entropy_with_logits"
    _check_pair(op, input, target, reduction, same_shape=True)
    pw = _broadcastable(op, "pos_weight", pos_weight, input)
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight=pw)
    return reduce_loss(_weighted(op, loss, weight), reduction)


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise BCE on logits; saves x, t, pos_weight and softplus(-x).

    Lecture:  "Image classification"
    Forward:  l = (1 - t) x + (1 + (pw - 1) t) softplus(-x)
    Backward: gx = gy ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)); gt = gy (-x + (pw - 1) softplus(-x))
    Shapes:   x, t (*), pos_weight broadcastable -> l (*)
    """

    def forward(self, x, t, pos_weight):
        xp = get_xp(x)
        self.x, self.t, self.pw = x, t, pos_weight
        with numpy.errstate(under="ignore"):
            self.softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # -log sigma(x)
        self.l = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        return ((1 - t) * x + self.l * self.softplus_neg).astype(x.dtype, copy=False)

    def backward(self, gy):
        gx = gy * ((1 - self.t) - self.l * stable_sigmoid(-self.x))
        gt = gy * (-self.x + (0 if self.pw is None else (self.pw - 1) * self.softplus_neg))
        return gx, gt


# ----------------------------------------------------------------------------- regression losses


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (reconstruction loss of the autoencoders).

    Lecture: "Convolutional autoencoder" (reconstruction error).
    Forward:  loss = (x - t)^2, then reduced
    Backward: gx = 2 gy (x - t);  gt = -gx  (each summed over its broadcast dims)
    Shapes:   input and target broadcastable (PyTorch broadcasts too) -> () or the broadcast shape for 'none'
    Raises:   DTypeError for non-float input or target; ShapeError if they do not broadcast.
    """
    _check_pair("mse_loss", input, target, reduction)
    return reduce_loss(SquaredError.apply(input, target), reduction)


class SquaredError(Function):
    """Elementwise (x - t)^2; saves x - t.

    Lecture:  "Semantic segmentation" (regression losses)
    Forward:  l = (x - t)^2
    Backward: gx = 2 gy (x - t), gt = -gx
    Shapes:   x, t broadcastable -> l (broadcast shape)
    """

    def forward(self, x, t):
        self.d, self.shapes = x - t, (x.shape, t.shape)
        return self.d * self.d

    def backward(self, gy):
        g = 2 * gy * self.d
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error.

    Forward:  loss = |x - t|, then reduced
    Backward: gx = gy sign(x - t) (0 at x = t, as PyTorch);  gt = -gx
    Shapes:   as mse_loss.
    Raises:   as mse_loss.
    """
    _check_pair("l1_loss", input, target, reduction)
    return reduce_loss(AbsoluteError.apply(input, target), reduction)


class AbsoluteError(Function):
    """Elementwise |x - t|; saves sign(x - t).

    Lecture:  "Semantic segmentation" (regression losses)
    Forward:  l = |x - t|
    Backward: gx = gy sign(x - t), gt = -gx
    Shapes:   x, t broadcastable -> l (broadcast shape)
    """

    def forward(self, x, t):
        xp = get_xp(x)
        d = x - t
        self.sign, self.shapes = xp.sign(d), (x.shape, t.shape)
        return xp.abs(d)

    def backward(self, gy):
        g = gy * self.sign
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Smooth L1 (Huber / beta) loss, as in Fast R-CNN's box regression.

    Lecture: "Object detection - Fast R-CNN [Girshick, 2015]" (box regression; Faster R-CNN's multitask loss).
    Forward:  d = x - t;  loss = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta  (beta = 0: |d|)
    Backward: gx = gy d / beta if |d| < beta else gy sign(d);  gt = -gx
    Raises:   ValueError for beta < 0.
    """
    _check_pair("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise ValueError(fmt("smooth_l1_loss", f"beta must be >= 0, got {beta}"))
    return reduce_loss(SmoothL1Error.apply(input, target, beta=float(beta)), reduction)


class SmoothL1Error(Function):
    """Elementwise smooth L1; saves the slope d / beta or sign(d).

    Lecture:  "Object detection - Fast R-CNN" (box regression)
    Forward:  l = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta, d = x - t
    Backward: gx = gy (d / beta or sign(d)), gt = -gx
    Shapes:   x, t broadcastable -> l (broadcast shape)
    """

    def forward(self, x, t, beta):
        xp = get_xp(x)
        d = x - t
        self.shapes, self.quadratic = (x.shape, t.shape), xp.abs(d) < beta
        self.slope = xp.where(self.quadratic, d / (beta if beta else 1), xp.sign(d))
        return xp.where(self.quadratic, 0.5 * d * d / (beta if beta else 1), xp.abs(d) - 0.5 * beta)

    def backward(self, gy):
        g = gy * self.slope
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


# ----------------------------------------------------------------------------- KL divergence


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence KL(target || model), with input the model's log-probabilities.

    Lecture: "Variational autoencoder (VAE)" (the term that pulls the encoding towards N(0, I)).
    Forward:  loss = t (log t - x), 0 where t = 0;  with log_target: loss = e^t (t - x)
    Backward: gx = -gy t (or -gy e^t);  gt = gy (log t + 1 - x), nan where t <= 0 as PyTorch (d(t log t)/dt
              has no value there) (or gy e^t (t + 1 - x))
    Shapes:   input and target broadcastable -> () or the broadcast shape for 'none'
    Args:     reduction: 'none' | 'sum' | 'mean' (over all elements) | 'batchmean' (sum / N: the true KL).
    """
    _check_pair("kl_div", input, target, reduction, allowed=(*REDUCTIONS, "batchmean"))
    loss = KLDivergence.apply(input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return reduce_loss(loss, reduction)


class KLDivergence(Function):
    """Elementwise t (log t - x) (or e^t (t - x)); saves x, t and log t.

    Lecture:  "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)"
    Forward:  l = t (log t - x) (0 where t = 0); log_target: l = e^t (t - x)
    Backward: gx = -gy t (or -gy e^t); gt = gy (log t + 1 - x) (or gy e^t (t - x + 1))
    Shapes:   x, t broadcastable -> l
    """

    def forward(self, x, t, log_target):
        xp = get_xp(x)
        self.x, self.t, self.log_target, self.shapes = x, t, log_target, (x.shape, t.shape)
        if log_target:
            self.p = xp.exp(t)  # target probabilities
            return self.p * (t - x)
        self.p, self.log_t = t, xp.log(xp.where(t > 0, t, 1))  # log t, with 0 log 0 = 0
        entropy = xp.where(t > 0, t * self.log_t, xp.where(t == 0, 0, xp.nan))  # t log t; nan for t < 0
        return (entropy - t * x).astype(x.dtype, copy=False)

    def backward(self, gy):
        gx = -gy * self.p
        if self.log_target:
            gt = gy * self.p * (self.t + 1 - self.x)
        else:
            gt = get_xp(gy).where(self.t > 0, gy * (self.log_t + 1 - self.x), get_xp(gy).nan)
        return unbroadcast(gx, self.shapes[0]), unbroadcast(gt, self.shapes[1])


# ----------------------------------------------------------------------------- validation


def _check_pair(op, input, target, reduction, same_shape=False, allowed=REDUCTIONS):
    check_reduction(op, reduction, allowed)
    for name, value in (("input", input), ("target", target)):
        check_float(op, name, value, hint="convert it with .float()")
    same_device(op, input, target)
    if same_shape and input.shape != target.shape:
        raise ShapeError(fmt(op, "target must have the same shape as input", input=input, target=target))
    try:
        numpy.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ShapeError(fmt(op, "input and target shapes do not broadcast", input=input, target=target)) from None


def _broadcastable(op, name, value, input):
    """An optional tensor that must broadcast to input's shape without growing it -> its array or None."""
    if value is None:
        return None
    if not is_float(value) or value.device != input.device:
        raise DTypeError(fmt(op, f"{name} must be a float tensor on {input.device}, got {describe(value)}"))
    try:
        ok = numpy.broadcast_shapes(value.shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(fmt(op, f"{name} must broadcast to input's shape", input=input, **{name: value}))
    return value.data


def _weighted(op, loss, weight):
    """loss * weight (weight broadcast to loss's shape), or loss if weight is None."""
    if weight is None:
        return loss
    _broadcastable(op, "weight", weight, loss)
    return loss * weight
