"""Stand-ins for networks trained elsewhere: exact scores with a known error, for the
``score-model`` study kind (``score_model = "fplab.testing.models:vp_bimodal_eps_5pc"``) and for
checking one's own evaluation pipeline against numbers known in advance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["vp_bimodal_eps_5pc"]


def vp_bimodal_eps_5pc() -> Callable[[Any, float], Any]:
    """ε-prediction of the ``vp-bimodal-1d`` reference problem, 5% too large: its score error
    is 0.05 relative L2 at every t, exactly (a factory with no arguments, as specs need)."""
    from fplab.nn.external import exact_model
    from fplab.testing.problems import reference_problem

    problem = reference_problem("vp-bimodal-1d")
    eps = exact_model(problem.sde, problem.p0, "eps")
    return lambda x, t: 1.05 * eps(x, t)
