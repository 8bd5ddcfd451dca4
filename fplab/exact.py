"""Exact laws and scores: Gaussian mixtures pushed through linear SDEs, log-normals through GBM.

For a linear SDE (``fplab.sdes.LinearSDE``) the transition s -> t is X_t = m X_s + c + √v Z, so a
Gaussian-mixture initial law stays one, with
    means_k -> m means_k + c,     covs_k -> m² covs_k + v I,     weights unchanged.
For geometric Brownian motion, log X_t = log X_s + (μ - σ²/2)(t - s) + σ (W_t - W_s), so a
log-normal mixture stays one.  These maps are the lab's ground truth, right to round-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import as_samples, check_real, restore_shape
from fplab.distributions import GaussianMixture, LogNormalMixture
from fplab.sdes.base import SDE
from fplab.sdes.linear import LinearSDE, linear_sde_names
from fplab.sdes.nonlinear import GBM

__all__ = ["ExactScore", "exact_marginal", "exact_score"]


def _unsupported(sde: Any, p0: Any) -> str:
    return (
        f"no closed-form marginal for {type(sde).__name__} with initial law {type(p0).__name__}: "
        f"exact_marginal covers linear SDEs ({linear_sde_names()}) with a GaussianMixture and GBM "
        "with a LogNormalMixture; use fp.solve_fokker_planck for a grid solution"
    )


def _as_initial_law(p0: Any) -> Any:
    """Accept fplab mixtures, scipy frozen normal / multivariate normal / log-normal laws, and
    points (a number or a (d,) array: a Dirac mass).  Returns a mixture or a (d,) float array."""
    if isinstance(p0, GaussianMixture | LogNormalMixture):
        return p0
    dist = getattr(p0, "dist", None)
    if dist is not None and hasattr(p0, "args"):  # scipy.stats frozen univariate law
        shapes_loc_scale = dist._parse_args(*p0.args, **p0.kwds)
        name = getattr(dist, "name", "")
        if name == "norm":
            _, loc, scale = shapes_loc_scale
            return GaussianMixture([1.0], [[float(loc)]], [float(scale) ** 2])
        if name == "lognorm":
            (shape,), loc, scale = shapes_loc_scale
            if float(loc) == 0.0:
                return LogNormalMixture([1.0], [np.log(float(scale))], [float(shape)])
    if (
        hasattr(p0, "mean")
        and hasattr(p0, "cov")
        and type(p0).__name__.startswith("multivariate_normal")
    ):
        return GaussianMixture(
            [1.0], [np.asarray(p0.mean, dtype=float)], [np.asarray(p0.cov, dtype=float)]
        )
    if isinstance(p0, int | float | np.floating | np.integer | list | tuple | np.ndarray):
        x0 = np.atleast_1d(np.asarray(p0, dtype=np.float64))
        if x0.ndim == 1 and np.all(np.isfinite(x0)):
            return x0
    return p0


def exact_marginal(sde: SDE, p0: Any, t: float, *, t0: float = 0.0) -> Any:
    """The exact law of X_t given X_{t0} ~ p0.

    Parameters
    ----------
    sde : SDE            a LinearSDE (docs/sdes.md) or GBM
    p0 : GaussianMixture (linear SDEs) or LogNormalMixture (GBM); also a scipy.stats frozen
        normal / multivariate normal / log-normal, or a point x0 (float or (d,) array: X_{t0} = x0,
        then t > t0 is required)
    t : float            time, t >= t0
    t0 : float           time at which X ~ p0 (default 0)

    Returns
    -------
    GaussianMixture or LogNormalMixture

    Raises
    ------
    TypeError   for an SDE / initial-law pair with no closed form (it names the grid solver instead)
    ValueError  for t < t0 or a dimension mismatch
    """
    t = check_real(t, "t")
    t0 = check_real(t0, "t0")
    if t < t0:
        msg = f"t must be >= t0, got t={t}, t0={t0}"
        raise ValueError(msg)
    p0 = _as_initial_law(p0)
    if isinstance(p0, np.ndarray):
        if t == t0:
            msg = "a point initial law x0 has no density at t = t0; ask for t > t0"
            raise ValueError(msg)
        if isinstance(sde, LinearSDE):
            sde.check_dim(p0.shape[0], "p0")
            m, c, v = sde.transition(t0, t)
            d = p0.shape[0]
            return GaussianMixture([1.0], [m * p0 + np.broadcast_to(c, (d,))], [v])
        if isinstance(sde, GBM):
            if p0.shape != (1,) or p0[0] <= 0:
                msg = f"GBM needs a positive scalar start x0, got {p0.tolist()}"
                raise ValueError(msg)
            dt = t - t0
            mu = np.log(p0) + (sde.mu - 0.5 * sde.sigma**2) * dt
            return LogNormalMixture([1.0], mu, [sde.sigma * np.sqrt(dt)])
    if isinstance(sde, LinearSDE) and isinstance(p0, GaussianMixture):
        sde.check_dim(p0.dim, "p0")
        m, c, v = sde.transition(t0, t)
        d = p0.dim
        means = m * p0.means + np.broadcast_to(c, (d,))
        covs = m * m * p0.covs + v * np.eye(d)[None]
        return GaussianMixture(p0.weights, means, covs, labels=p0.labels)
    if isinstance(sde, GBM) and isinstance(p0, LogNormalMixture):
        dt = t - t0
        mu = p0.mu + (sde.mu - 0.5 * sde.sigma**2) * dt
        sig = np.sqrt(p0.sigma**2 + sde.sigma**2 * dt)
        return LogNormalMixture(p0.weights, mu, sig)
    raise TypeError(_unsupported(sde, p0))


class ExactScore:
    """s(x, t) = ∇ log p_t(x) for the exact marginal p_t of ``exact_marginal(sde, p0, t)``.

    Call with x of shape (n, d) (or (n,) in 1-D) and t a float or an array of shape (n,)
    (one time per sample, as in denoising score matching).  Returns the shape of x.
    """

    def __init__(self, sde: SDE, p0: Any, t0: float = 0.0) -> None:
        p0 = _as_initial_law(p0)
        if isinstance(p0, np.ndarray):
            exact_marginal(sde, p0, t0 + 1.0, t0=t0)  # validates the pair now
        else:
            exact_marginal(sde, p0, t0, t0=t0)
        self.sde = sde
        self.p0 = p0
        self.t0 = t0
        if isinstance(p0, GaussianMixture):
            # C_k = U_k diag(λ_k) U_k^T, so m² C_k + v I = U_k diag(m² λ_k + v) U_k^T per sample
            self._lam, self._u = np.linalg.eigh(p0.covs)

    def __call__(self, x: Any, t: Any) -> FloatArray:
        tt = np.asarray(t, dtype=np.float64)
        fast = isinstance(self.p0, GaussianMixture) and isinstance(self.sde, LinearSDE)
        if tt.ndim == 0 and not fast:
            return exact_marginal(self.sde, self.p0, float(tt), t0=self.t0).score(x)
        xs, flat = as_samples(x, getattr(self.p0, "dim", None))
        if tt.ndim == 0:
            # one time for all samples: shared (m, c, v), without rebuilding (and
            # re-factorising) the marginal mixture on every call
            if not np.isfinite(tt) or float(tt) < self.t0:
                msg = f"t must be finite and >= t0 = {self.t0}, got {float(tt)}"
                raise ValueError(msg)
            assert isinstance(self.sde, LinearSDE)  # `fast` above
            m, c, v = self.sde.transition(self.t0, float(tt))
            c = np.broadcast_to(c, (xs.shape[1],))
            return restore_shape(self._mixture_score(xs, np.array(m), np.array(v), c), flat)
        if isinstance(self.p0, np.ndarray):
            msg = "per-sample times need a GaussianMixture or LogNormalMixture p0, not a point"
            raise TypeError(msg)
        tt = tt.reshape(-1)
        if tt.shape[0] != xs.shape[0]:
            msg = f"t has {tt.shape[0]} times but x has {xs.shape[0]} samples; pass one t or one per sample"
            raise ValueError(msg)
        if isinstance(self.p0, GaussianMixture):
            out = self._mixture_score_per_time(xs, tt)
        else:
            out = np.empty_like(xs)
            for ti in np.unique(tt):
                sel = tt == ti
                out[sel] = np.asarray(self(xs[sel], float(ti))).reshape(-1, xs.shape[1])
        return restore_shape(out, flat)

    def _mixture_score_per_time(self, x: FloatArray, t: FloatArray) -> FloatArray:
        """Score with a different time per sample; x (n, d), t (n,) -> (n, d)."""
        assert isinstance(self.sde, LinearSDE)
        if not np.all(np.isfinite(t)) or np.any(t < self.t0):
            msg = f"t must be finite and >= t0 = {self.t0}, got min(t) = {np.min(t)}"
            raise ValueError(msg)
        uniq, inv = np.unique(t, return_inverse=True)
        coeffs = np.array([self.sde.transition(self.t0, float(s))[0:3:2] for s in uniq])
        cvec = np.array(
            [
                np.broadcast_to(self.sde.transition(self.t0, float(s))[1], (x.shape[1],))
                for s in uniq
            ]
        )
        m, v, c = coeffs[inv, 0], coeffs[inv, 1], cvec[inv]
        return self._mixture_score(x, m, v, c)

    def _mixture_score(
        self, x: FloatArray, m: FloatArray, v: FloatArray, c: FloatArray
    ) -> FloatArray:
        """Mixture score with transition coefficients m, v of shape (n,) or () and c (n, d) or (d,)."""
        p0 = self.p0
        n, k = x.shape[0], p0.n_components
        m = np.reshape(m, (-1, 1))  # (n, 1) or (1, 1)
        v = np.reshape(v, (-1, 1))
        logr = np.empty((n, k))
        grads = np.empty((n, k, x.shape[1]))
        for j in range(k):
            lam = m**2 * self._lam[j] + v  # (n, d) or (1, d)
            diff = x - (m * p0.means[j] + c)  # (n, d)
            z = diff @ self._u[j]  # coordinates in the eigenbasis
            logr[:, j] = p0._logw[j] - 0.5 * (
                np.sum(z * z / lam, axis=1) + np.sum(np.log(lam), axis=1)
            )
            grads[:, j, :] = -(z / lam) @ self._u[j].T
        r = np.exp(logr - logr.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        return (r[:, :, None] * grads).sum(axis=1)


def exact_score(sde: SDE, p0: Any, *, t0: float = 0.0, label: Any = None) -> ExactScore:
    """Callable s(x, t) = ∇ log p_t(x) of the exact marginal (see :class:`ExactScore`).

    With ``label`` (a labelled ``GaussianMixture``), the class-conditional score
    ∇ log p_t(x | y = label): the marginal of the components carrying that label.
    """
    if label is not None:
        if not isinstance(p0, GaussianMixture):
            msg = f"label= needs a labelled fp.GaussianMixture p0, got {type(p0).__name__}"
            raise TypeError(msg)
        p0 = p0.conditional(label)
    return ExactScore(sde, p0, t0=check_real(t0, "t0"))
