"""A spatial transformer network for classification: nn.SpatialTransformer in front of the small CNN.

Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the network learns to normalise pose and
scale before classifying; "unlike in max-pooling, spatial invariance is learned").
The layer itself is nn.SpatialTransformer (nn/spatial.py), so that it can go in front of any model;
this module only registers the paper's classification set-up for ``tgm train stn``.
Reference: Jaderberg et al., "Spatial Transformer Networks", 2015, arXiv:1506.02025 (section 4.1).
"""

from .. import nn
from .cnn import SmallCNN

__all__ = ["STNClassifier"]


class STNClassifier(nn.Module):
    """x -> SpatialTransformer (identity at initialisation) -> SmallCNN -> logits.

    Shapes: x (N, C, H, W), H, W >= 2 -> logits (N, num_classes); the warped image keeps (H, W).
    Args:
        in_channels, num_classes, width: as SmallCNN.
        padding_mode: grid_sample's, for the transformer ('zeros', 'border', 'reflection').
    """

    def __init__(self, in_channels=1, num_classes=10, width=16, padding_mode="zeros"):
        super().__init__()
        self.transformer = nn.SpatialTransformer(in_channels, padding_mode=padding_mode)
        self.classifier = SmallCNN(in_channels, num_classes, width)

    def forward(self, x):
        return self.classifier(self.transformer(x))  # (N, C, H, W) -> (N, C, H, W) -> (N, num_classes)
