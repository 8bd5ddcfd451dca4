"""Noise schedules β(t) of the VP and sub-VP SDEs, each with its exact integral B(t) = ∫_0^t β.

The exact integral is what keeps the marginals closed-form: the VP transition from s to t has
mean factor exp(-(B(t) - B(s))/2) and variance 1 - exp(-(B(t) - B(s))).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fplab._registry import Registry
from fplab._typing import FloatArray

__all__ = ["SCHEDULES", "Schedule", "check_usable_time"]

SCHEDULES: Registry[type[Schedule]] = Registry("schedule")


class Schedule:
    """β(t) on [0, T] with its exact integral.  Subclasses implement ``beta`` and ``integral``."""

    def __init__(self, beta_min: float, beta_max: float, T: float) -> None:
        self.beta_min = beta_min
        self.beta_max = beta_max
        self.T = T

    def beta(self, t: Any) -> FloatArray:
        """β(t), vectorised."""
        raise NotImplementedError

    def integral(self, t: Any) -> FloatArray:
        """B(t) = ∫_0^t β(u) du, vectorised."""
        raise NotImplementedError


@SCHEDULES.register("linear")
class LinearSchedule(Schedule):
    """β(t) = β_min + (t/T)(β_max - β_min)  (Song et al. 2021, Ho et al. 2020 in continuous time)."""

    def beta(self, t: Any) -> FloatArray:
        u = np.asarray(t, dtype=np.float64) / self.T
        return self.beta_min + u * (self.beta_max - self.beta_min)

    def integral(self, t: Any) -> FloatArray:
        tt = np.asarray(t, dtype=np.float64)
        return self.beta_min * tt + 0.5 * (self.beta_max - self.beta_min) * tt**2 / self.T


@SCHEDULES.register("quadratic")
class QuadraticSchedule(Schedule):
    """β(t) = (√β_min + (t/T)(√β_max - √β_min))²  (the 'quadratic' schedule of DDPM codebases)."""

    def beta(self, t: Any) -> FloatArray:
        u = np.asarray(t, dtype=np.float64) / self.T
        s0, s1 = math.sqrt(self.beta_min), math.sqrt(self.beta_max)
        return (s0 + u * (s1 - s0)) ** 2

    def integral(self, t: Any) -> FloatArray:
        tt = np.asarray(t, dtype=np.float64)
        s0 = math.sqrt(self.beta_min)
        r = (math.sqrt(self.beta_max) - s0) / self.T
        return s0 * s0 * tt + s0 * r * tt**2 + r * r * tt**3 / 3.0


@SCHEDULES.register("cosine")
class CosineSchedule(Schedule):
    """Nichol & Dhariwal (2021) cosine schedule in continuous time.

    ᾱ(t) = f(t/T)/f(0), f(τ) = cos²((τ + s)/(1 + s) · π/2), s = 0.008, so B(t) = -log ᾱ(t) and
    β(t) = dB/dt = π tan((t/T + s)/(1 + s) · π/2) / (T (1 + s)).

    Notes
    -----
    ᾱ(T) = 0 and β(T) = ∞ in exact arithmetic (in floating point ᾱ(T) ≈ 4e-33, β(T) ≈ 1.6e16).
    Samplers and solvers should stop short of T: ``t_max`` ≈ 0.99798 T is where β reaches
    999/T (the cap DPM-Solver uses for this schedule, Lu et al. 2022).  ``beta_min``/``beta_max``
    do not enter.
    """

    s = 0.008

    def __init__(self, beta_min: float, beta_max: float, T: float) -> None:
        super().__init__(beta_min, beta_max, T)
        self._log_f0 = math.log(math.cos(self.s / (1.0 + self.s) * math.pi / 2.0))
        #: recommended end of the usable time range (β(t_max) = 999/T)
        self.t_max = T * (
            math.atan(999.0 * (1.0 + self.s) / math.pi) * 2.0 * (1.0 + self.s) / math.pi - self.s
        )

    def _angle(self, t: Any) -> FloatArray:
        tau = np.asarray(t, dtype=np.float64) / self.T
        if np.any(tau > 1.0):
            msg = (
                f"the cosine schedule is defined for t in [0, T] = [0, {self.T:g}] (ᾱ(T) = 0), "
                f"got t = {float(np.max(tau)) * self.T:g}; stop at or before T (t_max = "
                f"{self.t_max:.6g} is the usual end)"
            )
            raise ValueError(msg)
        return (tau + self.s) / (1.0 + self.s) * (math.pi / 2.0)

    def beta(self, t: Any) -> FloatArray:
        return math.pi * np.tan(self._angle(t)) / (self.T * (1.0 + self.s))

    def integral(self, t: Any) -> FloatArray:
        return -2.0 * (np.log(np.cos(self._angle(t))) - self._log_f0)


def check_horizon(sde: Any, t: float, name: str) -> None:
    """The one horizon rule: an SDE with a horizon ``T`` (VP, SubVP, VE) is defined on [0, T] only.

    Its schedule (β(t) or σ(t)) is a design choice on [0, T]; a time outside it would be silently
    extrapolated (VE to t = 3 T has std ~1e9), so every entry point (exact laws and scores, grid
    solver, Monte Carlo, reverse samplers, ``drift``/``diffusion``) refuses it, naming ``name``.
    SDEs without a horizon (``T is None``: OU, Heat, GBM, DoubleWell, custom) are defined for all
    t and pass.  A relative slack of 1e-12 lets time grids that land on T by summation pass.
    """
    horizon = getattr(sde, "T", None)
    if horizon is None:
        return
    if t > horizon * (1.0 + 1e-12) or t < -1e-12 * horizon:
        msg = (
            f"{name}={t:g} lies outside the time range [0, T] = [0, {horizon:g}] on which "
            f"{type(sde).__name__} is defined; allowed: 0 <= {name} <= {horizon:g} "
            f"(or build the SDE with a larger T)"
        )
        raise ValueError(msg)


def check_usable_time(sde: Any, t: float, name: str, hint: str = "") -> None:
    """Refuse a time past the horizon (:func:`check_horizon`) or past the usable end of ``sde``'s
    schedule (the cosine schedule's t_max).

    β(t) ~ 2/(T - t) near T for the cosine schedule, so β h reaches 2 on the last step of any
    step-based integrator that touches T, whatever the step: Euler–Maruyama's variance then
    tends to 2 instead of 1 and higher-order stages evaluate β ≈ 1e16.  Schedules without a
    singularity have no t_max and pass.
    """
    check_horizon(sde, t, name)
    t_max = getattr(getattr(sde, "_schedule", None), "t_max", None)
    if t_max is None or t <= t_max * (1.0 + 1e-12):
        return
    msg = (
        f"{name}={t:g} lies past the cosine schedule's usable end t_max = {t_max:.6g} "
        f"(β(t) -> ∞ as t -> T = {sde.T:g}, so steps that reach T are wrong at any step size); "
        f"pass {name} <= t_max{hint}"
    )
    raise ValueError(msg)
