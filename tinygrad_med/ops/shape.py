"""Movement ops: reshape, permute, expand, indexing, cat/stack/split, pad, device/dtype moves.

Lecture: "CNN refresher" (flattening feature maps before the fully connected layers,
concatenating feature maps in U-Net, DenseNet and Inception).
None of these change values, so each backward just moves gy back to where the
input's elements were: reshape back, permute with the inverse order, sum over
expanded axes, scatter-add into the indexed positions, slice the concatenation.
"""

import numpy

from .. import backend
from ..errors import IndexRangeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .reduce_args import one_axis, reduction_axes

__all__ = [
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "squeeze",
    "unsqueeze",
    "expand",
    "getitem",
    "cat",
    "stack",
    "split",
    "unbind",
    "chunk",
    "pad",
    "to",
    "clone",
]


def _shape_arg(shape):
    """Accept reshape(2, 3) and reshape((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    """View x with a new shape (one size may be -1).  Backward: gy reshaped to x's shape."""
    shape = _shape_arg(shape)
    known = int(numpy.prod([s for s in shape if s != -1]))
    if (
        shape.count(-1) > 1
        or (-1 not in shape and known != x.numel())
        or (-1 in shape and (known == 0 or x.numel() % known))
    ):
        raise ShapeError(fmt("reshape", f"cannot reshape {x.numel()} elements into {shape}", x=x))
    return Reshape.apply(x, shape=shape)


class Reshape(Function):
    """The same elements in a new shape.

    Lecture:  "CNN refresher" (flattening feature maps before the FC layers)
    Forward:  y = x.reshape(shape)
    Backward: gx = gy.reshape(x.shape)
    Shapes:   x (*) -> y (shape), same number of elements
    """

    def forward(self, x, shape):
        self.x_shape = x.shape
        return x.reshape(shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one, as torch.flatten."""
    start, end = one_axis(x, start_dim, "flatten"), one_axis(x, end_dim, "flatten")
    if x.ndim == 0:
        return reshape(x, 1)
    if start > end:
        raise ShapeError(fmt("flatten", f"start_dim {start_dim} comes after end_dim {end_dim}", x=x))
    merged = int(numpy.prod(x.shape[start : end + 1]))
    return reshape(x, *x.shape[:start], merged, *x.shape[end + 1 :])


def permute(x, *dims):
    """Reorder dims: permute(x, 1, 0) or permute(x, (1, 0)).  Backward: gy permuted by the inverse order."""
    if not dims:
        raise TypeError(fmt("permute", "missing the required argument 'dims'", x=x))
    dims = _shape_arg(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ShapeError(fmt("permute", f"dims {dims} are not a permutation of the {x.ndim} dims", x=x))
    return Permute.apply(x, dims=tuple(d % max(x.ndim, 1) for d in dims))


class Permute(Function):
    """Axes reordered.

    Lecture:  "CNN refresher"
    Forward:  y = x.transpose(dims)
    Backward: gx = gy.transpose(argsort(dims))
    Shapes:   x (d_0, ..., d_k) -> y (d_dims[0], ..., d_dims[k])
    """

    def forward(self, x, dims):
        self.inverse = tuple(numpy.argsort(dims))
        return x.transpose(dims)

    def backward(self, gy):
        return gy.transpose(self.inverse)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    a, b = one_axis(x, dim0, "transpose"), one_axis(x, dim1, "transpose")
    if x.ndim == 0:  # PyTorch: a 0-d tensor takes dims 0 and -1, and stays as it is
        return Permute.apply(x, dims=())
    dims = list(range(x.ndim))
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, *dims)


def squeeze(x, dim=None):
    """Remove size-1 dims (only ``dim`` if given and of size 1, as torch.squeeze)."""
    if dim is None:
        shape = [n for n in x.shape if n != 1]
    else:
        axes = reduction_axes(x, dim, "squeeze", empty_means_all=False)
        shape = [n for i, n in enumerate(x.shape) if not (i in axes and n == 1)]
    return reshape(x, *shape) if list(shape) != list(x.shape) else x


def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise ShapeError(fmt("unsqueeze", f"dim {dim} is out of range for a {x.ndim}-D tensor", x=x))
    dim = dim % (x.ndim + 1)
    return reshape(x, *x.shape[:dim], 1, *x.shape[dim:])


def expand(x, *shape):
    """Broadcast size-1 dims to ``shape`` (-1 keeps a size).  Backward: sum over expanded dims."""
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(fmt("expand", f"cannot expand to fewer dims {shape}", x=x))
    target = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise ShapeError(fmt("expand", f"size {n} of dim {i} cannot expand to {target[i + lead]}", x=x))
    return Expand.apply(x, shape=target)


class Expand(Function):
    """Broadcast to a larger shape without copying.

    Lecture:  "CNN refresher"
    Forward:  y = broadcast_to(x, shape)
    Backward: gx = gy summed over the broadcast dims
    Shapes:   x (*) -> y (shape), x broadcastable to shape
    """

    def forward(self, x, shape):
        self.x_shape = x.shape
        return backend.get_xp(x).broadcast_to(x, shape)

    def backward(self, gy):
        from .arithmetic import unbroadcast

        return unbroadcast(gy, self.x_shape)


def getitem(x, index):
    """x[index]: slices, ints, None, Ellipsis, bool masks and integer arrays (fancy indexing).

    Backward: a zero tensor of x's shape with gy scatter-added at the indexed positions
    (add.at, so an element picked twice receives both contributions).
    """
    index = _raw_index(index, x)
    return GetItem.apply(x, index=index)


def _raw_index(index, x):
    if isinstance(index, tuple):
        return tuple(_raw_index(i, x) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return backend.to_device(numpy.asarray(index), x.device)
    return index


class GetItem(Function):
    """Indexing: basic slices, integer and boolean arrays, as NumPy's x[index].

    Lecture:  "CNN refresher"
    Forward:  y = x[index]
    Backward: gx = zeros like x with gy scatter-added at index (repeated indices add up)
    Shapes:   x (*) -> y (the shape NumPy gives x[index])
    """

    def forward(self, x, index):
        self.x_shape, self.x_dtype, self.index = x.shape, x.dtype, index
        try:
            y = x[index]
        except IndexError as error:
            raise IndexRangeError(fmt("getitem", str(error), x=x)) from None
        return y if isinstance(y, type(x)) else backend.get_xp(x).asarray(y)  # x[0] of 1-D is a scalar

    def backward(self, gy):
        xp = backend.get_xp(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        _scatter_add(xp, gx, self.index, gy)
        return gx


def _scatter_add(xp, target, index, values):
    if xp is numpy:
        numpy.add.at(target, index, values)
    else:
        xp.add.at(target, index, values)  # cupy supports ufunc.at for add


def cat(tensors, dim=0):
    """Concatenate along ``dim`` (torch.cat).  Backward: gy sliced back into the pieces."""
    tensors = list(tensors)
    if not tensors:
        raise ShapeError(fmt("cat", "expected a non-empty list of tensors"))
    first = tensors[0]
    axis = one_axis(first, dim, "cat")
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, first.shape)) if j != axis):
            raise ShapeError(
                fmt("cat", f"tensor {i} does not match tensor 0 outside dim {axis}", tensor0=first, **{f"tensor{i}": t})
            )
    return Cat.apply(*tensors, axis=axis)


class Cat(Function):
    """Concatenation along one axis.

    Lecture:  "Image classification - Densely connected CNN (DenseNet) [Huang et al, 2016]"
    Forward:  y = [x_1, x_2, ...] along axis
    Backward: gx_i = the slice of gy that x_i filled
    Shapes:   x_i (..., n_i, ...) -> y (..., sum n_i, ...)
    """

    def forward(self, *xs, axis):
        self.axis, self.sizes = axis, [x.shape[axis] for x in xs]
        return backend.get_xp(xs[0]).concatenate(xs, axis=axis)

    def backward(self, gy):
        bounds = numpy.cumsum(self.sizes)[:-1]
        return tuple(backend.get_xp(gy).split(gy, bounds, axis=self.axis))


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ShapeError(fmt("stack", "expected a non-empty list of tensors"))
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise ShapeError(
                fmt("stack", f"tensor {i} differs in shape from tensor 0", tensor0=tensors[0], **{f"tensor{i}": t})
            )
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x, split_size_or_sections, dim=0):
    """Split into pieces of a size (last may be smaller) or a list of sizes (torch.split)."""
    axis = one_axis(x, dim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ShapeError(fmt("split", f"sizes {sizes} do not add up to {n} along dim {axis}", x=x))
    return Split.apply(x, sizes=tuple(sizes), axis=axis)


class Split(Function):
    """One op with one output per piece, so backward concatenates once (not once per piece).

    Lecture:  "CNN refresher"
    Forward:  y_i = x[..., b_i : b_i + n_i, ...] along axis
    Backward: gx = concatenate(gy_1, gy_2, ...)
    Shapes:   x (..., sum n_i, ...) -> y_i (..., n_i, ...)
    """

    def forward(self, x, sizes, axis):
        self.axis, bounds = axis, numpy.cumsum(sizes)[:-1]
        return tuple(backend.get_xp(x).split(x, bounds, axis=axis))

    def backward(self, *gys):
        return backend.get_xp(gys[0]).concatenate(gys, axis=self.axis)


def unbind(x, dim=0):
    """The slices of x along ``dim``, that dim removed (torch.unbind); backward stacks them back."""
    axis = one_axis(x, dim, "unbind")
    return Unbind.apply(x, axis=axis)


class Unbind(Function):
    """One output per index along an axis (that axis removed).

    Lecture:  "CNN refresher"
    Forward:  y_i = x[..., i, ...]
    Backward: gx = stack(gy_1, gy_2, ...) along axis
    Shapes:   x (..., n, ...) -> n tensors (..., ...)
    """

    def forward(self, x, axis):
        self.axis = axis
        return tuple(backend.get_xp(x).moveaxis(x, axis, 0))

    def backward(self, *gys):
        return backend.get_xp(gys[0]).stack(gys, axis=self.axis)


def chunk(x, chunks, dim=0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller), as torch.chunk."""
    axis = one_axis(x, dim, "chunk")
    size = -(-x.shape[axis] // chunks)
    return split(x, max(size, 1), dim)


def pad(x, pad, mode="constant", value=0.0):
    """Pad the last dims: ``pad`` = (left_last, right_last, left_2nd_last, ...) as F.pad.

    Forward:  y = x surrounded by ``value`` (mode 'constant'); a negative width crops instead, as
              PyTorch: x is first cut by the negative widths, then padded by the positive ones
    Backward: gx = gy with the padding cut off (and zeros where x was cropped)
    Other modes ('reflect', 'replicate', 'circular') live in ops/resample.py.
    Raises:   ShapeError if pad has an odd length or pads more dims than x has, or if the negative
              widths crop more than a dim holds.
    """
    if mode != "constant":
        from . import resample

        return resample.pad(x, pad, mode, value)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(fmt("pad", f"pad {tuple(pad)} needs an even length of at most 2 * ndim", x=x))
    pairs = pad_pairs(x, pad)
    x = crop(x, pairs, minimum=0, mode="constant")
    return Pad.apply(x, widths=tuple((max(a, 0), max(b, 0)) for a, b in pairs), value=value)


def pad_pairs(x, pad):
    """F.pad's flat widths (last dim first) -> one (left, right) pair of ints per dim of x."""
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return pairs


def crop(x, pairs, minimum, mode):
    """x cut by the negative widths in ``pairs`` (PyTorch's negative padding); a view, differentiable.

    Raises:   ShapeError if a dim would keep fewer than ``minimum`` elements.
    """
    cuts = [(max(0, -a), max(0, -b)) for a, b in pairs]
    for axis, ((low, high), n) in enumerate(zip(cuts, x.shape, strict=True)):
        if (low or high) and n - low - high < minimum:
            raise ShapeError(fmt("pad", f"{mode} padding {pairs[axis]} leaves {n - low - high} elements of dim "
                                 f"{axis} (size {n}); at least {minimum} must remain", x=x))  # fmt: skip
    if not any(low or high for low, high in cuts):
        return x
    return x[tuple(slice(low, n - high) for (low, high), n in zip(cuts, x.shape, strict=True))]


class Pad(Function):
    """Constant padding.

    Lecture:  "Convolutional neural networks - padding"
    Forward:  y = x surrounded by value, widths (before, after) per axis
    Backward: gx = gy cropped back to x's region
    Shapes:   x (d_i) -> y (d_i + before_i + after_i)
    """

    def forward(self, x, widths, value):
        self.crop = tuple(slice(a, a + n) for (a, _), n in zip(widths, x.shape))
        return backend.get_xp(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(self, gy):
        return gy[self.crop]


def to(x, *args, device=None, dtype=None, non_blocking=False, copy=False, memory_format=None):
    """Tensor.to's forms: to(dtype), to(device), to(device, dtype), to(other_tensor), to(device=, dtype=),
    each with non_blocking and copy (positional after the dtype, or by keyword).  memory_format is accepted
    and has no effect: arrays here have no channels-last layout.

    The result is x itself when nothing changes (copy=False), else a copy in the graph: the gradient
    flows back moved and cast to x's device and dtype (integer casts carry none).
    Raises: TypeError for an argument that is no device, dtype or tensor.
    """
    flags = []
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, (bool, numpy.bool_)):
            flags.append(bool(arg))
        elif isinstance(arg, str) or type(arg).__name__ == "device":
            device = arg
        else:
            dtype = _dtype_arg(arg)
    if len(flags) > 2:
        raise TypeError(fmt("to", f"expected at most non_blocking and copy after the dtype, got {args!r}"))
    copy = flags[1] if len(flags) == 2 else copy
    device = x.device if device is None else backend.normalize_device(device)
    dtype = x.dtype if dtype is None else _dtype_arg(dtype)
    if device == x.device and dtype == x.dtype:
        return clone(x) if copy else x
    if dtype.kind != "f" or x.dtype.kind != "f":  # integer casts carry no gradient
        return Tensor._wrap(backend.to_device(x.data, device).astype(dtype))
    return To.apply(x, device=device, dtype=dtype)


def _dtype_arg(dtype):
    try:
        return numpy.dtype(dtype)
    except TypeError:
        raise TypeError(fmt("to", f"expected a device, a dtype or a tensor, got {dtype!r}")) from None


def clone(input, *, memory_format=None):
    """A copy of input with its own memory, in the graph (torch.clone; memory_format has no effect).

    Backward: gx = gy.
    """
    return Clone.apply(input)


class Clone(Function):
    """A copy that autograd sees as a new node.

    Lecture:  "CNN refresher"
    Forward:  y = copy of x
    Backward: gx = gy
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class To(Function):
    """Move to a device and / or cast to a dtype.

    Lecture:  "CNN refresher"
    Forward:  y = x on device, as dtype
    Backward: gx = gy moved back to x's device and cast to x's dtype
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x, device, dtype):
        self.device, self.dtype = backend.device_of(x), x.dtype
        return backend.to_device(x, device).astype(dtype, copy=False)

    def backward(self, gy):
        return backend.to_device(gy, self.device).astype(self.dtype, copy=False)
