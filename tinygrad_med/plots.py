"""Deprecated: moved to tinygrad_med/training/plots.py; this path is kept for one release."""

import warnings

from .training.plots import *  # noqa: F403
from .training.plots import __all__  # noqa: F401

warnings.warn("tinygrad_med.plots moved to tinygrad_med.training.plots", DeprecationWarning, stacklevel=2)
