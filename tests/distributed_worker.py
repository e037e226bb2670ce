"""Programs the distributed tests run under ``mpiexec -n 2`` (tests/test_distributed.py).

python3 tests/distributed_worker.py equivalence   rank 0 prints RESULT {json}: the largest difference
                                                   between 2 ranks and 1 process after 4 steps
python3 tests/distributed_worker.py kill          rank 1 SIGKILLs itself before the second all-reduce
python3 tests/distributed_worker.py raise         rank 1 raises before the second all-reduce
python3 tests/distributed_worker.py hang          rank 1 sleeps instead of calling the second all-reduce
"""

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
        loss.backward()
        if ddp is not None:
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
        else:
            planted_failure(comm, sys.argv[1])
