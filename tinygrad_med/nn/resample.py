"""Upsampling and padding layers with torch.nn's names: Upsample, UpsamplingNearest2d, UpsamplingBilinear2d,
ReflectionPad*, ReplicationPad*, CircularPad*, ZeroPad*, ConstantPad*.

Lecture: "Semantic segmentation" (FCN: "add upsampling operations at the end of the network";
the decoders of encoder-decoder networks and U-Net).  The layers own no parameters; each calls
nn.functional.interpolate or nn.functional.pad (ops/resample.py, ops/shape.py for 'constant').
"""

from . import functional as F
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "ReflectionPad1d", "ReflectionPad2d",
           "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d"]  # fmt: skip


class Upsample(Module):
    """Resize by nearest, (bi/tri)linear or bicubic interpolation (torch.nn.Upsample).

    Lecture: "Semantic segmentation" (upsampling).
    Forward:  y = interpolate(x, size, scale_factor, mode, align_corners) (ops/resample.py)
    Backward: the transposed interpolation: each gy[o] goes back to the inputs o read, with o's weights
    Shapes:   (N, C, *L) -> (N, C, *O), O = size, or floor(L * scale_factor)
    Args:
        size: output spatial size (int or tuple); scale_factor: multiplier (float or tuple); give one of them.
        mode: 'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear' or 'area'.
        align_corners: linear and bicubic modes only (see interpolate).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)  # fmt: skip

    def extra_repr(self):
        text = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return text + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2D upsampling (torch.nn.UpsamplingNearest2d = Upsample(mode='nearest'))."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2D upsampling with align_corners=True (torch.nn.UpsamplingBilinear2d)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _PadNd(Module):
    """Pad the last d dims (torch.nn.{Reflection,Replication,Circular,Zero,Constant}Pad{1,2,3}d).

    Lecture: "Convolutional neural networks - padding".
    Forward:  y = F.pad(x, padding, mode) with padding = (left, right[, top, bottom[, front, back]])
    Backward: the transposed padding: border gradients fold back onto the inputs they copy
    Shapes:   (N, C, *L) or (C, *L) -> each padded dim grows by its two paddings
    """

    d, mode = 2, "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self.d) if isinstance(padding, int) else tuple(padding)
        self.value = value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


class ReflectionPad1d(_PadNd):
    """Reflect padding of the last 1 dim (torch.nn.ReflectionPad1d); see _PadNd."""

    d, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Reflect padding of the last 2 dims (torch.nn.ReflectionPad2d); see _PadNd."""

    d, mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Reflect padding of the last 3 dims (torch.nn.ReflectionPad3d); see _PadNd."""

    d, mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Replicate padding of the last 1 dim (torch.nn.ReplicationPad1d); see _PadNd."""

    d, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Replicate padding of the last 2 dims (torch.nn.ReplicationPad2d); see _PadNd."""

    d, mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Replicate padding of the last 3 dims (torch.nn.ReplicationPad3d); see _PadNd."""

    d, mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Circular padding of the last 1 dim (torch.nn.CircularPad1d); see _PadNd."""

    d, mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Circular padding of the last 2 dims (torch.nn.CircularPad2d); see _PadNd."""

    d, mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Circular padding of the last 3 dims (torch.nn.CircularPad3d); see _PadNd."""

    d, mode = 3, "circular"


class ZeroPad1d(_PadNd):
    """Zero padding of the last 1 dim (torch.nn.ZeroPad1d); see _PadNd."""

    d = 1

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(_PadNd):
    """Zero padding of the last 2 dims (torch.nn.ZeroPad2d); see _PadNd."""

    d = 2

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad3d(_PadNd):
    """Zero padding of the last 3 dims (torch.nn.ZeroPad3d); see _PadNd."""

    d = 3

    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ConstantPad1d(_PadNd):
    """Padding of the last 1 dim with a constant value (torch.nn.ConstantPad1d); see _PadNd."""

    d = 1

    def __init__(self, padding, value):
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Padding of the last 2 dims with a constant value (torch.nn.ConstantPad2d); see _PadNd."""

    d = 2

    def __init__(self, padding, value):
        super().__init__(padding, value)


class ConstantPad3d(_PadNd):
    """Padding of the last 3 dims with a constant value (torch.nn.ConstantPad3d); see _PadNd."""

    d = 3

    def __init__(self, padding, value):
        super().__init__(padding, value)
