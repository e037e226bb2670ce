"""The objectives of ``tgm train``: what a run optimises and measures, one per kind of model.

    base.py         the interface every objective has (Classification), MultiLabelClassification,
                    Segmentation, and MODEL_OBJECTIVES (the models that declare their objective)
    generative.py   Reconstruction, VariationalReconstruction, ProbabilisticSegmentation
    detection.py    Detection, InstanceSegmentation
    captioning.py   Captioning
    graph.py        VertexParcellation, GraphClassification (the cortex graphs)
    ambiguous.py    AmbiguousSegmentation, AmbiguousProbabilisticSegmentation (several raters' masks per image)

This module picks a run's objective (``make_objective``) and checks a model/dataset pair before a run
folder is touched (``check_objective``).
"""

from ...data.registry import DATASETS, get_dataset
from ...errors import UnknownNameError, fmt
from .ambiguous import ON_AMBIGUOUS, AmbiguousProbabilisticSegmentation, AmbiguousSegmentation
from .base import MODEL_OBJECTIVES, Classification, MultiLabelClassification, Segmentation, picture_path, to_numpy
from .captioning import Captioning
from .detection import Detection, InstanceSegmentation
from .generative import ProbabilisticSegmentation, Reconstruction, VariationalReconstruction
from .graph import GraphClassification, VertexParcellation

__all__ = [
    "MODEL_OBJECTIVES",
    "Classification",
    "MultiLabelClassification",
    "Segmentation",
    "Reconstruction",
    "VariationalReconstruction",
    "ProbabilisticSegmentation",
    "Detection",
    "InstanceSegmentation",
    "Captioning",
    "VertexParcellation",
    "GraphClassification",
    "AmbiguousSegmentation",
    "AmbiguousProbabilisticSegmentation",
    "objective_classes",
    "objective_name",
    "make_objective",
    "check_objective",
    "dataset_view",
    "picture_path",
    "to_numpy",
]


def objective_classes():
    """{name: class} of every objective (the generative ones live in generative.py)."""
    kinds = (
        Classification,
        MultiLabelClassification,
        Segmentation,
        Reconstruction,
        VariationalReconstruction,
        ProbabilisticSegmentation,
    )
    kinds += (Detection, InstanceSegmentation, Captioning)
    kinds += (VertexParcellation, GraphClassification)
    kinds += (AmbiguousSegmentation, AmbiguousProbabilisticSegmentation)
    return {kind.name: kind for kind in kinds}


def objective_name(model, task):
    """The objective of registered model ``model`` trained on a dataset of task ``task``."""
    name = MODEL_OBJECTIVES.get(model, task)
    return ON_AMBIGUOUS.get(name, name) if task == AmbiguousSegmentation.name else name


def make_objective(model, dataset, device="cpu", data=None):
    """The objective that trains registered model ``model`` on ``dataset`` (registered as ``data``).

    Raises:
        UnknownNameError for an objective that does not exist (listing the valid ones); ValueError
        naming the datasets the objective trains on if ``dataset``'s task does not fit it.
    """
    name, kinds = objective_name(model, dataset.task), objective_classes()
    if name not in kinds:
        valid = ", ".join(repr(k) for k in kinds)
        raise UnknownNameError(fmt("tgm train", f"unknown objective {name!r} for model {model!r}; valid: {valid}"))
    kind = kinds[name]
    if dataset.task not in kind.dataset_tasks:
        given = f"{data!r} is a {dataset.task} dataset" if data else f"this dataset is for {dataset.task}"
        raise ValueError(
            fmt("tgm train", f"model {model!r} ({name}) trains on {kind.dataset_about}; {given}", hint=kind.hint)
        )
    models = getattr(kind, "models", None)  # an objective only some models can use (detection)
    if models is not None and model not in models:
        given = f"{data!r} is a {dataset.task} dataset" if data else f"this dataset is for {dataset.task}"
        raise ValueError(
            fmt(
                "tgm train",
                f"{given}: only the models {', '.join(models)} train on it, not {model!r}",
                hint=f"train {' or '.join(models)} on it, or pass another --data",
            )  # fmt: skip
        )
    return kind(dataset, device)


def check_objective(model, data, data_path=None):
    """Refuse a model/dataset pair whose objective does not fit, before a run folder is touched.

    Only models that declare an objective in MODEL_OBJECTIVES, datasets registered with a
    "task" (detection) and data files given by the user (``data_path``, both splits read and checked)
    are checked: the supervised models take the dataset's task, as before.
    Raises as ``make_objective``.
    """
    if model in MODEL_OBJECTIVES or "task" in DATASETS.get(data, {}) or data_path is not None:
        if data_path is not None:  # a file the user gave: its training split is checked too, before any run
            get_dataset(data, "train", data_path, dataset_view(model))
        dataset = get_dataset(data, "test", data_path, dataset_view(model))
        make_objective(model, dataset, data=data).model_options(dataset)  # each raises if they do not fit


def dataset_view(model):
    """The dataset view registered model ``model`` trains on ('detection' for the detection models: the
    nuclei image's instances as boxes and masks), or None for the dataset itself."""
    return getattr(objective_classes().get(MODEL_OBJECTIVES.get(model)), "view", None)
