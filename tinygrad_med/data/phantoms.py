"""Seeded synthetic MRI-like phantoms in 2D and 3D with exact masks, for runs of any size.

Each phantom is a head: a bright skull ring around brain tissue (an outer grey-matter-like
shell over a brighter white-matter-like core), with a few bright lesions inside the core; then a
smooth multiplicative bias field (as from a receive coil) and Rician noise (the magnitude of a
complex Gaussian, as in magnitude MR images). Labels are exact, drawn from the same geometry:
0 background/skull, 1 brain tissue, 2 lesion. Generated here; no licence questions.
"""

import numpy

from ..errors import fmt
from .dataset import Dataset

__all__ = ["make_phantom", "PhantomDataset"]


def _ellipsoid(grid, center, radii, angle=0.0):
    """Boolean mask of an ellipsoid (axes rotated by ``angle`` in the last two axes' plane)."""
    offsets = [g - c for g, c in zip(grid, center, strict=False)]
    cos, sin = numpy.cos(angle), numpy.sin(angle)
    u = cos * offsets[-2] + sin * offsets[-1]
    v = -sin * offsets[-2] + cos * offsets[-1]
    rotated = offsets[:-2] + [u, v]
    return sum((o / r) ** 2 for o, r in zip(rotated, radii, strict=False)) <= 1.0


def make_phantom(size=64, ndim=2, seed=0, lesions=3, noise=0.05, bias=0.3):
    """One phantom: image float32 (size,)*ndim and labels int64 of the same shape.

    Args:
        size: side in pixels/voxels; ndim: 2 or 3; seed: the phantom is a function of it alone.
        lesions: number of lesions; noise: Rician noise std (image intensities are ~0..1);
        bias: bias-field strength (field = exp(bias * smooth polynomial)).
    Raises:
        ValueError for ndim not in (2, 3) or size < 16.
    """
    if ndim not in (2, 3) or int(size) < 16:
        raise ValueError(fmt("make_phantom", f"ndim must be 2 or 3 and size >= 16, got ndim={ndim}, size={size}"))
    rng = numpy.random.default_rng(seed)
    grid = numpy.meshgrid(*[numpy.linspace(-1, 1, size)] * ndim, indexing="ij")
    angle = rng.uniform(-0.3, 0.3)
    radii = rng.uniform(0.7, 0.9, ndim)
    head = _ellipsoid(grid, [0.0] * ndim, radii, angle)
    brain = _ellipsoid(grid, [0.0] * ndim, radii - 0.1, angle)
    core = _ellipsoid(grid, [0.0] * ndim, radii - 0.25, angle)
    lesion = numpy.zeros(head.shape, dtype=bool)
    for _ in range(lesions):
        center = rng.uniform(-0.35, 0.35, ndim) * (radii - 0.25)
        lesion |= _ellipsoid(grid, center, rng.uniform(0.05, 0.12, ndim), rng.uniform(0, numpy.pi)) & core
    image = 0.9 * (head & ~brain) + 0.45 * (brain & ~core) + 0.65 * core + 0.35 * lesion
    coeffs = rng.normal(0.0, 1.0, (ndim, 2))
    field = numpy.exp(bias * sum(a * g + b * g * g for (a, b), g in zip(coeffs, grid, strict=False)) / ndim)
    real = image * field + rng.normal(0.0, noise, image.shape)
    imag = rng.normal(0.0, noise, image.shape)
    labels = numpy.where(lesion, 2, numpy.where(brain, 1, 0))
    return numpy.hypot(real, imag).astype(numpy.float32), labels.astype(numpy.int64)


class PhantomDataset(Dataset):
    """``length`` phantoms; phantom ``i`` is ``make_phantom(seed=base_seed + i)`` (no epoch dependence).

    Args:
        split: 'train' uses seeds base_seed + i; 'test' uses seeds 10**6 + i (disjoint phantoms).
    Returns (per item): image float32 (1, *spatial) and labels int64 (*spatial).
    """

    def __init__(self, length=64, size=64, ndim=2, split="train", base_seed=0, **options):
        if split not in ("train", "test"):
            raise ValueError(fmt("PhantomDataset", f"split must be 'train' or 'test', got {split!r}"))
        self.length, self.size, self.ndim, self.options = int(length), int(size), int(ndim), options
        self.base_seed = int(base_seed) + (0 if split == "train" else 10**6)
        self.split, self.num_classes, self.in_channels = split, 3, 1
        self.spatial_dims, self.task = self.ndim, "segmentation"
        self.class_names = ["background", "tissue", "lesion"]

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if not 0 <= index < self.length:
            raise IndexError(f"PhantomDataset: index {index} out of range for {self.length} samples")
        image, labels = make_phantom(self.size, self.ndim, self.base_seed + index, **self.options)
        return image[None], labels
