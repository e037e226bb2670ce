"""Data-parallel training on MPI (CPU ranks) and NCCL (GPU ranks): ``tgm train ... --distributed``.

Lecture: "MORE ON OPTIMIZATION" (mini-batch SGD: the gradient of a mean loss over a batch is the
mean of its shards' gradients).  The designs followed are Chainer's ChainerMN and Horovod (MPI for
the ranks, one all-reduce of fused gradient buffers per step) with PyTorch's names:

    comm.py      init_process_group, Communicator (MPI Iallreduce on host buffers, NCCL on device
                 buffers; every wait has a deadline, then MPI_Abort: a dead rank never hangs the rest)
    ddp.py       DistributedDataParallel: rank 0's weights broadcast, gradients averaged in buckets
    sampler.py   DistributedSampler (disjoint shards, one shuffle per epoch), DistributedLoader
    sync_bn.py   SyncBatchNorm, convert_sync_batchnorm
    global_sum.py all_reduce_sum: batch sums over every rank (the soft Dice of the global batch)

    mpiexec -n 2 python3 -m tinygrad_med train unet --data nuclei --distributed
    python3 -m tinygrad_med train unet --data nuclei --nproc 2        # starts mpiexec itself

mpi4py and mpiexec come with ``pip install "tinygrad_med[distributed]"`` (mpi4py and the mpich wheel).
"""

from .comm import (
    INSTALL_HINT,
    Communicator,
    abort_on_error,
    get_communicator,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    mpi_unavailable_reason,
)
from .ddp import DistributedDataParallel, broadcast_module
from .global_sum import AllReduceSum, all_reduce_sum
from .sampler import DistributedLoader, DistributedSampler
from .sync_bn import SyncBatchNorm, SyncBatchNormFunction, convert_sync_batchnorm

__all__ = [
    "INSTALL_HINT",
    "Communicator",
    "abort_on_error",
    "get_communicator",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "mpi_unavailable_reason",
    "DistributedDataParallel",
    "broadcast_module",
    "DistributedLoader",
    "DistributedSampler",
    "AllReduceSum",
    "all_reduce_sum",
    "SyncBatchNorm",
    "SyncBatchNormFunction",
    "convert_sync_batchnorm",
]
