"""Deprecated: moved to tinygrad_med/training/objectives/detection.py; this path is kept for one release."""

import warnings

from .training.objectives.detection import *  # noqa: F403
from .training.objectives.detection import __all__  # noqa: F401

warnings.warn(
    "tinygrad_med.objectives_detection moved to tinygrad_med.training.objectives.detection",
    DeprecationWarning,
    stacklevel=2,
)
