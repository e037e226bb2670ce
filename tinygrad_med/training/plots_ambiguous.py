"""samples.png of a model trained on several raters' masks (data/ambiguous.py): the raters beside the
hypotheses.

    row 1        the image, each rater's mask (red overlay), the share of raters marking each pixel
    rows 2, 3    sampled hypotheses (red overlay), the share of all hypotheses marking each pixel

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Probabilistic U-Net [Kohl et al., 2018]": the
hypotheses should differ where the raters differ (the faint lesions) and agree elsewhere.
"""

import numpy

from .plots import middle_slice, pyplot

__all__ = ["plot_raters_and_samples"]


def plot_raters_and_samples(image, masks, samples, path, shown=8):
    """One image (C, H, W), its raters' masks (R, H, W) and up to ``shown`` of its hypotheses (M, H, W).

    Masks and hypotheses are 0/1 (or class) labels, drawn where they are not 0; the last panel of each
    part is the share of masks (of all M hypotheses) that mark each pixel, in [0, 1].
    """
    plt = pyplot()
    picture = middle_slice(numpy.asarray(image))
    masks, samples = numpy.asarray(masks), numpy.asarray(samples)
    rater_row = [("image", None)] + [(f"rater {r + 1}", m) for r, m in enumerate(masks)]
    rater_row.append(("share of raters (0-1)", (masks > 0).mean(axis=0)))
    hypotheses = [(f"hypothesis {m + 1}", s) for m, s in enumerate(samples[:shown])]
    hypotheses.append((f"share of {len(samples)} hypotheses (0-1)", (samples > 0).mean(axis=0)))
    columns = max(len(rater_row), -(-len(hypotheses) // 2))
    rows = [rater_row, hypotheses[:columns], hypotheses[columns:]]
    rows = [row for row in rows if row]
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns, 1.8 * len(rows)), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for row, panels in enumerate(rows):
        for col, (title, labels) in enumerate(panels):
            _panel(axes[row][col], picture, labels, title, share=title.startswith("share"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _panel(axis, picture, labels, title, share):
    if share:  # a probability map in [0, 1], no image under it
        axis.imshow(labels, cmap="magma", vmin=0.0, vmax=1.0)
    else:
        axis.imshow(picture, cmap="gray")
        if labels is not None:
            axis.imshow(numpy.ma.masked_where(labels == 0, labels), cmap="autumn", alpha=0.5, vmin=1, vmax=1)
    axis.set_title(title, fontsize=8)
