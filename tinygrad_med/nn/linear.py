"""Linear (the fully connected layer) and the containers that chain modules, as in torch.nn.

Lecture: "CNN refresher" (multi-layer perceptron: every input connects to every
output, hence "many parameters").  Linear calls nn.functional.linear (ops/matmul.py),
where the forward y = x W^T + b and its backward stand side by side.
"""

import math
import operator
from collections import OrderedDict

from .. import factory
from ..errors import ShapeError, fmt
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Identity", "Flatten", "Unflatten", "Sequential", "ModuleList", "ModuleDict", "ParameterList"]


class Linear(Module):
    """Fully connected layer y = x W^T + b (torch.nn.Linear).

    Lecture: "CNN refresher" (multi-layer perceptron).
    Forward:  y = x W^T + b
    Backward: gx = gy W,  gW = gy^T x,  gb = sum of gy over the batch (ops/matmul.py::Linear)
    Shapes:   x (..., in_features) -> y (..., out_features);
              weight (out_features, in_features), bias (out_features,)
    Init:     weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in_features), 1/sqrt(in_features));
              bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)), as PyTorch.
    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias (default True).
        device, dtype: where and in which float type the weights live (default cpu, float32).
    Raises:
        ShapeError (from linear) if x's last dim is not in_features.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: sizes must be >= 0, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(factory.empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(factory.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Draw fresh weights with PyTorch's default scheme (see the class docstring)."""
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):  # PyTorch's name: layer(input=x) works too
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dims start_dim..end_dim (torch.nn.Flatten).

    Shapes:   (N, C, H, W) -> (N, C*H*W) with the defaults start_dim=1, end_dim=-1.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (torch.nn.Unflatten).

    Shapes:   (N, C*H*W) -> (N, C, H, W) with dim=1, unflattened_size=(C, H, W).
    Raises:   ShapeError if the sizes do not multiply to x.shape[dim].
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim + x.ndim if self.dim < 0 else self.dim
        if not 0 <= dim < x.ndim:
            raise ShapeError(fmt("Unflatten", f"dim {self.dim} is out of range for a {x.ndim}-d input", x=x))
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        if (-1 not in sizes and known != x.shape[dim]) or (-1 in sizes and (known == 0 or x.shape[dim] % known)):
            raise ShapeError(
                fmt("Unflatten", f"unflattened_size {sizes} does not fit dim {self.dim} of size {x.shape[dim]}", x=x)
            )
        return x.reshape(*x.shape[:dim], *sizes, *x.shape[dim + 1 :])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _index(container, idx):
    """A non-negative position from ``idx`` (negative counts from the end)."""
    size = len(container)
    try:
        idx = operator.index(idx)  # ints, numpy ints, integer Tensors
    except TypeError:
        raise TypeError(
            f"{type(container).__name__} indices must be integers or slices, got {type(idx).__name__}"
        ) from None
    if not -size <= idx < size:
        raise IndexError(f"{type(container).__name__}: index {idx} is out of range for length {size}")
    return idx % size


class Sequential(Module):
    """Modules run one after another (torch.nn.Sequential).

    ``Sequential(m0, m1, ...)`` names the children "0", "1", ...;
    ``Sequential(OrderedDict([("conv", m0), ("relu", m1)]))`` keeps the given names.
    Supports indexing (an int gives a module, a slice a Sequential), len, iteration, append.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for position, module in enumerate(args):
                self.add_module(str(position), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(self, idx)]

    def __setitem__(self, idx, module):
        setattr(self, list(self._modules)[_index(self, idx)], module)

    def __delitem__(self, idx):
        names = list(self._modules)
        for name in names[idx] if isinstance(idx, slice) else [names[_index(self, idx)]]:
            delattr(self, name)
        # Renumber so that the keys stay 0..n-1, as PyTorch does.
        items = list(self._modules.items())
        self._modules.clear()
        for position, (name, module) in enumerate(items):
            self._modules[str(position) if name.isdigit() else name] = module

    def append(self, module):
        """Add ``module`` at the end (named by its position); return self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Append each of ``modules``; return self."""
        for module in modules:
            self.append(module)
        return self

    def forward(self, x):
        modules, i = list(self), 0
        while i < len(modules):
            if i + 1 < len(modules) and _folds_relu(modules[i], modules[i + 1]):
                x, i = modules[i](x, relu=True), i + 2  # BatchNorm then ReLU: one op (ops/norm.py::batch_norm_relu)
            else:
                x, i = modules[i](x), i + 1
        return x


def _folds_relu(module, after):
    """A batch norm layer whose forward takes relu= (nn.BatchNorm*d's, not a subclass's own) followed by a plain
    nn.ReLU (not a subclass, which may change what it computes)."""
    takes = getattr(getattr(type(module), "forward", None), "takes_relu", False)
    return takes and type(after).__dict__.get("folds_into_batch_norm", False)


class ModuleList(Module):
    """A list of submodules, registered under "0", "1", ... (torch.nn.ModuleList). No forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(self, idx))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(self, idx)), module)

    def __delitem__(self, idx):
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else _index(self, idx)]
        self._modules.clear()
        self.extend(modules)

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)


class ModuleDict(Module):
    """An ordered dict of submodules (torch.nn.ModuleDict). No forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        """Add (name, module) pairs from a dict/ModuleDict or an iterable of pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key):
        module = self._modules[key]
        del self[key]
        return module

    def clear(self):
        self._modules.clear()


class ParameterList(Module):
    """A list of Parameters registered under "0", "1", ... (torch.nn.ParameterList).

    Plain Tensors appended are wrapped into Parameters (sharing their array), as in PyTorch.
    """

    def __init__(self, values=None):
        super().__init__()
        for value in values or []:
            self.append(value)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __getitem__(self, idx):
        return self._parameters[str(_index(self, idx))]

    def __setitem__(self, idx, value):
        self.register_parameter(str(_index(self, idx)), _as_parameter(value))

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        lines = [
            f"({name}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
            for name, p in self._parameters.items()
        ]
        return "\n".join(lines)


def _as_parameter(value):
    return value if isinstance(value, Parameter) else Parameter(value)
