"""V-Net (Milletari, Navab and Ahmadi, "V-Net: Fully Convolutional Neural Networks for Volumetric
Medical Image Segmentation", 3DV 2016, arXiv:1606.04797).

Lecture: "SEMANTIC SEGMENTATION - V-Net [Milletari et al., 2016]" (extension of U-Net to volumetric
(3D) data).

As in the paper: every stage learns a residual function (its convolutions' output is added to the
stage's input), down-sampling is a 2x2x2 convolution with stride 2 that doubles the channels
(no pooling), up-sampling a 2x2x2 transposed convolution, skip connections concatenate encoder
features, and the non-linearity is PReLU. Differences, for small CPU runs: the kernel size is a
parameter (the paper's 5x5x5 costs 125/27 = 4.6 times as much as the default 3x3x3), batch norm
follows each convolution (``norm='none'`` gives the paper's plain stages; 'instance' is the third
choice), and the width, depth and convolutions per stage are configurable (paper: 16 channels,
4 down-samplings, 1-3 convs per stage).
"""

import numpy

from .. import nn
from ..errors import ShapeError, fmt
from ..ops.shape import cat
from .unet import check_norm, norm_layer

__all__ = ["VNet"]


class ChannelPReLU(nn.Module):
    """PReLU with one learned slope per channel: y = relu(x) - a * relu(-x), a initialised to 0.25."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(numpy.full(channels, 0.25, dtype=numpy.float32))

    def forward(self, x):
        slope = self.weight.reshape((1, -1) + (1,) * (x.ndim - 2))  # (C,) -> (1, C, 1, 1, 1)
        return x.relu() - slope * (-x).relu()


class _Stage(nn.Module):
    """``convs`` x (conv k^3 -> [norm] -> PReLU), plus the stage input (the residual of the paper)."""

    def __init__(self, in_channels, channels, convs, kernel_size, norm):
        super().__init__()
        layers = []
        for index in range(convs):
            source = in_channels if index == 0 else channels
            layers.append(nn.Conv3d(source, channels, kernel_size, padding=kernel_size // 2, bias=norm == "none"))
            if norm != "none":
                layers.append(norm_layer(norm, channels, 3))
            layers.append(ChannelPReLU(channels))
        self.body = nn.Sequential(*layers)

    def forward(self, x, residual):
        return self.body(x) + residual


class VNet(nn.Module):
    """V-Net with ``depth`` strided down-samplings and widths base_width * 2**level.

    Shapes: x (N, in_channels, D, H, W), each size divisible by 2**depth -> logits (N, num_classes, D, H, W)
    Args:
        in_channels, num_classes: input channels and output classes (logits).
        base_width: channels of the first stage (paper: 16; default 8).
        depth: number of down-samplings (paper: 4; default 2).
        kernel_size: odd kernel size of the stage convolutions (paper: 5; default 3).
        convs: convolutions per stage (paper: 1, 2, 3, 3, 3 down the encoder; default 2 everywhere).
        norm: 'batch' (default), 'instance' or 'none' (the paper) after each stage convolution.
    Raises:
        ShapeError in forward if a spatial size is not divisible by 2**depth.
    """

    def __init__(self, in_channels=1, num_classes=3, base_width=8, depth=2, kernel_size=3, convs=2, norm="batch"):
        super().__init__()
        check_norm("VNet", norm)
        if depth < 1 or base_width < 1 or kernel_size % 2 == 0:
            raise ValueError(
                fmt(
                    "VNet",
                    f"need depth >= 1, base_width >= 1, odd kernel_size; got {depth}, {base_width}, {kernel_size}",
                )
            )
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.depth, self.in_channels, self.base_width = depth, in_channels, base_width
        self.input_stage = _Stage(in_channels, widths[0], 1, kernel_size, norm)
        self.down = nn.ModuleList(
            [
                nn.Sequential(nn.Conv3d(widths[i], widths[i + 1], 2, stride=2), ChannelPReLU(widths[i + 1]))
                for i in range(depth)
            ]
        )
        self.encode = nn.ModuleList(
            [_Stage(widths[i + 1], widths[i + 1], convs, kernel_size, norm) for i in range(depth)]
        )
        self.up = nn.ModuleList(
            [
                nn.Sequential(nn.ConvTranspose3d(widths[i + 1], widths[i], 2, stride=2), ChannelPReLU(widths[i]))
                for i in reversed(range(depth))
            ]
        )
        self.decode = nn.ModuleList(
            [_Stage(2 * widths[i], widths[i], convs, kernel_size, norm) for i in reversed(range(depth))]
        )
        self.head = nn.Conv3d(widths[0], num_classes, 1)

    def forward(self, x):
        factor = 2**self.depth
        if x.ndim != 5 or any(s % factor for s in x.shape[2:]):
            raise ShapeError(
                fmt("VNet", f"input must be (N, C, D, H, W) with sizes divisible by 2**depth = {factor}", x=x)
            )
        repeat = -(-self.base_width // self.in_channels)  # the paper adds the input, copied across channels
        tiled = cat([x] * repeat, dim=1)[:, : self.base_width]  # (N, C_in, S) -> (N, w_0, S)
        skips = [self.input_stage(x, tiled)]
        for down, stage in zip(self.down, self.encode, strict=True):
            y = down(skips[-1])  # (N, w_l, S / 2**l): the strided conv halves every size
            skips.append(stage(y, y))
        y = skips.pop()
        for up, stage in zip(self.up, self.decode, strict=True):
            upsampled = up(y)  # (N, w_l, S / 2**l)
            y = stage(cat([upsampled, skips.pop()], dim=1), upsampled)  # residual: the up-sampled features
        return self.head(y)
