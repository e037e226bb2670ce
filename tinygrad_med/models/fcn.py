"""Fully convolutional network, FCN-32s / 16s / 8s (Long, Shelhamer and Darrell, "Fully Convolutional
Networks for Semantic Segmentation", CVPR 2015, arXiv:1411.4038).

Lecture: "SEMANTIC SEGMENTATION - Fully-CNN: from classification to segmentation" (replace the FC
layers by 1x1 convolutions, so the network is a non-linear filter for any image size; its maps are
coarse, so add upsampling at the end) and "Transposed convolution".

As in the paper: a VGG-like backbone of five conv stages, each closed by a 2x2 max pooling
(pool3, pool4 and pool5 have strides 8, 16 and 32); fc6 and fc7 become convolutions; a 1x1
"score" convolution gives class scores at stride 32.  FCN-32s upsamples them 32x at once.
FCN-16s upsamples them 2x with a learned transposed convolution, adds 1x1 scores of pool4 and
upsamples 16x; FCN-8s does the same once more with pool3 and upsamples 8x.  Every transposed
convolution starts as bilinear interpolation (``bilinear_upsampling_weight``); the 2x ones are
learned, the final one stays fixed (the paper fixes it: learning it brought nothing).  The skip
scores start at zero, so an untrained FCN-8s computes FCN-32s's scores, only upsampled in three
bilinear steps (2x, 2x, 8x) instead of one (the paper: training starts from the coarser net's predictions).

Differences, for small CPU runs: widths 8-16-32-64-64 (VGG-16: 64-128-256-512-512), 2 convs per
stage (VGG-16: 2, 2, 3, 3, 3), fc6 a 3x3 conv of 128 channels (paper: 7x7, 4096), batch norm after
every backbone conv (``norm='none'`` gives the paper's plain convs), no dropout by default, and
'same' padding with transposed convolutions of kernel 2f, stride f, padding f/2, whose output is
exactly f times the input (the paper pads the input by 100 and crops instead).
"""

import numpy

from .. import nn
from ..errors import ShapeError, fmt
from ..nn import functional as F
from ..tensor import Tensor
from .unet import check_norm, norm_layer

__all__ = ["FCN", "bilinear_kernel", "bilinear_upsampling_weight"]

VARIANTS = ("32s", "16s", "8s")


def bilinear_kernel(factor):
    """The (2f, 2f) kernel whose transposed convolution (stride f, padding f/2) is bilinear upsampling by f.

    Forward:  k[p, q] = (1 - |p - c| / f) (1 - |q - c| / f), c = f - 1/2  (FCN's surgery.upsample_filt)
    Why:      output o reads input i with weight k[o + f/2 - i f] = 1 - |(o + 1/2)/f - 1/2 - i|, the
              linear-interpolation weight at the source coordinate (o + 1/2)/f - 1/2, i.e.
              interpolate(..., mode='bilinear', align_corners=False) away from the borders (at a border
              the transposed convolution sees a zero beyond the edge where interpolate repeats the edge).
    Raises:   ValueError if factor is not an even integer >= 2.
    """
    if int(factor) != factor or factor < 2 or factor % 2:
        raise ValueError(fmt("bilinear_kernel", f"factor must be an even integer >= 2, got {factor}"))
    center = factor - 0.5
    ramp = 1.0 - numpy.abs(numpy.arange(2 * factor) - center) / factor  # (2f,)
    return numpy.outer(ramp, ramp)  # (2f, 2f)


def bilinear_upsampling_weight(channels, factor, groups=1):
    """Transposed-conv weight that upsamples each channel on its own by bilinear interpolation.

    Shapes: (channels, channels // groups, 2f, 2f): the bilinear kernel on the diagonal (channel c
            -> c), 0 elsewhere; groups=channels gives the depthwise (channels, 1, 2f, 2f) form.
    """
    weight = numpy.zeros((channels, channels // groups, 2 * factor, 2 * factor))
    for c in range(channels):
        weight[c, c % (channels // groups)] = bilinear_kernel(factor)
    return weight.astype(numpy.float32)


def _upsampler(channels, factor):
    """A learned transposed conv (no bias) of kernel 2f, stride f, padding f/2, initialised to bilinear."""
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    layer.weight.data[...] = bilinear_upsampling_weight(channels, factor)
    return layer


class FCN(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s on a small VGG-like backbone (see the module docstring).

    Lecture: "Semantic segmentation" (fully-CNN; transposed convolution).
    Reference: Long, Shelhamer and Darrell, CVPR 2015, arXiv:1411.4038.
    Shapes:   x (N, in_channels, H, W), H and W divisible by 32 -> logits (N, num_classes, H, W)
    Args:
        in_channels, num_classes: input channels and output classes (logits, no softmax).
        variant: '32s', '16s' or '8s' (default, the paper's best): the finest skip fused.
        widths: channels of the five backbone stages.
        convs: 3x3 convolutions per stage (int, or one per stage).
        fc_width, fc_kernel: channels and kernel size of fc6/fc7 as convolutions (fc7 is 1x1).
        norm: 'batch' (default), 'instance' or 'none' after each backbone conv.
        dropout: Dropout2d probability after fc6 and fc7 (paper 0.5; default 0).
    Raises:
        ShapeError in forward if H or W is not divisible by 32; ValueError for bad arguments.
    """

    depth = 5  # five 2x poolings: inputs must be divisible by 2**depth (tgm predict pads to it)

    def __init__(
        self,
        in_channels=1,
        num_classes=2,
        variant="8s",
        widths=(8, 16, 32, 64, 64),
        convs=2,
        fc_width=128,
        fc_kernel=3,
        norm="batch",
        dropout=0.0,
    ):
        super().__init__()
        check_norm("FCN", norm)
        convs = (convs,) * 5 if isinstance(convs, int) else tuple(convs)
        if variant not in VARIANTS or len(widths) != 5 or len(convs) != 5 or min(convs) < 1 or fc_kernel % 2 == 0:
            raise ValueError(
                fmt(
                    "FCN",
                    f"need variant in {VARIANTS}, 5 widths, 5 conv counts >= 1 and an odd fc_kernel; got "
                    f"variant={variant!r}, widths={widths}, convs={convs}, fc_kernel={fc_kernel}",
                )
            )
        self.variant, self.num_classes = variant, num_classes
        stages, channels = [], in_channels
        for width, count in zip(widths, convs, strict=True):
            layers = []
            for _ in range(count):
                layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=norm == "none"))
                if norm != "none":
                    layers.append(norm_layer(norm, width, 2))
                layers.append(nn.ReLU())
                channels = width
            layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        head = [nn.Conv2d(widths[4], fc_width, fc_kernel, padding=fc_kernel // 2), nn.ReLU()]  # fc6
        head += [nn.Dropout2d(dropout)] if dropout else []
        head += [nn.Conv2d(fc_width, fc_width, 1), nn.ReLU()]  # fc7: "FC layers become 1x1 convolutions"
        head += [nn.Dropout2d(dropout)] if dropout else []
        self.fc = nn.Sequential(*head)
        self.score_fr = nn.Conv2d(fc_width, num_classes, 1)  # class scores at stride 32
        final = {"32s": 32, "16s": 16, "8s": 8}[variant]
        if variant != "32s":
            self.score_pool4, self.up2_pool5 = self._skip(widths[3], num_classes), _upsampler(num_classes, 2)
        if variant == "8s":
            self.score_pool3, self.up2_pool4 = self._skip(widths[2], num_classes), _upsampler(num_classes, 2)
        # The final upsampling is fixed bilinear (a buffer, not a parameter), depthwise: (K, 1, 2f, 2f).
        self.final_factor = final
        weight = Tensor(bilinear_upsampling_weight(num_classes, final, num_classes))
        self.register_buffer("final_upsampling", weight, persistent=False)  # a constant of the architecture

    @staticmethod
    def _skip(channels, num_classes):
        """1x1 scores of a pooled map, zero-initialised (the paper), so training starts from the coarser net."""
        layer = nn.Conv2d(channels, num_classes, 1)
        layer.weight.data[...] = 0
        layer.bias.data[...] = 0
        return layer

    def forward(self, x):
        if x.ndim != 4 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ShapeError(fmt("FCN", "input must be (N, C, H, W) with H and W divisible by 32", x=x))
        pooled = []
        for stage in self.stages:
            x = stage(x)  # stage s: (N, w_s, H / 2**(s+1), W / 2**(s+1))
            pooled.append(x)
        score = self.score_fr(self.fc(x))  # (N, K, H/32, W/32)
        if self.variant != "32s":
            score = self.up2_pool5(score) + self.score_pool4(pooled[3])  # (N, K, H/16, W/16)
        if self.variant == "8s":
            score = self.up2_pool4(score) + self.score_pool3(pooled[2])  # (N, K, H/8, W/8)
        f = self.final_factor
        return F.conv_transpose2d(score, self.final_upsampling, None, f, f // 2, 0, self.num_classes)  # (N, K, H, W)

    def extra_repr(self):
        return f"variant={self.variant!r}"
