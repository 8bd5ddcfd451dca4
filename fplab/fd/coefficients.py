"""Face tables: the effective drift u = f - ∂x D and the diffusivity D = g²/2 at cell faces.

This is the one place where an SDE meets the grid.  Built-in SDEs give their compiled
coefficient tables (``sde.poly_coefficients``), turned here into face values with NumPy outer
products; a ``CustomSDE`` is evaluated through its raw ``_drift``/``_diffusion`` at the face
points.  Either way the kernels receive the same arrays, so one compiled time loop serves every
SDE and a new instance or parameter never recompiles.

Table layout (``fplab.fd._kernels``): one (u, d) pair per axis, each of shape (m, L, n + 1) with
m stage times (1 when the SDE is autonomous) and L lines (1 when the coefficients along that
axis do not depend on the other coordinate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab.errors import NumericalError
from fplab.grid import Grid
from fplab.sdes.base import SDE

__all__ = ["FaceTables", "face_tables"]

#: per axis, (u, d) with shapes (m, L, n + 1)
FaceTables = list[tuple[FloatArray, FloatArray]]


def _cell_average_cube(xf: FloatArray, h: float) -> FloatArray:
    """Mean of x³ over [x_f - h/2, x_f + h/2] (between the two centres around face x_f).

    Using the mean of the drift between centres, f_{i+1/2} = -(V(x_{i+1}) - V(x_i)) / h for a
    gradient drift, makes Chang–Cooper's discrete steady state exactly exp(-V/D) at the centres.
    """
    a = xf - 0.5 * h
    b = xf + 0.5 * h
    return 0.25 * (a**3 + a * a * b + a * b * b + b**3)


def _poly_tables(sde: SDE, grid: Grid, times: FloatArray, point: bool) -> FaceTables | None:
    pc = sde.poly_coefficients(times, grid.ndim)
    if pc is None:
        return None
    d = grid.ndim
    if d > 1 and np.any(pc.g1 != 0.0):
        msg = (
            f"{type(sde).__name__} has state-dependent noise g = g0 + g1 x, which is defined in "
            f"1-D only; solve it on a 1-D grid (got a {d}-D grid)"
        )
        raise ValueError(msg)
    m = times.shape[0]
    out: FaceTables = []
    for axis, (xf, h) in enumerate(zip(grid.edges, grid.spacing)):
        a, c, g0, g1 = (v[:, None] for v in (pc.a, pc.c, pc.g0, pc.g1))
        g = g0 + g1 * xf
        # point values for fourth-order fluxes; the mean between centres for Chang–Cooper
        cube = xf**3 if point else _cell_average_cube(xf, h)
        u = a * xf + pc.b[:, axis, None] + c * cube - g1 * g
        dd = 0.5 * g * g
        shape = (m, 1, xf.shape[0])
        # always fresh writable C arrays: a read-only view would compile a second kernel signature
        u_tab = np.array(np.broadcast_to(u, (m, xf.shape[0])).reshape(shape), order="C")
        d_tab = np.array(np.broadcast_to(dd, (m, xf.shape[0])).reshape(shape), order="C")
        out.append((u_tab, d_tab))
    return out


def _checked(values: Any, what: str, shape: tuple[int, ...], t: float) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).reshape(shape)
    if not np.all(np.isfinite(arr)):
        msg = f"the SDE's {what} returned non-finite values on the grid at t={t:g}"
        raise NumericalError(msg)
    return arr


def _custom_tables(sde: SDE, grid: Grid, times: FloatArray, point: bool) -> FaceTables:
    """Evaluate a non-polynomial SDE at the face points of every axis, once per stage time."""
    d = grid.ndim
    out: FaceTables = []
    for axis in range(d):
        h = grid.spacing[axis]
        xf = grid.edges[axis]
        # ghost-extended centres along `axis` (one beyond each wall, two for the fourth-order
        # slope), for ∂D/∂x at the faces
        if point:
            xe = np.concatenate(
                [[xf[0] - 1.5 * h], xf - 0.5 * h, xf[-1:] + 0.5 * h, xf[-1:] + 1.5 * h]
            )
        else:
            xe = np.concatenate([xf - 0.5 * h, [xf[-1] + 0.5 * h]])
        coords_f = list(grid.axes)
        coords_f[axis] = xf
        coords_e = list(grid.axes)
        coords_e[axis] = xe
        pts_f = np.stack([c.ravel() for c in np.meshgrid(*coords_f, indexing="ij")], axis=1)
        pts_e = np.stack([c.ravel() for c in np.meshgrid(*coords_e, indexing="ij")], axis=1)
        shape_f = tuple(len(c) for c in coords_f)
        shape_e = tuple(len(c) for c in coords_e)
        us, ds = [], []
        for t in times:
            f = _checked(sde._drift(pts_f, float(t))[:, axis], "drift", shape_f, t)
            g = _checked(sde._diffusion(pts_f, float(t)), "diffusion", shape_f, t)
            dd = 0.5 * g * g
            if sde.additive:
                u = f
            else:
                ge = _checked(sde._diffusion(pts_e, float(t)), "diffusion", shape_e, t)
                de = 0.5 * ge * ge
                u = f - _face_slope(de, axis, h, point)
            # lines first, faces last: (L, n + 1)
            us.append(np.moveaxis(u, axis, -1).reshape(-1, xf.shape[0]))
            ds.append(np.moveaxis(dd, axis, -1).reshape(-1, xf.shape[0]))
        u_tab, d_tab = np.stack(us), np.stack(ds)
        if np.all(u_tab == u_tab[:, :1]) and np.all(d_tab == d_tab[:, :1]):
            # the same coefficients on every line: the separable (faster) kernels apply
            u_tab, d_tab = u_tab[:, :1], d_tab[:, :1]
        out.append((np.ascontiguousarray(u_tab), np.ascontiguousarray(d_tab)))
    return out


def _face_slope(de: FloatArray, axis: int, h: float, point: bool) -> FloatArray:
    """∂D/∂x at the faces from D at the ghost-extended centres along ``axis``.

    Second order: (D_{i+1} - D_i) / h.  Fourth order (``point``): (D_{i-1} - 27 D_i +
    27 D_{i+1} - D_{i+2}) / (24 h), the slope of the cubic through four centres.
    """
    if not point:
        return np.diff(de, axis=axis) / h
    q = np.moveaxis(de, axis, 0)
    slope = (q[:-3] - 27.0 * q[1:-2] + 27.0 * q[2:-1] - q[3:]) / (24.0 * h)
    return np.moveaxis(slope, 0, axis)


def face_tables(sde: SDE, grid: Grid, times: FloatArray, *, point: bool = False) -> FaceTables:
    """Face tables of ``sde`` on ``grid`` at ``times`` (float64, shape (m,)), see module docstring.

    ``point=True`` gives point values of u = f - ∂x D at the faces to O(h⁴) (fourth-order
    schemes); the default gives Chang–Cooper's face drift (the mean of f between the centres for
    polynomial drifts, ∂x D by a centred difference).
    """
    tt = np.ascontiguousarray(times, dtype=np.float64)
    tables = _poly_tables(sde, grid, tt, point)
    return _custom_tables(sde, grid, tt, point) if tables is None else tables
