"""ResNet-18/34/50/101/152 (He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385).

Lecture: "IMAGE CLASSIFICATION - ResNet [He et al, 2016]" (residual blocks y = F(x) + x; 1x1 projection shortcuts when
the shape changes).

The module names, shapes and initialisation are torchvision.models.resnet's, so that a torchvision state_dict
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``) loads as it is:

    resnet18   BasicBlock  (2, 2, 2, 2)    11,689,512 parameters at 1000 classes
    resnet34   BasicBlock  (3, 4, 6, 3)    21,797,672
    resnet50   Bottleneck  (3, 4, 6, 3)    25,557,032
    resnet101  Bottleneck  (3, 4, 23, 3)   44,549,160
    resnet152  Bottleneck  (3, 8, 36, 3)   60,192,808

(the counts of torchvision's documented ``num_params``).  Bottleneck is torchvision's "ResNet V1.5": the
stride sits on the 3x3 conv, not on the first 1x1 as in the paper.

``stem='imagenet'`` is the paper's 7x7 stride-2 conv and 3x3 max pool (224 x 224 inputs);
``stem='cifar'`` is a 3x3 stride-1 conv without pooling (``maxpool`` is None), for small images
(32 x 32 and below); its ``conv1.weight`` is (64, C, 3, 3), so only that key differs from torchvision.
``width`` (64) scales every stage, for small experiments; ``in_channels`` sets the input channels.

Initialisation (torchvision's): every Conv2d kaiming_normal_(mode="fan_out", nonlinearity="relu"), i.e.
N(0, 2 / (F * KH * KW)); every BatchNorm2d weight 1, bias 0; the final Linear keeps the layer default
(U(+-1/sqrt(fan_in)) for weight and bias).  With ``zero_init_residual=True`` the last BN of each residual
branch (bn2 of a BasicBlock, bn3 of a Bottleneck) starts at weight 0, so each block starts as the identity
(Goyal et al., arXiv:1706.02677); off by default, as in torchvision.
"""

from .. import nn
from ..errors import fmt
from .old_keys import old_resnet_key, upgrade_state_dict

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def _projection(in_channels, out_channels, stride):
    """``downsample``: 1x1 conv + BN (option B of the paper) where the shape changes, else None (the identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)).

    Shapes:   x (N, in_channels, H, W) -> (N, channels, H / stride, W / stride)
    Args:
        in_channels, channels: input and output widths (torchvision's inplanes, planes).
        stride: of conv1 and of the projection shortcut, built when the shape changes.
    """

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, groups=1, base_width=64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(fmt("BasicBlock", f"only supports groups=1 and base_width=64, got {groups}, {base_width}"))
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = _projection(in_channels, channels, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand by 4, each with BN: the 50+ layer block of the paper.

    Forward:  y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + downsample(x))
    Shapes:   x (N, in_channels, H, W) -> (N, 4 * channels, H / stride, W / stride); the inner width is
              int(channels * base_width / 64) * groups (ResNeXt's, torchvision's rule)
    """

    expansion = 4

    def __init__(self, in_channels, channels, stride=1, groups=1, base_width=64):
        super().__init__()
        width = int(channels * (base_width / 64.0)) * groups
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet: stem, four stages of residual blocks (widths w, 2w, 4w, 8w times the block's expansion; strides
    1, 2, 2, 2), global average pooling, one FC layer (torchvision.models.ResNet).

    Lecture: "IMAGE CLASSIFICATION - ResNet [He et al, 2016]".
    Shapes:   x (N, C, H, W) -> logits (N, num_classes); maps H/32 x W/32 at the end (H/8 with stem="cifar")
    Reference: He et al., arXiv:1512.03385, Table 1; torchvision.models.resnet.

    Args:
        block: BasicBlock or Bottleneck.
        layers: blocks per stage ((2, 2, 2, 2) is ResNet-18).
        num_classes, zero_init_residual, groups, width_per_group: as torchvision (see the module docstring).
        in_channels: input channels (3).
        stem: "imagenet" or "cifar".
        width: channels after the stem (64).
    Raises:
        ValueError for an unknown stem, or groups/width_per_group other than 1/64 with BasicBlock.
    """

    def __init__(self, block=BasicBlock, layers=(2, 2, 2, 2), num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, in_channels=3, stem="imagenet", width=64):  # fmt: skip
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(fmt("ResNet", f"stem must be 'imagenet' or 'cifar', got {stem!r}"))
        imagenet = stem == "imagenet"
        self.conv1 = nn.Conv2d(in_channels, width, 7 if imagenet else 3, stride=2 if imagenet else 1,
                               padding=3 if imagenet else 1, bias=False)  # fmt: skip
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if imagenet else None
        channels = width
        for stage, count in enumerate(layers):
            blocks = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block(channels, width * 2**stage, stride, groups, width_per_group))
                channels = width * 2**stage * block.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual):
        """torchvision's: kaiming_normal_ fan_out for convs, BN 1 and 0, optionally the last BN of each block 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)
                elif isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def _upgrade_state_dict(self, state_dict):
        """A state_dict saved under the old names (stem.0, layers.K, shortcut) loads: see models/old_keys.py."""
        return upgrade_state_dict(self, state_dict, old_resnet_key, "stem.0, stem.1, layers.K, shortcut")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for stage in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{stage}")(x)  # (N, 8w * expansion, H/32, W/32) after four stages
        return self.fc(self.avgpool(x).flatten(1))  # global average pooling -> (N, 8w * expansion)


def resnet18(in_channels=3, num_classes=1000, stem="imagenet", width=64, **options):
    """ResNet-18: BasicBlocks (2, 2, 2, 2); options as ResNet (zero_init_residual, groups, width_per_group)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels=in_channels, stem=stem, width=width, **options)


def resnet34(in_channels=3, num_classes=1000, stem="imagenet", width=64, **options):
    """ResNet-34: BasicBlocks (3, 4, 6, 3); options as ResNet (zero_init_residual, groups, width_per_group)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels=in_channels, stem=stem, width=width, **options)


def resnet50(in_channels=3, num_classes=1000, stem="imagenet", width=64, **options):
    """ResNet-50: Bottlenecks (3, 4, 6, 3); options as ResNet (zero_init_residual, groups, width_per_group)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels=in_channels, stem=stem, width=width, **options)


def resnet101(in_channels=3, num_classes=1000, stem="imagenet", width=64, **options):
    """ResNet-101: Bottlenecks (3, 4, 23, 3); options as ResNet (zero_init_residual, groups, width_per_group)."""
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels=in_channels, stem=stem, width=width, **options)


def resnet152(in_channels=3, num_classes=1000, stem="imagenet", width=64, **options):
    """ResNet-152: Bottlenecks (3, 8, 36, 3); options as ResNet (zero_init_residual, groups, width_per_group)."""
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels=in_channels, stem=stem, width=width, **options)
