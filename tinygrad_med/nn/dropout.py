"""Dropout layers with torch.nn's names: Dropout, Dropout1d-3d, AlphaDropout, FeatureAlphaDropout.

Lecture: "Dropout regularization" (drop neurons with probability p while training;
"higher p for layers with more parameters").  Each layer calls the op of the same
name in nn.functional (ops/dropout.py, Philox masks on CPU and GPU); in eval mode
(``model.eval()``) it is the identity.
"""

from ..errors import fmt
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """Holds p (checked to lie in [0, 1]) and inplace, as torch's _DropoutNd."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(fmt(type(self).__name__, f"dropout probability has to be between 0 and 1, but got {p}"))
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Element-wise inverted dropout (torch.nn.Dropout).

    Lecture: "Dropout regularization".
    Forward:  training: y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) per element; eval: y = x
    Backward: gx = gy * keep / (1 - p) (ops/dropout.py::Dropout regenerates keep from its seed)
    Shapes:   x (*) -> y (*)
    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: must be False (see nn.functional.dropout).
    Raises:
        ValueError if p is outside [0, 1].
    """

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Channel dropout for (N, C, L) or (C, L) input (torch.nn.Dropout1d); see Dropout2d."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Channel dropout: whole (H, W) feature maps zeroed with probability p (torch.nn.Dropout2d).

    Lecture: "Dropout regularization".
    Forward:  training: y[n, c] = x[n, c] * keep[n, c] / (1 - p); eval: y = x
    Backward: gx[n, c] = gy[n, c] * keep[n, c] / (1 - p)
    Shapes:   x (N, C, H, W) -> same (a 3-D input is read as (N, C, L), as PyTorch)
    Raises:   ValueError if p is outside [0, 1]; ShapeError (when called) for other ranks.
    """

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Channel dropout for (N, C, D, H, W) or (C, D, H, W) volumes (torch.nn.Dropout3d); see Dropout2d."""

    def forward(self, x):
        return F.dropout3d(x, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU activations' mean and variance (torch.nn.AlphaDropout).

    Forward:  see nn.functional.alpha_dropout; eval: y = x
    Reference: G. Klambauer et al., "Self-Normalizing Neural Networks", arXiv:1706.02515.
    """

    def forward(self, x):
        return F.alpha_dropout(x, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (torch.nn.FeatureAlphaDropout): each (n, c) plane kept or saturated.

    Forward:  see nn.functional.feature_alpha_dropout; eval: y = x
    Reference: G. Klambauer et al., "Self-Normalizing Neural Networks", arXiv:1706.02515.
    """

    def forward(self, x):
        return F.feature_alpha_dropout(x, self.p, self.training, self.inplace)
