"""The METRICS registry and the argument checks shared by the grid and sample metrics.

Policy for densities on a grid (applies to every density metric; see docs/metrics.md):

* ``p`` and ``q`` are arrays of ``grid.shape`` with finite entries.  Entries in
  [-negative_tol * max|p|, 0) are round-off undershoot of non-positivity-preserving schemes and are
  set to 0; more negative entries raise ``ValueError`` (clip them yourself or use a
  positivity-preserving scheme).
* With ``normalize=True`` (the default) each density is divided by its grid integral
  ``grid.integrate(p)`` first, so the metric compares shapes: mass lost through a boundary is
  measured separately (``FPSolution.mass()``).  ``normalize=False`` uses the arrays as given.
* 0 log 0 = 0.  Zero densities never produce NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from fplab._registry import Registry
from fplab._typing import FloatArray
from fplab._validate import reject_complex
from fplab.grid import Grid

__all__ = [
    "METRICS",
    "SupportWarning",
    "as_density",
    "check_grid",
    "check_power",
    "metric",
]

#: every metric, keyed by the name studies use; entries carry ``kind`` ("density" | "samples"),
#: ``args`` (the names of their positional arguments) and ``power`` (how the metric grows with a
#: small error δ of its first argument: 1 for norms and distances, ∝ |δ|; 2 for divergences and
#: squared quantities, ∝ δ² -- a scheme of order p is of order power · p in the metric).
METRICS: Registry[Callable[..., float]] = Registry("metric")

F = TypeVar("F", bound=Callable[..., Any])

#: negative entries down to -NEGATIVE_TOL * max|p| are treated as round-off and set to 0
NEGATIVE_TOL = 1e-6


class SupportWarning(UserWarning):
    """A divergence is infinite because p has mass where q is zero."""


def check_power(power: Any, who: str = "metric") -> None:
    """``ValueError`` unless ``power`` is 1 (a norm or distance) or 2 (a divergence)."""
    if isinstance(power, bool) or power not in (1, 2):
        msg = f"{who} power must be 1 (a norm or distance) or 2 (a divergence), got {power!r}"
        raise ValueError(msg)


def metric(name: str, kind: str, args: tuple[str, ...], power: int = 1) -> Callable[[F], F]:
    """Register ``fn`` in :data:`METRICS` under ``name`` tagged with ``kind``, ``args`` and
    ``power`` (1: the metric is ∝ |δ| for a small error δ; 2: ∝ δ², e.g. KL)."""
    if kind not in ("density", "samples"):
        msg = f"metric kind must be 'density' or 'samples', got {kind!r}"
        raise ValueError(msg)
    check_power(power)

    def deco(fn: F) -> F:
        fn.kind = kind  # type: ignore[attr-defined]
        fn.args = args  # type: ignore[attr-defined]
        fn.power = power  # type: ignore[attr-defined]
        METRICS.register(name)(fn)
        return fn

    return deco


def check_grid(grid: Any, name: str = "grid") -> Grid:
    """``grid`` if it is a fplab Grid; ``TypeError`` otherwise."""
    if not isinstance(grid, Grid):
        msg = f"{name} must be a fplab Grid (fp.Grid.uniform(...)), got {type(grid).__name__}"
        raise TypeError(msg)
    return grid


def as_density(
    p: Any,
    grid: Grid,
    name: str,
    *,
    normalize: bool = True,
    negative_tol: float = NEGATIVE_TOL,
) -> FloatArray:
    """``p`` as a float64 array of ``grid.shape``, undershoot clipped, optionally normalised."""
    if callable(getattr(p, "pdf", None)):
        # a distribution object (GaussianMixture, ...) is sampled at the cell centres
        p = grid.sample_on(p.pdf)
    reject_complex(p, name)
    try:
        arr = np.array(p, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be an array of shape {grid.shape}, got {type(p).__name__}"
        raise TypeError(msg) from err
    if arr.shape != grid.shape:
        if arr.size == grid.size and arr.ndim == 1 and grid.ndim > 1:
            arr = arr.reshape(grid.shape)
        else:
            msg = f"{name} must have the grid's shape {grid.shape}, got {arr.shape}"
            raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        msg = f"{name} contains {bad} non-finite value(s); densities must be finite"
        raise ValueError(msg)
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    if top == 0.0:
        msg = f"{name} is identically zero; a density needs positive mass"
        raise ValueError(msg)
    low = float(arr.min())
    if low < 0.0:
        if low < -negative_tol * top:
            msg = (
                f"{name} has negative entries down to {low:.3g} (max {top:.3g}); densities must be "
                f">= 0 up to round-off ({negative_tol:g} x max). Clip with np.clip({name}, 0, None) "
                "or use a positivity-preserving scheme (space_scheme='chang-cooper')"
            )
            raise ValueError(msg)
        arr[arr < 0.0] = 0.0
    if normalize:
        mass = grid.integrate(arr)
        arr /= mass
    return arr


def as_score_field(s: Any, grid: Grid, name: str) -> FloatArray:
    """A score on the grid as shape (size, d): accepts (n,), (n, 1) in 1-D; (nx, ny, 2), (size, 2)."""
    reject_complex(s, name)
    try:
        arr = np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be an array of scores on the grid, got {type(s).__name__}"
        raise TypeError(msg) from err
    d, size = grid.ndim, grid.size
    allowed = [(*grid.shape, d), (size, d)] + ([(size,)] if d == 1 else [])
    if arr.shape not in allowed:
        shapes = " or ".join(str(a) for a in allowed)
        msg = f"{name} must have shape {shapes} (a score per grid cell), got {arr.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(arr)):
        msg = f"{name} contains non-finite values; scores must be finite on the grid"
        raise ValueError(msg)
    return arr.reshape(size, d)


def emd2_sqeuclidean(xa: FloatArray, xb: FloatArray, wa: FloatArray, wb: FloatArray,
                     num_iter_max: int) -> float:  # fmt: skip
    """Exact optimal-transport cost Σ π_ij |x_i - y_j|² between weighted point sets (POT emd2).

    The cost matrix is built from differences of centred points (scipy cdist): the expansion
    |x|² + |y|² - 2 x·y cancels catastrophically for far-off or nearly equal point sets.  It is
    scaled to max 1 for the solve: POT's network simplex uses absolute tolerances and treats
    costs of order 1e-14 as zero.
    """
    import ot
    from scipy.spatial.distance import cdist

    centre = 0.5 * (xa.mean(axis=0) + xb.mean(axis=0))
    cost = cdist(xa - centre, xb - centre, metric="sqeuclidean")
    scale = float(cost.max())
    if scale == 0.0:
        return 0.0
    return scale * float(ot.emd2(wa, wb, cost / scale, numItermax=num_iter_max))


def log_density(obj: Any, g: Grid, normalize: bool) -> FloatArray | None:
    """log of the (normalised) density of a distribution object from its ``logpdf``, else None.

    Normalising in log space (log Σ exp(log p) dV by logsumexp) keeps it finite where the pdf
    itself underflows to 0.
    """
    if not callable(getattr(obj, "logpdf", None)):
        return None
    from scipy.special import logsumexp

    lv = np.asarray(g.sample_on(obj.logpdf), dtype=np.float64).reshape(g.shape)
    if np.any(np.isnan(lv)) or np.any(lv == np.inf):
        return None  # let the pdf path report the problem
    if normalize:
        lv = lv - (float(logsumexp(lv)) + math.log(g.cell_volume))
    return lv
