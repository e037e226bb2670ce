"""Losses with torch.nn.functional's names and semantics.

Lecture: every training slide ends in a loss; "CNN refresher" (backpropagation from the loss).
cross_entropy with class-index targets is one fused op (log-softmax + negative log-likelihood,
label smoothing and class weights) whose GPU path is kernels/loss.cu; the other losses are
pointwise Functions in array code, reduced afterwards with the differentiable sum/mean ops.

Reductions (PyTorch's): 'none' keeps one loss per element (or per sample/pixel); 'sum' adds
them; 'mean' divides the sum by the number of elements -- except for class-index targets,
where it divides by the summed weights w[t] of the targets that are not ``ignore_index``
(so with no weights, by the number of non-ignored targets), and kl_div's 'batchmean', which
divides by the batch size N.
"""

import numpy

from ..backend import get_xp, load_kernel, on_gpu
from ..errors import DeviceError, DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .activation import log_softmax, pointwise_launch, row_launch, stable_sigmoid
from .arithmetic import unbroadcast

__all__ = [
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "kl_div",
    "CrossEntropy",
    "NLL",
    "BinaryCrossEntropy",
    "BinaryCrossEntropyWithLogits",
    "SquaredError",
    "AbsoluteError",
    "SmoothL1Error",
    "KLDivergence",
]


# ----------------------------------------------------------------------------- class-index losses


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy between class scores and class indices (or class probabilities).

    Lecture: "Image classification" (the classifier's loss); "Segmentation" (a dense classification
              problem: one cross-entropy per pixel, class dim 1).
    Forward:  index targets t: loss_r = (1 - eps) w_t (-log p_{r,t}) + (eps / C) sum_c w_c (-log p_{r,c}),
              p_r = softmax(x_r) over the class dim, eps = label_smoothing; 0 where t = ignore_index.
              probability targets q: loss_r = -sum_c w_c q'_{r,c} log p_{r,c}, q' = (1 - eps) q + eps / C.
    Backward: gx_{r,c} = g_r [p_{r,c} ((1 - eps) w_t + (eps / C) sum_k w_k) - (1 - eps) w_t [c = t] - (eps / C) w_c]
    Shapes:   input (C,) or (N, C) or (N, C, d1, ...); target () / (N,) / (N, d1, ...) of int64 class
              indices, or the shape of input for probabilities; 'none' -> target's shape (the batch shape).
    Args:     weight: (C,) class weights. ignore_index: targets that add no loss and no count (index
              targets only). reduction: 'none' | 'mean' | 'sum'. label_smoothing: eps in [0, 1].
    Raises:   ShapeError / DTypeError / DeviceError for bad input or target, IndexError for a target
              outside [0, C), ValueError for a bad reduction or label_smoothing.
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    _check_scores(op, input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(fmt(op, f"label_smoothing must be in [0, 1], got {label_smoothing}"))
    if _is_float(target) and tuple(target.shape) == input.shape:
        if ignore_index != -100:
            raise ValueError(fmt(op, "ignore_index is only supported for class-index targets", target=target))
        return _soft_cross_entropy(input, target, _check_weight(op, weight, input), reduction, label_smoothing)
    x3, rows, weight = _index_layout(op, input, target, weight, ignore_index)
    loss = CrossEntropy.apply(
        x3, target=rows, weight=weight, ignore_index=int(ignore_index), smoothing=float(label_smoothing)
    )
    return _reduce_rows(loss, rows, weight, ignore_index, reduction, target.shape)


class CrossEntropy(Function):
    """Per-row loss of softmax + NLL fused, with x laid out as (N, C, D); saves lse_r = log sum_c e^x_rc."""

    def forward(self, x3, target, weight, ignore_index, smoothing):
        self.x3, self.target, self.weight = x3, target, weight
        self.options = (ignore_index, smoothing, float(weight.sum()))
        fwd = _softmax_xent_fwd_gpu if on_gpu(x3) else _softmax_xent_fwd_cpu
        loss, self.lse = fwd(x3, target, weight, *self.options)
        return loss

    def backward(self, g):
        bwd = _softmax_xent_bwd_gpu if on_gpu(g) else _softmax_xent_bwd_cpu
        return bwd(self.x3, self.target, self.weight, self.lse, g, *self.options)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of class indices, given log-probabilities (e.g. from log_softmax).

    Forward:  loss_r = -w_t x_{r,t}, 0 where t = ignore_index
    Backward: gx_{r,c} = -w_t g_r [c = t]
    Shapes:   input (C,) or (N, C) or (N, C, d1, ...); target () / (N,) / (N, d1, ...) int64 -> as cross_entropy.
    Raises:   as cross_entropy.
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    _check_scores(op, input)
    x3, rows, weight = _index_layout(op, input, target, weight, ignore_index)
    loss = NLL.apply(x3, target=rows, weight=weight, ignore_index=int(ignore_index))
    return _reduce_rows(loss, rows, weight, ignore_index, reduction, target.shape)


class NLL(Function):
    """Per-row -w_t x_{r,t} with x laid out as (N, C, D); saves the one-hot of t and w_t."""

    def forward(self, x3, target, weight, ignore_index):
        xp = get_xp(x3)
        N, C, D = x3.shape
        self.shape, self.onehot = x3.shape, xp.arange(C).reshape(1, C, 1) == target.reshape(N, 1, D)
        self.w_t = _target_weights(target, weight, ignore_index)  # (N*D,), 0 where ignored
        ignored = target == ignore_index
        t = xp.where(ignored, 0, target).reshape(N, 1, D)
        picked = xp.take_along_axis(x3, t, axis=1).reshape(-1)  # x_{r, t_r}; never 0 * (-inf)
        return xp.where(ignored, 0, -self.w_t * picked).astype(x3.dtype, copy=False)

    def backward(self, g):
        N, C, D = self.shape
        return self.onehot * (-self.w_t * g).reshape(N, 1, D)


def _soft_cross_entropy(input, target, weight, reduction, smoothing):
    """Cross-entropy with class-probability targets, from differentiable ops (gradients for both)."""
    class_dim = 0 if input.ndim == 1 else 1
    C = input.shape[class_dim]
    q = target * (1 - smoothing) + smoothing / C if smoothing else target
    terms = q * log_softmax(input, class_dim)
    if weight is not None:
        terms = terms * Tensor._wrap(weight.reshape((C,) + (1,) * (input.ndim - class_dim - 1)))
    return _reduce(-terms.sum(class_dim), reduction)


def _index_layout(op, input, target, weight, ignore_index):
    """Validate class-index targets and lay input out as (N, C, D), target as (N*D,) int64 rows."""
    if not isinstance(target, Tensor) or target.dtype.kind not in "iu":
        raise DTypeError(
            fmt(
                op,
                "target must be an int64 tensor of class indices (or a float tensor of "
                f"probabilities shaped like input), got {_describe(target)}",
                input=input,
            )
        )
    batch = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if tuple(target.shape) != batch:
        raise ShapeError(
            fmt(
                op,
                f"class-index target must have shape {batch} (input's shape without the class dim)",
                input=(input.shape, "(N, C, d1, ...)"),
                target=(target.shape, "(N, d1, ...)"),
            )
        )
    _same_device(op, input, target)
    C = input.shape[0 if input.ndim == 1 else 1]
    rows = target.data.reshape(-1).astype(numpy.int64)
    bad = (rows != ignore_index) & ((rows < 0) | (rows >= C))
    if bool(bad.any()):
        raise IndexError(
            fmt(
                op,
                f"target {int(rows[bad][0])} is out of bounds for {C} classes",
                target=target,
                hint=f"class indices must be in [0, {C - 1}] or equal ignore_index={ignore_index}",
            )
        )
    weight = _check_weight(op, weight, input)
    weight = get_xp(input.data).ones(C, dtype=input.dtype) if weight is None else weight
    N = input.shape[0] if input.ndim > 1 else 1
    return input.reshape(N, C, -1), rows, weight  # (N, C, d1, ...) -> (N, C, D)


def _reduce_rows(loss, rows, weight, ignore_index, reduction, batch_shape):
    """'none' -> the target's shape; 'sum'; 'mean' -> divide by the summed weights of non-ignored targets."""
    if reduction == "none":
        return loss.reshape(tuple(batch_shape))
    if reduction == "sum":
        return loss.sum()
    total = _target_weights(rows, weight, ignore_index).sum()  # 0 if every target is ignored -> nan, as PyTorch
    return loss.sum() / Tensor._wrap(get_xp(weight).asarray(total))


def _target_weights(rows, weight, ignore_index):
    """w[t_r] per row, 0 where t_r = ignore_index."""
    xp = get_xp(weight)
    ignored = rows == ignore_index
    return xp.where(ignored, 0, weight[xp.where(ignored, 0, rows)]).astype(weight.dtype, copy=False)


def _softmax_xent_fwd_cpu(x3, target, weight, ignore_index, smoothing, weight_sum):
    N, C, D = x3.shape
    m = x3.max(axis=1, keepdims=True)
    with numpy.errstate(under="ignore"):
        lse = m + numpy.log(numpy.exp(x3 - m).sum(axis=1, keepdims=True))  # (N, 1, D)
    t = numpy.where(target == ignore_index, 0, target).reshape(N, 1, D)
    nll = lse - numpy.take_along_axis(x3, t, axis=1)  # -log p_t
    smooth = weight_sum * lse - (weight.reshape(1, C, 1) * x3).sum(axis=1, keepdims=True)  # -sum_c w_c log p_c
    loss = (1 - smoothing) * weight[t] * nll + smoothing / C * smooth
    return numpy.where(target == ignore_index, 0, loss.reshape(-1)).astype(x3.dtype), lse.reshape(-1)


def _softmax_xent_fwd_gpu(x3, target, weight, ignore_index, smoothing, weight_sum):
    xp = get_xp(x3)
    N, C, D = x3.shape
    x3 = xp.ascontiguousarray(x3)
    loss, lse = xp.empty(N * D, dtype=x3.dtype), xp.empty(N * D, dtype=x3.dtype)
    grid, block = row_launch(N * D, C, _XENT_THREADS)  # many pixels per block when C is small
    load_kernel("loss", "softmax_xent_fwd", x3.dtype)(
        grid,
        block,
        (x3, target, xp.ascontiguousarray(weight), loss, lse, N * D, C, D, ignore_index, smoothing, weight_sum),
    )
    return loss, lse


def _softmax_xent_bwd_cpu(x3, target, weight, lse, g, ignore_index, smoothing, weight_sum):
    N, C, D = x3.shape
    ignored = (target == ignore_index).reshape(N, 1, D)
    t = numpy.where(ignored, 0, target.reshape(N, 1, D))
    with numpy.errstate(under="ignore"):
        p = numpy.exp(x3 - lse.reshape(N, 1, D))  # softmax, from the saved log-sum-exp
    pull, spread = (1 - smoothing) * weight[t], smoothing / C  # one-hot and uniform parts of the target
    gx = p * (pull + spread * weight_sum) - (numpy.arange(C).reshape(1, C, 1) == t) * pull
    gx = gx - spread * weight.reshape(1, C, 1)
    return numpy.where(ignored, 0, gx * g.reshape(N, 1, D)).astype(x3.dtype)


def _softmax_xent_bwd_gpu(x3, target, weight, lse, g, ignore_index, smoothing, weight_sum):
    xp = get_xp(x3)
    N, C, D = x3.shape
    gx, g = xp.empty((N, C, D), dtype=x3.dtype), xp.ascontiguousarray(g, dtype=x3.dtype)
    grid, block = pointwise_launch(gx.size, _XENT_THREADS)  # one thread per element of x
    load_kernel("loss", "softmax_xent_bwd", x3.dtype)(
        grid,
        block,
        (
            xp.ascontiguousarray(x3),
            target,
            xp.ascontiguousarray(weight),
            lse,
            g,
            gx,
            N * D,
            C,
            D,
            ignore_index,
            smoothing,
            weight_sum,
        ),
    )
    return gx


_XENT_THREADS = 256  # XENT_THREADS in kernels/loss.cu


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
    loss = BinaryCrossEntropy.apply(input, target)
    return _reduce(_weighted(op, loss, weight), reduction)


class BinaryCrossEntropy(Function):
    """Elementwise BCE on probabilities; saves x, t and the clamped logs."""

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
    return _reduce(_weighted(op, loss, weight), reduction)


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise BCE on logits; saves x, t, pos_weight and softplus(-x)."""

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
    return _reduce(SquaredError.apply(input, target), reduction)


class SquaredError(Function):
    """Elementwise (x - t)^2; saves x - t."""

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
    return _reduce(AbsoluteError.apply(input, target), reduction)


class AbsoluteError(Function):
    """Elementwise |x - t|; saves sign(x - t)."""

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
    return _reduce(SmoothL1Error.apply(input, target, beta=float(beta)), reduction)


class SmoothL1Error(Function):
    """Elementwise smooth L1; saves the slope d / beta or sign(d)."""

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
    Backward: gx = -gy t (or -gy e^t);  gt = gy (log t + 1 - x), 0 where t = 0 (or gy e^t (t + 1 - x))
    Shapes:   input and target broadcastable -> () or the broadcast shape for 'none'
    Args:     reduction: 'none' | 'sum' | 'mean' (over all elements) | 'batchmean' (sum / N: the true KL).
    """
    _check_pair("kl_div", input, target, reduction, allowed=("none", "mean", "sum", "batchmean"))
    loss = KLDivergence.apply(input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


class KLDivergence(Function):
    """Elementwise t (log t - x) (or e^t (t - x)); saves x, t and log t."""

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
            gt = get_xp(gy).where(self.t == 0, 0, gy * (self.log_t + 1 - self.x))
        return unbroadcast(gx, self.shapes[0]), unbroadcast(gt, self.shapes[1])


# ----------------------------------------------------------------------------- validation and reduction

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction):
    """'none' -> loss itself; 'sum' -> its sum; 'mean' -> its mean (differentiable ops)."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _check_reduction(op, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(fmt(op, f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}"))


def _is_float(t):
    return isinstance(t, Tensor) and t.dtype.kind == "f"


def _describe(value):
    return f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__


def _check_scores(op, input):
    if not _is_float(input):
        raise DTypeError(fmt(op, f"input must be a float tensor, got {_describe(input)}"))
    if input.ndim == 0 or input.shape[0 if input.ndim == 1 else 1] == 0:
        raise ShapeError(fmt(op, "input must have a non-empty class dim", input=(input.shape, "(N, C, d1, ...)")))


def _check_pair(op, input, target, reduction, same_shape=False, allowed=_REDUCTIONS):
    _check_reduction(op, reduction, allowed)
    for name, value in (("input", input), ("target", target)):
        if not _is_float(value):
            raise DTypeError(
                fmt(op, f"{name} must be a float tensor, got {_describe(value)}", hint="convert it with .float()")
            )
    _same_device(op, input, target)
    if same_shape and input.shape != target.shape:
        raise ShapeError(fmt(op, "target must have the same shape as input", input=input, target=target))
    try:
        numpy.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ShapeError(fmt(op, "input and target shapes do not broadcast", input=input, target=target)) from None


def _same_device(op, a, b):
    if a.device != b.device:
        raise DeviceError(
            fmt(op, f"input is on {a.device} but target is on {b.device}", hint=f"move target with .to('{a.device}')")
        )


def _check_weight(op, weight, input):
    """Class weights: a float (C,) tensor on input's device -> its array (None stays None)."""
    if weight is None:
        return None
    C = input.shape[0 if input.ndim == 1 else 1]
    if not _is_float(weight) or weight.shape != (C,):
        raise ShapeError(
            fmt(
                op,
                f"weight must be a float tensor of shape ({C},), one per class",
                weight=weight,
                input=(input.shape, "(N, C, d1, ...)"),
            )
        )
    _same_device(op, input, weight)
    return weight.data.astype(input.dtype, copy=False)


def _broadcastable(op, name, value, input):
    """An optional tensor that must broadcast to input's shape without growing it -> its array or None."""
    if value is None:
        return None
    if not _is_float(value) or value.device != input.device:
        raise DTypeError(fmt(op, f"{name} must be a float tensor on {input.device}, got {_describe(value)}"))
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
