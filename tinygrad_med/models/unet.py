"""U-Net in 2D and 3D (Ronneberger, Fischer and Brox, arXiv:1505.04597; Cicek et al. 3D U-Net,
arXiv:1606.06650).

Lecture: "SEMANTIC SEGMENTATION - U-Net [Ronneberger et al., 2015]" and "V-Net [Milletari et al.,
2016]: extension of U-Net to volumetric (3D) data" (a contracting path of conv blocks and pooling, an expanding
path of transposed convolutions, and skip connections that concatenate encoder features).

Differences from the paper, for small CPU runs: 'same' padding (output size = input size, so no
cropping of the skip connections), batch normalisation after each convolution, and a configurable
width (channels of the first level, doubled per level) and depth (number of poolings). The default
16-32-64 has 0.12M parameters.
"""

from .. import nn
from ..errors import ShapeError, fmt
from ..ops.shape import cat

__all__ = ["UNet", "UNet3D"]


NORMS = ("batch", "instance", "none")


def _layers(spatial_dims):
    if spatial_dims == 2:
        return nn.Conv2d, nn.MaxPool2d, nn.ConvTranspose2d
    return nn.Conv3d, nn.MaxPool3d, nn.ConvTranspose3d


def norm_layer(norm, channels, spatial_dims):
    """BatchNorm (statistics of the mini-batch in training, running averages in eval), InstanceNorm with
    an affine (statistics of each sample and channel, the same in training and eval; nnU-Net's choice
    for small 3D batches), or None."""
    if norm == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels)
    if norm == "instance":
        return (nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    return None


def check_norm(op, norm):
    if norm not in NORMS:
        raise ValueError(fmt(op, f"norm must be one of {', '.join(NORMS)}; got {norm!r}"))


class ConvBlock(nn.Module):
    """(conv 3x3 -> norm -> ReLU) twice; 'same' padding keeps the size."""

    def __init__(self, in_channels, out_channels, spatial_dims=2, norm="batch"):
        super().__init__()
        conv = _layers(spatial_dims)[0]
        layers = []
        for channels in (in_channels, out_channels):
            layers.append(conv(channels, out_channels, 3, padding=1, bias=norm == "none"))
            if norm != "none":
                layers.append(norm_layer(norm, out_channels, spatial_dims))
            layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


def contracting_path(in_channels, widths, spatial_dims=2, norm="batch"):
    """The encoder's conv blocks, one per level: in_channels -> widths[0], then widths[l] -> widths[l + 1]."""
    blocks = [ConvBlock(in_channels, widths[0], spatial_dims, norm)]
    blocks += [ConvBlock(widths[i], widths[i + 1], spatial_dims, norm) for i in range(len(widths) - 1)]
    return nn.ModuleList(blocks)


def contract(blocks, pool, x):
    """Run the contracting path; returns every level's features, level l (N, widths[l], S / 2**l)."""
    levels = []
    for level, block in enumerate(blocks):
        x = block(x if level == 0 else pool(x))
        levels.append(x)
    return levels


class UNet(nn.Module):
    """U-Net with ``depth`` poolings and widths base_width * 2**level.

    Shapes: x (N, in_channels, H, W) (or (N, C, D, H, W) with spatial_dims=3), every spatial size
            divisible by 2**depth -> logits (N, num_classes, H, W)
    Args:
        in_channels, num_classes: input channels and output classes (logits, no softmax).
        base_width: channels of the first level (16 gives 16-32-64 at depth 2).
        depth: number of 2x down-samplings (the paper uses 4).
        spatial_dims: 2 or 3.
        norm: 'batch' (default), 'instance' or 'none' after every conv (see ``norm_layer``).
    Raises:
        ShapeError in forward if a spatial size is not divisible by 2**depth.
        ValueError for an unknown norm or a bad size argument.
    """

    def __init__(self, in_channels=1, num_classes=2, base_width=16, depth=2, spatial_dims=2, norm="batch"):
        super().__init__()
        check_norm("UNet", norm)
        if spatial_dims not in (2, 3) or depth < 1 or base_width < 1:
            raise ValueError(
                fmt(
                    "UNet",
                    f"need spatial_dims 2 or 3, depth >= 1, base_width >= 1; got "
                    f"spatial_dims={spatial_dims}, depth={depth}, base_width={base_width}",
                )
            )
        conv, pool, up = _layers(spatial_dims)
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.depth, self.spatial_dims = depth, spatial_dims
        self.down = contracting_path(in_channels, widths, spatial_dims, norm)
        self.pool = pool(2)
        self.up = nn.ModuleList([up(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))])
        self.decode = nn.ModuleList(
            [ConvBlock(2 * widths[i], widths[i], spatial_dims, norm) for i in reversed(range(depth))]
        )
        self.head = conv(widths[0], num_classes, 1)

    def forward(self, x):
        return self.head(self.features(x))

    def features(self, x):
        """The last decoder block's output (N, base_width, *S), before the 1x1 head (the Probabilistic
        U-Net appends its latent sample here)."""
        factor = 2**self.depth
        if x.ndim != self.spatial_dims + 2 or any(s % factor for s in x.shape[2:]):
            raise ShapeError(
                fmt(
                    "UNet",
                    f"input must be (N, C, *S) with {self.spatial_dims} spatial sizes divisible by 2**depth = {factor}",
                    x=x,
                )
            )
        skips = contract(self.down, self.pool, x)
        x = skips[-1]
        for up, block, skip in zip(self.up, self.decode, reversed(skips[:-1]), strict=False):
            x = block(cat([up(x), skip], dim=1))  # (N, w, S) + (N, w, S) -> (N, 2w, S)
        return x


class UNet3D(UNet):
    """3D U-Net (Cicek et al., arXiv:1606.06650) for volumes; default widths 8-16-32, batch norm
    (``norm='instance'`` avoids batch norm's running statistics, which are noisy with batches of
    one or two 3D patches; on the MNI152 recipe batch norm still scored higher: 0.85 vs 0.82 Dice)."""

    def __init__(self, in_channels=1, num_classes=3, base_width=8, depth=2, norm="batch"):
        super().__init__(in_channels, num_classes, base_width, depth, spatial_dims=3, norm=norm)
