"""Shared fixtures: the ``device`` fixture runs a test on every backend.

    cpu       NumPy, the readable reference path
    emulated  the GPU path (``_f_gpu`` + kernels/*.cu) run on the CPU through the
              kernel emulator (tinygrad_med/kernelcheck); needs g++, runs in CI
    cuda      CuPy on a real GPU; marked ``gpu``, skipped when none is available

A test asks for ``device`` and builds its inputs with ``device.tensor(array)``;
``device.reference(fn)`` computes the CPU result to compare with.
"""

import os
import shutil

import numpy
import pytest
from hypothesis import settings

import tinygrad_med as tm
from tinygrad_med import backend, nn

# Property tests: in CI (CI=true) every run draws the same examples, so a red CI is reproducible and
# never random; a failure prints the example and the blob to replay it (@reproduce_failure).
# Locally hypothesis explores new examples each run. TGM_HYPOTHESIS_PROFILE picks a profile by hand.
settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("TGM_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


class Device:
    """The backend a test runs on, with helpers to move data and compare results."""

    def __init__(self, name):
        self.name = name
        self.device = "cuda" if name == "cuda" else "cpu"

    def __repr__(self):
        return self.name

    def tensor(self, array, requires_grad=False, dtype=None):
        """A tensor on this backend from a numpy array (dtype kept unless given)."""
        array = numpy.asarray(array) if dtype is None else numpy.asarray(array, dtype=dtype)
        return tm.Tensor(array.copy(), requires_grad=requires_grad, device=self.device)

    def reference(self, fn, *args, **kwargs):
        """Run ``fn`` on the plain CPU path (emulator off), e.g. to get the expected result."""
        with backend.use_emulator(False):
            return fn(*args, **kwargs)

    @staticmethod
    def numpy(t):
        return t.numpy() if isinstance(t, tm.Tensor) else backend.to_numpy(t)


def assert_close(actual, expected, rtol=1e-4, atol=1e-5):
    """Compare tensors or arrays on any device (float32 tolerances by default)."""
    numpy.testing.assert_allclose(Device.numpy(actual), Device.numpy(expected), rtol=rtol, atol=atol)


def forward_backward(fn, x, gy):
    """(y, gx) as numpy arrays for y = fn(x) and the gradient gy, on the CPU tensors of arrays x and gy;
    e.g. ``device.reference(lambda: forward_backward(op, x, gy))`` for a parity test's expected pair."""
    t = tm.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(tm.tensor(gy))
    return y.numpy(), t.grad.numpy()


@pytest.fixture(params=["cpu", "emulated", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda":
        reason = backend.cuda_unavailable_reason()
        if reason:
            pytest.skip(reason)
        yield Device("cuda")
    elif request.param == "emulated":
        if shutil.which("g++") is None:
            pytest.skip("g++ is needed to emulate the CUDA kernels")
        with backend.use_emulator():
            yield Device("emulated")
    else:
        yield Device("cpu")


@pytest.fixture
def no_random_init(monkeypatch):
    """Layers keep their zero-filled weights: names, shapes and counts of the large classic models (140M
    parameters in all) need no random draws."""
    monkeypatch.setattr(nn.init, "default_layer_init_", lambda weight, bias=None: None)
    for name in ("kaiming_normal_", "normal_", "trunc_normal_"):  # the models' own (torchvision's) schemes
        monkeypatch.setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    tm.manual_seed(0)
    numpy.random.seed(0)
