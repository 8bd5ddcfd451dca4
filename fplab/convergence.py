"""Observed convergence orders: log-log fits with confidence intervals, Richardson extrapolation,
and Monte-Carlo-aware weak-error fits.

Every order fplab reports comes out of :func:`observed_order`.  The fit is the least-squares slope
of ``log err`` on ``log h``; its interval is a Student-t interval from the residuals (deterministic
errors) or a weighted fit that also carries the sampling noise of Monte-Carlo errors
(``err_stderr=``).  Each point is also checked for lying in the asymptotic range: the local slopes
between consecutive levels expose pre-asymptotic coarse points, round-off plateaus and points whose
error is no larger than its own Monte-Carlo noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from fplab._typing import FloatArray
from fplab._validate import as_rng, check_int, check_positive, check_real
from fplab.errors import NumericalError

__all__ = [
    "OrderFit",
    "RichardsonResult",
    "observed_order",
    "richardson",
    "weak_error",
]

_EPS = float(np.finfo(np.float64).eps)
#: default round-off floor, relative to ``scale`` (the largest error unless given)
_ROUNDOFF_RTOL = 1e3 * _EPS
#: the half-width of an interval is never below this (relative to max(1, |order|)): exact
#: power laws otherwise give a zero-width interval that rounding alone can miss.
_MIN_HALF_WIDTH = 1e-10
_NOISE_K = 2.0  # a point whose error is below k standard errors is noise-dominated


@dataclass(frozen=True)
class OrderFit:
    """Result of :func:`observed_order`: err ≈ C h^p fitted on log-log axes.

    Attributes
    ----------
    order : float
        Fitted slope p.
    ci : tuple of float
        (lo, hi) confidence interval for p at level ``confidence``; (-inf, inf) when two
        deterministic points leave no degree of freedom to estimate the scatter.
    constant : float
        C in err ≈ C h^p (exp of the fitted intercept).
    stderr : float
        Standard error of p (inf with two deterministic points).
    n_points : int
        Number of (h, err) pairs used in the fit.
    confidence : float
        Confidence level of ``ci``.
    h, err : tuple of float
        The data, sorted from coarsest to finest h.
    err_stderr : tuple of float or None
        Monte-Carlo standard errors of ``err`` when given, same order.
    local_orders : tuple of float
        Slopes between consecutive levels, log(e_{k+1}/e_k) / log(h_{k+1}/h_k), coarse to fine.
    flags : tuple of str
        Per point: ``""`` (in the asymptotic range), ``"pre-asymptotic"`` (coarse point whose local
        slope departs from the fine-level order), ``"round-off"`` (error at the round-off floor,
        or a fine-end plateau where the error stops falling), ``"noise"`` (error below
        2 Monte-Carlo standard errors).
    reference_order : float
        Median local slope over the finer half of the clean segments: the order against which
        the flags were judged.
    method : str
        ``"ols"`` (Student-t on residuals), ``"wls"`` (weights from ``err_stderr``, delta method)
        or ``"bootstrap"`` (parametric bootstrap of ``err_stderr``).
    """

    order: float
    ci: tuple[float, float]
    constant: float
    stderr: float
    n_points: int
    confidence: float
    h: tuple[float, ...]
    err: tuple[float, ...]
    err_stderr: tuple[float, ...] | None
    local_orders: tuple[float, ...]
    flags: tuple[str, ...]
    reference_order: float
    method: str

    @property
    def pre_asymptotic(self) -> tuple[bool, ...]:
        """Per point (coarse to fine): flagged as outside the asymptotic range at the coarse end."""
        return tuple(f == "pre-asymptotic" for f in self.flags)

    @property
    def roundoff(self) -> tuple[bool, ...]:
        """Per point: flagged as round-off dominated (floor or fine-end plateau)."""
        return tuple(f == "round-off" for f in self.flags)

    @property
    def noise_dominated(self) -> tuple[bool, ...]:
        """Per point: error below 2 Monte-Carlo standard errors."""
        return tuple(f == "noise" for f in self.flags)

    @property
    def asymptotic(self) -> bool:
        """True when no point is flagged."""
        return not any(self.flags)

    def contains(self, p: float, tol: float = 0.0) -> bool:
        """Whether the declared order ``p`` lies in ``[lo - tol, hi + tol]``."""
        p = check_real(p, "p")
        tol = check_real(tol, "tol")
        return self.ci[0] - tol <= p <= self.ci[1] + tol

    def predict(self, h: Any) -> Any:
        """Fitted error C h^p at step ``h`` (scalar or array)."""
        return self.constant * np.asarray(h, dtype=np.float64) ** self.order

    def __str__(self) -> str:
        lo, hi = self.ci
        pct = round(100 * self.confidence)
        bad = [f"{h:.3g}:{f}" for h, f in zip(self.h, self.flags) if f]
        note = f"; flagged {', '.join(bad)}" if bad else ""
        return (
            f"order {self.order:.3f} [{lo:.3f}, {hi:.3f}] ({pct}% {self.method}, "
            f"n={self.n_points}){note}"
        )


# -- validation ---------------------------------------------------------------------------


def _as_positive_vector(a: Any, name: str) -> FloatArray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be a 1-D sequence of positive numbers, got {type(a).__name__}"
        raise TypeError(msg) from err
    if arr.ndim != 1:
        msg = f"{name} must be 1-D, got shape {arr.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"{name} must be finite, got {arr.tolist()}"
        raise ValueError(msg)
    if np.any(arr <= 0.0):
        bad = arr[arr <= 0.0].tolist()
        msg = (
            f"{name} must be > 0 for a log-log fit, got {bad}; "
            "pass absolute errors and drop exact zeros (they are below round-off)"
        )
        raise ValueError(msg)
    return arr


def _validate_h_err(h: Any, err: Any) -> tuple[FloatArray, FloatArray]:
    hv = _as_positive_vector(h, "h")
    ev = _as_positive_vector(err, "err")
    if hv.shape != ev.shape:
        msg = f"h and err must have the same length, got {hv.size} and {ev.size}"
        raise ValueError(msg)
    if hv.size < 2:
        msg = (
            f"observed_order needs at least 2 (h, err) pairs (>= 3 for an interval), got {hv.size}"
        )
        raise ValueError(msg)
    if np.unique(hv).size != hv.size:
        msg = f"h must hold distinct step sizes, got {hv.tolist()}"
        raise ValueError(msg)
    return hv, ev


# -- fitting --------------------------------------------------------------------------------


def _wls(x: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float, float, float]:
    """Weighted line fit y = a + b x; returns (b, a, var_b_known, chi2) for weights w = 1/var."""
    sw = w.sum()
    xm = (w * x).sum() / sw
    ym = (w * y).sum() / sw
    sxx = (w * (x - xm) ** 2).sum()
    b = float((w * (x - xm) * (y - ym)).sum() / sxx)
    a = float(ym - b * xm)
    chi2 = float((w * (y - a - b * x) ** 2).sum())
    return b, a, float(1.0 / sxx), chi2


def _local_orders(x: FloatArray, y: FloatArray) -> FloatArray:
    return np.diff(y) / np.diff(x)


def _flag_points(
    x: FloatArray,
    y: FloatArray,
    ev: FloatArray,
    sv: FloatArray | None,
    floor: float,
    slope_tol: float,
) -> tuple[list[str], float]:
    """Per-point flags (coarse to fine) and the reference order they were judged against."""
    n = ev.size
    flags = [""] * n
    for i in range(n):
        if ev[i] <= floor:
            flags[i] = "round-off"
        elif sv is not None and ev[i] < _NOISE_K * sv[i]:
            flags[i] = "noise"
    local = _local_orders(x, y)
    # slope uncertainty of each segment from the Monte-Carlo noise (delta method)
    if sv is not None:
        rel = sv / ev
        seg_sd = np.sqrt(rel[:-1] ** 2 + rel[1:] ** 2) / np.abs(np.diff(x))
    else:
        seg_sd = np.zeros(n - 1)
    clean = [k for k in range(n - 1) if not flags[k] and not flags[k + 1]]
    if not clean:
        return flags, float("nan")
    finer = clean[len(clean) // 2 :]
    ref = float(np.median(local[finer]))
    tol = slope_tol * max(1.0, abs(ref))

    def deviates(k: int) -> bool:
        return abs(local[k] - ref) > tol + 3.0 * seg_sd[k]

    # coarse end: walk towards finer levels while the segment disagrees with the reference
    for k in clean:
        if k >= n - 2 or not deviates(k):
            break
        flags[k] = "pre-asymptotic"
    # fine end: an error that stops falling (slope well below the reference) is a plateau
    for k in reversed(clean):
        if not (deviates(k) and local[k] < ref) or flags[k]:
            break
        flags[k + 1] = "round-off"
    return flags, ref


def observed_order(
    h: Sequence[float] | FloatArray,
    err: Sequence[float] | FloatArray,
    *,
    confidence: float = 0.95,
    err_stderr: Sequence[float] | FloatArray | None = None,
    method: str = "auto",
    n_bootstrap: int = 2000,
    seed: Any = 0,
    scale: float | None = None,
    roundoff_rtol: float = _ROUNDOFF_RTOL,
    slope_tol: float = 0.15,
    drop_flagged: bool = False,
) -> OrderFit:
    """Observed convergence order: the slope p of err ≈ C h^p on log-log axes, with an interval.

    Parameters
    ----------
    h : sequence of float, shape (m,)
        Step sizes (dx, dt, ...), positive and distinct, any order.
    err : sequence of float, shape (m,)
        Positive errors at those steps (absolute values; exact zeros are not allowed).
    confidence : float, default 0.95
        Level of the confidence interval, in (0, 1).
    err_stderr : sequence of float, shape (m,), optional
        Monte-Carlo standard errors of ``err`` (weak errors).  With them the fit is weighted and
        its interval carries the sampling noise; see Notes.
    method : {"auto", "ols", "wls", "bootstrap"}
        ``"auto"`` is ``"ols"`` without ``err_stderr`` and ``"wls"`` with it.
    n_bootstrap : int, default 2000
        Replicates for ``method="bootstrap"``.
    seed : int or Generator, default 0
        Seed of the parametric bootstrap.
    scale : float, optional
        Size of the quantity whose error is measured (e.g. max |u|); the round-off floor is
        ``roundoff_rtol * scale``.  Default: the largest error.
    roundoff_rtol : float, default 1e3 * eps ≈ 2.2e-13
        Relative round-off floor.
    slope_tol : float, default 0.15
        A segment whose local slope differs from the reference order by more than
        ``slope_tol * max(1, |reference|)`` (plus 3 standard errors of the local slope when
        ``err_stderr`` is given) flags its coarse point as pre-asymptotic (coarse end) or its fine
        point as round-off (fine end, slope below the reference).
    drop_flagged : bool, default False
        Fit only the unflagged points (needs at least 2 of them).

    Returns
    -------
    OrderFit
        ``order``, ``ci``, ``constant``, ``stderr``, ``local_orders``, per-point ``flags`` and
        ``contains(p, tol)``.

    Raises
    ------
    TypeError, ValueError
        Non-numeric, non-positive or non-finite ``h``/``err``/``err_stderr``, mismatched lengths,
        repeated ``h``, fewer than 2 points, ``confidence`` outside (0, 1).

    Notes
    -----
    *Deterministic errors* (``"ols"``): ordinary least squares of y = log err on x = log h;
    s² = SSR / (m - 2), se(p) = s / sqrt(Σ(x - x̄)²) and the interval is p ± t_{m-2} se(p).
    With m = 2 there is no residual degree of freedom: the two-point slope is returned with
    ``ci = (-inf, inf)`` and ``stderr = inf`` (so ``contains`` is always true, i.e. no evidence
    either way); use at least 4 levels for an order test.  The residual scatter of a
    deterministic sequence measures how far it is from a pure power law (higher-order terms), so
    a pre-asymptotic point widens the interval instead of silently biasing a narrow one.

    *Monte-Carlo errors* (``"wls"``): var(log err_i) ≈ (σ_i / err_i)² (delta method), weights
    w_i = 1 / var; var(p) = 1 / Σ w_i (x_i - x̄_w)², inflated by the reduced χ² = χ² / (m - 2)
    when that exceeds 1 (the data scatter more than the noise explains, e.g. higher-order bias),
    with a Student-t quantile on m - 2 degrees of freedom in that case and a normal quantile
    otherwise (two points then give a finite interval from the noise alone).  The delta method
    needs σ_i ≪ err_i; points with err_i < 2 σ_i are flagged
    ``"noise"``.  ``"bootstrap"`` instead redraws err_i* ~ N(err_i, σ_i²), refits the weighted
    slope, and reports the percentile interval (replicates with a non-positive error are
    redrawn as |err_i*|, which is the law of an absolute weak error).
    """
    hv, ev = _validate_h_err(h, err)
    conf = check_real(confidence, "confidence")
    if not 0.0 < conf < 1.0:
        msg = f"confidence must be in (0, 1), got {conf}"
        raise ValueError(msg)
    if method not in ("auto", "ols", "wls", "bootstrap"):
        from fplab._registry import unknown_choice_message

        raise ValueError(
            unknown_choice_message("method", method, ["auto", "ols", "wls", "bootstrap"])
        )
    sv: FloatArray | None = None
    if err_stderr is not None:
        sv = np.asarray(err_stderr, dtype=np.float64)
        if sv.shape != ev.shape or not np.all(np.isfinite(sv)) or np.any(sv < 0):
            msg = (
                f"err_stderr must be finite, >= 0 and of the same length as err ({ev.size}), "
                f"got {np.asarray(err_stderr).tolist()}"
            )
            raise ValueError(msg)
    if method == "auto":
        method = "ols" if sv is None else "wls"
    if method in ("wls", "bootstrap") and sv is None:
        msg = f"method={method!r} needs err_stderr (the Monte-Carlo standard errors of err)"
        raise ValueError(msg)
    slope_tol = check_positive(slope_tol, "slope_tol")
    rtol = check_positive(roundoff_rtol, "roundoff_rtol")
    floor = rtol * (check_positive(scale, "scale") if scale is not None else float(ev.max()))

    order_idx = np.argsort(-hv)  # coarse to fine
    hv, ev = hv[order_idx], ev[order_idx]
    if sv is not None:
        sv = sv[order_idx]
    x, y = np.log(hv), np.log(ev)
    flags, ref = _flag_points(x, y, ev, sv, floor, slope_tol)
    keep = np.ones(hv.size, dtype=bool)
    if drop_flagged:
        keep = np.array([not f for f in flags])
        if keep.sum() < 2:
            msg = f"drop_flagged leaves {int(keep.sum())} point(s); flags were {flags}"
            raise ValueError(msg)
    xf, yf = x[keep], y[keep]
    m = int(keep.sum())

    if method == "ols":
        p, a, var_unit, _ = _wls(xf, yf, np.ones(m))
        if m == 2:
            se = math.inf
            half = math.inf
        else:
            resid = yf - a - p * xf
            s2 = float(resid @ resid) / (m - 2)
            se = math.sqrt(s2 * var_unit)
            half = float(stats.t.ppf(0.5 + conf / 2, m - 2)) * se
        ci = (p - half, p + half)
    else:
        assert sv is not None
        svf = sv[keep]
        # a zero standard error (exact value) gets the round-off weight instead of infinity
        rel = np.maximum(svf / ev[keep], _EPS)
        w = 1.0 / rel**2
        p, a, var_known, chi2 = _wls(xf, yf, w)
        red = chi2 / (m - 2) if m > 2 else 0.0
        if red > 1.0:
            se = math.sqrt(var_known * red)
            q = float(stats.t.ppf(0.5 + conf / 2, m - 2))
        else:
            se = math.sqrt(var_known)
            q = float(stats.norm.ppf(0.5 + conf / 2))
        if method == "wls":
            ci = (p - q * se, p + q * se)
        else:
            ci, se = _bootstrap_ci(xf, ev[keep], svf, w, conf, n_bootstrap, seed)
    half_min = _MIN_HALF_WIDTH * max(1.0, abs(p))
    ci = (min(ci[0], p - half_min), max(ci[1], p + half_min))
    return OrderFit(
        order=float(p),
        ci=(float(ci[0]), float(ci[1])),
        constant=float(math.exp(a)),
        stderr=float(se),
        n_points=m,
        confidence=conf,
        h=tuple(float(v) for v in hv),
        err=tuple(float(v) for v in ev),
        err_stderr=None if sv is None else tuple(float(v) for v in sv),
        local_orders=tuple(float(v) for v in _local_orders(x, y)),
        flags=tuple(flags),
        reference_order=ref,
        method=method,
    )


def _bootstrap_ci(
    x: FloatArray,
    ev: FloatArray,
    sv: FloatArray,
    w: FloatArray,
    conf: float,
    n_bootstrap: Any,
    seed: Any,
) -> tuple[tuple[float, float], float]:
    """Percentile interval and sd of the weighted slope under err* ~ |N(err, σ²)|."""
    nb = check_int(n_bootstrap, "n_bootstrap", minimum=100)
    gen = as_rng(seed)
    draws = np.abs(ev + sv * gen.standard_normal((nb, ev.size)))
    draws = np.maximum(draws, np.finfo(np.float64).tiny)
    ys = np.log(draws)
    xm = (w * x).sum() / w.sum()
    sxx = (w * (x - xm) ** 2).sum()
    ym = (ys * w).sum(axis=1) / w.sum()
    slopes = ((w * (x - xm)) * (ys - ym[:, None])).sum(axis=1) / sxx
    lo, hi = np.quantile(slopes, [0.5 - conf / 2, 0.5 + conf / 2])
    return (float(lo), float(hi)), float(slopes.std(ddof=1))


# -- Richardson -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RichardsonResult:
    """Result of :func:`richardson` (levels sorted coarse to fine).

    Attributes
    ----------
    order : float
        Observed order p from the three finest levels (or the order that was given).
    extrapolated : float or ndarray
        u_ext = u_f + (u_f - u_m) / (r^p - 1), the Richardson-extrapolated value.
    error_estimate : float
        Estimated error of the finest value, |u_f - u_ext| (a norm for array values).
    errors : tuple of float
        Estimated error |u_i - u_ext| of every level, coarse to fine.
    orders : tuple of float
        Observed order of every consecutive triple of levels (one per triple); a steady sequence
        means the levels are in the asymptotic range.
    ratio : float
        Refinement ratio r = h_coarse / h_fine used for the finest pair.
    h : tuple of float or None
        Step sizes, coarse to fine, when given.
    """

    order: float
    extrapolated: Any
    error_estimate: float
    errors: tuple[float, ...]
    orders: tuple[float, ...]
    ratio: float
    h: tuple[float, ...] | None


def _norm(a: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(a)))) if a.ndim else float(abs(a))


def _triple_order(d1: Any, d2: Any, h1: float, h2: float, h3: float) -> float:
    """Order p solving (u1-u2)/(u2-u3) = (h1^p - h2^p)/(h2^p - h3^p) (any ratios)."""
    n1, n2 = _norm(np.asarray(d1)), _norm(np.asarray(d2))
    if n1 == 0.0 or n2 == 0.0:
        msg = "two consecutive levels give identical values; the order is undefined (round-off?)"
        raise NumericalError(msg)
    if np.ndim(d1) == 0 and np.sign(d1) != np.sign(d2):
        msg = (
            f"differences between levels change sign (u1-u2={float(d1):.3g}, "
            f"u2-u3={float(d2):.3g}): oscillatory convergence, no Richardson order"
        )
        raise NumericalError(msg)
    q = n1 / n2
    r1, r2 = h1 / h2, h2 / h3
    if math.isclose(r1, r2, rel_tol=1e-12):
        if q <= 1.0:
            msg = f"differences do not shrink (|u1-u2|/|u2-u3| = {q:.3g}): not converging"
            raise NumericalError(msg)
        return math.log(q) / math.log(r1)

    # general ratios: q = r2^p (r1^p - 1) / (r2^p - 1), monotone in p > 0
    def f(p: float) -> float:
        return math.log(r2**p * (r1**p - 1.0) / (r2**p - 1.0)) - math.log(q)

    lo, hi = 1e-6, 50.0
    if f(lo) * f(hi) > 0:
        msg = f"no order p in (0, 50] reproduces the difference ratio {q:.3g}"
        raise NumericalError(msg)
    return float(optimize.brentq(f, lo, hi, xtol=1e-14))


def richardson(
    values: Any,
    h: Sequence[float] | FloatArray | None = None,
    *,
    ratio: float | None = None,
    order: float | None = None,
) -> RichardsonResult:
    """Order and error estimate from three or more resolutions, with no exact solution.

    Parameters
    ----------
    values : array_like, shape (m,) or (m, ...)
        Scalar outputs (or arrays on common points) at m >= 3 resolutions, in the same order as
        ``h`` (or coarse to fine when ``h`` is not given).  With ``order`` given, m >= 2.
    h : sequence of float, shape (m,), optional
        Step sizes; any ratios.  Levels are sorted coarse to fine.
    ratio : float, optional
        Constant refinement ratio r = h_i / h_{i+1} > 1 when ``h`` is not given.
    order : float, optional
        Known order p: skip estimating it and only extrapolate.

    Returns
    -------
    RichardsonResult

    Raises
    ------
    ValueError
        Fewer than 3 levels (2 with ``order``), neither ``h`` nor ``ratio``, inconsistent ``h`` and
        ``ratio``, non-finite values.
    NumericalError
        The differences change sign (oscillatory convergence) or do not shrink.

    Notes
    -----
    With a constant ratio r, p = log((u1 - u2) / (u2 - u3)) / log r and
    u_ext = u3 + (u3 - u2) / (r^p - 1); the error of the finest level is then estimated as
    |u3 - u2| / (r^p - 1), valid when all three levels are in the asymptotic range, i.e. when
    the triple orders in ``orders`` agree.  Array values use the RMS norm of the differences for
    the order and extrapolate pointwise.  Unequal ratios are solved for p by Brent's method.
    """
    u = np.asarray(values, dtype=np.float64)
    if u.ndim == 0 or not np.all(np.isfinite(u)):
        msg = f"values must be a finite sequence (one entry per level), got {values!r}"
        raise ValueError(msg)
    m = u.shape[0]
    need = 2 if order is not None else 3
    if m < need:
        msg = f"richardson needs at least {need} levels, got {m}"
        raise ValueError(msg)
    if h is not None:
        hv = _as_positive_vector(h, "h")
        if hv.size != m:
            msg = f"h and values must have the same length, got {hv.size} and {m}"
            raise ValueError(msg)
        if np.unique(hv).size != m:
            msg = f"h must hold distinct step sizes, got {hv.tolist()}"
            raise ValueError(msg)
        idx = np.argsort(-hv)
        hv, u = hv[idx], u[idx]
        if ratio is not None:
            r = check_positive(ratio, "ratio")
            if not np.allclose(hv[:-1] / hv[1:], r, rtol=1e-8):
                msg = f"ratio={r} disagrees with h={hv.tolist()}; give one or the other"
                raise ValueError(msg)
    elif ratio is not None:
        r = check_positive(ratio, "ratio")
        if r <= 1.0:
            msg = f"ratio must be > 1 (h_coarse / h_fine), got {r}"
            raise ValueError(msg)
        hv = r ** -np.arange(m, dtype=np.float64)
    else:
        msg = "richardson needs the step sizes h or a constant refinement ratio"
        raise ValueError(msg)
    d = np.diff(u, axis=0)
    orders = tuple(
        _triple_order(-d[k], -d[k + 1], hv[k], hv[k + 1], hv[k + 2]) for k in range(m - 2)
    )
    p = check_positive(order, "order") if order is not None else orders[-1]
    r_fine = float(hv[-2] / hv[-1])
    ext = u[-1] + (u[-1] - u[-2]) / (r_fine**p - 1.0)
    errs = tuple(_norm(u[i] - ext) for i in range(m))
    extrapolated: Any = float(ext) if ext.ndim == 0 else ext
    return RichardsonResult(
        order=float(p),
        extrapolated=extrapolated,
        error_estimate=errs[-1],
        errors=errs,
        orders=tuple(float(o) for o in orders),
        ratio=r_fine,
        h=tuple(float(v) for v in hv) if h is not None else None,
    )


# -- Monte-Carlo weak errors ----------------------------------------------------------------


def weak_error(fx: Any, exact: float, *, fx_ref: Any = None) -> tuple[float, float]:
    """Weak error |E f(X_h) - E f(X)| and its Monte-Carlo standard error.

    Parameters
    ----------
    fx : array_like, shape (n,)
        f evaluated on n independent samples of the approximation X_h.
    exact : float
        The exact expectation E f(X).
    fx_ref : array_like, shape (n,), optional
        f on a coupled reference (same Brownian paths at a finer step); then the error is
        |mean(fx - fx_ref)| and its standard error comes from the paired differences, which is
        the variance reduction that makes small weak errors measurable.  ``exact`` is ignored.

    Returns
    -------
    (err, stderr) : tuple of float
        err = |mean - exact|, stderr = sd / sqrt(n) (ddof=1).  Feed the pairs of several step
        sizes to ``observed_order(h, err, err_stderr=stderr)``.
    """
    a = np.asarray(fx, dtype=np.float64)
    if fx_ref is not None:
        a = a - np.asarray(fx_ref, dtype=np.float64)
        exact = 0.0
    else:
        exact = check_real(exact, "exact")
    if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)):
        msg = f"fx must be a 1-D array of at least 2 finite samples, got shape {a.shape}"
        raise ValueError(msg)
    n = a.size
    mean = float(np.mean(a))
    sd = float(np.std(a, ddof=1))
    return abs(mean - exact), sd / math.sqrt(n)
