"""MC_METHODS: the forward SDE integrators of ``fplab.simulate``, with declared orders.

Each entry declares its strong and weak orders for additive noise (g depends on t only) and for
multiplicative noise (g depends on x; None where the method does not apply), the stage times
(fractions of the step) at which it evaluates the coefficients, its requirements (``check``), a
kernel code for the compiled loop in ``_kernels.py``, and an array-generic ``step`` used by the
NumPy fallback (user SDEs) and the torch backend.  ``step`` receives

    F(y, s) -> (n, d)    drift at stage s (time t + taus[s] h)
    G(y, s) -> (n, 1)    scalar diffusion (or a number when it does not depend on y)
    Gx(y, s) -> (n, d)   ∇_x g (Milstein only)

and works unchanged on NumPy arrays and torch tensors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from fplab._registry import Registry
from fplab.mc import _kernels
from fplab.sdes.base import SDE
from fplab.sdes.linear import LinearSDE, linear_sde_names
from fplab.sdes.nonlinear import GBM

__all__ = ["MC_METHODS", "Method"]

Fn = Callable[[Any, int], Any]

#: every forward integrator, by the key users pass as ``method=``
MC_METHODS: Registry[type[Method]] = Registry("method")


def _sde_name(sde: SDE) -> str:
    return repr(sde)


def is_additive(sde: SDE) -> bool:
    """True when g does not depend on x (class flag, or instance flag for CustomSDE)."""
    return bool(sde.additive)


class Method:
    """Base of an MC_METHODS entry.

    Class attributes
    ----------------
    strong_order, weak_order : dict  {"additive": p, "multiplicative": p or None}
    taus : tuple of float            stage times as fractions of the step
    code : int or None               method code of ``_kernels.run_poly`` (None: own kernel)
    needs_dz : bool                  uses the iterated integral ΔZ = ∫∫ dW ds
    requirements : str               one line shown by ``fplab list`` and in errors
    """

    registry_name: ClassVar[str] = ""
    strong_order: ClassVar[dict[str, float | None]] = {}
    weak_order: ClassVar[dict[str, float | None]] = {}
    taus: ClassVar[tuple[float, ...]] = (0.0,)
    code: ClassVar[int | None] = None
    needs_dz: ClassVar[bool] = False
    requirements: ClassVar[str] = "none"

    @classmethod
    def order(cls, sde: SDE, kind: str = "strong", dim: int = 1) -> float | None:
        """Declared ``kind`` ("strong" or "weak") order for this SDE's noise type in ``dim``."""
        table = cls.strong_order if kind == "strong" else cls.weak_order
        return table["additive" if is_additive(sde) else "multiplicative"]

    @classmethod
    def check(cls, sde: SDE, d: int, x_probe: np.ndarray, t0: float) -> None:
        """Raise ``ValueError`` if the method cannot integrate ``sde`` in dimension d."""

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        """One step from x (n, d) over h with increments dw (and dz) of shape (n, d)."""
        raise NotImplementedError


@MC_METHODS.register("euler-maruyama")
class EulerMaruyama(Method):
    """Euler–Maruyama: X + f h + g ΔW; strong 0.5 (1.0 for additive noise), weak 1.

    Notes
    -----
    For additive noise the Milstein correction ½ g ∂g/∂x (ΔW² - h) vanishes, so EM *is* the
    Milstein scheme and converges strongly with order 1.0; the textbook 0.5 holds for
    multiplicative noise.  Explicit: mean-square stable for h below 2/|a| on linear drifts a x.
    Conserves nothing in particular (positivity of GBM is lost with probability > 0).
    """

    strong_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 0.5}
    weak_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 1.0}
    code = _kernels.EM

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        return x + F(x, 0) * h + G(x, 0) * dw


@MC_METHODS.register("milstein")
class Milstein(Method):
    """Milstein: EM + ½ g ∂g/∂x (ΔW² - h); strong 1.0, weak 1.

    Needs ∂g/∂x (``SDE.diffusion_dx``; built-in SDEs provide it).  In d > 1 with a state-dependent
    scalar g the noise is non-commutative in general; the double integrals I_(j,i) (i ≠ j) are
    replaced by ½ ΔW_i ΔW_j (Lévy areas dropped), which keeps strong order 1 only for commutative
    noise (1-D, or state-independent g); for g(x) I with ∇g != 0 in d > 1 the strong order is 1/2,
    which :meth:`order` declares and :meth:`check` warns about (measured 0.56 on a 2-D example).
    Built-in SDEs have state-dependent noise only in 1-D (GBM).
    """

    strong_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 1.0}
    weak_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 1.0}
    code = _kernels.MILSTEIN
    requirements = "∂g/∂x (SDE.diffusion_dx) when the noise is state-dependent"

    @classmethod
    def order(cls, sde: SDE, kind: str = "strong", dim: int = 1) -> float | None:
        # g(x) I with ∇g != 0 is non-commutative noise in d > 1: without Lévy areas the strong
        # order is that of Euler–Maruyama
        if kind == "strong" and dim > 1 and not is_additive(sde):
            return 0.5
        return super().order(sde, kind, dim)

    @classmethod
    def check(cls, sde: SDE, d: int, x_probe: np.ndarray, t0: float) -> None:
        if is_additive(sde):
            return
        if d > 1:
            msg = (
                f"method 'milstein' on {_sde_name(sde)} in {d}-D: state-dependent scalar noise "
                "g(x) I is non-commutative and the Lévy areas are not simulated, so the strong "
                "order is 1/2 (as Euler–Maruyama); the weak order stays 1"
            )
            warnings.warn(msg, UserWarning, stacklevel=4)
        try:
            sde._diffusion_dx(x_probe, t0)
        except NotImplementedError:
            msg = (
                f"method 'milstein' needs ∂g/∂x, but {_sde_name(sde)} has state-dependent noise "
                "and does not provide it; pass diffusion_dx=... to CustomSDE, or use "
                "method='euler-maruyama' or 'heun' (derivative-free)"
            )
            raise ValueError(msg) from None

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        g = G(x, 0)
        gx = Gx(x, 0)
        # Σ_j g ∂_j g I_(j,i) with I_(i,i) = ½(ΔW_i² - h) and I_(j,i) ≈ ½ ΔW_j ΔW_i
        corr = 0.5 * g * ((gx * dw).sum(1)[:, None] * dw - h * gx)
        return x + F(x, 0) * h + g * dw + corr


@MC_METHODS.register("heun")
class Heun(Method):
    """Stochastic Heun (Itô form, Kloeden–Platen 15.1.1): strong 1.0, weak 2.

    Notes
    -----
    Ῡ = X + f h + g ΔW,  Υ± = X + f h ± g √h,
    X' = X + ½ (f(X, t) + f(Ῡ, t + h)) h + ¼ (g(Υ+) + g(Υ-) + 2 g(X, t)) ΔW
           + ¼ (g(Υ+) - g(Υ-)) (ΔW² - h) / √h,         g(Υ±) taken at t + h.
    For additive noise this is the stochastic Heun method, trapezoidal in drift and noise
    (½(g(t) + g(t + h)) ΔW, which keeps weak order 2 for time-dependent g such as VP/VE).  For
    state-dependent noise the plain Heun predictor-corrector converges to the *Stratonovich*
    solution, so the Υ± terms supply the Itô correction (derivative-free Milstein term); this is
    implemented for 1-D state-dependent noise.  References: P. E. Kloeden, E. Platen, Numerical
    Solution of Stochastic Differential Equations, Springer 1992, eq. (15.1.1).
    """

    strong_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 1.0}
    weak_order: ClassVar[dict[str, float | None]] = {"additive": 2.0, "multiplicative": 2.0}
    taus = (0.0, 1.0)
    code = _kernels.HEUN
    requirements = "state-dependent noise only in 1-D"

    @classmethod
    def check(cls, sde: SDE, d: int, x_probe: np.ndarray, t0: float) -> None:
        if not is_additive(sde) and d > 1:
            msg = (
                f"method 'heun' handles state-dependent noise in 1-D only, but {_sde_name(sde)} is "
                f"{d}-dimensional with state-dependent noise; use method='euler-maruyama' or 'milstein'"
            )
            raise ValueError(msg)

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        f0 = F(x, 0)
        g = G(x, 0)
        f1 = F(x + f0 * h + g * dw, 1)
        base = x + f0 * h
        sh = math.sqrt(h)
        gp = G(base + g * sh, 1)
        gm = G(base - g * sh, 1)
        return (
            x
            + 0.5 * (f0 + f1) * h
            + 0.25 * (gp + gm + 2.0 * g) * dw
            + 0.25 * (gp - gm) * (dw * dw - h) / sh
        )


@MC_METHODS.register("heun-frozen-g")
class HeunFrozenG(Method):
    """Heun with the diffusion frozen at the step start: weak 1 for time-dependent g, 2 for constant g.

    Notes
    -----
    Ῡ = X + f(X, t) h + g(X, t) ΔW,
    X' = X + ½ (f(X, t) + f(Ῡ, t + h)) h + g(X, t) ΔW.
    The drift is trapezoidal as in Heun, but the noise uses g(t_n) only -- the variant many
    diffusion-model codes write.  The variance it adds over a step is g(t_n)² h, a left Riemann
    sum of ∫ g² dt, so for time-dependent g (VP, VE) the weak error is O(h): weak order 1, not
    the 2 of :class:`Heun` (which averages g(t_n) and g(t_n + h)).  For constant g (OU, heat,
    double well) the two methods coincide and the weak order is 2 (:meth:`order`).  Strong
    order 1 for additive noise (the frozen-g error ∫ (g(s) - g(t_n)) dW has variance O(h³) per
    step); for state-dependent noise there is no Itô correction, so strong 1/2, weak 1.
    Explicit; stable for h |f'| < 2 like Heun.
    """

    strong_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 0.5}
    weak_order: ClassVar[dict[str, float | None]] = {"additive": 1.0, "multiplicative": 1.0}
    taus = (0.0, 1.0)
    code = _kernels.HEUN_FROZEN_G

    @classmethod
    def order(cls, sde: SDE, kind: str = "strong", dim: int = 1) -> float | None:
        # with g constant in t the frozen noise equals Heun's averaged one: weak order 2
        if kind == "weak" and is_additive(sde) and sde.autonomous:
            return 2.0
        return super().order(sde, kind, dim)

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        f0 = F(x, 0)
        noise = G(x, 0) * dw
        f1 = F(x + f0 * h + noise, 1)
        return x + 0.5 * (f0 + f1) * h + noise


@MC_METHODS.register("srk")
class SRK(Method):
    """Stochastic Runge–Kutta SRA1 (Rößler 2010) for additive noise: strong 1.5, weak 2.

    Notes
    -----
    Two stages, tableau SRA1 of A. Rößler, "Runge–Kutta methods for the strong approximation of
    solutions of stochastic differential equations", SIAM J. Numer. Anal. 48(3), 922–952 (2010),
    Table 6.2: c0 = (0, 3/4), c1 = (1, 0), A0 = [[0, 0], [3/4, 0]], B0 = [[0, 0], [3/2, 0]],
    α = (1/3, 2/3), β1 = (1, 0), β2 = (-1, 1).  With ΔZ = ∫∫ dW ds (I_(1,0)):
        H2 = X + ¾ f(X, t) h + (3/2) g(t + h) ΔZ/h,
        X' = X + (⅓ f(X, t) + ⅔ f(H2, t + ¾h)) h + g(t + h)(ΔW - ΔZ/h) + g(t) ΔZ/h.
    (ΔW, ΔZ) is drawn jointly Gaussian: ΔZ = h^{3/2}(z1/2 + z2/(2√3)), ΔW = h^{1/2} z1, so that
    Var ΔZ = h³/3 and Cov(ΔW, ΔZ) = h²/2.  Requires additive noise (g independent of x).
    """

    strong_order: ClassVar[dict[str, float | None]] = {"additive": 1.5, "multiplicative": None}
    weak_order: ClassVar[dict[str, float | None]] = {"additive": 2.0, "multiplicative": None}
    taus = (0.0, 0.75, 1.0)
    code = _kernels.SRK
    needs_dz = True
    requirements = "additive noise (g independent of x)"

    @classmethod
    def check(cls, sde: SDE, d: int, x_probe: np.ndarray, t0: float) -> None:
        if not is_additive(sde):
            msg = (
                f"method 'srk' (Rößler SRA1) requires additive noise, but {_sde_name(sde)} has "
                "state-dependent noise; use method='milstein' or 'heun'"
            )
            raise ValueError(msg)

    @staticmethod
    def step(x: Any, h: float, dw: Any, dz: Any, F: Fn, G: Fn, Gx: Fn) -> Any:
        f1 = F(x, 0)
        zh = dz / h
        g_end = G(x, 2)
        f2 = F(x + 0.75 * h * f1 + 1.5 * g_end * zh, 1)
        return x + h * (f1 / 3.0 + 2.0 * f2 / 3.0) + g_end * (dw - zh) + G(x, 0) * zh


@MC_METHODS.register("exact")
class Exact(Method):
    """Exact transition sampling: linear SDEs (in law) and GBM (pathwise); no time-step error.

    Notes
    -----
    Linear SDEs (``LinearSDE``, docs/sdes.md): X' = m X + c + √(v/h) ΔW with
    (m, c, v) = ``sde.transition(t, t + h)`` — exact in law for any h, driven by the same ΔW as the
    other methods (common random numbers).  GBM: X' = X exp((μ - σ²/2) h + σ ΔW), the pathwise
    solution, so it equals ``GBM.exact_solution(x0, t1 - t0, W)``.
    """

    strong_order: ClassVar[dict[str, float | None]] = {
        "additive": math.inf,
        "multiplicative": math.inf,
    }
    weak_order: ClassVar[dict[str, float | None]] = {
        "additive": math.inf,
        "multiplicative": math.inf,
    }
    requirements = "a closed-form SDE: a LinearSDE or GBM"

    @classmethod
    def check(cls, sde: SDE, d: int, x_probe: np.ndarray, t0: float) -> None:
        if not isinstance(sde, LinearSDE | GBM):
            msg = (
                f"method 'exact' needs a closed-form transition (LinearSDE: {linear_sde_names()}; "
                f"or GBM), but {_sde_name(sde)} has none; use method='srk' or 'heun' with small steps"
            )
            raise ValueError(msg)

    @staticmethod
    def tables(sde: SDE, tgrid: np.ndarray, d: int) -> tuple[Any, ...]:
        """(em, ec (m, d), es, ee, eq, mult) of ``_kernels.run_exact`` on the steps of ``tgrid``."""
        m = tgrid.shape[0] - 1
        h = np.diff(tgrid)
        em, es, ee, eq = np.ones(m), np.zeros(m), np.zeros(m), np.zeros(m)
        ec = np.zeros((m, d))
        if isinstance(sde, GBM):
            ee[:] = (sde.mu - 0.5 * sde.sigma**2) * h
            eq[:] = sde.sigma
            return em, ec, es, ee, eq, True
        assert isinstance(sde, LinearSDE)
        uniform = bool(np.allclose(h, h[0], rtol=1e-12, atol=0.0))
        cache: tuple[float, Any, float] | None = None
        for k in range(m):
            if sde.autonomous and uniform and cache is not None:
                mk, ck, vk = cache
            else:
                mk, ck, vk = sde.transition(float(tgrid[k]), float(tgrid[k + 1]))
                cache = (mk, ck, vk)
            em[k] = mk
            ec[k] = np.broadcast_to(np.asarray(ck, dtype=np.float64), (d,))
            es[k] = math.sqrt(max(vk, 0.0) / h[k])
        return em, ec, es, ee, eq, False
