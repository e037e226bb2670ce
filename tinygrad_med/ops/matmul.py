"""Matrix products: matmul (batched, broadcasting) and linear.

Lecture: "CNN refresher" (fully connected layers; the MLP slide).  Every dense product
in tinygrad_med goes through ``xp.matmul``: BLAS (sgemm/dgemm) on the CPU and cuBLAS
through cupy.matmul on the GPU.  The educational tiled GEMM kernel (kernels/gemm.cu)
is only benchmarked against cuBLAS, never used here.
"""

from .. import backend
from ..errors import DTypeError, ShapeError, fmt
from ..function import Function
from ..tensor import Tensor
from .arithmetic import unbroadcast

__all__ = ["matmul", "linear", "check_same_dtype"]


def matmul(a, b):
    """a @ b with NumPy's rules: 1-D operands are promoted, leading dims broadcast.

    Forward:  y[..., i, j] = sum_k a[..., i, k] b[..., k, j]
    Backward: ga = gy @ b^T,  gb = a^T @ gy  (summed over broadcast batch dims)
    Shapes:   a (..., M, K), b (..., K, N) -> y (..., M, N)
    Raises:   ShapeError if the inner sizes differ; DTypeError if a and b differ in dtype (PyTorch does
              not promote here) or are bool.  Two integer operands of one dtype are multiplied, as PyTorch.
    """
    if not isinstance(a, Tensor):
        a = Tensor._wrap(backend.to_device(a, b.device))
    if not isinstance(b, Tensor):
        b = Tensor._wrap(backend.to_device(b, a.device))
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(fmt("matmul", "both operands need at least one dim", a=a, b=b))
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(
            fmt(
                "matmul",
                f"inner sizes differ ({a.shape[-1]} vs {b.shape[-2 if b.ndim > 1 else 0]})",
                a=(a.shape, "(..., M, K)"),
                b=(b.shape, "(..., K, N)"),
            )
        )
    check_same_dtype("matmul", a=a, b=b)
    if a.ndim == 1 and b.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b.reshape(-1, 1)).reshape(())
    if a.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:
        return MatMul.apply(a, b.reshape(-1, 1)).squeeze(-1)
    return MatMul.apply(a, b)


class MatMul(Function):
    """y = a @ b for operands with at least 2 dims.

    Lecture:  "CNN refresher" (fully connected layers)
    Forward:  y = a @ b (batch dims broadcast)
    Backward: ga = gy @ b^T, gb = a^T @ gy (summed over broadcast batch dims)
    Shapes:   a (*, M, K), b (*, K, N) -> y (*, M, N)
    """

    saved_only_for = {"a": 1, "b": 0}  # a is read only for gb, b only for ga (shapes aside)

    def forward(self, a, b):
        self.a, self.b = a, b
        return backend.get_xp(a).matmul(a, b)

    def backward(self, gy):
        xp = backend.get_xp(gy)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(xp.matmul(gy, xp.swapaxes(self.b, -1, -2)), self.a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.matmul(xp.swapaxes(self.a, -1, -2), gy), self.b.shape)
        return ga, gb


def linear(x, W, b=None):
    """Fully connected layer, as torch.nn.functional.linear.

    Lecture: "CNN refresher" (multi-layer perceptron).
    Forward:  y = x W^T + b
    Backward: gx = gy W,  gW = gy^T x (summed over batch dims),  gb = sum of gy over batch dims
    Shapes:   x (..., in_features), W (out_features, in_features), b (out_features,) -> y (..., out_features)
    Raises:   ShapeError if x's last dim is not W's in_features; DTypeError if x, W and b differ in dtype.
    """
    check_same_dtype("linear", x=x, W=W, b=b)
    if W.ndim != 2 or x.shape[-1] != W.shape[1]:
        raise ShapeError(
            fmt(
                "linear",
                f"x has {x.shape[-1]} features but W expects {W.shape[-1]}",
                x=(x.shape, "(..., in_features)"),
                W=(W.shape, "(out_features, in_features)"),
            )
        )
    if b is not None and b.shape != (W.shape[0],):
        raise ShapeError(fmt("linear", "bias must have shape (out_features,)", b=b, W=W))
    return Linear.apply(x, W, b) if b is not None else Linear.apply(x, W)


class Linear(Function):
    """y = x W^T + b, with the batch dims flattened so that each product is one GEMM.

    Lecture:  "CNN refresher" (fully connected layers)
    Forward:  y = x W^T + b
    Backward: gx = gy W, gW = gy^T x, gb = sum over rows of gy  (x, gy flattened to 2-D)
    Shapes:   x (*, in), W (out, in), b (out,) -> y (*, out)
    """

    saved_only_for = {"x2d": 1, "W": 0}  # x2d is read only for gW, W only for gx

    def forward(self, x, W, b=None):
        xp = backend.get_xp(x)
        self.x2d, self.W, self.x_shape = x.reshape(-1, x.shape[-1]), W, x.shape
        y = xp.matmul(self.x2d, W.T)  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b
        return y.reshape(*x.shape[:-1], W.shape[0])

    def backward(self, gy):
        gy2d = gy.reshape(-1, gy.shape[-1])  # (N, out)
        gx = (gy2d @ self.W).reshape(self.x_shape) if self.needs_input_grad[0] else None
        gW = gy2d.T @ self.x2d if self.needs_input_grad[1] else None
        gb = gy2d.sum(axis=0) if len(self.needs_input_grad) > 2 and self.needs_input_grad[2] else None
        return gx, gW, gb


def check_same_dtype(op, **tensors):
    """PyTorch's rule for products (matmul, linear, conv): one dtype for all operands, no promotion,
    and a numeric one (float, or integer as PyTorch multiplies integer matrices).  None entries are skipped.

    Raises:   DTypeError naming each operand's dtype.
    """
    given = {name: t for name, t in tensors.items() if t is not None}
    dtypes = {name: getattr(t, "dtype", None) for name, t in given.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
        raise DTypeError(
            fmt(op, f"expected all operands to have the same dtype, got {listed}", hint="convert one with .to(dtype)")
        )
    dtype = next(iter(dtypes.values()))
    if dtype is None or dtype.kind not in "fiu":
        raise DTypeError(fmt(op, f"expected float or integer operands, got {dtype}"))
