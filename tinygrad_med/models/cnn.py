"""Small classifiers: an MLP and a small CNN (conv-BN-ReLU blocks, global average pooling).

Lecture: "CNN REFRESHER" (multi-layer perceptron; convolution, pooling, fully connected head).
"""

from .. import nn

__all__ = ["MLP", "SmallCNN"]


class MLP(nn.Module):
    """Flatten -> Linear -> ReLU -> Linear: the lecture's multi-layer perceptron.

    Shapes: x (N, C, H, W) with C*H*W = in_features -> logits (N, num_classes)
    """

    def __init__(self, in_features=64, num_classes=10, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x):
        return self.net(x)


def _conv_bn_relu(in_channels, out_channels):
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]


class SmallCNN(nn.Module):
    """Two conv-BN-ReLU blocks, 2x2 max pooling, one more block, global average pooling, a Linear head.

    Shapes: x (N, C, H, W), H, W >= 2 -> logits (N, num_classes); widths (w, 2w, 2w).
    """

    def __init__(self, in_channels=1, num_classes=10, width=32):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, width),
            *_conv_bn_relu(width, 2 * width),
            nn.MaxPool2d(2),
            *_conv_bn_relu(2 * width, 2 * width),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        features = self.features(x)  # (N, 2w, H/2, W/2)
        return self.head(features.mean(dim=(2, 3)))  # global average pool -> (N, 2w) -> (N, classes)
