"""Deprecated: moved to tinygrad_med/training/objectives/graph.py; this path is kept for one release."""

import warnings

from .training.objectives.graph import *  # noqa: F403
from .training.objectives.graph import __all__  # noqa: F401

warnings.warn(
    "tinygrad_med.objectives_graph moved to tinygrad_med.training.objectives.graph", DeprecationWarning, stacklevel=2
)
