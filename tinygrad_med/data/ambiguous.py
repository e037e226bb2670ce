"""Ambiguous lesion segmentation: phantom images whose faint lesions only some raters mark.

Lecture: "CONVOLUTION AUTOENCODER: GOING UNSUPERVISED - Probabilistic U-Net [Kohl et al., 2018]"
("use VAE to generate multiple segmentation hypotheses"). A Probabilistic U-Net can only learn
several hypotheses where the annotations disagree; here they disagree by rules, so the true
distribution of masks is known exactly.
Reference: Kohl et al., arXiv:1806.05034 (their LIDC data has four raters per lesion crop).

The rules, for image ``index`` of a split (a function of (base seed, split, index) alone):

    image     size x size pixels, background 0.2; ``lesions`` discs (radius 3-5 px, at least 2 px apart,
              inside the image) each of a grade drawn uniformly from GRADES; a disc's pixels get
              background + contrast(grade); then Gaussian noise of std ``noise`` on every pixel
    raters    R = ``raters`` masks; rater r marks lesion k (all its pixels, nothing else) when
              u[r, k] < p(grade_k), u uniform in [0, 1) and independent over raters and lesions
    so        P(pixel x is marked by a rater) = p(grade of the lesion that covers x), 0 off the lesions
              (``probability_map``); two raters disagree on lesion k with probability 2 p (1 - p)

    GRADES    faint  contrast 0.15  marked with p = 0.5   (the ambiguous ones)
              clear  contrast 0.70  marked with p = 1.0   (every rater marks them)
              (``grades`` takes others: with a third grade of contrast 0.35 marked with p = 0.8, a
              Probabilistic U-Net trained 20 epochs on 256 images marked those lesions in 0.998 of its
              hypotheses, and its sample diversity stayed at half the raters'; see README)

Labels: 0 background, 1 lesion. Each sample is (image float32 (1, H, W), masks int64 (R, H, W)), all R
raters' masks. Training picks one rater's mask per sample and step (training/objectives/ambiguous.py);
evaluation compares a model's hypotheses with the set of R masks (the generalised energy distance).
The intensities are not rescaled (a faint lesion stays faint beside no clear one); ``tgm predict`` scales
an input file by its own percentiles, which changes these contrasts, so predict on these images from Python.
"""

import numpy

from ..errors import fmt
from .dataset import Dataset

__all__ = ["GRADES", "make_ambiguous_lesions", "AmbiguousLesions"]

# (name, contrast above the background, probability that a rater marks the lesion)
GRADES = (("faint", 0.15, 0.5), ("clear", 0.7, 1.0))
_BACKGROUND = 0.2


def make_ambiguous_lesions(seed, size=32, lesions=3, raters=4, noise=0.06, grades=GRADES):
    """One image, its raters' masks and the grade of each lesion.

    Args:
        grades: (name, contrast, probability) per grade, GRADES by default.
    Returns:
        image float32 (size, size); masks int64 (raters, size, size) with 0/1 labels; grades int64
        (K,) indices into ``grades``, K <= ``lesions`` (a disc that finds no free place is left out);
        discs bool (K, size, size), each lesion's pixels.
    Raises:
        ValueError for size < 16, lesions < 1 or raters < 1.
    """
    if int(size) < 16 or int(lesions) < 1 or int(raters) < 1:
        raise ValueError(
            fmt("make_ambiguous_lesions", "need size >= 16, lesions >= 1, raters >= 1", size=size, lesions=lesions)
        )
    rng = numpy.random.default_rng(seed)
    rows, cols = numpy.mgrid[0:size, 0:size]
    placed, discs = [], []
    for _ in range(int(lesions)):
        for _attempt in range(20):  # rejection sampling: discs keep 2 px apart
            radius = rng.uniform(3.0, 5.0)
            center = rng.uniform(radius + 1, size - radius - 1, 2)
            if all(numpy.hypot(*(center - c)) >= radius + r + 2 for c, r in placed):
                placed.append((center, radius))
                discs.append((rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2)
                break
    discs = numpy.array(discs, dtype=bool).reshape(-1, size, size)  # (K, H, W)
    kinds = rng.integers(0, len(grades), len(discs))
    contrast = numpy.array([grades[g][1] for g in kinds])
    probability = numpy.array([grades[g][2] for g in kinds])
    image = _BACKGROUND + (contrast[:, None, None] * discs).sum(axis=0) + rng.normal(0.0, noise, (size, size))
    marked = rng.random((int(raters), len(discs))) < probability  # (R, K): rater r marks lesion k
    masks = (marked.astype(numpy.int64) @ discs.reshape(len(discs), -1).astype(numpy.int64)).reshape(-1, size, size)
    return image.astype(numpy.float32), masks, kinds.astype(numpy.int64), discs


class AmbiguousLesions(Dataset):
    """``length`` images; image ``i`` is ``make_ambiguous_lesions(base_seed + i)`` (no epoch dependence).

    Args:
        length: number of images; split: 'train' uses seeds base_seed + i, 'test' seeds 10**6 + i.
        size, lesions, raters, noise, grades: as ``make_ambiguous_lesions``.
    Returns (per item): image float32 (1, size, size) and the raters' masks int64 (raters, size, size).
    Raises:
        ValueError for an unknown split.
    """

    def __init__(self, length=256, split="train", size=32, lesions=3, raters=4, noise=0.06, grades=GRADES, base_seed=0):
        if split not in ("train", "test"):
            raise ValueError(fmt("AmbiguousLesions", f"split must be 'train' or 'test', got {split!r}"))
        self.length, self.split = int(length), split
        self.options = {"size": int(size), "lesions": int(lesions), "raters": int(raters), "noise": float(noise)}
        self.options["grades"] = tuple(grades)
        self.base_seed = int(base_seed) + (0 if split == "train" else 10**6)
        self.num_classes, self.in_channels, self.spatial_dims, self.raters = 2, 1, 2, int(raters)
        self.task, self.class_names = "ambiguous segmentation", ["background", "lesion"]

    def __len__(self):
        return self.length

    def sample(self, index):
        """``make_ambiguous_lesions``'s four outputs for image ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"AmbiguousLesions: index {index} out of range for {self.length} samples")
        return make_ambiguous_lesions(self.base_seed + index, **self.options)

    def __getitem__(self, index):
        image, masks, _, _ = self.sample(index)
        return image[None], masks

    def probability_map(self, index):
        """The true per-pixel probability that a rater marks a pixel as lesion, float64 (size, size)."""
        _, _, kinds, discs = self.sample(index)
        probability = numpy.array([self.options["grades"][g][2] for g in kinds]).reshape(-1, 1, 1)
        return (probability * discs).sum(axis=0)
