"""Datasets, loaders and augmentation (torch.utils.data's shape), with real data that loads offline.

dataset.py     Dataset, TensorDataset, Subset, DataLoader (seeded shuffling, prefetch thread)
transforms.py  2D/3D image+mask augmentation: flips, 90-degree rotations, crops, intensity, noise,
               RandomAffine (random rotation, scale and shift through affine_grid + grid_sample)
nuclei.py      BBBC038 nuclei image + instance masks (from the stardist wheel)
mni152.py      MNI152 T1 template with grey/white-matter labels (from nilearn), 3D patches
digits.py      scikit-learn's 8x8 digits
medmnist.py    MedMNIST .npz files the user already has
phantoms.py    seeded synthetic MRI-like phantoms with exact masks
detection.py   instance image -> detection targets (boxes, labels, masks); seeded synthetic discs and squares
registry.py    the names `tgm train --data` takes, each with its default recipe
"""

from . import transforms  # noqa: F401
from ._packages import MissingPackageError  # noqa: F401
from .dataset import DataLoader, Dataset, Subset, TensorDataset, default_collate  # noqa: F401
from .detection import ShapesDetectionDataset, collate_detection, instances_to_targets  # noqa: F401
from .digits import DigitsDataset, load_digits  # noqa: F401
from .medmnist import MedMNIST  # noqa: F401
from .mni152 import MNI152Patches, load_mni152  # noqa: F401
from .nuclei import NucleiDataset, instance_boxes, load_nuclei  # noqa: F401
from .phantoms import PhantomDataset, make_phantom  # noqa: F401
