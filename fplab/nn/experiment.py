"""One call that trains a score network and measures it: the entry point of the 'score-network' study.

``run_experiment(config)`` trains (or resumes) a model on a named problem, then measures

* score error vs t against the ground truth (exact for the Gaussian mixtures; FD grid solution of
  the forward Fokker–Planck equation, cross-checked by quadrature, for the double well);
* sample error (W2, KL on the grid) of every requested sampler at several n_steps, driven by the
  learned and by the ground-truth score from the same x_T and seed;
* the W2 error budget of :func:`fplab.nn.evaluate.error_budget` (score / discretisation / prior /
  t_min truncation);
* probability-flow log-likelihood of the learned model against the exact log-density;

and returns a frozen :class:`ScoreNetworkResult` with flat rows, a summary and arrays for figures.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.grid import Grid
from fplab.nn.evaluate import (
    Reference,
    convolution_reference,
    error_budget,
    exact_reference,
    fd_reference,
    reference_samples,
    sample_error_table,
    score_error_vs_t,
)
from fplab.nn.params import check_linear_sde, horizon, usable_end
from fplab.nn.train import TrainConfig, train_score

__all__ = [
    "BAR_TRAIN",
    "PROBLEMS",
    "QUICK_TRAIN",
    "ExperimentConfig",
    "ScoreNetworkResult",
    "run_experiment",
]


def _bimodal_1d() -> Any:
    from fplab.distributions import GaussianMixture

    return GaussianMixture([0.4, 0.6], [[-2.0], [1.5]], [[[0.5]], [[0.3]]])


def _bimodal_2d() -> Any:
    from fplab.distributions import GaussianMixture

    return GaussianMixture(
        [0.45, 0.55],
        [[-1.5, -0.5], [1.2, 1.0]],
        [[[0.6, 0.2], [0.2, 0.4]], [[0.35, -0.1], [-0.1, 0.5]]],
    )


class DoubleWellLaw:
    """The 1-D double-well stationary law p ∝ exp(-2V/σ²) with ``pdf``, ``logpdf`` and inverse-CDF
    ``sample`` (CDF tabulated by the trapezoidal rule on 2^15 points of [-4, 4], mass outside < 1e-12)."""

    dim = 1

    def __init__(self, sigma: float = 0.8) -> None:
        from fplab.sdes.nonlinear import DoubleWell

        self.sde = DoubleWell(sigma=sigma)
        self._x = np.linspace(-4.0, 4.0, 2**15)
        p = self.sde.stationary_pdf(self._x)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(self._x))])
        self._cdf = cdf / cdf[-1]

    def logpdf(self, x: Any) -> FloatArray:
        return self.sde.stationary_logpdf(x)

    def pdf(self, x: Any) -> FloatArray:
        return self.sde.stationary_pdf(x)

    def ppf(self, q: Any) -> FloatArray:
        return np.interp(np.asarray(q, dtype=np.float64), self._cdf, self._x)

    def sample(self, n: int, seed: Any = 0) -> FloatArray:
        from fplab._validate import as_rng

        return self.ppf(as_rng(seed).random(n)).reshape(n, 1)

    def __repr__(self) -> str:
        return f"DoubleWellLaw(sigma={self.sde.sigma})"


#: named data laws for the study: name -> (factory, grid for references and KL)
PROBLEMS: dict[str, tuple[Any, Any]] = {
    "bimodal-1d": (_bimodal_1d, lambda: Grid.uniform(lo=-8.0, hi=8.0, n=800)),
    "bimodal-2d": (_bimodal_2d, lambda: Grid.uniform(lo=(-6.0, -6.0), hi=(6.0, 6.0), n=(96, 96))),
    "double-well-1d": (DoubleWellLaw, lambda: Grid.uniform(lo=-6.0, hi=6.0, n=1200)),
}


#: training options of the issue-7 bar run (rel. L2 4.7% at t = 0.05 T on bimodal-1d; docs/nn.md):
#: ``run_experiment({"train": BAR_TRAIN})``
BAR_TRAIN: dict[str, Any] = {
    "n_steps": 6000,
    "hidden": 128,
    "depth": 3,
    "target": "stf",
    "n_reference": 1024,
}

#: training defaults of the quick tier (a 64x3 network, STF target: see docs/nn.md)
QUICK_TRAIN: dict[str, Any] = {
    "n_steps": 2500,
    "hidden": 64,
    "depth": 3,
    "target": "stf",
    "n_reference": 256,
}


@dataclass(frozen=True)
class ExperimentConfig:
    """What ``run_experiment`` does; every field has a quick-tier default (< 60 s on 2 CPU cores).

    Attributes
    ----------
    problem : str                 key of :data:`PROBLEMS`
    sde : str                     key of ``fp.SDES`` (linear: 'vp', 'sub-vp', 've', 'ou', 'heat')
    sde_params : dict             constructor arguments of the SDE
    train : dict                  :class:`TrainConfig` fields (override the defaults below)
    methods : tuple of str        samplers of ``fp.reverse.SAMPLERS``
    n_steps : tuple of int        sampler step counts
    n_samples : int or None       samples per sampler run (None: 2000 in 1-D, 800 in 2-D, where
                                  every W2 is an exact optimal-transport solve)
    t_end : float                 where reverse sampling stops (t_min truncation)
    score_times : tuple of float  times (fractions of T) of the score-error curve
    quantile_prior : bool         1-D: start samplers from prior quantiles (no Monte-Carlo floor for
                                  PF-ODE solvers; stochastic samplers keep their noise)
    budget_method : str           sampler of the error budget ('' skips it)
    budget_n_ref : int            reference step count of the budget's discretisation term
    likelihood_points : int       data points of the PF-ODE likelihood check (0 skips it)
    likelihood_steps : int        RK4 steps of the likelihood ODE
    seed : int
    """

    problem: str = "bimodal-1d"
    sde: str = "vp"
    sde_params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    methods: tuple[str, ...] = ("pf-ode-euler", "pf-ode-heun", "euler-maruyama", "ddim")
    n_steps: tuple[int, ...] = (10, 20, 50, 100)
    n_samples: int | None = None
    t_end: float = 1e-3
    score_times: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    quantile_prior: bool = False
    budget_method: str = "pf-ode-heun"
    budget_n_ref: int = 400
    likelihood_points: int = 100
    likelihood_steps: int = 50
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExperimentConfig:
        """Build from a dict (e.g. a study spec table); unknown keys are a ``ValueError``."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            msg = f"unknown score-network option(s) {unknown}; allowed: {sorted(allowed)}"
            raise ValueError(msg)
        vals = dict(values)
        for key in ("methods", "n_steps", "score_times"):
            if key in vals:
                vals[key] = tuple(vals[key])
        return cls(**vals)

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict({**QUICK_TRAIN, "seed": self.seed, **self.train})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["train"] = self.train_config().to_dict()
        return out


@dataclass(frozen=True)
class ScoreNetworkResult:
    """Everything ``run_experiment`` measured.

    Attributes
    ----------
    config : dict                         the ExperimentConfig with the full training configuration
    train_seconds : float                 wall time of training (summed over resumes)
    losses : ndarray (steps,)             training loss per step
    score_curve : ScoreErrorCurve         score error vs t against ``reference``
    reference : str                       'exact' or 'fd'
    reference_check : float               max rel. L2 between FD and quadrature references (double well), else 0
    sample_rows : list of dict            method, n_steps, score ('learned'/'reference'), w2, kl, w2_vs_learned...
    budget : dict                         error_budget output (empty if skipped)
    likelihood : dict                     nll_gap, max_abs_error, mean_abs_error (empty if skipped)
    density_x : ndarray (m,) or (m, 2)    grid points of the overlays
    density_exact : ndarray (m,)          p0 on the grid
    density_learned, density_reference : ndarray (m,)   histograms of the finest budget-method samples
    model : LearnedScore                  the trained model
    """

    config: dict[str, Any]
    train_seconds: float
    losses: FloatArray
    score_curve: Any
    reference: str
    reference_check: float
    sample_rows: list[dict[str, Any]]
    budget: dict[str, Any]
    likelihood: dict[str, float]
    density_x: FloatArray
    density_exact: FloatArray
    density_learned: FloatArray
    density_reference: FloatArray
    model: Any = field(repr=False, compare=False)

    def rows(self) -> list[dict[str, Any]]:
        """Flat JSON-able rows, one per measurement, with a 'section' key."""
        rows: list[dict[str, Any]] = [
            {"section": "score-error", **r} for r in self.score_curve.rows()
        ]
        rows += [{"section": "samples", **r} for r in self.sample_rows]
        if self.budget:
            rows.append({"section": "budget", **self.budget})
        if self.likelihood:
            rows.append({"section": "likelihood", **self.likelihood})
        rows.append(
            {
                "section": "training",
                "train_seconds": self.train_seconds,
                "final_loss": float(np.mean(self.losses[-100:])),
            }
        )
        return [
            {k: (float(v) if isinstance(v, np.floating) else v) for k, v in r.items()} for r in rows
        ]

    def summary(self) -> dict[str, Any]:
        """Headline numbers: training time, worst score error for t >= 0.05 T, W2 learned/reference per sampler."""
        T = self.config.get("T", 1.0)
        curve = self.score_curve
        late = curve.times >= 0.05 * T - 1e-12
        out: dict[str, Any] = {
            "train_seconds": self.train_seconds,
            "max_rel_l2_t_ge_0.05T": float(np.max(curve.rel_l2[late]))
            if np.any(late)
            else float("nan"),
            "reference": self.reference,
        }
        by_key: dict[tuple[str, int], dict[str, float]] = {}
        for r in self.sample_rows:
            by_key.setdefault((r["method"], r["n_steps"]), {})[r["score"]] = r["w2"]
        for (method, n), w in sorted(by_key.items()):
            if "learned" in w and "reference" in w:
                out[f"w2_ratio[{method},{n}]"] = w["learned"] / w["reference"]
        if self.likelihood:
            out["nll_gap"] = self.likelihood["nll_gap"]
        return out


def _references(
    problem: str, sde: Any, p0: Any, grid: Grid, times: FloatArray
) -> tuple[Reference, float]:
    if problem != "double-well-1d":
        return exact_reference(sde, p0, grid), 0.0
    # the FD score also drives the reference sampler, and grid_score is linear in t between saved
    # times: save densely (log-spaced, 256 times) besides the times the curves ask for
    dense = np.unique(np.concatenate([times, np.geomspace(times.min(), times.max(), 256)]))
    fd = fd_reference(sde, p0, grid, dense)
    quad = convolution_reference(sde, p0.pdf, grid)
    check = score_error_vs_t(fd.score, quad, times[times >= 0.05 * horizon(sde)])
    return fd, float(np.max(check.rel_l2))


def run_experiment(
    config: Any = None, *, device: Any = "cpu", checkpoint: Any = None, resume: bool = False
) -> ScoreNetworkResult:
    """Train a score network on ``config.problem`` and measure it (module docstring).

    Parameters
    ----------
    config : ExperimentConfig or dict (keys of ExperimentConfig), optional
    device : str               training device ('cpu' or 'cuda')
    checkpoint : path, optional; resume : bool   as in :func:`fplab.nn.train_score`
    """
    from fplab.sdes.base import SDES

    cfg = ExperimentConfig() if config is None else config
    if isinstance(cfg, dict):
        cfg = ExperimentConfig.from_dict(cfg)
    if not isinstance(cfg, ExperimentConfig):
        msg = f"config must be an ExperimentConfig or a dict, got {type(cfg).__name__}"
        raise TypeError(msg)
    if cfg.problem not in PROBLEMS:
        from fplab._registry import unknown_choice_message

        raise ValueError(unknown_choice_message("problem", cfg.problem, list(PROBLEMS)))
    make_law, make_grid = PROBLEMS[cfg.problem]
    p0, grid = make_law(), make_grid()
    sde = check_linear_sde(SDES.get(cfg.sde)(**cfg.sde_params), "sde")
    T = horizon(sde)
    t_start = usable_end(sde)  # where sampling starts: the prior's time (t_max for cosine VP)
    tick = time.perf_counter()
    model = train_score(
        sde, p0, cfg.train_config(), device=device, checkpoint=checkpoint, resume=resume
    )
    times = np.asarray(cfg.score_times, dtype=np.float64) * T
    reference, ref_check = _references(
        cfg.problem, sde, p0, grid, np.unique(np.concatenate([times, [cfg.t_end, t_start]]))
    )
    curve = score_error_vs_t(model, reference, times)
    p0_density = p0.pdf(grid.points()).reshape(grid.shape)
    n_samples = cfg.n_samples if cfg.n_samples is not None else (2000 if grid.ndim == 1 else 800)
    rows = sample_error_table(
        sde,
        {"learned": model, "reference": reference.score},
        p0,
        methods=cfg.methods,
        n_steps=cfg.n_steps,
        n_samples=n_samples,
        t_end=cfg.t_end,
        seed=cfg.seed,
        grid=grid,
        p0_density=p0_density,
        quantiles=cfg.quantile_prior,
    )
    budget: dict[str, Any] = {}
    dens_learned = dens_ref = np.zeros(grid.size)
    if cfg.budget_method:
        from fplab.exact import exact_marginal

        exact_T = exact_marginal(sde, p0, t_start) if cfg.problem != "double-well-1d" else None
        budget = error_budget(
            sde,
            model,
            reference.score,
            p0,
            exact_T,
            method=cfg.budget_method,
            n_steps=max(cfg.n_steps),
            n_ref=cfg.budget_n_ref,
            n_samples=n_samples,
            t_end=cfg.t_end,
            seed=cfg.seed,
            grid=grid,
            p0_density=p0_density,
            ptmin_density=np.asarray(reference.density(cfg.t_end)).reshape(grid.shape),
            pT_density=np.asarray(reference.density(t_start)).reshape(grid.shape),
            keep_samples=True,
        )
        dens_learned = grid.histogram(budget.pop("x_learned")).ravel()
        dens_ref = grid.histogram(budget.pop("x_exact")).ravel()
    likelihood: dict[str, float] = {}
    if cfg.likelihood_points > 0:
        from fplab.nn.likelihood import pf_ode_log_likelihood

        x = reference_samples(p0, cfg.likelihood_points, cfg.seed + 7)
        lik = pf_ode_log_likelihood(
            sde, model, x, t_end=cfg.t_end, n_steps=cfg.likelihood_steps, exact=p0
        )
        likelihood = {
            "nll_gap": lik.nll_gap,
            "max_abs_error": lik.max_abs_error,
            "mean_abs_error": float(np.mean(np.abs(lik.log_p - lik.log_p_exact))),  # type: ignore[operator]
        }
    del tick
    return ScoreNetworkResult(
        config={**cfg.to_dict(), "T": T},
        train_seconds=model.train_seconds,
        losses=model.losses,
        score_curve=curve,
        reference=reference.name,
        reference_check=ref_check,
        sample_rows=rows,
        budget=budget,
        likelihood=likelihood,
        density_x=grid.points() if grid.ndim > 1 else grid.axes[0],
        density_exact=p0_density.ravel(),
        density_learned=dens_learned,
        density_reference=dens_ref,
        model=model,
    )
