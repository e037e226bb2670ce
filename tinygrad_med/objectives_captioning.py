"""Deprecated: moved to tinygrad_med/training/objectives/captioning.py; this path is kept for one release."""

import warnings

from .training.objectives.captioning import *  # noqa: F403
from .training.objectives.captioning import __all__  # noqa: F401

warnings.warn(
    "tinygrad_med.objectives_captioning moved to tinygrad_med.training.objectives.captioning",
    DeprecationWarning,
    stacklevel=2,
)
