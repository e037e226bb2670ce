"""State-dict values from other libraries as arrays, without importing those libraries.

Lecture: none (plumbing behind ``Module.load_state_dict``: a PyTorch or torchvision state_dict,
converted or not, loads into the model with the same names).

``as_array`` accepts, in this order:

    Tensor                        its array (numpy or cupy)
    numpy / cupy array            as it is (their dtype is a numpy dtype)
    anything with __dlpack__      numpy.from_dlpack on the CPU, cupy.from_dlpack on a GPU (a torch tensor,
                                  a JAX array, a CuPy-like array); strides are kept, so a transposed
                                  (non-contiguous) torch tensor comes out right; no copy is made here
    anything with __array__       numpy.asarray
    Python numbers, lists         numpy.asarray

A torch tensor that requires grad refuses both protocols, so an object with a ``detach()`` method is
detached first.  bfloat16 has no NumPy dtype: a value whose dtype is named bfloat16 is converted with
its own ``float()`` (bfloat16 -> float32 is exact: bfloat16 is float32 with the low 16 mantissa bits
dropped); one without ``float()`` is refused.  float16, int64 (batch norm's num_batches_tracked) and
the rest come out in their own dtype; ``load_state_dict`` casts them to the parameter's dtype.
"""

import numpy

from .. import backend
from ..errors import DTypeError, fmt
from ..tensor import Tensor

__all__ = ["as_array"]

_DLPACK_CPU = 1  # DLDeviceType.kDLCPU; 2 is kDLCUDA


def as_array(value, name="value"):
    """``value`` (Tensor, numpy/cupy array, torch tensor, DLPack or __array__ object, number) as an array.

    Args:
        value: the state_dict entry.
        name: its key, for the error message.
    Returns:
        a numpy or cupy array (possibly sharing memory with ``value``).
    Raises:
        DTypeError if the value's dtype has no NumPy equivalent (bfloat16 without ``float()``).
    """
    if isinstance(value, Tensor):
        return value.data
    if isinstance(getattr(value, "dtype", None), numpy.dtype) and hasattr(value, "shape"):
        return value  # numpy or cupy
    if callable(getattr(value, "detach", None)):
        value = value.detach()  # a torch tensor with requires_grad=True exports nothing
    if str(getattr(value, "dtype", "")).endswith("bfloat16"):
        if not callable(getattr(value, "float", None)):
            problem = f"value for {name!r} is bfloat16, which has no NumPy dtype"
            raise DTypeError(fmt("load_state_dict", problem, "convert it to float32 first"))
        value = value.float()  # exact
    if hasattr(value, "__dlpack__"):
        device_type = value.__dlpack_device__()[0] if hasattr(value, "__dlpack_device__") else _DLPACK_CPU
        if int(device_type) == _DLPACK_CPU:
            return numpy.from_dlpack(value)
        return backend.array_module("cuda").from_dlpack(value)
    return numpy.asarray(value)
