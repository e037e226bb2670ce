"""A training run's configuration: the model, its default dataset, the recipe's values, the optimizer.

Lecture: "MORE ON OPTIMIZATION" (SGD with momentum, Adam and their variants as the run's optimizer).
``make_config`` is what ``tgm train`` builds from its arguments and what a checkpoint stores;
tinygrad_med/training/loop.py (the loop) reads it.  A model registered for ``tgm train`` names its default
dataset in DEFAULT_DATA (others train on the digits); a model whose objective does not fit the
dataset (a VAE on a segmentation dataset) is refused here, before a run folder is touched.
"""

import math

from .. import backend
from ..data.registry import dataset_names, recipe
from ..errors import DeviceError, UnknownNameError, fmt
from ..models import MODELS
from .objectives import check_objective, dataset_view

__all__ = ["make_config", "make_optimizer", "value_problems", "DEFAULT_DATA", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
DEFAULT_DATA = {
    "unet": "nuclei",
    "unet3d": "mni152",
    "vnet": "mni152",
    "fcn": "nuclei",
    "hyperdense": "phantoms3d",
    "hyperdense2d": "phantoms",
    "cnn": "digits",
    "mlp": "digits",
    "resnet18": "digits",
    "autoencoder": "digits",
    "vae": "digits",
    "vae2d": "digits",
    "prob_unet": "nuclei",
    "fasterrcnn": "nuclei",
    "maskrcnn": "nuclei",
    "captioner": "digits",
    "spectral_gcn": "cortex",
    "geometric_gcn": "cortex",
    "vertex_mlp": "cortex",
    "graph_classifier": "cortex-patches",
}


def make_config(
    model,
    data=None,
    epochs=None,
    batch_size=None,
    lr=None,
    optimizer="adam",
    device="cpu",
    seed=0,
    prefetch=2,
    data_path=None,
):
    """A run's configuration: the dataset's recipe with the given values on top (None keeps the recipe).

    Raises:
        UnknownNameError listing the valid names for an unknown model, dataset or optimizer; ValueError
        for epochs or a batch size below 1, or an lr that is not a finite positive number, and naming the
        datasets a model's objective trains on (objectives.check_objective); DeviceError for an unknown
        device, or 'cuda' where CuPy or a GPU is missing (checked here, before a run folder is touched).
    """
    if model not in MODELS:
        raise UnknownNameError(fmt("tgm train", f"unknown model {model!r}; valid models: {', '.join(sorted(MODELS))}"))
    data = data or DEFAULT_DATA.get(model, "digits")
    if data not in dataset_names():
        raise UnknownNameError(
            fmt("tgm train", f"unknown dataset {data!r}; valid datasets: {', '.join(dataset_names())}")
        )
    defaults = recipe(data, dataset_view(model))
    config = {
        "model": model,
        "data": data,
        "optimizer": optimizer,
        "device": _available_device(device),
        "seed": int(seed),
        "prefetch": int(prefetch),
        "data_path": data_path,
        "epochs": int(epochs if epochs is not None else defaults["epochs"]),
        "batch_size": int(batch_size if batch_size is not None else defaults["batch_size"]),
        "lr": float(lr if lr is not None else defaults["lr"]),
    }
    problems = value_problems(config)
    if problems:  # an unknown optimizer is an unknown name (listing the valid ones); the numbers a ValueError
        raise (UnknownNameError if optimizer not in OPTIMIZERS else ValueError)(fmt("tgm train", "; ".join(problems)))
    check_objective(model, data, data_path)
    return config


def value_problems(config):
    """What a run cannot train with, as sentences naming what was expected and what came: an unknown
    optimizer, epochs or a batch size below 1, an lr that is not a finite number > 0.

    The one check of a run's values: make_config raises on them, and training/run_folder.py names them
    for the config stored in a checkpoint (before a resume trips over them mid-run).
    """
    problems = []
    if config["optimizer"] not in OPTIMIZERS:
        problems.append(f"unknown optimizer {config['optimizer']!r}; valid: {', '.join(OPTIMIZERS)}")
    epochs, batch_size, lr = config["epochs"], config["batch_size"], config["lr"]
    if epochs < 1 or batch_size < 1 or not 0 < lr < math.inf:
        problems.append(
            f"epochs and batch size must be >= 1 and lr a finite number > 0, got epochs {epochs}, "
            f"batch size {batch_size}, lr {lr}"
        )
    return problems


def _available_device(device):
    """'cpu' or 'cuda', where the device can be used now."""
    device = backend.normalize_device(device)
    reason = backend.cuda_unavailable_reason() if device == "cuda" else None
    if reason is not None:
        raise DeviceError(fmt("tgm train", f"--device cuda is not available: {reason}", hint="use --device cpu"))
    return device


def make_optimizer(name, parameters, lr):
    """The optimizer ``name`` (one of OPTIMIZERS) over ``parameters``; SGD gets momentum 0.9."""
    from .. import optim

    if name == "sgd":
        return optim.SGD(parameters, lr=lr, momentum=0.9)
    return {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}[name](parameters, lr=lr)
