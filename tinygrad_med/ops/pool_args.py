"""Arguments of the pooling ops: PyTorch's forms, checked, turned into one Window.

Lecture: "Convolutional neural networks - Pooling".  No op math here: ops/pool.py and
ops/adaptive_pool.py call these before doing any work, so that bad input gets a message
naming the op, the expected layout and the shapes that came.
"""

import itertools
from typing import NamedTuple

import numpy

from ..errors import DTypeError, ShapeError, fmt
from .int_args import int_tuple

__all__ = ["Window", "pool_output_size", "check_input"]

_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


class Window(NamedTuple):
    """Per spatial dim: input size L, kernel K, stride S, padding P, dilation dil and output size O."""

    size: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple

    def offsets(self):
        """All kernel offsets (k_1, ..., k_nd) in row-major order: PyTorch's scan order of a window."""
        return list(itertools.product(*(range(k) for k in self.kernel)))

    def padded_widths(self, ndim):
        """numpy.pad widths: P on the left, on the right whatever the last window needs (ceil_mode)."""
        right = [
            max(0, (o - 1) * s + d * (k - 1) + 1 - n - p)
            for n, k, s, p, d, o in zip(
                self.size, self.kernel, self.stride, self.padding, self.dilation, self.out, strict=True
            )
        ]
        return [(0, 0)] * (ndim - len(self.size)) + list(zip(self.padding, right, strict=True))

    def slices(self, offset):
        """The inputs that kernel offset ``offset`` sees in every window: x_padded[..., k*dil :: S] (O of them)."""
        return (Ellipsis,) + tuple(
            slice(k * d, k * d + s * (o - 1) + 1, s)
            for k, s, d, o in zip(offset, self.stride, self.dilation, self.out, strict=True)
        )


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's output size of one spatial dim (the formula in ops/pool.py's module docstring).

    O = floor_or_ceil((L + 2P - dil*(K-1) - 1) / S) + 1; in ceil_mode, O -= 1 if (O-1)*S >= L + P
    (the last window must start inside the input or the left padding).
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def check_input(op, x, nd):
    """x must be a float tensor of rank nd+1 (unbatched) or nd+2; only a batch dim N may be 0 (as PyTorch)."""
    if x.ndim not in (nd + 1, nd + 2) or 0 in x.shape[x.ndim - nd - 1 :]:
        raise ShapeError(fmt(op, f"expected a non-empty {nd + 1}-D or {nd + 2}-D input {_LAYOUT[nd]}", x=x))
    if x.dtype.kind != "f":
        raise DTypeError(fmt(op, f"expected a float tensor, got {x.dtype}", x=x))


def pool_window(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate the pooling arguments as PyTorch does and return the Window."""
    check_input(op, x, nd)
    kernel = int_tuple(op, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None or stride == () or stride == [] else int_tuple(op, "stride", stride, nd, 1)
    padding = int_tuple(op, "padding", padding, nd, 0)
    dilation = int_tuple(op, "dilation", dilation, nd, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ShapeError(fmt(op, f"padding {padding} must be at most half of kernel_size {kernel}", x=x))
    size = tuple(x.shape[-nd:])
    out = tuple(
        pool_output_size(*args, ceil_mode) for args in zip(size, kernel, stride, padding, dilation, strict=True)
    )
    if min(out) < 1:
        raise ShapeError(
            fmt(
                op,
                f"the window (kernel_size={kernel}, dilation={dilation}) is larger than the "
                f"padded input (padding={padding}); the output size would be {out}",
                x=x,
            )
        )
    return Window(size, kernel, stride, padding, dilation, out)


def plane_strides(size):
    """Row-major strides of one (D, H, W) plane, in elements: (H*W, W, 1)."""
    return tuple(int(v) for v in numpy.cumprod((1,) + tuple(size[:0:-1]))[::-1])
