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

Three implementations: (a) the reference, _grid_sample_fwd_cpu / _grid_sample_bwd_cpu below (the taps of
ops/sample_taps.py gathered by fancy indexing, the backward scattered by numpy.add.at; what
``tm.reference_mode()`` runs); (b) kernels/sample.cu, the same taps per output point, the backward
scattered with atomicAdd; (c) the fast CPU path ops/sample_fast.py (each image's taps as one sparse
matrix), reached from GridSample in one line.  tests/test_reference_parity.py holds (a) == (b) == (c).

    affine_grid  theta (N, 2, 3), size (N, C, H, W)     -> grid (N, H, W, 2)
                 theta (N, 3, 4), size (N, C, D, H, W)  -> grid (N, D, H, W, 3)
    grid_sample  x (N, C, H, W), grid (N, OH, OW, 2)         -> y (N, C, OH, OW)      <-> kernels/sample.cu
                 (bicubic: grid_sample_fwd_cubic / grid_sample_bwd_cubic)
                 x (N, C, D, H, W), grid (N, OD, OH, OW, 3)  -> y (N, C, OD, OH, OW)
"""

import math

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..reference import path
from . import sample_fast
from .sample_taps import MODES, PADDING, taps

__all__ = ["affine_grid", "grid_sample"]


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
    Code:     reference _grid_sample_fwd_cpu/_bwd_cpu; kernels/sample.cu; fast CPU path ops/sample_fast.py.
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
    options = dict(mode=MODES[mode], padding=PADDING[padding_mode], align_corners=bool(align_corners))
    return GridSample.apply(input, grid, **options)


def _check_grid_sample(x, grid, mode, padding_mode):
    if mode not in MODES:
        raise ValueError(fmt("grid_sample", f"mode {mode!r} is not supported; use 'bilinear', 'bicubic' or 'nearest'"))
    if padding_mode not in PADDING:
        raise ValueError(fmt("grid_sample", f"padding_mode {padding_mode!r} is not one of {sorted(PADDING)}"))
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
        fwd = path(x, _grid_sample_fwd_cpu, sample_fast.grid_sample_fwd, _grid_sample_fwd_gpu)
        return fwd(x, grid, *self.options)

    def backward(self, gy):
        bwd = path(gy, _grid_sample_bwd_cpu, sample_fast.grid_sample_bwd, _grid_sample_bwd_gpu)
        if self.grid.size == 0:  # nothing was sampled: zero gradients
            xp = backend.get_xp(gy)
            gx, g_grid = xp.zeros(self.x.shape, gy.dtype), xp.zeros(self.grid.shape, gy.dtype)
        else:
            gx, g_grid = bwd(gy, self.x, self.grid, *self.options)
        return (gx if self.needs_input_grad[0] else None), (g_grid if self.needs_input_grad[1] else None)


def _grid_sample_fwd_cpu(x, grid, mode, padding, align_corners):
    """The reference: y[n, c, p] = sum_t w_t[n, p] x[n, c, i_t[n, p]], the T taps gathered by fancy indexing.

    The taps i_t and weights w_t (bilinear: the 4 neighbours, weights (1 - a)(1 - b), a(1 - b), ...; see the
    module docstring) come from ops/sample_taps.py::taps, as for the fast path; kernels/sample.cu computes
    the same taps per output point."""
    (N, C), nd = x.shape[:2], grid.shape[-1]
    index, weight, _ = taps(x.shape, grid.reshape(N, -1, nd), mode, padding, align_corners, False)  # (T, N, P)
    x_rows = x.reshape(N, C, -1)  # (N, C, S)
    seen = x_rows[numpy.arange(N)[:, None], :, index]  # (T, N, P, C): x[n, c, i_t[n, p]]
    y = (weight[..., None] * seen).sum(axis=0)  # (N, P, C)
    return y.transpose(0, 2, 1).reshape(N, C, *grid.shape[1:-1]).astype(x.dtype)


def _grid_sample_bwd_cpu(gy, x, grid, mode, padding, align_corners):
    """The reference: gx[n, c, i_t] += w_t gy[n, c, p] (numpy.add.at: taps share pixels);
    g_grid[n, p, a] = sum_t dw_t/dg_a * sum_c gy[n, c, p] x[n, c, i_t] (nearest: dw = 0)."""
    (N, C, *spatial), nd = x.shape, grid.shape[-1]
    index, weight, dweights = taps(x.shape, grid.reshape(N, -1, nd), mode, padding, align_corners)  # (T, N, P)
    gy_rows = gy.reshape(N, C, -1).transpose(0, 2, 1)  # (N, P, C)
    gx_rows = numpy.zeros((N, math.prod(spatial), C), x.dtype)  # (N, S, C)
    batch = numpy.broadcast_to(numpy.arange(N)[:, None], index.shape)  # (T, N, P): n of every tap
    numpy.add.at(gx_rows, (batch, index), weight[..., None] * gy_rows)
    seen = x.reshape(N, C, -1)[numpy.arange(N)[:, None], :, index]  # (T, N, P, C)
    q = (seen * gy_rows).sum(axis=-1)  # (T, N, P): gy . x at each tap
    g_grid = numpy.stack([(dweights[nd - 1 - a] * q).sum(axis=0) for a in range(nd)], axis=-1)  # (N, P, nd), x first
    return gx_rows.transpose(0, 2, 1).reshape(x.shape).astype(x.dtype), g_grid.reshape(grid.shape).astype(x.dtype)


def _launch_args(x, grid, mode, padding, align_corners):
    """Sizes as 3-D (a 2-D input gets D = 1), the number of output points P, nd and the options."""
    N, C, *spatial = x.shape
    D, H, W = (1,) * (3 - len(spatial)) + tuple(spatial)
    return N, C, D, H, W, math.prod(grid.shape[1:-1]), len(spatial), mode, padding, int(align_corners)


def _grid_sample_fwd_gpu(x, grid, mode, padding, align_corners):
    xp = backend.get_xp(x)
    args = _launch_args(x, grid, mode, padding, align_corners)
    y = xp.empty((*x.shape[:2], *grid.shape[1:-1]), x.dtype)
    name = "grid_sample_fwd_cubic" if mode == MODES["bicubic"] else "grid_sample_fwd"
    kernel = backend.load_kernel("sample", name, x.dtype)
    kernel(*backend.grid_for(args[0] * args[5]), (xp.ascontiguousarray(x), xp.ascontiguousarray(grid), y, *args))
    return y


def _grid_sample_bwd_gpu(gy, x, grid, mode, padding, align_corners):
    xp = backend.get_xp(gy)
    args = _launch_args(x, grid, mode, padding, align_corners)
    gx, g_grid = xp.zeros(x.shape, x.dtype), xp.empty(grid.shape, grid.dtype)  # the kernel adds into gx
    name = "grid_sample_bwd_cubic" if mode == MODES["bicubic"] else "grid_sample_bwd"
    kernel = backend.load_kernel("sample", name, x.dtype)
    arrays = (xp.ascontiguousarray(gy), xp.ascontiguousarray(x), xp.ascontiguousarray(grid), gx, g_grid)
    kernel(*backend.grid_for(args[0] * args[5]), (*arrays, *args))
    return gx, g_grid
