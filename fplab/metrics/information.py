"""Differential entropy and (relative) Fisher information of densities on a grid.

These make the textbook identities along a Fokker–Planck solution testable:

* de Bruijn, heat flow dX = g dW:          dH(p_t)/dt = ½ g² I(p_t)
* OU towards its stationary law p_∞:        d KL(p_t ‖ p_∞)/dt = -½ g² I(p_t ‖ p_∞)

with H(p) = -∫ p log p, I(p) = ∫ p |∇ log p|² and I(p ‖ q) = ∫ p |∇ log p - ∇ log q|².
Gradients of log p are fourth-order central differences by default (``fd_order=2`` for the
second-order ones; second-order one-sided at the box edges), so I is O(dx⁴) (resp. O(dx²))
accurate where the density lives; for a Gaussian log p is quadratic and every quotient is exact.
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


def _derivative(f: FloatArray, h: float, axis: int, fd_order: int) -> FloatArray:
    """df/dx along ``axis`` (uniform spacing h): central of order 2 or 4, one-sided 2 at edges."""
    out = np.gradient(f, h, axis=axis, edge_order=2)
    n = f.shape[axis]
    if fd_order == 4 and n >= 5:

        def sl(a: int, b: int | None) -> FloatArray:
            return np.take(f, np.arange(n)[a:b], axis=axis)

        # (-f[i+2] + 8 f[i+1] - 8 f[i-1] + f[i-2]) / (12 h) for i = 2 .. n-3
        inner = (-sl(4, None) + 8.0 * sl(3, -1) - 8.0 * sl(1, -3) + sl(0, -4)) / (12.0 * h)
        idx = [slice(None)] * f.ndim
        idx[axis] = slice(2, n - 2)
        out[tuple(idx)] = inner
    return out


def log_density_gradient(
    p: Any, grid: Grid, *, normalize: bool = True, fd_order: int = 4
) -> FloatArray:
    """∇ log p on the grid by central differences: the finite-difference score of a density.

    Parameters
    ----------
    p : ndarray of float64, shape grid.shape
    grid : Grid
    fd_order : {4, 2}, default 4
        Order of the central differences in the interior; the two cells next to each edge (one
        with ``fd_order=2``) use second-order differences (one-sided at the edge).

    Returns
    -------
    ndarray of float64, shape (n,) on a 1-D grid, (nx, ny, 2) on a 2-D grid
        Differences of log max(p, 1e-300).  Values where p is below 1e-300 are meaningless but
        carry no weight in any p-weighted integral.
    """
    g = check_grid(grid)
    if fd_order not in (2, 4):
        msg = f"fd_order must be 2 or 4, got {fd_order!r}"
        raise ValueError(msg)
    pa = as_density(p, g, "p", normalize=normalize)
    logp = np.log(np.maximum(pa, LOG_FLOOR))
    grads = [_derivative(logp, h, axis, fd_order) for axis, h in enumerate(g.spacing)]
    if g.ndim == 1:
        return grads[0]
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
    p: Any,
    grid: Grid,
    *,
    normalize: bool = True,
    negative_tol: float = NEGATIVE_TOL,
    fd_order: int = 4,
) -> float:
    """Fisher information I(p) = ∫ p |∇ log p|² dx, with ∇ log p from :func:`log_density_gradient`.

    O(dx^fd_order) (measured orders 4.0 and 2.0 on a bimodal mixture); exact up to the midpoint
    rule for Gaussians (I = tr C^{-1}).
    """
    g = check_grid(grid)
    pa = as_density(p, g, "p", normalize=normalize, negative_tol=negative_tol)
    s = log_density_gradient(pa, g, normalize=False, fd_order=fd_order).reshape(g.size, -1)
    return float(np.sum(pa.ravel() * np.sum(s * s, axis=1)) * g.cell_volume)


@metric("relative-fisher-information", "density", ("p", "q", "grid"), power=2)
def relative_fisher_information(
    p: Any,
    q: Any,
    grid: Grid,
    *,
    normalize: bool = True,
    negative_tol: float = NEGATIVE_TOL,
    fd_order: int = 4,
) -> float:
    """Relative Fisher information I(p ‖ q) = ∫ p |∇ log p - ∇ log q|² dx.

    Both gradients by central differences on the grid (O(dx^fd_order)).  q must be positive wherever p
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
    sp = log_density_gradient(pa, g, normalize=False, fd_order=fd_order).reshape(g.size, -1)
    sq = log_density_gradient(qa, g, normalize=False, fd_order=fd_order).reshape(g.size, -1)
    diff2 = np.sum((sp - sq) ** 2, axis=1)
    return float(np.sum(pa.ravel() * diff2) * g.cell_volume)
