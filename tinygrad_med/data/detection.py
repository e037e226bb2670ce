"""Detection targets from instance masks, and a small seeded synthetic detection dataset.

Lecture: "Object detection" (2D bounding boxes) and "Instance segmentation" (a mask per instance).

A detection target is a dict as torchvision's detection models take it: "boxes" (K, 4) float32
(x1, y1, x2, y2) in pixel edges (the box of pixels [r0, r1) x [c0, c1) is (c0, r0, c1, r1), so its
width is x2 - x1 pixels), "labels" (K,) int64 (class 1..C-1; 0 is background) and "masks" (K, H, W)
uint8.  ``instances_to_targets`` turns an instance-labelled image (the nuclei data's form) into one.

ShapesDetectionDataset: bright discs (class 1) and squares (class 2) of random size and brightness on
a noisy, slightly uneven background, never overlapping; item i is a function of its seed alone.
"""

import numpy

from ..errors import ShapeError, fmt
from .dataset import Dataset
from .nuclei import NucleiDataset, instance_boxes

__all__ = ["instances_to_targets", "make_shapes_image", "ShapesDetectionDataset", "NucleiDetectionDataset",
           "collate_detection"]  # fmt: skip

SHAPE_CLASSES = ["background", "disc", "square"]
# The detectors' backbone widths on the shapes: three levels, stride 4, so that a 10-24 pixel object covers
# 2.5-6 feature cells (at stride 8, 1.25-3 cells: the RoI head read the box's alignment, not the outline)
SHAPES_WIDTHS = (16, 32, 32)


def instances_to_targets(instances, classes=None):
    """Boxes, labels and masks of every instance in an instance-labelled image.

    Lecture: "Instance segmentation" (each instance: a box, a class and a mask).
    Forward:  for each id k > 0 (increasing): mask_k = (instances == k); box_k = (min col, min row,
              max col + 1, max row + 1) of mask_k; label_k = 1, or the most frequent value of
              ``classes`` under mask_k
    Shapes:   instances (H, W) ints -> boxes (K, 4) float32, labels (K,) int64, masks (K, H, W) uint8
    Args:
        instances: 0 for background, one positive id per instance (ids need not be consecutive).
        classes: None (every instance is class 1) or an (H, W) int image of class labels.
    Returns:
        dict with "boxes", "labels", "masks" (NumPy arrays) and "ids" (K,) the instance ids.
    Raises:
        ShapeError if instances is not 2-D or classes has another shape.
    """
    instances = numpy.asarray(instances)
    if instances.ndim != 2 or instances.dtype.kind not in "iub":
        raise ShapeError(fmt("instances_to_targets", "expected an (H, W) integer instance image", instances=instances))
    instances = instances.astype(numpy.int64)
    boxes, ids = instance_boxes(instances)
    masks = (instances[None] == ids[:, None, None]).astype(numpy.uint8)  # (K, H, W)
    if classes is None:
        labels = numpy.ones(len(ids), numpy.int64)
    else:
        classes = numpy.asarray(classes, numpy.int64)
        if classes.shape != instances.shape:
            raise ShapeError(fmt("instances_to_targets", "classes must have the shape of instances",
                                 instances=instances, classes=classes))  # fmt: skip
        labels = numpy.asarray([numpy.bincount(classes[m.astype(bool)]).argmax() for m in masks], numpy.int64)
    return {"boxes": boxes.astype(numpy.float32), "labels": labels, "masks": masks, "ids": ids}


def make_shapes_image(size=64, objects=(1, 3), seed=0, min_size=10, max_size=24, noise=0.1):
    """One synthetic image of non-overlapping discs (class 1) and squares (class 2) on noise.

    Args:
        size: image side (H = W = size); objects: (min, max) number of objects, inclusive, or an int.
        seed: the image is a function of it alone; min_size, max_size: object side / diameter in pixels.
        noise: standard deviation of the Gaussian background noise (objects are 0.6..1.0 over ~0.2).
    Returns:
        image float32 (1, size, size), instances int64 (size, size) with ids 1..K, classes int64 (size, size).
    Raises:
        ValueError if the objects cannot fit (max_size >= size).
    """
    if not 2 <= min_size <= max_size < size:
        raise ValueError(fmt("make_shapes_image", f"need 2 <= min_size <= max_size < size, got {min_size}, "
                             f"{max_size}, {size}"))  # fmt: skip
    rng = numpy.random.default_rng(seed)
    low, high = (objects, objects) if numpy.ndim(objects) == 0 else objects
    rows, cols = numpy.mgrid[0:size, 0:size] + 0.5  # pixel centres
    instances, classes = numpy.zeros((size, size), numpy.int64), numpy.zeros((size, size), numpy.int64)
    image = 0.2 + 0.1 * (cols / size - 0.5) + noise * rng.standard_normal((size, size))
    placed, count = 0, int(rng.integers(low, high + 1))
    for _ in range(50 * count):  # rejection sampling of free positions
        if placed == count:
            break
        side = rng.uniform(min_size, max_size)
        y, x = rng.uniform(side / 2, size - side / 2, 2)
        kind = int(rng.integers(1, 3))
        if kind == 1:
            mask = (rows - y) ** 2 + (cols - x) ** 2 <= (side / 2) ** 2
        else:
            mask = (numpy.abs(rows - y) <= side / 2) & (numpy.abs(cols - x) <= side / 2)
        if not mask.any() or _near(instances > 0, mask):
            continue
        placed += 1
        instances[mask], classes[mask] = placed, kind
        image[mask] += rng.uniform(0.4, 0.8)
    return image[None].astype(numpy.float32), instances, classes


def _near(occupied, mask, margin=2):
    """True if ``mask`` comes within ``margin`` pixels of an occupied pixel (objects stay apart)."""
    r, c = numpy.nonzero(mask)
    r0, r1 = max(r.min() - margin, 0), r.max() + margin + 1
    c0, c1 = max(c.min() - margin, 0), c.max() + margin + 1
    return bool(occupied[r0:r1, c0:c1].any())


class ShapesDetectionDataset(Dataset):
    """``length`` synthetic detection images; item i is ``make_shapes_image(seed=base_seed + i)``.

    Args:
        length: number of images; size: image side; objects: (min, max) objects per image or an int.
        split: 'train' (seeds base_seed + i) or 'test' (seeds 10**6 + base_seed + i, disjoint images).
        **options: passed to make_shapes_image (min_size, max_size, noise).
    Returns (per item): image float32 (1, H, W) and a target dict (instances_to_targets with the classes).
    """

    def __init__(self, length=64, size=64, objects=(1, 3), split="train", base_seed=0, **options):
        if split not in ("train", "test"):
            raise ValueError(fmt("ShapesDetectionDataset", f"split must be 'train' or 'test', got {split!r}"))
        self.length, self.size, self.objects, self.options = int(length), int(size), objects, options
        self.base_seed = int(base_seed) + (0 if split == "train" else 10**6)
        self.num_classes, self.in_channels, self.task = 3, 1, "detection"
        self.class_names = list(SHAPE_CLASSES)
        self.detector_options = {"widths": SHAPES_WIDTHS}

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if not 0 <= index < self.length:
            raise IndexError(f"ShapesDetectionDataset: index {index} out of range for {self.length} samples")
        image, instances, classes = make_shapes_image(self.size, self.objects, self.base_seed + index, **self.options)
        return image, instances_to_targets(instances, classes)


class NucleiDetectionDataset(NucleiDataset):
    """The nuclei image as a detection dataset: NucleiDataset's split and tiles, each target the boxes,
    labels (1 = nucleus) and masks of its instances (instances_to_targets).

    Training: random augmented tiles of the training columns (W < 384); test: the held-out strip
    (W >= 384) as one sample -- the split of the segmentation job (data/nuclei.py).
    Args:
        split, tile, samples_per_epoch, transform: as NucleiDataset.
    Returns (per item): image float32 (1, H, W) and a target dict ("boxes", "labels", "masks", "ids").
    """

    def __init__(self, split="train", tile=128, samples_per_epoch=32, transform=None):
        super().__init__(split, tile, samples_per_epoch, target="instance", transform=transform)
        self.task = "detection"

    def __getitem__(self, index):
        image, instances = super().__getitem__(index)
        return image, instances_to_targets(instances)


def collate_detection(samples):
    """A list of (image (C, H, W), target dict) -> images (N, C, H, W) array and the list of targets.

    Detection targets differ in length per image, so they stay a list (as torchvision's collate_fn).
    Raises:
        ShapeError if the images differ in shape.
    """
    shapes = {numpy.shape(image) for image, _ in samples}
    if len(shapes) != 1:
        raise ShapeError(fmt("collate_detection", f"images differ in shape: {sorted(shapes)}"))
    return numpy.stack([image for image, _ in samples]), [target for _, target in samples]
