"""Deprecated: moved to tinygrad_med/training/metrics.py; this path is kept for one release."""

import warnings

from .training.metrics import *  # noqa: F403
from .training.metrics import __all__  # noqa: F401

warnings.warn("tinygrad_med.metrics moved to tinygrad_med.training.metrics", DeprecationWarning, stacklevel=2)
