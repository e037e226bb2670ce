"""Detection ops: RoI pooling, RoI align and non-maxima suppression (torchvision.ops), with kernels/detection.cu.

Lecture: "Object detection" (R-CNN step 5: "non-maxima suppression (removes redundant overlapping
regions)"; Fast R-CNN shares the CNN between proposals, so each proposal's features are cut out of
one feature map by RoI pooling; Faster R-CNN's RPN proposes the regions) and "Instance segmentation -
Mask R-CNN" ("RoI pooling requires interpolation": RoI align).

A region of interest (RoI) is a box (x1, y1, x2, y2) in image pixels plus the index of its image in
the batch: ``boxes`` is a (K, 5) array (b, x1, y1, x2, y2) or a list of N (K_n, 4) arrays, one per
image, as torchvision.  spatial_scale maps image pixels to feature-map cells (1/16 for a stride-16
backbone).  Both poolings cut every RoI into output_size = (PH, PW) bins:

    roi_pool  (Fast R-CNN): the box is rounded to whole cells; bin (i, j) covers the cells
              [floor(i * h/PH), ceil((i+1) * h/PH)) x (the same for columns), h = rounded height + 1;
              y = max over the bin, and the argmax routes the gradient back.
    roi_align (Mask R-CNN): no rounding; each bin averages G_h x G_w bilinear samples at
              y = y1 + i * bin_h + (iy + 0.5) * bin_h / G_h (and likewise x), G = sampling_ratio,
              or ceil(roi_height / PH) when sampling_ratio <= 0 (adaptive).

Three implementations of roi_align: (a) the reference, _roi_align_fwd_cpu / _roi_align_bwd_cpu below
(y[k] = A_k x[b_k] B_k^T per RoI, with the bins' averaged bilinear weights A_k (PH, H) and B_k (PW, W) of
ops/roi_geometry.py; what ``tm.reference_mode()`` runs); (b) kernels/detection.cu, the same taps per
output element, the backward scattered with atomicAdd; (c) the fast CPU path ops/detection_fast.py (all
RoIs as one sparse matrix), reached from RoIAlign in one line.  tests/test_reference_parity.py holds
(a) == (b) == (c).
"""

import itertools

import numpy

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from ..reference import path
from . import detection_fast
from .boxes import boxes_array, iou, positive_pair, same_device, unwrap
from .detection_args import rois_array
from .roi_geometry import roi_align_matrices, roi_pool_bins

__all__ = ["roi_align", "roi_pool", "nms", "batched_nms"]


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """RoI align: average of bilinear samples in each of PH x PW bins of every RoI (torchvision.ops.roi_align).

    Lecture: "Instance segmentation - Mask R-CNN" ("RoI pooling requires interpolation").
    Forward:  y[k,c,i,j] = (1 / (G_h G_w)) sum_{iy, ix} bilinear(x[b_k, c], y_{i,iy}, x_{j,ix}) with
              y_{i,iy} = y1 + i * bin_h + (iy + 0.5) * bin_h / G_h, bin_h = roi_height / PH,
              (y1, roi_height) = (y1_k * scale - o, (y2_k - y1_k) * scale), o = 0.5 if aligned else 0,
              roi_height >= 1 unless aligned; a sample outside [-1, H] x [-1, W] reads 0, one in
              [-1, 0) reads row 0, one past H - 1 reads row H - 1 (torchvision's bilinear_interpolate)
    Backward: gx[b_k, c, h, w] += gy[k,c,i,j] * (its bilinear weight of (h, w)) / (G_h G_w), for all samples
    Code:     reference _roi_align_fwd_cpu / _bwd_cpu (A_k x B_k^T per RoI); kernels/detection.cu;
              fast CPU path ops/detection_fast.py (one scipy.sparse matrix).
    Shapes:   input (N, C, H, W), boxes (K, 5) or list of (K_n, 4) -> y (K, C, PH, PW)
    Reference: He et al., "Mask R-CNN", arXiv:1703.06870, section 3 (RoIAlign).
    Args:
        input: float tensor (N, C, H, W); boxes: see the module docstring (no gradient).
        output_size: int or (PH, PW).  spatial_scale: box coordinates times this give feature-map coordinates.
        sampling_ratio: G_h = G_w = sampling_ratio if > 0, else adaptive ceil(roi_height / PH), ceil(roi_width / PW).
        aligned: shift the box by -0.5 pixel so that sample coordinates are pixel centres (Detectron2's fix).
    Raises:
        ShapeError / DTypeError / DeviceError / ValueError on bad input (see ops/detection_args.py).
    """
    rois, (PH, PW) = rois_array("roi_align", input, boxes), positive_pair("roi_align", "output_size", output_size)
    return RoIAlign.apply(input, rois, output_size=(PH, PW), spatial_scale=float(spatial_scale),
                          sampling_ratio=int(sampling_ratio), aligned=bool(aligned))  # fmt: skip


class RoIAlign(Function):
    """y = per-RoI average of bilinear samples; backward scatters gy back with the same weights.

    Lecture:  "Instance segmentation - Mask R-CNN"
    Forward:  y[r, c, i, j] = mean over the bin's sample points of bilinear(x[batch(r), c], point)
    Backward: gx += gy / count times the same bilinear weights; none for rois
    Shapes:   x (N, C, H, W), rois (R, 5) -> y (R, C, PH, PW)
    """

    def forward(self, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        self.rois, self.x_shape = rois, x.shape
        self.geometry = (output_size, spatial_scale, sampling_ratio, aligned)
        fwd = path(x, _roi_align_fwd_cpu, detection_fast.roi_align_fwd, _roi_align_fwd_gpu)
        return fwd(x, rois, *self.geometry)

    def backward(self, gy):
        bwd = path(gy, _roi_align_bwd_cpu, detection_fast.roi_align_bwd, _roi_align_bwd_gpu)
        return bwd(gy, self.rois, self.x_shape, *self.geometry), None


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling over PH x PW bins of every rounded RoI (torchvision.ops.roi_pool, Fast R-CNN).

    Lecture: "Object detection - Fast R-CNN" (features of every proposal pooled from one shared feature map).
    Forward:  (x1, y1, x2, y2) = round(box * scale) (half away from zero), h = max(y2 - y1 + 1, 1),
              rows of bin i: [y1 + floor(i h / PH), y1 + ceil((i+1) h / PH)) clipped to [0, H] (columns alike);
              y[k,c,i,j] = max of x[b_k, c] over the bin (0 for an empty bin), argmax = its flat h * W + w
              (the first maximum in row-major order), -1 for an empty bin
    Backward: gx[b_k, c, argmax[k,c,i,j]] += gy[k,c,i,j]   (bins may overlap: the adds accumulate)
    Code:     reference _roi_pool_fwd_cpu / _roi_pool_bwd_cpu (a loop over the bins); kernels/detection.cu;
              fast CPU path ops/detection_fast.py::roi_pool_fwd (bins of one size together).
    Shapes:   input (N, C, H, W), boxes (K, 5) or list of (K_n, 4) -> y (K, C, PH, PW)
    Reference: Girshick, "Fast R-CNN", arXiv:1504.08083, section 2.1.
    Raises:
        ShapeError / DTypeError / DeviceError / ValueError on bad input (see ops/detection_args.py).
    """
    rois, (PH, PW) = rois_array("roi_pool", input, boxes), positive_pair("roi_pool", "output_size", output_size)
    return RoIPool.apply(input, rois, output_size=(PH, PW), spatial_scale=float(spatial_scale))


class RoIPool(Function):
    """y = max over each bin; saves the argmax per output for the backward scatter.

    Lecture:  "Object detection - Fast R-CNN"
    Forward:  y[r, c, i, j] = max over bin (i, j) of RoI r of x[batch(r), c]
    Backward: gx[argmax] += gy; none for rois
    Shapes:   x (N, C, H, W), rois (R, 5) -> y (R, C, PH, PW)
    """

    def forward(self, x, rois, output_size, spatial_scale):
        self.rois, self.x_shape = rois, x.shape
        fwd = path(x, _roi_pool_fwd_cpu, detection_fast.roi_pool_fwd, _roi_pool_fwd_gpu)
        y, self.argmax = fwd(x, rois, output_size, spatial_scale)
        return y

    def backward(self, gy):
        bwd = _roi_pool_bwd_gpu if backend.on_gpu(gy) else _roi_pool_bwd_cpu
        return bwd(gy, self.argmax, self.rois, self.x_shape), None


def nms(boxes, scores, iou_threshold):
    """Greedy non-maxima suppression (torchvision.ops.nms).

    Lecture: "Object detection" (R-CNN step 5, "non-maxima suppression: removes redundant overlapping regions").
    Forward:  visit the boxes by decreasing score (ties: lower index first); keep a box unless a kept box
              has IoU > iou_threshold with it
    Shapes:   boxes (K, 4) as (x1, y1, x2, y2), scores (K,) -> int64 indices (M,), M <= K, by decreasing score
    On the GPU the IoU matrix of the sorted boxes is computed as a whole (kernels/detection.cu::nms_mask:
    one bit per pair); the greedy scan over it stays on the host, since each step depends on the previous
    one (the scan is K row operations, the IoU matrix K^2 / 2 box pairs).  The CPU takes the sorted boxes
    a block at a time and never compares a box that an earlier block removed (_nms_keep_cpu).
    Raises:
        ShapeError if boxes is not (K, 4) or scores not (K,); DeviceError if they are on different devices.
    """
    b, wrap = boxes_array("nms", "boxes", boxes)
    s, _ = unwrap("nms", "scores", scores)
    same_device("nms", b, s)
    if s.shape != (b.shape[0],):
        raise ShapeError(fmt("nms", "expected scores of shape (K,) for boxes (K, 4)", boxes=b, scores=s))
    xp = backend.get_xp(b)
    order = xp.argsort(-s, kind="stable")  # decreasing score
    if b.shape[0] == 0:
        keep = numpy.zeros(0, numpy.int64)
    elif backend.on_gpu(b):
        keep = _greedy_keep(_nms_mask_gpu(xp.ascontiguousarray(b[order]), float(iou_threshold)))
    else:
        keep = _nms_keep_cpu(b[order], float(iou_threshold))
    kept = order[xp.asarray(keep)].astype(numpy.int64)
    return wrap(kept)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category: boxes of different idxs never suppress each other (torchvision.ops.batched_nms).

    Lecture: "Object detection" (non-maxima suppression, once per class).
    Forward:  nms on boxes + idxs * (max coordinate + 1): the offset moves each category to its own region
              of the plane, so boxes of different categories do not overlap (torchvision's coordinate trick)
    Shapes:   boxes (K, 4), scores (K,), idxs (K,) integers -> int64 indices (M,) by decreasing score
    Raises:
        ShapeError if the shapes disagree.
    """
    b, wrap = boxes_array("batched_nms", "boxes", boxes)
    i, _ = unwrap("batched_nms", "idxs", idxs)
    if i.shape != (b.shape[0],):
        raise ShapeError(fmt("batched_nms", "expected idxs of shape (K,) for boxes (K, 4)", boxes=b, idxs=i))
    same_device("batched_nms", b, i)
    offset = i.astype(b.dtype)[:, None] * (b.max() + 1 if b.size else 0)  # (K, 1)
    return nms(wrap(b + offset), scores, iou_threshold)


def _greedy_keep(overlap):
    """Positions kept by the greedy scan of a host (K, K) boolean matrix: overlap[i, j] = IoU(i, j) > t, j > i."""
    removed, keep = numpy.zeros(overlap.shape[0], bool), []
    for i in range(overlap.shape[0]):  # sequential by nature: box i survives only if no kept box removed it
        if not removed[i]:
            keep.append(i)
            removed |= overlap[i]
    return numpy.asarray(keep, numpy.int64)


def _nms_keep_cpu(boxes, iou_threshold, rows=128):
    """Positions kept by greedy NMS of score-sorted boxes, a block of ``rows`` boxes at a time.

    A block first loses the boxes that overlap a box kept by an earlier block (one (kept, rows) IoU
    matrix), then the survivors are scanned greedily against each other (their upper triangle).  A box
    removed early is never compared again, so far fewer than the K^2 / 2 pairs of the GPU's mask are
    computed; the kept positions are the same (IoU compared in double, as torchvision).
    """
    keep = numpy.zeros(0, numpy.int64)
    for start in range(0, boxes.shape[0], rows):
        block = boxes[start : start + rows]
        alive = ~(iou(boxes[keep], block).astype(numpy.float64) > iou_threshold).any(axis=0)  # (rows,)
        survivors = numpy.flatnonzero(alive)
        if survivors.size:  # else the whole block is suppressed: nothing to scan
            overlap = iou(block[survivors], block[survivors]).astype(numpy.float64) > iou_threshold
            keep = numpy.concatenate([keep, start + survivors[_greedy_keep(numpy.triu(overlap, k=1))]])
    return keep


def _nms_mask_gpu(boxes, iou_threshold):
    xp = backend.get_xp(boxes)
    K = boxes.shape[0]
    words = (K + 63) // 64
    mask = xp.zeros((K, words), numpy.int64)  # bit j % 64 of word j // 64 in row i: IoU(i, j) > t
    backend.launch("detection", "nms_mask", K * words, (boxes, mask, K, iou_threshold), boxes.dtype)
    bits = numpy.unpackbits(backend.to_numpy(mask).view(numpy.uint8), axis=1, bitorder="little")  # little-endian
    return bits[:, :K].astype(bool)


# ----------------------------------------------------------------------------- roi_align: CPU and GPU


def _roi_align_fwd_cpu(x, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """The reference: y[k] = A_k x[b_k] B_k^T, A_k (PH, H) and B_k (PW, W) the bins' averaged bilinear weights."""
    A, B, image = roi_align_matrices(rois, x.shape, output_size, spatial_scale, sampling_ratio, aligned, x.dtype)
    return A[:, None] @ x[image] @ B[:, None].swapaxes(-1, -2)  # (K, 1, PH, H) @ (K, C, H, W) @ (K, 1, W, PW)


def _roi_align_bwd_cpu(gy, rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned):
    """The reference: gx[b_k] += A_k^T gy[k] B_k (numpy.add.at: RoIs of one image add up)."""
    A, B, image = roi_align_matrices(rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned, gy.dtype)
    gx = numpy.zeros(x_shape, gy.dtype)
    numpy.add.at(gx, image, A[:, None].swapaxes(-1, -2) @ gy @ B[:, None])  # (K, C, H, W)
    return gx


def _roi_align_fwd_gpu(x, rois, output_size, spatial_scale, sampling_ratio, aligned):
    xp = backend.get_xp(x)
    y = xp.zeros((rois.shape[0], x.shape[1], *output_size), x.dtype)
    args = (*x.shape[1:], *output_size, spatial_scale, sampling_ratio, int(aligned))
    backend.launch("detection", "roi_align_fwd", y.size, (xp.ascontiguousarray(x), rois, y, y.size, *args), x.dtype)
    return y


def _roi_align_bwd_gpu(gy, rois, x_shape, output_size, spatial_scale, sampling_ratio, aligned):
    xp = backend.get_xp(gy)
    gx = xp.zeros(x_shape, gy.dtype)  # the kernel adds into it
    args = (*x_shape[1:], *output_size, spatial_scale, sampling_ratio, int(aligned))
    backend.launch(
        "detection", "roi_align_bwd", gy.size, (xp.ascontiguousarray(gy), rois, gx, gy.size, *args), gy.dtype
    )
    return gx


# ----------------------------------------------------------------------------- roi_pool: CPU and GPU


def _roi_pool_fwd_cpu(x, rois, output_size, spatial_scale):
    """The reference: y = the max of each bin, argmax = its first maximum's flat h * W + w (0 and -1 for an
    empty bin).  As torchvision, the running max starts at -FLT_MAX and only a strictly greater value
    wins, so nan (and -inf) never does: a bin of only those gives -FLT_MAX and argmax -1."""
    image, (h0, h1), (w0, w1) = roi_pool_bins(rois, x.shape, output_size, spatial_scale)
    (PH, PW), (C, W) = output_size, (x.shape[1], x.shape[3])
    y, argmax = numpy.zeros((rois.shape[0], C, PH, PW), x.dtype), numpy.full((rois.shape[0], C, PH, PW), -1)
    lowest, channel = x.dtype.type(detection_fast.LOWEST), numpy.arange(C)
    for k, i, j in itertools.product(range(rois.shape[0]), range(PH), range(PW)):
        rows, cols = numpy.arange(h0[k, i], h1[k, i]), numpy.arange(w0[k, j], w1[k, j])
        if rows.size and cols.size:  # an empty bin keeps 0 and -1
            window = x[image[k]][:, rows[:, None], cols].reshape(C, -1)  # (C, bin pixels) in row-major order
            values = numpy.where(window > lowest, window, lowest)  # nan and -inf never win
            first = values.argmax(axis=1)  # the first maximum
            won = values[channel, first] > lowest
            y[k, :, i, j] = values[channel, first]
            argmax[k, :, i, j] = numpy.where(won, (rows[:, None] * W + cols).ravel()[first], -1)
    return y, argmax


def _roi_pool_bwd_cpu(gy, argmax, rois, x_shape):
    N, C, H, W = x_shape
    argmax, gy = argmax.transpose(0, 2, 3, 1), gy.transpose(0, 2, 3, 1)  # (K, PH, PW, C): the forward's argmax order
    flat = numpy.int32 if N * C * H * W < 2**31 - 1 else numpy.int64
    plane = (rois[:, 0].astype(flat)[:, None, None, None] * C + numpy.arange(C, dtype=flat)) * (H * W)  # (K, 1, 1, C)
    index = numpy.where(argmax >= 0, plane + argmax, N * C * H * W)  # an empty bin adds to one extra slot
    gx = numpy.zeros(N * C * H * W + 1, gy.dtype)
    numpy.add.at(gx, index.ravel(), gy.ravel())  # bins may share an argmax: the adds accumulate
    return gx[:-1].reshape(x_shape)


def _roi_pool_fwd_gpu(x, rois, output_size, spatial_scale):
    xp = backend.get_xp(x)
    y = xp.empty((rois.shape[0], x.shape[1], *output_size), x.dtype)
    argmax = xp.empty(y.shape, numpy.int64)
    args = (*x.shape[1:], *output_size, spatial_scale)
    backend.launch(
        "detection", "roi_pool_fwd", y.size, (xp.ascontiguousarray(x), rois, y, argmax, y.size, *args), x.dtype
    )
    return y, argmax


def _roi_pool_bwd_gpu(gy, argmax, rois, x_shape):
    xp = backend.get_xp(gy)
    gx = xp.zeros(x_shape, gy.dtype)  # the kernel adds into it
    args = (*x_shape[1:], *gy.shape[2:])
    backend.launch(
        "detection", "roi_pool_bwd", gy.size, (xp.ascontiguousarray(gy), argmax, rois, gx, gy.size, *args), gy.dtype
    )
    return gx
