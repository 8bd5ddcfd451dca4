"""Time schemes (``TIME_SCHEMES``): theta schemes and their 2-D splittings.

Every entry advances dp/dt = L(t) p, L = Lx (+ Ly in 2-D), from t_n to t_{n+1} = t_n + dt with

    (I - θ dt L(t_{n+1})) p^{n+1} = (I + (1 - θ) dt L(t_n)) p^n          (1-D, exact tridiagonal solve)

so time-dependent coefficients (VP, VE, sub-VP) are evaluated at t_{n+1} in the implicit part and
at t_n in the explicit part.  In 2-D, where L = Lx + Ly has no mixed derivatives (scalar g), the
implicit schemes split into batched tridiagonal (Thomas) solves along each axis: O(N) per step.
"""

from __future__ import annotations

import math
from typing import ClassVar

from fplab._registry import Registry
from fplab.fd import _kernels

__all__ = ["TIME_SCHEMES", "TimeScheme"]


class TimeScheme:
    """A theta scheme with its declared properties.

    Class attributes
    ----------------
    theta : float        implicitness (0 explicit, 1/2 Crank–Nicolson, 1 backward Euler)
    order : int          temporal order
    splitting : int      2-D splitting code (``fplab.fd._kernels.SPLIT_*``)
    implicit : bool      needs tridiagonal solves
    method : int         kernel family (``fplab.fd._kernels.THETA`` or ``SDIRK4``)
    stages : tuple of float   stage times as fractions of a step (where the coefficients are
                         evaluated; (0, 1) for the theta schemes)
    boundaries : tuple of str or None   the ``bc`` keys supported (None: every one)
    lines_2d : bool      supports 2-D coefficients that vary along the other axis
    """

    theta: ClassVar[float]
    order: ClassVar[int]
    splitting: ClassVar[int]
    implicit: ClassVar[bool] = True
    method: ClassVar[int] = _kernels.THETA
    stages: ClassVar[tuple[float, ...]] = (0.0, 1.0)
    boundaries: ClassVar[tuple[str, ...] | None] = None
    lines_2d: ClassVar[bool] = True
    registry_name: ClassVar[str]

    @classmethod
    def max_dt(cls, rate: float) -> float:
        """Largest stable dt for the stiffness ``rate`` = max_i |L_ii| (inf when unconditional)."""
        return math.inf

    @classmethod
    def default_dt(cls, rate: float) -> float:
        """Step used when ``dt`` is not given, for the stiffness ``rate`` = max_i |L_ii|."""
        raise NotImplementedError


#: every time scheme, by the key users pass as ``time_scheme``
TIME_SCHEMES: Registry[type[TimeScheme]] = Registry("time_scheme")


@TIME_SCHEMES.register("explicit")
class Explicit(TimeScheme):
    """Forward Euler, p^{n+1} = p^n + dt L(t_n) p^n (first order, conditionally stable).

    Notes
    -----
    Order 1 in time.  Stable, and non-negative with Chang–Cooper, for dt <= 1 / max_i |L_ii|
    (the L1 bound: with off-diagonals >= 0 and zero column sums, ‖I + dt L‖₁ = 1 exactly then);
    max |L_ii| ≈ Σ_axes 2 D / dx² + |u| / dx.  Conserves mass with zero-flux boundaries.
    The default dt is 0.9 times the bound.  In 2-D one 5-point update, no splitting.
    """

    theta = 0.0
    order = 1
    splitting = _kernels.SPLIT_NONE
    implicit = False

    @classmethod
    def max_dt(cls, rate: float) -> float:
        return 1.0 / rate if rate > 0 else math.inf

    @classmethod
    def default_dt(cls, rate: float) -> float:
        return 0.9 * cls.max_dt(rate)


@TIME_SCHEMES.register("implicit")
class Implicit(TimeScheme):
    """Backward Euler, (I - dt L(t_{n+1})) p^{n+1} = p^n (first order, unconditionally stable).

    Notes
    -----
    Order 1 in time, unconditionally stable.  With Chang–Cooper, I - dt L is an M-matrix, so
    p stays >= 0 (the Thomas recurrences involve no cancellation), and mass is conserved with
    zero-flux boundaries.  In 2-D: locally one-dimensional splitting
    (I - dt Ly)(I - dt Lx) p^{n+1} = p^n, first order, positive and mass conserving.
    Default dt: 8 / max |L_ii| (dt ∝ dx², keeping the O(dt) error near the O(dx²) one).
    """

    theta = 1.0
    order = 1
    splitting = _kernels.SPLIT_LOD

    @classmethod
    def default_dt(cls, rate: float) -> float:
        return 8.0 / rate if rate > 0 else math.inf


@TIME_SCHEMES.register("crank-nicolson")
class CrankNicolson(TimeScheme):
    """Crank–Nicolson, theta = 1/2 (second order, unconditionally stable).

    Notes
    -----
    Order 2 in time, A-stable (not L-stable: rough data leave slowly damped oscillations).  Mass
    conserved with zero-flux boundaries; positivity is not guaranteed.  In 2-D: Douglas ADI with
    θ = 1/2 (Douglas–Rachford form), second order because Lx and Ly carry no mixed derivatives.
    When the coefficients are separable (every built-in SDE) Lx and Ly commute and the step is
    computed as a 1-D CN step along x then one along y, which is the same operator.
    Default dt: 1 / sqrt(max |L_ii|) (dt ∝ dx, so O(dt²) matches O(dx²)).

    References
    ----------
    W. Hundsdorfer and J. Verwer, Numerical Solution of Time-Dependent Advection-Diffusion-Reaction
    Equations, Springer (2003), §IV.3 (Douglas scheme).
    """

    theta = 0.5
    order = 2
    splitting = _kernels.SPLIT_DOUGLAS

    @classmethod
    def default_dt(cls, rate: float) -> float:
        return 1.0 / math.sqrt(rate) if rate > 0 else math.inf


@TIME_SCHEMES.register("sdirk4")
class SDIRK4(TimeScheme):
    """Hairer–Wanner SDIRK, five stages, order 4, L-stable and stiffly accurate (γ = 1/4).

    Stage s solves (I - γ dt L(t_n + c_s dt)) Y_s = p^n + dt Σ_{j<s} a_sj L_j Y_j and
    p^{n+1} = Y_5; c = (1/4, 3/4, 11/20, 1/2, 1).  Coefficients: Hairer & Wanner, Table IV.6.5.

    Notes
    -----
    Order 4 in time for smooth solutions, L-stable (stiff modes are damped, unlike
    Crank–Nicolson's), for time-dependent coefficients too (each stage uses L at its own time).
    One banded factorisation per step for autonomous coefficients (γ is the same in every
    stage), five per step otherwise; five banded solves per step.  Mass conserved to round-off
    with zero-flux boundaries (every stage solve does); positivity not guaranteed.  In 2-D the
    solver propagates along x then along y, which is exact for separable coefficients (every
    built-in SDE: Lx and Ly act on different axes), so no splitting error enters; coefficients
    that vary along the other axis are refused.  Boundaries: zero-flux and dirichlet.
    Default dt: 1 / sqrt(max|L_ii|) (dt ∝ dx, so the O(dt⁴) error follows fv4's O(dx⁴)).

    References
    ----------
    E. Hairer and G. Wanner, Solving Ordinary Differential Equations II, 2nd ed., Springer
    (1996), §IV.6, Table 6.5.
    """

    theta = 1.0
    order = 4
    splitting = _kernels.SPLIT_NONE
    method = _kernels.SDIRK4
    stages = tuple(float(c) for c in _kernels.SDIRK4_C)
    boundaries = ("zero-flux", "dirichlet")
    lines_2d = False

    @classmethod
    def default_dt(cls, rate: float) -> float:
        return 1.0 / math.sqrt(rate) if rate > 0 else math.inf
