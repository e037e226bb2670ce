"""The 3D CNN of Hosseini-Asl et al. (2016) for Alzheimer's disease diagnosis from structural brain MRI.

Lecture: "Image classification - Alzheimer's diagnosis by 3D CNN adaptation [Hosseini-Asl, 2016]".

The network classifies a whole volume (AD / MCI / NC: Alzheimer's disease, mild cognitive
impairment, normal control).  Its feature part is three 3D convolutional layers, 3x3x3 filters
with no padding, each followed by 2x2x2 max pooling and a nonlinearity; the paper pre-trains these
as a stack of 3D convolutional autoencoders on MRI scans (the source domain), then "adapts" to a
task by training the fully connected upper layers (``freeze_features()``), two hidden layers and
a softmax output.  The hidden sizes (2000, 500) and the layer structure follow the authors' code
(github.com/ehosseiniasl/3d-convolutional-network, 3d_convolutional_network.py: stacked_CAE3d);
the number of maps per conv layer is an argument (``widths``, 10 each by default: our choice, as the
code takes them as a parameter).  ReLU is used throughout (the code offers tanh, sigmoid, ReLU and
softplus).  The autoencoder pre-training itself is not part of this module.

Each stage maps a size n to (n - 2) // 2, so the first FC layer's input is
widths[-1] * prod(s3) with s3 = three such steps of ``input_size``.

Reference: E. Hosseini-Asl, R. Keynton, A. El-Baz, "Alzheimer's Disease Diagnostics by Adaptation of
3D Convolutional Network", ICIP 2016, arXiv:1607.00455.
"""

from .. import nn
from ..errors import ShapeError, fmt

__all__ = ["AlzheimerCNN3D", "cnn3d_feature_size"]


def cnn3d_feature_size(input_size, stages=3):
    """(D, H, W) after ``stages`` times [3x3x3 valid conv, 2x2x2 max pool]: n -> (n - 2) // 2 per dim."""
    size = tuple(input_size)
    for _ in range(stages):
        size = tuple((n - 2) // 2 for n in size)
    return size


class AlzheimerCNN3D(nn.Module):
    """Three [conv3d 3x3x3 -> maxpool 2x2x2 -> ReLU] stages, then FC-ReLU layers and a linear output.

    Lecture: "Image classification - Alzheimer's diagnosis by 3D CNN adaptation [Hosseini-Asl, 2016]".
    Forward:  h = features(x) (N, widths[-1], D3, H3, W3); logits = FC(ReLU(FC(...ReLU(FC(flatten(h))))))
    Shapes:   x (N, in_channels, D, H, W) with (D, H, W) = input_size -> logits (N, num_classes);
              each stage n -> (n - 2) // 2, so every size must be >= 22 (22 -> 10 -> 4 -> 1)
    Reference: Hosseini-Asl et al., arXiv:1607.00455.

    Args:
        in_channels: channels of the volume (1 for a T1-weighted MRI).
        num_classes: 3 (AD, MCI, NC) in the paper's multi-class task; 2 for a binary one.
        input_size: (D, H, W) of the volumes (the FC input size depends on it).
        widths: maps of the three conv layers.
        hidden: sizes of the hidden FC layers ((2000, 500) in the authors' code).
        dropout: dropout before each FC layer (0: the paper uses none).
    Raises:
        ShapeError if input_size is too small for three stages, or a forward input does not match it.
    """

    def __init__(self, in_channels=1, num_classes=3, input_size=(64, 64, 64), widths=(10, 10, 10), hidden=(2000, 500),
                 dropout=0.0):  # fmt: skip
        super().__init__()
        self.input_size = tuple(int(n) for n in input_size)
        final = cnn3d_feature_size(self.input_size, len(widths))
        if len(self.input_size) != 3 or min(final) < 1:
            raise ShapeError(
                fmt(
                    "AlzheimerCNN3D",
                    f"input_size {self.input_size} is too small: after the conv stages it is {final}",
                    hint="each of D, H, W must be >= 22 for three stages",
                )  # fmt: skip
            )
        layers, channels = [], in_channels
        for width in widths:
            layers += [nn.Conv3d(channels, width, 3), nn.MaxPool3d(2), nn.ReLU()]  # n -> n - 2 -> (n - 2) // 2
            channels = width
        self.features = nn.Sequential(*layers)
        head, features = [nn.Flatten()], channels * final[0] * final[1] * final[2]
        for size in hidden:
            head += [nn.Dropout(dropout), nn.Linear(features, size), nn.ReLU()]
            features = size
        head += [nn.Dropout(dropout), nn.Linear(features, num_classes)]  # softmax is in the loss
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        if x.ndim != 5 or tuple(x.shape[2:]) != self.input_size:
            raise ShapeError(
                fmt("AlzheimerCNN3D", f"expected volumes of size {self.input_size}", x=(x.shape, "(N, C, D, H, W)"))
            )
        return self.classifier(self.features(x))  # (N, widths[-1], D3, H3, W3) -> (N, num_classes)

    def freeze_features(self, frozen=True):
        """The paper's adaptation: keep the (pre-trained) conv layers fixed, train the FC layers only."""
        self.features.requires_grad_(not frozen)
        return self
