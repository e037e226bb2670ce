"""Digits: scikit-learn's bundled 8 x 8 handwritten digits, a small classification set.

Source: the UCI ML hand-written digits data (Alpaydin and Kaynak, 1998; 1797 images of 10
classes, 4-bit grey levels 0..16), shipped inside the ``scikit-learn`` wheel (BSD-3-Clause) and
loaded offline by ``sklearn.datasets.load_digits``. We read the same file
(sklearn/datasets/data/digits.csv.gz: 64 pixel values then the label per row) by path, which
spares the 3 s import of scikit-learn; a test checks it equals ``load_digits()``. Label: the
digit 0..9.

Split: stratified and seeded: for each class, a permutation drawn with ``default_rng(0)`` puts
the first 20 % (rounded) of that class's images in the test set (359 test, 1438 training
images), the same on every machine.
"""

import numpy

from ..errors import fmt
from ._packages import package_file
from .dataset import Dataset

__all__ = ["load_digits", "stratified_split", "DigitsDataset"]

_CACHE = {}


def load_digits():
    """Images float32 (1797, 1, 8, 8) in [0, 1] and labels int64 (1797,).

    Raises:
        MissingPackageError naming scikit-learn and its pip command if it is not installed.
    """
    if "digits" not in _CACHE:
        path = package_file("sklearn", "datasets", "data", "digits.csv.gz", dataset="digits", pip_name="scikit-learn")
        table = numpy.loadtxt(path, delimiter=",")  # (1797, 65): 64 pixels then the label
        images = (table[:, :64] / 16.0).astype(numpy.float32).reshape(-1, 1, 8, 8)  # (N, 64) -> (N, 1, 8, 8)
        _CACHE["digits"] = (images, table[:, 64].astype(numpy.int64))
    return _CACHE["digits"]


def stratified_split(labels, test_fraction=0.2, seed=0):
    """Training and test indices with each class split test_fraction : 1 - test_fraction."""
    rng = numpy.random.default_rng(seed)
    train, test = [], []
    for label in numpy.unique(labels):
        members = rng.permutation(numpy.flatnonzero(labels == label))
        cut = int(round(test_fraction * len(members)))
        test.append(members[:cut])
        train.append(members[cut:])
    return numpy.sort(numpy.concatenate(train)), numpy.sort(numpy.concatenate(test))


class DigitsDataset(Dataset):
    """The training (80 %) or test (20 %) part of the digits, stratified by class.

    Returns (per item): image float32 (1, 8, 8) and label int64 ().
    """

    def __init__(self, split="train"):
        if split not in ("train", "test"):
            raise ValueError(fmt("DigitsDataset", f"split must be 'train' or 'test', got {split!r}"))
        images, labels = load_digits()
        train, test = stratified_split(labels)
        keep = train if split == "train" else test
        self.split, self.images, self.labels = split, images[keep], labels[keep]
        self.num_classes, self.in_channels, self.task = 10, 1, "classification"
        self.class_names = [str(d) for d in range(10)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]
