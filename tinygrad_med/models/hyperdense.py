"""HyperDense-Net (Dolz, Gopinath, Yuan, Lombaert, Desrosiers and Ben Ayed, "HyperDense-Net: A
hyper-densely connected CNN for multi-modal image segmentation", IEEE TMI 2019, arXiv:1804.02967).

Lecture: "SEMANTIC SEGMENTATION - Multi-modal segmentation" and "HyperDense-Net [Dolz et al., 2018]"
(dense connections across layers of different modalities; let training decide how to best combine
information across modalities).

One path of convolutions per imaging modality (channel m of the input is modality m).  Layer l of
every path sees the concatenation of the outputs of ALL earlier layers of ALL paths (DenseNet's
connectivity, across paths), so, with M modalities and widths w_0, w_1, ...:

    in_channels(layer 0) = 1 (its own modality)        in_channels(layer l) = M * (w_0 + ... + w_{l-1})

As in the paper: each path orders the concatenation differently (its own features first, then the
other paths in turn: "shuffling and interleaving"), layers are pre-activation blocks BN -> PReLU ->
conv 3x3(x3) (layer 0 is a plain conv of the image), and the classifier is fully convolutional:
1x1(x1) convolutions on the concatenation of every layer of every path, then 1x1 class scores.
The paper's 3D network has 9 layers of widths 25-25-25-50-50-50-75-75-75 and a 400-200-150 head.

Differences, for small CPU runs: widths and head widths are parameters (default 4-4-4-8-8-8 and
64-32), ``spatial_dims=2`` gives the same network in 2D, and padding='same' (the default) keeps
the image size (the paper: 'valid' convolutions, 27^3 patches -> 9^3 predictions, the earlier
features centre-cropped to the size of the newest; ``padding='valid'`` does exactly that).
With one modality it is a single densely connected path.
"""

from .. import nn
from ..errors import ShapeError, fmt
from ..ops.shape import cat
from .unet import check_norm, norm_layer
from .vnet import ChannelPReLU

__all__ = ["HyperDenseNet"]


def _pre_activation(channels, spatial_dims, norm):
    """[norm ->] PReLU, the start of a pre-activation block (the paper's BN -> PReLU -> conv)."""
    norm_module = norm_layer(norm, channels, spatial_dims)
    return nn.Sequential(*([] if norm_module is None else [norm_module]), ChannelPReLU(channels))


class _Layer(nn.Module):
    """BN -> PReLU -> conv k^d (pre-activation), or just the conv for layer 0, which reads the image."""

    def __init__(self, in_channels, out_channels, spatial_dims, padding, norm, first):
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.body = nn.Identity() if first else _pre_activation(in_channels, spatial_dims, norm)
        self.conv = conv(in_channels, out_channels, 3, padding=1 if padding == "same" else 0)

    def forward(self, x):
        return self.conv(self.body(x))


class HyperDenseNet(nn.Module):
    """HyperDense-Net: one densely interconnected path per modality, 2D or 3D (see the module docstring).

    Lecture: "Semantic segmentation" (multi-modal segmentation; HyperDense-Net).
    Reference: Dolz et al., IEEE TMI 2019, arXiv:1804.02967.
    Shapes:   x (N, M, *S) (M modalities, S = (H, W) or (D, H, W)) -> logits (N, num_classes, *S'),
              S' = S with padding='same', S - 2 * len(widths) per axis with padding='valid'.
    Args:
        in_channels: number of modalities M (one path each).
        num_classes: output classes (logits, no softmax).
        widths: output channels of each layer of a path (paper: 25, 25, 25, 50, 50, 50, 75, 75, 75).
        head_widths: channels of the 1x1 layers before the class scores (paper: 400, 200, 150).
        spatial_dims: 3 (the paper) or 2.
        padding: 'same' (default) or 'valid' (the paper).
        norm: 'batch' (default), 'instance' or 'none' in the pre-activation blocks and the head.
    Raises:
        ShapeError in forward for a wrong rank or number of modalities, or an input too small for
        'valid'; ValueError for bad arguments.
    """

    depth = 0  # no down-sampling: any size works (tgm predict pads to a multiple of 2**depth)

    def __init__(
        self,
        in_channels=2,
        num_classes=4,
        widths=(4, 4, 4, 8, 8, 8),
        head_widths=(64, 32),
        spatial_dims=3,
        padding="same",
        norm="batch",
    ):
        super().__init__()
        check_norm("HyperDenseNet", norm)
        if (
            in_channels < 1
            or not widths
            or min(widths) < 1
            or spatial_dims not in (2, 3)
            or padding not in ("same", "valid")
        ):
            raise ValueError(
                fmt(
                    "HyperDenseNet",
                    "need in_channels >= 1, widths >= 1, spatial_dims 2 or 3, padding 'same' or 'valid'; got "
                    f"in_channels={in_channels}, widths={widths}, spatial_dims={spatial_dims}, padding={padding!r}",
                )
            )
        M = in_channels
        self.modalities, self.widths, self.spatial_dims, self.padding = M, tuple(widths), spatial_dims, padding
        self.paths = nn.ModuleList(
            [
                nn.ModuleList(
                    [
                        _Layer(1 if l == 0 else M * sum(widths[:l]), w, spatial_dims, padding, norm, l == 0)
                        for l, w in enumerate(widths)
                    ]
                )
                for _ in range(M)
            ]
        )
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        channels = M * sum(widths)  # the concatenation of every layer of every path
        head = [_pre_activation(channels, spatial_dims, norm)]
        for width in head_widths:
            head += [conv(channels, width, 1), ChannelPReLU(width)]
            channels = width
        head.append(conv(channels, num_classes, 1))
        self.head = nn.Sequential(*head)

    def features(self, x):
        """The output of every layer of every path: features[m][l] of shape (N, w_l, *S_l)."""
        M = self.modalities
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != M:
            raise ShapeError(
                fmt(
                    "HyperDenseNet", f"input must be (N, {M} modalities, *S) with {self.spatial_dims} spatial dims", x=x
                )
            )
        if self.padding == "valid" and min(x.shape[2:]) <= 2 * len(self.widths):
            raise ShapeError(
                fmt("HyperDenseNet", f"'valid' needs every spatial size > 2 * {len(self.widths)} layers", x=x)
            )
        features = [[] for _ in range(M)]
        for l in range(len(self.widths)):
            for m in range(M):
                if l == 0:
                    source = x[:, m : m + 1]  # (N, 1, *S): path m reads its own modality
                else:  # path m: its own features first, then the other paths in turn, layer by layer
                    order = [(m + k) % M for k in range(M)]
                    source = cat([self._crop(features[p][j], l - 1 - j) for j in range(l) for p in order], dim=1)
                features[m].append(self.paths[m][l](source))
        return features

    def forward(self, x):
        features = self.features(x)
        L = len(self.widths)
        every = [self._crop(f[j], L - 1 - j) for f in features for j in range(L)]  # (N, M * sum(widths), *S_L)
        return self.head(cat(every, dim=1))

    def _crop(self, feature, margin):
        """Drop ``margin`` voxels per side ('valid': layer j's output is margin layers larger than the newest)."""
        if self.padding == "same" or margin == 0:
            return feature
        inner = slice(margin, -margin)
        return feature[
            (slice(None), slice(None)) + (inner,) * self.spatial_dims
        ]  # (N, C, *S) -> (N, C, *(S - 2 margin))
