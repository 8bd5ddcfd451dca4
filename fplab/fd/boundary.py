"""Boundary conditions (``BOUNDARIES``): how the faces on the edge of the box are closed."""

from __future__ import annotations

from typing import ClassVar

from fplab._registry import Registry
from fplab.fd import _kernels

__all__ = ["BOUNDARIES", "BoundaryCondition"]


class BoundaryCondition:
    """A rule closing the boundary faces.

    Class attributes
    ----------------
    code : int                kernel switch (``fplab.fd._kernels``)
    conserves_mass : bool     the discrete mass Σ p dx is constant up to round-off
    """

    code: ClassVar[int]
    conserves_mass: ClassVar[bool]
    registry_name: ClassVar[str]


#: every boundary condition, by the key users pass as ``bc``
BOUNDARIES: Registry[type[BoundaryCondition]] = Registry("bc")


@BOUNDARIES.register("zero-flux")
class ZeroFlux(BoundaryCondition):
    """Reflecting walls: J = 0 on the boundary faces, so mass is conserved to round-off."""

    code = _kernels.ZERO_FLUX
    conserves_mass = True


@BOUNDARIES.register("dirichlet")
class Dirichlet(BoundaryCondition):
    """Absorbing walls: p = 0 on the boundary faces (half a cell beyond the outer centres).

    Notes
    -----
    The boundary flux is the scheme's flux over the half cell between the outer centre and
    the wall, J = -(2D/dx) B(u dx / 2D) p_0 at the left wall (Chang–Cooper); it always points
    out of the box, so the mass decreases monotonically.
    """

    code = _kernels.DIRICHLET
    conserves_mass = False


@BOUNDARIES.register("periodic")
class Periodic(BoundaryCondition):
    """Periodic box: the face at ``hi`` is the face at ``lo`` (cyclic tridiagonal solves).

    Notes
    -----
    The wrap face uses the coefficients evaluated at ``hi``; the result is meaningful for
    coefficients that are periodic on the box (Heat, VE, periodic custom drifts).  Mass is
    conserved to round-off.
    """

    code = _kernels.PERIODIC
    conserves_mass = True
