"""``solve_fokker_planck``: validate, pick schemes from the registries, run the compiled time loop."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import special

from fplab._threads import GRID_SERIAL_CELLS, resolve_threads, using_threads
from fplab._typing import Density, FloatArray
from fplab._validate import check_finite_array, check_memory, check_positive, check_real
from fplab.errors import NumericalError
from fplab.fd import _kernels
from fplab.fd.boundary import BOUNDARIES
from fplab.fd.coefficients import FaceTables, face_tables
from fplab.fd.problem import _Problem
from fplab.fd.reconstruct import cell_averages, gauss_cell_averages, point_values
from fplab.fd.solution import FPSolution
from fplab.fd.space import SPACE_SCHEMES, SpaceScheme
from fplab.fd.time import TIME_SCHEMES, TimeScheme
from fplab.grid import Grid
from fplab.sdes.base import SDE
from fplab.sdes.schedules import check_horizon, check_usable_time

__all__ = ["solve_fokker_planck"]

#: p0 may miss at most this much probability outside the box before we warn
MASS_OUTSIDE_TOL = 1e-6
#: sample times used to estimate the stiffness of time-dependent coefficients for the default dt
_N_RATE_SAMPLES = 65


def _initial_density(p0: Any, grid: Grid) -> Density:
    """p0 sampled at the cell centres (point values), validated; shape ``grid.shape``."""
    if hasattr(p0, "pdf"):
        dim = getattr(p0, "dim", None)
        if dim is not None and dim != grid.ndim:
            msg = f"p0 is {dim}-dimensional but the grid is {grid.ndim}-D; they must match"
            raise ValueError(msg)
        p = np.ascontiguousarray(grid.sample_on(p0.pdf), dtype=np.float64)
        missing = _mass_outside(p0, p, grid)
        if missing > MASS_OUTSIDE_TOL:
            msg = (
                f"the grid {grid!r} misses {missing:.2e} of p0's probability mass (more than "
                f"{MASS_OUTSIDE_TOL:g}); widen lo/hi so the box holds the initial law"
            )
            warnings.warn(msg, UserWarning, stacklevel=3)
    else:
        try:
            arr = np.asarray(p0, dtype=np.float64)
        except (TypeError, ValueError):
            msg = (
                f"p0 must be a distribution with a pdf method or an array of shape {grid.shape}, "
                f"got {type(p0).__name__}"
            )
            raise TypeError(msg) from None
        if arr.shape != grid.shape:
            msg = (
                f"p0 has shape {arr.shape} but the {grid.ndim}-D grid needs {grid.shape}; pass "
                "p0 sampled at the cell centres (grid.sample_on(pdf)) or a distribution"
            )
            raise ValueError(msg)
        p = np.array(arr, dtype=np.float64, order="C")
    if not np.all(np.isfinite(p)):
        bad = int(p.size - np.count_nonzero(np.isfinite(p)))
        msg = f"p0 has {bad} non-finite value(s) (NaN or inf) on the grid; a density must be finite"
        raise ValueError(msg)
    if np.any(p < 0.0):
        msg = f"p0 has negative values (min {float(p.min()):.3g}); a density must be >= 0"
        raise ValueError(msg)
    if not np.any(p > 0.0):
        msg = "p0 is zero everywhere on the grid; the box must hold the initial law"
        raise ValueError(msg)
    return p


def _mass_outside(p0: Any, p: Density, grid: Grid) -> float:
    """Probability of p0 outside the box.

    1-D with a ``cdf``: exact.  A Gaussian mixture in 2-D (``weights``, ``means``, ``covs``): the
    union bound Σ_axes P(X_axis outside [lo, hi]) from the exact marginals, at most twice the
    truth and free of quadrature error on coarse grids.  Otherwise 1 - Σ p · cell volume.
    """
    if grid.ndim == 1 and hasattr(p0, "cdf"):
        try:
            c = np.asarray(p0.cdf(np.array([grid.lo[0], grid.hi[0]])), dtype=np.float64)
            return float(1.0 - (c[1] - c[0]))
        except (TypeError, ValueError, AttributeError):
            pass
    means = getattr(p0, "means", None)
    covs = getattr(p0, "covs", None)
    weights = getattr(p0, "weights", None)
    if means is not None and covs is not None and weights is not None:
        m = np.asarray(means, dtype=np.float64)
        c = np.asarray(covs, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        if m.ndim == 2 and m.shape[1] == grid.ndim and c.shape == (*m.shape, grid.ndim):
            tail = 0.0
            for axis in range(grid.ndim):
                sd = np.sqrt(c[:, axis, axis])
                below = special.ndtr((grid.lo[axis] - m[:, axis]) / sd)
                above = special.ndtr((m[:, axis] - grid.hi[axis]) / sd)
                tail += float(w @ (below + above))
            return tail
    return 1.0 - float(grid.integrate(p))


def _save_times(save_at: Any, t0: float, t_final: float) -> FloatArray:
    if save_at is None:
        return np.array([t0, t_final]) if t_final > t0 else np.array([t0])
    if isinstance(save_at, str | bytes):
        msg = f"save_at must be a sequence of times (floats), got the string {save_at!r}"
        raise TypeError(msg)
    arr = check_finite_array(save_at, "save_at").reshape(-1)
    if arr.size == 0:
        msg = "save_at must hold at least one time in [t0, t_final]"
        raise ValueError(msg)
    tol = 1e-12 * max(1.0, abs(t0), abs(t_final))
    bad = arr[(arr < t0 - tol) | (arr > t_final + tol)]
    if bad.size:
        msg = (
            f"save_at has times outside [t0, t_final] = [{t0:g}, {t_final:g}]: "
            f"{bad[:5].tolist()}; every stored time must lie in that interval"
        )
        raise ValueError(msg)
    # checked after clipping: times within round-off beyond t0 or t_final land on it, so two
    # distinct inputs there would store one time twice
    clipped = np.clip(arr, t0, t_final)
    steps = np.diff(clipped)
    if np.any(steps <= 0.0):
        i = int(np.argmax(steps <= 0.0))
        why = "" if np.diff(arr)[i] <= 0.0 else f", both stored at {clipped[i]:.17g} (clipped)"
        msg = (
            f"save_at must be strictly increasing (densities are stored in time order, "
            f"sol.densities[k] at save_at[k]); got save_at[{i}] = {arr[i]:.15g} followed by "
            f"{arr[i + 1]:.15g}{why}, with t0 = {t0:g}, t_final = {t_final:g}; pass sorted, "
            f"distinct times (e.g. np.unique(save_at))"
        )
        raise ValueError(msg)
    return clipped


def _explicit_error(dt: float, limit: float, grid: Grid, tables: FaceTables) -> ValueError:
    dmax = max(float(np.max(d)) for _, d in tables)
    umax = max(float(np.max(np.abs(u))) for u, _ in tables)
    dx = grid.spacing[0] if grid.ndim == 1 else grid.spacing
    msg = (
        f"explicit time scheme is unstable here: dt={dt:.3g} exceeds the limit {limit:.3g} "
        f"(= 1/max|L_ii| ≈ 1/Σ(2D/dx² + |u|/dx)) set by dx={dx} and the coefficients "
        f"(max D=g²/2={dmax:.3g}, max |u|={umax:.3g}); lower dt, pass dt=None to choose a stable "
        "step, or use time_scheme='crank-nicolson'"
    )
    return ValueError(msg)


def solve_fokker_planck(
    sde: SDE,
    p0: Any,
    grid: Grid,
    t_final: float,
    *,
    t0: float = 0.0,
    dt: float | None = None,
    time_scheme: str = "crank-nicolson",
    space_scheme: str = "chang-cooper",
    bc: str = "zero-flux",
    save_at: Any = None,
    threads: int | None = None,
    check_only: bool = False,
) -> FPSolution:
    """Solve the Fokker–Planck equation of ``sde`` on ``grid`` from ``t0`` to ``t_final``.

    ∂p/∂t = -∇·J,  J = f p - ∇(D p),  D = g²/2  (Itô, scalar g), in conservative finite-volume
    form on the cell centres; the heat equation ∂p/∂t = D Δp is the ``Heat(D)`` case.

    Parameters
    ----------
    sde : SDE
        Any SDE of the catalogue (compiled coefficient tables) or a ``CustomSDE`` (evaluated in
        NumPy at the faces: once when ``autonomous``, else at every stage time).
    p0 : distribution or array_like
        Initial law at ``t0``: an object with ``pdf`` (sampled at the cell centres, point values)
        or an array of shape ``grid.shape`` (used as given, not renormalised).
    grid : Grid
        1-D or 2-D cell-centred grid.
    t_final : float
        End time, >= t0.
    t0 : float
        Start time (matters for time-dependent SDEs: VP, VE, sub-VP).
    dt : float, optional
        Time step.  Default: the scheme's ``default_dt`` for the coefficients' stiffness (explicit:
        0.9 × the stability limit; implicit: 8 / max|L_ii|; Crank–Nicolson: 1/sqrt(max|L_ii|)).
    time_scheme : str
        A key of ``TIME_SCHEMES``: 'crank-nicolson' (default), 'implicit' or 'explicit'.
    space_scheme : str
        A key of ``SPACE_SCHEMES``: 'chang-cooper' (default) or 'central'.
    bc : str
        A key of ``BOUNDARIES``: 'zero-flux' (default), 'dirichlet' or 'periodic'.
    save_at : array_like of float, optional
        Times to store, strictly increasing, within [t0, t_final] (``sol.densities[k]`` is the
        density at ``save_at[k]``); the solver shortens the step before each so it lands on it
        exactly, and stops at the last one.  Default: (t0, t_final).
    threads : int, optional
        Threads for the parallel 2-D kernels (the result does not depend on it).  Default: one
        thread for problems under ``fplab._threads.GRID_SERIAL_CELLS`` cells, else the idle cores
        (the CPU affinity, capped by ``NUMBA_NUM_THREADS``, less the processes runnable at the
        call).  Values above the available cores are clamped with a warning;
        values < 1 are refused.

    check_only : bool
        Validate every argument (including the explicit stability limit over the whole interval
        and the periodic-boundary check) and return None without solving; study specs use it to
        refuse a bad case before any case runs.

    Returns
    -------
    FPSolution
        ``densities`` holds point values at the cell centres for every scheme; schemes whose
        state is cell averages (``fv4``) also fill ``cell_averages`` (see
        ``fplab.fd.reconstruct``).

    Raises
    ------
    TypeError
        ``sde`` is not an SDE, ``grid`` not a Grid, ``p0`` neither a distribution nor an array.
    ValueError
        Unknown scheme or bc name; a bc the schemes do not support (the message lists those they
        do); a grid with fewer cells than the space scheme's stencil needs; p0 with NaN,
        negative values, the wrong shape or dimension; an explicit dt beyond the stability
        limit (the message states the limit); periodic bc with non-periodic coefficients;
        ``save_at`` outside [t0, t_final] or not strictly increasing; t_final < t0; threads < 1;
        t0 or t_final outside [0, T] for an SDE with a horizon T (VP, SubVP, VE).
    NumericalError
        The solution became NaN/inf.

    Warns
    -----
    UserWarning
        When the box misses more than 1e-6 of p0's mass (the message says how much).
    """
    if not isinstance(sde, SDE):
        msg = (
            f"sde must be an fplab SDE (e.g. fp.OU(), fp.CustomSDE(...)), got {type(sde).__name__}"
        )
        raise TypeError(msg)
    if not isinstance(grid, Grid):
        msg = f"grid must be an fplab Grid (fp.Grid.uniform(...)), got {type(grid).__name__}"
        raise TypeError(msg)
    scheme = TIME_SCHEMES.get(time_scheme)
    space = SPACE_SCHEMES.get(space_scheme)
    boundary = BOUNDARIES.get(bc)
    t0 = check_real(t0, "t0")
    t_final = check_real(t_final, "t_final")
    if t_final < t0:
        msg = f"t_final must be >= t0, got t_final={t_final}, t0={t0}"
        raise ValueError(msg)
    check_horizon(sde, t0, "t0")
    check_usable_time(sde, t_final, "t_final")
    if dt is not None:
        dt = check_positive(dt, "dt")
        # the step times of one saved interval are built at once: 8 bytes x (span/dt + 1), x2
        check_memory(16.0 * ((t_final - t0) / dt + 1.0), "dt", dt, "raise dt")
    sde.check_dim(grid.ndim, "grid")
    _check_combination(space, scheme, bc, grid, sde)
    n_threads = resolve_threads(threads, grid.size, serial_below=GRID_SERIAL_CELLS)
    p = _initial_density(p0, grid)
    if space.averages:
        # the state of a finite-volume scheme of order > 2 is the cell average: 3-point Gauss
        # quadrature of the pdf in 1-D (O(h⁶)); in 2-D the sixth-order map from the centre
        # values (O(h⁶) too), since 9 pdf calls per cell would cost more than the solve
        # (measured 1.3 s for a Gaussian mixture on 384², against 0.1-0.2 s for the solve)
        use_gauss = hasattr(p0, "pdf") and grid.ndim == 1
        p = np.ascontiguousarray(
            gauss_cell_averages(p0.pdf, grid)
            if use_gauss
            else cell_averages(p, grid, order=6 if min(grid.n) >= 6 else 4)
        )
    stored_times = _save_times(save_at, t0, t_final)

    with using_threads(n_threads):
        return _solve(sde, p, grid, scheme, space, boundary, stored_times, t0, dt, n_threads,
                      time_scheme, space_scheme, bc, check_only=check_only)  # fmt: skip


def _check_combination(
    space: type[SpaceScheme], scheme: type[TimeScheme], bc: str, grid: Grid, sde: SDE
) -> None:
    """Refuse a bc, grid size or 2-D coefficient layout the chosen schemes cannot handle."""
    for entry, arg in ((space, "space_scheme"), (scheme, "time_scheme")):
        allowed = entry.boundaries
        if allowed is not None and bc not in allowed:
            names = ", ".join(repr(b) for b in allowed)
            msg = (
                f"{arg}={entry.registry_name!r} supports bc {names}; got bc={bc!r} (choose one of "
                f"those, or another {arg})"
            )
            raise ValueError(msg)
    small = [n for n in grid.n if n < space.min_cells]
    if small:
        msg = (
            f"space_scheme={space.registry_name!r} needs at least {space.min_cells} cells per axis "
            f"for its stencil; the grid has n={grid.n}; refine the grid"
        )
        raise ValueError(msg)
    banded = space.half_width > 1 or scheme.method != _kernels.THETA
    if banded and grid.ndim == 2 and sde.poly_coefficients(np.array([0.0]), 2) is None:
        probe = face_tables(sde, grid, np.array([0.0]), point=space.averages)
        if any(u.shape[1] != 1 for u, _ in probe):
            msg = (
                f"space_scheme={space.registry_name!r} with time_scheme={scheme.registry_name!r} "
                "needs separable coefficients in 2-D (drift component i a function of x_i and t, "
                "g of t); this SDE's coefficients vary along the other axis: use "
                "space_scheme='chang-cooper' with a theta time scheme"
            )
            raise ValueError(msg)


def _solve(
    sde: SDE,
    p: Density,
    grid: Grid,
    scheme: type[TimeScheme],
    space: type[SpaceScheme],
    boundary: Any,
    stored_times: FloatArray,
    t0: float,
    dt: float | None,
    n_threads: int,
    time_scheme: str,
    space_scheme: str,
    bc: str,
    check_only: bool = False,
) -> FPSolution:
    """The time loop of :func:`solve_fokker_planck` on validated inputs (state p, averages or
    point values as the space scheme keeps them)."""
    problem = _Problem(sde, grid, scheme, space, boundary.code, n_threads)
    t_end = float(stored_times[-1])
    span = t_end - t0
    if dt is None:
        sample = np.linspace(t0, max(t_end, t0), _N_RATE_SAMPLES if problem.varying else 1)
        rate = problem.rate(problem.tables(sample))
        dt = min(scheme.default_dt(rate), span) if span > 0 else 1.0
    elif not problem.varying and not scheme.implicit:
        tables = problem.tables(np.array([t0]))
        limit = scheme.max_dt(problem.rate(tables))
        if dt > limit:
            raise _explicit_error(dt, limit, grid, tables)
    if check_only:
        # validation only (study specs check every case before any runs): sample the
        # coefficients over the interval, which also applies the periodic-bc check
        sample = np.linspace(t0, max(t_end, t0), _N_RATE_SAMPLES if problem.varying else 1)
        tables = problem.tables(sample)
        if not scheme.implicit:
            limit = scheme.max_dt(problem.rate(tables))
            if dt > limit:
                raise _explicit_error(dt, limit, grid, tables)
        return None  # type: ignore[return-value]

    densities = np.empty((stored_times.shape[0], *grid.shape))
    averages = np.empty_like(densities) if space.averages else None
    chunk = problem.chunk_steps()
    cur = t0
    n_steps = 0
    for k, target in enumerate(stored_times):
        if target > cur:
            n = max(1, math.ceil((target - cur) / dt - 1e-9))
            ts = cur + dt * np.arange(n + 1, dtype=np.float64)
            ts[-1] = target
            for start in range(0, n, chunk):
                seg = np.ascontiguousarray(ts[start : min(start + chunk, n) + 1])
                tables = problem.tables(problem.table_times(seg))
                if problem.varying and not scheme.implicit:
                    limit = scheme.max_dt(problem.rate(tables))
                    worst = float(np.max(np.diff(seg)))
                    if worst > limit:
                        raise _explicit_error(worst, limit, grid, tables)
                problem.run(p, seg, tables)
            n_steps += n
            if not np.all(np.isfinite(p)):
                msg = (
                    f"the density became non-finite (NaN/inf) between t={cur:g} and t={target:g} "
                    f"with {time_scheme}/{space_scheme}, dt={dt:.3g}; check the coefficients or "
                    "lower dt"
                )
                raise NumericalError(msg)
            cur = float(target)
        if averages is not None:
            averages[k] = p
            densities[k] = point_values(p, grid)
        else:
            densities[k] = p
    return FPSolution(
        times=stored_times,
        densities=densities,
        grid=grid,
        sde=sde,
        time_scheme=time_scheme,
        space_scheme=space_scheme,
        bc=bc,
        dt=float(dt),
        n_steps=n_steps,
        cell_averages=averages,
        threads=n_threads,
    )
