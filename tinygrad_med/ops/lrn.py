"""Local response normalisation (LRN) across channels: local_response_norm.

Lecture: "Image classification - AlexNet [Krizhevsky et al, 2012]" and "ZF Net [Zeiler and
Fergus, 2014]": both normalise each activation by the energy of its neighbours in adjacent
channels ("brightness normalization", section 3.3 of the AlexNet paper).  Later networks (VGG
found no gain from it; torchvision's AlexNet drops it) replaced it with batch norm.

Written once with the array module ``xp``: the same code runs on NumPy and, unchanged, on CuPy.
There is no CUDA kernel for it (it is elementwise math plus an n-term sum along channels); the
tests check it on the CPU only.

Reference: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, section 3.3.  PyTorch's formula (alpha divided by
the window size n, as in Caffe): torch.nn.functional.local_response_norm.
"""

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor

__all__ = ["local_response_norm", "LocalResponseNorm"]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Normalise each activation by the sum of squares over ``size`` neighbouring channels.

    Lecture: "Image classification - AlexNet" (local response normalization, paper section 3.3).
    Forward:  S[c] = sum_{c' = c - size//2}^{c + (size-1)//2} x[c']^2   (channels outside [0, C) count 0)
              den[c] = k + (alpha / size) * S[c];   y[c] = x[c] * den[c]^(-beta)
    Backward: gx[j] = gy[j] den[j]^(-beta)
                      - (2 alpha beta / size) x[j] * sum_{c : j in window(c)} gy[c] x[c] den[c]^(-beta-1),
              where j in window(c) <=> c in [j - (size-1)//2, j + size//2]
    Shapes:   x (N, C, *) with at least 3 dims -> y of the same shape
    Reference: Krizhevsky et al., NIPS 2012, section 3.3 (their alpha is PyTorch's alpha / size:
              the paper's k=2, n=5, alpha=1e-4, beta=0.75 is size=5, alpha=5e-4, beta=0.75, k=2 here).

    Args:
        input: x, float32 or float64, (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: n, the number of channels in each window (>= 1).
        alpha: multiplicative factor (divided by size, as in PyTorch).
        beta: exponent.
        k: additive constant (> 0 keeps den away from 0).
    Returns:
        y, a Tensor shaped like x.
    Raises:
        ShapeError if x has fewer than 3 dims; DTypeError if x is not floating point;
        ValueError if size < 1.
    """
    if not isinstance(input, Tensor):
        raise TypeError(fmt("local_response_norm", f"expected a Tensor, got {type(input).__name__}"))
    if input.ndim < 3:
        raise ShapeError(fmt("local_response_norm", f"expected at least 3 dims (N, C, *), got {input.ndim}", x=input))
    if input.dtype.kind != "f":
        raise DTypeError(fmt("local_response_norm", f"x has dtype {input.dtype}; expected float32 or float64", x=input))
    if int(size) != size or size < 1:
        raise ValueError(fmt("local_response_norm", f"size must be a positive integer, got {size!r}"))
    return LocalResponseNorm.apply(input, size=int(size), alpha=float(alpha), beta=float(beta), k=float(k))


class LocalResponseNorm(Function):
    """y = x * den^(-beta), den = k + (alpha/size) * (window sum of x^2 over channels).

    Lecture:  "Image classification - AlexNet"
    Forward:  y = x den^(-beta), den = k + (alpha/size) sum over a window of size channels of x^2
    Backward: gx = gy den^(-beta) - (2 alpha beta / size) x * window-sum(gy x den^(-beta-1))
    Shapes:   x (N, C, *) -> y (N, C, *)
    """

    def forward(self, x, size, alpha, beta, k):
        self.x, self.size, self.alpha, self.beta = x, size, alpha, beta
        S = _channel_window_sum(x * x, size // 2, (size - 1) // 2)  # (N, C, *)
        self.den = k + (alpha / size) * S
        self.den_pow = self.den ** (-beta)  # den^(-beta), reused by backward
        return x * self.den_pow

    def backward(self, gy):
        # t[c] = gy[c] x[c] den[c]^(-beta-1); each t[c] reaches the channels of window(c), so the sum
        # over {c : j in window(c)} is the window sum with the two pad widths swapped.
        t = gy * self.x * self.den_pow / self.den
        back = _channel_window_sum(t, (self.size - 1) // 2, self.size // 2)
        scale = self.x.dtype.type(2.0 * self.alpha * self.beta / self.size)
        return gy * self.den_pow - scale * self.x * back


def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, c - before : c + after + 1] (zeros outside the channels); a (N, C, *).

    A loop over the before + after + 1 offsets of the window (5 in AlexNet), not over elements.
    """
    xp = backend.get_xp(a)
    C = a.shape[1]
    widths = [(0, 0)] * a.ndim
    widths[1] = (before, after)
    padded = xp.pad(a, widths)  # (N, C + before + after, *)
    out = xp.zeros_like(a)
    for offset in range(before + after + 1):
        out += padded[:, offset : offset + C]
    return out
