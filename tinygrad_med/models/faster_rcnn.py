"""Faster R-CNN (Ren et al. 2015): a small backbone, the RPN, and a Fast R-CNN box head on RoI-aligned features.

Lecture: "Object detection" -- R-CNN [Girshick et al, 2014] (proposals, per-region features,
classification and box regression, non-maxima suppression), Fast R-CNN [Girshick, 2015] (one CNN pass,
every proposal's features cut from the shared feature map) and Faster R-CNN [Ren et al., 2015] (the
proposals come from the network itself: the RPN of models/rpn.py).

As torchvision.models.detection.FasterRCNN: ``model(images, targets)`` in training mode returns a dict
of losses (loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg); ``model(images)`` in eval
mode returns one dict per image with "boxes" (K, 4), "labels" (K,) and "scores" (K,) Tensors.
Differences from torchvision: no GeneralizedRCNNTransform (images are used as given: no resizing or
normalisation, all of one size), one feature map (no FPN), RoIAlign with aligned=False as torchvision's
MultiScaleRoIAlign, and small defaults meant for small images (64 x 64) on a CPU.
"""

import numpy

from .. import backend, nn
from ..errors import ShapeError, fmt
from ..nn import functional as F
from ..ops.boxes import box_iou, decode_boxes, encode_boxes
from ..ops.detection import batched_nms
from ..tensor import Tensor
from .old_keys import old_detection_key, upgrade_state_dict
from .resnet import BasicBlock
from .rpn import (
    BELOW_LOW_THRESHOLD,
    RegionProposalNetwork,
    clip_boxes_to_image,
    host,
    match_boxes,
    remove_small_boxes,
    sample_balanced,
)

__all__ = ["DetectionBackbone", "TwoMLPHead", "FastRCNNPredictor", "select_training_samples", "fastrcnn_loss",
           "postprocess_detections", "RoIHeads", "FasterRCNN"]  # fmt: skip

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # Fast R-CNN's scaling of (dx, dy, dw, dh), as torchvision
# FasterRCNN's RPN defaults for small images (torchvision: 256 anchors, top 2000/1000 before and after NMS)
SMALL_RPN = {"batch_size_per_image": 64, "pre_nms_top_n": {"training": 300, "testing": 150},
             "post_nms_top_n": {"training": 60, "testing": 30}}  # fmt: skip


class DetectionBackbone(nn.Module):
    """A small ResNet-style backbone: a 3x3 conv-BN-ReLU stem, then one stride-2 BasicBlock per extra width.

    Lecture: "Object detection - Fast R-CNN" (one shared CNN pass for all proposals); ResNet blocks.
    Shapes:   x (N, C, H, W) -> (N, widths[-1], H / S, W / S), S = stride = 2 ** (len(widths) - 1)
    """

    def __init__(self, in_channels=1, widths=(8, 16, 32, 32)):
        super().__init__()
        layers = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
        layers += [BasicBlock(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        self.body = nn.Sequential(*layers)
        self.out_channels, self.stride = widths[-1], 2 ** (len(widths) - 1)

    def forward(self, x):
        return self.body(x)


class TwoMLPHead(nn.Module):
    """Fast R-CNN's box head: flatten the RoI features, then two fully connected layers with ReLU.

    Lecture: "Object detection - Fast R-CNN" (RoI features -> FC layers).
    Shapes:   x (K, C, PH, PW), in_channels = C * PH * PW -> (K, representation_size)
    """

    def __init__(self, in_channels, representation_size):
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x):
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


class FastRCNNPredictor(nn.Module):
    """Class scores and class-specific box deltas (Fast R-CNN's two sibling output layers).

    Shapes:   x (K, D) -> class_logits (K, num_classes), box_regression (K, 4 * num_classes);
              num_classes counts the background (class 0)
    """

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 4 * num_classes)

    def forward(self, x):
        return self.cls_score(x), self.bbox_pred(x)


def select_training_samples(proposals, targets, fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=512,
                            positive_fraction=0.25, weights=BOX_WEIGHTS, generator=None):  # fmt: skip
    """Fast R-CNN's RoI mini-batch: proposals + ground truth, matched and sampled (torchvision's RoIHeads).

    Lecture: "Object detection - Fast R-CNN" (RoIs with IoU >= 0.5 are foreground, the rest background).
    Forward:  per image: P = proposals with the ground-truth boxes appended; m = match_boxes(IoU(gt, P),
              fg, bg); label = gt label of m (0 where m = -1, -1 ignored where m = -2); sample_balanced
              (B per image, 25% foreground); target = encode_boxes(gt[m], P, weights)
    Shapes:   lists of N (K_n, 4) proposals and N target dicts -> lists of N: sampled proposals (S_n, 4),
              matched gt index (S_n,), labels (S_n,) int64, regression targets (S_n, 4) (NumPy)
    Reference: Girshick, "Fast R-CNN", arXiv:1504.08083, section 2.3 (mini-batch sampling).
    """
    out = ([], [], [], [])
    for boxes, target in zip(proposals, targets, strict=True):
        gt, gt_labels = host(target["boxes"]).reshape(-1, 4), host(target["labels"], numpy.int64).reshape(-1)
        boxes = numpy.concatenate([host(boxes).reshape(-1, 4), gt])
        matches = match_boxes(box_iou(gt, boxes), fg_iou_thresh, bg_iou_thresh)
        labels = gt_labels[numpy.maximum(matches, 0)] if gt.shape[0] else numpy.zeros(len(matches), numpy.int64)
        labels = numpy.where(matches == BELOW_LOW_THRESHOLD, 0, numpy.where(matches < 0, -1, labels))
        pos, neg = sample_balanced(labels, batch_size_per_image, positive_fraction, generator)
        keep = numpy.concatenate([pos, neg])
        matched = numpy.maximum(matches[keep], 0)
        deltas = encode_boxes(gt[matched], boxes[keep], weights) if gt.shape[0] else numpy.zeros((len(keep), 4))
        for store, value in zip(out, (boxes[keep], matched, labels[keep], deltas), strict=True):
            store.append(value)
    return out


def fastrcnn_loss(class_logits, box_regression, labels, regression_targets):
    """Fast R-CNN's multitask loss: cross-entropy over classes + smooth L1 on the true class's box deltas.

    Lecture: "Object detection - Fast R-CNN" (classification & localization in one loss).
    Forward:  loss_classifier = mean_k CE(class_logits_k, u_k);
              loss_box_reg = sum_{k: u_k >= 1} smooth_l1_{beta=1/9}(t_k^{u_k} - v_k) / K
    Backward: through cross_entropy and smooth_l1_loss (only the true class's 4 deltas get a gradient)
    Shapes:   class_logits (K, C), box_regression (K, 4C), labels (K,) ints, regression_targets (K, 4)
              -> dict of two scalars
    Reference: Girshick, "Fast R-CNN", arXiv:1504.08083, eq. (1); torchvision's fastrcnn_loss.
    """
    labels, targets = host(labels, numpy.int64).reshape(-1), host(regression_targets).reshape(-1, 4)
    K, device, dtype = class_logits.shape[0], class_logits.device, class_logits.dtype
    loss_classifier = F.cross_entropy(class_logits, Tensor(labels, device=device))
    pos = numpy.flatnonzero(labels > 0)
    rows, cols = (backend.to_device(v, device) for v in (pos, labels[pos]))
    chosen = box_regression.reshape(K, -1, 4)[rows, cols]  # (P, 4): the deltas of each RoI's true class
    box_sum = F.smooth_l1_loss(chosen, Tensor(targets[pos].astype(dtype), device=device), "sum", beta=1.0 / 9)
    return {"loss_classifier": loss_classifier, "loss_box_reg": box_sum / max(K, 1)}


def postprocess_detections(class_logits, box_regression, proposals, image_size, score_thresh=0.05, nms_thresh=0.5,
                           detections_per_img=100, weights=BOX_WEIGHTS, min_size=1e-2,
                           class_agnostic_nms=False):  # fmt: skip
    """Boxes, labels and scores per image from the box head (torchvision's RoIHeads.postprocess_detections).

    Lecture: "Object detection" (R-CNN steps 4-5: classification & localization, non-maxima suppression).
    Forward:  p = softmax(class_logits); box^c = clip(decode(box_regression^c, proposal)) for every class
              c >= 1; keep (box^c, c, p_c) with p_c > score_thresh and sides >= min_size; NMS per class at
              nms_thresh (torchvision), or with class_agnostic_nms over all classes together, so that
              one object is not reported once per class; the detections_per_img highest scores
    Shapes:   class_logits (K, C), box_regression (K, 4C), proposals list of N (K_n, 4), sum K_n = K
              -> list of N dicts: boxes (D_n, 4), labels (D_n,) int64, scores (D_n,), by decreasing score
    """
    logits, deltas = class_logits.data, box_regression.data
    xp = backend.get_xp(logits)
    probs = xp.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    C, results, start = logits.shape[1], [], 0
    for boxes in proposals:
        stop = start + boxes.shape[0]
        decoded = decode_boxes(deltas[start:stop], xp.asarray(boxes, deltas.dtype), weights).reshape(-1, 4)
        decoded = clip_boxes_to_image(decoded, image_size).reshape(-1, C, 4)[:, 1:].reshape(-1, 4)
        scores = probs[start:stop, 1:].reshape(-1)
        labels = xp.tile(xp.arange(1, C, dtype=numpy.int64), stop - start)
        keep = remove_small_boxes(decoded, min_size)
        keep = keep[scores[keep] > score_thresh]
        groups = xp.zeros_like(labels[keep]) if class_agnostic_nms else labels[keep]
        keep = keep[batched_nms(decoded[keep], scores[keep], groups, nms_thresh)[:detections_per_img]]
        results.append({"boxes": Tensor._wrap(decoded[keep]), "labels": Tensor._wrap(labels[keep]),
                        "scores": Tensor._wrap(scores[keep])})  # fmt: skip
        start = stop
    return results


class RoIHeads(nn.Module):
    """Fast R-CNN on the RPN's proposals: RoIAlign, TwoMLPHead, FastRCNNPredictor; training loss or detections.

    Lecture: "Object detection - Fast R-CNN / Faster R-CNN".
    Shapes:   features (N, C, H', W'), proposals list of N (K_n, 4) -> (detections list, losses dict)
    The optional ``mask_branch`` (models/mask_rcnn.py) adds Mask R-CNN's third branch.
    """

    def __init__(self, in_channels, stride, num_classes, representation_size=64, roi_size=7, fg_iou_thresh=0.5,
                 bg_iou_thresh=0.5, batch_size_per_image=64, positive_fraction=0.25, score_thresh=0.05,
                 nms_thresh=0.5, detections_per_img=100, class_agnostic_nms=False):  # fmt: skip
        super().__init__()
        self.box_roi_pool = nn.RoIAlign(roi_size, 1.0 / stride, sampling_ratio=2)
        self.box_head = TwoMLPHead(in_channels * roi_size * roi_size, representation_size)
        self.box_predictor = FastRCNNPredictor(representation_size, num_classes)
        self.fg_iou_thresh, self.bg_iou_thresh = fg_iou_thresh, bg_iou_thresh  # torchvision's attribute names
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.class_agnostic_nms = class_agnostic_nms
        self.mask_branch = None

    def forward(self, features, proposals, image_size, targets=None):
        if self.training:
            proposals, matched, labels, regression_targets = select_training_samples(
                proposals, targets, self.fg_iou_thresh, self.bg_iou_thresh, self.batch_size_per_image,
                self.positive_fraction)  # fmt: skip
        boxes = [backend.to_device(p.astype(features.dtype), features.device) for p in proposals]
        class_logits, box_regression = self.box_predictor(self.box_head(self.box_roi_pool(features, boxes)))
        if not self.training:
            detections = postprocess_detections(class_logits, box_regression, boxes, image_size, self.score_thresh,
                                                self.nms_thresh, self.detections_per_img,
                                                class_agnostic_nms=self.class_agnostic_nms)  # fmt: skip
            if self.mask_branch is not None:
                self.mask_branch.predict(features, detections, image_size)
            return detections, {}
        losses = fastrcnn_loss(class_logits, box_regression, numpy.concatenate(labels),
                               numpy.concatenate(regression_targets))  # fmt: skip
        if self.mask_branch is not None:
            losses.update(self.mask_branch.loss(features, proposals, matched, labels, targets))
        return [], losses


class FasterRCNN(nn.Module):
    """Faster R-CNN: backbone -> RPN proposals -> RoIAlign -> box head; losses in training, detections in eval.

    Lecture: "Object detection - Faster R-CNN [Ren et al., 2015]".
    Forward:  features = backbone(images); proposals, rpn losses = RPN(features); detections or Fast R-CNN
              losses = RoIHeads(features, proposals)
    Shapes:   images (N, C, H, W), targets list of N dicts {"boxes": (G_n, 4), "labels": (G_n,)}
              -> training: dict of 4 scalar losses; eval: list of N dicts {"boxes", "labels", "scores"}
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497.
    Args:
        num_classes: including the background (class 0).  in_channels: image channels.
        widths: the backbone's widths (stride 2 ** (len(widths) - 1)); or pass any ``backbone`` module with
            ``out_channels`` and ``stride`` attributes.
        anchor_sizes, aspect_ratios: the RPN's anchors.  rpn_options / box_options: keyword arguments of
            RegionProposalNetwork / RoIHeads (thresholds, sample sizes, top-n, representation_size, ...).
    Raises:
        ShapeError for images that are not (N, C, H, W) or malformed targets; ValueError for training
        without targets.
    """

    def __init__(self, num_classes, in_channels=1, widths=(8, 16, 32, 32), backbone=None, anchor_sizes=(12, 24),
                 aspect_ratios=(0.5, 1.0, 2.0), rpn_options=None, box_options=None):  # fmt: skip
        super().__init__()
        self.backbone = backbone if backbone is not None else DetectionBackbone(in_channels, widths)
        channels, stride = self.backbone.out_channels, self.backbone.stride
        rpn_options = {**SMALL_RPN, **(rpn_options or {})}
        self.rpn = RegionProposalNetwork(channels, stride, anchor_sizes, aspect_ratios, **rpn_options)
        self.roi_heads = RoIHeads(channels, stride, num_classes, **(box_options or {}))
        self.num_classes = num_classes

    def _upgrade_state_dict(self, state_dict):
        """A state_dict saved under the old names (a BasicBlock's shortcut) loads: see models/old_keys.py."""
        return upgrade_state_dict(self, state_dict, old_detection_key, "a BasicBlock's shortcut.0, shortcut.1")

    def forward(self, images, targets=None):
        images = images if isinstance(images, Tensor) else Tensor(images)
        _check_inputs(type(self).__name__, images, targets, self.training)
        image_size = tuple(images.shape[-2:])
        features = self.backbone(images)
        proposals, losses = self.rpn(features, image_size, targets)
        detections, box_losses = self.roi_heads(features, proposals, image_size, targets)
        return {**losses, **box_losses} if self.training else detections


def _check_inputs(op, images, targets, training):
    if images.ndim != 4:
        raise ShapeError(fmt(op, "expected images of shape (N, C, H, W)", images=images))
    if training and targets is None:
        raise ValueError(fmt(op, "targets are required in training mode", hint="call model.eval() for detections"))
    if targets is None:
        return
    if len(targets) != images.shape[0]:
        raise ShapeError(fmt(op, f"got {len(targets)} targets for {images.shape[0]} images", images=images))
    for n, target in enumerate(targets):
        boxes, labels = host(target["boxes"]), host(target["labels"])
        if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (boxes.shape[0],):
            raise ShapeError(fmt(op, f"targets[{n}]: expected boxes (G, 4) and labels (G,)", boxes=boxes,
                                 labels=labels))  # fmt: skip
