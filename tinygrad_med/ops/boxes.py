"""Box geometry for detection: areas, IoU, Faster R-CNN anchors and the (dx, dy, dw, dh) box coding.

Lecture: "Object detection" (R-CNN [Girshick et al, 2014]: bounding-box regressors and
non-maxima suppression by overlap; Faster R-CNN [Ren et al., 2015]: "anchor boxes with
different scales and aspect ratios" and a "multitask loss for box regression and objectness").

A box is (x1, y1, x2, y2) in pixels, x to the right and y down, with x1 <= x2 and y1 <= y2;
its width is x2 - x1 (no "+ 1", as torchvision since 0.3).  These are plain array functions
(xp code, the same on numpy and cupy), with torchvision.ops' names and semantics: nothing here
is differentiated (targets and proposals carry no gradient in Faster R-CNN).  Each takes
Tensors or arrays and returns the same kind: a Tensor in gives a Tensor out (no grad).
The overlap-based ops that have CUDA kernels (nms, roi_align, roi_pool) are in ops/detection.py.
"""

import math

import numpy

from .. import backend
from ..errors import DeviceError, ShapeError, fmt

__all__ = ["box_area", "box_iou", "anchors", "encode_boxes", "decode_boxes"]

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # torchvision's cap on dw, dh before exp (a box at most 62.5x wider)


def box_area(boxes):
    """Area of each box (torchvision.ops.box_area).

    Lecture: "Object detection" (bounding boxes).
    Forward:  area_k = (x2_k - x1_k) * (y2_k - y1_k)
    Shapes:   boxes (K, 4) as (x1, y1, x2, y2) -> (K,)
    Raises:   ShapeError if boxes is not (K, 4).
    """
    b, wrap = boxes_array("box_area", "boxes", boxes)
    return wrap((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair of boxes (torchvision.ops.box_iou).

    Lecture: "Object detection" (R-CNN step 5, non-maxima suppression: "removes redundant
    overlapping regions"; overlap is measured by IoU).
    Forward:  inter_ij = max(0, min(x2_i, x2_j) - max(x1_i, x1_j)) * max(0, min(y2_i, y2_j) - max(y1_i, y1_j))
              IoU_ij = inter_ij / (area_i + area_j - inter_ij)   (0/0 = nan for two empty boxes, as torchvision)
    Shapes:   boxes1 (N, 4), boxes2 (M, 4) -> (N, M)
    Raises:   ShapeError if either is not (K, 4); DeviceError if they are on different devices.
    """
    a, wrap = boxes_array("box_iou", "boxes1", boxes1)
    b, _ = boxes_array("box_iou", "boxes2", boxes2)
    same_device("box_iou", a, b)
    return wrap(iou(a, b))


def iou(a, b):
    """The IoU matrix of two (., 4) arrays, in their dtype (see box_iou)."""
    xp = backend.get_xp(a)
    area_a, area_b = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    def overlap(low, high):  # (N, M): the length two boxes share along one axis (columns low, high), >= 0
        start, stop = xp.maximum(a[:, None, low], b[None, :, low]), xp.minimum(a[:, None, high], b[None, :, high])
        return xp.clip(stop - start, 0, None)

    inter = overlap(0, 2) * overlap(1, 3)  # per axis, not as (N, M, 2) arrays: elementwise loops of length 2 are slow
    with numpy.errstate(invalid="ignore", divide="ignore"):  # two empty boxes: 0/0 = nan
        return inter / (area_a[:, None] + area_b[None, :] - inter)


def anchors(feature_size, stride, sizes=(128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0), dtype=numpy.float32,
            device="cpu"):  # fmt: skip
    """The anchor boxes of one feature map, as torchvision's AnchorGenerator places them.

    Lecture: "Object detection - Faster R-CNN" ("use anchor boxes with different scales and
    aspect ratios to generate RoI proposals").
    Forward:  for aspect ratio a = h / w and size s: w = s / sqrt(a), h = s * sqrt(a), and the base
              anchor round((-w/2, -h/2, w/2, h/2)); it is placed at every feature-map cell (i, j),
              shifted by (j * SW, i * SH, j * SW, i * SH) (the cell's top-left pixel, as torchvision).
    Shapes:   -> (H * W * A, 4), A = len(aspect_ratios) * len(sizes); row ((i * W + j) * A + r * len(sizes) + s)
              is cell (i, j), ratio r, size s
    Args:
        feature_size: (H, W) of the feature map.
        stride: int or (SH, SW), pixels of the image per feature-map cell.
        sizes: anchor sizes in pixels (square root of the area).  aspect_ratios: h / w ratios.
        dtype, device: of the result.
    Returns:
        Tensor (H * W * A, 4) of (x1, y1, x2, y2) boxes.
    Raises:
        ValueError on a non-positive feature size, stride, size or aspect ratio.
    """
    from ..tensor import Tensor

    (H, W), (SH, SW) = (
        positive_pair("anchors", "feature_size", feature_size),
        positive_pair("anchors", "stride", stride),
    )
    scales, ratios = numpy.asarray(sizes, numpy.float64).ravel(), numpy.asarray(aspect_ratios, numpy.float64).ravel()
    if scales.size == 0 or ratios.size == 0 or min(scales.min(), ratios.min()) <= 0:
        raise ValueError(fmt("anchors", "sizes and aspect_ratios must be non-empty and positive",
                             sizes=sizes, aspect_ratios=aspect_ratios))  # fmt: skip
    h_ratios = numpy.sqrt(ratios)
    ws, hs = (scales[None, :] / h_ratios[:, None]).ravel(), (scales[None, :] * h_ratios[:, None]).ravel()  # (A,)
    base = numpy.round(numpy.stack([-ws, -hs, ws, hs], axis=1) / 2)  # (A, 4), centred on (0, 0)
    shift_y, shift_x = numpy.meshgrid(numpy.arange(H) * SH, numpy.arange(W) * SW, indexing="ij")  # (H, W)
    shifts = numpy.stack([shift_x, shift_y, shift_x, shift_y], axis=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return Tensor((shifts + base[None]).reshape(-1, 4).astype(dtype), device=device)


def encode_boxes(reference_boxes, proposals, weights=(1.0, 1.0, 1.0, 1.0)):
    """Regression targets that move each proposal onto its reference box (torchvision's BoxCoder.encode).

    Lecture: "Object detection - Faster R-CNN" (box regression); R-CNN's bounding-box regressors.
    Forward:  with centres (x, y), widths w, heights h of the proposal P and the reference G:
              dx = wx (G_x - P_x) / P_w,  dy = wy (G_y - P_y) / P_h,
              dw = ww log(G_w / P_w),     dh = wh log(G_h / P_h)
    Shapes:   reference_boxes (K, 4), proposals (K, 4) -> (K, 4) as (dx, dy, dw, dh)
    Reference: Girshick et al., "Rich feature hierarchies ...", arXiv:1311.2524, appendix C;
               Ren et al., "Faster R-CNN", arXiv:1506.01497, eq. (2).
    Args:
        weights: (wx, wy, ww, wh); Faster R-CNN's RPN uses (1, 1, 1, 1), its box head (10, 10, 5, 5).
    Raises:
        ShapeError if the two are not both (K, 4) with the same K.
    """
    g, wrap = boxes_array("encode_boxes", "reference_boxes", reference_boxes)
    p, _ = boxes_array("encode_boxes", "proposals", proposals)
    same_device("encode_boxes", g, p)
    if g.shape != p.shape:
        raise ShapeError(fmt("encode_boxes", "reference_boxes and proposals must have the same number of boxes",
                             reference_boxes=g, proposals=p))  # fmt: skip
    xp = backend.get_xp(g)
    wx, wy, ww, wh = (float(w) for w in weights)
    (px, py, pw, ph), (gx, gy, gw, gh) = _centre_size(p), _centre_size(g)
    return wrap(xp.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * xp.log(gw / pw), wh * xp.log(gh / ph)], 1))


def decode_boxes(rel_codes, boxes, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip=BBOX_XFORM_CLIP):
    """Apply (dx, dy, dw, dh) codes to boxes: the inverse of encode_boxes (torchvision's BoxCoder.decode_single).

    Lecture: "Object detection - Faster R-CNN" (anchors + regressed offsets = proposals).
    Forward:  x = dx / wx * P_w + P_x,  y = dy / wy * P_h + P_y,
              w = exp(min(dw / ww, clip)) * P_w,  h = exp(min(dh / wh, clip)) * P_h,
              box = (x - w/2, y - h/2, x + w/2, y + h/2)
    Shapes:   rel_codes (K, 4 * J) (J boxes per row, e.g. one per class), boxes (K, 4) -> (K, 4 * J)
    Reference: Ren et al., "Faster R-CNN", arXiv:1506.01497, eq. (2).
    Raises:
        ShapeError if boxes is not (K, 4) or rel_codes is not (K, 4 * J).
    """
    p, _ = boxes_array("decode_boxes", "boxes", boxes)
    codes, wrap = unwrap("decode_boxes", "rel_codes", rel_codes)
    same_device("decode_boxes", codes, p)
    if codes.ndim != 2 or codes.shape[0] != p.shape[0] or codes.shape[1] % 4 or codes.shape[1] == 0:
        raise ShapeError(fmt("decode_boxes", "expected rel_codes of shape (K, 4 * J) for boxes (K, 4)",
                             rel_codes=codes, boxes=p))  # fmt: skip
    xp = backend.get_xp(codes)
    wx, wy, ww, wh = (float(w) for w in weights)
    px, py, pw, ph = (v[:, None] for v in _centre_size(p.astype(codes.dtype)))
    x, y = codes[:, 0::4] / wx * pw + px, codes[:, 1::4] / wy * ph + py  # (K, J)
    w = xp.exp(xp.minimum(codes[:, 2::4] / ww, bbox_xform_clip)) * pw
    h = xp.exp(xp.minimum(codes[:, 3::4] / wh, bbox_xform_clip)) * ph
    decoded = xp.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=2)  # (K, J, 4)
    return wrap(decoded.reshape(codes.shape))


def _centre_size(b):
    """(centre x, centre y, width, height) of (K, 4) boxes."""
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h, w, h


# ----------------------------------------------------------------------------- arguments


def unwrap(op, name, value):
    """(float array, wrap): wrap turns a result back into what came in (Tensor, no grad, or array)."""
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        array = value.data
        wrap = Tensor._wrap
    else:
        array = value if backend.is_gpu_array(value) else numpy.asarray(value)
        wrap = _identity
    if array.dtype.kind != "f":
        array = array.astype(numpy.float32)  # integer pixel boxes: float32, the default dtype
    return array, wrap


def _identity(array):
    return array


def boxes_array(op, name, value):
    array, wrap = unwrap(op, name, value)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ShapeError(fmt(op, f"expected {name} of shape (K, 4) as (x1, y1, x2, y2)", **{name: array}))
    return array, wrap


def same_device(op, a, b):
    if backend.device_of(a) != backend.device_of(b):
        raise DeviceError(fmt(op, f"inputs are on different devices ({backend.device_of(a)} and "
                              f"{backend.device_of(b)})", hint="move them with .to() first"))  # fmt: skip


def positive_pair(op, name, value):
    """(a, b) of positive ints from an int or a pair."""
    pair = (value, value) if numpy.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(fmt(op, f"{name} must be a positive int or a pair of them, got {value!r}"))
    return int(pair[0]), int(pair[1])
