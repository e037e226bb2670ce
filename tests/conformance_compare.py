"""Run one call through torch or tinygrad_med and compare the two: the machinery of the conformance tests.

``run(M, torch, fn, inputs, seed)`` makes tensors of module M from ``inputs`` (numpy arrays, nested in
lists, tuples and dicts as they come; a ``DType('float64')`` becomes M.float64), calls ``fn(M, *tensors)``,
and returns ("raised", error type) or ("ok", output arrays, gradients of every float input of the
backward of sum(output * w), w fixed by ``seed``).  ``compare`` says why two such results differ, or None.
"""

import warnings

import numpy

import tinygrad_med as tm


class DType:
    """A dtype named once and resolved per module (torch.float64 / tm.float64)."""

    def __init__(self, name):
        self.name = name


class Either:
    """A value that differs by side: ``torch_value`` for torch, ``tm_value`` for tinygrad_med."""

    def __init__(self, torch_value, tm_value):
        self.torch_value, self.tm_value = torch_value, tm_value


def _tensor(M, torch, value):
    """numpy array -> tensor (torch gets a contiguous copy; tinygrad_med the view as it is, strides and all)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_tensor(M, torch, v) for v in value)
    if isinstance(value, dict):
        return {k: _tensor(M, torch, v) for k, v in value.items()}
    if isinstance(value, DType):
        return getattr(M, value.name)
    if isinstance(value, Either):
        return value.tm_value if M is tm else value.torch_value
    if not isinstance(value, numpy.ndarray):
        return value
    t = torch.tensor(value.copy()) if M is torch else tm.Tensor(value)
    return t.requires_grad_(True) if value.dtype.kind == "f" else t


def _flat(out):
    if isinstance(out, dict):
        return _flat(list(out.values()))
    return [v for item in out for v in _flat(item)] if isinstance(out, (tuple, list)) else [out]


def _numpy(M, value):
    if isinstance(value, M.Tensor):
        return numpy.asarray(value.numpy() if M is tm else value.detach().numpy())
    return value


def run(M, torch, fn, inputs, seed):
    """("raised", error type name) or ("ok", output arrays, input gradients)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tensors = [_tensor(M, torch, v) for v in inputs]
            outputs = _flat(fn(M, *tensors))
            values = [_numpy(M, v) for v in outputs]
        except Exception as error:  # the comparison is raise-or-not; the type is PyTorch's or ours
            return ("raised", type(error).__name__)
        grads = _gradients(M, tensors, outputs, seed)
    return ("ok", values, grads)


def _gradients(M, tensors, outputs, seed):
    leaves = [t for t in _flat(tensors) if isinstance(t, M.Tensor) and t.requires_grad]
    live = [o for o in outputs if isinstance(o, M.Tensor) and o.requires_grad and o.dtype in (M.float32, M.float64)]
    if not leaves:
        return []
    if live:
        rng = numpy.random.default_rng(seed)
        loss = sum((o * M.tensor(rng.normal(size=tuple(o.shape)), dtype=o.dtype)).sum() for o in live)
        try:
            loss.backward()
        except Exception as error:
            return [f"backward raised {type(error).__name__}"]
    return [numpy.zeros(t.shape) if t.grad is None else _numpy(M, t.grad) for t in leaves]


def _dtype(array):
    return str(array.dtype)


def compare(expected, got, random=False, single=False):
    """None if they agree, else a short reason."""
    if expected[0] != got[0]:
        return (
            f"torch {expected[1] if expected[0] == 'raised' else 'ran'}, ours {got[1] if got[0] == 'raised' else 'ran'}"
        )
    if expected[0] == "raised":
        return None
    (_, want, want_g), (_, have, have_g) = expected, got
    if len(want) != len(have):
        return f"{len(want)} outputs vs {len(have)}"
    single = single or any(isinstance(a, numpy.ndarray) and a.dtype == numpy.float32 for a in want)
    for i, (a, b) in enumerate(zip(want, have)):
        if isinstance(a, numpy.ndarray) != isinstance(b, numpy.ndarray):
            return f"output {i}: {type(a).__name__} vs {type(b).__name__}"
        if isinstance(a, numpy.ndarray) and (a.shape != b.shape or _dtype(a) != _dtype(b)):
            return f"output {i}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        if not random and not _close(a, b, single):
            return f"output {i}: values {numpy.ravel(a)[:4]} vs {numpy.ravel(b)[:4]}"
    for i, (a, b) in enumerate([] if random else zip(want_g, have_g)):
        if isinstance(a, str) or isinstance(b, str):
            if not (isinstance(a, str) and isinstance(b, str) and a == b):
                return f"gradient {i}: {_short(a)} vs {_short(b)}"
        elif not _close(a, b, single):
            return f"gradient {i}: {_short(a)} vs {_short(b)}"
    return None


def _short(value):
    return value if isinstance(value, str) else numpy.ravel(value)[:4]


def _close(a, b, single=False):
    a, b = numpy.asarray(a), numpy.asarray(b)
    if a.shape != b.shape:
        return False
    rtol = 1e-5 if single or numpy.float32 in (a.dtype, b.dtype) else 1e-9
    return numpy.allclose(a.astype(numpy.float64), b.astype(numpy.float64), rtol=rtol, atol=rtol * 1e-2, equal_nan=True)
