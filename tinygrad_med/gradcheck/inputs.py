"""The inputs of the gradient-check cases: seeded draws kept away from kinks, and constants on x's device."""

import numpy

from ..tensor import Tensor

__all__ = ["draws", "beside"]


def draws(seed):
    """(r, distinct, labels): draws from one seeded generator; each call takes the generator's next values."""
    rng = numpy.random.default_rng(seed)

    def r(*shape, low=-1.0, high=1.0):
        return rng.uniform(low, high, shape)

    def distinct(*shape):
        """Values with no ties (max pooling, maxout): a shuffled ramp."""
        return rng.permutation(int(numpy.prod(shape))).reshape(shape) / numpy.prod(shape) + 0.01

    def labels(n, classes):
        return rng.integers(0, classes, n)

    return r, distinct, labels


def beside(x, array):
    """A constant (labels, targets) on the same device as the input x."""
    return Tensor(array, device=x.device)
