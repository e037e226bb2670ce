"""Deprecated: moved to tinygrad_med/training/plots_graph.py; this path is kept for one release."""

import warnings

from .training.plots_graph import *  # noqa: F403
from .training.plots_graph import __all__  # noqa: F401

warnings.warn("tinygrad_med.plots_graph moved to tinygrad_med.training.plots_graph", DeprecationWarning, stacklevel=2)
