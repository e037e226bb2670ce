"""Argument parsing shared by the reductions: dims (PyTorch's rules, 0-d tensors included), dtypes,
and the two call forms of var/std.

Lecture: "Batch normalization" (the means and variances over chosen dims).
PyTorch accepts dim = None, an int, or a tuple/list of ints; ``()`` means every dim for sum,
mean, amax, amin and var; a 0-d tensor takes dim 0 or -1 (its one implicit axis); a dim named
twice is an error.  var and std take ``unbiased`` positionally (``var(x, True)``,
``var(x, 0, True, True)``) or ``correction=`` by keyword, never both.
"""

import builtins

import numpy

from ..errors import DTypeError, ShapeError, fmt

__all__ = ["reduction_axes", "one_axis", "reduced_size", "sum_dtype", "check_float_input", "variance_args", "keep_dims"]


def reduction_axes(x, dim, op, empty_means_all=True):
    """The sorted tuple of non-negative axes of ``dim`` (all axes for None, or for () where PyTorch
    reads it so); () for a 0-d x.

    Raises: ShapeError for a dim out of range or named twice; TypeError for a dim that is not an int.
    """
    if dim is None or (empty_means_all and isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(x.ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    axes = [one_axis(x, d, op) for d in dims]
    for a in axes:
        if axes.count(a) > 1:
            raise ShapeError(fmt(op, f"dim {a} appears multiple times in the list of dims", x=x))
    return tuple(sorted(axes)) if x.ndim else ()


def one_axis(x, dim, op):
    """One dim as a non-negative axis; a 0-d tensor takes -1 and 0 (both give axis 0)."""
    if isinstance(dim, (bool, numpy.bool_)) or not isinstance(dim, (int, numpy.integer)):
        raise TypeError(fmt(op, f"dim must be an int or a tuple of ints, got {dim!r}"))
    rank = builtins.max(x.ndim, 1)
    if not -rank <= dim < rank:
        raise ShapeError(
            fmt(
                op,
                f"dim {dim} is out of range for a {x.ndim}-D tensor",
                x=x,
                hint=f"expected a dim in [{-rank}, {rank - 1}]",
            )
        )
    return int(dim) % rank


def reduced_size(shape, axes):
    """The number of elements each output value reduces over."""
    return int(numpy.prod([shape[a] for a in axes])) if axes else 1


def sum_dtype(dtype, asked=None):
    """PyTorch's result dtype of sum/prod/cumsum: the dtype asked for, else bool and integers -> int64,
    floats unchanged."""
    if asked is not None:
        return numpy.dtype(asked)
    return numpy.dtype(numpy.int64) if numpy.dtype(dtype).kind in "biu" else numpy.dtype(dtype)


def check_float_input(op, x):
    """mean, var, std: PyTorch refuses integer and bool inputs (it cannot infer the output dtype)."""
    if x.dtype.kind != "f":
        raise DTypeError(
            fmt(op, f"input dtype must be a floating point dtype, got {x.dtype}", hint="cast with .float()")
        )


def variance_args(op, dim, unbiased, keepdim, correction):
    """(dim, correction) from either of PyTorch's forms of var/std.

    var(x, unbiased) takes a bool in dim's place; var(x, dim, unbiased, keepdim) a bool after dim;
    var(x, dim, keepdim=..., correction=c) a number.  The default is Bessel's correction (1).
    Raises: TypeError for both unbiased and correction, or an unbiased that is not a bool.
    """
    if isinstance(dim, (bool, numpy.bool_)):  # var(x, True): the boolean is `unbiased`
        if unbiased is not None or keepdim:
            raise TypeError(fmt(op, "var(x, unbiased) takes no dim or keepdim; use var(x, dim, unbiased, keepdim)"))
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(fmt(op, "give unbiased or correction, not both"))
    if unbiased is not None and not isinstance(unbiased, (bool, numpy.bool_)):
        raise TypeError(fmt(op, f"unbiased must be a bool, got {unbiased!r}"))
    if correction is None:
        correction = 1 if unbiased is None or bool(unbiased) else 0
    return dim, correction


def keep_dims(gy, x_shape, axes, keepdim):
    """Reshape gy so that it broadcasts against x (re-insert the reduced axes)."""
    if keepdim or not axes or gy.ndim == len(x_shape):
        return gy
    shape = [1 if i in axes else n for i, n in enumerate(x_shape)]
    return gy.reshape(shape)
