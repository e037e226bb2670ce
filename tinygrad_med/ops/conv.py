"""Convolution in 1D, 2D and 3D by im2col + one matrix product per group.

Three implementations, one place to find them: (a) the reference, ConvNd.forward / backward below
(im2col, one GEMM, col2im; what ``tm.reference_mode()`` runs); (b) the CUDA kernels
kernels/conv.cu::im2col and col2im, which the same reference launches on the GPU; (c) the fast CPU
path ops/conv_cpu.py::conv_forward / conv_backward (1x1 without im2col, chunks, threads, reused
buffers), reached from ConvNd in one line.  tests/test_reference_parity.py holds (a) == (c).

Lecture: "Convolutional neural networks - Convolution" (and "Convolution padding",
"Convolution stride", "Convolution dimension", "Dilated convolution (a trous)").

The slide's "convolution" is a cross-correlation, as in PyTorch:

    y[n, f, o] = b[f] + sum_{c, k} W[f, c, k] * x[n, c, o*S - P + k*dil]

with o and k multi-indices over the d spatial dims (d = 1, 2, 3).  im2col copies every
input patch into one column of a matrix, so that the whole layer becomes ONE product:

    col[(c, k), (n, o)] = x[n, c, o*S - P + k*dil]       (zero outside the input)
    y[f, (n, o)] = W[f, (c, k)] @ col[(c, k), (n, o)]     (one GEMM per group)

Backward is the same product transposed:

    gW = gy @ col^T            gcol = W^T @ gy            gx = col2im(gcol)

where col2im is the adjoint of im2col: every column entry is added back to the input
element it was copied from.  The same code serves 1D, 2D and 3D (the geometry is a tuple
per spatial dim); the GPU path runs the same formulas as kernels/conv.cu::im2col and
col2im, which lift 1D and 2D to 3D with unit dims.  conv_transpose.py reuses all of it.
"""

import math

import numpy

from .. import backend
from ..function import Function
from ..reference import path
from . import conv_cpu, conv_winograd  # the fast CPU paths (conv_cpu; Winograd for 3x3 stride 1 inside winograd())
from .conv_args import Geometry, check_inputs, conv_output_size, make_geometry, padding_arg, tuple_arg  # noqa: F401
from .conv_cpu import empty_cache  # re-exported
from .conv_index import batch_first, by_group, channels_first, column_shape, offset_slices, patches

__all__ = ["conv1d", "conv2d", "conv3d", "im2col", "col2im", "conv_output_size", "empty_cache"]


def conv1d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1D convolution (cross-correlation) over (N, C, W) signals, as torch.nn.functional.conv1d.

    Lecture: "Convolutional neural networks - Convolution".
    Forward:  y[n,f,i] = b[f] + sum_{c,q} W[f,c,q] x[n, g*C/groups + c, i*S - P + q*dil]  (g = f's group)
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,i} gy[n,f,i]
    Code:     reference ConvNd.forward / backward (im2col, one GEMM, col2im); kernels/conv.cu::im2col,
              col2im; fast CPU path ops/conv_cpu.py::conv_forward / conv_backward.
    Shapes:   x (N, C, W), W (F, C/groups, KW), b (F,) -> y (N, F, OW),
              OW = floor((W + 2P - dil*(KW-1) - 1) / S) + 1
    Args:     stride, dilation: int or 1-tuple; padding: int, 1-tuple, 'valid' or 'same'.
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing C or F,
              or a kernel larger than the padded input.
    """
    return _conv("conv1d", 1, x, W, b, stride, padding, dilation, groups)


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2D convolution (cross-correlation) over (N, C, H, W) images, as torch.nn.functional.conv2d.

    Lecture: "Convolutional neural networks - Convolution" (the 5x5 example), "Convolution padding",
    "Convolution stride", "Dilated convolution (a trous)".
    Forward:  y[n,f,i,j] = b[f] + sum_{c,p,q} W[f,c,p,q] x[n, c, i*S - P + p*dil, j*S - P + q*dil]
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,i,j} gy[n,f,i,j]
    Code:     reference ConvNd.forward / backward (im2col, one GEMM, col2im); kernels/conv.cu::im2col,
              col2im; fast CPU path ops/conv_cpu.py::conv_forward / conv_backward.
    Shapes:   x (N, C, H, W), W (F, C/groups, KH, KW), b (F,) -> y (N, F, OH, OW),
              OH = floor((H + 2P - dil*(KH-1) - 1) / S) + 1 (same for OW)
    Args:     stride, dilation: int or pair; padding: int, pair, 'valid' or 'same' ('same' pads
              dil*(K-1) in total, the extra element at the end for even kernels, as PyTorch).
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing C or F,
              or a kernel larger than the padded input.
    """
    return _conv("conv2d", 2, x, W, b, stride, padding, dilation, groups)


def conv3d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """3D convolution (cross-correlation) over (N, C, D, H, W) volumes, as torch.nn.functional.conv3d.

    Lecture: "Convolutional neural networks - Convolution dimension" (a 3D kernel is a 4D tensor
    per filter); used by the 3D CNN for Alzheimer's, V-Net and HyperDense-Net.
    Forward:  y[n,f,o] = b[f] + sum_{c,k} W[f,c,k] x[n, c, o*S - P + k*dil]  (o, k over depth, height, width)
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,o} gy[n,f,o]
    Code:     reference ConvNd.forward / backward (im2col, one GEMM, col2im); kernels/conv.cu::im2col,
              col2im; fast CPU path ops/conv_cpu.py::conv_forward / conv_backward.
    Shapes:   x (N, C, D, H, W), W (F, C/groups, KD, KH, KW), b (F,) -> y (N, F, OD, OH, OW),
              OD = floor((D + 2P - dil*(KD-1) - 1) / S) + 1 (same for OH, OW; dil the dilation)
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing C or F,
              or a kernel larger than the padded input.
    """
    return _conv("conv3d", 3, x, W, b, stride, padding, dilation, groups)


def _conv(op, d, x, W, b, stride, padding, dilation, groups):
    """Validate, build the geometry, and run ConvNd (adding a batch dim to unbatched input)."""
    check_inputs(op, d, x, W, b, groups, transposed=False)
    if x.ndim == d + 1:  # unbatched (C, *spatial), as PyTorch allows
        return _conv(op, d, x.unsqueeze(0), W, b, stride, padding, dilation, groups).squeeze(0)
    stride, dilation = tuple_arg(op, "stride", stride, d), tuple_arg(op, "dilation", dilation, d)
    kernel = tuple(W.shape[2:])
    pads = padding_arg(op, padding, kernel, stride, dilation, d)
    geometry = make_geometry(op, d, x, W, kernel, stride, dilation, pads)
    inputs = (x, W) if b is None else (x, W, b)
    return ConvNd.apply(*inputs, geometry=geometry, groups=groups)


class ConvNd(Function):
    """y = W @ im2col(x) + b per group, for any number of spatial dims.

    The reference: forward and backward below are the slide's im2col, one GEMM and col2im, on the CPU
    (NumPy) and the GPU (kernels/conv.cu).  Outside ``tm.reference_mode()`` the CPU runs the same math
    by ops/conv_cpu.py::conv_forward / conv_backward.

    Lecture:  "Convolutional neural networks - Convolution"
    Forward:  col = im2col(x); y = W col + b per group, col[(c, k), (n, o)] = x[n, c, o*S - P + k*dil]
    Backward: gW = gy col^T, gcol = W^T gy, gx = col2im(gcol), gb = sum_{n, o} gy
    Shapes:   x (N, C, *I), W (F, C/groups, *K), b (F,) -> y (N, F, *O), O = floor((I + 2P - dil*(K-1) - 1) / S)
              + 1
    """

    def forward(self, x, W, b=None, geometry=None, groups=1):
        self.x, self.W, self.geometry, self.groups = x, W, geometry, groups
        self.fast = path(x, False, True)  # True: the fast CPU paths ops/conv_winograd.py, ops/conv_cpu.py
        if self.fast:
            return conv_winograd.conv_forward(self, x, W, b)
        xp, N, F = backend.get_xp(x), x.shape[0], W.shape[0]
        self.col = im2col(x, geometry)  # (C * prod K, N * prod O)
        col_g = by_group(self.col, groups)  # (g, C/g * prod K, N * prod O)
        y_t = xp.matmul(W.reshape(groups, F // groups, -1), col_g)  # y = W col: (g, F/g, N * prod O)
        y = batch_first(y_t, N, geometry.O)  # (N, F, *O)
        if b is not None:
            y = y + b.reshape((F,) + (1,) * len(geometry.O))
        return y

    def backward(self, gy):
        if self.fast:
            return conv_winograd.conv_backward(self, gy)
        xp, W, groups = backend.get_xp(gy), self.W, self.groups
        gy_t = channels_first(gy, groups)  # (N, F, *O) -> (g, F/g, N * prod O)
        col_g = by_group(self.col, groups)  # (g, C/g * prod K, N * prod O)
        W_g = W.reshape(groups, W.shape[0] // groups, -1)  # (g, F/g, C/g * prod K)
        gx = gW = None  # only the gradients asked for (a first layer's x, frozen weights need none)
        if self.needs_input_grad[1]:
            gW = xp.matmul(gy_t, col_g.swapaxes(-1, -2)).reshape(W.shape)  # gW = gy col^T
        if self.needs_input_grad[0]:
            gcol = xp.matmul(W_g.swapaxes(-1, -2), gy_t).reshape(self.col.shape)  # gcol = W^T gy
            gx = col2im(gcol, self.x.shape, self.geometry)  # the adjoint of im2col
        gb = gy_t.sum(axis=-1).reshape(-1) if len(self.needs_input_grad) > 2 else None  # sum over n, o
        return gx, gW, gb


# ----------------------------------------------------------------------------- the two products
# Convolution and transposed convolution are each other's adjoint, and each one's backward
# for x is the other's forward: conv_transpose.py uses these functions.


def conv_by_im2col(x, W, geometry, groups):
    """y = W @ im2col(x) per group.  x (N, C, *I), W (F, C/g, *K) -> y (N, F, *O), col (C*prod K, N*prod O)."""
    N, F = x.shape[0], W.shape[0]
    col = im2col(x, geometry)
    y_t = _columns_product(x)(W.reshape(groups, F // groups, -1), by_group(col, groups))  # (g, F/g, N*O)
    return batch_first(y_t, N, geometry.O), col


def conv_transpose_by_col2im(x_t, W, geometry, out_shape, out=None):
    """y = col2im(W^T @ x) per group.  x_t (g, F/g, N * prod O), W (F, C/g, *K) -> y out_shape (N, C, *I).

    ``out`` (C * prod K, N * prod O), if given, receives the column matrix W^T @ x.
    """
    xp, groups = backend.get_xp(x_t), x_t.shape[0]
    W_g = W.reshape(groups, W.shape[0] // groups, -1)  # (g, F/g, C/g * prod K)
    if out is None:
        out = xp.empty((W_g.shape[2] * groups, x_t.shape[2]), x_t.dtype)
    _columns_product(x_t)(W_g.swapaxes(-1, -2), x_t, out=out.reshape(groups, W_g.shape[2], -1))
    return col2im(out, out_shape, geometry)


def weight_grad(col, gy_t):
    """gW = gy @ col^T per group, computed as (col @ gy^T)^T: BLAS is much faster with the long N * prod O dim as
    the inner one of a non-transposed left operand.  col (C * prod K, N * prod O), gy_t (g, F/g, N * prod O)
    -> (g, F/g, C/g * prod K)."""
    xp, groups = backend.get_xp(col), gy_t.shape[0]
    product = path(col, xp.matmul, conv_cpu.contracted_product)  # fast: split over conv_cpu's workers
    return product(by_group(col, groups), gy_t.swapaxes(-1, -2)).swapaxes(-1, -2)


def _columns_product(a):
    """matmul for these products: on the CPU outside reference mode conv_cpu.columns_product (split over its
    workers, BLAS's own threads left asleep); else the array module's matmul."""
    return path(a, backend.get_xp(a).matmul, conv_cpu.columns_product)


def im2col(x, geometry):
    """Copy every receptive field of x into a column: the matrix that turns convolution into a GEMM.

    Lecture: "Semantic segmentation" (convolution as a matrix operation).
    Forward:  col[(c, k), (n, o)] = x[n, c, o*S - P_low + k*dil], 0 where that index is outside x
    Shapes:   x (N, C, *I) -> col (C * prod K, N * prod O)
    Reference: _im2col_cpu; fast CPU path: conv_cpu.im2col (threads, a reused buffer).
    """
    return path(x, _im2col_cpu, conv_cpu.im2col, _im2col_gpu)(x, geometry)


def col2im(col, x_shape, geometry):
    """The adjoint of im2col: add every column entry back onto the input element it came from.

    Forward:  gx[n, c, i] = sum over (k, o) with o*S - P_low + k*dil = i of col[(c, k), (n, o)]
    Shapes:   col (C * prod K, N * prod O) -> gx x_shape = (N, C, *I)
    Reference: _col2im_cpu; fast CPU path: conv_cpu.col2im (threads over blocks of channels).
    """
    return path(col, _col2im_cpu, conv_cpu.col2im, _col2im_gpu)(col, x_shape, geometry)


# ----------------------------------------------------------------------------- CPU / GPU pairs


def _im2col_cpu(x, geometry):
    """One copy of the strided view of the zero-padded input (conv_index.patches) into the column matrix."""
    return numpy.ascontiguousarray(patches(x, geometry)).reshape(column_shape(x.shape, geometry))  # (C, *K, N, *O)


def _im2col_gpu(x, geometry):
    """kernels/conv.cu::im2col, one thread per column element."""
    xp = backend.get_xp(x)
    N, C = x.shape[:2]
    col = xp.empty((C * math.prod(geometry.K), N * math.prod(geometry.O)), x.dtype)
    kernel = backend.load_kernel("conv", "im2col", x.dtype)
    kernel(*backend.grid_for(col.size), (xp.ascontiguousarray(x), col, N, C, *_lift3d(geometry)))
    return col


def _col2im_cpu(col, x_shape, geometry):
    """For every kernel offset k, one strided slice-add: gx[:, :, o*S - P_low + k*dil] += col[(:, k), (:, o)]."""
    N, C = x_shape[:2]
    gx = numpy.zeros(x_shape, col.dtype)
    col_k = col.reshape(C, *geometry.K, N, *geometry.O)  # (C, *K, N, *O)
    for k in numpy.ndindex(*geometry.K):
        in_slices, out_slices = offset_slices(k, geometry)  # the inputs and outputs that offset k pairs
        if in_slices is not None:
            entries = col_k[(slice(None), *k, slice(None), *out_slices)]  # (C, N, *O at offset k)
            gx[(slice(None), slice(None), *in_slices)] += entries.swapaxes(0, 1)
    return gx


def _col2im_gpu(col, x_shape, geometry):
    """kernels/conv.cu::col2im, one thread per input element gathering over the kernel offsets."""
    xp = backend.get_xp(col)
    gx = xp.empty(x_shape, col.dtype)
    kernel = backend.load_kernel("conv", "col2im", col.dtype)
    kernel(*backend.grid_for(gx.size), (xp.ascontiguousarray(col), gx, x_shape[0], x_shape[1], *_lift3d(geometry)))
    return gx


# ----------------------------------------------------------------------------- helpers


def empty_batch_grads(x, W, gy, with_b):
    """(gx, gW, gb) of a convolution (or its transpose) over an empty batch: zeros of each input's shape."""
    xp = backend.get_xp(gy)
    F = gy.shape[1]
    return xp.zeros(x.shape, x.dtype), xp.zeros(W.shape, W.dtype), (xp.zeros(F, gy.dtype) if with_b else None)


def _lift3d(geometry):
    """(D, H, W, KD, KH, KW, SD, SH, SW, PD, PH, PW, dilD, dilH, dilW, OD, OH, OW) with unit leading dims."""
    lead = 3 - len(geometry.K)
    one, zero = (1,) * lead, (0,) * lead
    low = tuple(lo for lo, _ in geometry.P)
    return (
        *(one + geometry.I),
        *(one + geometry.K),
        *(one + geometry.S),
        *(zero + low),
        *(one + geometry.dil),
        *(one + geometry.O),
    )
