"""Dataset, TensorDataset and DataLoader in PyTorch's shape (torch.utils.data).

Lecture: "HANDLING SPATIAL VARIANCE - Data augmentation" and "CNN REFRESHER" (mini-batches feed
stochastic gradient descent; batch norm's statistics are taken over the mini-batch).

Reproducibility is by construction rather than by a global random state:

- the order of epoch ``e`` is ``default_rng([seed, e]).permutation(len(dataset))``;
- a dataset that draws random numbers (crops, flips, noise) asks ``self.rng(index)``, a generator
  seeded with ``[seed, epoch, index]``; the loader tells the dataset which epoch it is.

So the batches of epoch 7 are the same whether the run started at epoch 0 or was resumed at 7,
and the background prefetch thread cannot change them.
"""

import queue
import threading
import time

import numpy

from ..errors import ShapeError, fmt

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "default_collate"]


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` and ``__len__``, as torch.utils.data.Dataset.

    Subclasses that augment draw their random numbers from ``self.rng(index)`` so that a sample is
    a function of (seed, epoch, index) only.
    """

    seed = 0
    epoch = 0

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def set_epoch(self, epoch):
        """Called by DataLoader at the start of each epoch (as DistributedSampler.set_epoch)."""
        self.epoch = int(epoch)

    def rng(self, index):
        """The generator for sample ``index`` in the current epoch."""
        return numpy.random.default_rng([int(self.seed), int(self.epoch), int(index)])


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of equally long arrays or Tensors (torch's TensorDataset).

    Raises:
        ShapeError if the arrays differ in length along dim 0.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ShapeError(fmt("TensorDataset", "needs at least one array"))
        self.arrays = [
            a.numpy() if hasattr(a, "numpy") and not isinstance(a, numpy.ndarray) else numpy.asarray(a) for a in arrays
        ]
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            lengths = [len(a) for a in self.arrays]
            raise ShapeError(fmt("TensorDataset", f"arrays differ in length along dim 0: {lengths}"))

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (torch.utils.data.Subset)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    def set_epoch(self, epoch):
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def default_collate(samples):
    """Stack a list of samples into a batch of Tensors.

    A sample is an array, a number, or a tuple/list/dict of those; arrays are stacked along a new
    dim 0 (N), Python ints become int64 and floats float32, as torch's default_collate does.

    Raises:
        ShapeError if two samples' arrays differ in shape.
    """
    from ..tensor import Tensor

    first = samples[0]
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, Tensor):
        samples = [s.numpy() for s in samples]
    arrays = [numpy.asarray(s) for s in samples]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(
            fmt(
                "default_collate",
                f"samples differ in shape: {sorted(shapes)}",
                hint="crop or pad them to one size, or pass a collate_fn",
            )
        )
    batch = numpy.stack(arrays)
    if batch.dtype == numpy.float64 and not isinstance(first, numpy.ndarray):
        batch = batch.astype(numpy.float32)  # Python floats -> float32
    return Tensor._wrap(batch)


class DataLoader:
    """Batches of a dataset, optionally shuffled with a seed and prefetched by a background thread.

    Args:
        dataset: a Dataset (anything with ``__getitem__`` and ``__len__``).
        batch_size: samples per batch (N).
        shuffle: a new seeded permutation every epoch.
        drop_last: drop the last batch if it holds fewer than ``batch_size`` samples.
        collate_fn: list of samples -> batch; default ``default_collate``.
        seed: seed of the shuffling and of the dataset's augmentation (``Dataset.rng``).
        prefetch: number of batches a background thread prepares ahead (0: none).
    Attributes:
        epoch: the epoch the next ``iter()`` produces; ``set_epoch`` sets it (used by --resume).
        wait_time: seconds the last epoch's consumer spent blocked waiting for a batch.
        fetch_time: seconds spent building the last epoch's batches (in whichever thread).
    Raises:
        ValueError if batch_size < 1 or prefetch < 0.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None, seed=0, prefetch=0):
        if int(batch_size) < 1:
            raise ValueError(fmt("DataLoader", f"batch_size must be >= 1, got {batch_size}"))
        if int(prefetch) < 0:
            raise ValueError(fmt("DataLoader", f"prefetch must be >= 0, got {prefetch}"))
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), bool(shuffle)
        self.drop_last, self.collate_fn = bool(drop_last), collate_fn or default_collate
        self.seed, self.prefetch, self.epoch, self.start_batch = int(seed), int(prefetch), 0, 0
        self.wait_time = self.fetch_time = 0.0
        if isinstance(dataset, Dataset):
            dataset.seed = self.seed

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch, start_batch=0):
        """The next ``iter()`` yields epoch ``epoch`` from batch ``start_batch`` on (resuming mid-epoch)."""
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def batch_indices(self, epoch):
        """The list of index arrays that make up epoch ``epoch``'s batches."""
        n = len(self.dataset)
        order = numpy.random.default_rng([self.seed, int(epoch)]).permutation(n) if self.shuffle else numpy.arange(n)
        stop = len(self) * self.batch_size
        return [order[i : min(i + self.batch_size, stop, n)] for i in range(0, min(stop, n), self.batch_size)]

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.wait_time = self.fetch_time = 0.0
        batches, self.start_batch = self.batch_indices(epoch)[self.start_batch :], 0
        source = self._prefetched(batches) if self.prefetch else (self._fetch(b) for b in batches)
        while True:
            start = time.perf_counter()
            try:
                batch = next(source)
            except StopIteration:
                return
            finally:
                self.wait_time += time.perf_counter() - start
            yield batch

    def _fetch(self, indices):
        start = time.perf_counter()
        batch = self.collate_fn([self.dataset[int(i)] for i in indices])
        self.fetch_time += time.perf_counter() - start
        return batch

    def _prefetched(self, batches):
        """Yield batches built by a daemon thread that stays ``prefetch`` batches ahead."""
        slots, stop = queue.Queue(maxsize=self.prefetch), threading.Event()

        def work():
            try:
                for indices in batches:
                    if stop.is_set():
                        return
                    slots.put(("batch", self._fetch(indices)))
                slots.put(("end", None))
            except BaseException as error:  # re-raised in the consumer
                slots.put(("error", error))

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while True:
                kind, value = slots.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    slots.get_nowait()
                except queue.Empty:
                    thread.join(0.01)
