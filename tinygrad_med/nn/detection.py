"""Detection layers with torchvision.ops' names: RoIAlign (Mask R-CNN) and RoIPool (Fast R-CNN).

Lecture: "Object detection - Fast R-CNN" (one CNN pass, each proposal's features pooled from the
shared feature map) and "Instance segmentation - Mask R-CNN" ("RoI pooling requires interpolation").
The layers own no parameters; each calls the op of the same name in ops/detection.py.
"""

from ..ops.detection import roi_align, roi_pool
from .module import Module

__all__ = ["RoIAlign", "RoIPool"]


class RoIAlign(Module):
    """RoI align as a layer (torchvision.ops.RoIAlign): average of bilinear samples in each output bin.

    Lecture: "Instance segmentation - Mask R-CNN".
    Forward:  y[k,c,i,j] = mean over the G_h x G_w samples of bin (i, j) of RoI k of bilinear(x[b_k, c], .)
    Backward: each sample's gy / (G_h G_w) goes to its 4 neighbouring pixels with its bilinear weights
    Shapes:   input (N, C, H, W), rois (K, 5) or list of (K_n, 4) -> (K, C, PH, PW)
    Args:
        output_size: int or (PH, PW); spatial_scale: box coordinates to feature-map coordinates;
        sampling_ratio: samples per bin and axis (<= 0: adaptive); aligned: the half-pixel shift of Detectron2.
    """

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self):
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")  # fmt: skip


class RoIPool(Module):
    """RoI max pooling as a layer (torchvision.ops.RoIPool).

    Lecture: "Object detection - Fast R-CNN".
    Forward:  y[k,c,i,j] = max of x[b_k, c] over bin (i, j) of the rounded RoI k
    Backward: gy goes to the argmax of each bin
    Shapes:   input (N, C, H, W), rois (K, 5) or list of (K_n, 4) -> (K, C, PH, PW)
    """

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self):
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
