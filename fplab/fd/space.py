"""Space schemes (``SPACE_SCHEMES``): how the flux J = u p - D ∂x p is approximated at a face.

The solver works in conservative finite-volume form on cell centres,

    ∂p/∂t = -∇·J,   J = f p - ∇(D p) = u p - D ∇p,   D = g²/2,   u = f - ∇D,

so state-dependent diffusion (GBM) enters as ∂x(D p), never as D Δp.  A space scheme is a
rule giving the face weights (A, B) of J_{i+1/2} = A p_i - B p_{i+1}; the kernels turn them into
one tridiagonal operator per axis (``fplab.fd._kernels.face_weight``).
"""

from __future__ import annotations

from typing import ClassVar

from fplab._registry import Registry
from fplab.fd import _kernels

__all__ = ["SPACE_SCHEMES", "SpaceScheme"]


class SpaceScheme:
    """A face-flux rule with its declared properties.

    Class attributes
    ----------------
    code : int          kernel switch (``fplab.fd._kernels``)
    order : int         spatial order for smooth solutions
    positivity : bool   True when the semi-discrete operator is an M-matrix for every mesh
                        (non-negative off-diagonals), so implicit steps keep p >= 0
    half_width : int    cells each way a row of L_h reaches (1: tridiagonal)
    averages : bool     the solver's state is cell averages (converted to and from point
                        values at the centres to fourth order, ``fplab.fd.reconstruct``)
    boundaries : tuple of str or None   the ``bc`` keys supported (None: every one)
    min_cells : int     fewest cells per axis the stencil needs
    extrapolated_order : int or None   order after one Richardson step on nested grids (the
                        next power in the error expansion; ``fplab.fd.solve_extrapolated``);
                        None: not established, taken as order + 1 there
    """

    code: ClassVar[int]
    order: ClassVar[int]
    positivity: ClassVar[bool]
    half_width: ClassVar[int] = 1
    averages: ClassVar[bool] = False
    boundaries: ClassVar[tuple[str, ...] | None] = None
    min_cells: ClassVar[int] = 3
    extrapolated_order: ClassVar[int | None] = None
    registry_name: ClassVar[str]


#: every space scheme, by the key users pass as ``space_scheme``
SPACE_SCHEMES: Registry[type[SpaceScheme]] = Registry("space_scheme")


@SPACE_SCHEMES.register("central")
class Central(SpaceScheme):
    """Central fluxes: J = u (p_i + p_{i+1})/2 - D (p_{i+1} - p_i)/dx (second order).

    Notes
    -----
    Order 2 in space.  Conserves mass (zero-flux) to round-off.  Non-negative only while the
    cell Péclet number |u| dx / (2 D) <= 1; otherwise it can oscillate and go negative.
    """

    code = _kernels.CENTRAL
    order = 2
    #: the error expands in even powers: order 4 after one Richardson step (measured 3.99-4.00)
    extrapolated_order = 4
    positivity = False


@SPACE_SCHEMES.register("chang-cooper")
class ChangCooper(SpaceScheme):
    """Chang–Cooper / Scharfetter–Gummel exponential fitting: J = D/dx (B(-w) p_i - B(w) p_{i+1}).

    Notes
    -----
    B(w) = w/(e^w - 1) is the Bernoulli function and w = u dx / D the cell Péclet number.  The
    flux is exact for constant u and D across the face, so the discrete steady state with zero
    flux is p_{i+1}/p_i = exp(u dx / D).  The face drift is the average of f over the two cells'
    centres, i.e. f_{i+1/2} = -(V(x_{i+1}) - V(x_i))/dx for a gradient drift f = -V' (every
    built-in polynomial drift), so for additive noise the discrete stationary density is
    exactly exp(-V/D) sampled at the centres.  Order 2 in space for smooth solutions (B(±w) =
    1 ∓ w/2 + O(w²)); the off-diagonals are >= 0 for every mesh (an M-matrix), so implicit steps
    keep p >= 0; mass conserved to round-off with zero-flux boundaries.

    References
    ----------
    J. S. Chang and G. Cooper, J. Comput. Phys. 6 (1970) 1–16.
    D. L. Scharfetter and H. K. Gummel, IEEE Trans. Electron Devices 16 (1969) 64–77.
    """

    code = _kernels.CHANG_COOPER
    order = 2
    #: the error expands in even powers: order 4 after one Richardson step (measured 3.99-4.00)
    extrapolated_order = 4
    positivity = True


@SPACE_SCHEMES.register("fv4")
class FV4(SpaceScheme):
    """Fourth-order finite volume: cell averages, face fluxes from the cubic of four cells.

    J_{i+1/2} = u p(x_{i+1/2}) - D ∂x p(x_{i+1/2}) with the point value and slope at the face
    of the cubic having the cell averages of cells i-1..i+2:
    p_f = (-p̄_{i-1} + 7 p̄_i + 7 p̄_{i+1} - p̄_{i+2}) / 12 and
    ∂x p_f = (p̄_{i-1} - 15 p̄_i + 15 p̄_{i+1} - p̄_{i+2}) / (12 h), with u = f - ∂x D and D
    taken as point values at the face.  Since dp̄_i/dt = -(J_{i+1/2} - J_{i-1/2}) / h holds
    exactly for averages, the scheme is fourth order in the cell averages.

    Notes
    -----
    Order 4 in space (one-sided four-cell stencils at the faces next to the walls, also exact
    for cubics).  Zero-flux walls only (J = 0 on the boundary faces): mass Σ p̄ h is conserved to
    round-off.  Not positive: the stencil has negative weights, so under-resolved or rough
    data can give small negative values (``FPSolution.negative_mass`` reports them).  Needs at
    least 6 cells per axis.  The solver starts from cell averages of p0 (3-point Gauss per cell
    in 1-D, the sixth-order map from centre values in 2-D or for arrays) and stores point
    values at the centres in ``densities`` (fourth-order reconstruction) with the averages in
    ``cell_averages``.  Works with every time scheme; in 2-D with separable coefficients (every
    built-in SDE), by propagating along x and then along y, which is exact for Lx + Ly with
    commuting parts.

    References
    ----------
    R. J. LeVeque, Finite Volume Methods for Hyperbolic Problems, CUP (2002), §17.
    P. McCorquodale and P. Colella, Commun. Appl. Math. Comput. Sci. 6 (2011) 1–25 (fourth-order
    finite-volume face reconstruction).
    """

    code = _kernels.FV4
    order = 4
    positivity = False
    half_width = 2
    averages = True
    boundaries = ("zero-flux",)
    min_cells = _kernels.FV4_MIN_CELLS
    #: symmetric interior stencils: the error expands in even powers (local slopes 5.5-5.85 on
    #: N = 48..128, 1-D OU, rising towards 6)
    extrapolated_order = 6
