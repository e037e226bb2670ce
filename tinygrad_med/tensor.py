"""Tensor: an array plus the bookkeeping reverse-mode autodiff needs. No op math here.

A Tensor wraps a numpy array (device 'cpu') or a cupy array ('cuda').  When it
is the result of an op on tensors that require grad, ``_ctx`` points to the
Function that made it; ``backward()`` walks those Functions in reverse
topological order and applies the chain rule (lecture: "CNN refresher",
backpropagation through the computational graph):

    dL/dx = sum over the ops f that read x of  (df/dx)^T dL/df

Every method below is a one-line call into tinygrad_med/ops/<family>.py, where
the forward and backward of the op stand side by side.
"""

import numpy

from . import backend
from .errors import DTypeError, ShapeError, fmt
from .function import version_of

__all__ = ["Tensor"]

_FLOAT_DEFAULT = numpy.float32


def _as_array(data, dtype, device):
    """Turn ``data`` (list, scalar, numpy or cupy array, Tensor) into an array on ``device``."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_gpu_array(data) or isinstance(data, numpy.ndarray):
        array = data
    else:
        array = numpy.asarray(data)
        if dtype is None and array.dtype.kind == "f":
            array = array.astype(_FLOAT_DEFAULT)  # Python floats -> float32, as in PyTorch
        elif dtype is None and array.dtype.kind in "iu":
            array = array.astype(numpy.int64)
    if dtype is not None and array.dtype != numpy.dtype(dtype):
        array = array.astype(dtype)
    if device is not None:
        array = backend.to_device(array, device)
    return array


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    Args:
        data: array-like; Python numbers become float32 (floats) or int64 (ints);
            numpy/cupy arrays keep their dtype, as with ``torch.tensor``.
        requires_grad: record ops on this tensor so that ``backward`` fills ``.grad``.
        dtype: numpy dtype (``tm.float32``, ``tm.float64``, ``tm.int64``...).
        device: 'cpu' or 'cuda'; default: where ``data`` already is.
    Raises:
        DTypeError if ``requires_grad`` is asked of a non-float tensor.
    """

    __array_priority__ = 1000  # numpy_array + tensor -> Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype, device)
        self.grad = None
        self._ctx = None  # the Function that produced this tensor (None for leaves)
        self._out_index = 0  # which output of _ctx this is
        self._retain = False
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    @classmethod
    def _wrap(cls, array, ctx=None, index=0):
        """Fast path for op results: no conversion, optional creator."""
        if isinstance(array, numpy.generic):  # numpy turns 0-d results into scalars; keep arrays
            array = numpy.asarray(array)
        t = cls.__new__(cls)
        t.data, t.grad, t._ctx, t._out_index, t._retain = array, None, ctx, index, False
        t.requires_grad = ctx is not None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim=None):
        """The shape, or its size along ``dim``, as in PyTorch."""
        return self.shape if dim is None else self.shape[_dim(self, dim, "size")]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The sub-tensors along dim 0, as iterating a PyTorch tensor gives (each one a differentiable x[i])."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype=None, copy=None):
        """``numpy.asarray(t)``: the data as a host array (no graph), as torch.Tensor.__array__; ``copy=True``
        (``numpy.array(t)``) gives a copy, so writing into it never bypasses autograd's version counters."""
        array = self.numpy()
        if copy and array is self.data:
            array = array.copy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __repr__(self):
        body = numpy.array2string(backend.to_numpy(self.data), precision=4, separator=", ", prefix="tensor(")
        extra = [] if self.dtype == _FLOAT_DEFAULT or self.dtype == numpy.int64 else [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{type(self._ctx).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(
                fmt(
                    "requires_grad",
                    f"only float tensors can require gradients, got dtype {self.data.dtype}",
                    hint="create it with dtype=tm.float32",
                )
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        self._retain = True
        if self._ctx is not None:
            self._ctx.__dict__.setdefault("retained", {})[self._out_index] = self
        return self

    def detach(self):
        """A new leaf sharing the data, cut from the graph."""
        return Tensor._wrap(self.data)

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * gradient into every leaf's ``.grad``.

        Args:
            gradient: dL/d(self), same shape as self; may be omitted for a one-element tensor.
            retain_graph: keep the saved values so that backward can run again.
        Raises:
            ShapeError if self has more than one element and no gradient is given.
            RuntimeError if self does not require grad or its graph was already freed.
        """
        _autograd.run_backward(self, gradient, retain_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(self)`` once per backward, after this leaf's ``.grad`` is final; a handle with ``remove()``.

        As PyTorch's (autograd.py tells how the engine counts the contributions still to come).
        Raises:
            RuntimeError on a tensor that does not require grad or is not a leaf.
        """
        return _autograd.register_post_accumulate_grad_hook(self, hook)

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        """The data as a numpy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(fmt("item", "only one-element tensors can be converted to a Python number", x=self))
        return self.data.reshape(-1)[0].item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``, with ``non_blocking=``, ``copy=``."""
        return _shape.to(self, *args, **kwargs)

    def clone(self, *, memory_format=None):
        """A copy in the graph (the gradient flows back unchanged)."""
        return _shape.clone(self)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(numpy.float32)

    def double(self):
        return self.to(numpy.float64)

    def long(self):
        return self.to(numpy.int64)

    def int(self):
        return self.to(numpy.int32)

    def bool(self):
        return Tensor._wrap(self.data.astype(bool))

    def type_as(self, other):
        return self.to(other.dtype)

    # ------------------------------------------------------------------ in-place, not recorded (inplace.py)
    @property
    def _version(self):
        """How many in-place changes this tensor's storage has seen (shared with its views), as in PyTorch.

        function.py's docstring says which changes are counted (and which raw writes are not).
        """
        return version_of(self.data)

    def zero_(self):
        return _inplace.zero_(self)

    def fill_(self, value):
        return _inplace.fill_(self, value)

    def copy_(self, source):
        return _inplace.copy_(self, source)

    def add_(self, other, alpha=1):
        return _inplace.add_(self, other, alpha)

    def sub_(self, other, alpha=1):
        return _inplace.sub_(self, other, alpha)

    def mul_(self, other):
        return _inplace.mul_(self, other)

    def div_(self, other):
        return _inplace.div_(self, other)

    def clamp_(self, min=None, max=None):
        return _inplace.clamp_(self, min, max)

    clip_ = clamp_

    def uniform_(self, low=0.0, high=1.0):
        return _inplace.uniform_(self, low, high)

    def normal_(self, mean=0.0, std=1.0):
        return _inplace.normal_(self, mean, std)

    def __setitem__(self, index, value):
        _inplace.setitem(self, index, value)

    # ------------------------------------------------------------------ arithmetic (ops/arithmetic.py)
    def __add__(self, other):
        return _arithmetic.add(self, other)

    def __radd__(self, other):
        return _arithmetic.add(other, self)

    def __sub__(self, other):
        return _arithmetic.sub(self, other)

    def __rsub__(self, other):
        return _arithmetic.sub(other, self)

    def __mul__(self, other):
        return _arithmetic.mul(self, other)

    def __rmul__(self, other):
        return _arithmetic.mul(other, self)

    def __truediv__(self, other):
        return _arithmetic.div(self, other)

    def __rtruediv__(self, other):
        return _arithmetic.div(other, self)

    def __pow__(self, exponent):
        return _arithmetic.pow(self, exponent)

    def __rpow__(self, base):
        return _arithmetic.pow(base, self)

    def __neg__(self):
        return _arithmetic.neg(self)

    def __matmul__(self, other):
        return _matmul.matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul.matmul(other, self)

    def __eq__(self, other):
        return _arithmetic.compare(self, other, "eq")

    def __ne__(self, other):
        return _arithmetic.compare(self, other, "ne")

    def __lt__(self, other):
        return _arithmetic.compare(self, other, "lt")

    def __le__(self, other):
        return _arithmetic.compare(self, other, "le")

    def __gt__(self, other):
        return _arithmetic.compare(self, other, "gt")

    def __ge__(self, other):
        return _arithmetic.compare(self, other, "ge")

    __hash__ = object.__hash__

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.data.reshape(-1)[0])

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __floordiv__(self, other):
        return _arithmetic.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _arithmetic.floor_divide(other, self)

    def add(self, other, *, alpha=1):
        return _arithmetic.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return _arithmetic.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _arithmetic.mul(self, other)

    def div(self, other, *, rounding_mode=None):
        return _arithmetic.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent):
        return _arithmetic.pow(self, exponent)

    def neg(self):
        return _arithmetic.neg(self)

    def exp(self):
        return _arithmetic.exp(self)

    def log(self):
        return _arithmetic.log(self)

    def sqrt(self):
        return _arithmetic.sqrt(self)

    def abs(self):
        return _arithmetic.abs(self)

    def clamp(self, min=None, max=None):
        return _arithmetic.clamp(self, min, max)

    clip = clamp

    def true_divide(self, other):
        return _arithmetic.true_divide(self, other)

    def floor_divide(self, other):
        return _arithmetic.floor_divide(self, other)

    def where(self, condition, other):
        return _arithmetic.where(condition, self, other)

    def maximum(self, other):
        return _arithmetic.maximum(self, other)

    def minimum(self, other):
        return _arithmetic.minimum(self, other)

    def matmul(self, other):
        return _matmul.matmul(self, other)

    # ------------------------------------------------------------------ activations (ops/activation.py)
    def sigmoid(self):
        return _activation.sigmoid(self)

    def tanh(self):
        return _activation.tanh(self)

    def relu(self):
        return _activation.relu(self)

    def softmax(self, *args, **kwargs):
        return _activation.softmax(self, *args, **kwargs)

    def log_softmax(self, *args, **kwargs):
        return _activation.log_softmax(self, *args, **kwargs)

    # ------------------------------------------------------------------ reductions (ops/reduce.py)
    # Arguments pass through unchanged, so the methods take exactly torch.<name>'s call forms.
    def sum(self, *args, **kwargs):
        return _reduce.sum(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return _reduce.mean(self, *args, **kwargs)

    def prod(self, *args, **kwargs):
        return _reduce.prod(self, *args, **kwargs)

    def cumsum(self, *args, **kwargs):
        return _reduce.cumsum(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return _reduce.max(self, *args, **kwargs)

    def min(self, *args, **kwargs):
        return _reduce.min(self, *args, **kwargs)

    def amax(self, *args, **kwargs):
        return _reduce.amax(self, *args, **kwargs)

    def amin(self, *args, **kwargs):
        return _reduce.amin(self, *args, **kwargs)

    def var(self, *args, **kwargs):
        return _reduce.var(self, *args, **kwargs)

    def std(self, *args, **kwargs):
        return _reduce.std(self, *args, **kwargs)

    def argmax(self, *args, **kwargs):
        return _reduce.argmax(self, *args, **kwargs)

    def argmin(self, *args, **kwargs):
        return _reduce.argmin(self, *args, **kwargs)

    def logsumexp(self, *args, **kwargs):
        return _reduce.logsumexp(self, *args, **kwargs)

    def norm(self, *args, **kwargs):
        return _reduce.norm(self, *args, **kwargs)

    # ------------------------------------------------------------------ shape (ops/shape.py)
    def reshape(self, *shape):
        return _shape.reshape(self, *shape)

    def view(self, *shape):
        return _shape.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _shape.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return _shape.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return _shape.transpose(self, dim0, dim1)

    def squeeze(self, dim=None):
        return _shape.squeeze(self, dim)

    def unsqueeze(self, dim):
        return _shape.unsqueeze(self, dim)

    def expand(self, *shape):
        return _shape.expand(self, *shape)

    def expand_as(self, other):
        return _shape.expand(self, *other.shape)

    def contiguous(self):
        return self

    def split(self, split_size_or_sections, dim=0):
        return _shape.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return _shape.chunk(self, chunks, dim)

    def __getitem__(self, index):
        return _shape.getitem(self, index)


def _dim(t, dim, op):
    """Normalise a possibly negative dim, or raise ShapeError naming the op."""
    if not -t.ndim <= dim < max(t.ndim, 1):
        raise ShapeError(fmt(op, f"dim {dim} is out of range for a {t.ndim}-D tensor", x=t))
    return dim % max(t.ndim, 1)


# Imported last: these modules import Tensor from here.
from . import autograd as _autograd  # noqa: E402
from . import inplace as _inplace  # noqa: E402
from .ops import activation as _activation  # noqa: E402
from .ops import arithmetic as _arithmetic  # noqa: E402
from .ops import matmul as _matmul  # noqa: E402
from .ops import reduce as _reduce  # noqa: E402
from .ops import shape as _shape  # noqa: E402
