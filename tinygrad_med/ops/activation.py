"""Activation functions: sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout, GELU, softplus, SiLU, softmax.

Lecture: "Convolutional neural networks - Activation function".  Each op is a public
function, its Function class (forward, then backward right below it) and a
``_<name>_fwd_cpu`` / ``_<name>_fwd_gpu`` pair; the GPU half launches the kernel of the
same name in kernels/activation.cu (softplus, SiLU and maxout stay as array code).

``inplace=True`` (accepted for PyTorch compatibility) still returns a new tensor: ops never
overwrite their input, so that autograd's saved values stay valid.

Numerical care: sigmoid is written with e = exp(-|x|), ELU with expm1(min(x, 0)) and
softmax subtracts the row maximum, so inputs of +-1000 give the exact limits (0, 1,
-alpha, a one-hot row) with no overflow.  Where the exact limit needs exp to underflow
to 0, the CPU code says so with ``numpy.errstate(under='ignore')``.
"""

import numpy
import scipy.special

from .. import backend
from ..backend import get_xp, load_kernel, on_gpu
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .reduce import normalize_dims

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "softplus",
    "silu",
    "maxout",
    "softmax",
    "log_softmax",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softplus",
    "SiLU",
    "Maxout",
    "Softmax",
    "LogSoftmax",
    "stable_sigmoid",
]


def _check_float(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(fmt(op, f"expected a Tensor, got {type(x).__name__}", hint="wrap it with tm.tensor(...)"))
    if x.dtype.kind != "f":
        raise DTypeError(
            fmt(op, f"expected a float tensor, got dtype {x.dtype}", x=x, hint="convert it with x.float()")
        )


def stable_sigmoid(x):
    """1 / (1 + e^-x) on a numpy or cupy array, without overflow.

    NumPy: scipy.special.expit (a compiled ufunc, exact limits at +-1000, about 3x faster than the
    array expression). CuPy: the array expression with e = e^-|x| in (0, 1], which never overflows.
    """
    xp = get_xp(x)
    if xp is numpy:
        return scipy.special.expit(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- sigmoid


def sigmoid(x):
    """Logistic sigmoid.

    Lecture: "Convolutional neural networks - Activation function" (Sigmoid).
    Forward:  y = 1 / (1 + e^{-x})  (computed as 1/(1+e) for x >= 0, e/(1+e) for x < 0, e = e^{-|x|})
    Backward: gx = gy * y * (1 - y)
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    """
    _check_float("sigmoid", x)
    return Sigmoid.apply(x)


class Sigmoid(Function):
    """y = sigma(x); saves y, since sigma' = y (1 - y)."""

    def forward(self, x):
        self.y = _sigmoid_fwd_gpu(x) if on_gpu(x) else _sigmoid_fwd_cpu(x)
        return self.y

    def backward(self, gy):
        return _sigmoid_bwd_gpu(self.y, gy) if on_gpu(gy) else _sigmoid_bwd_cpu(self.y, gy)


def _sigmoid_fwd_cpu(x):
    return stable_sigmoid(x)


def _sigmoid_fwd_gpu(x):
    return _pointwise_gpu("sigmoid_fwd", x)


def _sigmoid_bwd_cpu(y, gy):
    return gy * y * (1 - y)


def _sigmoid_bwd_gpu(y, gy):
    return _pointwise_gpu("sigmoid_bwd", y, gy)


# ----------------------------------------------------------------------------- tanh


def tanh(x):
    """Hyperbolic tangent.

    Lecture: "Convolutional neural networks - Activation function" (tanh).
    Forward:  y = tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})
    Backward: gx = gy * (1 - y^2)
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    """
    _check_float("tanh", x)
    return Tanh.apply(x)


class Tanh(Function):
    """y = tanh(x); saves y, since tanh' = 1 - y^2."""

    def forward(self, x):
        self.y = _pointwise_gpu("tanh_fwd", x) if on_gpu(x) else get_xp(x).tanh(x)
        return self.y

    def backward(self, gy):
        return _pointwise_gpu("tanh_bwd", self.y, gy) if on_gpu(gy) else gy * (1 - self.y * self.y)


# ----------------------------------------------------------------------------- ReLU family


def relu(x, inplace=False):
    """Rectified linear unit.

    Lecture: "Convolutional neural networks - Activation function" (ReLU: reduces the vanishing gradient).
    Forward:  y = max(0, x)
    Backward: gx = gy * [x > 0]   (0 at x = 0, as PyTorch)
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    """
    _check_float("relu", x)
    return ReLU.apply(x)


class ReLU(Function):
    """y = max(0, x); saves x, since the gradient passes where x > 0."""

    def forward(self, x):
        self.x = x
        return _pointwise_gpu("relu_fwd", x) if on_gpu(x) else get_xp(x).maximum(x, 0).astype(x.dtype, copy=False)

    def backward(self, gy):
        return _pointwise_gpu("relu_bwd", self.x, gy) if on_gpu(gy) else gy * (self.x > 0)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """Leaky ReLU (the lecture's slide uses slope 0.1: max(0.1 x, x)).

    Lecture: "Convolutional neural networks - Activation function" (Leaky ReLU: neurons always active).
    Forward:  y = x if x > 0 else negative_slope * x
    Backward: gx = gy if x > 0 else negative_slope * gy
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    """
    _check_float("leaky_relu", x)
    return LeakyReLU.apply(x, slope=float(negative_slope))


class LeakyReLU(Function):
    """y = x or slope * x; saves x and the slope."""

    def forward(self, x, slope):
        self.x, self.slope = x, slope
        if on_gpu(x):
            return _pointwise_gpu("leaky_relu_fwd", x, scalars=(slope,))
        return get_xp(x).where(x > 0, x, x * slope).astype(x.dtype, copy=False)

    def backward(self, gy):
        if on_gpu(gy):
            return _pointwise_gpu("leaky_relu_bwd", self.x, gy, scalars=(self.slope,))
        return get_xp(gy).where(self.x > 0, gy, gy * self.slope).astype(gy.dtype, copy=False)


def elu(x, alpha=1.0, inplace=False):
    """Exponential linear unit.

    Lecture: "Convolutional neural networks - Activation function" (ELU).
    Forward:  y = x if x > 0 else alpha (e^x - 1)   (expm1 of min(x, 0): no overflow for large x)
    Backward: gx = gy if x > 0 else gy * alpha e^x
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    Reference: Clevert et al., "Fast and accurate deep network learning by exponential linear units
        (ELUs)", arXiv:1511.07289.
    """
    _check_float("elu", x)
    return ELU.apply(x, alpha=float(alpha))


class ELU(Function):
    """y = x or alpha (e^x - 1); saves x (backward recomputes alpha e^x from it, no cancellation)."""

    def forward(self, x, alpha):
        self.x, self.alpha = x, alpha
        return _pointwise_gpu("elu_fwd", x, scalars=(alpha,)) if on_gpu(x) else _elu_fwd_cpu(x, alpha)

    def backward(self, gy):
        if on_gpu(gy):
            return _pointwise_gpu("elu_bwd", self.x, gy, scalars=(self.alpha,))
        return _elu_bwd_cpu(self.x, gy, self.alpha)


def _elu_fwd_cpu(x, alpha):
    xp = get_xp(x)
    with numpy.errstate(under="ignore"):
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)


def _elu_bwd_cpu(x, gy, alpha):
    xp = get_xp(x)
    with numpy.errstate(under="ignore"):
        return xp.where(x > 0, gy, gy * alpha * xp.exp(xp.minimum(x, 0))).astype(gy.dtype, copy=False)


# ----------------------------------------------------------------------------- smooth ReLUs


def gelu(x, approximate="none"):
    """Gaussian error linear unit (exact form, erf).

    Lecture: not on the slides; a smooth ReLU of later architectures.
    Forward:  y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2
    Backward: gx = gy (Phi(x) + x phi(x)),  phi(x) = e^{-x^2/2} / sqrt(2 pi)
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x; ValueError for approximate other than 'none'.
    Reference: Hendrycks & Gimpel, "Gaussian error linear units (GELUs)", arXiv:1606.08415.
    """
    _check_float("gelu", x)
    if approximate != "none":
        raise ValueError(fmt("gelu", f"approximate={approximate!r} is not implemented; only 'none' (erf)"))
    return GELU.apply(x)


class GELU(Function):
    """y = x Phi(x); saves x."""

    def forward(self, x):
        self.x = x
        return _pointwise_gpu("gelu_fwd", x) if on_gpu(x) else _gelu_fwd_cpu(x)

    def backward(self, gy):
        return _pointwise_gpu("gelu_bwd", self.x, gy) if on_gpu(gy) else _gelu_bwd_cpu(self.x, gy)


def _gelu_fwd_cpu(x):
    return (0.5 * x * (1 + scipy.special.erf(x / numpy.sqrt(2)))).astype(x.dtype, copy=False)


def _gelu_bwd_cpu(x, gy):
    cdf = 0.5 * (1 + scipy.special.erf(x / numpy.sqrt(2)))
    with numpy.errstate(under="ignore"):
        pdf = numpy.exp(-0.5 * x * x) / numpy.sqrt(2 * numpy.pi)
    return (gy * (cdf + x * pdf)).astype(gy.dtype, copy=False)


def softplus(x, beta=1.0, threshold=20.0):
    """Softplus, a smooth ReLU, with PyTorch's linear cut-over above the threshold.

    Lecture: not on the slides (the smooth version of ReLU).
    Forward:  y = log(1 + e^{beta x}) / beta, or y = x where beta x > threshold
              (computed as max(x, 0) + log1p(e^{-|beta x|}) / beta: no overflow)
    Backward: gx = gy * sigma(beta x), or gy where beta x > threshold
    Shapes:   x (...) -> y (...)
    """
    _check_float("softplus", x)
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


class Softplus(Function):
    """y = softplus(x); saves x and where the linear branch was taken."""

    def forward(self, x, beta, threshold):
        xp = get_xp(x)
        self.x, self.beta, self.linear = x, beta, beta * x > threshold
        with numpy.errstate(under="ignore"):
            y = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(beta * x))) / beta
        return xp.where(self.linear, x, y).astype(x.dtype, copy=False)

    def backward(self, gy):
        return get_xp(gy).where(self.linear, gy, gy * stable_sigmoid(self.beta * self.x))


def silu(x, inplace=False):
    """Sigmoid linear unit (swish).

    Lecture: not on the slides; a smooth ReLU of later architectures.
    Forward:  y = x sigma(x)
    Backward: gx = gy sigma(x) (1 + x (1 - sigma(x)))
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    Reference: Elfwing et al., "Sigmoid-weighted linear units...", arXiv:1702.03118.
    """
    _check_float("silu", x)
    return SiLU.apply(x)


class SiLU(Function):
    """y = x sigma(x); saves x and sigma(x)."""

    def forward(self, x):
        self.x, self.s = x, stable_sigmoid(x)
        return x * self.s

    def backward(self, gy):
        return gy * self.s * (1 + self.x * (1 - self.s))


# ----------------------------------------------------------------------------- maxout


def maxout(x, num_pieces, dim=-1):
    """Maxout: the maximum over groups of ``num_pieces`` consecutive features along ``dim``.

    Lecture: "Convolutional neural networks - Activation function" (Maxout:
    max(w_1^T x + b_1, w_2^T x + b_2)); the affine pieces come from a linear layer
    (nn.Maxout), this op takes the max over them.  Output unit i reads features
    i*k .. i*k + k - 1 of ``dim`` (k = num_pieces).
    Forward:  y[..., i, ...] = max_{j < k} x[..., i*k + j, ...]
    Backward: gx[..., i*k + j, ...] = gy[..., i, ...] if j is the (first) argmax, else 0
    Shapes:   x (..., C, ...) -> y (..., C / k, ...)
    Raises:   ShapeError if x's size along dim is not a multiple of num_pieces.
    Reference: Goodfellow et al., "Maxout networks", arXiv:1302.4389.
    """
    _check_float("maxout", x)
    (axis,) = normalize_dims(x, dim, "maxout")
    if num_pieces < 1 or x.ndim == 0 or x.shape[axis] % num_pieces:
        raise ShapeError(
            fmt(
                "maxout",
                f"size {x.shape[axis] if x.ndim else 0} of dim {dim} is not a multiple of num_pieces={num_pieces}",
                x=x,
            )
        )
    return Maxout.apply(x, num_pieces=int(num_pieces), axis=axis)


class Maxout(Function):
    """y = max over each group of k features; saves a one-hot mask of each group's (first) winner."""

    def forward(self, x, num_pieces, axis):
        xp = get_xp(x)
        grouped = x.reshape(x.shape[:axis] + (x.shape[axis] // num_pieces, num_pieces) + x.shape[axis + 1 :])
        self.x_shape, self.piece_axis = x.shape, axis + 1  # (..., C, ...) -> (..., C/k, k, ...)
        winner = xp.expand_dims(grouped.argmax(axis=axis + 1), axis + 1)
        self.mask = xp.arange(num_pieces).reshape((-1,) + (1,) * (x.ndim - axis - 1)) == winner
        return xp.take_along_axis(grouped, winner, axis=axis + 1).squeeze(axis + 1)

    def backward(self, gy):
        gx = self.mask * get_xp(gy).expand_dims(gy, self.piece_axis)  # gy only to each group's winner
        return gx.astype(gy.dtype, copy=False).reshape(self.x_shape)


# ----------------------------------------------------------------------------- softmax


def softmax(x, dim=None, *, dtype=None):
    """Softmax over ``dim``: a probability distribution along that axis.

    Lecture: "Image classification" (class scores -> probabilities, before the cross-entropy).
    Forward:  y_c = e^{x_c - m} / sum_k e^{x_k - m},  m = max_k x_k  (m cancels; it prevents overflow)
    Backward: gx_c = y_c (gy_c - sum_k gy_k y_k)
    Shapes:   x (...) -> y (...), rows along dim sum to 1
    Args:     dim: the axis whose entries form each distribution (required). dtype: cast x first.
    Raises:   TypeError if dim is not given; ShapeError if it is out of range.
    """
    x = x if dtype is None else x.to(dtype)
    axis = _softmax_axis("softmax", x, dim)
    if x.ndim == 0:  # a single score: its own distribution
        return softmax(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, axis=axis)


def log_softmax(x, dim=None, *, dtype=None):
    """Log of the softmax over ``dim``, computed directly (never log of a rounded 0).

    Lecture: "Image classification" (log-probabilities for nll_loss).
    Forward:  y_c = x_c - m - log sum_k e^{x_k - m},  m = max_k x_k
    Backward: gx_c = gy_c - e^{y_c} sum_k gy_k
    Shapes:   x (...) -> y (...)
    Args:     dim, dtype: as softmax.
    Raises:   TypeError if dim is not given; ShapeError if it is out of range.
    """
    x = x if dtype is None else x.to(dtype)
    axis = _softmax_axis("log_softmax", x, dim)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    return LogSoftmax.apply(x, axis=axis)


def _softmax_axis(op, x, dim):
    _check_float(op, x)
    if dim is None:
        raise TypeError(fmt(op, "dim must be given", x=x, hint="e.g. dim=1 for class scores of shape (N, C)"))
    (axis,) = normalize_dims(x, dim, op)
    return axis


class Softmax(Function):
    """y = softmax(x) along axis; saves y, since gx = y (gy - <gy, y>)."""

    def forward(self, x, axis):
        self.axis = axis
        self.y = _softmax_fwd_gpu(x, axis) if on_gpu(x) else _softmax_fwd_cpu(x, axis)
        return self.y

    def backward(self, gy):
        if on_gpu(gy):
            return _rows_gpu("softmax_bwd", self.axis, self.y, gy)
        return _softmax_bwd_cpu(self.y, gy, self.axis)


class LogSoftmax(Function):
    """y = log_softmax(x) along axis; saves y, since gx = gy - e^y sum(gy)."""

    def forward(self, x, axis):
        self.axis = axis
        self.y = _log_softmax_fwd_gpu(x, axis) if on_gpu(x) else _log_softmax_fwd_cpu(x, axis)
        return self.y

    def backward(self, gy):
        if on_gpu(gy):
            return _rows_gpu("log_softmax_bwd", self.axis, self.y, gy)
        return _log_softmax_bwd_cpu(self.y, gy, self.axis)


def _softmax_fwd_cpu(x, axis):
    xp = get_xp(x)
    with numpy.errstate(under="ignore"):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_fwd_gpu(x, axis):
    return _rows_gpu("softmax_fwd", axis, x)


def _softmax_bwd_cpu(y, gy, axis):
    return y * (gy - (gy * y).sum(axis=axis, keepdims=True))


def _log_softmax_fwd_cpu(x, axis):
    xp = get_xp(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    with numpy.errstate(under="ignore"):
        return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_fwd_gpu(x, axis):
    return _rows_gpu("log_softmax_fwd", axis, x)


def _log_softmax_bwd_cpu(y, gy, axis):
    with numpy.errstate(under="ignore"):
        return gy - get_xp(y).exp(y) * gy.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- kernel launches

_THREADS = 256
_SOFTMAX_THREADS = 256  # SOFTMAX_THREADS in kernels/activation.cu (and XENT_THREADS in cross_entropy.cu)
_MAX_BLOCKS = 65535  # kernels loop over the rest (a test lowers it to exercise those loops)


def _pointwise_gpu(name, *arrays, scalars=()):
    """Launch kernels/activation.cu::<name>(*arrays, out, n, *scalars), one thread per element."""
    xp = get_xp(arrays[0])
    arrays = [xp.ascontiguousarray(a, dtype=arrays[0].dtype) for a in arrays]  # gy may come in another dtype
    out = xp.empty_like(arrays[0])
    grid, block = pointwise_launch(out.size)
    load_kernel("activation", name, out.dtype)(grid, block, (*arrays, out, out.size, *scalars))
    return out


def pointwise_launch(n, threads=_THREADS):
    """Grid and block for a grid-stride loop over n elements (backend.grid_for)."""
    return backend.grid_for(n, threads)


def _rows_gpu(name, axis, *arrays):
    """Launch a softmax kernel over rows of ``axis``: moved last, made contiguous, then moved back."""
    xp = get_xp(arrays[0])
    rows_last = [xp.ascontiguousarray(xp.moveaxis(a, axis, -1), dtype=arrays[0].dtype) for a in arrays]  # (..., C)
    out = xp.empty_like(rows_last[0])
    C = out.shape[-1]
    rows = out.size // C if C else 0
    if rows:
        grid, block = row_launch(rows, C)
        load_kernel("activation", name, out.dtype)(grid, block, (*rows_last, out, rows, C))
    return xp.moveaxis(out, -1, axis)


def row_launch(rows, C, threads=_SOFTMAX_THREADS):
    """Grid and block for the row kernels: a power of two >= C threads per row (at most ``threads``),
    and as many rows per block as fit in ``threads`` -- many short rows (C = 2 classes per pixel)
    share a block instead of leaving it almost empty."""
    per_row = min(threads, 1 << max(0, int(C - 1).bit_length()))
    rows_per_block = max(1, min(threads // per_row, rows))
    return (max(1, min(-(-rows // rows_per_block), _MAX_BLOCKS)),), (per_row, rows_per_block)
