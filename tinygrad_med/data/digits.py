"""Digits: scikit-learn's bundled 8 x 8 handwritten digits, a small classification set.

Source: the UCI ML hand-written digits data (Alpaydin and Kaynak, 1998; 1797 images of 10
classes, 4-bit grey levels 0..16), shipped inside the ``scikit-learn`` wheel (BSD-3-Clause) and
loaded offline by ``sklearn.datasets.load_digits``. Label: the digit 0..9.

Split: a stratified, seeded 80/20 split (1437 training and 360 test images), the same on every
machine (``random_state=0``).
"""

import numpy

from ..errors import fmt
from ._packages import require
from .dataset import Dataset

__all__ = ["load_digits", "DigitsDataset"]


def load_digits():
    """Images float32 (1797, 1, 8, 8) in [0, 1] and labels int64 (1797,).

    Raises:
        MissingPackageError naming scikit-learn and its pip command if it is not installed.
    """
    datasets = require("sklearn.datasets", "digits", "scikit-learn")
    bunch = datasets.load_digits()
    images = (bunch.images / 16.0).astype(numpy.float32)[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    return images, bunch.target.astype(numpy.int64)


class DigitsDataset(Dataset):
    """The training (80 %) or test (20 %) part of the digits, stratified by class.

    Returns (per item): image float32 (1, 8, 8) and label int64 ().
    """

    def __init__(self, split="train"):
        if split not in ("train", "test"):
            raise ValueError(fmt("DigitsDataset", f"split must be 'train' or 'test', got {split!r}"))
        images, labels = load_digits()
        model_selection = require("sklearn.model_selection", "digits", "scikit-learn")
        train, test = model_selection.train_test_split(numpy.arange(len(labels)), test_size=0.2, random_state=0,
                                                       stratify=labels)
        keep = train if split == "train" else test
        self.split, self.images, self.labels = split, images[keep], labels[keep]
        self.num_classes, self.in_channels, self.task = 10, 1, "classification"
        self.class_names = [str(d) for d in range(10)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]
