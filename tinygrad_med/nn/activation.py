"""Activation layers with torch.nn's names; each calls its op in ops/activation.py (through nn.functional).

Lecture: "Convolutional neural networks - Activation function" (sigmoid, tanh, ReLU,
leaky ReLU, maxout, ELU).  Only Maxout owns parameters: its linear pieces.
"""

from . import functional as F
from .linear import Linear
from .module import Module

__all__ = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU", "Softplus", "SiLU", "Maxout", "Softmax", "LogSoftmax"]


class ReLU(Module):
    """y = max(0, x) (torch.nn.ReLU).  Shapes: (...) -> (...).  ``inplace`` is accepted and ignored.

    In an nn.Sequential right after a batch norm, the batch norm applies it (ops/norm.py::batch_norm_relu).
    """

    folds_into_batch_norm = True  # this class only (looked up in its own __dict__), not a subclass

    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    """y = 1 / (1 + e^-x) (torch.nn.Sigmoid).  Shapes: (...) -> (...)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x) (torch.nn.Tanh).  Shapes: (...) -> (...)."""

    def forward(self, x):
        return F.tanh(x)


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope x (torch.nn.LeakyReLU; the slide uses 0.1).  Shapes: (...) -> (...)."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """y = x if x > 0 else alpha (e^x - 1) (torch.nn.ELU).  Shapes: (...) -> (...)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Module):
    """y = x Phi(x) (torch.nn.GELU): approximate='none' (erf) or 'tanh'.  Shapes: (...) -> (...)."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Softplus(Module):
    """y = log(1 + e^{beta x}) / beta, linear above threshold (torch.nn.Softplus).  Shapes: (...) -> (...)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class SiLU(Module):
    """y = x sigma(x) (torch.nn.SiLU).  Shapes: (...) -> (...)."""

    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.silu(x)


class Softmax(Module):
    """Softmax over ``dim`` (torch.nn.Softmax).  Shapes: (...) -> (...).

    dim=None: PyTorch's deprecated implicit choice (ops/softmax.py::softmax) and its UserWarning, which
    names the line that called the module."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim, _stacklevel=5)  # the warning's frame: the module's caller

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log softmax over ``dim`` (torch.nn.LogSoftmax).  Shapes: (...) -> (...).

    dim=None: as nn.Softmax (the implicit dim and its warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class Maxout(Linear):
    """Maxout unit: the maximum of ``num_pieces`` learned affine functions of x (PyTorch has none).

    Lecture: "Convolutional neural networks - Activation function" (Maxout: max(w_1^T x + b_1, w_2^T x + b_2)).
    Forward:  z = x W^T + b, W (out_features * k, in_features);  y_i = max_{j < k} z_{i*k + j}
              (rows i*k .. i*k + k - 1 of W and b are unit i's pieces w_1 .. w_k, b_1 .. b_k)
    Backward: through ops/activation.py::Maxout (gradient to the winning piece) and ops/matmul.py::Linear
    Shapes:   x (..., in_features) -> y (..., out_features); weight (out_features * k, in_features)
    Init:     the pieces are one nn.Linear(in_features, out_features * num_pieces), whose parameters,
              init and state_dict keys (weight, bias) this layer inherits.
    Reference: Goodfellow et al., "Maxout networks", arXiv:1302.4389.
    """

    def __init__(self, in_features, out_features, num_pieces=2, bias=True, device=None, dtype=None):
        if num_pieces < 1:
            raise ValueError(f"Maxout: num_pieces must be >= 1, got {num_pieces}")
        super().__init__(in_features, out_features * num_pieces, bias, device=device, dtype=dtype)
        self.out_features, self.num_pieces = out_features, num_pieces

    def forward(self, x):
        return F.maxout(F.linear(x, self.weight, self.bias), self.num_pieces, dim=-1)  # (..., out * k) -> (..., out)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, num_pieces={self.num_pieces}"
