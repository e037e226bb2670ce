"""Gradient checks: the check itself and the suite behind ``tgm gradcheck``.

    check.py            gradcheck(fn, inputs): analytic against numeric (central-difference) gradients
    inputs.py           the cases' seeded inputs
    cases.py            the suite's cases, one table per op family
    cases_advanced.py   graph, recurrent, generative, sampling and detection cases
    suite.py            runs every case on every device (``tgm gradcheck``)

``tinygrad_med.gradcheck(...)`` is the function of check.py, as in ``torch.autograd.gradcheck``.
"""

from .check import GradcheckError, GradcheckResult, gradcheck

__all__ = ["gradcheck", "GradcheckError", "GradcheckResult"]
