"""DenseNet (Huang et al. 2016): dense blocks in which every layer sees the maps of all layers before it.

Lecture: "Image classification - Densely connected CNN (DenseNet) [Huang et al, 2016]": "features
computed in a layer are concatenated to the input of all subsequent layers in the block"; "efficient
reuse of multiscale features"; "gradient can flow directly to each layer during back-propagation".

Layer l of a block computes x_l = H_l([x_0, x_1, ..., x_{l-1}]) (concatenation along channels), with
H_l = BN-ReLU-conv1x1(bn_size * k)-BN-ReLU-conv3x3(k) (the "-B" bottleneck; k is the growth rate),
so a block of L layers turns C channels into C + L*k.  Between blocks a transition layer
BN-ReLU-conv1x1-avgpool2x2 halves the channels (compression 0.5, the "-C") and the size.

    densenet121  k=32, blocks (6, 12, 24, 16), 64 initial maps: 7,978,856 parameters at 1000 classes
    densenet169  k=32, blocks (6, 12, 32, 32):                  14,149,480
    densenet201  k=32, blocks (6, 12, 48, 32):                  20,013,928
    densenet161  k=48, blocks (6, 12, 36, 24), 96 initial maps: 28,681,000

(the counts of torchvision.models.densenet*, the architectures of Table 1 of the paper).
``stem="cifar"`` replaces the ImageNet stem (7x7/2 conv and 3x3/2 max pooling) by one 3x3 conv, as
the paper's CIFAR/SVHN networks, for small images; with it an 8 x 8 input and three blocks
(two transitions) end on 2 x 2 maps.

Reference: G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017, arXiv:1608.06993, section 3 and Table 1.
"""

from .. import nn
from ..errors import fmt
from ..ops.shape import cat

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet121", "densenet169", "densenet201",
           "densenet161"]  # fmt: skip


class DenseLayer(nn.Module):
    """H_l: BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k) applied to the concatenation of all earlier maps.

    Shapes:   list of (N, C_i, H, W) with sum C_i = in_channels -> (N, growth_rate, H, W)
    """

    def __init__(self, in_channels, growth_rate, bn_size=4, drop_rate=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)  # the bottleneck
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, features):
        x = cat(features, dim=1)  # [x_0, ..., x_{l-1}]: (N, in_channels, H, W)
        x = self.conv1(self.relu(self.norm1(x)))
        return self.dropout(self.conv2(self.relu(self.norm2(x))))


class DenseBlock(nn.Module):
    """num_layers DenseLayers; each one's output is concatenated to the input of all that follow.

    Forward:  x_l = H_l([x_0, ..., x_{l-1}]), y = [x_0, x_1, ..., x_L]
    Shapes:   (N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size=4, drop_rate=0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            [DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate) for i in range(num_layers)]
        )

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return cat(features, dim=1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1-avgpool2x2 between dense blocks.  Shapes: (N, C, H, W) -> (N, out, H/2, W/2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x):
        return self.pool(self.conv(self.relu(self.norm(x))))


class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks joined by transitions, BN-ReLU, global average pooling, FC.

    Lecture: "Image classification - Densely connected CNN (DenseNet) [Huang et al, 2016]".
    Forward:  stem; for each block: DenseBlock, then (not after the last) Transition halving channels
              and size; BN; ReLU; global average pooling; Linear
    Shapes:   x (N, C, H, W) -> logits (N, num_classes); the maps shrink by 4 in the ImageNet stem and
              by 2 in each transition (224 -> 56, 28, 14, 7 for four blocks), so H, W >= 4 * 2**(blocks-1)
              (32 for DenseNet-121), >= 2**(blocks-1) with stem="cifar"
    Reference: Huang et al., arXiv:1608.06993, Table 1; torchvision.models.DenseNet.

    Args:
        growth_rate: k, the maps each layer adds (32).
        block_config: layers per dense block ((6, 12, 24, 16) is DenseNet-121).
        num_init_features: maps out of the stem (64; 2k in the paper).
        bn_size: the bottleneck's width factor (4: conv1x1 makes 4k maps).
        drop_rate: dropout after each layer (0).
        in_channels, num_classes: input channels and classes.
        stem: "imagenet" (7x7/2 conv, BN, ReLU, 3x3/2 max pool) or "cifar" (one 3x3 conv).
        compression: the transitions' channel factor theta (0.5).
    Raises:
        ValueError for an unknown stem or a compression outside (0, 1].
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 drop_rate=0.0, in_channels=3, num_classes=1000, stem="imagenet", compression=0.5):  # fmt: skip
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(fmt("DenseNet", f"stem must be 'imagenet' or 'cifar', got {stem!r}"))
        if not 0 < compression <= 1:
            raise ValueError(fmt("DenseNet", f"compression must be in (0, 1], got {compression!r}"))
        if stem == "imagenet":
            layers = [
                nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(num_init_features),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
        else:
            layers = [nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False)]
        channels = num_init_features
        for index, num_layers in enumerate(block_config):
            layers.append(DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate))
            channels += num_layers * growth_rate
            if index != len(block_config) - 1:
                layers.append(Transition(channels, int(channels * compression)))
                channels = int(channels * compression)
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        features = self.features(x)  # (N, C_final, H', W')
        return self.classifier(features.mean(dim=(2, 3)))  # global average pooling -> (N, C_final)


def densenet121(in_channels=3, num_classes=1000, **options):
    """DenseNet-121: k=32, blocks (6, 12, 24, 16), 64 initial maps."""
    return DenseNet(32, (6, 12, 24, 16), 64, in_channels=in_channels, num_classes=num_classes, **options)


def densenet169(in_channels=3, num_classes=1000, **options):
    """DenseNet-169: k=32, blocks (6, 12, 32, 32), 64 initial maps."""
    return DenseNet(32, (6, 12, 32, 32), 64, in_channels=in_channels, num_classes=num_classes, **options)


def densenet201(in_channels=3, num_classes=1000, **options):
    """DenseNet-201: k=32, blocks (6, 12, 48, 32), 64 initial maps."""
    return DenseNet(32, (6, 12, 48, 32), 64, in_channels=in_channels, num_classes=num_classes, **options)


def densenet161(in_channels=3, num_classes=1000, **options):
    """DenseNet-161: k=48, blocks (6, 12, 36, 24), 96 initial maps."""
    return DenseNet(48, (6, 12, 36, 24), 96, in_channels=in_channels, num_classes=num_classes, **options)
