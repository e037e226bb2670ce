"""all_reduce_sum: a batch sum of every rank's shard, differentiable (torch.distributed.nn.all_reduce).

Lecture: "MORE ON OPTIMIZATION" (the gradient of the loss of the whole mini-batch).  A loss that
is a mean over samples is, on W equal shards, the mean of the W shard losses, so
DistributedDataParallel's mean of the shard gradients is its gradient.  A loss that is a ratio
of batch sums, as the soft Dice D = (2 SUM p g + eps) / (SUM p + SUM g + eps), is not: the mean
of W shard Dice losses is another function.  Taking the sums over every rank's shard gives each
rank the Dice of the global batch:

    Forward:  S = sum_r s_r                          (one all-reduce; every rank gets the same S)
    Backward: g_{s_q} = sum_r dL_r/dS                (one all-reduce of the incoming gradients)

Why the backward sums: DDP steps on (1/W) sum_r dL_r/dtheta, the gradient of L = (1/W) sum_r L_r.
Rank q's parameters reach L_r only through s_q, for every r, so dL/ds_q = (1/W) sum_r dL_r/dS;
the 1/W is DDP's.  With L_r = dice(S) + CE_r this gives dice(S) + mean_r CE_r, the one-process
loss (SyncBatchNorm's backward sums its gradient terms over ranks for the same reason).

Reference: PyTorch's torch.distributed.nn.functional.all_reduce (forward and backward all-reduce).
"""

from .. import backend
from ..function import Function
from .comm import get_communicator

__all__ = ["AllReduceSum", "all_reduce_sum"]


class AllReduceSum(Function):
    """The sum over ranks of a tensor every rank holds (same shape), with the gradient summed over ranks too.

    Lecture:  "MORE ON OPTIMIZATION"
    Forward:  y = sum_r x_r (a copy: x is not changed)
    Backward: gx = sum_r gy_r
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, comm):
        self.comm = comm
        return comm.allreduce(backend.get_xp(x).array(x, copy=True), "all_reduce_sum of the batch sums")

    def backward(self, gy):
        return (self.comm.allreduce(backend.get_xp(gy).array(gy, copy=True), "all_reduce_sum of their gradients"),)


def all_reduce_sum(x, comm=None):
    """``x`` summed over the ranks of ``comm`` (default: the process group's) with the matching backward;
    ``x`` itself outside a process group or with one rank. Every rank must call it (a collective)."""
    comm = comm or get_communicator()
    if comm is None or comm.size == 1:
        return x
    return AllReduceSum.apply(x, comm=comm)
