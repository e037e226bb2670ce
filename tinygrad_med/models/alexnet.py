"""AlexNet (Krizhevsky et al. 2012) and ZF Net (Zeiler and Fergus 2014): five conv layers, three FC layers.

Lecture: "Image classification - AlexNet [Krizhevsky et al, 2012]" (ReLU, dropout, overlapping max
pooling, local response normalisation; "Efficiency: AlexNet 8 layers, ~62M parameters") and
"ZF Net [Zeiler and Fergus, 2014]" (AlexNet with a 7x7 stride-2 first layer instead of 11x11
stride 4, found by visualising the first layer's filters).

AlexNet comes in two layouts (``variant``):

    "paper"        Krizhevsky et al., NIPS 2012, Fig. 2 / section 3.5: widths 96-256-384-384-256, local
                   response normalisation after conv1 and conv2 (``lrn=True`` by default).  On one device
                   (groups=1) it has 62,378,344 parameters at 1000 classes: the lecture's "~62M".  The
                   paper split conv2, conv4 and conv5 over two GPUs (``groups=2``: each half sees only
                   its own GPU's maps), which gives 60,965,224, the paper's "60 million parameters".
    "torchvision"  torchvision.models.alexnet, from Krizhevsky's "One weird trick for parallelizing
                   convolutional neural networks" (arXiv:1404.5997): widths 64-192-384-256-256, no
                   LRN; 61,100,840 parameters at 1000 classes.

Both pad conv1 by 2 so that a 224 x 224 input gives the paper's 55 x 55 maps (the paper's 224 only
works out with 227 and no padding), and both end in AdaptiveAvgPool2d((6, 6)) as torchvision does:
the identity at 224 x 224, and it lets smaller inputs (>= 63 x 63) through.  ``hidden`` (4096 in
the papers) sets the width of the two hidden FC layers, for small experiments.

Names as torchvision's (``features.0.weight`` ... ``classifier.6.bias``): a torchvision state_dict loads as
it is into ``variant="torchvision"`` (the paper variant's LRN layers shift the ``features`` indices).
Initialisation: the layer defaults, as torchvision's AlexNet (kaiming_uniform_(a=sqrt(5)) weights,
U(+-1/sqrt(fan_in)) biases); the paper's N(0, 0.01^2) weights and biases of 1 in conv2, conv4, conv5 and
the hidden FC layers are not reproduced.

References: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012.  M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
Networks", ECCV 2014, arXiv:1311.2901 (Fig. 3).
"""

from .. import nn
from ..errors import fmt

__all__ = ["AlexNet", "alexnet", "ZFNet", "zfnet", "LRN_PAPER"]

# The AlexNet paper's constants k=2, n=5, alpha=1e-4, beta=0.75, in PyTorch's convention, where
# alpha is divided by the window size n: alpha = 1e-4 * 5.
LRN_PAPER = {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}

_ALEXNET_WIDTHS = {"paper": (96, 256, 384, 384, 256), "torchvision": (64, 192, 384, 256, 256)}


def _classifier(features, num_classes, hidden, dropout):
    """Dropout, FC hidden, ReLU, Dropout, FC hidden, ReLU, FC num_classes (torchvision's order)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def _lrn(enabled):
    return [nn.LocalResponseNorm(**LRN_PAPER)] if enabled else []


class _EightLayerNet(nn.Module):
    """What AlexNet and ZF Net share: features -> AdaptiveAvgPool2d(6) -> flatten -> classifier."""

    def forward(self, x):
        features = self.avgpool(self.features(x))  # (N, C5, 6, 6)
        return self.classifier(features.flatten(1))  # (N, C5 * 36) -> (N, num_classes)


class AlexNet(_EightLayerNet):
    """AlexNet: conv11/4-pool-conv5-pool-conv3-conv3-conv3-pool, then three FC layers.

    Lecture: "Image classification - AlexNet [Krizhevsky et al, 2012]".
    Forward:  conv1 11x11/4 (pad 2) ReLU [LRN] maxpool 3/2; conv2 5x5 (pad 2) ReLU [LRN] maxpool 3/2;
              conv3, conv4, conv5 3x3 (pad 1) ReLU; maxpool 3/2; avgpool to 6x6;
              dropout FC-hidden ReLU dropout FC-hidden ReLU FC-num_classes
    Shapes:   x (N, C, 224, 224) -> maps 55, 27, 27, 13, 13, 13, 6 -> logits (N, num_classes);
              any H, W >= 63 works (the adaptive pooling makes the maps 6 x 6)
    Reference: Krizhevsky et al., NIPS 2012, Fig. 2; torchvision.models.alexnet.

    Args:
        in_channels, num_classes: input channels (3 for RGB) and classes (1000 for ImageNet).
        variant: "paper" (96-256-384-384-256 with LRN) or "torchvision" (64-192-384-256-256, no LRN).
        lrn: local response normalisation after conv1 and conv2; None = as the variant's source.
        groups: 2 reproduces the paper's two-GPU split of conv2, conv4 and conv5 (paper variant only).
        hidden: width of the two hidden FC layers (4096).
        dropout: the dropout probability before the two hidden FC layers (0.5).
    Raises:
        ValueError for an unknown variant, or groups other than 1 and 2.
    """

    def __init__(self, in_channels=3, num_classes=1000, variant="paper", lrn=None, groups=1, hidden=4096,
                 dropout=0.5):  # fmt: skip
        super().__init__()
        if variant not in _ALEXNET_WIDTHS:
            raise ValueError(fmt("AlexNet", f"variant must be 'paper' or 'torchvision', got {variant!r}"))
        if groups not in (1, 2):
            raise ValueError(fmt("AlexNet", f"groups must be 1 or 2 (the paper's two GPUs), got {groups!r}"))
        lrn = (variant == "paper") if lrn is None else lrn
        c1, c2, c3, c4, c5 = _ALEXNET_WIDTHS[variant]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 11, stride=4, padding=2),
            nn.ReLU(),
            *_lrn(lrn),
            nn.MaxPool2d(3, stride=2),  # overlapping pooling (section 3.4): z=3 > s=2
            nn.Conv2d(c1, c2, 5, padding=2, groups=groups),
            nn.ReLU(),
            *_lrn(lrn),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1),  # the one conv layer that reads both GPUs' maps
            nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1, groups=groups),
            nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1, groups=groups),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(c5 * 6 * 6, num_classes, hidden, dropout)


def alexnet(in_channels=3, num_classes=1000, variant="paper", lrn=None, groups=1, hidden=4096, dropout=0.5):
    """AlexNet; see the class.  ``alexnet(variant="torchvision")`` is torchvision.models.alexnet()."""
    return AlexNet(in_channels, num_classes, variant, lrn, groups, hidden, dropout)


class ZFNet(_EightLayerNet):
    """ZF Net: AlexNet with a 7x7 stride-2 first layer and a stride-2 second layer, on one device.

    Lecture: "Image classification - ZF Net [Zeiler and Fergus, 2014]".
    Forward:  conv1 96 7x7/2 (pad 1) ReLU maxpool 3/2 (pad 1) [LRN]; conv2 256 5x5/2 ReLU maxpool 3/2
              (pad 1) [LRN]; conv3 384, conv4 384, conv5 256 3x3 (pad 1) ReLU; maxpool 3/2; avgpool to 6x6;
              dropout FC-hidden ReLU dropout FC-hidden ReLU FC-num_classes
    Shapes:   x (N, C, 224, 224) -> maps 110, 55, 26, 13, 13, 13, 13, 6 (Fig. 3 of the paper)
              -> logits (N, num_classes); any H, W >= 53 works
    Reference: Zeiler & Fergus, arXiv:1311.2901, Fig. 3 ("contrast normalized across feature maps"
              after the first two poolings; the paper gives no constants, so AlexNet's are used).
              62,357,608 parameters at 1000 classes (counted from Fig. 3; the paper gives no total).

    Args:
        in_channels, num_classes, hidden, dropout: as AlexNet.
        lrn: the normalisation across feature maps after pool1 and pool2 (default True, as the paper).
    """

    def __init__(self, in_channels=3, num_classes=1000, lrn=True, hidden=4096, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 7, stride=2, padding=1),  # 224 -> 110
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),  # 110 -> 55
            *_lrn(lrn),
            nn.Conv2d(96, 256, 5, stride=2),  # 55 -> 26
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),  # 26 -> 13
            *_lrn(lrn),
            nn.Conv2d(256, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),  # 13 -> 6
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(256 * 6 * 6, num_classes, hidden, dropout)


def zfnet(in_channels=3, num_classes=1000, lrn=True, hidden=4096, dropout=0.5):
    """ZF Net; see the class."""
    return ZFNet(in_channels, num_classes, lrn, hidden, dropout)
