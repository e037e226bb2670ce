"""VGG (Simonyan and Zisserman 2014): only 3x3 convolutions, ReLU and 2x2 max pooling; 11 to 19 layers.

Lecture: "Image classification - VGG [Simonyan and Zisserman, 2014]" ("simpler structure: only 3x3
convolutions, ReLU and 2x2 max pooling"; "deeper network: 16 and 19 layers"; "cascading two 3x3
convolutions gives the same receptive field as a 5x5 convolution, with much less parameters":
2 * 9 C^2 = 18 C^2 weights against 25 C^2).

The configurations are Table 1 of the paper (numbers: 3x3 conv widths, "M": 2x2/2 max pooling):

    A  VGG-11  132,863,336 parameters at 1000 classes
    B  VGG-13  133,047,848
    D  VGG-16  138,357,544   (the paper's Table 2 rounds to 138M)
    E  VGG-19  143,667,240   (144M)

Configurations A-LRN and C (with 1x1 convolutions) are not built.  As torchvision does, the
features end in AdaptiveAvgPool2d((7, 7)) (the identity at 224 x 224; H, W >= 32 work), and
``batch_norm=True`` adds BatchNorm2d after each conv (torchvision's vgg*_bn, not in the paper).
``width`` scales every conv width by width/64 and ``hidden`` sets the two hidden FC layers (4096),
for small experiments; the defaults are the paper's.

Names and initialisation are torchvision.models.vgg's (a torchvision state_dict, ``features.0.weight`` ...
``classifier.6.bias``, loads as it is): every Conv2d weight kaiming_normal_(mode="fan_out",
nonlinearity="relu"), i.e. N(0, 2 / (F * 3 * 3)), and bias 0; every Linear weight N(0, 0.01^2) and bias 0
(the paper, section 3.1, drew weights with variance 10^-2 and zero biases, trained configuration A
first and started the deeper nets' first four conv and three FC layers from it; torchvision's scheme is
used here); BatchNorm2d weight 1, bias 0.

Reference: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", arXiv:1409.1556, Tables 1 and 2.
"""

from .. import nn
from ..errors import fmt

__all__ = ["VGG", "VGG_CONFIGS", "vgg11", "vgg13", "vgg16", "vgg19"]

VGG_CONFIGS = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def _features(config, in_channels, batch_norm, width):
    layers, channels = [], in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        out = item * width // 64
        layers.append(nn.Conv2d(channels, out, 3, padding=1))  # 3x3, stride 1, pad 1: the size is kept
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU())
        channels = out
    return nn.Sequential(*layers), channels


class VGG(nn.Module):
    """VGG: stacks of 3x3 conv-ReLU separated by five 2x2 max poolings, then three FC layers.

    Lecture: "Image classification - VGG [Simonyan and Zisserman, 2014]".
    Forward:  features (Table 1's column) -> avgpool to 7x7 -> flatten -> FC-hidden ReLU dropout
              FC-hidden ReLU dropout FC-num_classes (the paper's and torchvision's order)
    Shapes:   x (N, C, H, W), H, W >= 32 -> maps H/32 x W/32 (7 x 7 at 224) -> logits (N, num_classes)
    Reference: Simonyan & Zisserman, arXiv:1409.1556, Table 1.

    Args:
        config: "A", "B", "D" or "E" (VGG-11, -13, -16, -19), or a sequence in the same form.
        in_channels, num_classes: input channels and classes.
        batch_norm: BatchNorm2d after each conv (torchvision's vgg*_bn).
        hidden: width of the two hidden FC layers (4096).
        dropout: dropout probability after the two hidden FC layers (0.5).
        width: the first conv's width (64); every width is scaled by width/64.
    Raises:
        ValueError for an unknown configuration name.
    """

    def __init__(self, config="D", in_channels=3, num_classes=1000, batch_norm=False, hidden=4096, dropout=0.5,
                 width=64):  # fmt: skip
        super().__init__()
        if isinstance(config, str):
            if config not in VGG_CONFIGS:
                raise ValueError(fmt("VGG", f"config must be one of A, B, D, E, got {config!r}"))
            config = VGG_CONFIGS[config]
        self.features, channels = _features(config, in_channels, batch_norm, width)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(channels * 7 * 7, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self):
        """torchvision's: kaiming_normal_ fan_out for conv weights, N(0, 0.01^2) Linear weights, zero biases,
        BN weight 1 and bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        features = self.avgpool(self.features(x))  # (N, 512, 7, 7) at the default width
        return self.classifier(features.flatten(1))  # (N, 25088) -> (N, num_classes)


def vgg11(in_channels=3, num_classes=1000, batch_norm=False, **options):
    """VGG-11, configuration A (8 conv + 3 FC layers)."""
    return VGG("A", in_channels, num_classes, batch_norm, **options)


def vgg13(in_channels=3, num_classes=1000, batch_norm=False, **options):
    """VGG-13, configuration B (10 conv + 3 FC layers)."""
    return VGG("B", in_channels, num_classes, batch_norm, **options)


def vgg16(in_channels=3, num_classes=1000, batch_norm=False, **options):
    """VGG-16, configuration D (13 conv + 3 FC layers)."""
    return VGG("D", in_channels, num_classes, batch_norm, **options)


def vgg19(in_channels=3, num_classes=1000, batch_norm=False, **options):
    """VGG-19, configuration E (16 conv + 3 FC layers)."""
    return VGG("E", in_channels, num_classes, batch_norm, **options)
