"""``tgm train``, ``tgm eval`` and ``tgm predict``: argument parsing and the three handlers.

The loop itself is tinygrad_med/train.py; cli.py calls ``train.add_train_commands(subparsers)``.
Bad input (an unknown model or dataset, a foreign or corrupt checkpoint, an --out folder holding a
previous run, a missing dataset package) raises an error that cli.main prints as one line, exit 2.

``tgm train`` checks everything (names, numbers, device, data, model, the checkpoint to resume)
before it replaces or extends anything in --out, holds the folder's lock while it runs, and
recovers what a killed run left behind (tinygrad_med/run_folder.py).
"""

import json
import os
import sys

import numpy

from . import run_folder
from .errors import ShapeError, fmt
from .models import MODELS

__all__ = ["add_commands", "run_train", "run_eval", "run_predict"]

TRAIN_RULES = (
    "--resume continues the run in --out exactly as it was configured: --data-path, --batch-size, --lr, "
    "--optimizer and --seed may be left out or repeat the run's values (another value is refused); --epochs may "
    "extend the run (the cosine schedule is re-planned to end at the new count; fewer epochs than done is "
    "refused); --device and --prefetch may change. --resume with --overwrite is refused. --overwrite replaces "
    "the previous run only once the new run has written its first checkpoint. A NaN or Inf loss or gradient "
    "stops the run (exit 2) before the update, keeping the last checkpoint. A --batch-size larger than the "
    "training set gives one batch of all of it per epoch. Ctrl-C saves a checkpoint and exits 130."
)
_FIXED_ON_RESUME = (("data_path", "--data-path"), ("batch_size", "--batch-size"), ("lr", "--lr"))
_FIXED_ON_RESUME += (("optimizer", "--optimizer"), ("seed", "--seed"))


def add_commands(subparsers):
    """Register train / eval / predict on an argparse subparsers object."""
    from .data.registry import DATASETS

    models = "; ".join(f"{name}: {about}" for name, (_, about) in sorted(MODELS.items()))
    datasets = "; ".join(f"{name}: {spec['about']}" for name, spec in sorted(DATASETS.items()))
    train = subparsers.add_parser(
        "train",
        help="train a model on a dataset (the main job)",
        description=f"Models -- {models}. Datasets -- {datasets}. {TRAIN_RULES}",
    )
    train.add_argument("model", help=f"one of: {', '.join(sorted(MODELS))}")
    train.add_argument("--data", help=f"one of: {', '.join(sorted(DATASETS))} (default: the model's usual one)")
    train.add_argument("--data-path", help="file for datasets read from disk (medmnist: the .npz)")
    train.add_argument("--epochs", type=int, help="default: the dataset's recipe")
    train.add_argument("--batch-size", type=int, help="default: the dataset's recipe")
    train.add_argument("--lr", type=float, help="learning rate (default: the dataset's recipe)")
    train.add_argument("--optimizer", help="adam (default), adamw, sgd (momentum 0.9) or rmsprop")
    train.add_argument("--device", default="cpu", help="cpu or cuda")
    train.add_argument("--seed", type=int, help="default: 0")
    train.add_argument("--prefetch", type=int, default=2, help="batches a background thread prepares ahead")
    train.add_argument("--out", help="run folder (default: runs/MODEL-DATA); locked while a run writes into it")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace the run in --out (once the new one saves)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    evaluate = subparsers.add_parser("eval", help="held-out metrics of a trained checkpoint")
    evaluate.add_argument("checkpoint", help="checkpoint.npz written by tgm train (or its run folder)")
    evaluate.add_argument("--device", default="cpu")
    evaluate.set_defaults(run=run_eval)

    predict = subparsers.add_parser(
        "predict",
        help="write prediction masks (PNG for 2D, .npy/.nii.gz for 3D), reconstructions (autoencoders), or "
        "detections (JSON beside a 16-bit PNG / .npy instance-label image), or a caption (JSON, or text for .txt)",
    )
    predict.add_argument("checkpoint", help="checkpoint.npz written by tgm train (or its run folder)")
    predict.add_argument("--input", help=".npy, .png, .tif or .nii/.nii.gz image (default: the held-out test set)")
    predict.add_argument("--output", help="file to write (default: beside the checkpoint, prediction.png/.npy)")
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=run_predict)


def run_train(args):
    """``tgm train``: build or resume a run in --out and train it; 0 on success, 130 after Ctrl-C."""
    from .train import Trainer, make_config, prepare_out

    if args.resume and args.overwrite:
        raise ValueError(fmt("tgm train", "--resume continues the run in --out, --overwrite replaces it; pass one"))
    options = (args.epochs, args.batch_size, args.lr, args.optimizer or "adam", args.device, args.seed or 0)
    config = make_config(args.model, args.data, *options, args.prefetch, args.data_path)
    out = os.path.join("runs", f"{config['model']}-{config['data']}") if args.out is None else args.out
    if not out.strip():
        raise ValueError(fmt("tgm train", f"--out {out!r} names no folder", hint="leave it out for runs/MODEL-DATA"))
    with run_folder.claim(out) as notes:
        _print_notes(notes)
        prepare_out(out, resume=args.resume, overwrite=args.overwrite)
        trainer = _resumed(args, config, out) if args.resume else Trainer(config, out, progress=not args.quiet)
        if not trainer.train_loader.drop_last:
            samples = len(trainer.train_set)
            size = f"--batch-size {trainer.config['batch_size']} is larger than the training set ({samples} samples)"
            _print_notes([f"{size}; each epoch is one batch of {samples}"])
        try:
            if args.overwrite:
                run_folder.set_aside(out)  # only now: the new run's data, model and device are checked
            return _fit(trainer, out)
        finally:
            _print_notes(run_folder.settle(out))


def _print_notes(notes):
    for note in notes:
        print(f"tgm train: {note}", file=sys.stderr, flush=True)


def _resumed(args, config, out):
    """The Trainer of the run in ``out``, restored from its checkpoint; refuses options that would change it."""
    from .train import Trainer, load_checkpoint

    path = os.path.join(out, "checkpoint.npz")
    checkpoint = load_checkpoint(path, config["model"], args.data)
    saved = dict(checkpoint["config"])
    for key, option in _FIXED_ON_RESUME:
        if getattr(args, key) is not None and config[key] != saved[key]:
            problem = f"--resume continues the run as configured; {option} {config[key]} differs from its {saved[key]}"
            raise ValueError(fmt("tgm train", problem, hint="leave it out, or start a new run (another --out)"))
    done = int(checkpoint["epoch"])
    if args.epochs is not None and config["epochs"] < done:
        raise ValueError(fmt("tgm train", f"--resume --epochs {config['epochs']}: the run has done {done} epochs"))
    saved.update({"device": config["device"], "prefetch": config["prefetch"]})
    saved["epochs"] = config["epochs"] if args.epochs is not None else saved["epochs"]
    trainer = Trainer(saved, out, progress=not args.quiet)
    trainer.load_state(checkpoint, path)
    _print_notes(filter(None, [run_folder.repair_log(out, trainer.history)]))
    print(f"resuming {out} at epoch {trainer.epoch + 1}, step {trainer.step}", flush=True)
    return trainer


def _fit(trainer, out):
    """Train and print the summary; a Ctrl-C outside the loop (a second one, or in the final evaluation)
    says what is kept."""
    try:
        summary = trainer.fit()
    except KeyboardInterrupt:
        path = os.path.join(out, "checkpoint.npz")
        kept = f"{path} is kept; --resume continues from it" if os.path.exists(path) else "no checkpoint was written"
        raise KeyboardInterrupt(f"tgm train: interrupted (Ctrl-C); {kept}") from None
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
