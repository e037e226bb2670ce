"""The variational autoencoder's pieces: the Gaussian KL term, the reparameterisation trick and the ELBO.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)" ("map to the
parameters of a distribution (e.g., mu and sigma for Gaussian) ... sample encodings ... make the
distribution as close to a zero-mean, unit variance spherical Gaussian") and "Probabilistic U-Net
[Kohl et al., 2018]" (the KL between a posterior and a prior Gaussian).
Reference: Kingma and Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114 (appendix B: the
closed-form KL to N(0, I); section 2.4: the reparameterisation trick); Kohl et al., "A Probabilistic
U-Net for Segmentation of Ambiguous Images", arXiv:1806.05034 (eq. 4).

Every function here is composed of differentiable tensor ops (exp, mul, sub, sum, the losses of
ops/loss.py), so the backward pass is the chain rule through those ops and needs no kernel of its
own; tests/test_generative_models.py gradient-checks each one against central differences.
Gaussians are axis-aligned and given by their mean mu and log-variance logvar = log sigma^2 (any
real number, so a network can output it without a positivity constraint).

    KL(N(mu, sigma^2) || N(0, 1))      = -1/2 sum (1 + logvar - mu^2 - exp(logvar))
    KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) = 1/2 sum (logvar_p - logvar_q
                                             + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1)
    z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)   (sampling moved into an input: dz/dmu = 1,
                                                       dz/dlogvar = exp(logvar / 2) * eps / 2)
    -ELBO = reconstruction error (BCE or squared error, summed over pixels) + beta * KL
"""

import numpy

from ..errors import DTypeError, ShapeError, fmt
from ..factory import randn_like
from ..tensor import Tensor
from .loss import binary_cross_entropy, mse_loss

__all__ = ["kl_normal", "kl_normal_normal", "reparameterize", "vae_loss"]

_REDUCTIONS = ("sum", "batchmean", "none")


def kl_normal(mu, logvar, reduction="sum"):
    """KL divergence from N(mu, exp(logvar)) to the standard normal N(0, I), in closed form.

    Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)" (make the
    encoder's distribution close to a zero-mean, unit-variance spherical Gaussian).
    Reference: Kingma and Welling, arXiv:1312.6114, appendix B.
    Forward:  KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))
    Backward: dKL/dmu = mu;  dKL/dlogvar = (exp(logvar) - 1) / 2   (chain rule through exp/mul/sum)
    Shapes:   mu, logvar (N, L) or any equal shapes -> () for 'sum' and 'batchmean' (divided by N),
              the elementwise terms (N, L) for 'none'
    Raises:   ShapeError if the shapes differ; DTypeError for non-float tensors; ValueError for an
              unknown reduction.
    """
    _check_gaussian("kl_normal", mu, logvar, reduction)
    terms = (1.0 + logvar - mu * mu - logvar.exp()) * -0.5
    return _reduce(terms, reduction)


def kl_normal_normal(mu_q, logvar_q, mu_p, logvar_p, reduction="sum"):
    """KL(q || p) between two axis-aligned Gaussians q = N(mu_q, exp(logvar_q)), p = N(mu_p, exp(logvar_p)).

    Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Probabilistic U-Net [Kohl et al., 2018]"
    (the posterior net's Gaussian pulled towards the prior net's).
    Reference: Kohl et al., arXiv:1806.05034, eq. 4; kl_normal is the case mu_p = 0, logvar_p = 0.
    Forward:  KL = 1/2 sum_j (logvar_p - logvar_q + exp(logvar_q - logvar_p)
                              + (mu_q - mu_p)^2 exp(-logvar_p) - 1)
    Backward: dKL/dmu_q = (mu_q - mu_p) / s_p^2 = -dKL/dmu_p;  dKL/dlogvar_q = (s_q^2 / s_p^2 - 1) / 2;
              dKL/dlogvar_p = (1 - s_q^2 / s_p^2 - (mu_q - mu_p)^2 / s_p^2) / 2   (chain rule through the ops)
    Shapes:   mu_q, logvar_q (N, L); mu_p, logvar_p broadcastable to (N, L) -> () for 'sum' and
              'batchmean' (divided by N), (N, L) for 'none'
    Raises:   ShapeError if the shapes do not match; DTypeError for non-float tensors; ValueError for
              an unknown reduction.
    """
    _check_gaussian("kl_normal_normal", mu_q, logvar_q, reduction)
    _check_gaussian("kl_normal_normal", mu_p, logvar_p, reduction, names=("mu_p", "logvar_p"), like=mu_q)
    log_ratio = logvar_q - logvar_p  # log(s_q^2 / s_p^2)
    difference = mu_q - mu_p
    terms = (log_ratio.exp() - log_ratio + difference * difference * (-logvar_p).exp() - 1.0) * 0.5
    return _reduce(terms, reduction)


def reparameterize(mu, logvar, eps=None):
    """A differentiable sample z ~ N(mu, exp(logvar)): the reparameterisation trick.

    Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)" (sample
    encodings from the distribution the encoder outputs).
    Reference: Kingma and Welling, arXiv:1312.6114, section 2.4.
    Forward:  z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I) from the seeded generator of mu's device
              (tm.manual_seed repeats it), or the given eps
    Backward: gmu = gz;  glogvar = gz * exp(logvar / 2) * eps / 2;  eps gets no gradient
    Shapes:   mu, logvar (N, L), eps (N, L) or None -> z (N, L)
    Raises:   ShapeError if the shapes differ; DTypeError for non-float tensors.
    """
    _check_gaussian("reparameterize", mu, logvar, "sum")
    if eps is None:
        eps = randn_like(mu)
    elif not isinstance(eps, Tensor) or tuple(eps.shape) != tuple(mu.shape):
        raise ShapeError(fmt("reparameterize", "eps must be a Tensor of mu's shape", mu=mu, eps=_shape_of(eps)))
    return mu + (logvar * 0.5).exp() * eps.detach()


def vae_loss(recon, x, mu, logvar, beta=1.0, reconstruction="bce", reduction="sum"):
    """The VAE's training loss, the negative evidence lower bound (beta-weighted KL).

    Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)" (minimise
    the expected reconstruction error of sampled encodings, keep the distribution near N(0, I)).
    Reference: Kingma and Welling, arXiv:1312.6114, eq. 10 (beta = 1); Higgins et al., beta-VAE,
    ICLR 2017 (beta != 1).
    Forward:  loss = sum_i rec(recon_i, x_i) + beta * KL(N(mu, exp(logvar)) || N(0, I)),
              rec = binary cross-entropy (-log Bernoulli likelihood, recon in [0, 1]) or
              squared error (-log Gaussian likelihood with unit variance, up to a constant)
    Backward: the sum of both terms' gradients (binary_cross_entropy / mse_loss, kl_normal)
    Shapes:   recon, x (N, C, H, W) (any equal shapes), mu, logvar (N, L) -> () ('sum': summed over
              the batch; 'batchmean': divided by N, nats per image)
    Args:
        beta: weight of the KL term (1 for the ELBO, > 1 for a beta-VAE).
        reconstruction: 'bce' (recon holds probabilities, e.g. after a sigmoid) or 'mse'.
        reduction: 'sum' or 'batchmean'.
    Raises:
        ShapeError if recon and x differ in shape or the batch sizes disagree; ValueError for an
        unknown reconstruction or reduction.
    """
    if reconstruction not in ("bce", "mse") or reduction not in ("sum", "batchmean"):
        raise ValueError(
            fmt(
                "vae_loss",
                "reconstruction must be 'bce' or 'mse' and reduction 'sum' or 'batchmean'",
                reconstruction=reconstruction,
                reduction=reduction,
            )
        )
    shapes = [tuple(getattr(value, "shape", ())) for value in (recon, x, mu)]
    if shapes[0] != shapes[1] or not shapes[1] or shapes[1][:1] != shapes[2][:1]:
        raise ShapeError(
            fmt("vae_loss", "recon and x must have one shape (N, ...), mu (N, L)", recon=recon, x=x, mu=mu)
        )
    error = binary_cross_entropy if reconstruction == "bce" else mse_loss
    loss = error(recon, x, reduction="sum") + kl_normal(mu, logvar, reduction="sum") * float(beta)
    return loss / x.shape[0] if reduction == "batchmean" else loss


def _check_gaussian(op, mu, logvar, reduction, names=("mu", "logvar"), like=None):
    """Float tensors of one shape (or, with ``like``, broadcastable to like's shape) and a known reduction."""
    for name, value in zip(names, (mu, logvar), strict=True):
        if not isinstance(value, Tensor) or value.dtype.kind != "f":
            raise DTypeError(fmt(op, f"{name} must be a float Tensor", **{name: _shape_of(value)}))
    shapes = {names[0]: mu, names[1]: logvar}
    if like is None:
        if tuple(mu.shape) != tuple(logvar.shape) or mu.ndim == 0:
            raise ShapeError(fmt(op, f"{names[0]} and {names[1]} must have the same shape (N, L)", **shapes))
    else:
        try:
            fits = numpy.broadcast_shapes(like.shape, mu.shape, logvar.shape) == tuple(like.shape)
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(fmt(op, f"{names[0]} and {names[1]} must broadcast to mu_q's shape", mu_q=like, **shapes))
    if reduction not in _REDUCTIONS:
        raise ValueError(fmt(op, f"reduction must be one of {', '.join(_REDUCTIONS)}", reduction=reduction))


def _reduce(terms, reduction):
    if reduction == "none":
        return terms
    total = terms.sum()
    return total / terms.shape[0] if reduction == "batchmean" else total


def _shape_of(value):
    return value if hasattr(value, "shape") else type(value).__name__
