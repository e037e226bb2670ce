"""Random number state, one generator per device, reset together by ``manual_seed``.

The CPU draws from a numpy.random.Generator (PCG64); the GPU from a
cupy.random.RandomState created on first use.  Ops that make their own random
numbers inside a kernel (dropout) take a fresh 64-bit seed from ``next_seed()``,
so that a run started with the same ``manual_seed`` repeats exactly.
"""

import numpy

from . import backend
from .errors import fmt

__all__ = [
    "manual_seed",
    "seed",
    "initial_seed",
    "generator",
    "next_seed",
    "get_rng_state",
    "set_rng_state",
    "parse_rng_state",
]

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
    """Restore a state returned by ``get_rng_state``.

    Raises:
        ValueError (from ``parse_rng_state``) if ``state`` is not one; the generator is left as it was.
    """
    _STATE["cpu"].bit_generator.state = parse_rng_state(state)


def parse_rng_state(state):
    """The generator state dict held in a ``get_rng_state`` array, checked on a scratch generator.

    Raises:
        ValueError naming the problem: not a uint8 array, longer than such a state, not the text of a
        dict, or not a state the CPU generator (PCG64) accepts.
    """
    import ast

    array = backend.to_numpy(getattr(state, "data", state))
    if not isinstance(array, numpy.ndarray) or array.dtype != numpy.uint8 or array.ndim != 1 or array.size > 1024:
        raise ValueError(fmt("set_rng_state", "expected the 1-D uint8 array of get_rng_state (at most 1024 bytes)",
                             state=getattr(array, "shape", type(array).__name__)))  # fmt: skip
    try:
        parsed = ast.literal_eval(array.tobytes().decode("ascii"))
        type(_STATE["cpu"].bit_generator)().state = parsed  # a scratch generator checks every field
    except (ValueError, TypeError, KeyError, OverflowError, SyntaxError, MemoryError, RecursionError) as error:
        raise ValueError(fmt("set_rng_state", f"not a generator state ({type(error).__name__}: {error})")) from error
    return parsed
