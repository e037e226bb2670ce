"""Why 2 ranks reach a slightly different Dice than 1 process on the nuclei recipe: the loss, not the transport.

The first batch of ``tgm train unet --data nuclei`` (global batch 16, seed 0), the initial U-Net in
float64: the gradient of 2 ranks with SyncBatchNorm (8 samples each, averaged by
DistributedDataParallel) against one process on all 16, for the recipe's Dice + cross-entropy and
for cross-entropy alone.  Cross-entropy is a mean over pixels of equal-size shards, so the two agree
to round-off; the soft Dice sums over the whole batch, so the mean of two 8-sample Dice losses is
another function (benchmarks/results/distributed-nuclei-2026-12-07.json has the figures).

    mpiexec -n 2 python3 benchmarks/distributed_gradient_check.py
"""

import tempfile

import numpy

from tinygrad_med import distributed as dist
from tinygrad_med.nn import functional as F
from tinygrad_med.ops.dice import dice_ce_loss
from tinygrad_med.training.loop import Trainer, make_config


def gradient(trainer, loss, x, y):
    trainer.optimizer.zero_grad()
    loss(trainer.model(x.double()), y).backward()
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
    losses = {"dice+ce": lambda o, t: dice_ce_loss(o, t, include_background=False), "cross-entropy": F.cross_entropy}
    for name, loss in losses.items():
        g2 = gradient(two, loss, x2, y2)
        if comm.rank == 0:
            g1 = gradient(one, loss, x1, y1)
            relative = numpy.linalg.norm(g2 - g1) / numpy.linalg.norm(g1)
            print(f"{name}: |g(2 ranks) - g(1 process)| / |g(1 process)| = {relative:.3g}")


if __name__ == "__main__":
    main()
