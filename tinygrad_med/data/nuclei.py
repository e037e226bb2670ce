"""Nuclei segmentation: one real fluorescence image with 125 expert-annotated nuclei.

Source: the 2018 Data Science Bowl, image set BBBC038v1 of the Broad Bioimage Benchmark Collection
(Caicedo et al., Nature Methods 16, 2019), as redistributed in the ``stardist`` wheel
(stardist/data/images/img2d.tif and mask2d.tif; stardist is BSD-3-Clause, BBBC038 is CC0).
We read the two TIFF files with tifffile from the installed package's folder; stardist (and
TensorFlow) are never imported.

- image: 512 x 512 uint16 nuclear stain (DAPI-like), scaled here to [0, 1] by the 1st and 99.8th
  percentiles of the training region;
- labels: an instance mask (0 background, 1..125 one id per nucleus); the semantic mask is
  ``instances > 0`` (class 1 nucleus, class 0 background); boxes come from the instances.

Split: the training region is columns 0..383 (W < 384); the held-out test region is columns
384..511, a 512 x 128 strip never seen in training (nuclei cut by the border are cut in both).
"""

import numpy

from ..errors import fmt
from ._packages import package_file, require
from .dataset import Dataset
from .transforms import Compose, RandomCrop, RandomFlip, RandomIntensityScale, RandomRot90

__all__ = ["load_nuclei", "NucleiDataset", "instance_boxes", "TEST_COLUMNS"]

TEST_COLUMNS = 384  # W >= 384 is the held-out region
_CACHE = {}


def load_nuclei():
    """The raw image (512, 512) uint16 and instance mask (512, 512) int64 from the stardist wheel.

    Raises:
        MissingPackageError naming ``stardist``/``tifffile`` and the pip command if one is missing.
    """
    if "raw" not in _CACHE:
        tifffile = require("tifffile", "nuclei")
        image = tifffile.imread(
            package_file("stardist", "data", "images", "img2d.tif", dataset="nuclei", pip_name="stardist --no-deps")
        )
        mask = tifffile.imread(
            package_file("stardist", "data", "images", "mask2d.tif", dataset="nuclei", pip_name="stardist --no-deps")
        )
        _CACHE["raw"] = (image, mask.astype(numpy.int64))
    return _CACHE["raw"]


def _normalised():
    image, instances = load_nuclei()
    train = image[:, :TEST_COLUMNS].astype(numpy.float64)
    low, high = numpy.percentile(train, [1.0, 99.8])  # statistics of the training region only
    scaled = numpy.clip((image - low) / (high - low), 0.0, 1.5).astype(numpy.float32)
    return scaled, instances


def instance_boxes(instances):
    """Bounding boxes (K, 4) as (x0, y0, x1, y1), x1/y1 exclusive, and ids (K,) of an instance mask."""
    from scipy import ndimage

    ids = numpy.unique(instances)
    ids = ids[ids > 0]
    slices = ndimage.find_objects(instances)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in (slices[i - 1] for i in ids)]
    return numpy.asarray(boxes, dtype=numpy.int64).reshape(-1, 4), ids


def train_transform(tile=128):
    """The default augmentation: random tile, flips, 90-degree rotations, brightness/contrast."""
    return Compose(
        [RandomCrop((tile, tile)), RandomFlip(0.5), RandomRot90(), RandomIntensityScale((0.8, 1.2), (-0.1, 0.1))]
    )


class NucleiDataset(Dataset):
    """Tiles of the nuclei image for training, or the held-out strip for testing.

    Args:
        split: 'train' (random augmented tiles from W < 384) or 'test' (the 512 x 128 strip W >= 384,
            as one sample, no augmentation).
        tile: training tile side (H = W = tile).
        samples_per_epoch: how many random tiles make one training epoch.
        target: 'semantic' (int64 (H, W), 1 = nucleus) or 'instance' (int64 (H, W), one id per nucleus).
        transform: replaces the default training augmentation (called as t(image, mask, rng)).
    Returns (per item): image float32 (1, H, W) and target int64 (H, W).
    Raises:
        ValueError for an unknown split or target, or a tile larger than the region.
    """

    def __init__(self, split="train", tile=128, samples_per_epoch=32, target="semantic", transform=None):
        if split not in ("train", "test"):
            raise ValueError(fmt("NucleiDataset", f"split must be 'train' or 'test', got {split!r}"))
        if target not in ("semantic", "instance"):
            raise ValueError(fmt("NucleiDataset", f"target must be 'semantic' or 'instance', got {target!r}"))
        if not 8 <= int(tile) <= TEST_COLUMNS:
            raise ValueError(fmt("NucleiDataset", f"tile must be in [8, {TEST_COLUMNS}], got {tile}"))
        image, instances = _normalised()
        columns = slice(0, TEST_COLUMNS) if split == "train" else slice(TEST_COLUMNS, None)
        self.split, self.target, self.tile = split, target, int(tile)
        self.image = image[None, :, columns]  # (1, H, W)
        self.instances = numpy.ascontiguousarray(instances[:, columns])
        self.labels = self.instances if target == "instance" else (self.instances > 0).astype(numpy.int64)
        self.samples_per_epoch = int(samples_per_epoch)
        self.transform = transform if transform is not None else train_transform(self.tile)
        self.num_classes, self.in_channels, self.spatial_dims, self.task = 2, 1, 2, "segmentation"
        self.class_names = ["background", "nucleus"]

    def __len__(self):
        return self.samples_per_epoch if self.split == "train" else 1

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"NucleiDataset: index {index} out of range for {len(self)} samples")
        if self.split == "test":
            return self.image.copy(), self.labels.copy()
        image, labels = self.transform(self.image, self.labels, self.rng(index))
        return numpy.ascontiguousarray(image, dtype=numpy.float32), numpy.ascontiguousarray(labels)

    def boxes(self):
        """Boxes (K, 4) (x0, y0, x1, y1) and ids of the nuclei in this split's whole region."""
        return instance_boxes(self.instances)
