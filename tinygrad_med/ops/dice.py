"""Soft Dice loss (binary and multi-class, 2D and 3D) and Dice + cross-entropy.

Lecture: "SEMANTIC SEGMENTATION - V-Net [Milletari et al., 2016]" (the Dice coefficient as a training objective for
unbalanced foreground/background).
Reference: Milletari, Navab and Ahmadi, "V-Net: Fully Convolutional Neural Networks for
Volumetric Medical Image Segmentation", 3DV 2016, arXiv:1606.04797 (eq. 1, squared denominator).
PyTorch has no Dice loss; the names follow MONAI's DiceLoss / DiceCELoss.

Composed from differentiable tensor ops (softmax/sigmoid, mul, sum, div), so the backward pass is
the chain rule through those ops; the test file gradient-checks it against central differences.

    p = softmax(logits, dim=1)  (C >= 2)    or  sigmoid(logits)  (C = 1, binary)
    g = one-hot(target)
    D_c = (2 sum_i p_ic g_ic + eps) / (sum_i p_ic^s + sum_i g_ic^s + eps),  s = 2 (V-Net) or 1
    loss = 1 - mean_c D_c
    dD_c/dp_ic = (2 g_ic (P_c + G_c + eps) - s p_ic^(s-1) (2 I_c + eps)) / (P_c + G_c + eps)^2
"""

import numpy

from ..errors import DTypeError, ShapeError, fmt
from ..tensor import Tensor

__all__ = ["soft_dice", "dice_loss", "dice_ce_loss", "one_hot_labels"]


def one_hot_labels(target, num_classes, like):
    """Integer labels (N, *S) -> a float one-hot Tensor (N, C, *S) on ``like``'s device and dtype.

    Raises:
        ShapeError if a label is outside 0..num_classes-1.
    """
    from ..backend import get_xp, to_device

    labels = target.data if isinstance(target, Tensor) else numpy.asarray(target)
    xp = get_xp(like.data)
    labels = xp.asarray(to_device(labels, like.device)) if hasattr(like, "device") else labels
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ShapeError(
            fmt(
                "dice_loss",
                f"target labels must be in 0..{num_classes - 1}",
                target_min=int(labels.min()),
                target_max=int(labels.max()),
            )
        )
    classes = xp.arange(num_classes).reshape((1, num_classes) + (1,) * (labels.ndim - 1))
    return Tensor._wrap((labels[:, None] == classes).astype(like.dtype))  # (N, *S) -> (N, C, *S)


def soft_dice(probs, target_one_hot, eps=1.0, squared=False, global_sum=None):
    """Per-class soft Dice D_c over batch and space: probabilities and a one-hot target, both (N, C, *S).

    Forward:  D_c = (2 sum p g + eps) / (sum p^s + sum g^s + eps), sums over N and *S.
    Backward: through mul/sum/div (see the module docstring for dD_c/dp).
    Shapes:   probs (N, C, *S), target_one_hot (N, C, *S) -> (C,)
    Raises:   ShapeError if the shapes differ or have fewer than 2 dims.

    ``global_sum`` (data parallel: this rank holds one shard of the batch) maps the (2C,) batch sums
    to those of every rank's shard, differentiably (distributed.all_reduce_sum), so each rank gets
    the Dice of the global batch and DistributedDataParallel's mean gradient is its gradient.
    """
    if probs.ndim < 2 or tuple(probs.shape) != tuple(target_one_hot.shape):
        raise ShapeError(
            fmt(
                "soft_dice",
                "probs and target_one_hot must both be (N, C, *S)",
                probs=probs,
                target_one_hot=target_one_hot,
            )
        )
    dims = (0,) + tuple(range(2, probs.ndim))  # every dim but the class dim C
    intersection = (probs * target_one_hot).sum(dim=dims)
    if squared:
        denominator = (probs * probs).sum(dim=dims) + (target_one_hot * target_one_hot).sum(dim=dims)
    else:
        denominator = probs.sum(dim=dims) + target_one_hot.sum(dim=dims)
    if global_sum is not None:  # one all-reduce of both (C,) sums
        from .shape import cat

        C = intersection.shape[0]
        sums = global_sum(cat([intersection, denominator]))
        intersection, denominator = sums[:C], sums[C:]
    return (intersection * 2.0 + eps) / (denominator + eps)


def _probs_and_target(input, target, op):
    """Softmax/sigmoid probabilities and the matching one-hot target, both (N, C', *S)."""
    if not isinstance(input, Tensor) or input.dtype.kind != "f":
        raise DTypeError(fmt(op, "input must be a float Tensor of logits (N, C, *S)", input=input))
    if input.ndim < 3:
        raise ShapeError(
            fmt(op, "input must be logits (N, C, *S) with 1 to 3 spatial dims", input=(input.shape, "(N, C, *S)"))
        )
    labels = target.data if isinstance(target, Tensor) else numpy.asarray(target)
    n, c, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    if c == 1 and tuple(labels.shape) == (n, 1) + spatial:
        labels = labels[:, 0]
    if tuple(labels.shape) != (n,) + spatial:
        raise ShapeError(
            fmt(
                op,
                f"target must be labels (N, *S) = {(n,) + spatial}",
                input=(input.shape, "(N, C, *S)"),
                target=labels,
            )
        )
    if c == 1:  # binary: p = sigmoid(logit) for the foreground, one channel
        return input.sigmoid(), one_hot_labels(labels.astype(numpy.int64), 2, input)[:, 1:]
    return input.softmax(1), one_hot_labels(labels, c, input)


def dice_loss(input, target, eps=1.0, squared=False, include_background=True, global_sum=None):
    """Soft Dice loss 1 - mean_c D_c from logits: sigmoid for one channel, softmax for C >= 2.

    Lecture: "SEMANTIC SEGMENTATION - V-Net [Milletari et al., 2016]" (Dice loss).
    Reference: Milletari et al., V-Net, arXiv:1606.04797.
    Forward:  loss = 1 - mean_c (2 sum p g + eps) / (sum p^s + sum g^s + eps)
    Backward: chain rule through softmax/sigmoid and the Dice ratio (module docstring).
    Shapes:   input (N, C, *S) logits, *S = (H, W) or (D, H, W); target (N, *S) labels in 0..C-1
              (or 0/1 for C = 1, also (N, 1, *S)) -> scalar
    Args:
        eps: smoothing added to numerator and denominator (keeps an empty class at Dice 1).
        squared: V-Net's squared denominator sum p^2 + sum g^2 instead of sum p + sum g.
        include_background: average over all classes, or over classes 1..C-1 only (C >= 2).
        global_sum: the batch sums -> those of every rank's shard, under data parallel (soft_dice).
    Raises:
        ShapeError / DTypeError if input is not float logits (N, C, *S) or target is not (N, *S).
    """
    probs, one_hot = _probs_and_target(input, target, "dice_loss")
    dice = soft_dice(probs, one_hot, eps=eps, squared=squared, global_sum=global_sum)
    if not include_background and input.shape[1] > 1:
        dice = dice[1:]
    return 1.0 - dice.mean()


def dice_ce_loss(
    input, target, eps=1.0, squared=False, include_background=True, dice_weight=1.0, ce_weight=1.0, global_sum=None
):
    """Dice loss plus cross-entropy (binary cross-entropy with logits for one channel).

    Forward:  loss = dice_weight * dice_loss(input, target) + ce_weight * CE(input, target)
    Backward: the sum of both terms' gradients.
    Shapes:   as dice_loss -> scalar

    With ``global_sum`` the Dice is that of every rank's shard together (dice_loss); the cross-entropy
    stays this shard's mean, which DistributedDataParallel's mean over ranks makes the mean of the
    global batch because every rank's shard has the same size (DistributedSampler pads or cuts).
    """
    from . import loss as loss_ops

    dice = dice_loss(
        input, target, eps=eps, squared=squared, include_background=include_background, global_sum=global_sum
    )
    labels = target.data if isinstance(target, Tensor) else numpy.asarray(target)
    if input.shape[1] == 1:
        labels = labels.reshape(input.shape).astype(input.dtype)
        ce = loss_ops.binary_cross_entropy_with_logits(input, Tensor._wrap(labels))
    else:
        ce = loss_ops.cross_entropy(input, Tensor._wrap(labels.astype(numpy.int64)))
    return dice * dice_weight + ce * ce_weight
