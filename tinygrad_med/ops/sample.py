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
per axis, the product of the axes' weights per corner.  Nearest: the one tap round(src), round half to
even (C's nearbyint), as PyTorch.  d(src)/dg is (L-1)/2 or L/2 times the clip/reflection slope (0 or +-1).

    affine_grid  theta (N, 2, 3), size (N, C, H, W)     -> grid (N, H, W, 2)
                 theta (N, 3, 4), size (N, C, D, H, W)  -> grid (N, D, H, W, 3)
    grid_sample  x (N, C, H, W), grid (N, OH, OW, 2)         -> y (N, C, OH, OW)      <-> kernels/sample.cu
                 x (N, C, D, H, W), grid (N, OD, OH, OW, 3)  -> y (N, C, OD, OH, OW)
"""

import itertools
import math

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function

__all__ = ["affine_grid", "grid_sample"]

_MODES = {"bilinear": 0, "nearest": 1}
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
    if min(size[2:]) < 1:
        raise ShapeError(fmt("affine_grid", f"the spatial size must be positive, got {size}"))
    return AffineGrid.apply(theta, size=size, align_corners=bool(align_corners))


class AffineGrid(Function):
    """grid = base @ theta^T with base the (x, y, [z,] 1) coordinates of every output pixel."""

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
    """Read the input at the grid's normalised coordinates with (bi/tri)linear or nearest interpolation.

    Lecture: "HANDLING SPATIAL VARIANCE - Spatial transformer" (the sampler) and "Data augmentation".
    Forward:  y[n, c, o] = sum over taps t of w_t(src(grid[n, o])) * x[n, c, i_t]   (module docstring;
              bilinear: 4 taps, trilinear: 8, nearest: 1; taps outside the input read 0)
    Backward: gx[n, c, i_t] += w_t * gy[n, c, o]   (a scatter-add: outputs share inputs)
              g_grid[n, o, a] = dsrc_a/dg_a * sum_{c, t} gy[n, c, o] * x[n, c, i_t] * dw_t/dsrc_a,
              dw_t/dsrc_a = +-(product of the other axes' weights); 0 for nearest
    Shapes:   x (N, C, H, W), grid (N, OH, OW, 2) -> (N, C, OH, OW);
              x (N, C, D, H, W), grid (N, OD, OH, OW, 3) -> (N, C, OD, OH, OW)
    Args:
        input: float tensor, 4-D or 5-D.
        grid: same dtype and device; last dim (x, y) or (x, y, z), mostly in [-1, 1].
        mode: 'bilinear' (trilinear for 5-D inputs, as PyTorch) or 'nearest'.
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
        raise ValueError(fmt("grid_sample", f"mode {mode!r} is not supported; use 'bilinear' or 'nearest'"))
    if padding_mode not in _PADDING:
        raise ValueError(fmt("grid_sample", f"padding_mode {padding_mode!r} is not one of {sorted(_PADDING)}"))
    layouts = {4: ("(N, C, H, W)", "(N, OH, OW, 2)"), 5: ("(N, C, D, H, W)", "(N, OD, OH, OW, 3)")}
    if x.ndim not in layouts:
        raise ShapeError(fmt("grid_sample", "input must be 4-D or 5-D", input=x))
    x_layout, grid_layout = layouts[x.ndim]
    shapes = dict(input=(x.shape, x_layout), grid=(grid.shape, grid_layout))
    if grid.ndim != x.ndim or grid.shape[-1] != x.ndim - 2:
        raise ShapeError(fmt("grid_sample", f"a {x.ndim}-D input needs a grid {grid_layout}", **shapes))
    if grid.shape[0] != x.shape[0]:
        raise ShapeError(fmt("grid_sample", "input and grid differ in the batch size N", **shapes))
    if min(x.shape[2:]) < 1 or min(x.shape[:2]) < 1:
        raise ShapeError(fmt("grid_sample", "input has an empty dim", **shapes))
    if x.dtype.kind != "f" or grid.dtype != x.dtype:
        raise DTypeError(fmt("grid_sample", f"input and grid must share a float dtype, got {x.dtype} and {grid.dtype}"))


class GridSample(Function):
    """y = taps of x at the grid's source points; backward scatters gy into gx and differentiates the weights."""

    def forward(self, x, grid, mode, padding, align_corners):
        self.x, self.grid, self.options = x, grid, (mode, padding, align_corners)
        fwd = _grid_sample_fwd_gpu if backend.on_gpu(x) else _grid_sample_fwd_cpu
        return fwd(x, grid, *self.options)

    def backward(self, gy):
        bwd = _grid_sample_bwd_gpu if backend.on_gpu(gy) else _grid_sample_bwd_cpu
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


def _taps_cpu(x_shape, grid, mode, padding, align_corners):
    """Per tap (corner): flat input index (N, P), weight (N, P), d weight / d grid coordinate per axis.

    Weights of taps outside the input are 0 (zero padding), and so are their derivatives, so the
    index of such a tap (set to 0) reads a value that is never used.
    """
    spatial = x_shape[2:]
    nd = len(spatial)
    coords = grid.reshape(grid.shape[0], -1, nd)  # (N, P, nd), component 0 = x = the last axis
    options = []  # per spatial axis: [(index, weight, d weight / d src), ...], and d src / d grid
    for axis, size in enumerate(spatial):
        src, slope = _source_index_cpu(coords[..., nd - 1 - axis], size, padding, align_corners)
        if mode == _MODES["nearest"]:
            options.append(([(numpy.rint(src).astype(numpy.int64), 1, 0)], slope))
            continue
        i0 = numpy.floor(src)
        options.append(([(i0.astype(numpy.int64), i0 + 1 - src, -1), (i0.astype(numpy.int64) + 1, src - i0, 1)], slope))
    strides = [math.prod(spatial[a + 1 :]) for a in range(nd)]
    taps = []
    for corner in itertools.product(*(axis_options for axis_options, _ in options)):
        inside = numpy.logical_and.reduce([(i >= 0) & (i < n) for (i, _, _), n in zip(corner, spatial, strict=True)])
        index = sum(numpy.where(inside, i, 0) * s for (i, _, _), s in zip(corner, strides, strict=True))
        mask, weights = inside.astype(grid.dtype), [w for _, w, _ in corner]
        weight = math.prod(reversed(weights)) * mask  # x weight first, as PyTorch multiplies
        dweights = []
        for a, (_, _, sign) in enumerate(corner):
            others = math.prod(w for b, w in enumerate(weights) if b != a)
            dweights.append(sign * others * options[a][1] * mask)  # chain rule: times d src / d grid
        taps.append((index, weight, dweights))
    return taps


def _grid_sample_fwd_cpu(x, grid, mode, padding, align_corners):
    N, C = x.shape[:2]
    flat = x.reshape(N, C, -1)  # (N, C, S)
    y = numpy.zeros((N, C, math.prod(grid.shape[1:-1])), x.dtype)
    for index, weight, _ in _taps_cpu(x.shape, grid, mode, padding, align_corners):
        y += weight[:, None, :] * numpy.take_along_axis(flat, index[:, None, :], axis=2)  # (N, C, P)
    return y.reshape(N, C, *grid.shape[1:-1])


def _grid_sample_bwd_cpu(gy, x, grid, mode, padding, align_corners):
    N, C = x.shape[:2]
    flat, gy = x.reshape(N, C, -1), gy.reshape(N, C, -1)  # (N, C, S), (N, C, P)
    nd = grid.shape[-1]
    rows = (numpy.arange(N)[:, None, None] * C + numpy.arange(C)[None, :, None]) * flat.shape[2]  # (N, C, 1)
    gx = numpy.zeros(x.size)  # float64 sums, one scatter-add (bincount) per tap
    g_coords = numpy.zeros((N, gy.shape[2], nd), x.dtype)  # (N, P, nd)
    for index, weight, dweights in _taps_cpu(x.shape, grid, mode, padding, align_corners):
        gx += numpy.bincount((rows + index[:, None, :]).ravel(), (gy * weight[:, None, :]).ravel(), minlength=x.size)
        gy_x = (gy * numpy.take_along_axis(flat, index[:, None, :], axis=2)).sum(axis=1)  # (N, P)
        for axis, dweight in enumerate(dweights):
            g_coords[..., nd - 1 - axis] += gy_x * dweight
    return gx.astype(x.dtype).reshape(x.shape), g_coords.reshape(grid.shape)


def _launch_args(x, grid, mode, padding, align_corners):
    """Sizes as 3-D (a 2-D input gets D = 1), the number of output points P, nd and the options."""
    N, C, *spatial = x.shape
    D, H, W = (1,) * (3 - len(spatial)) + tuple(spatial)
    return N, C, D, H, W, math.prod(grid.shape[1:-1]), len(spatial), mode, padding, int(align_corners)


def _grid_sample_fwd_gpu(x, grid, mode, padding, align_corners):
    xp = backend.get_xp(x)
    args = _launch_args(x, grid, mode, padding, align_corners)
    y = xp.empty((*x.shape[:2], *grid.shape[1:-1]), x.dtype)
    kernel = backend.load_kernel("sample", "grid_sample_fwd", x.dtype)
    kernel(*backend.grid_for(args[0] * args[5]), (xp.ascontiguousarray(x), xp.ascontiguousarray(grid), y, *args))
    return y


def _grid_sample_bwd_gpu(gy, x, grid, mode, padding, align_corners):
    xp = backend.get_xp(gy)
    args = _launch_args(x, grid, mode, padding, align_corners)
    gx, g_grid = xp.zeros(x.shape, x.dtype), xp.empty(grid.shape, grid.dtype)  # the kernel adds into gx
    kernel = backend.load_kernel("sample", "grid_sample_bwd", x.dtype)
    arrays = (xp.ascontiguousarray(gy), xp.ascontiguousarray(x), xp.ascontiguousarray(grid), gx, g_grid)
    kernel(*backend.grid_for(args[0] * args[5]), (*arrays, *args))
    return gx, g_grid
