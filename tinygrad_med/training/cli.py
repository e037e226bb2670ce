"""``tgm train``, ``tgm eval`` and ``tgm predict``: argument parsing and the three handlers.

The loop itself is loop.py; tinygrad_med/cli.py calls ``add_commands(subparsers)``.
Bad input (an unknown model or dataset, a foreign or corrupt checkpoint, an --out folder holding a
previous run, a missing dataset package) raises an error that cli.main prints as one line, exit 2.

``tgm train`` checks everything (names, numbers, device, data, model, the checkpoint to resume)
before it replaces or extends anything in --out, holds the folder's lock while it runs, and
recovers what a killed run left behind (training/run_folder.py).
"""

import contextlib
import json
import os
import sys

import numpy

from ..errors import fmt
from ..models import MODELS
from . import run_folder

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
    from ..data.registry import DATASETS

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
    train.add_argument("--export", help="also write the final weights (.safetensors or .npz; over a file: --overwrite)")
    train.add_argument(
        "--distributed", action="store_true", help="one of the data-parallel ranks of mpiexec -n N (MPI; NCCL on cuda)"
    )
    train.add_argument("--nproc", type=int, help="start mpiexec -n NPROC with --distributed (--batch-size is global)")
    train.add_argument("--sync-bn", action="store_true", help="with --distributed: batch norm over the global batch")
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
    predict.add_argument("--overlay", help="also write the mask over the image as an RGB picture (.png)")
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=run_predict)


def run_train(args):
    """``tgm train``: build or resume a run in --out and train it; 0 on success, 130 after Ctrl-C.

    --nproc N runs the command under mpiexec; --distributed makes this process one of mpiexec's ranks,
    where an error on any rank prints its message and stops every rank (training/parallel.py)."""
    from ..distributed import abort_on_error
    from . import parallel

    if getattr(args, "nproc", None) is not None:
        return parallel.launch(args)
    if getattr(args, "sync_bn", False) and not args.distributed:
        raise ValueError(fmt("tgm train", "--sync-bn applies to data-parallel runs; add --distributed or --nproc N"))
    if not getattr(args, "distributed", False):
        return _train(args, None)
    comm = parallel.join(args.device)
    with abort_on_error(comm):
        return _train(args, comm)


def _train(args, comm):
    """The run of ``tgm train`` on one process or one rank (rank 0 alone touches --out)."""
    from ..serialization import check_weights_path
    from .loop import Trainer, make_config, prepare_out

    if args.resume and args.overwrite:
        raise ValueError(fmt("tgm train", "--resume continues the run in --out, --overwrite replaces it; pass one"))
    options = (args.epochs, args.batch_size, args.lr, args.optimizer or "adam", args.device, args.seed or 0)
    config = make_config(args.model, args.data, *options, args.prefetch, args.data_path)
    out = os.path.join("runs", f"{config['model']}-{config['data']}") if args.out is None else args.out
    if not out.strip():
        raise ValueError(fmt("tgm train", f"--out {out!r} names no folder", hint="leave it out for runs/MODEL-DATA"))
    if args.export:
        check_weights_path(args.export, overwrite=args.overwrite)  # refused before the run folder is touched
    writer = comm is None or comm.rank == 0
    with run_folder.claim(out) if writer else contextlib.nullcontext([]) as notes:
        _print_notes(notes)
        if writer:
            prepare_out(out, resume=args.resume, overwrite=args.overwrite)
        if comm is not None:
            comm.barrier("waiting for rank 0 to prepare --out")
        sync_bn = getattr(args, "sync_bn", False)
        if args.resume:
            trainer = _resumed(args, config, out, comm)
        else:
            trainer = Trainer(config, out, progress=not args.quiet, comm=comm, sync_bn=sync_bn)
        if writer and not trainer.train_loader.drop_last:
            samples = len(trainer.train_set)
            size = f"--batch-size {trainer.config['batch_size']} is larger than the training set ({samples} samples)"
            _print_notes([f"{size}; each epoch is one batch of {samples}"])
        try:
            if args.overwrite and writer:
                run_folder.set_aside(out)  # only now: the new run's data, model and device are checked
            return _fit(trainer, out, args.export, args.overwrite)
        finally:
            if writer:
                _print_notes(run_folder.settle(out))


def _print_notes(notes):
    for note in notes:
        print(f"tgm train: {note}", file=sys.stderr, flush=True)


def _resumed(args, config, out, comm=None):
    """The Trainer of the run in ``out``, restored from its checkpoint; refuses options that would change it."""
    from .loop import Trainer, load_checkpoint

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
    trainer = Trainer(saved, out, progress=not args.quiet, comm=comm, sync_bn=getattr(args, "sync_bn", False))
    trainer.load_state(checkpoint, path)
    if trainer.writer:
        _print_notes(filter(None, [run_folder.repair_log(out, trainer.history)]))
        print(f"resuming {out} at epoch {trainer.epoch + 1}, step {trainer.step}", flush=True)
    return trainer


def _fit(trainer, out, export=None, overwrite=False):
    """Train and print the summary (and write ``export``, the final weights); a Ctrl-C outside the loop
    (a second one, or in the final evaluation) says what is kept."""
    from ..serialization import check_weights_path, save

    try:
        summary = trainer.fit()
    except KeyboardInterrupt:
        path = os.path.join(out, "checkpoint.npz")
        kept = f"{path} is kept; --resume continues from it" if os.path.exists(path) else "no checkpoint was written"
        raise KeyboardInterrupt(f"tgm train: interrupted (Ctrl-C); {kept}") from None
    if summary["interrupted"]:
        if trainer.writer:
            print(f"stopped; checkpoint saved in {out}; continue with --resume", flush=True)
        return 130
    if not trainer.writer:  # another rank of a distributed run: rank 0 reports
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=1))
    print(f"wrote {out}/checkpoint.npz, log.jsonl, curves.png, {', '.join(trainer.objective.pictures)}, summary.json")
    if export:
        check_weights_path(export, overwrite=overwrite)  # again: it may have appeared while training
        save(trainer.model.state_dict(), export)
        print(f"wrote {export}: the final weights (state_dict)")
    return 0


def _trainer_from(path, device):
    from .loop import Trainer, load_checkpoint

    path = os.path.join(path, "checkpoint.npz") if os.path.isdir(path) else path
    checkpoint = load_checkpoint(path)
    config = dict(checkpoint["config"], device=device, prefetch=0)
    trainer = Trainer(config, os.path.dirname(path) or ".", progress=False)
    trainer.load_state(checkpoint, path)
    return trainer


def run_eval(args):
    """``tgm eval``: print the held-out metrics (and dataset extras) of a checkpoint as JSON."""
    from .metrics import dataset_report as report

    trainer = _trainer_from(args.checkpoint, args.device)
    result = trainer.evaluate()
    values = {"test_" + k: v for k, v in result["metrics"].items()}
    values.update(report(trainer.config["data"], trainer.test_set, result["predictions"]))
    print(json.dumps(values, indent=1))
    return 0


def run_predict(args):
    """``tgm predict``: write the predicted label mask of --input (default: the first test sample), its
    reconstruction for an autoencoder or VAE, its detections, or its caption (what the run's objective predicts).
    The output is checked before the model runs (training/predict_io.py) and the path written is printed."""
    from ..function import no_grad
    from ..tensor import Tensor
    from .predict_io import FORMATS, check_output, pad, plan_outputs, read_image, write_image, write_mask, write_overlay

    trainer = _trainer_from(args.checkpoint, args.device)
    objective, kind = trainer.objective, getattr(trainer.objective, "prediction", None)
    folder = args.checkpoint if os.path.isdir(args.checkpoint) else os.path.dirname(os.path.abspath(args.checkpoint))
    if hasattr(objective, "predict_test"):  # graphs: the held-out hemisphere or patches
        if args.input:
            raise ValueError(f"tgm predict: a {objective.name} run predicts its held-out split; drop --input")
        kind = objective.graph_prediction
        default = os.path.join(folder, "prediction" + FORMATS[kind][0])
        output = check_output(args.output or default, kind, args.output is not None)
        with no_grad():
            print(objective.predict_test(trainer.model.eval(), trainer.test_set, output))
        return 0
    if objective.name.endswith("classification"):
        raise ValueError(f"tgm predict writes masks; model {trainer.config['model']!r} is a classifier")
    spatial_dims = trainer.test_set[0][0].ndim - 1  # (C, *S)
    output, overlay = plan_outputs(args.output, args.overlay, args.input, kind, folder, spatial_dims)
    skipped = 0
    if args.input:
        (image, skipped), reference = read_image(args.input, spatial_dims), args.input
    else:
        image, reference = trainer.test_set[0][0], None
    trainer.model.eval()
    with no_grad():
        batch = Tensor(pad(image, objective.pad_multiple(trainer.model))[None]).to(args.device)
        if hasattr(objective, "write_prediction"):  # detections (JSON + instance image); a caption (JSON or text)
            print(objective.write_prediction(trainer.model, batch, output))
            return 0
        predicted = numpy.asarray(objective.predict(trainer.model, batch))[0]
    predicted = predicted[(Ellipsis,) + tuple(slice(0, s) for s in image.shape[1:])]
    note = f"; {skipped} NaN/infinite input pixels were left out of the scaling and set to 0" if skipped else ""
    if kind == "image":
        write_image(predicted, output)
        print(f"wrote {output}: reconstruction, shape {predicted.shape}{note}")
        return 0
    dtype = write_mask(predicted, output, trainer.num_classes, reference)
    ids = sorted(int(v) for v in numpy.unique(predicted))
    print(f"wrote {output}: class ids {ids} ({dtype}, one channel), shape {predicted.shape}{note}")
    if overlay is not None:
        write_overlay(image, predicted, overlay, trainer.num_classes)
        print(f"wrote {overlay}: the mask over the image (a picture to look at, not a mask)")
    return 0
