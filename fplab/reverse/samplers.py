"""Reverse-time samplers: one function per method, one signature, all in the registry ``SAMPLERS``.

Every sampler advances samples x of shape (n, d) backwards over one step of the time grid,
from time ``t`` down to ``s < t``::

    step(ctx, x, t, s, rng) -> x_s        # ctx: StepContext (SDE, checked score, options)

and declares

    order : int            global order in the step size h: for the deterministic (ODE) samplers the
                           pathwise order; for the stochastic ones the weak order
    deterministic : bool   True when the result does not depend on ``rng``
    adaptive : bool        True when the sampler chooses its own steps (``n_steps`` is only a hint)
    default_tolerances : (rtol, atol) used by adaptive samplers when none are passed
    requires : tuple       'vp-family' (VP or SubVP: uses the marginal coefficients α_t, σ_t),
                           'linear' (any LinearSDE: uses its marginal α_t X_0 + c_t + σ_t Z),
                           'vp' (VP only: uses β(t))

Continuous-time equations (Song et al. 2021), written for a scalar noise g(x, t) so that
∇·(g² I) = 2 g ∇g:

    reverse SDE        dx = [f - 2 g ∇g - g² s] dt + g dW̄     (integrated from t_start down to t_end)
    probability flow   dx/dt = f - g ∇g - ½ g² s

For additive noise (every diffusion-model SDE) the ∇g terms vanish.  The VP-family samplers use
the forward marginal X_t = α_t X_0 + σ_t Z (``LinearSDE.marginal_coefficients``) and the
noise-prediction form ε(x, t) = -σ_t s(x, t).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import optimize

from fplab._registry import Registry
from fplab._typing import FloatArray
from fplab.errors import NumericalError
from fplab.reverse.chain import BETA_CLIP
from fplab.sdes.base import SDE
from fplab.sdes.linear import VP, SubVP

__all__ = ["SAMPLERS", "Sampler", "StepContext"]


class Sampler(Protocol):
    """The family signature: advance x (n, d) from time t down to s < t."""

    order: int
    deterministic: bool
    adaptive: bool
    requires: tuple[str, ...]
    registry_name: str

    def __call__(
        self, ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
    ) -> FloatArray: ...


#: every reverse-time sampler, by the key users pass as ``method=``
SAMPLERS: Registry[Sampler] = Registry("method")

#: SDE classes whose forward marginal is α_t X_0 + σ_t Z with b = 0, which DDPM, DDIM and
#: DPM-Solver are derived for; the formulas below use the SDE's own α_t, σ_t and transitions, so
#: they are exact for sub-VP as well as VP.
VP_FAMILY: tuple[type[SDE], ...] = (VP, SubVP)


@dataclass
class StepContext:
    """What a sampler step may use: the SDE, the checked score and the method options.

    Attributes
    ----------
    sde : SDE
    score : callable (x (n, d), t float) -> (n, d)   validated and counted by ``sample_reverse``
    snr, n_corrector : predictor-corrector options
    eta : noise level in [0, 1] of 'ddim' and 'eta-family'
    s_churn, s_tmin, s_tmax, s_noise : churn of 'edm-stochastic' (Karras et al. 2022, Alg. 2)
    n_steps : steps of the fixed grid (None for the adaptive samplers)
    rtol, atol, max_steps : error control of the adaptive solver
    state : dict       per-run scratch (the adaptive solver keeps its last step size here)
    n_rejected : int   rejected adaptive steps so far
    n_accepted : int   accepted steps so far (the adaptive solver counts its own)
    """

    sde: SDE
    score: Callable[[FloatArray, float], FloatArray]
    snr: float = 0.16
    n_corrector: int = 1
    eta: float = 0.0
    rtol: float = 1e-6
    atol: float = 1e-9
    max_steps: int = 100_000
    h_init: float | None = None
    s_churn: float = 40.0
    s_tmin: float = 0.05
    s_tmax: float = 50.0
    s_noise: float = 1.0
    n_steps: int | None = None
    state: dict[str, Any] = field(default_factory=dict)
    n_rejected: int = 0
    n_accepted: int = 0

    # -- coefficients ---------------------------------------------------------------------------
    def _g_terms(self, x: FloatArray, t: float) -> tuple[FloatArray | float, FloatArray | None]:
        """g(x, t) (a float for additive noise, else (n, 1)) and g ∇g as (n, d) (None if additive)."""
        if self.sde.additive:
            # g depends on t only: one evaluation instead of n
            return float(self.sde._diffusion(x[:1], t)[0]), None
        g = self.sde._diffusion(x, t).reshape(-1, 1)
        return g, g * self.sde._diffusion_dx(x, t)

    def reverse_drift(self, x: FloatArray, t: float) -> tuple[FloatArray, FloatArray | float]:
        """(f - 2 g∇g - g² s, g): the reverse-SDE drift (n, d) and the noise amplitude (see _g_terms)."""
        g, ggx = self._g_terms(x, t)
        out = self.sde._drift(x, t) - g * g * self.score(x, t)
        if ggx is not None:
            out -= 2.0 * ggx
        return out, g

    def velocity(self, x: FloatArray, t: float) -> FloatArray:
        """Probability-flow velocity f - g∇g - ½ g² s, shape (n, d)."""
        g, ggx = self._g_terms(x, t)
        out = self.sde._drift(x, t) - 0.5 * g * g * self.score(x, t)
        if ggx is not None:
            out -= ggx
        return out

    def alpha_sigma(self, t: float) -> tuple[float, float]:
        """(α_t, σ_t) of the forward marginal from time 0 (VP family)."""
        a, sig = self.sde.marginal_coefficients(t)  # type: ignore[attr-defined]
        return float(a), float(sig)

    def log_snr(self, t: float) -> float:
        """λ_t = log(α_t / σ_t), decreasing in t (Lu et al. 2022)."""
        a, sig = self.alpha_sigma(t)
        return math.log(a) - math.log(sig)

    def time_of_log_snr(self, lam: float, lo: float, hi: float) -> float:
        """The t in [lo, hi] with λ_t = lam (λ is monotone, so a bracketed root is unique)."""
        return float(
            optimize.brentq(lambda u: self.log_snr(u) - lam, lo, hi, xtol=1e-15, rtol=1e-15)
        )


def _sampler(
    name: str,
    *,
    order: int,
    deterministic: bool,
    adaptive: bool = False,
    requires: tuple[str, ...] = (),
    default_tolerances: tuple[float, float] = (1e-6, 1e-9),
) -> Callable[[Callable[..., FloatArray]], Sampler]:
    """Register a step function under ``name`` with its declared properties."""

    def deco(fn: Callable[..., FloatArray]) -> Sampler:
        for key, value in (
            ("order", order),
            ("deterministic", deterministic),
            ("adaptive", adaptive),
            ("requires", requires),
            ("default_tolerances", default_tolerances),
        ):
            setattr(fn, key, value)
        return SAMPLERS.register(name)(fn)  # type: ignore[arg-type,return-value]

    return deco


# -- reverse SDE --------------------------------------------------------------------------------
@_sampler("euler-maruyama", order=1, deterministic=False)
def euler_maruyama(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Euler–Maruyama on the reverse SDE dx = [f - g² s] dt + g dW̄ (weak order 1).

    Notes
    -----
    x_s = x_t - h [f(x_t, t) - g(t)² s(x_t, t)] + g(t) √h z,  h = t - s,  z ~ N(0, I).
    Weak order 1, strong order 1 for additive noise; no stability limit beyond the explicit
    Euler one, h |f' - g² s'| < 2.  Conserves nothing; the law converges as h -> 0.
    """
    h = t - s
    drift, g = ctx.reverse_drift(x, t)
    return x - h * drift + math.sqrt(h) * g * rng.standard_normal(x.shape)


@_sampler("predictor-corrector", order=1, deterministic=False)
def predictor_corrector(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Reverse-diffusion predictor + Langevin corrector (Song et al. 2021, Algorithms 2–3).

    Notes
    -----
    Predictor: one Euler–Maruyama step of the reverse SDE from t to s.  Corrector, repeated
    ``n_corrector`` times at time s:  x <- x + ε s(x, s) + √(2ε) z with the signal-to-noise rule
        ε = 2 α (snr ‖z‖ / ‖s(x, s)‖)²,
    the norms being per-sample Euclidean norms averaged over the batch (as in the authors' code),
    α = exp(-∫_s^t β) ≈ 1 - β_i for VP/sub-VP and 1 otherwise.  The corrector step does not
    shrink with h, so at fixed ``snr`` the law converges to a limit biased by O(ε) (the
    unadjusted-Langevin bias) rather than to p_0: weak order 1 only up to that floor.
    """
    x = euler_maruyama(ctx, x, t, s, rng)
    alpha = ctx.sde.transition(s, t)[0] ** 2 if isinstance(ctx.sde, VP_FAMILY) else 1.0  # type: ignore[attr-defined]
    for _ in range(ctx.n_corrector):
        grad = ctx.score(x, s)
        z = rng.standard_normal(x.shape)
        grad_norm = float(np.mean(np.linalg.norm(grad, axis=1)))
        if (
            grad_norm == 0.0
        ):  # every sample at a stationary point of log p: Langevin has nothing to do
            continue
        noise_norm = float(np.mean(np.linalg.norm(z, axis=1)))
        eps = 2.0 * alpha * (ctx.snr * noise_norm / grad_norm) ** 2
        x = x + eps * grad + math.sqrt(2.0 * eps) * z
    return x


# -- probability-flow ODE, fixed steps ----------------------------------------------------------
@_sampler("pf-ode-euler", order=1, deterministic=True)
def pf_ode_euler(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Explicit Euler on the probability-flow ODE dx/dt = f - ½ g² s (order 1, 1 score/step).

    Notes
    -----
    x_s = x_t - h v(x_t, t).  Global error O(h); stable for h |∂v/∂x| < 2.
    """
    return x - (t - s) * ctx.velocity(x, t)


@_sampler("pf-ode-heun", order=2, deterministic=True)
def pf_ode_heun(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Heun's method (explicit trapezoidal RK2) on the probability-flow ODE (order 2, 2 scores/step).

    Notes
    -----
    k1 = v(x_t, t), k2 = v(x_t - h k1, s), x_s = x_t - h (k1 + k2)/2 (Karras et al. 2022 use the
    same scheme).  Global error O(h²).
    """
    h = t - s
    k1 = ctx.velocity(x, t)
    k2 = ctx.velocity(x - h * k1, s)
    return x - 0.5 * h * (k1 + k2)


@_sampler("pf-ode-rk4", order=4, deterministic=True)
def pf_ode_rk4(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Classical Runge–Kutta 4 on the probability-flow ODE (order 4, 4 scores/step).

    Notes
    -----
    Stepping with -h: k1 = v(x, t), k2 = v(x - h k1/2, t - h/2), k3 = v(x - h k2/2, t - h/2),
    k4 = v(x - h k3, s), x_s = x - h (k1 + 2 k2 + 2 k3 + k4)/6.  Global error O(h⁴) when the
    score is smooth in (x, t).
    """
    h = t - s
    m = t - 0.5 * h
    k1 = ctx.velocity(x, t)
    k2 = ctx.velocity(x - 0.5 * h * k1, m)
    k3 = ctx.velocity(x - 0.5 * h * k2, m)
    k4 = ctx.velocity(x - h * k3, s)
    return x - (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# -- probability-flow ODE, adaptive reference ---------------------------------------------------
# Dormand & Prince (1980) RK5(4)7M tableau (Hairer, Nørsett & Wanner, Solving ODEs I, Table 5.2).
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
# 5th-order weights minus the embedded 4th-order ones: the local error estimate
_DP_E = (
    71 / 57600,
    0.0,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)


def _dp_error_norm(
    err: FloatArray, y0: FloatArray, y1: FloatArray, rtol: float, atol: float
) -> float:
    """Largest per-sample RMS of err / (atol + rtol max(|y0|, |y1|)); every path meets the tolerance."""
    scale = atol + rtol * np.maximum(np.abs(y0), np.abs(y1))
    return float(np.max(np.sqrt(np.mean((err / scale) ** 2, axis=1))))


@_sampler("pf-ode-adaptive", order=5, deterministic=True, adaptive=True)
def pf_ode_adaptive(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Dormand–Prince 5(4) on the probability-flow ODE with rtol/atol step control (the reference).

    Notes
    -----
    Embedded RK5(4) pair with local extrapolation (the 5th-order solution is propagated) and the
    first-same-as-last property, so an accepted step costs 6 score evaluations.  One step size is
    shared by the whole batch (the score takes one t); the error norm is the largest per-sample
    RMS of err/(atol + rtol |x|), so every path meets the tolerance.  Step-size update
    h <- h min(5, max(0.2, 0.9 err^(-1/5))) (Hairer et al. 1993, II.4).  The global error is
    roughly proportional to rtol.  ``n_steps`` only sets the first trial step, (t_start-t_end)/n_steps.
    """
    span = t - s
    h = float(ctx.state.get("h") or ctx.h_init or span / 100.0)
    # first-same-as-last: reuse the final stage of the previous call when it was at this (x, t)
    k1 = ctx.state.get("k1") if ctx.state.get("y") is x and ctx.state.get("t") == t else None
    if k1 is None:
        k1 = ctx.velocity(x, t)
    y, tau = x, t
    while tau > s:
        if ctx.n_accepted + ctx.n_rejected >= ctx.max_steps:
            msg = (
                f"method 'pf-ode-adaptive' took more than max_steps={ctx.max_steps} steps before "
                f"reaching t={s} (now at t={tau:.6g}); loosen rtol/atol or raise max_steps"
            )
            raise NumericalError(msg)
        last = h >= (tau - s) * (1.0 - 1e-12)
        h_try = tau - s if last else h
        t_new = s if last else tau - h_try
        ks = [k1]
        for i in range(1, 7):
            yi = y.copy()
            for j, a in enumerate(_DP_A[i]):
                if a != 0.0:
                    yi -= (h_try * a) * ks[j]
            ks.append(ctx.velocity(yi, t_new if _DP_C[i] == 1.0 else tau - _DP_C[i] * h_try))
        y_new = yi  # stage 7 is evaluated at the 5th-order solution (FSAL)
        err = np.zeros_like(y)
        for e, k in zip(_DP_E, ks, strict=True):
            if e != 0.0:
                err -= (h_try * e) * k
        en = _dp_error_norm(err, y, y_new, ctx.rtol, ctx.atol)
        if not math.isfinite(en):
            msg = f"method 'pf-ode-adaptive' produced non-finite values at t={tau:.6g}; check the score"
            raise NumericalError(msg)
        if en <= 1.0:
            y, tau, k1 = y_new, t_new, ks[6]
            ctx.n_accepted += 1
            h = h_try * (5.0 if en == 0.0 else min(5.0, max(0.2, 0.9 * en**-0.2)))
        else:
            ctx.n_rejected += 1
            h = h_try * max(0.2, 0.9 * en**-0.2)
            if h <= 1e-14 * span:
                msg = f"method 'pf-ode-adaptive': step size underflow at t={tau:.6g}; loosen rtol/atol"
                raise NumericalError(msg)
    ctx.state.update(h=h, k1=k1, y=y, t=s)
    return y


# -- VP family: discretisations in α_t, σ_t ----------------------------------------------------
@_sampler("ddpm", order=1, deterministic=False, requires=("vp-family",))
def ddpm(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Ancestral sampling (Ho et al. 2020) on the exact discretisation of the continuous SDE.

    Notes
    -----
    x_s ~ q(x_s | x_t, x̂_0), the Gaussian posterior of the forward process with
    x̂_0 = (x_t + σ_t² s(x_t, t))/α_t (Tweedie).  With X_t | X_s ~ N(m X_s, v I) from
    ``sde.transition(s, t)``:
        mean = (v α_s / σ_t²) x̂_0 + (m σ_s² / σ_t²) x_t,    var = σ_s² v / σ_t².
    For VP (m² = ᾱ_t/ᾱ_s = 1 - β_ts) this is DDPM's (x_t + β_ts s)/√(1 - β_ts) with variance β̃.
    Weak order 1.
    """
    a_t, sig_t = ctx.alpha_sigma(t)
    a_s, sig_s = ctx.alpha_sigma(s)
    m, _, v = ctx.sde.transition(s, t)  # type: ignore[attr-defined]
    var_t = sig_t * sig_t
    x0 = (x + var_t * ctx.score(x, t)) / a_t
    mean = (v * a_s / var_t) * x0 + (m * sig_s * sig_s / var_t) * x
    return mean + math.sqrt(sig_s * sig_s * v / var_t) * rng.standard_normal(x.shape)


@_sampler("ddim", order=1, deterministic=True, requires=("vp-family",))
def ddim(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """DDIM (Song, Meng & Ermon 2021); eta = 0 (default) is deterministic, eta = 1 is DDPM-like.

    Notes
    -----
    ε̂ = -σ_t s(x_t, t), x̂_0 = (x_t - σ_t ε̂)/α_t,
    x_s = α_s x̂_0 + √(σ_s² - c²) ε̂ + c z,  c = eta √(σ_s² v/σ_t²) (the posterior std of ``ddpm``).
    With eta = 0 this is the first-order exponential integrator of the probability-flow ODE in
    λ = log(α/σ) (DPM-Solver-1): order 1, and exact when ε is constant along the path.
    ``deterministic`` is declared for the default eta = 0.
    """
    a_t, sig_t = ctx.alpha_sigma(t)
    a_s, sig_s = ctx.alpha_sigma(s)
    eps = -sig_t * ctx.score(x, t)
    x0 = (x - sig_t * eps) / a_t
    if ctx.eta == 0.0:
        return a_s * x0 + sig_s * eps
    _, _, v = ctx.sde.transition(s, t)  # type: ignore[attr-defined]
    c = ctx.eta * sig_s * math.sqrt(v) / sig_t
    return (
        a_s * x0
        + math.sqrt(max(sig_s * sig_s - c * c, 0.0)) * eps
        + c * rng.standard_normal(x.shape)
    )


@_sampler("dpm-solver-2", order=2, deterministic=True, requires=("vp-family",))
def dpm_solver_2(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Second-order singlestep DPM-Solver (Lu et al. 2022, Algorithm 1 with r₁ = ½).

    Notes
    -----
    In λ = log(α/σ) with h = λ_s - λ_t and the midpoint u = t_λ(λ_t + h/2):
        x_u = (α_u/α_t) x_t - σ_u (e^{h/2} - 1) ε(x_t, t),
        x_s = (α_s/α_t) x_t - σ_s (e^h - 1) ε(x_u, u),      ε = -σ s.
    The linear part of the probability-flow ODE is integrated exactly; global error O(h²)
    (2 score evaluations per step).  u is found by bracketed root finding on λ, so any schedule works.
    """
    a_t, sig_t = ctx.alpha_sigma(t)
    a_s, sig_s = ctx.alpha_sigma(s)
    lam_t = math.log(a_t / sig_t)
    h = math.log(a_s / sig_s) - lam_t
    u = ctx.time_of_log_snr(lam_t + 0.5 * h, s, t)
    a_u, sig_u = ctx.alpha_sigma(u)
    eps_t = -sig_t * ctx.score(x, t)
    x_u = (a_u / a_t) * x - sig_u * math.expm1(0.5 * h) * eps_t
    eps_u = -sig_u * ctx.score(x_u, u)
    return (a_s / a_t) * x - sig_s * math.expm1(h) * eps_u


@_sampler("dpm-solver-3", order=3, deterministic=True, requires=("vp-family",))
def dpm_solver_3(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Third-order singlestep DPM-Solver (Lu et al. 2022, Algorithm 2, r₁ = 1/3, r₂ = 2/3).

    Notes
    -----
    In λ = log(α/σ) with h = λ_s - λ_t, the intermediate times s_i = t_λ(λ_t + r_i h) and the
    noise prediction ε = -σ s:
        u₁ = (α_{s₁}/α_t) x_t - σ_{s₁} (e^{r₁h} - 1) ε(x_t, t),
        D₁ = ε(u₁, s₁) - ε(x_t, t),
        u₂ = (α_{s₂}/α_t) x_t - σ_{s₂} (e^{r₂h} - 1) ε(x_t, t)
             - σ_{s₂} (r₂/r₁) ((e^{r₂h} - 1)/(r₂h) - 1) D₁,
        D₂ = ε(u₂, s₂) - ε(x_t, t),
        x_s = (α_s/α_t) x_t - σ_s (e^h - 1) ε(x_t, t) - (σ_s/r₂) ((e^h - 1)/h - 1) D₂.
    Global error O(h³) in the λ step (3 score evaluations per step); the linear part is exact.
    """
    r1, r2 = 1.0 / 3.0, 2.0 / 3.0
    a_t, sig_t = ctx.alpha_sigma(t)
    a_s, sig_s = ctx.alpha_sigma(s)
    lam_t = math.log(a_t / sig_t)
    h = math.log(a_s / sig_s) - lam_t
    s1 = ctx.time_of_log_snr(lam_t + r1 * h, s, t)
    s2 = ctx.time_of_log_snr(lam_t + r2 * h, s, t)
    a_1, sig_1 = ctx.alpha_sigma(s1)
    a_2, sig_2 = ctx.alpha_sigma(s2)
    eps_t = -sig_t * ctx.score(x, t)
    u1 = (a_1 / a_t) * x - sig_1 * math.expm1(r1 * h) * eps_t
    d1 = -sig_1 * ctx.score(u1, s1) - eps_t
    phi_2 = math.expm1(r2 * h) / (r2 * h) - 1.0
    u2 = (a_2 / a_t) * x - sig_2 * math.expm1(r2 * h) * eps_t - sig_2 * (r2 / r1) * phi_2 * d1
    d2 = -sig_2 * ctx.score(u2, s2) - eps_t
    phi = math.expm1(h) / h - 1.0
    return (a_s / a_t) * x - sig_s * math.expm1(h) * eps_t - (sig_s / r2) * phi * d2


@_sampler("dpm-solver-pp-2m", order=2, deterministic=True, requires=("vp-family",))
def dpm_solver_pp_2m(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """DPM-Solver++(2M): second-order multistep solver in data prediction (Lu et al. 2022b, Alg. 2).

    Notes
    -----
    With the data prediction x₀(x, t) = (x + σ_t² s(x, t))/α_t (Tweedie), h_i = λ_{t_i} - λ_{t_{i-1}}
    and r_i = h_{i-1}/h_i:
        first step:  x_{t_1} = (σ_{t_1}/σ_{t_0}) x_{t_0} - α_{t_1} (e^{-h_1} - 1) x₀(x_{t_0}, t_0),
        then:        D_i = (1 + 1/(2r_i)) x₀(x_{t_{i-1}}, t_{i-1}) - (1/(2r_i)) x₀(x_{t_{i-2}}, t_{i-2}),
                     x_{t_i} = (σ_{t_i}/σ_{t_{i-1}}) x_{t_{i-1}} - α_{t_i} (e^{-h_i} - 1) D_i.
    One score evaluation per step (the previous data prediction is kept); global error O(h²)
    (the first, first-order step contributes O(h²) locally).  Steps of any sizes are allowed.
    """
    a_t, sig_t = ctx.alpha_sigma(t)
    a_s, sig_s = ctx.alpha_sigma(s)
    lam_t = math.log(a_t / sig_t)
    h = math.log(a_s / sig_s) - lam_t
    x0 = (x + sig_t * sig_t * ctx.score(x, t)) / a_t
    prev = ctx.state.get("pp2m")
    if prev is not None and prev[0] == t:
        # the previous step ended at this t: its data prediction at the node before t
        _, x0_prev, h_prev = prev
        r = h_prev / h
        d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
    else:
        d = x0
    ctx.state["pp2m"] = (s, x0, h)
    return (sig_s / sig_t) * x + a_s * (-math.expm1(-h)) * d


# -- the η family of reverse-time SDEs ----------------------------------------------------------
@_sampler("eta-family", order=1, deterministic=True)
def eta_family(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Euler–Maruyama on the η family dx = [f - ½(1 + η²)(g² s + 2 g∇g)] dt + η g dW̄ (option ``eta``).

    Notes
    -----
    Every η >= 0 gives an SDE with the same marginals p_t as the forward process: its
    Fokker–Planck equation is the probability-flow continuity equation plus η²/2 times
    [∇·(g² ∇p) - ∇·(g² p s)] = 0 (Song et al. 2021, App. D.1; Karras et al. 2022, eq. 6).
    η = 0 is the probability-flow ODE (this step is then ``pf-ode-euler``), η = 1 the reverse
    SDE (``euler-maruyama``).  With h = t - s and z ~ N(0, I):
        x_s = x_t - h [f - ½(1 + η²)(g² s + 2 g∇g)](x_t, t) + η g(x_t, t) √h z.
    Weak order 1 (pathwise order 1 at η = 0); ``deterministic`` is declared for the default
    η = 0.  For additive noise the ∇g term vanishes.
    """
    h = t - s
    g, ggx = ctx._g_terms(x, t)
    k = 0.5 * (1.0 + ctx.eta * ctx.eta)
    drift = ctx.sde._drift(x, t) - k * (g * g) * ctx.score(x, t)
    if ggx is not None:
        drift -= 2.0 * k * ggx
    out = x - h * drift
    if ctx.eta == 0.0:
        return out
    return out + (ctx.eta * math.sqrt(h)) * g * rng.standard_normal(x.shape)


# -- EDM (Karras et al. 2022) --------------------------------------------------------------------
def _edm_coefficients(ctx: StepContext, t: float) -> tuple[float, FloatArray, float]:
    """(α_t, c_t, ς_t) of the marginal X_t = α_t X_0 + c_t + σ_t Z, ς = σ/α (Karras' σ)."""
    m, c, v = ctx.sde.transition(0.0, t)  # type: ignore[attr-defined]
    return float(m), np.asarray(c, dtype=np.float64), math.sqrt(v) / float(m)


def _edm_time_of(ctx: StepContext, level: float, lo: float) -> float:
    """The t >= lo with ς_t = level, or the SDE's horizon T when ς_T < level (churn is capped)."""
    horizon = getattr(ctx.sde, "T", None)
    if horizon is not None and math.isfinite(float(horizon)) and lo >= float(horizon):
        return float(horizon)  # a step from the horizon itself: no room to churn
    hi = float(horizon) if horizon is not None and math.isfinite(float(horizon)) else 0.0
    if hi <= lo:  # no horizon (OU, heat): grow the bracket
        hi = 2.0 * lo + 1.0
        while _edm_coefficients(ctx, hi)[2] < level:
            hi *= 2.0
    elif _edm_coefficients(ctx, hi)[2] <= level:
        return hi
    return float(
        optimize.brentq(
            lambda u: _edm_coefficients(ctx, u)[2] - level, lo, hi, xtol=1e-15, rtol=1e-15
        )
    )


@_sampler("edm-stochastic", order=2, deterministic=False, requires=("linear",))
def edm_stochastic(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """EDM's stochastic sampler (Karras et al. 2022, Algorithm 2): churn, then a Heun step in σ.

    Notes
    -----
    In the scaled variable y = (x - c_t)/α_t with noise level ς_t = σ_t/α_t (Karras' σ; σ itself
    for VE) the probability flow is dy/dς = -ς ∇_y log p̃(y; ς), ∇_y log p̃ = α_t s(x, t).  One
    step from ς_i = ς_t to ς_{i+1} = ς_s:
        γ = min(S_churn/N, √2 - 1) if S_tmin <= ς_i <= S_tmax else 0,
        ς̂ = (1 + γ) ς_i (capped at ς of the SDE's horizon),  ŷ = y + √(ς̂² - ς_i²) S_noise z,
        d = -ς̂ α s(x̂, t̂),  y' = ŷ + (ς_{i+1} - ς̂) d,
        d' = -ς_{i+1} α_s s(x', s),  y_{i+1} = ŷ + (ς_{i+1} - ς̂)(d + d')/2,
    with t̂ the time of ς̂ and x = α y + c at each time.  The churn adds exactly the noise that
    takes p̃(·; ς_i) to p̃(·; ς̂) (with S_noise = 1), and the Heun step transports it back; with
    γ = S_churn/N = O(h) the law error is O(h²) (weak order 2), but while S_churn/N exceeds
    √2 - 1 the churn is capped and the step from ς̂ is not small.  Defaults S_churn = 40,
    S_tmin = 0.05, S_tmax = 50 (Karras et al.'s ImageNet-64 settings) and S_noise = 1 (exact
    for exact scores; they use 1.003 to offset network error).  2 score evaluations per step.
    """
    a_t, c_t, lev_t = _edm_coefficients(ctx, t)
    a_s, c_s, lev_s = _edm_coefficients(ctx, s)
    y = (x - c_t) / a_t
    n = ctx.n_steps or 1
    gamma = min(ctx.s_churn / n, math.sqrt(2.0) - 1.0) if ctx.s_tmin <= lev_t <= ctx.s_tmax else 0.0
    t_hat, a_h, c_h, lev_h = t, a_t, c_t, lev_t
    if gamma > 0.0:
        t_hat = _edm_time_of(ctx, (1.0 + gamma) * lev_t, t)
        a_h, c_h, lev_h = _edm_coefficients(ctx, t_hat)
        y = y + math.sqrt(max(lev_h * lev_h - lev_t * lev_t, 0.0)) * ctx.s_noise * (
            rng.standard_normal(x.shape)
        )
    d = -lev_h * a_h * ctx.score(a_h * y + c_h, t_hat)
    y_new = y + (lev_s - lev_h) * d
    if lev_s > 0.0:
        d2 = -lev_s * a_s * ctx.score(a_s * y_new + c_s, s)
        y_new = y + (lev_s - lev_h) * 0.5 * (d + d2)
    return a_s * y_new + c_s


# -- the discrete DDPM chain --------------------------------------------------------------------
@_sampler("ddpm-chain", order=1, deterministic=False, requires=("vp",))
def ddpm_chain(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Ancestral reverse of the discrete DDPM chain (Ho et al. 2020, Algorithm 2), VP only.

    Notes
    -----
    The forward chain x_k = √(1 - β_k) x_{k-1} + √β_k z with β_k = β(t_k)(t_k - t_{k-1})
    (Song et al. 2021, App. C; ``fplab.reverse.chain``) is reversed by
        x_s = (x_t + β s(x_t, t)) / √(1 - β) + √β z,    β = β(t)(t - s),
    Ho et al.'s update with ε = -σ s and the variance choice σ_k² = β_k.  Unlike 'ddpm' (the
    exact posterior of the continuous SDE) its coefficients are the chain's, so it carries the
    chain's O(Δt) mismatch with the SDE: weak order 1.  β is clipped at 0.999 as in the
    chain (``fplab.reverse.chain.BETA_CLIP``), which only coarse grids reach.
    """
    beta = min(float(ctx.sde.beta(t)) * (t - s), BETA_CLIP)  # type: ignore[attr-defined]
    mean = (x + beta * ctx.score(x, t)) / math.sqrt(1.0 - beta)
    return mean + math.sqrt(beta) * rng.standard_normal(x.shape)


# -- adaptive reverse SDE ---------------------------------------------------------------------------
@_sampler(
    "adaptive-sde",
    order=1,
    deterministic=False,
    adaptive=True,
    default_tolerances=(0.05, 0.0078),
)
def adaptive_sde(
    ctx: StepContext, x: FloatArray, t: float, s: float, rng: np.random.Generator
) -> FloatArray:
    """Adaptive reverse-SDE solver of Jolicoeur-Martineau et al. (2021), "Gotta go fast", Alg. 1.

    Notes
    -----
    With the reverse drift b = f - 2 g∇g - g² s, a trial step h from τ and one z ~ N(0, I):
        x' = x + h b(x, τ) + √h g(x, τ) z                       (Euler–Maruyama)
        x̃ = x + h b(x', τ - h) + √h g(x', τ - h) z
        x'' = (x' + x̃)/2                                        (stochastic improved Euler)
        E = max over samples of ‖(x' - x'')/δ‖₂/√d,  δ = max(atol, rtol max(|x'|, |x'_prev|)),
    accepted (x <- x'', x'_prev <- x') when E <= 1; then h <- h min(10, 0.9 E^{-0.9}) (their
    θ = 0.9, r = 0.9; 10 h after E = 0), and the next attempt is clipped to the remaining
    τ - s.  The 10× growth cap per attempt is fplab's (Algorithm 1 has none): it binds only
    after E < 0.069, e.g. from a tiny first trial step (docs/reverse.md).  A rejected step
    draws fresh noise, as in the paper.  One step size is
    shared by the batch (the score takes one t), so the worst sample sets it.  Weak order 1 as
    h -> 0; the error is controlled through rtol/atol (defaults 0.05, 0.0078, the paper's
    values for data in [-1, 1]).  2 score evaluations per attempt; ``SampleInfo`` reports the
    accepted and rejected attempts.
    """
    span = t - s
    h = float(ctx.state.get("h_sde") or ctx.h_init or span / 100.0)
    x_prev = ctx.state.get("x_prev_sde")
    y, tau = x, t
    while tau > s:
        if ctx.n_accepted + ctx.n_rejected >= ctx.max_steps:
            msg = (
                f"method 'adaptive-sde' took more than max_steps={ctx.max_steps} steps before "
                f"reaching t={s} (now at t={tau:.6g}); loosen rtol/atol or raise max_steps"
            )
            raise NumericalError(msg)
        h_try = min(h, tau - s)
        t_new = s if h_try >= (tau - s) * (1.0 - 1e-12) else tau - h_try
        h_try = tau - t_new
        z = rng.standard_normal(y.shape)
        sq = math.sqrt(h_try)
        b1, g1 = ctx.reverse_drift(y, tau)
        x1 = y - h_try * b1 + sq * g1 * z
        b2, g2 = ctx.reverse_drift(x1, t_new)
        x2 = 0.5 * (x1 + (y - h_try * b2 + sq * g2 * z))
        ref = np.abs(x1) if x_prev is None else np.maximum(np.abs(x1), np.abs(x_prev))
        delta = np.maximum(ctx.atol, ctx.rtol * ref)
        err = float(np.max(np.sqrt(np.mean(((x1 - x2) / delta) ** 2, axis=1))))
        if not math.isfinite(err):
            msg = (
                f"method 'adaptive-sde' produced non-finite values at t={tau:.6g}; check the score"
            )
            raise NumericalError(msg)
        if err <= 1.0:
            y, tau, x_prev = x2, t_new, x1
            ctx.n_accepted += 1
        else:
            ctx.n_rejected += 1
        h = h_try * (10.0 if err == 0.0 else min(10.0, 0.9 * err**-0.9))
        if h <= 1e-14 * span:
            msg = f"method 'adaptive-sde': step size underflow at t={tau:.6g}; loosen rtol/atol"
            raise NumericalError(msg)
    ctx.state.update(h_sde=h, x_prev_sde=x_prev)
    return y
