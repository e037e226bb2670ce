"""Deprecated: moved to tinygrad_med/training/objectives/generative.py; this path is kept for one release."""

import warnings

from .training.objectives.generative import *  # noqa: F403
from .training.objectives.generative import __all__  # noqa: F401

warnings.warn(
    "tinygrad_med.objectives_generative moved to tinygrad_med.training.objectives.generative",
    DeprecationWarning,
    stacklevel=2,
)
