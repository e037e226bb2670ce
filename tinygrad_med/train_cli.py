"""Deprecated: moved to tinygrad_med/training/cli.py; this path is kept for one release."""

import warnings

from .training.cli import *  # noqa: F403
from .training.cli import __all__  # noqa: F401

warnings.warn("tinygrad_med.train_cli moved to tinygrad_med.training.cli", DeprecationWarning, stacklevel=2)
