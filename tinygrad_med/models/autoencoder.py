"""Convolutional autoencoder and variational autoencoder (VAE) for small images.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Convolutional autoencoder" ("same
encoder-decoder architecture, but the input and output images are the same", a low-dimensional
representation; "what would happen if we interpolated between two points in the encoding space?")
and "Variational autoencoder (VAE)" ("map to the parameters of a distribution (e.g., mu and sigma
for Gaussian) ... sample encodings ... make the distribution as close to a zero-mean, unit variance
spherical Gaussian").
Reference: Kingma and Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114. The loss, the
KL term and the reparameterisation are in tinygrad_med/ops/kl.py (vae_loss, kl_normal, reparameterize).

Architecture (the same for both, DCGAN-like, sized for the 8 x 8 digits by default):
    encoder  x (N, C, H, W) -> [conv 3x3 stride 2 -> ReLU] per width (each halves H and W)
             -> flatten -> linear -> code (N, L) (autoencoder) or mu, logvar (N, L) each (VAE)
    decoder  z (N, L) -> linear -> ReLU -> (N, w_last, H / 2**k, W / 2**k)
             -> [transposed conv 4x4 stride 2 padding 1 (doubles H and W) -> ReLU] per width
             -> sigmoid: x_hat (N, C, H, W) in [0, 1]
PyTorch has no such models; the names and the (recon, mu, logvar) output follow the PyTorch VAE example.
"""

import math

from .. import nn
from ..errors import ShapeError, fmt
from ..factory import linspace, randn
from ..function import no_grad
from ..ops.kl import reparameterize

__all__ = ["ConvEncoder", "ConvDecoder", "ConvAutoencoder", "VAE"]


def _bottom(op, input_size, widths):
    """(w_last, H / 2**k, W / 2**k): the smallest feature map; checks that H and W halve k times."""
    factor = 2 ** len(widths)
    if len(input_size) != 2 or not widths or min(widths) < 1 or any(s < factor or s % factor for s in input_size):
        raise ShapeError(
            fmt(
                op,
                f"input_size must be (H, W), each divisible by 2**len(widths) = {factor}, and widths >= 1",
                input_size=tuple(input_size),
                widths=tuple(widths),
            )
        )
    return (widths[-1],) + tuple(s // factor for s in input_size)


class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions with ReLU, then a linear map of the flattened features.

    Shapes: x (N, in_channels, H, W) -> (N, out_features)
    Raises: ShapeError if H or W is not divisible by 2**len(widths).
    """

    def __init__(self, in_channels, out_features, input_size=(8, 8), widths=(16, 32)):
        super().__init__()
        bottom = _bottom("ConvEncoder", input_size, widths)
        layers = []
        for c_in, c_out in zip((in_channels,) + tuple(widths[:-1]), widths, strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]  # (H, W) -> (H/2, W/2)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(math.prod(bottom), out_features))

    def forward(self, x):
        return self.body(x)


class ConvDecoder(nn.Module):
    """A linear map to the smallest feature map, then 4x4 transposed convolutions (stride 2) and a sigmoid.

    Shapes: z (N, latent_dim) -> x_hat (N, out_channels, H, W) in [0, 1]
    """

    def __init__(self, latent_dim, out_channels, input_size=(8, 8), widths=(16, 32)):
        super().__init__()
        bottom = _bottom("ConvDecoder", input_size, widths)
        layers = [nn.Linear(latent_dim, math.prod(bottom)), nn.ReLU(), nn.Unflatten(1, bottom)]
        reversed_widths = tuple(reversed(widths))
        for c_in, c_out in zip(reversed_widths, reversed_widths[1:] + (out_channels,), strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]  # (h, w) -> (2h, 2w)
        layers[-1] = nn.Sigmoid()  # the last layer gives intensities in [0, 1], not ReLU features
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(z)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder: the image is encoded to a code of latent_dim numbers and decoded back.

    Train with a reconstruction loss, e.g. F.mse_loss(model(x), x) or F.binary_cross_entropy.
    Shapes: x (N, in_channels, H, W) -> x_hat (N, in_channels, H, W); encode: -> z (N, latent_dim)
    Args:
        in_channels: image channels (also the output's).
        latent_dim: size L of the code (the bottleneck).
        input_size: (H, W), each divisible by 2**len(widths).
        widths: channels of the encoder's convolutions (the decoder mirrors them).
    Raises:
        ShapeError for an input_size that does not halve len(widths) times, or an input of another size.
    """

    _outputs_per_latent = 1  # the VAE's encoder gives two numbers (mu, logvar) per latent dimension

    def __init__(self, in_channels=1, latent_dim=8, input_size=(8, 8), widths=(16, 32)):
        super().__init__()
        self.in_channels, self.latent_dim, self.input_size = in_channels, latent_dim, tuple(input_size)
        self.encoder = ConvEncoder(in_channels, latent_dim * self._outputs_per_latent, input_size, widths)
        self.decoder = ConvDecoder(latent_dim, in_channels, input_size, widths)

    def encode(self, x):
        """The code z (N, latent_dim)."""
        return self.encoder(self._check(x))

    def decode(self, z):
        """The reconstruction x_hat (N, in_channels, H, W) of codes z (N, latent_dim)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ShapeError(fmt(type(self).__name__, f"codes must be (N, {self.latent_dim})", z=z))
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))

    def code(self, x):
        """The point of the encoding space that represents x (the code; the VAE's mean mu)."""
        return self.encode(x)

    def interpolate(self, x_a, x_b, steps=8):
        """Decode ``steps`` codes on the line from code(x_a) to code(x_b) (the lecture's question).

        Shapes: x_a, x_b (1, C, H, W) -> (steps, C, H, W), row t decodes (1 - t) z_a + t z_b, t = 0 .. 1
        """
        with no_grad():
            z_a, z_b = self.code(x_a), self.code(x_b)
            t = linspace(0.0, 1.0, steps, dtype=z_a.dtype, device=z_a.device).reshape(steps, 1)
            return self.decode(z_a * (1.0 - t) + z_b * t)  # (1, L) and (steps, 1) -> (steps, L)

    def _check(self, x):
        expected = (self.in_channels,) + self.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ShapeError(fmt(type(self).__name__, f"input must be (N, {', '.join(map(str, expected))})", x=x))
        return x


class VAE(ConvAutoencoder):
    """Variational autoencoder: the encoder outputs a Gaussian N(mu, exp(logvar)) per image, a sample
    of it is decoded, and sampling the prior N(0, I) generates new images.

    Train with ops.kl.vae_loss(recon, x, mu, logvar) (reconstruction BCE + beta * KL to N(0, I)); ``tgm
    train vae`` leaves each latent dimension's first nats of KL free (free bits, training/objectives/
    generative.py), which keeps the posterior from collapsing on the digits.
    Forward:  mu, logvar = encoder(x); z = mu + exp(logvar / 2) eps in training (reparameterize),
              z = mu in eval; recon = decoder(z)
    Shapes:   x (N, C, H, W) -> recon (N, C, H, W), mu (N, L), logvar (N, L)
    Args:     as ConvAutoencoder.
    Reference: Kingma and Welling, arXiv:1312.6114.
    """

    _outputs_per_latent = 2

    def encode(self, x):
        """mu and logvar, each (N, latent_dim): the encoder's Gaussian over codes."""
        mu, logvar = self.encoder(self._check(x)).chunk(2, dim=1)  # (N, 2L) -> (N, L), (N, L)
        return mu, logvar

    def reparameterize(self, mu, logvar):
        """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) from the seeded generator (ops.kl.reparameterize)."""
        return reparameterize(mu, logvar)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def code(self, x):
        return self.encode(x)[0]

    def sample(self, n, device=None):
        """``n`` new images decoded from codes z ~ N(0, I) (the prior); no graph is recorded.

        Shapes: -> (n, C, H, W) in [0, 1]
        """
        weight = next(iter(self.parameters()))
        with no_grad():
            z = randn(n, self.latent_dim, dtype=weight.dtype, device=device or weight.device)
            return self.decode(z)
