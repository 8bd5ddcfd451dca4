"""Reference problems with exact answers, for ``check_sampler`` / ``check_mc_method`` and the
pytest fixtures of :mod:`fplab.testing.pytest_plugin`.

Each is a linear SDE (or GBM) with a Gaussian-mixture (or point) start, so the marginal law, the
score and, for GBM, the pathwise solution are known in closed form (``fp.exact_marginal``,
``fp.exact_score``, ``GBM.exact_solution``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fplab._registry import unknown_choice_message

__all__ = ["REFERENCE_PROBLEMS", "ReferenceProblem", "reference_problem"]


@dataclass(frozen=True)
class ReferenceProblem:
    """An SDE with an exactly known answer.

    Attributes
    ----------
    name : str
    sde : fplab SDE
    p0 : GaussianMixture or None     initial law (reverse samplers, marginals)
    x0 : tuple of float or None      initial state (forward integrators)
    t_final : float
    note : str                       what is exact about it
    """

    name: str
    sde: Any
    p0: Any
    x0: tuple[float, ...] | None
    t_final: float
    note: str

    def exact(self, t: float | None = None) -> Any:
        """The exact marginal law at ``t`` (default ``t_final``)."""
        from fplab.exact import exact_marginal

        return exact_marginal(self.sde, self.p0, self.t_final if t is None else t)


def _build() -> dict[str, ReferenceProblem]:
    import fplab as fp

    bimodal = fp.GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])
    bimodal_2d = fp.GaussianMixture(
        [0.45, 0.55],
        [[-1.5, -0.5], [1.2, 1.0]],
        [[[0.6, 0.2], [0.2, 0.4]], [[0.35, -0.1], [-0.1, 0.5]]],
    )
    problems = [
        ReferenceProblem(
            "vp-bimodal-1d",
            fp.VP(beta_min=0.1, beta_max=20.0, T=1.0),
            bimodal,
            None,
            1.0,
            "VP diffusion of a 1-D bimodal Gaussian mixture: exact marginals and score",
        ),
        ReferenceProblem(
            "vp-bimodal-2d",
            fp.VP(beta_min=0.1, beta_max=20.0, T=1.0),
            bimodal_2d,
            None,
            1.0,
            "VP diffusion of a 2-D bimodal mixture with full covariances",
        ),
        ReferenceProblem(
            "ou",
            fp.OU(theta=1.0, mu=0.5, sigma=0.8),
            bimodal,
            (1.5,),
            1.0,
            "Ornstein-Uhlenbeck from a point: exact transitions (method 'exact')",
        ),
        ReferenceProblem(
            "vp",
            fp.VP(beta_min=0.1, beta_max=4.0, T=1.0),
            bimodal,
            (1.5,),
            1.0,
            "VP (linear schedule, beta 0.1 -> 4) from a point: drift and diffusion depend on t, "
            "exact transitions (method 'exact'); weak orders that hold only for constant "
            "coefficients (e.g. 'heun-frozen-g') show here",
        ),
        ReferenceProblem(
            "gbm",
            fp.GBM(mu=0.5, sigma=0.6),
            None,
            (1.0,),
            1.0,
            "geometric Brownian motion: pathwise solution x0 exp((mu - sigma^2/2) t + sigma W_t)",
        ),
        ReferenceProblem(
            "double-well",
            fp.DoubleWell(sigma=0.8),
            None,
            (0.5,),
            1.0,
            "additive noise, nonlinear drift: strong errors against the same method on a 16x "
            "finer step (no closed form; for additive-noise-only methods such as 'srk')",
        ),
    ]
    return {p.name: p for p in problems}


_CACHE: dict[str, ReferenceProblem] = {}


def reference_problem(name: str) -> ReferenceProblem:
    """The reference problem ``name`` (one of :data:`REFERENCE_PROBLEMS`)."""
    if not _CACHE:
        _CACHE.update(_build())
    if name not in _CACHE:
        raise ValueError(unknown_choice_message("reference problem", name, sorted(_CACHE)))
    return _CACHE[name]


#: names of the reference problems
REFERENCE_PROBLEMS = ("vp-bimodal-1d", "vp-bimodal-2d", "ou", "vp", "gbm", "double-well")
