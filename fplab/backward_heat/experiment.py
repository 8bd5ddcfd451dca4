"""The whole backward-heat study in one call: :func:`run_experiment` -> :class:`BackwardHeatResult`.

Parts (each a ``part`` value in :meth:`BackwardHeatResult.rows`):

amplification     measured per-step growth of every Fourier mode of the periodic heat generator
                  (each reversed-time scheme) and of every eigenmode of the OU Fokker–Planck
                  generator, against the exact discrete symbol and the continuous e^{D k² dt}
naive-error       error vs time of naive backward integration from u(T) + ε-noise, measured and
                  predicted from the symbol, for the heat equation and the OU Fokker–Planck equation
blowup            time to blow-up (relative error 100 %) vs ε, grid size n and dt; measured,
                  predicted from the symbol, and the asymptotic ln(1/ε) / r_max
regularisation    error vs parameter of spectral cut-off, Tikhonov and quasi-reversibility
score             score-based reversal (reverse SDE, PF-ODE with the exact score): W2, KL, TV to p0
                  vs ε (both perturbation models) and vs n_steps, plus the PF-ODE path error
                  against a 4x finer run; naive-final holds the naive error at t = 0 for the same ε
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_choice, check_int, check_nonnegative, check_positive, check_real
from fplab.backward_heat.naive import ModeGrowth, NaiveReversal, measure_mode_growth, naive_reversal
from fplab.backward_heat.operators import (
    SCHEMES,
    LinearGenerator,
    fokker_planck_generator,
    heat_generator,
    step_factor,
)
from fplab.backward_heat.regularise import REGULARISERS, RegularisationCurve, regularisation_curve
from fplab.backward_heat.score import PERTURBATIONS, ScoreReversal, score_reversal
from fplab.distributions import GaussianMixture
from fplab.grid import Grid

__all__ = ["BackwardHeatConfig", "BackwardHeatResult", "BlowupPoint", "run_experiment"]

_TUPLE_FIELDS = {
    "p0_weights": float,
    "p0_means": float,
    "p0_vars": float,
    "eps": float,
    "growth_schemes": str,
    "blowup_n": int,
    "blowup_dt": float,
    "score_eps": float,
    "score_methods": str,
    "score_perturbations": str,
    "score_n_steps_sweep": int,
}


@dataclass(frozen=True)
class BackwardHeatConfig:
    """Parameters of :func:`run_experiment` (defaults: a quick run, ~7 s on one AMD EPYC core).

    Problem: ∂u/∂t = D ∂²u/∂x² on the periodic box [lo, hi) with n cells, u(0) = p0 a 1-D
    Gaussian mixture (weights, means, variances), final time T = ``t_final``, step ``dt``.

    Attributes
    ----------
    D, lo, hi, n, t_final, dt            the heat problem (t_final a multiple of dt)
    p0_weights, p0_means, p0_vars        the initial mixture
    scheme : str          reversed-time scheme of the naive runs ('explicit', 'implicit', ...)
    forward : str         how u(t) is produced: 'exact' (e^{tL} u0) or a forward scheme
    eps : tuple of float  relative noise levels of the naive runs (0 = round-off only)
    growth_schemes : tuple of str   schemes whose per-mode growth is measured
    mode_steps : int      steps of the growth measurement
    saturation : float    contamination level that ends a mode's measurement window
    blowup_eps : float    ε of the grid-size and dt sweeps
    blowup_n, blowup_dt   the sweeps (each dt must divide t_final)
    ou_theta, ou_sigma, ou_n   OU Fokker–Planck problem dX = -θ X dt + σ dW on [lo, hi] (zero-flux)
    reg_eps : float       noise level of the regularisation curves
    score_eps : tuple     ε of the score-based runs (and of the naive comparison at t = 0)
    score_methods, score_perturbations, score_n_steps, score_n_steps_sweep, n_samples
    seed : int
    """

    D: float = 0.5
    lo: float = -8.0
    hi: float = 8.0
    n: int = 128
    t_final: float = 0.25
    dt: float = 1e-3
    p0_weights: tuple[float, ...] = (0.4, 0.6)
    p0_means: tuple[float, ...] = (-2.0, 1.5)
    p0_vars: tuple[float, ...] = (0.5, 0.3)
    scheme: str = "explicit"
    forward: str = "exact"
    eps: tuple[float, ...] = (0.0, 1e-12, 1e-9, 1e-6, 1e-3)
    growth_schemes: tuple[str, ...] = ("explicit", "implicit", "crank-nicolson")
    mode_steps: int = 250
    saturation: float = 1e-3
    blowup_eps: float = 1e-6
    blowup_n: tuple[int, ...] = (96, 128, 192, 256)
    blowup_dt: tuple[float, ...] = (2.5e-4, 5e-4, 1e-3, 2.5e-3)
    ou_theta: float = 1.0
    ou_sigma: float = 2**0.5
    ou_n: int = 96
    reg_eps: float = 1e-3
    score_eps: tuple[float, ...] = (0.0, 1e-3, 1e-1)
    score_methods: tuple[str, ...] = ("euler-maruyama", "pf-ode-heun")
    score_perturbations: tuple[str, ...] = ("terminal", "score")
    score_n_steps: int = 50
    score_n_steps_sweep: tuple[int, ...] = (5, 10, 20, 40)
    n_samples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in _TUPLE_FIELDS.items():
            val = getattr(self, name)
            vals = tuple(val) if isinstance(val, list | tuple) else (val,)
            if kind is float:
                vals = tuple(check_real(v, name) for v in vals)
            elif kind is int:
                vals = tuple(check_int(v, name, minimum=1) for v in vals)
            object.__setattr__(self, name, vals)
        for name in ("D", "t_final", "dt", "saturation", "ou_theta", "ou_sigma"):
            check_positive(getattr(self, name), name)
        for name in ("blowup_eps", "reg_eps"):
            check_nonnegative(getattr(self, name), name)
        for name in ("eps", "score_eps", "p0_vars", "blowup_dt"):
            for v in getattr(self, name):
                (check_positive if name in ("p0_vars", "blowup_dt") else check_nonnegative)(v, name)
        if not len(self.p0_weights) == len(self.p0_means) == len(self.p0_vars):
            msg = (
                f"p0_weights, p0_means and p0_vars must have one entry per mixture component, got "
                f"lengths {len(self.p0_weights)}, {len(self.p0_means)}, {len(self.p0_vars)}"
            )
            raise ValueError(msg)
        check_real(self.lo, "lo")
        check_real(self.hi, "hi")
        for name in ("n", "ou_n", "mode_steps", "score_n_steps", "n_samples"):
            check_int(getattr(self, name), name, minimum=4 if name in ("n", "ou_n") else 1)
        check_int(self.seed, "seed", minimum=0)
        check_choice(self.scheme, "scheme", SCHEMES)
        check_choice(self.forward, "forward", SCHEMES)
        for s in self.growth_schemes:
            check_choice(s, "growth_schemes", SCHEMES)
        for s in self.score_perturbations:
            check_choice(s, "score_perturbations", PERTURBATIONS)
        for dt in (self.dt, *self.blowup_dt):
            steps = self.t_final / dt
            if abs(steps - round(steps)) > 1e-9 * steps:
                msg = f"t_final={self.t_final:g} must be a multiple of dt and of every blowup_dt, got {dt:g}"
                raise ValueError(msg)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> BackwardHeatConfig:
        """Build from a plain dict (a study spec table); unknown keys raise ``ValueError`` naming them."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            msg = f"unknown backward-heat parameter(s) {unknown}; allowed: {sorted(allowed)}"
            raise ValueError(msg)
        return cls(**spec)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


@dataclass(frozen=True)
class BlowupPoint:
    """Time to blow-up of one naive run: first τ with relative error >= 1.

    Attributes
    ----------
    sweep : str          'eps', 'n' or 'dt' (which parameter varies)
    eps, n, dt : the run's parameters
    measured : float     from the run (inf if it never blew up within t_final)
    predicted : float    from the symbol's expected error (``NaiveReversal.predicted_error``)
    rate_max : float     r_max = ln|G_max| / dt, the growth rate of the fastest discrete mode
    asymptotic : float   ln(1/ε) / r_max, the leading term of the blow-up time for small ε
    """

    sweep: str
    eps: float
    n: int
    dt: float
    measured: float
    predicted: float
    rate_max: float
    asymptotic: float


@dataclass(frozen=True)
class BackwardHeatResult:
    """Everything :func:`run_experiment` measured; arrays for the figures, ``rows()``, ``summary()``."""

    config: BackwardHeatConfig
    growth: dict[str, ModeGrowth]
    ou_growth: ModeGrowth
    naive: tuple[NaiveReversal, ...]
    ou_naive: tuple[NaiveReversal, ...]
    blowup: tuple[BlowupPoint, ...]
    regularisation: tuple[RegularisationCurve, ...]
    naive_reg: NaiveReversal
    score: tuple[ScoreReversal, ...]
    score_steps: tuple[ScoreReversal, ...]
    path_error: dict[str, tuple[FloatArray, FloatArray]]
    naive_final: tuple[NaiveReversal, ...]
    rate_max_continuous: float = field(default=math.nan)

    # -- flat tables ---------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """Flat JSON-able dicts, one per measured point; key ``part`` names the table.

        Non-finite numbers (a run that overflowed, a blow-up that never happened) become None.
        """
        rows: list[dict[str, Any]] = []
        for problem, items in (
            ("heat", self.growth.items()),
            ("ou", [(self.config.scheme, self.ou_growth)]),
        ):
            for scheme, g in items:
                for i in range(g.k.shape[0]):
                    rows.append(
                        {
                            "part": "amplification",
                            "problem": problem,
                            "scheme": scheme,
                            "k": g.k[i],
                            "mu": g.mu[i],
                            "factor_measured": g.factor_measured[i],
                            "factor_discrete": g.factor_discrete[i],
                            "factor_continuous": g.factor_continuous[i],
                            "rate_measured": g.rate_measured[i],
                            "rate_discrete": g.rate_discrete[i],
                            "rate_continuous": g.rate_continuous[i],
                            "rel_err": g.relative_error[i],
                            "n_valid": int(g.n_valid[i]),
                            "factor_norm_full_run": g.factor_norm_full_run[i],
                        }
                    )
        for problem, runs in (("heat", self.naive), ("ou", self.ou_naive)):
            for r in runs:
                for j in range(r.times.shape[0]):
                    rows.append(
                        {
                            "part": "naive-error",
                            "problem": problem,
                            "scheme": r.scheme,
                            "eps": r.eps,
                            "t": r.times[j],
                            "tau": r.reversed_time[j],
                            "error": r.error[j],
                            "predicted_error": r.predicted_error[j],
                            "error_p0": r.error_p0[j],
                            "tv_p0": r.tv_p0[j],
                        }
                    )
        for b in self.blowup:
            rows.append({"part": "blowup", **dataclasses.asdict(b)})
        for c in self.regularisation:
            for j in range(c.values.shape[0]):
                rows.append(
                    {
                        "part": "regularisation",
                        "method": c.method,
                        "parameter": c.parameter,
                        "value": c.values[j],
                        "error": c.error[j],
                        "predicted_error": c.predicted_error[j],
                        "best": j == c.best_index,
                        "naive_error": c.naive_error,
                        "eps": c.eps,
                    }
                )
        for sr in (*self.score, *self.score_steps):
            d = {
                k: getattr(sr, k) for k in ("method", "perturbation", "eps", "n_steps", "n_samples")
            }
            d |= {k: getattr(sr, k) for k in ("w2", "kl", "tv", "w2_floor", "kl_floor", "tv_floor")}
            rows.append({"part": "score", **d})
        for method, (steps, err) in self.path_error.items():
            for s, e in zip(steps, err, strict=True):
                rows.append(
                    {"part": "score-path-error", "method": method, "n_steps": int(s), "error": e}
                )
        for r in self.naive_final:
            rows.append(
                {
                    "part": "naive-final",
                    "eps": r.eps,
                    "error_p0": r.error_p0[-1],
                    "tv_p0": r.tv_p0[-1],
                    "best_error_p0": r.best()[0],
                    "best_time": r.best()[1],
                }
            )
        return [{k: _jsonable(v) for k, v in row.items()} for row in rows]

    def summary(self) -> dict[str, Any]:
        """Headline numbers (flat, JSON-able): measured vs theoretical growth rates, blow-up times,
        optima of the regularisers, score-based vs naive errors."""
        out: dict[str, Any] = {}
        for scheme, g in self.growth.items():
            ok = (g.n_valid >= 1) & (g.rate_discrete > 0)
            out[f"growth_{scheme}_max_rel_err"] = float(np.max(g.relative_error[ok]))
            out[f"growth_{scheme}_top_rate_measured"] = float(g.rate_measured[-1])
            out[f"growth_{scheme}_top_rate_discrete"] = float(g.rate_discrete[-1])
            out[f"growth_{scheme}_top_rate_continuous"] = float(g.rate_continuous[-1])
            out[f"growth_{scheme}_min_valid_steps"] = int(np.min(g.n_valid[ok]))
        g = self.ou_growth
        ok = (g.n_valid >= 1) & (g.rate_discrete > 0)
        out["ou_growth_max_rel_err"] = float(np.max(g.relative_error[ok]))
        out["ou_top_rate_measured"] = float(g.rate_measured[ok][-1])
        out["ou_top_rate_discrete"] = float(g.rate_discrete[ok][-1])
        out["ou_slowest_rate_discrete"] = float(g.rate_discrete[ok][0])
        eps_pts = [b for b in self.blowup if b.sweep == "eps"]
        for b in eps_pts:
            out[f"blowup_time[eps={b.eps:g}]"] = b.measured
            out[f"blowup_time_predicted[eps={b.eps:g}]"] = b.predicted
        fit = [(b.eps, b.measured) for b in eps_pts if b.eps > 0 and math.isfinite(b.measured)]
        if len(fit) >= 2:
            slope = np.polyfit(np.log(1.0 / np.array([f[0] for f in fit])), [f[1] for f in fit], 1)[
                0
            ]
            out["blowup_rate_fit"] = float(1.0 / slope)
        out["rate_max_discrete"] = eps_pts[0].rate_max if eps_pts else math.nan
        out["rate_max_continuous"] = self.rate_max_continuous
        for r in self.naive:
            err, t = r.best()
            out[f"naive_best_error_p0[eps={r.eps:g}]"] = err
            out[f"naive_best_time[eps={r.eps:g}]"] = t
        for c in self.regularisation:
            out[f"reg_{c.method}_best_{c.parameter}"] = c.best_value
            out[f"reg_{c.method}_best_error"] = c.best_error
            out[f"reg_{c.method}_predicted_best_{c.parameter}"] = c.predicted_best_value
        if self.regularisation:
            out["reg_naive_error"] = self.regularisation[0].naive_error
        out["reg_naive_early_stop_error"], out["reg_naive_early_stop_time"] = self.naive_reg.best()
        for sr in self.score:
            key = f"score_{sr.method}_{sr.perturbation}"
            out[f"{key}_max_w2"] = max(out.get(f"{key}_max_w2", 0.0), sr.w2)
            out[f"{key}_max_kl"] = max(out.get(f"{key}_max_kl", 0.0), sr.kl)
        if self.score:
            out["score_w2_floor"] = self.score[0].w2_floor
            out["score_kl_floor"] = self.score[0].kl_floor
        for r in self.naive_final:
            out[f"naive_final_tv[eps={r.eps:g}]"] = float(r.tv_p0[-1])
        for method, (steps, perr) in self.path_error.items():
            if len(steps) >= 2 and np.all(perr > 0):
                order = np.polyfit(np.log(1.0 / steps), np.log(perr), 1)[0]
                out[f"score_{method}_path_order"] = float(order)
        return {k: _jsonable(v) for k, v in out.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _rate_max(gen: LinearGenerator, dt: float, scheme: str) -> float:
    return (
        float(np.max(np.log(np.abs(step_factor(gen.eigenvalues(), dt, scheme, "backward"))))) / dt
    )


def _blowup_point(sweep: str, run: NaiveReversal, gen: LinearGenerator) -> BlowupPoint:
    r = _rate_max(gen, run.dt, run.scheme)
    eps_eff = max(run.eps, float(np.finfo(np.float64).eps))
    return BlowupPoint(
        sweep,
        run.eps,
        gen.n,
        run.dt,
        run.blowup_time(),
        run.predicted_blowup_time(),
        r,
        math.log(1 / eps_eff) / r,
    )


def run_experiment(
    config: BackwardHeatConfig | dict[str, Any] | None = None, **overrides: Any
) -> BackwardHeatResult:
    """Run the backward-heat instability study (see the module docstring for its parts).

    Parameters
    ----------
    config : BackwardHeatConfig or dict, optional
        Defaults to ``BackwardHeatConfig()``; a dict is passed to ``BackwardHeatConfig.from_dict``.
    **overrides
        Fields replacing those of ``config``, e.g. ``run_experiment(n=64, eps=(1e-6,))``.

    Returns
    -------
    BackwardHeatResult
    """
    if config is None:
        cfg = BackwardHeatConfig()
    elif isinstance(config, dict):
        cfg = BackwardHeatConfig.from_dict(config)
    elif isinstance(config, BackwardHeatConfig):
        cfg = config
    else:
        msg = f"config must be a BackwardHeatConfig, a dict or None, got {type(config).__name__}"
        raise TypeError(msg)
    if overrides:
        cfg = BackwardHeatConfig.from_dict({**dataclasses.asdict(cfg), **overrides})
    from fplab.sdes.linear import OU, Heat

    p0 = GaussianMixture(cfg.p0_weights, cfg.p0_means, cfg.p0_vars)
    grid = Grid.uniform(cfg.lo, cfg.hi, cfg.n)
    gen = heat_generator(grid, cfg.D)
    u0 = grid.sample_on(p0.pdf)
    growth = {
        s: measure_mode_growth(gen, cfg.dt, cfg.mode_steps, scheme=s, saturation=cfg.saturation)
        for s in cfg.growth_schemes
    }
    ou_grid = Grid.uniform(cfg.lo, cfg.hi, cfg.ou_n)
    ou_gen = fokker_planck_generator(OU(cfg.ou_theta, 0.0, cfg.ou_sigma), ou_grid, bc="zero-flux")
    ou_growth = measure_mode_growth(
        ou_gen, cfg.dt, cfg.mode_steps, scheme=cfg.scheme, saturation=cfg.saturation
    )

    def naive(g: LinearGenerator, u: FloatArray, eps: float, dt: float = cfg.dt) -> NaiveReversal:
        return naive_reversal(
            g, u, cfg.t_final, dt, eps=eps, scheme=cfg.scheme, forward=cfg.forward, seed=cfg.seed
        )

    runs = tuple(naive(gen, u0, e) for e in cfg.eps)
    ou_u0 = ou_grid.sample_on(p0.pdf)
    ou_runs = tuple(naive(ou_gen, ou_u0, e) for e in cfg.eps)
    blowup = [_blowup_point("eps", r, gen) for r in runs]
    for n in cfg.blowup_n:
        g_n = heat_generator(Grid.uniform(cfg.lo, cfg.hi, n), cfg.D)
        blowup.append(
            _blowup_point("n", naive(g_n, g_n.grid.sample_on(p0.pdf), cfg.blowup_eps), g_n)
        )
    for dt in cfg.blowup_dt:
        blowup.append(_blowup_point("dt", naive(gen, u0, cfg.blowup_eps, dt), gen))
    reg = tuple(
        regularisation_curve(gen, u0, cfg.t_final, m, eps=cfg.reg_eps, seed=cfg.seed)
        for m in REGULARISERS
    )
    naive_reg = naive(gen, u0, cfg.reg_eps)
    score, score_steps, path_error = _score_part(cfg, Heat(cfg.D), p0, grid)
    naive_final = tuple(naive(gen, u0, e) for e in cfg.score_eps)
    k_nyq = math.pi / float(grid.dx)  # type: ignore[arg-type]
    return BackwardHeatResult(
        config=cfg,
        growth=growth,
        ou_growth=ou_growth,
        naive=runs,
        ou_naive=ou_runs,
        blowup=tuple(blowup),
        regularisation=reg,
        naive_reg=naive_reg,
        score=score,
        score_steps=score_steps,
        path_error=path_error,
        naive_final=naive_final,
        rate_max_continuous=cfg.D * k_nyq**2,
    )


def _score_part(
    cfg: BackwardHeatConfig, sde: Any, p0: GaussianMixture, grid: Grid
) -> tuple[
    tuple[ScoreReversal, ...], tuple[ScoreReversal, ...], dict[str, tuple[FloatArray, FloatArray]]
]:
    """Score-based runs vs ε and vs n_steps, and the PF-ODE path error against a 4x finer run."""
    common: dict[str, Any] = {"n_samples": cfg.n_samples, "seed": cfg.seed}
    score = tuple(
        score_reversal(
            sde,
            p0,
            cfg.t_final,
            grid,
            eps=e,
            perturbation=pert,
            method=m,
            n_steps=cfg.score_n_steps,
            **common,
        )
        for m in cfg.score_methods
        for pert in cfg.score_perturbations
        for e in cfg.score_eps
    )
    steps = tuple(
        score_reversal(sde, p0, cfg.t_final, grid, method=m, n_steps=s, **common)
        for m in cfg.score_methods
        for s in cfg.score_n_steps_sweep
    )
    path_error: dict[str, tuple[FloatArray, FloatArray]] = {}
    for m in cfg.score_methods:
        if not m.startswith("pf-ode"):
            continue  # a stochastic sampler's paths depend on the step through its noise draws
        ref = score_reversal(
            sde, p0, cfg.t_final, grid, method=m, n_steps=4 * max(cfg.score_n_steps_sweep), **common
        )
        mine = [r for r in steps if r.method == m]
        err = np.array([float(np.sqrt(np.mean((r.samples - ref.samples) ** 2))) for r in mine])
        path_error[m] = (np.array([r.n_steps for r in mine], dtype=np.float64), err)
    return score, steps, path_error
