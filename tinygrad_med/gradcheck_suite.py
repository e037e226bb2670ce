"""Deprecated: moved to tinygrad_med/gradcheck/suite.py; this path is kept for one release."""

import warnings

from .gradcheck.suite import *  # noqa: F403
from .gradcheck.suite import __all__  # noqa: F401

warnings.warn("tinygrad_med.gradcheck_suite moved to tinygrad_med.gradcheck.suite", DeprecationWarning, stacklevel=2)
