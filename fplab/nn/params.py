"""Parameterisations of a diffusion model's network output and the exact maps between them.

A linear SDE (any ``LinearSDE``, docs/sdes.md) started at X_0 = x0 has the Gaussian transition

    X_t = α_t x0 + c_t + σ_t ε,        ε ~ N(0, I),

with (α_t, c_t, σ_t²) = ``sde.transition(0, t)`` (``marginal_coefficients`` gives α_t, σ_t).
Given x = X_t, the four common targets are linked by exact linear maps (Song et al. 2021;
Ho et al. 2020; Salimans & Ho 2022):

    score  s  = ∇ log p_t(x) ≈ -ε / σ_t
    noise  ε  = -σ_t s
    data   x0 = (x - c_t - σ_t ε) / α_t
    v         = α_t ε - σ_t x0

and, inverting the last two with y = x - c_t,  x0 = (α_t y - σ_t v) / (α_t² + σ_t²),
ε = (σ_t y + α_t v) / (α_t² + σ_t²)  (which reduce to Salimans & Ho's α y - σ v when α² + σ² = 1).
The maps are pure arithmetic, so they work on NumPy arrays and torch tensors alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.sdes.linear import OU, VE, VP, Heat, LinearSDE, SubVP, linear_sde_names

__all__ = ["PARAMETERISATIONS", "convert", "marginal_coefficients_array"]

#: the network-output parameterisations a score model may use
PARAMETERISATIONS: tuple[str, ...] = ("score", "eps", "x0", "v")


def marginal_coefficients_array(
    sde: LinearSDE, t: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Vectorised (α_t, σ_t, c_t) of X_t = α_t X_0 + c_t + σ_t ε for many times at once.

    Parameters
    ----------
    sde : LinearSDE
    t : array_like of float, shape (n,)   times >= 0

    Returns
    -------
    alpha, sigma : ndarray of float64, shape (n,)
    c : ndarray of float64, shape (n, d_b)   (d_b = 1 when the shift is the same in every coordinate)

    Notes
    -----
    Closed forms equal to the classes' own ``transition(0, t)`` (tested to round-off); a linear SDE
    without one falls back to ``transition`` per distinct time.
    """
    tt = np.asarray(t, dtype=np.float64).reshape(-1)
    if isinstance(sde, VP):
        b = sde._schedule.integral(tt)
        return np.exp(-0.5 * b), np.sqrt(-np.expm1(-b)), np.zeros((tt.shape[0], 1))
    if isinstance(sde, SubVP):
        b = sde._schedule.integral(tt)
        # σ_t² = (1 - e^{-B})² from s = 0 (see SubVP.transition)
        return np.exp(-0.5 * b), -np.expm1(-b), np.zeros((tt.shape[0], 1))
    if isinstance(sde, VE):
        v = sde.sigma_min**2 * np.expm1(2.0 * sde._log_ratio * tt / horizon(sde))
        return np.ones_like(tt), np.sqrt(v), np.zeros((tt.shape[0], 1))
    if isinstance(sde, Heat):
        return np.ones_like(tt), np.sqrt(2.0 * sde.D * tt), np.zeros((tt.shape[0], 1))
    if isinstance(sde, OU):
        th = sde.theta
        v = sde.sigma**2 * tt if th == 0 else sde.sigma**2 * -np.expm1(-2 * th * tt) / (2 * th)
        c = sde._mu[None, :] * -np.expm1(-th * tt)[:, None]
        return np.exp(-th * tt), np.sqrt(v), c
    uniq, inv = np.unique(tt, return_inverse=True)
    rows = [sde.transition(0.0, float(s)) for s in uniq]
    alpha = np.array([r[0] for r in rows])[inv]
    sigma = np.sqrt(np.array([r[2] for r in rows]))[inv]
    c = np.array([np.atleast_1d(r[1]) for r in rows])[inv]
    return alpha, sigma, c


def _to_eps(kind: str, y: Any, x: Any, alpha: Any, sigma: Any, shift: Any) -> Any:
    if kind == "eps":
        return y
    if kind == "score":
        return -sigma * y
    if kind == "x0":
        return (x - shift - alpha * y) / sigma
    # v: ε = (σ (x - c) + α v) / (α² + σ²)
    return (sigma * (x - shift) + alpha * y) / (alpha * alpha + sigma * sigma)


def _from_eps(kind: str, eps: Any, x: Any, alpha: Any, sigma: Any, shift: Any) -> Any:
    if kind == "eps":
        return eps
    if kind == "score":
        return -eps / sigma
    x0 = (x - shift - sigma * eps) / alpha
    if kind == "x0":
        return x0
    return alpha * eps - sigma * x0


def convert(y: Any, src: str, dst: str, x: Any, alpha: Any, sigma: Any, shift: Any = 0.0) -> Any:
    """Map a prediction ``y`` in parameterisation ``src`` to parameterisation ``dst`` at state x.

    Parameters
    ----------
    y : ndarray or torch.Tensor, shape (n, d)   prediction in ``src`` ('score', 'eps', 'x0', 'v')
    src, dst : str                              parameterisations, see :data:`PARAMETERISATIONS`
    x : same type as y, shape (n, d)            the noisy state X_t
    alpha, sigma : float or array, shape (n, 1) α_t, σ_t of the marginal (``marginal_coefficients``)
    shift : float or array, shape (n, d) or (n, 1)   c_t (zero for VP, VE, SubVP)

    Returns
    -------
    same type as y, shape (n, d)

    Notes
    -----
    Every map goes through ε (module docstring).  σ_t must be > 0 (t > 0) for 'score' and 'x0'
    targets and α_t > 0 for 'x0' and 'v'; all built-in SDEs have α_t > 0.
    """
    for name, kind in (("src", src), ("dst", dst)):
        if kind not in PARAMETERISATIONS:
            from fplab._registry import unknown_choice_message

            raise ValueError(unknown_choice_message(name, kind, list(PARAMETERISATIONS)))
    if src == dst:
        return y
    return _from_eps(dst, _to_eps(src, y, x, alpha, sigma, shift), x, alpha, sigma, shift)


def check_linear_sde(sde: Any, name: str = "sde") -> LinearSDE:
    """``sde`` if it is a LinearSDE (Gaussian transitions), else a TypeError naming the choices."""
    if not isinstance(sde, LinearSDE):
        msg = (
            f"{name} must be a linear SDE with Gaussian transitions ({linear_sde_names()}) for "
            f"denoising score matching, got {type(sde).__name__}"
        )
        raise TypeError(msg)
    return sde


def horizon(sde: LinearSDE) -> float:
    """The SDE's end time T (1.0 for SDEs without one, e.g. OU and Heat)."""
    t_end = getattr(sde, "T", None)
    return 1.0 if t_end is None else float(t_end)


def usable_end(sde: LinearSDE) -> float:
    """Where reverse sampling and likelihood ODEs start: T, or the schedule's ``t_max`` when β is
    singular at T (the cosine VP: β(T) = ∞), as ``fp.sample_reverse`` does by default."""
    t_max = getattr(getattr(sde, "_schedule", None), "t_max", None)
    return horizon(sde) if t_max is None else float(t_max)


def prior_coefficients(sde: LinearSDE, t: float, d: int) -> tuple[FloatArray, float]:
    """Mean (d,) and std of the data-free prior N(c_t, σ_t² I) that starts reverse sampling at t.

    It is the law of X_t when X_0 = 0; the gap to the true p_t is the *prior mismatch*.
    """
    _, sigma, c = marginal_coefficients_array(sde, [t])
    return np.broadcast_to(c[0], (d,)).copy(), float(sigma[0])
