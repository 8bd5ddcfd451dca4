"""A score network trained elsewhere, measured the way fplab measures its own.

``evaluate_score_model(model, sde, p0, parameterisation=...)`` takes a torch module (or a plain
callable) that predicts the score, the noise ε, the clean data x0 or the velocity v, converts its
output to a score with the exact maps of :mod:`fplab.nn.params`, and reports

- its score error vs t against the exact score of the Gaussian mixture p0 pushed through the
  linear SDE (weighted Fisher divergence and relative L2, :func:`fplab.nn.score_error_vs_t`), and
- for each sampler and step count, the W2 error of its samples split into score, discretisation,
  prior and t_min-truncation parts (:func:`fplab.nn.error_budget`).

Model conventions: a ``torch.nn.Module`` is called as ``model(x, t)`` with x a tensor (n, d)
and t a tensor (n,) in the module's dtype and device, under ``torch.no_grad()``; a plain callable
as ``model(x, t)`` with x an ndarray (n, d) and a float t.  Both return (n, d).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fplab._typing import FloatArray
from fplab.grid import Grid
from fplab.nn.evaluate import ScoreErrorCurve, error_budget, exact_reference, score_error_vs_t
from fplab.nn.params import (
    PARAMETERISATIONS,
    check_linear_sde,
    convert,
    marginal_coefficients_array,
    usable_end,
)

__all__ = ["ExternalScore", "ScoreModelEvaluation", "evaluate_score_model", "load_score_model"]


class ExternalScore:
    """A NumPy score callable s(x, t) from a model predicting ``parameterisation``.

    Parameters
    ----------
    model : torch.nn.Module or callable (module docstring for the call conventions)
    sde : LinearSDE       the SDE the model was trained for (its α_t, σ_t, c_t convert outputs)
    parameterisation : {'score', 'eps', 'x0', 'v'}
    """

    def __init__(self, model: Any, sde: Any, parameterisation: str = "score") -> None:
        if parameterisation not in PARAMETERISATIONS:
            listed = ", ".join(repr(p) for p in PARAMETERISATIONS)
            msg = f"unknown parameterisation {parameterisation!r}; choose one of {listed}"
            raise ValueError(msg)
        if not callable(model):
            msg = f"model must be a torch module or a callable (x, t) -> (n, d), got {type(model).__name__}"
            raise TypeError(msg)
        self.model = model
        self.sde = check_linear_sde(sde)
        self.parameterisation = parameterisation

    def _raw(self, x: FloatArray, t: float) -> FloatArray:
        if isinstance(self.model, torch.nn.Module):
            param = next(self.model.parameters(), None)
            dtype = param.dtype if param is not None else torch.float64
            device = param.device if param is not None else torch.device("cpu")
            with torch.no_grad():
                xt = torch.as_tensor(x, dtype=dtype, device=device)
                tt = torch.full((x.shape[0],), float(t), dtype=dtype, device=device)
                out = self.model(xt, tt)
            return np.asarray(out.detach().double().cpu().numpy(), dtype=np.float64)
        return np.asarray(self.model(x, float(t)), dtype=np.float64)

    def __call__(self, x: Any, t: float) -> FloatArray:
        xs = np.asarray(x, dtype=np.float64)
        xs = xs.reshape(xs.shape[0], -1)
        raw = self._raw(xs, t).reshape(xs.shape)
        if self.parameterisation == "score":
            return raw
        alpha, sigma, c = marginal_coefficients_array(self.sde, [float(t)])
        return np.asarray(
            convert(raw, self.parameterisation, "score", xs, alpha[0], sigma[0], c[0]),
            dtype=np.float64,
        )


def load_score_model(reference: str, key: str = "options.score_model") -> Any:
    """Call the factory a ``"package.module:function"`` reference names and return its model."""
    from fplab.references import resolve_reference

    factory = resolve_reference(reference, key)
    if not callable(factory):
        msg = f"{key}: {reference!r} is not callable; it must be a function returning the model"
        raise ValueError(msg)
    model = factory()
    if not callable(model):
        msg = (
            f"{key}: {reference}() returned {type(model).__name__}, not a torch module or callable"
        )
        raise ValueError(msg)
    return model


@dataclass(frozen=True)
class ScoreModelEvaluation:
    """Score error vs t and the W2 split of each sampler run (module docstring).

    Attributes
    ----------
    curve : ScoreErrorCurve              Fisher divergence and relative L2 error vs t
    budget : list of dict                one per (method, n_steps): total, score, discretisation,
                                         prior, mc_floor, truncation (W2), kl_prior, kl_truncation
    parameterisation : str
    """

    curve: ScoreErrorCurve
    budget: list[dict[str, Any]] = field(default_factory=list)
    parameterisation: str = "score"

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows: one per time of the score-error curve, one per sampler run."""
        out = [{"label": f"score t={r['t']:.4g}", **r} for r in self.curve.rows()]
        for b in self.budget:
            out.append({"label": f"{b['method']} n_steps={b['n_steps']}", **b})
        return out


def _default_grid(p0: Any) -> Grid:
    """A grid covering p0 and the prior: ±(8 std + 4) around the component means."""
    means = np.asarray(p0.means)
    sd = np.sqrt(np.max(np.diagonal(np.asarray(p0.covs), axis1=1, axis2=2), axis=0))
    lo = np.min(means, axis=0) - 8.0 * sd - 4.0
    hi = np.max(means, axis=0) + 8.0 * sd + 4.0
    if p0.dim == 1:
        return Grid.uniform(float(lo[0]), float(hi[0]), 1024)
    if p0.dim == 2:
        return Grid.uniform(tuple(lo.tolist()), tuple(hi.tolist()), (128, 128))
    msg = f"evaluate_score_model needs a grid for the densities; p0 has dim {p0.dim} > 2"
    raise ValueError(msg)


def evaluate_score_model(
    model: Any,
    sde: Any,
    p0: Any,
    *,
    parameterisation: str = "score",
    grid: Grid | None = None,
    times: Sequence[float] | None = None,
    mass: float = 0.999,
    methods: Sequence[str] = ("pf-ode-heun",),
    n_steps: Sequence[int] = (20,),
    n_ref: int | None = None,
    n_samples: int = 2000,
    t_end: float = 1e-3,
    seed: int = 0,
) -> ScoreModelEvaluation:
    """Measure a score network trained elsewhere against the exact answers of ``p0`` under ``sde``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The network (call conventions in the module docstring), e.g. from your own checkpoint.
    sde : LinearSDE
        The forward SDE it was trained for (a ``LinearSDE``).
    p0 : GaussianMixture
        The data law (1-D or 2-D, for the densities on ``grid``).
    parameterisation : {'score', 'eps', 'x0', 'v'}
        What the model predicts.
    grid : Grid, optional
        Where the score error and the KLs are evaluated (default: ±(8 std + 4) around p0).
    times : sequence of float, optional
        Times of the score-error curve (default 12 log-spaced from t_end to the start time).
    mass : float
        p_t-mass of the region the score error is averaged over.
    methods, n_steps : sequences
        Samplers (``SAMPLERS`` keys) and step counts of the W2 split.
    n_ref : int, optional
        Steps of the discretisation reference (default 8 × max(n_steps)).
    n_samples, t_end, seed
        Samples per run, end time, seed.

    Returns
    -------
    ScoreModelEvaluation
    """
    from fplab.exact import exact_marginal, exact_score
    from fplab.reverse import SAMPLERS

    sde = check_linear_sde(sde)
    score = ExternalScore(model, sde, parameterisation)
    for m in methods:
        SAMPLERS.get(m)
    g = grid if grid is not None else _default_grid(p0)
    t_start = usable_end(sde)
    ts = (
        np.geomspace(t_end, t_start, 12)
        if times is None
        else np.asarray(times, dtype=np.float64).reshape(-1)
    )
    curve = score_error_vs_t(score, exact_reference(sde, p0, g), ts, mass=mass)
    exact = exact_score(sde, p0)
    p_T = exact_marginal(sde, p0, t_start)
    dens: dict[str, Any] = {
        "p0_density": g.sample_on(p0.pdf),
        "ptmin_density": g.sample_on(exact_marginal(sde, p0, t_end).pdf),
        "pT_density": g.sample_on(p_T.pdf),
    }
    ref_steps = int(n_ref) if n_ref is not None else 8 * max(int(n) for n in n_steps)
    budget = [
        error_budget(
            sde,
            score,
            exact,
            p0,
            p_T,
            method=m,
            n_steps=int(n),
            n_ref=ref_steps,
            n_samples=n_samples,
            t_end=t_end,
            seed=seed,
            grid=g,
            **dens,
        )
        for m in methods
        for n in n_steps
    ]
    return ScoreModelEvaluation(curve, budget, parameterisation)


def exact_model(sde: Any, p0: Any, parameterisation: str = "score") -> Callable[[Any, float], Any]:
    """The exact score of p0 under ``sde`` in ``parameterisation``, as a plain callable (tests,
    and a zero-error baseline for :func:`evaluate_score_model`)."""
    from fplab.exact import exact_score

    s = exact_score(sde, p0)

    def model(x: Any, t: float) -> Any:
        xs = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[0], -1)
        alpha, sigma, c = marginal_coefficients_array(sde, [float(t)])
        return convert(s(xs, float(t)), "score", parameterisation, xs, alpha[0], sigma[0], c[0])

    return model
