"""SDEs with no Gaussian closed form: geometric Brownian motion, the double well, user SDEs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_positive, check_real
from fplab.sdes.base import SDE, SDES, PolyCoefficients

__all__ = ["GBM", "BoundedSDE", "CustomSDE", "DoubleWell", "RotatingOU"]


@SDES.register("gbm")
class GBM(SDE):
    """Geometric Brownian motion (1-D, multiplicative noise): dX = μ X dt + σ X dW.

    Pathwise solution X_t = X_0 exp((μ - σ²/2) t + σ W_t), so a log-normal X_0 stays log-normal
    (``fplab.exact_marginal``).  ∂g/∂x = σ (Milstein's correction term).
    """

    dim = 1
    additive = False
    linear = False

    def __init__(self, mu: float = 0.05, sigma: float = 0.4) -> None:
        self.mu = check_real(mu, "mu")
        self.sigma = check_positive(sigma, "sigma")

    def params(self) -> dict[str, Any]:
        return {"mu": self.mu, "sigma": self.sigma}

    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        return self.mu * x

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        return self.sigma * x[:, 0]

    def _diffusion_dx(self, x: FloatArray, t: float) -> FloatArray:
        return np.full_like(x, self.sigma)

    def exact_solution(self, x0: Any, t: float, w: Any) -> FloatArray:
        """Pathwise solution X_t = X_0 exp((μ - σ²/2) t + σ W_t) given W_t (same shape as x0)."""
        return np.asarray(x0) * np.exp(
            (self.mu - 0.5 * self.sigma**2) * t + self.sigma * np.asarray(w)
        )

    def poly_coefficients(self, times: Any, d: int = 1) -> PolyCoefficients:
        tt = np.ascontiguousarray(np.atleast_1d(np.asarray(times, dtype=np.float64)))
        z = np.zeros_like(tt)
        return PolyCoefficients(
            tt, z + self.mu, np.zeros((tt.shape[0], d)), z.copy(), z.copy(), z + self.sigma
        )


@SDES.register("double-well")
class DoubleWell(SDE):
    """Double-well (bistable) SDE, componentwise in any d: dX = (X - X³) dt + σ dW.

    The drift is -∇V with V(x) = Σ_i (x_i⁴/4 - x_i²/2), so the stationary density is
    p_∞(x) ∝ exp(-2 V(x)/σ²) (:meth:`stationary_pdf`).
    """

    def __init__(self, sigma: float = 0.8) -> None:
        self.sigma = check_positive(sigma, "sigma")
        from scipy import integrate  # lazy: scipy.integrate costs ~0.6 s to import

        # normalising constant of the 1-D factor exp(-2V/σ²), by adaptive quadrature
        c = 2.0 / self.sigma**2
        self._log_z1 = math.log(
            integrate.quad(
                lambda x: math.exp(-c * (x**4 / 4 - x**2 / 2)), -np.inf, np.inf, epsrel=1e-13
            )[0]
        )

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        return x - x**3

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        return np.full(x.shape[0], self.sigma)

    def potential(self, x: FloatArray) -> FloatArray:
        """V(x) = Σ_i (x_i⁴/4 - x_i²/2); x of shape (n, d) -> (n,)."""
        return np.sum(x**4 / 4 - x**2 / 2, axis=1)

    def stationary_logpdf(self, x: Any) -> FloatArray:
        """log p_∞(x) = -2 V(x)/σ² - d log Z₁; x of shape (n, d) or (n,) -> (n,)."""
        from fplab._validate import as_samples

        xs, _ = as_samples(x)
        return -2.0 * self.potential(xs) / self.sigma**2 - xs.shape[1] * self._log_z1

    def stationary_pdf(self, x: Any) -> FloatArray:
        """p_∞(x), normalised; shape (n,)."""
        return np.exp(self.stationary_logpdf(x))

    def stationary_score(self, x: Any) -> FloatArray:
        """∇ log p_∞ = 2 f(x)/σ²."""
        return 2.0 * self.drift(x, 0.0) / self.sigma**2

    def poly_coefficients(self, times: Any, d: int = 1) -> PolyCoefficients:
        tt = np.ascontiguousarray(np.atleast_1d(np.asarray(times, dtype=np.float64)))
        z = np.zeros_like(tt)
        return PolyCoefficients(
            tt, z + 1.0, np.zeros((tt.shape[0], d)), z - 1.0, z + self.sigma, z.copy()
        )


@SDES.register("bounded")
class BoundedSDE(SDE):
    """The "bounded" SDE of tutorials, componentwise in any d: dX = -tanh(X) dt + σ dW.

    The drift is -∇V with V(x) = Σ_i log cosh x_i, bounded by 1 in size, so the process is
    recurrent but *not* confined: the stationary density is
    p_∞(x) = Π_i cosh(x_i)^(-2/σ²) / Z₁ with Z₁ = √π Γ(1/σ²) / Γ(1/σ² + 1/2)
    (∫ cosh^(-a) = B(a/2, 1/2)), which has full support; for σ = 1 it is ½ sech²(x) and
    P(|X_∞| > 1) = 1 - tanh 1 ≈ 0.238 per component (:meth:`stationary_mass_outside`).
    Additive noise; no polynomial form, so solvers use the NumPy path.
    """

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = check_positive(sigma, "sigma")
        a = 2.0 / self.sigma**2
        self._log_z1 = 0.5 * math.log(math.pi) + math.lgamma(a / 2) - math.lgamma(a / 2 + 0.5)

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        return -np.tanh(x)

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        return np.full(x.shape[0], self.sigma)

    def stationary_logpdf(self, x: Any) -> FloatArray:
        """log p_∞(x) = -(2/σ²) Σ_i log cosh x_i - d log Z₁; x of shape (n, d) or (n,) -> (n,)."""
        from fplab._validate import as_samples

        xs, _ = as_samples(x)
        # log cosh x = |x| + log1p(exp(-2|x|)) - log 2, without overflow for large |x|
        ax = np.abs(xs)
        logcosh = ax + np.log1p(np.exp(-2.0 * ax)) - math.log(2.0)
        return -2.0 / self.sigma**2 * logcosh.sum(axis=1) - xs.shape[1] * self._log_z1

    def stationary_pdf(self, x: Any) -> FloatArray:
        """p_∞(x), normalised; shape (n,)."""
        return np.exp(self.stationary_logpdf(x))

    def stationary_mass_outside(self, r: float = 1.0) -> float:
        """P(|X_i| > r) for one component under p_∞, by quadrature of the 1-D factor."""
        from scipy import integrate

        r = check_positive(r, "r")
        inside = integrate.quad(
            lambda u: float(self.stationary_pdf(np.array([u]))[0]), -r, r, epsabs=1e-14
        )[0]
        return 1.0 - inside


@SDES.register("rotating-ou")
class RotatingOU(SDE):
    """A 2-D non-gradient (irreversible) drift: dX = (-θ X + ω J X) dt + σ dW, J = [[0, -1], [1, 0]].

    The rotation ω J x is divergence-free and orthogonal to ∇|x|², so the stationary law is the
    same N(0, σ²/(2θ) I) as for ω = 0, but the stationary probability flux
    j = f p - ½ σ² ∇p = ω J x p_∞ circulates and is non-zero whenever ω ≠ 0
    (:meth:`stationary_flux`); the drift is a gradient only for ω = 0.
    """

    dim = 2

    def __init__(self, theta: float = 1.0, omega: float = 1.0, sigma: float = 2**0.5) -> None:
        self.theta = check_positive(theta, "theta")
        self.omega = check_real(omega, "omega")
        self.sigma = check_positive(sigma, "sigma")

    def params(self) -> dict[str, Any]:
        return {"theta": self.theta, "omega": self.omega, "sigma": self.sigma}

    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        rot = np.stack([-x[:, 1], x[:, 0]], axis=1)
        return -self.theta * x + self.omega * rot

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        return np.full(x.shape[0], self.sigma)

    @property
    def stationary_variance(self) -> float:
        """σ²/(2θ), the variance of each component of p_∞."""
        return self.sigma**2 / (2.0 * self.theta)

    def stationary_pdf(self, x: Any) -> FloatArray:
        """p_∞(x) = N(0, σ²/(2θ) I) density; x of shape (n, 2) -> (n,)."""
        xs, _ = self._state(x)
        v = self.stationary_variance
        return np.exp(-0.5 * np.sum(xs**2, axis=1) / v) / (2.0 * math.pi * v)

    def stationary_flux(self, x: Any) -> FloatArray:
        """j = f p_∞ - ½ σ² ∇p_∞ = ω J x p_∞(x); x of shape (n, 2) -> (n, 2)."""
        xs, _ = self._state(x)
        rot = np.stack([-xs[:, 1], xs[:, 0]], axis=1)
        return self.omega * rot * self.stationary_pdf(xs)[:, None]


class CustomSDE(SDE):
    """A user SDE from callables: dX = drift(x, t) dt + diffusion(x, t) dW.

    Parameters
    ----------
    drift : callable (x (n, d), t) -> (n, d)
    diffusion : callable (x (n, d), t) -> (n,) or a scalar; or a float for constant noise
    diffusion_dx : callable (x, t) -> (n, d), optional   ∇g, needed by Milstein when g depends on x
    dim : int, optional            fixed dimension
    additive : bool                True if g depends on t only (default: True when ``diffusion``
                                   is a number)
    autonomous : bool              True if neither coefficient depends on t (default False)
    name : str                     label used in reports

    Notes
    -----
    Solvers evaluate the callables in NumPy (no compiled fast path), so they must be vectorised
    over the n samples.
    """

    def __init__(
        self,
        drift: Callable[[FloatArray, float], Any],
        diffusion: Callable[[FloatArray, float], Any] | float,
        *,
        diffusion_dx: Callable[[FloatArray, float], Any] | None = None,
        dim: int | None = None,
        additive: bool | None = None,
        autonomous: bool = False,
        name: str = "custom",
    ) -> None:
        if not callable(drift):
            msg = f"drift must be a callable f(x, t) -> (n, d), got {type(drift).__name__}"
            raise TypeError(msg)
        if callable(diffusion):
            g_fn = diffusion
            self.additive = bool(additive) if additive is not None else False  # type: ignore[misc]
        else:
            g_const = check_positive(diffusion, "diffusion")
            g_fn = lambda x, t: np.full(np.shape(x)[0], g_const)  # noqa: E731
            self.additive = True if additive is None else bool(additive)  # type: ignore[misc]
        if diffusion_dx is not None and not callable(diffusion_dx):
            msg = "diffusion_dx must be a callable (x, t) -> (n, d)"
            raise TypeError(msg)
        self._f = drift
        self._g = g_fn
        self._gx = diffusion_dx
        self.dim = dim  # type: ignore[misc]
        self.autonomous = autonomous  # type: ignore[misc]
        self.name = name

    def params(self) -> dict[str, Any]:
        return {"name": self.name}

    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        out = np.asarray(self._f(x, t), dtype=np.float64)
        if out.shape != x.shape:
            out = np.broadcast_to(out, x.shape).copy() if out.size in (1, x.size) else out
        if out.shape != x.shape:
            msg = (
                f"drift returned shape {out.shape} for x of shape {x.shape}; it must return (n, d)"
            )
            raise ValueError(msg)
        return out

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        out = np.asarray(self._g(x, t), dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        out = np.broadcast_to(out, (x.shape[0],)).copy()
        return out

    def _diffusion_dx(self, x: FloatArray, t: float) -> FloatArray:
        if self._gx is None:
            return super()._diffusion_dx(x, t)
        return np.broadcast_to(np.asarray(self._gx(x, t), dtype=np.float64), x.shape).copy()

    def __repr__(self) -> str:
        return f"CustomSDE(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)
