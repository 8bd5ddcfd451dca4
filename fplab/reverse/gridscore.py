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


class GridScore:
    """s(x, t) from densities p(t_k) saved on a cell-centred grid (see :func:`grid_score`).

    Call with x of shape (n, d) (or (n,) in 1-D) and t a float or an array of shape (n,);
    returns the shape of x.

    Attributes
    ----------
    times : ndarray of float64, shape (m,)   saved times, increasing
    grid : Grid
    interpolation, outside : str
    floor : float
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
    ) -> None:
        self.times = times
        self.densities = densities
        self.grid = grid
        self.interpolation = interpolation
        self.outside = outside
        self.floor = floor
        self._d = int(grid.ndim)
        self._lo = np.asarray(grid.lo, dtype=np.float64)
        self._hi = np.asarray(grid.hi, dtype=np.float64)
        self._cache: OrderedDict[
            int, tuple[Callable[[FloatArray], FloatArray], FloatArray, FloatArray]
        ] = OrderedDict()
        self._cache_size = cache_size

    # -- one saved time ---------------------------------------------------------------------------
    def field(self, k: int) -> FloatArray:
        """∇ log p at the cell centres at saved time k, shape (*grid.shape, d) (tail cells filled
        with the moment-matched Gaussian score)."""
        return self._field_and_fit(k)[0]

    def _field_and_fit(self, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(score field (*shape, d), Gaussian-fit mean (d,), precision (d, d)) at saved time k."""
        p = np.maximum(np.asarray(self.densities[k], dtype=np.float64), 0.0)
        pmax = float(p.max())
        if not pmax > 0.0:
            msg = f"the density at saved time t={self.times[k]:.6g} is zero everywhere; no score exists"
            raise NumericalError(msg)
        mean, prec = self._gaussian_fit(p)
        valid = p > self.floor * pmax
        logp = np.log(np.where(valid, p, self.floor * pmax))
        sp = self.grid.spacing
        grads = [np.gradient(logp, sp[i], axis=i, edge_order=2) for i in range(self._d)]
        # a central difference is only trusted where its whole stencil lies above the floor
        ok = valid.copy()
        for i in range(self._d):
            hi = tuple(slice(1, None) if j == i else slice(None) for j in range(self._d))
            lo = tuple(slice(None, -1) if j == i else slice(None) for j in range(self._d))
            ok[hi] &= valid[lo]
            ok[lo] &= valid[hi]
        out = np.stack(grads, axis=-1)
        if not np.all(ok):
            pts = self.grid.points()[~ok.ravel()]
            out[~ok] = -(pts - mean) @ prec
        return out, mean, prec

    def _gaussian_fit(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean (d,) and precision (d, d) of the grid density p (moment matching)."""
        pts = self.grid.points()
        w = p.ravel() / p.sum()
        mean = w @ pts
        dev = pts - mean
        cov = (dev * w[:, None]).T @ dev
        return mean, np.linalg.inv(cov)

    def _slice(self, k: int) -> tuple[Callable[[FloatArray], FloatArray], FloatArray, FloatArray]:
        """(interpolant of the field at saved time k, Gaussian-fit mean, precision), cached."""
        hit = self._cache.get(k)
        if hit is not None:
            self._cache.move_to_end(k)
            return hit
        field, mean, prec = self._field_and_fit(k)
        fn = self._interpolant(field)
        self._cache[k] = (fn, mean, prec)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return fn, mean, prec

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
        """(1 - w) s_k(x) + w s_{k+1}(x) for samples sharing the time interval k."""
        out = np.zeros_like(x)
        for kk, wk in ((k, 1.0 - w), (k + 1, w)):
            if kk >= self.times.shape[0] or not np.any(wk != 0.0):
                continue
            fn, mean, prec = self._slice(kk)
            val = np.empty_like(x)
            if np.any(inside):
                val[inside] = fn(x[inside])
            if not np.all(inside):
                val[~inside] = -(x[~inside] - mean) @ prec
            out += wk[:, None] * val
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


def grid_score(
    sol: Any, *, interpolation: str = "linear", outside: str = "gaussian", floor: float = 1e-10
) -> GridScore:
    """A score callable s(x, t) ≈ ∇ log p_t(x) from a Fokker–Planck solution on a grid.

    Parameters
    ----------
    sol : FPSolution (or any object with ``times`` (m,), ``densities`` (m, *grid.shape), ``grid``)
        Densities saved at increasing times, e.g. ``fp.solve_fokker_planck(..., save_at=...)``.
        Save densely enough in time: the score is linear in t between saved times.
    interpolation : {'linear', 'cubic'}
        In space, on the cell centres: multilinear (error O(dx²), matching second-order FD), or
        cubic splines (not-a-knot; ``CubicSpline`` in 1-D, ``RectBivariateSpline`` in 2-D).
    outside : {'gaussian', 'clamp', 'raise'}
        Points outside the grid box: 'gaussian' (default) uses the score -C⁻¹(x - m) of the
        Gaussian with the same mean m and covariance C as the grid density at that time (a
        restoring tail model that keeps stray samples moving inwards); 'clamp' evaluates at the
        nearest point of the box; 'raise' raises ``ValueError``.
    floor : float > 0
        Cells with p <= floor × max p (and cells whose difference stencil touches them) are
        treated as tails, where log p is not resolved: their score is the Gaussian-fit score too.

    Returns
    -------
    GridScore
        Callable (x, t) -> score, for t in [times[0], times[-1]] (``ValueError`` outside: no
        extrapolation in time); linear in t between saved times.

    Notes
    -----
    ∇ log p is formed by second-order central differences of log p (one-sided at the box edges),
    so the score error is O(dx²) + O(Δt_save²) plus the FD solution's own error.
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
    return GridScore(
        times,
        dens,
        grid,
        interpolation=check_choice(interpolation, "interpolation", _INTERPOLATIONS),
        outside=check_choice(outside, "outside", _OUTSIDE),
        floor=check_positive(floor, "floor"),
    )
