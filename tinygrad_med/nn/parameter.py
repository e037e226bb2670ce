"""Parameter: a Tensor that a Module registers as a learnable weight (torch.nn.parameter).

Lecture: "CNN refresher" (a network is a stack of building blocks with learned
parameters; the MLP slide counts them).  Assigning a Parameter to a Module attribute
registers it (nn/module.py); ``Module.parameters()`` is what an optimizer updates.
"""

import numpy

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight (torch.nn.Parameter).

    Args:
        data: a Tensor (its array is shared, not copied) or array-like; None gives an
            empty float32 tensor.
        requires_grad: default True.
    Raises:
        DTypeError if a non-float parameter is asked to require grad.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = numpy.empty((0,), dtype=numpy.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
