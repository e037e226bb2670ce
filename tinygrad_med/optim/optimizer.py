"""Optimizer: the base class of SGD, Adam, AdamW and RMSprop (torch.optim.Optimizer's API).

Lecture: "MORE ON OPTIMIZATION" (the update rules live in sgd.py, adam.py, rmsprop.py).

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus that
group's options, e.g. its own ``lr``) and ``state`` (a dict from parameter to
its per-parameter buffers: momentum, moment estimates, step count).  ``step()``
walks every parameter that has a ``.grad`` and asks the subclass to update
``param.data`` *in place*, so the Tensor objects a model holds stay the ones
being trained:

    opt = tm.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

State buffers are raw arrays (numpy on 'cpu', cupy on 'cuda') next to the
parameter.  On the GPU each parameter is updated by ONE fused kernel launch
(kernels/optim.cu); on the CPU by in-place NumPy.  ``.grad`` is never modified.

``state_dict()`` is keyed by parameter index (0, 1, ... over the groups in
order) as in PyTorch, and holds only numpy arrays, numbers, strings, tuples and
nested dicts/lists, so it round-trips through a .npz checkpoint.
"""

import numpy

from .. import backend
from ..errors import CheckpointError, DeviceError, DTypeError, ShapeError, fmt
from ..function import increment_version, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "check_nonnegative", "zeros_buffer", "launch_update", "same_kind"]


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, step, state_dict.

    Lecture: "MORE ON OPTIMIZATION".
    Forward:  w_t = w_{t-1} - (the subclass's update), applied to every parameter with a .grad.
    Backward: none (an optimizer is not differentiable).
    Shapes:   every state buffer has its parameter's shape.

    Subclasses set ``name`` (used in error messages), ``scalar_state`` (state keys
    that hold numbers, not arrays) and write ``_check_options(group)``,
    ``_init_state(state, param, group)`` and ``_update(param, grad, state, group)``.

    Args:
        params: an iterable of Tensors, or of dicts with a ``"params"`` entry and
            per-group options (``[{"params": a}, {"params": b, "lr": 1e-2}]``).
        defaults: dict of the options a group takes when it does not give them.
    Raises:
        TypeError if ``params`` is a single Tensor or holds something other than Tensors.
        ValueError if the parameter list is empty, a parameter is not a leaf, or a
            parameter appears in two groups; or an option is out of range.
        DTypeError if a parameter is not float32 / float64.
    """

    name = "optimizer"
    scalar_state = ("step",)

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.state = {}  # parameter (hashed by identity) -> {"step": int, buffer name: array}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(
                fmt(
                    self.name,
                    "params should be an iterable of Tensors or dicts, but got a Tensor",
                    hint="pass [tensor] or model.parameters()",
                )
            )
        _check_ordered(self.name, params)
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(fmt(self.name, "optimizer got an empty parameter list"))
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines + [")"])

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters (dict with "params" and optional options) to train.

        Raises:
            TypeError / ValueError / DTypeError as described in the class docstring.
        """
        if not isinstance(param_group, dict):
            raise TypeError(fmt(self.name, f"a param group must be a dict, got {type(param_group).__name__}"))
        group = dict(param_group)
        params = group.get("params")
        _check_ordered(self.name, params)
        params = [params] if isinstance(params, Tensor) else list(params or [])
        if len(params) == 0:
            raise ValueError(fmt(self.name, "optimizer got an empty parameter list"))
        first_index = sum(len(g["params"]) for g in self.param_groups)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for offset, param in enumerate(params):
            self._check_param(param, first_index + offset, seen)
            seen.add(id(param))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_options(group)
        self.param_groups.append(group)

    def _check_param(self, param, index, seen):
        if not isinstance(param, Tensor):
            raise TypeError(
                fmt(self.name, f"parameter {index} is a {type(param).__name__}; optimizers can only optimize Tensors")
            )
        if param.dtype.name not in ("float32", "float64"):
            raise DTypeError(fmt(self.name, f"parameter {index} has dtype {param.dtype}; expected float32 or float64"))
        if not param.is_leaf:
            raise ValueError(
                fmt(
                    self.name,
                    f"parameter {index} is not a leaf tensor; can't optimize it",
                    hint="pass the leaf (e.g. a Parameter), or .detach().requires_grad_()",
                )
            )
        if id(param) in seen:
            raise ValueError(fmt(self.name, f"parameter {index} appears more than once in the parameter groups"))

    def _check_options(self, group):
        """Raise ValueError for an out-of-range option (subclasses extend this)."""
        check_nonnegative(self.name, group, ("lr",))

    # ------------------------------------------------------------------ training
    def zero_grad(self, set_to_none=True):
        """Reset the gradients: ``.grad = None`` (default) or a fresh zero array of the same shape."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:  # a new array: the old one may be shared with another gradient
                    param.grad = Tensor._wrap(backend.get_xp(param.grad.data).zeros_like(param.grad.data))

    def step(self, closure=None):
        """Update every parameter that has a ``.grad``; returns ``closure()`` if given.

        Args:
            closure: optional callable that re-evaluates the model and returns the loss
                (it runs with gradients enabled, before the update).
        Raises:
            ShapeError / DTypeError / DeviceError if a gradient does not match its parameter.
        """
        loss = None
        if closure is not None:
            loss = closure()
        with no_grad():
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    grad = self._checked_grad(param)
                    state = self.state.setdefault(param, {})
                    if not state:
                        self._init_state(state, param.data, group)
                    state["step"] += 1
                    self._update(param.data, grad, state, group)
                    increment_version(param)  # a Function that saved the old weights must not run on these
        return loss

    def _checked_grad(self, param):
        grad = param.grad.data if isinstance(param.grad, Tensor) else param.grad
        if tuple(grad.shape) != tuple(param.shape):
            raise ShapeError(
                fmt(
                    self.name,
                    f"parameter {self._index_of(param)}: gradient shape differs from the parameter's",
                    param=param,
                    grad=grad,
                )
            )
        if backend.device_of(grad) != backend.device_of(param.data):
            raise DeviceError(
                fmt(
                    self.name,
                    f"parameter {self._index_of(param)} is on {param.device} but its "
                    f"grad is on {backend.device_of(grad)}",
                )
            )
        if grad.dtype != param.dtype:
            raise DTypeError(
                fmt(
                    self.name,
                    f"parameter {self._index_of(param)} has dtype {param.dtype} but its grad has {grad.dtype}",
                )
            )
        return grad

    def _index_of(self, param):
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p is param:
                    return index
                index += 1
        return -1

    def _init_state(self, state, param, group):
        """Fill a parameter's empty state at its first step (subclasses add buffers)."""
        state["step"] = 0

    def _update(self, param, grad, state, group):
        """Update the array ``param`` in place from ``grad`` (subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """The optimizer's state as {"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}.

        Arrays are numpy copies, so the dict can be saved (tm.save) and later loaded
        into an optimizer built over the same parameters, on either device.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = []
            for param in group["params"]:
                index[id(param)] = len(index)
                saved["params"].append(index[id(param)])
            groups.append(saved)
        state = {}
        for group in self.param_groups:
            for param in group["params"]:
                if param in self.state:
                    state[index[id(param)]] = {key: _saved_value(value) for key, value in self.state[param].items()}
        return {"state": state, "param_groups": groups}

    def _check_groups(self, saved_groups):
        """Refuse saved parameter groups that differ in number, in parameter counts, or in an option's kind,
        and options the constructor would refuse (ValueError from ``_check_options``)."""
        if len(saved_groups) != len(self.param_groups):
            counts = f"{len(saved_groups)} parameter groups but the optimizer has {len(self.param_groups)}"
            raise CheckpointError(fmt(self.name, f"the state dict has {counts}"))
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise CheckpointError(
                    fmt(self.name, f"parameter group {i} of the state dict is not a dict with 'params'")
                )
            if len(saved["params"]) != len(group["params"]):
                raise CheckpointError(
                    fmt(
                        self.name,
                        f"parameter group {i} has {len(group['params'])} parameters "
                        f"but the state dict's has {len(saved['params'])}",
                    )
                )
            wrong = [
                f"{k}={v!r}" for k, v in saved.items() if k != "params" and k in group and not same_kind(group[k], v)
            ]
            if wrong:
                raise CheckpointError(
                    fmt(self.name, f"parameter group {i} has options of another kind: " + ", ".join(wrong))
                )
            self._check_options({**group, **{k: _like(group.get(k), v) for k, v in saved.items() if k != "params"}})

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()``: group options, step counts and buffers (cast to each parameter's dtype
        and device).

        Raises:
            CheckpointError if the groups or parameter counts differ, a key is missing, or a
                buffer has the wrong shape.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise CheckpointError(fmt(self.name, "load_state_dict expects a dict with 'state' and 'param_groups'"))
        saved_groups = list(state_dict["param_groups"])
        self._check_groups(saved_groups)
        params = {}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            params.update({int(_as_number(k)): p for k, p in zip(saved["params"], group["params"], strict=True)})
        new_state = {}
        for key, buffers in dict(state_dict["state"]).items():
            key = int(_as_number(key))
            if key not in params:
                raise CheckpointError(
                    fmt(self.name, f"the state dict has state for parameter {key}, which no parameter group lists")
                )
            param = params[key]
            new_state[param] = {name: self._loaded_value(key, param, name, value) for name, value in buffers.items()}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            for option, value in saved.items():
                if option != "params":
                    group[option] = _like(group.get(option), value)
        self.state = new_state

    def _loaded_value(self, index, param, name, value):
        if name in self.scalar_state:
            return _as_number(value)
        array = value.data if isinstance(value, Tensor) else value
        array = backend.to_numpy(array) if backend.is_gpu_array(array) else numpy.asarray(array)
        if tuple(array.shape) != tuple(param.shape):
            raise CheckpointError(
                fmt(self.name, f"state {name!r} of parameter {index} has the wrong shape", param=param, saved=array)
            )
        return backend.to_device(array.astype(param.dtype, copy=True), param.device)


def check_nonnegative(name, group, keys):
    """Raise ValueError naming the optimizer and option if any of ``keys`` in ``group`` is negative or not a number."""
    for key in keys:
        value = group.get(key)
        if not isinstance(value, (int, float, numpy.number)) or not value >= 0:
            raise ValueError(fmt(name, f"invalid {key}: {value!r}; expected a number >= 0"))


def _check_ordered(name, params):
    if isinstance(params, (set, frozenset)):  # no fixed order: state_dict indices would not be reproducible
        raise TypeError(
            fmt(
                name,
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets changes between runs",
                hint="pass a list",
            )
        )


def zeros_buffer(param):
    """A C-contiguous zero state buffer shaped like the array ``param``, on its device."""
    return backend.get_xp(param).zeros(param.shape, dtype=param.dtype)


def _saved_value(value):
    """A numpy copy of a state array, or the number itself."""
    if hasattr(value, "shape"):
        return backend.to_numpy(value).copy()
    return value


def _as_number(value):
    """A Python number from a number or a 0-d array (a checkpoint may store numbers as arrays)."""
    if hasattr(value, "item"):
        return value.item()
    return value


def same_kind(current, value):
    """Whether a saved ``value`` can stand where ``current`` is: numbers for numbers, bools for bools,
    sequences of as many such values for sequences, text for text (anything for None)."""
    value = value.tolist() if hasattr(value, "tolist") else value
    if current is None:
        return True
    if isinstance(current, bool):
        return isinstance(value, (bool, int))
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple)) and len(value) == len(current) and all(map(same_kind, current, value))
    if isinstance(current, str):
        return isinstance(value, str)
    return True


def _like(current, value):
    """``value`` converted to the type of the group's current option (tuple, bool, float, int)."""
    value = _as_number(value) if getattr(value, "ndim", 0) == 0 else value
    if isinstance(current, tuple):
        return tuple(_as_number(v) for v in value)
    if isinstance(current, bool):
        return bool(value)
    if isinstance(current, float) and isinstance(value, (int, float)):
        return float(value)
    return value


# ----------------------------------------------------------------------------- GPU launches

THREADS = 256  # threads per block of every kernels/optim.cu update kernel


def launch_update(kernel_name, param, grad, buffers, scalars):
    """Launch kernels/optim.cu::<kernel_name> once over all elements of ``param``, in place.

    Args:
        kernel_name: "sgd_step", "adam_step" or "rmsprop_step".
        param: the parameter's array, updated in place (a non-contiguous one through a
            contiguous copy that is written back).
        grad: its gradient (made contiguous by a copy if needed; never modified).
        buffers: the state arrays the kernel reads and writes (C-contiguous, param's shape);
            ``param`` itself stands in for a buffer that the options leave unused.
        scalars: the kernel's by-value arguments after the pointers, without the trailing n.
    """
    n = param.size
    if n == 0:
        return
    xp = backend.get_xp(param)
    work = param if param.flags.c_contiguous else xp.ascontiguousarray(param)
    grad = grad if grad.flags.c_contiguous else xp.ascontiguousarray(grad)
    kernel = backend.load_kernel("optim", kernel_name, param.dtype)  # cached there: one dict lookup
    buffers = [work if buffer is param else buffer for buffer in buffers]  # param stands in for unused state
    kernel(*backend.grid_for(n, THREADS), (work, grad, *buffers, *scalars, n))
    if work is not param:
        param[...] = work
