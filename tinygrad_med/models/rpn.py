"""Region proposal network (Faster R-CNN's RPN), with the anchor matching and sampling it trains on.

Lecture: "Object detection - Faster R-CNN [Ren et al., 2015]" ("do the region proposal within the
network"; "use anchor boxes with different scales and aspect ratios to generate RoI proposals";
"multitask loss for box regression and objectness").

Pieces, with torchvision.models.detection's names and defaults where it has them:
    RPNHead                 3x3 conv + ReLU, then two 1x1 convs: an objectness logit and 4 box deltas per anchor
    match_boxes             torchvision's Matcher: each anchor (or proposal) -> index of its ground-truth box,
                            BELOW_LOW_THRESHOLD (-1, background) or BETWEEN_THRESHOLDS (-2, ignored)
    sample_balanced         torchvision's BalancedPositiveNegativeSampler: a fixed-size, fixed-fraction draw
    rpn_targets, rpn_loss   per-anchor labels and regression targets; BCE objectness + smooth L1 on positives
    filter_proposals        decode + top-k + clip + small-box removal + NMS + top-k
    RegionProposalNetwork   all of the above as one module over one feature map

Targets, sampling and proposals carry no gradient (as in the paper and torchvision): they are computed
on the host in NumPy from detached arrays; only the head's outputs are differentiated.  Unlike the
paper (which ignores anchors that cross the image border during training), torchvision and this
module keep every anchor.
"""

import numpy

from .. import backend, nn, random
from ..errors import ShapeError, fmt
from ..nn import functional as F
from ..ops.boxes import anchors, box_iou, decode_boxes, encode_boxes
from ..ops.detection import batched_nms
from ..tensor import Tensor

__all__ = [
    "host",
    "BELOW_LOW_THRESHOLD",
    "BETWEEN_THRESHOLDS",
    "RPNHead",
    "match_boxes",
    "sample_balanced",
    "rpn_targets",
    "rpn_loss",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "filter_proposals",
    "RegionProposalNetwork",
]

BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS = -1, -2


def host(value, dtype=numpy.float64):
    """A NumPy copy-or-view of a Tensor, array (NumPy or CuPy) or nested list, in ``dtype``."""
    data = value.data if isinstance(value, Tensor) else value
    return numpy.asarray(backend.to_numpy(data), dtype)


class RPNHead(nn.Module):
    """The RPN's sliding window: a 3x3 conv + ReLU, then 1x1 convs for objectness and box deltas.

    Lecture: "Object detection - Faster R-CNN" (region proposals from the shared feature map).
    Forward:  t = relu(conv3x3(x));  objectness = conv1x1(t) (A maps);  deltas = conv1x1(t) (4A maps)
    Shapes:   x (N, C, H, W) -> objectness (N, A, H, W), deltas (N, 4A, H, W) (channel 4a + k is
              coordinate k of anchor a)
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, section 3.1 (weights ~ N(0, 0.01^2), bias 0).
    """

    def __init__(self, in_channels, num_anchors):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        t = F.relu(self.conv(x))
        return self.cls_logits(t), self.bbox_pred(t)


def match_boxes(iou, high_threshold, low_threshold, allow_low_quality_matches=False):
    """Match each prediction (anchor or proposal) to its best ground-truth box (torchvision's Matcher).

    Lecture: "Object detection - Faster R-CNN" (an anchor is positive at IoU >= 0.7 with a ground truth,
    or when it is a ground truth's best anchor; negative below 0.3).
    Forward:  m_a = argmax_g IoU[g, a]; m_a = -1 if max_g IoU[g, a] < low, -2 if low <= max < high;
              with allow_low_quality_matches, every a with IoU[g, a] = max_a' IoU[g, a'] for some g gets
              its argmax m_a back (ties included, as torchvision)
    Shapes:   iou (G, A) -> matches (A,) int64 in {-2, -1, 0..G-1}; G = 0 gives all -1
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, section 3.1.2.
    Raises:   ValueError if low_threshold > high_threshold.
    """
    if low_threshold > high_threshold:
        raise ValueError(fmt("match_boxes", f"low_threshold {low_threshold} > high_threshold {high_threshold}"))
    iou = host(iou)
    if iou.ndim != 2:
        raise ShapeError(fmt("match_boxes", "expected iou of shape (G, A)", iou=iou))
    if iou.shape[0] == 0:
        return numpy.full(iou.shape[1], BELOW_LOW_THRESHOLD, numpy.int64)
    best, matches = iou.max(axis=0), iou.argmax(axis=0).astype(numpy.int64)
    all_matches = matches.copy()
    matches[best < low_threshold] = BELOW_LOW_THRESHOLD
    matches[(best >= low_threshold) & (best < high_threshold)] = BETWEEN_THRESHOLDS
    if allow_low_quality_matches:
        best_per_gt = iou.max(axis=1, keepdims=True)  # (G, 1)
        restore = (iou == best_per_gt).any(axis=0)
        matches[restore] = all_matches[restore]
    return matches


def sample_balanced(labels, batch_size_per_image, positive_fraction, generator=None):
    """Draw at most B examples, at most a fraction f of them positive (torchvision's BalancedPositiveNegativeSampler).

    Lecture: "Object detection - Faster R-CNN" (mini-batches of 256 anchors, up to half positive).
    Forward:  P = min(#{labels >= 1}, int(B f)) positives and min(#{labels == 0}, B - P) negatives, each
              drawn uniformly without replacement; labels -1 (ignored) are never drawn
    Shapes:   labels (A,) -> (positive indices (P,), negative indices (M,)), int64, sorted
    Args:
        generator: a numpy Generator (default: tinygrad_med.random's CPU generator, set by manual_seed).
    """
    labels = host(labels)
    rng = generator if generator is not None else random.generator("cpu")
    positive, negative = numpy.flatnonzero(labels >= 1), numpy.flatnonzero(labels == 0)
    num_pos = min(positive.size, int(batch_size_per_image * positive_fraction))
    num_neg = min(negative.size, batch_size_per_image - num_pos)
    pos = numpy.sort(rng.permutation(positive)[:num_pos]).astype(numpy.int64)
    neg = numpy.sort(rng.permutation(negative)[:num_neg]).astype(numpy.int64)
    return pos, neg


def rpn_targets(anchor_boxes, gt_boxes, fg_iou_thresh=0.7, bg_iou_thresh=0.3):
    """Per-anchor objectness labels and box regression targets of one image.

    Lecture: "Object detection - Faster R-CNN" (anchors as references for box regression).
    Forward:  m = match_boxes(IoU(gt, anchors), fg, bg, allow_low_quality_matches=True);
              label = 1 where m >= 0, 0 where m = -1, -1 (ignored) where m = -2;
              target = encode_boxes(gt[max(m, 0)], anchors) (only read where label = 1)
    Shapes:   anchor_boxes (A, 4), gt_boxes (G, 4) -> labels (A,) float, targets (A, 4) (NumPy)
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, eq. (2).
    """
    anchor_boxes, gt_boxes = host(anchor_boxes), host(gt_boxes).reshape(-1, 4)
    matches = match_boxes(box_iou(gt_boxes, anchor_boxes), fg_iou_thresh, bg_iou_thresh, True)
    labels = (matches >= 0).astype(numpy.float64)
    labels[matches == BETWEEN_THRESHOLDS] = -1.0
    if gt_boxes.shape[0] == 0:
        return labels, numpy.zeros_like(anchor_boxes)
    return labels, encode_boxes(gt_boxes[numpy.maximum(matches, 0)], anchor_boxes)


def rpn_loss(objectness, pred_deltas, labels, targets, batch_size_per_image=256, positive_fraction=0.5, generator=None):
    """The RPN's multitask loss over a balanced sample of anchors in each image (torchvision's compute_loss).

    Lecture: "Object detection - Faster R-CNN" ("multitask loss for box regression and objectness").
    Forward:  S = sampled anchors of all images (sample_balanced per image), P = the positive ones;
              loss_objectness = mean_{a in S} BCE(sigmoid(o_a), label_a);
              loss_rpn_box_reg = sum_{a in P} smooth_l1_{beta=1/9}(t_a - t*_a) / |S|
    Backward: through binary_cross_entropy_with_logits and smooth_l1_loss into o and t
    Shapes:   objectness (N, A) logits, pred_deltas (N, A, 4), labels list of N (A,), targets list of N (A, 4)
              -> dict of two scalars
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, eq. (1).
    """
    N, A = objectness.shape
    pos, neg = [], []
    for n in range(N):
        p, m = sample_balanced(labels[n], batch_size_per_image, positive_fraction, generator)
        pos.append(p + n * A)
        neg.append(m + n * A)
    pos, sampled = numpy.concatenate(pos), numpy.sort(numpy.concatenate(pos + neg))
    device, dtype = objectness.device, objectness.dtype
    all_labels = numpy.concatenate([host(v) for v in labels])
    all_targets = numpy.concatenate([host(t) for t in targets]).reshape(-1, 4)
    logits, deltas = objectness.reshape(-1), pred_deltas.reshape(-1, 4)
    target_labels = Tensor(all_labels[sampled].astype(dtype), device=device)
    loss_obj = F.binary_cross_entropy_with_logits(logits[_index(sampled, device)], target_labels)
    box_targets = Tensor(all_targets[pos].astype(dtype), device=device)
    box_sum = F.smooth_l1_loss(deltas[_index(pos, device)], box_targets, reduction="sum", beta=1.0 / 9)
    return {"loss_objectness": loss_obj, "loss_rpn_box_reg": box_sum / max(sampled.size, 1)}


def _index(indices, device):
    return backend.to_device(numpy.asarray(indices, numpy.int64), device)


def clip_boxes_to_image(boxes, size):
    """Clip (K, 4) boxes into an (H, W) image: x to [0, W], y to [0, H] (torchvision.ops.clip_boxes_to_image)."""
    xp = backend.get_xp(boxes)
    H, W = size
    return xp.stack([boxes[:, 0].clip(0, W), boxes[:, 1].clip(0, H), boxes[:, 2].clip(0, W),
                     boxes[:, 3].clip(0, H)], axis=1)  # fmt: skip


def remove_small_boxes(boxes, min_size):
    """Indices of the (K, 4) boxes whose width and height are both >= min_size (torchvision.ops.remove_small_boxes)."""
    xp = backend.get_xp(boxes)
    return xp.flatnonzero(((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size))


def filter_proposals(objectness, deltas, anchor_boxes, image_size, pre_nms_top_n, post_nms_top_n, nms_thresh,
                     min_size=1e-3, score_thresh=0.0):  # fmt: skip
    """Proposals of one image from the RPN's outputs (torchvision's RegionProposalNetwork.filter_proposals).

    Lecture: "Object detection - Faster R-CNN" (anchors + regressed offsets = RoI proposals; NMS).
    Forward:  keep the pre_nms_top_n anchors of highest objectness; boxes = decode(deltas, anchors),
              clipped to the image; drop boxes smaller than min_size and scores sigmoid(o) < score_thresh;
              NMS at nms_thresh; keep the post_nms_top_n best
    Shapes:   objectness (A,), deltas (A, 4), anchor_boxes (A, 4) arrays -> boxes (K, 4), scores (K,) arrays,
              K <= post_nms_top_n, by decreasing score
    """
    xp = backend.get_xp(objectness)
    order = xp.argsort(-objectness, kind="stable")[:pre_nms_top_n]
    boxes = clip_boxes_to_image(decode_boxes(deltas[order], anchor_boxes[order]), image_size)
    scores = 1.0 / (1.0 + xp.exp(-objectness[order]))
    keep = remove_small_boxes(boxes, min_size)
    keep = keep[scores[keep] >= score_thresh]
    boxes, scores = boxes[keep], scores[keep]
    keep = batched_nms(boxes, scores, xp.zeros(boxes.shape[0], numpy.int64), nms_thresh)[:post_nms_top_n]
    return boxes[keep], scores[keep]


class RegionProposalNetwork(nn.Module):
    """Faster R-CNN's RPN over one feature map: anchors, head, training loss and proposals.

    Lecture: "Object detection - Faster R-CNN".
    Forward:  (objectness, deltas) = RPNHead(features); proposals = filter_proposals per image;
              in training mode with targets also the losses of rpn_loss (on rpn_targets per image)
    Shapes:   features (N, C, H', W'), image_size (H, W), targets list of N dicts with "boxes" (G_n, 4)
              -> (list of N proposal arrays (K_n, 4), dict of losses, empty in eval mode)
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, section 3.1.
    Args:
        in_channels: C of the feature map; stride: image pixels per feature-map cell.
        sizes, aspect_ratios: of the anchors (ops.boxes.anchors); A = len(sizes) * len(aspect_ratios).
        fg_iou_thresh, bg_iou_thresh: positive / negative anchor IoU (0.7 / 0.3 in the paper).
        batch_size_per_image, positive_fraction: anchors sampled per image for the loss (256, 0.5).
        pre_nms_top_n, post_nms_top_n: dicts {"training": k, "testing": k}; nms_thresh, min_size, score_thresh.
    """

    def __init__(self, in_channels, stride, sizes=(32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0), fg_iou_thresh=0.7,
                 bg_iou_thresh=0.3, batch_size_per_image=256, positive_fraction=0.5, pre_nms_top_n=None,
                 post_nms_top_n=None, nms_thresh=0.7, min_size=1e-3, score_thresh=0.0):  # fmt: skip
        super().__init__()
        self.stride, self.sizes, self.aspect_ratios = stride, tuple(sizes), tuple(aspect_ratios)
        self.head = RPNHead(in_channels, len(self.sizes) * len(self.aspect_ratios))
        self.fg_iou_thresh, self.bg_iou_thresh = fg_iou_thresh, bg_iou_thresh
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        self.pre_nms_top_n = pre_nms_top_n or {"training": 2000, "testing": 1000}
        self.post_nms_top_n = post_nms_top_n or {"training": 2000, "testing": 1000}
        self.nms_thresh, self.min_size, self.score_thresh = nms_thresh, min_size, score_thresh

    def anchors(self, feature_size, dtype=numpy.float32, device="cpu"):
        """The (H' W' A, 4) anchors of a feature map of size (H', W'), in the head's output order."""
        return anchors(feature_size, self.stride, self.sizes, self.aspect_ratios, dtype=dtype, device=device)

    def forward(self, features, image_size, targets=None):
        objectness, deltas = self.head(features)
        N, A, Hf, Wf = objectness.shape
        objectness = objectness.permute(0, 2, 3, 1).reshape(N, Hf * Wf * A)  # anchor order of ops.boxes.anchors
        deltas = deltas.reshape(N, A, 4, Hf, Wf).permute(0, 3, 4, 1, 2).reshape(N, Hf * Wf * A, 4)
        anchor_boxes = self.anchors((Hf, Wf), features.dtype, features.device).data
        mode = "training" if self.training else "testing"
        proposals = [
            filter_proposals(objectness.data[n], deltas.data[n], anchor_boxes, image_size, self.pre_nms_top_n[mode],
                             self.post_nms_top_n[mode], self.nms_thresh, self.min_size, self.score_thresh)[0]
            for n in range(N)
        ]  # fmt: skip
        if not self.training or targets is None:
            return proposals, {}
        matched = [rpn_targets(anchor_boxes, t["boxes"], self.fg_iou_thresh, self.bg_iou_thresh) for t in targets]
        losses = rpn_loss(objectness, deltas, [m[0] for m in matched], [m[1] for m in matched],
                          self.batch_size_per_image, self.positive_fraction)  # fmt: skip
        return proposals, losses

    def extra_repr(self):
        return f"stride={self.stride}, sizes={self.sizes}, aspect_ratios={self.aspect_ratios}"
