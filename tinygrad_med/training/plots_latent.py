"""The picture of a VAE's 2-D latent space (``tgm train vae2d``): where the test images land, and what
each point decodes to.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Variational autoencoder (VAE)" (encodings
spread as a zero-mean, unit-variance Gaussian, so that a point sampled from it decodes to an image).

latent.png   left: the test set's mean codes mu (one dot per image, coloured by its class);
             right: the decoded images of a regular grid of codes over the same square
"""

import numpy

from .plots import pyplot
from .plots_graph import label_colors

__all__ = ["plot_latent_space"]


def plot_latent_space(codes, labels, decoded, extent, path):
    """Scatter of the codes (N, 2) coloured by labels (N,) beside the mosaic of decoded (G*G, C, H, W)
    grid images (row-major, the top row at z2 = +extent), both over [-extent, extent]^2."""
    plt = pyplot()
    codes, labels, decoded = numpy.asarray(codes), numpy.asarray(labels), numpy.asarray(decoded)
    side = int(round(len(decoded) ** 0.5))
    height, width = decoded.shape[-2:]
    tiles = decoded.reshape(side, side, -1, height, width).mean(axis=2)  # (G, G, H, W), channels averaged
    tiles = numpy.pad(tiles, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=0.4)  # a grey line between tiles
    mosaic = tiles.transpose(0, 2, 1, 3).reshape(side * (height + 1), side * (width + 1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.2))
    classes = int(labels.max()) + 1 if labels.size else 1
    colors = label_colors(classes)[labels]
    left.scatter(codes[:, 0], codes[:, 1], c=colors, s=9)
    for k in range(classes):
        inside = labels == k
        if inside.any():  # the class's name at the centre of its codes
            centre = numpy.median(codes[inside], axis=0)
            left.text(*centre, str(k), fontsize=13, weight="bold", ha="center", va="center")
    left.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="z1 (mean code)", ylabel="z2", aspect="equal")
    left.set_title("test images' mean codes mu, by class", fontsize=10)
    right.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, extent=(-extent, extent, -extent, extent))
    right.set(xlabel="z1", ylabel="z2")
    right.set_title(f"decoded codes on a {side} x {side} grid", fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
