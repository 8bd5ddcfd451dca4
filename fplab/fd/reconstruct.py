"""Cell averages and point values on a cell-centred grid, converted to order 4, 6, 8 or 10.

A second-order scheme does not distinguish a cell's average p̄_i = (1/h) ∫ p over the cell from
the point value p(x_i) at its centre: they differ by h²/24 · p''(x_i) + O(h⁴), which is the
size of its own error.  A fourth-order finite-volume scheme (``fv4``) evolves cell averages
exactly up to its flux error, so comparing them with a density sampled at the centres would cap
the observed order at 2 (for the 1-D OU bimodal problem the difference is 1.2e-4 in L1 at
N = 256, far above the scheme's error).  These maps keep the order asked for:

    order 4, point from averages:  p_i = (-p̄_{i-1} + 26 p̄_i - p̄_{i+1}) / 24
    order 4, average from points:  p̄_i = (p_{i-1} + 22 p_i + p_{i+1}) / 24
    order 6, point from averages:  p_i = (9 p̄_{i-2} - 116 p̄_{i-1} + 2134 p̄_i - ...) / 1920
    order 6, average from points:  p̄_i = (-17 p_{i-2} + 308 p_{i-1} + 5178 p_i + ...) / 5760

(interior, symmetric), with one-sided stencils over the first ``order`` cells in the first
``order/2 - 1`` cells at each end (exact for polynomials of degree order - 1).  Every weight is
the exact rational solution of the moment conditions (``_weights``), so the order-4 weights are
the classical ones above and the order-6 ones are exact too.  In 2-D the 1-D map is applied along
each axis: the cell average is a tensor product of 1-D averages, so the order is kept.  Sixth order
is what a Richardson-extrapolated fourth-order solve needs (``fplab.fd.solve_extrapolated``).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import cache

import numpy as np

from fplab._typing import Density, FloatArray
from fplab.grid import Grid

__all__ = ["RECONSTRUCTION_ORDERS", "cell_averages", "gauss_cell_averages", "point_values"]

#: orders of the point-value <-> cell-average maps
RECONSTRUCTION_ORDERS = (4, 6, 8, 10)
#: 3-point Gauss–Legendre nodes on [-1/2, 1/2] and weights (sum 1): exact for quintics
_GAUSS_NODES = np.array([-0.5 * np.sqrt(0.6), 0.0, 0.5 * np.sqrt(0.6)])
_GAUSS_WEIGHTS = np.array([5.0, 8.0, 5.0]) / 18.0


def _cell_moment(j: int, k: int) -> Fraction:
    """The average of x^k over the unit cell centred at the integer j."""
    a, b = Fraction(2 * j - 1, 2), Fraction(2 * j + 1, 2)
    return (b ** (k + 1) - a ** (k + 1)) / (k + 1)


def _solve_exact(a: list[list[Fraction]], b: list[Fraction]) -> list[Fraction]:
    """Gauss–Jordan elimination in exact rationals (the moment systems are tiny and regular)."""
    n = len(b)
    m = [[*row, rhs] for row, rhs in zip(a, b)]
    for c in range(n):
        piv = next(r for r in range(c, n) if m[r][c] != 0)
        m[c], m[piv] = m[piv], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


@cache
def _weights(offsets: tuple[int, ...], to: str) -> FloatArray:
    """Weights w_j over the cells ``offsets`` (relative to the target cell 0), exact for
    polynomials of degree len(offsets) - 1: to='point' maps averages to the centre value,
    to='average' maps centre values to the cell average."""
    degrees = range(len(offsets))
    if to == "point":
        a = [[_cell_moment(j, k) for j in offsets] for k in degrees]
        b = [Fraction(int(k == 0)) for k in degrees]
    else:
        a = [[Fraction(j) ** k for j in offsets] for k in degrees]
        b = [_cell_moment(0, k) for k in degrees]
    return np.array([float(w) for w in _solve_exact(a, b)])


def _check_order(order: int) -> int:
    if order not in RECONSTRUCTION_ORDERS:
        msg = f"order must be one of {RECONSTRUCTION_ORDERS}, got {order!r}"
        raise ValueError(msg)
    return int(order)


def _along(p: FloatArray, axis: int, order: int, to: str) -> FloatArray:
    """The order-``order`` map along ``axis``: symmetric inside, one-sided near the walls."""
    q = np.moveaxis(np.asarray(p, dtype=np.float64), axis, 0)
    n = q.shape[0]
    if n < order:
        msg = f"order-{order} reconstruction needs at least {order} cells per axis, got {n}"
        raise ValueError(msg)
    half = order // 2 - 1
    inner = _weights(tuple(range(-half, half + 1)), to)
    out = np.empty_like(q)
    out[half : n - half] = inner[half] * q[half : n - half]
    for j in range(1, half + 1):
        out[half : n - half] += inner[half + j] * (
            q[half - j : n - half - j] + q[half + j : n - half + j]
        )
    for i in range(half):  # one-sided over the first ``order`` cells, mirrored at the far end
        w = _weights(tuple(range(-i, order - i)), to)
        out[i] = np.tensordot(w, q[:order], axes=(0, 0))
        out[n - 1 - i] = np.tensordot(w, q[::-1][:order], axes=(0, 0))
    return np.moveaxis(out, 0, axis)


def point_values(p: Density, grid: Grid, *, order: int = 4) -> Density:
    """Point values at the cell centres from cell averages, to O(h^order).

    Parameters
    ----------
    p : ndarray of float64, shape ``grid.shape`` or (m, *grid.shape)
        Cell averages (a leading axis of stored times is allowed).
    grid : Grid
    order : int
        4, 6, 8 or 10 (``RECONSTRUCTION_ORDERS``; an (order - 1)-point stencil inside); needs
        ``order`` cells per axis.

    Returns
    -------
    ndarray of float64, the shape of ``p``
    """
    order = _check_order(order)
    arr = np.asarray(p, dtype=np.float64)
    lead = arr.ndim - grid.ndim
    for axis in range(grid.ndim):
        arr = _along(arr, lead + axis, order, "point")
    return arr


def cell_averages(p: Density, grid: Grid, *, order: int = 4) -> Density:
    """Cell averages from point values at the cell centres, to O(h^order) (inverse of
    :func:`point_values` up to O(h^order)).

    Parameters
    ----------
    p : ndarray of float64, shape ``grid.shape`` or (m, *grid.shape)
        Point values at the centres.
    grid : Grid
    order : int
        4, 6, 8 or 10, as for :func:`point_values`.

    Returns
    -------
    ndarray of float64, the shape of ``p``
    """
    order = _check_order(order)
    arr = np.asarray(p, dtype=np.float64)
    lead = arr.ndim - grid.ndim
    for axis in range(grid.ndim):
        arr = _along(arr, lead + axis, order, "average")
    return arr


def gauss_cell_averages(pdf: Callable[[FloatArray], FloatArray], grid: Grid) -> Density:
    """Cell averages of a density by 3-point Gauss–Legendre per axis (error O(h⁶)).

    Parameters
    ----------
    pdf : callable, x (n, d) -> (n,)
    grid : Grid

    Returns
    -------
    ndarray of float64, shape ``grid.shape``; never negative when ``pdf`` is not.
    """
    h = np.asarray(grid.spacing, dtype=np.float64)
    total = np.zeros(grid.shape)
    pts = grid.points()
    for idx in np.ndindex(*(3,) * grid.ndim):
        w = float(np.prod(_GAUSS_WEIGHTS[list(idx)]))
        shift = _GAUSS_NODES[list(idx)] * h
        total += w * np.asarray(pdf(pts + shift), dtype=np.float64).reshape(grid.shape)
    return total
