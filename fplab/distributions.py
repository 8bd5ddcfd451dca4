"""Closed-form distributions: Gaussian mixtures in d dimensions and log-normal mixtures in 1-D.

They are the lab's initial laws and its exact answers: linear SDEs map a Gaussian mixture to a
Gaussian mixture (``fplab.exact``), and geometric Brownian motion maps a log-normal to a log-normal.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from fplab._typing import FloatArray
from fplab._validate import (
    as_rng,
    as_samples,
    check_finite_array,
    check_int,
    check_memory,
    restore_shape,
)

__all__ = ["GaussianMixture", "LogNormal", "LogNormalMixture"]

_LOG_2PI = math.log(2.0 * math.pi)


def _normalise_weights(weights: Any, k: int | None) -> FloatArray:
    w = check_finite_array(weights, "weights").reshape(-1)
    if k is not None and w.shape[0] != k:
        msg = f"weights has {w.shape[0]} entries but means has {k} components"
        raise ValueError(msg)
    if w.size == 0:
        msg = "weights must have at least one entry"
        raise ValueError(msg)
    if np.any(w < 0):
        msg = f"weights must be >= 0, got {w.tolist()}"
        raise ValueError(msg)
    total = float(w.sum())
    if total <= 0:
        msg = "weights must not all be zero"
        raise ValueError(msg)
    if abs(total - 1.0) > 1e-8:
        msg = f"weights must sum to 1, got {total!r}; divide by their sum"
        raise ValueError(msg)
    return w / total


def _check_labels(labels: Any, k: int) -> tuple[Any, ...] | None:
    """One hashable label (int or str) per component, as a tuple; None when not given."""
    if labels is None:
        return None
    if isinstance(labels, str) or not hasattr(labels, "__len__"):
        msg = (
            f"labels must be a sequence of K = {k} labels (int or str), got {type(labels).__name__}"
        )
        raise TypeError(msg)
    out = tuple(v.item() if isinstance(v, np.generic) else v for v in labels)
    if len(out) != k:
        msg = f"labels must give one label per component: {k} expected, got {len(out)}"
        raise ValueError(msg)
    for v in out:
        if isinstance(v, bool) or not isinstance(v, int | str):
            msg = f"labels must be ints or strings, got {type(v).__name__} {v!r}"
            raise TypeError(msg)
    return out


class GaussianMixture:
    """A mixture of K Gaussians in d dimensions: p(x) = Σ_k w_k N(x; m_k, C_k).

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, summing to 1.
    means : array_like, shape (K, d), or (K,) for d = 1
    covs : array_like, shape (K, d, d) (symmetric positive definite), or (K,) meaning
        isotropic variances v_k (C_k = v_k I)
    labels : sequence of int or str, length K, optional
        A class label per component (several components may share one): the mixture is then the
        joint law of (X, Y) with p(y) = Σ_{k: label_k = y} w_k, and ``conditional(y)`` is
        p(x | y).  Used by ``fp.exact_score(..., label=y)`` and ``fp.guided_score``.

    Notes
    -----
    ``logpdf`` uses log-sum-exp over components and Cholesky factors, so it stays finite far in the
    tails (|x| = 40 and beyond) where ``pdf`` underflows to 0.  ``score`` is
    Σ_k r_k(x) C_k^{-1}(m_k - x) with responsibilities r_k computed in log space, so it is also
    finite there.
    """

    def __init__(self, weights: Any, means: Any, covs: Any, *, labels: Any = None) -> None:
        m = check_finite_array(means, "means")
        if m.ndim == 1:
            m = m.reshape(-1, 1)
        if m.ndim != 2:
            msg = f"means must have shape (K, d) (or (K,) in 1-D), got {m.shape}"
            raise ValueError(msg)
        k, d = m.shape
        c = check_finite_array(covs, "covs")
        if c.ndim == 1 and c.shape[0] == k:
            if np.any(c <= 0):
                msg = f"covs given as variances must be > 0, got {c.tolist()}"
                raise ValueError(msg)
            c = c[:, None, None] * np.eye(d)[None]
        elif c.ndim == 2 and d == 1 and c.shape == (k, 1):
            c = c.reshape(k, 1, 1)
        elif c.ndim == 2 and c.shape == (d, d) and k == 1:
            c = c.reshape(1, d, d)
        if c.shape != (k, d, d):
            msg = (
                f"covs must have shape (K, d, d) = ({k}, {d}, {d}) or (K,) variances, got {c.shape}"
            )
            raise ValueError(msg)
        if not np.allclose(c, np.swapaxes(c, 1, 2), rtol=1e-10, atol=1e-14):
            msg = "covs must be symmetric"
            raise ValueError(msg)
        c = 0.5 * (c + np.swapaxes(c, 1, 2))
        try:
            chol = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            msg = "covs must be positive definite (a Cholesky factorisation failed)"
            raise ValueError(msg) from None
        self.weights = _normalise_weights(weights, k)
        self.means = np.ascontiguousarray(m)
        self.covs = np.ascontiguousarray(c)
        self._chol = chol
        self._logw = np.log(np.where(self.weights > 0, self.weights, 1.0))
        self._logw[self.weights == 0] = -np.inf
        self._logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        self._prec = np.linalg.inv(c)
        self._chol_inv_t = np.ascontiguousarray(np.swapaxes(np.linalg.inv(chol), 1, 2))
        for a in (self.weights, self.means, self.covs):
            a.flags.writeable = False
        self.labels = _check_labels(labels, k)

    # -- shape --------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension d."""
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.means.shape[0])

    # -- evaluation ---------------------------------------------------------------------------
    def _component_logpdf(self, x: FloatArray) -> FloatArray:
        """log w_k + log N(x; m_k, C_k), shape (n, K), for x of shape (n, d)."""
        n = x.shape[0]
        out = np.empty((n, self.n_components))
        for k in range(self.n_components):
            # z = L_k^{-1}(x - m_k) through the triangular inverse (precomputed once): stable
            # for ill-conditioned C_k and one small matmul per component
            z = (x - self.means[k]) @ self._chol_inv_t[k]
            maha = np.einsum("ij,ij->i", z, z)
            out[:, k] = self._logw[k] - 0.5 * (maha + self._logdet[k] + self.dim * _LOG_2PI)
        return out

    @staticmethod
    def _logsumexp_rows(a: FloatArray) -> FloatArray:
        """log Σ_k exp(a[:, k]) with the row maximum factored out (a may hold -inf)."""
        top = a.max(axis=1)
        safe = np.where(np.isfinite(top), top, 0.0)
        return safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))

    def logpdf(self, x: Any) -> FloatArray:
        """log p(x); x of shape (n, d) (or (n,) in 1-D) -> shape (n,)."""
        xs, _ = as_samples(x, self.dim)
        return self._logsumexp_rows(self._component_logpdf(xs))

    def pdf(self, x: Any) -> FloatArray:
        """p(x); x of shape (n, d) (or (n,) in 1-D) -> shape (n,)."""
        return np.exp(self.logpdf(x))

    def responsibilities(self, x: Any) -> FloatArray:
        """Posterior component probabilities r_k(x), shape (n, K)."""
        xs, _ = as_samples(x, self.dim)
        lp = self._component_logpdf(xs)
        r = np.exp(lp - lp.max(axis=1, keepdims=True))
        return r / r.sum(axis=1, keepdims=True)

    def score(self, x: Any) -> FloatArray:
        """∇_x log p(x); x of shape (n, d) -> (n, d), or (n,) -> (n,) in 1-D."""
        xs, flat = as_samples(x, self.dim)
        r = self.responsibilities(xs)
        out = np.zeros_like(xs)
        for k in range(self.n_components):
            out += r[:, k : k + 1] * ((self.means[k] - xs) @ self._prec[k].T)
        return restore_shape(out, flat)

    def cdf(self, x: Any) -> FloatArray:
        """Cumulative distribution function (1-D only); x of shape (n,) or (n, 1) -> (n,)."""
        self._require_1d("cdf")
        xs, _ = as_samples(x, 1)
        sd = np.sqrt(self.covs[:, 0, 0])
        z = (xs - self.means[:, 0]) / sd
        return special.ndtr(z) @ self.weights

    def ppf(self, q: Any, tol: float = 1e-13) -> FloatArray:
        """Quantile function (1-D only) by bracketed Newton/bisection on ``cdf``; q in (0, 1)."""
        self._require_1d("ppf")
        qa = check_finite_array(q, "q").reshape(-1)
        if np.any((qa <= 0) | (qa >= 1)):
            msg = "q must lie strictly between 0 and 1"
            raise ValueError(msg)
        sd = np.sqrt(self.covs[:, 0, 0])
        lo = np.full_like(qa, float(np.min(self.means[:, 0] - 40 * sd)))
        hi = np.full_like(qa, float(np.max(self.means[:, 0] + 40 * sd)))
        x = 0.5 * (lo + hi)
        for _ in range(200):
            f = self.cdf(x) - qa
            lo = np.where(f < 0, x, lo)
            hi = np.where(f >= 0, x, hi)
            dens = self.pdf(x)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                # a tiny density makes the Newton step huge: it is rejected just below
                newton = x - f / np.where(dens > 0, dens, np.inf)
            inside = (newton > lo) & (newton < hi) & (dens > 0)
            x_new = np.where(inside, newton, 0.5 * (lo + hi))
            if np.all(np.abs(x_new - x) <= tol * (1 + np.abs(x))):
                x = x_new
                break
            x = x_new
        return x

    # -- moments and sampling -------------------------------------------------------------------
    def mean(self) -> FloatArray:
        """Mixture mean, shape (d,)."""
        return self.weights @ self.means

    def cov(self) -> FloatArray:
        """Mixture covariance, shape (d, d)."""
        mu = self.mean()
        dm = self.means - mu
        return np.einsum("k,kij->ij", self.weights, self.covs) + np.einsum(
            "k,ki,kj->ij", self.weights, dm, dm
        )

    def sample(self, n: int, seed: Any = 0) -> FloatArray:
        """n samples, shape (n, d); a function of ``seed`` (int or Generator) alone."""
        n = check_int(n, "n", minimum=0)
        check_memory(8.0 * 2 * n * self.dim, "n", n)
        rng = as_rng(seed)
        comp = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim))
        out = np.empty((n, self.dim))
        for k in range(self.n_components):
            idx = comp == k
            out[idx] = self.means[k] + z[idx] @ self._chol[k].T
        return out

    # -- class labels -------------------------------------------------------------------------
    def check_label(self, label: Any, name: str = "label") -> Any:
        """``label`` if it is one of the mixture's labels; ``ValueError`` naming ``name`` otherwise
        (``TypeError`` when it is not an int or a string, e.g. ``True`` or ``1.0``)."""
        if self.labels is None:
            msg = (
                f"{name}={label!r} needs a labelled mixture; pass labels=[...] (one per component) "
                "to fp.GaussianMixture"
            )
            raise ValueError(msg)
        if isinstance(label, np.generic):
            label = label.item()
        allowed = ", ".join(repr(v) for v in dict.fromkeys(self.labels))
        if isinstance(label, bool) or not isinstance(label, int | str):
            # True == 1 and 1.0 == 1: without this, label=True silently meant class 1
            msg = (
                f"{name} must be an int or a string, as the mixture's labels are; got "
                f"{type(label).__name__} {label!r}; allowed: {allowed}"
            )
            raise TypeError(msg)
        if label not in self.labels:
            msg = f"{name}={label!r} is not a label of this mixture; allowed: {allowed}"
            raise ValueError(msg)
        return label

    def label_mask(self, label: Any) -> FloatArray:
        """Boolean mask of the components carrying ``label``, shape (K,)."""
        label = self.check_label(label)
        assert self.labels is not None  # check_label
        return np.array([lab == label for lab in self.labels])

    def class_weight(self, label: Any) -> float:
        """p(y = label) = Σ_{k: label_k = label} w_k."""
        return float(self.weights[self.label_mask(label)].sum())

    def conditional(self, label: Any) -> GaussianMixture:
        """p(x | y = label): the components with that label, weights renormalised (labels kept)."""
        mask = self.label_mask(label)
        if self.weights[mask].sum() <= 0.0:
            msg = f"label={label!r} has zero total weight; p(x | y) is undefined"
            raise ValueError(msg)
        assert self.labels is not None
        return GaussianMixture(
            self.weights[mask] / self.weights[mask].sum(),
            self.means[mask],
            self.covs[mask],
            labels=[lab for lab, keep in zip(self.labels, mask, strict=True) if keep],
        )

    def _require_1d(self, what: str) -> None:
        if self.dim != 1:
            msg = f"{what} is defined for 1-D mixtures only; this one is {self.dim}-D"
            raise ValueError(msg)

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(weights={self.weights.tolist()}, means={self.means.tolist()}, "
            f"covs={self.covs.tolist()}"
            + ("" if self.labels is None else f", labels={list(self.labels)}")
            + ")"
        )


class LogNormalMixture:
    """A 1-D mixture of log-normals on x > 0: log X ~ Σ_k w_k N(mu_k, s_k²).

    The exact law of geometric Brownian motion started from a log-normal (``fplab.exact``).

    Parameters
    ----------
    weights : array_like, shape (K,)
    mu : array_like, shape (K,)     means of log X
    sigma : array_like, shape (K,)  standard deviations of log X (> 0)
    """

    def __init__(self, weights: Any, mu: Any, sigma: Any) -> None:
        mu_a = check_finite_array(mu, "mu").reshape(-1)
        s_a = check_finite_array(sigma, "sigma").reshape(-1)
        if mu_a.shape != s_a.shape:
            msg = f"mu and sigma must have the same length, got {mu_a.shape[0]} and {s_a.shape[0]}"
            raise ValueError(msg)
        if np.any(s_a <= 0):
            msg = f"sigma must be > 0, got {s_a.tolist()}"
            raise ValueError(msg)
        self.weights = _normalise_weights(weights, mu_a.shape[0])
        self.mu = mu_a
        self.sigma = s_a
        self._logw = np.log(np.where(self.weights > 0, self.weights, 1.0))
        self._logw[self.weights == 0] = -np.inf

    dim = 1

    def _comp_logpdf(self, x: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
            z = (lx[:, None] - self.mu) / self.sigma
            out = self._logw - 0.5 * z**2 - np.log(self.sigma) - 0.5 * _LOG_2PI - lx[:, None]
        out[x <= 0, :] = -np.inf
        return out

    def logpdf(self, x: Any) -> FloatArray:
        """log p(x) (-inf for x <= 0); shape (n,)."""
        xs, _ = as_samples(x, 1)
        lp = self._comp_logpdf(xs[:, 0])
        out = np.full(xs.shape[0], -np.inf)
        pos = xs[:, 0] > 0
        out[pos] = special.logsumexp(lp[pos], axis=1)
        return out

    def pdf(self, x: Any) -> FloatArray:
        """p(x) (0 for x <= 0); shape (n,)."""
        return np.exp(self.logpdf(x))

    def score(self, x: Any) -> FloatArray:
        """d/dx log p(x) for x > 0 (NaN-free: 0 is returned for x <= 0, where p vanishes)."""
        xs, flat = as_samples(x, 1)
        x1 = xs[:, 0]
        pos = x1 > 0
        out = np.zeros_like(x1)
        lp = self._comp_logpdf(x1[pos])
        r = np.exp(lp - special.logsumexp(lp, axis=1, keepdims=True))
        lx = np.log(x1[pos])
        # d/dx log N(log x; mu, s) / x = -(log x - mu)/(s^2 x) - 1/x
        comp = -(lx[:, None] - self.mu) / (self.sigma**2 * x1[pos, None]) - 1.0 / x1[pos, None]
        out[pos] = (r * comp).sum(axis=1)
        return restore_shape(out[:, None], flat)

    def cdf(self, x: Any) -> FloatArray:
        """CDF; shape (n,)."""
        xs, _ = as_samples(x, 1)
        x1 = xs[:, 0]
        with np.errstate(divide="ignore"):
            lx = np.log(np.where(x1 > 0, x1, 0.0))
        z = (lx[:, None] - self.mu) / self.sigma
        return special.ndtr(z) @ self.weights

    def mean(self) -> FloatArray:
        """E[X], shape (1,)."""
        return np.array([float(self.weights @ np.exp(self.mu + 0.5 * self.sigma**2))])

    def cov(self) -> FloatArray:
        """Var[X], shape (1, 1)."""
        m2 = float(self.weights @ np.exp(2 * self.mu + 2 * self.sigma**2))
        return np.array([[m2 - float(self.mean()[0]) ** 2]])

    def sample(self, n: int, seed: Any = 0) -> FloatArray:
        """n samples, shape (n, 1); a function of ``seed`` alone."""
        n = check_int(n, "n", minimum=0)
        check_memory(8.0 * 2 * n * self.dim, "n", n)
        rng = as_rng(seed)
        comp = rng.choice(self.mu.shape[0], size=n, p=self.weights)
        z = rng.standard_normal(n)
        return np.exp(self.mu[comp] + self.sigma[comp] * z).reshape(n, 1)

    def __repr__(self) -> str:
        return (
            f"LogNormalMixture(weights={self.weights.tolist()}, mu={self.mu.tolist()}, "
            f"sigma={self.sigma.tolist()})"
        )


def LogNormal(mu: float, sigma: float) -> LogNormalMixture:
    """The log-normal law of X with log X ~ N(mu, sigma²) (a one-component LogNormalMixture)."""
    return LogNormalMixture([1.0], [mu], [sigma])
