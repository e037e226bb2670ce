"""Normalisation layers with torch.nn's names, parameters and buffers: BatchNorm1d/2d/3d,
InstanceNorm1d/2d/3d, GroupNorm, LayerNorm.

Lecture: "Batch normalization".  Each layer owns gamma (``weight``) and beta (``bias``)
and, for batch norm, the running statistics used in evaluation (buffers ``running_mean``,
``running_var``, ``num_batches_tracked``, named as in PyTorch so a state_dict maps one
to one).  The math, forward and backward, is in ops/norm.py (nn.functional.batch_norm,
instance_norm, group_norm, layer_norm); ``train()`` / ``eval()`` choose batch or running
statistics.
"""

import numpy

from .. import factory
from ..errors import ShapeError, fmt
from ..function import increment_version
from ..ops.norm import batch_norm_relu
from . import functional as F
from .module import Module, Parameter

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "GroupNorm",
    "LayerNorm",
    "LocalResponseNorm",
]


def _affine_parameters(module, C, affine, bias, device, dtype):
    """weight (C,) = 1 and, unless bias=False (PyTorch's keyword), bias (C,) = 0; both None without affine."""
    module.register_parameter("weight", Parameter(factory.ones(C, dtype=dtype, device=device)) if affine else None)
    with_bias = affine and bias
    module.register_parameter("bias", Parameter(factory.zeros(C, dtype=dtype, device=device)) if with_bias else None)


class _NormBase(Module):
    """weight/bias (C,) and running_mean/running_var/num_batches_tracked buffers, as torch's _NormBase."""

    ranks = ()  # accepted input ranks, set by each subclass

    def __init__(
        self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None,
        *, bias=True,
    ):  # fmt: skip
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", factory.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", factory.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", factory.tensor(0, dtype=numpy.int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """running_mean <- 0, running_var <- 1, num_batches_tracked <- 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0
            for buffer in (self.running_mean, self.running_var, self.num_batches_tracked):
                increment_version(buffer)

    def reset_parameters(self):
        """Running statistics reset, weight <- 1, bias <- 0."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0
            increment_version(self.weight)
            increment_version(self.bias)

    def _check_input_dim(self, x):
        if x.ndim not in self.ranks:
            ranks = " or ".join(f"{r}D" for r in self.ranks)
            raise ShapeError(fmt(type(self).__name__, f"expected {ranks} input (got {x.ndim}D input)", x=x))

    def extra_repr(self):
        no_bias = ", bias=False" if self.affine and self.bias is None else ""
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}{no_bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """Batch normalisation layer (see BatchNorm2d)."""

    def forward(self, x, *, relu=False):
        """y = batch_norm(x); relu=True: max(0, y) in one op (nn.Sequential asks so when a ReLU follows)."""
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            increment_version(self.num_batches_tracked)
            if self.momentum is None:  # cumulative moving average: the running stats are plain means
                factor = 1.0 / float(self.num_batches_tracked.data)
        # without running statistics, evaluation uses the batch statistics too (as PyTorch)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return (batch_norm_relu if relu else F.batch_norm)(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


_BatchNorm.forward.takes_relu = True  # nn.Sequential may pass relu=True (a subclass's own forward lacks this mark)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input (torch.nn.BatchNorm1d); see BatchNorm2d."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps, per channel (torch.nn.BatchNorm2d).

    Lecture: "Batch normalization".
    Forward:  training: y = gamma (x - mu_B) / sqrt(sigma2_B + eps) + beta with the batch statistics,
              which move the running ones: running <- (1 - momentum) running + momentum batch
              (momentum=None: the cumulative average over num_batches_tracked batches; the variance
              unbiased); eval: the running statistics instead.
    Backward: nn.functional.batch_norm (ops/norm.py::BatchNorm).
    Shapes:   x (N, C, H, W) -> same; weight, bias, running_mean, running_var (C,); num_batches_tracked ()
    Reference: Ioffe & Szegedy, arXiv:1502.03167.
    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of the batch statistic in the running average, or None for a cumulative average.
        affine: learn weight (gamma, initially 1) and bias (beta, initially 0).
        bias: keyword only; False keeps gamma but no beta (as PyTorch; also InstanceNorm*d and GroupNorm).
        track_running_stats: keep running statistics; if False, eval mode uses batch statistics.
        device, dtype: of the parameters and buffers.
    Raises:
        ShapeError if x is not 4-D or its channel count is not num_features.
    """

    ranks = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) volumes (torch.nn.BatchNorm3d); see BatchNorm2d."""

    ranks = (5,)


class _InstanceNorm(_NormBase):
    """Instance normalisation layer (see InstanceNorm2d)."""

    def __init__(
        self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None, dtype=None,
        *, bias=True,
    ):  # fmt: skip
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, x):
        self._check_input_dim(x)
        unbatched = x.ndim == self.ranks[0]
        if unbatched:  # (C, *) -> (1, C, *)
            x = x.unsqueeze(0)
        momentum = 0.0 if self.momentum is None else self.momentum
        y = F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            momentum,
            self.eps,
        )
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input (torch.nn.InstanceNorm1d); see InstanceNorm2d."""

    ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation: each sample's channel over its own H x W (torch.nn.InstanceNorm2d).

    Lecture: "Batch normalization" (statistics per sample instead of per batch).
    Forward:  y = weight[c] (x - mean_{n,c}) / sqrt(var_{n,c} + eps) + bias[c]; with track_running_stats,
              eval mode uses the running statistics (averaged over the batch while training).
    Backward: nn.functional.instance_norm (ops/norm.py).
    Shapes:   x (N, C, H, W) or (C, H, W) -> same
    Args:     as BatchNorm2d, but affine and track_running_stats default to False.
    Raises:   ShapeError for other ranks or a channel count other than num_features (with affine or stats).
    """

    ranks = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input (torch.nn.InstanceNorm3d)."""

    ranks = (4, 5)


class GroupNorm(Module):
    """Group normalisation: channels split into num_groups groups, each normalised per sample.

    Lecture: "Batch normalization" (statistics over a group of channels; independent of the batch size).
    Forward:  y = weight[c] x_hat + bias[c], x_hat normalised over each sample's (C/G, *) group
    Backward: nn.functional.group_norm (ops/norm.py).
    Shapes:   x (N, C, *) -> same; weight, bias (C,)
    Reference: Y. Wu, K. He, arXiv:1803.08494.
    Raises:   ValueError if num_channels is not divisible by num_groups.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ShapeError(
                fmt("GroupNorm", f"num_channels={num_channels} must be divisible by num_groups={num_groups}")
            )
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _affine_parameters(self, num_channels, affine, bias, device, dtype)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        no_bias = ", bias=False" if self.affine and self.bias is None else ""
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}{no_bias}"


class LayerNorm(Module):
    """Layer normalisation over the last dims of each sample (torch.nn.LayerNorm).

    Lecture: "Batch normalization" (statistics over the features of one sample).
    Forward:  y = weight * (x - mean) / sqrt(var + eps) + bias, statistics over normalized_shape
    Backward: nn.functional.layer_norm (ops/norm.py).
    Shapes:   x (..., *normalized_shape) -> same; weight, bias normalized_shape
    Reference: J. L. Ba, J. R. Kiros, G. E. Hinton, arXiv:1607.06450.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        shape = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(factory.ones(*shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(factory.zeros(*shape, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """Local response normalisation across channels (torch.nn.LocalResponseNorm).

    Lecture: "Image classification - AlexNet" / "ZF Net" (response normalisation after conv1, conv2).
    Forward:  y[c] = x[c] / (k + alpha/size * sum_{c' in window(c)} x[c']^2)^beta
    Backward: nn.functional.local_response_norm (ops/lrn.py).
    Shapes:   x (N, C, *) -> same
    Reference: Krizhevsky et al., NIPS 2012, section 3.3 (their alpha = PyTorch's alpha / size).
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
