"""ResNet-18 (He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385).

Lecture: "IMAGE CLASSIFICATION - ResNet [He et al, 2016]" (residual blocks y = F(x) + x; 1x1 projection shortcuts when
the shape changes).

``stem='imagenet'`` is the paper's 7x7 stride-2 conv and 3x3 max pool (224 x 224 inputs);
``stem='cifar'`` is a 3x3 stride-1 conv without pooling, for small images (32 x 32 and below).
"""

from .. import nn
from ..errors import fmt

__all__ = ["BasicBlock", "ResNet", "resnet18"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a shortcut: y = relu(BN(conv(relu(BN(conv(x))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:  # projection shortcut (option B of the paper)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with BasicBlocks; ``blocks=(2, 2, 2, 2)`` is ResNet-18 (11.7M parameters at 1000 classes).

    Shapes: x (N, C, H, W) -> logits (N, num_classes); the four stages have widths w, 2w, 4w, 8w
    and strides 1, 2, 2, 2.
    """

    def __init__(self, blocks=(2, 2, 2, 2), in_channels=3, num_classes=1000, stem="imagenet", width=64):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(fmt("ResNet", f"stem must be 'imagenet' or 'cifar', got {stem!r}"))
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
            )
        layers, channels = [], width
        for stage, count in enumerate(blocks):
            out_channels = width * 2**stage
            for index in range(count):
                layers.append(BasicBlock(channels, out_channels, stride=2 if stage > 0 and index == 0 else 1))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        features = self.layers(self.stem(x))  # (N, 8w, H/32, W/32) imagenet, (N, 8w, H/8, W/8) cifar
        return self.fc(features.mean(dim=(2, 3)))  # global average pooling


def resnet18(in_channels=3, num_classes=1000, stem="imagenet", width=64):
    """ResNet-18: four stages of two BasicBlocks each."""
    return ResNet((2, 2, 2, 2), in_channels=in_channels, num_classes=num_classes, stem=stem, width=width)
