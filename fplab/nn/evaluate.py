"""How wrong is a learned score, where in (x, t), and how much sample error does it cause?

Score error against a reference (exact for Gaussian mixtures, a grid solution otherwise), as a
function of t, over the mass-holding region R_t of p_t (the densest grid cells holding a fraction
``mass`` of p_t; ``fp.metrics.hpd_mask``):

    Fisher(t) = ∫_R p_t |s_θ - s|² dx / ∫_R p_t dx                 (weighted Fisher divergence)
    relL2(t)  = sqrt( ∫_R p_t |s_θ - s|² dx / ∫_R p_t |s|² dx )     (relative L2 error)

Sample error of a sampler driven by the learned and by the exact score, and its split (every term
a W2 distance, so the total obeys the triangle inequality up to Monte-Carlo noise):

    W2(X^θ_N, p0) <= W2(X^θ_N, X*_N)          score error (same x_T and seed for both)
                   + W2(X*_N, X*_ref)          discretisation (same sampler, n_ref steps)
                   + W2(X*_ref, Y*_ref)        prior mismatch (Y: started from exact p_T samples
                                               coupled to x_T, distance = RMS of the pairs)
                   + W2(Y*_ref, p_tmin)        what is left: Monte-Carlo noise of n samples
                   + W2(p_tmin, p0)            t_min truncation (exact, from densities)

with X*_N the sampler with the exact score and N steps started from the prior N(c_T, σ_T² I).
KL(p_T ‖ prior) and KL(p_tmin ‖ p0) on the grid are reported beside the W2 numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.grid import Grid
from fplab.nn.params import prior_coefficients, usable_end

__all__ = [
    "Reference",
    "ScoreErrorCurve",
    "convolution_reference",
    "error_budget",
    "exact_reference",
    "fd_reference",
    "sample_error_table",
    "score_error_vs_t",
]


@dataclass(frozen=True)
class Reference:
    """A ground truth: score s(x, t) and density p_t on ``grid`` (shape grid.shape) for each t."""

    name: str
    score: Callable[[FloatArray, float], FloatArray]
    density: Callable[[float], FloatArray]
    grid: Grid


def exact_reference(sde: Any, p0: Any, grid: Grid) -> Reference:
    """Exact score and density of a Gaussian mixture pushed through a linear SDE."""
    from fplab.exact import exact_marginal, exact_score

    pts = grid.points()
    return Reference(
        "exact",
        exact_score(sde, p0),
        lambda t: exact_marginal(sde, p0, t).pdf(pts).reshape(grid.shape),
        grid,
    )


def fd_reference(sde: Any, p0: Any, grid: Grid, times: Any, **fd_options: Any) -> Reference:
    """Grid ground truth: ``fp.solve_fokker_planck`` saved at ``times`` and ``fp.grid_score``.

    The density at a time between saved ones is not interpolated: ask only for saved times.
    """
    from fplab.fd import solve_fokker_planck
    from fplab.reverse import grid_score

    tt = np.unique(np.asarray(times, dtype=np.float64))
    sol = solve_fokker_planck(sde, p0, grid, float(tt[-1]), save_at=tt, **fd_options)
    dens = {float(t): np.asarray(p) for t, p in zip(sol.times, sol.densities, strict=True)}

    def density(t: float) -> FloatArray:
        key = min(dens, key=lambda s: abs(s - t))
        if abs(key - t) > 1e-12 * max(1.0, abs(t)):
            msg = f"the FD reference saved no density at t={t}; saved times: {sorted(dens)}"
            raise ValueError(msg)
        return dens[key]

    return Reference("fd", grid_score(sol, interpolation="cubic"), density, grid)


def convolution_reference(
    sde: Any, p0_pdf: Callable[[FloatArray], FloatArray], grid: Grid
) -> Reference:
    """1-D ground truth for a linear SDE and any smooth p0, by quadrature of the Gaussian transition:

        p_t(x) = ∫ p0(y) N(x; α_t y + c_t, σ_t²) dy,   ∂_x p_t = ∫ p0(y) N(·) (α_t y + c_t - x)/σ_t² dy.

    Midpoint rule on ``grid``: spectrally accurate while σ_t spans several cells (t not too small).
    An independent check of the FD reference for laws with no closed form (double well).
    """
    from fplab.nn.params import marginal_coefficients_array

    if grid.ndim != 1:
        msg = f"convolution_reference is 1-D only, got a {grid.ndim}-D grid"
        raise ValueError(msg)
    y = grid.axes[0]
    w = np.asarray(p0_pdf(y.reshape(-1, 1)), dtype=np.float64).reshape(-1) * grid.spacing[0]

    def moments(x: FloatArray, t: float) -> tuple[FloatArray, FloatArray]:
        alpha, sigma, c = marginal_coefficients_array(sde, [t])
        mean = alpha[0] * y[None, :] + c[0, 0]
        z = (x.reshape(-1, 1) - mean) / sigma[0]
        k = w[None, :] * np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * sigma[0])
        return k.sum(axis=1), (k * (-z / sigma[0])).sum(axis=1)

    def score(x: Any, t: Any) -> FloatArray:
        xs = np.asarray(x, dtype=np.float64)
        flat = xs.reshape(-1)
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        if tt.size not in (1, flat.size):
            msg = f"t must be a scalar or hold one time per point ({flat.size}), got {tt.size}"
            raise ValueError(msg)
        out = np.empty_like(flat)
        for tv in np.unique(tt):  # one quadrature per distinct time
            rows = slice(None) if tt.size == 1 else tt == tv
            p, dp = moments(flat[rows], float(tv))
            out[rows] = dp / np.maximum(p, 1e-300)
        return out.reshape(xs.shape)

    return Reference("convolution", score, lambda t: moments(grid.axes[0], t)[0], grid)


@dataclass(frozen=True)
class ScoreErrorCurve:
    """Score error of a model against a reference at several times (module docstring).

    Attributes
    ----------
    times, fisher, rel_l2 : ndarray of float64, shape (m,)
    reference : str    'exact', 'fd' or 'convolution'
    mass : float       p_t-mass of the region R_t
    """

    times: FloatArray
    fisher: FloatArray
    rel_l2: FloatArray
    reference: str
    mass: float

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"t": float(t), "fisher": float(f), "rel_l2": float(r), "reference": self.reference}
            for t, f, r in zip(self.times, self.fisher, self.rel_l2, strict=True)
        ]


def score_error_vs_t(
    score: Any, reference: Reference, times: Any, *, mass: float = 0.999
) -> ScoreErrorCurve:
    """Weighted Fisher divergence and relative L2 error of ``score`` against ``reference`` at ``times``.

    Parameters
    ----------
    score : callable s(x, t), x of shape (n, d) -> (n, d)   e.g. a LearnedScore
    reference : Reference                                   from exact_reference / fd_reference / ...
    times : array_like of float, shape (m,)
    mass : float in (0, 1]                                  p_t-mass of the evaluation region R_t
    """
    from fplab.metrics import hpd_mask

    g = reference.grid
    pts = g.points()
    d = g.ndim
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    fisher, rel = np.empty_like(ts), np.empty_like(ts)
    for i, t in enumerate(ts):
        p = np.clip(
            np.asarray(reference.density(float(t)), dtype=np.float64).reshape(g.shape), 0.0, None
        )
        mask = hpd_mask(p, g, mass).ravel()
        x = pts[mask]
        s_ref = np.asarray(reference.score(x, float(t)), dtype=np.float64).reshape(-1, d)
        s_hat = np.asarray(score(x, float(t)), dtype=np.float64).reshape(-1, d)
        w = p.ravel()[mask]
        err2 = np.sum((s_hat - s_ref) ** 2, axis=1)
        fisher[i] = np.sum(w * err2) / np.sum(w)
        rel[i] = np.sqrt(np.sum(w * err2) / np.sum(w * np.sum(s_ref**2, axis=1)))
    return ScoreErrorCurve(ts, fisher, rel, reference.name, float(mass))


# --------------------------------------------------------------------------------------------
# sample error
# --------------------------------------------------------------------------------------------
def w2_samples(x: FloatArray, y: FloatArray) -> float:
    """W2 between two empirical laws (``fp.metrics.w2``)."""
    from fplab.metrics import w2

    return float(w2(x, y))


def prior_samples(sde: Any, d: int, n: int, seed: int, *, quantiles: bool = False) -> FloatArray:
    """n samples of the prior N(c_T, σ_T² I) that starts reverse sampling at T, shape (n, d).

    ``quantiles=True`` (1-D only) gives the prior's quantiles at (i + 1/2)/n instead: a 1-D ODE
    flow is monotone, so PF-ODE outputs are then quantiles of the sampled law and their W2 to the
    p0 quantiles is the law-level error with no Monte-Carlo floor.
    """
    mean, std = prior_coefficients(sde, usable_end(sde), d)
    if quantiles:
        if d != 1:
            msg = f"quantile prior samples are 1-D only, got d={d}"
            raise ValueError(msg)
        from scipy.special import ndtri

        return mean + std * ndtri((np.arange(n) + 0.5) / n).reshape(n, 1)
    return mean + std * np.random.default_rng([seed, 1]).standard_normal((n, d))


def reference_samples(p0: Any, n: int, seed: int) -> FloatArray:
    """Samples of the target p0 for W2: quantiles F^{-1}((i + 1/2)/n) in 1-D when p0 has ``ppf``
    (no Monte-Carlo noise on the reference side), else ``p0.sample(n, seed)``; an array is used as is."""
    if isinstance(p0, np.ndarray):
        return p0.reshape(p0.shape[0], -1)
    if getattr(p0, "dim", None) == 1 and hasattr(p0, "ppf"):
        return np.asarray(p0.ppf((np.arange(n) + 0.5) / n)).reshape(-1, 1)
    return np.asarray(p0.sample(n, seed=np.random.default_rng([seed, 2]))).reshape(n, -1)


def _n_reference(p0: Any, n_samples: int) -> int:
    """Reference sample size: 20000 quantiles in 1-D (cheap sorting W2), n_samples in d > 1
    (exact optimal transport is O(n^2) memory)."""
    if getattr(p0, "dim", 1) == 1 and not isinstance(p0, np.ndarray):
        return max(n_samples, 20000)
    return n_samples


def sample_error_table(
    sde: Any,
    scores: dict[str, Any],
    p0: Any,
    *,
    methods: Any,
    n_steps: Any,
    n_samples: int = 4000,
    t_end: float = 1e-3,
    seed: int = 0,
    grid: Grid | None = None,
    p0_density: FloatArray | None = None,
    quantiles: bool = False,
) -> list[dict[str, Any]]:
    """W2 (and KL on ``grid``) to p0 of every sampler x n_steps x score, all from the same x_T and seed.

    Parameters
    ----------
    sde : SDE
    scores : dict name -> score callable, e.g. {'learned': model, 'exact': fp.exact_score(sde, p0)}
    p0 : target law (with ``ppf``/``sample``) or an array of reference samples
    methods : sequence of str       keys of ``fp.reverse.SAMPLERS``
    n_steps : sequence of int
    grid, p0_density : optional     grid and p0 on it for ``fp.metrics.kl_from_samples``
    quantiles : bool                1-D: start from prior quantiles (see :func:`prior_samples`)

    Returns
    -------
    list of dict: method, n_steps, score, w2, kl (NaN without a grid), and for non-reference scores
    ``w2_vs_<first score>``, the W2 between its samples and the first score's at the same N.
    """
    from fplab.metrics import kl_from_samples
    from fplab.reverse import sample_reverse

    d = int(reference_samples(p0, 2, seed).shape[1])
    x_T = prior_samples(sde, d, n_samples, seed, quantiles=quantiles)
    y_ref = reference_samples(p0, _n_reference(p0, n_samples), seed)
    names = list(scores)
    rows: list[dict[str, Any]] = []
    for method in methods:
        for n in n_steps:
            first: FloatArray | None = None
            for name in names:
                x = sample_reverse(
                    sde, scores[name], x_T, t_end=t_end, n_steps=int(n), method=method, seed=seed
                ).reshape(n_samples, d)
                row: dict[str, Any] = {
                    "method": method,
                    "n_steps": int(n),
                    "score": name,
                    "w2": w2_samples(x, y_ref),
                    "kl": float("nan"),
                }
                if grid is not None and p0_density is not None:
                    try:
                        row["kl"] = float(kl_from_samples(x, p0_density, grid, max_outside=0.05))
                    except ValueError:  # over 5% of the samples left the grid: KL undefined there
                        row["kl"] = float("inf")
                if first is None:
                    first = x
                else:
                    row[f"w2_vs_{names[0]}"] = w2_samples(x, first)
                rows.append(row)
    return rows


def coupled_samples(p_T: Any, sde: Any, x_T: FloatArray, seed: int) -> FloatArray:
    """Samples of the Gaussian mixture p_T driven by the same normals as the prior samples x_T:
    y_i = m_k + L_k z_i with z_i = (x_i - c_T)/σ_T and k ~ weights, so that |x_i - y_i| measures the
    prior mismatch rather than Monte-Carlo noise (their RMS bounds W2(prior, p_T) from above)."""
    d = x_T.shape[1]
    mean, std = prior_coefficients(sde, usable_end(sde), d)
    z = (x_T - mean) / std
    k = np.random.default_rng([seed, 3]).choice(p_T.n_components, size=x_T.shape[0], p=p_T.weights)
    chol = np.linalg.cholesky(p_T.covs)
    return p_T.means[k] + np.einsum("nij,nj->ni", chol[k], z)


def error_budget(
    sde: Any,
    learned: Any,
    exact: Any,
    p0: Any,
    p_T: Any,
    *,
    method: str,
    n_steps: int,
    n_ref: int,
    n_samples: int = 4000,
    t_end: float = 1e-3,
    seed: int = 0,
    grid: Grid,
    p0_density: FloatArray,
    ptmin_density: FloatArray,
    pT_density: FloatArray,
    keep_samples: bool = False,
) -> dict[str, Any]:
    """The W2 split of the module docstring for one sampler and n_steps, plus the grid KLs.

    ``p_T`` is the exact law at T (``sample(n, seed)``), used only for the prior-mismatch term
    (None: no exact p_T samples, the prior and mc_floor terms are NaN).  ``keep_samples`` adds
    the arrays 'x_learned' and 'x_exact' (n, d) of the N-step runs.
    Returns a flat dict: total, score, discretisation, prior, mc_floor, truncation (all W2),
    kl_prior = KL(p_T ‖ prior) and kl_truncation = KL(p_tmin ‖ p0) on the grid.
    """
    from fplab.metrics import kl, w2_density
    from fplab.reverse import sample_reverse

    d = grid.ndim
    x_T = prior_samples(sde, d, n_samples, seed)
    y_ref = reference_samples(p0, _n_reference(p0, n_samples), seed)

    def run(score: Any, x: FloatArray, n: int) -> FloatArray:
        out = sample_reverse(sde, score, x, t_end=t_end, n_steps=n, method=method, seed=seed)
        return np.asarray(out).reshape(-1, d)

    x_learned = run(learned, x_T, n_steps)
    x_exact = run(exact, x_T, n_steps)
    x_exact_ref = run(exact, x_T, n_ref)
    prior_term = mc_floor = float("nan")
    if p_T is not None:
        y_T = coupled_samples(p_T, sde, x_T, seed)
        y_exact_ref = run(exact, y_T, n_ref)
        prior_term = float(np.sqrt(np.mean(np.sum((x_exact_ref - y_exact_ref) ** 2, axis=1))))
        mc_floor = w2_samples(y_exact_ref, y_ref)
    mean, std = prior_coefficients(sde, usable_end(sde), d)
    pts = grid.points()
    prior = np.exp(-0.5 * np.sum((pts - mean) ** 2, axis=1) / std**2) / (2 * np.pi * std**2) ** (
        d / 2
    )
    trunc = w2_density(ptmin_density, p0_density, grid) if d == 1 else float("nan")
    out: dict[str, Any] = {
        "method": method,
        "n_steps": int(n_steps),
        "total": w2_samples(x_learned, y_ref),
        "total_exact_score": w2_samples(x_exact, y_ref),
        "score": w2_samples(x_learned, x_exact),
        "discretisation": w2_samples(x_exact, x_exact_ref),
        "prior": prior_term,
        "mc_floor": mc_floor,
        "truncation": float(trunc),
        "kl_prior": float(kl(pT_density, prior.reshape(grid.shape), grid)),
        "kl_truncation": float(kl(ptmin_density, p0_density, grid)),
    }
    if keep_samples:
        out["x_learned"], out["x_exact"] = x_learned, x_exact
    return out
