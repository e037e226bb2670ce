"""Programs the distributed tests run under ``mpiexec -n 2`` (tests/test_distributed.py).

python3 tests/distributed_worker.py equivalence   rank 0 prints RESULT {json}: the largest difference
                                                   between 2 ranks and 1 process after 4 steps
python3 tests/distributed_worker.py dice          rank 0 prints RESULT {json}: the largest difference
                                                   between the gradients of 2 ranks and 1 process of
                                                   Dice + CE and of CE with ignored labels
python3 tests/distributed_worker.py kill          rank 1 SIGKILLs itself before the second all-reduce
python3 tests/distributed_worker.py raise         rank 1 raises before the second all-reduce
python3 tests/distributed_worker.py hang          rank 1 sleeps instead of calling the second all-reduce
"""

import functools
import json
import os
import signal
import sys
import time

import numpy

import tinygrad_med as tm
from tinygrad_med import distributed as dist
from tinygrad_med import nn
from tinygrad_med.data import DataLoader, TensorDataset
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.dice import dice_ce_loss

B, N, EPOCHS = 8, 20, 2  # global batch; samples (not a multiple of B: the last partial batch is dropped); 4 steps


def make_model(batch_norm):
    tm.manual_seed(1)
    layers = [nn.Conv2d(2, 4, 3, padding=1)] + ([nn.BatchNorm2d(4)] if batch_norm else [])
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)).double()


def train(model, batches, ddp=None):
    optimizer = tm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        loss = F.cross_entropy((ddp or model)(x), y)
        optimizer.zero_grad()
        if ddp is not None:
            ddp.events = []
        loss.backward()
        if ddp is not None:  # every bucket's all-reduce started during backward, last layers' first
            assert ddp.events == [("start", k) for k in range(len(ddp.buckets))], ddp.events
            ddp.reduce_gradients()
        optimizer.step()
    return {k: v.numpy() for k, v in model.state_dict().items()}


def largest_difference(a, b):
    return max(float(numpy.abs(a[k].astype(numpy.float64) - b[k]).max()) for k in a)


def equivalence(comm):
    rng = numpy.random.default_rng(0)
    data = TensorDataset(rng.standard_normal((N, 2, 5, 5)), rng.integers(0, 3, N))
    one = DataLoader(data, B, shuffle=True, drop_last=True, seed=3)
    sampler = dist.DistributedSampler(data, comm.size, comm.rank, shuffle=True, seed=3, drop_last=True)
    mine = dist.DistributedLoader(data, B // comm.size, sampler, drop_last=True)
    result = {}
    for case, batch_norm, sync in (("plain", False, False), ("syncbn", True, True), ("bn_unsynced", True, False)):
        model = make_model(batch_norm)
        model = dist.convert_sync_batchnorm(model, comm) if sync else model
        mine.set_epoch(0)
        parallel = train(model, [b for _ in range(EPOCHS) for b in mine], dist.DistributedDataParallel(model, comm))
        if comm.rank == 0:
            one.set_epoch(0)
            alone = train(make_model(batch_norm), [b for _ in range(EPOCHS) for b in one])
            result[case] = largest_difference(parallel, alone)
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def dice_gradients(comm):
    """The gradient of Dice + CE (a 3-class per-pixel model, global batch 8 of 6x6 images, float64) on
    each rank's shard x[r::W], averaged over ranks, against one process on all 8: with the Dice sums
    of every rank ("global") and with each rank's own ("shard", the mean of two 4-sample Dice losses)."""
    rng = numpy.random.default_rng(4)
    x, y = rng.standard_normal((B, 2, 6, 6)), rng.integers(0, 3, (B, 6, 6))
    x[:, 0] += 2.0 * (y == 1) - 2.0 * (y == 2)  # a signal, so the classes' probabilities differ

    def gradient(model, xs, ys, global_sum=None, ddp=None):
        model.zero_grad()
        dice_ce_loss((ddp or model)(tm.tensor(xs)), ys, include_background=False, global_sum=global_sum).backward()
        if ddp is not None:
            ddp.reduce_gradients()
        return numpy.concatenate([p.grad.numpy().ravel() for p in model.parameters()])

    def make():
        tm.manual_seed(2)
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1)).double()

    model = make()
    ddp = dist.DistributedDataParallel(model, comm)
    mine = x[comm.rank :: comm.size], y[comm.rank :: comm.size]
    over_ranks = functools.partial(dist.all_reduce_sum, comm=comm)
    two = {"global": gradient(model, *mine, over_ranks, ddp), "shard": gradient(model, *mine, ddp=ddp)}
    from tinygrad_med.training.objectives.base import Classification  # here: the other programs start as fast

    # cross-entropy over the labels not ignored (-1): rank 0's shard has many more of them ignored
    y_ignored = numpy.where((numpy.arange(B)[:, None, None] % 2 == 0) & (x[:, 1] > -0.5), -1, y)
    objective = Classification.__new__(Classification)
    objective.comm = comm

    def ce_gradient(model, xs, ys, ddp=None):
        model.zero_grad()
        loss = F.cross_entropy((ddp or model)(tm.tensor(xs)), tm.tensor(ys), ignore_index=-1)
        objective.global_mean(loss, int((ys != -1).sum()), model).backward()
        if ddp is not None:
            ddp.reduce_gradients()
        return numpy.concatenate([p.grad.numpy().ravel() for p in model.parameters()])

    two["ignored_global"] = ce_gradient(model, mine[0], y_ignored[comm.rank :: comm.size], ddp)
    objective.comm = None  # each rank's own mean: the mean of the two shard means
    two["ignored_shard"] = ce_gradient(model, mine[0], y_ignored[comm.rank :: comm.size], ddp)
    if comm.rank == 0:
        one = {"global": gradient(make(), x, y), "ignored_global": ce_gradient(make(), x, y_ignored)}
        one["shard"], one["ignored_shard"] = one["global"], one["ignored_global"]
        result = {k: float(numpy.abs(g - one[k]).max() / numpy.abs(one[k]).max()) for k, g in two.items()}
        print("RESULT " + json.dumps(result), flush=True)


def planted_failure(comm, how):
    a = numpy.ones(4)
    comm.allreduce(a)
    if comm.rank == 1:
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "hang":
            time.sleep(600)
        raise ValueError("planted failure on rank 1")
    comm.allreduce(a, "the second all-reduce")
    print("rank 0 passed the all-reduce (it should not)", flush=True)


if __name__ == "__main__":
    comm = dist.init_process_group()
    with dist.abort_on_error(comm, "distributed_worker"):
        if sys.argv[1] == "equivalence":
            equivalence(comm)
        elif sys.argv[1] == "dice":
            dice_gradients(comm)
        else:
            planted_failure(comm, sys.argv[1])
