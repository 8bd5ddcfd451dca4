"""Regularised inversions of the periodic heat semigroup: spectral cut-off, Tikhonov, quasi-reversibility.

Data f = e^{T L} u0 + noise with L = D Δ_h the periodic central Laplacian, so in Fourier space
f̂_k = A_k û0_k + noise, A_k = e^{T λ_k} (λ_k the exact discrete symbol, ``laplacian_symbol``).
Naive inversion û0 = f̂_k / A_k multiplies the noise in mode k by 1/A_k = e^{T |λ_k|}, up to
e^{4 D T / dx²} at the Nyquist mode.  Each regulariser replaces 1/A_k by a bounded filter R_k:

    spectral cut-off (k_max)    R_k = 1/A_k for |k| <= k_max, else 0
    Tikhonov (α)                R_k = A_k / (A_k² + α)           argmin ‖A u - f‖² + α ‖u‖²
    quasi-reversibility (δ)     R_k = exp(T (-λ_k - δ λ_k² / D²)): the backward equation
                                ∂u/∂τ = -D Δ_h u - δ Δ_h² u (Lattès–Lions), solved exactly in time;
                                its growth rate is bounded by D² / (4 δ).

The error-vs-parameter curve of each has an interior optimum (too little regularisation lets the
noise through, too much removes signal); :func:`regularisation_curve` measures it and marks the
optimum.  Naive inversion is the limit k_max -> ∞, α -> 0, δ -> 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fplab._typing import FloatArray
from fplab._validate import check_choice, check_finite_array, check_nonnegative, check_positive
from fplab.backward_heat.naive import add_noise
from fplab.backward_heat.operators import LinearGenerator, wavenumbers

__all__ = [
    "REGULARISERS",
    "RegularisationCurve",
    "default_parameters",
    "expected_error",
    "naive_inversion",
    "quasi_reversibility",
    "regularisation_curve",
    "regularisation_filter",
    "spectral_cutoff",
    "tikhonov",
]

#: regulariser name -> the name of its parameter
REGULARISERS = {"spectral-cutoff": "k_max", "tikhonov": "alpha", "quasi-reversibility": "delta"}
_METHOD_NAMES = tuple(REGULARISERS)


def _prepare(gen: Any, f: Any, t_final: float) -> tuple[Any, FloatArray, FloatArray]:
    """(f̂ (n,) complex, λ (n,), T λ) after checking that ``gen`` is a Fourier generator."""
    if not isinstance(gen, LinearGenerator) or not gen.fourier:
        msg = "regularised inversions need the periodic heat generator: pass gen=heat_generator(grid, D)"
        raise TypeError(msg)
    arr = check_finite_array(f, "f")
    if arr.shape != (gen.n,):
        msg = f"f must have shape ({gen.n},) to match the grid, got {arr.shape}"
        raise ValueError(msg)
    t_final = check_positive(t_final, "t_final")
    lam = np.asarray(gen.symbol)
    return np.fft.fft(arr), lam, t_final * lam


def _back(fh: Any) -> FloatArray:
    return np.fft.ifft(fh).real


def regularisation_filter(
    gen: LinearGenerator, t_final: float, method: str, value: float
) -> FloatArray:
    """The Fourier filter R_k (shape (n,), FFT order) of ``method`` with parameter ``value``.

    method 'naive' (value ignored): 1/A_k; 'spectral-cutoff': 1/A_k for |k| <= k_max else 0;
    'tikhonov': A_k / (A_k² + α); 'quasi-reversibility': exp(T (-λ_k - δ (λ_k/D)²)).
    Entries may be inf where e^{T|λ_k|} overflows (naive inversion of a very stiff problem).
    """
    if not isinstance(gen, LinearGenerator) or not gen.fourier:
        msg = "regularised inversions need the periodic heat generator: pass gen=heat_generator(grid, D)"
        raise TypeError(msg)
    t_final = check_positive(t_final, "t_final")
    check_choice(method, "method", ("naive", *_METHOD_NAMES))
    lam = np.asarray(gen.symbol)
    tl = t_final * lam
    with np.errstate(over="ignore", divide="ignore"):
        if method == "naive":
            return np.exp(-tl)
        if method == "spectral-cutoff":
            k_max = check_nonnegative(value, "k_max")
            keep = np.abs(wavenumbers(gen.grid)) <= k_max * (1 + 1e-12)
            return np.where(keep, np.exp(-np.where(keep, tl, 0.0)), 0.0)
        if method == "tikhonov":
            alpha = check_nonnegative(value, "alpha")
            a = np.exp(tl)
            # A / (A² + α) written as 1 / (A + α/A) so that A² never underflows to 0 / 0
            return 1.0 / (a + alpha / a)
        delta = check_nonnegative(value, "delta")
        return np.exp(-tl - t_final * delta * (lam / gen.D) ** 2)


def _apply(gen: LinearGenerator, f: Any, t_final: float, method: str, value: float) -> FloatArray:
    fh, _, _ = _prepare(gen, f, t_final)
    filt = regularisation_filter(gen, t_final, method, value)
    with np.errstate(over="ignore", invalid="ignore"):
        return _back(fh * filt)


def naive_inversion(gen: LinearGenerator, f: Any, t_final: float) -> FloatArray:
    """û0 = f̂ / A_k with A_k = e^{T λ_k}: the exact inverse of the forward semigroup (unstable)."""
    return _apply(gen, f, t_final, "naive", 0.0)


def spectral_cutoff(gen: LinearGenerator, f: Any, t_final: float, k_max: float) -> FloatArray:
    """Invert the modes with |k| <= k_max exactly and discard the rest; returns shape (n,)."""
    return _apply(gen, f, t_final, "spectral-cutoff", k_max)


def tikhonov(gen: LinearGenerator, f: Any, t_final: float, alpha: float) -> FloatArray:
    """argmin_u ‖e^{TL} u - f‖² + α ‖u‖² solved in Fourier space: û = A f̂ / (A² + α); shape (n,)."""
    return _apply(gen, f, t_final, "tikhonov", alpha)


def quasi_reversibility(gen: LinearGenerator, f: Any, t_final: float, delta: float) -> FloatArray:
    """Solve ∂u/∂τ = -D Δ_h u - δ Δ_h² u for τ in [0, T] from u = f (exact in time); shape (n,).

    The factor per mode is exp(T (-λ_k - δ (λ_k / D)²)) <= exp(T D² / (4 δ)): bounded for δ > 0.
    """
    return _apply(gen, f, t_final, "quasi-reversibility", delta)


def expected_error(gen: LinearGenerator, u0: Any, t_final: float, filt: Any, sigma: float) -> float:
    """E‖u_rec - u0‖₂ / ‖u0‖₂ for the filter R_k and white noise of std ``sigma`` per cell.

    With f̂ = A û0 + η̂, E|η̂_k|² = n σ² and Parseval Σ_j |x_j|² = Σ_k |x̂_k|² / n:
    E‖e‖² = (Σ_k |(R_k A_k - 1) û0_k|² + n σ² Σ_k R_k²) / n.
    """
    u0h = np.fft.fft(check_finite_array(u0, "u0"))
    a = np.exp(t_final * np.asarray(gen.symbol))
    n = u0h.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        sq = (
            np.sum(np.abs((filt * a - 1.0) * u0h) ** 2) + n * sigma**2 * np.sum(np.abs(filt) ** 2)
        ) / n
    val = float(np.sqrt(sq) / np.linalg.norm(u0h / np.sqrt(n)))
    return val if math.isfinite(val) else math.inf


_METHODS = {
    "spectral-cutoff": spectral_cutoff,
    "tikhonov": tikhonov,
    "quasi-reversibility": quasi_reversibility,
}


def default_parameters(
    gen: LinearGenerator, t_final: float, method: str, n_values: int = 49
) -> FloatArray:
    """A parameter sweep wide enough to bracket the optimum of ``method`` at any noise level.

    spectral-cutoff: every non-negative Fourier wavenumber; tikhonov: α in [A_min², 1] (log);
    quasi-reversibility: δ with bounded growth D² T / (4 δ) from 1e-3 to the naive limit (log).
    """
    check_choice(method, "method", tuple(_METHODS))
    if method == "spectral-cutoff":
        k = wavenumbers(gen.grid)
        return np.sort(k[k >= 0])
    tl_min = float(t_final * np.min(np.asarray(gen.symbol)))  # most negative T λ_k
    if method == "tikhonov":
        return np.logspace(2.0 * tl_min / np.log(10.0), 0.0, n_values)
    # growth bound T D²/(4δ) from 1e-3 up to 10 |T λ_min| (beyond that, no regularisation)
    d_lo = t_final * gen.D**2 / (4.0 * 10.0 * abs(tl_min))
    d_hi = t_final * gen.D**2 / (4.0 * 1e-3)
    return np.logspace(np.log10(d_lo), np.log10(d_hi), n_values)


@dataclass(frozen=True)
class RegularisationCurve:
    """Reconstruction error of one regulariser over its parameter sweep.

    Attributes
    ----------
    method : str            'spectral-cutoff', 'tikhonov' or 'quasi-reversibility'
    parameter : str         'k_max', 'alpha' or 'delta'
    values : ndarray of float64, shape (m,)   the parameter sweep
    error : ndarray of float64, shape (m,)    ‖u_rec - u0‖₂ / ‖u0‖₂ (inf where it overflowed)
    naive_error : float     the same error for naive inversion (the unregularised limit)
    eps : float             relative noise level of the data
    predicted_error : ndarray of float64, shape (m,)
        The expected error from the filter and the noise level (:func:`expected_error`, using
        the true u0): the theory curve whose minimum is the predicted optimum.
    predicted_naive_error : float
    """

    method: str
    parameter: str
    values: FloatArray
    error: FloatArray
    naive_error: float
    eps: float
    predicted_error: FloatArray
    predicted_naive_error: float

    @property
    def best_index(self) -> int:
        """Index of the optimum (smallest error)."""
        return int(np.argmin(self.error))

    @property
    def best_value(self) -> float:
        """The optimal parameter value."""
        return float(self.values[self.best_index])

    @property
    def best_error(self) -> float:
        """The error at the optimum."""
        return float(self.error[self.best_index])

    @property
    def predicted_best_value(self) -> float:
        """The parameter minimising ``predicted_error``."""
        return float(self.values[int(np.argmin(self.predicted_error))])


def _rel_error(u: FloatArray, u0: FloatArray) -> float:
    if not np.all(np.isfinite(u)):
        return float("inf")
    with np.errstate(over="ignore"):
        err = float(np.linalg.norm(u - u0) / np.linalg.norm(u0))
    return err if np.isfinite(err) else float("inf")


def regularisation_curve(
    gen: LinearGenerator,
    u0: Any,
    t_final: float,
    method: str,
    *,
    eps: float = 1e-3,
    values: Any = None,
    seed: Any = 0,
    data: Any = None,
) -> RegularisationCurve:
    """Error of ``method`` against u0 over a parameter sweep, from data e^{TL} u0 + ε-noise.

    Parameters
    ----------
    gen : LinearGenerator       ``heat_generator(grid, D)``
    u0 : array_like, shape (n,) the true initial density (grid values)
    t_final : float > 0
    method : {'spectral-cutoff', 'tikhonov', 'quasi-reversibility'}
    eps : float >= 0            relative noise level (``add_noise``); with ``data`` it only sets
                                the noise level of ``predicted_error``
    values : array_like, optional   parameter sweep (default :func:`default_parameters`)
    seed : int or Generator     noise draw
    data : array_like, shape (n,), optional   use this noisy u(T) instead of drawing one

    Returns
    -------
    RegularisationCurve
    """
    check_choice(method, "method", tuple(_METHODS))
    u0a = check_finite_array(u0, "u0")
    t_final = check_positive(t_final, "t_final")
    if data is None:
        f = add_noise(_back(np.fft.fft(u0a) * np.exp(t_final * np.asarray(gen.symbol))), eps, seed)
    else:
        f = check_finite_array(data, "data")
    vals = (
        default_parameters(gen, t_final, method)
        if values is None
        else check_finite_array(values, "values")
    )
    fn = _METHODS[method]
    err = np.array([_rel_error(fn(gen, f, t_final, float(v)), u0a) for v in vals])
    naive = _rel_error(naive_inversion(gen, f, t_final), u0a)
    # noise std per cell of add_noise: ε max|u(T)|
    u_t = _back(np.fft.fft(u0a) * np.exp(t_final * np.asarray(gen.symbol)))
    sigma = eps * float(np.max(np.abs(u_t)))
    pred = np.array(
        [
            expected_error(gen, u0a, t_final, regularisation_filter(gen, t_final, method, v), sigma)
            for v in vals
        ]
    )
    naive_filter = regularisation_filter(gen, t_final, "naive", 0.0)
    pred_naive = expected_error(gen, u0a, t_final, naive_filter, sigma)
    return RegularisationCurve(
        method, REGULARISERS[method], vals, err, naive, float(eps), pred, pred_naive
    )
