"""Closed forms between Gaussians N(m1, C1), N(m2, C2): the references the metrics are tested against.

Each takes means of shape (d,) (or scalars in 1-D) and covariances of shape (d, d) (or scalar
variances in 1-D).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from scipy import linalg

from fplab._typing import FloatArray
from fplab._validate import check_positive, reject_complex
from fplab.errors import NumericalError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "fisher_divergence_gaussian",
    "hellinger_gaussian",
    "kl_gaussian",
    "mmd_gaussian",
    "w2_gaussian",
]


def _mc(m: Any, c: Any, name: str) -> tuple[FloatArray, FloatArray]:
    """Mean (d,) and symmetrised covariance (d, d); ``name`` is e.g. "m1, c1" for messages."""
    mname, cname = (part.strip() for part in name.split(","))
    arrays = []
    for value, arg in ((m, mname), (c, cname)):
        if isinstance(value, str | bytes) or value is None:
            msg = f"{arg} must be an array of real numbers, got {type(value).__name__}"
            raise TypeError(msg)
        reject_complex(value, arg)
        try:
            arrays.append(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as err:
            msg = f"{arg} must be an array of real numbers, got {type(value).__name__}"
            raise TypeError(msg) from err
    mv, cv = np.atleast_1d(arrays[0]), arrays[1]
    d = mv.size
    if cv.ndim == 0:
        cv = cv.reshape(1, 1)
    if mv.ndim != 1 or d == 0 or cv.shape != (d, d):
        msg = (
            f"{mname} must have shape (d,) and {cname} shape (d, d) with d >= 1, "
            f"got {mname} {mv.shape} and {cname} {cv.shape}"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(mv)) or not np.all(np.isfinite(cv)):
        msg = f"{mname} and {cname} must be finite"
        raise ValueError(msg)
    if not np.allclose(cv, cv.T, rtol=1e-10, atol=0.0):
        msg = f"{cname} must be symmetric, got {cv.tolist()}"
        raise ValueError(msg)
    try:
        np.linalg.cholesky(cv)
    except np.linalg.LinAlgError:
        msg = f"{cname} must be symmetric positive definite, got {cv.tolist()}"
        raise ValueError(msg) from None
    return mv, 0.5 * cv + 0.5 * cv.T  # halves first: cv + cv.T overflows near 1e308


def _same_dim(*pairs: tuple[str, FloatArray, FloatArray]) -> None:
    """``ValueError`` naming the arguments when the Gaussians' dimensions differ.

    Each pair is ``("m1, c1", mean, covariance)``.  Without this check a 1-D and a 2-D Gaussian
    broadcast against each other and, e.g., the Hellinger distance returns a plausible number.
    """
    if len({mc[1].size for mc in pairs}) > 1:
        shapes = ", ".join(
            f"{mname} {mv.shape} / {cname} {cv.shape}"
            for names, mv, cv in pairs
            for mname, cname in [names.split(", ")]
        )
        msg = f"the Gaussians must have the same dimension d; got {shapes}"
        raise ValueError(msg)


def _mean_gap(m1: FloatArray, m2: FloatArray, args: str) -> FloatArray:
    """m1 - m2, or NumericalError when the difference overflows (means of opposite sign ~1e308)."""
    with np.errstate(over="ignore", invalid="ignore"):
        dm = m1 - m2
    if not np.all(np.isfinite(dm)):
        msg = f"{args}: the difference of the means overflows float64; rescale the means"
        raise NumericalError(msg)
    return dm


def _finite_or_raise(value: float, what: str, args: str) -> float:
    """``value``, or NumericalError when it overflowed float64 (means ~1e154 apart): an inf
    returned silently would read as a result."""
    if not math.isfinite(value):
        msg = (
            f"the {what} between these Gaussians overflows float64 (means or precisions too far "
            f"apart); rescale {args}"
        )
        raise NumericalError(msg)
    return value


def _in_float64_range(what: str, args: str) -> Callable[[F], F]:
    """Turn an overflow inside a closed form (covariances near 1e308 whose sum or product is inf,
    which scipy then refuses with "array must not contain infs or NaNs") into a NumericalError
    naming the arguments; validation errors pass through unchanged."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    out = fn(*a, **k)
            except (np.linalg.LinAlgError, OverflowError, FloatingPointError) as err:
                raise NumericalError(_overflow_message(what, args)) from err
            except ValueError as err:
                if "infs or NaNs" not in str(err):
                    raise
                raise NumericalError(_overflow_message(what, args)) from err
            return _finite_or_raise(float(out), what, args)

        return wrapper  # type: ignore[return-value]

    return deco


def _overflow_message(what: str, args: str) -> str:
    return (
        f"the {what} between these Gaussians overflows float64 (means or covariances too large "
        f"or too far apart); rescale {args}"
    )


def _psd_sqrt(a: FloatArray) -> FloatArray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigendecomposition)."""
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


@_in_float64_range("W2", "m1, c1, m2, c2")
def w2_gaussian(m1: Any, c1: Any, m2: Any, c2: Any) -> float:
    """W2 between Gaussians (Bures–Wasserstein):

    W2² = |m1 - m2|² + tr(C1 + C2 - 2 (C2^{1/2} C1 C2^{1/2})^{1/2}).
    """
    m1v, c1v = _mc(m1, c1, "m1, c1")
    m2v, c2v = _mc(m2, c2, "m2, c2")
    _same_dim(("m1, c1", m1v, c1v), ("m2, c2", m2v, c2v))
    r2 = _psd_sqrt(c2v)
    cross = _psd_sqrt(r2 @ c1v @ r2)
    trace_term = float(np.trace(c1v + c2v - 2.0 * cross))
    # hypot scales internally: |m1 - m2| up to ~1e308 gives a finite W2 (the square overflows)
    dm = _mean_gap(m1v, m2v, "m1, m2")
    return math.hypot(*dm.tolist(), math.sqrt(max(trace_term, 0.0)))


@_in_float64_range("KL", "m1, c1, m2, c2")
def kl_gaussian(m1: Any, c1: Any, m2: Any, c2: Any) -> float:
    """KL(N1 ‖ N2) = ½ [tr(C2^{-1} C1) + (m2 - m1)ᵀ C2^{-1} (m2 - m1) - d + log det C2 / det C1]."""
    m1v, c1v = _mc(m1, c1, "m1, c1")
    m2v, c2v = _mc(m2, c2, "m2, c2")
    _same_dim(("m1, c1", m1v, c1v), ("m2, c2", m2v, c2v))
    d = m1v.size
    dm = _mean_gap(m2v, m1v, "m1, m2")
    sol = linalg.solve(c2v, np.column_stack([c1v, dm]), assume_a="pos")
    _, ld1 = np.linalg.slogdet(c1v)
    _, ld2 = np.linalg.slogdet(c2v)
    with np.errstate(over="ignore", invalid="ignore"):
        out = float(0.5 * (np.trace(sol[:, :d]) + dm @ sol[:, d] - d + ld2 - ld1))
    return _finite_or_raise(out, "KL", "m1, c1, m2, c2")


@_in_float64_range("Hellinger distance", "m1, c1, m2, c2")
def hellinger_gaussian(m1: Any, c1: Any, m2: Any, c2: Any) -> float:
    """Hellinger distance H (H² = 1 - ∫ √(p q)) between Gaussians:

    1 - H² = det(C1)^{1/4} det(C2)^{1/4} / det(C̄)^{1/2} exp(-⅛ Δmᵀ C̄^{-1} Δm), C̄ = (C1 + C2)/2.
    """
    m1v, c1v = _mc(m1, c1, "m1, c1")
    m2v, c2v = _mc(m2, c2, "m2, c2")
    _same_dim(("m1, c1", m1v, c1v), ("m2, c2", m2v, c2v))
    cbar = 0.5 * c1v + 0.5 * c2v
    dm = _mean_gap(m1v, m2v, "m1, m2")
    _, ld1 = np.linalg.slogdet(c1v)
    _, ld2 = np.linalg.slogdet(c2v)
    _, ldb = np.linalg.slogdet(cbar)
    log_bc = 0.25 * ld1 + 0.25 * ld2 - 0.5 * ldb - 0.125 * dm @ linalg.solve(cbar, dm)
    return math.sqrt(max(-math.expm1(log_bc), 0.0))


@_in_float64_range("Fisher divergence", "m, c, ma, ca, mb, cb")
def fisher_divergence_gaussian(m: Any, c: Any, ma: Any, ca: Any, mb: Any, cb: Any) -> float:
    """∫ N(x; m, C) |s_a(x) - s_b(x)|² dx for Gaussian scores s_a = -Ca^{-1}(x - ma), same for b.

    s_a - s_b = A x + b with A = Cb^{-1} - Ca^{-1}, b = Ca^{-1} ma - Cb^{-1} mb, so the integral is
    tr(A C Aᵀ) + |A m + b|².
    """
    mv, cv = _mc(m, c, "m, c")
    mav, cav = _mc(ma, ca, "ma, ca")
    mbv, cbv = _mc(mb, cb, "mb, cb")
    _same_dim(("m, c", mv, cv), ("ma, ca", mav, cav), ("mb, cb", mbv, cbv))
    pa, pb = np.linalg.inv(cav), np.linalg.inv(cbv)
    a = pb - pa
    b = pa @ mav - pb @ mbv
    with np.errstate(over="ignore", invalid="ignore"):
        out = float(np.trace(a @ cv @ a.T) + np.sum((a @ mv + b) ** 2))
    return _finite_or_raise(out, "Fisher divergence", "m, c, ma, ca, mb, cb")


@_in_float64_range("MMD", "m1, c1, m2, c2, bandwidth")
def mmd_gaussian(m1: Any, c1: Any, m2: Any, c2: Any, bandwidth: float) -> float:
    """Squared MMD between Gaussians for the kernel k(x, y) = exp(-|x - y|² / (2 h²)).

    With X ~ N(m1, C1), Y ~ N(m2, C2) independent, E k(X, Y) = det(I + S/h²)^{-1/2}
    exp(-½ Δmᵀ (S + h² I)^{-1} Δm) with S = C1 + C2, Δm = m1 - m2; MMD² = E k(X, X') + E k(Y, Y')
    - 2 E k(X, Y).
    """
    m1v, c1v = _mc(m1, c1, "m1, c1")
    m2v, c2v = _mc(m2, c2, "m2, c2")
    _same_dim(("m1, c1", m1v, c1v), ("m2, c2", m2v, c2v))
    h = check_positive(bandwidth, "bandwidth")
    h2 = h * h  # (a Python float ** 2 raises OverflowError instead of giving inf)
    if not 1e-300 < h2 < 1e300:
        msg = f"bandwidth must lie in (1e-150, 1e150) so that h² is a float64, got {bandwidth!r}"
        raise ValueError(msg)
    eye = np.eye(m1v.size)

    def expected_kernel(dm: FloatArray, s: FloatArray) -> float:
        _, ld = np.linalg.slogdet(eye + s / h2)
        quad = dm @ linalg.solve(s + h2 * eye, dm)
        return math.exp(-0.5 * ld - 0.5 * quad)

    zero = np.zeros_like(m1v)
    return (
        expected_kernel(zero, 2 * c1v)
        + expected_kernel(zero, 2 * c2v)
        - 2.0 * expected_kernel(_mean_gap(m1v, m2v, "m1, m2"), c1v + c2v)
    )
