"""Deprecated: moved to tinygrad_med/gradcheck/cases_advanced.py; this path is kept for one release."""

import warnings

from .gradcheck.cases_advanced import *  # noqa: F403
from .gradcheck.cases_advanced import __all__  # noqa: F401

warnings.warn(
    "tinygrad_med.gradcheck_cases_advanced moved to tinygrad_med.gradcheck.cases_advanced",
    DeprecationWarning,
    stacklevel=2,
)
