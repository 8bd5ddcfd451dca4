"""``_Problem``: face tables and kernel dispatch for one (sde, grid, schemes) combination.

Shared by ``fplab.fd.solve`` (the time loop) and ``fplab.fd.solution`` (``FPSolution.dt_density``
rebuilds the operator of a finished solve); it lives here, below both, so that neither imports
the other in a circle.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from fplab._typing import Density, FloatArray
from fplab.fd import _kernels
from fplab.fd.coefficients import FaceTables, face_tables
from fplab.fd.space import SpaceScheme
from fplab.fd.time import TimeScheme
from fplab.grid import Grid
from fplab.sdes.base import SDE

__all__: list[str] = []

#: face-table entries per kernel call (bounds memory for time-dependent coefficients)
_CHUNK_ENTRIES = 1 << 20

_WORKSPACE = threading.local()


def _workspace(size: int) -> FloatArray:
    """A float64 scratch buffer of ``size`` entries, kept per thread between calls.

    Reused while it is between 1x and 4x the request: a fresh buffer of a 2-D problem's size
    costs about 1 ms of page faults, which would dominate short solves.
    """
    buf = getattr(_WORKSPACE, "buf", None)
    if buf is None or not size <= buf.shape[0] <= 4 * size:
        buf = np.empty(size)
        _WORKSPACE.buf = buf
    return buf[:size]


class _Problem:
    """Face tables and kernel dispatch for one (sde, grid, schemes) combination.

    The *banded* path (a space scheme wider than three cells, or a time scheme that is not a
    theta scheme) advances blocks of lines with ``_kernels.run_band``; in 2-D it propagates
    along x over a whole segment and then along y, exact for separable coefficients.
    """

    def __init__(
        self,
        sde: SDE,
        grid: Grid,
        scheme: type[TimeScheme],
        space: type[SpaceScheme],
        bc: int,
        threads: int = 1,
    ) -> None:
        self.sde = sde
        self.grid = grid
        self.scheme = scheme
        self.space = space.code
        self.point = space.averages
        self.bc = bc
        self.threads = threads
        self.band = space.half_width > 1 or scheme.method != _kernels.THETA
        self.varying = not sde.autonomous
        # built-in SDEs: one line per axis; a CustomSDE may vary along the other axis too
        self.compiled = sde.poly_coefficients(np.array([0.0]), grid.ndim) is not None
        self._fixed: FaceTables | None = None

    def tables(self, times: FloatArray) -> FaceTables:
        """Face tables at ``times`` (one row when the SDE is autonomous)."""
        if not self.varying:
            if self._fixed is None:
                self._fixed = face_tables(self.sde, self.grid, times[:1], point=self.point)
                self._check_periodic(self._fixed)
            return self._fixed
        tables = face_tables(self.sde, self.grid, times, point=self.point)
        self._check_periodic(tables)
        return tables

    def table_times(self, seg: FloatArray) -> FloatArray:
        """Times at which a segment of steps ``seg`` (k + 1,) needs the coefficients.

        Theta schemes: the step times; SDIRK: every stage time t_r + c_s dt, (k · stages,).
        """
        if self.scheme.method == _kernels.THETA:
            return seg
        c = np.asarray(self.scheme.stages)
        dts = np.diff(seg)
        return np.ascontiguousarray((seg[:-1, None] + c[None, :] * dts[:, None]).ravel())

    def _check_periodic(self, tables: FaceTables) -> None:
        if self.bc != _kernels.PERIODIC:
            return
        for axis, (u, d) in enumerate(tables):
            scale = max(float(np.max(np.abs(u))), float(np.max(d)), 1.0)
            jump = max(
                float(np.max(np.abs(u[..., 0] - u[..., -1]))),
                float(np.max(np.abs(d[..., 0] - d[..., -1]))),
            )
            if jump > 1e-9 * scale:
                msg = (
                    f"bc='periodic' needs coefficients that are periodic on the box, but "
                    f"{type(self.sde).__name__}'s drift or diffusion differs between lo and hi on "
                    f"axis {axis} (by {jump:.3g}); use bc='zero-flux' or 'dirichlet', or a box and "
                    "SDE with periodic coefficients"
                )
                raise ValueError(msg)

    def rate(self, tables: FaceTables) -> float:
        """max over the tables' rows and cells of Σ_axes |L_ii| (explicit stiffness)."""
        h = self.grid.spacing
        if self.band:
            return sum(
                float(_kernels.max_rate_band(u, d, h[a], self.space, self.bc))
                for a, (u, d) in enumerate(tables)
            )
        if self.grid.ndim == 1:
            u, d = tables[0]
            return float(_kernels.max_rate_1d(u, d, h[0], self.space, self.bc))
        (u0, d0), (u1, d1) = tables
        return float(_kernels.max_rate_2d(u0, d0, u1, d1, h[0], h[1], self.space, self.bc))

    def run(self, p: Density, ts: FloatArray, tables: FaceTables) -> None:
        h = self.grid.spacing
        theta = float(self.scheme.theta)
        if self.band:
            method = int(self.scheme.method)
            if self.grid.ndim == 1:
                u, d = tables[0]
                _kernels.run_band_line(p, ts, u, d, h[0], self.space, self.bc, method, theta)
                return
            (u0, d0), (u1, d1) = tables
            # U(t, s) = Ux(t, s) ⊗ Uy(t, s) exactly when Lx, Ly act on different axes
            _kernels.run_band(p, ts, u0, d0, h[0], self.space, self.bc, method, theta)
            pt = np.ascontiguousarray(p.T)
            _kernels.run_band(pt, ts, u1, d1, h[1], self.space, self.bc, method, theta)
            p[:] = pt.T
            return
        if self.grid.ndim == 1:
            u, d = tables[0]
            _kernels.run_1d(p, ts, u, d, h[0], self.space, self.bc, theta)
        else:
            (u0, d0), (u1, d1) = tables
            threads = numba.get_num_threads()
            nx, ny = self.grid.n
            work = _workspace(_kernels.workspace_2d_size(nx, ny, threads))
            _kernels.run_2d(
                p, ts, u0, d0, u1, d1, h[0], h[1], self.space, self.bc, theta,
                int(self.scheme.splitting), threads, work,
            )  # fmt: skip

    def chunk_steps(self) -> int:
        """Steps per kernel call, so that one call's face tables stay near _CHUNK_ENTRIES."""
        if self.compiled:
            per_row = sum(n + 1 for n in self.grid.n)
        else:
            per_row = sum((n + 1) * (self.grid.size // n) for n in self.grid.n)
        rows_per_step = 1 if self.scheme.method == _kernels.THETA else len(self.scheme.stages)
        return max(1, _CHUNK_ENTRIES // (per_row * rows_per_step))

    def rate_of_change(self, p: Density, t: float) -> Density:
        """L_h(t) p, the semi-discrete ∂p/∂t of the state p (shape ``grid.shape``)."""
        tables = face_tables(self.sde, self.grid, np.array([t]), point=self.point)
        out = np.zeros_like(p)
        h = self.grid.spacing
        for axis, (u, d) in enumerate(tables):
            if u.shape[1] != 1:
                msg = "rates of change need separable coefficients (one line per axis)"
                raise ValueError(msg)
            x = np.ascontiguousarray(np.moveaxis(p, axis, 0)).reshape(p.shape[axis], -1)
            r = np.empty_like(x)
            if self.bc == _kernels.PERIODIC:
                n = p.shape[axis]
                lo, di, up = (np.empty((1, n)) for _ in range(3))
                _kernels.build_operators(u[0], d[0], h[axis], self.space, self.bc, lo, di, up)
                for j in range(x.shape[1]):
                    col = np.ascontiguousarray(x[:, j])
                    _kernels.apply_line(col, lo[0], di[0], up[0], r[:, j])
            else:
                _kernels.band_rate(x, u[0, 0], d[0, 0], h[axis], self.space, self.bc, r)
            out += np.moveaxis(r.reshape(np.moveaxis(p, axis, 0).shape), 0, axis)
        return out
