"""Stand-ins for networks trained elsewhere: exact scores with a known error, for the
``score-model`` study kind (``score_model = "fplab.testing.models:vp_bimodal_eps_5pc"``) and for
checking one's own evaluation pipeline against numbers known in advance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "VE_BIMODAL",
    "ve_bimodal_eps_5pc",
    "ve_bimodal_v_5pc",
    "ve_bimodal_x0_5pc",
    "vp_bimodal_eps_5pc",
]


def vp_bimodal_eps_5pc() -> Callable[[Any, float], Any]:
    """ε-prediction of the ``vp-bimodal-1d`` reference problem, 5% too large: its score error
    is 0.05 relative L2 at every t, exactly (a factory with no arguments, as specs need)."""
    from fplab.nn.external import exact_model
    from fplab.testing.problems import reference_problem

    problem = reference_problem("vp-bimodal-1d")
    eps = exact_model(problem.sde, problem.p0, "eps")
    return lambda x, t: 1.05 * eps(x, t)


#: the VE problem of ``studies/score-model-ve-*.toml`` (the bimodal data of ``em-law-ve-1d``)
VE_BIMODAL: dict[str, Any] = {
    "params": {"sigma_min": 0.01, "sigma_max": 2.0, "T": 1.0},
    "weights": [0.4, 0.6],
    "means": [[-2.0], [1.5]],
    "covs": [[[0.5]], [[0.3]]],
}


def _ve_bimodal_5pc(parameterisation: str) -> Callable[[Any, float], Any]:
    """A VE model whose implied noise prediction is 1.05 ε_true, written in ``parameterisation``
    from Tweedie's formula, independently of ``fplab.nn.params.convert``.

    VE: X_t = X_0 + s_t ε with s_t² = Var X_t - Var X_0 (read off the exact marginal of one
    mixture component, not from ``marginal_coefficients_array``).  Tweedie: E[X_0 | x] = x + s_t² ∇log p_t(x),
    E[ε | x] = -s_t ∇log p_t(x).  With ε̂ = 1.05 E[ε | x]: x̂0 = x - s_t ε̂ and v̂ = ε̂ - s_t x̂0
    (v = α ε - σ x0 with α = 1).  Converted back to a score, every one is 1.05 ∇log p_t: its
    relative L2 score error is 0.05 at every t, exactly, whichever parameterisation carries it.
    """
    import numpy as np

    from fplab.distributions import GaussianMixture
    from fplab.exact import exact_marginal, exact_score
    from fplab.sdes import VE

    sde = VE(**VE_BIMODAL["params"])
    p0 = GaussianMixture(VE_BIMODAL["weights"], VE_BIMODAL["means"], VE_BIMODAL["covs"])
    score = exact_score(sde, p0)
    var0 = float(np.asarray(VE_BIMODAL["covs"][0]).ravel()[0])

    def model(x: Any, t: float) -> Any:
        xs = np.asarray(x, dtype=np.float64)
        law = exact_marginal(sde, p0, float(t))
        s = float(np.sqrt(float(np.asarray(law.covs[0]).ravel()[0]) - var0))
        eps_hat = -1.05 * s * score(xs, float(t))
        if parameterisation == "eps":
            return eps_hat
        x0_hat = xs - s * eps_hat
        return x0_hat if parameterisation == "x0" else eps_hat - s * x0_hat

    return model


def ve_bimodal_eps_5pc() -> Callable[[Any, float], Any]:
    """ε-prediction on the VE bimodal problem, 5% too large (see :func:`_ve_bimodal_5pc`)."""
    return _ve_bimodal_5pc("eps")


def ve_bimodal_x0_5pc() -> Callable[[Any, float], Any]:
    """x0-prediction on the VE bimodal problem whose implied ε is 5% too large."""
    return _ve_bimodal_5pc("x0")


def ve_bimodal_v_5pc() -> Callable[[Any, float], Any]:
    """v-prediction on the VE bimodal problem whose implied ε is 5% too large."""
    return _ve_bimodal_5pc("v")
