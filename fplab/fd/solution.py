"""``FPSolution``: the densities a grid solver stored, with mass and finite-difference scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._typing import Density, FloatArray
from fplab._validate import check_int, check_positive
from fplab.grid import Grid

__all__ = ["FPSolution"]


@dataclass(frozen=True)
class FPSolution:
    """Densities of a Fokker–Planck solve at the stored times.

    Attributes
    ----------
    times : ndarray of float64, shape (m,)
        Stored times, increasing (``t0`` and ``t_final`` unless ``save_at`` said otherwise).
    densities : ndarray of float64, shape (m, *grid.shape)
        Densities at ``times`` as point values at the cell centres (comparable with a pdf
        sampled there, ``grid.sample_on(pdf)``, to the scheme's order).
    grid : Grid
    sde : SDE
    time_scheme, space_scheme, bc : str
        Registry keys of the schemes used.
    dt : float
        The nominal time step (steps before a stored time are shortened to land on it).
    n_steps : int
        Number of time steps taken.
    cell_averages : ndarray of float64, shape (m, *grid.shape), or None
        The solver's state when it is the cell average (``fv4``): p̄ = (1/|cell|) ∫_cell p,
        which differs from the point value by h²/24 · Δp + O(h⁴).  None for second-order
        schemes, whose state is taken as the point value.
    threads : int
        Threads the parallel kernels ran on (the result does not depend on it).
    error_estimate : ErrorEstimate or None
        Estimated L1 error at each stored time, split into space and time
        (``fplab.fd.solve_extrapolated`` fills it; None for a plain solve).
    extrapolated_from : tuple of tuple of int
        ``grid.n`` of the two solves a Richardson-extrapolated solution combines
        (``solve_extrapolated``), e.g. ((128, 128), (256, 256)); empty for a plain solve.
    """

    times: FloatArray
    densities: FloatArray
    grid: Grid
    sde: Any
    time_scheme: str
    space_scheme: str
    bc: str
    dt: float
    n_steps: int
    cell_averages: FloatArray | None = None
    threads: int = 1
    error_estimate: Any = None
    extrapolated_from: tuple[tuple[int, ...], ...] = ()

    @property
    def density(self) -> Density:
        """The last stored density, shape ``grid.shape``."""
        return self.densities[-1]

    def mass(self) -> FloatArray:
        """Σ p · cell volume at every stored time, shape (m,).

        For schemes that keep cell averages this is Σ p̄ · cell volume, the quantity they
        conserve to round-off with zero-flux walls.
        """
        state = self.densities if self.cell_averages is None else self.cell_averages
        return np.atleast_1d(np.asarray(self.grid.integrate(state), dtype=np.float64))

    def negative_mass(self) -> FloatArray:
        """∫ max(-p, 0) at every stored time, shape (m,): how far positivity was lost.

        Zero for Chang–Cooper with implicit steps; schemes declared non-positive (``central``,
        ``fv4``) can report small values where the solution is under-resolved.
        """
        neg = np.maximum(-self.densities, 0.0)
        return np.atleast_1d(np.asarray(self.grid.integrate(neg), dtype=np.float64))

    def time_derivative(self, i: int = -1, *, k: int = 1) -> FloatArray:
        """∂p/∂t (k = 1) or ∂²p/∂t² (k = 2) at the i-th stored time from the solver's operator.

        k = 1: L_h(t_i) p_i.  k = 2: L_h(L_h p_i) + (∂L_h/∂t) p_i, the last term by a central
        difference in t (relative step 1e-4, error ~1e-8 relative) when the SDE is not
        autonomous.  Returned as point values (like ``densities``); shape ``grid.shape``.
        With the densities they give Hermite interpolants in time (``fplab.grid_score``).

        Raises
        ------
        ValueError
            For a 2-D SDE whose coefficients vary along the other axis.
        """
        from fplab.fd.boundary import BOUNDARIES
        from fplab.fd.problem import _Problem
        from fplab.fd.reconstruct import point_values
        from fplab.fd.space import SPACE_SCHEMES
        from fplab.fd.time import TIME_SCHEMES

        i = check_int(i, "i")
        m = self.times.shape[0]
        if not -m <= i < m:
            msg = f"i must index the {m} stored times (-{m} <= i < {m}), got {i}"
            raise IndexError(msg)
        space = SPACE_SCHEMES.get(self.space_scheme)
        problem = _Problem(
            self.sde, self.grid, TIME_SCHEMES.get(self.time_scheme), space,
            BOUNDARIES.get(self.bc).code,
        )  # fmt: skip
        if k not in (1, 2):
            msg = f"k must be 1 or 2 (the order of the time derivative), got {k!r}"
            raise ValueError(msg)
        state = self.densities if self.cell_averages is None else self.cell_averages
        p = np.ascontiguousarray(state[i])
        t = float(self.times[i])
        rate = problem.rate_of_change(p, t)
        if k == 2:
            rate = problem.rate_of_change(np.ascontiguousarray(rate), t)
            if not self.sde.autonomous:
                eps = 1e-4 * max(1.0, abs(t))
                up = problem.rate_of_change(p, t + eps)
                down = problem.rate_of_change(p, t - eps)
                rate = rate + (up - down) / (2.0 * eps)
        return point_values(rate, self.grid) if space.averages else rate

    def score(self, i: int = -1, *, floor: float = 1e-12) -> FloatArray:
        """Finite-difference score ∇ log p of the i-th stored density.

        Parameters
        ----------
        i : int
            Index into ``times`` (default: the last).
        floor : float
            Relative floor: p is replaced by max(p, floor · max p) before taking the log.

        Returns
        -------
        ndarray of float64, shape (n,) on a 1-D grid or (nx, ny, 2) on a 2-D grid

        Notes
        -----
        s = ∇_h log max(p, floor · max p): second-order central differences of log p inside,
        second-order one-sided differences at the walls (``np.gradient(edge_order=2)``).  Central
        differences of log p are exact for a Gaussian (log p quadratic), so the error comes from p
        itself.  Where p falls below the floor (far tails, round-off, tiny negative values of the
        central scheme) log p is flat and the score tends to 0 there: NaN-free, but carrying no
        information — compare scores only where p is well above the floor.
        """
        i = check_int(i, "i")
        m = self.times.shape[0]
        if not -m <= i < m:
            msg = f"i must index the {m} stored times (-{m} <= i < {m}), got {i}"
            raise IndexError(msg)
        floor = check_positive(floor, "floor")
        p = self.densities[i]
        top = float(np.max(p))
        lo = max(floor * top, np.finfo(np.float64).tiny)
        logp = np.log(np.maximum(p, lo))
        grads = np.gradient(logp, *self.grid.spacing, edge_order=2)
        if self.grid.ndim == 1:
            return np.asarray(grads, dtype=np.float64)
        return np.stack(grads, axis=-1)

    def __repr__(self) -> str:
        return (
            f"FPSolution({type(self.sde).__name__}, grid={self.grid!r}, times={self.times.tolist()}, "
            f"time_scheme={self.time_scheme!r}, space_scheme={self.space_scheme!r}, bc={self.bc!r}, "
            f"dt={self.dt:.3g}, n_steps={self.n_steps})"
        )
