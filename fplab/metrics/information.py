"""Differential entropy and (relative) Fisher information of densities on a grid.

These make the textbook identities along a Fokker–Planck solution testable:

* de Bruijn, heat flow dX = g dW:          dH(p_t)/dt = ½ g² I(p_t)
* OU towards its stationary law p_∞:        d KL(p_t ‖ p_∞)/dt = -½ g² I(p_t ‖ p_∞)

with H(p) = -∫ p log p, I(p) = ∫ p |∇ log p|² and I(p ‖ q) = ∫ p |∇ log p - ∇ log q|².
Gradients of log p are second-order central differences (one-sided second-order at the box edges),
so I is O(dx²) accurate; for a Gaussian log p is quadratic and the difference quotient is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.grid import Grid
from fplab.metrics._base import NEGATIVE_TOL, as_density, check_grid, metric

__all__ = ["entropy", "fisher_information", "log_density_gradient", "relative_fisher_information"]

#: log p is evaluated as log(max(p, LOG_FLOOR)); cells at the floor carry weight p <= 1e-300
LOG_FLOOR = 1e-300


def log_density_gradient(p: Any, grid: Grid, *, normalize: bool = True) -> FloatArray:
    """∇ log p on the grid by central differences: the finite-difference score of a density.

    Parameters
    ----------
    p : ndarray of float64, shape grid.shape
    grid : Grid

    Returns
    -------
    ndarray of float64, shape (n,) on a 1-D grid, (nx, ny, 2) on a 2-D grid
        Second-order central differences of log max(p, 1e-300) inside, second-order one-sided at
        the edges (``np.gradient(edge_order=2)``).  Values where p is below 1e-300 are
        meaningless but carry no weight in any p-weighted integral.
    """
    g = check_grid(grid)
    pa = as_density(p, g, "p", normalize=normalize)
    logp = np.log(np.maximum(pa, LOG_FLOOR))
    grads = np.gradient(logp, *g.spacing, edge_order=2)
    if g.ndim == 1:
        return np.asarray(grads, dtype=np.float64)
    return np.stack(grads, axis=-1)


@metric("entropy", "density", ("p", "grid"))
def entropy(
    p: Any, grid: Grid, *, normalize: bool = True, negative_tol: float = NEGATIVE_TOL
) -> float:
    """Differential entropy H(p) = -∫ p log p dx (nats), with 0 log 0 = 0.

    Midpoint rule, O(dx²) for smooth p; the truncated tails outside the box are missing.  For
    N(m, σ²): H = ½ log(2π e σ²).
    """
    g = check_grid(grid)
    pa = as_density(p, g, "p", normalize=normalize, negative_tol=negative_tol)
    pos = pa > 0
    return float(-np.sum(pa[pos] * np.log(pa[pos])) * g.cell_volume)


@metric("fisher-information", "density", ("p", "grid"))
def fisher_information(
    p: Any, grid: Grid, *, normalize: bool = True, negative_tol: float = NEGATIVE_TOL
) -> float:
    """Fisher information I(p) = ∫ p |∇ log p|² dx, with ∇ log p from :func:`log_density_gradient`.

    O(dx²); exact up to the midpoint rule for Gaussians (I = tr C^{-1}).
    """
    g = check_grid(grid)
    pa = as_density(p, g, "p", normalize=normalize, negative_tol=negative_tol)
    s = log_density_gradient(pa, g, normalize=False).reshape(g.size, -1)
    return float(np.sum(pa.ravel() * np.sum(s * s, axis=1)) * g.cell_volume)


@metric("relative-fisher-information", "density", ("p", "q", "grid"))
def relative_fisher_information(
    p: Any, q: Any, grid: Grid, *, normalize: bool = True, negative_tol: float = NEGATIVE_TOL
) -> float:
    """Relative Fisher information I(p ‖ q) = ∫ p |∇ log p - ∇ log q|² dx.

    Both gradients by central differences on the grid (O(dx²)).  q must be positive wherever p
    carries mass (q below 1e-300 there makes ∇ log q meaningless: ``ValueError``).
    """
    g = check_grid(grid)
    pa = as_density(p, g, "p", normalize=normalize, negative_tol=negative_tol)
    qa = as_density(q, g, "q", normalize=normalize, negative_tol=negative_tol)
    uncovered = (qa < LOG_FLOOR) & (pa > 1e-12 * pa.max())
    if np.any(uncovered):
        msg = (
            f"q vanishes on {int(uncovered.sum())} cell(s) where p carries mass; "
            "I(p||q) is infinite or undefined there"
        )
        raise ValueError(msg)
    sp = log_density_gradient(pa, g, normalize=False).reshape(g.size, -1)
    sq = log_density_gradient(qa, g, normalize=False).reshape(g.size, -1)
    diff2 = np.sum((sp - sq) ** 2, axis=1)
    return float(np.sum(pa.ravel() * diff2) * g.cell_volume)
