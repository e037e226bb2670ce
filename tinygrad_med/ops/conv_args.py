"""Arguments of conv and conv_transpose: PyTorch's forms, checked, turned into one Geometry.

Lecture: "Convolutional neural networks - Convolution padding", "Convolution stride",
"Dilated convolution (a trous)".  No op math here: ops/conv.py and ops/conv_transpose.py
call these before doing any work, so that bad input gets a message naming the op, the
expected layout and the shapes that came.
"""

from collections import namedtuple

from ..errors import DTypeError, ShapeError, fmt
from ..tensor import Tensor
from .int_args import check_int, int_tuple

__all__ = ["Geometry", "conv_output_size", "tuple_arg", "padding_arg", "make_geometry", "check_inputs", "w_layout"]

_SPATIAL = {1: ("W",), 2: ("H", "W"), 3: ("D", "H", "W")}

# K: kernel size, S: stride, dil: dilation, P: (low, high) padding, I: input size, O: output size;
# each a tuple with one entry per spatial dim.
Geometry = namedtuple("Geometry", "K S dil P I O")


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """PyTorch's output-size formula for one dim: floor((size + 2P - dil*(K-1) - 1) / S) + 1.

    ``padding`` may be an int (both sides) or a (low, high) pair.
    """
    low, high = (padding, padding) if isinstance(padding, int) else padding
    return (size + low + high - dilation * (kernel - 1) - 1) // stride + 1


def tuple_arg(op, name, value, d):
    """An int or a length-d sequence of positive ints -> a d-tuple (ops/int_args.py words the refusal)."""
    return int_tuple(op, name, value, d, minimum=1)


def padding_arg(op, padding, kernel, stride, dilation, d):
    """int / tuple / 'valid' / 'same' -> ((low, high), ...) per spatial dim, with PyTorch's rules."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding != "same":
            raise ShapeError(fmt(op, f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}"))
        if any(s != 1 for s in stride):
            raise ShapeError(fmt(op, f"padding='same' needs stride 1, got stride={stride}", hint="pad explicitly"))
        total = [dil * (k - 1) for dil, k in zip(dilation, kernel, strict=True)]
        return tuple((t // 2, t - t // 2) for t in total)  # PyTorch puts the odd element at the end
    return tuple((v, v) for v in int_tuple(op, "padding", padding, d, minimum=0))


def make_geometry(op, d, x, W, kernel, stride, dilation, pads):
    """The Geometry of a convolution, or ShapeError if the kernel is larger than the padded input."""
    size = tuple(x.shape[2:])
    out = tuple(
        conv_output_size(i, k, s, p, dil) for i, k, s, p, dil in zip(size, kernel, stride, pads, dilation, strict=True)
    )
    if any(o < 1 for o in out):
        names = _SPATIAL[d]
        padded = tuple(i + lo + hi for i, (lo, hi) in zip(size, pads, strict=True))
        span = tuple(dil * (k - 1) + 1 for k, dil in zip(kernel, dilation, strict=True))
        raise ShapeError(
            fmt(
                op,
                f"the (dilated) kernel {span} is larger than the padded input {padded}",
                x=(x.shape, f"(N, C, {', '.join(names)})"),
                W=(W.shape, w_layout(d, transposed=False)),
                hint="use a smaller kernel or dilation, or more padding",
            )
        )
    return Geometry(kernel, stride, dilation, pads, size, out)


def w_layout(d, transposed):
    """The layout string of W in error messages: "(F, C, KH, KW)", or "(C, F/groups, KH, KW)" transposed."""
    kernel = ", ".join("K" + s for s in _SPATIAL[d])
    return f"(C, F/groups, {kernel})" if transposed else f"(F, C, {kernel})"


def check_inputs(op, d, x, W, b, groups, transposed):
    """Rank, dtype, groups and channel checks shared by conv and conv_transpose."""
    x_layout = f"(N, C, {', '.join(_SPATIAL[d])})"
    kernel_layout = w_layout(d, transposed)
    if not isinstance(x, Tensor) or not isinstance(W, Tensor):
        raise DTypeError(fmt(op, f"x and W must be Tensors, got {type(x).__name__} and {type(W).__name__}"))
    if x.ndim not in (d + 1, d + 2):
        raise ShapeError(
            fmt(op, f"x must be {d + 2}-D (or {d + 1}-D unbatched), got {x.ndim}-D", x=(x.shape, x_layout))
        )
    if W.ndim != d + 2:
        raise ShapeError(fmt(op, f"W must be {d + 2}-D, got {W.ndim}-D", W=(W.shape, kernel_layout)))
    if x.dtype.kind != "f" or W.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        dtypes = f"x {x.dtype}, W {W.dtype}" + ("" if b is None else f", b {b.dtype}")
        raise DTypeError(fmt(op, f"x, W and b must share one float dtype, got {dtypes}"))
    check_int(op, "groups", groups, minimum=1)
    C = x.shape[-d - 1]
    F = W.shape[1] * groups if transposed else W.shape[0]  # output channels
    x_full = (x.shape, x_layout) if x.ndim == d + 2 else (x.shape, x_layout.replace("N, ", ""))
    if C % groups or (transposed and W.shape[0] % groups) or (not transposed and F % groups):
        raise ShapeError(
            fmt(
                op,
                f"groups={groups} must divide both the input and output channels",
                x=x_full,
                W=(W.shape, kernel_layout),
            )
        )
    expected = W.shape[0] if transposed else W.shape[1] * groups
    if C != expected:
        raise ShapeError(fmt(op, f"x has {C} channels but W expects {expected}", x=x_full, W=(W.shape, kernel_layout)))
    if b is not None and tuple(b.shape) != (F,):
        raise ShapeError(fmt(op, f"b must have shape ({F},)", b=b, W=(W.shape, kernel_layout)))
