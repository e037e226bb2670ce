"""Deprecated: moved to tinygrad_med/training/objectives.py; this path is kept for one release."""

import warnings

from .training.objectives import *  # noqa: F403
from .training.objectives import __all__  # noqa: F401

warnings.warn("tinygrad_med.objectives moved to tinygrad_med.training.objectives", DeprecationWarning, stacklevel=2)
