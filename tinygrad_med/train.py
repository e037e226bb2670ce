"""Deprecated: moved to tinygrad_med/training/loop.py; this path is kept for one release."""

import warnings

from .training.cli import add_commands as add_train_commands  # noqa: F401
from .training.loop import *  # noqa: F403
from .training.loop import __all__  # noqa: F401

warnings.warn("tinygrad_med.train moved to tinygrad_med.training.loop", DeprecationWarning, stacklevel=2)
