"""DistributedSampler: each rank a disjoint shard of the dataset, the same shuffle on every rank.

Lecture: "MORE ON OPTIMIZATION" (mini-batches).  Epoch e's order is the one the one-process
DataLoader uses, ``default_rng([seed, e]).permutation(n)`` (data/dataset.py); rank r of W takes
every W-th index from position r on.  So the r-th sample of each group of W consecutive positions
goes to rank r, and with a per-rank batch of B/W the W ranks' batch t together are exactly the
one-process batch t of B samples: the same global batches, the same augmentation (a sample's
random numbers depend on (seed, epoch, index) only), whatever W is.

To give every rank the same number of samples (every rank must take part in every collective),
n is either padded up to a multiple of W by repeating the first indices of the order (PyTorch's
default) or cut down to one (``drop_last=True``).
"""

import math

import numpy

from ..data import DataLoader
from ..errors import fmt
from .comm import get_communicator

__all__ = ["DistributedSampler", "DistributedLoader"]


class DistributedSampler:
    """Rank ``rank``'s indices of ``num_replicas`` disjoint shards, per epoch (torch's DistributedSampler).

    Args:
        dataset: anything with ``__len__``.
        num_replicas, rank: default: the process group's world size and rank.
        shuffle: a new permutation each epoch, ``default_rng([seed, epoch])`` (the same on every rank).
        seed: the shuffling seed, shared by all ranks.
        drop_last: cut the tail so n is a multiple of num_replicas (else the head is repeated).
    Attributes:
        num_samples: indices per rank per epoch; total_size = num_samples * num_replicas.
    Raises:
        ValueError if rank is not in [0, num_replicas).
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        comm = get_communicator()
        num_replicas = (1 if comm is None else comm.size) if num_replicas is None else int(num_replicas)
        rank = (0 if comm is None else comm.rank) if rank is None else int(rank)
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(fmt("DistributedSampler", f"rank must be in [0, {num_replicas}), got {rank}"))
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = bool(shuffle), int(seed), bool(drop_last), 0
        n = len(dataset)
        self.num_samples = n // num_replicas if drop_last else math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """The next ``iter()`` gives epoch ``epoch``'s shard (call it every epoch, as with PyTorch)."""
        self.epoch = int(epoch)

    def indices(self, epoch):
        """This rank's indices of epoch ``epoch`` (an int64 array of num_samples)."""
        n = len(self.dataset)
        order = numpy.random.default_rng([self.seed, int(epoch)]).permutation(n) if self.shuffle else numpy.arange(n)
        if self.total_size > n:  # pad with the head of the order (repeated as often as needed)
            order = numpy.concatenate([order, numpy.resize(order, self.total_size - n)])
        return order[: self.total_size][self.rank :: self.num_replicas]

    def __iter__(self):
        return iter(self.indices(self.epoch).tolist())

    def __len__(self):
        return self.num_samples


class DistributedLoader(DataLoader):
    """A DataLoader whose epoch is this rank's shard from ``sampler``, in batches of ``batch_size``
    (the per-rank batch: the global batch / W); otherwise DataLoader's (prefetch, collate, set_epoch)."""

    def __init__(self, dataset, batch_size, sampler, drop_last=False, collate_fn=None, prefetch=0):
        super().__init__(dataset, batch_size, False, drop_last, collate_fn, sampler.seed, prefetch)
        self.sampler = sampler

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self, epoch):
        order = self.sampler.indices(epoch)
        stop = len(self) * self.batch_size
        return [order[i : min(i + self.batch_size, stop)] for i in range(0, min(stop, len(order)), self.batch_size)]
