"""Exact laws of discretisations on linear problems: no sampling, so weak errors are exact numbers.

Every scheme below, applied to a linear SDE dX = (a(t) X + b(t)) dt + g(t) dW (or to a reverse
sampler whose score is the linear score of a Gaussian law), maps X to m X + c + s ξ with ξ
standard normal and independent of X.  A Gaussian N(μ, v) (per component, isotropic) therefore
stays Gaussian with μ -> m μ + c and v -> m² v + s², and a Gaussian mixture stays a mixture with
the same weights.  The step coefficients (m, c, s) are written out from each scheme's formula here,
independently of the MC kernels and samplers; tests check the two against each other.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = [
    "FORWARD_SCHEMES",
    "REVERSE_SCHEMES",
    "forward_scheme_law",
    "forward_step",
    "reverse_gaussian_law",
    "w2_gaussian_1d",
]

FORWARD_SCHEMES = ("euler-maruyama", "heun", "heun-frozen-g", "ddpm-chain")
REVERSE_SCHEMES = ("euler-maruyama", "pf-ode-euler", "pf-ode-heun")


def forward_step(sde: Any, t: float, h: float, scheme: str) -> tuple[float, Any, float]:
    """(m, c, s) of one step t -> t + h of ``scheme`` on a LinearSDE: X' = m X + c + s ξ.

    Notes
    -----
    With a_n = a(t), a_1 = a(t + h), g_n = g(t), g_1 = g(t + h):

    * Euler–Maruyama:  m = 1 + a_n h, c = b_n h, s = g_n √h.
    * Heun (Kloeden–Platen 15.1.1, additive noise), predictor Ῡ = X + f_n h + g_n ΔW:
      X' = X + ½ h (f_n + a_1 Ῡ + b_1) + ½ (g_n + g_1) ΔW, so
      m = 1 + ½ h (a_n + a_1 (1 + a_n h)), c = ½ h (b_n + b_1 + a_1 b_n h),
      s = (½ h a_1 g_n + ½ (g_n + g_1)) √h.
    * Heun with g frozen at t: the same with the noise g_n ΔW, s = g_n (1 + ½ h a_1) √h.
    * DDPM chain (Ho et al. 2020, eq. 2), VP only: X' = √(1 - β_n) X + √β_n ξ with
      β_n = β(t) h, i.e. m = √(1 - β(t) h), c = 0, s = √(β(t) h).
    """
    an, a1 = float(sde.a(t)), float(sde.a(t + h))
    bn, b1 = np.asarray(sde.b(t), dtype=np.float64), np.asarray(sde.b(t + h), dtype=np.float64)
    gn, g1 = math.sqrt(float(sde.g2(t))), math.sqrt(float(sde.g2(t + h)))
    sq = math.sqrt(h)
    if scheme == "euler-maruyama":
        return 1.0 + an * h, bn * h, gn * sq
    if scheme in ("heun", "heun-frozen-g"):
        m = 1.0 + 0.5 * h * (an + a1 * (1.0 + an * h))
        c = 0.5 * h * (bn + b1 + a1 * bn * h)
        s = 0.5 * h * a1 * gn + (0.5 * (gn + g1) if scheme == "heun" else gn)
        return m, c, s * sq
    if scheme == "ddpm-chain":
        beta = float(sde.beta(t)) * h
        return math.sqrt(1.0 - beta), 0.0 * bn, math.sqrt(beta)
    msg = f"unknown scheme {scheme!r}; choose one of {FORWARD_SCHEMES}"
    raise ValueError(msg)


def forward_scheme_law(sde: Any, p0: Any, t0: float, t1: float, n_steps: int, scheme: str) -> Any:
    """The GaussianMixture law after ``n_steps`` uniform steps of ``scheme`` from p0 at t0 to t1.

    Parameters
    ----------
    sde : LinearSDE (VP for ``"ddpm-chain"``)
    p0 : GaussianMixture
    scheme : one of :data:`FORWARD_SCHEMES`
    """
    from fplab.distributions import GaussianMixture

    h = (t1 - t0) / n_steps
    means = np.array(p0.means, dtype=np.float64)
    covs = np.array(p0.covs, dtype=np.float64)
    eye = np.eye(p0.dim)
    for k in range(n_steps):
        m, c, s = forward_step(sde, t0 + k * h, h, scheme)
        means = m * means + c
        covs = m * m * covs + s * s * eye
    return GaussianMixture(p0.weights, means, covs)


def _gaussian_score_coeffs(sde: Any, mu0: float, v0: float, t: float) -> tuple[float, float]:
    """(A, B) with ∇ log p_t(x) = A x + B for p_0 = N(mu0, v0) under a LinearSDE from time 0."""
    m, c, v = sde.transition(0.0, t)
    mean = m * mu0 + float(np.asarray(c).ravel()[0])
    var = m * m * v0 + v
    return -1.0 / var, mean / var


def reverse_gaussian_law(
    sde: Any,
    mu0: float,
    v0: float,
    times: Any,
    scheme: str,
    *,
    bias: float = 0.0,
    start: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """(mean, variance) of a reverse sampler's output for 1-D Gaussian data N(mu0, v0).

    The score is the exact linear score A_t x + B_t of p_t, plus a constant ``bias`` (a controlled
    score error with E|s̃ - s|² = bias²).  ``times`` is the strictly decreasing time grid of the
    sampler; the run starts from ``start`` = (mean, var) or from the exact p_{times[0]}.

    Notes
    -----
    Written out from the step formulas of ``fplab.reverse.samplers`` (h = t - s, f = a x):

    * euler-maruyama: x_s = x - h (a_t x - g_t² σ(x)) + g_t √h ξ, σ(x) = A_t x + B_t + bias.
    * pf-ode-euler:   x_s = x - h v_t(x), v_t(x) = a_t x - ½ g_t² σ(x).
    * pf-ode-heun:    k1 = v_t(x), k2 = v_s(x - h k1), x_s = x - ½ h (k1 + k2).
    """
    times = np.asarray(times, dtype=np.float64)
    if start is None:
        m, c, v = sde.transition(0.0, float(times[0]))
        mean, var = m * mu0 + float(np.asarray(c).ravel()[0]), m * m * v0 + v
    else:
        mean, var = start

    def vel(t: float) -> tuple[float, float]:
        """v_t(x) = p x + q of the probability flow with the (biased) linear score."""
        a_t, g2 = float(sde.a(t)), float(sde.g2(t))
        big_a, big_b = _gaussian_score_coeffs(sde, mu0, v0, t)
        return a_t - 0.5 * g2 * big_a, -0.5 * g2 * (big_b + bias)

    for t_hi, t_lo in pairwise(times.tolist()):
        t, s = float(t_hi), float(t_lo)
        h = t - s
        if scheme == "euler-maruyama":
            a_t, g2 = float(sde.a(t)), float(sde.g2(t))
            big_a, big_b = _gaussian_score_coeffs(sde, mu0, v0, t)
            m = 1.0 - h * (a_t - g2 * big_a)
            c = h * g2 * (big_b + bias)
            mean, var = m * mean + c, m * m * var + g2 * h
        elif scheme == "pf-ode-euler":
            p, q = vel(t)
            mean, var = (1.0 - h * p) * mean - h * q, (1.0 - h * p) ** 2 * var
        elif scheme == "pf-ode-heun":
            p1, q1 = vel(t)
            p2, q2 = vel(s)
            # x - h k1 = (1 - h p1) x - h q1;  k2 = p2 (x - h k1) + q2
            m = 1.0 - 0.5 * h * (p1 + p2 * (1.0 - h * p1))
            c = -0.5 * h * (q1 + q2 - p2 * h * q1)
            mean, var = m * mean + c, m * m * var
        else:
            msg = f"unknown scheme {scheme!r}; choose one of {REVERSE_SCHEMES}"
            raise ValueError(msg)
    return mean, var


def w2_gaussian_1d(m1: float, v1: float, m2: float, v2: float) -> float:
    """W2 between N(m1, v1) and N(m2, v2): √((m1 - m2)² + (√v1 - √v2)²)."""
    return math.sqrt((m1 - m2) ** 2 + (math.sqrt(v1) - math.sqrt(v2)) ** 2)
