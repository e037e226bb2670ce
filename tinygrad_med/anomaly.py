"""Anomaly detection: stop at the first op whose forward or backward produces a NaN or an infinity.

Lecture: "CNN refresher" (backpropagation): a NaN anywhere in the forward pass or in one
Function's backward spreads through every later product of the chain rule, so the loss or
every gradient ends up NaN and the op that started it is lost.  Inside

    with tm.autograd.detect_anomaly():
        loss = model(x).sum()
        loss.backward()

every ``Function.apply`` checks the arrays its forward returned and the engine checks
every gradient a backward returns; the first NaN or infinity raises ``AnomalyError``
(a RuntimeError) naming forward or backward, the Function's class, its inputs' dtypes and
shapes (marking those already non-finite), for backward the input whose gradient it is, and
the line of user code whose call recorded the op.  Any other error raised inside a backward
gets that line as a note too (as PyTorch prints the forward traceback).

PyTorch's anomaly mode checks only backward, and only for NaN; this one also checks forward
outputs and infinities, since an infinity is what usually becomes the NaN one op later.
When off (the default) it costs one flag test per op and per backward step.
"""

import contextlib
import os
import sys

from . import backend
from .errors import AnomalyError, fmt

__all__ = [
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "check_forward",
    "check_backward",
    "forward_site",
    "STATE",
]

STATE = {"on": False, "check_nan": True}  # read by function.py (apply) and autograd.py (backward)
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_anomaly_enabled():
    """True inside ``detect_anomaly()`` or after ``set_detect_anomaly(True)`` (torch.is_anomaly_enabled)."""
    return STATE["on"]


def is_anomaly_check_nan_enabled():
    """True when anomaly mode also checks values for NaN and infinity (torch.is_anomaly_check_nan_enabled)."""
    return STATE["check_nan"]


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns anomaly detection on (torch.autograd.detect_anomaly).

    Args:
        check_nan: check forward outputs and backward gradients for NaN and infinity (default True);
            with False only the recording of where each op was called stays on.
    """

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)
        self._previous = []  # a stack: the same decorated function may run inside itself

    def __enter__(self):
        self._previous.append((STATE["on"], STATE["check_nan"]))
        STATE["on"], STATE["check_nan"] = True, self.check_nan
        return self

    def __exit__(self, *exc):
        STATE["on"], STATE["check_nan"] = self._previous.pop()
        return False


class set_detect_anomaly:
    """Turn anomaly detection on or off, as a call or as a context manager (torch.autograd.set_detect_anomaly).

    ``tm.autograd.set_detect_anomaly(True)`` switches it on from now on; ``with
    tm.autograd.set_detect_anomaly(False):`` switches it off for the block and restores the previous mode.

    Args:
        mode: True to detect anomalies, False to stop.
        check_nan: as in ``detect_anomaly``.
    """

    def __init__(self, mode, check_nan=True):
        self.previous = (STATE["on"], STATE["check_nan"])
        STATE["on"], STATE["check_nan"] = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        STATE["on"], STATE["check_nan"] = self.previous
        return False


# The framework's own machinery: a frame here is never "where the op was called".
_MACHINERY = tuple(
    _PACKAGE + name for name in ("tensor.py", "function.py", "autograd.py", "anomaly.py", "inplace.py", "ops" + os.sep)
) + (os.path.join(_PACKAGE, "nn", "functional.py"),)


def forward_site():
    """Where the op was called: the innermost frame outside the framework's machinery (a layer's forward in
    tinygrad_med/nn or models, or the user's own line), then the user's line if that frame is inside tinygrad_med."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_MACHINERY):
        frame = frame.f_back
    if frame is None:
        return "inside tinygrad_med"
    site = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    outer = frame
    while outer is not None and outer.f_code.co_filename.startswith(_PACKAGE):
        outer = outer.f_back
    if outer is not None and outer is not frame and not outer.f_code.co_filename.startswith("<"):
        site += f", from {outer.f_code.co_filename}:{outer.f_lineno} in {outer.f_code.co_name}"
    return site


def check_forward(op, inputs, outputs):
    """Raise AnomalyError if an output of ``op``'s forward holds a NaN or an infinity.

    Args:
        op: the Function's class name.
        inputs: what ``apply`` was given (Tensors and plain values).
        outputs: the array, or tuple of arrays, forward returned.
    """
    if not STATE["check_nan"]:
        return
    for i, y in enumerate(outputs if isinstance(outputs, tuple) else (outputs,)):
        bad = _non_finite(y)
        if bad:
            raise AnomalyError(
                fmt(
                    f"{op}.forward",
                    f"anomaly detection: output {i} ({_describe(y)}) holds {bad}; inputs: {_describe_all(inputs)}",
                    hint=f"the op was called at {forward_site()}; this is the first op whose forward gave a "
                    "non-finite value: look at its inputs' values (log of x <= 0, 0/0, overflow...)",
                )
            )


def check_backward(fn, gys, gxs):
    """Raise AnomalyError if a gradient ``fn.backward`` returned (for an input that needs one) is not finite.

    Args:
        fn: the Function (its ``inputs`` and ``needs_input_grad`` name the gradients).
        gys: the gradients backward received, one per output.
        gxs: the gradients it returned, one per input.
    """
    if not STATE["check_nan"]:
        return
    for i, (gx, need) in enumerate(zip(gxs, fn.needs_input_grad)):
        bad = None if gx is None or not need else _non_finite(gx)
        if bad:
            op = type(fn).__name__
            incoming = "finite" if not any(_non_finite(gy) for gy in gys) else "already non-finite"
            raise AnomalyError(
                fmt(
                    f"{op}.backward",
                    f"anomaly detection: the gradient for input {i} ({_describe(gx)}) holds {bad}; "
                    f"inputs: {_describe_all(fn.inputs)}; incoming gradient gy: {incoming}",
                    hint=f"the op was called at {fn.__dict__.get('anomaly_site', 'an unknown place')}; "
                    "its derivative is not finite there (sqrt or log at 0, x^p with p < 1 at 0, 0/0...)",
                )
            )


def _non_finite(array):
    """'2 NaN and 1 infinite values (of 6)' or None when every value is finite (or the dtype is not float)."""
    if not (backend.is_gpu_array(array) or hasattr(array, "__array_interface__")) or array.dtype.kind not in "fc":
        return None  # not an array (a number, a freed graph's edge), or not float
    xp = backend.get_xp(array)
    finite = int(xp.isfinite(array).sum())
    if finite == array.size:
        return None
    nan = int(xp.isnan(array).sum())
    parts = [f"{nan} NaN"] if nan else []
    if array.size - finite - nan:
        parts.append(f"{array.size - finite - nan} infinite")
    return " and ".join(parts) + f" value(s) (of {array.size})"


def _describe(array):
    return f"{array.dtype}{list(array.shape)}"


def _describe_all(inputs):
    parts = []
    for i, t in enumerate(inputs):
        array = t.data if hasattr(t, "requires_grad") else t  # a Tensor, or a plain value / raw array
        if hasattr(array, "shape") and hasattr(array, "dtype"):
            parts.append(f"{i}: {_describe(array)}" + (", already non-finite" if _non_finite(array) else ""))
        else:
            parts.append(f"{i}: {t!r}")
    return "; ".join(parts) if parts else "none"
