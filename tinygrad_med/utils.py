"""Deprecated: moved to tinygrad_med/nn/receptive_field.py; this path is kept for one release."""

import warnings

from .nn.receptive_field import *  # noqa: F403
from .nn.receptive_field import __all__  # noqa: F401

warnings.warn("tinygrad_med.utils moved to tinygrad_med.nn.receptive_field", DeprecationWarning, stacklevel=2)
