"""Pooling layers with torch.nn's names: MaxPool*, AvgPool*, AdaptiveAvgPool*, AdaptiveMaxPool*, MaxUnpool*.

Lecture: "Convolutional neural networks - Pooling" (max and average pooling, channel by
channel), "GoogLeNet" / "ResNet" (global average pooling: ``AdaptiveAvgPool2d(1)``).
The layers own no parameters; each calls the op of the same name in nn.functional
(ops/pool.py, ops/adaptive_pool.py).  The attributes kernel_size, stride, padding and
dilation are stored as PyTorch stores them (the receptive-field calculator reads them):
as given for MaxPool*, AvgPool2d/3d, with stride defaulting to kernel_size, and as
tuples for AvgPool1d and MaxUnpool*.
"""

from ..ops.int_args import int_tuple
from . import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]  # fmt: skip


def _ntuple(module, name, value, d, minimum=1):
    """kernel_size / stride / padding of a layer that stores tuples, checked as the ops check them."""
    return int_tuple(type(module).__name__, name, value, d, minimum)


class _MaxPoolNd(Module):
    """Max pooling over KH x KW (x KD) windows (torch.nn.MaxPool{1,2,3}d; note return_indices before ceil_mode).

    Lecture: "Convolutional neural networks - Max Pooling".
    Forward:  y[n,c,i,j] = max_{p,q} x[n, c, i*S - P + p*dil, j*S - P + q*dil]
    Backward: gy goes to the argmax of each window (ops/pool.py::MaxPool)
    Shapes:   (N, C, *L) or (C, *L) -> (N, C, *O), O = floor_or_ceil((L + 2P - dil*(K-1) - 1) / S) + 1
    """

    function = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return type(self).function(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                   self.return_indices)  # fmt: skip

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")  # fmt: skip


class MaxPool1d(_MaxPoolNd):
    __doc__ = _MaxPoolNd.__doc__
    function = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    __doc__ = _MaxPoolNd.__doc__
    function = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    __doc__ = _MaxPoolNd.__doc__
    function = staticmethod(F.max_pool3d)


class _AvgPoolNd(Module):
    """Average pooling (torch.nn.AvgPool{1,2,3}d; divisor_override for 2d and 3d).

    Lecture: "Convolutional neural networks - Average Pooling".
    Forward:  y = window sum / m, m = divisor_override, the window size clipped to the padded input
              (count_include_pad) or the number of real inputs in it
    Backward: gx = sum over the windows covering x of gy / m (ops/pool.py::AvgPool)
    Shapes:   (N, C, *L) or (C, *L) -> (N, C, *O), O = floor_or_ceil((L + 2P - K) / S) + 1
    """

    function = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return type(self).function(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                   self.count_include_pad, self.divisor_override)  # fmt: skip

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    __doc__ = _AvgPoolNd.__doc__

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(_ntuple(self, "kernel_size", kernel_size, 1),
                         _ntuple(self, "stride", stride if stride is not None else kernel_size, 1),
                         _ntuple(self, "padding", padding, 1, minimum=0), ceil_mode, count_include_pad)  # fmt: skip

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    __doc__ = _AvgPoolNd.__doc__
    function = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    __doc__ = _AvgPoolNd.__doc__
    function = staticmethod(F.avg_pool3d)


class _AdaptiveAvgPoolNd(Module):
    """Adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool{1,2,3}d).

    Lecture: "GoogLeNet" / "ResNet": ``AdaptiveAvgPool2d(1)`` is global average pooling, one mean per
    channel whatever the input size, in place of large fully connected layers.
    Forward:  y[i] = mean of x[floor(i*L/O) : ceil((i+1)*L/O)] per spatial dim
    Backward: each window spreads gy / (its size) evenly (ops/adaptive_pool.py)
    Shapes:   (N, C, *L) or (C, *L) -> (N, C, *output_size); None in output_size keeps that dim
    """

    function = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return type(self).function(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    __doc__ = _AdaptiveAvgPoolNd.__doc__
    function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    __doc__ = _AdaptiveAvgPoolNd.__doc__
    function = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    __doc__ = _AdaptiveAvgPoolNd.__doc__
    function = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    """Adaptive max pooling to a fixed output size (torch.nn.AdaptiveMaxPool{1,2,3}d).

    Lecture: "Graph convolutions - adaptive pooling" (fixed-size output regardless of input size).
    Forward:  y[i] = max of x[floor(i*L/O) : ceil((i+1)*L/O)] per spatial dim (and its flat index)
    Backward: gy goes to the argmax of each window (ops/adaptive_pool.py)
    Shapes:   (N, C, *L) or (C, *L) -> (N, C, *output_size)
    """

    function = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return type(self).function(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    __doc__ = _AdaptiveMaxPoolNd.__doc__
    function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    __doc__ = _AdaptiveMaxPoolNd.__doc__
    function = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    __doc__ = _AdaptiveMaxPoolNd.__doc__
    function = staticmethod(F.adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    """Inverse of max pooling: each value goes back to where its maximum came from (torch.nn.MaxUnpool{1,2,3}d).

    Lecture: "Semantic segmentation" (upsampling in encoder-decoder networks).
    Forward:  y[indices[i]] = x[i], zeros elsewhere;  Backward: gx[i] = gy[indices[i]]
    Shapes:   (N, C, *L) -> (N, C, *O), O = (L - 1)*S - 2P + K, or output_size given to forward
    """

    d, function = 2, None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _ntuple(self, "kernel_size", kernel_size, self.d)
        self.stride = _ntuple(self, "stride", stride if stride is not None else kernel_size, self.d)
        self.padding = _ntuple(self, "padding", padding, self.d, minimum=0)

    def forward(self, x, indices, output_size=None):
        return type(self).function(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    __doc__ = _MaxUnpoolNd.__doc__
    d, function = 1, staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    __doc__ = _MaxUnpoolNd.__doc__
    d, function = 2, staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    __doc__ = _MaxUnpoolNd.__doc__
    d, function = 3, staticmethod(F.max_unpool3d)
