"""Time grids of the fixed-step reverse samplers: the registry ``TIME_GRIDS``.

A grid is n_steps + 1 strictly decreasing nodes t_start = τ_0 > τ_1 > ... > τ_N = t_end.  Every
entry is a function ``grid(ctx, t_start, t_end, n_steps, rho=...) -> ndarray (N + 1,)`` that
declares

    linear : bool            True when the grid is defined through the marginal X_t = α_t X_0 + σ_t Z
                             of a linear SDE (the noise level σ_t/α_t or λ_t = log(α_t/σ_t))
    options : dict           the keys it accepts in ``grid_options`` with their defaults

Noise-level grids are laid out in ς = σ_t/α_t = e^{-λ_t} (the noise-to-signal ratio: σ itself
for VE and heat, σ/α for VP, sub-VP and OU; α_t, σ_t from t = 0, so for VE ς = √(σ(t)² - σ_min²),
not ``sde.sigma(t)``) and mapped back to t by bracketed root finding on
the monotone ς(t); the end nodes are t_start and t_end themselves, so a grid never leaves the
requested interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from scipy import optimize

from fplab._registry import Registry
from fplab._typing import FloatArray

__all__ = ["TIME_GRIDS", "TimeGrid", "noise_ratio", "time_of_noise_ratio"]


class TimeGrid(Protocol):
    """A grid function with its declared properties."""

    linear: bool
    options: dict[str, float]
    registry_name: str

    def __call__(
        self, ctx: Any, t_start: float, t_end: float, n_steps: int, **options: float
    ) -> FloatArray: ...


#: every fixed-step time grid, by the key users pass as ``time_grid=``
TIME_GRIDS: Registry[TimeGrid] = Registry("time_grid")


def _grid(
    name: str, *, linear: bool, options: dict[str, float] | None = None
) -> Callable[[Callable[..., FloatArray]], TimeGrid]:
    def deco(fn: Callable[..., FloatArray]) -> TimeGrid:
        fn.linear = linear  # type: ignore[attr-defined]
        fn.options = dict(options or {})  # type: ignore[attr-defined]
        return TIME_GRIDS.register(name)(fn)  # type: ignore[arg-type,return-value]

    return deco


def noise_ratio(ctx: Any, t: float) -> float:
    """ς_t = σ_t / α_t of the forward marginal from time 0 (0 at t = 0), increasing in t."""
    a, sig = ctx.alpha_sigma(t)
    return sig / a


def time_of_noise_ratio(ctx: Any, value: float, lo: float, hi: float) -> float:
    """The t in [lo, hi] with ς_t = value (ς is monotone, so a bracketed root is unique)."""
    return float(
        optimize.brentq(lambda u: noise_ratio(ctx, u) - value, lo, hi, xtol=1e-15, rtol=1e-15)
    )


def _from_noise_levels(ctx: Any, levels: FloatArray, t_start: float, t_end: float) -> FloatArray:
    """Nodes whose noise ratios are ``levels`` (decreasing); the ends are t_start and t_end."""
    inner = [time_of_noise_ratio(ctx, float(v), t_end, t_start) for v in levels[1:-1]]
    return np.array([t_start, *inner, t_end])


@_grid("uniform", linear=False)
def uniform(ctx: Any, t_start: float, t_end: float, n_steps: int) -> FloatArray:
    """Uniform in t: τ_k = t_start + k (t_end - t_start)/N (``np.linspace``)."""
    return np.linspace(t_start, t_end, n_steps + 1)


@_grid("quadratic", linear=False)
def quadratic(ctx: Any, t_start: float, t_end: float, n_steps: int) -> FloatArray:
    """Uniform in √t: τ_k = (√t_start + k (√t_end - √t_start)/N)² (the 'time_quadratic' grid of
    Lu et al. 2022's code; steps shrink linearly towards t = 0, where the score varies fastest)."""
    r = np.linspace(math.sqrt(t_start), math.sqrt(t_end), n_steps + 1)
    out = r * r
    out[0], out[-1] = t_start, t_end  # exact ends despite the square of a square root
    return out


@_grid("log-snr", linear=True)
def log_snr(ctx: Any, t_start: float, t_end: float, n_steps: int) -> FloatArray:
    """Uniform in λ = log(α_t/σ_t) (the grid DPM-Solver is designed for; needs t_end > 0)."""
    lam = np.linspace(ctx.log_snr(t_start), ctx.log_snr(t_end), n_steps + 1)
    inner = [ctx.time_of_log_snr(float(v), t_end, t_start) for v in lam[1:-1]]
    return np.array([t_start, *inner, t_end])


@_grid("sigma-uniform", linear=True)
def sigma_uniform(ctx: Any, t_start: float, t_end: float, n_steps: int) -> FloatArray:
    """Uniform in the noise level ς = σ_t/α_t (σ for VE and heat, σ/α for the VP family and OU)."""
    levels = np.linspace(noise_ratio(ctx, t_start), noise_ratio(ctx, t_end), n_steps + 1)
    return _from_noise_levels(ctx, levels, t_start, t_end)


@_grid("karras", linear=True, options={"rho": 7.0})
def karras(ctx: Any, t_start: float, t_end: float, n_steps: int, rho: float = 7.0) -> FloatArray:
    """Karras et al. (2022, eq. 5) in ς = σ/α: ς_k = (ς_max^{1/ρ} + k/N (ς_min^{1/ρ} - ς_max^{1/ρ}))^ρ.

    ρ = 1 is ``sigma-uniform``; ρ -> ∞ tends to uniform in log ς, i.e. ``log-snr``; EDM uses ρ = 7.
    """
    top, bottom = noise_ratio(ctx, t_start), noise_ratio(ctx, t_end)
    # ς_max ((1 - u) + u (ς_min/ς_max)^{1/ρ})^ρ: eq. 5 with ς_max^{1/ρ} factored out, so a small
    # ρ cannot overflow (ς_max^{1/ρ} does for ρ = 1e-3); the clip absorbs round-off at the ends
    u = np.linspace(0.0, 1.0, n_steps + 1)
    levels = top * ((1.0 - u) + u * (bottom / top) ** (1.0 / rho)) ** rho
    return _from_noise_levels(ctx, np.clip(levels, bottom, top), t_start, t_end)
