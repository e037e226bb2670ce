"""Mask R-CNN (He et al. 2017): Faster R-CNN with a third branch that predicts a mask per class in every RoI.

Lecture: "Instance segmentation - Mask R-CNN [He et al., 2017]" ("same architecture as Faster R-CNN
but with a third branch for segmentation"; "generates a fixed-size segmentation mask for each class in
every RoI"; "use the box classification branch to select the right mask"; "RoI pooling requires
interpolation": RoIAlign).

The mask branch (torchvision's names): RoIAlign 14 x 14 on the shared feature map -> MaskRCNNHeads
(3x3 conv + ReLU layers) -> MaskRCNNPredictor (2x2 stride-2 transposed conv + ReLU, 1x1 conv to one
28 x 28 logit map per class).  Training: on the positive RoIs of Fast R-CNN's sample, per-pixel BCE of
the map of the RoI's true class against the instance mask RoI-aligned to 28 x 28 (soft targets, as
torchvision's project_masks_on_boxes).  Inference: the map of each detection's predicted class, through
a sigmoid, pasted back into the image inside its box ("masks" (D, 1, H, W) probabilities).
"""

import numpy

from .. import backend, nn
from ..errors import ShapeError, fmt
from ..nn import functional as F
from ..ops.detection import roi_align
from ..tensor import Tensor
from .faster_rcnn import FasterRCNN
from .rpn import host

__all__ = ["MaskRCNNHeads", "MaskRCNNPredictor", "project_masks_on_boxes", "maskrcnn_loss", "paste_masks_in_image",
           "MaskBranch", "MaskRCNN"]  # fmt: skip


class MaskRCNNHeads(nn.Sequential):
    """The mask branch's conv stack: for each width, a 3x3 conv (padding 1) and a ReLU.

    Shapes:   x (K, C, M, M) -> (K, layers[-1], M, M)
    """

    def __init__(self, in_channels, layers=(16, 16)):
        blocks, channels = [], in_channels
        for width in layers:
            blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        super().__init__(*blocks)


class MaskRCNNPredictor(nn.Module):
    """2x up-sampling by a 2x2 stride-2 transposed conv, ReLU, then one 1x1-conv logit map per class.

    Shapes:   x (K, C, M, M) -> mask logits (K, num_classes, 2M, 2M)
    """

    def __init__(self, in_channels, dim_reduced, num_classes):
        super().__init__()
        self.conv5_mask = nn.ConvTranspose2d(in_channels, dim_reduced, 2, stride=2)
        self.mask_fcn_logits = nn.Conv2d(dim_reduced, num_classes, 1)

    def forward(self, x):
        return self.mask_fcn_logits(F.relu(self.conv5_mask(x)))


def project_masks_on_boxes(gt_masks, boxes, matched_idxs, M):
    """Mask targets: each RoI's matched instance mask, RoI-aligned to M x M (torchvision's project_masks_on_boxes).

    Lecture: "Instance segmentation - Mask R-CNN" (fixed-size mask per RoI; RoIAlign's interpolation).
    Forward:  target_k = roi_align(gt_masks[m_k] as a 1-channel image, box_k, (M, M), scale 1, aligned=True)
    Shapes:   gt_masks (G, H, W), boxes (K, 4), matched_idxs (K,) in [0, G) -> (K, M, M) in [0, 1] (NumPy)
    aligned=True (Detectron2's half-pixel shift; torchvision keeps False here for old checkpoints): pixel (r, c)
    covers [c, c + 1) x [r, r + 1) as in instances_to_targets' boxes, so the box of a mask maps it onto the whole
    M x M target, and paste_masks_in_image puts it back where it came from.
    """
    masks = host(gt_masks)[:, None]  # (G, 1, H, W) as a "batch" of G one-channel images
    rois = numpy.concatenate([host(matched_idxs)[:, None], host(boxes).reshape(-1, 4)], axis=1)  # (K, 5)
    return roi_align(Tensor(masks), rois, (M, M), 1.0, aligned=True).numpy()[:, 0]


def maskrcnn_loss(mask_logits, labels, mask_targets):
    """Mask R-CNN's mask loss: per-pixel BCE of the true class's logit map only (torchvision's maskrcnn_loss).

    Lecture: "Instance segmentation - Mask R-CNN" (a mask for each class; the class picks the mask).
    Forward:  loss_mask = mean_{k, i, j} BCE(sigmoid(mask_logits[k, u_k, i, j]), target[k, i, j])
    Backward: through binary_cross_entropy_with_logits into the u_k map of each RoI (other classes get 0)
    Shapes:   mask_logits (K, C, M, M), labels (K,) ints >= 1, mask_targets (K, M, M) -> scalar
    Reference: He et al., "Mask R-CNN", arXiv:1703.06870, section 3 (L_mask).
    """
    labels = host(labels, numpy.int64).reshape(-1)
    device = mask_logits.device
    rows, cols = (backend.to_device(v, device) for v in (numpy.arange(labels.size), labels))
    targets = Tensor(host(mask_targets).astype(mask_logits.dtype), device=device)
    return F.binary_cross_entropy_with_logits(mask_logits[rows, cols], targets)


def paste_masks_in_image(masks, boxes, image_size):
    """Resize each M x M mask into its box and place it in an empty image (as torchvision's paste_masks_in_image).

    Lecture: "Instance segmentation - Mask R-CNN" (the fixed-size mask is mapped back to the object).
    Forward:  the mask is padded by one ring of zeros; image pixel (r, c) inside the box widened by one pixel
              reads it bilinearly at (v, u) = ((r + 0.5 - y1) / h, (c + 0.5 - x1) / w) * M + 0.5, clipped to
              the padded mask; pixels further out are 0.  The mask's (i, j) covers the box's (i, j)-th of M x M cells.
    Shapes:   masks (K, M, M), boxes (K, 4) -> (K, 1, H, W) (NumPy, masks' dtype)
    """
    masks, boxes = host(masks), host(boxes).reshape(-1, 4)
    H, W = image_size
    out = numpy.zeros((masks.shape[0], 1, H, W), masks.dtype)
    for k, (mask, (x1, y1, x2, y2)) in enumerate(zip(masks, boxes, strict=True)):  # one box at a time
        r0, r1 = max(int(numpy.floor(y1)) - 1, 0), min(int(numpy.ceil(y2)) + 1, H)
        c0, c1 = max(int(numpy.floor(x1)) - 1, 0), min(int(numpy.ceil(x2)) + 1, W)
        if r1 <= r0 or c1 <= c0:
            continue
        rows, cols = _interp_matrix(r0, r1, y1, y2, mask.shape[0]), _interp_matrix(c0, c1, x1, x2, mask.shape[1])
        out[k, 0, r0:r1, c0:c1] = rows @ numpy.pad(mask, 1) @ cols.T  # separable bilinear: (R, M+2)(M+2, M+2)(M+2, C)
    return out


def _interp_matrix(start, stop, low_edge, high_edge, M):
    """(stop - start, M + 2) linear interpolation weights: image pixels start..stop-1 read the zero-padded mask."""
    size = M + 2
    coords = (numpy.arange(start, stop) + 0.5 - low_edge) / max(high_edge - low_edge, 1e-6) * M + 0.5
    coords = numpy.clip(coords, 0, size - 1)
    low = numpy.minimum(numpy.floor(coords).astype(numpy.int64), size - 2)
    lam = coords - low
    weights = numpy.zeros((coords.size, size))
    weights[numpy.arange(coords.size), low] = 1 - lam
    weights[numpy.arange(coords.size), low + 1] = lam
    return weights


class MaskBranch(nn.Module):
    """Mask R-CNN's third branch: RoIAlign -> MaskRCNNHeads -> MaskRCNNPredictor; its loss and its masks.

    Lecture: "Instance segmentation - Mask R-CNN".
    Shapes:   features (N, C, H', W') and RoIs -> logits (K, num_classes, 2 * roi_size, 2 * roi_size)
    """

    def __init__(self, in_channels, stride, num_classes, layers=(16, 16), dim_reduced=16, roi_size=14):
        super().__init__()
        self.mask_roi_pool = nn.RoIAlign(roi_size, 1.0 / stride, sampling_ratio=2)
        self.mask_head = MaskRCNNHeads(in_channels, layers)
        self.mask_predictor = MaskRCNNPredictor(layers[-1] if layers else in_channels, dim_reduced, num_classes)
        self.resolution = 2 * roi_size

    def forward(self, features, boxes):
        return self.mask_predictor(self.mask_head(self.mask_roi_pool(features, boxes)))

    def loss(self, features, proposals, matched, labels, targets):
        """{"loss_mask": ...} on the positive RoIs of Fast R-CNN's sample (lists per image, as RoIHeads gives)."""
        positive = [numpy.flatnonzero(lab > 0) for lab in labels]
        if sum(p.size for p in positive) == 0:  # no foreground RoI in the batch: nothing to learn from
            return {"loss_mask": Tensor(numpy.zeros((), features.dtype), device=features.device)}
        boxes = [p[i] for p, i in zip(proposals, positive, strict=True)]
        mask_targets = numpy.concatenate([
            project_masks_on_boxes(t["masks"], b, m[i], self.resolution)
            for t, b, m, i in zip(targets, boxes, matched, positive, strict=True)
        ])  # fmt: skip
        pos_labels = numpy.concatenate([lab[i] for lab, i in zip(labels, positive, strict=True)])
        rois = [backend.to_device(b.astype(features.dtype), features.device) for b in boxes]
        return {"loss_mask": maskrcnn_loss(self(features, rois), pos_labels, mask_targets)}

    def predict(self, features, detections, image_size):
        """Add "masks" (D_n, 1, H, W) probabilities to each detection dict, from its predicted class's map."""
        dtype, device = features.dtype, features.device
        counts = [d["boxes"].shape[0] for d in detections]
        if sum(counts) == 0:
            for d in detections:
                d["masks"] = Tensor(numpy.zeros((0, 1) + tuple(image_size), dtype), device=device)
            return
        logits = self(features, [d["boxes"].data for d in detections]).data
        labels = numpy.concatenate([host(d["labels"], numpy.int64) for d in detections])
        probs = host(1.0 / (1.0 + backend.get_xp(logits).exp(-logits)), dtype)[numpy.arange(labels.size), labels]
        starts = numpy.cumsum([0] + counts)
        for d, start, stop in zip(detections, starts[:-1], starts[1:], strict=True):
            pasted = paste_masks_in_image(probs[start:stop], d["boxes"], image_size)
            d["masks"] = Tensor(pasted, device=device)


class MaskRCNN(FasterRCNN):
    """Mask R-CNN: Faster R-CNN (models/faster_rcnn.py) with the mask branch in its RoI heads.

    Lecture: "Instance segmentation - Mask R-CNN [He et al., 2017]".
    Forward:  as FasterRCNN; training adds loss_mask (targets need "masks" (G_n, H, W)); eval adds "masks"
              (D_n, 1, H, W) probabilities to each image's detections
    Reference: He et al., "Mask R-CNN", arXiv:1703.06870.
    Args:
        as FasterRCNN, plus mask_layers (widths of the mask conv stack), mask_dim_reduced (channels of the
        transposed conv) and mask_roi_size (RoIAlign size; the masks are twice as large).
    """

    def __init__(self, num_classes, in_channels=1, widths=(8, 16, 32, 32), backbone=None, anchor_sizes=(12, 24),
                 aspect_ratios=(0.5, 1.0, 2.0), rpn_options=None, box_options=None, mask_layers=(16, 16),
                 mask_dim_reduced=16, mask_roi_size=14):  # fmt: skip
        super().__init__(num_classes, in_channels, widths, backbone, anchor_sizes, aspect_ratios, rpn_options,
                         box_options)  # fmt: skip
        self.roi_heads.mask_branch = MaskBranch(self.backbone.out_channels, self.backbone.stride, num_classes,
                                                mask_layers, mask_dim_reduced, mask_roi_size)  # fmt: skip

    def forward(self, images, targets=None):
        if self.training and targets is not None:
            size = tuple(images.shape[-2:])
            for n, target in enumerate(targets):
                masks, boxes = numpy.shape(host(target.get("masks", []))), numpy.shape(target["boxes"])
                if masks != boxes[:1] + size:
                    raise ShapeError(fmt("MaskRCNN", f"targets[{n}]: expected masks of shape (G, H, W) = "
                                         f"{boxes[:1] + size} for {boxes[0]} boxes, got {masks}"))  # fmt: skip
        return super().forward(images, targets)
