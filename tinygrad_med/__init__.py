"""tinygrad_med: a teaching deep-learning framework for the lecture "Advanced concepts in deep learning".

    import tinygrad_med as tm
    x = tm.randn(4, 3, requires_grad=True)
    loss = (x @ tm.randn(3, 2)).relu().sum()
    loss.backward()           # x.grad now holds dL/dx

Tensors live on 'cpu' (NumPy) or 'cuda' (CuPy with our own CUDA kernels).
"""

import numpy as _numpy

from . import backend, cpu_memory, graph, nn, optim, random
from .errors import CheckpointError, DataError, DeviceError, DTypeError, KernelError, ShapeError
from .factory import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .function import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .ops.arithmetic import (
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    fill,
    floor_divide,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    true_divide,
    where,
)
from .ops.matmul import matmul
from .ops.reduce import (
    amax,
    amin,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from .ops.shape import (
    cat,
    chunk,
    clone,
    flatten,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
)
from .random import manual_seed
from .reference import is_reference_mode, reference_mode, set_reference_mode
from .serialization import load, save
from .tensor import Tensor

float32 = _numpy.dtype("float32")
float64 = _numpy.dtype("float64")
float16 = _numpy.dtype("float16")
int32 = _numpy.dtype("int32")
int64 = _numpy.dtype("int64")
uint8 = _numpy.dtype("uint8")
bool = _numpy.dtype("bool")
float = float32
double = float64
long = int64

__version__ = "0.1.0"

cpu_memory.apply_policy()  # freed host buffers are kept for reuse in every process (cpu_memory.py)


def cuda_is_available():
    """True if CuPy is installed and a CUDA device answers (torch.cuda.is_available)."""
    return backend.cuda_available()


def __getattr__(name):
    """``tinygrad_med.utils``, deprecated (moved to tinygrad_med.nn.receptive_field), imported on first use."""
    if name == "utils":
        import importlib

        return importlib.import_module(".utils", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
