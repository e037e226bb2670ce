"""Probabilistic U-Net: a U-Net plus a low-dimensional latent space that generates several plausible
segmentations of one image (Kohl et al., "A Probabilistic U-Net for Segmentation of Ambiguous
Images", NeurIPS 2018, arXiv:1806.05034).

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Probabilistic U-Net [Kohl et al., 2018]"
("use VAE to generate multiple segmentation hypotheses").

    prior net      P(z | X)    = N(mu_p(X), diag exp(logvar_p(X)))        image X
    posterior net  Q(z | X, Y) = N(mu_q(X, Y), diag exp(logvar_q(X, Y)))  image and one-hot segmentation Y
    U-Net          features f = U-Net(X) (N, w, *S) before its 1x1 head
    f_comb         z (N, L) broadcast to (N, L, *S), concatenated to f, then 1x1 convs
                   (w + L -> w, ReLU, ...) ending with the U-Net's own 1x1 head -> logits (N, C, *S)
    training       z ~ Q (reparameterised); loss = CE(logits, Y) + beta * KL(Q || P)   (paper eq. 4;
                   CE summed over pixels, both terms averaged over the batch)
    sampling       z_1 .. z_M ~ P(z | X): M segmentations; the U-Net runs once, only f_comb per sample

The prior and posterior nets are the U-Net's contracting path (models/unet.py::contracting_path),
then a mean over space and a linear map to (mu, logvar) (the paper's 1x1 conv on the averaged
features). Differences from the paper for small CPU runs: widths 16-32-64 (paper 32-64-128-192),
'same' padding and batch norm as in our UNet, log-variance instead of log-sigma.
"""

import numpy

from .. import nn
from ..errors import ShapeError, fmt
from ..nn import functional as F
from ..ops.dice import one_hot_labels
from ..ops.kl import kl_normal_normal, reparameterize
from ..ops.shape import cat, stack
from ..tensor import Tensor
from .unet import UNet, check_norm, contract, contracting_path

__all__ = ["AxisAlignedGaussian", "ProbUNet"]


class AxisAlignedGaussian(nn.Module):
    """The prior or posterior net: a U-Net encoder, a mean over space, a linear map to mu and logvar.

    Shapes: x (N, in_channels, *S) -> mu (N, latent_dim), logvar (N, latent_dim)
    """

    def __init__(self, in_channels, latent_dim, base_width=16, depth=2, spatial_dims=2, norm="batch"):
        super().__init__()
        widths = [base_width * 2**level for level in range(depth + 1)]
        self.down = contracting_path(in_channels, widths, spatial_dims, norm)
        self.pool = (nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d)(2)
        self.to_gaussian = nn.Linear(widths[-1], 2 * latent_dim)

    def forward(self, x):
        features = contract(self.down, self.pool, x)[-1]  # (N, w_depth, S / 2**depth)
        pooled = features.mean(dim=tuple(range(2, features.ndim)))  # (N, w_depth)
        mu, logvar = self.to_gaussian(pooled).chunk(2, dim=1)  # (N, 2L) -> (N, L), (N, L)
        return mu, logvar


class ProbUNet(nn.Module):
    """Probabilistic U-Net: U-Net features combined with a latent sample from a prior or posterior net.

    Shapes: x (N, in_channels, *S), *S = (H, W) (or (D, H, W) with spatial_dims=3), each divisible by
            2**depth; target (N, *S) labels in 0..num_classes-1; z (N, latent_dim)
            forward(x, z) -> logits (N, num_classes, *S); sample(x, M) -> (M, N, num_classes, *S)
    Args:
        in_channels, num_classes: image channels and segmentation classes.
        latent_dim: size L of the latent space (the paper uses 6).
        base_width, depth, spatial_dims, norm: as UNet, shared by the U-Net and both Gaussian nets.
        fcomb_layers: number of 1x1 convs after the concatenation, the U-Net's head included (paper: 3).
        beta: weight of the KL term in ``training_loss``.
    Raises:
        ShapeError for an image whose sizes do not halve ``depth`` times, or a target of another shape;
        ValueError for bad size arguments or an unknown norm.
    Reference: Kohl et al., arXiv:1806.05034.
    """

    def __init__(
        self,
        in_channels=1,
        num_classes=2,
        latent_dim=6,
        base_width=16,
        depth=2,
        spatial_dims=2,
        norm="batch",
        fcomb_layers=3,
        beta=1.0,
    ):
        super().__init__()
        check_norm("ProbUNet", norm)
        if latent_dim < 1 or fcomb_layers < 1:
            raise ValueError(
                fmt("ProbUNet", "need latent_dim >= 1, fcomb_layers >= 1", latent_dim=latent_dim, fcomb=fcomb_layers)
            )
        self.num_classes, self.latent_dim, self.beta = num_classes, latent_dim, float(beta)
        self.unet = UNet(in_channels, num_classes, base_width, depth, spatial_dims, norm)
        sizes = (base_width, depth, spatial_dims, norm)
        self.prior = AxisAlignedGaussian(in_channels, latent_dim, *sizes)
        self.posterior = AxisAlignedGaussian(in_channels + num_classes, latent_dim, *sizes)
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        layers = []
        for layer in range(fcomb_layers - 1):
            layers += [conv(base_width + (latent_dim if layer == 0 else 0), base_width, 1), nn.ReLU()]
        self.fcomb = nn.Sequential(*layers)  # then self.unet.head (w -> num_classes)
        if fcomb_layers == 1:  # the head itself takes the concatenation
            self.unet.head = conv(base_width + latent_dim, num_classes, 1)

    def forward(self, x, z=None):
        """Logits (N, num_classes, *S) for latent codes z (N, latent_dim); z drawn from the prior if None."""
        features = self.unet.features(x)
        if z is None:
            z = reparameterize(*self.prior(x))
        return self.combine(features, z)

    def combine(self, features, z):
        """f_comb: z broadcast over space and concatenated to the U-Net features, then the 1x1 convs."""
        if z.ndim != 2 or tuple(z.shape) != (features.shape[0], self.latent_dim):
            raise ShapeError(fmt("ProbUNet", f"z must be (N, {self.latent_dim})", z=z, features=features))
        spatial = tuple(features.shape[2:])
        tiled = z.reshape(*z.shape, *(1,) * len(spatial)).expand(*z.shape, *spatial)  # (N, L) -> (N, L, *S)
        return self.unet.head(self.fcomb(cat([features, tiled], dim=1)))  # (N, w + L, *S) -> (N, C, *S)

    def training_loss(self, x, target, beta=None):
        """The negative ELBO of one batch, and its two terms.

        Forward:  z ~ Q(z | x, y); loss = (1/N) sum_n [sum_pixels CE(logits(x, z), y) + beta KL(Q || P)]
        Backward: CE reaches f_comb, the U-Net and (through z) the posterior; KL reaches both Gaussian nets.
        Returns:  (loss, cross_entropy, kl), each a scalar Tensor.
        """
        beta = self.beta if beta is None else float(beta)
        labels = self._labels(x, target)
        one_hot = one_hot_labels(labels, self.num_classes, x)  # (N, *S) -> (N, C, *S)
        mu_q, logvar_q = self.posterior(cat([x, one_hot], dim=1))
        mu_p, logvar_p = self.prior(x)
        logits = self.combine(self.unet.features(x), reparameterize(mu_q, logvar_q))
        n = x.shape[0]
        cross_entropy = F.cross_entropy(logits, Tensor._wrap(labels), reduction="sum") / n
        kl = kl_normal_normal(mu_q, logvar_q, mu_p, logvar_p, reduction="batchmean")
        return cross_entropy + kl * beta, cross_entropy, kl

    def sample(self, x, num_samples):
        """``num_samples`` segmentation hypotheses per image: logits for z_1 .. z_M drawn from the prior.

        Shapes: x (N, C_in, *S) -> (num_samples, N, num_classes, *S); argmax over dim 2 gives label maps.
        """
        features = self.unet.features(x)
        mu_p, logvar_p = self.prior(x)
        draws = [reparameterize(mu_p, logvar_p) for _ in range(int(num_samples))]
        return stack([self.combine(features, z) for z in draws])

    def _labels(self, x, target):
        labels = target.data if isinstance(target, Tensor) else numpy.asarray(target)
        expected = (x.shape[0],) + tuple(x.shape[2:])
        if tuple(labels.shape) != expected or labels.dtype.kind not in "iu":
            raise ShapeError(fmt("ProbUNet", f"target must be integer labels (N, *S) = {expected}", target=labels))
        if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ShapeError(
                fmt("ProbUNet", f"target labels must be in 0..{self.num_classes - 1}", target_max=int(labels.max()))
            )
        return labels.astype(numpy.int64, copy=False)
