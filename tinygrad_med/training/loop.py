"""The training loop behind ``tgm train``, ``tgm eval`` and ``tgm predict``.

Lecture: "CNN REFRESHER" and "MORE ON OPTIMIZATION" (mini-batch stochastic gradient descent:
forward, loss, backward, update), "SEMANTIC SEGMENTATION" (Dice + cross-entropy for U-Net/V-Net) and
"CONVOLUTION AUTOENCODER: GOING UNSUPERVISED" (autoencoder, VAE, Probabilistic U-Net).

    tgm train unet --data nuclei            # U-Net on the BBBC038 nuclei image, held-out Dice
    tgm train cnn --data digits             # small CNN on scikit-learn's digits, test accuracy
    tgm train unet3d --data mni152          # 3D U-Net on MNI152 patches, GM/WM Dice
    tgm train vae --data digits             # VAE on the digits, held-out negative ELBO
    tgm train prob_unet --data nuclei       # Probabilistic U-Net, Dice of the mean of 16 samples
    tgm train maskrcnn --data nuclei        # Mask R-CNN on the nuclei's instances, detection F1, mask Dice

The loop is the same for every model: the run's objective (training/objectives/: classification,
segmentation, reconstruction, variational reconstruction, probabilistic segmentation; detection and
instance segmentation in objectives/detection.py) gives the loss,
the training and held-out metrics, the pictures and what ``tgm predict`` writes.

One run writes into --out (default runs/MODEL-DATA):

    checkpoint.npz  model, optimizer, scheduler, epoch, step, RNG state, config, history (tm.save,
                    after every epoch and on Ctrl-C)
    log.jsonl       one JSON line per epoch: losses, metrics, learning rate, times, data-wait share
    curves.png      loss and metric per epoch; predictions.png: held-out overlays (or inputs over
                    reconstructions); samples.png, interpolation.png for the generative models
    summary.json    the final held-out metrics (and dataset extras such as a threshold baseline)

A NaN or Inf loss or gradient stops the run before the update (NonFiniteError naming the epoch, the
step and, where autograd has detect_anomaly, the op); the checkpoint on disk stays the last finite one.

Resuming is exact: the batches of epoch e (their order and augmentation) are a function of
(seed, e) only (tinygrad_med/data/dataset.py), and the checkpoint holds every other piece of state,
so ``--resume`` after an interruption reaches the same weights as an uninterrupted run.

The run's configuration (make_config, each model's default dataset, the optimizers) is
training/run_config.py; the run folder's files and checkpoint checks are run_folder.py.
"""

import contextlib
import json
import math
import os
import signal
import threading
import time

import numpy

from .. import autograd
from ..backend import get_xp
from ..cpu_threads import blas_thread_limit
from ..data import DataLoader
from ..data.registry import get_dataset
from ..errors import CheckpointError, fmt
from ..function import no_grad
from ..models import create_model
from ..random import get_rng_state, manual_seed, set_rng_state
from ..serialization import save
from . import parallel, plots
from .metrics import dataset_report
from .objectives import dataset_view, make_objective
from .run_config import make_config, make_optimizer
from .run_folder import CHECKPOINT_FORMAT, RUN_FILES, load_checkpoint, prepare_out

__all__ = [
    "Trainer",
    "NonFiniteError",
    "make_config",
    "load_checkpoint",
    "prepare_out",
    "RUN_FILES",
]


class NonFiniteError(ValueError):
    """The loss or a gradient became NaN or Inf: the run stops before the update, its last checkpoint kept."""


class Trainer:
    """Everything one run needs: data, model, optimizer, scheduler, and the loop over epochs.

    Args:
        config: from ``make_config``.
        out: the run's folder (created if needed; use ``prepare_out`` first to protect old runs).
        progress: show a tqdm bar per epoch.
        comm: a distributed Communicator: this Trainer is one of comm.size data-parallel ranks
            (training/parallel.py); rank 0 alone evaluates, writes and shows progress.
        sync_bn: with comm, batch norm becomes SyncBatchNorm (statistics of the global batch).
    """

    def __init__(self, config, out, progress=True, comm=None, sync_bn=False):
        from ..optim.lr_scheduler import CosineAnnealingLR

        self.config, self.out, self.comm, self.ddp = dict(config), os.fspath(out), comm, None
        self.writer = comm is None or comm.rank == 0  # the rank that evaluates and writes the run folder
        self.progress = progress and self.writer
        manual_seed(config["seed"])
        view = dataset_view(config["model"])  # the detection models read the nuclei image's instances
        self.train_set = get_dataset(config["data"], "train", config.get("data_path"), view)
        self.test_set = get_dataset(config["data"], "test", config.get("data_path"), view)
        self.task = self.train_set.task
        self.num_classes = self.train_set.num_classes
        self.objective = make_objective(config["model"], self.train_set, config["device"], config["data"])
        options = self.objective.model_options(self.train_set)
        model = create_model(config["model"], self.train_set.in_channels, self.num_classes, **options)
        self.model = model.to(config["device"])
        self.optimizer = make_optimizer(config["optimizer"], self.model.parameters(), config["lr"])
        self.scheduler = CosineAnnealingLR(self.optimizer, T_max=config["epochs"])
        self.train_loader = DataLoader(
            self.train_set,
            config["batch_size"],
            shuffle=True,
            drop_last=config["batch_size"] <= len(self.train_set),  # a set smaller than a batch: one batch of all
            collate_fn=getattr(self.objective, "collate_fn", None),  # detection: a list of targets
            seed=config["seed"],
            prefetch=config["prefetch"],
        )
        collate = getattr(self.objective, "collate_fn", None)
        self.test_loader = DataLoader(self.test_set, self.objective.eval_batch, shuffle=False, collate_fn=collate)
        self.epoch, self.step, self.partial, self.history = 0, 0, self.objective.fresh_partial(), []
        self.stop_requested, self.last_eval, self.last_plot = False, None, time.perf_counter()
        if comm is not None:
            parallel.distribute(self, comm, sync_bn)

    # ------------------------------------------------------------------ the loop
    def fit(self, on_step=None):
        """Train until config['epochs'], or until a stop is requested (Ctrl-C); return the summary.

        Args:
            on_step: optional callback(trainer) after every optimizer step (tests use it to stop mid-epoch).
        Returns:
            dict with the last epoch's log entry, dataset extras, and 'interrupted'.
        """
        if self.writer:
            os.makedirs(self.out, exist_ok=True)
        previous = _install_sigint(self)
        try:
            with blas_thread_limit(getattr(self.objective, "blas_threads", None)):  # 1 where products are small
                while self.epoch < self.config["epochs"]:
                    finished = self.train_epoch(on_step)
                    if not finished:
                        if self.comm is not None:  # the checkpoint holds the running sums of every rank
                            parallel.reduce_partial(self.comm, self.partial)
                        self.save_checkpoint()
                        if self.history:
                            self.draw_curves()
                        return {"interrupted": True, "epoch": self.epoch, "step": self.step}
                    self.end_epoch()
        finally:
            _restore_sigint(previous)
        return self.finish()

    def train_epoch(self, on_step=None):
        """One pass over the training batches (from self.step on); False if stopped early."""
        from tqdm import tqdm

        self.model.train()
        self.train_loader.set_epoch(self.epoch, start_batch=self.step)
        started = time.perf_counter()
        bar = tqdm(
            self.train_loader,
            total=len(self.train_loader),
            initial=self.step,
            disable=not self.progress,
            desc=f"epoch {self.epoch + 1}/{self.config['epochs']}",
            leave=True,
            dynamic_ncols=True,
        )
        for x, y in bar:
            loss, extra = self.train_step(x, y)
            self.step += 1
            self.objective.accumulate(self.partial, loss, extra, y.numpy())
            bar.set_postfix(
                loss=f"{self.partial['loss_sum'] / self.partial['count']:.4f}",
                refresh=False,
                **{k: f"{v:.4f}" for k, v in self.objective.partial_metrics(self.partial).items()},
            )
            if on_step is not None:
                on_step(self)
            if self.stop_requested if self.comm is None else parallel.any_rank(self.comm, self.stop_requested):
                bar.close()
                return False
        bar.close()
        self.partial["seconds"] = time.perf_counter() - started
        self.partial["wait"] = self.train_loader.wait_time
        return True

    def train_step(self, x, y):
        """Forward, the objective's loss, backward, update; returns the loss value and what the
        objective's running metrics need (the predicted labels, or the loss's terms)."""
        x, y = x.to(self.config["device"]), y.to(self.config["device"])
        with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are caught below
            loss, extra = self.objective.loss(self.model, x, y)
            value = loss.item()
            if not math.isfinite(value):
                self.stop_non_finite(f"the loss is {value}", x, y)
            self.optimizer.zero_grad()
            loss.backward()
            if self.ddp is not None:
                self.ddp.reduce_gradients()  # the mean over ranks: every rank takes the same step
            name = _non_finite_gradient(self.model)
            if name is not None:
                self.stop_non_finite(f"the gradient of {name} holds NaN or Inf (the loss is {value:.4g})", x, y)
        self.optimizer.step()
        return value, extra

    def stop_non_finite(self, problem, x, y):
        """Raise NonFiniteError naming the step, the likely cause and (where autograd can tell) the op.

        Nothing is updated or saved: the checkpoint on disk is the last one with finite weights.
        """
        where = f"epoch {self.epoch + 1}, step {self.step + 1} of {len(self.train_loader)}"
        op = self.find_anomalous_op(x, y)
        xp = get_xp(x.data)
        if not bool(xp.isfinite(x.data).all()):
            hint = "the batch's inputs hold NaN or Inf; check the data"
        else:
            hint = f"lower --lr (it is {self.config['lr']:g})"
        path = os.path.join(self.out, "checkpoint.npz")
        kept = f"{path} was kept as it was" if os.path.exists(path) else "no checkpoint was written"
        detail = f" in {op}" if op else ""
        raise NonFiniteError(fmt("tgm train", f"{problem} at {where}{detail}; stopped, {kept}", hint=hint))

    def find_anomalous_op(self, x, y):
        """Re-run the failing step under ``autograd.detect_anomaly`` (when autograd has it and the run is not
        distributed: the other ranks are in another collective); its message or None."""
        detect_anomaly = getattr(autograd, "detect_anomaly", None)
        if detect_anomaly is None or self.comm is not None:  # one rank alone must not enter collectives
            return None
        self.optimizer.zero_grad()
        try:
            with detect_anomaly():
                loss, _ = self.objective.loss(self.model, x, y)
                loss.backward()
        except Exception as error:  # the anomaly it names (whatever its error class)
            return str(error)
        finally:
            self.optimizer.zero_grad()
        return None

    @property
    def metric_name(self):
        """The held-out metric drawn in curves.png (accuracy, dice, recon_bce or neg_elbo)."""
        return self.objective.metric_name

    def end_epoch(self):
        """Evaluate, log one line, step the scheduler, checkpoint, and draw the curves (rank 0 of a distributed run)."""
        if self.comm is not None:
            parallel.reduce_partial(self.comm, self.partial)
        entry = {
            "epoch": self.epoch + 1,
            "train_loss": self.partial["loss_sum"] / max(self.partial["count"], 1),
            **{"train_" + k: v for k, v in self.objective.partial_metrics(self.partial).items()},
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(self.partial["seconds"], 3),
            "data_wait_share": round(self.partial["wait"] / max(self.partial["seconds"], 1e-9), 4),
        }
        if self.writer:
            self.last_eval = self.evaluate()
            entry.update({"test_" + k: v for k, v in self.last_eval["metrics"].items()})
        self.history.append(entry)
        self.scheduler.step()
        self.epoch, self.step, self.partial = self.epoch + 1, 0, self.objective.fresh_partial()
        if not self.writer:
            return
        self.save_checkpoint()  # first: the checkpoint is the truth; a missing log line is rebuilt from it
        with open(os.path.join(self.out, "log.jsonl"), "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        if (
            time.perf_counter() - self.last_plot > 10.0
        ):  # redrawn at most every 10 s (matplotlib is slow), and at the end
            self.draw_curves()
        if self.progress:
            shown = {k: round(v, 4) for k, v in entry.items() if k.startswith("test_")}
            print(f"epoch {entry['epoch']}: loss {entry['train_loss']:.4f} held-out {shown}", flush=True)

    def evaluate(self):
        """Held-out metrics over the whole test split, and what the pictures need (the objective's)."""
        with _eval_mode(self.model):
            return self.objective.evaluate(self.model, self.test_loader)

    def finish(self):
        """Final evaluation, pictures and summary.json (rank 0; another rank returns {'interrupted': False})."""
        if not self.writer:
            return {"interrupted": False, "epoch": self.epoch, "step": self.step}
        result = self.last_eval if self.last_eval is not None else self.evaluate()
        summary = {"interrupted": False, "epochs": self.epoch, "config": self.config}
        summary.update({"test_" + k: v for k, v in result["metrics"].items()})
        summary.update(dataset_report(self.config["data"], self.test_set, result["predictions"]))
        summary["train_seconds"] = round(sum(h["seconds"] for h in self.history), 2)
        waits = [h["data_wait_share"] * h["seconds"] for h in self.history]
        summary["data_wait_share"] = round(sum(waits) / max(summary["train_seconds"], 1e-9), 4)
        self.draw_predictions(result)
        self.draw_curves()
        with open(os.path.join(self.out, "summary.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
        return summary

    def draw_curves(self):
        if not self.writer:
            return
        plots.plot_curves(self.history, os.path.join(self.out, "curves.png"), self.metric_name)
        self.last_plot = time.perf_counter()

    def draw_predictions(self, result):
        """predictions.png (and the objective's other pictures) from an ``evaluate`` result."""
        with _eval_mode(self.model):
            self.objective.draw(self.model, result, self.out)

    # ------------------------------------------------------------------ checkpoints
    def state(self):
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "partial": dict(self.partial),
            "rng": get_rng_state(),
            "history": self.history,
            **({"objective": self.objective.state()} if hasattr(self.objective, "state") else {}),
        }

    def save_checkpoint(self):
        """Write checkpoint.npz atomically; an OSError (full disk, read-only folder) says what was kept."""
        if not self.writer:
            return
        path = os.path.join(self.out, "checkpoint.npz")
        try:
            save(self.state(), path)
        except OSError as error:
            kept = "the previous checkpoint was kept as it was" if os.path.exists(path) else "no checkpoint was written"
            problem = f"could not write {path} ({error.strerror or error}); {kept}"
            raise OSError(error.errno, fmt("tgm train", problem)) from error

    def load_state(self, checkpoint, path):
        """Restore a checkpoint read by ``load_checkpoint`` (its model must match this run's)."""
        try:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            if hasattr(self.objective, "load_state"):  # the captioner's vocabulary
                self.objective.load_state(checkpoint["objective"])
        except (CheckpointError, KeyError, ValueError, TypeError) as error:
            raise CheckpointError(
                fmt(
                    "tgm",
                    f"checkpoint {path} does not fit model {self.config['model']!r}: {error}",
                    hint="the file was left as it is",
                )
            ) from error
        self.epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.partial, self.history = dict(checkpoint["partial"]), list(checkpoint["history"])
        set_rng_state(checkpoint["rng"])
        if self.scheduler.T_max != self.config["epochs"]:  # --resume --epochs N: the cosine is re-planned to end at N
            self.scheduler.T_max = self.config["epochs"]
            self.scheduler.step(self.scheduler.last_epoch)

    def request_stop(self):
        """Finish the current step, save a checkpoint and return (what Ctrl-C does)."""
        self.stop_requested = True


def _non_finite_gradient(model):
    """The name of the first parameter whose gradient holds NaN or Inf, or None."""
    for name, param in model.named_parameters():
        if param.grad is not None:
            xp = get_xp(param.grad.data)
            if not bool(xp.isfinite(param.grad.data).all()):
                return name
    return None


@contextlib.contextmanager
def _eval_mode(model):
    """The model in eval mode (batch norm's running statistics, no dropout) and no graph, then back to training."""
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train()


def _install_sigint(trainer):
    """Ctrl-C sets a flag the loop checks after each step; a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        if trainer.writer:  # a distributed run: mpiexec passes the Ctrl-C to every rank; rank 0 says it
            print("\nCtrl-C: finishing this step, saving a checkpoint (Ctrl-C again to abort) ...", flush=True)
        trainer.request_stop()

    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous):
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
