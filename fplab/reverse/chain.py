"""The discrete DDPM forward chain (Ho et al. 2020) and its exact law for Gaussian-mixture data.

On a decreasing-or-increasing time grid t_0 < t_1 < ... < t_K of the VP SDE the chain is

    x_k = √(1 - β_k) x_{k-1} + √β_k z_k,    β_k = min(β(t_k) (t_k - t_{k-1}), 0.999),

the correspondence of Song et al. (2021, App. C: β_i = β̄(i/N)/N on the uniform grid, which is
Ho et al.'s linear schedule 1e-4 ... 0.02 for β_min = 0.1, β_max = 20, N = 1000).  It is affine
with Gaussian noise, so Gaussian-mixture data stays a Gaussian mixture with

    ᾱ_k = Π_{j <= k} (1 - β_j),   means -> √ᾱ_k m,   covs -> ᾱ_k C + (1 - ᾱ_k) I,

while the SDE has α_t² = exp(-∫_0^t β).  log ᾱ_K = Σ log(1 - β_j) = -Σ β_j + O(Σ β_j²) and the
right-endpoint sum Σ β(t_j) Δt = ∫ β + O(Δt), so the chain's law tends to the SDE's marginal
with order 1 in Δt.  The clip at 0.999 (Nichol & Dhariwal 2021; diffusers'
``betas_for_alpha_bar``) keeps coarse chains defined; it is inactive once β_max Δt < 0.999.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray

__all__ = ["BETA_CLIP", "ddpm_betas", "ddpm_chain_law"]

#: largest β_k of the chain (Nichol & Dhariwal 2021 clip β at 0.999 to avoid singularities)
BETA_CLIP = 0.999


def ddpm_betas(sde: Any, times: Any) -> FloatArray:
    """β_k = min(β(t_k) (t_k - t_{k-1}), 0.999) for an increasing grid ``times`` (K + 1,), shape (K,)."""
    from fplab.sdes.linear import VP

    if not isinstance(sde, VP):
        msg = f"the DDPM chain is the VP SDE's discretisation; sde must be fp.VP, got {type(sde).__name__}"
        raise ValueError(msg)
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        msg = f"times must be a finite, strictly increasing 1-D grid of >= 2 times, got {t!r}"
        raise ValueError(msg)
    beta = np.asarray(sde.beta(t[1:]), dtype=np.float64) * np.diff(t)
    return np.minimum(beta, BETA_CLIP)


def ddpm_chain_law(sde: Any, p0: Any, n_steps: int, t_final: float, *, t0: float = 0.0) -> Any:
    """The exact law (a GaussianMixture) of ``n_steps`` DDPM chain steps from X_{t0} ~ p0 to t_final.

    Parameters
    ----------
    sde : VP
    p0 : GaussianMixture (labels are kept)
    n_steps : int >= 1     uniform steps Δt = (t_final - t0)/n_steps
    t_final : float > t0
    t0 : float

    Returns
    -------
    GaussianMixture
    """
    from fplab._validate import check_int
    from fplab.distributions import GaussianMixture

    n = check_int(n_steps, "n_steps", minimum=1)
    beta = ddpm_betas(sde, np.linspace(t0, t_final, n + 1))
    abar = float(np.exp(np.sum(np.log1p(-beta))))
    d = p0.dim
    means = np.sqrt(abar) * p0.means
    covs = abar * p0.covs + (1.0 - abar) * np.eye(d)[None]
    return GaussianMixture(p0.weights, means, covs, labels=p0.labels)
