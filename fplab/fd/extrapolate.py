"""``solve_extrapolated``: a grid solve one Richardson step above its scheme's order, with an
error estimate split into space and time.

A space scheme of order p on nested grids h and h/r gives cell averages whose errors are
C h^p + O(h^q) and C (h/r)^p + O(h^q); the combination

    E = R(p_{h/r}) + (R(p_{h/r}) - p_h) / (r^p - 1),      R = block mean onto the h grid,

cancels the h^p term and is of order q (``SpaceScheme.extrapolated_order``: 6 for ``fv4``, whose
interior stencils are symmetric so that the expansion has even powers only; local slopes 5.49,
5.75, 5.85 from N = 48 to 128 on the 1-D OU problem against normal-CDF cell averages, rising
towards 6).  E lives on the coarse grid, conserves mass exactly (its weights
sum to 1, both solves conserve it) and is not positive in general.  Point values are taken from
E by the eighth-order reconstruction (``fplab.fd.reconstruct``; sixth order alone would add 6e-8
in L1 at 128² on the 2-D OU problem, three times E's own error).

The estimate has two parts, each a Richardson estimate at every stored time:

- space: E on (h, h/r) against E on (r h, h), ∫ |R(E_h) - E_{rh}| / (r^q - 1) on the r h grid
  (a third, r^d times smaller solve).  Where the three solves' differences do not shrink at
  the scheme's order (observed order off by more than ``ASYMPTOTIC_SLACK``: the grids are not yet
  asymptotic) it is the size of the correction, ∫ |E - R(p_{h/r})|, instead (fv4 on 12 cells of
  [-8, 8]: 0.04x the true error before, 0.91x after; double well on 64 cells of [-3.5, 3.5]:
  1.7e4x before, 18x after);
- time: the h solve at dt against one at dt/2 (twice the steps), ∫ |p_dt - p_{dt/2}| times
  2^k / (2^k - 1), k the time scheme's order: the error of the dt solve, the coarser in time.
  Every solve shares dt, so the time error of E is that of any of them to leading order; the
  space extrapolation does not remove it;
- reconstruction (point values only): the order-8 point values of E against order 10;
- box (``box=True``): the solve on ``grid`` against one on a box widened by a quarter of its
  cells a side, compared on the original box (not the r times coarser solve: there the walls'
  one-sided stencils on an under-resolved law dominate the difference, 1.2e-3 against a box
  error of ~1e-10 for 64x32 cells on [-8, 8] x [-6, 6]; 7.2e-7 on ``grid``).  Without it, the
  mass in the outermost cells is reported (``wall_mass``) and a warning names the time where it
  exceeds a tenth of the estimate.

Measured on the 2-D OU bimodal problem ([-8, 8]², t = 0.5, sdirk4, dt = 0.025): fv4 alone at
128² has L1 2.9e-5 against the exact marginal; E from 128²/256² has 2.2e-8 (point values) and
its estimate 3.1e-8 (space 1.4e-8, time 1.5e-8, reconstruction 1.8e-9).  1-D OU, N = 256:
estimate/true 1.13 (time dominated, dt = 0.02) and 0.97 (space dominated, dt = 2.5e-3).
"""

from __future__ import annotations

import warnings
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

#: how far the order observed on the three solves (r times coarser, the grid, r times finer) may
#: stray from the scheme's before the space part is the size of the correction instead
#: (fv4, 1-D OU bimodal, dt 2.5e-3: 3.84-3.98 for N >= 48, where the estimate is 0.57-0.97 of
#: the true error; 3.21 at N = 12, where it was 0.04 of it)
ASYMPTOTIC_SLACK = 0.5


@dataclass(frozen=True)
class ErrorEstimate:
    """Estimated L1 error of a grid solution at each stored time, by source.

    Attributes
    ----------
    space, time : ndarray of float64, shape (m,)
        Richardson estimates of the space and time parts of the error of the cell averages
        (see ``fplab.fd.extrapolate``).
    reconstruction : ndarray of float64, shape (m,)
        What the point values (``densities``) add: ∫ |P_{o+2}(E) - P_o(E)|, the order-o
        reconstruction against the next one (an upper bound where o + 2 does not fit the grid).
    box : ndarray of float64, shape (m,), or None
        With ``box=True``: the error of replacing the whole space by the box, from a solve on a
        box widened by a quarter of its width on each side (None when not estimated).
    wall_mass : ndarray of float64, shape (m,)
        Mass in the outermost layer of cells: where it is not far below the total, the walls
        matter and ``box`` should be estimated (``solve_extrapolated`` warns).
    order : float
        The space order the space part assumes (the extrapolated order).
    method : str
        How each part was obtained, in words (shown on report pages).
    """

    space: FloatArray
    time: FloatArray
    reconstruction: FloatArray
    box: FloatArray | None
    wall_mass: FloatArray
    order: float
    method: str

    @property
    def total(self) -> FloatArray:
        """Estimated L1 error of the cell averages: space + time (+ box when estimated)."""
        out = self.space + self.time
        return out if self.box is None else out + self.box

    @property
    def total_points(self) -> FloatArray:
        """Estimated L1 error of the point values (``densities``): total + reconstruction."""
        return self.total + self.reconstruction

    @property
    def final(self) -> float:
        """``total_points`` at the last stored time: the error of ``sol.density``."""
        return float(self.total_points[-1])


def _point_order(grid: Grid) -> int:
    """The reconstruction order for E's point values: 8 where the grid also allows 10 (to
    estimate it), else the highest that fits (order 6 alone costs 6e-8 in L1 at 128² on the
    2-D OU problem, three times E's own error; order 8 keeps it near 1e-9)."""
    fits = [o for o in RECONSTRUCTION_ORDERS if o <= min(grid.n)]
    return 8 if 10 in fits else max(fits)


def _extrapolate(coarse: FPSolution, fine: FPSolution, r: int, p: float) -> FloatArray:
    """E at every stored time on the coarse grid, shape (m, *coarse.grid.shape)."""
    out = np.empty((coarse.times.shape[0], *coarse.grid.shape))
    for i in range(coarse.times.shape[0]):
        c = _averages(coarse, i)
        f = _restrict(_averages(fine, i), r, coarse.grid.ndim)
        out[i] = f + (f - c) / (r**p - 1.0)
    return out


def _l1(grid: Grid, a: FloatArray, b: FloatArray) -> float:
    return float(grid.integrate(np.abs(a - b)))


def _wall_mass(averages: FloatArray, grid: Grid) -> FloatArray:
    """Mass in the outermost layer of cells at every stored time."""
    inner = np.abs(averages).copy()
    core = (slice(None), *(slice(1, n - 1) for n in grid.n))
    inner[core] = 0.0
    return np.array([float(grid.integrate(a)) for a in inner])


def _widened(grid: Grid) -> tuple[Grid, int]:
    """The grid on a box widened by m >= 2 cells (a quarter of the cells) on every side."""
    m = max(2, -(-min(grid.n) // 4))
    h = grid.spacing
    lo = tuple(a - m * dx for a, dx in zip(grid.lo, h))
    hi = tuple(b + m * dx for b, dx in zip(grid.hi, h))
    n = tuple(k + 2 * m for k in grid.n)
    if grid.ndim == 1:
        return Grid.uniform(lo[0], hi[0], n[0]), m
    return Grid.uniform(lo, hi, n), m


def _box_error(
    sde: Any, p0: Any, base: FPSolution, t_final: float, opts: dict[str, Any]
) -> tuple[FloatArray, str]:
    """The base solve against one on a widened box, on the base box, at every stored time."""
    wide, m = _widened(base.grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the widened box meets p0's tails: no mass warning
        sol = solve_fokker_planck(sde, p0, wide, t_final, dt=base.dt, **opts)
    core = tuple(slice(m, m + n) for n in base.grid.n)
    out = np.array(
        [
            _l1(base.grid, _averages(sol, i)[core], _averages(base, i))
            for i in range(base.times.shape[0])
        ]
    )
    return (
        out,
        f"box: {base.grid.n[0]} cells against {wide.n[0]} on a box widened by {m} cells a side",
    )


def _differences(coarse: FPSolution, fine: FPSolution, r: int, m: int) -> FloatArray:
    """∫ |R(fine) - coarse| on the coarse grid at each of the m stored times."""
    ndim = coarse.grid.ndim
    return np.array(
        [
            _l1(coarse.grid, _restrict(_averages(fine, i), r, ndim), _averages(coarse, i))
            for i in range(m)
        ]
    )


def _space_error(
    sde: Any,
    p0: Any,
    grid: Grid,
    coarse: FPSolution,
    fine: FPSolution,
    averages: FloatArray,
    r: int,
    p: float,
    q: float,
    min_cells: int,
    t_final: float,
    opts: dict[str, Any],
) -> tuple[FloatArray, float, str, FPSolution | None]:
    """(space part, order assumed, how, the r times coarser solve or None)."""
    m = coarse.times.shape[0]
    n_half = [n // r for n in grid.n]
    if all(n % r == 0 for n in grid.n) and min(n_half) >= min_cells:
        half = solve_fokker_planck(
            sde, p0, grid.with_n(tuple(n_half)), t_final, dt=coarse.dt, **opts
        )
        lower = _extrapolate(half, coarse, r, p)
        err = np.array(
            [_l1(half.grid, _restrict(averages[i], r, grid.ndim), lower[i]) for i in range(m)]
        ) / (r**q - 1.0)
        how = (
            f"extrapolations on {n_half[0]}/{grid.n[0]} and {grid.n[0]}/{r * grid.n[0]} cells, "
            f"order {q:g}"
        )
        # the three solves' differences shrink by r^p a level where Richardson holds; where they
        # do not (observed order off by more than ASYMPTOTIC_SLACK) the coarsest solve is outside
        # the asymptotic range, E on (r h, h) means nothing, and the space part is the size of
        # the correction E - R(p_{h/r}) instead: the one difference that does not involve it
        upper = _differences(coarse, fine, r, m) / (r**p - 1.0)
        below = _differences(half, coarse, r, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            seen = np.log(below / (upper * (r**p - 1.0))) / np.log(r)
        # (at t0 no step has been taken: the solves differ by their initial averages alone)
        off = (np.abs(seen - p) > ASYMPTOTIC_SLACK) & (coarse.times > float(opts.get("t0", 0.0)))
        if np.any(off):
            err = np.where(off, upper, err)
            worst = seen[int(np.argmax(np.where(off, np.abs(seen - p), -1.0)))]
            how += (
                f"; the size of the correction where the solves' differences do not shrink at "
                f"order {p:g} (observed {worst:.2g}: {n_half[0]} cells not yet asymptotic)"
            )
        return err, q, how, half
    err = _differences(coarse, fine, r, m) / (r**p - 1.0)
    how = f"upper bound: error of the {r * grid.n[0]}-cell solve (no {r} times coarser grid)"
    return err, p, how, None


def solve_extrapolated(
    sde: Any,
    p0: Any,
    grid: Grid,
    t_final: float,
    *,
    refine: int = 2,
    estimate: bool = True,
    box: bool = False,
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
    box : bool
        Also estimate the error of the box itself (the walls standing in for the whole space):
        the solve on ``grid`` against one on a box widened by a quarter of its cells on each
        side (about 2.25 solves on ``grid`` more in 2-D).  Leave False when the walls are part of the
        problem.  Without it a warning says when the mass in the outermost cells is not far
        below the estimated error.
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
        On ``grid``: ``cell_averages`` hold E, ``densities`` its point values (eighth-order
        reconstruction where the grid has 10 cells per axis), ``error_estimate`` an
        :class:`ErrorEstimate`, ``extrapolated_from`` the ``grid.n`` of the two solves
        combined, ``n_steps`` the steps of one solve.

    Raises
    ------
    TypeError
        ``p0`` without a ``pdf``.
    ValueError
        ``refine`` < 2; a grid with fewer than max(``min_cells``, 4) cells per axis;
        anything :func:`fplab.fd.solve_fokker_planck` refuses.

    Warns
    -----
    UserWarning
        When ``box`` is False, the walls are zero-flux (the default, standing in for the whole
        space) and the mass in the outermost cells exceeds a tenth of the estimated error at
        some stored time: the walls may matter more than the estimate says.

    Notes
    -----
    The space part of the estimate needs the r times coarser grid to exist (cells per axis
    divisible by r and at least the scheme's ``min_cells`` and 4, what the order-4 map between
    point values and averages needs); otherwise it falls back to the
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
    # every solve's cells must carry the order-4 map between point values and averages (the
    # smallest in RECONSTRUCTION_ORDERS) as well as the scheme's stencil
    min_cells = max(space.min_cells, RECONSTRUCTION_ORDERS[0])
    if min(grid.n) < min_cells:
        msg = (
            f"grid must have at least {min_cells} cells per axis for solve_extrapolated with "
            f"space_scheme={space_scheme!r} (its stencil and the order-"
            f"{RECONSTRUCTION_ORDERS[0]} map between point values and averages); got {grid.n}"
        )
        raise ValueError(msg)
    if dt is not None:
        dt = check_positive(dt, "dt")
    opts = dict(kwargs, space_scheme=space_scheme, time_scheme=time_scheme)

    fine = solve_fokker_planck(
        sde, p0, grid.with_n(tuple(r * n for n in grid.n)), t_final, dt=dt, **opts
    )
    coarse = solve_fokker_planck(sde, p0, grid, t_final, dt=fine.dt, **opts)
    averages = _extrapolate(coarse, fine, r, p)
    order = _point_order(grid)
    densities = point_values(averages, grid, order=order)
    error = None
    if estimate:
        error = _estimate(sde, p0, grid, t_final, coarse, fine, averages, densities, r, p, q,
                          min_cells, scheme.order, order, box, opts)  # fmt: skip
    return replace(
        coarse,
        densities=densities,
        cell_averages=averages,
        error_estimate=error,
        extrapolated_from=(tuple(grid.n), tuple(fine.grid.n)),
    )


def _estimate(
    sde: Any,
    p0: Any,
    grid: Grid,
    t_final: float,
    coarse: FPSolution,
    fine: FPSolution,
    averages: FloatArray,
    densities: FloatArray,
    r: int,
    p: float,
    q: float,
    min_cells: int,
    k: int,
    order: int,
    box: bool,
    opts: dict[str, Any],
) -> ErrorEstimate:
    """The :class:`ErrorEstimate` of E (see the module docstring)."""
    m = coarse.times.shape[0]
    space_err, q, space_how, _ = _space_error(
        sde, p0, grid, coarse, fine, averages, r, p, q, min_cells, t_final, opts
    )
    halved = solve_fokker_planck(sde, p0, grid, t_final, dt=coarse.dt / 2.0, **opts)
    # |p_dt - p_dt/2| = (1 - 2^-k) |error of p_dt|: the result is the dt solve (the coarser in
    # time), so its error is the difference times 2^k / (2^k - 1), not / (2^k - 1)
    time_err = np.array(
        [_l1(grid, _averages(halved, i), _averages(coarse, i)) for i in range(m)]
    ) * (2.0**k / (2.0**k - 1.0))
    nxt = (
        order + 2 if order + 2 in RECONSTRUCTION_ORDERS and order + 2 <= min(grid.n) else order - 2
    )
    other = point_values(averages, grid, order=nxt)
    recon = np.array([_l1(grid, other[i], densities[i]) for i in range(m)])
    recon_how = f"points: order {order} against {nxt}" + (" (upper bound)" if nxt < order else "")
    walls = _wall_mass(averages, grid)
    box_err, box_how = None, "box: not estimated"
    if box:
        box_err, box_how = _box_error(sde, p0, coarse, t_final, opts)
    method = (
        f"space: {space_how}; time: dt={coarse.dt:.3g} against dt/2, order {k}; "
        f"{recon_how}; {box_how}"
    )
    est = ErrorEstimate(space_err, time_err, recon, box_err, walls, q, method)
    # only zero-flux walls stand in for the whole space; periodic and Dirichlet boxes are the
    # problem's own, where mass at the walls is no error
    truncating = opts.get("bc", "zero-flux") == "zero-flux"
    if truncating and box_err is None and np.any(walls > 0.1 * est.total):
        i = int(np.argmax(walls / np.maximum(est.total, 1e-300)))
        warnings.warn(
            f"solve_extrapolated: {walls[i]:.2g} of the mass lies in the outermost cells at "
            f"t={coarse.times[i]:g}, against an estimated error of {est.total[i]:.2g}: the box "
            "may cost more than the estimate says; widen it, or pass box=True to estimate it",
            UserWarning,
            stacklevel=2,
        )
    return est
