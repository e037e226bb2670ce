"""GoogLeNet (Inception v1, Szegedy et al. 2014): Inception modules with 1x1 bottlenecks, two auxiliary
classifiers, global average pooling instead of large FC layers.

Lecture: "Image classification - GoogLeNet (Inception v1) [Szegedy et al, 2014]": (1) repeating
Inception modules: 1x1, 3x3, 5x5 convolutions and 3x3 max pooling computed in parallel and
concatenated, with 1x1 "bottleneck" convolutions (K < F channels) before the 3x3 and 5x5 ones and
after the pooling; (2) intermediate classification losses that inject gradient in the middle
layers; (3) FC layers replaced by average pooling.  "Efficiency: AlexNet ~62M vs GoogLeNet ~5M
parameters, 12x fewer".

Two layouts (``variant``):

    "paper"        Table 1 of the paper: conv layers with bias and ReLU, local response normalisation
                   in the stem, 5x5 convolutions in the third branch, dropout 0.4, auxiliary heads
                   avgpool 5x5/3 -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 -> FC.
                   6,998,552 parameters at 1000 classes without the auxiliary heads, 13,378,280 with.
                   Table 1's "params" column counts weights only, in units of 1024: e.g. inception (3a)
                   159K = 163,328 weights; tests check every Inception row against it.
    "torchvision"  torchvision.models.googlenet: conv without bias + BatchNorm2d(eps=0.001) + ReLU,
                   the third branch a 3x3 convolution (a bug torchvision keeps for its weights), no LRN,
                   dropout 0.2, heads pooled adaptively to 4x4.  6,624,904 parameters without the
                   auxiliary heads (torchvision's documented num_params), 13,004,888 with them.

Neither count is the lecture's ~5M: that figure is from the Inception-v3 paper (Szegedy et al. 2015,
arXiv:1512.00567, section 1: "GoogLeNet employed only 5 million parameters, which represented a 12x
reduction with respect to its predecessor AlexNet, which used 60 million parameters").  Counted
exactly, the deployed network (no auxiliary heads) has 6.6-7.0M parameters, 8.7-9.4x fewer than
AlexNet's 61-62M.

Names, as torchvision: ``conv1``-``conv3`` (each a BasicConv2d: ``.conv``, ``.bn``), ``inception3a`` ...
``inception5b`` (``.branch1``-``.branch4``), ``aux1``/``aux2`` (``.conv``, ``.fc1``, ``.fc2``; None without
auxiliary heads), ``fc``: a torchvision state_dict loads as it is into ``variant="torchvision"``.  The
paper variant has the same names (its BasicConv2d has a conv bias and no ``bn``; LRN is ``lrn1``/``lrn2``).

Initialisation: the torchvision variant as torchvision's (init_weights=True): every Conv2d and Linear
weight ~ N(0, 0.01^2) truncated to [-2, 2] (nn.init.trunc_normal_; at std 0.01 the bounds are 200 std
away, so it is N(0, 0.01^2) in practice), BatchNorm2d weight 1 and bias 0, Linear biases the layer
default U(+-1/sqrt(fan_in)).  The paper gives no initialisation for GoogLeNet; with no batch norm,
std 0.01 would shrink the signal through 22 layers, so the paper variant keeps the layer defaults
(PyTorch's kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(fan_in)) biases).

Outputs, as torchvision: in training mode with ``aux_logits=True`` the model returns
``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (aux2 after inception 4d, aux1 after 4a);
in eval mode, or without auxiliary heads, the logits alone.  ``googlenet_loss`` is the paper's
total loss: main + 0.3 * (aux1 + aux2).

Reference: C. Szegedy et al., "Going Deeper with Convolutions", arXiv:1409.4842, Table 1, Fig. 3
and section 5.
"""

from collections import namedtuple

from .. import nn
from ..errors import fmt
from ..ops.shape import cat
from .alexnet import LRN_PAPER
from .old_keys import old_googlenet_key, upgrade_state_dict

__all__ = [
    "BasicConv2d",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "INCEPTION_TABLE",
    "googlenet",
    "googlenet_loss",
]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = "What GoogLeNet returns in training mode with aux_logits (torchvision's order)."

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per Inception module.
INCEPTION_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Module):
    """conv + ReLU (paper: conv with bias) or conv without bias + BatchNorm2d(eps=0.001) + ReLU (torchvision).

    Shapes:   x (N, in_channels, H, W) -> (N, out_channels, OH, OW) as the conv
    """

    def __init__(self, in_channels, out_channels, kernel_size, variant="torchvision", **options):
        super().__init__()
        paper = variant == "paper"
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=paper, **options)
        self.bn = None if paper else nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.conv(x)
        return self.relu(x if self.bn is None else self.bn(x))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels, with 1x1 bottlenecks.

    Lecture: "Inception module" ("compute all in parallel, concatenate results"; "reduce
    dimensionality using bottleneck layers composed of 1x1 convolutions").
    Forward:  y = cat(1x1(x), 3x3(1x1(x)), 5x5(1x1(x)), 1x1(maxpool3x3/1(x))) along C
    Shapes:   x (N, C, H, W) -> y (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)

    Args:
        in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: Table 1's columns.
        variant: "paper" (5x5 third branch, conv + bias + ReLU) or "torchvision" (3x3, conv + BN + ReLU).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, variant="paper"):
        super().__init__()
        k5 = 5 if variant == "paper" else 3
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, variant)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, 1, variant), BasicConv2d(ch3x3red, ch3x3, 3, variant, padding=1)
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, 1, variant),
            BasicConv2d(ch5x5red, ch5x5, k5, variant, padding=k5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(in_channels, pool_proj, 1, variant)
        )

    def forward(self, x):
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return cat(branches, dim=1)  # 4 x (N, C_b, H, W) -> (N, sum C_b, H, W)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate map: pool to 4x4, 1x1 conv 128, FC 1024, dropout, FC.

    Lecture: "Intermediate classification losses to inject gradient in middle layers".
    Shapes:   x (N, C, 14, 14) -> logits (N, num_classes); the paper pools 5x5/3 (14 -> 4),
              torchvision adaptively to 4x4 (any size)
    """

    def __init__(self, in_channels, num_classes, variant="paper", dropout=0.7):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3) if variant == "paper" else nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, 1, variant)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(self.pool(x)).flatten(1)  # (N, C, 14, 14) -> (N, 128, 4, 4) -> (N, 2048)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet: a stem, nine Inception modules, global average pooling, one FC layer (22 layers).

    Lecture: "Image classification - GoogLeNet (Inception v1) [Szegedy et al, 2014]".
    Forward:  stem conv7x7/2, maxpool, [LRN], conv1x1 64, conv3x3 192, [LRN], maxpool;
              3a 3b maxpool 4a (-> aux1) 4b 4c 4d (-> aux2) 4e maxpool 5a 5b; avgpool; dropout; FC
    Shapes:   x (N, C, 224, 224) -> maps 112, 56, 28 (3a-3b), 14 (4a-4e), 7 (5a-5b) -> logits (N, num_classes);
              the main path takes H, W >= 15 (torchvision's min_size) or >= 31 (paper: its last max pooling is
              3x3/2, torchvision's 2x2/2); the paper variant's auxiliary heads (5x5/3 pooling into an FC
              layer of 128*4*4 inputs) need 14-16 px maps (inputs 223-270), torchvision's any size
    Returns:  logits, or GoogLeNetOutputs(logits, aux_logits2, aux_logits1) when training with aux_logits
    Reference: Szegedy et al., arXiv:1409.4842, Table 1 and Fig. 3; torchvision.models.googlenet.

    Args:
        in_channels, num_classes: input channels and classes.
        aux_logits: build the two auxiliary classifiers (used in training only; None attributes without).
        variant: "paper" or "torchvision" (see the module docstring).
        lrn: local response normalisation in the stem; None = as the variant (paper yes, torchvision no).
        dropout, dropout_aux: before the last FC (paper 0.4, torchvision 0.2; None = as the variant) and
            in the auxiliary heads (0.7).
    Raises:
        ValueError for an unknown variant.
    """

    def __init__(self, in_channels=3, num_classes=1000, aux_logits=True, variant="paper", lrn=None, dropout=None,
                 dropout_aux=0.7):  # fmt: skip
        super().__init__()
        if variant not in ("paper", "torchvision"):
            raise ValueError(fmt("GoogLeNet", f"variant must be 'paper' or 'torchvision', got {variant!r}"))
        paper = variant == "paper"
        lrn = paper if lrn is None else lrn
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(in_channels, 64, 7, variant, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = nn.LocalResponseNorm(**LRN_PAPER) if lrn else None
        self.conv2 = BasicConv2d(64, 64, 1, variant)
        self.conv3 = BasicConv2d(64, 192, 3, variant, padding=1)
        self.lrn2 = nn.LocalResponseNorm(**LRN_PAPER) if lrn else None
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, row in INCEPTION_TABLE.items():  # inception3a ... inception5b, torchvision's names
            setattr(self, "inception" + name, Inception(_in(name), *row, variant=variant))
            if name in ("3b", "4e"):
                pool = nn.MaxPool2d(3 if paper or name == "3b" else 2, stride=2, ceil_mode=True)
                setattr(self, "maxpool3" if name == "3b" else "maxpool4", pool)
        self.aux1 = InceptionAux(512, num_classes, variant, dropout_aux) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, variant, dropout_aux) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout((0.4 if paper else 0.2) if dropout is None else dropout)
        self.fc = nn.Linear(1024, num_classes)
        if not paper:
            self._init_weights()

    def _init_weights(self):
        """torchvision's: conv and linear weights ~ N(0, 0.01^2) truncated to [-2, 2], BN 1 and 0."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def stem(self, x):
        """conv1, maxpool1, [lrn1], conv2, conv3, [lrn2], maxpool2: (N, C, H, W) -> (N, 192, H/8, W/8)."""
        x = self.maxpool1(self.conv1(x))
        x = x if self.lrn1 is None else self.lrn1(x)
        x = self.conv3(self.conv2(x))
        x = x if self.lrn2 is None else self.lrn2(x)
        return self.maxpool2(x)

    def _upgrade_state_dict(self, state_dict):
        """A state_dict saved under the old names (stem.K, inception3.0, conv .0/.1) loads: see models/old_keys.py."""
        return upgrade_state_dict(self, state_dict, old_googlenet_key, "stem.K, inception3.0, conv Sequentials .0/.1")

    def forward(self, x):
        x = self.maxpool3(self.inception3b(self.inception3a(self.stem(x))))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)  # (N, 512, H/16, W/16)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, H/32, W/32)
        logits = self.fc(self.dropout(self.avgpool(x).flatten(1)))  # global average pooling -> (N, 1024)
        if aux1 is None or not self.aux_logits:
            return logits
        return GoogLeNetOutputs(logits, aux2, aux1)


def _in(name):
    """Input channels of Inception ``name``: the sum of the previous module's four branch widths."""
    if name == "3a":
        return 192
    names = list(INCEPTION_TABLE)
    ch1, _, ch3, _, ch5, proj = INCEPTION_TABLE[names[names.index(name) - 1]]
    return ch1 + ch3 + ch5 + proj


def googlenet(in_channels=3, num_classes=1000, aux_logits=True, variant="paper", **options):
    """GoogLeNet; see the class.  ``googlenet(variant="torchvision")`` is torchvision.models.googlenet()."""
    return GoogLeNet(in_channels, num_classes, aux_logits, variant, **options)


def googlenet_loss(outputs, target, aux_weight=0.3):
    """The paper's training loss: cross_entropy(logits) + aux_weight * (cross_entropy(aux1) + cross_entropy(aux2)).

    Lecture: "Intermediate classification losses to inject gradient in middle layers".
    Reference: Szegedy et al., arXiv:1409.4842, section 5 ("their loss gets added to the total loss
    of the network with a discount weight (the losses of the auxiliary classifiers were weighted by 0.3)").
    Args:
        outputs: GoogLeNetOutputs, or plain logits (then the loss is the main term alone).
        target: class indices (N,).
    """
    if not isinstance(outputs, GoogLeNetOutputs):
        return nn.functional.cross_entropy(outputs, target)
    main = nn.functional.cross_entropy(outputs.logits, target)
    aux = nn.functional.cross_entropy(outputs.aux_logits1, target) + nn.functional.cross_entropy(
        outputs.aux_logits2, target
    )
    return main + aux_weight * aux
