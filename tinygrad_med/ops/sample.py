"""Spatial transformer sampling: affine_grid and grid_sample (bilinear/trilinear, nearest).

Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the network transforms its input so that
later layers see a pose-normalised image; the transform is learned, so the sampling must pass gradients
to the image AND to the transformation) and "Data augmentation" (the same sampler applies random affine
transforms).

A spatial transformer (Jaderberg et al. 2015, arXiv:1506.02025) has three parts: a localisation net
predicts theta; ``affine_grid`` turns theta into a sampling grid of normalised source coordinates in
[-1, 1] (x along W, y along H, z along D); ``grid_sample`` reads the input at those points.

Source index of a normalised coordinate g along an axis of L pixels (PyTorch's rules):
    align_corners=True:   src = (g + 1) / 2 * (L - 1)      -1 and 1 are the centres of the corner pixels
    align_corners=False:  src = ((g + 1) * L - 1) / 2      -1 and 1 are the outer edges of the corner pixels
then padding_mode:
    zeros:       taps outside [0, L-1] read 0
    border:      src = clip(src, 0, L - 1)
    reflection:  src mirrored at the corner pixels' centres (align_corners) or outer edges, then clipped
Bilinear (trilinear in 3-D): i0 = floor(src), taps i0 (weight i0 + 1 - src) and i0 + 1 (weight src - i0)
per axis, the product of the axes' weights per corner.  Bicubic (4-D inputs only, as PyTorch): src
unnormalised but NOT padded, i0 = floor(src), t = src - i0, the 4 x 4 taps i0 - 1 .. i0 + 2 per axis with
Keys' cubic weights W_k(t), A = -0.75 (ops/resample.py::cubic_weights); padding_mode maps each tap's
integer index instead (border: clip; reflection: mirror, then clip; zeros: a tap outside reads 0), and
d W_k / d g = W_k'(t) * (L-1)/2 or L/2 (the padding moves no tap: it adds no slope).
Nearest: the one tap round(src), round half to even (C's nearbyint), as PyTorch.  d(src)/dg is (L-1)/2
or L/2 times the clip/reflection slope (0 or +-1).

CPU reference (_grid_sample_fwd_cpu/_bwd_cpu): the taps gathered by fancy indexing, the backward by
numpy.add.at.  Fast CPU path (_sparse): grid_sample is linear in x, so each image's taps form a sparse
(P, S) matrix M, T = 4 / 8 / 16 / 1 weights a row: y = M x with x as (S, C) rows (scipy.sparse), gx =
M^T gy; g_grid weighs gy . x at each tap with the weights' derivatives.  The kernels compute the same
taps per output point and scatter the backward with atomicAdd.

    affine_grid  theta (N, 2, 3), size (N, C, H, W)     -> grid (N, H, W, 2)
                 theta (N, 3, 4), size (N, C, D, H, W)  -> grid (N, D, H, W, 3)
    grid_sample  x (N, C, H, W), grid (N, OH, OW, 2)         -> y (N, C, OH, OW)      <-> kernels/sample.cu
                 (bicubic: grid_sample_fwd_cubic / grid_sample_bwd_cubic)
                 x (N, C, D, H, W), grid (N, OD, OH, OW, 3)  -> y (N, C, OD, OH, OW)
"""

import functools
import math

import numpy
import scipy.sparse

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..reference import cpu_path
from .resample import cubic_weight_slopes, cubic_weights

__all__ = ["affine_grid", "grid_sample"]

_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_GROUP_POINTS = 1 << 15  # output points whose taps the CPU path computes in one go (see _image_groups)
_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


def affine_grid(theta, size, align_corners=False):
    """Sampling grid of an affine map: each output pixel's normalised source coordinates (F.affine_grid).

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the grid generator T_theta(G)).
    Forward:  grid[n, h, w] = theta[n] @ (x_w, y_h, 1) with x_w, y_h the output pixel's normalised
              coordinates: linspace(-1, 1, W) (times (W-1)/W unless align_corners; 0 if W == 1); 3-D adds z_d.
    Backward: g_theta[n] = sum over pixels of grid-gradient (outer) (x_w, y_h, 1)
    Shapes:   theta (N, 2, 3), size (N, C, H, W) -> (N, H, W, 2);
              theta (N, 3, 4), size (N, C, D, H, W) -> (N, D, H, W, 3)
    Args:
        theta: float tensor of affine matrices mapping output to input coordinates.
        size: the output size as (N, C, H, W) or (N, C, D, H, W).
        align_corners: as in grid_sample (use the same value for both).
    Returns:
        the grid tensor, same dtype and device as theta.
    Raises:
        ShapeError if size is not 4 or 5 long, theta is not (N, 2, 3) / (N, 3, 4) for it, or N differs;
        DTypeError if theta is not floating point.
    Reference: Jaderberg et al., "Spatial Transformer Networks", 2015, arXiv:1506.02025 (eq. 1).
    """
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise ShapeError(fmt("affine_grid", f"size must be (N, C, H, W) or (N, C, D, H, W), got {size}"))
    nd = len(size) - 2
    if theta.dtype.kind != "f":
        raise DTypeError(fmt("affine_grid", f"theta must be floating point, got {theta.dtype}", theta=theta))
    if tuple(theta.shape) != (size[0], nd, nd + 1):
        raise ShapeError(
            fmt(
                "affine_grid",
                f"a {nd}-D size needs theta of shape (N, {nd}, {nd + 1}) with N = size[0] = {size[0]}",
                theta=theta,
                size=size,
            )
        )
    if min(size) < 1:  # N = 0 too, as PyTorch ("Expected non-zero, positive output size")
        raise ShapeError(fmt("affine_grid", f"every entry of size must be positive, got {size}"))
    return AffineGrid.apply(theta, size=size, align_corners=bool(align_corners))


class AffineGrid(Function):
    """grid = base @ theta^T with base the (x, y, [z,] 1) coordinates of every output pixel.

    Lecture:  "HANDLING SPATIAL VARIANCE - Spatial transformer"
    Forward:  grid[n, p] = theta[n] @ (x_p, y_p, [z_p,] 1), base coordinates in [-1, 1]
    Backward: gtheta[n] = sum_p g_grid[n, p] base_p^T
    Shapes:   theta (N, 2, 3) or (N, 3, 4) -> grid (N, H, W, 2) or (N, D, H, W, 3)
    """

    def forward(self, theta, size, align_corners):
        xp = backend.get_xp(theta)
        self.base = xp.asarray(_base_grid(size[2:], align_corners), dtype=theta.dtype)  # (P, nd + 1)
        self.out_shape = (size[0], *size[2:], len(size) - 2)
        grid = xp.matmul(self.base, xp.swapaxes(theta, 1, 2))  # (P, nd+1) @ (N, nd+1, nd) -> (N, P, nd)
        return grid.reshape(self.out_shape)

    def backward(self, g_grid):
        xp = backend.get_xp(g_grid)
        g_grid = g_grid.reshape(g_grid.shape[0], -1, g_grid.shape[-1])  # (N, P, nd)
        return (xp.matmul(xp.swapaxes(g_grid, 1, 2), self.base),)  # (N, nd, P) @ (P, nd+1) -> (N, nd, nd+1)


def _base_grid(spatial, align_corners):
    """(prod(spatial), nd + 1) rows (x, y, [z,] 1) over the output pixels in C order (x fastest)."""
    axes = []
    for n in spatial:  # D, H, W
        line = numpy.linspace(-1.0, 1.0, n) if n > 1 else numpy.zeros(1)
        axes.append(line if align_corners or n <= 1 else line * (n - 1) / n)
    mesh = numpy.meshgrid(*axes, indexing="ij")  # z, y, x
    columns = [m.ravel() for m in reversed(mesh)]  # x, y, z
    return numpy.stack([*columns, numpy.ones(mesh[0].size)], axis=1)


# ----------------------------------------------------------------------------- grid_sample


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Read the input at the grid's normalised coordinates with (bi/tri)linear, bicubic or nearest interpolation.

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the sampler) and "Data augmentation".
    Forward:  y[n, c, o] = sum over taps t of w_t(src(grid[n, o])) * x[n, c, i_t]   (module docstring;
              bilinear: 4 taps, trilinear: 8, bicubic: 16, nearest: 1; taps outside the input read 0)
    Backward: gx[n, c, i_t] += w_t * gy[n, c, o]   (a scatter-add: outputs share inputs)
              g_grid[n, o, a] = dsrc_a/dg_a * sum_{c, t} gy[n, c, o] * x[n, c, i_t] * dw_t/dsrc_a,
              dw_t/dsrc_a = +-(product of the other axes' weights); bicubic: W_k'(t) times the other
              axis's weight; 0 for nearest
    Code:     reference _grid_sample_fwd_cpu/_bwd_cpu; kernels/sample.cu; fast CPU path _grid_sample_*_sparse.
    Shapes:   x (N, C, H, W), grid (N, OH, OW, 2) -> (N, C, OH, OW);
              x (N, C, D, H, W), grid (N, OD, OH, OW, 3) -> (N, C, OD, OH, OW)
    Args:
        input: float tensor, 4-D or 5-D.
        grid: same dtype and device; last dim (x, y) or (x, y, z), mostly in [-1, 1].
        mode: 'bilinear' (trilinear for 5-D inputs, as PyTorch), 'bicubic' (4-D inputs only) or 'nearest'.
        padding_mode: 'zeros', 'border' or 'reflection'.
        align_corners: True puts -1 and 1 at the corner pixels' centres, False at their outer edges.
    Non-finite coordinates: zeros padding reads 0 (as PyTorch's CUDA kernel); border and reflection clip
    nan to pixel 0 (fmax) and inf to the last pixel, as PyTorch.
    Raises:
        ShapeError if input is not 4-D/5-D, grid's rank, batch or last dim does not match;
        DTypeError on non-float or differing dtypes; ValueError on an unknown mode or padding_mode.
    Reference: Jaderberg et al., "Spatial Transformer Networks", 2015, arXiv:1506.02025 (eqs. 3-7).
    """
    _check_grid_sample(input, grid, mode, padding_mode)
    options = dict(mode=_MODES[mode], padding=_PADDING[padding_mode], align_corners=bool(align_corners))
    return GridSample.apply(input, grid, **options)


def _check_grid_sample(x, grid, mode, padding_mode):
    if mode not in _MODES:
        raise ValueError(fmt("grid_sample", f"mode {mode!r} is not supported; use 'bilinear', 'bicubic' or 'nearest'"))
    if padding_mode not in _PADDING:
        raise ValueError(fmt("grid_sample", f"padding_mode {padding_mode!r} is not one of {sorted(_PADDING)}"))
    layouts = {4: ("(N, C, H, W)", "(N, OH, OW, 2)"), 5: ("(N, C, D, H, W)", "(N, OD, OH, OW, 3)")}
    if x.ndim not in layouts:
        raise ShapeError(fmt("grid_sample", "input must be 4-D or 5-D", input=x))
    if mode == "bicubic" and x.ndim != 4:
        raise ShapeError(fmt("grid_sample", "mode 'bicubic' needs a 4-D input (N, C, H, W), as PyTorch", input=x))
    x_layout, grid_layout = layouts[x.ndim]
    shapes = dict(input=(x.shape, x_layout), grid=(grid.shape, grid_layout))
    if grid.ndim != x.ndim or grid.shape[-1] != x.ndim - 2:
        raise ShapeError(fmt("grid_sample", f"a {x.ndim}-D input needs a grid {grid_layout}", **shapes))
    if grid.shape[0] != x.shape[0]:
        raise ShapeError(fmt("grid_sample", "input and grid differ in the batch size N", **shapes))
    if min(x.shape[1:]) < 1:  # an empty batch (N = 0) gives an empty output, as PyTorch
        raise ShapeError(fmt("grid_sample", "input has an empty channel or spatial dim", **shapes))
    if x.dtype.kind != "f" or grid.dtype != x.dtype:
        raise DTypeError(fmt("grid_sample", f"input and grid must share a float dtype, got {x.dtype} and {grid.dtype}"))


class GridSample(Function):
    """y = taps of x at the grid's source points; backward scatters gy into gx and differentiates the weights.

    Lecture:  "HANDLING SPATIAL VARIANCE - Spatial transformer"
    Forward:  y[n, c, p] = sum over taps j of w_j(grid[n, p]) x[n, c, j] (bilinear / nearest / bicubic)
    Backward: gx[j] += w_j gy (scatter); g grid = sum_j (dw_j / d grid) x[j] gy
    Shapes:   x (N, C, *I), grid (N, *O, d) -> y (N, C, *O)
    """

    def forward(self, x, grid, mode, padding, align_corners):
        self.x, self.grid, self.options = x, grid, (mode, padding, align_corners)
        if grid.size == 0:  # N = 0 or no output point: an empty output, no kernel launch
            return backend.get_xp(x).zeros((*x.shape[:2], *grid.shape[1:-1]), x.dtype)
        fwd = _grid_sample_fwd_gpu if backend.on_gpu(x) else cpu_path(_grid_sample_fwd_cpu, _grid_sample_fwd_sparse)
        return fwd(x, grid, *self.options)

    def backward(self, gy):
        bwd = _grid_sample_bwd_gpu if backend.on_gpu(gy) else cpu_path(_grid_sample_bwd_cpu, _grid_sample_bwd_sparse)
        if self.grid.size == 0:  # nothing was sampled: zero gradients
            xp = backend.get_xp(gy)
            gx, g_grid = xp.zeros(self.x.shape, gy.dtype), xp.zeros(self.grid.shape, gy.dtype)
        else:
            gx, g_grid = bwd(gy, self.x, self.grid, *self.options)
        return (gx if self.needs_input_grad[0] else None), (g_grid if self.needs_input_grad[1] else None)


def _source_index_cpu(coord, size, padding, align_corners):
    """(src, dsrc/dcoord) along one axis of ``size`` pixels (module docstring), as arrays like coord."""
    if align_corners:
        src, slope = (coord + 1) / 2 * (size - 1), numpy.full_like(coord, (size - 1) / 2)
    else:
        src, slope = ((coord + 1) * size - 1) / 2, numpy.full_like(coord, size / 2)
    if padding == _PADDING["reflection"]:
        twice_low, twice_high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        src, flip = _reflect_cpu(src, twice_low, twice_high)
        slope = slope * flip
    if padding != _PADDING["zeros"]:  # border, and reflection's last step: clip to [0, L-1]
        inside = (src > 0) & (src < size - 1)  # nan: outside, and fmax/fmin send it to 0 (PyTorch's CUDA kernel)
        src, slope = numpy.fmin(numpy.fmax(src, 0), size - 1).astype(coord.dtype), slope * inside
    far = ~(numpy.abs(src) < 2.0**30)  # zeros padding: inf, nan or huge reads 0 (PyTorch's CUDA kernel: -100)
    return numpy.where(far, -100, src).astype(coord.dtype), numpy.where(far, 0, slope).astype(coord.dtype)


def _reflect_cpu(src, twice_low, twice_high):
    """Mirror src into [twice_low/2, twice_high/2] (PyTorch's reflect_coordinates); returns (src, +-1 slope)."""
    if twice_low == twice_high:  # a 1-pixel axis with align_corners
        return numpy.zeros_like(src), numpy.zeros_like(src)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = src - low
    sign = numpy.where(shifted < 0, -1, 1)
    shifted = numpy.abs(shifted)
    with numpy.errstate(invalid="ignore"):  # an infinite src mirrors to nan, clipped to 0 afterwards
        extra, even = numpy.fmod(shifted, span), numpy.floor(shifted / span) % 2 == 0
    return numpy.where(even, extra + low, span - extra + low).astype(src.dtype), numpy.where(even, sign, -sign)


def _axis_taps_cpu(coord, size, mode, padding, align_corners):
    """One axis's taps (index, weight, d weight / d coord) as (R, N, P) arrays: R = 2 (i0, i0 + 1) or 1 (nearest).

    A tap outside [0, size) weighs 0 (zero padding), and so does its derivative; its index is set to 0,
    a pixel that it then reads with weight 0.  The slope d src / d coord is folded into the derivative.
    """
    if mode == _MODES["bicubic"]:
        return _cubic_axis_taps_cpu(coord, size, padding, align_corners)
    src, slope = _source_index_cpu(coord, size, padding, align_corners)
    if mode == _MODES["nearest"]:  # one tap, piecewise constant: no derivative
        i, weight, dweight = numpy.rint(src)[None], numpy.ones_like(src)[None], numpy.zeros_like(src)[None]
    else:
        i0 = numpy.floor(src)
        i, weight = numpy.stack([i0, i0 + 1]), numpy.stack([i0 + 1 - src, src - i0])
        dweight = numpy.stack([-slope, slope])
    inside = (i >= 0) & (i < size)
    return numpy.where(inside, i, 0).astype(numpy.int32), weight * inside, dweight * inside


def _cubic_axis_taps_cpu(coord, size, padding, align_corners):
    """Bicubic taps along one axis as (4, N, P) arrays (module docstring): i0 - 1 .. i0 + 2 with Keys' weights
    W_k(t), t = src - floor(src); padding_mode maps each tap's index (PyTorch's get_value_bounded).

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the sampler, here with a smoother kernel).
    Returns (index, weight, d weight / d coord) like _axis_taps_cpu; kernels/sample.cu::cubic_taps is its twin.
    """
    src, slope = _source_index_cpu(coord, size, _PADDING["zeros"], align_corners)  # unnormalised, not padded
    i0 = numpy.floor(src)
    t = src - i0
    i = numpy.stack([i0 - 1, i0, i0 + 1, i0 + 2])
    if padding == _PADDING["reflection"]:
        twice_low, twice_high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        i = _reflect_cpu(i, twice_low, twice_high)[0]
    if padding != _PADDING["zeros"]:  # border, and reflection's last step
        i = numpy.clip(i, 0, size - 1)
    inside = (i >= 0) & (i < size)
    weight, dweight = numpy.stack(cubic_weights(t)), numpy.stack(cubic_weight_slopes(t)) * slope
    return numpy.where(inside, i, 0).astype(numpy.int32), weight * inside, dweight * inside


def _taps_cpu(x_shape, grid, mode, padding, align_corners, derivatives=True):
    """Every output point's T taps (4 bilinear, 8 trilinear, 16 bicubic, 1 nearest) as (T, N, P) arrays.

    Returns the flat input index, the weight and, with ``derivatives``, a list of d weight / d grid
    coordinate per spatial axis (D, H, W order).  The corners are the outer product of the axes' taps
    (the last axis fastest): a corner's weight is the product of its axes' weights, its derivative along
    axis a the same product with axis a's derivative in place of its weight.
    """
    spatial = x_shape[2:]
    nd = len(spatial)
    coords = grid.reshape(grid.shape[0], -1, nd)  # (N, P, nd), component 0 = x = the last axis
    options = (mode, padding, align_corners)
    axes = [_axis_taps_cpu(coords[..., nd - 1 - a], size, *options) for a, size in enumerate(spatial)]  # D, H, W
    strides = [math.prod(spatial[a + 1 :]) for a in range(nd)]
    dtype = numpy.int32 if math.prod(spatial) < 2**31 else numpy.int64  # a flat pixel index within one image
    index = _outer([i.astype(dtype) * stride for (i, _, _), stride in zip(axes, strides, strict=True)], numpy.add)
    weight = _outer([w for _, w, _ in axes], numpy.multiply)
    if not derivatives:
        return index, weight, None
    dweights = [_outer([d if b == a else w for b, (_, w, d) in enumerate(axes)], numpy.multiply) for a in range(nd)]
    return index, weight, dweights


def _outer(per_axis, op):
    """(R_0, N, P), (R_1, N, P), ... -> (R_0 * R_1 * ..., N, P): op over every combination, the last axis fastest.

    The tap axis leads so that every elementwise loop runs over N * P contiguous values.
    """
    nd, points = len(per_axis), per_axis[0].shape[1:]
    spread = [a.reshape(*(a.shape[0] if b == i else 1 for b in range(nd)), *points) for i, a in enumerate(per_axis)]
    taps = math.prod(a.shape[0] for a in per_axis)
    return functools.reduce(op, reversed(spread)).reshape(taps, *points)  # x first, as PyTorch multiplies


def channels_last(a):
    """(N, C, *spatial) -> (N * prod(spatial), C): one row per pixel, the matrix the sparse products read.

    With channels_first also used by roi_align and roi_pool (ops/detection.py)."""
    rows = a.reshape(*a.shape[:2], math.prod(a.shape[2:])).transpose(0, 2, 1)
    return numpy.ascontiguousarray(rows).reshape(-1, a.shape[1])  # a copy (reshape alone keeps a view when N == 1)


def channels_first(rows, N, spatial, dtype):
    """(N * prod(spatial), C) -> (N, C, *spatial), C-contiguous, in dtype (scipy computes float16 in float32)."""
    C = rows.shape[1]
    return numpy.ascontiguousarray(rows.reshape(N, math.prod(spatial), C).transpose(0, 2, 1), dtype).reshape(
        N, C, *spatial
    )


def _image_groups(N, P):
    """Slices of the batch with about _GROUP_POINTS output points each, whose taps are computed together:
    few enough calls, and temporaries small enough for the allocator to reuse (fresh pages for
    batch-sized temporaries cost more than the arithmetic)."""
    step = max(1, _GROUP_POINTS // max(P, 1))
    return [slice(start, min(start + step, N)) for start in range(0, N, step)]


def _image_matrix_cpu(index, values, S):
    """One image's sparse (P, S) sampling matrix from its (T, P) tap indices and values: row p holds its T taps."""
    T, P = index.shape
    rows = numpy.arange(0, P * T + 1, T, dtype=index.dtype)  # row p holds entries [p*T, (p+1)*T)
    return scipy.sparse.csr_matrix((values.T.ravel(), index.T.ravel(), rows), shape=(P, S))


def _grid_sample_fwd_cpu(x, grid, mode, padding, align_corners):
    """The reference: y[n, c, p] = sum_t w_t[n, p] x[n, c, i_t[n, p]], the T taps gathered by fancy indexing."""
    (N, C), nd = x.shape[:2], grid.shape[-1]
    index, weight, _ = _taps_cpu(x.shape, grid.reshape(N, -1, nd), mode, padding, align_corners, False)  # (T, N, P)
    x_rows = x.reshape(N, C, -1)  # (N, C, S)
    seen = x_rows[numpy.arange(N)[:, None], :, index]  # (T, N, P, C): x[n, c, i_t[n, p]]
    y = (weight[..., None] * seen).sum(axis=0)  # (N, P, C)
    return y.transpose(0, 2, 1).reshape(N, C, *grid.shape[1:-1]).astype(x.dtype)


def _grid_sample_bwd_cpu(gy, x, grid, mode, padding, align_corners):
    """The reference: gx[n, c, i_t] += w_t gy[n, c, p] (numpy.add.at: taps share pixels);
    g_grid[n, p, a] = sum_t dw_t/dg_a * sum_c gy[n, c, p] x[n, c, i_t] (nearest: dw = 0)."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    index, weight, dweights = _taps_cpu(x.shape, grid.reshape(N, -1, nd), mode, padding, align_corners)  # (T, N, P)
    gy_rows = gy.reshape(N, C, -1).transpose(0, 2, 1)  # (N, P, C)
    gx_rows = numpy.zeros((N, math.prod(spatial), C), x.dtype)  # (N, S, C)
    batch = numpy.broadcast_to(numpy.arange(N)[:, None], index.shape)  # (T, N, P): n of every tap
    numpy.add.at(gx_rows, (batch, index), weight[..., None] * gy_rows)
    seen = x.reshape(N, C, -1)[numpy.arange(N)[:, None], :, index]  # (T, N, P, C)
    q = (seen * gy_rows).sum(axis=-1)  # (T, N, P): gy . x at each tap
    g_grid = numpy.stack([(dweights[nd - 1 - a] * q).sum(axis=0) for a in range(nd)], axis=-1)  # (N, P, nd), x first
    return gx_rows.transpose(0, 2, 1).reshape(x.shape).astype(x.dtype), g_grid.reshape(grid.shape).astype(x.dtype)


def _grid_sample_fwd_sparse(x, grid, mode, padding, align_corners):
    """Fast CPU path of _grid_sample_fwd_cpu: y[n] = M_n x[n], M_n image n's taps as a sparse (P, S) matrix."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    coords, S = grid.reshape(N, -1, nd), math.prod(spatial)
    y = numpy.empty((N, C, coords.shape[1]), x.dtype)
    for group in _image_groups(N, coords.shape[1]):
        index, weight, _ = _taps_cpu(x.shape, coords[group], mode, padding, align_corners, derivatives=False)
        for i, n in enumerate(range(N)[group]):  # (T, P) taps of image n
            y[n] = (_image_matrix_cpu(index[:, i], weight[:, i], S) @ x[n].reshape(C, S).T).T  # (P, S) @ (S, C)
    return y.reshape(N, C, *grid.shape[1:-1])


def _grid_sample_bwd_sparse(gy, x, grid, mode, padding, align_corners):
    """Fast CPU path of _grid_sample_bwd_cpu, gx[n] = M_n^T gy[n] (the adjoint);
    g_grid[n, p, a] = sum_t dw_t/dg_a * q_t, q_t = sum_c gy[n, c, p] x[n, c, i_t] (shared by all axes)."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    coords, S, gy = grid.reshape(N, -1, nd), math.prod(spatial), gy.reshape(N, C, -1)
    linear = mode != _MODES["nearest"]  # nearest is piecewise constant: g_grid = 0
    gx, g_coords = numpy.empty((N, C, S), x.dtype), numpy.zeros(coords.shape, x.dtype)
    for group in _image_groups(N, coords.shape[1]):
        index, weight, dweights = _taps_cpu(x.shape, coords[group], mode, padding, align_corners, linear)
        for i, n in enumerate(range(N)[group]):
            gy_rows = channels_last(gy[n : n + 1])  # (P, C)
            gx[n] = (_image_matrix_cpu(index[:, i], weight[:, i], S).T @ gy_rows).T  # (S, P) @ (P, C)
            if linear:
                x_rows = channels_last(x[n : n + 1])  # (S, C)
                q = numpy.stack([numpy.einsum("pc,pc->p", x_rows.take(taps, axis=0), gy_rows) for taps in index[:, i]])
                for axis, dweight in enumerate(dweights):  # (T, P) each
                    g_coords[n, :, nd - 1 - axis] = numpy.einsum("tp,tp->p", dweight[:, i], q)
    return gx.reshape(x.shape), g_coords.reshape(grid.shape)


def _launch_args(x, grid, mode, padding, align_corners):
    """Sizes as 3-D (a 2-D input gets D = 1), the number of output points P, nd and the options."""
    N, C, *spatial = x.shape
    D, H, W = (1,) * (3 - len(spatial)) + tuple(spatial)
    return N, C, D, H, W, math.prod(grid.shape[1:-1]), len(spatial), mode, padding, int(align_corners)


def _grid_sample_fwd_gpu(x, grid, mode, padding, align_corners):
    xp = backend.get_xp(x)
    args = _launch_args(x, grid, mode, padding, align_corners)
    y = xp.empty((*x.shape[:2], *grid.shape[1:-1]), x.dtype)
    name = "grid_sample_fwd_cubic" if mode == _MODES["bicubic"] else "grid_sample_fwd"
    kernel = backend.load_kernel("sample", name, x.dtype)
    kernel(*backend.grid_for(args[0] * args[5]), (xp.ascontiguousarray(x), xp.ascontiguousarray(grid), y, *args))
    return y


def _grid_sample_bwd_gpu(gy, x, grid, mode, padding, align_corners):
    xp = backend.get_xp(gy)
    args = _launch_args(x, grid, mode, padding, align_corners)
    gx, g_grid = xp.zeros(x.shape, x.dtype), xp.empty(grid.shape, grid.dtype)  # the kernel adds into gx
    name = "grid_sample_bwd_cubic" if mode == _MODES["bicubic"] else "grid_sample_bwd"
    kernel = backend.load_kernel("sample", name, x.dtype)
    arrays = (xp.ascontiguousarray(gy), xp.ascontiguousarray(x), xp.ascontiguousarray(grid), gx, g_grid)
    kernel(*backend.grid_for(args[0] * args[5]), (*arrays, *args))
    return gx, g_grid
