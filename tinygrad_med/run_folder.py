"""Deprecated: moved to tinygrad_med/training/run_folder.py; this path is kept for one release."""

import warnings

from .training.run_folder import *  # noqa: F403
from .training.run_folder import __all__  # noqa: F401

warnings.warn("tinygrad_med.run_folder moved to tinygrad_med.training.run_folder", DeprecationWarning, stacklevel=2)
