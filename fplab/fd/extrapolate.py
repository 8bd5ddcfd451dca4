"""``solve_extrapolated``: a grid solve one Richardson step above its scheme's order, with an
error estimate split into space and time.

A space scheme of order p on nested grids h and h/r gives cell averages whose errors are
C h^p + O(h^q) and C (h/r)^p + O(h^q); the combination

    E = R(p_{h/r}) + (R(p_{h/r}) - p_h) / (r^p - 1),      R = block mean onto the h grid,

cancels the h^p term and is of order q (``SpaceScheme.extrapolated_order``: 6 for ``fv4``, whose
interior stencils are symmetric so that the expansion has even powers only; measured 5.8-5.97 on
the 1-D and 2-D OU problems).  E lives on the coarse grid, conserves mass exactly (its weights
sum to 1, both solves conserve it) and is not positive in general.  Point values are taken from
E by the eighth-order reconstruction (``fplab.fd.reconstruct``; sixth order alone would add 6e-8
in L1 at 128² on the 2-D OU problem, three times E's own error).

The estimate has two parts, each a Richardson estimate at every stored time:

- space: E on (h, h/r) against E on (r h, h), ∫ |R(E_h) - E_{rh}| / (r^q - 1) on the r h grid
  (a third, r^d times smaller solve);
- time: the h solve at dt against one at dt/2 (twice the steps), ∫ |p_dt - p_{dt/2}| times
  2^k / (2^k - 1), k the time scheme's order: the error of the dt solve, the coarser in time.
  Every solve shares dt, so the time error of E is that of any of them to leading order; the
  space extrapolation does not remove it.

Measured on the 2-D OU bimodal problem ([-8, 8]², t = 0.5, sdirk4, dt = 0.025): fv4 alone at
128² has L1 2.95e-5 against the exact marginal; E from 128²/256² has 2.2e-8 (point values) and
its estimate 1.5e-8.  1-D OU, N = 256: estimate/true 1.13 (time dominated, dt = 0.02) and 0.97
(space dominated, dt = 2.5e-3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_int, check_positive
from fplab.fd.reconstruct import RECONSTRUCTION_ORDERS, point_values
from fplab.fd.richardson import _averages, _restrict
from fplab.fd.solution import FPSolution
from fplab.fd.solve import solve_fokker_planck
from fplab.fd.space import SPACE_SCHEMES
from fplab.fd.time import TIME_SCHEMES
from fplab.grid import Grid

__all__ = ["ErrorEstimate", "solve_extrapolated"]


@dataclass(frozen=True)
class ErrorEstimate:
    """Estimated L1 error of a grid solution at each stored time, by source.

    Attributes
    ----------
    space, time : ndarray of float64, shape (m,)
        Richardson estimates of the space and time parts (see ``fplab.fd.extrapolate``).
    order : float
        The space order the space part assumes (the extrapolated order).
    method : str
        How each part was obtained, in words (shown on report pages).
    """

    space: FloatArray
    time: FloatArray
    order: float
    method: str

    @property
    def total(self) -> FloatArray:
        """space + time, shape (m,)."""
        return self.space + self.time

    @property
    def final(self) -> float:
        """The total at the last stored time."""
        return float(self.total[-1])


def _point_order(grid: Grid) -> int:
    """The highest reconstruction order the grid allows (8 needs 8 cells per axis): the point
    values of E must not lose its order (order 6 alone costs 6e-8 in L1 at 128² on the 2-D OU
    problem, four times E's own error; order 8 keeps it below 1e-9)."""
    return max(o for o in RECONSTRUCTION_ORDERS if o <= min(grid.n))


def _extrapolate(coarse: FPSolution, fine: FPSolution, r: int, p: float) -> FloatArray:
    """E at every stored time on the coarse grid, shape (m, *coarse.grid.shape)."""
    out = np.empty((coarse.times.shape[0], *coarse.grid.shape))
    for i in range(coarse.times.shape[0]):
        c = _averages(coarse, i)
        f = _restrict(_averages(fine, i), r, coarse.grid.ndim)
        out[i] = f + (f - c) / (r**p - 1.0)
    return out


def solve_extrapolated(
    sde: Any,
    p0: Any,
    grid: Grid,
    t_final: float,
    *,
    refine: int = 2,
    estimate: bool = True,
    space_scheme: str = "fv4",
    time_scheme: str = "sdirk4",
    dt: float | None = None,
    **kwargs: Any,
) -> FPSolution:
    """Solve on ``grid`` and on a ``refine`` times finer grid and return their Richardson
    extrapolation on ``grid``, with an error estimate.

    Parameters
    ----------
    sde, t_final
        As for :func:`fplab.fd.solve_fokker_planck`.
    p0 : distribution
        Initial law with a ``pdf`` (it is sampled on each grid, so an array on ``grid`` alone
        cannot serve).
    grid : Grid
        The grid of the result (1-D or 2-D).
    refine : int
        r >= 2: the finer solve has r times the cells per axis.
    estimate : bool
        Also solve on the r times coarser grid and at dt/2 on ``grid`` to fill
        ``error_estimate`` (about 45 % more work in 2-D, r = 2).  Without it ``error_estimate``
        is None.
    space_scheme, time_scheme : str
        Registry keys (default the fourth-order pair ``fv4`` + ``sdirk4``).
    dt : float, optional
        The step of every solve.  Default: the time scheme's default on the finest grid.
    **kwargs
        Passed to :func:`fplab.fd.solve_fokker_planck` (``t0``, ``bc``, ``save_at``,
        ``threads``).

    Returns
    -------
    FPSolution
        On ``grid``: ``cell_averages`` hold E, ``densities`` its point values (sixth-order
        reconstruction), ``error_estimate`` an :class:`ErrorEstimate`, ``extrapolated_from``
        the cells per axis of the two solves combined, ``n_steps`` the steps of one solve.

    Raises
    ------
    TypeError
        ``p0`` without a ``pdf``.
    ValueError
        ``refine`` < 2; anything :func:`fplab.fd.solve_fokker_planck` refuses.

    Notes
    -----
    The space part of the estimate needs the r times coarser grid to exist (cells per axis
    divisible by r and at least the scheme's ``min_cells``); otherwise it falls back to the
    Richardson estimate of the finer solve itself, an upper bound (``method`` says which).
    """
    if not hasattr(p0, "pdf"):
        msg = (
            "p0 must be a distribution with a pdf (e.g. fp.GaussianMixture): solve_extrapolated "
            f"samples it on grids of several resolutions; got {type(p0).__name__}"
        )
        raise TypeError(msg)
    r = check_int(refine, "refine")
    if r < 2:
        msg = f"refine must be an integer >= 2 (cells per axis of the finer solve), got {refine}"
        raise ValueError(msg)
    if not isinstance(grid, Grid):
        msg = f"grid must be an fplab Grid (fp.Grid.uniform(...)), got {type(grid).__name__}"
        raise TypeError(msg)
    space = SPACE_SCHEMES.get(space_scheme)
    scheme = TIME_SCHEMES.get(time_scheme)
    p = float(space.order)
    q = float(space.extrapolated_order or space.order + 1)
    if dt is not None:
        dt = check_positive(dt, "dt")
    opts = dict(kwargs, space_scheme=space_scheme, time_scheme=time_scheme)

    fine = solve_fokker_planck(
        sde, p0, grid.with_n(tuple(r * n for n in grid.n)), t_final, dt=dt, **opts
    )
    dt = fine.dt
    coarse = solve_fokker_planck(sde, p0, grid, t_final, dt=dt, **opts)
    averages = _extrapolate(coarse, fine, r, p)
    m = coarse.times.shape[0]

    error = None
    if estimate:
        n_half = [n // r for n in grid.n]
        if all(n % r == 0 for n in grid.n) and min(n_half) >= space.min_cells:
            half = solve_fokker_planck(sde, p0, grid.with_n(tuple(n_half)), t_final, dt=dt, **opts)
            lower = _extrapolate(half, coarse, r, p)
            space_err = np.array(
                [
                    half.grid.integrate(np.abs(_restrict(averages[i], r, grid.ndim) - lower[i]))
                    for i in range(m)
                ]
            ) / (r**q - 1.0)
            space_how = f"extrapolations on {n_half[0]}/{grid.n[0]} and {grid.n[0]}/{r * grid.n[0]} cells, order {q:g}"
        else:
            space_err = np.array(
                [
                    grid.integrate(
                        np.abs(_restrict(_averages(fine, i), r, grid.ndim) - _averages(coarse, i))
                    )
                    for i in range(m)
                ]
            ) / (r**p - 1.0)
            q = p
            space_how = (
                f"upper bound: error of the {r * grid.n[0]}-cell solve (no {r} times coarser grid)"
            )
        halved = solve_fokker_planck(sde, p0, grid, t_final, dt=dt / 2.0, **opts)
        # |p_dt - p_dt/2| = (1 - 2^-k) |error of p_dt|: the result is the dt solve (the coarser
        # in time), so its error is the difference times 2^k / (2^k - 1), not / (2^k - 1)
        k = float(scheme.order)
        time_err = np.array(
            [grid.integrate(np.abs(_averages(halved, i) - _averages(coarse, i))) for i in range(m)]
        ) * (2.0**k / (2.0**k - 1.0))
        error = ErrorEstimate(
            space=space_err,
            time=time_err,
            order=q,
            method=f"space: {space_how}; time: dt={dt:.3g} against dt/2, order {scheme.order}",
        )
    return replace(
        coarse,
        densities=point_values(averages, grid, order=_point_order(grid)),
        cell_averages=averages,
        error_estimate=error,
        extrapolated_from=(grid.n[0], r * grid.n[0]),
    )
