"""Naive backward integration: per-mode growth measurement and reconstruction from noisy data.

Running ∂u/∂t = L u backwards multiplies eigenmode k by the reversed-time factor |G_k| > 1 of
:func:`fplab.backward_heat.operators.step_factor` at every step.  Two measurements follow:

* :func:`measure_mode_growth` starts from a single eigenmode (a cosine for the periodic heat
  generator), steps it in *physical space* (sparse mat-vec or LU solve), and measures the growth of
  its own coefficient until round-off seeded in the faster modes contaminates it; the measured
  per-step factor is then compared with the exact discrete symbol and with the continuous e^{D k² dt}.
* :func:`naive_reversal` takes the forward solution u(T), adds white noise of relative level ε,
  integrates back to t = 0 and records the error against the truth u(t) and against u(0) = p0, the
  blow-up time, and the best reconstruction of p0 (stopping early) with the time it occurs.

Noise model (the ε used throughout the naive method)
----------------------------------------------------
u_T^ε = u(T) + ε · max|u(T)| · η,  η_i iid N(0, 1) per cell.  Writing the m-step backward map as
M_m = V diag(G^m) W, the error e_m = M_m u_T^ε - u(t_m) splits into the bias b_m = M_m u(T) - u(t_m)
and the noise part ε s M_m η, so E‖e_m‖² = ‖b_m‖² + (ε s)² ‖M_m‖_F², with ‖M_m‖_F² = Σ_k |G_k|^{2m}
for the Fourier (periodic heat) generator.  That is the predicted error curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import linalg as splinalg

from fplab._typing import FloatArray
from fplab._validate import as_rng, check_finite_array, check_int, check_nonnegative, check_positive
from fplab.backward_heat.operators import LinearGenerator, Stepper, apply_spectral, step_factor

__all__ = [
    "ModeGrowth",
    "NaiveReversal",
    "add_noise",
    "measure_mode_growth",
    "naive_reversal",
]

# states larger than this multiple of max|u_T| count as overflowed: integration stops there
_OVERFLOW = 1e100
_EPS_MACHINE = float(np.finfo(np.float64).eps)


def add_noise(u: Any, eps: float, seed: Any = 0) -> FloatArray:
    """u + ε · max|u| · η with η_i iid N(0, 1): white noise of relative level ε.

    Parameters
    ----------
    u : array_like, shape (n,)
    eps : float >= 0
    seed : int or numpy Generator

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    arr = check_finite_array(u, "u")
    eps = check_nonnegative(eps, "eps")
    rng = as_rng(seed)
    eta = rng.standard_normal(arr.shape)
    return arr + eps * float(np.max(np.abs(arr))) * eta


# -- per-mode growth ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModeGrowth:
    """Measured vs predicted per-step growth of single eigenmodes (one entry per mode).

    Attributes
    ----------
    k : ndarray of float64, shape (m,)
        Wavenumber (Fourier generator) or the mode index (other generators).
    mu : ndarray of float64, shape (m,)       eigenvalue of L
    factor_measured : ndarray, shape (m,)     measured |G| over the unsaturated window
    factor_discrete : ndarray, shape (m,)     exact discrete-symbol |G(μ dt)|
    factor_continuous : ndarray, shape (m,)   e^{D k² dt} (Fourier) or e^{-μ dt} (semi-discrete)
    n_valid : ndarray of int64, shape (m,)    steps before contamination exceeded ``saturation``
    factor_norm_full_run : ndarray, shape (m,)
        Apparent |G| from the growth of max|u| over all ``n_steps``: what a norm-based measurement
        sees.  It equals the mode's factor until round-off seeded in faster modes takes over the
        state, then tends to the top mode's factor (the saturation the window avoids).
    dt : float
    scheme, direction : str
    """

    k: FloatArray
    mu: FloatArray
    factor_measured: FloatArray
    factor_discrete: FloatArray
    factor_continuous: FloatArray
    n_valid: Any
    factor_norm_full_run: FloatArray
    dt: float
    scheme: str
    direction: str

    @property
    def rate_measured(self) -> FloatArray:
        """Measured growth rate log|G| / dt per unit time, shape (m,)."""
        return np.log(self.factor_measured) / self.dt

    @property
    def rate_discrete(self) -> FloatArray:
        """Discrete-symbol growth rate log|G(μ dt)| / dt, shape (m,)."""
        return np.log(self.factor_discrete) / self.dt

    @property
    def rate_continuous(self) -> FloatArray:
        """Continuous growth rate D k² (Fourier) or -μ, shape (m,)."""
        return np.log(self.factor_continuous) / self.dt

    @property
    def relative_error(self) -> FloatArray:
        """|rate_measured / rate_discrete - 1| (NaN for the neutral mode rate 0), shape (m,)."""
        rd = self.rate_discrete
        out = np.full(rd.shape, np.nan)
        ok = np.abs(rd) > 0
        out[ok] = np.abs(self.rate_measured[ok] / rd[ok] - 1.0)
        return out


def _initial_modes(gen: LinearGenerator, modes: Any) -> tuple[FloatArray, Any, FloatArray]:
    """(k or index (m,), μ (m,), U0 (n, m)): unit-max initial states, one eigenmode per column."""
    n = gen.n
    if gen.fourier:
        idx = np.arange(n // 2 + 1) if modes is None else np.asarray(modes, dtype=np.int64)
        if np.any(idx < 0) or np.any(idx > n // 2):
            msg = f"modes must be Fourier indices in [0, {n // 2}], got {idx.tolist()}"
            raise ValueError(msg)
        k = np.asarray(2.0 * np.pi * idx / (gen.grid.hi[0] - gen.grid.lo[0]), dtype=np.float64)
        # x_i = i dx, not the cell centres: at the Nyquist mode cos(π (i + 1/2)) would vanish
        x = np.arange(n) * float(gen.grid.dx)  # type: ignore[arg-type]
        u0 = np.cos(np.outer(x, k))
        return k, np.asarray(gen.symbol)[idx], np.ascontiguousarray(u0)
    mu, v, _ = gen.eigen()
    if np.iscomplexobj(mu):
        msg = (
            f"the {gen.name} generator has a complex spectrum (no detailed balance, e.g. a drift "
            "through a periodic boundary), so single real eigenmodes do not exist; measure growth "
            "on a zero-flux generator or on heat_generator"
        )
        raise ValueError(msg)
    idx = np.arange(n) if modes is None else np.asarray(modes, dtype=np.int64)
    if np.any(idx < 0) or np.any(idx >= n):
        msg = f"modes must be eigenmode indices in [0, {n - 1}], got {idx.tolist()}"
        raise ValueError(msg)
    cols = v[:, idx]
    cols = cols / np.max(np.abs(cols), axis=0)
    return idx.astype(np.float64), mu[idx], np.ascontiguousarray(cols)


def _mode_coefficients(gen: LinearGenerator, idx_k: FloatArray, u: FloatArray) -> tuple[Any, Any]:
    """(coefficient of each column's own mode (m,), norm of the rest (m,)); u is (n, m)."""
    n = gen.n
    if gen.fourier:
        j = np.rint(idx_k * (gen.grid.hi[0] - gen.grid.lo[0]) / (2.0 * np.pi)).astype(np.int64)
        uh = np.fft.fft(u, axis=0)
        cols = np.arange(u.shape[1])
        own = np.zeros_like(uh)
        own[j, cols] = uh[j, cols]
        own[(-j) % n, cols] = uh[(-j) % n, cols]
        coef = np.abs(uh[j, cols]) * np.where((j == 0) | (2 * j == n), 1.0, 2.0) / n
        rest = np.sqrt(np.sum(np.abs(uh - own) ** 2, axis=0) / n)
        return coef, rest
    _, v, w = gen.eigen()
    j = idx_k.astype(np.int64)
    c = np.einsum("ij,ji->i", w[j], u)
    rest = np.linalg.norm(u - v[:, j] * c, axis=0)
    return np.abs(c) * np.max(np.abs(v[:, j]), axis=0), rest


def measure_mode_growth(
    gen: LinearGenerator,
    dt: float,
    n_steps: int,
    *,
    scheme: str = "explicit",
    direction: str = "backward",
    modes: Any = None,
    saturation: float = 1e-3,
) -> ModeGrowth:
    """Measure the per-step amplification of single eigenmodes under a physical-space scheme.

    Parameters
    ----------
    gen : LinearGenerator     e.g. ``heat_generator(grid, D)``
    dt : float > 0
    n_steps : int >= 1
    scheme : {'explicit', 'implicit', 'crank-nicolson', 'exact'}
    direction : {'backward', 'forward'}
    modes : sequence of int, optional
        Fourier indices j (k = 2π j / L) in [0, n/2] for the heat generator (default: all), else
        eigenmode indices in order of |μ| (default: all).
    saturation : float
        A mode's window ends at the first step where the norm of everything else exceeds
        ``saturation`` × its own amplitude (round-off seeded in faster modes has caught up).

    Returns
    -------
    ModeGrowth

    Notes
    -----
    Each column is renormalised to unit max after every step and the log-norms are accumulated,
    so the measurement never overflows however far the run goes.  Within the window the
    contamination perturbs the coefficient by at most ``saturation`` relative, so the measured
    factor is the symbol's to within ``saturation / n_valid``.
    """
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    saturation = check_positive(saturation, "saturation")
    step = Stepper(gen, dt, scheme, direction)
    k, mu, u = _initial_modes(gen, modes)
    m = u.shape[1]
    log_amp = np.zeros((n_steps + 1, m))
    coef, _ = _mode_coefficients(gen, k, u)
    log_amp[0] = np.log(coef)
    n_valid = np.full(m, n_steps, dtype=np.int64)
    open_ = np.ones(m, dtype=bool)
    cum = np.zeros(m)
    for s in range(1, n_steps + 1):
        u = step(u)
        scale = np.max(np.abs(u), axis=0)
        cum += np.log(scale)
        u = u / scale
        coef, rest = _mode_coefficients(gen, k, u)
        log_amp[s] = np.log(coef) + cum
        hit = open_ & (rest > saturation * coef)
        n_valid[hit] = s - 1
        open_ &= ~hit
    cols = np.arange(m)
    end = np.maximum(n_valid, 1)
    measured = np.exp((log_amp[end, cols] - log_amp[0]) / end)
    full = np.exp(cum / n_steps)  # every column starts and ends with max|u| = 1 (renormalised)
    sign = 1.0 if direction == "forward" else -1.0
    if gen.fourier:
        cont = np.exp(-sign * gen.D * k**2 * dt)
    else:
        cont = np.exp(sign * mu * dt)
    return ModeGrowth(
        k=k,
        mu=np.asarray(mu, dtype=np.float64),
        factor_measured=measured,
        factor_discrete=np.abs(step_factor(mu, dt, scheme, direction)),
        factor_continuous=cont,
        n_valid=n_valid,
        factor_norm_full_run=full,
        dt=float(dt),
        scheme=scheme,
        direction=direction,
    )


# -- naive reversal from noisy data ---------------------------------------------------------------
@dataclass(frozen=True)
class NaiveReversal:
    """A naive backward run from u(T) + noise to t = 0 and its errors.

    Attributes
    ----------
    times : ndarray of float64, shape (m + 1,)      t_j = T - j dt, from T down to 0
    states : ndarray of float64, shape (m + 1, n)   the reconstruction (NaN after overflow)
    truth : ndarray of float64, shape (m + 1, n)    the forward solution u(t_j)
    error : ndarray, shape (m + 1,)        ‖state - u(t_j)‖₂ / ‖u(t_j)‖₂ (inf after overflow)
    error_p0 : ndarray, shape (m + 1,)     ‖state - u(0)‖₂ / ‖u(0)‖₂: the state used as an estimate of p0
    tv_p0 : ndarray, shape (m + 1,)        ½ ∫ |state - u(0)| dx (total variation to p0, signed states)
    predicted_error : ndarray, shape (m + 1,)
        sqrt(‖b_j‖² + (ε s)² ‖M_j‖_F²) / ‖u(t_j)‖₂, the expected error from the discrete symbol
        (module docstring); for ε = 0 round-off is modelled as ε = 2^-52.
    eps : float, noise_scale : float (s = max|u(T)|), dt : float, scheme : str
    """

    times: FloatArray
    states: FloatArray
    truth: FloatArray
    error: FloatArray
    error_p0: FloatArray
    tv_p0: FloatArray
    predicted_error: FloatArray
    eps: float
    noise_scale: float
    dt: float
    scheme: str

    @property
    def reversed_time(self) -> FloatArray:
        """τ_j = T - t_j, time integrated backwards so far, shape (m + 1,)."""
        return self.times[0] - self.times

    def blowup_time(self, threshold: float = 1.0) -> float:
        """First τ at which ``error`` >= threshold (relative error 100 % by default); inf if never."""
        return _first_crossing(self.reversed_time, self.error, threshold)

    def predicted_blowup_time(self, threshold: float = 1.0) -> float:
        """First τ at which ``predicted_error`` >= threshold; inf if never."""
        return _first_crossing(self.reversed_time, self.predicted_error, threshold)

    def best(self) -> tuple[float, float]:
        """(smallest error_p0, the time t at which it occurs): stopping early is the best naive estimate."""
        j = int(np.argmin(np.where(np.isfinite(self.error_p0), self.error_p0, np.inf)))
        return float(self.error_p0[j]), float(self.times[j])


def _first_crossing(tau: FloatArray, err: FloatArray, threshold: float) -> float:
    """Linear interpolation in log(err) of the first τ where err >= threshold; inf if none."""
    above = np.nonzero(err >= threshold)[0]
    if above.size == 0:
        return math.inf
    j = int(above[0])
    if j == 0 or not np.isfinite(err[j]) or err[j - 1] <= 0:
        return float(tau[j])
    a, b = math.log(err[j - 1]), math.log(err[j])
    frac = (math.log(threshold) - a) / (b - a) if b > a else 1.0
    return float(tau[j - 1] + frac * (tau[j] - tau[j - 1]))


def _truth_trajectory(
    gen: LinearGenerator, u0: FloatArray, times: FloatArray, forward: str, dt: float
) -> FloatArray:
    """u(t_j) for descending times t_j = T - j dt: exact e^{tL} u0 or the forward scheme's iterates."""
    if forward == "exact" and gen.fourier:
        lam = np.asarray(gen.eigenvalues())
        return np.stack([apply_spectral(gen, np.exp(t * lam), u0) for t in times])
    if forward == "exact":
        # Padé-based, accurate where the eigenvector basis is ill-conditioned; times ascend here
        traj = splinalg.expm_multiply(
            gen.matrix, u0, start=0.0, stop=times[0], num=len(times), endpoint=True
        )
        return np.ascontiguousarray(np.asarray(traj, dtype=np.float64)[::-1])
    step = Stepper(gen, dt, forward, "forward")
    out = [u0]
    for _ in range(len(times) - 1):
        out.append(step(out[-1]))
    return np.stack(out[::-1])


def _frobenius_sq(gen: LinearGenerator, g: Any) -> float:
    """‖V diag(g) W‖_F² (Σ|g|² for Fourier generators).

    Formed as the matrix ``(V * g) @ W`` and summed, O(n³) per call.  The cheaper quadratic form
    gᴴ P g with P = (VᴴV) ∘ (WWᴴ)ᵀ cancels catastrophically when V is ill-conditioned (cond(V) ≈ 1e9
    for the 64-cell OU generator): it gave -2.69 instead of 68.1 at j = 1 and was 1.5 % off at
    j = 100, which made the predicted error negative under the square root.
    """
    if gen.fourier:
        return float(np.sum(np.abs(g) ** 2))
    _, v, w = gen.eigen()
    m = (v * g) @ w
    return float(np.sum(m.real**2 + m.imag**2))


def naive_reversal(
    gen: LinearGenerator,
    u0: Any,
    t_final: float,
    dt: float,
    *,
    eps: float = 0.0,
    scheme: str = "explicit",
    forward: str = "exact",
    seed: Any = 0,
) -> NaiveReversal:
    """Integrate ∂u/∂t = L u backwards from noisy u(T) to t = 0 with a one-step scheme.

    Parameters
    ----------
    gen : LinearGenerator
        ``heat_generator(grid, D)`` or ``fokker_planck_generator(sde, grid)``.
    u0 : array_like, shape (n,)
        The initial density p0 on the grid (the reconstruction target).
    t_final : float > 0
        T; the run takes round(T / dt) steps (T must be a multiple of dt to 1e-9 relative).
    dt : float > 0
    eps : float >= 0
        Relative noise level added to u(T) (module docstring).
    scheme : {'explicit', 'implicit', 'crank-nicolson', 'exact'}
        Reversed-time scheme (physical-space steps; 'exact' = spectral e^{-dt L}).
    forward : {'exact', 'explicit', 'implicit', 'crank-nicolson'}
        How the truth u(t) is produced: 'exact' = e^{tL} u0 (semi-discrete), else the forward
        scheme with the same dt.  Forward explicit + backward implicit (and the reverse) are exact
        inverses, so the bias b_j is round-off and only the noise is amplified.
    seed : int or numpy Generator   noise draw

    Returns
    -------
    NaiveReversal

    Notes
    -----
    The run stops when max|state| exceeds 1e100 max|u(T)| (later states NaN, errors inf), so no
    floating-point overflow is raised however unstable the scheme.
    """
    u0a = check_finite_array(u0, "u0")
    if u0a.shape != (gen.n,):
        msg = f"u0 must have shape ({gen.n},) to match the grid, got {u0a.shape}"
        raise ValueError(msg)
    t_final = check_positive(t_final, "t_final")
    dt = check_positive(dt, "dt")
    n_steps = round(t_final / dt)
    if n_steps < 1 or abs(n_steps * dt - t_final) > 1e-9 * t_final:
        msg = f"t_final={t_final:g} must be a positive multiple of dt={dt:g}; choose dt = t_final / n_steps"
        raise ValueError(msg)
    if forward not in ("exact", "explicit", "implicit", "crank-nicolson"):
        msg = f"unknown forward {forward!r}; choose one of 'crank-nicolson', 'exact', 'explicit', 'implicit'"
        raise ValueError(msg)
    eps = check_nonnegative(eps, "eps")
    times = np.asarray(t_final - dt * np.arange(n_steps + 1), dtype=np.float64)
    times[-1] = 0.0
    truth = _truth_trajectory(gen, u0a, times, forward, dt)
    scale = float(np.max(np.abs(truth[0])))
    u = add_noise(truth[0], eps, seed)
    step = Stepper(gen, dt, scheme, "backward")
    states = np.full_like(truth, np.nan)
    states[0] = u
    for j in range(1, n_steps + 1):
        u = step(u)
        if not np.all(np.abs(u) <= _OVERFLOW * scale):
            break
        states[j] = u
    ok = np.all(np.isfinite(states), axis=1)
    dx = float(gen.grid.dx)  # type: ignore[arg-type]
    error = np.full(n_steps + 1, np.inf)
    error_p0 = np.full(n_steps + 1, np.inf)
    tv = np.full(n_steps + 1, np.inf)
    error[ok] = np.linalg.norm(states[ok] - truth[ok], axis=1) / np.linalg.norm(truth[ok], axis=1)
    error_p0[ok] = np.linalg.norm(states[ok] - u0a, axis=1) / np.linalg.norm(u0a)
    tv[ok] = 0.5 * dx * np.sum(np.abs(states[ok] - u0a), axis=1)
    predicted = _predicted_error(gen, truth, dt, scheme, max(eps, _EPS_MACHINE) * scale)
    return NaiveReversal(
        times, states, truth, error, error_p0, tv, predicted, eps, scale, dt, scheme
    )


def _predicted_error(
    gen: LinearGenerator, truth: FloatArray, dt: float, scheme: str, sigma: float
) -> FloatArray:
    """sqrt(‖b_j‖² + σ² ‖M_j‖_F²) / ‖u(t_j)‖ with M_j = V diag(G^j) W (module docstring)."""
    g = step_factor(gen.eigenvalues(), dt, scheme, "backward")
    n_steps = truth.shape[0] - 1
    out = np.empty(n_steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(n_steps + 1):
            gj = g**j
            if not np.all(np.isfinite(gj)) or np.max(np.abs(gj)) > 1e150:
                out[j:] = np.inf
                break
            bias = apply_spectral(gen, gj, truth[0]) - truth[j]
            var = sigma**2 * _frobenius_sq(gen, gj)
            out[j] = math.sqrt(float(bias @ bias) + var) / float(np.linalg.norm(truth[j]))
    return out
