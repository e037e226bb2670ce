"""Module and Parameter: the containers that own a layer's weights, as in torch.nn.

Lecture: "CNN refresher" (a network is a stack of building blocks with learned
parameters; the MLP slide counts them).

A ``Parameter`` is a Tensor that a Module registers as learnable.  Assigning one
to a Module attribute (``self.W = Parameter(...)``) registers it; assigning a
Module registers a submodule; ``register_buffer`` registers state that is saved
but not learned (batch norm's running mean).  From that registry come
``parameters()`` (what an optimizer updates), ``state_dict()`` (what a
checkpoint saves, keys like ``"features.0.weight"``), ``train()/eval()`` and
``to(device)``.  ``__getattr__`` below is the one lookup hook in the package,
exactly as torch.nn.Module has it: registered items live in three dicts, not in
the instance ``__dict__``.  Parameter is defined in nn/parameter.py (as in torch.nn).
"""

from collections import OrderedDict, namedtuple

import numpy

from .. import backend
from ..errors import CheckpointError, DTypeError, fmt
from ..function import increment_version, no_grad
from ..tensor import Tensor
from .array_like import as_array
from .parameter import Parameter

__all__ = ["Parameter", "Module"]


# What load_state_dict returns (torch.nn.modules.module._IncompatibleKeys).
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _value_problems(sources, own):
    """Why each ``sources[key]`` cannot be copied into the parameter or buffer ``own[key]``: a message
    per bad value (a non-numeric dtype, else a shape mismatch), in ``sources``' order."""
    problems = []
    for key, source in sources.items():
        if source.dtype.kind not in "biuf":
            problems.append(f"value for {key!r} has dtype {source.dtype}, expected a numeric array")
        elif tuple(source.shape) != own[key].shape:
            problems.append(
                f"size mismatch for {key!r}: copying a param with shape {tuple(source.shape)} "
                f"from checkpoint, the shape in current model is {own[key].shape}"
            )
    return problems


class Module:
    """Base class of every layer and model (torch.nn.Module).

    Subclasses call ``super().__init__()`` first, assign Parameters, buffers and
    submodules as attributes, and define ``forward``.  Calling the module runs
    ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name, keep=params)
            params[name] = value
        elif name in params:  # before the Module case, as in PyTorch: a parameter's name takes no module
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} (torch.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} (Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep=None):
        """Remove ``name`` from the instance dict and every registry but ``keep``, before it is (re-)registered
        in ``keep``: a name registered there again keeps its place in the order, hence in parameters(),
        children() and state_dict() (as in PyTorch, whose OrderedDict assignment keeps the key's position)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # Called only when normal lookup fails: the registered items.
        registries = self.__dict__.get("_parameters"), self.__dict__.get("_buffers"), self.__dict__.get("_modules")
        for registry in registries:
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def _check_name(self, what, name, registry):
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{what} name can't be empty or contain '.', got {name!r}")
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute {name!r} already exists")

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None) under ``name``."""
        self._check_name("parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} (Parameter or None expected)")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register non-learned state (e.g. running_mean); saved in state_dict if ``persistent``."""
        self._check_name("buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} (Tensor or None expected)")
        if isinstance(tensor, Parameter):
            raise KeyError(f"buffer {name!r} is a Parameter; use register_parameter")
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name("module", name, self._modules)
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at dotted path ``target`` ("" is self)."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules or module._modules[part] is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
            module = module._modules[part]
        return module

    # ------------------------------------------------------------------ iteration
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for self and every descendant, depth first, each once."""
        memo = set() if memo is None else memo
        if remove_duplicate and id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        owners = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for owner_name, owner in owners:
            for name, value in getattr(owner, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{owner_name}.{name}" if owner_name else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs in registration order; a shared Parameter appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, only_trainable=False):
        """Total number of scalar weights (each shared Parameter counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Set training mode on self and every descendant (dropout, batch norm read it)."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        self.training = mode
        for child in self.children():
            child.train(mode)  # a call per child, so that a layer overriding train() is honoured
        return self

    def eval(self):
        """Same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Turn gradient recording on or off for every parameter (freezing a backbone)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter: set them to None, or to zeros.

        The zeros are a fresh array: the engine may share one gradient array between
        two leaves (both inputs of an add), so zeroing in place could reach elsewhere.
        """
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = Tensor._wrap(backend.get_xp(param.grad.data).zeros_like(param.grad.data))

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively), then on self; return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ device and dtype
    def to(self, *args, device=None, dtype=None):
        """Move/cast parameters, their gradients and buffers IN PLACE; return self.

        ``to('cuda')``, ``to(tm.float64)``, ``to('cuda', tm.float64)``, ``to(tensor)``.
        As in PyTorch, only floating-point tensors change dtype, and each Parameter
        object keeps its identity (its ``.data`` is replaced), so an optimizer built
        before the move still updates the moved weights.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        if dtype is not None and numpy.dtype(dtype).kind != "f":
            raise DTypeError(fmt("Module.to", f"only floating point dtypes are accepted, got {numpy.dtype(dtype)}"))
        return self._convert(device, None if dtype is None else numpy.dtype(dtype))

    def _convert(self, device, dtype):
        def convert(array):
            if device is not None:
                array = backend.to_device(array, device)
            if dtype is not None and array.dtype.kind == "f":
                array = array.astype(dtype, copy=False)
            return array

        seen = set()
        for module in self.modules():
            for tensor in list(module._parameters.values()) + list(module._buffers.values()):
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                tensor.data = convert(tensor.data)
                if tensor.grad is not None:
                    tensor.grad.data = convert(tensor.grad.data)
        return self

    def cpu(self):
        return self._convert("cpu", None)

    def cuda(self, device=None):
        return self._convert("cuda" if device is None else device, None)

    def float(self):
        return self._convert(None, numpy.dtype(numpy.float32))

    def double(self):
        return self._convert(None, numpy.dtype(numpy.float64))

    def half(self):
        return self._convert(None, numpy.dtype(numpy.float16))

    # ------------------------------------------------------------------ state dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ordered dict of every parameter and persistent buffer, keys dotted.

        Order: a module's own parameters, then its buffers, then each child's entries,
        as in PyTorch.  Values are detached Tensors sharing the module's arrays (the
        Parameters themselves if ``keep_vars``).
        """
        destination = OrderedDict() if destination is None else destination
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Values may be Tensors, numpy (or cupy) arrays, Python numbers, or any array-like with
        ``__dlpack__`` or ``__array__`` (a torch state_dict as it is: see nn/array_like.py); each
        is cast to the destination's dtype and device.  Everything is checked before anything
        is copied, so a failed load leaves the module as it was.

        A model whose names changed converts a state_dict saved under the old names first
        (``_upgrade_state_dict``; see models/old_keys.py).

        Returns:
            IncompatibleKeys(missing_keys, unexpected_keys), as PyTorch.
        Raises:
            CheckpointError naming the key and both shapes on a shape mismatch (always),
            and naming the keys when some are missing or unexpected and ``strict``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}")
        state_dict = self._upgrade_state_dict(state_dict)
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        sources = {key: as_array(state_dict[key], key) for key in own if key in state_dict}
        problems = _value_problems(sources, own)  # everything is checked before anything is copied
        if strict and (missing or unexpected):
            if unexpected:
                problems.insert(0, "unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)))
            if missing:
                problems.insert(0, "missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        if problems:
            raise CheckpointError(
                fmt("load_state_dict", f"error(s) loading state_dict for {type(self).__name__}: " + "; ".join(problems))
            )
        with no_grad():
            for key, source in sources.items():
                target = own[key]
                target.data[...] = backend.to_device(source, target.device).astype(target.dtype, copy=False)
                increment_version(target)
        return IncompatibleKeys(missing, unexpected)

    def _upgrade_state_dict(self, state_dict):
        """``state_dict`` under today's names; a model whose module names changed overrides this to convert
        a state_dict saved under its old names (and warn).  The default returns it as it is."""
        return state_dict

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        """The text inside the parentheses of this module's repr line (override in layers)."""
        return ""

    def __repr__(self):
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({''.join(lines)})"
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"
