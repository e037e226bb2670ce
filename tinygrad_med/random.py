"""Random number state, one generator per device, reset together by ``manual_seed``.

The CPU draws from a numpy.random.Generator (PCG64); the GPU from a
cupy.random.RandomState created on first use.  Ops that make their own random
numbers inside a kernel (dropout) take a fresh 64-bit seed from ``next_seed()``,
so that a run started with the same ``manual_seed`` repeats exactly.
"""

import numpy

from . import backend

__all__ = ["manual_seed", "seed", "initial_seed", "generator", "next_seed", "get_rng_state", "set_rng_state"]

_STATE = {"seed": 0, "cpu": numpy.random.default_rng(0), "cuda": None}


def manual_seed(seed):
    """Seed every device's generator so that runs repeat exactly (as torch.manual_seed)."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _STATE["seed"] = seed
    _STATE["cpu"] = numpy.random.default_rng(seed)
    _STATE["cuda"] = None  # recreated from the seed on first use


def seed():
    """Seed from the operating system's entropy and return the seed used."""
    fresh = int(numpy.random.SeedSequence().entropy % (2**63))
    manual_seed(fresh)
    return fresh


def initial_seed():
    """The seed last given to ``manual_seed``."""
    return _STATE["seed"]


def generator(device="cpu"):
    """The generator for ``device``: numpy Generator on 'cpu', cupy RandomState on 'cuda'."""
    if backend.normalize_device(device) == "cpu":
        return _STATE["cpu"]
    if _STATE["cuda"] is None:
        reason = backend.cuda_unavailable_reason()
        if reason is not None:
            raise backend.DeviceError(backend.fmt("random", reason))
        _STATE["cuda"] = backend.cupy.random.RandomState(_STATE["seed"])
    return _STATE["cuda"]


def next_seed():
    """A fresh 64-bit seed drawn from the CPU generator (for counter-based kernels)."""
    return int(_STATE["cpu"].integers(0, 2**63 - 1))


def get_rng_state():
    """The CPU generator's state as a uint8 array (goes into checkpoints)."""
    text = repr(_STATE["cpu"].bit_generator.state).encode()
    return numpy.frombuffer(text, dtype=numpy.uint8).copy()


def set_rng_state(state):
    """Restore a state returned by ``get_rng_state``."""
    import ast

    text = bytes(numpy.asarray(state, dtype=numpy.uint8)).decode()
    _STATE["cpu"].bit_generator.state = ast.literal_eval(text)
