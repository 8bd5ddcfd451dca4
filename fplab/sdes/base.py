"""The SDE vocabulary shared by every solver: dX = f(X, t) dt + g(X, t) dW (Itô, scalar g).

Two views of each SDE:

* ``drift(x, t)`` / ``diffusion(x, t)`` — vectorised NumPy, for users, samplers and tests.
* ``poly_coefficients(times)`` — the compiled form used by the numba grid solvers and Monte-Carlo
  kernels.  Every built-in SDE is *componentwise polynomial*:

      f_i(x, t) = a(t) x_i + b_i(t) + c(t) x_i^3,      g(x, t) = g0(t) + g1(t) x   (g1 only in 1-D)

  so one kernel serves all of them; only the coefficient tables (evaluated once, in NumPy, at the
  stage times a scheme needs) change.  A new instance or a new parameter value never recompiles.
  An SDE that is not of this form returns ``None`` and the solvers fall back to NumPy evaluation
  of ``drift``/``diffusion``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fplab._registry import Registry
from fplab._typing import FloatArray
from fplab._validate import as_samples, check_real, restore_shape
from fplab.sdes.schedules import check_horizon

__all__ = ["SDE", "SDES", "PolyCoefficients"]

#: every registered SDE class, by the key users type in study specs (``"ou"``, ``"vp"``, ...)
SDES: Registry[type[SDE]] = Registry("sde")


@dataclass(frozen=True)
class PolyCoefficients:
    """Coefficient tables of a componentwise-polynomial SDE at m times.

    f_i(x, t_j) = a[j] x_i + b[j, i] + c[j] x_i^3,   g(x, t_j) = g0[j] + g1[j] x

    Attributes
    ----------
    times : ndarray of float64, shape (m,)
    a, c, g0, g1 : ndarray of float64, shape (m,)
    b : ndarray of float64, shape (m, d)
    """

    times: FloatArray
    a: FloatArray
    b: FloatArray
    c: FloatArray
    g0: FloatArray
    g1: FloatArray

    @property
    def additive(self) -> bool:
        """True when g does not depend on x (g1 == 0)."""
        return bool(np.all(self.g1 == 0.0))


class SDE:
    """Base class of an Itô SDE dX = f(X, t) dt + g(X, t) dW with scalar g.

    Subclasses implement ``_drift(x, t)`` and ``_diffusion(x, t)`` on validated (n, d) arrays
    (and ``_diffusion_dx`` when g depends on x), set the class flags, and, when they can,
    ``poly_coefficients``.  Register with ``@SDES.register("key")`` to make the SDE available
    in study specs, ``fplab list`` and the parametrised tests.

    Class attributes
    ----------------
    dim : int or None     fixed dimension (GBM: 1) or None for any d
    additive : bool       g depends on t only (additive noise)
    linear : bool         drift affine in x and additive noise: Gaussian transitions in closed form
    autonomous : bool     coefficients do not depend on t
    """

    dim: ClassVar[int | None] = None
    additive: ClassVar[bool] = True
    linear: ClassVar[bool] = False
    autonomous: ClassVar[bool] = True
    registry_name: ClassVar[str] = "custom"

    #: end of the time interval [0, T] the SDE is defined on (diffusion-model SDEs), else None
    #: (defined for every t).  Every entry point refuses times outside [0, T] (check_horizon).
    T: float | None = None

    # -- public, validated ------------------------------------------------------------------
    def _state(self, x: Any) -> tuple[FloatArray, bool]:
        xs, flat = as_samples(x)
        self.check_dim(xs.shape[1])
        return xs, flat

    def drift(self, x: Any, t: float) -> FloatArray:
        """f(x, t); x of shape (n, d) -> (n, d), or (n,) -> (n,)."""
        xs, flat = self._state(x)
        return restore_shape(self._drift(xs, self._time(t)), flat)

    def diffusion(self, x: Any, t: float) -> FloatArray:
        """g(x, t), the scalar noise amplitude; x of shape (n, d) or (n,) -> shape (n,)."""
        xs, _ = self._state(x)
        return self._diffusion(xs, self._time(t))

    def diffusion_dx(self, x: Any, t: float) -> FloatArray:
        """∇_x g(x, t) (needed by Milstein); x of shape (n, d) -> (n, d), or (n,) -> (n,)."""
        xs, flat = self._state(x)
        return restore_shape(self._diffusion_dx(xs, self._time(t)), flat)

    def _time(self, t: Any) -> float:
        out = check_real(t, "t")
        check_horizon(self, out, "t")
        return out

    def check_dim(self, d: int, name: str = "x") -> None:
        """Raise ``ValueError`` if this SDE cannot act on d-dimensional states."""
        if self.dim is not None and d != self.dim:
            msg = f"{type(self).__name__} is {self.dim}-dimensional but {name} is {d}-dimensional"
            raise ValueError(msg)

    def params(self) -> dict[str, Any]:
        """Constructor parameters (what a study spec writes)."""
        return {}

    # -- implementation hooks -----------------------------------------------------------------
    def _drift(self, x: FloatArray, t: float) -> FloatArray:
        raise NotImplementedError

    def _diffusion(self, x: FloatArray, t: float) -> FloatArray:
        raise NotImplementedError

    def _diffusion_dx(self, x: FloatArray, t: float) -> FloatArray:
        if self.additive:
            return np.zeros_like(x)
        msg = f"{type(self).__name__} does not provide the derivative of its diffusion (∂g/∂x)"
        raise NotImplementedError(msg)

    def poly_coefficients(self, times: Any, d: int = 1) -> PolyCoefficients | None:
        """Coefficient tables at ``times`` for the compiled kernels, or None if not polynomial."""
        return None

    def g2(self, t: Any) -> FloatArray:
        """g(t)^2 for additive-noise SDEs, vectorised over t (shape of t)."""
        if not self.additive:
            msg = f"{type(self).__name__} has state-dependent noise; use diffusion(x, t)"
            raise ValueError(msg)
        tt = np.asarray(t, dtype=np.float64)
        out = np.array(
            [self._diffusion(np.zeros((1, self.dim or 1)), float(s))[0] for s in tt.ravel()]
        )
        return (out**2).reshape(tt.shape)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.params().items()))))


def build_sde(name: str, **params: Any) -> SDE:
    """Instantiate the registered SDE ``name`` (``"ou"``, ``"vp"``, ...) with ``params``."""
    import inspect

    cls = SDES.get(name)
    allowed = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = [k for k in params if k not in allowed]
    if unknown:
        listed = ", ".join(repr(a) for a in allowed) or "none"
        msg = f"sde {name!r}: unknown parameter {unknown[0]!r}; allowed: {listed}"
        raise TypeError(msg)
    try:
        return cls(**params)
    except TypeError as err:
        msg = f"sde {name!r}: {err}"
        raise TypeError(msg) from None
