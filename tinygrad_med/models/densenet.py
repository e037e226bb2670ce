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

Names, as torchvision: ``features.conv0``, ``features.norm0``, ``features.denseblock1.denselayer1.norm1``
(``.conv1``, ``.norm2``, ``.conv2``), ``features.transition1`` (``.norm``, ``.conv``), ``features.norm5``,
``classifier``: a torchvision state_dict loads as it is (with stem="cifar" only ``features.conv0`` differs,
3x3, and ``norm0`` is absent).

Initialisation, as torchvision's DenseNet: every Conv2d kaiming_normal_ with PyTorch's defaults (mode
"fan_in", gain sqrt(2): N(0, 2 / (C * KH * KW))), every BatchNorm2d weight 1 and bias 0, the Linear's
bias 0 (its weight keeps the layer default U(+-1/sqrt(fan_in))).

Reference: G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017, arXiv:1608.06993, section 3 and Table 1.
"""

from collections import OrderedDict

from .. import nn
from ..errors import fmt
from ..ops.shape import cat
from .old_keys import old_densenet_key, upgrade_state_dict

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet121", "densenet169", "densenet201",
           "densenet161"]  # fmt: skip


class DenseLayer(nn.Module):
    """H_l: BN-ReLU-conv1x1(bn_size*k)-BN-ReLU-conv3x3(k) applied to the concatenation of all earlier maps.

    Shapes:   list of (N, C_i, H, W) with sum C_i = in_channels -> (N, growth_rate, H, W)
    """

    def __init__(self, in_channels, growth_rate, bn_size=4, drop_rate=0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)  # the bottleneck
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, features):
        x = cat(features, dim=1)  # [x_0, ..., x_{l-1}]: (N, in_channels, H, W)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.dropout(self.conv2(self.relu2(self.norm2(x))))


class DenseBlock(nn.Module):
    """num_layers DenseLayers (children ``denselayer1`` ... as torchvision); each one's output is concatenated
    to the input of all that follow.

    Forward:  x_l = H_l([x_0, ..., x_{l-1}]), y = [x_0, x_1, ..., x_L]
    Shapes:   (N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size=4, drop_rate=0.0):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x):
        features = [x]
        for layer in self.children():
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
            stem_layers = [
                ("conv0", nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(num_init_features)),
                ("relu0", nn.ReLU()),
                ("pool0", nn.MaxPool2d(3, stride=2, padding=1)),
            ]
        else:
            stem_layers = [("conv0", nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False))]
        self.features = nn.Sequential(OrderedDict(stem_layers))
        channels = num_init_features
        for index, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{index + 1}", block)
            channels += num_layers * growth_rate
            if index != len(block_config) - 1:
                transition = Transition(channels, int(channels * compression))
                self.features.add_module(f"transition{index + 1}", transition)
                channels = int(channels * compression)
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self):
        """torchvision's: kaiming_normal_ (fan_in, gain sqrt(2)) for convs, BN 1 and 0, Linear bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def _upgrade_state_dict(self, state_dict):
        """A state_dict saved under the old names (features.K, layers.J) loads: see models/old_keys.py."""
        return upgrade_state_dict(self, state_dict, old_densenet_key, "features.K, features.K.layers.J")

    def forward(self, x):
        features = self.relu(self.features(x))  # (N, C_final, H', W')
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
