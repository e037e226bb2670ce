"""Resampling: interpolate (nearest, linear, bilinear, bicubic, trilinear, area) and reflect/replicate/circular pad.

Lecture: "Semantic segmentation" (FCN: "add upsampling operations at the end of the
network"; encoder-decoder and U-Net decoders upsample feature maps) and "Spatial
transformer" (bilinear interpolation).

Every op here is linear and separable: along each spatial axis, output position o reads
a few input positions with fixed weights, i.e. it multiplies that axis by an (O x L)
matrix M.  So forward is y = x x_1 M_1 x_2 M_2 ..., and backward is the adjoint,
gx = gy x_1 M_1^T x_2 M_2^T ... (the lecture's "transposed convolution multiplies by the
transposed matrix").  For interpolation on the CPU the matrices are built explicitly (they
are small) and applied with BLAS; on the GPU ``interpolate`` runs kernels/resample.cu on the same
taps, passed as tables (backward as a gather over the outputs that read each input).  Padding's matrix
is a gather (one source per output), so pad gathers forward and folds the borders back in
backward, on both devices, at O(1) per element.

Source coordinate of output o along an axis of L inputs and O outputs (PyTorch's rules):
    nearest:        src = min(floor(o * scale), L - 1)            scale = 1/scale_factor or L/O (float32)
    nearest-exact:  src = min(floor((o + 0.5) * scale), L - 1)
    linear, align_corners=True:  src = o * (L - 1) / (O - 1)      (0 if O == 1)
    linear, align_corners=False: src = max((o + 0.5) * scale - 0.5, 0)
    then i0 = floor(src), i1 = min(i0 + 1, L - 1), lam = src - i0:  y[o] = (1 - lam) x[i0] + lam x[i1]
    bicubic: src as linear but not clamped at 0 (align_corners=False), i0 = min(floor(src), L - 1),
    t = clip(src - i0, 0, 1), y[o] = sum_{k=0..3} W_k(t) x[clip(i0 - 1 + k, 0, L - 1)] with Keys' cubic
    convolution weights (A = -0.75, PyTorch's): W_0 = c2(t + 1), W_1 = c1(t), W_2 = c1(1 - t), W_3 = c2(2 - t),
    c1(s) = ((A + 2) s - (A + 3)) s^2 + 1 for |s| <= 1, c2(s) = ((A s - 5A) s + 8A) s - 4A for 1 < |s| < 2.
    Reference: R. Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP 1981.
"""

import math
import numbers

import numpy

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from .int_args import int_tuple
from .pool import plane_launches
from .resample_aa import antialias_matrix
from .shape import crop, pad_pairs

__all__ = ["interpolate", "pad", "separable"]

_MODES = {"nearest": 0, "linear": 1, "nearest-exact": 2, "bilinear": 1, "trilinear": 1, "bicubic": 3, "area": None}
_INTERPOLATING_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}  # the modes taking align_corners
_CUBIC_A = -0.75  # Keys' free parameter, as PyTorch (and OpenCV)


def interpolate(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """Resize the spatial dims of x (N, C, *spatial) by nearest, (bi/tri)linear or bicubic interpolation.

    Lecture: "Semantic segmentation" (upsampling) and "Spatial transformer" (bilinear interpolation).
    Forward:  along each spatial axis y[o] = (1 - lam_o) x[i0_o] + lam_o x[i1_o]  (module docstring;
              nearest: lam = 0; bicubic: 4 taps with Keys' cubic weights); the axes are done one after
              another (a tensor product).
    Backward: gx[i] = sum over outputs o reading i of (its weight) * gy[o]  (the transposed matrix)
    Shapes:   x (N, C, *L) -> y (N, C, *O), O = size, or floor(L * scale_factor).
    Args:
        x: float tensor (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: int or one int per spatial dim.  scale_factor: float or one per spatial dim (not both).
        mode: 'nearest', 'nearest-exact', 'linear' (3-D), 'bilinear' (4-D), 'bicubic' (4-D), 'trilinear' (5-D)
            or 'area'.
        align_corners: linear and bicubic modes only; True maps the corner pixels' centres onto each other.
        recompute_scale_factor: True computes the scale from the sizes even when scale_factor is given.
        antialias: bilinear / bicubic (4-D) only: each output averages every input it covers, with the
            kernel stretched by the shrink factor (ops/resample_aa.py), as PyTorch and PIL.
    Raises:
        ValueError / ShapeError on a mode not matching the rank, both or neither of size and
        scale_factor, align_corners with a non-linear mode, or an output size below 1.
    """
    nd = x.ndim - 2
    if mode not in _MODES:
        raise ValueError(fmt("interpolate", f"mode {mode!r} is not supported; use one of {sorted(_MODES)}"))
    if antialias and (mode not in ("bilinear", "bicubic") or x.ndim != 4):
        raise ValueError(fmt("interpolate", "antialias=True needs mode 'bilinear' or 'bicubic' and a 4-D input", x=x))
    if align_corners is not None and mode not in _INTERPOLATING_RANK:
        raise ValueError(
            fmt(
                "interpolate",
                f"align_corners can only be set with the modes linear | bilinear | bicubic | trilinear, not {mode!r}",
            )
        )
    if not 1 <= nd <= 3:
        raise ShapeError(fmt("interpolate", "expected a 3-D, 4-D or 5-D input (N, C, *spatial)", x=x))
    if mode in _INTERPOLATING_RANK and x.ndim != _INTERPOLATING_RANK[mode]:
        raise ShapeError(fmt("interpolate", f"mode {mode!r} needs a {_INTERPOLATING_RANK[mode]}-D input", x=x))
    if x.dtype.kind != "f":
        raise DTypeError(fmt("interpolate", f"expected a float tensor, got {x.dtype}", x=x))
    out, scales = _output_size(x, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        from .adaptive_pool import adaptive_avg  # area interpolation is adaptive average pooling

        return adaptive_avg("interpolate", nd, x, out)
    if antialias:  # the kernel stretched over every covered input (ops/resample_aa.py): one matrix per axis
        axes = zip(x.shape[2:], out, scales, strict=True)
        return separable(x, [antialias_matrix(n, o, s, mode, bool(align_corners)) for n, o, s in axes])
    steps = tuple(
        _axis_scale(n, o, s, mode, bool(align_corners)) for n, o, s in zip(x.shape[2:], out, scales, strict=True)
    )
    return Interpolate.apply(x, out=out, steps=steps, mode=_MODES[mode], align_corners=bool(align_corners))


class Interpolate(Function):
    """y = x resampled along each spatial axis; backward scatters gy back with the same weights.

    Lecture:  "Semantic segmentation" (upsampling)
    Forward:  y[o] = sum_j w(o, j) x[j] per spatial axis (nearest, linear, cubic weights)
    Backward: gx[j] = sum_o w(o, j) gy[o] (the same weights, transposed)
    Shapes:   x (N, C, *I) -> y (N, C, *out)
    """

    def forward(self, x, out, steps, mode, align_corners):
        self.x_shape, self.geometry = x.shape, (out, steps, mode, align_corners)
        fwd = _interpolate_fwd_gpu if backend.on_gpu(x) else _interpolate_fwd_cpu
        return fwd(x, x.shape, *self.geometry)

    def backward(self, gy):
        bwd = _interpolate_bwd_gpu if backend.on_gpu(gy) else _interpolate_bwd_cpu
        return bwd(gy, self.x_shape, *self.geometry)


def _output_size(x, size, scale_factor, recompute_scale_factor):
    """(output sizes, scale factors to use in the source formula or None) as F.interpolate."""
    nd = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(fmt("interpolate", "exactly one of size or scale_factor should be defined"))
    given = size if size is not None else scale_factor
    values = (given,) * nd if numpy.ndim(given) == 0 else tuple(given)
    if len(values) != nd:
        raise ShapeError(
            fmt(
                "interpolate",
                f"{'size' if size is not None else 'scale_factor'} needs {nd} "
                f"values for a {x.ndim}-D input, got {given!r}",
                x=x,
            )
        )
    if size is not None:  # sizes must be ints (a float or bool size is refused, as PyTorch)
        out, scales = int_tuple("interpolate", "size", values, nd, minimum=1), (None,) * nd
    else:
        if not all(isinstance(s, numbers.Real) for s in values):
            raise DTypeError(fmt("interpolate", f"scale_factor must be numbers, got {scale_factor!r}", x=x))
        if not all(math.isfinite(s) for s in values):
            raise ShapeError(fmt("interpolate", f"scale_factor must be finite, got {scale_factor!r}", x=x))
        out = tuple(int(math.floor(n * float(s))) for n, s in zip(x.shape[2:], values, strict=True))
        scales = (None,) * nd if recompute_scale_factor else tuple(float(s) for s in values)
    if min(out) < 1:
        raise ShapeError(fmt("interpolate", f"the output size {out} must be at least 1 in every dim", x=x))
    return out, scales


def _axis_scale(n, o, scale_factor, mode, align_corners):
    """The factor the source formula multiplies by (module docstring), as PyTorch computes it."""
    if mode in ("nearest", "nearest-exact"):  # PyTorch keeps this scale in float32
        return float(numpy.float32(1.0 / scale_factor) if scale_factor else numpy.float32(n) / numpy.float32(o))
    if align_corners:
        return (n - 1) / (o - 1) if o > 1 else 0.0
    return 1.0 / scale_factor if scale_factor else n / o


def _axis_taps(n, o, step, mode, align_corners):
    """Per output position o, the inputs it reads and their weights: y[o] = sum_k weights[k][o] x[indices[k][o]].
    Two taps (nearest: weights 1 and 0; linear: 1 - lam and lam) or four (bicubic); (indices, weights) tuples."""
    dst = numpy.arange(o)
    if mode == _MODES["bicubic"]:
        return _cubic_taps(n, dst, step, align_corners)
    if mode != _MODES["linear"]:  # nearest: floor in float32, as PyTorch
        where = dst.astype(numpy.float32) if mode == _MODES["nearest"] else (dst + 0.5).astype(numpy.float32)
        i0 = numpy.minimum(numpy.floor(where * numpy.float32(step)).astype(numpy.int64), n - 1)
        return (i0, i0), (numpy.ones(o), numpy.zeros(o))
    src = dst * step if align_corners else numpy.maximum((dst + 0.5) * step - 0.5, 0.0)
    i0 = numpy.minimum(numpy.floor(src).astype(numpy.int64), n - 1)
    lam = numpy.clip(src - i0, 0.0, 1.0)
    return (i0, numpy.minimum(i0 + 1, n - 1)), (1.0 - lam, lam)


def _cubic_taps(n, dst, step, align_corners):
    """Bicubic taps (module docstring): src not clamped at 0, i0 = min(floor(src), L - 1) and t clipped to
    [0, 1] (PyTorch's guard_index_and_lambda), the 4 inputs i0 - 1 .. i0 + 2 clamped to the border."""
    src = dst * step if align_corners else (dst + 0.5) * step - 0.5
    i0 = numpy.minimum(numpy.floor(src).astype(numpy.int64), n - 1)
    t = numpy.clip(src - i0, 0.0, 1.0)
    indices = tuple(numpy.clip(i0 - 1 + k, 0, n - 1) for k in range(4))
    return indices, cubic_weights(t)


def cubic_weights(t):
    """Keys' cubic convolution weights of the taps at distances t + 1, t, 1 - t, 2 - t (they sum to 1).

    Also grid_sample's bicubic taps (ops/sample.py).  A = _CUBIC_A = -0.75, as PyTorch.
    """
    a = _CUBIC_A

    def near(s):  # |s| <= 1
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):  # 1 < |s| < 2
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)


def cubic_weight_slopes(t):
    """d/dt of cubic_weights(t), tap by tap (they sum to 0): the chain rule through the distances t + 1,
    t, 1 - t, 2 - t with near'(s) = 3(A+2)s^2 - 2(A+3)s and far'(s) = 3A s^2 - 10A s + 8A."""
    a = _CUBIC_A

    def near(s):
        return (3 * (a + 2) * s - 2 * (a + 3)) * s

    def far(s):
        return (3 * a * s - 10 * a) * s + 8 * a

    return far(t + 1.0), near(t), -near(1.0 - t), -far(2.0 - t)


def _axis_matrix(n, o, step, mode, align_corners):
    """The (O x L) interpolation matrix of one axis: row o holds each tap's weight at its input."""
    indices, weights = _axis_taps(n, o, step, mode, align_corners)
    matrix, rows = numpy.zeros((o, n)), numpy.arange(o)
    for i, w in zip(indices, weights, strict=True):  # add: taps share an input at the borders
        numpy.add.at(matrix, (rows, i), w)
    return matrix


def _interpolate_fwd_cpu(x, x_shape, out, steps, mode, align_corners):
    matrices = [_axis_matrix(n, o, s, mode, align_corners) for n, o, s in zip(x_shape[2:], out, steps, strict=True)]
    return _apply_axes(x, matrices, transpose=False)


def _interpolate_bwd_cpu(gy, x_shape, out, steps, mode, align_corners):
    matrices = [_axis_matrix(n, o, s, mode, align_corners) for n, o, s in zip(x_shape[2:], out, steps, strict=True)]
    return _apply_axes(gy, matrices, transpose=True)


def _axes(x_shape, out, steps, mode, align_corners):
    """(L, O, indices, weights) per axis, 3 axes with size-1 dims in front for 1-D and 2-D: output o reads
    inputs indices[k][o] with weights weights[k][o] (K = 2 taps, 4 for bicubic), from _axis_taps (the CPU's
    own taps)."""
    extra = 3 - len(out)
    sizes, outs = (1,) * extra + tuple(x_shape[2:]), (1,) * extra + tuple(out)
    for n, o, step in zip(sizes, outs, (1.0,) * extra + tuple(steps), strict=True):
        indices, weights = _axis_taps(n, o, step, mode, align_corners)
        yield n, o, indices, weights


def _forward_tables(axes, dtype):
    """kernels/resample.cu's taps [i_0 .. i_{K-1} per axis] (int32) and weights [w_0 .. w_{K-1} per axis]
    (dtype), tap k of output o along an axis at k * O + o."""
    taps = [t for _, _, indices, _ in axes for t in indices]
    weights = [w for *_, weights in axes for w in weights]
    return numpy.concatenate(taps).astype(numpy.int32), numpy.concatenate(weights).astype(dtype)


def _backward_tables(axes, dtype):
    """The transposed taps: per axis, lo[i] = the first output reading input i (int32), and an (L, R) table
    whose entry (i, k) is the weight of input i in output lo[i] + k (0 if that output does not read it),
    R = the most outputs any input has (taps of weight 0 left out); the entries of the CPU's matrix, M[o, i]."""
    lows, tables, widths = [], [], []
    for n, o, indices, weights in axes:
        taps = [(i[w != 0], numpy.flatnonzero(w != 0), w[w != 0]) for i, w in zip(indices, weights, strict=True)]
        lo, hi = numpy.full(n, o), numpy.zeros(n, numpy.int64)
        for source, dst, _ in taps:  # lo = the first output reading input i, hi = one past the last
            numpy.minimum.at(lo, source, dst)
            numpy.maximum.at(hi, source, dst + 1)
        lo = numpy.minimum(lo, hi)  # an input no output reads: an empty range at 0
        width = max(1, int((hi - lo).max()))
        table = numpy.zeros((n, width))
        for source, dst, weight in taps:  # add: taps share an input at the borders, as in the CPU's matrix
            numpy.add.at(table, (source, dst - lo[source]), weight)
        lows.append(lo)
        tables.append(table.reshape(-1))
        widths.append(width)
    return numpy.concatenate(lows).astype(numpy.int32), numpy.concatenate(tables).astype(dtype), widths


def _interpolate_fwd_gpu(x, x_shape, out, steps, mode, align_corners):
    xp = backend.get_xp(x)
    x, y = xp.ascontiguousarray(x), xp.empty(tuple(x_shape[:2]) + tuple(out), x.dtype)
    axes = list(_axes(x_shape, out, steps, mode, align_corners))
    tables = [backend.to_device(t, backend.device_of(x)) for t in _forward_tables(axes, x.dtype)]
    name = "interpolate_fwd" if len(axes[0][2]) == 2 else "interpolate_fwd_cubic"  # 2 or 4 taps per axis
    _launch(name, x, y, tables, axes, rows=axes[0][1] * axes[1][1])
    return y


def _interpolate_bwd_gpu(gy, x_shape, out, steps, mode, align_corners):
    xp = backend.get_xp(gy)
    gy, gx = xp.ascontiguousarray(gy), xp.empty(x_shape, gy.dtype)  # a gather: every gx written once
    axes = list(_axes(x_shape, out, steps, mode, align_corners))
    lo, table, widths = _backward_tables(axes, gy.dtype)
    tables = [backend.to_device(t, backend.device_of(gy)) for t in (lo, table)]
    _launch("interpolate_bwd", gy, gx, tables, axes, rows=axes[0][0] * axes[1][0], extra=widths)
    return gx


def _launch(name, source, target, tables, axes, rows, extra=()):
    """kernels/resample.cu::name over whole (N, C) planes, at most MAX_LAUNCH elements per launch; ``rows``
    = the rows (d, h) of one plane the kernel walks (output rows forward, input rows backward)."""
    planes, sizes, outs = source.shape[0] * source.shape[1], [a[0] for a in axes], [a[1] for a in axes]
    for n, arrays in plane_launches(
        "interpolate", planes, max(source.size, target.size) // max(planes, 1), source, target
    ):
        args = (*arrays, *tables, n, *sizes, *outs, *extra)
        backend.launch("resample", name, n * rows, args, source.dtype, row_length=32)  # 32 across, 8 rows a block


# ----------------------------------------------------------------------------- pad


def pad(x, pad, mode="reflect", value=None):
    """Pad the last 1, 2 or 3 dims by reflecting, replicating or wrapping the border (F.pad's other modes).

    Lecture: "Convolutional neural networks - padding" (borders other than zeros).
    Forward:  y[j] = x[src(j)] for j in [-left, L + right) along each padded axis, with
              reflect: src = (L-1) - |(L-1) - |j||  (mirror, edge not repeated: 2 1 | 0 1 2 3 | 2 1)
              replicate: src = clip(j, 0, L-1)       (0 0 | 0 1 2 3 | 3 3)
              circular: src = j mod L                (2 3 | 0 1 2 3 | 0 1)
              i.e. a gather (a 0/1 matrix M of L+left+right rows applied along the axis).
    Backward: gx = M^T gy per axis: the interior of gy, plus each border gradient folded back onto
              the input it copied (one slice add per padded position, none per pixel)
    Shapes:   pad = (left_last, right_last, left_2nd_last, ...) of length 2k, k in 1..3, for an input
              of k+1 or k+2 dims; each padded dim grows by left + right.
              A negative width crops, as PyTorch: reflect and replicate pad by the positive widths,
              then cut the negative ones (at least 1 element must remain); circular cuts first, then wraps.
    Raises:   ShapeError on other lengths/ranks, reflect padding >= the dim size, circular padding
              > the (cropped) dim size, a crop leaving too little; ValueError on an unknown mode or value.
    """
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(fmt("pad", f"mode {mode!r} is not one of 'constant', 'reflect', 'replicate', 'circular'"))
    if value not in (None, 0):
        raise ValueError(fmt("pad", f"mode {mode!r} takes no value argument (got {value!r})"))
    widths = tuple(int(p) for p in pad)
    k = len(widths) // 2
    if len(widths) % 2 or k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
        raise ShapeError(fmt("pad", f"{mode} padding of length {len(widths)} needs a {k + 1}-D or {k + 2}-D input "
                             "(pad = 2 values per padded trailing dim, at most 3 dims)", x=x))  # fmt: skip
    pairs = pad_pairs(x, widths)  # negative widths crop, as PyTorch: circular crops first, then wraps the
    if mode == "circular":  # rest; reflect and replicate pad the whole input first, then crop
        x = crop(x, pairs, minimum=0, mode=mode)
    sources = []
    for axis in range(x.ndim - k, x.ndim):
        left, right = max(pairs[axis][0], 0), max(pairs[axis][1], 0)
        sources.append((axis, left, _pad_source(x, axis, left, right, mode)))
    y = BorderPad.apply(x, sources=tuple(sources), mode=mode)
    return y if mode == "circular" else crop(y, pairs, minimum=1, mode=mode)


class BorderPad(Function):
    """y = x[src(j)] along each padded axis (numpy's pad modes reflect, edge, wrap are exactly these);
    backward folds the border gradients back onto their sources.

    Lecture:  "Convolutional neural networks - Convolution padding"
    Forward:  y[j] = x[src(j)] along each padded axis (reflect, replicate or circular)
    Backward: gx[i] = sum over j with src(j) = i of gy[j]
    Shapes:   x (*, d_i) -> y (*, d_i + before_i + after_i)
    """

    def forward(self, x, sources, mode):
        self.x_shape, self.sources = x.shape, sources
        widths = [(0, 0)] * x.ndim
        for axis, left, src in sources:
            widths[axis] = (left, len(src) - left - x.shape[axis])
        numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        return backend.get_xp(x).pad(x, widths, mode=numpy_mode)

    def backward(self, gy):
        for axis, left, src in reversed(self.sources):
            n, before = self.x_shape[axis], (slice(None),) * axis
            gx = gy[(*before, slice(left, left + n))].copy()  # the interior: src(j) = j - left
            for j in [*range(left), *range(left + n, len(src))]:  # each padded position adds to its source
                gx[(*before, int(src[j]))] += gy[(*before, j)]
            gy = gx
        return gy


def _pad_source(x, axis, left, right, mode):
    """src(j) for j in [-left, n + right) along ``axis`` (see pad), after checking the widths."""
    n = x.shape[axis]
    limit = {"reflect": n - 1, "replicate": None, "circular": n}[mode]
    if n == 0 and (left or right or mode != "circular"):
        raise ShapeError(fmt("pad", f"{mode} padding ({left}, {right}) of dim {axis}: the dim is empty", x=x))
    if limit is not None and max(left, right) > limit:
        raise ShapeError(fmt("pad", f"{mode} padding ({left}, {right}) of dim {axis} (size {n}) must be "
                             f"at most {limit}", x=x))  # fmt: skip
    j = numpy.arange(-left, n + right)
    if mode == "reflect":
        return (n - 1) - numpy.abs((n - 1) - numpy.abs(j))
    return numpy.clip(j, 0, n - 1) if mode == "replicate" else j % n


# ----------------------------------------------------------------------------- separable linear maps


def separable(x, matrices):
    """Multiply each of the last len(matrices) axes of x by one (out, in) matrix.

    Forward:  y = x x_1 M_1 x_2 M_2 ... (mode-d products of a tensor with matrices)
    Backward: gx = gy x_1 M_1^T x_2 M_2^T ...
    Used by adaptive average pooling and area interpolation (averaging matrices).
    """
    return Separable.apply(x, matrices=tuple(matrices))


class Separable(Function):
    """y = x times one matrix per trailing axis; backward: gy times the transposed matrices.

    Lecture:  "HANDLING SPATIAL VARIANCE - Data augmentation" (resizing)
    Forward:  y = x times M_a along each trailing axis a
    Backward: gx = gy times M_a^T along each axis
    Shapes:   x (*, I_1, .., I_k), M_a (O_a, I_a) -> y (*, O_1, .., O_k)
    """

    def forward(self, x, matrices):
        self.matrices = [backend.to_device(numpy.asarray(m, x.dtype), backend.device_of(x)) for m in matrices]
        return _apply_axes(x, self.matrices, transpose=False)

    def backward(self, gy):
        return _apply_axes(gy, self.matrices, transpose=True)


def _apply_axes(x, matrices, transpose):
    """x (..., L_1, ..., L_k) -> (..., O_1, ..., O_k): one tensordot (BLAS) per axis."""
    xp = backend.get_xp(x)
    for d in reversed(range(len(matrices))):  # the last axis first: a plain GEMM, no transposed copy
        axis, matrix = x.ndim - len(matrices) + d, matrices[d]
        matrix = xp.asarray(matrix.T if transpose else matrix, dtype=x.dtype)
        x = xp.moveaxis(xp.tensordot(x, matrix, axes=([axis], [1])), -1, axis)
    return xp.ascontiguousarray(x)
