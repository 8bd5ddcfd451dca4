"""``sample_reverse``: validate, build the time grid t_start -> t_end, run a sampler from ``SAMPLERS``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import (
    as_rng,
    as_samples,
    check_int,
    check_memory,
    check_positive,
    check_real,
    restore_shape,
)
from fplab.errors import NumericalError
from fplab.reverse.samplers import SAMPLERS, VP_FAMILY, Sampler, StepContext
from fplab.reverse.timegrids import TIME_GRIDS
from fplab.sdes.base import SDE
from fplab.sdes.linear import VP, LinearSDE
from fplab.sdes.schedules import check_usable_time

__all__ = ["TIME_GRIDS", "SampleInfo", "ScoreValueError", "sample_reverse"]


class ScoreValueError(NumericalError, ValueError):
    """The ``score`` callable returned NaN/inf: a numerical failure caused by an argument, so it is
    both a ``fplab.NumericalError`` and a ``ValueError``."""


@dataclass(frozen=True)
class SampleInfo:
    """Bookkeeping of one ``sample_reverse`` run (``return_info=True``).

    Attributes
    ----------
    method : str
    n_score_evals : int     calls of the score (each on the whole batch)
    n_steps : int           accepted steps
    n_rejected : int        rejected steps (adaptive samplers only)
    times : ndarray of float64, shape (m,)   the decreasing time nodes that were stepped through
        (fixed-step methods: the grid, with ``save_at`` times inserted; adaptive: t_start, the
        save times and t_end)
    """

    method: str
    n_score_evals: int
    n_steps: int
    n_rejected: int
    times: FloatArray


class _CheckedScore:
    """Wraps the user's score: checks shape and finiteness of every result and counts calls."""

    def __init__(self, score: Callable[..., Any], n: int, d: int) -> None:
        self.fn = score
        self.shape = (n, d)
        self.n_evals = 0

    def __call__(self, x: FloatArray, t: float) -> FloatArray:
        self.n_evals += 1
        out = self.fn(x, float(t))
        try:
            arr = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as err:
            msg = f"score must return an array of shape {self.shape}, got {type(out).__name__}"
            raise TypeError(msg) from err
        if arr.shape != self.shape:
            if self.shape[1] == 1 and arr.shape == (self.shape[0],):
                arr = arr.reshape(self.shape)
            else:
                msg = (
                    f"score returned shape {arr.shape} for x of shape {self.shape}; "
                    f"score(x, t) must return an array of the shape of x, (n, d) = {self.shape}"
                )
                raise ValueError(msg)
        if not np.all(np.isfinite(arr)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            msg = (
                f"score returned {bad} non-finite value(s) (NaN or inf) at t={t:.6g}; "
                "the score must be finite wherever the samples go"
            )
            raise ScoreValueError(msg)
        return arr


def _time_nodes(base: FloatArray, save: FloatArray) -> tuple[FloatArray, list[int]]:
    """Decreasing nodes t_start = τ_0 > ... > τ_N = t_end (``base`` with the save times inserted)
    and the node index of each save time (in the order given)."""
    tol = 1e-9 * float(np.min(-np.diff(base)))
    nodes = list(base)
    for ts in save:
        if np.min(np.abs(np.asarray(nodes) - ts)) > tol:
            nodes.append(float(ts))
    nodes_arr = np.sort(np.asarray(nodes))[::-1].copy()
    idx = [int(np.argmin(np.abs(nodes_arr - ts))) for ts in save]
    return nodes_arr, idx


def _check_times(
    sde: SDE, sampler: Sampler, method: str, t_start: Any, t_end: Any
) -> tuple[float, float]:
    horizon = getattr(sde, "T", None)
    if t_start is None:
        # the cosine schedule has ᾱ(T) = 0 and β(T) = ∞; its own t_max (β = 999/T) is the usable end
        t_max = getattr(getattr(sde, "_schedule", None), "t_max", None)
        t_start = t_max if t_max is not None else horizon if horizon is not None else 1.0
    t0 = check_real(t_start, "t_start")
    t1 = check_real(t_end, "t_end")
    if t1 >= t0:
        msg = (
            f"t_end must be < t_start (sampling runs backwards in time from t_start to t_end), "
            f"got t_start={t0}, t_end={t1}"
        )
        raise ValueError(msg)
    if horizon is not None and t0 > horizon * (1.0 + 1e-12):
        msg = f"t_start={t0} lies beyond the horizon T={horizon} of {type(sde).__name__}; pass t_start <= {horizon}"
        raise ValueError(msg)
    check_usable_time(sde, t0, "t_start", " (the default)")
    # Diffusion-model SDEs (a horizon T) have marginal noise σ_t -> 0 as t -> 0, where the score of
    # data is singular and λ = log(α/σ) is infinite: they must stop at t_end > 0.
    if horizon is not None or sampler.requires:
        if t1 <= 0.0:
            msg = (
                f"t_end must be > 0 for {type(sde).__name__} with method {method!r} (the marginal "
                f"noise vanishes at t = 0 and the score is singular there), got t_end={t1}; "
                "a typical choice is t_end=1e-3"
            )
            raise ValueError(msg)
    elif t1 < 0.0:
        msg = f"t_end must be >= 0 (time runs forward from 0), got t_end={t1}"
        raise ValueError(msg)
    return t0, t1


def _check_applicable(sde: SDE, sampler: Sampler, method: str) -> None:
    if not isinstance(sde, SDE):
        msg = f"sde must be an fplab SDE (fp.VP(), fp.OU(), ...), got {type(sde).__name__}"
        raise TypeError(msg)
    if "linear" in sampler.requires and not isinstance(sde, LinearSDE):
        linear = ", ".join(repr(k) for k, s in SAMPLERS.items() if not s.requires)
        msg = (
            f"method {method!r} needs a linear SDE (OU, Heat, VP, VE, SubVP) whose marginal "
            f"α_t X_0 + c_t + σ_t Z defines its noise level σ/α, got {type(sde).__name__}; "
            f"use one of {linear}"
        )
        raise ValueError(msg)
    if "vp" in sampler.requires and not isinstance(sde, VP):
        msg = (
            f"method {method!r} is the discrete chain of the VP SDE and needs fp.VP, got "
            f"{type(sde).__name__}; for other SDEs use 'euler-maruyama' or 'edm-stochastic'"
        )
        raise ValueError(msg)
    if "vp-family" in sampler.requires and not isinstance(sde, VP_FAMILY):
        vp_methods = ", ".join(repr(k) for k, s in SAMPLERS.items() if "vp-family" in s.requires)
        other = ", ".join(repr(k) for k, s in SAMPLERS.items() if not s.requires)
        msg = (
            f"method {method!r} needs a variance-preserving SDE (fp.VP or fp.SubVP), got "
            f"{type(sde).__name__}: {vp_methods} are derived from the VP marginal α_t X_0 + σ_t Z; "
            f"for {type(sde).__name__} use one of {other}"
        )
        raise ValueError(msg)
    if not sde.additive:
        try:
            sde._diffusion_dx(np.ones((1, sde.dim or 1)), 0.5)
        except NotImplementedError:
            msg = (
                f"method {method!r} needs ∂g/∂x for {type(sde).__name__}, whose noise depends on x "
                "(the reverse drift contains ∇·(g² I) = 2 g ∇g); pass diffusion_dx= to fp.CustomSDE"
            )
            raise ValueError(msg) from None


def sample_reverse(
    sde: SDE,
    score: Callable[[FloatArray, float], Any],
    x_T: Any,
    *,
    t_start: float | None = None,
    t_end: float | None = None,
    n_steps: int | None = None,
    method: str = "euler-maruyama",
    seed: Any = 0,
    save_at: Any = None,
    snr: float = 0.16,
    n_corrector: int = 1,
    eta: float = 0.0,
    s_churn: float = 40.0,
    s_tmin: float = 0.05,
    s_tmax: float = 50.0,
    s_noise: float = 1.0,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = 100_000,
    time_grid: str = "uniform",
    grid_options: dict[str, float] | None = None,
    times: Any = None,
    return_info: bool = False,
) -> Any:
    """Integrate samples backwards in time, from t_start to t_end, with a score s(x, t) ≈ ∇log p_t.

    Parameters
    ----------
    sde : SDE
        The forward SDE whose time reversal is sampled (its drift and diffusion are used).
    score : callable (x, t) -> ndarray
        x of shape (n, d) (always 2-D) and a float t; returns (n, d) (in 1-D (n,) is accepted).
        E.g. ``fp.exact_score(sde, p0)``, ``fp.grid_score(sol)`` or a wrapped network.
    x_T : array_like, shape (n, d), or (n,) in 1-D
        Samples at t_start (typically from the prior, or from the exact marginal at t_start to
        isolate the discretisation error).  Must be finite.
    t_start : float, optional
        Start time (default ``sde.T`` for diffusion-model SDEs, but ``t_max`` ≈ 0.998 T for the
        cosine VP schedule, where β(T) = ∞; else 1.0).
    t_end : float, optional
        End time, < t_start; > 0 for VP/sub-VP/VE and for the VP-family samplers (default 1e-3).
    n_steps : int >= 1
        Number of steps of the ``time_grid`` from t_start to t_end.  Required (or ``times``)
        except for the adaptive samplers, where it only sets the first trial step.
    method : str
        A key of ``fplab.reverse.SAMPLERS`` (``fplab list`` shows them with their order and
        requirements; default 'euler-maruyama').  Samplers whose ``requires`` holds 'vp-family',
        'vp' or 'linear' apply to VP/sub-VP, VP, or linear SDEs only.
    seed : int or numpy Generator
        Randomness of the stochastic samplers; the result is a function of the seed alone.
    save_at : sequence of float, optional
        Times in [t_end, t_start] at which to record the samples (inserted as grid nodes).
    snr : float > 0
        Signal-to-noise ratio of the Langevin corrector ('predictor-corrector'; default 0.16).
    n_corrector : int >= 0
        Corrector steps per predictor step ('predictor-corrector'; default 1).
    eta : float in [0, 1]
        Noise level of 'ddim' (0 = deterministic) and of 'eta-family' (0 = probability-flow
        ODE, 1 = reverse SDE; the noise amplitude η g of dx = [f - ½(1 + η²) g² s] dt + η g dW̄).
    s_churn, s_tmin, s_tmax, s_noise : float >= 0
        Churn of 'edm-stochastic' (Karras et al. 2022, Alg. 2): γ = min(s_churn/N, √2 - 1) on
        noise levels σ/α in [s_tmin, s_tmax], fresh noise scaled by s_noise (defaults 40, 0.05,
        50, 1).
    rtol, atol : float > 0, optional
        Error tolerances of the adaptive samplers; defaults from the sampler's
        ``default_tolerances``: (1e-6, 1e-9) for 'pf-ode-adaptive', (0.05, 0.0078) for
        'adaptive-sde' (Jolicoeur-Martineau et al.'s values).
    max_steps : int
        Step budget of the adaptive samplers; exceeding it raises ``NumericalError``.
    time_grid : str
        A key of ``fplab.reverse.TIME_GRIDS``, the spacing of the n_steps + 1 nodes: 'uniform' in t
        (default), 'quadratic' (uniform in √t), and for linear SDEs, in terms of the marginal
        X_t = α_t X_0 + σ_t Z: 'log-snr' (uniform in λ = log(α_t/σ_t), DPM-Solver's grid),
        'sigma-uniform' (uniform in σ_t/α_t: σ for VE) and 'karras' (Karras et al. 2022, eq. 5).
    grid_options : dict, optional
        Parameters of the time grid: ``{"rho": ρ}`` for 'karras' (ρ > 0, default 7).
    times : array_like of float, shape (m,), optional
        An explicit grid instead of ``n_steps``/``time_grid``: m >= 2 finite, strictly decreasing
        nodes, times[0] = t_start (inside the SDE's horizon) and times[-1] = t_end.  Passing
        ``np.linspace(t_start, t_end, n + 1)`` gives bit-identical results to ``n_steps=n``.
    return_info : bool
        Also return a :class:`SampleInfo` (score evaluations, steps, rejections, time nodes).

    Returns
    -------
    x : ndarray of float64, shape (n, d) (or (n,) for (n,)-shaped x_T)
        The samples at t_end; with ``save_at``, an array of shape (len(save_at), n, d) (or
        (len(save_at), n)) holding the samples at those times, in the order given.
    info : SampleInfo
        Only with ``return_info=True``: ``(x, info)``.

    Raises
    ------
    ValueError
        Unknown ``method`` (the message lists the choices), a method that does not apply to the
        SDE, non-finite ``x_T``, ``n_steps`` < 1, t_end >= t_start, t_end <= 0 where t > 0 is
        needed, a score of the wrong shape, ``save_at`` outside [t_end, t_start], an unknown
        ``time_grid`` or grid option, ρ <= 0, ``times`` not finite and strictly decreasing or
        outside the horizon, ``eta`` outside [0, 1].
    TypeError
        ``times`` together with ``t_start``/``t_end``/``n_steps``/``time_grid``.
    ScoreValueError
        (a ``ValueError`` and ``fplab.NumericalError``) the score returned NaN/inf.
    NumericalError
        The samples became non-finite (step too large) or the adaptive solver exceeded max_steps.
    """
    sampler = SAMPLERS.get(method)
    _check_applicable(sde, sampler, method)
    x, flat = as_samples(x_T, sde.dim, "x_T")
    if not callable(score):
        msg = f"score must be a callable s(x, t) -> (n, d), got {type(score).__name__}"
        raise TypeError(msg)
    explicit = _check_explicit_times(times, sampler, method, t_start, t_end, n_steps)
    if explicit is not None:
        if time_grid != "uniform" or grid_options is not None:
            msg = (
                f"times= is the grid itself; drop time_grid={time_grid!r}/grid_options (they "
                "build a grid from n_steps)"
            )
            raise TypeError(msg)
        t_start, t_end, n_steps = float(explicit[0]), float(explicit[-1]), explicit.shape[0] - 1
    t0, t1 = _check_times(sde, sampler, method, t_start, 1e-3 if t_end is None else t_end)
    if n_steps is None:
        if not sampler.adaptive:
            msg = f"n_steps is required for method {method!r}: pass n_steps=<int >= 1> or times="
            raise TypeError(msg)
    else:
        n_steps = check_int(n_steps, "n_steps", minimum=1)
        check_memory(8.0 * 4 * (n_steps + 1), "n_steps", n_steps)  # the time grid and its copies
    grid, grid_kw = _check_time_grid(sde, time_grid, grid_options, t1)
    save = _check_save_at(save_at, t0, t1)
    eta_v = check_real(eta, "eta")
    if not 0.0 <= eta_v <= 1.0:
        msg = (
            f"eta must lie in [0, 1] (ddim: 0 deterministic, 1 DDPM-like; eta-family: 0 the "
            f"probability-flow ODE, 1 the reverse SDE), got {eta_v}"
        )
        raise ValueError(msg)
    # the tolerances' defaults belong to the adaptive sampler (an ODE and an SDE error differ)
    sampler_tol = getattr(sampler, "default_tolerances", (1e-6, 1e-9))
    churn = _check_churn(s_churn, s_tmin, s_tmax, s_noise)
    ctx = StepContext(
        sde=sde,
        score=_CheckedScore(score, *x.shape),
        snr=check_positive(snr, "snr"),
        n_corrector=check_int(n_corrector, "n_corrector", minimum=0),
        eta=eta_v,
        rtol=sampler_tol[0] if rtol is None else check_positive(rtol, "rtol"),
        atol=sampler_tol[1] if atol is None else check_positive(atol, "atol"),
        max_steps=check_int(max_steps, "max_steps", minimum=1),
        h_init=None if n_steps is None else (t0 - t1) / n_steps,
        n_steps=n_steps,
        s_churn=churn["s_churn"],
        s_tmin=churn["s_tmin"],
        s_tmax=churn["s_tmax"],
        s_noise=churn["s_noise"],
    )
    rng = as_rng(seed)
    if explicit is not None:
        base = explicit
    elif sampler.adaptive or n_steps is None:
        base = np.array([t0, t1])
    else:
        base = grid(ctx, t0, t1, n_steps, **grid_kw)
        if not np.all(np.diff(base) < 0.0):
            msg = (
                f"time_grid={time_grid!r} with n_steps={n_steps} gives repeated nodes between "
                f"t_start={t0} and t_end={t1} (the steps are below round-off); use fewer steps"
            )
            raise ValueError(msg)
    nodes, save_idx = _time_nodes(base, save)
    saved: dict[int, FloatArray] = {0: x.copy()} if 0 in save_idx else {}
    # no samples, nothing to move (and the samplers' batch norms would be undefined)
    for k in range(nodes.shape[0] - 1 if x.shape[0] else 0):
        try:
            x = sampler(ctx, x, float(nodes[k]), float(nodes[k + 1]), rng)
        except Exception as exc:  # say where: a plugin's bare "RuntimeError: boom" names nothing
            exc.add_note(
                f"in fp.sample_reverse: method {method!r}, step {k + 1} of "
                f"{nodes.shape[0] - 1}, t={nodes[k]:.6g} -> {nodes[k + 1]:.6g}"
            )
            raise
        if not sampler.adaptive:
            ctx.n_accepted += 1
        if not np.all(np.isfinite(x)):
            msg = (
                f"method {method!r} produced non-finite samples at t={nodes[k + 1]:.6g} "
                f"(step {k + 1} of {nodes.shape[0] - 1}); increase n_steps or check the score"
            )
            raise NumericalError(msg)
        if k + 1 in save_idx:
            saved[k + 1] = x.copy()
    if not x.shape[0]:
        saved = dict.fromkeys(save_idx, x)
    if save.size:
        out = np.stack([restore_shape(saved[i], flat) for i in save_idx])
    else:
        out = restore_shape(x, flat)
    if not return_info:
        return out
    checked = ctx.score
    assert isinstance(checked, _CheckedScore)
    info = SampleInfo(method, checked.n_evals, ctx.n_accepted, ctx.n_rejected, nodes)
    return out, info


def _check_churn(s_churn: Any, s_tmin: Any, s_tmax: Any, s_noise: Any) -> dict[str, float]:
    """The EDM churn options, each a finite number >= 0 (and s_tmin <= s_tmax)."""
    out = {}
    for name, value in (
        ("s_churn", s_churn),
        ("s_tmin", s_tmin),
        ("s_tmax", s_tmax),
        ("s_noise", s_noise),
    ):
        v = check_real(value, name)
        if v < 0.0:
            msg = f"{name} must be >= 0 (edm-stochastic churn, Karras et al. 2022), got {v}"
            raise ValueError(msg)
        out[name] = v
    if out["s_tmin"] > out["s_tmax"]:
        msg = f"s_tmin must be <= s_tmax, got s_tmin={out['s_tmin']}, s_tmax={out['s_tmax']}"
        raise ValueError(msg)
    return out


def _check_explicit_times(
    times: Any, sampler: Sampler, method: str, t_start: Any, t_end: Any, n_steps: Any
) -> FloatArray | None:
    """``times`` as a float64 array of m >= 2 finite, strictly decreasing nodes (None if unset)."""
    if times is None:
        return None
    for name, value in (("t_start", t_start), ("t_end", t_end), ("n_steps", n_steps)):
        if value is not None:
            msg = (
                f"pass either times= or {name}= (times[0] is t_start, times[-1] is t_end and "
                f"len(times) - 1 is n_steps), got both"
            )
            raise TypeError(msg)
    if sampler.adaptive:
        msg = f"method {method!r} chooses its own steps; times= is for the fixed-step samplers"
        raise ValueError(msg)
    try:
        arr = np.array(times, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"times must be a 1-D sequence of floats, got {type(times).__name__}"
        raise TypeError(msg) from err
    if arr.ndim != 1 or arr.shape[0] < 2:
        msg = f"times must be a 1-D sequence of at least 2 times, got shape {arr.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"times must be finite, got {arr[~np.isfinite(arr)].tolist()}"
        raise ValueError(msg)
    steps = np.diff(arr)
    if not np.all(steps < 0.0):
        k = int(np.argmax(steps >= 0.0))
        msg = (
            f"times must be strictly decreasing (sampling runs from t_start = times[0] down to "
            f"t_end = times[-1]), got times[{k}]={arr[k]} <= times[{k + 1}]={arr[k + 1]}"
        )
        raise ValueError(msg)
    return arr


def _check_time_grid(
    sde: SDE, time_grid: Any, grid_options: Any, t_end: float
) -> tuple[Any, dict[str, float]]:
    """The ``TIME_GRIDS`` entry and its validated keyword options."""
    grid = TIME_GRIDS.get(time_grid)
    if grid.linear and not isinstance(sde, LinearSDE):
        linear = ", ".join(repr(k) for k, g in TIME_GRIDS.items() if not g.linear)
        msg = (
            f"time_grid={time_grid!r} needs a linear SDE (OU, Heat, VP, VE, SubVP) whose marginal "
            f"α_t X_0 + σ_t Z defines its noise levels, got {type(sde).__name__}; use one of {linear}"
        )
        raise ValueError(msg)
    if time_grid == "log-snr" and t_end <= 0.0:
        msg = f"time_grid='log-snr' needs t_end > 0 (λ = +inf at t = 0), got t_end={t_end}"
        raise ValueError(msg)
    if grid_options is None:
        return grid, {}
    if not isinstance(grid_options, dict):
        msg = (
            f"grid_options must be a dict such as {{'rho': 7.0}}, got {type(grid_options).__name__}"
        )
        raise TypeError(msg)
    out: dict[str, float] = {}
    for key, value in grid_options.items():
        if key not in grid.options:
            allowed = ", ".join(repr(k) for k in grid.options) or "none"
            msg = (
                f"grid_options: unknown key {key!r} for time_grid={time_grid!r}; allowed: {allowed}"
            )
            raise ValueError(msg)
        v = check_real(value, f"grid_options[{key!r}]")
        if not (math.isfinite(v) and v > 0.0):
            msg = f"grid_options[{key!r}] must be a finite number > 0, got {value!r}"
            raise ValueError(msg)
        out[key] = v
    return grid, out


def _check_save_at(save_at: Any, t_start: float, t_end: float) -> FloatArray:
    """``save_at`` as a 1-D float array inside [t_end, t_start] (empty for None)."""
    if save_at is None:
        return np.empty(0)
    try:
        arr = np.atleast_1d(np.asarray(save_at, dtype=np.float64))
    except (TypeError, ValueError) as err:
        msg = f"save_at must be a sequence of times, got {type(save_at).__name__}"
        raise TypeError(msg) from err
    if arr.ndim != 1 or arr.size == 0:
        msg = f"save_at must be a non-empty 1-D sequence of times, got shape {arr.shape}"
        raise ValueError(msg)
    slack = 1e-12 * (t_start - t_end)
    bad = ~np.isfinite(arr) | (arr < t_end - slack) | (arr > t_start + slack)
    if np.any(bad):
        msg = (
            f"save_at times must lie in [t_end, t_start] = [{t_end}, {t_start}], "
            f"got {arr[bad].tolist()}"
        )
        raise ValueError(msg)
    return np.clip(arr, t_end, t_start)
