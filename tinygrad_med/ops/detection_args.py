"""The RoI argument check shared by roi_align and roi_pool (ops/detection.py).

Lecture: "Object detection - Fast R-CNN" (each proposal is a box plus the image it belongs to).  No op
math here: the boxes come as a (K, 5) array (b, x1, y1, x2, y2) or a list of N (K_n, 4) arrays, one per
image, as torchvision; both become one (K, 5) array in the input's dtype and device, or an error that
names the op, what came and what was expected.
"""

import numpy

from .. import backend
from ..errors import DeviceError, DTypeError, ShapeError, fmt

__all__ = ["rois_array"]


def rois_array(op, x, boxes):
    """Validate input and boxes; return the (K, 5) RoI array (b, x1, y1, x2, y2) in x's dtype and device."""
    from ..tensor import Tensor

    if x.ndim != 4:
        raise ShapeError(fmt(op, "expected a 4-D input (N, C, H, W)", input=x))
    if x.dtype.kind != "f":
        raise DTypeError(fmt(op, f"expected a float input, got {x.dtype}", input=x))
    xp = backend.get_xp(x.data)
    if isinstance(boxes, (list, tuple)):
        parts = [_rois_part(op, x, n, box) for n, box in enumerate(boxes)]
        rois = xp.concatenate(parts) if parts else xp.zeros((0, 5), x.dtype)
    else:
        array = boxes.data if isinstance(boxes, Tensor) else boxes
        _check_device(op, x, array, "boxes")
        rois = xp.asarray(array, dtype=x.dtype)
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ShapeError(fmt(op, "expected boxes of shape (K, 5) as (batch index, x1, y1, x2, y2), "
                                 "or a list of (K_n, 4) tensors", boxes=rois, input=x))  # fmt: skip
        index = backend.to_numpy(rois[:, 0])
        if ((index != numpy.floor(index)) | (index < 0) | (index >= x.shape[0])).any():
            raise ValueError(fmt(op, f"boxes[:, 0] must hold batch indices in [0, {x.shape[0] - 1}]",
                                 boxes=rois, input=x))  # fmt: skip
    return xp.ascontiguousarray(rois)


def _rois_part(op, x, n, box):
    """Image n's (K_n, 4) boxes as (K_n, 5) rows (n, x1, y1, x2, y2)."""
    from ..tensor import Tensor

    array = box.data if isinstance(box, Tensor) else box
    _check_device(op, x, array, f"boxes[{n}]")
    xp = backend.get_xp(x.data)
    array = xp.asarray(array, dtype=x.dtype)
    if array.ndim != 2 or array.shape[1] != 4:
        shape = {f"boxes[{n}]": array}
        raise ShapeError(fmt(op, f"expected boxes[{n}] of shape (K_{n}, 4) as (x1, y1, x2, y2)", **shape))
    if n >= x.shape[0]:
        raise ValueError(fmt(op, f"got boxes for {n + 1} or more images but the batch has {x.shape[0]}", input=x))
    return xp.concatenate([xp.full((array.shape[0], 1), n, x.dtype), array], axis=1)


def _check_device(op, x, array, name):
    if hasattr(array, "shape") and backend.device_of(array) != x.device:
        raise DeviceError(fmt(op, f"input is on {x.device} but {name} is on {backend.device_of(array)}",
                              hint=f"move {name} with .to('{x.device}')"))  # fmt: skip
