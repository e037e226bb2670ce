"""Activation functions: sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout, GELU, softplus, SiLU.

Lecture: "Convolutional neural networks - Activation function".  Each op is a public
function, its Function class (forward, then backward right below it) and a
``_<name>_fwd_cpu`` / ``_<name>_fwd_gpu`` pair; the GPU half launches the kernel of the
same name in kernels/activation.cu (softplus, SiLU and maxout stay as array code).
softmax and log_softmax (row kernels) are in ops/softmax.py + kernels/softmax.cu; they are
re-exported here so that ``tinygrad_med.ops.activation.softmax`` keeps working.

``inplace=True`` (accepted for PyTorch compatibility) still returns a new tensor: ops never
overwrite their input, so that autograd's saved values stay valid.

Numerical care: sigmoid is written with e = exp(-|x|) and ELU with expm1(min(x, 0)), so inputs
of +-1000 give the exact limits (0, 1, -alpha) with no overflow.  Where the exact limit needs
exp to underflow to 0, the CPU code says so with ``numpy.errstate(under='ignore')``.
"""

import numpy
import scipy.special

from .. import backend
from ..backend import get_xp, on_gpu
from ..errors import ShapeError, fmt
from ..function import Function
from ..reference import path
from . import activation_fast  # the fast CPU path of ReLU
from .activation_args import check_float
from .reduce_args import one_axis
from .softmax import LogSoftmax, Softmax, log_softmax, softmax

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
    "softmax",  # re-exported from ops/softmax.py
    "log_softmax",  # re-exported from ops/softmax.py
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "GELU",
    "GELUTanh",
    "Softplus",
    "SiLU",
    "Maxout",
    "Softmax",  # re-exported from ops/softmax.py
    "LogSoftmax",  # re-exported from ops/softmax.py
    "stable_sigmoid",
]


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
    check_float("sigmoid", x)
    return Sigmoid.apply(x)


class Sigmoid(Function):
    """y = sigma(x); saves y, since sigma' = y (1 - y).

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = 1 / (1 + e^-x)
    Backward: gx = gy y (1 - y)
    Shapes:   x (*) -> y (*)
    """

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
    check_float("tanh", x)
    return Tanh.apply(x)


class Tanh(Function):
    """y = tanh(x); saves y, since tanh' = 1 - y^2.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = tanh(x)
    Backward: gx = gy (1 - y^2)
    Shapes:   x (*) -> y (*)
    """

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
    check_float("relu", x)
    return ReLU.apply(x)


class ReLU(Function):
    """y = max(0, x); saves y (as PyTorch does), since the gradient passes where y > 0, i.e. where x > 0.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = max(0, x)
    Backward: gx = gy where y > 0, else 0
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        self.y = path(x, _relu_fwd_cpu, activation_fast.relu_fwd, _relu_fwd_gpu)(x)
        return self.y

    def backward(self, gy):  # relu_bwd tests its first argument > 0: y > 0 exactly where x > 0
        return path(gy, _relu_bwd_cpu, activation_fast.relu_bwd, _relu_bwd_gpu)(self.y, gy)


def _relu_fwd_cpu(x):
    """y = max(0, x), elementwise: a new array of x's dtype."""
    return numpy.maximum(x, 0).astype(x.dtype, copy=False)


def _relu_bwd_cpu(y, gy):
    """gx = gy where y > 0, else 0 (y = max(0, x) is > 0 exactly where x > 0)."""
    return gy * (y > 0)


def _relu_fwd_gpu(x):
    return _pointwise_gpu("relu_fwd", x)


def _relu_bwd_gpu(y, gy):
    return _pointwise_gpu("relu_bwd", y, gy)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """Leaky ReLU (the lecture's slide uses slope 0.1: max(0.1 x, x)).

    Lecture: "Convolutional neural networks - Activation function" (Leaky ReLU: neurons always active).
    Forward:  y = x if x > 0 else negative_slope * x
    Backward: gx = gy if x > 0 else negative_slope * gy
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x.
    """
    check_float("leaky_relu", x)
    return LeakyReLU.apply(x, slope=float(negative_slope))


class LeakyReLU(Function):
    """y = x or slope * x; saves x and the slope.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = x if x > 0 else slope x
    Backward: gx = gy if x > 0 else slope gy
    Shapes:   x (*) -> y (*)
    """

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
    check_float("elu", x)
    return ELU.apply(x, alpha=float(alpha))


class ELU(Function):
    """y = x or alpha (e^x - 1); saves x (backward recomputes alpha e^x from it, no cancellation).

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = x if x > 0 else alpha (e^x - 1)
    Backward: gx = gy if x > 0 else gy alpha e^x
    Shapes:   x (*) -> y (*)
    """

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
    """Gaussian error linear unit: the exact form (erf), or PyTorch's approximate='tanh' form.

    Lecture: not on the slides; a smooth ReLU of later architectures.
    Forward:  'none': y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2
              'tanh': y = x (1 + tanh(u)) / 2,  u = sqrt(2 / pi) (x + 0.044715 x^3)
    Backward: 'none': gx = gy (Phi(x) + x phi(x)),  phi(x) = e^{-x^2/2} / sqrt(2 pi)
              'tanh': gx = gy ((1 + t) / 2 + x (1 - t^2) u'(x) / 2),  t = tanh(u),
              u'(x) = sqrt(2 / pi) (1 + 3 * 0.044715 x^2)
    Shapes:   x (...) -> y (...)
    Raises:   DTypeError for a non-float x; ValueError for approximate other than 'none' or 'tanh'.
    Reference: Hendrycks & Gimpel, "Gaussian error linear units (GELUs)", arXiv:1606.08415.
    """
    check_float("gelu", x)
    if approximate == "tanh":
        return GELUTanh.apply(x)
    if approximate != "none":
        raise ValueError(fmt("gelu", f"approximate must be 'none' or 'tanh', got {approximate!r}"))
    return GELU.apply(x)


class GELU(Function):
    """y = x Phi(x); saves x.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = x Phi(x), Phi the standard normal CDF
    Backward: gx = gy (Phi(x) + x phi(x))
    Shapes:   x (*) -> y (*)
    """

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


_GELU_K, _GELU_C = numpy.sqrt(2 / numpy.pi), 0.044715


class GELUTanh(Function):
    """y = x (1 + tanh(u)) / 2 (array code on both devices: tanh is one elementwise call); saves x and t.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = x (1 + t) / 2, t = tanh(k (x + c x^3)), k = sqrt(2/pi), c = 0.044715
    Backward: gx = gy ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2)
    Shapes:   x (*) -> y (*)
    """

    def forward(self, x):
        xp = get_xp(x)
        self.x = x
        self.t = xp.tanh(_GELU_K * (x + _GELU_C * x * x * x))
        return (0.5 * x * (1 + self.t)).astype(x.dtype, copy=False)

    def backward(self, gy):
        x, t = self.x, self.t
        du = _GELU_K * (1 + 3 * _GELU_C * x * x)
        return (gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)).astype(gy.dtype, copy=False)


def softplus(x, beta=1.0, threshold=20.0):
    """Softplus, a smooth ReLU, with PyTorch's linear cut-over above the threshold.

    Lecture: not on the slides (the smooth version of ReLU).
    Forward:  y = log(1 + e^{beta x}) / beta, or y = x where beta x > threshold
              (computed as max(x, 0) + log1p(e^{-|beta x|}) / beta: no overflow)
    Backward: gx = gy * sigma(beta x), or gy where beta x > threshold
    Shapes:   x (...) -> y (...)
    """
    check_float("softplus", x)
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))


class Softplus(Function):
    """y = softplus(x); saves x and where the linear branch was taken.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = log(1 + e^(beta x)) / beta; y = x where beta x > threshold
    Backward: gx = gy sigmoid(beta x); gy on the linear branch
    Shapes:   x (*) -> y (*)
    """

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
    check_float("silu", x)
    return SiLU.apply(x)


class SiLU(Function):
    """y = x sigma(x); saves x and sigma(x).

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y = x s, s = sigmoid(x)
    Backward: gx = gy s (1 + x (1 - s))
    Shapes:   x (*) -> y (*)
    """

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
    check_float("maxout", x)
    axis = one_axis(x, dim, "maxout")
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
    """y = max over each group of k features; saves a one-hot mask of each group's (first) winner.

    Lecture:  "Convolutional neural networks - Activation function"
    Forward:  y[.., j, ..] = max_{k < K} x[.., j*K + k, ..] along axis
    Backward: gx = gy at each group's (first) maximum, 0 elsewhere
    Shapes:   x (..., C, ...) -> y (..., C / K, ...)
    """

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


# ----------------------------------------------------------------------------- kernel launches

_THREADS = 256


def _pointwise_gpu(name, *arrays, scalars=()):
    """Launch kernels/activation.cu::<name>(*arrays, out, n, *scalars), one thread per element."""
    xp = get_xp(arrays[0])
    arrays = [xp.ascontiguousarray(a, dtype=arrays[0].dtype) for a in arrays]  # gy may come in another dtype
    out = xp.empty_like(arrays[0])
    backend.launch("activation", name, out.size, (*arrays, out, out.size, *scalars), out.dtype, _THREADS)
    return out
