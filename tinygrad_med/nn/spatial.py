"""The spatial transformer layer (Jaderberg et al. 2015): localisation net -> affine grid -> sampler.

Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" ("transforms the input image so that
learning in subsequent layers is easier"; "spatial invariance is learned").

Why a layer in nn and not a model in models/: the paper presents the spatial transformer as a
self-contained, differentiable module that can be inserted anywhere in an existing network (before a
classifier, between conv blocks, in front of a segmentation net); as a Module it drops into
``nn.Sequential(SpatialTransformer(1), SmallCNN(...))`` or any of models/ without a new model class.
The math is in ops/sample.py (affine_grid, grid_sample <-> kernels/sample.cu).
"""

import numpy

from ..errors import ShapeError, fmt
from ..function import no_grad
from . import functional as F
from . import init
from .activation import ReLU
from .conv import Conv2d, Conv3d
from .linear import Flatten, Linear, Sequential
from .module import Module
from .pool import AdaptiveAvgPool2d, AdaptiveAvgPool3d, MaxPool2d, MaxPool3d

__all__ = ["SpatialTransformer"]


class SpatialTransformer(Module):
    """Learned affine warp of the input: theta = f_loc(x), y = sample(x, affine_grid(theta)).

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer".
    Forward:  theta = head(localization(x)) reshaped to (N, d, d + 1) (d = 2 or 3 spatial dims);
              grid = affine_grid(theta, (N, C, *output_size)); y = grid_sample(x, grid)
    Backward: through grid_sample to x and to the grid, through affine_grid to theta, and on into
              the localisation net: the warp is learned from the task loss alone (no pose labels).
    Shapes:   x (N, C, H, W) -> y (N, C, *output_size) (default: the input size); 3-D likewise.
    Init:     the head's weight is 0 and its bias the identity [[1, 0, 0], [0, 1, 0]] (eq. 1 with
              theta = I), so the layer starts as the identity map and learns to depart from it.
    Args:
        in_channels: C of the input.
        spatial_dims: 2 for (N, C, H, W) inputs, 3 for (N, C, D, H, W).
        output_size: spatial size of the output, default the input's.
        localization: a Module mapping x to (N, features); default: conv(8, 3x3) - maxpool 2 - ReLU -
            conv(10, 3x3) - ReLU - adaptive average pool to 2 per axis - Linear(hidden) - ReLU.
        features: the width of a given localization's output (with the default, ``hidden``).
        hidden: width of the default localisation net's last layer.
        mode, padding_mode, align_corners: passed to grid_sample (and align_corners to affine_grid).
    Raises:
        ValueError for spatial_dims other than 2 or 3, or a localization given without features;
        ShapeError (in forward) if x is not (N, C, *spatial) with C = in_channels.
    Reference: Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks", NIPS 2015,
        arXiv:1506.02025.
    """

    def __init__(self, in_channels, spatial_dims=2, output_size=None, localization=None, features=None, hidden=32,
                 mode="bilinear", padding_mode="zeros", align_corners=False):  # fmt: skip
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(fmt("SpatialTransformer", f"spatial_dims must be 2 or 3, got {spatial_dims!r}"))
        if localization is not None and features is None:
            raise ValueError(fmt("SpatialTransformer", "a custom localization needs features= (its output width)"))
        self.in_channels, self.spatial_dims = int(in_channels), spatial_dims
        self.output_size = None if output_size is None else tuple(int(s) for s in numpy.atleast_1d(output_size))
        self.mode, self.padding_mode, self.align_corners = mode, padding_mode, bool(align_corners)
        if localization is None:
            localization, features = _default_localization(in_channels, spatial_dims, hidden), hidden
        self.localization = localization
        d = spatial_dims
        self.head = Linear(features, d * (d + 1))  # regresses the d x (d + 1) affine matrix
        with no_grad():
            init.zeros_(self.head.weight)
            self.head.bias.copy_(numpy.eye(d, d + 1).ravel().astype(self.head.bias.dtype))

    def theta(self, x):
        """The affine matrices (N, d, d + 1) the localisation net predicts for x."""
        d = self.spatial_dims
        if x.ndim != d + 2 or x.shape[1] != self.in_channels:
            layout = "(N, C, H, W)" if d == 2 else "(N, C, D, H, W)"
            raise ShapeError(fmt("SpatialTransformer", f"expected {layout} with C = {self.in_channels}", x=x))
        return self.head(self.localization(x)).reshape(x.shape[0], d, d + 1)

    def forward(self, x):
        theta = self.theta(x)
        size = (*x.shape[:2], *(self.output_size or x.shape[2:]))
        grid = F.affine_grid(theta, size, align_corners=self.align_corners)
        return F.grid_sample(x, grid, self.mode, self.padding_mode, self.align_corners)

    def extra_repr(self):
        return (
            f"in_channels={self.in_channels}, spatial_dims={self.spatial_dims}, output_size={self.output_size}, "
            f"mode={self.mode!r}, padding_mode={self.padding_mode!r}, align_corners={self.align_corners}"
        )


def _default_localization(in_channels, spatial_dims, hidden):
    """A small conv net (the STN tutorial's shape, with adaptive pooling so any input size >= 2 works)."""
    layers = {2: (Conv2d, MaxPool2d, AdaptiveAvgPool2d), 3: (Conv3d, MaxPool3d, AdaptiveAvgPool3d)}
    conv, pool, adaptive = layers[spatial_dims]
    return Sequential(
        conv(in_channels, 8, 3, padding=1),
        pool(2),
        ReLU(),
        conv(8, 10, 3, padding=1),
        ReLU(),
        adaptive(2),  # (N, 10, 2, 2[, 2])
        Flatten(),
        Linear(10 * 2**spatial_dims, hidden),
        ReLU(),
    )
