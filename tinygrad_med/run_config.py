"""Deprecated: moved to tinygrad_med/training/run_config.py; this path is kept for one release."""

import warnings

from .training.run_config import *  # noqa: F403
from .training.run_config import __all__  # noqa: F401

warnings.warn("tinygrad_med.run_config moved to tinygrad_med.training.run_config", DeprecationWarning, stacklevel=2)
