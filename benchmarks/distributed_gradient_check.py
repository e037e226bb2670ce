"""2 ranks against 1 process on the nuclei recipe's gradient: the transport is exact, a batch-level loss was not.

The first batch of ``tgm train unet --data nuclei`` (global batch 16, seed 0), the initial U-Net in
float64: the gradient of 2 ranks with SyncBatchNorm (8 samples each, averaged by
DistributedDataParallel) against one process on all 16, for the recipe's Dice + cross-entropy and
for cross-entropy alone.  Cross-entropy is a mean over pixels of equal-size shards, so the two agree
to round-off; the soft Dice sums over the whole batch, so with each rank's own sums ("shard sums")
the mean of two 8-sample Dice losses is another function, and with the sums all-reduced over the
ranks ("global sums", what the segmentation objective does under --distributed: checked through
the 2-rank Trainer's own objective) it is the same
(benchmarks/results/distributed-nuclei-2026-12-07.json has the figures).

    mpiexec -n 2 python3 benchmarks/distributed_gradient_check.py
"""

import functools
import tempfile

import numpy

from tinygrad_med import distributed as dist
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.dice import dice_ce_loss
from tinygrad_med.training.loop import Trainer, make_config


def gradient(trainer, loss, x, y):
    """The gradient of loss(model, x, y) (on 2 ranks: averaged by DDP), all parameters flattened."""
    trainer.optimizer.zero_grad()
    loss(trainer.model, x.double(), y).backward()
    if trainer.ddp is not None:
        trainer.ddp.reduce_gradients()
    return numpy.concatenate([p.grad.numpy().ravel() for p in trainer.model.parameters()])


def main():
    comm = dist.init_process_group()
    config = make_config("unet", "nuclei", 1, None, seed=0, prefetch=0)
    with tempfile.TemporaryDirectory() as out:
        one = Trainer(config, out, progress=False)
        two = Trainer(config, out, progress=False, comm=comm, sync_bn=True)
    (x1, y1), (x2, y2) = next(iter(one.train_loader)), next(iter(two.train_loader))
    one.model.double(), two.model.double()

    def dice_ce(global_sum):  # the one process has one shard: its loss is dice_ce(None)
        return lambda model, x, y: dice_ce_loss(model(x), y, include_background=False, global_sum=global_sum)

    def objective(trainer):  # tgm train's loss: the run's objective (with the global sums on 2 ranks)
        return lambda model, x, y: trainer.objective.loss(model, x, y)[0]

    losses = {  # name: (the 2 ranks' loss, the one process's)
        "dice+ce, shard sums": (dice_ce(None), dice_ce(None)),
        "dice+ce, global sums": (dice_ce(functools.partial(dist.all_reduce_sum, comm=comm)), dice_ce(None)),
        "the segmentation objective": (objective(two), objective(one)),
        "cross-entropy": ((lambda m, x, y: F.cross_entropy(m(x), y)),) * 2,
    }
    for name, (loss_two, loss_one) in losses.items():
        g2 = gradient(two, loss_two, x2, y2)
        if comm.rank == 0:
            g1 = gradient(one, loss_one, x1, y1)
            relative = numpy.linalg.norm(g2 - g1) / numpy.linalg.norm(g1)
            print(f"{name}: |g(2 ranks) - g(1 process)| / |g(1 process)| = {relative:.3g}")


if __name__ == "__main__":
    main()
