"""Class-index losses: softmax cross-entropy (fused, with its own CUDA kernels) and NLL.

Lecture: "Image classification" (the classifier's loss); "Segmentation" (one cross-entropy per
pixel); "CNN refresher" (backpropagation from the loss).
cross_entropy with class-index targets is one fused op (log-softmax + negative log-likelihood,
label smoothing and class weights): ops/cross_entropy.py::_softmax_xent_fwd_gpu launches
kernels/cross_entropy.cu::softmax_xent_fwd (and _bwd likewise); with class-probability targets it
is composed of log_softmax and the differentiable reductions.  nll_loss is its second half alone.

Reductions (PyTorch's): 'none' keeps one loss per sample/pixel; 'sum' adds them; 'mean' divides
by the summed weights w[t] of the targets that are not ``ignore_index`` (so with no weights, by
the number of non-ignored targets); probability targets' 'mean' divides by the number of rows.
The pointwise losses (bce, mse, l1, smooth_l1, kl_div) are in ops/loss.py.
"""

import math

import numpy

from ..backend import get_xp, launch, on_gpu
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .loss_args import check_float, check_reduction, describe, is_float, reduce_loss, same_device
from .softmax import log_softmax

__all__ = ["cross_entropy", "nll_loss", "CrossEntropy", "NLL"]


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
    check_reduction(op, reduction)
    _check_scores(op, input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(fmt(op, f"label_smoothing must be in [0, 1], got {label_smoothing}"))
    if is_float(target) and tuple(target.shape) == input.shape:
        if ignore_index != -100:
            raise ValueError(fmt(op, "ignore_index is only supported for class-index targets", target=target))
        return _soft_cross_entropy(input, target, _check_weight(op, weight, input), reduction, label_smoothing)
    x3, rows, weight = _index_layout(op, input, target, weight, ignore_index)
    loss = CrossEntropy.apply(
        x3, target=rows, weight=weight, ignore_index=int(ignore_index), smoothing=float(label_smoothing)
    )
    return _reduce_rows(loss, rows, weight, ignore_index, reduction, target.shape)


class CrossEntropy(Function):
    """Per-row loss of softmax + NLL fused, with x laid out as (N, C, S); saves lse_r = log sum_c e^x_rc.

    Lecture:  "Image classification" (softmax and the cross-entropy loss)
    Forward:  loss_r = w_t (lse_r - x_{r,t}) (label smoothing eps: (1-eps) that + eps/C sum_c w_c (lse_r -
              x_rc))
    Backward: gx_rc = g_r (w_t softmax_rc - w_t [c == t]) (smoothing mixes in eps/C terms); 0 for ignored rows
    Shapes:   x (N, C, S), target (N*S,) -> loss (N*S,)
    """

    def forward(self, x3, target, weight, ignore_index, smoothing):
        self.x3, self.target, self.weight = x3, target, weight
        weight_sum = float(weight.sum()) if smoothing else 0.0  # only label smoothing uses it (no GPU sync else)
        self.options = (ignore_index, smoothing, weight_sum)
        if x3.size == 0:  # N = 0 (or an empty d1...): no row, no loss, and no kernel launch with an empty grid
            self.lse = get_xp(x3).zeros(0, x3.dtype)
            return get_xp(x3).zeros(0, x3.dtype)
        fwd = _softmax_xent_fwd_gpu if on_gpu(x3) else _softmax_xent_fwd_cpu
        loss, self.lse = fwd(x3, target, weight, *self.options)
        return loss

    def backward(self, g):
        if self.x3.size == 0:
            return get_xp(g).zeros(self.x3.shape, self.x3.dtype)
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
    check_reduction(op, reduction)
    _check_scores(op, input)
    x3, rows, weight = _index_layout(op, input, target, weight, ignore_index)
    loss = NLL.apply(x3, target=rows, weight=weight, ignore_index=int(ignore_index))
    return _reduce_rows(loss, rows, weight, ignore_index, reduction, target.shape)


class NLL(Function):
    """Per-row -w_t x_{r,t} with x laid out as (N, C, S); saves the one-hot of t and w_t.

    Lecture:  "Image classification"
    Forward:  loss_r = -w_t x_{r,t}, 0 where t == ignore_index
    Backward: gx_rc = -w_t g_r [c == t]
    Shapes:   x (N, C, S), target (N, S) -> loss (N*S,)
    """

    def forward(self, x3, target, weight, ignore_index):
        xp = get_xp(x3)
        N, C, S = x3.shape
        self.shape, self.onehot = x3.shape, xp.arange(C).reshape(1, C, 1) == target.reshape(N, 1, S)
        self.w_t = _target_weights(target, weight, ignore_index)  # (N*S,), 0 where ignored
        ignored = target == ignore_index
        t = xp.where(ignored, 0, target).reshape(N, 1, S)
        picked = xp.take_along_axis(x3, t, axis=1).reshape(-1)  # x_{r, t_r}; never 0 * (-inf)
        return xp.where(ignored, 0, -self.w_t * picked).astype(x3.dtype, copy=False)

    def backward(self, g):
        N, C, S = self.shape
        return self.onehot * (-self.w_t * g).reshape(N, 1, S)


def _soft_cross_entropy(input, target, weight, reduction, smoothing):
    """Cross-entropy with class-probability targets, from differentiable ops (gradients for both)."""
    class_dim = 0 if input.ndim == 1 else 1
    C = input.shape[class_dim]
    q = target * (1 - smoothing) + smoothing / C if smoothing else target
    terms = q * log_softmax(input, class_dim)
    if weight is not None:
        terms = terms * Tensor._wrap(weight.reshape((C,) + (1,) * (input.ndim - class_dim - 1)))
    return reduce_loss(-terms.sum(class_dim), reduction)


def _index_layout(op, input, target, weight, ignore_index):
    """Validate class-index targets and lay input out as (N, C, S), target as (N*S,) int64 rows."""
    if not isinstance(target, Tensor) or target.dtype.kind not in "iu":
        raise DTypeError(
            fmt(
                op,
                "target must be an int64 tensor of class indices (or a float tensor of "
                f"probabilities shaped like input), got {describe(target)}",
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
    same_device(op, input, target)
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
    S = math.prod(input.shape[2:])  # not -1: N may be 0
    return input.reshape(N, C, S), rows, weight  # (N, C, d1, ...) -> (N, C, S)


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
    N, C, S = x3.shape
    m = x3.max(axis=1, keepdims=True)
    with numpy.errstate(under="ignore"):
        lse = m + numpy.log(numpy.exp(x3 - m).sum(axis=1, keepdims=True))  # (N, 1, S)
    t = numpy.where(target == ignore_index, 0, target).reshape(N, 1, S)
    nll = lse - numpy.take_along_axis(x3, t, axis=1)  # -log p_t
    smooth = weight_sum * lse - (weight.reshape(1, C, 1) * x3).sum(axis=1, keepdims=True)  # -sum_c w_c log p_c
    loss = (1 - smoothing) * weight[t] * nll + smoothing / C * smooth
    return numpy.where(target == ignore_index, 0, loss.reshape(-1)).astype(x3.dtype), lse.reshape(-1)


def _softmax_xent_fwd_gpu(x3, target, weight, ignore_index, smoothing, weight_sum):
    xp = get_xp(x3)
    N, C, S = x3.shape
    x3 = xp.ascontiguousarray(x3)
    loss, lse = xp.empty(N * S, dtype=x3.dtype), xp.empty(N * S, dtype=x3.dtype)
    # about _CLASSES_PER_THREAD classes per thread: C = 1000 gets 128 threads a row and 2 rows a block (one
    # tree of 7 steps per row); C = 2 (segmentation) gets 1 thread a pixel and 256 pixels a block
    args = (x3, target, xp.ascontiguousarray(weight), loss, lse, N * S, C, S, ignore_index, smoothing, weight_sum)
    launch(
        "cross_entropy",
        "softmax_xent_fwd",
        N * S,
        args,
        x3.dtype,
        _XENT_THREADS,
        row_length=-(-C // _CLASSES_PER_THREAD),
    )
    return loss, lse


def _softmax_xent_bwd_cpu(x3, target, weight, lse, g, ignore_index, smoothing, weight_sum):
    N, C, S = x3.shape
    ignored = (target == ignore_index).reshape(N, 1, S)
    t = numpy.where(ignored, 0, target.reshape(N, 1, S))
    with numpy.errstate(under="ignore"):
        p = numpy.exp(x3 - lse.reshape(N, 1, S))  # softmax, from the saved log-sum-exp
    pull, spread = (1 - smoothing) * weight[t], smoothing / C  # one-hot and uniform parts of the target
    gx = p * (pull + spread * weight_sum) - (numpy.arange(C).reshape(1, C, 1) == t) * pull
    gx = gx - spread * weight.reshape(1, C, 1)
    return numpy.where(ignored, 0, gx * g.reshape(N, 1, S)).astype(x3.dtype)


def _softmax_xent_bwd_gpu(x3, target, weight, lse, g, ignore_index, smoothing, weight_sum):
    xp = get_xp(x3)
    N, C, S = x3.shape
    gx, g = xp.empty((N, C, S), dtype=x3.dtype), xp.ascontiguousarray(g, dtype=x3.dtype)
    arrays = (xp.ascontiguousarray(x3), target, xp.ascontiguousarray(weight), lse, g, gx)
    args = (*arrays, N * S, C, S, ignore_index, smoothing, weight_sum)
    launch("cross_entropy", "softmax_xent_bwd", gx.size, args, x3.dtype, _XENT_THREADS)  # one thread per element of x
    return gx


_XENT_THREADS = 256  # XENT_THREADS in kernels/cross_entropy.cu
_CLASSES_PER_THREAD = 8  # forward: a row's classes per thread (a longer loop, a shorter tree)


# ----------------------------------------------------------------------------- validation


def _check_scores(op, input):
    check_float(op, "input", input)
    if input.ndim == 0 or input.shape[0 if input.ndim == 1 else 1] == 0:
        raise ShapeError(fmt(op, "input must have a non-empty class dim", input=(input.shape, "(N, C, d1, ...)")))


def _check_weight(op, weight, input):
    """Class weights: a float (C,) tensor on input's device -> its array (None stays None)."""
    if weight is None:
        return None
    C = input.shape[0 if input.ndim == 1 else 1]
    if not is_float(weight) or weight.shape != (C,):
        raise ShapeError(
            fmt(
                op,
                f"weight must be a float tensor of shape ({C},), one per class",
                weight=weight,
                input=(input.shape, "(N, C, d1, ...)"),
            )
        )
    if weight.dtype != input.dtype:  # PyTorch: "expected scalar type Float but found Double"
        raise DTypeError(fmt(op, f"expected weight to have input's dtype {input.dtype}, got {weight.dtype}"))
    same_device(op, input, weight)
    return weight.data
