"""Linear SDEs: dX = (a(t) X + b(t)) dt + g(t) dW.  Their transitions are Gaussian in closed form.

X_t | X_s ~ N(m X_s + c, v I) with
    m(s, t) = exp(∫_s^t a),   c(s, t) = ∫_s^t exp(∫_u^t a) b(u) du,
    v(s, t) = ∫_s^t exp(2 ∫_u^t a) g(u)^2 du,
which is what makes ``fplab.exact_marginal`` exact for Gaussian-mixture initial laws.  Each class
gives closed forms; :meth:`LinearSDE.transition` falls back to quadrature for a new linear SDE that
only defines a, b and g².
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_nonnegative, check_positive, check_real
from fplab.sdes.base import SDE, SDES, PolyCoefficients
from fplab.sdes.schedules import SCHEDULES, Schedule

__all__ = ["OU", "VE", "VP", "Heat", "LinearSDE", "SubVP", "linear_sde_names"]


def linear_sde_names() -> str:
    """The registered linear SDEs' class names, e.g. ``"Heat, OU, SubVP, VE, VP"`` (for messages;
    derived from ``SDES``, so a new linear SDE or a plugin one is named too)."""
    return ", ".join(
        cls.__name__
        for _, cls in SDES.items()
        if isinstance(cls, type) and issubclass(cls, LinearSDE)
    )


class LinearSDE(SDE):
    """dX = (a(t) X + b(t)) dt + g(t) dW, isotropic a and g; b of shape (d,) or scalar."""

    linear = True
    additive = True

    # -- coefficients (vectorised over t) ------------------------------------------------------
    def a(self, t: Any) -> FloatArray:
        """a(t), same shape as t."""
        raise NotImplementedError

    def b(self, t: Any) -> FloatArray:
        """b(t), shape t.shape + (d_b,) with d_b = 1 (broadcast) or d."""
        return np.zeros((*np.shape(t), 1))

    def g2(self, t: Any) -> FloatArray:
        """g(t)^2, same shape as t."""
        raise NotImplementedError

    # -- transitions --------------------------------------------------------------------------
    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        """(m, c, v) with X_t | X_s ~ N(m X_s + c, v I); c has shape (d_b,).

        Default: adaptive quadrature of the formulas in the module docstring (rtol 1e-12).
        """

        from scipy import integrate  # lazy: scipy.integrate costs ~0.6 s to import

        def A(u0: float, u1: float) -> float:  # ∫_{u0}^{u1} a
            return integrate.quad(lambda u: float(self.a(u)), u0, u1, epsabs=0, epsrel=1e-13)[0]

        m = math.exp(A(s, t))
        v = integrate.quad(
            lambda u: math.exp(2 * A(u, t)) * float(self.g2(u)), s, t, epsabs=0, epsrel=1e-12
        )[0]
        b0 = np.atleast_1d(self.b(s))
        c = np.array(
            [
                integrate.quad(
                    lambda u, i=i: math.exp(A(u, t)) * float(np.atleast_1d(self.b(u))[i]), s, t
                )[0]
                for i in range(b0.shape[-1])
            ]
        )
        return m, c, v

    def marginal_coefficients(self, t: float, t0: float = 0.0) -> tuple[float, float]:
        """(α_t, σ_t): X_t = α_t X_{t0} + c + σ_t Z — the mean factor and noise std used by
        diffusion-model parameterisations (s = -ε/σ_t)."""
        m, _, v = self.transition(t0, t)
        return m, math.sqrt(v)

    def _check_time(self, s: float, t: float) -> None:
        if t < s:
            msg = f"transition needs s <= t, got s={s}, t={t}"
            raise ValueError(msg)

    # -- SDE hooks ----------------------------------------------------------------------------
    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        return float(self.a(t)) * x + self.b(t)

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        return np.full(x.shape[0], math.sqrt(float(self.g2(t))))

    def poly_coefficients(self, times: Any, d: int = 1) -> PolyCoefficients:
        tt = np.ascontiguousarray(np.atleast_1d(np.asarray(times, dtype=np.float64)))
        zeros = np.zeros_like(tt)
        b = np.ascontiguousarray(np.broadcast_to(self.b(tt), (tt.shape[0], d)), dtype=np.float64)
        return PolyCoefficients(
            times=tt,
            a=np.ascontiguousarray(np.broadcast_to(self.a(tt), tt.shape), dtype=np.float64),
            b=b,
            c=zeros.copy(),
            g0=np.sqrt(np.broadcast_to(self.g2(tt), tt.shape)).astype(np.float64),
            g1=zeros.copy(),
        )


@SDES.register("ou")
class OU(LinearSDE):
    """Ornstein–Uhlenbeck: dX = θ (μ - X) dt + σ dW.

    Parameters
    ----------
    theta : float >= 0   mean-reversion rate (0 gives Brownian motion with variance σ² t)
    mu : float or sequence of float   long-run mean (a sequence of length d for d-D means)
    sigma : float > 0    noise amplitude; the stationary law is N(μ, σ²/(2θ) I)
    """

    def __init__(self, theta: float = 1.0, mu: Any = 0.0, sigma: float = 2**0.5) -> None:
        self.theta = check_nonnegative(theta, "theta")
        if isinstance(mu, list | tuple | np.ndarray):
            self.mu: Any = tuple(check_real(v, "mu") for v in mu)
        else:
            self.mu = check_real(mu, "mu")
        self.sigma = check_positive(sigma, "sigma")
        self._mu = np.atleast_1d(np.asarray(self.mu, dtype=np.float64))
        if isinstance(self.mu, tuple):
            self.dim = len(self.mu)  # type: ignore[misc]  # a vector mean fixes d

    def params(self) -> dict[str, Any]:
        return {
            "theta": self.theta,
            "mu": list(self.mu) if isinstance(self.mu, tuple) else self.mu,
            "sigma": self.sigma,
        }

    def a(self, t: Any) -> FloatArray:
        return np.full(np.shape(t), -self.theta)

    def b(self, t: Any) -> FloatArray:
        return np.broadcast_to(self.theta * self._mu, np.shape(t) + self._mu.shape).copy()

    def g2(self, t: Any) -> FloatArray:
        return np.full(np.shape(t), self.sigma**2)

    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        self._check_time(s, t)
        dt = t - s
        m = math.exp(-self.theta * dt)
        # v = σ²(1 - e^{-2θΔ})/(2θ) written with expm1 so that θΔ -> 0 keeps full precision
        v = (
            self.sigma**2 * dt
            if self.theta == 0
            else self.sigma**2 * -math.expm1(-2 * self.theta * dt) / (2 * self.theta)
        )
        c = self._mu * -math.expm1(-self.theta * dt)
        return m, c, v


@SDES.register("heat")
class Heat(LinearSDE):
    """Brownian motion scaled so that its density solves the heat equation ∂p/∂t = D Δp:
    dX = √(2D) dW."""

    def __init__(self, D: float = 1.0) -> None:
        self.D = check_positive(D, "D")

    def params(self) -> dict[str, Any]:
        return {"D": self.D}

    def a(self, t: Any) -> FloatArray:
        return np.zeros(np.shape(t))

    def g2(self, t: Any) -> FloatArray:
        return np.full(np.shape(t), 2.0 * self.D)

    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        self._check_time(s, t)
        return 1.0, np.zeros(1), 2.0 * self.D * (t - s)


class _BetaSDE(LinearSDE):
    """Shared by VP and sub-VP: drift -β(t) X / 2 with a schedule from ``SCHEDULES``."""

    autonomous = False

    def __init__(
        self,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        T: float = 1.0,
        schedule: str = "linear",
    ) -> None:
        self.beta_min = check_nonnegative(beta_min, "beta_min")
        self.beta_max = check_positive(beta_max, "beta_max")
        if self.beta_max < self.beta_min:
            msg = f"beta_max must be >= beta_min, got beta_min={beta_min}, beta_max={beta_max}"
            raise ValueError(msg)
        self.T = check_positive(T, "T")
        self.schedule = schedule
        self._schedule: Schedule = SCHEDULES.get(schedule)(self.beta_min, self.beta_max, self.T)

    def params(self) -> dict[str, Any]:
        return {
            "beta_min": self.beta_min,
            "beta_max": self.beta_max,
            "T": self.T,
            "schedule": self.schedule,
        }

    def beta(self, t: Any) -> FloatArray:
        """β(t), vectorised."""
        return self._schedule.beta(t)

    def int_beta(self, s: Any, t: Any) -> FloatArray:
        """∫_s^t β(u) du (exact)."""
        return self._schedule.integral(t) - self._schedule.integral(s)

    def a(self, t: Any) -> FloatArray:
        return -0.5 * self._schedule.beta(t)

    def alpha_bar(self, t: Any) -> FloatArray:
        """ᾱ(t) = exp(-∫_0^t β): the squared mean factor of the forward marginal."""
        return np.exp(-self._schedule.integral(t))


@SDES.register("vp")
class VP(_BetaSDE):
    """Variance-preserving SDE (Song et al. 2021): dX = -β(t) X / 2 dt + √β(t) dW.

    Parameters
    ----------
    beta_min, beta_max : float   schedule end points (linear: β(0) = β_min, β(T) = β_max)
    T : float                    time horizon
    schedule : str               'linear' (default), 'cosine' or 'quadratic' (``SCHEDULES``)

    Notes
    -----
    Transition s -> t: m = exp(-ΔB/2), v = 1 - exp(-ΔB), ΔB = ∫_s^t β (exact).
    """

    def g2(self, t: Any) -> FloatArray:
        return self._schedule.beta(t)

    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        self._check_time(s, t)
        db = float(self.int_beta(s, t))
        return math.exp(-0.5 * db), np.zeros(1), -math.expm1(-db)


@SDES.register("sub-vp")
class SubVP(_BetaSDE):
    """Sub-VP SDE (Song et al. 2021): VP drift, g(t)² = β(t) (1 - exp(-2 ∫_0^t β)).

    Notes
    -----
    Transition s -> t (B = ∫_0 β): m = exp(-(B_t - B_s)/2),
    v = 1 - e^{-(B_t - B_s)} - e^{-(B_t + B_s)} + e^{-2 B_t} = (1 - e^{-(B_t - B_s)})(1 - e^{-(B_t + B_s)})
    (computed in the product form with expm1); from s = 0 this is (1 - e^{-B_t})².
    """

    def g2(self, t: Any) -> FloatArray:
        return self._schedule.beta(t) * -np.expm1(-2.0 * self._schedule.integral(t))

    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        self._check_time(s, t)
        bs = float(self._schedule.integral(s))
        bt = float(self._schedule.integral(t))
        db = float(self.int_beta(s, t))
        # the same v as a product of two negative factors: no cancellation as t -> s -> 0, where
        # the sum of the three exponentials lost all digits (and reached 0) below t ~ 1e-7
        v = math.expm1(-db) * math.expm1(-(bt + bs))
        return math.exp(-0.5 * db), np.zeros(1), v


@SDES.register("ve")
class VE(LinearSDE):
    """Variance-exploding SDE (Song et al. 2021): dX = √(dσ²/dt) dW, σ(t) = σ_min (σ_max/σ_min)^{t/T}.

    Notes
    -----
    g(t)² = 2 σ(t)² log(σ_max/σ_min) / T.  The transition s -> t adds variance σ(t)² - σ(s)²;
    from t = 0 that is σ(t)² - σ_min², not σ(t)².
    """

    autonomous = False

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0) -> None:
        self.sigma_min = check_positive(sigma_min, "sigma_min")
        self.sigma_max = check_positive(sigma_max, "sigma_max")
        if self.sigma_max <= self.sigma_min:
            msg = f"sigma_max must be > sigma_min, got sigma_min={sigma_min}, sigma_max={sigma_max}"
            raise ValueError(msg)
        self.T = check_positive(T, "T")
        self._T: float = self.T
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def params(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "T": self.T}

    def sigma(self, t: Any) -> FloatArray:
        """σ(t) = σ_min (σ_max/σ_min)^{t/T}."""
        return self.sigma_min * np.exp(np.asarray(t, dtype=np.float64) / self._T * self._log_ratio)

    def a(self, t: Any) -> FloatArray:
        return np.zeros(np.shape(t))

    def g2(self, t: Any) -> FloatArray:
        return 2.0 * self.sigma(t) ** 2 * self._log_ratio / self._T

    def transition(self, s: float, t: float) -> tuple[float, FloatArray, float]:
        self._check_time(s, t)
        # σ(t)² - σ(s)² = σ(s)² (exp(2 log(r) (t - s)/T) - 1), expm1 for small steps
        v = float(self.sigma(s)) ** 2 * math.expm1(2.0 * self._log_ratio * (t - s) / self._T)
        return 1.0, np.zeros(1), v
