"""Transposed convolution in 1D, 2D and 3D: the adjoint of convolution, by col2im.

Lecture: "Semantic segmentation" (convolution as a matrix operation; the transposed
convolution multiplies by the transposed matrix, and upsamples when the stride is > 1).

Write the convolution y = conv(x) as y = A x.  The transposed convolution is y = A^T x:

    col = W^T @ x  (one GEMM per group)        y = col2im(col) + b

so its forward is exactly the backward-for-x of conv (conv.py::conv_transpose_by_col2im),
and its backward for x is exactly the forward of conv (conv.py::conv_by_im2col):

    gx = W @ im2col(gy)        gW = x @ im2col(gy)^T        gb = sum gy

The weight has PyTorch's layout (C_in, C_out/groups, *K).  Output size per spatial dim:
    O = (I - 1)*S - 2P + dil*(K - 1) + output_padding + 1
"""

from .. import backend
from ..errors import ShapeError, fmt
from ..function import Function
from .conv import channels_first, conv_by_im2col, conv_transpose_by_col2im, empty_batch_grads, weight_grad
from .conv_args import Geometry, check_inputs, padding_arg, tuple_arg, w_layout
from .int_args import int_tuple

__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_transpose_output_size"]


def conv_transpose1d(x, W, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1D transposed convolution, as torch.nn.functional.conv_transpose1d.

    Lecture: "Semantic segmentation" (transposed convolution).
    Forward:  y = col2im(W^T x) + b, i.e. y[n,f,o*S - P + q*dil] += W[c,f,q] x[n,c,o]
    Backward: gx = W im2col(gy) (a convolution of gy), gW = x im2col(gy)^T, gb = sum gy
    Shapes:   x (N, C, W), W (C, F/groups, KW), b (F,) -> y (N, F, OW),
              OW = (W - 1)*S - 2P + dil*(KW - 1) + output_padding + 1
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing the channels,
              output_padding not smaller than stride or dilation, or a non-positive output size.
    """
    return _conv_transpose("conv_transpose1d", 1, x, W, b, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(x, W, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2D transposed convolution, as torch.nn.functional.conv_transpose2d (FCN / U-Net upsampling).

    Lecture: "Semantic segmentation" (transposed convolution, U-Net's up-convolutions).
    Forward:  y = col2im(W^T x) + b, i.e. y[n,f,i*S - P + p*dil, j*S - P + q*dil] += W[c,f,p,q] x[n,c,i,j]
    Backward: gx = W im2col(gy) (a convolution of gy), gW = x im2col(gy)^T, gb = sum gy
    Shapes:   x (N, C, H, W), W (C, F/groups, KH, KW), b (F,) -> y (N, F, OH, OW),
              OH = (H - 1)*S - 2P + dil*(KH - 1) + output_padding + 1 (same for OW)
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing the channels,
              output_padding not smaller than stride or dilation, or a non-positive output size.
    """
    return _conv_transpose("conv_transpose2d", 2, x, W, b, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(x, W, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3D transposed convolution, as torch.nn.functional.conv_transpose3d (V-Net upsampling).

    Lecture: "Semantic segmentation" (transposed convolution; V-Net).
    Forward:  y = col2im(W^T x) + b over depth, height and width
    Backward: gx = W im2col(gy) (a convolution of gy), gW = x im2col(gy)^T, gb = sum gy
    Shapes:   x (N, C, D, H, W), W (C, F/groups, KD, KH, KW), b (F,) -> y (N, F, OD, OH, OW),
              OD = (D - 1)*S - 2P + dil*(KD - 1) + output_padding + 1 (same for OH, OW)
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing the channels,
              output_padding not smaller than stride or dilation, or a non-positive output size.
    """
    return _conv_transpose("conv_transpose3d", 3, x, W, b, stride, padding, output_padding, groups, dilation)


def conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    """PyTorch's output-size formula for one dim: (size - 1)*S - 2P + dil*(K - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _conv_transpose(op, d, x, W, b, stride, padding, output_padding, groups, dilation):
    """Validate, build the geometry of the convolution this is the adjoint of, run ConvTransposeNd."""
    check_inputs(op, d, x, W, b, groups, transposed=True)
    if x.ndim == d + 1:  # unbatched (C, *spatial)
        y = _conv_transpose(op, d, x.unsqueeze(0), W, b, stride, padding, output_padding, groups, dilation)
        return y.squeeze(0)
    stride, dilation = tuple_arg(op, "stride", stride, d), tuple_arg(op, "dilation", dilation, d)
    if isinstance(padding, str):
        raise ShapeError(fmt(op, f"padding must be an int or a tuple of {d} ints, got {padding!r}"))
    pads = padding_arg(op, padding, (), stride, dilation, d)
    extra = int_tuple(op, "output_padding", output_padding, d, minimum=0)
    if any(e >= s and e >= dl for e, s, dl in zip(extra, stride, dilation, strict=True)):
        raise ShapeError(
            fmt(
                op,
                f"output_padding {output_padding!r} must be smaller than stride {stride} or "
                f"dilation {dilation} (one non-negative int per spatial dim)",
            )
        )
    kernel, size = tuple(W.shape[2:]), tuple(x.shape[2:])
    out = tuple(
        conv_transpose_output_size(i, k, s, p, e, dl)
        for i, k, s, (p, _), e, dl in zip(size, kernel, stride, pads, extra, dilation, strict=True)
    )
    if any(o < 1 for o in out):
        raise ShapeError(
            fmt(
                op,
                f"the output size {out} is not positive",
                x=x,
                W=(W.shape, w_layout(d, True)),
                hint="use less padding",
            )
        )
    # the convolution that maps y (size out) back to x (size I): its output size is x's size
    geometry = Geometry(kernel, stride, dilation, pads, out, size)
    inputs = (x, W) if b is None else (x, W, b)
    return ConvTransposeNd.apply(*inputs, geometry=geometry, groups=groups)


class ConvTransposeNd(Function):
    """y = col2im(W^T @ x) + b per group, for any number of spatial dims.

    Lecture:  "Semantic segmentation" (transposed convolution for upsampling)
    Forward:  y = col2im(W^T x) + b per group (the adjoint of a convolution)
    Backward: gx = conv(gy, W) by im2col, gW = x col^T, gb = sum_{n, o} gy
    Shapes:   x (N, C, *I), W (C, F/groups, *K) -> y (N, F, *O), O = (I - 1)*S - 2P + dil*(K - 1) +
              output_padding + 1
    """

    def forward(self, x, W, b=None, geometry=None, groups=1):
        self.W, self.geometry, self.groups, self.x = W, geometry, groups, x
        N, F = x.shape[0], W.shape[1] * groups
        if x.size == 0:  # N = 0: an empty output (PyTorch), no product and no kernel launch
            return backend.get_xp(x).zeros((N, F, *geometry.I), x.dtype)
        self.x_t = channels_first(x, groups)  # (g, C/g, N * prod I): kept for gW
        y = conv_transpose_by_col2im(self.x_t, W, geometry, (N, F, *geometry.I))
        if b is not None:
            y += b.reshape((F,) + (1,) * len(geometry.I))
        return y

    def backward(self, gy):
        geometry, groups = self.geometry, self.groups
        if self.x.size == 0:  # an empty batch: every gradient is 0
            return empty_batch_grads(self.x, self.W, gy, len(self.needs_input_grad) > 2)
        gb = gy.sum(axis=(0, *range(2, gy.ndim))) if len(self.needs_input_grad) > 2 else None
        # gx is the convolution of gy with the same weight, read in conv's layout (F=C_in, C/g=C_out/g, *K)
        gx, col = conv_by_im2col(gy, self.W, geometry, groups)  # col (C_out * prod K, N * prod I)
        gW = weight_grad(col, self.x_t).reshape(self.W.shape) if self.needs_input_grad[1] else None
        return (gx if self.needs_input_grad[0] else None), gW, gb
