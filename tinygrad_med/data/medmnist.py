"""A loader for MedMNIST's .npz files, for users who already have them (nothing is fetched).

Format (MedMNIST v2, Yang et al., Scientific Data 2023, arXiv:2110.14795; CC BY 4.0 for most
subsets): one ``<name>.npz`` per subset holding ``train_images``, ``val_images``, ``test_images``
(uint8, (N, 28, 28) grey, (N, 28, 28, 3) colour, or (N, 28, 28, 28) for the 3D sets) and
``train_labels``, ``val_labels``, ``test_labels`` (int, (N, 1) single-label or (N, K)
multi-label). The labels are each subset's classes (e.g. PathMNIST's 9 tissue types).

The file is checked once, when a split is loaded, and every problem is a DataError naming the file,
the array and what is wrong: a damaged archive (tinygrad_med/npz_reader.py), images that are not
uint8 0..255 or float in [0, 1], an ambiguous layout such as (N, H, W, 2), labels that are not whole
class numbers 0..K-1, multi-label rows that are not 0/1, and held-out labels past the training classes.
"""

import os

import numpy

from ..errors import DataError, fmt
from ..npz_reader import open_npz
from .dataset import Dataset

__all__ = ["MedMNIST", "MAX_CLASSES", "check_images", "check_labels"]

MAX_CLASSES = 1000  # MedMNIST has at most 14 (ChestMNIST's labels); ImageNet has 1000


class MedMNIST(Dataset):
    """One split of a MedMNIST .npz file.

    Args:
        path: the .npz file (e.g. ``~/.medmnist/pathmnist.npz``).
        split: 'train', 'val' or 'test'.
        transform: optional t(image, None, rng) -> (image, None) augmentation.
    Returns (per item): image float32 (C, 28, 28) or (1, 28, 28, 28) in [0, 1]; label int64 ()
        (single-label) or float32 (K,) (multi-label).
    Raises:
        FileNotFoundError naming the path (nothing is downloaded); DataError naming the file and the
        problem for anything the loader cannot use (see the module docstring).
    """

    def __init__(self, path, split="train", transform=None):
        if split not in ("train", "val", "test"):
            raise ValueError(fmt("MedMNIST", f"split must be 'train', 'val' or 'test', got {split!r}"))
        path = os.path.expanduser(str(path))
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"MedMNIST: no file {path}; tinygrad_med does not download MedMNIST -- "
                "get the .npz from https://medmnist.com and pass its path"
            )
        with open_npz(path, DataError, "MedMNIST") as archive:
            missing = [k for k in (f"{split}_images", f"{split}_labels") if k not in archive.files]
            if missing:
                raise DataError(fmt("MedMNIST", f"{path} lacks {missing}; it holds {sorted(archive.files)}"))
            images, labels = archive.read(f"{split}_images"), archive.read(f"{split}_labels")
            training = archive.read("train_labels") if split != "train" and "train_labels" in archive.files else None
        self.images, self.scale = check_images(images, f"{path}: {split}_images")
        self.labels, self.multilabel = check_labels(labels, len(images), f"{path}: {split}_labels")
        self.num_classes = self._classes(training, path, split)
        self.split, self.transform = split, transform
        self.task = "multi-label classification" if self.multilabel else "classification"
        self.in_channels = self.images.shape[1]

    def _classes(self, training, path, split):
        """K: the label width (multi-label) or 1 + the largest training label; held-out labels must fit."""
        if training is not None:
            training, multilabel = check_labels(training, len(training), f"{path}: train_labels")
            if multilabel != self.multilabel or (multilabel and training.shape[1] != self.labels.shape[1]):
                shapes = f"{split}_labels {self.labels.shape} against train_labels {training.shape}"
                raise DataError(fmt("MedMNIST", f"{path}: the splits' labels differ in layout: {shapes}"))
        if self.multilabel:
            return self.labels.shape[1]
        classes = int((self.labels if training is None else training).max()) + 1
        beyond = numpy.flatnonzero(self.labels >= classes)
        if len(beyond):
            raise DataError(
                fmt(
                    "MedMNIST",
                    f"{path}: {split}_labels has label {self.labels[beyond[0]]} at index {beyond[0]}, beyond the "
                    f"{classes} classes (0..{classes - 1}) of the training labels",
                )
            )
        return classes

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index].astype(numpy.float32) * self.scale
        if self.transform is not None:
            image, _ = self.transform(image, None, self.rng(index))
        return image, self.labels[index]


def _refuse(where, problem, hint=None):
    return DataError(fmt("MedMNIST", f"{where} {problem}", hint=hint))


def check_images(images, where):
    """Check an image array and bring it to (N, C, *S), with the factor that maps it to [0, 1].

    Accepted: uint8/integer values 0..255 (factor 1/255) or finite floats in [0, 1] (factor 1), laid out
    (N, H, W), (N, H, W, C) with C = 1 or 3, or (N, D, H, W) with D, H, W > 4 (the 3D sets).
    Raises:
        DataError naming ``where`` and the problem.
    """
    if images.dtype.kind not in "uif":
        raise _refuse(where, f"has dtype {images.dtype}; images are uint8 0..255 or float in [0, 1]")
    if images.ndim in (3, 4) and len(images) == 0:
        raise _refuse(where, f"holds no images (shape {images.shape})")
    if images.ndim not in (3, 4) or images.size == 0:
        raise _refuse(where, f"has shape {images.shape}; expected (N, H, W), (N, H, W, C) or (N, D, H, W), none empty")
    if images.ndim == 4 and images.shape[-1] in (1, 3):  # (N, H, W, C) colour -> (N, C, H, W)
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim == 4 and images.shape[-1] <= 4:
        raise _refuse(
            where,
            f"has shape {images.shape}: {images.shape[-1]} channels last is neither grey/colour (1 or 3) nor the "
            "last axis of a volume (N, D, H, W)",
            hint="store (N, H, W, 3) colour, (N, H, W) grey or (N, D, H, W) volumes",
        )
    else:  # (N, H, W) grey or (N, D, H, W) volume -> add C = 1
        images = images[:, None]
    if images.dtype.kind == "f":
        finite = numpy.isfinite(images)
        if not finite.all():
            raise _refuse(where, f"holds {int((~finite).sum())} NaN or infinite values")
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            raise _refuse(where, f"is float with values in [{low:g}, {high:g}]; float images must lie in [0, 1]",
                          hint="store uint8 0..255 (MedMNIST's layout) or divide by 255")  # fmt: skip
        return images.astype(numpy.float32, copy=False), numpy.float32(1.0)
    low, high = int(images.min()), int(images.max())
    if low < 0 or high > 255:
        raise _refuse(where, f"is {images.dtype} with values {low}..{high}; integer images must lie in 0..255")
    return images, numpy.float32(1.0 / 255.0)


def check_labels(labels, count, where):
    """Check a label array against ``count`` images; return (labels, multilabel).

    Single-label (N,) or (N, 1): whole class numbers 0..MAX_CLASSES-1, returned int64 (N,). Multi-label
    (N, K), K > 1: 0/1 per class, returned float32 (N, K).
    Raises:
        DataError naming ``where`` and the first offending value with its index.
    """
    if labels.dtype.kind not in "buif":
        raise _refuse(where, f"has dtype {labels.dtype}; labels are class numbers 0..K-1 (integers)")
    if labels.ndim not in (1, 2) or (labels.ndim == 2 and labels.shape[1] == 0):
        raise _refuse(where, f"has shape {labels.shape}; expected (N,), (N, 1) or multi-label (N, K)")
    if len(labels) != count:
        raise _refuse(where, f"holds {len(labels)} labels for {count} images")
    if count == 0:
        raise _refuse(where, "holds no labels")
    values = labels.astype(numpy.float64) if labels.dtype.kind == "f" else labels
    wrong = ~numpy.isfinite(values) | (values != numpy.round(values)) if labels.dtype.kind == "f" else None
    if wrong is not None and wrong.any():
        index = tuple(int(i) for i in numpy.argwhere(wrong)[0])
        raise _refuse(where, f"has the label {labels[index]} at index {index}; labels are whole "
                      "class numbers", hint="round them, or store them as integers")  # fmt: skip
    if labels.ndim == 2 and labels.shape[1] > 1:
        outside = (values != 0) & (values != 1)
        if outside.any():
            index = tuple(int(i) for i in numpy.argwhere(outside)[0])
            raise _refuse(where, f"is multi-label {labels.shape} with the value {labels[index]} at {index}; "
                          "multi-label rows hold 0 or 1 per class")  # fmt: skip
        return labels.astype(numpy.float32), True
    flat = labels.reshape(-1)
    low, high = int(numpy.argmin(flat)), int(numpy.argmax(flat))
    if flat[low] < 0:
        raise _refuse(where, f"has the label {flat[low]} at index {low}; classes are numbered from 0")
    if flat[high] >= MAX_CLASSES:
        raise _refuse(where, f"has the label {flat[high]} at index {high}; at most {MAX_CLASSES} classes (0..999)")
    return flat.astype(numpy.int64), False
