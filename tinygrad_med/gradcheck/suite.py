"""The gradient-check suite behind ``tgm gradcheck``: every differentiable op, on every device.

The cases -- (name, function of tensors, list of input arrays), one table per op family --
are in cases.py and cases_advanced.py (``cases`` is re-exported here).  This module runs each case
through gradcheck in float64 on each device and reports one row per (case, device); a
case whose op is missing is reported as such, never silently skipped.
"""

import time

import numpy

from .. import backend
from ..tensor import Tensor
from .cases import cases
from .check import gradcheck

__all__ = ["cases", "run_suite", "available_devices"]


def available_devices():
    """'cpu', 'emulated' (the CUDA kernels run on the CPU; needs g++) and 'cuda' if present."""
    import shutil

    devices = ["cpu"]
    if shutil.which("g++"):
        devices.append("emulated")
    if backend.cuda_available():
        devices.append("cuda")
    return devices


def run_suite(devices, only=None, progress=None):
    """Run every case on every device.

    Returns:
        list of dict rows: op, device, max_abs_err, max_rel_err, status ('pass', 'FAIL',
        'missing', 'error: ...') and seconds.
    """
    rows = []
    for device in devices:
        for name, fn, arrays in cases():
            if only and not any(word in name for word in only):
                continue
            rows.append(_run_case(name, fn, arrays, device))
            if progress:
                progress(rows[-1])
    return rows


def _run_case(name, fn, arrays, device):
    row = {"op": name, "device": device, "max_abs_err": None, "max_rel_err": None, "seconds": 0.0}
    if fn is None:
        row["status"] = "missing"
        return row
    start = time.perf_counter()
    try:
        with backend.use_emulator(device == "emulated"):
            target = "cuda" if device == "cuda" else "cpu"
            inputs = [Tensor(a.astype(numpy.float64), requires_grad=True, device=target) for a in arrays]
            result = gradcheck(fn, inputs, raise_exception=False, max_elements=512)
        row.update(
            max_abs_err=result.max_abs_err, max_rel_err=result.max_rel_err, status="pass" if result.passed else "FAIL"
        )
    except Exception as error:  # report and go on: the table must show every op
        row["status"] = f"error: {type(error).__name__}: {str(error)[:120]}"
    row["seconds"] = time.perf_counter() - start
    return row
