"""Convolution in 1D, 2D and 3D by im2col + one matrix product per group.

On the CPU a large layer runs im2col + GEMM per chunk of output positions, so the column block
stays in cache (same formulas, chunk by chunk: the CPU speed-ups are in ops/conv_cpu.py); the GPU
takes the one product.

Lecture: "Convolutional neural networks - Convolution" (and "Convolution padding",
"Convolution stride", "Convolution dimension", "Dilated convolution (a trous)").

The slide's "convolution" is a cross-correlation, as in PyTorch:

    y[n, f, o] = b[f] + sum_{c, k} W[f, c, k] * x[n, c, o*S - P + k*D]

with o and k multi-indices over the d spatial dims (d = 1, 2, 3).  im2col copies every
input patch into one column of a matrix, so that the whole layer becomes ONE product:

    col[(c, k), (n, o)] = x[n, c, o*S - P + k*D]       (zero outside the input)
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
from numpy.lib.stride_tricks import as_strided

from .. import backend
from ..function import Function
from .conv_args import Geometry, check_inputs, conv_output_size, make_geometry, padding_arg, tuple_arg  # noqa: F401
from .conv_cpu import (  # the CPU speed-ups; empty_cache is re-exported
    adjoint_geometry,
    by_channel_blocks,
    empty_cache,
    flipped_transposed,
    goes_by_chunks,
    over_chunks,
    spare_buffers,
)

__all__ = ["conv1d", "conv2d", "conv3d", "im2col", "col2im", "conv_output_size", "empty_cache"]


def conv1d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """1D convolution (cross-correlation) over (N, C, W) signals, as torch.nn.functional.conv1d.

    Lecture: "Convolutional neural networks - Convolution".
    Forward:  y[n,f,i] = b[f] + sum_{c,q} W[f,c,q] x[n, g*C/groups + c, i*S - P + q*D]  (g = f's group)
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,i} gy[n,f,i]
    Shapes:   x (N, C, W), W (F, C/groups, KW), b (F,) -> y (N, F, OW),
              OW = floor((W + 2P - D*(KW-1) - 1) / S) + 1
    Args:     stride, dilation: int or 1-tuple; padding: int, 1-tuple, 'valid' or 'same'.
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing C or F,
              or a kernel larger than the padded input.
    """
    return _conv("conv1d", 1, x, W, b, stride, padding, dilation, groups)


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2D convolution (cross-correlation) over (N, C, H, W) images, as torch.nn.functional.conv2d.

    Lecture: "Convolutional neural networks - Convolution" (the 5x5 example), "Convolution padding",
    "Convolution stride", "Dilated convolution (a trous)".
    Forward:  y[n,f,i,j] = b[f] + sum_{c,p,q} W[f,c,p,q] x[n, c, i*S - P + p*D, j*S - P + q*D]
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,i,j} gy[n,f,i,j]
    Shapes:   x (N, C, H, W), W (F, C/groups, KH, KW), b (F,) -> y (N, F, OH, OW),
              OH = floor((H + 2P - D*(KH-1) - 1) / S) + 1 (same for OW)
    Args:     stride, dilation: int or pair; padding: int, pair, 'valid' or 'same' ('same' pads
              D*(K-1) in total, the extra element at the end for even kernels, as PyTorch).
    Raises:   ShapeError on a wrong rank, a channel mismatch, groups not dividing C or F,
              or a kernel larger than the padded input.
    """
    return _conv("conv2d", 2, x, W, b, stride, padding, dilation, groups)


def conv3d(x, W, b=None, stride=1, padding=0, dilation=1, groups=1):
    """3D convolution (cross-correlation) over (N, C, D, H, W) volumes, as torch.nn.functional.conv3d.

    Lecture: "Convolutional neural networks - Convolution dimension" (a 3D kernel is a 4D tensor
    per filter); used by the 3D CNN for Alzheimer's, V-Net and HyperDense-Net.
    Forward:  y[n,f,o] = b[f] + sum_{c,k} W[f,c,k] x[n, c, o*S - P + k*D]  (o, k over depth, height, width)
    Backward: gx = col2im(W^T gy), gW = gy col^T, gb = sum_{n,o} gy[n,f,o]
    Shapes:   x (N, C, D, H, W), W (F, C/groups, KD, KH, KW), b (F,) -> y (N, F, OD, OH, OW),
              OD = floor((D + 2P - D_il*(KD-1) - 1) / S) + 1 (same for OH, OW; D_il the dilation)
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
    """y = W @ im2col(x) + b per group, for any number of spatial dims."""

    def forward(self, x, W, b=None, geometry=None, groups=1):
        xp = backend.get_xp(x)
        self.x, self.W, self.geometry, self.groups, self.col = x, W, geometry, groups, None
        N, F = x.shape[0], W.shape[0]
        if _is_pointwise(geometry):  # 1x1, stride 1, no padding: x is already the column matrix
            x_g = x.reshape(N, groups, -1, math.prod(geometry.I))  # (N, g, C/g, O)
            y = xp.matmul(W.reshape(groups, F // groups, -1), x_g).reshape(N, F, *geometry.O)
        elif goes_by_chunks(x, geometry):
            y = conv_by_chunks(x, W, geometry, groups)
        else:
            y, self.col = conv_by_im2col(x, W, geometry, groups)
        if b is not None:
            y += b.reshape((F,) + (1,) * len(geometry.O))
        return y

    def backward(self, gy):
        geometry, groups = self.geometry, self.groups
        want_gx, want_gW = self.needs_input_grad[0], self.needs_input_grad[1]
        if _is_pointwise(geometry):
            gb = gy.sum(axis=(0, *range(2, gy.ndim))) if len(self.needs_input_grad) > 2 else None
            return (*self._pointwise_backward(gy, want_gx, want_gW), gb)
        gx = gW = None
        if self.col is None and goes_by_chunks(self.x, geometry):
            return self._chunked_backward(gy, want_gx, want_gW)
        gy_t = channels_first(gy, groups)  # (g, F/g, N * prod O)
        gb = gy_t.sum(axis=-1).reshape(-1) if len(self.needs_input_grad) > 2 else None  # contiguous rows
        if not (want_gW or want_gx):
            return gx, gW, gb
        col = self.col if self.col is not None else im2col(self.x, geometry)
        if want_gW:
            gW = weight_grad(col, gy_t).reshape(self.W.shape)
        if want_gx:  # gcol = W^T gy is written over the column buffer, which gW no longer needs
            gx = conv_transpose_by_col2im(gy_t, self.W, geometry, self.x.shape, out=col)
            self.col = None  # overwritten: a second backward (retain_graph) recomputes it
            spare_buffers.put(col)  # and the next forward's im2col of this shape may write into it
        return gx, gW, gb

    def _chunked_backward(self, gy, want_gx, want_gW):
        """The backward above, one chunk of output positions at a time: gW sums over the chunks.

        gx: with stride 1, gx is itself a convolution, of gy with the flipped, transposed kernel
        (padded by D*(K-1) - P), run chunk by chunk like the forward; this skips col2im.  Else each
        chunk's col2im adds onto the slab of gx that its receptive fields cover.  Slabs of
        neighbouring chunks overlap, so each thread sums into its own gx and gW, added at the end.
        """
        x, W, groups, geometry = self.x, self.W, self.groups, self.geometry
        gb = gy.sum(axis=(0, *range(2, gy.ndim))) if len(self.needs_input_grad) > 2 else None
        gx = None
        if want_gx and adjoint_geometry(geometry) is not None:
            gx, want_gx = conv_by_chunks(gy, flipped_transposed(W, groups), adjoint_geometry(geometry), groups), False

        def backward_chunks(chunks):
            gx = numpy.zeros(x.shape, gy.dtype) if want_gx else None
            gW = numpy.zeros((groups, W.shape[0] // groups, W[0].size), gy.dtype) if want_gW else None
            for n, out_rows, in_rows, chunk in chunks:
                gy_t = channels_first(gy[n, :, out_rows], groups)
                col = im2col(x[n, :, in_rows], chunk)
                if want_gW:
                    gW += weight_grad(col, gy_t)
                if want_gx:
                    gx[n, :, in_rows] += conv_transpose_by_col2im(gy_t, W, chunk, x[n, :, in_rows].shape, out=col)
                spare_buffers.put(col)
            return gx, gW

        gW = None
        if want_gx or want_gW:
            parts = over_chunks(backward_chunks, x, geometry)
            gx = sum(p[0] for p in parts) if want_gx else gx
            gW = sum(p[1] for p in parts).reshape(W.shape) if want_gW else None
        return gx, gW, gb

    def _pointwise_backward(self, gy, want_gx, want_gW):
        """1x1 case: gW = sum_n gy[n] x[n]^T, gx = W^T gy, batched over N and the groups."""
        xp, groups = backend.get_xp(gy), self.groups
        N, F = gy.shape[:2]
        gy_g = gy.reshape(N, groups, F // groups, -1)  # (N, g, F/g, O)
        x_g = self.x.reshape(N, groups, -1, gy_g.shape[-1])  # (N, g, C/g, O)
        W_g = self.W.reshape(groups, F // groups, -1)  # (g, F/g, C/g)
        gW = xp.matmul(gy_g, x_g.swapaxes(-1, -2)).sum(axis=0).reshape(self.W.shape) if want_gW else None
        gx = xp.matmul(W_g.swapaxes(-1, -2), gy_g).reshape(self.x.shape) if want_gx else None
        return gx, gW


# ----------------------------------------------------------------------------- the two products
# Convolution and transposed convolution are each other's adjoint, and each one's backward
# for x is the other's forward: conv_transpose.py uses these same two functions.


def conv_by_im2col(x, W, geometry, groups):
    """y = W @ im2col(x) per group.  x (N, C, *I), W (F, C/g, *K) -> y (N, F, *O), col (C*prod K, N*prod O)."""
    xp, N, F = backend.get_xp(x), x.shape[0], W.shape[0]
    col = im2col(x, geometry)
    y_t = xp.matmul(W.reshape(groups, F // groups, -1), col.reshape(groups, -1, col.shape[1]))  # (g, F/g, N*O)
    return batch_first(y_t, N, geometry.O), col


def conv_transpose_by_col2im(x_t, W, geometry, out_shape, out=None):
    """y = col2im(W^T @ x) per group.  x_t (g, F/g, N * prod O), W (F, C/g, *K) -> y out_shape (N, C, *I).

    ``out`` (C * prod K, N * prod O) receives the column matrix (the buffer of the forward pass).
    """
    xp, groups = backend.get_xp(x_t), x_t.shape[0]
    W_g = W.reshape(groups, W.shape[0] // groups, -1)  # (g, F/g, C/g * prod K)
    if out is None:
        out = xp.empty((W_g.shape[2] * groups, x_t.shape[2]), x_t.dtype)
    xp.matmul(W_g.swapaxes(-1, -2), x_t, out=out.reshape(groups, W_g.shape[2], -1))
    return col2im(out, out_shape, geometry)


def weight_grad(col, gy_t):
    """gW = gy @ col^T per group, computed as (col @ gy^T)^T: BLAS is much faster with the long
    N * prod O dim as the inner one of a non-transposed left operand.  -> (g, F/g, C/g * prod K)."""
    xp, groups = backend.get_xp(col), gy_t.shape[0]
    col_g = col.reshape(groups, -1, col.shape[1])  # (g, C/g * prod K, N * prod O)
    return xp.matmul(col_g, gy_t.swapaxes(-1, -2)).swapaxes(-1, -2)


def im2col(x, geometry):
    """Copy every receptive field of x into a column: the matrix that turns convolution into a GEMM.

    Lecture: "Semantic segmentation" (convolution as a matrix operation).
    Forward:  col[(c, k), (n, o)] = x[n, c, o*S - P_low + k*D], 0 where that index is outside x
    Shapes:   x (N, C, *I) -> col (C * prod K, N * prod O)
    """
    if backend.on_gpu(x):
        return _im2col_gpu(x, geometry)
    return _im2col_cpu(x, geometry)


def col2im(col, x_shape, geometry):
    """The adjoint of im2col: add every column entry back onto the input element it came from.

    Forward:  gx[n, c, i] = sum over (k, o) with o*S - P_low + k*D = i of col[(c, k), (n, o)]
    Shapes:   col (C * prod K, N * prod O) -> gx x_shape = (N, C, *I)
    """
    if backend.on_gpu(col):
        return _col2im_gpu(col, x_shape, geometry)
    return _col2im_cpu(col, x_shape, geometry)


# ----------------------------------------------------------------------------- CPU / GPU pairs


def _im2col_cpu(x, geometry):
    """A strided view of the zero-padded input, then one copy into the column matrix."""
    N, C, d = x.shape[0], x.shape[1], len(geometry.K)
    padded = x
    if any(low or high for low, high in geometry.P):
        padded = numpy.zeros(
            (N, C, *(i + lo + hi for i, (lo, hi) in zip(geometry.I, geometry.P, strict=True))), x.dtype
        )
        padded[(..., *(slice(lo, lo + i) for i, (lo, _) in zip(geometry.I, geometry.P, strict=True)))] = x
    st = padded.strides  # bytes per step along (N, C, *spatial)
    shape = (C, *geometry.K, N, *geometry.O)
    strides = (
        st[1],
        *(st[2 + i] * geometry.D[i] for i in range(d)),
        st[0],
        *(st[2 + i] * geometry.S[i] for i in range(d)),
    )
    patches = as_strided(padded, shape, strides, writeable=False)  # (C, *K, N, *O), no copy
    col = spare_buffers.take((C * math.prod(geometry.K), N * math.prod(geometry.O)), x.dtype)
    col_k = col.reshape(shape)
    by_channel_blocks(lambda c: numpy.copyto(col_k[c], patches[c]), C, col.size)  # the one copy
    return col


def _im2col_gpu(x, geometry):
    """kernels/conv.cu::im2col, one thread per column element."""
    xp = backend.get_xp(x)
    N, C = x.shape[:2]
    col = xp.empty((C * math.prod(geometry.K), N * math.prod(geometry.O)), x.dtype)
    kernel = backend.load_kernel("conv", "im2col", x.dtype)
    kernel(*backend.grid_for(col.size), (xp.ascontiguousarray(x), col, N, C, *_lift3d(geometry)))
    return col


def _col2im_cpu(col, x_shape, geometry):
    """Accumulate over the kernel offsets: one strided slice-add per offset k.

    The sum is built in (C, N, *I) order, the order of col's rows and columns, so that both sides of
    every slice-add are read front to back; the result is returned as an (N, C, *I) view of it.
    """
    N, C = x_shape[:2]
    gx = numpy.zeros((C, N, *x_shape[2:]), col.dtype)
    col_k = col.reshape(C, *geometry.K, N, *geometry.O)  # (C, *K, N, *O)
    offsets = [(k, *_offset_slices(k, geometry)) for k in numpy.ndindex(*geometry.K)]

    def add_block(c):  # channels c: gx[c, :, o*S - P_low + k*D] += col[(c, k), (:, o)] for every offset k
        for k, in_slices, out_slices in offsets:
            if in_slices is not None:
                gx[(c, slice(None), *in_slices)] += col_k[(c, *k, slice(None), *out_slices)]

    by_channel_blocks(add_block, C, col.size)
    return gx.swapaxes(0, 1)  # (N, C, *I), a view: no copy


def _offset_slices(k, geometry):
    """For kernel offset k: the slices of x and of the output grid that it pairs (None if none)."""
    in_slices, out_slices = [], []
    for i in range(len(k)):  # output positions o whose input o*S - P_low + k*D falls inside x
        start = k[i] * geometry.D[i] - geometry.P[i][0]
        o_lo = max(0, -(start // geometry.S[i]))  # ceil(-start / S), at least 0
        o_hi = min(geometry.O[i], (geometry.I[i] - 1 - start) // geometry.S[i] + 1)
        if o_hi <= o_lo:
            return None, None
        out_slices.append(slice(o_lo, o_hi))
        first = o_lo * geometry.S[i] + start
        in_slices.append(slice(first, first + (o_hi - o_lo - 1) * geometry.S[i] + 1, geometry.S[i]))
    return in_slices, out_slices


def _col2im_gpu(col, x_shape, geometry):
    """kernels/conv.cu::col2im, one thread per input element gathering over the kernel offsets."""
    xp = backend.get_xp(col)
    gx = xp.empty(x_shape, col.dtype)
    kernel = backend.load_kernel("conv", "col2im", col.dtype)
    kernel(*backend.grid_for(gx.size), (xp.ascontiguousarray(col), gx, x_shape[0], x_shape[1], *_lift3d(geometry)))
    return gx


# ----------------------------------------------------------------------------- chunks (CPU only; see conv_cpu.py)


def conv_by_chunks(x, W, geometry, groups):
    """conv_by_im2col's y, im2col + GEMM per chunk of output positions (each writes its block of y)."""
    y = numpy.empty((x.shape[0], W.shape[0], *geometry.O), x.dtype)

    def forward_chunks(chunks):
        for n, out_rows, in_rows, chunk in chunks:
            y_c, col = conv_by_im2col(x[n, :, in_rows], W, chunk, groups)
            y[n, :, out_rows] = y_c
            spare_buffers.put(col)  # the next chunk's im2col writes into it (still in cache)

    over_chunks(forward_chunks, x, geometry)
    return y


# ----------------------------------------------------------------------------- helpers


def _lift3d(geometry):
    """(D, H, W, KD, KH, KW, SD, SH, SW, PD, PH, PW, DD, DH, DW, OD, OH, OW) with unit leading dims."""
    lead = 3 - len(geometry.K)
    one, zero = (1,) * lead, (0,) * lead
    low = tuple(lo for lo, _ in geometry.P)
    return (
        *(one + geometry.I),
        *(one + geometry.K),
        *(one + geometry.S),
        *(zero + low),
        *(one + geometry.D),
        *(one + geometry.O),
    )


def _is_pointwise(geometry):
    """1x1(x1) kernel, stride 1, no padding: im2col would be the identity (up to a transpose)."""
    no_pad = all(lo == 0 and hi == 0 for lo, hi in geometry.P)
    return no_pad and all(k == 1 for k in geometry.K) and all(s == 1 for s in geometry.S)


def channels_first(a, groups):
    """(N, C, *spatial) -> (groups, C/groups, N * prod spatial), one copy."""
    xp = backend.get_xp(a)
    N, C = a.shape[:2]
    out = xp.empty((C, N) + a.shape[2:], a.dtype)
    out[...] = a.swapaxes(0, 1)
    return out.reshape(groups, C // groups, -1)


def batch_first(a_t, N, spatial):
    """(groups, C/groups, N * prod spatial) -> (N, C, *spatial), a transposed view (no copy)."""
    C = a_t.shape[0] * a_t.shape[1]
    return a_t.reshape((C, N) + tuple(spatial)).swapaxes(0, 1)
