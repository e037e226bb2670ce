"""Brain MRI in 3D: the MNI152 T1 template with grey- and white-matter labels, from nilearn.

Source: the skull-stripped ICBM152 2009a nonlinear asymmetric template (Fonov et al., NeuroImage
2011; McConnell Brain Imaging Centre, free to use with attribution) as shipped inside the
``nilearn`` wheel (BSD-3-Clause) and loaded offline by ``load_mni152_template`` and
``load_mni152_{gm,wm}_template`` / ``load_mni152_brain_mask`` at 2 mm (99 x 117 x 95 voxels).

Labels (per voxel): 0 background/CSF, 1 grey matter, 2 white matter. Inside nilearn's brain mask a
voxel takes the most probable of (1 - p_gm - p_wm, p_gm, p_wm) from the template's tissue
probability maps; outside it is 0. These are template probabilities, not manual labels.

Axes: the arrays are (D, H, W) = nilearn's (x, y, z); x runs from the left hemisphere
(x < 0 mm, voxel x < 49) to the right one (RAS). Split: training patches come from the left hemisphere
(voxels x < 49); the test set tiles the right hemisphere (x in 50..97) -- never seen in training.
"""

import numpy

from ..errors import fmt
from ._packages import require
from .dataset import Dataset
from .transforms import Compose, RandomCrop, RandomIntensityScale, RandomNoise

__all__ = ["load_mni152", "MNI152Patches"]

MIDLINE = 49  # voxel x of 0 mm: affine offset -98 mm, 2 mm voxels
_Y, _Z = slice(12, 108), slice(0, 80)  # covers the brain's bounding box (y 14..103, z 0..77)
_CACHE = {}


def load_mni152():
    """T1 image float32 (99, 117, 95) in [0, 1] and labels int64 (99, 117, 95), 2 mm.

    Raises:
        MissingPackageError naming ``nilearn`` and its pip command if nilearn is not installed.
    """
    if "volume" not in _CACHE:
        datasets = require("nilearn.datasets", "mni152", "nilearn")
        image = datasets.load_mni152_template(resolution=2).get_fdata().astype(numpy.float32)
        p_gm = datasets.load_mni152_gm_template(resolution=2).get_fdata()
        p_wm = datasets.load_mni152_wm_template(resolution=2).get_fdata()
        brain = datasets.load_mni152_brain_mask(resolution=2).get_fdata() > 0
        p_other = numpy.clip(1.0 - p_gm - p_wm, 0.0, 1.0)
        labels = numpy.argmax(numpy.stack([p_other, p_gm, p_wm]), axis=0) * brain
        _CACHE["volume"] = (numpy.clip(image, 0.0, None) / max(image.max(), 1e-6), labels.astype(numpy.int64))
    return _CACHE["volume"]


class MNI152Patches(Dataset):
    """3D patches of the MNI152 template: random ones from the left hemisphere, or tiles of the right.

    Args:
        split: 'train' (random patches with x < 49) or 'test' (4 tiles of 48 x 48 x 40 covering the
            right hemisphere's brain, x 50..97, y 12..107, z 0..79).
        patch: training patch side (D = H = W = patch).
        samples_per_epoch: random patches per training epoch.
        transform: replaces the default (random crop, intensity scaling, noise).
    Returns (per item): image float32 (1, D, H, W) and labels int64 (D, H, W).
    """

    def __init__(self, split="train", patch=32, samples_per_epoch=32, transform=None):
        if split not in ("train", "test"):
            raise ValueError(fmt("MNI152Patches", f"split must be 'train' or 'test', got {split!r}"))
        if not 8 <= int(patch) <= 48:
            raise ValueError(fmt("MNI152Patches", f"patch must be in [8, 48], got {patch}"))
        image, labels = load_mni152()
        self.split, self.patch, self.samples_per_epoch = split, int(patch), int(samples_per_epoch)
        if split == "train":
            self.image, self.labels = image[None, :MIDLINE, _Y, _Z], labels[:MIDLINE, _Y, _Z]
        else:
            right = slice(MIDLINE + 1, MIDLINE + 49)
            self.image, self.labels = image[None, right, _Y, _Z], labels[right, _Y, _Z]
        self.transform = transform or Compose(
            [RandomCrop((self.patch,) * 3), RandomIntensityScale(), RandomNoise(0.02)]
        )
        self.num_classes, self.in_channels, self.spatial_dims, self.task = 3, 1, 3, "segmentation"
        self.class_names = ["background", "grey matter", "white matter"]

    def __len__(self):
        return self.samples_per_epoch if self.split == "train" else 4

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"MNI152Patches: index {index} out of range for {len(self)} samples")
        if self.split == "test":  # (1, 48, 96, 80) -> tile (1, 48, 48, 40) number index
            h, w = (index // 2) * 48, (index % 2) * 40
            tile = (Ellipsis, slice(h, h + 48), slice(w, w + 40))
            return numpy.ascontiguousarray(self.image[tile]), numpy.ascontiguousarray(self.labels[tile])
        image, labels = self.transform(self.image, self.labels, self.rng(index))
        return numpy.ascontiguousarray(image, dtype=numpy.float32), numpy.ascontiguousarray(labels)
