"""Finite-volume Fokker–Planck and heat solvers on 1-D and 2-D grids (numba kernels).

``solve_fokker_planck(sde, p0, grid, t_final, ...)`` returns an :class:`FPSolution`.  Schemes and
boundary conditions are registry entries: ``SPACE_SCHEMES``, ``TIME_SCHEMES``, ``BOUNDARIES``.
"""

from fplab.fd.boundary import BOUNDARIES, BoundaryCondition
from fplab.fd.extrapolate import ErrorEstimate, solve_extrapolated
from fplab.fd.reconstruct import cell_averages, gauss_cell_averages, point_values
from fplab.fd.richardson import RichardsonEstimate, richardson_estimate
from fplab.fd.solution import FPSolution
from fplab.fd.solve import solve_fokker_planck
from fplab.fd.space import SPACE_SCHEMES, SpaceScheme
from fplab.fd.time import TIME_SCHEMES, TimeScheme

__all__ = [
    "BOUNDARIES",
    "SPACE_SCHEMES",
    "TIME_SCHEMES",
    "BoundaryCondition",
    "ErrorEstimate",
    "FPSolution",
    "RichardsonEstimate",
    "SpaceScheme",
    "TimeScheme",
    "cell_averages",
    "gauss_cell_averages",
    "point_values",
    "richardson_estimate",
    "solve_extrapolated",
    "solve_fokker_planck",
]
