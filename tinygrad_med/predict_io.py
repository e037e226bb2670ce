"""Deprecated: moved to tinygrad_med/training/predict_io.py; this path is kept for one release."""

import warnings

from .training.predict_io import *  # noqa: F403
from .training.predict_io import __all__  # noqa: F401

warnings.warn("tinygrad_med.predict_io moved to tinygrad_med.training.predict_io", DeprecationWarning, stacklevel=2)
