"""``tgm train``, ``tgm eval`` and ``tgm predict``: argument parsing and the three handlers.

The loop itself is tinygrad_med/train.py; cli.py calls ``train.add_train_commands(subparsers)``.
Bad input (an unknown model or dataset, a foreign or corrupt checkpoint, an --out folder holding a
previous run, a missing dataset package) prints one line naming the problem and exits with 2.
"""

import json
import os
import sys

import numpy

from .data import MissingPackageError
from .errors import CheckpointError, ShapeError
from .models import MODELS, UnknownNameError

__all__ = ["add_commands", "run_train", "run_eval", "run_predict"]

_EXPECTED = (
    UnknownNameError,
    CheckpointError,
    FileExistsError,
    FileNotFoundError,
    MissingPackageError,
    ShapeError,
    ValueError,
)


def add_commands(subparsers):
    """Register train / eval / predict on an argparse subparsers object."""
    from .data.registry import DATASETS

    models = "; ".join(f"{name}: {about}" for name, (_, about) in sorted(MODELS.items()))
    datasets = "; ".join(f"{name}: {spec['about']}" for name, spec in sorted(DATASETS.items()))
    train = subparsers.add_parser(
        "train",
        help="train a model on a dataset (the main job)",
        description=f"Models -- {models}. Datasets -- {datasets}.",
    )
    train.add_argument("model", help=f"one of: {', '.join(sorted(MODELS))}")
    train.add_argument("--data", help=f"one of: {', '.join(sorted(DATASETS))} (default: the model's usual one)")
    train.add_argument("--data-path", help="file for datasets read from disk (medmnist: the .npz)")
    train.add_argument("--epochs", type=int, help="default: the dataset's recipe")
    train.add_argument("--batch-size", type=int, help="default: the dataset's recipe")
    train.add_argument("--lr", type=float, help="learning rate (default: the dataset's recipe)")
    train.add_argument("--optimizer", default="adam", help="adam, adamw, sgd (momentum 0.9) or rmsprop")
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--prefetch", type=int, default=2, help="batches a background thread prepares ahead")
    train.add_argument("--out", help="run folder (default: runs/MODEL-DATA)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_guarded(run_train))

    evaluate = subparsers.add_parser("eval", help="held-out metrics of a trained checkpoint")
    evaluate.add_argument("checkpoint", help="checkpoint.npz written by tgm train (or its run folder)")
    evaluate.add_argument("--device", default="cpu")
    evaluate.set_defaults(run=_guarded(run_eval))

    predict = subparsers.add_parser(
        "predict",
        help="write prediction masks (PNG for 2D, .npy/.nii.gz for 3D), reconstructions (autoencoders), or "
        "detections (JSON beside a 16-bit PNG / .npy instance-label image), or a caption (JSON, or text for .txt)",
    )
    predict.add_argument("checkpoint", help="checkpoint.npz written by tgm train (or its run folder)")
    predict.add_argument("--input", help=".npy, .png, .tif or .nii/.nii.gz image (default: the held-out test set)")
    predict.add_argument("--output", help="file to write (default: beside the checkpoint, prediction.png/.npy)")
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=_guarded(run_predict))


def _guarded(handler):
    def run(args):
        try:
            return handler(args)
        except _EXPECTED as error:
            message = str(error)  # most messages already start with "tgm ...:" (errors.fmt names the op)
            print(message if message.startswith("tgm") else f"tgm {args.command}: {message}", file=sys.stderr)
            return 2

    return run


def run_train(args):
    """``tgm train``: build or resume a run in --out and train it; 0 on success, 130 after Ctrl-C."""
    from .train import Trainer, load_checkpoint, make_config, prepare_out

    config = make_config(
        args.model,
        args.data,
        args.epochs,
        args.batch_size,
        args.lr,
        args.optimizer,
        args.device,
        args.seed,
        args.prefetch,
        args.data_path,
    )
    out = args.out or os.path.join("runs", f"{config['model']}-{config['data']}")
    prepare_out(out, resume=args.resume, overwrite=args.overwrite)
    checkpoint = None
    if args.resume:
        checkpoint = load_checkpoint(os.path.join(out, "checkpoint.npz"), config["model"], args.data)
        saved = dict(checkpoint["config"])
        saved.update({"device": config["device"], "prefetch": config["prefetch"]})
        if args.epochs is not None:
            saved["epochs"] = config["epochs"]
        config = saved
    trainer = Trainer(config, out, progress=not args.quiet)
    if checkpoint is not None:
        trainer.load_state(checkpoint, os.path.join(out, "checkpoint.npz"))
        print(f"resuming {out} at epoch {trainer.epoch + 1}, step {trainer.step}", flush=True)
    summary = trainer.fit()
    if summary["interrupted"]:
        print(f"stopped; checkpoint saved in {out}; continue with --resume", flush=True)
        return 130
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    print(f"wrote {out}/checkpoint.npz, log.jsonl, curves.png, {', '.join(trainer.objective.pictures)}, summary.json")
    return 0


def _trainer_from(path, device):
    from .train import Trainer, load_checkpoint

    path = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    checkpoint = load_checkpoint(path)
    config = dict(checkpoint["config"], device=device, prefetch=0)
    trainer = Trainer(config, os.path.dirname(path) or ".", progress=False)
    trainer.load_state(checkpoint, path)
    return trainer


def run_eval(args):
    """``tgm eval``: print the held-out metrics (and dataset extras) of a checkpoint as JSON."""
    from .data.registry import report

    trainer = _trainer_from(args.checkpoint, args.device)
    result = trainer.evaluate()
    values = {"test_" + k: v for k, v in result["metrics"].items()}
    values.update(report(trainer.config["data"], trainer.test_set, result["predictions"]))
    print(json.dumps(values, indent=1))
    return 0


def run_predict(args):
    """``tgm predict``: write the predicted label mask of --input (default: the first test sample), its
    reconstruction for an autoencoder or VAE, its detections, or its caption (what the run's objective predicts)."""
    from .function import no_grad
    from .tensor import Tensor

    trainer = _trainer_from(args.checkpoint, args.device)
    objective = trainer.objective
    if objective.name == "classification":
        raise ValueError(f"tgm predict writes masks; model {trainer.config['model']!r} is a classifier")
    if hasattr(objective, "predict_test"):  # graphs: the held-out hemisphere or patches
        if args.input:
            raise ValueError(f"tgm predict: a {objective.name} run predicts its held-out split; drop --input")
        folder = args.checkpoint if os.path.isdir(args.checkpoint) else os.path.dirname(args.checkpoint)
        with no_grad():
            print(
                objective.predict_test(
                    trainer.model.eval(), trainer.test_set, args.output or os.path.join(folder, "prediction")
                )
            )
        return 0
    if args.input:
        image, reference = _read_image(args.input, getattr(trainer.train_set, "spatial_dims", 2)), args.input
    else:
        image, reference = trainer.test_set[0][0], None
    trainer.model.eval()
    folder = args.checkpoint if os.path.isdir(args.checkpoint) else os.path.dirname(os.path.abspath(args.checkpoint))
    with no_grad():
        batch = Tensor(_pad(image, objective.pad_multiple(trainer.model))[None]).to(args.device)
        if hasattr(objective, "write_prediction"):  # detections (JSON + instance image); a caption (JSON or text)
            print(
                objective.write_prediction(trainer.model, batch, args.output or os.path.join(folder, "prediction.png"))
            )
            return 0
        predicted = numpy.asarray(objective.predict(trainer.model, batch))[0]
    predicted = predicted[(Ellipsis,) + tuple(slice(0, s) for s in image.shape[1:])]
    default = "prediction.png" if predicted.ndim == 2 or objective.prediction == "image" else "prediction.npy"
    output = args.output or os.path.join(folder, default)
    if objective.prediction == "image":
        _write_image(predicted, output)
        print(f"wrote {output}: reconstruction, shape {predicted.shape}")
        return 0
    _write_mask(predicted, output, trainer.num_classes, reference)
    print(f"wrote {output}: labels {sorted(int(v) for v in numpy.unique(predicted))}, shape {predicted.shape}")
    return 0


def _pad(image, multiple):
    """Zero-pad (C, *S) at the end of each spatial axis up to a multiple (the U-Net's 2**depth)."""
    widths = [(0, 0)] + [(0, -s % multiple) for s in image.shape[1:]]
    return numpy.pad(image, widths).astype(numpy.float32)


def _read_image(path, spatial_dims):
    """(C, *S) float32 scaled by the 1st/99.8th percentiles, as the training data."""
    lower = path.lower()
    if lower.endswith(".npy"):
        image = numpy.load(path, allow_pickle=False)
    elif lower.endswith((".nii", ".nii.gz")):
        from .data._packages import require

        image = require("nibabel", "predict").load(path).get_fdata()
    elif lower.endswith((".tif", ".tiff")):
        from .data._packages import require

        image = require("tifffile", "predict").imread(path)
    else:
        import matplotlib.image

        image = matplotlib.image.imread(path)
        image = image[..., :3].mean(axis=-1) if image.ndim == 3 else image
    image = numpy.asarray(image, dtype=numpy.float64)
    if image.ndim != spatial_dims:
        raise ShapeError(f"tgm predict: {path} has shape {image.shape}; the model takes {spatial_dims}-D images")
    low, high = numpy.percentile(image, [1.0, 99.8])
    return ((image - low) / max(high - low, 1e-12)).astype(numpy.float32)[None]


def _write_image(image, output):
    """A reconstruction (C, H, W) in [0, 1]: grey PNG of its first channel, or the float32 array as .npy."""
    if output.lower().endswith(".png"):
        import matplotlib.image

        matplotlib.image.imsave(output, numpy.asarray(image[0], dtype=numpy.float32), cmap="gray", vmin=0, vmax=1)
    else:
        numpy.save(output, numpy.asarray(image, dtype=numpy.float32))


def _write_mask(labels, output, num_classes, reference):
    lower = output.lower()
    if lower.endswith(".png"):
        import matplotlib.image

        if labels.ndim != 2:
            raise ShapeError(f"tgm predict: a PNG holds a 2D mask; this one is {labels.shape}, write .npy or .nii.gz")
        matplotlib.image.imsave(output, labels.astype(numpy.float32), cmap="gray", vmin=0, vmax=max(num_classes - 1, 1))
    elif lower.endswith((".nii", ".nii.gz")):
        from .data._packages import require

        nibabel = require("nibabel", "predict")
        affine = (
            nibabel.load(reference).affine
            if reference and reference.lower().endswith((".nii", ".nii.gz"))
            else numpy.eye(4)
        )
        nibabel.save(nibabel.Nifti1Image(labels.astype(numpy.int16), affine), output)
    else:
        numpy.save(output, labels.astype(numpy.int64))
