"""Deprecated: moved to tinygrad_med/gradcheck/cases.py; this path is kept for one release."""

import warnings

from .gradcheck.cases import *  # noqa: F403
from .gradcheck.cases import __all__  # noqa: F401

warnings.warn("tinygrad_med.gradcheck_cases moved to tinygrad_med.gradcheck.cases", DeprecationWarning, stacklevel=2)
