"""Fields the claims need that the rest of fplab does not provide.

* :func:`mixture_log_laplacian` -- Δ log p of a Gaussian mixture (closed form).
* :func:`pf_divergence` -- ∇·v of the probability-flow velocity v = f - ½ g² ∇log p_t of a linear
  SDE from a Gaussian-mixture start (exact marginal), which is what Liouville's equation
  d/dt log p_t(x_t) = -∇·v(x_t, t) along the flow needs.
* :func:`stationary_density_1d` -- p_∞ ∝ exp(2/g² ∫_0^x f) of an autonomous additive 1-D SDE,
  by cumulative quadrature of its drift on a grid (every 1-D drift is a gradient).
* :func:`probability_flux` -- j = f p - ½ g² ∇p of a density on a grid (central differences).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray

__all__ = [
    "check_additive_1d",
    "linear_path_velocity",
    "mixture_log_laplacian",
    "pf_divergence",
    "probability_flux",
    "stationary_density_1d",
]


def _check_mixture(p: Any, name: str, dim: int | None = None) -> None:
    from fplab.distributions import GaussianMixture

    if not isinstance(p, GaussianMixture):
        msg = f"{name} must be a GaussianMixture, got {type(p).__name__}"
        raise TypeError(msg)
    if dim is not None and p.dim != dim:
        msg = f"{name} must be {dim}-dimensional, got a {p.dim}-dimensional mixture"
        raise ValueError(msg)


def check_additive_1d(sde: Any, grid: Any) -> None:
    """Raise unless ``sde`` has additive noise and ``grid`` is 1-D (what the 1-D formulas need)."""
    if not getattr(sde, "additive", False):
        msg = f"sde must have additive noise (g independent of x), got {sde!r}"
        raise ValueError(msg)
    if grid.ndim != 1:
        msg = f"grid must be 1-D, got a {grid.ndim}-D grid"
        raise ValueError(msg)


def mixture_log_laplacian(p: Any, x: Any) -> FloatArray:
    """Δ log p(x) of a GaussianMixture ``p``; x of shape (n, d) -> (n,).

    Notes
    -----
    With responsibilities r_k(x) and component scores s_k = -P_k (x - μ_k) (P_k = Σ_k⁻¹),
    ∇² log p = Σ_k r_k (-P_k + s_k s_kᵀ) - ∇log p ∇log pᵀ, so
    Δ log p = Σ_k r_k (|s_k|² - tr P_k) - |∇ log p|².
    """
    from fplab._validate import as_samples

    _check_mixture(p, "p")
    xs, _ = as_samples(x, p.dim)
    r = p.responsibilities(xs)  # (n, K)
    prec = np.linalg.inv(p.covs)  # (K, d, d)
    diff = xs[:, None, :] - p.means[None, :, :]  # (n, K, d)
    sk = -np.einsum("kij,nkj->nki", prec, diff)
    tr = np.trace(prec, axis1=1, axis2=2)  # (K,)
    s = np.einsum("nk,nki->ni", r, sk)
    return np.einsum("nk,nk->n", r, np.sum(sk**2, axis=2) - tr[None, :]) - np.sum(s**2, axis=1)


def pf_divergence(sde: Any, p0: Any, x: Any, t: float) -> FloatArray:
    """∇·v(x, t) of the probability-flow velocity v = f - ½ g² ∇log p_t; x (n, d) -> (n,).

    Parameters
    ----------
    sde : LinearSDE     f = a(t) x + b(t) (so ∇·f = d a(t)), additive g(t)
    p0 : GaussianMixture   the law at time 0; p_t is ``exact_marginal(sde, p0, t)``
    x : ndarray of float64, shape (n, d)
    t : float > 0

    Notes
    -----
    ∇·v = d a(t) - ½ g(t)² Δ log p_t(x) (:func:`mixture_log_laplacian`).  The flow preserves
    volume only where this vanishes; for p_t = N(0, v I) under VP it is d β(t)(1/v - 1)/2,
    zero only at the stationary v = 1.
    """
    from fplab._validate import check_positive
    from fplab.exact import exact_marginal
    from fplab.sdes import LinearSDE

    if not isinstance(sde, LinearSDE):
        msg = f"sde must be a LinearSDE (ou, heat, vp, ve, sub-vp), got {sde!r}"
        raise TypeError(msg)
    _check_mixture(p0, "p0")
    t = check_positive(t, "t")
    pt = exact_marginal(sde, p0, t)
    return p0.dim * float(sde.a(t)) - 0.5 * float(sde.g2(t)) * mixture_log_laplacian(pt, x)


def stationary_density_1d(sde: Any, grid: Any) -> FloatArray:
    """p_∞ on a 1-D grid for an autonomous additive SDE: p ∝ exp((2/g²) ∫_0^x f(y) dy).

    The potential is a cumulative trapezoid of the drift at the cell centres (second order in
    dx), shifted so its maximum is 0 before the exponential, then normalised with
    ``grid.integrate``.  Returns an array of shape ``grid.shape``.
    """
    check_additive_1d(sde, grid)
    if not sde.autonomous:
        msg = f"sde must be autonomous (coefficients independent of t), got {sde!r}"
        raise ValueError(msg)
    x = grid.axes[0]
    f = sde.drift(x[:, None], 0.0)[:, 0]
    g2 = float(sde.diffusion(x[:1, None], 0.0)[0]) ** 2
    phi = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    logp = 2.0 / g2 * phi
    p = np.exp(logp - logp.max())
    return p / grid.integrate(p)


def probability_flux(sde: Any, p: FloatArray, grid: Any, t: float = 0.0) -> FloatArray:
    """j = f p - ½ g² ∇p on the grid cells (additive noise), shape (ndim, *grid.shape).

    ∇p by second-order central differences (one-sided at the edges, ``numpy.gradient``).
    """
    if not getattr(sde, "additive", False):
        msg = f"sde must have additive noise (g independent of x), got {sde!r}"
        raise ValueError(msg)
    if np.shape(p) != tuple(grid.shape):
        msg = f"p must have the grid's shape {tuple(grid.shape)}, got {np.shape(p)}"
        raise ValueError(msg)
    pts = grid.points()
    f = sde.drift(pts, t).T.reshape(grid.ndim, *grid.shape)
    g2 = float(sde.diffusion(pts[:1], t)[0]) ** 2
    dx = np.atleast_1d(grid.dx)
    grads = np.gradient(p, *[float(h) for h in dx], edge_order=2)
    parts = [grads] if grid.ndim == 1 else list(grads)
    return np.asarray(f * p[None] - 0.5 * g2 * np.stack(parts), dtype=np.float64)


def linear_path_velocity(p0: Any, x: Any, t: float) -> FloatArray:
    """Marginal flow-matching velocity v(x, t) = E[z - x_0 | x_t = x] on x_t = (1 - t) x_0 + t z.

    p0 a 1-D GaussianMixture (the data), z ~ N(0, 1); x of shape (n, 1) -> (n, 1).

    Notes
    -----
    Given component k, x_t ~ N(a μ_k, V_k) with a = 1 - t, V_k = a² Σ_k + t², and
    E[x_0 | x_t, k] = μ_k + a Σ_k (x - a μ_k)/V_k, E[z | x_t, k] = t (x - a μ_k)/V_k, so
    v = Σ_k r_k(x) [(t - a Σ_k)(x - a μ_k)/V_k - μ_k] with r_k the posterior weights.
    """
    from fplab._validate import check_real
    from fplab.distributions import GaussianMixture

    _check_mixture(p0, "p0", dim=1)
    t = check_real(t, "t")
    if not 0.0 <= t <= 1.0:
        msg = f"t must lie in [0, 1] (the path runs from data at 0 to noise at 1), got {t}"
        raise ValueError(msg)
    a = 1.0 - t
    mu = p0.means[:, 0]
    var = p0.covs[:, 0, 0]
    vk = a * a * var + t * t
    pt = GaussianMixture(p0.weights, (a * mu)[:, None], vk[:, None, None])
    xs = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    r = pt.responsibilities(xs)  # (n, K)
    dev = xs - a * mu[None, :]
    v = np.sum(r * ((t - a * var)[None, :] * dev / vk[None, :] - mu[None, :]), axis=1)
    return v[:, None]
