"""The backward pass: reverse-mode automatic differentiation over the recorded graph.

Lecture: "CNN refresher" (backpropagation).  ``Tensor.backward()`` calls ``run_backward``:
the Functions that produced the output are put in reverse topological order (each one
after every Function that consumed its outputs) and each one's ``backward`` is applied,
so that by the chain rule

    dL/dx = sum over the ops f that read x of  (df/dx)^T dL/df

Kept apart from tensor.py so that each file stays under the project's ~400-line budget.
It is also ``tm.autograd``, PyTorch's namespace for the engine's switches:
``tm.autograd.detect_anomaly()`` / ``set_detect_anomaly(mode)`` (anomaly.py: stop at the first
op whose forward or backward gives a NaN or an infinity) and ``increment_version(t)``
(function.py: mark a raw write into ``t.data`` as an in-place change).

Post-accumulate-grad hooks (PyTorch's ``Tensor.register_post_accumulate_grad_hook``): ``hook(leaf)``
runs once per backward, after the leaf's ``.grad`` got its last contribution of that pass.  The engine
counts, before the sweep, the edges (Function, input slot needing a gradient) that point at each
hooked leaf; every Function walked (or skipped: no gradient reached it) retires its edges, and the
hooks fire when a leaf's count reaches zero, as torch's do, also when every contribution was None.
DistributedDataParallel uses them to start a bucket's all-reduce while backward goes on.
Without a live hook the sweep pays one test per Function.
"""

import itertools

from . import anomaly, backend
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .errors import ShapeError, fmt
from .function import check_saved_versions, increment_version
from .tensor import Tensor

__all__ = [
    "run_backward",
    "register_post_accumulate_grad_hook",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "increment_version",
]
_ANOMALY = anomaly.STATE
_HOOKS = {"live": 0, "keys": itertools.count()}  # live post-accumulate-grad hooks: none, no bookkeeping


class RemovableHandle:
    """What registering a hook returns: ``remove()`` unregisters it (again: nothing happens)."""

    def __init__(self, hooks, key):
        self.hooks, self.key = hooks, key

    def remove(self):
        if self.hooks.pop(self.key, None) is not None:
            _HOOKS["live"] -= 1


def register_post_accumulate_grad_hook(tensor, hook):
    """``hook(tensor)`` after each backward's last accumulation into the leaf's ``.grad``; a handle."""
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if tensor._ctx is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook: expected a callable hook(tensor), got {hook!r}")
    hooks = tensor.__dict__.setdefault("_post_accumulate_grad_hooks", {})
    key = next(_HOOKS["keys"])
    hooks[key] = hook
    _HOOKS["live"] += 1
    return RemovableHandle(hooks, key)


class _LeafCountdown:
    """Per hooked leaf, the contributions still to come in this backward; fires its hooks at zero."""

    def __init__(self, order):
        self.edges, self.remaining = {}, {}
        for fn in order:  # a freed Function has no inputs here; the sweep raises when it reaches it
            for x, need in zip(getattr(fn, "inputs", ()), getattr(fn, "needs_input_grad", ())):
                if need and x._ctx is None and x.__dict__.get("_post_accumulate_grad_hooks"):
                    self.edges.setdefault(fn, []).append(x)
                    self.remaining[id(x)] = self.remaining.get(id(x), 0) + 1

    def retire(self, fn):
        """``fn`` has been walked (or skipped): its edges into hooked leaves are done."""
        for leaf in self.edges.pop(fn, ()):
            self.remaining[id(leaf)] -= 1
            if self.remaining[id(leaf)] == 0:
                _fire(leaf)


def _fire(leaf):
    for hook in list(leaf.__dict__.get("_post_accumulate_grad_hooks", {}).values()):
        hook(leaf)


def run_backward(root, gradient, retain_graph):
    """Reverse-mode sweep from ``root``: the chain rule applied Function by Function.

    Gradients of intermediate results live in ``pending`` (one slot per output of
    each Function) until every consumer has contributed; leaves accumulate into
    ``.grad``.  Without ``retain_graph`` each Function's saved arrays are dropped
    once used, so a second backward through the same graph is an error.
    """
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn")
    xp = backend.get_xp(root.data)
    if gradient is None:
        if root.data.size != 1:
            raise ShapeError(
                fmt(
                    "backward",
                    "gradient can be implied only for one-element outputs; pass gradient= of the same shape",
                    output=root,
                )
            )
        gy = xp.ones_like(root.data)
    else:
        gy = gradient.data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=root.dtype)
        if tuple(gy.shape) != root.shape:
            raise ShapeError(fmt("backward", "gradient must have the output's shape", output=root, gradient=gy))
    if root._ctx is None:
        _accumulate_leaf(root, gy)
        if _HOOKS["live"]:
            _fire(root)
        return
    _check_not_freed(root._ctx)
    pending = {root._ctx: [None] * len(root._ctx.outputs_meta)}
    pending[root._ctx][root._out_index] = gy
    order = _topological_order(root._ctx)
    countdown = _LeafCountdown(order) if _HOOKS["live"] else None
    for fn in order:
        gys = pending.pop(fn, None)
        if gys is not None:  # else no gradient flows through this Function
            try:
                _apply_backward(fn, gys, pending)
            except Exception as error:
                if _ANOMALY["on"] and "anomaly_site" in fn.__dict__:  # PyTorch prints the forward traceback
                    error.add_note(f"anomaly detection: {type(fn).__name__} was called at {fn.anomaly_site}")
                raise
            if not retain_graph:
                fn.__dict__.clear()
                fn.freed = True
        if countdown is not None:
            countdown.retire(fn)


def _check_not_freed(fn):
    """PyTorch's RuntimeError for a Function whose saved values an earlier backward freed.

    Reached from every path into a freed part of the graph: the same root twice, an
    intermediate result of a graph already walked, a second root that shares part of it,
    another output of a multi-output op.
    """
    if getattr(fn, "freed", False) or not hasattr(fn, "inputs"):
        raise RuntimeError(
            fmt(
                f"{type(fn).__name__}.backward",
                "Trying to backward through the graph a second time (or directly access saved tensors after "
                "they have already been freed); saved intermediate values of the graph are freed when you "
                "call .backward()",
                hint="specify retain_graph=True in the first backward() if you need to backward through "
                "the graph a second time",
            )
        )


def _apply_backward(fn, gys, pending):
    # not freed: checked when fn entered ``pending`` (the root in run_backward, the others below)
    check_saved_versions(fn)  # a saved array changed in place since forward would give a wrong gradient
    if len(gys) > 1 or gys[0] is None:  # a multi-output op: outputs that got no gradient get zeros
        xp = backend.get_xp(next(g for g in gys if g is not None))
        gys = [xp.zeros(shape, dtype) if g is None else g for g, (shape, dtype) in zip(gys, fn.outputs_meta)]
    if "retained" in fn.__dict__:
        for index, tensor in fn.retained.items():
            tensor.grad = Tensor._wrap(gys[index])
    gxs = fn.backward(*gys)
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    if _ANOMALY["on"]:
        anomaly.check_backward(fn, gys, gxs)
    for x, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
        if not need or gx is None:
            continue
        if gx.shape != x.data.shape:
            raise ShapeError(fmt(f"{type(fn).__name__}.backward", "returned a gradient of the wrong shape", x=x, gx=gx))
        if gx.dtype != x.data.dtype:
            gx = gx.astype(x.data.dtype)
        creator = x._ctx
        if creator is None:
            _accumulate_leaf(x, gx)
            continue
        slots = pending.get(creator)
        if slots is None:
            _check_not_freed(creator)  # part of the graph an earlier backward freed (a second root sharing it)
            slots = pending[creator] = [None] * len(creator.outputs_meta)
        previous = slots[x._out_index]
        slots[x._out_index] = gx if previous is None else previous + gx


def _accumulate_leaf(leaf, gx):
    # Out of place: gx may be shared with another input's gradient (e.g. both sides of an add).
    leaf.grad = Tensor._wrap(gx) if leaf.grad is None else Tensor._wrap(leaf.grad.data + gx)


def _topological_order(root_fn):
    """Functions reachable from ``root_fn``, each after every Function that consumes its outputs.

    Iterative depth-first search, so a chain of 10,000 ops does not hit Python's recursion limit.
    """
    order, visited, stack = [], set(), [(root_fn, False)]
    while stack:
        fn, inputs_done = stack.pop()
        if inputs_done:
            order.append(fn)  # post-order: after every Function that made one of its inputs
            continue
        if fn in visited:
            continue
        visited.add(fn)
        stack.append((fn, True))
        for x in getattr(fn, "inputs", ()):
            parent = x._ctx if isinstance(x, Tensor) else None
            if parent is not None and parent not in visited:
                stack.append((parent, False))
    order.reverse()
    return order
