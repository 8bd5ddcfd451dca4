"""A score s(x, t) ≈ ∇ log p_t(x) interpolated from a finite-difference Fokker–Planck solution.

This lets the reverse samplers be driven by ground truth for SDEs with no closed-form marginal
(the double well, GBM from a non-log-normal start, user SDEs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import interpolate

from fplab._typing import FloatArray
from fplab._validate import as_samples, check_choice, check_positive, restore_shape
from fplab.errors import NumericalError

__all__ = ["GridScore", "grid_score"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_INTERPOLATIONS = ("linear", "cubic")
_OUTSIDE = ("gaussian", "clamp", "raise")
_TIME_INTERPOLATIONS = ("auto", "linear", "hermite")
_ORDERS = (2, 4)


def _gradient(f: FloatArray, h: float, axis: int, order: int) -> FloatArray:
    """∂f/∂x_axis on the centres: second order (``np.gradient``) or fourth order.

    Fourth order: (f_{i-2} - 8 f_{i-1} + 8 f_{i+1} - f_{i+2}) / (12 h) inside, and the
    one-sided five-point formulas (-25, 48, -36, 16, -3) / (12 h) and (-3, -10, 18, -6, 1) /
    (12 h) in the first two cells (mirrored at the other end).
    """
    if order == 2:
        return np.gradient(f, h, axis=axis, edge_order=2)
    q = np.moveaxis(f, axis, 0)
    out = np.empty_like(q)
    out[2:-2] = (q[:-4] - 8.0 * q[1:-3] + 8.0 * q[3:-1] - q[4:]) / 12.0
    out[0] = (-25.0 * q[0] + 48.0 * q[1] - 36.0 * q[2] + 16.0 * q[3] - 3.0 * q[4]) / 12.0
    out[1] = (-3.0 * q[0] - 10.0 * q[1] + 18.0 * q[2] - 6.0 * q[3] + q[4]) / 12.0
    out[-1] = -(-25.0 * q[-1] + 48.0 * q[-2] - 36.0 * q[-3] + 16.0 * q[-4] - 3.0 * q[-5]) / 12.0
    out[-2] = -(-3.0 * q[-1] - 10.0 * q[-2] + 18.0 * q[-3] - 6.0 * q[-4] + q[-5]) / 12.0
    return np.moveaxis(out / h, 0, axis)


class GridScore:
    """s(x, t) from densities p(t_k) saved on a cell-centred grid (see :func:`grid_score`).

    Call with x of shape (n, d) (or (n,) in 1-D) and t a float or an array of shape (n,);
    returns the shape of x.

    Attributes
    ----------
    times : ndarray of float64, shape (m,)   saved times, increasing
    grid : Grid
    interpolation, outside, time_interpolation : str
    floor : float
    order : int              order of the differences of log p (2 or 4)
    accuracy : dict          how accurate the score is, for reports: ``space_order`` (of the
                             differences and the spatial interpolation), ``time_order`` (2
                             linear, 4 Hermite), ``dx``, ``dt_save`` (largest gap between
                             saved times), ``solver_order`` (the solution's space scheme)
    """

    def __init__(
        self,
        times: FloatArray,
        densities: FloatArray,
        grid: Any,
        *,
        interpolation: str = "linear",
        outside: str = "gaussian",
        floor: float = 1e-10,
        cache_size: int = 8,
        order: int = 2,
        rates: Callable[..., FloatArray] | None = None,
        solver_order: int | None = None,
    ) -> None:
        self.times = times
        self.densities = densities
        self.grid = grid
        self.interpolation = interpolation
        self.outside = outside
        self.floor = floor
        self.order = order
        self._rates = rates
        self.time_interpolation = "linear" if rates is None else "hermite"
        spatial = 2 if interpolation == "linear" else 4
        self.accuracy = {
            "space_order": min(order, spatial),
            "time_order": 2 if rates is None else 6,
            "dx": tuple(float(h) for h in grid.spacing),
            "dt_save": float(np.max(np.diff(times))) if times.shape[0] > 1 else 0.0,
            "solver_order": solver_order,
        }
        self._d = int(grid.ndim)
        self._lo = np.asarray(grid.lo, dtype=np.float64)
        self._hi = np.asarray(grid.hi, dtype=np.float64)
        self._cache: OrderedDict[int, _Slice] = OrderedDict()
        self._cache_size = cache_size

    # -- one saved time ---------------------------------------------------------------------------
    def field(self, k: int) -> FloatArray:
        """∇ log p at the cell centres at saved time k, shape (*grid.shape, d) (tail cells filled
        with the moment-matched Gaussian score)."""
        return self._field_and_fit(k)[0]

    def _field_and_fit(
        self, k: int, rates: tuple[FloatArray, ...] = ()
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(score field (*shape, d), Gaussian-fit mean (d,), precision (d, d)) at saved time k.

        With ``rates`` = (∂p/∂t,) at time k the first item is instead ∂s/∂t = ∇(ṗ/p); with
        (ṗ, p̈) it is ∂²s/∂t² = ∇(p̈/p - (ṗ/p)²) (time derivatives of ∇ log p); zero in the tail
        cells.
        """
        p = np.maximum(np.asarray(self.densities[k], dtype=np.float64), 0.0)
        pmax = float(p.max())
        if not pmax > 0.0:
            msg = f"the density at saved time t={self.times[k]:.6g} is zero everywhere; no score exists"
            raise NumericalError(msg)
        mean, prec = self._gaussian_fit(p)
        valid = p > self.floor * pmax
        safe = np.where(valid, p, self.floor * pmax)
        # ∂t log p = ṗ / p and ∂²t log p = p̈ / p - (ṗ / p)² for the time derivatives
        if not rates:
            f = np.log(safe)
        elif len(rates) == 1:
            f = np.where(valid, rates[0] / safe, 0.0)
        else:
            g1 = rates[0] / safe
            f = np.where(valid, rates[1] / safe - g1 * g1, 0.0)
        sp = self.grid.spacing
        grads = [_gradient(f, sp[i], i, self.order) for i in range(self._d)]
        # a difference is only trusted where its whole stencil lies above the floor
        ok = valid.copy()
        for _ in range(self.order // 2):
            grown = ok.copy()
            for i in range(self._d):
                hi = tuple(slice(1, None) if j == i else slice(None) for j in range(self._d))
                lo = tuple(slice(None, -1) if j == i else slice(None) for j in range(self._d))
                grown[hi] &= ok[lo]
                grown[lo] &= ok[hi]
            ok = grown
        out = np.stack(grads, axis=-1)
        if not np.all(ok):
            if not rates:
                pts = self.grid.points()[~ok.ravel()]
                out[~ok] = -(pts - mean) @ prec
            else:
                out[~ok] = 0.0
        return out, mean, prec

    def _gaussian_fit(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean (d,) and precision (d, d) of the grid density p (moment matching)."""
        pts = self.grid.points()
        w = p.ravel() / p.sum()
        mean = w @ pts
        dev = pts - mean
        cov = (dev * w[:, None]).T @ dev
        return mean, np.linalg.inv(cov)

    def _slice(self, k: int) -> _Slice:
        """Interpolants of the field (and of its time derivative for Hermite) at saved time k,
        with the Gaussian-fit mean and precision; cached."""
        hit = self._cache.get(k)
        if hit is not None:
            self._cache.move_to_end(k)
            return hit
        field, mean, prec = self._field_and_fit(k)
        fn = self._interpolant(field)
        derivs: list[Callable[[FloatArray], FloatArray]] = []
        if self._rates is not None:
            r1 = np.asarray(self._rates(k, k=1), dtype=np.float64)
            r2 = np.asarray(self._rates(k, k=2), dtype=np.float64)
            derivs.append(self._interpolant(self._field_and_fit(k, (r1,))[0]))
            derivs.append(self._interpolant(self._field_and_fit(k, (r1, r2))[0]))
        out = (fn, derivs, mean, prec)
        self._cache[k] = out
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def _interpolant(self, field: FloatArray) -> Callable[[FloatArray], FloatArray]:
        """x (n, d) inside the box -> (n, d) by linear or cubic interpolation of ``field``."""
        axes = self.grid.axes
        if self.interpolation == "cubic":
            if self._d == 1:
                spline = interpolate.CubicSpline(axes[0], field, axis=0)
                return lambda x: spline(x[:, 0])
            splines = [
                interpolate.RectBivariateSpline(axes[0], axes[1], field[..., c]) for c in range(2)
            ]
            return lambda x: np.stack([s.ev(x[:, 0], x[:, 1]) for s in splines], axis=1)
        return lambda x: _interp_linear(field, axes, x)

    # -- evaluation -------------------------------------------------------------------------------
    def __call__(self, x: Any, t: Any) -> FloatArray:
        xs, flat = as_samples(x, self._d)
        tt = np.asarray(t, dtype=np.float64)
        if tt.ndim == 0:
            tt = np.full(xs.shape[0], float(tt))
        tt = tt.reshape(-1)
        if tt.shape[0] != xs.shape[0]:
            msg = f"t has {tt.shape[0]} times but x has {xs.shape[0]} samples; pass one t or one per sample"
            raise ValueError(msg)
        k, w = self._time_weights(tt)
        inside = np.all((xs >= self._lo) & (xs <= self._hi), axis=1)
        if not np.all(inside) and self.outside == "raise":
            bad = xs[~inside][0]
            msg = (
                f"x has {int(np.sum(~inside))} point(s) outside the grid box lo={self.grid.lo}, "
                f"hi={self.grid.hi} (e.g. {bad.tolist()}); widen the grid or use outside='gaussian' or 'clamp'"
            )
            raise ValueError(msg)
        xq = np.clip(xs, self._lo, self._hi) if self.outside == "clamp" else xs
        out = np.empty_like(xs)
        for kk in np.unique(k):
            sel = k == kk
            out[sel] = self._at(xq[sel], inside[sel] | (self.outside == "clamp"), int(kk), w[sel])
        return restore_shape(out, flat)

    def _at(self, x: FloatArray, inside: BoolArray, k: int, w: FloatArray) -> FloatArray:
        """The score at samples sharing the time interval k, w in [0, 1] across it.

        Linear: (1 - w) s_k + w s_{k+1}.  Hermite: the quintic Hermite interpolant of s, ∂s/∂t
        and ∂²s/∂t² at both ends, O(Δt⁶) for smooth s and C² in t, so that a fourth-order
        sampler whose steps straddle saved times still sees a smooth enough field (with a cubic
        Hermite, C¹ only, RK4's pathwise slope measured 1.7-1.9 on the double well).
        """
        out = np.zeros_like(x)
        hermite = self._rates is not None and self.times.shape[0] > 1
        terms: tuple[tuple[int, FloatArray, tuple[FloatArray, ...]], ...]
        if hermite:
            span = float(self.times[min(k + 1, self.times.shape[0] - 1)] - self.times[k])
            w2 = w * w
            w3 = w2 * w
            w4 = w3 * w
            w5 = w4 * w
            # quintic Hermite basis on [0, 1]: value, Δt × slope, Δt² × curvature at each end
            terms = (
                (k, 1 - 10 * w3 + 15 * w4 - 6 * w5,
                 ((w - 6 * w3 + 8 * w4 - 3 * w5) * span,
                  0.5 * (w2 - 3 * w3 + 3 * w4 - w5) * span**2)),
                (k + 1, 10 * w3 - 15 * w4 + 6 * w5,
                 ((-4 * w3 + 7 * w4 - 3 * w5) * span, 0.5 * (w3 - 2 * w4 + w5) * span**2)),
            )  # fmt: skip
        else:
            terms = ((k, 1.0 - w, ()), (k + 1, w, ()))
        for kk, wk, dks in terms:
            if kk >= self.times.shape[0] or (not np.any(wk != 0.0) and not dks):
                continue
            fn, derivs, mean, prec = self._slice(kk)
            val = np.empty_like(x)
            if np.any(inside):
                val[inside] = fn(x[inside])
            if not np.all(inside):
                val[~inside] = -(x[~inside] - mean) @ prec
            out += wk[:, None] * val
            if dks and np.any(inside):
                for dk, dfn in zip(dks, derivs):
                    dval = np.zeros_like(x)
                    dval[inside] = dfn(x[inside])
                    out += dk[:, None] * dval
        return out

    def _time_weights(self, t: FloatArray) -> tuple[IntArray, FloatArray]:
        """Interval index k (n,) and weight w (n,) with t = (1 - w) t_k + w t_{k+1}."""
        times = self.times
        span = float(times[-1] - times[0])
        tol = 1e-12 * max(span, abs(float(times[-1])), 1.0)
        bad = ~np.isfinite(t) | (t < times[0] - tol) | (t > times[-1] + tol)
        if np.any(bad):
            msg = (
                f"t={float(t[bad][0])!r} lies outside the saved times [{times[0]}, {times[-1]}] of the "
                "Fokker–Planck solution; solve over a longer interval (grid_score interpolates "
                "in time, it does not extrapolate)"
            )
            raise ValueError(msg)
        if times.shape[0] == 1:
            return np.zeros(t.shape[0], dtype=np.intp), np.zeros(t.shape[0])
        k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.shape[0] - 2)
        w = np.clip((t - times[k]) / (times[k + 1] - times[k]), 0.0, 1.0)
        return k, w


def _interp_linear(field: FloatArray, axes: tuple[FloatArray, ...], x: FloatArray) -> FloatArray:
    """Multilinear interpolation of field (*shape, d) at x (n, d) given cell-centre axes.

    Between the outermost centres and the box edge (half a cell) the end cells' slope is
    extended linearly.
    """
    d = x.shape[1]
    idx, wts = [], []
    for i in range(d):
        a = axes[i]
        u = (x[:, i] - a[0]) / (a[1] - a[0])
        j = np.clip(np.floor(u).astype(np.intp), 0, a.shape[0] - 2)
        idx.append(j)
        wts.append(u - j)
    if d == 1:
        j, w = idx[0], wts[0][:, None]
        return (1.0 - w) * field[j] + w * field[j + 1]
    (i0, j0), (w0, w1) = idx, (wts[0][:, None], wts[1][:, None])
    return (
        (1.0 - w0) * (1.0 - w1) * field[i0, j0]
        + w0 * (1.0 - w1) * field[i0 + 1, j0]
        + (1.0 - w0) * w1 * field[i0, j0 + 1]
        + w0 * w1 * field[i0 + 1, j0 + 1]
    )


_Slice = tuple[
    Callable[[FloatArray], FloatArray],
    list[Callable[[FloatArray], FloatArray]],
    FloatArray,
    FloatArray,
]


def grid_score(
    sol: Any,
    *,
    interpolation: str | None = None,
    outside: str = "gaussian",
    floor: float = 1e-10,
    order: int | None = None,
    time_interpolation: str = "auto",
) -> GridScore:
    """A score callable s(x, t) ≈ ∇ log p_t(x) from a Fokker–Planck solution on a grid.

    Parameters
    ----------
    sol : FPSolution (or any object with ``times`` (m,), ``densities`` (m, *grid.shape), ``grid``)
        Densities saved at increasing times, e.g. ``fp.solve_fokker_planck(..., save_at=...)``.
    interpolation : {'linear', 'cubic'}, optional
        In space, on the cell centres: multilinear (error O(dx²), matching second-order FD), or
        cubic splines (not-a-knot, O(dx⁴); ``CubicSpline`` in 1-D, ``RectBivariateSpline`` in
        2-D).  Default: 'cubic' when ``order`` is 4, else 'linear'.
    outside : {'gaussian', 'clamp', 'raise'}
        Points outside the grid box: 'gaussian' (default) uses the score -C⁻¹(x - m) of the
        Gaussian with the same mean m and covariance C as the grid density at that time (a
        restoring tail model that keeps stray samples moving inwards); 'clamp' evaluates at the
        nearest point of the box; 'raise' raises ``ValueError``.
    floor : float > 0
        Cells with p <= floor × max p (and cells whose difference stencil touches them) are
        treated as tails, where log p is not resolved: their score is the Gaussian-fit score too.
    order : {2, 4}, optional
        Order of the differences of log p.  Default: 4 when the solution's space scheme is of
        order >= 4 (``fv4``), else 2.
    time_interpolation : {'auto', 'linear', 'hermite'}
        Between saved times: 'linear' (O(Δt²), and the time derivative jumps at every saved
        time), or 'hermite' (quintic Hermite with ∂s/∂t = ∇(ṗ/p) and ∂²s/∂t² =
        ∇(p̈/p - (ṗ/p)²), ṗ = L_h p and p̈ from the solver's own operator,
        ``sol.time_derivative``: O(Δt⁶) and C² in t).  'auto' (default) takes 'hermite' when
        ``sol`` provides ``time_derivative`` and it applies (else 'linear').

    Returns
    -------
    GridScore
        Callable (x, t) -> score, for t in [times[0], times[-1]] (``ValueError`` outside: no
        extrapolation in time); ``accuracy`` says which orders apply.

    Notes
    -----
    ∇ log p is formed by central differences of log p of the given order (one-sided at the box
    edges), so the score error is O(dx^q) + O(Δt_save²) (linear) or O(Δt_save⁶) (Hermite),
    q = min(order, interpolation order), plus the FD solution's own error.
    """
    for attr in ("times", "densities", "grid"):
        if not hasattr(sol, attr):
            msg = (
                f"sol must be a Fokker–Planck solution with times, densities and grid "
                f"(fp.solve_fokker_planck(...)), got {type(sol).__name__} without {attr!r}"
            )
            raise TypeError(msg)
    grid = sol.grid
    times = np.asarray(sol.times, dtype=np.float64).reshape(-1)
    dens = np.asarray(sol.densities, dtype=np.float64)
    if dens.shape != (times.shape[0], *tuple(grid.shape)):
        msg = (
            f"sol.densities has shape {dens.shape} but sol.times has {times.shape[0]} entries on a grid "
            f"of shape {tuple(grid.shape)}; expected {(times.shape[0], *tuple(grid.shape))}"
        )
        raise ValueError(msg)
    if times.shape[0] == 0 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        msg = f"sol.times must be finite and strictly increasing, got {times.tolist()[:6]}"
        raise ValueError(msg)
    if not np.all(np.isfinite(dens)):
        msg = "sol.densities contains NaN or inf; the Fokker–Planck solution is not usable"
        raise NumericalError(msg)
    solver_order = _solver_order(sol)
    if order is None:
        order = 4 if solver_order is not None and solver_order >= 4 else 2
    if order not in _ORDERS:
        msg = f"order must be one of {_ORDERS}, got {order!r}"
        raise ValueError(msg)
    if min(grid.shape) < 2 * order + 1 and order == 4:
        msg = f"order=4 needs at least 9 cells per axis, the grid has {tuple(grid.shape)}"
        raise ValueError(msg)
    if interpolation is None:
        interpolation = "cubic" if order == 4 else "linear"
    mode = check_choice(time_interpolation, "time_interpolation", _TIME_INTERPOLATIONS)
    has_rates = callable(getattr(sol, "time_derivative", None))
    if mode == "hermite" and not has_rates:
        msg = (
            "time_interpolation='hermite' needs ∂p/∂t at the saved times: pass a solution of "
            f"fp.solve_fokker_planck (with time_derivative), got {type(sol).__name__}"
        )
        raise ValueError(msg)
    rates = sol.time_derivative if mode != "linear" and has_rates else None
    if rates is not None and mode == "auto":
        try:  # e.g. a 2-D SDE whose coefficients vary along the other axis has no rates
            rates(0)
        except ValueError:
            rates = None
    return GridScore(
        times,
        dens,
        grid,
        interpolation=check_choice(interpolation, "interpolation", _INTERPOLATIONS),
        outside=check_choice(outside, "outside", _OUTSIDE),
        floor=check_positive(floor, "floor"),
        order=order,
        rates=rates,
        solver_order=solver_order,
    )


def _solver_order(sol: Any) -> int | None:
    """Declared order of the solution's space scheme, or None when unknown."""
    name = getattr(sol, "space_scheme", None)
    if not isinstance(name, str):
        return None
    from fplab.fd.space import SPACE_SCHEMES

    try:
        return int(SPACE_SCHEMES.get(name).order)
    except ValueError:
        return None
