"""``tgm train --distributed`` (under mpiexec) and ``tgm train --nproc N`` (starts mpiexec itself).

Lecture: "MORE ON OPTIMIZATION" (mini-batch SGD over W ranks: the mean of W shard gradients is the
gradient of the whole batch).  What changes in the loop (training/loop.py) when ``comm`` is given:

- --batch-size stays the global batch B (so a run's config, and its checkpoint, do not depend on
  W): each rank trains on B/W samples from ``DistributedSampler``'s shard, and the W shards of
  step t are exactly the one-process batch t (distributed/sampler.py);
- the model is wrapped in DistributedDataParallel (rank 0's weights broadcast at the start,
  gradients averaged after backward); --sync-bn turns batch norm into SyncBatchNorm, which makes
  W ranks compute what one process computes (without it each rank normalises with its shard's
  statistics, as PyTorch's DDP does); a loss that is a mean over samples then gives exactly the
  one-process step, and so does the segmentation objective's soft Dice, a ratio of batch sums: its
  sums are all-reduced over the ranks (``objective.comm``, distributed/global_sum.py), so every
  rank's Dice is that of the global batch, not one of B/W samples; a mean over the targets not
  ignored (captioning's tokens, parcellation's labelled vertices) counts those of every rank
  (``Classification.global_mean``). Cross-entropy and the other per-sample means need nothing:
  DistributedSampler gives every rank a shard of the same size, so their mean is exact;
- the epoch's running sums (loss, metric counts) are summed over ranks before they are logged;
- rank 0 alone evaluates and writes the run folder (log, checkpoint, pictures, summary) and shows
  the progress bar; the checkpoint holds the one model every rank has, so a run resumes with any W,
  including one process without --distributed;
- a Ctrl-C on any rank stops every rank after the same step (the stop flag is all-reduced);
- an exception on any rank prints its message and aborts every rank, and a collective that waits
  longer than TGM_DIST_TIMEOUT seconds (default 300) aborts them all too (distributed/comm.py).
"""

import os
import shutil
import subprocess
import sys

import numpy

from ..data import MissingPackageError
from ..distributed import (
    INSTALL_HINT,
    DistributedDataParallel,
    DistributedLoader,
    DistributedSampler,
    convert_sync_batchnorm,
    init_process_group,
    mpi_unavailable_reason,
)
from ..errors import fmt

__all__ = ["join", "distribute", "reduce_partial", "any_rank", "launch", "RELAUNCHED"]

_LOCAL_KEYS = ("seconds", "wait")  # per-rank times in an epoch's running sums: kept, not summed
RELAUNCHED = (("data", "--data"), ("data_path", "--data-path"), ("epochs", "--epochs"))
RELAUNCHED += (("batch_size", "--batch-size"), ("lr", "--lr"), ("optimizer", "--optimizer"))
RELAUNCHED += (("device", "--device"), ("seed", "--seed"), ("prefetch", "--prefetch"), ("out", "--out"))
RELAUNCHED += (("export", "--export"),)
FLAGS = (("resume", "--resume"), ("overwrite", "--overwrite"), ("quiet", "--quiet"), ("sync_bn", "--sync-bn"))


def join(device):
    """This process's Communicator (NCCL for --device cuda, MPI otherwise); one line if mpi4py is missing."""
    reason = mpi_unavailable_reason()
    if reason is not None:
        raise MissingPackageError(fmt("tgm train", f"--distributed needs mpi4py and mpiexec; {INSTALL_HINT}"))
    return init_process_group("nccl" if str(device).startswith("cuda") else "mpi")


def distribute(trainer, comm, sync_bn=False):
    """Make ``trainer`` one of comm.size data-parallel ranks: sharded loader, DDP, optionally SyncBatchNorm.

    Raises:
        ValueError if the global --batch-size is not a multiple of the number of ranks.
    """
    config, loader = trainer.config, trainer.train_loader
    if config["batch_size"] % comm.size:
        problem = f"--batch-size {config['batch_size']} (the global batch) is not a multiple of the {comm.size} ranks"
        raise ValueError(fmt("tgm train --distributed", problem, hint=f"use a multiple of {comm.size}"))
    if sync_bn:
        convert_sync_batchnorm(trainer.model, comm)  # in place: the optimizer's Parameters are the same objects
    sampler = DistributedSampler(trainer.train_set, comm.size, comm.rank, True, config["seed"], loader.drop_last)
    per_rank = config["batch_size"] // comm.size
    trainer.train_loader = DistributedLoader(
        trainer.train_set, per_rank, sampler, loader.drop_last, loader.collate_fn, config["prefetch"]
    )
    trainer.ddp = DistributedDataParallel(trainer.model, comm)
    if hasattr(trainer.objective, "comm"):  # batch-global loss terms (segmentation's Dice) sum over every rank
        trainer.objective.comm = comm


def reduce_partial(comm, partial):
    """The epoch's running sums (numbers) summed over ranks, in place; per-rank times stay this rank's."""
    keys = [k for k, v in partial.items() if isinstance(v, (int, float)) and k not in _LOCAL_KEYS]
    values = numpy.array([partial[k] for k in keys], dtype=numpy.float64)
    comm.allreduce(values, "all-reduce of the epoch's running sums")
    for key, value in zip(keys, values):
        partial[key] = int(value) if isinstance(partial[key], int) else float(value)


def any_rank(comm, flag):
    """True on every rank if ``flag`` is true on any (a stop request seen by one rank stops all after this step)."""
    value = numpy.array([1.0 if flag else 0.0])
    return bool(comm.allreduce(value, "all-reduce of the stop flag")[0] > 0)


def launch(args):
    """``tgm train --nproc N``: run this command under ``mpiexec -n N ... --distributed``; its exit status.

    Each rank is bound to its share of the cores (``-bind-to core:K``, K = cores // N): the convolution
    sizes its thread pool from the affinity, so N ranks do not each start threads for every core
    (on 2 shared cores, 2 unbound ranks ran 0.7-0.8x one process; bound, 1.2-1.3x one bound rank).

    Raises:
        ValueError for N < 1 or --nproc with --distributed; ImportError naming the package when
        mpi4py or mpiexec is missing (MissingPackageError).
    """
    if args.nproc < 1:
        raise ValueError(fmt("tgm train", f"--nproc must be >= 1, got {args.nproc}"))
    if args.distributed:
        raise ValueError(fmt("tgm train", "--nproc starts mpiexec itself; under mpiexec pass --distributed alone"))
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if mpi_unavailable_reason() is not None or mpiexec is None:
        raise MissingPackageError(fmt("tgm train", f"--nproc needs mpi4py and mpiexec; {INSTALL_HINT}"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    bind = ["-bind-to", f"core:{max(1, cores // args.nproc)}"]  # each rank its own cores: threads do not collide
    command = [mpiexec, *bind, "-n", str(args.nproc), sys.executable, "-m", "tinygrad_med", "train", args.model]
    for key, option in RELAUNCHED:
        if getattr(args, key, None) is not None:
            command += [option, str(getattr(args, key))]
    command += [option for key, option in FLAGS if getattr(args, key, False)] + ["--distributed"]
    command += ["--debug"] if getattr(args, "debug", False) else []
    process = subprocess.Popen(command)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # mpiexec got the Ctrl-C too: the ranks finish the step, save and stop
            continue
