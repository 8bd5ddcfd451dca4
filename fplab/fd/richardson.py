"""Richardson error estimates for grid solutions: the error of a fine solve from a coarse one.

If a scheme's error behaves like C h^p, two solves at h and h / r satisfy
p_h - p_{h/r} ≈ C h^p (1 - r^-p), so the fine solve's error is estimated by

    e_fine ≈ (p_h - p_{h/r}) / (r^p - 1),

and p_{h/r} + (p_{h/r} - p_h) / (r^p - 1) is the extrapolated (order > p) value.  The grids are
nested: the fine grid splits each coarse cell into r^d cells, so fine cell averages restrict
*exactly* to coarse ones (a block mean); point values are first turned into cell averages to
fourth order (``fplab.fd.reconstruct``).  The same function compares two time steps on one grid
(``ratio`` is then the ratio of the steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_positive
from fplab.fd.reconstruct import cell_averages
from fplab.grid import Grid

__all__ = ["RichardsonEstimate", "richardson_estimate"]


@dataclass(frozen=True)
class RichardsonEstimate:
    """Estimated error of the finer of two solves.

    Attributes
    ----------
    error : float
        Estimated L1 error of the fine solve, ∫ |p_h - p_{h/r}| / (r^p - 1) on the coarse grid.
    difference : float
        ∫ |p_h - p_{h/r}| itself.
    order : float
        The order p assumed (the scheme's declared one unless given).
    ratio : float
        r, the refinement ratio (of cells per axis, or of time steps on one grid).
    extrapolated : ndarray of float64, shape ``grid.shape``
        Cell averages p_{h/r} + (p_{h/r} - p_h) / (r^p - 1) on the coarse ``grid``.
    grid : Grid
        The grid of ``extrapolated`` (the coarse one).
    fine_size : float
        Cells per axis (nested grids) or steps (time refinement) of the fine solve.
    """

    error: float
    difference: float
    order: float
    ratio: float
    extrapolated: FloatArray
    grid: Grid
    fine_size: float = 0.0

    def refinement_for(self, target: float) -> float:
        """Factor by which to refine the *fine* solve (cells per axis, or steps) so that its
        error falls to ``target``: (error / target)^(1/p), never below 1.

        With ``fine_size`` (the fine solve's cells per axis or steps) the resolution to ask for
        is ``ceil(fine_size * refinement_for(target))``: a study can choose its reference from
        a target accuracy rather than a fixed factor.
        """
        target = check_positive(target, "target")
        if self.error <= target:
            return 1.0
        return float((self.error / target) ** (1.0 / self.order))


def _averages(sol: Any, i: int) -> FloatArray:
    """Cell averages of the i-th stored density of an FPSolution."""
    avg = getattr(sol, "cell_averages", None)
    if avg is not None:
        return np.asarray(avg[i], dtype=np.float64)
    return np.asarray(cell_averages(sol.densities[i], sol.grid), dtype=np.float64)


def _restrict(p: FloatArray, r: int, ndim: int) -> FloatArray:
    """Block mean of r^ndim fine cells per coarse cell (exact for cell averages)."""
    shape: list[int] = []
    for n in p.shape:
        shape += [n // r, r]
    return p.reshape(shape).mean(axis=tuple(range(1, 2 * ndim, 2)))


def richardson_estimate(
    coarse: Any, fine: Any, *, order: float | None = None, ratio: float | None = None, i: int = -1
) -> RichardsonEstimate:
    """Estimate the L1 error of ``fine`` from the difference to ``coarse``.

    Parameters
    ----------
    coarse, fine : FPSolution
        Two solves of the same problem: on nested grids (``fine`` has r times the cells of
        ``coarse`` per axis, the same box), or on one grid with time steps in the ratio r.
    order : float, optional
        The order p of the error being estimated.  Default: the space scheme's declared order
        for nested grids, the time scheme's for a time refinement.
    ratio : float, optional
        r.  Default: the ratio of cells per axis (nested grids) or of ``coarse.dt / fine.dt``.
    i : int
        Index of the stored time compared (default: the last).  Both solves must have stored
        the same time there.

    Returns
    -------
    RichardsonEstimate

    Raises
    ------
    ValueError
        Grids that are not nested, different boxes or times, a ratio <= 1.

    Notes
    -----
    The estimate is asymptotic: it is trustworthy when both solves are in the range where the
    error follows C h^p (check with a third level, or ``fplab.observed_order``), and it
    estimates the error of the discretisation only, not the truncation of the box.
    """
    from fplab.fd.space import SPACE_SCHEMES
    from fplab.fd.time import TIME_SCHEMES

    gc, gf = coarse.grid, fine.grid
    if gc.ndim != gf.ndim or tuple(gc.lo) != tuple(gf.lo) or tuple(gc.hi) != tuple(gf.hi):
        msg = (
            f"coarse and fine must cover the same box: coarse {gc!r}, fine {gf!r}; solve both on "
            "grids with the same lo and hi"
        )
        raise ValueError(msg)
    tc, tf = float(coarse.times[i]), float(fine.times[i])
    if abs(tc - tf) > 1e-12 * max(1.0, abs(tc)):
        msg = f"coarse and fine stored different times at i={i}: {tc!r} and {tf!r}"
        raise ValueError(msg)
    pc, pf = _averages(coarse, i), _averages(fine, i)
    if gc.shape == gf.shape:
        size = float(fine.n_steps)
        r = float(coarse.dt) / float(fine.dt) if ratio is None else ratio
        p = float(TIME_SCHEMES.get(fine.time_scheme).order) if order is None else order
        restricted = pf
    else:
        rs = {nf / nc for nc, nf in zip(gc.n, gf.n)}
        if len(rs) != 1 or any(nf % nc for nc, nf in zip(gc.n, gf.n)):
            msg = (
                f"the grids are not nested: fine n={gf.n} must be the same integer multiple of "
                f"coarse n={gc.n} on every axis"
            )
            raise ValueError(msg)
        r_int = int(rs.pop())
        size = float(gf.n[0])
        r = float(r_int) if ratio is None else ratio
        p = float(SPACE_SCHEMES.get(fine.space_scheme).order) if order is None else order
        restricted = _restrict(pf, r_int, gc.ndim)
    r = check_positive(r, "ratio")
    if r <= 1.0:
        msg = f"ratio must be > 1 (fine is the finer solve), got {r}"
        raise ValueError(msg)
    p = check_positive(p, "order")
    diff = restricted - pc
    denom = r**p - 1.0
    difference = float(gc.integrate(np.abs(diff)))
    return RichardsonEstimate(
        error=difference / denom,
        difference=difference,
        order=p,
        ratio=r,
        extrapolated=restricted + diff / denom,
        grid=gc,
        fine_size=size,
    )
