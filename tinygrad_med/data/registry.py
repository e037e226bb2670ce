"""Names ``tgm train MODEL --data NAME`` takes, with each dataset's splits and default recipe.

A recipe gives the defaults a run on 2 CPU cores uses (epochs, batch size, learning rate, model
options); command-line flags override them. A dataset may have views (``views``: another maker and
recipe): the detection models train on the nuclei image's "detection" view (its instances as boxes and
masks, the same split), the captioner the digits' "captions" view, the VAEs the digits' "generative"
view (the same images, a longer recipe). ``task`` marks a dataset whose
samples only a detection model can read.
"""

from ..errors import UnknownNameError, fmt
from .ambiguous import AmbiguousLesions
from .cortex import CortexDataset
from .cortex_patches import CortexPatches
from .detection import NucleiDetectionDataset, ShapesDetectionDataset
from .digits import DigitsDataset
from .medmnist import MedMNIST
from .mni152 import MNI152Patches
from .nuclei import NucleiDataset
from .phantoms import PhantomDataset

__all__ = ["DATASETS", "get_dataset", "recipe", "dataset_names"]


def _cortex(atlas, about):
    """The cortex graph with the labels of ``atlas`` (data/cortex.py), trained by the per-vertex graph models."""
    return {
        "make": lambda split, path=None: CortexDataset(split, atlas),
        "recipe": {"model": "spectral_gcn", "epochs": 12, "batch_size": 1, "lr": 1e-2},
        "about": about,
        "task": "vertex parcellation",
    }


DATASETS = {
    "nuclei": {
        "make": lambda split, path=None: NucleiDataset(split, tile=64, samples_per_epoch=128),
        "recipe": {"model": "unet", "epochs": 12, "batch_size": 16, "lr": 3e-3},
        "about": "BBBC038 fluorescence nuclei, 2D segmentation (stardist wheel); instances for the detection models",
        "views": {
            "detection": {
                "make": lambda split, path=None: NucleiDetectionDataset(split, tile=128, samples_per_epoch=64),
                "recipe": {"model": "maskrcnn", "epochs": 8, "batch_size": 4, "lr": 3e-3},
            }
        },
    },
    "digits": {
        "make": lambda split, path=None: DigitsDataset(split),
        "recipe": {"model": "cnn", "epochs": 12, "batch_size": 32, "lr": 3e-3},
        "about": "scikit-learn 8x8 digits, 10-class classification; captioned ('seven odd') for the captioner",
        "views": {
            "captions": {
                "make": lambda split, path=None: _digit_captions(split),
                "recipe": {"model": "captioner", "epochs": 10, "batch_size": 32, "lr": 3e-3},
            },
            "generative": {  # the VAEs: the digits themselves, trained longer (a KL term needs more epochs)
                "make": lambda split, path=None: DATASETS["digits"]["make"](split, path),
                "recipe": {"model": "vae", "epochs": 40, "batch_size": 32, "lr": 3e-3},
            },
        },
    },
    "mni152": {
        "make": lambda split, path=None: MNI152Patches(split, patch=32, samples_per_epoch=16),
        "recipe": {"model": "unet3d", "epochs": 20, "batch_size": 2, "lr": 1e-3},
        "about": "MNI152 T1 template, 3D grey/white-matter segmentation (nilearn)",
    },
    "phantoms": {
        "make": lambda split, path=None: PhantomDataset(64 if split == "train" else 8, size=64, ndim=2, split=split),
        "recipe": {"model": "unet", "epochs": 10, "batch_size": 8, "lr": 3e-3},
        "about": "synthetic 2D MRI-like phantoms with lesions (generated)",
    },
    "phantoms3d": {
        "make": lambda split, path=None: PhantomDataset(16 if split == "train" else 2, size=32, ndim=3, split=split),
        # 40 epochs: at 10 neither unet3d nor hyperdense marked a lesion voxel (lesion Dice 0.0, seed 0); at 40,
        # 0.917 and 0.973 (2026-12-07, 22 s and 51 s of training on 2 cores)
        "recipe": {"model": "unet3d", "epochs": 40, "batch_size": 2, "lr": 3e-3},
        "about": "synthetic 3D MRI-like phantoms with lesions (generated)",
    },
    "lesions-ambiguous": {
        "make": lambda split, path=None: AmbiguousLesions(512 if split == "train" else 64, split=split),
        "recipe": {"model": "prob_unet", "epochs": 12, "batch_size": 16, "lr": 3e-3},
        "about": "synthetic lesions of graded contrast, each marked by 4 raters with a set probability (generated)",
        "task": "ambiguous segmentation",
    },
    "shapes": {
        "make": lambda split, path=None: ShapesDetectionDataset(256 if split == "train" else 32, size=64, split=split),
        "recipe": {"model": "fasterrcnn", "epochs": 10, "batch_size": 4, "lr": 3e-3},
        "about": "synthetic discs and squares on noise, 2D detection (generated)",
        "task": "detection",
    },
    "cortex": _cortex("yeo7", "HCP 32k fs_LR cortex as a mesh graph, Yeo 7 networks per vertex, left -> right"),
    "cortex-yeo17": _cortex("yeo17", "the cortex graph with the Yeo 17 networks"),
    "cortex-mmp": _cortex("mmp", "the cortex graph with Glasser's 180 areas (HCP MMP 1.0)"),
    "cortex-patches": {
        "make": lambda split, path=None: CortexPatches(split, "yeo7", count=512 if split == "train" else 384),
        "recipe": {"model": "graph_classifier", "epochs": 25, "batch_size": 32, "lr": 3e-3},
        "about": "disks of 40-160 vertices grown on the cortex graph, class = Yeo 7 network at the centre",
        "task": "graph classification",
    },
    "medmnist": {
        "make": lambda split, path=None: MedMNIST(_need_path(path), split),
        "recipe": {"model": "cnn", "epochs": 10, "batch_size": 64, "lr": 1e-3},
        "about": "a MedMNIST .npz file you already have (--data-path FILE)",
        "reads_path": True,
    },
}


def dataset_names():
    """The registered dataset names, sorted."""
    return sorted(DATASETS)


def _digit_captions(split):
    from .captions import DigitCaptions  # the captioner's view

    return DigitCaptions(split)


def _need_path(path):
    if path is None:
        raise ValueError(
            fmt("medmnist", "needs the .npz file", hint="pass --data-path FILE.npz (nothing is downloaded)")
        )
    return path


def _spec(name):
    if name not in DATASETS:
        valid = ", ".join(dataset_names())
        raise UnknownNameError(fmt("dataset", f"unknown dataset {name!r}; valid datasets: {valid}"))
    return DATASETS[name]


def _view(name, view):
    spec = _spec(name)
    return spec.get("views", {}).get(view, spec)


def get_dataset(name, split, path=None, view=None):
    """The ``split`` ('train' or 'test') of dataset ``name``, or of its ``view`` where it has one.

    Raises:
        UnknownNameError listing the valid names; MissingPackageError naming a missing package;
        ValueError if ``path`` is given for a dataset that reads no file (it would be ignored).
    """
    if path is not None and not _spec(name).get("reads_path"):
        readers = ", ".join(n for n in dataset_names() if DATASETS[n].get("reads_path"))
        raise ValueError(
            fmt("dataset", f"{name!r} reads no file, so --data-path {path} would be ignored; only {readers} read one")
        )
    return _view(name, view)["make"](split, path)


def recipe(name, view=None):
    """The default training recipe (model, epochs, batch_size, lr) of dataset ``name`` (or of its ``view``)."""
    return dict(_view(name, view)["recipe"])
