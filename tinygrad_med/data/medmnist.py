"""A loader for MedMNIST's .npz files, for users who already have them (nothing is fetched).

Format (MedMNIST v2, Yang et al., Scientific Data 2023, arXiv:2110.14795; CC BY 4.0 for most
subsets): one ``<name>.npz`` per subset holding ``train_images``, ``val_images``, ``test_images``
(uint8, (N, 28, 28) grey, (N, 28, 28, 3) colour, or (N, 28, 28, 28) for the 3D sets) and
``train_labels``, ``val_labels``, ``test_labels`` (int, (N, 1) single-label or (N, K)
multi-label). The labels are each subset's classes (e.g. PathMNIST's 9 tissue types).
"""

import os

import numpy

from ..errors import ShapeError, fmt
from .dataset import Dataset

__all__ = ["MedMNIST"]


class MedMNIST(Dataset):
    """One split of a MedMNIST .npz file.

    Args:
        path: the .npz file (e.g. ``~/.medmnist/pathmnist.npz``).
        split: 'train', 'val' or 'test'.
        transform: optional t(image, None, rng) -> (image, None) augmentation.
    Returns (per item): image float32 (C, 28, 28) or (1, 28, 28, 28) in [0, 1]; label int64 ()
        (single-label) or float32 (K,) (multi-label).
    Raises:
        FileNotFoundError naming the path (nothing is downloaded); ShapeError if a key is missing
        or images and labels differ in length.
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
        with numpy.load(path, allow_pickle=False) as archive:
            missing = [k for k in (f"{split}_images", f"{split}_labels") if k not in archive.files]
            if missing:
                raise ShapeError(fmt("MedMNIST", f"{path} lacks {missing}; it holds {sorted(archive.files)}"))
            images, labels = archive[f"{split}_images"], archive[f"{split}_labels"]
        if len(images) != len(labels):
            raise ShapeError(fmt("MedMNIST", "images and labels differ in length", images=images, labels=labels))
        if images.ndim == 4 and images.shape[-1] in (1, 3):  # (N, H, W, C) colour -> (N, C, H, W)
            images = images.transpose(0, 3, 1, 2)
        elif images.ndim in (3, 4):  # (N, H, W) grey or (N, D, H, W) volume -> add C = 1
            images = images[:, None]
        else:
            raise ShapeError(fmt("MedMNIST", "images must be (N, H, W), (N, H, W, C) or (N, D, H, W)", images=images))
        self.images = images
        self.multilabel = labels.ndim == 2 and labels.shape[1] > 1
        self.labels = labels.astype(numpy.float32) if self.multilabel else labels.reshape(-1).astype(numpy.int64)
        self.split, self.transform, self.task = split, transform, "classification"
        self.in_channels = images.shape[1]
        self.num_classes = labels.shape[1] if self.multilabel else int(self.labels.max()) + 1

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index].astype(numpy.float32) / 255.0
        if self.transform is not None:
            image, _ = self.transform(image, None, self.rng(index))
        return image, self.labels[index]
